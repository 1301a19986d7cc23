//! smolagents benchmark outputs: JSONL rows `{model_id, agent_action_type,
//! question, answer, true_answer, source, intermediate_steps}`. Steps are
//! chat messages whose roles are `system`, `user` (`New task:\n…`),
//! `assistant` (thoughts, or `Tool call <id>: calling '<name>' with
//! arguments: {…}`), `tool-call` (`Calling tools:\n[{…}]`, a Python repr)
//! and `tool-response` (`Observation:\n…`). The answer is the row's
//! `answer` (the `final_answer` tool's argument). A `vanilla` row, whose
//! steps are a plain string, ran no agent.

use serde_json::{json, Value};

use super::chat::{self, Msg, Role};
use super::Reject;
use crate::compile::trajectory::{content_text, SourceRef, ToolCall, Trajectory};

/// Whether a JSON record is a smolagents benchmark row.
pub fn detect(v: &Value) -> bool {
    v.get("agent_action_type").is_some() && v.get("intermediate_steps").is_some()
}

/// The text of `'key': '<value>'` in a Python repr.
fn repr_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let at = text.find(&format!("'{key}': '"))? + key.len() + 5;
    let rest = &text[at..];
    Some(&rest[..rest.find('\'')?])
}

/// The call a `tool-call` message announces: its name and its arguments
/// (kept as the repr text; it is Python, not JSON).
fn tool_call(text: &str) -> Option<ToolCall> {
    let name = repr_field(text, "name")?;
    let args = text
        .split_once("'arguments': ")
        .map(|(_, a)| a.trim_end().trim_end_matches("}]").trim())
        .unwrap_or("");
    Some(ToolCall {
        name: name.to_string(),
        args: json!({ "input": args }),
        id: repr_field(text, "id").map(str::to_owned),
    })
}

pub fn read(v: &Value, source: SourceRef) -> Result<Trajectory, Reject> {
    let Some(steps) = v["intermediate_steps"].as_array() else {
        return Err(Reject::no_tool_calls(format!(
            "a `{}` benchmark row: an answer without agent steps",
            v["agent_action_type"].as_str().unwrap_or("?")
        )));
    };
    let mut msgs = Vec::with_capacity(steps.len());
    for (i, m) in steps.iter().enumerate() {
        let text = content_text(&m["content"]);
        let msg = match m["role"].as_str().unwrap_or("") {
            "system" => Msg::new(Role::System, text),
            "user" => Msg::new(
                Role::User,
                text.strip_prefix("New task:\n").unwrap_or(&text).trim(),
            ),
            "assistant" => Msg::new(Role::Assistant, text),
            "tool-call" => {
                let mut m = Msg::new(Role::Assistant, "");
                m.calls
                    .push(tool_call(&text).ok_or(format!("step {i}: a tool call without a name"))?);
                m
            }
            "tool-response" => {
                let body = text.strip_prefix("Observation:\n").unwrap_or(&text);
                let mut m = Msg::new(Role::Tool, body);
                m.is_error = body.contains("Error:") && body.contains("Traceback");
                m
            }
            _ => continue,
        };
        msgs.push(msg);
    }
    let walked = chat::walk(msgs)?;
    let question = v["question"]
        .as_str()
        .map(str::to_owned)
        .or(walked.question)
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| Reject::no_task("no question"))?;
    let answer = content_text(&v["answer"]);
    let truth = content_text(&v["true_answer"]);
    Ok(Trajectory {
        id: source.to_string(),
        source_format: "smolagents".into(),
        source,
        question,
        system: walked.system,
        steps: walked.steps,
        final_answer: Some(answer.clone()).filter(|a| !a.trim().is_empty()),
        patch: None,
        verified: (!truth.is_empty()).then(|| answer.trim().eq_ignore_ascii_case(truth.trim())),
    })
}
