//! Gemini CLI sessions: a JSON object `{sessionId, projectHash, messages[]}`
//! whose messages have `type` user | gemini (info / error / warning notices are
//! skipped). Gemini messages carry `content`, `thoughts[]` and `toolCalls[]
//! {id, name, args, status, result[].functionResponse.response.output}`: the
//! result is inline, and `status` other than "success" marks an error.
//! One trajectory per user prompt. The turn's patch is rebuilt from its
//! `write_file` / `replace` calls (or their `resultDisplay.fileDiff`), against
//! the file as last read or written in the session.

use std::collections::HashMap;

use serde_json::Value;

use super::{diff, one, Records, Reject, RejectKind, Rejection};
use crate::compile::trajectory::{
    content_text, parse_args, Observation, SourceRef, Step, ToolCall, Trajectory,
};

/// Whether a JSON record is a Gemini CLI session.
pub fn is_session(v: &Value) -> bool {
    v.get("sessionId").is_some()
        && v.get("projectHash").is_some()
        && v["messages"].as_array().is_some_and(|m| {
            m.iter()
                .any(|x| matches!(x["type"].as_str(), Some("gemini" | "user")))
        })
}

/// Text of a tool result: `functionResponse.response` output (or error), else `resultDisplay`.
fn result_text(call: &Value) -> String {
    let mut parts = Vec::new();
    for r in call["result"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        let resp = &r["functionResponse"]["response"];
        let text = match (resp.get("output"), resp.get("error")) {
            (Some(o), _) => content_text(o),
            (None, Some(e)) => content_text(e),
            (None, None) if resp.is_null() => continue,
            (None, None) => resp.to_string(),
        };
        parts.push(text);
    }
    if parts.is_empty() {
        if let Some(d) = call["resultDisplay"].as_str() {
            parts.push(d.to_string());
        }
    }
    parts.join("\n")
}

/// `thoughts[] {subject, description}` as text.
fn thoughts(m: &Value) -> String {
    m["thoughts"]
        .as_array()
        .map(|t| {
            t.iter()
                .map(
                    |x| match (x["subject"].as_str(), x["description"].as_str()) {
                        (Some(s), Some(d)) => format!("{s}: {d}"),
                        _ => content_text(x),
                    },
                )
                .filter(|s| !s.trim().is_empty())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// The diff section of one successful edit call, updating `known` file contents.
fn edit_diff(call: &Value, output: &str, known: &mut HashMap<String, String>) -> Option<String> {
    let name = call["name"].as_str()?;
    let args = &call["args"];
    let path = args["file_path"]
        .as_str()
        .or(args["path"].as_str())?
        .to_string();
    let rel = diff::relative(&path, None);
    let created = output.starts_with("Successfully created");
    if name == "read_file" {
        if args.get("offset").is_none() && args.get("limit").is_none() {
            known.insert(path, output.to_string());
        }
        return None;
    }
    let new = match name {
        "write_file" => args["content"].as_str()?.to_string(),
        "replace" => {
            let old = known.get(&path)?;
            let (from, to) = (args["old_string"].as_str()?, args["new_string"].as_str()?);
            match args["expected_replacements"].as_u64() {
                Some(n) if n > 1 => old.replace(from, to),
                _ => old.replacen(from, to, 1),
            }
        }
        _ => return None,
    };
    let before = known.insert(path, new.clone());
    if let Some(d) = call["resultDisplay"]["fileDiff"].as_str() {
        let hunks = d.find("\n@@").map(|i| &d[i + 1..])?;
        return Some(diff::file_section(&rel, hunks, created, false));
    }
    match (created, before) {
        (true, _) => Some(diff::file_section(
            &rel,
            &diff::whole_file_hunk(&new, '+'),
            true,
            false,
        )),
        (false, Some(old)) => {
            let hunks = diff::line_diff(&old, &new);
            (!hunks.is_empty()).then(|| diff::file_section(&rel, &hunks, false, false))
        }
        // an overwrite of a file never seen: its earlier content is unknown
        (false, None) => None,
    }
}

struct Turn {
    record: usize,
    question: String,
    steps: Vec<Step>,
    final_answer: Option<String>,
    patch: String,
    /// Tool calls made, and those the user denied.
    calls: usize,
    denied: usize,
    /// A `Request cancelled.` notice came after the turn's last reply.
    cancelled: bool,
}

/// Whether a JSONL line is the header of a Gemini CLI append log.
pub fn is_log_header(v: &Value) -> bool {
    v.get("sessionId").is_some() && v.get("projectHash").is_some() && v.get("messages").is_none()
}

/// The session an append log describes, as the CLI rebuilds it: message
/// lines keyed by `id` (a message re-emitted while it streams or its tool
/// calls update keeps its first position and takes its last content),
/// `{"$rewindTo": id}` drops that message and all after it, `{"$set": …}`
/// merges into the metadata (a `messages` list there replaces the rebuilt
/// one). Lines that are none of these are skipped and counted.
pub fn rebuild_log(lines: &[(usize, &str)]) -> (Value, usize) {
    let mut meta = serde_json::Map::new();
    let mut order: Vec<String> = Vec::new();
    let mut by_id: HashMap<String, Value> = HashMap::new();
    let mut replaced: Option<Value> = None;
    let mut skipped = 0;
    for &(_, l) in lines {
        let Ok(v) = serde_json::from_str::<Value>(l) else {
            skipped += 1;
            continue;
        };
        if let Some(id) = v.get("$rewindTo").and_then(Value::as_str) {
            let at = order.iter().position(|x| x == id).unwrap_or(0);
            for gone in order.drain(at..) {
                by_id.remove(&gone);
            }
        } else if let Some(set) = v.get("$set").and_then(Value::as_object) {
            for (k, x) in set {
                if k == "messages" {
                    replaced = Some(x.clone());
                } else {
                    meta.insert(k.clone(), x.clone());
                }
            }
        } else if let Some(id) = v.get("id").and_then(Value::as_str) {
            if !by_id.contains_key(id) {
                order.push(id.to_string());
            }
            by_id.insert(id.to_string(), v);
        } else if is_log_header(&v) {
            for (k, x) in v.as_object().into_iter().flatten() {
                meta.insert(k.clone(), x.clone());
            }
        } else {
            skipped += 1;
        }
    }
    let messages = replaced
        .unwrap_or_else(|| Value::Array(order.iter().filter_map(|id| by_id.remove(id)).collect()));
    meta.insert("messages".into(), messages);
    (Value::Object(meta), skipped)
}

/// A session's trajectories and refused turns, or the session's refusal.
pub fn read_records(v: &Value, source: SourceRef) -> Records {
    match read(v, source.clone()) {
        Ok((ts, rs)) => ts
            .into_iter()
            .map(Ok)
            .chain(rs.into_iter().map(Err))
            .collect(),
        Err(e) => one(Err::<Trajectory, _>(e), source),
    }
}

/// Reads one session: a trajectory per user prompt; a prompt without a reply is rejected.
pub fn read(v: &Value, source: SourceRef) -> Result<(Vec<Trajectory>, Vec<Rejection>), String> {
    let msgs = v["messages"].as_array().ok_or("no messages list")?;
    let session = v["sessionId"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| source.to_string());
    let mut turns: Vec<Turn> = Vec::new();
    let mut known: HashMap<String, String> = HashMap::new();
    for (i, m) in msgs.iter().enumerate() {
        match m["type"].as_str().unwrap_or("") {
            "user" => {
                let q = content_text(&m["content"]);
                // the CLI's own nudge to go on is not a new prompt
                if q.trim().is_empty() || q.trim_start().starts_with("System: Please continue") {
                    continue;
                }
                turns.push(Turn {
                    record: i + 1,
                    question: q,
                    steps: Vec::new(),
                    final_answer: None,
                    patch: String::new(),
                    calls: 0,
                    denied: 0,
                    cancelled: false,
                });
            }
            "info" if content_text(&m["content"]).contains("Request cancelled") => {
                if let Some(t) = turns.last_mut() {
                    t.cancelled = true;
                }
            }
            "gemini" => {
                let Some(t) = turns.last_mut() else {
                    return Err(format!(
                        "message {}: gemini reply before any user prompt",
                        i + 1
                    ));
                };
                let text = content_text(&m["content"]);
                let reasoning = thoughts(m);
                if !text.trim().is_empty() {
                    t.final_answer = Some(text.clone());
                }
                let calls = m["toolCalls"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                t.cancelled = false;
                if !calls.is_empty() {
                    // text before calls is not the answer
                    t.final_answer = None;
                }
                if calls.is_empty() {
                    t.steps.push(Step {
                        text,
                        reasoning,
                        ..Default::default()
                    });
                    continue;
                }
                for (k, c) in calls.iter().enumerate() {
                    let name = c["name"].as_str().ok_or(format!(
                        "message {}: tool call {} without a name",
                        i + 1,
                        k + 1
                    ))?;
                    let status = c["status"].as_str().unwrap_or("success");
                    let output = result_text(c);
                    t.calls += 1;
                    if status == "cancelled" && output.contains("denied") {
                        t.denied += 1;
                    }
                    if status == "success" {
                        if let Some(d) = edit_diff(c, &output, &mut known) {
                            t.patch.push_str(&d);
                        }
                    }
                    t.steps.push(Step {
                        text: if k == 0 { text.clone() } else { String::new() },
                        reasoning: if k == 0 {
                            reasoning.clone()
                        } else {
                            String::new()
                        },
                        call: Some(ToolCall {
                            name: name.to_string(),
                            args: parse_args(&c["args"]),
                            id: c["id"].as_str().map(str::to_owned),
                        }),
                        observation: Some(Observation {
                            content: output,
                            is_error: status != "success",
                        }),
                    });
                }
            }
            _ => {}
        }
    }
    if turns.is_empty() {
        return Err("Gemini CLI session without a user prompt".into());
    }
    let mut out = Vec::new();
    let mut rejected = Vec::new();
    for (k, t) in turns.into_iter().enumerate() {
        let src = SourceRef {
            file: source.file.clone(),
            record: t.record,
            part: None,
        };
        let why = if t.steps.is_empty() {
            Some(Reject::unfinished(format!(
                "turn {}: no gemini reply to the prompt",
                k + 1
            )))
        } else if t.calls > 0 && t.denied == t.calls {
            Some(Reject::new(
                RejectKind::ToolsRejected,
                format!("turn {}: the user denied all {} tool calls", k + 1, t.calls),
            ))
        } else if t.final_answer.is_none() && t.cancelled {
            Some(Reject::unfinished(format!(
                "turn {}: the request was cancelled before a reply",
                k + 1
            )))
        } else if t.final_answer.is_none() && t.patch.is_empty() {
            Some(Reject::unfinished(format!(
                "turn {}: no reply after its last tool calls (the run stopped there)",
                k + 1
            )))
        } else {
            None
        };
        if let Some(why) = why {
            rejected.push(why.at(src));
            continue;
        }
        out.push(Trajectory {
            id: format!("{session}#turn{}", k + 1),
            source_format: "gemini-cli".into(),
            source: src,
            question: t.question,
            system: None,
            steps: t.steps,
            final_answer: t.final_answer,
            patch: Some(t.patch).filter(|p| !p.is_empty()),
            verified: None,
        });
    }
    Ok((out, rejected))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inline_results() {
        let c = json!({"result": [{"functionResponse": {"id": "a", "name": "read_file",
            "response": {"output": "# Hello"}}}]});
        assert_eq!(result_text(&c), "# Hello");
        let e = json!({"status": "error", "result": [{"functionResponse": {"response": {"error": "no such file"}}}]});
        assert_eq!(result_text(&e), "no such file");
        assert_eq!(result_text(&json!({"resultDisplay": "shown"})), "shown");
    }

    #[test]
    fn edits_become_diffs() {
        let mut known = HashMap::new();
        let write = json!({"name": "write_file", "args": {"file_path": "a.md", "content": "x\ny"}});
        let d = edit_diff(
            &write,
            "Successfully created and wrote to new file: /r/a.md.",
            &mut known,
        );
        assert!(d
            .unwrap()
            .contains("--- /dev/null\n+++ b/a.md\n@@ -0,0 +1,2 @@\n+x\n+y\n"));
        let replace = json!({"name": "replace", "args": {"file_path": "a.md", "old_string": "y", "new_string": "z"}});
        let d = edit_diff(
            &replace,
            "Successfully modified file: /r/a.md (1 replacements).",
            &mut known,
        );
        assert_eq!(
            d.unwrap(),
            "diff --git a/a.md b/a.md\n--- a/a.md\n+++ b/a.md\n@@ -1,2 +1,2 @@\n x\n-y\n+z\n"
        );
        // an overwrite of a file never read: no diff
        let other = json!({"name": "write_file", "args": {"file_path": "b.md", "content": "q"}});
        assert_eq!(
            edit_diff(&other, "Successfully overwrote file: /r/b.md.", &mut known),
            None
        );
    }
}
