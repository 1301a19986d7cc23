//! LangChain / LangGraph message dumps: langchain_core `messages_to_dict` lists
//! `[{"type": "human"|"ai"|"tool"|"system", "data": {content, tool_calls[{name,
//! args, id}], tool_call_id, status, …}}]`, or a LangGraph state / model_dump
//! `{"messages": [{"type", "content", "tool_calls", "tool_call_id", "status"}]}`.
//! A tool message with `status: "error"` is an error.

use serde_json::Value;

use super::chat::{self, Msg, Role};
use crate::compile::trajectory::{content_text, parse_args, SourceRef, ToolCall, Trajectory};

const TYPES: [&str; 7] = [
    "human",
    "ai",
    "tool",
    "system",
    "function",
    "chat",
    "AIMessageChunk",
];

/// A message's fields: the `data` of a `message_to_dict` entry, or the flat dict.
fn fields(m: &Value) -> &Value {
    match m.get("data") {
        Some(d) if d.is_object() => d,
        _ => m,
    }
}

fn is_message(m: &Value) -> bool {
    m.get("role").is_none() && m["type"].as_str().is_some_and(|t| TYPES.contains(&t))
}

/// Whether a JSON list is a `messages_to_dict` dump (one conversation).
pub fn is_message_list(items: &[Value]) -> bool {
    !items.is_empty() && items.iter().all(|m| is_message(m) && m["data"].is_object())
}

/// Whether a record is a LangGraph state with LangChain messages, or a message list.
pub fn is_record(v: &Value) -> bool {
    match v {
        Value::Array(items) => is_message_list(items),
        _ => v["messages"]
            .as_array()
            .is_some_and(|m| !m.is_empty() && m.iter().all(is_message)),
    }
}

/// Reasoning in content blocks (`thinking` / `reasoning`) or `additional_kwargs.reasoning_content`.
fn reasoning(d: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(blocks) = d["content"].as_array() {
        for b in blocks {
            if let Some(t) = b["thinking"].as_str().or(b["reasoning"].as_str()) {
                parts.push(t.to_string());
            }
        }
    }
    if let Some(r) = d["additional_kwargs"]["reasoning_content"].as_str() {
        parts.push(r.to_string());
    }
    parts.join("\n")
}

/// Text of content (a string, or blocks of which only `text` blocks count).
fn text(d: &Value) -> String {
    match &d["content"] {
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| {
                b.as_str()
                    .or(b["text"].as_str().filter(|_| b["type"] == "text"))
            })
            .collect::<Vec<_>>()
            .join("\n"),
        c => content_text(c),
    }
}

/// An `ai` message's calls: `tool_calls[{name, args, id}]`, or the
/// OpenAI-style `additional_kwargs.tool_calls` of older dumps.
fn calls(d: &Value, n: usize) -> Result<Vec<ToolCall>, String> {
    let (list, nested) = match d["tool_calls"].as_array() {
        Some(c) if !c.is_empty() => (c.as_slice(), false),
        _ => (
            d["additional_kwargs"]["tool_calls"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[]),
            true,
        ),
    };
    list.iter()
        .map(|c| {
            let f = if nested { &c["function"] } else { c };
            let name = f["name"]
                .as_str()
                .ok_or(format!("message {n}: tool call without a name"))?;
            let args = if nested { &f["arguments"] } else { &c["args"] };
            Ok(ToolCall {
                name: name.to_string(),
                args: parse_args(args),
                id: c["id"].as_str().map(str::to_owned),
            })
        })
        .collect()
}

pub fn read(v: &Value, source: SourceRef) -> Result<Trajectory, String> {
    let msgs = match v {
        Value::Array(items) => items,
        _ => v["messages"].as_array().ok_or("no messages list")?,
    };
    let mut walked: Vec<Msg> = Vec::with_capacity(msgs.len());
    let mut asked = false;
    for (i, m) in msgs.iter().enumerate() {
        let n = i + 1;
        let d = fields(m);
        let mut msg = match m["type"].as_str().unwrap_or("") {
            "system" => Msg::new(Role::System, text(d)),
            "human" | "chat" => {
                let role = if asked { Role::FollowUp } else { Role::User };
                asked = true;
                Msg::new(role, text(d))
            }
            "ai" | "AIMessageChunk" => {
                let mut a = Msg::new(Role::Assistant, text(d));
                a.reasoning = reasoning(d);
                a.calls = calls(d, n)?;
                a
            }
            "tool" | "function" => {
                let mut r = Msg::new(Role::Tool, text(d));
                r.call_id = d["tool_call_id"].as_str().map(str::to_owned);
                r.is_error = d["status"] == "error";
                r
            }
            other => return Err(format!("message {n}: unknown message type `{other}`")),
        };
        msg.at = Some(n);
        walked.push(msg);
    }
    let chat = chat::walk(walked)?;
    let question = chat
        .question
        .filter(|q| !q.trim().is_empty())
        .ok_or("no human message (question)")?;
    if chat.steps.is_empty() {
        return Err("empty conversation: no ai messages".into());
    }
    Ok(Trajectory {
        id: v["id"]
            .as_str()
            .or(v["thread_id"].as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| source.to_string()),
        source_format: "langchain".into(),
        source,
        question,
        system: chat.system.filter(|s| !s.trim().is_empty()),
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
    fn detection() {
        let dumped = json!([{"type": "human", "data": {"content": "q", "type": "human"}}]);
        assert!(is_record(&dumped));
        assert!(is_record(
            &json!({"messages": [{"type": "human", "content": "q"}]})
        ));
        assert!(!is_record(
            &json!({"messages": [{"role": "user", "content": "q"}]})
        ));
        assert!(!is_record(&json!([{"type": "human", "content": "q"}])));
    }

    #[test]
    fn reasoning_from_blocks() {
        let d = json!({"content": [{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "ok"}]});
        assert_eq!(reasoning(&d), "hmm");
        assert_eq!(text(&d), "ok");
    }
}
