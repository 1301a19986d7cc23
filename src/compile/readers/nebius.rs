//! nebius/SWE-agent-trajectories rows: `{instance_id, trajectory[{role:
//! system|user|ai, text}], generated_patch, target}`. SWE-agent text actions:
//! the command is the last fenced block of an `ai` turn (tool = its first
//! word), its result the next `user` turn; the question is the issue of the
//! first user turn; verified = `target`.

use serde_json::Value;

use super::util::{attach_to_last, clean_patch, swe_agent_issue, swe_agent_observation};
use crate::compile::trajectory::{Observation, SourceRef, Step, ToolCall, Trajectory};

/// Whether `v` is a nebius row.
pub fn detect(v: &Value) -> bool {
    v["trajectory"].as_array().is_some_and(|t| {
        t.iter().any(|s| s["role"] == "ai")
            && t.iter()
                .all(|s| s.get("role").is_some() && s.get("text").is_some())
    }) && (v.get("generated_patch").is_some() || v.get("target").is_some())
}

/// (thought, command) of an `ai` turn: the command is the last ``` block.
pub fn split_command(text: &str) -> (String, Option<String>) {
    let Some(end) = text.rfind("```") else {
        return (text.trim().to_string(), None);
    };
    let Some(start) = text[..end].rfind("```") else {
        return (text.trim().to_string(), None);
    };
    let block = &text[start + 3..end];
    // drop a language tag on the opening fence line
    let block = match block.split_once('\n') {
        Some((tag, rest)) if !tag.trim().contains(' ') && !rest.trim().is_empty() => rest,
        _ => block,
    };
    let cmd = block.trim();
    (
        text[..start].trim().to_string(),
        (!cmd.is_empty()).then(|| cmd.to_string()),
    )
}

pub fn read(v: &Value, source: SourceRef) -> Result<Trajectory, String> {
    let turns = v["trajectory"]
        .as_array()
        .ok_or("nebius row without a trajectory list")?;
    let mut system = None;
    let mut question = None;
    let mut steps: Vec<Step> = Vec::new();
    for t in turns {
        let text = t["text"].as_str().unwrap_or("");
        match t["role"].as_str().unwrap_or("") {
            "system" => {
                system = t["system_prompt"]
                    .as_str()
                    .or(t["text"].as_str())
                    .map(str::to_owned)
            }
            "user" if question.is_none() => question = Some(swe_agent_issue(text)),
            "user" => {
                let obs = Observation {
                    content: swe_agent_observation(text),
                    is_error: false,
                };
                if !attach_to_last(&mut steps, obs.clone()) {
                    steps.push(Step {
                        observation: Some(obs),
                        ..Default::default()
                    });
                }
            }
            "ai" | "assistant" => {
                let (thought, cmd) = split_command(text);
                steps.push(Step {
                    reasoning: thought,
                    call: cmd.and_then(|c| {
                        Some(ToolCall {
                            name: c.split_whitespace().next()?.to_string(),
                            args: serde_json::json!({ "command": c }),
                            id: None,
                        })
                    }),
                    ..Default::default()
                });
            }
            _ => {}
        }
    }
    let question = question
        .filter(|q| !q.is_empty())
        .ok_or("nebius row without a user turn (the issue)")?;
    if steps.iter().all(|s| s.call.is_none()) {
        return Err("nebius row without commands (no ``` block in any ai turn)".into());
    }
    Ok(Trajectory {
        id: v["instance_id"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| source.to_string()),
        source_format: "nebius".into(),
        source,
        question,
        system,
        steps,
        final_answer: None,
        patch: v["generated_patch"].as_str().and_then(clean_patch),
        verified: v["target"].as_bool(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_is_last_fenced_block() {
        let (t, c) = split_command("Let's look.\n```\nfind_file \"image.py\" plumbum\n```");
        assert_eq!(t, "Let's look.");
        assert_eq!(c.as_deref(), Some("find_file \"image.py\" plumbum"));
        let (_, c) = split_command("x ```py\nprint(1)\n``` then\n```bash\nls -F\n```\n");
        assert_eq!(c.as_deref(), Some("ls -F"));
        assert_eq!(split_command("no block").1, None);
    }
}
