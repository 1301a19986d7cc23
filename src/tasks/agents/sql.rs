//! The SQL environment: a real SQLite database per task (customers, products,
//! orders), a question answered by one aggregate query, and a scripted agent
//! that lists the tables, inspects them, runs exploratory queries and the
//! final one through rusqlite and sees their results. The database path is
//! recorded so the compiler can dump the tables it queried.

use std::path::Path;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rusqlite::Connection;
use serde_json::{json, Value};

use super::{Domain, Episode, Step, ToolSpec};
use crate::error::{Error, Result};
pub use crate::sqlite::{query, render_result};

const CITIES: &[&str] = &[
    "Lisbon", "Osaka", "Quito", "Tallinn", "Accra", "Perth", "Lyon", "Busan",
];
const CATEGORIES: &[&str] = &["tools", "garden", "kitchen", "books", "toys"];

fn db_err(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| Error::Input(format!("{}: SQLite: {e}", path.display()))
}

fn build_db(path: &Path, rng: &mut StdRng) -> Result<()> {
    if path.exists() {
        std::fs::remove_file(path).map_err(|e| Error::io(path, e))?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let conn = Connection::open(path).map_err(db_err(path))?;
    conn.execute_batch(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL);
         CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL, price REAL NOT NULL);
         CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id),
                              product_id INTEGER REFERENCES products(id), quantity INTEGER NOT NULL, day TEXT NOT NULL);",
    )
    .map_err(db_err(path))?;
    let tx = conn.unchecked_transaction().map_err(db_err(path))?;
    let n_customers = rng.random_range(6..12);
    for id in 1..=n_customers {
        let name = format!("Customer {id:02}");
        tx.execute(
            "INSERT INTO customers VALUES (?1, ?2, ?3)",
            rusqlite::params![id, name, CITIES.choose(rng).expect("cities")],
        )
        .map_err(db_err(path))?;
    }
    let n_products = rng.random_range(5..9);
    for id in 1..=n_products {
        let price = rng.random_range(200..5000) as f64 / 100.0;
        tx.execute(
            "INSERT INTO products VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![
                id,
                format!("Item {id:02}"),
                CATEGORIES.choose(rng).expect("categories"),
                price
            ],
        )
        .map_err(db_err(path))?;
    }
    for id in 1..=rng.random_range(20..40) {
        tx.execute(
            "INSERT INTO orders VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![
                id,
                rng.random_range(1..=n_customers),
                rng.random_range(1..=n_products),
                rng.random_range(1..6),
                format!(
                    "2025-0{}-{:02}",
                    rng.random_range(1..10),
                    rng.random_range(1..29)
                )
            ],
        )
        .map_err(db_err(path))?;
    }
    tx.commit().map_err(db_err(path))?;
    Ok(())
}

fn tools() -> Vec<ToolSpec> {
    vec![ToolSpec {
        name: "execute_sql".into(),
        description: "Run a SQL query on the SQLite database and return the result table.".into(),
        parameters: json!({"type": "object", "properties": {"sql": {"type": "string"}}, "required": ["sql"]}),
    }]
}

/// One episode; its database is `work_dir/sql-<index>.sqlite`.
pub fn episode(seed: u64, index: usize, work_dir: &Path) -> Result<Episode> {
    let mut rng = StdRng::seed_from_u64(seed);
    let db = work_dir.join(format!("sql-{index:05}.sqlite"));
    build_db(&db, &mut rng)?;
    let conn = Connection::open(&db).map_err(db_err(&db))?;
    let city = *CITIES.choose(&mut rng).expect("cities");
    let category = *CATEGORIES.choose(&mut rng).expect("categories");
    let (question, final_sql) = match rng.random_range(0..3) {
        0 => (
            format!("How many units of {category} products were ordered by customers in {city}?"),
            format!(
                "SELECT COALESCE(SUM(o.quantity), 0) AS units FROM orders o JOIN customers c ON o.customer_id = c.id \
                 JOIN products p ON o.product_id = p.id WHERE c.city = '{city}' AND p.category = '{category}'"
            ),
        ),
        1 => (
            format!("What is the total revenue (quantity times price) from customers in {city}, rounded to 2 decimals?"),
            format!(
                "SELECT ROUND(COALESCE(SUM(o.quantity * p.price), 0), 2) AS revenue FROM orders o \
                 JOIN customers c ON o.customer_id = c.id JOIN products p ON o.product_id = p.id WHERE c.city = '{city}'"
            ),
        ),
        _ => (
            "Which customer placed the most orders? Give the name (ties: lowest id).".to_string(),
            "SELECT c.name, COUNT(*) AS n FROM orders o JOIN customers c ON o.customer_id = c.id \
             GROUP BY c.id ORDER BY n DESC, c.id ASC LIMIT 1"
                .to_string(),
        ),
    };
    let plan: Vec<(&str, String)> = vec![
        (
            "First I list the tables.",
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name".into(),
        ),
        (
            "Let me look at the customers.",
            "SELECT * FROM customers LIMIT 5".into(),
        ),
        ("And the products.", "SELECT * FROM products LIMIT 5".into()),
        (
            "A few orders to see the columns.",
            "SELECT * FROM orders LIMIT 5".into(),
        ),
        ("This query answers the question.", final_sql.clone()),
    ];
    let mut steps = Vec::new();
    let mut last = (Vec::new(), Vec::new());
    for (thought, sql) in plan {
        let (cols, rows) = query(&conn, &sql).map_err(db_err(&db))?;
        steps.push(Step {
            thought: thought.into(),
            tool: "execute_sql".into(),
            args: json!({"sql": sql}),
            observation: render_result(&cols, &rows),
            is_error: false,
        });
        last = (cols, rows);
    }
    let (cols, rows) = last;
    let answer = rows.first().and_then(|r| r.first()).map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    Ok(Episode {
        id: format!("sql-{index:05}"),
        domain: Domain::Sql,
        system: "You are a data analyst with a SQLite database. Query it, then answer.".into(),
        question,
        tools: tools(),
        steps,
        final_answer: format!("The answer is {}.", answer.clone().unwrap_or_default()),
        ground_truth: json!({"answer": answer, "sql": final_sql, "columns": cols, "rows": rows}),
        meta: json!({"db_path": db.display().to_string(), "tables": ["customers", "orders", "products"]}),
    })
}
