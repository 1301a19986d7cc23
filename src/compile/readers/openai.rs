//! OpenAI chat messages (also mini-swe-agent, SWE-Gym and Spider2 variants):
//! assistant `tool_calls[] {id, type, function{name, arguments}}` (arguments a
//! JSON string or an object; Spider2 omits the `function` wrapper and `id`),
//! results in `role: "tool"` messages linked by `tool_call_id`.

use serde_json::Value;

use std::borrow::Cow;

use super::{chat, util};
use crate::compile::trajectory::{content_text, SourceRef, Trajectory};

/// Whether a JSON record holds a `messages` list (or that list written as
/// a JSON string, as dataset rows on the Hub do).
pub fn detect(v: &Value) -> bool {
    messages(v).is_some()
}

/// The record's `messages`, parsed when they are a JSON string.
fn messages(v: &Value) -> Option<Cow<'_, [Value]>> {
    match v.get("messages")? {
        Value::Array(a) => Some(Cow::Borrowed(a.as_slice())),
        Value::String(s) if s.trim_start().starts_with('[') => {
            match serde_json::from_str::<Value>(s).ok()? {
                Value::Array(a) => Some(Cow::Owned(a)),
                _ => None,
            }
        }
        _ => None,
    }
}

pub fn read(v: &Value, source: SourceRef) -> Result<Trajectory, String> {
    let msgs = messages(v).ok_or("no messages list")?;
    let msgs: &[Value] = &msgs;
    let chat = chat::walk_openai(msgs)?;
    let (system, question, steps, final_answer) =
        (chat.system, chat.question, chat.steps, chat.final_answer);
    // mini-swe-agent's `role: exit` message holds the submission
    let mut patch = msgs
        .iter()
        .rev()
        .find(|m| m["role"] == "exit")
        .map(|m| content_text(&m["content"]));
    if let Some(sub) = v["info"]["submission"].as_str() {
        patch = Some(sub.to_string());
    }
    if let Some(p) = v["test_result"]["git_patch"].as_str() {
        patch = Some(p.to_string());
    }
    // dataset rows (SWE-smith) carry the final patch beside the messages
    if let Some(p) = v["patch"].as_str().filter(|p| p.contains("diff --git")) {
        patch = Some(p.to_string());
    }
    let question = question
        .as_deref()
        .map(util::task_statement)
        .filter(|q| !q.trim().is_empty())
        .ok_or("no user question")?;
    if steps.is_empty() {
        return Err("empty trajectory: no assistant turns".into());
    }
    Ok(Trajectory {
        id: v["id"]
            .as_str()
            .or(v["instance_id"].as_str())
            .or(v["traj_id"].as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| source.to_string()),
        source_format: "openai".into(),
        source,
        question,
        system,
        steps,
        final_answer,
        patch: patch.filter(|p| !p.trim().is_empty()),
        verified: v["resolved"].as_bool().or(v["info"]["resolved"].as_bool()),
    })
}
