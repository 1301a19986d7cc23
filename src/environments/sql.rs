//! The SQL environment: a real SQLite database per task (customers, products,
//! orders with 10-character hex tracking codes), a question answered by one
//! query (an aggregate, or a lookup through a tracking code: the code is the
//! key of a join, or the value to find), and a scripted agent
//! that lists the tables, inspects them, runs exploratory queries and the
//! final one through rusqlite and sees their results. The database path is
//! recorded so the compiler can dump the tables it queried.

use std::collections::HashSet;
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
                              product_id INTEGER REFERENCES products(id), quantity INTEGER NOT NULL, day TEXT NOT NULL,
                              tracking TEXT NOT NULL UNIQUE);",
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
    let mut codes = HashSet::new();
    for id in 1..=rng.random_range(20..40) {
        tx.execute(
            "INSERT INTO orders VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            rusqlite::params![
                id,
                rng.random_range(1..=n_customers),
                rng.random_range(1..=n_products),
                rng.random_range(1..6),
                format!(
                    "2025-0{}-{:02}",
                    rng.random_range(1..10),
                    rng.random_range(1..29)
                ),
                crate::tasks::graphwalks::hex_id(rng, &mut codes)
            ],
        )
        .map_err(db_err(path))?;
    }
    tx.commit().map_err(db_err(path))?;
    Ok(())
}

fn count_orders(conn: &Connection, db: &Path) -> Result<i64> {
    conn.query_row("SELECT COUNT(*) FROM orders", [], |r| r.get(0))
        .map_err(db_err(db))
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
    let (question, final_sql) = match rng.random_range(0..5) {
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
        2 => (
            "Which customer placed the most orders? Give the name (ties: lowest id).".to_string(),
            "SELECT c.name, COUNT(*) AS n FROM orders o JOIN customers c ON o.customer_id = c.id \
             GROUP BY c.id ORDER BY n DESC, c.id ASC LIMIT 1"
                .to_string(),
        ),
        3 => {
            // the tracking code is the key: code -> order -> customer
            let tracking: String = conn
                .query_row(
                    "SELECT tracking FROM orders ORDER BY id LIMIT 1 OFFSET ?1",
                    [rng.random_range(0..count_orders(&conn, &db)?)],
                    |r| r.get(0),
                )
                .map_err(db_err(&db))?;
            (
                format!("Who placed the order with tracking code {tracking}? Give the customer's name."),
                format!(
                    "SELECT c.name FROM orders o JOIN customers c ON o.customer_id = c.id WHERE o.tracking = '{tracking}'"
                ),
            )
        }
        _ => {
            // the tracking code is the answer: (product, day) -> order -> code;
            // an order whose product and day no other order shares
            let unique: Vec<(String, String)> = query(
                &conn,
                "SELECT p.name, o.day FROM orders o JOIN products p ON o.product_id = p.id \
                 GROUP BY o.product_id, o.day HAVING COUNT(*) = 1 ORDER BY o.id",
            )
            .map_err(db_err(&db))?
            .1
            .into_iter()
            .filter_map(|r| Some((r.first()?.as_str()?.to_string(), r.get(1)?.as_str()?.to_string())))
            .collect();
            let (product, day) = unique
                .choose(&mut rng)
                .cloned()
                .ok_or_else(|| Error::Input(format!("{}: every (product, day) is shared", db.display())))?;
            (
                format!("What is the tracking code of the {product} order placed on {day}?"),
                format!(
                    "SELECT o.tracking FROM orders o JOIN products p ON o.product_id = p.id \
                     WHERE p.name = '{product}' AND o.day = '{day}'"
                ),
            )
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(conn: &Connection, sql: &str) -> Vec<Vec<Value>> {
        query(conn, sql).unwrap().1
    }

    fn text(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    /// The lookup questions' answers, found again by scanning the raw rows
    /// (no join, no WHERE): the code is unique, 10 hex characters, and leads
    /// to the recorded answer.
    #[test]
    fn tracking_code_questions_match_a_scan_of_the_raw_rows() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut by_code, mut to_code) = (0, 0);
        for i in 0..30 {
            let ep = episode(1000 + i as u64, i, tmp.path()).unwrap();
            let conn = Connection::open(ep.meta["db_path"].as_str().unwrap()).unwrap();
            let orders = rows(
                &conn,
                "SELECT id, customer_id, product_id, day, tracking FROM orders",
            );
            let codes: HashSet<String> = orders.iter().map(|r| text(&r[4])).collect();
            assert_eq!(codes.len(), orders.len(), "tracking codes are unique");
            assert!(codes
                .iter()
                .all(|c| c.len() == 10 && c.chars().all(|ch| ch.is_ascii_hexdigit())));
            let answer = ep.ground_truth["answer"].as_str().unwrap().to_string();
            let q = &ep.question;
            if let Some(rest) = q.strip_prefix("Who placed the order with tracking code ") {
                by_code += 1;
                let code = &rest[..10];
                let order = orders.iter().find(|r| text(&r[4]) == code).unwrap();
                let customer = rows(&conn, "SELECT id, name FROM customers")
                    .into_iter()
                    .find(|c| c[0] == order[1])
                    .unwrap();
                assert_eq!(text(&customer[1]), answer, "{q}");
            } else if let Some(rest) = q.strip_prefix("What is the tracking code of the ") {
                to_code += 1;
                let (product, rest) = rest.split_once(" order placed on ").unwrap();
                let day = rest.trim_end_matches('?');
                let pid = rows(&conn, "SELECT id, name FROM products")
                    .into_iter()
                    .find(|p| text(&p[1]) == product)
                    .unwrap()[0]
                    .clone();
                let hits: Vec<_> = orders
                    .iter()
                    .filter(|r| r[2] == pid && text(&r[3]) == day)
                    .collect();
                assert_eq!(hits.len(), 1, "{q}: one order");
                assert_eq!(text(&hits[0][4]), answer, "{q}");
                assert!(ep.final_answer.contains(&answer));
            }
        }
        assert!(by_code > 0 && to_code > 0, "{by_code} / {to_code}");
    }
}
