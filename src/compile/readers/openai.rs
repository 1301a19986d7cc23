//! OpenAI chat messages (also mini-swe-agent, SWE-Gym and Spider2 variants):
//! assistant `tool_calls[] {id, type, function{name, arguments}}` (arguments a
//! JSON string or an object; Spider2 omits the `function` wrapper and `id`),
//! results in `role: "tool"` messages linked by `tool_call_id`.

use serde_json::Value;

use super::text_calls;
use crate::compile::trajectory::{
    content_text, parse_args, Observation, SourceRef, Step, ToolCall, Trajectory,
};

pub fn read(v: &Value, source: SourceRef) -> Result<Trajectory, String> {
    let msgs = v["messages"].as_array().ok_or("no messages list")?;
    let mut system = None;
    let mut question = None;
    let mut steps: Vec<Step> = Vec::new();
    let mut final_answer = None;
    let mut patch = None;
    for (i, m) in msgs.iter().enumerate() {
        let role = m["role"].as_str().unwrap_or("");
        let text = content_text(&m["content"]);
        match role {
            "system" | "developer" if system.is_none() => system = Some(text),
            "user" if question.is_none() => question = Some(text),
            "assistant" => {
                let calls = m["tool_calls"].as_array().cloned().unwrap_or_default();
                let reasoning = content_text(m.get("reasoning_content").unwrap_or(&Value::Null));
                if calls.is_empty() {
                    final_answer = Some(text.clone());
                    steps.push(Step {
                        text: text.clone(),
                        reasoning: reasoning.clone(),
                        ..Default::default()
                    });
                }
                for (k, c) in calls.iter().enumerate() {
                    let f = c.get("function").unwrap_or(c);
                    let name = f["name"]
                        .as_str()
                        .ok_or(format!("message {i}: tool call without a name"))?;
                    steps.push(Step {
                        text: if k == 0 { text.clone() } else { String::new() },
                        reasoning: if k == 0 {
                            reasoning.clone()
                        } else {
                            String::new()
                        },
                        call: Some(ToolCall {
                            name: name.to_string(),
                            args: parse_args(f.get("arguments").unwrap_or(&Value::Null)),
                            id: c["id"].as_str().map(str::to_owned),
                        }),
                        observation: None,
                    });
                }
            }
            "tool" | "function" => {
                let id = m["tool_call_id"].as_str();
                let obs = Observation {
                    content: text,
                    is_error: false,
                };
                // link by id, else to the earliest call still waiting for its result
                let by_id = steps.iter().position(|s| {
                    s.observation.is_none()
                        && s.call
                            .as_ref()
                            .is_some_and(|c| id.is_some() && c.id.as_deref() == id)
                });
                let ids_used = steps
                    .iter()
                    .any(|s| s.call.as_ref().is_some_and(|c| c.id.is_some()));
                let slot = match by_id {
                    Some(k) => k,
                    None if id.is_some() && ids_used => {
                        return Err(format!(
                            "message {i}: tool result for unknown call id {}",
                            id.unwrap_or("")
                        ));
                    }
                    None => match steps
                        .iter()
                        .position(|s| s.call.is_some() && s.observation.is_none())
                    {
                        Some(k) => k,
                        // results of calls written in the text: paired by text_calls::lift
                        None if text_calls::awaiting_results(&steps) => {
                            steps.push(Step {
                                observation: Some(obs),
                                ..Default::default()
                            });
                            continue;
                        }
                        None => {
                            return Err(format!(
                                "message {i}: tool result without a preceding tool call"
                            ))
                        }
                    },
                };
                steps[slot].observation = Some(obs);
            }
            "user" => {
                // later user turns: observations of text-based agents (mini-swe-agent) or follow-ups
                if let Some(s) = steps
                    .iter_mut()
                    .rev()
                    .find(|s| s.observation.is_none() && s.call.is_some())
                {
                    s.observation = Some(Observation {
                        content: text,
                        is_error: false,
                    });
                } else {
                    steps.push(Step {
                        observation: Some(Observation {
                            content: text,
                            is_error: false,
                        }),
                        ..Default::default()
                    });
                }
            }
            "exit" => patch = Some(text),
            _ => {}
        }
    }
    if let Some(sub) = v["info"]["submission"].as_str() {
        patch = Some(sub.to_string());
    }
    if let Some(p) = v["test_result"]["git_patch"].as_str() {
        patch = Some(p.to_string());
    }
    let question = question
        .filter(|q| !q.trim().is_empty())
        .ok_or("no user question")?;
    if steps.is_empty() {
        return Err("empty trajectory: no assistant turns".into());
    }
    Ok(Trajectory {
        id: v["id"]
            .as_str()
            .or(v["instance_id"].as_str())
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
