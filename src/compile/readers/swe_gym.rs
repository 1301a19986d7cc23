//! SWE-Gym OpenHands-sampled trajectories (`{instance_id, run_id, resolved,
//! messages[], tools, test_result{git_patch}}`): OpenAI-style messages with
//! parallel tool calls, results (`OBSERVATION:\n…`) linked by `tool_call_id`;
//! the auto-nudges "Please continue working on the task…" are skipped; the
//! question is the `<pr_description>`; verified = `resolved`.

use serde_json::Value;

use super::util::{attach_by_id, attach_to_last, between, clean_patch, normalize_newlines};
use crate::compile::trajectory::{
    content_text, parse_args, Observation, SourceRef, Step, ToolCall, Trajectory,
};

/// Whether `v` is a SWE-Gym row.
pub fn detect(v: &Value) -> bool {
    v["messages"].is_array()
        && v.get("resolved").is_some()
        && v.get("run_id").is_some()
        && v.get("test_result").is_some()
}

/// OpenHands' automatic "keep going" message, not a user turn.
fn is_nudge(text: &str) -> bool {
    text.trim_start().starts_with(
        "Please continue working on the task on whatever approach you think is suitable.",
    )
}

fn question(text: &str) -> String {
    let text = normalize_newlines(text);
    between(&text, "<pr_description>", "</pr_description>")
        .filter(|q| !q.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| text.trim().to_string())
}

pub fn read(v: &Value, source: SourceRef) -> Result<Trajectory, String> {
    let msgs = v["messages"]
        .as_array()
        .ok_or("SWE-Gym row without a messages list")?;
    let mut system = None;
    let mut q = None;
    let mut steps: Vec<Step> = Vec::new();
    let mut final_answer = None;
    for (i, m) in msgs.iter().enumerate() {
        let text = content_text(&m["content"]);
        match m["role"].as_str().unwrap_or("") {
            "system" if system.is_none() => system = Some(text),
            "user" if q.is_none() => q = Some(question(&text)),
            "user" if is_nudge(&text) => {}
            "user" => {
                // a real follow-up: keep it as context, not as a tool result
                steps.push(Step {
                    observation: Some(Observation {
                        content: text,
                        is_error: false,
                    }),
                    ..Default::default()
                })
            }
            "assistant" => {
                let calls = m["tool_calls"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                let mut first = true;
                if calls.is_empty() && !text.trim().is_empty() {
                    final_answer = Some(text.clone());
                    steps.push(Step {
                        text: text.clone(),
                        ..Default::default()
                    });
                }
                for (k, c) in calls.iter().enumerate() {
                    let f = c.get("function").unwrap_or(c);
                    let name = f["name"]
                        .as_str()
                        .ok_or(format!("message {i}: tool call {k} without function.name"))?;
                    if name == "finish" {
                        // the answer is the text that goes with finish, else the last text before it
                        if !text.trim().is_empty() {
                            final_answer = Some(text.clone());
                        }
                        continue;
                    }
                    steps.push(Step {
                        text: if first { text.clone() } else { String::new() },
                        call: Some(ToolCall {
                            name: name.to_string(),
                            args: parse_args(&f["arguments"]),
                            id: c["id"].as_str().map(str::to_owned),
                        }),
                        ..Default::default()
                    });
                    first = false;
                }
            }
            "tool" => {
                let raw = normalize_newlines(&text);
                let content = raw
                    .strip_prefix("OBSERVATION:\n")
                    .unwrap_or(&raw)
                    .to_string();
                let obs = Observation {
                    is_error: content.starts_with("ERROR:"),
                    content,
                };
                let linked = match m["tool_call_id"].as_str() {
                    Some(id) => attach_by_id(&mut steps, id, obs),
                    None => attach_to_last(&mut steps, obs),
                };
                if !linked {
                    return Err(format!(
                        "message {i}: tool result {:?} has no preceding call waiting for it",
                        m["tool_call_id"].as_str().unwrap_or("(no tool_call_id)")
                    ));
                }
            }
            _ => {}
        }
    }
    let question = q
        .filter(|q| !q.is_empty())
        .ok_or("SWE-Gym row without a user message (the task)")?;
    if steps.iter().all(|s| s.call.is_none()) {
        return Err("SWE-Gym row without tool calls".into());
    }
    Ok(Trajectory {
        id: v["instance_id"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| source.to_string()),
        source_format: "swe-gym".into(),
        source,
        question,
        system,
        steps,
        final_answer,
        patch: v["test_result"]["git_patch"].as_str().and_then(clean_patch),
        verified: v["resolved"]
            .as_bool()
            .or(v["test_result"]["report"]["resolved"].as_bool()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nudges_and_question() {
        assert!(is_nudge("Please continue working on the task on whatever approach you think is suitable.\nIf you think…"));
        assert!(!is_nudge("Please fix the bug"));
        assert_eq!(
            question("<uploaded_files>\n/w\n</uploaded_files>\n<pr_description>\nBug\r\n</pr_description>\n\nCan you"),
            "Bug"
        );
    }
}
