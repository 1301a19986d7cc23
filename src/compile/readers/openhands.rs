//! OpenHands v0 events: a JSON list of events (one trajectory), or eval-output
//! rows `{instance_id, instruction, history[], test_result{git_patch}, instance}`.
//! Actions `{id, source, action, args, tool_call_metadata}`; observations
//! `{cause: <action id>, observation, content, extras}`. The model's own call
//! arguments are in `tool_call_metadata.model_response.choices[0].message
//! .tool_calls[].function.arguments` (`args` is OpenHands' rendering of them).
//! `system` / `recall` items are injected context and skipped; an `error`
//! observation without a cause is the result of a malformed call: it goes to
//! the previous call if that is still waiting, else it becomes an orphan error
//! step. Answer: `finish.args.final_thought` (or `thought` / `message`), else
//! the last agent message; patch: `test_result.git_patch`.

use std::collections::HashMap;

use serde_json::Value;

use super::util::{between, clean_patch, normalize_newlines};
use super::Reject;
use crate::compile::trajectory::{parse_args, Observation, SourceRef, Step, ToolCall, Trajectory};

/// Whether `v` is one OpenHands v0 event.
pub fn is_event(v: &Value) -> bool {
    v.get("id").is_some()
        && v.get("source").is_some()
        && (v.get("action").is_some() || v.get("observation").is_some())
}

/// Whether `v` is a list of OpenHands v0 events (the whole list is one trajectory).
pub fn is_event_list(v: &Value) -> bool {
    v.as_array()
        .is_some_and(|a| !a.is_empty() && a.iter().all(is_event))
}

/// Whether `v` is an OpenHands eval-output row: a `history` of events (or,
/// in 2024 outputs, of `[action, observation]` pairs) beside the task.
pub fn is_eval_row(v: &Value) -> bool {
    let Some(h) = v["history"].as_array() else {
        return false;
    };
    let event = |e: &Value| e.get("action").is_some() || e.get("observation").is_some();
    let paired = !h.is_empty()
        && h.iter().all(|p| {
            p.as_array()
                .is_some_and(|p| p.len() == 2 && p.iter().all(event))
        });
    paired || v.get("instruction").is_some() || v.get("test_result").is_some()
}

/// A history as a flat list of events (pairs unfolded, in order).
fn flat_history(history: &[Value]) -> Vec<Value> {
    history
        .iter()
        .flat_map(|e| match e {
            Value::Array(pair) => pair.clone(),
            e => vec![e.clone()],
        })
        .collect()
}

/// `args` keys that are OpenHands bookkeeping, not tool arguments.
const INTERNAL_ARGS: &[&str] = &[
    "thought",
    "impl_source",
    "translated_ipython_code",
    "is_input",
    "blocking",
    "is_static",
    "cwd",
    "hidden",
    "confirmation_state",
    "security_risk",
    "include_extra",
    "start",
    "end",
];

/// The arguments the model gave for this action's call.
fn call_args(e: &Value) -> Value {
    let meta = &e["tool_call_metadata"];
    let id = meta["tool_call_id"].as_str();
    let calls = meta["model_response"]["choices"][0]["message"]["tool_calls"].as_array();
    if let Some(c) = calls.and_then(|cs| {
        cs.iter()
            .find(|c| id.is_some() && c["id"].as_str() == id)
            .or_else(|| cs.first().filter(|_| cs.len() == 1))
    }) {
        return parse_args(&c["function"]["arguments"]);
    }
    // legacy resolver output writes the arguments on the event itself
    let (o, flat) = match e["args"].as_object() {
        Some(o) => (o, false),
        None => match e.as_object() {
            Some(o) => (o, true),
            None => return Value::Object(Default::default()),
        },
    };
    Value::Object(
        o.iter()
            .filter(|(k, v)| {
                let bookkeeping = INTERNAL_ARGS.contains(&k.as_str())
                    || flat && FLAT_EVENT_KEYS.contains(&k.as_str());
                !bookkeeping && !v.is_null()
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

/// Event keys of the flat (legacy resolver) layout that are not arguments.
const FLAT_EVENT_KEYS: &[&str] = &[
    "action",
    "observation",
    "source",
    "id",
    "timestamp",
    "message",
    "cause",
    "keep_prompt",
    "is_confirmed",
    "action_risk",
    "kernel_init_code",
    "images_urls",
    "wait_for_response",
];

/// The issue inside an OpenHands instruction, or the whole text.
fn issue(text: &str) -> String {
    let text = normalize_newlines(text);
    between(&text, "<issue_description>", "</issue_description>")
        .or_else(|| between(&text, "<pr_description>", "</pr_description>"))
        .filter(|q| !q.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| text.trim().to_string())
}

fn text_of(e: &Value) -> String {
    e["args"]["content"]
        .as_str()
        .filter(|s| !s.is_empty())
        .or(e["message"].as_str())
        .or(e["content"].as_str())
        .unwrap_or("")
        .to_string()
}

/// Reads a list of events (an event file, or an eval row's `history`).
/// Long by design: one pass over the events that keeps the task, the calls
/// waiting by action id and the answer in locals every event kind updates
/// (the flat legacy layout and the v0 envelope differ only field by field).
fn read_events(
    events: &[Value],
    source: SourceRef,
    id: String,
    question: Option<String>,
) -> Result<Trajectory, String> {
    let mut system = None;
    let mut q = question;
    let mut steps: Vec<Step> = Vec::new();
    let mut by_action: HashMap<i64, usize> = HashMap::new();
    let mut final_answer = None;
    let mut last_message = None;
    for (i, e) in events.iter().enumerate() {
        let src = e["source"].as_str().unwrap_or("");
        if let Some(action) = e["action"].as_str() {
            let thought = e["args"]["thought"]
                .as_str()
                .or(e["thought"].as_str())
                .unwrap_or("")
                .to_string();
            // the flat layout names no source: a message before any step is the user's
            let src = match src {
                "" if action == "message" && steps.is_empty() => "user",
                other => other,
            };
            match (action, src) {
                ("system", _) => system = e["args"]["content"].as_str().map(str::to_owned),
                ("recall", _) => {}
                ("message", "user") => {
                    let t = text_of(e);
                    if q.is_none() {
                        q = Some(t);
                    } else if steps.is_empty() {
                        // the task, repeated as the first user message of an eval row
                    } else {
                        steps.push(Step {
                            observation: Some(Observation {
                                content: t,
                                is_error: false,
                            }),
                            ..Default::default()
                        });
                    }
                }
                ("message", _) => {
                    let t = text_of(e);
                    if !t.trim().is_empty() {
                        last_message = Some(t.clone());
                        steps.push(Step {
                            text: t,
                            ..Default::default()
                        });
                    }
                }
                ("finish", _) => {
                    final_answer = [
                        e["args"]["final_thought"].as_str(),
                        e["args"]["thought"].as_str(),
                        e["message"].as_str(),
                        e["thought"].as_str(),
                    ]
                    .into_iter()
                    .flatten()
                    .find(|s| !s.trim().is_empty())
                    .map(str::to_owned);
                }
                ("think", _) => {
                    let t = e["args"]["thought"]
                        .as_str()
                        .or(e["args"]["content"].as_str())
                        .unwrap_or("");
                    steps.push(Step {
                        reasoning: t.to_string(),
                        ..Default::default()
                    });
                }
                _ => {
                    let meta = &e["tool_call_metadata"];
                    let name = meta["function_name"].as_str().unwrap_or(action);
                    if let Some(aid) = e["id"].as_i64() {
                        by_action.insert(aid, steps.len());
                    }
                    steps.push(Step {
                        reasoning: thought,
                        call: Some(ToolCall {
                            name: name.to_string(),
                            args: call_args(e),
                            id: meta["tool_call_id"].as_str().map(str::to_owned),
                        }),
                        ..Default::default()
                    });
                }
            }
        } else if let Some(kind) = e["observation"].as_str() {
            if matches!(kind, "recall" | "agent_state_changed" | "null" | "think") {
                continue;
            }
            let content = normalize_newlines(e["content"].as_str().unwrap_or(""));
            let exit = e["extras"]["metadata"]["exit_code"].as_i64();
            let obs = Observation {
                is_error: kind == "error"
                    || exit.is_some_and(|c| c != 0)
                    || e["success"].as_bool() == Some(false)
                    || content.starts_with("ERROR:"),
                content,
            };
            match e["cause"].as_i64() {
                Some(cause) => {
                    if let Some(step) = by_action.get(&cause).and_then(|&k| steps.get_mut(k)) {
                        if step.observation.is_none() {
                            step.observation = Some(obs);
                        }
                    }
                    // other causes (think, messages) carry no tool result
                }
                None if kind == "error" => {
                    match steps.last_mut() {
                        Some(s) if s.call.is_some() && s.observation.is_none() => {
                            s.observation = Some(obs)
                        }
                        _ => steps.push(Step {
                            text: "(malformed tool call)".into(),
                            observation: Some(obs),
                            ..Default::default()
                        }),
                    }
                }
                // no cause (legacy resolver output): the result of the call before it
                None => match steps
                    .iter_mut()
                    .rev()
                    .find(|s| s.call.is_some() && s.observation.is_none())
                {
                    Some(s) => s.observation = Some(obs),
                    None => {
                        return Err(format!(
                            "event {i}: `{kind}` observation with no cause and no action before it waiting for a result"
                        ))
                    }
                },
            }
        }
    }
    let question = q.map(|t| issue(&t)).filter(|t| !t.is_empty()).ok_or(
        "OpenHands events without a user message (expected source:\"user\", action:\"message\")",
    )?;
    if steps.is_empty() {
        return Err("OpenHands events without agent actions".into());
    }
    Ok(Trajectory {
        id,
        source_format: "openhands".into(),
        source,
        question,
        system,
        steps,
        final_answer: final_answer.or(last_message),
        patch: None,
        verified: None,
    })
}

/// Whether a JSON record is an OpenHands eval-output row or one v0 event.
pub fn detect(v: &Value) -> bool {
    is_eval_row(v) || is_event(v) || is_error_row(v)
}

/// Whether `v` is an eval-output row of a run that failed before it left
/// a history (`{instance_id, error, traceback}`).
pub fn is_error_row(v: &Value) -> bool {
    v.get("instance_id").is_some()
        && v.get("error").is_some_and(|e| e.is_string())
        && v.get("history").is_none_or(Value::is_null)
        && (v.get("traceback").is_some() || v.get("instruction").is_some())
}

/// A row's `error`, when it names one (`None` / empty strings do not).
fn row_error(v: &Value) -> Option<String> {
    v["error"]
        .as_str()
        .map(str::trim)
        .filter(|e| !e.is_empty() && *e != "None" && *e != "null")
        .map(str::to_owned)
}

/// Reads an event list (`v` is the whole list) or an eval-output row.
pub fn read(v: &Value, source: SourceRef) -> Result<Trajectory, Reject> {
    if is_error_row(v) {
        return Err(Reject::unfinished(format!(
            "the evaluation run failed before it produced a trajectory: {}",
            row_error(v)
                .unwrap_or_default()
                .lines()
                .next()
                .unwrap_or("")
        )));
    }
    if let Some(e) = row_error(v) {
        return Err(Reject::unfinished(format!(
            "the run stopped with an error: {}",
            e.lines().next().unwrap_or("")
        )));
    }
    if let Some(events) = v.as_array() {
        let id = source.to_string();
        return Ok(read_events(events, source, id, None)?);
    }
    if is_event(v) {
        return Err(Reject::not_a_trajectory("one OpenHands v0 event, not a trajectory (expected a list of events or an eval-output row with history)"));
    }
    let history = v["history"].as_array().ok_or(
        "OpenHands record without history (expected a list of events or an eval-output row)",
    )?;
    let history = &flat_history(history);
    let question = v["instance"]["problem_statement"]
        .as_str()
        .filter(|s| !s.trim().is_empty())
        .or(v["instruction"].as_str())
        .map(str::to_owned);
    let id = v["instance_id"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| source.to_string());
    // V1 evaluation rows hold SDK events (`kind`-tagged); the task is the instruction
    let mut t = if history.iter().any(super::openhands_v1::is_event) {
        let task = question.map(|q| issue(&q));
        super::openhands_v1::read_row(history, source, id, task)?
    } else {
        read_events(history, source, id, question)?
    };
    t.patch = v["test_result"]["git_patch"]
        .as_str()
        .or(v["git_patch"].as_str())
        .and_then(clean_patch);
    t.verified = v["test_result"]["report"]["resolved"]
        .as_bool()
        .or(v["resolved"].as_bool())
        .or(flag(&v["success"]));
    Ok(t)
}

/// A success flag written as a bool or as the string `True` / `False`.
fn flag(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.as_str() {
            "True" | "true" => Some(true),
            "False" | "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_arguments_preferred_over_rendered_args() {
        let e = serde_json::json!({
            "id": 3, "source": "agent", "action": "edit",
            "args": {"path": "/w/a.py", "content": "", "thought": "t"},
            "tool_call_metadata": {"function_name": "str_replace_editor", "tool_call_id": "x",
                "model_response": {"choices": [{"message": {"tool_calls": [
                    {"id": "x", "function": {"name": "str_replace_editor",
                     "arguments": "{\"command\": \"create\", \"path\": \"/w/a.py\"}"}}]}}]}}
        });
        assert_eq!(call_args(&e)["command"], "create");
        let bare = serde_json::json!({"id": 1, "source": "agent", "action": "run",
            "args": {"command": "ls", "thought": "", "blocking": false}});
        assert_eq!(call_args(&bare), serde_json::json!({"command": "ls"}));
    }

    #[test]
    fn issue_description_unwrapped() {
        assert_eq!(
            issue("<uploaded_files>\n/w\n</uploaded_files>\n<issue_description>\nCrash\r\n</issue_description>\nPlease"),
            "Crash"
        );
    }
}
