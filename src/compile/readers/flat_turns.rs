//! Sessions logged as flat turns (SWE-chat and similar session exports):
//! `{session_id, turns[{role, content, tool_name, tool_call_id,
//! tool_input_json, turn_type}]}` where a tool call is a `tool_use` turn of
//! its own and its result a `tool_result` turn with the same `tool_call_id`.
//! The first user turn is the task; later user turns are follow-ups; a
//! session that ends on a user turn was left unanswered.

use serde_json::Value;

use super::chat::{self, Msg, Role};
use super::Reject;
use crate::compile::trajectory::{content_text, parse_args, SourceRef, ToolCall, Trajectory};

fn role(t: &Value) -> &str {
    t["role"].as_str().unwrap_or("")
}

/// Whether a JSON record is a session of flat turns with tool-use turns.
pub fn detect(v: &Value) -> bool {
    v["turns"].as_array().is_some_and(|turns| {
        !turns.is_empty()
            && turns.iter().all(|t| {
                matches!(
                    role(t),
                    "user" | "assistant" | "system" | "tool_use" | "tool_result"
                )
            })
            && turns.iter().any(|t| role(t) == "user")
    })
}

pub fn read(v: &Value, source: SourceRef) -> Result<Trajectory, Reject> {
    let turns = v["turns"].as_array().ok_or("no turns list")?;
    let mut msgs: Vec<Msg> = Vec::with_capacity(turns.len());
    let mut asked = false;
    for (i, t) in turns.iter().enumerate() {
        let text = content_text(&t["content"]);
        let mut m = match role(t) {
            "system" => Msg::new(Role::System, text),
            "user" => {
                let r = if asked { Role::FollowUp } else { Role::User };
                asked = true;
                Msg::new(r, text)
            }
            "assistant" if t["turn_type"] == "assistant_thinking" => {
                let mut m = Msg::new(Role::Assistant, "");
                m.reasoning = text;
                m
            }
            "assistant" => Msg::new(Role::Assistant, text),
            "tool_use" => {
                let name = t["tool_name"]
                    .as_str()
                    .filter(|n| !n.is_empty())
                    .ok_or(format!("turn {i}: tool_use without a tool_name"))?;
                let input = t.get("tool_input_json").unwrap_or(&t["content"]);
                let mut m = Msg::new(Role::Assistant, "");
                m.calls.push(ToolCall {
                    name: name.to_string(),
                    args: parse_args(input),
                    id: t["tool_call_id"].as_str().map(str::to_owned),
                });
                m
            }
            _ => {
                let mut m = Msg::new(Role::Tool, text);
                m.call_id = t["tool_call_id"].as_str().map(str::to_owned);
                m.is_error = t["is_error"].as_bool().unwrap_or(false);
                m
            }
        };
        m.at = Some(i);
        msgs.push(m);
    }
    if turns.last().is_some_and(|t| role(t) == "user") && turns.len() > 1 {
        return Err(Reject::unfinished(
            "the session ends on a user request the agent never answered",
        ));
    }
    let walked = chat::walk(msgs)?;
    let question = walked
        .question
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| Reject::no_task("no user turn with the task"))?;
    Ok(Trajectory {
        id: v["session_id"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| source.to_string()),
        source_format: "flat-turns".into(),
        source,
        question,
        system: walked.system,
        steps: walked.steps,
        final_answer: walked.final_answer,
        patch: None,
        verified: None,
    })
}
