//! Claude Code session JSONL: events `{type, uuid, parentUuid, message{role,
//! content[]}}`; one assistant message may be split over several lines sharing
//! `message.id` (merged here); `tool_use{id, name, input}` blocks are answered
//! by `tool_result{tool_use_id, content, is_error}` blocks in user lines.

use serde_json::Value;

use super::Rejection;
use crate::compile::trajectory::{
    content_text, Observation, SourceRef, Step, ToolCall, Trajectory,
};

pub fn read(lines: &[(usize, &str)], file: &str) -> Result<Trajectory, Rejection> {
    let source = SourceRef {
        file: file.to_string(),
        record: 1,
    };
    let reject = |line: usize, reason: String| Rejection {
        source: SourceRef {
            file: file.to_string(),
            record: line,
        },
        reason,
    };
    let mut question = None;
    let mut steps: Vec<Step> = Vec::new();
    let mut final_answer = None;
    let mut last_msg_id: Option<String> = None;
    let mut session = None;
    for &(line, l) in lines {
        let v: Value = serde_json::from_str(l)
            .map_err(|e| reject(line, format!("malformed JSON line: {e}")))?;
        // side chains, meta caveats and slash-command echoes are not the conversation
        if v["isSidechain"].as_bool().unwrap_or(false) || v["isMeta"].as_bool().unwrap_or(false) {
            continue;
        }
        if let Some(text) = v["message"]["content"].as_str() {
            if text.starts_with("<command-name>") || text.starts_with("<local-command-stdout>") {
                continue;
            }
        }
        session = session.or_else(|| v["sessionId"].as_str().map(str::to_owned));
        let kind = v["type"].as_str().unwrap_or("");
        let content = &v["message"]["content"];
        match kind {
            "user" => {
                if let Some(blocks) = content
                    .as_array()
                    .filter(|b| b.iter().any(|x| x["type"] == "tool_result"))
                {
                    for b in blocks.iter().filter(|x| x["type"] == "tool_result") {
                        let id = b["tool_use_id"].as_str();
                        let slot = steps
                            .iter()
                            .position(|s| {
                                s.observation.is_none()
                                    && s.call.as_ref().is_some_and(|c| c.id.as_deref() == id)
                            })
                            .ok_or_else(|| {
                                reject(
                                    line,
                                    format!(
                                        "tool_result for unknown tool_use id {}",
                                        id.unwrap_or("?")
                                    ),
                                )
                            })?;
                        steps[slot].observation = Some(Observation {
                            content: content_text(&b["content"]),
                            is_error: b["is_error"].as_bool().unwrap_or(false),
                        });
                    }
                } else {
                    let text = content_text(content);
                    if question.is_none() && !text.trim().is_empty() {
                        question = Some(text);
                    }
                }
                last_msg_id = None;
            }
            "assistant" => {
                let msg_id = v["message"]["id"].as_str().map(str::to_owned);
                let same = msg_id.is_some() && msg_id == last_msg_id;
                let blocks = content.as_array().cloned().unwrap_or_default();
                for b in blocks {
                    let new_step = !same || steps.last().is_some_and(|s| s.call.is_some());
                    match b["type"].as_str().unwrap_or("") {
                        "thinking" => {
                            if new_step {
                                steps.push(Step::default());
                            }
                            let s = steps.last_mut().expect("pushed");
                            s.reasoning.push_str(b["thinking"].as_str().unwrap_or(""));
                        }
                        "text" => {
                            if new_step {
                                steps.push(Step::default());
                            }
                            let t = b["text"].as_str().unwrap_or("").to_string();
                            final_answer = Some(t.clone());
                            steps.last_mut().expect("pushed").text.push_str(&t);
                        }
                        "tool_use" => {
                            if new_step || steps.last().is_some_and(|s| s.call.is_some()) {
                                steps.push(Step::default());
                            }
                            steps.last_mut().expect("pushed").call = Some(ToolCall {
                                name: b["name"].as_str().unwrap_or("tool").to_string(),
                                args: b["input"].clone(),
                                id: b["id"].as_str().map(str::to_owned),
                            });
                        }
                        _ => {}
                    }
                }
                last_msg_id = msg_id;
            }
            _ => {}
        }
    }
    let question = question.ok_or_else(|| reject(0, "no user prompt in the session".into()))?;
    if steps.is_empty() {
        return Err(reject(0, "empty session: no assistant turns".into()));
    }
    Ok(Trajectory {
        id: session.unwrap_or_else(|| file.to_string()),
        source_format: "claude-code".into(),
        source,
        question,
        system: None,
        steps,
        final_answer,
        patch: None,
        verified: None,
    })
}
