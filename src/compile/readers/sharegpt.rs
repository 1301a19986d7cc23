//! ShareGPT (and LLaMA-Factory's sharegpt formatting): `conversations[{from,
//! value}]` with human / gpt / function_call / observation turns.

use serde_json::Value;

use super::text_calls;
use crate::compile::trajectory::{parse_args, Observation, SourceRef, Step, ToolCall, Trajectory};

pub fn read(v: &Value, source: SourceRef) -> Result<Trajectory, String> {
    let conv = v["conversations"]
        .as_array()
        .ok_or("no conversations list")?;
    let mut question = None;
    let mut steps: Vec<Step> = Vec::new();
    let mut final_answer = None;
    for (i, t) in conv.iter().enumerate() {
        let from = t["from"].as_str().unwrap_or("");
        let value = t["value"].as_str().unwrap_or("").to_string();
        match from {
            "human" | "user" if question.is_none() => question = Some(value),
            "human" | "user" => steps.push(Step {
                observation: Some(Observation {
                    content: value,
                    is_error: false,
                }),
                ..Default::default()
            }),
            "gpt" | "assistant" => {
                final_answer = Some(value.clone());
                steps.push(Step {
                    text: value,
                    ..Default::default()
                });
            }
            "function_call" => {
                let call: Value = serde_json::from_str(&value)
                    .map_err(|e| format!("turn {i}: function_call value is not JSON: {e}"))?;
                let name = call["name"]
                    .as_str()
                    .ok_or(format!("turn {i}: function_call without a name"))?;
                steps.push(Step {
                    call: Some(ToolCall {
                        name: name.into(),
                        args: parse_args(&call["arguments"]),
                        id: None,
                    }),
                    ..Default::default()
                });
            }
            "observation" | "tool" => {
                let obs = Observation {
                    content: value,
                    is_error: false,
                };
                match steps
                    .iter()
                    .rposition(|s| s.call.is_some() && s.observation.is_none())
                {
                    Some(slot) => steps[slot].observation = Some(obs),
                    // results of calls written in the text: paired by text_calls::lift
                    None if text_calls::awaiting_results(&steps) => steps.push(Step {
                        observation: Some(obs),
                        ..Default::default()
                    }),
                    None => {
                        return Err(format!(
                            "turn {i}: observation without a preceding function_call"
                        ))
                    }
                }
            }
            "system" => {}
            other => return Err(format!("turn {i}: unknown speaker `{other}`")),
        }
    }
    let question = question
        .filter(|q| !q.trim().is_empty())
        .ok_or("no human question")?;
    if steps.is_empty() {
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
        system: v["system"].as_str().map(str::to_owned),
        steps,
        final_answer,
        patch: None,
        verified: None,
    })
}
