//! The compile pipeline over many files: read → classify → extract evidence →
//! assemble → sample, in parallel over files with a deterministic output
//! order (file order, then record order), so that any `jobs` gives the same
//! bytes and shards concatenate to the single-process result.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::assemble::{assemble, Context};
use super::evidence::{classify, extract, EvidenceSources};
use super::readers::{read_file, Reject, RejectKind, Rejection, SourceFormat};
use super::trajectory::Trajectory;
use crate::domain::Domain;
use crate::error::{Error, Result};
use crate::tokenizer::TokenCounter;

/// The largest token budget a sample may have (16M tokens, far above any
/// model's context).
pub const MAX_BUDGET: usize = 16 << 20;

/// A token budget: fixed, or drawn per sample (log-uniformly) from a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Budget {
    Fixed(usize),
    Range(usize, usize),
}

impl Budget {
    /// Parses `32k`, `32768` or `2k..128k`.
    pub fn parse(s: &str) -> Result<Self> {
        let one = |x: &str| -> Result<usize> {
            let x = x.trim().to_lowercase();
            let (num, mult) = match x.strip_suffix('k') {
                Some(n) => (n.to_string(), 1024),
                None => (x.clone(), 1),
            };
            let n = num.parse::<usize>().map_err(|_| {
                Error::Input(format!(
                    "bad budget `{s}`: expected a number like 32k or a range like 2k..128k"
                ))
            })?;
            match n.checked_mul(mult) {
                Some(b) if (1..=MAX_BUDGET).contains(&b) => Ok(b),
                _ => Err(Error::OutOfRange {
                    what: "budget".into(),
                    value: x.clone(),
                    valid: format!("1..={} tokens ({}k)", MAX_BUDGET, MAX_BUDGET / 1024),
                }),
            }
        };
        match s.split_once("..") {
            Some((a, b)) => {
                let (a, b) = (one(a)?, one(b)?);
                if a == 0 || a > b {
                    return Err(Error::Input(format!(
                        "bad budget range `{s}`: need 0 < lo ≤ hi"
                    )));
                }
                Ok(Budget::Range(a, b))
            }
            None => Ok(Budget::Fixed(one(s)?)),
        }
    }

    fn draw(&self, rng: &mut StdRng) -> usize {
        match *self {
            Budget::Fixed(b) => b,
            Budget::Range(a, b) if a == b => a,
            Budget::Range(a, b) => {
                let (la, lb) = ((a as f64).ln(), (b as f64).ln());
                rng.random_range(la..lb).exp().round() as usize
            }
        }
    }
}

/// Compile options.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    pub format: Option<SourceFormat>,
    pub domain: Option<Domain>,
    pub budget: Budget,
    pub distractors: bool,
    pub seed: u64,
    pub db: Option<PathBuf>,
    pub repo_root: Option<PathBuf>,
}

/// One compiled sample, before a writer formats it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub id: String,
    pub domain: Domain,
    pub source_format: String,
    pub source: String,
    pub seed: u64,
    pub question: String,
    pub context: Context,
    /// Reasoning + answer (the supervised part).
    pub reasoning: String,
    pub answer: String,
    pub notes: Vec<String>,
    pub verified: Option<bool>,
    /// SQL trajectories: the last query that ran without an error (the gold query).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gold_sql: Option<String>,
    /// SQL trajectories: the database the evidence was read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db: Option<String>,
}

impl Sample {
    /// The assistant target: the reasoning in a think block, then the answer.
    pub fn target(&self) -> String {
        if self.reasoning.trim().is_empty() {
            self.answer.clone()
        } else {
            format!(
                "<think>\n{}\n</think>\n\n{}",
                self.reasoning.trim(),
                self.answer.trim()
            )
        }
    }
}

/// What one run produced.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct CompileOutput {
    pub files: usize,
    pub read: usize,
    pub samples: Vec<Sample>,
    pub rejections: Vec<Rejection>,
}

/// Files under `inputs` (directories recurse), sorted. An OpenHands v1
/// conversation folder (`base_state.json` + `events/`) is one input.
pub fn collect_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    fn walk(p: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        if p.is_dir() && super::readers::openhands_v1::is_conversation_dir(p) {
            out.push(p.to_path_buf());
        } else if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| Error::io(p, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            for e in entries {
                walk(&e, out)?;
            }
        } else if std::fs::symlink_metadata(p).is_ok() {
            // a file, or something that is not one (a broken link, a FIFO, a
            // device): the reader reports the latter as a skipped input
            out.push(p.to_path_buf());
        } else {
            return Err(Error::Input(format!(
                "{}: no such file or directory",
                p.display()
            )));
        }
        Ok(())
    }
    for i in inputs {
        walk(i, &mut files)?;
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// Shard i of n (0-based): a contiguous slice of the sorted files.
pub fn shard(files: Vec<PathBuf>, i: usize, n: usize) -> Vec<PathBuf> {
    let len = files.len();
    files
        .into_iter()
        .skip(i * len / n)
        .take((i + 1) * len / n - i * len / n)
        .collect()
}

/// A stable 64-bit hash (FNV-1a) for per-sample seeds.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What a sample's seed is drawn from: the trajectory's file name and record,
/// not the directory it was read from, so the same files compile to the same
/// samples wherever they lie.
fn sample_key(t: &Trajectory) -> String {
    let name = Path::new(&t.source.file)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match t.source.part {
        Some(k) => format!("{name}:{}#{k}", t.source.record),
        None => format!("{name}:{}", t.source.record),
    }
}

/// Whether a trajectory is a finished agent run: it calls tools, it does
/// not stop on a call still waiting for its result (a finishing call needs
/// none), and it ends with an answer or a patch.
fn agent_run(t: &Trajectory) -> std::result::Result<(), Reject> {
    if t.steps.iter().all(|s| s.call.is_none()) {
        return Err(Reject::no_tool_calls(
            "a conversation with no tool call: chat, not an agent run",
        ));
    }
    let waiting = t
        .steps
        .last()
        .and_then(|s| s.call.as_ref().filter(|_| s.observation.is_none()));
    if let Some(c) = waiting {
        if t.patch.is_none() && !super::readers::text_calls::ends_run(&c.name) {
            return Err(Reject::unfinished(format!(
                "the run ends on a `{}` call that never returned",
                c.name
            )));
        }
    }
    let answered = t
        .final_answer
        .as_ref()
        .is_some_and(|a| !a.trim().is_empty());
    if !answered && t.patch.is_none() {
        return Err(Reject::unfinished(
            "the run ends without a final answer or a patch: it never finished",
        ));
    }
    Ok(())
}

/// Compiles one trajectory.
pub fn compile_one(
    t: &Trajectory,
    opts: &CompileOptions,
    counter: &dyn TokenCounter,
) -> std::result::Result<Sample, Reject> {
    let inferred;
    let t = if t.patch.is_none() {
        // a submit step whose output is the diff (SWE-agent's submit, scripted agents)
        match t
            .steps
            .iter()
            .rev()
            .filter_map(|s| s.observation.as_ref())
            .find(|o| o.content.starts_with("diff --git"))
        {
            Some(o) => {
                inferred = Trajectory {
                    patch: Some(o.content.clone()),
                    ..t.clone()
                };
                &inferred
            }
            None => t,
        }
    } else {
        t
    };
    agent_run(t)?;
    let domain = opts.domain.unwrap_or_else(|| classify(t));
    let no_answer = |what: &str| Reject::new(RejectKind::NoAnswer, what);
    let answer = match domain {
        Domain::Swe => t
            .patch
            .clone()
            .ok_or_else(|| no_answer("no final patch (SWE trajectory without a submission)"))?,
        _ => t
            .final_answer
            .clone()
            .filter(|a| !a.trim().is_empty())
            .ok_or_else(|| no_answer("no final answer"))?,
    };
    // --db names one database, or a directory of `<name>.sqlite` files where name is the
    // trajectory id or its file name up to the first dot
    let db = opts.db.as_ref().map(|d| {
        if !d.is_dir() {
            return d.clone();
        }
        let stem = Path::new(&t.source.file)
            .file_name()
            .and_then(|f| f.to_str())
            .and_then(|f| f.split('.').next())
            .unwrap_or("");
        [t.id.as_str(), stem]
            .iter()
            .map(|n| d.join(format!("{n}.sqlite")))
            .find(|p| p.is_file())
            .unwrap_or_else(|| d.join(format!("{}.sqlite", t.id)))
    });
    let sources = EvidenceSources {
        db: db.as_deref(),
        repo_root: opts.repo_root.as_deref(),
    };
    let ex = extract(t, domain, &sources);
    if !ex
        .pieces
        .iter()
        .any(|p| p.kind == super::evidence::PieceKind::Evidence)
    {
        return Err(Reject::new(
            RejectKind::NoEvidence,
            format!("no evidence: {}", ex.notes.join("; ")).trim_end_matches(": "),
        ));
    }
    let seed = opts.seed ^ fnv(&sample_key(t));
    let mut rng = StdRng::seed_from_u64(seed);
    let budget = opts.budget.draw(&mut rng);
    let context = assemble(
        &t.question,
        &ex.pieces,
        budget,
        opts.distractors,
        rng.random(),
        counter,
    );
    if !context
        .placed
        .iter()
        .any(|p| p.kind == super::evidence::PieceKind::Evidence)
    {
        return Err(Reject::new(
            RejectKind::Budget,
            format!("budget of {budget} tokens leaves no room for evidence"),
        ));
    }
    let mut reasoning = t.reasoning_text();
    if reasoning.trim_end().ends_with(answer.trim()) {
        reasoning =
            reasoning.trim_end()[..reasoning.trim_end().len() - answer.trim().len()].to_string();
    }
    // An answer that quotes its evidence (an `other` run listing edges it
    // followed) needs every quoted piece whole, and reasons over the compiled
    // context by those quotes; the trajectory's own reasoning narrates tool
    // calls that the compiled sample does not make (`The listing goes on;
    // next page.`).
    let mut answer = answer;
    if ex.cited {
        let cited = ex
            .pieces
            .iter()
            .filter(|p| p.kind == super::evidence::PieceKind::Evidence)
            .count();
        let whole = context
            .placed
            .iter()
            .filter(|p| p.kind == super::evidence::PieceKind::Evidence && !p.truncated)
            .count();
        if whole < cited {
            return Err(Reject::new(
                RejectKind::Budget,
                format!("budget of {budget} tokens cuts the evidence the answer quotes ({whole} of {cited} pieces placed whole)"),
            ));
        }
        if let Some((quotes, rest)) = super::evidence::quoting_lines(&answer, &ex.pieces) {
            reasoning = quotes;
            answer = rest;
        }
    }
    Ok(Sample {
        id: t.id.clone(),
        domain,
        source_format: t.source_format.clone(),
        source: t.source.to_string(),
        seed,
        question: t.question.clone(),
        context,
        reasoning,
        answer,
        notes: ex.notes,
        verified: t.verified,
        gold_sql: (domain == Domain::Sql).then(|| final_sql(t)).flatten(),
        db: db
            .filter(|d| domain == Domain::Sql && d.is_file())
            .map(|d| d.display().to_string()),
    })
}

/// The last SQL query (an `sql` or `query` argument) whose result was not an error.
pub fn final_sql(t: &Trajectory) -> Option<String> {
    t.steps.iter().rev().find_map(|s| {
        let c = s.call.as_ref()?;
        let o = s.observation.as_ref()?;
        let q = c
            .args
            .get("sql")
            .or_else(|| c.args.get("query"))?
            .as_str()?;
        let failed = o.is_error
            || o.content
                .trim_start()
                .to_lowercase()
                .starts_with("sql error");
        (!failed).then(|| q.to_string())
    })
}

/// Compiles every record of `files`.
pub fn compile_files(
    files: &[PathBuf],
    opts: &CompileOptions,
    counter: &(dyn TokenCounter + Sync),
    progress: &(dyn Fn() + Sync),
) -> CompileOutput {
    let per_file: Vec<(usize, Vec<Sample>, Vec<Rejection>)> = files
        .par_iter()
        .map(|f| {
            let (trajs, mut rej) = read_file(f, opts.format);
            let read = trajs.len() + rej.len();
            let mut samples = Vec::new();
            for t in trajs {
                match compile_one(&t, opts, counter) {
                    Ok(s) => samples.push(s),
                    Err(why) => rej.push(why.at(t.source.clone())),
                }
            }
            progress();
            (read, samples, rej)
        })
        .collect();
    let mut out = CompileOutput {
        files: files.len(),
        ..Default::default()
    };
    for (read, s, r) in per_file {
        out.read += read;
        out.samples.extend(s);
        out.rejections.extend(r);
    }
    out
}

/// Counts per domain, rejections by reason, and the compiled-length histogram (2K bins).
pub fn stats(out: &CompileOutput) -> serde_json::Value {
    let mut per_domain: BTreeMap<String, usize> = BTreeMap::new();
    let mut hist: BTreeMap<String, BTreeMap<usize, usize>> = BTreeMap::new();
    for s in &out.samples {
        let d = format!("{:?}", s.domain).to_lowercase();
        *per_domain.entry(d.clone()).or_default() += 1;
        *hist
            .entry(d)
            .or_default()
            .entry(s.context.tokens / 2048 * 2048)
            .or_default() += 1;
    }
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &out.rejections {
        *reasons.entry(r.reason.clone()).or_default() += 1;
        *kinds.entry(r.kind.name()).or_default() += 1;
    }
    serde_json::json!({
        "files": out.files,
        "read": out.read,
        "written": out.samples.len(),
        "rejected": out.rejections.len(),
        "per_domain": per_domain,
        "rejections_by_kind": kinds,
        "rejections_by_reason": reasons,
        "length_histogram_2k": hist,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_parse_within_bounds_and_never_overflow() {
        assert_eq!(Budget::parse("32k").unwrap(), Budget::Fixed(32 * 1024));
        assert_eq!(
            Budget::parse("2k..128k").unwrap(),
            Budget::Range(2048, 131072)
        );
        // a product past usize, zero and past the bound are refused, not 0
        for bad in ["18014398509481984k", "0", "0..4k", "17000k", "4k..2k", "x"] {
            assert!(Budget::parse(bad).is_err(), "{bad}");
        }
        let e = Budget::parse("18014398509481984k").unwrap_err().to_string();
        assert!(e.contains("budget") && e.contains("16384k"), "{e}");
    }
}
