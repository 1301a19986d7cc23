//! Verifying a generated answer against a sample's ground truth, per domain:
//! search and other: normalised exact match or token F1 over a threshold;
//! SQL: the predicted and gold queries run on the database and their result
//! sets compared (text match when there is no database or gold query); SWE:
//! the predicted diff must touch the gold patch's files and overlap each of
//! its hunks.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::evidence::patch_files;
use crate::domain::Domain;

/// How a verification went.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub ok: bool,
    /// The check that decided (e.g. "exact match", "token F1 0.86 ≥ 0.8", "result sets equal").
    pub how: String,
}

impl Verdict {
    fn pass(how: impl Into<String>) -> Self {
        Self {
            ok: true,
            how: how.into(),
        }
    }
    fn fail(how: impl Into<String>) -> Self {
        Self {
            ok: false,
            how: how.into(),
        }
    }
}

/// Ground truth of one sample.
#[derive(Debug, Clone, Copy)]
pub struct Gold<'a> {
    pub domain: Domain,
    /// The reference answer (SWE: the gold patch).
    pub answer: &'a str,
    /// The gold SQL query, when the trajectory ran one.
    pub sql: Option<&'a str>,
    /// The SQLite database the query runs on.
    pub db: Option<&'a Path>,
}

/// SQuAD-style normalisation: lower case, punctuation and articles removed, whitespace collapsed.
pub fn normalize_answer(s: &str) -> String {
    let lower: String = s
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    lower
        .split_whitespace()
        .filter(|w| !matches!(*w, "a" | "an" | "the"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Token F1 between normalised answers.
pub fn token_f1(pred: &str, gold: &str) -> f64 {
    let p = normalize_answer(pred);
    let g = normalize_answer(gold);
    let (p, g): (Vec<&str>, Vec<&str>) = (p.split(' ').collect(), g.split(' ').collect());
    let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
    for w in &g {
        *counts.entry(w).or_default() += 1;
    }
    let mut same = 0;
    for w in &p {
        if let Some(c) = counts.get_mut(w) {
            if *c > 0 {
                *c -= 1;
                same += 1;
            }
        }
    }
    if same == 0 {
        return 0.0;
    }
    let prec = same as f64 / p.len() as f64;
    let rec = same as f64 / g.len() as f64;
    2.0 * prec * rec / (prec + rec)
}

/// The contents of the last fenced block of `lang` (or of any fence), else None.
pub fn fenced(text: &str, langs: &[&str]) -> Option<String> {
    let mut best: Option<String> = None;
    let mut rest = text;
    while let Some(i) = rest.find("```") {
        let after = &rest[i + 3..];
        let (tag, body) = after.split_once('\n').unwrap_or((after, ""));
        let Some(end) = body.find("```") else { break };
        let tag = tag.trim().to_lowercase();
        if langs.is_empty() || langs.contains(&tag.as_str()) || tag.is_empty() {
            best = Some(body[..end].to_string());
        }
        rest = &body[end + 3..];
    }
    best
}

/// The predicted SQL of an answer: a ```sql block, else the text from its first SELECT/WITH.
pub fn predicted_sql(answer: &str) -> Option<String> {
    if let Some(q) = fenced(answer, &["sql", "sqlite"]) {
        return Some(q.trim().to_string());
    }
    let upper = answer.to_uppercase();
    ["SELECT", "WITH"]
        .iter()
        .filter_map(|k| upper.find(k))
        .min()
        .map(|i| answer[i..].trim().to_string())
}

/// The predicted diff of an answer: a ```diff/patch block, else the text from its first `diff --git` or `--- `.
pub fn predicted_patch(answer: &str) -> Option<String> {
    if let Some(d) = fenced(answer, &["diff", "patch"]) {
        return Some(d);
    }
    ["diff --git", "--- "]
        .iter()
        .filter_map(|k| answer.find(k))
        .min()
        .map(|i| answer[i..].to_string())
}

/// Hunks of a unified diff: file → old-side line ranges [start, end).
pub fn hunks(patch: &str) -> BTreeMap<String, Vec<(usize, usize)>> {
    let mut out: BTreeMap<String, Vec<(usize, usize)>> = BTreeMap::new();
    let mut file: Option<String> = None;
    for line in patch.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(p) = line.strip_prefix("+++ ") {
            let p = p.split('\t').next().unwrap_or(p).trim();
            file = Some(p.strip_prefix("b/").unwrap_or(p).to_string());
        } else if let (Some(f), Some(h)) = (&file, line.strip_prefix("@@ -")) {
            let old = h.split(' ').next().unwrap_or("");
            let (start, len) = match old.split_once(',') {
                Some((s, l)) => (s.parse().unwrap_or(0), l.parse().unwrap_or(1)),
                None => (old.parse().unwrap_or(0), 1),
            };
            let start: usize = start;
            out.entry(f.clone())
                .or_default()
                .push((start, start + usize::max(len, 1)));
        }
    }
    out
}

fn sql_rows(db: &Path, q: &str) -> Result<Vec<String>, String> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| format!("{}: {e}", db.display()))?;
    let (_, rows) = crate::sqlite::query(&conn, q).map_err(|e| e.to_string())?;
    let mut rows: Vec<String> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| match v {
                    // 1e-6 relative agreement for floating results
                    Value::Number(n) if n.is_f64() => {
                        format!("{:.6e}", n.as_f64().unwrap_or(0.0))
                    }
                    Value::Number(n) => format!("{:.6e}", n.as_f64().unwrap_or(0.0)),
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join("\u{1f}")
        })
        .collect();
    rows.sort();
    Ok(rows)
}

/// Verifies `answer` against `gold`; `f1_threshold` applies to text answers.
pub fn verify(answer: &str, gold: &Gold<'_>, f1_threshold: f64) -> Verdict {
    match gold.domain {
        Domain::Swe => verify_patch(answer, gold.answer),
        Domain::Sql => match (gold.sql, gold.db) {
            (Some(g), Some(db)) => {
                let Some(p) = predicted_sql(answer) else {
                    return Verdict::fail("no SQL query in the answer");
                };
                let gold_rows = match sql_rows(db, g) {
                    Ok(r) => r,
                    Err(e) => return Verdict::fail(format!("gold SQL does not run: {e}")),
                };
                match sql_rows(db, &p) {
                    Ok(r) if r == gold_rows => {
                        Verdict::pass(format!("result sets equal ({} rows)", r.len()))
                    }
                    Ok(r) => Verdict::fail(format!(
                        "result sets differ ({} rows predicted, {} gold)",
                        r.len(),
                        gold_rows.len()
                    )),
                    Err(e) => Verdict::fail(format!("predicted SQL fails: {e}")),
                }
            }
            _ => verify_text(answer, gold.answer, f1_threshold),
        },
        Domain::Search | Domain::Other => verify_text(answer, gold.answer, f1_threshold),
    }
}

/// The short answer inside a framed final answer ("The answer is X." → "x"), normalised.
pub fn short_answer(gold: &str) -> String {
    let n = normalize_answer(gold);
    for frame in ["final answer is ", "answer is ", "final answer ", "answer "] {
        if let Some(rest) = n.strip_prefix(frame) {
            return rest.to_string();
        }
    }
    n
}

fn verify_text(answer: &str, gold: &str, threshold: f64) -> Verdict {
    let pred = short_answer(answer);
    let golds = [normalize_answer(gold), short_answer(gold)];
    if golds
        .iter()
        .any(|g| *g == pred || *g == normalize_answer(answer))
    {
        return Verdict::pass("exact match");
    }
    let f1 = golds
        .iter()
        .map(|g| token_f1(&pred, g).max(token_f1(answer, g)))
        .fold(0.0, f64::max);
    if f1 >= threshold {
        Verdict::pass(format!("token F1 {f1:.2} ≥ {threshold}"))
    } else {
        Verdict::fail(format!("token F1 {f1:.2} < {threshold}"))
    }
}

fn verify_patch(answer: &str, gold: &str) -> Verdict {
    let Some(pred) = predicted_patch(answer) else {
        return Verdict::fail("no diff in the answer");
    };
    let (g, p) = (hunks(gold), hunks(&pred));
    let mut gold_files: Vec<String> = patch_files(gold);
    let mut pred_files: Vec<String> = patch_files(&pred);
    gold_files.sort();
    pred_files.sort();
    if gold_files.is_empty() {
        return Verdict::fail("gold patch has no files");
    }
    if gold_files != pred_files {
        return Verdict::fail(format!(
            "files differ: predicted {pred_files:?}, gold {gold_files:?}"
        ));
    }
    for (file, gh) in &g {
        let ph = p.get(file).cloned().unwrap_or_default();
        for &(a, b) in gh {
            if !ph.iter().any(|&(c, d)| c < b && a < d) {
                return Verdict::fail(format!("{file}: no predicted hunk overlaps lines {a}..{b}"));
            }
        }
    }
    Verdict::pass(format!(
        "same files ({}), every gold hunk overlapped",
        gold_files.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_answers() {
        assert_eq!(normalize_answer("The  Eiffel-Tower!"), "eiffel tower");
        assert!((token_f1("Paris, France", "paris") - 2.0 / 3.0).abs() < 1e-12);
        let g = Gold {
            domain: Domain::Search,
            answer: "Leonardo da Vinci",
            sql: None,
            db: None,
        };
        assert!(verify("leonardo da vinci.", &g, 0.8).ok);
        assert!(verify("Leonardo da Vinci, painter", &g, 0.8).ok); // F1 0.86
        assert!(!verify("It was Leonardo da Vinci", &g, 0.8).ok); // F1 0.75
        assert!(!verify("Michelangelo", &g, 0.8).ok);
        // a framed final answer is compared by its short answer, both ways
        let framed = Gold {
            answer: "The answer is Tallinn.",
            ..g
        };
        assert_eq!(short_answer(framed.answer), "tallinn");
        assert_eq!(verify("Tallinn", &framed, 0.8).how, "exact match");
        assert!(verify("Final answer: tallinn", &g, 0.8)
            .how
            .starts_with("token F1"));
        assert!(!verify("Riga", &framed, 0.8).ok);
    }

    #[test]
    fn fenced_blocks_and_extraction() {
        let a = "Reasoning…\n```sql\nSELECT 1\n```\nor\n```sql\nSELECT 2\n```";
        assert_eq!(predicted_sql(a).as_deref(), Some("SELECT 2"));
        assert_eq!(
            predicted_sql("The query is SELECT name FROM t").as_deref(),
            Some("SELECT name FROM t")
        );
        assert_eq!(predicted_sql("no query here"), None);
        assert_eq!(
            predicted_patch("Fix:\n```diff\n--- a/x\n+++ b/x\n```").as_deref(),
            Some("--- a/x\n+++ b/x\n")
        );
    }

    #[test]
    fn patches_must_overlap_every_gold_hunk() {
        let gold = "diff --git a/src/m.py b/src/m.py\n--- a/src/m.py\n+++ b/src/m.py\n@@ -10,3 +10,3 @@\n a\n-b\n+c\n";
        let g = Gold {
            domain: Domain::Swe,
            answer: gold,
            sql: None,
            db: None,
        };
        let near = "--- a/src/m.py\n+++ b/src/m.py\n@@ -11,2 +11,2 @@\n-b\n+d\n";
        assert!(verify(near, &g, 0.8).ok);
        let far = "--- a/src/m.py\n+++ b/src/m.py\n@@ -40,2 +40,2 @@\n-b\n+d\n";
        let v = verify(far, &g, 0.8);
        assert!(!v.ok && v.how.contains("lines 10..13"), "{}", v.how);
        let other = "--- a/src/n.py\n+++ b/src/n.py\n@@ -10,2 +10,2 @@\n-b\n+d\n";
        assert!(verify(other, &g, 0.8).how.starts_with("files differ"));
    }

    #[test]
    fn sql_result_sets_are_compared_on_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.sqlite");
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(
            "CREATE TABLE o(id INTEGER, c TEXT, v REAL); \
             INSERT INTO o VALUES (1,'a',1.5),(2,'b',2.0),(3,'a',0.25);",
        )
        .unwrap();
        drop(c);
        let g = Gold {
            domain: Domain::Sql,
            answer: "a",
            sql: Some("SELECT c, SUM(v) FROM o GROUP BY c"),
            db: Some(&db),
        };
        // another query with the same result set (order differs)
        let ok = verify(
            "```sql\nSELECT c, SUM(v) AS s FROM o GROUP BY c ORDER BY s DESC\n```",
            &g,
            0.8,
        );
        assert!(ok.ok, "{}", ok.how);
        let bad = verify("```sql\nSELECT c, COUNT(*) FROM o GROUP BY c\n```", &g, 0.8);
        assert!(!bad.ok && bad.how.starts_with("result sets differ"));
        let err = verify("```sql\nSELECT nope FROM o\n```", &g, 0.8);
        assert!(err.how.starts_with("predicted SQL fails"), "{}", err.how);
    }
}
