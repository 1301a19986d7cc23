//! Probe inputs for the analyses: prompts of toy MRCR and GraphWalks problems
//! (their own seed stream, disjoint from training and evaluation), and ACC
//! contexts compiled from fresh synthetic search / SQL / SWE episodes — each
//! rendered with the model's chat template and tokenized, with the span of the
//! final user turn (the question) marked.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::score::Task;
use super::toy::{self, seed_for, PROBE_STREAM};
use crate::chat::{ChatTemplate, Message};
use crate::compile::pipeline::{compile_one, Budget, CompileOptions};
use crate::compile::readers::read_file;
use crate::domain::Domain;
use crate::environments::{self, Format};
use crate::error::{Error, Result};

/// What a probe input is drawn from: a benchmark's problems, or compiled
/// ACC contexts of an agent domain's episodes. Ordered (and seeded) by its
/// place in [`ProbeTask::ALL`]; serialised by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum ProbeTask {
    Benchmark(Task),
    Agent(Domain),
}

impl ProbeTask {
    pub const ALL: [ProbeTask; 5] = [
        ProbeTask::Benchmark(Task::Mrcr),
        ProbeTask::Benchmark(Task::Graphwalks),
        ProbeTask::Agent(Domain::Search),
        ProbeTask::Agent(Domain::Sql),
        ProbeTask::Agent(Domain::Swe),
    ];

    /// `mrcr`, `graphwalks`, `search`, `sql` or `swe`.
    pub fn name(&self) -> &'static str {
        match self {
            ProbeTask::Benchmark(t) => t.name(),
            ProbeTask::Agent(d) => d.name(),
        }
    }

    /// Its place in [`ProbeTask::ALL`] (its order, and part of its inputs'
    /// seeds); `other`, which no environment generates, sorts last.
    pub fn index(&self) -> usize {
        match self {
            ProbeTask::Benchmark(Task::Mrcr) => 0,
            ProbeTask::Benchmark(Task::Graphwalks) => 1,
            ProbeTask::Agent(Domain::Search) => 2,
            ProbeTask::Agent(Domain::Sql) => 3,
            ProbeTask::Agent(Domain::Swe) => 4,
            ProbeTask::Agent(Domain::Other) => 5,
        }
    }

    /// `mrcr`, `graphwalks`, `search`, `sql`, `swe`, or `all`; comma-separated lists too.
    pub fn parse_list(s: &str) -> Result<Vec<ProbeTask>> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim) {
            if part == "all" {
                out.extend(Self::ALL);
                continue;
            }
            let t = Self::ALL
                .into_iter()
                .find(|t| t.name() == part)
                .ok_or_else(|| {
                    Error::Input(format!(
                        "unknown task `{part}`: expected mrcr, graphwalks, search, sql, swe or all"
                    ))
                })?;
            out.push(t);
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

impl PartialOrd for ProbeTask {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ProbeTask {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.index().cmp(&other.index())
    }
}

impl From<ProbeTask> for String {
    fn from(t: ProbeTask) -> String {
        t.name().to_string()
    }
}

impl TryFrom<String> for ProbeTask {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        ProbeTask::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| format!("unknown probe task `{s}`"))
    }
}

/// One tokenized probe input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeInput {
    pub task: ProbeTask,
    /// Stable name, e.g. `graphwalks-3`.
    pub id: String,
    pub ids: Vec<u32>,
    /// First token of the final user turn (the question).
    pub question_start: usize,
}

/// Renders `messages` (with the assistant prefix) and tokenizes them, marking
/// where the last user turn starts.
pub fn tokenize_prompt(
    tok: &tokenizers::Tokenizer,
    template: &ChatTemplate,
    messages: &[Message],
) -> Result<(Vec<u32>, usize)> {
    let text = template.render(messages, true)?;
    let enc = tok
        .encode(text.as_str(), false)
        .map_err(|e| Error::Input(format!("tokenizer: {e}")))?;
    let last_user = text.rfind("<|im_start|>user").unwrap_or(0);
    let q = enc
        .get_offsets()
        .iter()
        .position(|&(a, _)| a >= last_user)
        .unwrap_or(0);
    Ok((enc.get_ids().to_vec(), q))
}

/// `n` probe inputs of `task` of about `tokens` tokens, seeded.
pub fn generate(
    task: ProbeTask,
    n: usize,
    tokens: usize,
    seed: u64,
    tok: &tokenizers::Tokenizer,
    template: &ChatTemplate,
    work_dir: &Path,
) -> Result<Vec<ProbeInput>> {
    let mut out = Vec::with_capacity(n.min(1024));
    let mut push = |i: usize, messages: Vec<Message>| -> Result<()> {
        let (ids, question_start) = tokenize_prompt(tok, template, &messages)?;
        out.push(ProbeInput {
            task,
            id: format!("{}-{i}", task.name()),
            ids,
            question_start,
        });
        Ok(())
    };
    match task {
        ProbeTask::Benchmark(bench) => {
            for i in 0..n {
                let row = match bench {
                    Task::Mrcr => toy::mrcr_row(seed, PROBE_STREAM, i, tokens, tok)?,
                    Task::Graphwalks => toy::graphwalks_row(seed, PROBE_STREAM, i, tokens, tok)?,
                };
                push(i, row.messages()?)?;
            }
        }
        ProbeTask::Agent(domain) => {
            let dir = work_dir.join(format!("probe-{}-{seed}", task.name()));
            let db = dir.join("databases");
            // a few spare episodes: a trajectory the compiler rejects is skipped
            let eps = environments::generate(
                domain,
                n + n / 2 + 2,
                seed_for(seed, PROBE_STREAM, 100 + task.index()),
                &db,
            )?;
            let files = environments::write(&dir, &eps, &[Format::Openai])?;
            let opts = CompileOptions {
                format: None,
                domain: None,
                budget: Budget::Range(tokens * 3 / 4, tokens),
                distractors: true,
                seed: seed_for(seed, PROBE_STREAM, 200 + task.index()),
                db: Some(db.clone()),
                repo_root: None,
            };
            let mut i = 0;
            for f in files
                .iter()
                .filter(|f| f.file_name().is_some_and(|n| n != "ground_truth.jsonl"))
            {
                if i == n {
                    break;
                }
                let (trajs, _) = read_file(f, None);
                for t in trajs {
                    if i == n {
                        break;
                    }
                    match compile_one(&t, &opts, tok) {
                        Ok(s) => {
                            push(
                                i,
                                vec![Message {
                                    role: "user".into(),
                                    content: s.context.prompt,
                                }],
                            )?;
                            i += 1;
                        }
                        Err(reason) => tracing::warn!("{}: not compiled: {reason}", t.source),
                    }
                }
            }
            if i < n {
                return Err(Error::Input(format!(
                    "only {i} of {n} {} probe inputs compiled at {tokens} tokens",
                    task.name()
                )));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_tasks_keep_their_names_order_and_seeds() {
        for (i, t) in ProbeTask::ALL.iter().enumerate() {
            // the index seeds the agent tasks' inputs: it must not move
            assert_eq!(t.index(), i);
            let json = serde_json::to_string(t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.name()));
            assert_eq!(serde_json::from_str::<ProbeTask>(&json).unwrap(), *t);
        }
        let names: Vec<&str> = ProbeTask::ALL.iter().map(|t| t.name()).collect();
        assert_eq!(names, ["mrcr", "graphwalks", "search", "sql", "swe"]);
        let parsed = ProbeTask::parse_list("swe,mrcr,sql,mrcr").unwrap();
        assert_eq!(
            parsed.iter().map(|t| t.name()).collect::<Vec<_>>(),
            ["mrcr", "sql", "swe"]
        );
        assert_eq!(ProbeTask::parse_list("all").unwrap(), ProbeTask::ALL);
        assert!(ProbeTask::parse_list("other").is_err());
        assert!(serde_json::from_str::<ProbeTask>("\"other\"").is_err());
    }
}
