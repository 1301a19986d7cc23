//! Spider2 spider-agent-tc results: a JSON list of `{instance_id, rollout_idx,
//! conversation[], final_messages[], terminated}`. `conversation` holds
//! assistant `tool_calls[] {name, arguments}` (no id, no `function` wrapper)
//! and `role: "tool"` results paired by adjacency, prefixed
//! `EXECUTION RESULT of [name]:`. `final_messages` is the same run as text
//! (calls inside `<tool_call>`), read only when `conversation` is missing.
//! The answer is the `terminate` call's `answer` (the final SQL); a run that
//! did not terminate has none.
//!
//! Spider2 task specifications (`{instance_id, instruction, db_id}`) are refused.

use serde_json::Value;

use super::text_calls::{looks_like_error, strip_result_prefix};
use super::Reject;
use crate::compile::trajectory::{
    content_text, parse_args, Observation, SourceRef, Step, ToolCall, Trajectory,
};

/// Whether a JSON record is a Spider2 rollout or task specification.
pub fn detect(v: &Value) -> bool {
    let Some(o) = v.as_object() else { return false };
    let list = |k: &str| o.get(k).is_some_and(Value::is_array);
    ((list("conversation") || list("final_messages"))
        && (o.contains_key("final_messages") || o.contains_key("terminated")))
        || is_task_spec(v)
}

/// `{instance_id, instruction, db_id}` without any history.
pub fn is_task_spec(v: &Value) -> bool {
    v.as_object().is_some_and(|o| {
        ["instance_id", "instruction", "db_id"]
            .iter()
            .all(|k| o.contains_key(*k))
            && !["history", "conversation", "messages", "final_messages"]
                .iter()
                .any(|k| o.contains_key(*k))
    })
}

/// The question inside the user wrapper: between `Question: ` and `\nExternal Knowledge:`.
pub fn question(user: &str) -> String {
    let Some(i) = user.find("Question:") else {
        return user.trim().to_string();
    };
    let rest = &user[i + "Question:".len()..];
    let end = rest.find("\nExternal Knowledge:").unwrap_or(rest.len());
    rest[..end].trim().to_string()
}

fn is_sql_call(c: &ToolCall) -> bool {
    c.name.starts_with("execute_") && c.name.ends_with("_sql")
}

/// Whether a record is a spider-agent-tc rollout, a task specification or
/// a Spider-Agent `result.json`.
pub fn detect_any(v: &Value) -> bool {
    detect(v) || super::spider_agent::detect(v)
}

/// Reads either layout.
pub fn read_any(v: &Value, source: SourceRef) -> Result<Trajectory, Reject> {
    if super::spider_agent::detect(v) {
        super::spider_agent::read(v, source)
    } else {
        read(v, source)
    }
}

pub fn read(v: &Value, source: SourceRef) -> Result<Trajectory, Reject> {
    if is_task_spec(v) {
        return Err(Reject::not_a_trajectory(
            "Spider2 task specification (instance_id, instruction, db_id); contains no agent steps",
        ));
    }
    let msgs = match v.get("conversation").and_then(Value::as_array) {
        Some(c) if !c.is_empty() => c,
        _ => v
            .get("final_messages")
            .and_then(Value::as_array)
            .ok_or("no conversation or final_messages list")?,
    };
    let mut system = None;
    let mut q = None;
    let mut steps: Vec<Step> = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        let text = content_text(&m["content"]);
        match m["role"].as_str().unwrap_or("") {
            "system" if system.is_none() => system = Some(text),
            "user" if q.is_none() => q = Some(question(&text)),
            "assistant" => {
                let calls = m["tool_calls"].as_array().cloned().unwrap_or_default();
                if calls.is_empty() {
                    steps.push(Step {
                        text: text.clone(),
                        ..Default::default()
                    });
                }
                for (k, c) in calls.iter().enumerate() {
                    let f = c.get("function").unwrap_or(c);
                    let name = f["name"]
                        .as_str()
                        .ok_or(format!("conversation[{i}]: tool call without a name"))?;
                    steps.push(Step {
                        text: if k == 0 { text.clone() } else { String::new() },
                        call: Some(ToolCall {
                            name: name.to_string(),
                            args: parse_args(f.get("arguments").unwrap_or(&Value::Null)),
                            id: None,
                        }),
                        ..Default::default()
                    });
                }
            }
            "tool" | "user" => {
                let body = strip_result_prefix(&text).trim_end();
                let obs = Observation {
                    content: body.to_string(),
                    is_error: looks_like_error(body),
                };
                match steps
                    .iter_mut()
                    .find(|s| s.call.is_some() && s.observation.is_none())
                {
                    Some(s) => s.observation = Some(obs),
                    // text calls (final_messages): the post-pass pairs these
                    None => steps.push(Step {
                        observation: Some(Observation {
                            content: text,
                            is_error: obs.is_error,
                        }),
                        ..Default::default()
                    }),
                }
            }
            _ => {}
        }
    }
    let question = q
        .filter(|q| !q.trim().is_empty())
        .ok_or("no user message with the question")?;
    if steps.is_empty() {
        return Err("empty trajectory: no assistant turns".into());
    }
    let rounds = msgs.iter().filter(|m| m["role"] == "assistant").count();
    let terminate = steps
        .iter()
        .filter_map(|s| s.call.as_ref())
        .rfind(|c| c.name == "terminate");
    let final_sql = steps
        .iter()
        .rev()
        .filter(|s| s.observation.as_ref().is_some_and(|o| !o.is_error))
        .filter_map(|s| s.call.as_ref())
        .find(|c| is_sql_call(c))
        .and_then(|c| c.args.get("sql").and_then(Value::as_str))
        .map(str::to_owned);
    let terminated = v["terminated"].as_bool();
    let final_answer = match terminate {
        Some(c) => c.args["answer"]
            .as_str()
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .or(final_sql),
        None if terminated == Some(true) => final_sql,
        // a text-only run (final_messages) is judged after its calls are lifted
        None if v.get("conversation").and_then(Value::as_array).is_none() => None,
        None => {
            return Err(Reject::unfinished(format!(
            "no final answer: the agent did not terminate (terminated={} after {rounds} rounds)",
            terminated.map_or("missing".to_string(), |t| t.to_string())
        )))
        }
    };
    let id = v["instance_id"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| source.to_string());
    Ok(Trajectory {
        id,
        source_format: "spider2".into(),
        source,
        question,
        system,
        steps,
        final_answer,
        patch: None,
        verified: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn question_is_cut_from_the_wrapper() {
        assert_eq!(
            question(
                "Question: Which 10 groups?\nExternal Knowledge: None\n\nYou are in the folder"
            ),
            "Which 10 groups?"
        );
        assert_eq!(question("Plain task"), "Plain task");
    }

    #[test]
    fn task_specs_are_told_apart_from_rollouts() {
        let spec = serde_json::json!({"instance_id": "sf_bq024", "instruction": "x", "db_id": "USFS_FIA", "external_knowledge": null});
        assert!(is_task_spec(&spec) && detect(&spec));
        let eval_row = serde_json::json!({"instance_id": "a", "instruction": "x", "db_id": "d", "history": []});
        assert!(!is_task_spec(&eval_row));
    }
}
