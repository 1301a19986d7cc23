//! Scoring prediction files against task rows: per-row errors are collected
//! and counted (a malformed row is never scored as zero silently), and scores
//! are broken down by needle count / problem type and by length bin.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::bins::{self, LengthBin};
use super::conventions::Conventions;
use super::grade::{self, AnswerLine, EmptySet};
use super::graphwalks::GraphWalksRow;
use super::mrcr::MrcrRow;
use crate::analysis::bootstrap::{mean_ci, MeanCi};
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

/// Scores of a group of rows: the mean with its 95% bootstrap CI, and for
/// GraphWalks the flexible F1's mean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub n: usize,
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flexible: Option<MeanCi>,
}

impl Group {
    /// The group of `scores` (strict) and, for GraphWalks, `flexible`.
    pub fn of(scores: &[f64], flexible: Option<&[f64]>, resamples: usize, seed: u64) -> Self {
        let ci = mean_ci(scores, resamples, 0.95, seed);
        Group {
            n: ci.n,
            mean: ci.mean,
            lo: ci.lo,
            hi: ci.hi,
            flexible: flexible.map(|f| mean_ci(f, resamples, 0.95, seed)),
        }
    }
}

/// Scores of one prediction file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreReport {
    pub task: Task,
    /// How the scores were computed (graders, empty sets, bins, tokens).
    pub conventions: Conventions,
    /// Gold rows read.
    pub gold_rows: usize,
    /// Rows scored (gold rows with a well-formed prediction).
    pub scored: usize,
    /// Rows dropped because prompt plus answer exceed `conventions.max_len`.
    pub dropped_too_long: usize,
    /// Mean score (GraphWalks: strict F1).
    pub mean: f64,
    /// Every scored row together.
    pub overall: Group,
    pub per_row: Vec<f64>,
    /// GraphWalks: each scored row's flexible F1.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub per_row_flexible: Vec<f64>,
    /// By `n_needles` (MRCR: "2 needles", …) or `problem_type` (GraphWalks).
    pub by_kind: BTreeMap<String, Group>,
    /// By lm-eval's prompt-length bins, in bin order.
    pub by_length: Vec<LengthBin>,
    /// lm-eval's area under the score-versus-length curve (0–1).
    pub auc: Option<f64>,
    pub errors: Vec<RowError>,
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

/// The files of an official MRCR folder (`{N}needle/{N}needle_{k}.parquet`,
/// as openai/mrcr ships them), in needle then shard order; `needles` picks
/// needle counts (all there by default).
pub fn official_mrcr_files(dir: &Path, needles: Option<&[usize]>) -> Result<Vec<PathBuf>> {
    let entries = |d: &Path| -> Result<Vec<(String, PathBuf)>> {
        let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(d)
            .map_err(|e| Error::io(d, e))?
            .flatten()
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .collect();
        v.sort();
        Ok(v)
    };
    let mut files: Vec<(usize, usize, PathBuf)> = Vec::new();
    for (name, sub) in entries(dir)? {
        let Some(n) = name
            .strip_suffix("needle")
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        if !sub.is_dir() || needles.is_some_and(|w| !w.contains(&n)) {
            continue;
        }
        for (file, path) in entries(&sub)? {
            let shard = file
                .strip_prefix(&format!("{n}needle_"))
                .and_then(|f| f.strip_suffix(".parquet"))
                .and_then(|k| k.parse::<usize>().ok());
            if let Some(k) = shard {
                files.push((n, k, path));
            }
        }
    }
    files.sort();
    if let Some(w) = needles {
        let missing: Vec<String> = w
            .iter()
            .filter(|n| !files.iter().any(|f| f.0 == **n))
            .map(|n| format!("{n}needle"))
            .collect();
        if !missing.is_empty() {
            return Err(Error::Input(format!(
                "{}: no {} folder with {{N}}needle_{{k}}.parquet files",
                dir.display(),
                missing.join(", ")
            )));
        }
    }
    if files.is_empty() {
        return Err(Error::Input(format!(
            "{}: a folder, but not the official MRCR layout: expected \
             {{2,4,8}}needle/{{N}}needle_{{0,1}}.parquet",
            dir.display()
        )));
    }
    Ok(files.into_iter().map(|f| f.2).collect())
}

/// [`read_slots`] of a file, or of an official MRCR folder: the rows of its
/// files one after another, numbered from 1 across the folder.
pub fn read_rows(path: &Path, needles: Option<&[usize]>) -> Result<Slots> {
    if !path.is_dir() {
        return read_slots(path);
    }
    let mut all = Vec::new();
    for f in official_mrcr_files(path, needles)? {
        let offset = all.len();
        all.extend(read_parquet(&f)?.into_iter().map(|(i, v)| (offset + i, v)));
    }
    Ok(all)
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

/// How predictions are matched to gold rows and scored.
#[derive(Debug, Clone)]
pub struct ScoreOptions {
    /// Score the rows that have a prediction when counts differ (otherwise refused).
    pub allow_missing: bool,
    /// GraphWalks, both sets empty.
    pub empty_set: EmptySet,
    /// Bootstrap resamples of the CIs.
    pub resamples: usize,
    pub seed: u64,
    /// Drop (and count) rows whose prompt plus answer exceed this many tokens.
    pub max_len: Option<usize>,
    /// What counts the tokens (named in the report's conventions).
    pub counter_name: String,
    /// With an official MRCR folder as gold: the needle counts read.
    pub needles: Option<Vec<usize>>,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        ScoreOptions {
            allow_missing: false,
            empty_set: EmptySet::default(),
            resamples: 1000,
            seed: 0,
            max_len: None,
            counter_name: "given counter".into(),
            needles: None,
        }
    }
}

/// The token count of a prompt: for a JSON list of chat messages (MRCR),
/// the sum over their contents (the dataset card's `n_tokens`), else the
/// whole text.
fn prompt_tokens(prompt: &str, counter: &dyn TokenCounter) -> usize {
    match serde_json::from_str::<Vec<crate::chat::Message>>(prompt) {
        Ok(msgs) if !msgs.is_empty() => msgs.iter().map(|m| counter.count(&m.content)).sum(),
        _ => counter.count(prompt),
    }
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
    let gold_rows = read_rows(gold, opts.needles.as_deref())?;
    if gold_rows.is_empty() {
        return Err(Error::Input(format!(
            "{}: no gold rows: nothing to score",
            gold.display()
        )));
    }
    let pred_rows = read_slots(pred)?;
    let matched = match_rows(&gold_rows, &pred_rows, (gold, pred), opts.allow_missing)?;
    let mut errors = Vec::new();
    // per scored row: (kind, prompt tokens, strict score, flexible score)
    let mut scored_rows: Vec<(String, usize, f64, Option<f64>)> = Vec::new();
    let mut dropped_too_long = 0;
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
        let response = super::eval::answer_part(response);
        let f1 = |line, gold: &[String]| grade::graphwalks_f1(response, gold, line, opts.empty_set);
        let scored = match task {
            Task::Mrcr => serde_json::from_value::<MrcrRow>(g.clone()).map(|row| {
                let s = grade::mrcr(response, &row.answer, &row.random_string_to_prepend);
                let kind = format!("{} needles", row.n_needles);
                let tokens = prompt_tokens(&row.prompt, counter);
                (kind, tokens, counter.count(&row.answer), s, None)
            }),
            Task::Graphwalks => serde_json::from_value::<GraphWalksRow>(g.clone()).map(|row| {
                let gold = &row.answer_nodes;
                let answer = format!("Final Answer: [{}]", gold.join(", "));
                let tokens = prompt_tokens(&row.prompt, counter);
                let (strict, flexible) = (f1(AnswerLine::Last, gold), f1(AnswerLine::Any, gold));
                let kind = row.problem_type.clone();
                (kind, tokens, counter.count(&answer), strict, Some(flexible))
            }),
        };
        match scored {
            Ok((_, tokens, answer, ..)) if opts.max_len.is_some_and(|m| tokens + answer > m) => {
                dropped_too_long += 1;
            }
            Ok((kind, tokens, _, s, flexible)) => scored_rows.push((kind, tokens, s, flexible)),
            Err(e) => errors.push(RowError {
                file: gfile.clone(),
                line: *gline,
                reason: format!("not a {task:?} row: {e}"),
            }),
        }
    }
    let gold_errors = errors.iter().filter(|e| e.file == gfile).count();
    if scored_rows.is_empty() && gold_errors == gold_rows.len() {
        return Err(Error::Input(format!(
            "{}: none of its {} rows is a {task:?} row (first: line {}: {}); is it the other task's file?",
            gold.display(),
            gold_rows.len(),
            errors.iter().find(|e| e.file == gfile).map_or(0, |e| e.line),
            errors.iter().find(|e| e.file == gfile).map_or("", |e| e.reason.as_str())
        )));
    }
    if scored_rows.is_empty() {
        // a mean of no rows is no score
        let first = errors
            .iter()
            .find(|e| e.line > 0)
            .map_or(String::new(), |e| {
                format!("; first: {}:{}: {}", e.file, e.line, e.reason)
            });
        return Err(Error::Input(format!(
            "{}: none of the {} rows of {} could be scored ({dropped_too_long} longer than \
             --max-len, {} errors{first})",
            pred.display(),
            gold_rows.len(),
            gold.display(),
            errors.len()
        )));
    }
    Ok(report_of(
        task,
        gold_rows.len(),
        scored_rows,
        dropped_too_long,
        errors,
        &opts,
    ))
}

/// The report of the scored rows ((kind, prompt tokens, strict, flexible)).
fn report_of(
    task: Task,
    gold_rows: usize,
    rows: Vec<(String, usize, f64, Option<f64>)>,
    dropped_too_long: usize,
    errors: Vec<RowError>,
    opts: &ScoreOptions,
) -> ScoreReport {
    let per_row: Vec<f64> = rows.iter().map(|r| r.2).collect();
    let per_row_flexible: Vec<f64> = rows.iter().filter_map(|r| r.3).collect();
    let flexible = (task == Task::Graphwalks).then_some(per_row_flexible.as_slice());
    let mut kinds: BTreeMap<String, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for (kind, _, s, f) in &rows {
        let k = kinds.entry(kind.clone()).or_default();
        k.0.push(*s);
        k.1.extend(f);
    }
    let by_kind = kinds
        .into_iter()
        .map(|(k, (s, f))| {
            let f = flexible.map(|_| f.as_slice());
            (k, Group::of(&s, f, opts.resamples, opts.seed))
        })
        .collect();
    let lengths: Vec<(usize, f64)> = rows.iter().map(|r| (r.1, r.2)).collect();
    let by_length = bins::by_length(&lengths, opts.resamples, opts.seed);
    let overall = Group::of(&per_row, flexible, opts.resamples, opts.seed);
    ScoreReport {
        task,
        conventions: Conventions::new(opts.empty_set, &opts.counter_name, opts.max_len),
        gold_rows,
        scored: per_row.len(),
        dropped_too_long,
        mean: overall.mean,
        overall,
        auc: bins::auc(&by_length),
        by_kind,
        by_length,
        per_row,
        per_row_flexible,
        errors,
    }
}
