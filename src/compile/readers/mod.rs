//! Format readers: detect a file's format, split it into records, and turn
//! each record into a canonical [`Trajectory`]. A record that cannot be read
//! is rejected with its file:record and a reason; the others go on.
//!
//! No record reaches a panic here: `unwrap` and `expect` are linted (an error
//! under `clippy -D warnings`; an `allow` names its invariant), and steps are
//! reached with `get_mut`. Run with `-W clippy::indexing_slicing`, clippy's
//! remaining findings here are `serde_json::Value` lookups (`v["key"]`,
//! `v[0]`), which give `Null` for a missing key, a missing index or a value of
//! another kind, and never panic. The three writes through a `Value` index
//! (`llm_call`, `spider_agent`, `tau_bench`) go into values known to be
//! objects, the one kind such a write needs.
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod adp;
pub mod agentbench;
pub mod anthropic;
pub mod chat;
pub mod claude_code;
pub mod codex;
mod container;
pub mod diff;
pub mod flat_turns;
pub mod gemini_cli;
pub mod langchain;
pub mod llamafactory;
pub mod llm_call;
pub mod mini_swe_agent;
pub mod nebius;
pub mod openai;
pub mod openhands;
pub mod openhands_v1;
pub mod react;
pub mod reject;
pub mod search_r1;
pub mod sharegpt;
pub mod smolagents;
pub mod spider2;
pub mod spider_agent;
pub mod swe_agent;
pub mod swe_gym;
pub mod tau_bench;
pub mod text_actions;
pub mod text_calls;
pub mod toolbench;
pub mod util;

use serde_json::Value;

pub use reject::{Reject, RejectKind, Rejection};

pub use container::read_file;

use super::trajectory::{SourceRef, Trajectory};

/// Formats acc-probe reads (`--format` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceFormat {
    Openai,
    ClaudeCode,
    Sharegpt,
    SweAgent,
    MiniSweAgent,
    SweGym,
    Openhands,
    OpenhandsV1,
    Nebius,
    Adp,
    React,
    SearchR1,
    Spider2,
    Codex,
    GeminiCli,
    Anthropic,
    Langchain,
    Llamafactory,
    LlmCall,
    TauBench,
    Agentbench,
    Toolbench,
    Smolagents,
    FlatTurns,
}

/// Every format with its `--format` name.
const NAMES: [(SourceFormat, &str); 24] = [
    (SourceFormat::Openai, "openai"),
    (SourceFormat::ClaudeCode, "claude-code"),
    (SourceFormat::Sharegpt, "sharegpt"),
    (SourceFormat::SweAgent, "swe-agent"),
    (SourceFormat::MiniSweAgent, "mini-swe-agent"),
    (SourceFormat::SweGym, "swe-gym"),
    (SourceFormat::Openhands, "openhands"),
    (SourceFormat::OpenhandsV1, "openhands-v1"),
    (SourceFormat::Nebius, "nebius"),
    (SourceFormat::Adp, "adp"),
    (SourceFormat::React, "react"),
    (SourceFormat::SearchR1, "search-r1"),
    (SourceFormat::Spider2, "spider2"),
    (SourceFormat::Codex, "codex"),
    (SourceFormat::GeminiCli, "gemini-cli"),
    (SourceFormat::Anthropic, "anthropic"),
    (SourceFormat::Langchain, "langchain"),
    (SourceFormat::Llamafactory, "llamafactory"),
    (SourceFormat::LlmCall, "llm-call"),
    (SourceFormat::TauBench, "tau-bench"),
    (SourceFormat::Agentbench, "agentbench"),
    (SourceFormat::Toolbench, "toolbench"),
    (SourceFormat::Smolagents, "smolagents"),
    (SourceFormat::FlatTurns, "flat-turns"),
];

impl SourceFormat {
    pub fn parse(s: &str) -> Option<Self> {
        NAMES.iter().find(|(_, n)| *n == s).map(|(f, _)| *f)
    }

    pub fn name(&self) -> &'static str {
        NAMES
            .iter()
            .find(|(f, _)| f == self)
            .map_or("?", |(_, n)| n)
    }

    /// Every `--format` name, in registry order.
    pub fn names() -> impl Iterator<Item = &'static str> {
        NAMES.iter().map(|(_, n)| *n)
    }
}

/// What one record yields: its trajectories, or the refusals of the parts
/// that could not be read (most records hold one trajectory).
pub type Records = Vec<Result<Trajectory, Rejection>>;

/// A reader of one JSON record format: detection by structure, then reading.
pub trait RecordReader: Sync {
    fn format(&self) -> SourceFormat;
    /// Whether `v` has this format's structure.
    fn detect(&self, v: &Value) -> bool;
    /// The record's trajectories, or why it is refused.
    fn read(&self, v: &Value, src: SourceRef) -> Records;
}

/// A reader made of its two functions; the registry's entries.
pub struct Reader {
    pub format: SourceFormat,
    pub detect: fn(&Value) -> bool,
    pub read: fn(&Value, SourceRef) -> Records,
}

impl RecordReader for Reader {
    fn format(&self) -> SourceFormat {
        self.format
    }
    fn detect(&self, v: &Value) -> bool {
        (self.detect)(v)
    }
    fn read(&self, v: &Value, src: SourceRef) -> Records {
        (self.read)(v, src)
    }
}

/// One trajectory or one refusal at `src`.
pub fn one<E: Into<Reject>>(r: Result<Trajectory, E>, src: SourceRef) -> Records {
    vec![r.map_err(|e| e.into().at(src))]
}

/// A reader whose records hold one trajectory each.
macro_rules! single {
    ($format:expr, $detect:path, $read:path) => {
        &Reader {
            format: $format,
            detect: $detect,
            read: |v, src| one($read(v, src.clone()), src),
        }
    };
}

/// A session format's line met as one JSON record (those formats are read as
/// whole JSONL files).
fn lone_session_line(what: &str, src: SourceRef) -> Records {
    one::<Reject>(
        Err(Reject::not_a_trajectory(format!(
            "a {what} is a JSONL file of events, not one JSON record"
        ))),
        src,
    )
}

fn never(_: &Value) -> bool {
    false
}

/// The record readers, in the order detection tries them: the most specific
/// structures first (named dataset and agent layouts), then the generic chat
/// dialects (`conversations`, Gemini sessions, LLaMA-Factory rows, Anthropic
/// blocks), and last `messages` with OpenAI tool calls, which many formats
/// share. The session formats (Claude Code, Codex) are told apart per file,
/// before this table is consulted; their entries serve `--format`.
pub static REGISTRY: &[&dyn RecordReader] = &[
    single!(
        SourceFormat::Langchain,
        langchain::is_record,
        langchain::read
    ),
    single!(
        SourceFormat::MiniSweAgent,
        mini_swe_agent::detect,
        mini_swe_agent::read
    ),
    single!(SourceFormat::SweGym, swe_gym::detect, swe_gym::read),
    single!(SourceFormat::SweAgent, swe_agent::detect, swe_agent::read),
    single!(SourceFormat::Nebius, nebius::detect, nebius::read),
    single!(SourceFormat::Adp, adp::detect, adp::read),
    &Reader {
        format: SourceFormat::OpenhandsV1,
        detect: openhands_v1::is_event,
        read: |_, src| {
            one::<Reject>(
                Err(Reject::not_a_trajectory(openhands_v1::SINGLE_EVENT)),
                src,
            )
        },
    },
    single!(SourceFormat::Openhands, openhands::detect, openhands::read),
    single!(
        SourceFormat::Spider2,
        spider2::detect_any,
        spider2::read_any
    ),
    &Reader {
        format: SourceFormat::TauBench,
        detect: tau_bench::detect,
        read: tau_bench::read_records,
    },
    single!(
        SourceFormat::Agentbench,
        agentbench::detect_any,
        agentbench::read_any
    ),
    single!(SourceFormat::LlmCall, llm_call::detect, llm_call::read),
    single!(SourceFormat::Toolbench, toolbench::detect, toolbench::read),
    single!(
        SourceFormat::Smolagents,
        smolagents::detect,
        smolagents::read
    ),
    single!(
        SourceFormat::FlatTurns,
        flat_turns::detect,
        flat_turns::read
    ),
    single!(
        SourceFormat::SearchR1,
        search_r1::is_corpus_row,
        search_r1::read
    ),
    &Reader {
        format: SourceFormat::React,
        detect: react::detect,
        read: react::read_records,
    },
    single!(SourceFormat::Sharegpt, sharegpt::detect, sharegpt::read),
    &Reader {
        format: SourceFormat::GeminiCli,
        detect: gemini_cli::is_session,
        read: gemini_cli::read_records,
    },
    single!(
        SourceFormat::Llamafactory,
        llamafactory::is_v1_row,
        llamafactory::read
    ),
    single!(
        SourceFormat::Anthropic,
        anthropic::is_messages,
        anthropic::read
    ),
    single!(SourceFormat::Openai, openai::detect, openai::read),
    &Reader {
        format: SourceFormat::ClaudeCode,
        detect: never,
        read: |_, src| lone_session_line("Claude Code session", src),
    },
    &Reader {
        format: SourceFormat::Codex,
        detect: never,
        read: |_, src| lone_session_line("Codex rollout", src),
    },
];

/// The registry entry of `format`.
#[allow(
    clippy::expect_used,
    reason = "REGISTRY holds one entry per SourceFormat; the test every_format_has_one_registry_entry_and_a_name checks it"
)]
fn reader(format: SourceFormat) -> &'static dyn RecordReader {
    *REGISTRY
        .iter()
        .find(|r| r.format() == format)
        .expect("every format has a registry entry")
}

/// The format of one JSON record, from its structure.
pub fn detect_record(v: &Value) -> Option<SourceFormat> {
    REGISTRY.iter().find(|r| r.detect(v)).map(|r| r.format())
}

/// Reads one JSON record as `forced`, or as the format detected.
pub fn read_record(v: &Value, src: SourceRef, forced: Option<SourceFormat>) -> Records {
    match forced.or_else(|| detect_record(v)) {
        Some(f) => reader(f).read(v, src),
        None => one::<Reject>(Err(not_recognised(v)), src),
    }
}

/// Why a record no reader recognised is refused: what it is, when a known
/// non-trajectory file, or which structures were looked for.
fn not_recognised(v: &Value) -> Reject {
    if llamafactory::is_dataset_info(v) {
        return Reject::not_a_trajectory(llamafactory::REGISTRY_REASON);
    }
    let has = |k: &str| v.get(k).is_some();
    if has("agent") && (has("execution_status") || has("activated_knowledge_skills")) {
        return Reject::not_a_trajectory(
            "an OpenHands v1 conversation's base_state.json; pass the conversation folder (base_state.json + events/)",
        );
    }
    if has("user_scenario") && has("evaluation_criteria") {
        return Reject::not_a_trajectory(
            "a tau2-bench task specification (user scenario and the gold actions); nothing was run",
        );
    }
    if v["type"] == "summary" && has("leafUuid") {
        return Reject::not_a_trajectory(
            "a Claude Code session summary line (the session's title), with no conversation",
        );
    }
    if has("agentType") && has("toolUseId") {
        return Reject::not_a_trajectory(
            "a Claude Code sub-agent's .meta.json (agentType, toolUseId); the transcript is the agent-*.jsonl beside it",
        );
    }
    let keys: Vec<&str> = v
        .as_object()
        .map(|o| o.keys().take(8).map(String::as_str).collect())
        .unwrap_or_default();
    let shape = match v {
        Value::Object(_) if keys.is_empty() => "an empty object".to_string(),
        Value::Object(_) => format!("an object with keys {}", keys.join(", ")),
        Value::Array(a) => format!("a list of {} items", a.len()),
        Value::String(_) => "a string".into(),
        _ => "a scalar".into(),
    };
    Reject::unknown_format(format!(
        "unknown format: {shape}; no reader recognises it (expected messages, conversations, history or trajectory of a known agent framework; --format names one)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_has_one_registry_entry_and_a_name() {
        for (f, name) in NAMES {
            assert_eq!(SourceFormat::parse(name), Some(f));
            assert_eq!(
                REGISTRY.iter().filter(|r| r.format() == f).count(),
                1,
                "{name}"
            );
        }
        assert_eq!(REGISTRY.len(), NAMES.len());
    }

    #[test]
    fn records_nothing_recognises_say_what_they_hold() {
        let r = read_record(
            &serde_json::json!({"foo": 1}),
            SourceRef {
                file: "f".into(),
                record: 3,
                part: None,
            },
            None,
        );
        let e = r[0].as_ref().unwrap_err();
        assert_eq!(e.kind, RejectKind::UnknownFormat);
        assert!(e.reason.contains("an object with keys foo"), "{}", e.reason);
        let spec = serde_json::json!({"id": "1", "user_scenario": {}, "evaluation_criteria": {}});
        assert_eq!(not_recognised(&spec).kind, RejectKind::NotATrajectory);
    }
}
