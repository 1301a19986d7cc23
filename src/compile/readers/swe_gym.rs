//! SWE-Gym OpenHands-sampled trajectories (`{instance_id, run_id, resolved,
//! messages[], tools, test_result{git_patch}}`): OpenAI-style messages with
//! parallel tool calls, results (`OBSERVATION:\n…`) linked by `tool_call_id`;
//! the auto-nudges "Please continue working on the task…" are skipped; the
//! question is the `<pr_description>`; verified = `resolved`.

use serde_json::Value;

use super::chat::{self, Msg, Role};
use super::util::{between, clean_patch, normalize_newlines};
use crate::compile::trajectory::{content_text, SourceRef, Trajectory};

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
    let mut walked = Vec::with_capacity(msgs.len());
    let mut asked = false;
    for (i, m) in msgs.iter().enumerate() {
        let text = content_text(&m["content"]);
        match m["role"].as_str().unwrap_or("") {
            "system" => walked.push(Msg::new(Role::System, text)),
            "user" if !asked => {
                asked = true;
                walked.push(Msg::new(Role::User, question(&text)));
            }
            "user" if is_nudge(&text) => {}
            // a real follow-up: context, not a tool result
            "user" => walked.push(Msg::new(Role::FollowUp, text)),
            "assistant" => {
                let Some(mut msg) = Msg::openai(m, i)? else {
                    continue;
                };
                // `finish` ends the run: the text that goes with it is the answer
                if let Some(k) = msg.calls.iter().position(|c| c.name == "finish") {
                    msg.calls.remove(k);
                    if !msg.calls.is_empty() {
                        let mut calls = Msg::new(Role::Assistant, "");
                        calls.calls = std::mem::take(&mut msg.calls);
                        walked.push(calls);
                    }
                }
                walked.push(msg);
            }
            "tool" => {
                let raw = normalize_newlines(&text);
                let content = raw.strip_prefix("OBSERVATION:\n").unwrap_or(&raw);
                let mut obs = Msg::new(Role::Tool, content);
                obs.is_error = content.starts_with("ERROR:");
                obs.call_id = m["tool_call_id"].as_str().map(str::to_owned);
                walked.push(obs);
            }
            _ => {}
        }
    }
    let chat = chat::walk(walked)?;
    let question = chat
        .question
        .filter(|q| !q.is_empty())
        .ok_or("SWE-Gym row without a user message (the task)")?;
    if chat.steps.iter().all(|s| s.call.is_none()) {
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
        system: chat.system,
        steps: chat.steps,
        final_answer: chat.final_answer,
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
