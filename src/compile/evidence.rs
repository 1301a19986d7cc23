//! Evidence per domain (the ACC paper's rules):
//! - search: full text of visited pages is evidence; results never visited are distractors;
//! - SWE: files touched by the final patch (content reassembled from the file
//!   views, or read from `--repo-root`) are evidence; other viewed files are
//!   distractors; test output and tracebacks are observations;
//! - SQL: full contents of every table the executed queries reference, read
//!   from the SQLite database (`--db`); without one, the query results seen
//!   in the trajectory (recorded in the sample);
//! - other: every tool observation is evidence; but when the final answer
//!   quotes lines of some of them (a listing whose lines the answer names),
//!   only those are, and the others are distractors (read, but not used).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::trajectory::Trajectory;

use crate::domain::Domain;

/// What a piece is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PieceKind {
    Evidence,
    Observation,
    Distractor,
}

/// One document of the compiled context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Piece {
    pub kind: PieceKind,
    /// url, file path, table name or tool name.
    pub source: String,
    pub text: String,
}

/// Where evidence may come from besides the trajectory.
#[derive(Debug, Clone, Default)]
pub struct EvidenceSources<'a> {
    pub db: Option<&'a Path>,
    pub repo_root: Option<&'a Path>,
}

/// Pieces plus notes on how they were obtained (e.g. a fallback).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Extracted {
    pub pieces: Vec<Piece>,
    pub notes: Vec<String>,
    /// Every evidence piece is needed to answer (the answer quotes each one):
    /// a context that drops or cuts one of them is no sample.
    #[serde(default)]
    pub cited: bool,
}

fn observations(t: &Trajectory) -> impl Iterator<Item = (&str, &Value, &str)> {
    t.steps.iter().filter_map(|s| {
        let c = s.call.as_ref()?;
        let o = s.observation.as_ref()?;
        Some((c.name.as_str(), &c.args, o.content.as_str()))
    })
}

/// Domain from tools and content.
pub fn classify(t: &Trajectory) -> Domain {
    let names: Vec<String> = t.tool_names().iter().map(|n| n.to_lowercase()).collect();
    let has = |f: &dyn Fn(&str) -> bool| names.iter().any(|n| f(n));
    // an agent that ends with a patch did software engineering, whatever else it searched
    if t.patch.is_some() && !has(&|n| n.contains("sql")) {
        return Domain::Swe;
    }
    if has(&|n| n.contains("sql")) || observations(t).any(|(_, a, _)| a.get("sql").is_some()) {
        return Domain::Sql;
    }
    if has(&|n| {
        matches!(
            n,
            "search" | "visit" | "web_search" | "browse" | "fetch" | "google_search"
        )
    }) || observations(t)
        .any(|(_, _, o)| o.starts_with("A Google search for") || o.contains("<information>"))
    {
        return Domain::Search;
    }
    // coding tools without a patch: SWE only when there is no answer either
    // (a run that ends with an answer, e.g. "create a 2048 game", is answered by it)
    let answered = t
        .final_answer
        .as_ref()
        .is_some_and(|a| !a.trim().is_empty());
    if t.patch.is_some()
        || !answered
            && has(&|n| {
                matches!(
                    n,
                    "bash"
                        | "execute_bash"
                        | "str_replace_editor"
                        | "open"
                        | "edit"
                        | "create"
                        | "submit"
                )
            })
    {
        return Domain::Swe;
    }
    Domain::Other
}

/// Extracts the pieces of `t` for `domain`.
pub fn extract(t: &Trajectory, domain: Domain, src: &EvidenceSources<'_>) -> Extracted {
    match domain {
        Domain::Search => search(t),
        Domain::Swe => swe(t, src.repo_root),
        Domain::Sql => sql(t, src.db),
        Domain::Other => {
            let quoted = quoted_lines(t);
            let cites = |o: &str| o.lines().any(|l| quoted.contains(l.trim()));
            let any_cited = observations(t).any(|(_, _, o)| cites(o));
            let pieces: Vec<Piece> = observations(t)
                .filter(|(_, _, o)| !o.trim().is_empty())
                .map(|(name, _, o)| Piece {
                    kind: match !any_cited || cites(o) {
                        true => PieceKind::Evidence,
                        false => PieceKind::Distractor,
                    },
                    source: name.to_string(),
                    text: o.to_string(),
                })
                .collect();
            let calls = t.steps.iter().filter(|s| s.call.is_some()).count();
            let notes = match (pieces.is_empty(), calls) {
                (false, _) => vec![],
                (true, 0) => vec!["domain other: the trajectory makes no tool calls".into()],
                (true, n) => vec![format!(
                    "domain other: none of its {n} tool calls returned any output"
                )],
            };
            Extracted {
                pieces,
                notes,
                cited: any_cited,
            }
        }
    }
}

/// Characters a trimmed answer line needs to quote a line of the evidence:
/// shorter ones (`Done.`, `[]`) match by chance.
const QUOTE_MIN_CHARS: usize = 12;

/// The final answer's lines that can quote a tool output line (trimmed).
fn quoted_lines(t: &Trajectory) -> BTreeSet<&str> {
    t.final_answer
        .as_deref()
        .unwrap_or("")
        .lines()
        .map(str::trim)
        .filter(|l| l.chars().count() >= QUOTE_MIN_CHARS)
        .collect()
}

/// An answer that quotes its evidence, split into the quoting lines (the
/// lookups it made in the evidence, in order) and the rest of the answer:
/// `None` when no line quotes an evidence piece or nothing else remains.
pub fn quoting_lines(answer: &str, pieces: &[Piece]) -> Option<(String, String)> {
    let evidence: BTreeSet<&str> = pieces
        .iter()
        .filter(|p| p.kind == PieceKind::Evidence)
        .flat_map(|p| p.text.lines().map(str::trim))
        .collect();
    let quotes =
        |l: &str| l.trim().chars().count() >= QUOTE_MIN_CHARS && evidence.contains(l.trim());
    let (quoting, rest): (Vec<&str>, Vec<&str>) = answer.lines().partition(|l| quotes(l));
    let rest = rest.join("\n").trim().to_string();
    match quoting.is_empty() || rest.is_empty() {
        true => None,
        false => Some((quoting.join("\n"), rest)),
    }
}

fn search(t: &Trajectory) -> Extracted {
    let mut visited = BTreeSet::new();
    let mut pieces = Vec::new();
    let mut listed: Vec<(String, String, String)> = Vec::new(); // (url, title, snippet)
    let mut retrieved = BTreeSet::new();
    for (name, args, o) in observations(t) {
        if let Some(rest) = o.strip_prefix("The useful information in ") {
            let url = rest.split_whitespace().next().unwrap_or("").to_string();
            let page = o
                .split_once("Evidence in page:")
                .map(|(_, p)| p)
                .unwrap_or(o);
            let page = page.split("\n\nSummary:").next().unwrap_or(page).trim();
            visited.insert(url.clone());
            pieces.push(Piece {
                kind: PieceKind::Evidence,
                source: url,
                text: page.to_string(),
            });
        } else if o.starts_with("A Google search for") {
            let lines: Vec<&str> = o.lines().collect();
            for (i, l) in lines.iter().enumerate() {
                let Some((_, rest)) = l.split_once(". [") else {
                    continue;
                };
                let Some((title, url)) = rest.split_once("](") else {
                    continue;
                };
                let url = url.trim_end_matches(')').to_string();
                let snippet = lines
                    .get(i + 1)
                    .filter(|s| !s.trim().is_empty() && !s.contains("]("))
                    .unwrap_or(&"");
                listed.push((url, title.to_string(), snippet.to_string()));
            }
        } else if name == "search" {
            // snippet-only traces (Search-R1, ReAct): the retrieved passages are the evidence
            if !o.starts_with("Could not find") && o.trim() != "None" {
                for (title, text) in crate::compile::readers::search_r1::split_docs(o) {
                    if retrieved.insert(text.clone()) {
                        let q = args.get("query").and_then(Value::as_str).unwrap_or(name);
                        pieces.push(Piece {
                            kind: PieceKind::Evidence,
                            source: if title.is_empty() {
                                q.to_string()
                            } else {
                                title
                            },
                            text,
                        });
                    }
                }
            }
        } else if !o.trim().is_empty() {
            pieces.push(Piece {
                kind: PieceKind::Evidence,
                source: args
                    .get("url")
                    .and_then(Value::as_str)
                    .unwrap_or(name)
                    .to_string(),
                text: o.to_string(),
            });
        }
    }
    let mut seen = BTreeSet::new();
    for (url, title, snippet) in listed {
        if !visited.contains(&url) && seen.insert(url.clone()) {
            pieces.push(Piece {
                kind: PieceKind::Distractor,
                source: url,
                text: format!("{title}\n{snippet}").trim().to_string(),
            });
        }
    }
    Extracted {
        pieces,
        notes: vec![],
        cited: false,
    }
}

/// Files touched by a unified diff (`+++ b/path`, or `diff --git a/x b/x`).
pub fn patch_files(patch: &str) -> Vec<String> {
    let mut files = Vec::new();
    for l in patch.lines() {
        let p = if let Some(p) = l.strip_prefix("+++ b/") {
            Some(p)
        } else {
            l.strip_prefix("diff --git a/")
                .and_then(|r| r.split(" b/").nth(1))
        };
        if let Some(p) = p {
            let p = p.trim().to_string();
            if p != "/dev/null" && !files.contains(&p) {
                files.push(p);
            }
        }
    }
    files
}

/// Reassembles file contents from the file views in observations (SWE-agent
/// `[File: …]`, editor `cat -n` output, shell `cat` / `sed -n` reads; see
/// [`super::views`]). The first view of each line wins: the context shows the
/// repository as the agent found it, before its own edits.
pub fn file_views(t: &Trajectory) -> BTreeMap<String, BTreeMap<usize, String>> {
    let mut files: BTreeMap<String, BTreeMap<usize, String>> = BTreeMap::new();
    for (_, args, o) in observations(t) {
        for (path, lines) in super::views::views_in(args, o) {
            let file = files.entry(path).or_default();
            for (n, text) in lines {
                file.entry(n).or_insert(text);
            }
        }
    }
    files
}

/// Whether `o` reads like test output or a traceback.
fn test_like(o: &str) -> bool {
    o.contains("Traceback") || o.contains("FAILED") || o.contains("Error") || o.contains(" passed")
}

/// Whether `path` (as the agent wrote it, maybe absolute or quoted) is `file`.
fn same_file(path: &str, file: &str) -> bool {
    let p = path.trim_matches(|c| c == '\'' || c == '"');
    p == file || p.ends_with(&format!("/{file}"))
}

/// Whether a call's arguments read `file`: a path argument of a read tool
/// (`file_path`, `path`, …), or a shell command with a segment that runs a
/// viewer (`cat`, `sed`, `head`, `nl`, …) on it.
fn reads_file(args: &Value, file: &str) -> bool {
    const PATH_KEYS: [&str; 5] = ["file_path", "path", "filePath", "absolute_path", "filename"];
    const VIEWERS: [&str; 10] = [
        "cat", "sed", "head", "tail", "nl", "less", "more", "bat", "awk", "grep",
    ];
    match args {
        Value::Object(o) => o.iter().any(|(k, v)| {
            (PATH_KEYS.contains(&k.as_str()) && v.as_str().is_some_and(|p| same_file(p, file)))
                || (!v.is_string() || !PATH_KEYS.contains(&k.as_str())) && reads_file(v, file)
        }),
        Value::Array(a) => a.iter().any(|v| reads_file(v, file)),
        Value::String(cmd) => cmd.split(['|', ';', '&', '\n']).any(|seg| {
            let mut words = seg.split_whitespace();
            let viewer = words
                .next()
                .map(|w| w.rsplit('/').next().unwrap_or(w))
                .is_some_and(|w| VIEWERS.contains(&w));
            viewer && words.any(|w| same_file(w, file))
        }),
        _ => false,
    }
}

/// Whether a tool writes files (its output only confirms the write).
fn editing(name: &str) -> bool {
    matches!(
        name.to_lowercase().as_str(),
        "edit" | "multiedit" | "write" | "write_file" | "replace" | "apply_patch" | "create"
    )
}

/// Outputs of calls that read `file` (a Read tool, `sed -n … file`, `cat
/// file`): what the agent saw of a patched file it never opened in a
/// `[File: …]` view.
fn read_outputs(t: &Trajectory, file: &str) -> Vec<String> {
    t.steps
        .iter()
        .filter_map(|s| Some((s.call.as_ref()?, s.observation.as_ref()?)))
        .filter(|(c, o)| {
            !editing(&c.name)
                && !o.is_error
                && !o.content.trim().is_empty()
                && reads_file(&c.args, file)
        })
        .map(|(_, o)| o.content.clone())
        .collect()
}

fn swe(t: &Trajectory, repo_root: Option<&Path>) -> Extracted {
    let touched = t.patch.as_deref().map(patch_files).unwrap_or_default();
    // files the patch creates (`--- /dev/null` then `+++ b/path`)
    let created: Vec<String> = t
        .patch
        .as_deref()
        .unwrap_or("")
        .lines()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[0] == "--- /dev/null")
        .filter_map(|w| w[1].strip_prefix("+++ b/").map(|p| p.trim().to_string()))
        .collect();
    let views = file_views(t);
    let mut pieces = Vec::new();
    let mut notes = Vec::new();
    let render =
        |lines: &BTreeMap<usize, String>| lines.values().cloned().collect::<Vec<_>>().join("\n");
    let names = super::views::names_file;
    for f in &touched {
        let from_disk = repo_root.and_then(|r| std::fs::read_to_string(r.join(f)).ok());
        // views may name the file by an absolute path (/testbed/<f>): merge them
        let mut seen: Option<BTreeMap<usize, String>> = None;
        for (_, lines) in views.iter().filter(|(p, _)| names(p, f)) {
            let merged = seen.get_or_insert_with(BTreeMap::new);
            for (n, l) in lines {
                merged.entry(*n).or_insert_with(|| l.clone());
            }
        }
        match (from_disk, seen.as_ref()) {
            (Some(text), _) => pieces.push(Piece {
                kind: PieceKind::Evidence,
                source: f.clone(),
                text,
            }),
            (None, Some(lines)) => pieces.push(Piece {
                kind: PieceKind::Evidence,
                source: f.clone(),
                text: render(lines),
            }),
            (None, None) => {
                let reads = read_outputs(t, f);
                if reads.is_empty() && created.contains(f) {
                    notes.push(format!(
                        "patched file {f} is new (created by the patch): no earlier content to show"
                    ));
                } else if reads.is_empty() {
                    notes.push(format!(
                        "patched file {f} was never viewed and no --repo-root was given"
                    ));
                } else {
                    pieces.push(Piece {
                        kind: PieceKind::Evidence,
                        source: f.clone(),
                        text: reads.join("\n\n"),
                    });
                }
            }
        }
    }
    // the agent's own diffs (git diff, cat patch.txt, submit) would give the answer away
    let is_diff = |o: &str| o.contains("diff --git ") || o.contains("\n+++ b/");
    for (f, lines) in &views {
        let text = render(lines);
        if !touched.iter().any(|t| names(f, t)) && !text.trim().is_empty() && !is_diff(&text) {
            pieces.push(Piece {
                kind: PieceKind::Distractor,
                source: f.clone(),
                text,
            });
        }
    }
    for (name, args, o) in observations(t) {
        if test_like(o)
            && !o.starts_with("[File: ")
            && !o.starts_with("File updated")
            && !is_diff(o)
            && super::views::views_in(args, o).is_empty()
        {
            pieces.push(Piece {
                kind: PieceKind::Observation,
                source: name.to_string(),
                text: o.to_string(),
            });
        }
    }
    if touched.is_empty() {
        notes.push("no patch: file views only".into());
    }
    // a patch that writes files with no earlier content to show (created, or
    // rewritten whole without being read) is built from what the agent read
    // and ran: those outputs are the evidence
    let has_evidence = pieces.iter().any(|p| p.kind == PieceKind::Evidence);
    if !has_evidence && !touched.is_empty() {
        // the calls that wrote the patched files only confirm the write
        let read: Vec<Piece> = observations(t)
            .filter(|(name, _, o)| !o.trim().is_empty() && !is_diff(o) && !editing(name))
            .map(|(name, _, o)| Piece {
                kind: PieceKind::Evidence,
                source: name.to_string(),
                text: o.to_string(),
            })
            .collect();
        if !read.is_empty() {
            notes.push(
                "the patched files have no earlier content: the outputs the agent read are the evidence"
                    .into(),
            );
            return Extracted {
                pieces: read,
                notes,
                cited: false,
            };
        }
    }
    Extracted {
        pieces,
        notes,
        cited: false,
    }
}

/// Table names referenced by a query, in order of first appearance, without
/// CTE names or schema qualifiers. The SQL is parsed (sqlparser; SQLite, then
/// generic, then BigQuery/Snowflake dialects); text no dialect accepts falls back
/// to a FROM/JOIN keyword scan.
pub fn sql_tables(sql: &str) -> Vec<String> {
    sql_tables_parsed(sql).unwrap_or_else(|| sql_tables_by_keywords(sql))
}

/// Table names from the parsed statements, or None when no dialect parses `sql`.
pub fn sql_tables_parsed(sql: &str) -> Option<Vec<String>> {
    use sqlparser::ast::{ObjectName, Query, Visit, Visitor};
    use sqlparser::dialect::{
        BigQueryDialect, Dialect, GenericDialect, SQLiteDialect, SnowflakeDialect,
    };
    use std::ops::ControlFlow;

    #[derive(Default)]
    struct Relations {
        ctes: BTreeSet<String>,
        names: Vec<String>,
    }
    impl Visitor for Relations {
        type Break = ();
        fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
            if let Some(w) = &q.with {
                for c in &w.cte_tables {
                    self.ctes.insert(c.alias.name.value.to_lowercase());
                }
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_relation(&mut self, r: &ObjectName) -> ControlFlow<()> {
            if let Some(last) = r.0.last().and_then(|p| p.as_ident()) {
                if !self.names.contains(&last.value) {
                    self.names.push(last.value.clone());
                }
            }
            ControlFlow::Continue(())
        }
    }

    let dialects: [&dyn Dialect; 4] = [
        &SQLiteDialect {},
        &GenericDialect {},
        &BigQueryDialect {},
        &SnowflakeDialect {},
    ];
    let statements = dialects
        .iter()
        .find_map(|d| sqlparser::parser::Parser::parse_sql(*d, sql).ok())?;
    let mut v = Relations::default();
    let _ = statements.visit(&mut v);
    Some(
        v.names
            .into_iter()
            .filter(|n| !v.ctes.contains(&n.to_lowercase()))
            .collect(),
    )
}

/// The fallback: FROM / JOIN targets found by a keyword scan, minus CTE names.
pub fn sql_tables_by_keywords(sql: &str) -> Vec<String> {
    let tokens: Vec<String> = sql
        .replace(['(', ')', ',', ';', '\n', '\t'], " ")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let mut ctes = BTreeSet::new();
    for w in tokens.windows(3) {
        if w[1].eq_ignore_ascii_case("as")
            && tokens
                .first()
                .is_some_and(|t| t.eq_ignore_ascii_case("with"))
        {
            ctes.insert(w[0].to_lowercase());
        }
    }
    let mut out = Vec::new();
    for w in tokens.windows(2) {
        if w[0].eq_ignore_ascii_case("from") || w[0].eq_ignore_ascii_case("join") {
            let name = w[1].trim_matches(|c| c == '"' || c == '`' || c == '[' || c == ']');
            let name = name.rsplit('.').next().unwrap_or(name);
            if !name.is_empty()
                && !name.eq_ignore_ascii_case("select")
                && !ctes.contains(&name.to_lowercase())
                && !out.contains(&name.to_string())
            {
                out.push(name.to_string());
            }
        }
    }
    out
}

fn sql(t: &Trajectory, db: Option<&Path>) -> Extracted {
    let mut tables: Vec<String> = Vec::new();
    let mut results = Vec::new();
    for (name, args, o) in observations(t) {
        let Some(q) = args
            .get("sql")
            .or_else(|| args.get("query"))
            .and_then(Value::as_str)
        else {
            continue;
        };
        for tb in sql_tables(q) {
            if !tables.contains(&tb) && !tb.eq_ignore_ascii_case("sqlite_master") {
                tables.push(tb);
            }
        }
        results.push(Piece {
            kind: PieceKind::Evidence,
            source: format!("{name}: {q}"),
            text: o.to_string(),
        });
    }
    let Some(db) = db else {
        return Extracted {
            pieces: results,
            notes: vec![
                "no --db: query results seen in the trajectory stand in for the tables".into(),
            ],
            cited: false,
        };
    };
    let conn =
        match rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        {
            Ok(c) => c,
            Err(e) => {
                return Extracted {
                    pieces: results,
                    notes: vec![format!(
                        "{}: cannot open database ({e}); query results used instead",
                        db.display()
                    )],
                    cited: false,
                }
            }
        };
    let mut pieces = Vec::new();
    let mut notes = Vec::new();
    for tb in &tables {
        let schema: Option<String> = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [tb],
                |r| r.get(0),
            )
            .ok();
        match crate::sqlite::query(
            &conn,
            &format!("SELECT * FROM \"{}\"", tb.replace('"', "\"\"")),
        ) {
            Ok((cols, rows)) => pieces.push(Piece {
                kind: PieceKind::Evidence,
                source: format!("table {tb}"),
                text: format!(
                    "{}\n{}",
                    schema.unwrap_or_default(),
                    crate::sqlite::render_result(&cols, &rows)
                )
                .trim()
                .to_string(),
            }),
            Err(e) => notes.push(format!("table {tb}: {e}")),
        }
    }
    Extracted {
        pieces,
        notes,
        cited: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_tables_from_the_parse_tree() {
        // comma joins, subqueries, CTEs, quoting and schema qualifiers
        assert_eq!(
            sql_tables(
                "WITH recent AS (SELECT * FROM orders WHERE day > 3) \
                 SELECT c.name FROM recent r, \"customers\" c \
                 JOIN main.products p ON p.id = r.product_id \
                 WHERE c.id IN (SELECT customer_id FROM refunds)"
            ),
            ["orders", "customers", "products", "refunds"]
        );
        // FROM inside EXTRACT is not a table (the keyword scan gets this wrong)
        let q = "SELECT EXTRACT(YEAR FROM order_date) AS y, COUNT(*) FROM orders GROUP BY y";
        assert_eq!(sql_tables(q), ["orders"]);
        assert_eq!(sql_tables_by_keywords(q), ["order_date", "orders"]);
        // several statements; a recursive CTE referencing itself
        assert_eq!(
            sql_tables(
                "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 5) \
                 SELECT * FROM n; SELECT name FROM sqlite_master"
            ),
            ["sqlite_master"]
        );
        // Snowflake-style three-part names parse with a later dialect
        assert_eq!(
            sql_tables("SELECT * FROM USFS_FIA.USFS_FIA.POPULATION LIMIT 5"),
            ["POPULATION"]
        );
    }

    fn other_run(outputs: &[&str], answer: &str) -> Trajectory {
        use super::super::trajectory::{Observation, SourceRef, Step, ToolCall};
        Trajectory {
            id: "t".into(),
            source_format: "openai".into(),
            source: SourceRef {
                file: "t.jsonl".into(),
                record: 1,
                part: None,
            },
            question: "q".into(),
            system: None,
            steps: outputs
                .iter()
                .map(|o| Step {
                    call: Some(ToolCall {
                        name: "bash".into(),
                        args: serde_json::json!({}),
                        id: None,
                    }),
                    observation: Some(Observation {
                        content: o.to_string(),
                        is_error: false,
                    }),
                    ..Step::default()
                })
                .collect(),
            final_answer: Some(answer.into()),
            patch: None,
            verified: None,
        }
    }

    /// In `other` runs, the outputs whose lines the answer quotes are
    /// evidence and the rest distractors; an answer that quotes none leaves
    /// every output evidence.
    #[test]
    fn other_outputs_the_answer_quotes_are_evidence() {
        // the kinds of the pieces of an `other` run with these outputs and
        // answer, and whether its evidence is the quoted outputs
        let kinds = |outputs: &[&str], answer: &str| -> (Vec<PieceKind>, bool) {
            let t = other_run(outputs, answer);
            let ex = extract(&t, Domain::Other, &EvidenceSources::default());
            (ex.pieces.iter().map(|p| p.kind).collect(), ex.cited)
        };
        use PieceKind::{Distractor as O, Evidence as E};
        let pages = [
            "aaaaaaaaaa -> bbbbbbbbbb\ncccccccccc -> dddddddddd",
            "eeeeeeeeee -> ffffffffff",
            "  cccccccccc -> 0000000000  ",
        ];
        let answer = "cccccccccc -> dddddddddd\n\nFinal Answer: [dddddddddd]";
        assert_eq!(kinds(&pages, answer), (vec![E, O, O], true));
        // quoted with other indentation still cites the page
        let answer = "  cccccccccc -> 0000000000\nFinal Answer: [0000000000]";
        assert_eq!(kinds(&pages, answer), (vec![O, O, E], true));
        // short lines do not cite: `[]` and `Done.` appear everywhere
        assert_eq!(kinds(&["Done.", "[]"], "Done."), (vec![E, E], false));
    }

    #[test]
    fn an_answer_splits_into_the_lines_it_quotes_and_the_rest() {
        let piece = |kind, text: &str| Piece {
            kind,
            source: "bash".into(),
            text: text.into(),
        };
        let pieces = [
            piece(
                PieceKind::Evidence,
                "aaaaaaaaaa -> bbbbbbbbbb\ncccccccccc -> dddddddddd",
            ),
            piece(PieceKind::Distractor, "eeeeeeeeee -> ffffffffff"),
        ];
        let answer =
            "cccccccccc -> dddddddddd\naaaaaaaaaa -> bbbbbbbbbb\n\nFinal Answer: [dddddddddd]";
        assert_eq!(
            quoting_lines(answer, &pieces),
            Some((
                "cccccccccc -> dddddddddd\naaaaaaaaaa -> bbbbbbbbbb".into(),
                "Final Answer: [dddddddddd]".into()
            ))
        );
        // a distractor's line is no quote; an answer of quotes only is not split
        assert_eq!(
            quoting_lines("eeeeeeeeee -> ffffffffff\nFinal Answer: [x]", &pieces),
            None
        );
        assert_eq!(quoting_lines("cccccccccc -> dddddddddd", &pieces), None);
    }

    #[test]
    fn unparseable_sql_falls_back_to_the_keyword_scan() {
        let q = "SELECT a FROM t1 JOIN t2 ON WHERE ((";
        assert!(sql_tables_parsed(q).is_none());
        assert_eq!(sql_tables(q), ["t1", "t2"]);
    }
}
