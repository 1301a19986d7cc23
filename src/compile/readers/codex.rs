//! Codex CLI rollouts: JSONL of `{timestamp, type, payload}` opening with a
//! `session_meta` line. One trajectory per real user turn (`event_msg
//! user_message`); assistant text from `response_item` messages; calls from
//! `function_call` / `custom_tool_call` / `web_search_call`, results by
//! `call_id`. `exec_command` takes its result and exit code from `event_msg
//! exec_command_end`; `write_stdin` polls are folded into the exec call of their
//! session. The turn's patch is its `patch_apply_end` changes.

use std::collections::HashMap;

use serde_json::Value;

use super::{diff, Reject, RejectKind, Rejection};
use crate::compile::trajectory::{
    content_text, parse_args, Observation, SourceRef, Step, ToolCall, Trajectory,
};

/// Whether a parsed JSONL line opens an early Codex rollout: a bare
/// `{id, timestamp, instructions?}` header, the response items following
/// unwrapped.
pub fn is_legacy_header(v: &Value) -> bool {
    v.as_object().is_some_and(|o| {
        o.get("id").is_some_and(Value::is_string)
            && o.contains_key("timestamp")
            && !o.contains_key("type")
            && o.keys()
                .all(|k| matches!(k.as_str(), "id" | "timestamp" | "instructions" | "git"))
    })
}

/// An early rollout's line in the wrapped form: the header as
/// `session_meta`, a bare response item as `response_item`; `record_type`
/// state markers are `None`.
fn wrap_legacy(v: Value, first: bool) -> Option<Value> {
    if first && is_legacy_header(&v) {
        return Some(
            serde_json::json!({"type": "session_meta", "timestamp": v["timestamp"], "payload": v}),
        );
    }
    if v.get("record_type").is_some() {
        return None;
    }
    if v.get("payload").is_some() {
        return Some(v);
    }
    Some(serde_json::json!({"type": "response_item", "payload": v}))
}

/// Whether a parsed JSONL line is a Codex rollout's opening `session_meta` line.
pub fn is_session_meta(v: &Value) -> bool {
    v["type"] == "session_meta" && v.get("timestamp").is_some() && v["payload"].is_object()
}

/// User-role text that Codex injects (instructions, environment), not a prompt.
fn injected(text: &str) -> bool {
    let t = text.trim_start();
    [
        "# AGENTS.md instructions",
        "<environment_context>",
        "<user_instructions>",
        "<permissions instructions>",
        "<INSTRUCTIONS>",
    ]
    .iter()
    .any(|p| t.starts_with(p))
}

/// `"Process running with session ID 123"` → 123.
fn running_session(output: &str) -> Option<String> {
    output.lines().find_map(|l| {
        l.strip_prefix("Process running with session ID ")
            .map(|s| s.trim().to_string())
    })
}

/// The command output after the `Output:` line of a unified-exec result.
fn exec_output(output: &str) -> &str {
    match output.split_once("\nOutput:\n") {
        Some((_, rest)) => rest,
        None => output.strip_prefix("Output:\n").unwrap_or(output),
    }
}

#[derive(Default)]
struct Turn {
    line: usize,
    question: String,
    steps: Vec<Step>,
    reasoning: String,
    last_text: Option<String>,
    final_phase: Option<String>,
    complete: Option<String>,
    /// A `task_complete` event closed the turn.
    completed: bool,
    patch: String,
    /// call_id → step index
    calls: HashMap<String, usize>,
    /// exec steps whose result came from exec_command_end (final)
    done: Vec<usize>,
    /// unified-exec session id → exec step index
    sessions: HashMap<String, usize>,
    /// write_stdin call_id → session id
    polls: HashMap<String, String>,
    error: Option<String>,
    /// Calls the user declined, and a `turn_aborted` after the last reply.
    denied: usize,
    aborted: bool,
}

impl Turn {
    fn push(&mut self, mut step: Step) -> usize {
        step.reasoning = std::mem::take(&mut self.reasoning);
        self.steps.push(step);
        self.steps.len() - 1
    }

    fn result(&mut self, line: usize, call_id: &str, content: String, is_error: bool) {
        if let Some(session) = self.polls.get(call_id).cloned() {
            // a write_stdin poll: its output belongs to the exec call of that session
            let Some(&k) = self.sessions.get(&session) else {
                return;
            };
            if self.done.contains(&k) || content.starts_with("write_stdin failed") {
                return;
            }
            let out = exec_output(&content).to_string();
            let exited = content
                .lines()
                .find_map(|l| l.strip_prefix("Process exited with code "))
                .and_then(|c| c.trim().parse::<i64>().ok());
            let Some(step) = self.steps.get_mut(k) else {
                return;
            };
            let obs = step.observation.get_or_insert(Observation {
                content: String::new(),
                is_error: false,
            });
            obs.content.push_str(&out);
            if let Some(code) = exited {
                obs.is_error = code != 0;
            }
            return;
        }
        let Some(&k) = self.calls.get(call_id) else {
            self.error.get_or_insert(format!(
                "line {line}: tool output for unknown call_id {call_id}"
            ));
            return;
        };
        if matches!(
            content.trim(),
            "exec command rejected by user" | "patch rejected by user"
        ) {
            self.denied += 1;
        }
        if let Some(s) = running_session(&content) {
            self.sessions.insert(s, k);
        }
        if self.done.contains(&k) {
            return;
        }
        let Some(step) = self.steps.get_mut(k) else {
            return;
        };
        let is_exec = step.call.as_ref().is_some_and(|c| c.name == "exec_command");
        let content = if is_exec {
            exec_output(&content).to_string()
        } else {
            content
        };
        step.observation = Some(Observation { content, is_error });
    }

    /// The turn as a trajectory; `closes` when the rollout closes its turns
    /// with `task_complete` (then a turn without one never finished).
    fn finish(
        self,
        session: &str,
        k: usize,
        file: &str,
        closes: bool,
    ) -> Result<Trajectory, Rejection> {
        let source = SourceRef {
            file: file.to_string(),
            record: self.line,
            part: None,
        };
        if let Some(e) = self.error {
            return Err(Reject::from(format!("turn {k}: {e}")).at(source));
        }
        if self.steps.is_empty() {
            return Err(Reject::unfinished(format!(
                "turn {k}: no assistant response to the prompt"
            ))
            .at(source));
        }
        let calls = self.steps.iter().filter(|s| s.call.is_some()).count();
        if calls > 0 && self.denied == calls {
            return Err(Reject::new(
                RejectKind::ToolsRejected,
                format!("turn {k}: the user declined all {calls} tool calls"),
            )
            .at(source));
        }
        if closes && !self.completed && !self.aborted {
            return Err(Reject::unfinished(format!(
                "turn {k}: no task_complete: the turn never finished"
            ))
            .at(source));
        }
        if self.aborted && self.complete.is_none() && self.patch.trim().is_empty() {
            return Err(Reject::unfinished(format!(
                "turn {k}: interrupted by the user (turn_aborted) before an answer"
            ))
            .at(source));
        }
        Ok(Trajectory {
            id: format!("{session}#turn{k}"),
            source_format: "codex".into(),
            source,
            question: self.question,
            system: None,
            steps: self.steps,
            final_answer: self
                .complete
                .or(self.final_phase)
                .or(self.last_text)
                .filter(|a| !a.trim().is_empty()),
            patch: Some(self.patch).filter(|p| !p.trim().is_empty()),
            verified: None,
        })
    }
}

/// The patch text of one `patch_apply_end.changes` entry.
fn change_diff(path: &str, change: &Value, cwd: Option<&str>) -> String {
    let rel = diff::relative(path, cwd);
    match change["type"].as_str().unwrap_or("") {
        "add" => diff::file_section(
            &rel,
            &diff::whole_file_hunk(change["content"].as_str().unwrap_or(""), '+'),
            true,
            false,
        ),
        "delete" => diff::file_section(
            &rel,
            &diff::whole_file_hunk(change["content"].as_str().unwrap_or(""), '-'),
            false,
            true,
        ),
        _ => {
            let body = change["unified_diff"].as_str().unwrap_or("");
            match change["move_path"].as_str() {
                Some(to) => {
                    let to = diff::relative(to, cwd);
                    format!("diff --git a/{rel} b/{to}\nrename from {rel}\nrename to {to}\n--- a/{rel}\n+++ b/{to}\n{body}")
                }
                None => diff::file_section(&rel, body, false, false),
            }
        }
    }
}

/// Reads one rollout: a trajectory per user turn, and the turns or lines that could not be read.
/// Long by design: one pass over the rollout's lines that keeps the open
/// turn, its pending tool calls and their outputs in locals every record
/// kind updates; split up, that state would thread through each helper.
pub fn read(lines: &[(usize, &str)], file: &str) -> (Vec<Trajectory>, Vec<Rejection>) {
    let mut out = Vec::new();
    let mut rejected = Vec::new();
    let reject = |line: usize, why: String| Rejection::at(file, line, why);
    let mut parsed = Vec::new();
    let legacy = lines
        .first()
        .and_then(|(_, l)| serde_json::from_str::<Value>(l).ok())
        .is_some_and(|v| is_legacy_header(&v));
    for (i, &(line, l)) in lines.iter().enumerate() {
        match serde_json::from_str::<Value>(l) {
            Ok(v) if legacy => parsed.extend(wrap_legacy(v, i == 0).map(|v| (line, v))),
            Ok(v) => parsed.push((line, v)),
            Err(e) => rejected.push(reject(line, format!("malformed JSON line: {e}"))),
        }
    }
    // prompts are event_msg user_message; older rollouts only have user messages
    let user_events = parsed
        .iter()
        .any(|(_, v)| v["type"] == "event_msg" && v["payload"]["type"] == "user_message");
    let mut session = String::new();
    let mut cwd: Option<String> = None;
    let mut turn: Option<Turn> = None;
    let mut k = 0;
    // rollouts of CLI versions that log `task_complete` close every finished turn with it
    let closes = parsed
        .iter()
        .any(|(_, v)| v["type"] == "event_msg" && v["payload"]["type"] == "task_complete");
    let mut close = |turn: Option<Turn>, session: &str, k: usize| {
        if let Some(t) = turn {
            match t.finish(session, k, file, closes) {
                Ok(t) => out.push(t),
                Err(r) => rejected.push(r),
            }
        }
    };
    for (line, v) in &parsed {
        let line = *line;
        let p = &v["payload"];
        let ptype = p["type"].as_str().unwrap_or("");
        match v["type"].as_str().unwrap_or("") {
            "session_meta" => {
                if let Some(id) = p["id"].as_str() {
                    session = id.to_string();
                }
                cwd = p["cwd"].as_str().map(str::to_owned).or(cwd);
                continue;
            }
            "turn_context" => {
                cwd = p["cwd"].as_str().map(str::to_owned).or(cwd);
                continue;
            }
            _ => {}
        }
        let prompt = match (v["type"].as_str(), ptype) {
            (Some("event_msg"), "user_message") if user_events => p["message"].as_str(),
            (Some("response_item"), "message") if !user_events && p["role"] == "user" => {
                p["content"].as_array().and_then(|c| {
                    c.iter()
                        .filter_map(|b| b["text"].as_str())
                        .find(|t| !injected(t))
                })
            }
            _ => None,
        };
        if let Some(q) = prompt {
            if injected(q) || q.trim().is_empty() {
                continue;
            }
            close(turn.take(), &session, k);
            k += 1;
            turn = Some(Turn {
                line,
                question: q.to_string(),
                ..Default::default()
            });
            continue;
        }
        // lines before the first prompt (instructions, environment) are not a turn
        let Some(t) = turn.as_mut() else { continue };
        match (v["type"].as_str().unwrap_or(""), ptype) {
            ("response_item", "message") if p["role"] == "assistant" => {
                let text = content_text(&p["content"]);
                if p["phase"] == "final_answer" {
                    t.final_phase = Some(text.clone());
                }
                t.last_text = Some(text.clone());
                t.push(Step {
                    text,
                    ..Default::default()
                });
            }
            ("response_item", "reasoning") => {
                let mut parts: Vec<String> = Vec::new();
                for key in ["summary", "content"] {
                    if let Some(items) = p[key].as_array() {
                        parts.extend(
                            items
                                .iter()
                                .filter_map(|b| b["text"].as_str().map(str::to_owned)),
                        );
                    }
                }
                let text = parts.join("\n");
                if !text.trim().is_empty() {
                    if !t.reasoning.is_empty() {
                        t.reasoning.push('\n');
                    }
                    t.reasoning.push_str(&text);
                }
            }
            ("response_item", "function_call") => {
                let name = p["name"].as_str().unwrap_or("");
                let call_id = p["call_id"].as_str().unwrap_or("").to_string();
                let args = parse_args(&p["arguments"]);
                if name.is_empty() {
                    t.error
                        .get_or_insert(format!("line {line}: function_call without a name"));
                    continue;
                }
                if name == "write_stdin" {
                    let session = match &args["session_id"] {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    t.polls.insert(call_id, session);
                    continue;
                }
                let k = t.push(Step {
                    call: Some(ToolCall {
                        name: name.to_string(),
                        args,
                        id: Some(call_id.clone()),
                    }),
                    ..Default::default()
                });
                t.calls.insert(call_id, k);
            }
            ("response_item", "custom_tool_call") => {
                let call_id = p["call_id"].as_str().unwrap_or("").to_string();
                let k = t.push(Step {
                    call: Some(ToolCall {
                        name: p["name"].as_str().unwrap_or("custom_tool").to_string(),
                        args: serde_json::json!({ "input": p["input"] }),
                        id: Some(call_id.clone()),
                    }),
                    ..Default::default()
                });
                t.calls.insert(call_id, k);
            }
            ("response_item", "local_shell_call") => {
                let call_id = p["call_id"].as_str().unwrap_or("").to_string();
                let k = t.push(Step {
                    call: Some(ToolCall {
                        name: "local_shell".into(),
                        args: p["action"].clone(),
                        id: Some(call_id.clone()),
                    }),
                    ..Default::default()
                });
                t.calls.insert(call_id, k);
            }
            // some builds log `tool_call` / `tool_result` items without a
            // call_id: a result answers the earliest waiting call of its name
            ("response_item", "tool_call") => {
                let name = p["function"]["name"]
                    .as_str()
                    .or(p["name"].as_str())
                    .unwrap_or("tool");
                t.push(Step {
                    call: Some(ToolCall {
                        name: name.to_string(),
                        args: parse_args(&p["arguments"]),
                        id: None,
                    }),
                    ..Default::default()
                });
            }
            ("response_item", "tool_result") => {
                let name = p["name"].as_str();
                let r = &p["result"];
                let content = match (r["stdout"].as_str(), r["stderr"].as_str()) {
                    (Some(out), Some(err)) if !err.is_empty() => format!("{out}{err}"),
                    (Some(out), _) => out.to_string(),
                    _ => content_text(r),
                };
                let is_error = r["exitCode"].as_i64().is_some_and(|c| c != 0);
                let waiting = t.steps.iter_mut().find(|s| {
                    s.observation.is_none()
                        && s.call
                            .as_ref()
                            .is_some_and(|c| c.id.is_none() && name.is_none_or(|n| c.name == n))
                });
                match waiting {
                    Some(s) => s.observation = Some(Observation { content, is_error }),
                    None => {
                        t.error.get_or_insert(format!(
                            "line {line}: tool_result with no tool_call waiting for it"
                        ));
                    }
                }
            }
            ("response_item", "web_search_call") => {
                // results are not logged: a call without an observation
                t.push(Step {
                    call: Some(ToolCall {
                        name: "web_search".into(),
                        args: p["action"].clone(),
                        id: None,
                    }),
                    ..Default::default()
                });
            }
            ("response_item", "function_call_output" | "custom_tool_call_output") => {
                let call_id = p["call_id"].as_str().unwrap_or("");
                let (content, is_error) = match &p["output"] {
                    Value::String(s) => match serde_json::from_str::<Value>(s) {
                        // custom tools: {"output": …, "metadata": {"exit_code": …}}
                        Ok(o) if o.get("output").is_some() && o.get("metadata").is_some() => (
                            content_text(&o["output"]),
                            o["metadata"]["exit_code"].as_i64().is_some_and(|c| c != 0),
                        ),
                        _ => (s.clone(), false),
                    },
                    o => (
                        content_text(o.get("content").unwrap_or(o)),
                        o["success"] == Value::Bool(false),
                    ),
                };
                t.result(line, call_id, content, is_error);
            }
            ("event_msg", "exec_command_end") => {
                let Some(&k) = p["call_id"].as_str().and_then(|c| t.calls.get(c)) else {
                    continue;
                };
                let content = match p["aggregated_output"].as_str() {
                    Some(s) => s.to_string(),
                    None => format!(
                        "{}{}",
                        p["stdout"].as_str().unwrap_or(""),
                        p["stderr"].as_str().unwrap_or("")
                    ),
                };
                if let Some(step) = t.steps.get_mut(k) {
                    step.observation = Some(Observation {
                        content,
                        is_error: p["exit_code"].as_i64().is_some_and(|c| c != 0),
                    });
                }
                t.done.push(k);
            }
            ("event_msg", "patch_apply_end") => {
                if p["success"] == Value::Bool(false) {
                    continue;
                }
                if let Some(changes) = p["changes"].as_object() {
                    let mut paths: Vec<&String> = changes.keys().collect();
                    paths.sort();
                    for path in paths {
                        t.patch
                            .push_str(&change_diff(path, &changes[path], cwd.as_deref()));
                    }
                }
            }
            ("event_msg", "turn_aborted") => t.aborted = true,
            ("event_msg", "task_complete") => {
                t.completed = true;
                if let Some(m) = p["last_agent_message"].as_str() {
                    t.complete = Some(m.to_string());
                }
            }
            _ => {}
        }
    }
    close(turn.take(), &session, k);
    if out.is_empty() && rejected.is_empty() {
        rejected.push(reject(0, "Codex rollout without a user prompt".into()));
    }
    (out, rejected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_output_parts() {
        let o = "Chunk ID: 1\nProcess running with session ID 48230\nOriginal token count: 0\nOutput:\n";
        assert_eq!(running_session(o).as_deref(), Some("48230"));
        assert_eq!(exec_output(o), "");
        assert_eq!(
            exec_output("Process exited with code 0\nOutput:\nhi\n"),
            "hi\n"
        );
        assert_eq!(exec_output("plain"), "plain");
    }

    #[test]
    fn injected_context() {
        assert!(injected("<environment_context>\n  <cwd>/x</cwd>"));
        assert!(injected("# AGENTS.md instructions for /repo"));
        assert!(!injected("show tools"));
    }

    #[test]
    fn change_paths_are_repo_relative() {
        let c = serde_json::json!({"type": "update", "unified_diff": "@@ -1 +1 @@\n-a\n+b\n", "move_path": null});
        let d = change_diff("/r/src/x.ts", &c, Some("/r"));
        assert!(d.starts_with(
            "diff --git a/src/x.ts b/src/x.ts\n--- a/src/x.ts\n+++ b/src/x.ts\n@@ -1 +1 @@"
        ));
        let a = serde_json::json!({"type": "add", "content": "x\n"});
        assert!(change_diff("/r/n.txt", &a, Some("/r"))
            .contains("--- /dev/null\n+++ b/n.txt\n@@ -0,0 +1,1 @@\n+x\n"));
    }
}
