//! OpenHands v1 SDK conversations: a folder with `base_state.json` and
//! `events/event-NNNNN-<uuid>.json` (one event per file, ordered by NNNNN).
//! `MessageEvent` (user / agent text in `llm_message.content[]`), `ActionEvent`
//! (`tool_name`, `tool_call{id, name, arguments}`, `action`), `ObservationEvent`
//! (`tool_call_id`, `observation{content[], is_error}`). A conversation with
//! several user messages gives one trajectory per user turn
//! (`<conversation id>#turn<k>`, record = index of the turn's user event); the
//! turn's answer is its `FinishAction` message, else its last agent message.

use std::path::Path;

use serde_json::Value;

use super::util::{attach_by_id, normalize_newlines};
use super::{Reject, Rejection};
use crate::compile::trajectory::{
    content_text, parse_args, Observation, SourceRef, Step, ToolCall, Trajectory,
};

/// Event kinds of the v1 SDK.
const KINDS: &[&str] = &[
    "MessageEvent",
    "ActionEvent",
    "ObservationEvent",
    "SystemPromptEvent",
    "AgentErrorEvent",
    "UserRejectObservation",
    "PauseEvent",
    "CondensationSummaryEvent",
    "Condensation",
    "ConversationStateUpdateEvent",
];

/// Whether `v` is one v1 event (a file from a conversation's `events/`).
pub fn is_event(v: &Value) -> bool {
    v["kind"].as_str().is_some_and(|k| KINDS.contains(&k))
}

/// Whether `dir` is a v1 conversation folder: `base_state.json` beside
/// `events/`, or an `events/` folder of `event-NNNNN-*.json` files alone.
pub fn is_conversation_dir(dir: &Path) -> bool {
    let events = dir.join("events");
    if !events.is_dir() {
        return false;
    }
    dir.join("base_state.json").is_file()
        || std::fs::read_dir(&events).is_ok_and(|mut entries| {
            entries.any(|e| {
                e.ok()
                    .and_then(|e| e.file_name().to_str().and_then(event_number))
                    .is_some()
            })
        })
}

/// The refusal for a single event file given on its own.
pub const SINGLE_EVENT: &str =
    "one OpenHands v1 event; pass the conversation folder (base_state.json + events/)";

/// The NNNNN of `event-NNNNN-<uuid>.json`.
fn event_number(name: &str) -> Option<u64> {
    name.strip_prefix("event-")?.split('-').next()?.parse().ok()
}

/// Text of an observation as the agent saw it (prefix + content + suffix of a terminal).
fn observation_text(o: &Value) -> String {
    let body = content_text(&o["content"]);
    let meta = &o["metadata"];
    let prefix = meta["prefix"].as_str().unwrap_or("");
    let suffix = meta["suffix"].as_str().unwrap_or("");
    normalize_newlines(&format!("{prefix}{body}{suffix}"))
        .trim()
        .to_string()
}

struct Turn {
    record: usize,
    question: String,
    steps: Vec<Step>,
    finish: Option<String>,
    last_agent: Option<String>,
}

/// What a pass over a conversation's events gives.
struct Walked {
    system: Option<String>,
    turns: Vec<Turn>,
    /// Events before the first user message, by number and kind.
    early: Vec<(usize, String)>,
    /// Whether one of those finished the run.
    finished: bool,
    /// Events that could not be placed, by number, and why.
    problems: Vec<(usize, String)>,
}

/// One pass over events in order: a turn per user message (`task`, when
/// given, opens the first turn: an evaluation row's instruction).
/// Long by design: the open user turn, its pending actions and their
/// observations stay in locals every event kind updates.
fn walk_events(events: &[(usize, Value)], task: Option<(usize, String)>) -> Walked {
    let mut system = None;
    let mut turns: Vec<Turn> = Vec::new();
    let mut early = Vec::new();
    let mut finished = false;
    let mut problems = Vec::new();
    if let Some((record, question)) = task {
        turns.push(Turn {
            record,
            question,
            steps: vec![],
            finish: None,
            last_agent: None,
        });
    }
    for (n, e) in events {
        let src = e["source"].as_str().unwrap_or("");
        match e["kind"].as_str().unwrap_or("") {
            "SystemPromptEvent" => system = e["system_prompt"]["text"].as_str().map(str::to_owned),
            "MessageEvent" if src == "user" => turns.push(Turn {
                record: *n,
                question: normalize_newlines(&content_text(&e["llm_message"]["content"]))
                    .trim()
                    .to_string(),
                steps: vec![],
                finish: None,
                last_agent: None,
            }),
            kind => {
                let Some(turn) = turns.last_mut() else {
                    if kind != "MessageEvent" {
                        early.push((*n, kind.to_string()));
                    }
                    finished |= kind == "ActionEvent"
                        && (e["action"]["kind"] == "FinishAction" || e["tool_name"] == "finish");
                    continue;
                };
                match kind {
                    "MessageEvent" => {
                        let t = content_text(&e["llm_message"]["content"]);
                        if !t.trim().is_empty() {
                            turn.last_agent = Some(t.clone());
                            turn.steps.push(Step {
                                text: t,
                                ..Default::default()
                            });
                        }
                    }
                    "ActionEvent" => {
                        let reasoning = content_text(&e["thought"]);
                        if e["action"]["kind"] == "FinishAction" || e["tool_name"] == "finish" {
                            turn.finish = e["action"]["message"]
                                .as_str()
                                .map(str::to_owned)
                                .or_else(|| {
                                    parse_args(&e["tool_call"]["arguments"])["message"]
                                        .as_str()
                                        .map(str::to_owned)
                                });
                            continue;
                        }
                        let name = e["tool_name"]
                            .as_str()
                            .or(e["tool_call"]["name"].as_str())
                            .unwrap_or("tool");
                        let args = match e["tool_call"].get("arguments") {
                            Some(a) => parse_args(a),
                            None => e["action"].clone(),
                        };
                        turn.steps.push(Step {
                            reasoning,
                            call: Some(ToolCall {
                                name: name.to_string(),
                                args,
                                id: e["tool_call_id"]
                                    .as_str()
                                    .or(e["tool_call"]["id"].as_str())
                                    .map(str::to_owned),
                            }),
                            ..Default::default()
                        });
                    }
                    "ObservationEvent" | "AgentErrorEvent" | "UserRejectObservation" => {
                        let o = &e["observation"];
                        if o["kind"] == "FinishObservation" {
                            continue;
                        }
                        let content = if o.is_object() {
                            observation_text(o)
                        } else {
                            e["error"]
                                .as_str()
                                .or(e["rejection_reason"].as_str())
                                .unwrap_or("")
                                .to_string()
                        };
                        let obs = Observation {
                            content,
                            is_error: o["is_error"]
                                .as_bool()
                                .unwrap_or(kind != "ObservationEvent")
                                || o["exit_code"].as_i64().is_some_and(|c| c != 0),
                        };
                        let id = e["tool_call_id"].as_str().unwrap_or("");
                        if !attach_by_id(&mut turn.steps, id, obs) {
                            problems.push((
                                *n,
                                format!("{kind} for tool call {id:?}, which has no ActionEvent waiting for it"),
                            ));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    Walked {
        system,
        turns,
        early,
        finished,
        problems,
    }
}

/// An evaluation row's `history` of SDK events with the row's task: one
/// trajectory (the first turn; later user messages are follow-ups within it).
pub fn read_row(
    history: &[Value],
    source: SourceRef,
    id: String,
    task: Option<String>,
) -> Result<Trajectory, Reject> {
    let events: Vec<(usize, Value)> = history.iter().cloned().enumerate().collect();
    let task = task
        .filter(|t| !t.trim().is_empty())
        .map(|t| (source.record, t));
    let w = walk_events(&events, task);
    if let Some((n, why)) = w.problems.first() {
        return Err(format!("history event {n}: {why}").into());
    }
    let Some(t) = w.turns.into_iter().next() else {
        return Err(no_task(w.finished));
    };
    Ok(Trajectory {
        id,
        source_format: "openhands-v1".into(),
        source,
        question: t.question,
        system: w.system,
        steps: t.steps,
        final_answer: t.finish.or(t.last_agent),
        patch: None,
        verified: None,
    })
}

/// Why events with no user message are refused.
fn no_task(finished: bool) -> Reject {
    if finished {
        Reject::no_task("no user message with the task (the events begin after it)")
    } else {
        Reject::no_task(
            "no user message with the task and no finish: an excerpt of a conversation, not a whole run",
        )
    }
}

/// Reads a conversation folder: one trajectory per user turn.
/// Long by design: one pass over the folder's event files in order that
/// keeps the open user turn, its pending actions and their observations in
/// locals every event kind updates.
pub fn read_dir(dir: &Path) -> (Vec<Trajectory>, Vec<Rejection>) {
    let file = dir.display().to_string();
    let reject = |record: usize, why: String| Rejection::at(&file, record, why);
    // the conversation's state names it; an events folder alone is named by its path
    let state = dir.join("base_state.json");
    let base: Value = if state.exists() {
        match std::fs::read_to_string(&state)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(v) => v,
            Err(e) => return (vec![], vec![reject(0, format!("base_state.json: {e}"))]),
        }
    } else {
        Value::Null
    };
    let mut names: Vec<(u64, String)> = match std::fs::read_dir(dir.join("events")) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_string();
                Some((event_number(&name)?, name))
            })
            .collect(),
        Err(e) => return (vec![], vec![reject(0, format!("events/: {e}"))]),
    };
    names.sort();
    if names.is_empty() {
        return (
            vec![],
            vec![reject(
                0,
                "events/ holds no event-NNNNN-*.json files".into(),
            )],
        );
    }
    let mut rejected = Vec::new();
    let mut events = Vec::new();
    for (n, name) in &names {
        let path = dir.join("events").join(name);
        match std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| e.to_string()))
        {
            Ok(v) => events.push((*n as usize, v)),
            Err(e) => rejected.push(reject(*n as usize, format!("events/{name}: {e}"))),
        }
    }
    let conv_id = base["id"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| file.clone());
    let w = walk_events(&events, None);
    let (system, turns) = (w.system, w.turns);
    if turns.is_empty() {
        rejected.push(Rejection::at(&file, 0, no_task(w.finished)));
    } else {
        for (n, kind) in &w.early {
            rejected.push(reject(*n, format!("{kind} before the first user message")));
        }
    }
    for (n, why) in w.problems {
        rejected.push(reject(n, why));
    }
    let many = turns.len() > 1;
    let out = turns
        .into_iter()
        .enumerate()
        .map(|(k, t)| Trajectory {
            id: if many {
                format!("{conv_id}#turn{}", k + 1)
            } else {
                conv_id.clone()
            },
            source_format: "openhands-v1".into(),
            source: SourceRef {
                file: file.clone(),
                record: t.record,
                part: None,
            },
            question: t.question,
            system: system.clone(),
            steps: t.steps,
            final_answer: t.finish.or(t.last_agent),
            patch: None,
            verified: None,
        })
        .collect();
    (out, rejected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_numbers_from_names() {
        assert_eq!(event_number("event-00007-7dfb0aa3-a3d6.json"), Some(7));
        assert_eq!(event_number("base_state.json"), None);
    }

    #[test]
    fn terminal_output_keeps_exit_code_suffix() {
        let o = serde_json::json!({"content": [{"type": "text", "text": ""}],
            "metadata": {"prefix": "", "suffix": "\n[The command completed with exit code 0.]"}});
        assert_eq!(
            observation_text(&o),
            "[The command completed with exit code 0.]"
        );
    }
}
