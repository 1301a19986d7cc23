//! SWE-agent `.traj` files. The steps come from `history` (`trajectory[]` is a
//! copy without call ids, used only when `history` has no actions):
//! - 1.x function calling: assistant `tool_calls[]`, results in `role:"tool"`
//!   items linked by `tool_call_ids` (a list; ids can be reused, so each result
//!   goes to the nearest preceding call with that id still waiting);
//! - 0.x / text actions: the command is `action` (tool = its first word), the
//!   result is the next `role:"user"` item; `is_demo` items are dropped; the
//!   last `submit`'s result is `trajectory[-1].observation`.
//!
//! Question: the issue between `ISSUE:` and `INSTRUCTIONS:` (1.x replays:
//! `replay_config.problem_statement.text`). Patch: `info.submission`, else the
//! diff the final `submit` printed. A SWE-bench predictions file is refused.

use serde_json::Value;

use super::util::{
    attach_by_id, attach_to_last, clean_patch, normalize_newlines, swe_agent_observation,
    task_statement,
};
use super::Reject;
use crate::compile::trajectory::{
    content_text, parse_args, Observation, SourceRef, Step, ToolCall, Trajectory,
};

/// Whether `v` is a SWE-bench predictions row (`instance_id` + `model_patch`, no history).
pub fn is_predictions(v: &Value) -> bool {
    v.get("model_patch").is_some() && v.get("instance_id").is_some() && v.get("history").is_none()
}

/// Whether `v` is a `.traj` object: a `history` whose items carry `role` and `agent`.
pub fn is_traj(v: &Value) -> bool {
    v["history"].as_array().is_some_and(|h| {
        !h.is_empty()
            && h.iter()
                .all(|i| i.get("role").is_some() && i.get("agent").is_some())
    })
}

fn observation(text: &str) -> Observation {
    Observation {
        content: swe_agent_observation(text)
            .trim_start_matches('\n')
            .to_string(),
        is_error: false,
    }
}

/// Tool name and arguments of a text action (`open "a.py" 10` → open, {command}).
fn text_call(action: &str) -> Option<ToolCall> {
    let action = action.trim();
    let name = action.split_whitespace().next()?;
    Some(ToolCall {
        name: name.to_string(),
        args: serde_json::json!({ "command": action }),
        id: None,
    })
}

/// Whether a JSON record is a SWE-agent trajectory or predictions file.
pub fn detect(v: &Value) -> bool {
    is_traj(v)
        || is_predictions(v)
        || v.get("trajectory").is_some() && (v.get("history").is_some() || v.get("info").is_some())
}

/// Reads a SWE-agent trajectory, 0.x or 1.x. Long by design: the look-alike
/// files refused, the history of either layout and the final patch read in
/// one place, in the order the layouts are told apart.
pub fn read(v: &Value, source: SourceRef) -> Result<Trajectory, Reject> {
    if is_predictions(v) {
        return Err(Reject::not_a_trajectory(format!(
            "SWE-bench predictions file (instance_id + model_patch only, instance {}); contains no agent trajectory: use the matching .traj file",
            v["instance_id"].as_str().unwrap_or("?")
        )));
    }
    let history = v["history"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let live: Vec<&Value> = history
        .iter()
        .filter(|h| !h["is_demo"].as_bool().unwrap_or(false))
        .collect();
    let system = live
        .iter()
        .find(|h| h["role"] == "system")
        .map(|h| content_text(&h["content"]));
    let first_user = live
        .iter()
        .position(|h| h["role"] == "user" && !content_text(&h["content"]).trim().is_empty());
    let question = v["replay_config"]["problem_statement"]["text"]
        .as_str()
        .map(|t| normalize_newlines(t).trim().to_string())
        .filter(|t| !t.is_empty())
        .or_else(|| {
            first_user
                .and_then(|i| live.get(i))
                .map(|m| task_statement(&content_text(&m["content"])))
        })
        .filter(|q| !q.is_empty())
        .ok_or("SWE-agent history has no user message with the issue (expected a role:\"user\" item after the system prompt)")?;

    let mut steps: Vec<Step> = Vec::new();
    for (i, h) in live
        .iter()
        .enumerate()
        .skip(first_user.map_or(0, |k| k + 1))
    {
        match h["role"].as_str().unwrap_or("") {
            "assistant" => {
                let thought = h["thought"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| content_text(&h["content"]));
                let calls = h["tool_calls"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                if calls.is_empty() {
                    let action = h["action"].as_str().unwrap_or("");
                    steps.push(Step {
                        reasoning: thought.clone(),
                        call: text_call(action),
                        ..Default::default()
                    });
                }
                for (k, c) in calls.iter().enumerate() {
                    let f = &c["function"];
                    let name = f["name"].as_str().ok_or(format!(
                        "history item {i}: tool call {k} without function.name"
                    ))?;
                    steps.push(Step {
                        reasoning: if k == 0 {
                            thought.clone()
                        } else {
                            String::new()
                        },
                        call: Some(ToolCall {
                            name: name.to_string(),
                            args: parse_args(&f["arguments"]),
                            id: c["id"].as_str().map(str::to_owned),
                        }),
                        ..Default::default()
                    });
                }
            }
            "tool" => {
                let obs = observation(&content_text(&h["content"]));
                let ids: Vec<&str> = h["tool_call_ids"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .or_else(|| h["tool_call_id"].as_str().map(|s| vec![s]))
                    .unwrap_or_default();
                let linked = match ids.first() {
                    Some(id) => attach_by_id(&mut steps, id, obs.clone()),
                    None => attach_to_last(&mut steps, obs.clone()),
                };
                if !linked {
                    return Err(format!(
                        "history item {i}: tool result for call id {:?} has no preceding call waiting for it",
                        ids.first().copied().unwrap_or("(none)")
                    )
                    .into());
                }
            }
            "user" => {
                let obs = observation(&content_text(&h["content"]));
                if !attach_to_last(&mut steps, obs.clone()) {
                    steps.push(Step {
                        observation: Some(obs),
                        ..Default::default()
                    });
                }
            }
            _ => {}
        }
    }
    let trajectory = v["trajectory"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if steps.iter().all(|s| s.call.is_none()) {
        // no actions in history: fall back to trajectory[{thought, action, observation}]
        steps = trajectory
            .iter()
            .filter_map(|t| {
                Some(Step {
                    reasoning: t["thought"].as_str().unwrap_or("").to_string(),
                    call: Some(text_call(t["action"].as_str()?)?),
                    observation: Some(observation(t["observation"].as_str().unwrap_or(""))),
                    ..Default::default()
                })
            })
            .collect();
    } else if let (Some(last), Some(t)) = (steps.last_mut(), trajectory.last()) {
        // 0.x: the final submit's result is only in trajectory[-1].observation
        if last.call.is_some() && last.observation.is_none() {
            if let Some(o) = t["observation"].as_str() {
                last.observation = Some(observation(o));
            }
        }
    }
    if steps.iter().all(|s| s.call.is_none()) {
        return Err("SWE-agent trajectory has no actions (no tool_calls or action in history, empty trajectory)".into());
    }
    let submitted = steps
        .iter()
        .rev()
        .find(|s| s.call.as_ref().is_some_and(|c| c.name == "submit"))
        .and_then(|s| s.observation.as_ref())
        .filter(|o| o.content.trim_start().starts_with("diff --git"))
        .map(|o| o.content.clone());
    // a submission is a patch, or an answer (an EnIGMA flag)
    let submission = v["info"]["submission"]
        .as_str()
        .filter(|s| !s.trim().is_empty());
    let is_diff = |s: &str| s.trim_start().starts_with("diff ") || s.contains("\n+++ ");
    let patch = submission
        .filter(|s| is_diff(s))
        .and_then(clean_patch)
        .or_else(|| submitted.as_deref().and_then(clean_patch));
    let final_answer = submission
        .filter(|s| !is_diff(s))
        .map(|s| s.trim().to_string());
    let exit = v["info"]["exit_status"].as_str().unwrap_or("");
    if patch.is_none()
        && final_answer.is_none()
        && !exit.is_empty()
        && !exit.starts_with("submitted")
    {
        return Err(Reject::unfinished(format!(
            "the run ended with exit_status `{exit}` and no submission"
        )));
    }
    let id = v["replay_config"]["problem_statement"]["id"]
        .as_str()
        .or(v["instance_id"].as_str())
        .map(str::to_owned)
        .or_else(|| v["environment"].as_str().map(|e| format!("{e}:{source}")))
        .unwrap_or_else(|| source.to_string());
    Ok(Trajectory {
        id,
        source_format: "swe-agent".into(),
        source,
        question,
        system,
        steps,
        final_answer,
        patch,
        verified: v["info"]["resolved"].as_bool(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_action_tool_name_is_first_word() {
        let c = text_call("edit 287:295\n    x = 1\nend_of_edit\n").unwrap();
        assert_eq!(c.name, "edit");
        assert_eq!(c.args["command"], "edit 287:295\n    x = 1\nend_of_edit");
        assert!(text_call("  \n").is_none());
    }

    #[test]
    fn predictions_refused() {
        let v = serde_json::json!({"model_name_or_path": "m", "instance_id": "a__b-1", "model_patch": "diff"});
        let src = SourceRef {
            file: "p.jsonl".into(),
            record: 1,
            part: None,
        };
        let e = read(&v, src).unwrap_err();
        assert!(e.reason.starts_with("SWE-bench predictions file"), "{e}");
    }
}
