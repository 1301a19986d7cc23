//! Anthropic Messages API dumps: `{"system"?, "messages": [{role, content}]}`
//! where content is a string or a list of blocks: `text`, `thinking` (→
//! reasoning), `tool_use{id, name, input}` in assistant messages and
//! `tool_result{tool_use_id, content, is_error}` in user messages.

use serde_json::Value;

use super::chat::{self, Msg, Role};
use crate::compile::trajectory::{content_text, parse_args, SourceRef, ToolCall, Trajectory};

/// Whether a record's messages use Anthropic tool_use / tool_result / thinking blocks.
pub fn is_messages(v: &Value) -> bool {
    v["messages"].as_array().is_some_and(|msgs| {
        msgs.iter().any(|m| {
            m["content"].as_array().is_some_and(|blocks| {
                blocks.iter().any(|b| {
                    matches!(
                        b["type"].as_str(),
                        Some("tool_use" | "tool_result" | "thinking" | "redacted_thinking")
                    )
                })
            })
        })
    })
}

/// Text blocks only (a user message may mix text and tool results).
fn text_of(content: &Value) -> String {
    match content {
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| {
                b.as_str()
                    .or(b["text"].as_str().filter(|_| b["type"] == "text"))
            })
            .collect::<Vec<_>>()
            .join("\n"),
        other => content_text(other),
    }
}

pub fn read(v: &Value, source: SourceRef) -> Result<Trajectory, String> {
    let msgs = v["messages"].as_array().ok_or("no messages list")?;
    let system = v
        .get("system")
        .map(content_text)
        .filter(|s| !s.trim().is_empty());
    let mut walked: Vec<Msg> = Vec::with_capacity(msgs.len());
    let mut asked = false;
    for (i, m) in msgs.iter().enumerate() {
        let n = i + 1;
        let blocks: Vec<Value> = match &m["content"] {
            Value::Array(b) => b
                .iter()
                .map(|x| match x {
                    Value::String(s) => serde_json::json!({"type": "text", "text": s}),
                    o => o.clone(),
                })
                .collect(),
            Value::String(s) => vec![serde_json::json!({"type": "text", "text": s})],
            Value::Null => vec![],
            _ => {
                return Err(format!(
                    "message {n}: content is neither a string nor a list of blocks"
                ))
            }
        };
        match m["role"].as_str().unwrap_or("") {
            "user" => {
                for b in blocks.iter().filter(|b| b["type"] == "tool_result") {
                    let mut r = Msg::new(Role::Tool, content_text(&b["content"]));
                    r.call_id = Some(b["tool_use_id"].as_str().unwrap_or("?").to_string());
                    r.is_error = b["is_error"].as_bool().unwrap_or(false);
                    r.at = Some(n);
                    walked.push(r);
                }
                let text = text_of(&Value::Array(blocks));
                if text.trim().is_empty() {
                    continue;
                }
                // a follow-up from the user is context, never a result
                let role = if asked { Role::FollowUp } else { Role::User };
                asked = true;
                walked.push(Msg::new(role, text));
            }
            "assistant" => {
                let mut msg = Msg::new(Role::Assistant, "");
                msg.at = Some(n);
                let mut texts: Vec<&str> = Vec::new();
                for b in &blocks {
                    match b["type"].as_str().unwrap_or("") {
                        "thinking" => msg.reasoning.push_str(b["thinking"].as_str().unwrap_or("")),
                        "text" => texts.push(b["text"].as_str().unwrap_or("")),
                        "tool_use" => {
                            let name = b["name"]
                                .as_str()
                                .ok_or(format!("message {n}: tool_use block without a name"))?;
                            msg.calls.push(ToolCall {
                                name: name.to_string(),
                                args: parse_args(&b["input"]),
                                id: b["id"].as_str().map(str::to_owned),
                            });
                        }
                        _ => {}
                    }
                }
                msg.text = texts.join("\n");
                walked.push(msg);
            }
            other => return Err(format!("message {n}: unknown role `{other}`")),
        }
    }
    let chat = chat::walk(walked)?;
    let question = chat
        .question
        .filter(|q| !q.trim().is_empty())
        .ok_or("no user question")?;
    if chat.steps.is_empty() {
        return Err("empty conversation: no assistant messages".into());
    }
    Ok(Trajectory {
        id: v["id"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| source.to_string()),
        source_format: "anthropic".into(),
        source,
        question,
        system,
        steps: chat.steps,
        final_answer: chat.final_answer,
        patch: None,
        verified: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn detects_blocks_only() {
        assert!(is_messages(&json!({"messages": [{"role": "assistant",
            "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]}]})));
        assert!(!is_messages(
            &json!({"messages": [{"role": "user", "content": "hi"}]})
        ));
    }

    #[test]
    fn text_skips_tool_results() {
        let c = json!([{"type": "tool_result", "tool_use_id": "t", "content": "x"}, {"type": "text", "text": "go on"}]);
        assert_eq!(text_of(&c), "go on");
    }
}
