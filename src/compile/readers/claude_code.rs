//! Claude Code session JSONL: events `{type, uuid, parentUuid, message{role,
//! content[]}}`; one assistant message may be split over several lines sharing
//! `message.id` (merged here); `tool_use{id, name, input}` blocks are answered
//! by `tool_result{tool_use_id, content, is_error}` blocks in user lines.
//! One trajectory per real user prompt; the turn's patch is rebuilt from the
//! Edit/Write/MultiEdit `toolUseResult` (`structuredPatch` hunks, or the whole
//! content of a created file), with paths relative to the session cwd.

use serde_json::Value;

use super::{diff, Reject, RejectKind, Rejection};
use crate::compile::trajectory::{
    content_text, Observation, SourceRef, Step, ToolCall, Trajectory,
};

/// `text` without the `<system-reminder>…</system-reminder>` blocks Claude Code
/// injects into prompts and tool results.
fn strip_reminders(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("<system-reminder>") {
        out.push_str(&rest[..start]);
        match rest[start..].find("</system-reminder>") {
            Some(end) => rest = &rest[start + end + "</system-reminder>".len()..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    if out.len() == text.len() {
        return out;
    }
    out.trim_end().to_string()
}

/// Whether a user line is the notice that the user interrupted the agent.
fn is_interruption(v: &Value) -> bool {
    content_text(&v["message"]["content"])
        .trim_start()
        .starts_with("[Request interrupted by user")
}

/// The prompt text of a user line, when it is a real prompt (not a tool
/// result, meta caveat, slash-command echo or interruption notice).
fn prompt(v: &Value) -> Option<String> {
    if v["isMeta"].as_bool().unwrap_or(false) {
        return None;
    }
    let content = &v["message"]["content"];
    if let Some(blocks) = content.as_array() {
        if blocks.iter().any(|b| b["type"] == "tool_result") {
            return None;
        }
    }
    let text = strip_reminders(&content_text(content));
    let t = text.trim_start();
    if t.is_empty()
        || t.starts_with("<command-name>")
        || t.starts_with("<local-command-stdout>")
        || t.starts_with("<local-command-stderr>")
        || t.starts_with("[Request interrupted by user")
    {
        return None;
    }
    Some(text)
}

/// The diff of one Edit/Write/MultiEdit result (`toolUseResult`), if it changed a file.
fn result_diff(r: &Value, cwd: Option<&str>) -> Option<String> {
    let path = r["filePath"].as_str()?;
    let rel = diff::relative(path, cwd);
    let hunks = r["structuredPatch"].as_array().filter(|h| !h.is_empty());
    match (r["type"].as_str(), hunks) {
        (Some("create"), None) => {
            let content = r["content"].as_str()?;
            Some(diff::file_section(
                &rel,
                &diff::whole_file_hunk(content, '+'),
                true,
                false,
            ))
        }
        (_, Some(h)) => Some(diff::file_section(
            &rel,
            &diff::structured_hunks(h)?,
            r["type"] == "create",
            false,
        )),
        _ => None,
    }
}

#[derive(Default)]
struct Turn {
    line: usize,
    question: String,
    steps: Vec<Step>,
    final_answer: Option<String>,
    patch: String,
    error: Option<String>,
    /// Tool uses made, and those the user rejected.
    calls: usize,
    denied: usize,
    /// The user interrupted the turn after its last assistant text.
    interrupted: bool,
}

/// Whether a tool result is the user's rejection of the call.
fn rejected_use(result_text: &str, structured: &Value) -> bool {
    structured.as_str() == Some("User rejected tool use")
        || result_text.starts_with("The user doesn't want to proceed with this tool use")
        || result_text.starts_with("The user doesn't want to take this action")
}

/// Why a turn that made calls yields nothing to train on, if it does not.
fn unfinished(t: &Turn, k: usize) -> Option<Reject> {
    if t.steps.is_empty() {
        return Some(Reject::unfinished(format!(
            "turn {k}: no assistant response to the prompt"
        )));
    }
    if t.calls > 0 && t.denied == t.calls {
        return Some(Reject::new(
            RejectKind::ToolsRejected,
            format!("turn {k}: the user rejected all {} tool calls", t.calls),
        ));
    }
    if t.interrupted && t.final_answer.is_none() && t.patch.trim().is_empty() {
        return Some(Reject::unfinished(format!(
            "turn {k}: interrupted by the user before an answer"
        )));
    }
    let open = t
        .steps
        .last()
        .is_some_and(|s| s.call.is_some() && s.observation.is_none());
    if open && t.patch.trim().is_empty() {
        return Some(Reject::unfinished(format!(
            "turn {k}: the session ends on a tool call that never returned"
        )));
    }
    None
}

/// Reads one session: a trajectory per user prompt, and the turns or lines that could not be read.
/// Long by design: one pass over the session's lines that keeps the open
/// prompt, its pending tool uses and their results in locals every line
/// kind updates; split up, that state would thread through each helper.
pub fn read(lines: &[(usize, &str)], file: &str) -> (Vec<Trajectory>, Vec<Rejection>) {
    let main = read_chain(lines, file, false);
    // a sub-agent's transcript is side chain throughout: its first user line is the task
    let no_prompt = |r: &Rejection| r.kind == RejectKind::NoTask && r.source.record == 0;
    if main.0.is_empty() && main.1.iter().any(no_prompt) {
        let side = read_chain(lines, file, true);
        if !side.1.iter().any(no_prompt) {
            return side;
        }
    }
    main
}

/// [`read`] over the main chain, or over the side chains too.
fn read_chain(
    lines: &[(usize, &str)],
    file: &str,
    side_chains: bool,
) -> (Vec<Trajectory>, Vec<Rejection>) {
    let reject = |line: usize, why: String| Rejection::at(file, line, why);
    let mut out = Vec::new();
    let mut rejected = Vec::new();
    let mut turns: Vec<Turn> = Vec::new();
    let mut last_msg_id: Option<String> = None;
    let mut session = None;
    let mut cwd: Option<String> = None;
    for &(line, l) in lines {
        let v: Value = match serde_json::from_str(l) {
            Ok(v) => v,
            Err(e) => {
                rejected.push(reject(line, format!("malformed JSON line: {e}")));
                continue;
            }
        };
        // side chains (sub-agents) are not the conversation; failed API calls are no reply
        if v["isSidechain"].as_bool().unwrap_or(false) && !side_chains
            || v["isApiErrorMessage"].as_bool().unwrap_or(false)
        {
            continue;
        }
        session = session.or_else(|| v["sessionId"].as_str().map(str::to_owned));
        cwd = cwd.or_else(|| v["cwd"].as_str().map(str::to_owned));
        let kind = v["type"].as_str().unwrap_or("");
        let content = &v["message"]["content"];
        if kind == "user" && is_interruption(&v) {
            if let Some(t) = turns.last_mut() {
                t.interrupted = true;
            }
            continue;
        }
        if kind == "user" && !v["isCompactSummary"].as_bool().unwrap_or(false) {
            if let Some(q) = prompt(&v) {
                turns.push(Turn {
                    line,
                    question: q,
                    ..Default::default()
                });
                last_msg_id = None;
                continue;
            }
        }
        // events before the first prompt (snapshots, caveats) belong to no turn
        let Some(t) = turns.last_mut() else { continue };
        match kind {
            "user" => {
                let blocks = content.as_array().cloned().unwrap_or_default();
                let structured = &v["toolUseResult"];
                for b in blocks.iter().filter(|x| x["type"] == "tool_result") {
                    let id = b["tool_use_id"].as_str();
                    let Some(slot) = t.steps.iter().position(|s| {
                        s.observation.is_none()
                            && s.call.as_ref().is_some_and(|c| c.id.as_deref() == id)
                    }) else {
                        t.error.get_or_insert(format!(
                            "line {line}: tool_result for unknown tool_use id {}",
                            id.unwrap_or("?")
                        ));
                        continue;
                    };
                    // a plain-string toolUseResult is the error text
                    let is_error = b["is_error"].as_bool().unwrap_or(structured.is_string());
                    let text = strip_reminders(&content_text(&b["content"]));
                    if rejected_use(&text, structured) {
                        t.denied += 1;
                    }
                    t.steps[slot].observation = Some(Observation {
                        content: text,
                        is_error,
                    });
                    if !is_error && structured.is_object() {
                        if let Some(d) = result_diff(structured, cwd.as_deref()) {
                            t.patch.push_str(&d);
                        }
                    }
                }
                last_msg_id = None;
            }
            "assistant" => {
                let msg_id = v["message"]["id"].as_str().map(str::to_owned);
                let same = msg_id.is_some() && msg_id == last_msg_id;
                let blocks = content.as_array().cloned().unwrap_or_default();
                for b in blocks {
                    let new_step = !same || t.steps.last().is_none_or(|s| s.call.is_some());
                    match b["type"].as_str().unwrap_or("") {
                        "thinking" => {
                            if new_step {
                                t.steps.push(Step::default());
                            }
                            if let Some(s) = t.steps.last_mut() {
                                s.reasoning.push_str(b["thinking"].as_str().unwrap_or(""));
                            }
                        }
                        "text" => {
                            if new_step {
                                t.steps.push(Step::default());
                            }
                            let text = b["text"].as_str().unwrap_or("").to_string();
                            t.final_answer = Some(text.clone());
                            t.interrupted = false;
                            if let Some(s) = t.steps.last_mut() {
                                s.text.push_str(&text);
                            }
                        }
                        "tool_use" => {
                            if new_step {
                                t.steps.push(Step::default());
                            }
                            t.calls += 1;
                            if let Some(s) = t.steps.last_mut() {
                                s.call = Some(ToolCall {
                                    name: b["name"].as_str().unwrap_or("tool").to_string(),
                                    args: b["input"].clone(),
                                    id: b["id"].as_str().map(str::to_owned),
                                });
                            }
                        }
                        _ => {}
                    }
                }
                last_msg_id = msg_id;
            }
            _ => {}
        }
    }
    let session = session.unwrap_or_else(|| file.to_string());
    if turns.is_empty() {
        rejected.push(Rejection::at(
            file,
            0,
            Reject::no_task("no user prompt in the session"),
        ));
    }
    for (i, t) in turns.into_iter().enumerate() {
        let k = i + 1;
        if let Some(e) = t.error {
            rejected.push(reject(t.line, format!("turn {k}: {e}")));
            continue;
        }
        if let Some(why) = unfinished(&t, k) {
            rejected.push(Rejection::at(file, t.line, why));
            continue;
        }
        out.push(Trajectory {
            id: format!("{session}#turn{k}"),
            source_format: "claude-code".into(),
            source: SourceRef {
                file: file.to_string(),
                record: t.line,
                part: None,
            },
            question: t.question,
            system: None,
            steps: t.steps,
            final_answer: t.final_answer,
            patch: Some(t.patch).filter(|p| !p.trim().is_empty()),
            verified: None,
        });
    }
    (out, rejected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prompts_skip_plumbing() {
        let p =
            |c: Value| prompt(&json!({"type": "user", "message": {"role": "user", "content": c}}));
        assert_eq!(p(json!("delete js")).as_deref(), Some("delete js"));
        assert_eq!(p(json!("<command-name>/clear</command-name>")), None);
        assert_eq!(
            p(json!([{"type": "tool_result", "tool_use_id": "x", "content": "ok"}])),
            None
        );
        assert_eq!(
            p(json!([{"type": "text", "text": "[Request interrupted by user]"}])),
            None
        );
        let meta = json!({"type": "user", "isMeta": true, "message": {"content": "Caveat"}});
        assert_eq!(prompt(&meta), None);
    }

    #[test]
    fn reminders_are_dropped() {
        assert_eq!(
            strip_reminders("     1→x\n\n<system-reminder>\nBe careful.\n</system-reminder>\n"),
            "     1→x"
        );
        assert_eq!(strip_reminders("plain\n"), "plain\n");
        assert_eq!(strip_reminders("a<system-reminder>unclosed"), "a");
    }

    #[test]
    fn edit_and_create_diffs() {
        let edit = json!({"filePath": "/w/a.py", "structuredPatch": [{"oldStart": 1, "oldLines": 1,
            "newStart": 1, "newLines": 2, "lines": [" x", "+y"]}]});
        assert_eq!(
            result_diff(&edit, Some("/w")).unwrap(),
            "diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1,1 +1,2 @@\n x\n+y\n"
        );
        let create = json!({"type": "create", "filePath": "/w/n.js", "content": "a\nb\n", "structuredPatch": []});
        assert!(result_diff(&create, Some("/w"))
            .unwrap()
            .contains("--- /dev/null\n+++ b/n.js\n@@ -0,0 +1,2 @@\n+a\n+b\n"));
        assert_eq!(
            result_diff(&json!({"filePath": "/w/a", "file": {}}), Some("/w")),
            None
        );
    }
}
