//! LLaMA-Factory v1 rows `{"messages": [{role, content: [{type: "text" |
//! "reasoning" | "tool_call", value}], loss_weight}]}` (tool_call values are
//! JSON `{name, arguments}`; role "tool" answers them in order), and the two
//! LLaMA-Factory files that hold no conversations: the dataset registry
//! (`dataset_info.json`) and the v1 dataset config (YAML), refused with a reason.

use serde_json::Value;

use super::chat::{self, Msg, Role};
use crate::compile::trajectory::{parse_args, SourceRef, ToolCall, Trajectory};

pub const REGISTRY_REASON: &str = "LLaMA-Factory dataset registry (dataset_info.json): maps dataset names to files and columns; contains no conversations";
pub const CONFIG_REASON: &str =
    "LLaMA-Factory v1 dataset config (YAML): lists data sources; contains no conversations";

/// Whether a record is a v1 row: message content is a list of `{type, value}` parts.
pub fn is_v1_row(v: &Value) -> bool {
    v["messages"].as_array().is_some_and(|msgs| {
        !msgs.is_empty()
            && msgs.iter().all(|m| {
                m["content"].as_array().is_some_and(|parts| {
                    parts
                        .iter()
                        .all(|p| p.get("type").is_some() && p.get("value").is_some())
                })
            })
    })
}

/// Whether a JSON object is a dataset registry: every value names a file or hub dataset.
pub fn is_dataset_info(v: &Value) -> bool {
    v.as_object().is_some_and(|o| {
        !o.is_empty()
            && o.values().all(|e| {
                e.is_object()
                    && [
                        "file_name",
                        "hf_hub_url",
                        "ms_hub_url",
                        "om_hub_url",
                        "script_url",
                        "cloud_file_name",
                    ]
                    .iter()
                    .any(|k| e.get(*k).is_some())
            })
    })
}

/// Whether a (non-JSON) text is a v1 dataset config: YAML entries with `path:`
/// and `source:` or `converter:` keys under dataset names.
pub fn is_v1_config(text: &str) -> bool {
    let mut names = 0;
    let mut paths = 0;
    let mut kinds = 0;
    for l in text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    {
        let indented = l.starts_with(' ') || l.starts_with('\t');
        let t = l.trim();
        if !indented && t.ends_with(':') {
            names += 1;
        } else if indented && t.starts_with("path:") {
            paths += 1;
        } else if indented && (t.starts_with("source:") || t.starts_with("converter:")) {
            kinds += 1;
        } else if !indented {
            return false;
        }
    }
    names > 0 && paths > 0 && kinds > 0
}

fn parts_of<'a>(m: &'a Value, kind: &str) -> impl Iterator<Item = &'a Value> + 'a {
    let kind = kind.to_string();
    m["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |p| p["type"] == kind.as_str())
        .map(|p| &p["value"])
}

fn joined(m: &Value, kind: &str) -> String {
    parts_of(m, kind)
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn read(v: &Value, source: SourceRef) -> Result<Trajectory, String> {
    let msgs = v["messages"].as_array().ok_or("no messages list")?;
    let mut walked: Vec<Msg> = Vec::with_capacity(msgs.len());
    let mut asked = false;
    for (i, m) in msgs.iter().enumerate() {
        let n = i + 1;
        let text = joined(m, "text");
        let mut msg = match m["role"].as_str().unwrap_or("") {
            "system" => Msg::new(Role::System, text),
            "user" => {
                let role = if asked { Role::FollowUp } else { Role::User };
                asked = true;
                Msg::new(role, text)
            }
            "assistant" => {
                let mut a = Msg::new(Role::Assistant, text);
                a.reasoning = joined(m, "reasoning");
                for c in parts_of(m, "tool_call") {
                    let c = parse_args(c);
                    let name = c["name"].as_str().ok_or(format!(
                        "message {n}: tool_call value is not JSON {{name, arguments}}"
                    ))?;
                    a.calls.push(ToolCall {
                        name: name.to_string(),
                        args: parse_args(&c["arguments"]),
                        id: None,
                    });
                }
                a
            }
            "tool" => Msg::new(Role::Tool, text),
            other => return Err(format!("message {n}: unknown role `{other}`")),
        };
        msg.at = Some(n);
        walked.push(msg);
    }
    let chat = chat::walk(walked)?;
    let question = chat
        .question
        .filter(|q| !q.trim().is_empty())
        .ok_or("no user message (question)")?;
    if chat.steps.is_empty() {
        return Err("empty conversation: no assistant messages".into());
    }
    Ok(Trajectory {
        id: v["id"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| source.to_string()),
        source_format: "llamafactory".into(),
        source,
        question,
        system: chat.system.filter(|s| !s.trim().is_empty()),
        steps: chat.steps,
        final_answer: chat.final_answer,
        patch: None,
        verified: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn non_conversation_files() {
        assert!(is_v1_config(
            "identity:\n  path: data/identity.json\n  source: local\n  converter: alpaca\n"
        ));
        assert!(!is_v1_config("hello world\n"));
        assert!(is_dataset_info(
            &json!({"a": {"file_name": "a.json", "formatting": "sharegpt"}})
        ));
        assert!(!is_dataset_info(&json!({"messages": []})));
    }

    #[test]
    fn rows() {
        assert!(is_v1_row(
            &json!({"messages": [{"role": "user", "content": [{"type": "text", "value": "hi"}], "loss_weight": 0.0}]})
        ));
        assert!(!is_v1_row(
            &json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]})
        ));
    }
}
