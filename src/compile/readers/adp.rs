//! Agent Data Protocol (ADP) standardized trajectories: `{id, content[],
//! details}` where `content[].class_` is `text_observation`, `web_observation`
//! (html / axtree / url), `api_action` (`function`, `kwargs`), `code_action`
//! (`language`, `content`) or `message_action` (`content`). Observations follow
//! the action they answer (adjacency). The first user text is the question;
//! kwargs converted from shell commands keep their quoting, so one level of
//! surrounding quotes is stripped. The converter's synthetic "<finish> I did
//! it!…" message and the "Task completed successfully." result of `submit` are
//! boilerplate, not an answer. Patch: `details.generated_patch`.

use serde_json::Value;

use super::util::{attach_to_last, clean_patch, swe_agent_issue, swe_agent_observation, unquote};
use crate::compile::trajectory::{
    content_text, Observation, SourceRef, Step, ToolCall, Trajectory,
};

const CLASSES: &[&str] = &[
    "text_observation",
    "web_observation",
    "image_observation",
    "api_action",
    "code_action",
    "message_action",
];

/// Whether `v` is an ADP trajectory.
pub fn detect(v: &Value) -> bool {
    v["content"].as_array().is_some_and(|c| {
        !c.is_empty()
            && c.iter()
                .all(|i| i["class_"].as_str().is_some_and(|k| CLASSES.contains(&k)))
    })
}

/// The converter's placeholder finish message (not a real answer).
fn is_boilerplate_finish(text: &str) -> bool {
    let t = text.trim();
    t.is_empty() || t.contains("I did it! The task is now complete.")
}

/// Strips `<finish>` tags around a final message.
fn finish_text(text: &str) -> String {
    let t = text.trim();
    t.strip_prefix("<finish>")
        .and_then(|r| r.strip_suffix("</finish>"))
        .unwrap_or(t)
        .trim()
        .to_string()
}

/// kwargs with one level of shell quoting removed from string values.
fn clean_kwargs(kwargs: &Value) -> Value {
    match kwargs.as_object() {
        Some(o) => Value::Object(
            o.iter()
                .map(|(k, v)| {
                    let v = match v.as_str() {
                        Some(s) => Value::String(unquote(s).to_string()),
                        None => v.clone(),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        None => Value::Object(Default::default()),
    }
}

/// Text of a web observation: accessibility tree, else HTML; with its URL.
fn web_text(o: &Value) -> String {
    let body = o["axtree"]
        .as_str()
        .filter(|s| !s.trim().is_empty())
        .or(o["html"].as_str())
        .unwrap_or("");
    match o["url"].as_str() {
        Some(url) if !url.is_empty() => format!("URL: {url}\n{body}"),
        _ => body.to_string(),
    }
}

pub fn read(v: &Value, source: SourceRef) -> Result<Trajectory, String> {
    let items = v["content"]
        .as_array()
        .ok_or("ADP trajectory without a content list")?;
    let mut question = None;
    let mut steps: Vec<Step> = Vec::new();
    let mut final_answer = None;
    for (i, c) in items.iter().enumerate() {
        let class = c["class_"].as_str().unwrap_or("");
        let reasoning = [c["reasoning_content"].as_str(), c["description"].as_str()]
            .into_iter()
            .flatten()
            .filter(|s| !s.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n\n");
        match class {
            "text_observation" | "web_observation" | "image_observation" => {
                let text = if class == "web_observation" {
                    web_text(c)
                } else {
                    content_text(&c["content"])
                };
                if question.is_none() && class == "text_observation" {
                    question = Some(swe_agent_issue(&text));
                    continue;
                }
                let content = swe_agent_observation(&text);
                if content.trim() == "Task completed successfully." {
                    continue;
                }
                let obs = Observation {
                    content,
                    is_error: false,
                };
                if !attach_to_last(&mut steps, obs.clone()) {
                    // a user turn or an unsolicited observation: kept as context
                    steps.push(Step {
                        observation: Some(obs),
                        ..Default::default()
                    });
                }
            }
            "api_action" => {
                let name = c["function"].as_str().ok_or(format!(
                    "content item {i}: api_action without a function name"
                ))?;
                steps.push(Step {
                    reasoning,
                    call: Some(ToolCall {
                        name: name.to_string(),
                        args: clean_kwargs(&c["kwargs"]),
                        id: None,
                    }),
                    ..Default::default()
                });
            }
            "code_action" => {
                let lang = c["language"].as_str().unwrap_or("code");
                let code = c["content"].as_str().unwrap_or("").to_string();
                let (name, key) = match lang {
                    "bash" | "sh" | "shell" => ("bash", "command"),
                    other => (other, "code"),
                };
                steps.push(Step {
                    reasoning,
                    call: Some(ToolCall {
                        name: name.to_string(),
                        args: serde_json::json!({ key: code }),
                        id: None,
                    }),
                    ..Default::default()
                });
            }
            "message_action" => {
                let text = content_text(&c["content"]);
                if is_boilerplate_finish(&text) {
                    continue;
                }
                let text = finish_text(&text);
                final_answer = Some(text.clone());
                steps.push(Step {
                    text,
                    reasoning,
                    ..Default::default()
                });
            }
            other => {
                return Err(format!(
                    "content item {i}: unknown class_ {other:?} (expected one of {})",
                    CLASSES.join(", ")
                ))
            }
        }
    }
    let question = question
        .filter(|q| !q.is_empty())
        .ok_or("ADP trajectory without a text_observation with the task")?;
    if steps.is_empty() {
        return Err("ADP trajectory without actions".into());
    }
    Ok(Trajectory {
        id: v["id"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| source.to_string()),
        source_format: "adp".into(),
        source,
        question,
        system: None,
        steps,
        final_answer,
        patch: v["details"]["generated_patch"]
            .as_str()
            .and_then(clean_patch),
        verified: v["details"]["resolved"]
            .as_bool()
            .or(v["details"]["target"].as_bool()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kwargs_lose_one_level_of_quotes() {
        let k = serde_json::json!({"file_name": "\"image.py\"", "start_line": 5, "text": "'a'"});
        assert_eq!(
            clean_kwargs(&k),
            serde_json::json!({"file_name": "image.py", "start_line": 5, "text": "a"})
        );
    }

    #[test]
    fn finish_boilerplate() {
        assert!(is_boilerplate_finish(
            "<finish> I did it! The task is now complete. </finish>"
        ));
        assert_eq!(finish_text("<finish> 42 </finish>"), "42");
    }
}
