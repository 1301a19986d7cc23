//! Spider-Agent `result.json` (the Spider2 spider-agent-lite / -snow
//! baselines): `{Task, finished, steps, result, result_files,
//! system_message, trajectory[{observation, thought, action, code,
//! response}]}`. Each step's `observation` is the result of the previous
//! step's action (step 0 reads `You are in the folder now.`); the last
//! action is `Terminate(output=…)` and `result` holds its output (`FAIL`
//! when the agent gave up). Actions are text calls `Name(key="value", …)`.

use serde_json::{json, Value};

use super::Reject;
use crate::compile::trajectory::{
    content_text, Observation, SourceRef, Step, ToolCall, Trajectory,
};

/// Whether a JSON record is a Spider-Agent result.
pub fn detect(v: &Value) -> bool {
    v.get("finished").is_some()
        && (v.get("Task").is_some() || v.get("result").is_some())
        && v["trajectory"].as_array().is_some_and(|t| {
            t.iter()
                .all(|s| s.get("action").is_some() && s.get("observation").is_some())
        })
}

/// `Bash(code="ls -l")` → ("Bash", {"action": …}); the step's `code` when given.
fn call(step: &Value) -> Option<ToolCall> {
    let action = step["action"].as_str()?.trim();
    let name = action.split('(').next()?.trim();
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    let mut args = json!({ "action": action });
    if let Some(code) = step["code"].as_str() {
        args["code"] = code.into();
    }
    Some(ToolCall {
        name: name.to_string(),
        args,
        id: None,
    })
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

pub fn read(v: &Value, source: SourceRef) -> Result<Trajectory, Reject> {
    let traj = v["trajectory"]
        .as_array()
        .ok_or("trajectory is not a list")?;
    if !truthy(&v["finished"]) {
        return Err(Reject::unfinished(format!(
            "the agent did not finish (finished={}, {} steps)",
            v["finished"],
            traj.len()
        )));
    }
    let question = v["Task"]
        .as_str()
        .or(v["task"].as_str())
        .map(|q| q.trim().to_string())
        .filter(|q| !q.is_empty())
        .ok_or_else(|| Reject::no_task("no Task"))?;
    let mut steps: Vec<Step> = Vec::new();
    for (k, s) in traj.iter().enumerate() {
        // this step's observation answers the previous step's action
        if k > 0 {
            if let Some(prev) = steps.last_mut().filter(|p| p.call.is_some()) {
                let content = content_text(&s["observation"]);
                prev.observation = Some(Observation {
                    is_error: content.starts_with("Traceback") || content.starts_with("ERROR"),
                    content,
                });
            }
        }
        let thought = s["thought"].as_str().unwrap_or("").to_string();
        match call(s) {
            Some(c) if c.name == "Terminate" => {
                steps.push(Step {
                    reasoning: thought,
                    ..Default::default()
                });
            }
            c => steps.push(Step {
                reasoning: thought,
                call: c,
                ..Default::default()
            }),
        }
    }
    let result = content_text(&v["result"]);
    let result = result.trim();
    if result.is_empty() || result == "FAIL" || result.starts_with("ERROR") {
        return Err(Reject::new(
            super::RejectKind::NoAnswer,
            format!(
                "the agent finished without an answer (result {})",
                if result.is_empty() { "empty" } else { result }
            ),
        ));
    }
    Ok(Trajectory {
        id: source.to_string(),
        source_format: "spider-agent".into(),
        source,
        question,
        system: v["system_message"].as_str().map(str::to_owned),
        steps,
        final_answer: Some(result.to_string()),
        patch: None,
        verified: None,
    })
}
