//! Scoring prediction files against task rows: per-row errors are collected
//! and counted (a malformed row is never scored as zero silently), and scores
//! are broken down by needle count / problem type and by length bin.

use std::collections::BTreeMap;
use std::path::Path;

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::grade;
use super::graphwalks::GraphWalksRow;
use super::mrcr::MrcrRow;
use crate::error::{Error, Result};
use crate::tokenizer::TokenCounter;

/// A long-context benchmark: which task a file holds, a problem is drawn
/// from, or a model is scored on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Mrcr,
    Graphwalks,
}

impl Task {
    pub const ALL: [Task; 2] = [Task::Mrcr, Task::Graphwalks];

    /// `mrcr` or `graphwalks` (as it serialises).
    pub fn name(&self) -> &'static str {
        match self {
            Task::Mrcr => "mrcr",
            Task::Graphwalks => "graphwalks",
        }
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Task {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| Error::Input(format!("unknown task `{s}`: expected mrcr or graphwalks")))
    }
}

/// A row that could not be scored, with its place and reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowError {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

/// Mean score of a group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub n: usize,
    pub mean: f64,
}

/// Scores of one prediction file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreReport {
    pub task: Task,
    /// Gold rows read.
    pub gold_rows: usize,
    /// Rows scored (gold rows with a well-formed prediction).
    pub scored: usize,
    pub mean: f64,
    pub per_row: Vec<f64>,
    /// By `n_needles` (MRCR) or `problem_type` (GraphWalks).
    pub by_kind: BTreeMap<String, Group>,
    /// By prompt length bin: (lo, hi] tokens, powers of two from 4K (MRCR's bins).
    pub by_length: BTreeMap<String, Group>,
    pub errors: Vec<RowError>,
}

/// Length bin label of a prompt of `tokens` tokens: "≤4K", "(4K,8K]", "(8K,16K]", ….
pub fn length_bin(tokens: usize) -> String {
    let k = |x: usize| format!("{}K", x / 1024);
    let mut hi = 4096;
    if tokens <= hi {
        return format!("≤{}", k(hi));
    }
    while tokens > hi {
        hi *= 2;
    }
    format!("({},{}]", k(hi / 2), k(hi))
}

/// The non-empty lines of a JSONL file: (1-based line number, parsed value or the reason it is not JSON).
pub type Slots = Vec<(usize, std::result::Result<Value, String>)>;

/// Reads task rows keeping each in its slot, so that a malformed row costs
/// only itself: JSONL (one slot per non-empty line), or parquet as the official
/// openai/mrcr and openai/graphwalks files are distributed (one slot per row,
/// numbered from 1; columns become JSON fields, lists become arrays).
pub fn read_slots(path: &Path) -> Result<Slots> {
    if path.extension().is_some_and(|e| e == "parquet") {
        return read_parquet(path);
    }
    // a line that is not UTF-8 costs that line
    let bytes = crate::io::read_bounded(path, crate::io::MAX_DATA_BYTES)?;
    Ok(crate::io::utf8_lines(&bytes)
        .into_iter()
        .filter(|(_, l)| l.as_ref().map_or(true, |l| !l.trim().is_empty()))
        .map(|(n, l)| {
            let v = l.and_then(|l| {
                serde_json::from_str::<Value>(l).map_err(|e| format!("invalid JSON: {e}"))
            });
            (n, v)
        })
        .collect())
}

fn read_parquet(path: &Path) -> Result<Slots> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let bad = |e: parquet::errors::ParquetError| {
        Error::Input(format!(
            "{}: not a readable parquet file: {e}",
            path.display()
        ))
    };
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = SerializedFileReader::new(file).map_err(bad)?;
    let rows = reader.get_row_iter(None).map_err(bad)?;
    Ok(rows
        .enumerate()
        .map(|(i, r)| {
            (
                i + 1,
                r.map(|row| row.to_json_value())
                    .map_err(|e| format!("unreadable parquet row: {e}")),
            )
        })
        .collect())
}

/// The id a row carries (`id`, `instance_id` or `index`), if any.
fn row_id(v: &Value) -> Option<String> {
    ["id", "instance_id", "index"]
        .iter()
        .find_map(|k| match v.get(*k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
}

type Slot = (usize, std::result::Result<Value, String>);

/// The prediction of each gold row: by id where every readable row on both
/// sides carries one, else by position. A count mismatch by position is
/// refused (it shifts every later row) unless `allow_missing`.
fn match_rows<'a>(
    gold_rows: &[Slot],
    pred_rows: &'a [Slot],
    (gold, pred): (&Path, &Path),
    allow_missing: bool,
) -> Result<Vec<Option<&'a Slot>>> {
    let ids = |rows: &[Slot]| -> Option<Vec<Option<String>>> {
        let ids: Vec<Option<String>> = rows
            .iter()
            .map(|(_, r)| r.as_ref().ok().and_then(row_id))
            .collect();
        let readable = rows.iter().filter(|(_, r)| r.is_ok()).count();
        (readable > 0 && ids.iter().flatten().count() == readable).then_some(ids)
    };
    // predictions whose id no gold row carries, for the message
    let mut strays: Vec<String> = Vec::new();
    let matched: Vec<Option<&Slot>> = match (ids(gold_rows), ids(pred_rows)) {
        (Some(g), Some(p)) => {
            let mut gold_ids = std::collections::HashMap::new();
            for (slot, id) in gold_rows.iter().zip(&g) {
                if let Some(id) = id {
                    if let Some(first) = gold_ids.insert(id.clone(), slot.0) {
                        return Err(Error::Input(format!(
                            "{}:{}: a second gold row with id `{id}` (the first is line {first}); ids must be unique",
                            gold.display(),
                            slot.0
                        )));
                    }
                }
            }
            let mut by_id = std::collections::HashMap::new();
            for (slot, id) in pred_rows.iter().zip(&p) {
                if let Some(id) = id {
                    if by_id.insert(id.clone(), slot).is_some() {
                        return Err(Error::Input(format!(
                            "{}:{}: a second prediction for id `{id}`",
                            pred.display(),
                            slot.0
                        )));
                    }
                    if !gold_ids.contains_key(id) {
                        strays.push(format!("`{id}` at line {}", slot.0));
                    }
                }
            }
            g.iter()
                .map(|id| id.as_ref().and_then(|id| by_id.get(id).copied()))
                .collect()
        }
        _ => (0..gold_rows.len()).map(|i| pred_rows.get(i)).collect(),
    };
    let missing = matched.iter().filter(|m| m.is_none()).count();
    if (missing > 0 || pred_rows.len() != gold_rows.len()) && !allow_missing {
        let strays = match strays.len() {
            0 => String::new(),
            n => format!(
                "; {n} prediction(s) with an id no gold row carries: {}",
                strays
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        return Err(Error::Input(format!(
            "{}: {} predictions for the {} rows of {} ({missing} without a prediction{strays}): rows are \
             matched by id where both files carry one, else by position, where a missing or \
             extra line shifts every later row; give one prediction per gold row, or \
             --allow-missing to score the matched rows only",
            pred.display(),
            pred_rows.len(),
            gold_rows.len(),
            gold.display()
        )));
    }
    Ok(matched)
}

/// How predictions are matched to gold rows.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScoreOptions {
    /// Score the rows that have a prediction when counts differ (otherwise refused).
    pub allow_missing: bool,
}

/// Scores `pred` (JSONL, one `{"response": …}` per gold row: matched by id
/// where both files carry one, else the k-th non-empty line answers the k-th
/// gold row) against `gold` (JSONL task rows). Length bins use `counter` on
/// the prompt. Counts must match ([`score_files_with`] can allow missing
/// predictions).
pub fn score_files(
    task: Task,
    pred: &Path,
    gold: &Path,
    counter: &dyn TokenCounter,
) -> Result<ScoreReport> {
    score_files_with(task, pred, gold, counter, ScoreOptions::default())
}

/// [`score_files`] with options.
pub fn score_files_with(
    task: Task,
    pred: &Path,
    gold: &Path,
    counter: &dyn TokenCounter,
    opts: ScoreOptions,
) -> Result<ScoreReport> {
    let gold_rows = read_slots(gold)?;
    if gold_rows.is_empty() {
        return Err(Error::Input(format!(
            "{}: no gold rows: nothing to score",
            gold.display()
        )));
    }
    let pred_rows = read_slots(pred)?;
    let matched = match_rows(&gold_rows, &pred_rows, (gold, pred), opts.allow_missing)?;
    let mut errors = Vec::new();
    let mut report = ScoreReport {
        task,
        gold_rows: gold_rows.len(),
        scored: 0,
        mean: 0.0,
        per_row: Vec::new(),
        by_kind: BTreeMap::new(),
        by_length: BTreeMap::new(),
        errors: Vec::new(),
    };
    let gfile = gold.display().to_string();
    let pfile = pred.display().to_string();
    if pred_rows.len() != gold_rows.len() {
        errors.push(RowError {
            file: pfile.clone(),
            line: 0,
            reason: format!(
                "{} predictions for {} gold rows; {} matched",
                pred_rows.len(),
                gold_rows.len(),
                matched.iter().flatten().count()
            ),
        });
    }
    for (i, (gline, g)) in gold_rows.iter().enumerate() {
        let g = match g {
            Ok(g) => g,
            Err(reason) => {
                errors.push(RowError {
                    file: gfile.clone(),
                    line: *gline,
                    reason: reason.clone(),
                });
                continue;
            }
        };
        let Some((pline, p)) = matched[i] else {
            continue;
        };
        let response = match p {
            Ok(v) => v.get("response").and_then(Value::as_str),
            Err(reason) => {
                errors.push(RowError {
                    file: pfile.clone(),
                    line: *pline,
                    reason: reason.clone(),
                });
                continue;
            }
        };
        let Some(response) = response else {
            errors.push(RowError {
                file: pfile.clone(),
                line: *pline,
                reason: "expected an object with a string field `response`".into(),
            });
            continue;
        };
        let scored = match task {
            Task::Mrcr => serde_json::from_value::<MrcrRow>(g.clone()).map(|row| {
                let s = grade::mrcr(response, &row.answer, &row.random_string_to_prepend);
                (
                    s,
                    format!("{} needles", row.n_needles),
                    counter.count(&row.prompt),
                )
            }),
            Task::Graphwalks => serde_json::from_value::<GraphWalksRow>(g.clone()).map(|row| {
                let s = grade::graphwalks(response, &row.answer_nodes);
                (s, row.problem_type.clone(), counter.count(&row.prompt))
            }),
        };
        match scored {
            Ok((s, kind, tokens)) => {
                report.per_row.push(s);
                for (map, key) in [
                    (&mut report.by_kind, kind),
                    (&mut report.by_length, length_bin(tokens)),
                ] {
                    let g = map.entry(key).or_default();
                    g.mean = (g.mean * g.n as f64 + s) / (g.n + 1) as f64;
                    g.n += 1;
                }
            }
            Err(e) => errors.push(RowError {
                file: gfile.clone(),
                line: *gline,
                reason: format!("not a {task:?} row: {e}"),
            }),
        }
    }
    report.scored = report.per_row.len();
    let gold_errors = errors.iter().filter(|e| e.file == gfile).count();
    if report.scored == 0 && gold_errors == gold_rows.len() {
        return Err(Error::Input(format!(
            "{}: none of its {} rows is a {task:?} row (first: line {}: {}); is it the other task's file?",
            gold.display(),
            gold_rows.len(),
            errors.iter().find(|e| e.file == gfile).map_or(0, |e| e.line),
            errors.iter().find(|e| e.file == gfile).map_or("", |e| e.reason.as_str())
        )));
    }
    report.mean = if report.scored == 0 {
        0.0
    } else {
        report.per_row.iter().sum::<f64>() / report.scored as f64
    };
    report.errors = errors;
    Ok(report)
}
