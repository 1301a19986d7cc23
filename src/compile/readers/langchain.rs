//! LangChain / LangGraph message dumps: langchain_core `messages_to_dict` lists
//! `[{"type": "human"|"ai"|"tool"|"system", "data": {content, tool_calls[{name,
//! args, id}], tool_call_id, status, …}}]`, or a LangGraph state / model_dump
//! `{"messages": [{"type", "content", "tool_calls", "tool_call_id", "status"}]}`.
//! A tool message with `status: "error"` is an error.

use serde_json::Value;

use crate::compile::trajectory::{
    content_text, parse_args, Observation, SourceRef, Step, ToolCall, Trajectory,
};

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

pub fn read(v: &Value, source: SourceRef) -> Result<Trajectory, String> {
    let msgs = match v {
        Value::Array(items) => items,
        _ => v["messages"].as_array().ok_or("no messages list")?,
    };
    let mut system = None;
    let mut question = None;
    let mut steps: Vec<Step> = Vec::new();
    let mut final_answer = None;
    for (i, m) in msgs.iter().enumerate() {
        let n = i + 1;
        let kind = m["type"].as_str().unwrap_or("");
        let d = fields(m);
        match kind {
            "system" if system.is_none() => system = Some(text(d)),
            "system" => {}
            "human" | "chat" if question.is_none() => question = Some(text(d)),
            "human" | "chat" => steps.push(Step {
                observation: Some(Observation {
                    content: text(d),
                    is_error: false,
                }),
                ..Default::default()
            }),
            "ai" | "AIMessageChunk" => {
                let t = text(d);
                let r = reasoning(d);
                // tool_calls, or the OpenAI-style additional_kwargs.tool_calls of older dumps
                let calls: Vec<(String, Value, Option<String>)> = match d["tool_calls"].as_array() {
                    Some(c) if !c.is_empty() => c
                        .iter()
                        .map(|c| {
                            let name = c["name"]
                                .as_str()
                                .ok_or(format!("message {n}: tool call without a name"))?;
                            Ok((
                                name.to_string(),
                                parse_args(&c["args"]),
                                c["id"].as_str().map(str::to_owned),
                            ))
                        })
                        .collect::<Result<_, String>>()?,
                    _ => d["additional_kwargs"]["tool_calls"]
                        .as_array()
                        .map(Vec::as_slice)
                        .unwrap_or(&[])
                        .iter()
                        .map(|c| {
                            let name = c["function"]["name"]
                                .as_str()
                                .ok_or(format!("message {n}: tool call without a name"))?;
                            Ok((
                                name.to_string(),
                                parse_args(&c["function"]["arguments"]),
                                c["id"].as_str().map(str::to_owned),
                            ))
                        })
                        .collect::<Result<_, String>>()?,
                };
                if calls.is_empty() {
                    if !t.trim().is_empty() {
                        final_answer = Some(t.clone());
                    }
                    steps.push(Step {
                        text: t,
                        reasoning: r,
                        ..Default::default()
                    });
                    continue;
                }
                for (k, (name, args, id)) in calls.into_iter().enumerate() {
                    steps.push(Step {
                        text: if k == 0 { t.clone() } else { String::new() },
                        reasoning: if k == 0 { r.clone() } else { String::new() },
                        call: Some(ToolCall { name, args, id }),
                        observation: None,
                    });
                }
            }
            "tool" | "function" => {
                let id = d["tool_call_id"].as_str();
                let slot = match id {
                    Some(id) => steps.iter().position(|s| {
                        s.observation.is_none()
                            && s.call.as_ref().is_some_and(|c| c.id.as_deref() == Some(id))
                    }),
                    None => steps
                        .iter()
                        .position(|s| s.call.is_some() && s.observation.is_none()),
                }
                .ok_or(format!(
                    "message {n}: tool message for unknown tool_call_id {}",
                    id.unwrap_or("(none)")
                ))?;
                steps[slot].observation = Some(Observation {
                    content: text(d),
                    is_error: d["status"] == "error",
                });
            }
            other => return Err(format!("message {n}: unknown message type `{other}`")),
        }
    }
    let question = question
        .filter(|q| !q.trim().is_empty())
        .ok_or("no human message (question)")?;
    if steps.is_empty() {
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
        system: system.filter(|s| !s.trim().is_empty()),
        steps,
        final_answer,
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
