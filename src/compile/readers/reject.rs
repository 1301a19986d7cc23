//! Why a record was not compiled: a typed kind (counted by `--stats`) and the
//! precise reason (file, record, field, what was expected).

use serde::{Deserialize, Serialize};

use crate::compile::trajectory::SourceRef;

/// The kinds of refusal. Each record that is read and not written has exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectKind {
    /// The file could not be read: I/O error, not a regular file, not UTF-8.
    Unreadable,
    /// Broken JSON, or a record that lacks what its own format requires.
    Malformed,
    /// No reader recognises the record's structure.
    UnknownFormat,
    /// A file that only looks like an agent run: a config, a registry, a
    /// corpus, a task specification, predictions, a poll, one lone event.
    NotATrajectory,
    /// No task: no user prompt, instruction or question.
    NoTask,
    /// A conversation with no tool call: chat, not an agent run.
    NoToolCalls,
    /// The run never finished: no final turn, halted, interrupted, redacted.
    Unfinished,
    /// The user rejected every tool call the agent made.
    ToolsRejected,
    /// The run finished without an answer or a patch to train on.
    NoAnswer,
    /// The tool outputs hold nothing to place in the context.
    NoEvidence,
    /// The token budget leaves no room for the evidence.
    Budget,
    /// The teacher's answers failed verification, or the teacher failed.
    Teacher,
    /// A compiled sample the writer could not render.
    Writer,
}

impl RejectKind {
    /// The name `--stats` counts it under.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unreadable => "unreadable",
            Self::Malformed => "malformed",
            Self::UnknownFormat => "unknown_format",
            Self::NotATrajectory => "not_a_trajectory",
            Self::NoTask => "no_task",
            Self::NoToolCalls => "no_tool_calls",
            Self::Unfinished => "unfinished",
            Self::ToolsRejected => "tools_rejected",
            Self::NoAnswer => "no_answer",
            Self::NoEvidence => "no_evidence",
            Self::Budget => "budget",
            Self::Teacher => "teacher",
            Self::Writer => "writer",
        }
    }
}

impl std::fmt::Display for RejectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A refusal before it is placed at a record: its kind and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub kind: RejectKind,
    pub reason: String,
}

impl Reject {
    pub fn new(kind: RejectKind, reason: impl Into<String>) -> Self {
        Reject {
            kind,
            reason: reason.into(),
        }
    }
    pub fn not_a_trajectory(reason: impl Into<String>) -> Self {
        Self::new(RejectKind::NotATrajectory, reason)
    }
    pub fn no_task(reason: impl Into<String>) -> Self {
        Self::new(RejectKind::NoTask, reason)
    }
    pub fn no_tool_calls(reason: impl Into<String>) -> Self {
        Self::new(RejectKind::NoToolCalls, reason)
    }
    pub fn unfinished(reason: impl Into<String>) -> Self {
        Self::new(RejectKind::Unfinished, reason)
    }
    pub fn unknown_format(reason: impl Into<String>) -> Self {
        Self::new(RejectKind::UnknownFormat, reason)
    }
    /// This refusal at record `source`.
    pub fn at(self, source: SourceRef) -> Rejection {
        Rejection {
            source,
            kind: self.kind,
            reason: self.reason,
        }
    }
}

/// A reader's plain message: the record lacks what its format requires.
impl From<String> for Reject {
    fn from(reason: String) -> Self {
        Reject::new(RejectKind::Malformed, reason)
    }
}

impl From<&str> for Reject {
    fn from(reason: &str) -> Self {
        Reject::new(RejectKind::Malformed, reason)
    }
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// A record that could not be compiled: where, what kind, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    pub source: SourceRef,
    pub kind: RejectKind,
    pub reason: String,
}

impl Rejection {
    /// Record `record` of `file`, refused for `why`.
    pub fn at(file: &str, record: usize, why: impl Into<Reject>) -> Self {
        why.into().at(SourceRef {
            file: file.to_string(),
            record,
            part: None,
        })
    }
}
