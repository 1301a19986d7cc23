//! Reading SQLite results as JSON values and rendering them as the pipe
//! tables agents see (shared by the SQL environment and the compiler).

use rusqlite::types::ValueRef;
use rusqlite::Connection;
use serde_json::{json, Value};

/// Runs `sql` and returns (column names, rows as JSON values).
pub fn query(conn: &Connection, sql: &str) -> rusqlite::Result<(Vec<String>, Vec<Vec<Value>>)> {
    let mut stmt = conn.prepare(sql)?;
    let cols: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
    let n = cols.len();
    let rows = stmt
        .query_map([], |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        ValueRef::Null => Value::Null,
                        ValueRef::Integer(x) => json!(x),
                        ValueRef::Real(x) => json!((x * 100.0).round() / 100.0),
                        ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
                        ValueRef::Blob(b) => json!(format!("<{} bytes>", b.len())),
                    })
                })
                .collect::<rusqlite::Result<Vec<Value>>>()
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((cols, rows))
}

/// A result table as the agent sees it (pipe-separated, header first).
pub fn render_result(cols: &[String], rows: &[Vec<Value>]) -> String {
    let cell = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut s = cols.join(" | ");
    for r in rows {
        s.push('\n');
        s.push_str(&r.iter().map(cell).collect::<Vec<_>>().join(" | "));
    }
    s
}
