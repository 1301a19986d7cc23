//! The canonical trajectory every reader produces.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a record came from: file and record (1-based line, or index in a
/// list), and the part of the record (1-based) when one record holds
/// several trajectories (episodes of a prompt, simulations of a results file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRef {
    pub file: String,
    pub record: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<usize>,
}

impl SourceRef {
    /// Part `k` (1-based) of this record.
    pub fn part(&self, k: usize) -> SourceRef {
        SourceRef {
            part: Some(k),
            ..self.clone()
        }
    }
}

impl std::fmt::Display for SourceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.part {
            Some(k) => write!(f, "{}:{}#{k}", self.file, self.record),
            None => write!(f, "{}:{}", self.file, self.record),
        }
    }
}

/// A tool call as the agent made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub name: String,
    /// Arguments as an object (string arguments are parsed when they are JSON).
    pub args: Value,
    pub id: Option<String>,
}

/// What a tool returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub content: String,
    pub is_error: bool,
}

/// One step: assistant text and reasoning, a tool call, its observation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub text: String,
    pub reasoning: String,
    pub call: Option<ToolCall>,
    pub observation: Option<Observation>,
}

/// A trajectory in acc-probe's canonical form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trajectory {
    pub id: String,
    pub source_format: String,
    pub source: SourceRef,
    pub question: String,
    pub system: Option<String>,
    pub steps: Vec<Step>,
    pub final_answer: Option<String>,
    /// Submitted patch (software-engineering agents).
    pub patch: Option<String>,
    /// Verified / resolved flag, when the source has one.
    pub verified: Option<bool>,
}

impl Trajectory {
    /// The tool names used, in order of first use.
    pub fn tool_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for s in &self.steps {
            if let Some(c) = &s.call {
                if !names.contains(&c.name.as_str()) {
                    names.push(&c.name);
                }
            }
        }
        names
    }

    /// The agent's own reasoning, in order (thinking blocks and assistant text).
    pub fn reasoning_text(&self) -> String {
        self.steps
            .iter()
            .flat_map(|s| [s.reasoning.as_str(), s.text.as_str()])
            .filter(|t| !t.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n\n")
    }
}

/// Parses tool-call arguments given as a JSON string or an object.
pub fn parse_args(v: &Value) -> Value {
    match v {
        Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())),
        other => other.clone(),
    }
}

/// Text of a content field given as a string or as a list of blocks with `text`.
pub fn content_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(|b| match b {
                Value::String(s) => Some(s.clone()),
                Value::Object(o) => o.get("text").or_else(|| o.get("content")).map(content_text),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
