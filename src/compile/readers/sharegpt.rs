//! ShareGPT (and LLaMA-Factory's sharegpt formatting): `conversations[{from,
//! value}]` with human / gpt / function_call / observation turns.

use serde_json::Value;

use super::chat::{self, Msg, Role};
use crate::compile::trajectory::{content_text, parse_args, SourceRef, ToolCall, Trajectory};

/// Whether a JSON record holds a `conversations` list.
pub fn detect(v: &Value) -> bool {
    v.get("conversations").is_some_and(Value::is_array)
}

/// A turn's speaker and text (`from`/`value`, or `role`/`content`).
pub fn turn(t: &Value) -> (&str, String) {
    let from = t
        .get("from")
        .or_else(|| t.get("role"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let value = content_text(
        t.get("value")
            .or_else(|| t.get("content"))
            .unwrap_or(&Value::Null),
    );
    (from, value)
}

pub fn read(v: &Value, source: SourceRef) -> Result<Trajectory, String> {
    let conv = v["conversations"]
        .as_array()
        .ok_or("no conversations list")?;
    let mut msgs = Vec::with_capacity(conv.len());
    for (i, t) in conv.iter().enumerate() {
        let (from, value) = turn(t);
        msgs.push(match from {
            "human" | "user" => Msg::new(Role::User, value),
            // role/content rows may carry OpenAI tool_calls
            "gpt" | "assistant" if t.get("tool_calls").is_some() => {
                let mut m = Msg::openai(
                    &serde_json::json!({
                        "role": "assistant",
                        "content": value,
                        "tool_calls": t["tool_calls"],
                    }),
                    i,
                )?
                .unwrap_or_else(|| Msg::new(Role::Assistant, ""));
                m.at = Some(i);
                m
            }
            "gpt" | "assistant" => Msg::new(Role::Assistant, value),
            "function_call" => {
                let call: Value = serde_json::from_str(&value)
                    .map_err(|e| format!("turn {i}: function_call value is not JSON: {e}"))?;
                let name = call["name"]
                    .as_str()
                    .ok_or(format!("turn {i}: function_call without a name"))?;
                let mut m = Msg::new(Role::Assistant, "");
                m.calls.push(ToolCall {
                    name: name.into(),
                    args: parse_args(&call["arguments"]),
                    id: None,
                });
                m
            }
            "observation" | "tool" | "function" => {
                let mut m = Msg::new(Role::Tool, value);
                m.call_id = t["tool_call_id"].as_str().map(str::to_owned);
                m
            }
            "system" => Msg::new(Role::System, value),
            other => return Err(format!("turn {i}: unknown speaker `{other}`")),
        });
    }
    let chat = chat::walk(msgs)?;
    let question = chat
        .question
        .filter(|q| !q.trim().is_empty())
        .ok_or("no human question")?;
    if chat.steps.is_empty() {
        return Err("empty trajectory: no assistant turns".into());
    }
    Ok(Trajectory {
        id: v["id"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| source.to_string()),
        source_format: "sharegpt".into(),
        source,
        question,
        system: v["system"].as_str().map(str::to_owned).or(chat.system),
        steps: chat.steps,
        final_answer: chat.final_answer,
        patch: None,
        verified: None,
    })
}
