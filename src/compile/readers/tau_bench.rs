//! tau-bench and tau2-bench: an agent serves a simulated user through tools.
//! - tau-bench records `{task_id, reward, info{task{instruction, …}}, traj[]}`
//!   (a results file is a list of them); `traj` is OpenAI chat.
//! - tau2-bench results `{info, tasks[], simulations[{task_id, messages[],
//!   termination_reason, reward_info{reward}}]}`: one trajectory per
//!   simulation; calls are `{id, name, arguments}` answered by `role: tool`
//!   messages carrying the call's `id`.
//!
//! The task is the user's opening request. An agent turn that speaks to the
//! user is tau-bench's own `respond` action: the user's reply is its result.
//! The run ends when the user sends `###STOP###` (tau2: `termination_reason`
//! `user_stop` / `agent_stop`); the agent's last words before it are the
//! answer. The reward is kept as the verified flag (reward ≥ 1).

use serde_json::{json, Value};

use super::chat::{self, Msg, Role};
use super::{one, Records, Reject};
use crate::compile::trajectory::{SourceRef, ToolCall, Trajectory};

/// The simulated user's markers that end a conversation.
const STOP_MARKERS: [&str; 3] = ["###STOP###", "###TRANSFER###", "###OUT-OF-SCOPE###"];

/// Whether a JSON record is a tau-bench record or a tau2-bench results file.
pub fn detect(v: &Value) -> bool {
    let v1 = v.get("traj").is_some_and(Value::is_array)
        && (v.get("task_id").is_some() || v.get("reward").is_some());
    let v2 = v.get("simulations").is_some_and(Value::is_array) && v.get("tasks").is_some();
    v1 || v2
}

pub fn read_records(v: &Value, source: SourceRef) -> Records {
    let Some(sims) = v.get("simulations").and_then(Value::as_array) else {
        return one(read_v1(v, source.clone()), source);
    };
    if sims.is_empty() {
        return one::<Reject>(
            Err(Reject::unfinished("tau2-bench results with no simulations")),
            source,
        );
    }
    sims.iter()
        .enumerate()
        .map(|(k, s)| {
            let src = source.part(k + 1);
            read_v2(s, src.clone()).map_err(|e| e.at(src))
        })
        .collect()
}

fn read_v1(v: &Value, source: SourceRef) -> Result<Trajectory, Reject> {
    let traj = v["traj"].as_array().ok_or("no traj list")?;
    let stopped = traj
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .is_some_and(|c| STOP_MARKERS.iter().any(|s| c.contains(s)));
    if !stopped {
        return Err(Reject::unfinished(
            "the simulated user never ended the conversation (no ###STOP### turn): the run was cut off",
        ));
    }
    let id = match v.get("task_id") {
        Some(Value::Number(n)) => format!("task-{n}#trial{}", v["trial"].as_i64().unwrap_or(0)),
        Some(Value::String(s)) => s.clone(),
        _ => source.to_string(),
    };
    build(traj, id, "tau-bench", reward(&v["reward"]), source)
}

fn read_v2(s: &Value, source: SourceRef) -> Result<Trajectory, Reject> {
    let msgs = s["messages"]
        .as_array()
        .ok_or("simulation without a messages list")?;
    let why = s["termination_reason"].as_str().unwrap_or("");
    if !matches!(why, "user_stop" | "agent_stop") {
        return Err(Reject::unfinished(format!(
            "the simulation ended by `{why}`, not by the user or the agent"
        )));
    }
    // tau2 results name the call a tool message answers by `id`
    let msgs: Vec<Value> = msgs
        .iter()
        .map(|m| {
            let mut m = m.clone();
            if m["role"] == "tool" && m.get("tool_call_id").is_none() {
                m["tool_call_id"] = m["id"].clone();
            }
            m
        })
        .collect();
    let id = format!(
        "{}#{}",
        s["task_id"].as_str().unwrap_or("?"),
        s["id"].as_str().unwrap_or("")
    );
    build(
        &msgs,
        id,
        "tau2-bench",
        reward(&s["reward_info"]["reward"]),
        source,
    )
}

fn reward(v: &Value) -> Option<bool> {
    v.as_f64().map(|r| r >= 1.0)
}

/// The conversation as the walker reads it: greetings before the user's
/// request and the stop turn dropped, the agent's words to the user as
/// `respond` calls answered by the user's replies.
fn build(
    msgs: &[Value],
    id: String,
    format: &str,
    verified: Option<bool>,
    source: SourceRef,
) -> Result<Trajectory, Reject> {
    let mut walked: Vec<Msg> = Vec::new();
    let mut seen_user = false;
    for (i, m) in msgs.iter().enumerate() {
        let Some(msg) = Msg::openai(m, i)? else {
            continue;
        };
        match msg.role {
            Role::Assistant if !seen_user => continue,
            Role::User => {
                let stop = STOP_MARKERS.iter().any(|s| msg.text.contains(s));
                if !seen_user {
                    seen_user = true;
                    walked.push(Msg::new(Role::User, msg.text.trim()));
                } else if !stop {
                    // the user's reply answers what the agent said last
                    let last = walked.iter_mut().rev().find(|w| w.role == Role::Assistant);
                    let role = match last.filter(|a| a.calls.is_empty()) {
                        Some(a) => {
                            a.calls.push(ToolCall {
                                name: "respond".into(),
                                args: json!({ "content": a.text }),
                                id: None,
                            });
                            a.text = String::new();
                            Role::Tool
                        }
                        None => Role::User,
                    };
                    walked.push(Msg::new(role, msg.text.trim()));
                }
                // the stop turn ends the run: the agent's last words stay its answer
            }
            _ => walked.push(msg),
        }
    }
    let chat = chat::walk(walked)?;
    let question = chat
        .question
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| Reject::no_task("no user request in the conversation"))?;
    Ok(Trajectory {
        id,
        source_format: format.into(),
        source,
        question,
        system: chat.system,
        steps: chat.steps,
        final_answer: chat.final_answer,
        patch: None,
        verified,
    })
}
