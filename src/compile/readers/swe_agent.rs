//! SWE-agent `.traj` files (1.x, and 0.x without `message_type`): the issue
//! is the first non-demo user message of `history`; steps come from
//! `trajectory[{thought, action, observation}]`; the patch is `info.submission`.

use serde_json::Value;

use crate::compile::trajectory::{
    content_text, Observation, SourceRef, Step, ToolCall, Trajectory,
};

pub fn read(v: &Value, source: SourceRef) -> Result<Trajectory, String> {
    let history = v["history"].as_array().cloned().unwrap_or_default();
    let live: Vec<&Value> = history
        .iter()
        .filter(|h| !h["is_demo"].as_bool().unwrap_or(false))
        .collect();
    let system = live
        .iter()
        .find(|h| h["role"] == "system")
        .map(|h| content_text(&h["content"]));
    let question = live
        .iter()
        .find(|h| h["role"] == "user")
        .map(|h| content_text(&h["content"]))
        .filter(|q| !q.trim().is_empty())
        .ok_or("no user message with the issue in history")?;
    let traj = v["trajectory"].as_array().ok_or("no trajectory list")?;
    let steps: Vec<Step> = traj
        .iter()
        .map(|t| {
            let action = t["action"].as_str().unwrap_or("").trim().to_string();
            let name = action
                .split_whitespace()
                .next()
                .unwrap_or("bash")
                .to_string();
            Step {
                text: String::new(),
                reasoning: t["thought"].as_str().unwrap_or("").to_string(),
                call: (!action.is_empty()).then(|| ToolCall {
                    name,
                    args: serde_json::json!({"command": action}),
                    id: None,
                }),
                observation: Some(Observation {
                    content: t["observation"].as_str().unwrap_or("").to_string(),
                    is_error: false,
                }),
            }
        })
        .collect();
    if steps.is_empty() {
        return Err("empty trajectory".into());
    }
    Ok(Trajectory {
        id: v["environment"]
            .as_str()
            .map(|e| format!("{e}:{source}"))
            .unwrap_or_else(|| source.to_string()),
        source_format: "swe-agent".into(),
        source,
        question,
        system,
        steps,
        final_answer: v["info"]["exit_status"].as_str().map(str::to_owned),
        patch: v["info"]["submission"]
            .as_str()
            .filter(|p| !p.trim().is_empty())
            .map(str::to_owned),
        verified: v["info"]["resolved"].as_bool(),
    })
}
