//! Synthetic agent environments: seeded, scripted agents that solve search,
//! SQL and software-engineering tasks (fixing a bug; answering a question
//! about the repository's commit graph) and write their trajectories in the
//! formats real frameworks write (OpenAI chat messages, Claude Code JSONL,
//! ShareGPT, SWE-agent .traj), with the ground truth kept alongside — inputs
//! for the ACC compiler when the bundled checkpoints are regenerated.

pub mod formats;
pub mod history;
pub mod search;
pub mod sql;
pub mod swe;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::io::write_atomic;

use crate::domain::Domain;

/// Which environment generates episodes: one per domain, and the
/// repository-history episodes (an SWE agent answering a question about a
/// repository's commit graph).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Search,
    Sql,
    Swe,
    History,
}

impl Environment {
    pub const ALL: [Environment; 4] = [
        Environment::Search,
        Environment::Sql,
        Environment::Swe,
        Environment::History,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Environment::Search => "search",
            Environment::Sql => "sql",
            Environment::Swe => "swe",
            Environment::History => "history",
        }
    }

    /// The domain of its episodes.
    pub fn domain(&self) -> Domain {
        match self {
            Environment::Search => Domain::Search,
            Environment::Sql => Domain::Sql,
            Environment::Swe | Environment::History => Domain::Swe,
        }
    }
}

impl std::fmt::Display for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Environment {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| {
                Error::Input(format!(
                    "unknown environment `{s}`: expected search, sql, swe or history"
                ))
            })
    }
}

/// A tool the agent may call (JSON-schema parameters, as in OpenAI tool specs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

/// One agent turn: reasoning, a tool call and what the tool returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub thought: String,
    pub tool: String,
    pub args: Value,
    pub observation: String,
    pub is_error: bool,
}

/// A solved task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    pub id: String,
    pub domain: Domain,
    pub system: String,
    pub question: String,
    pub tools: Vec<ToolSpec>,
    pub steps: Vec<Step>,
    /// The agent's final message (answer, SQL result, or a note with the patch).
    pub final_answer: String,
    /// What a verifier compares against: answer text, result rows, or the gold patch.
    pub ground_truth: Value,
    /// Domain extras: database path, repository files, pages.
    pub meta: Value,
}

/// Trajectory formats the environments can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// `{"messages": [...], "tools": [...]}` with tool_calls and role "tool".
    Openai,
    /// Claude Code session JSONL (one assistant message split over lines sharing message.id).
    ClaudeCode,
    /// ShareGPT `{"conversations": [...]}` with function_call / observation turns.
    Sharegpt,
    /// SWE-agent `.traj` (trajectory + history + info.submission).
    SweAgent,
}

impl Format {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "openai" => Ok(Format::Openai),
            "claude-code" => Ok(Format::ClaudeCode),
            "sharegpt" => Ok(Format::Sharegpt),
            "swe-agent" => Ok(Format::SweAgent),
            _ => Err(Error::Input(format!(
                "unknown trajectory format `{s}`: expected openai, claude-code, sharegpt or swe-agent"
            ))),
        }
    }

    /// The format's name (also its folder in an output directory).
    pub fn name(&self) -> &'static str {
        match self {
            Format::Openai => "openai",
            Format::ClaudeCode => "claude-code",
            Format::Sharegpt => "sharegpt",
            Format::SweAgent => "swe-agent",
        }
    }

    /// File name of one episode in this format.
    pub fn file_name(&self, id: &str) -> String {
        match self {
            Format::Openai => format!("{id}.openai.json"),
            Format::ClaudeCode => format!("{id}.claude.jsonl"),
            Format::Sharegpt => format!("{id}.sharegpt.json"),
            Format::SweAgent => format!("{id}.traj"),
        }
    }
}

/// Generates `n` episodes of `domain`, deterministic in `seed`. SQL episodes
/// create their SQLite databases under `work_dir`.
pub fn generate(domain: Domain, n: usize, seed: u64, work_dir: &Path) -> Result<Vec<Episode>> {
    (0..n)
        .map(|i| {
            let s = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(i as u64);
            match domain {
                Domain::Search => Ok(search::episode(s, i)),
                Domain::Sql => sql::episode(s, i, work_dir),
                Domain::Swe => Ok(swe::episode(s, i)),
                Domain::Other => Err(Error::Input(
                    "no environment generates episodes of domain `other`".into(),
                )),
            }
        })
        .collect()
}

/// `n` repository-history episodes ([`history::episode_sized`]) in
/// repositories of `commits.0..=commits.1` commits, deterministic in `seed`.
pub fn generate_history(n: usize, seed: u64, commits: (usize, usize)) -> Vec<Episode> {
    (0..n)
        .map(|i| {
            let s = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(i as u64);
            history::episode_sized(s, i, commits)
        })
        .collect()
}

/// Writes each episode in each format under `dir/<format>/`, plus
/// `dir/ground_truth.jsonl` (id, domain, question, ground truth, meta).
pub fn write(dir: &Path, episodes: &[Episode], formats: &[Format]) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for f in formats {
        let sub = dir.join(f.name());
        for ep in episodes {
            let path = sub.join(f.file_name(&ep.id));
            write_atomic(&path, formats::render(ep, *f)?.as_bytes())?;
            written.push(path);
        }
    }
    let mut gt = String::new();
    for ep in episodes {
        let row = serde_json::json!({
            "id": ep.id, "domain": ep.domain, "question": ep.question,
            "final_answer": ep.final_answer, "ground_truth": ep.ground_truth, "meta": ep.meta,
        });
        gt.push_str(&row.to_string());
        gt.push('\n');
    }
    let gt_path = dir.join("ground_truth.jsonl");
    write_atomic(&gt_path, gt.as_bytes())?;
    written.push(gt_path);
    Ok(written)
}
