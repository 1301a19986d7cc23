//! mini-swe-agent `.traj.json` (`trajectory_format: "mini-swe-agent-…"`): OpenAI
//! style `messages[]` whose tool results read
//! `<returncode>N</returncode>\n<output>…</output>` (unwrapped here; a non-zero
//! return code, or `extra.returncode`, marks an error); the question is the PR
//! description inside the first user message; the patch is the content of the
//! final `role:"exit"` message (else `info.submission`).

use serde_json::Value;

use super::util::{attach_by_id, attach_to_last, between, clean_patch, normalize_newlines};
use crate::compile::trajectory::{
    content_text, parse_args, Observation, SourceRef, Step, ToolCall, Trajectory,
};

/// Whether `v` is a mini-swe-agent trajectory.
pub fn detect(v: &Value) -> bool {
    v["trajectory_format"]
        .as_str()
        .is_some_and(|f| f.starts_with("mini-swe-agent"))
        || (v["messages"].is_array() && v["info"]["mini_version"].is_string())
        || is_messages_only(v)
}

/// A saved `messages` list of a text-based mini-swe-agent run: command
/// results come back as user turns `<returncode>N</returncode>…`.
fn is_messages_only(v: &Value) -> bool {
    v["messages"].as_array().is_some_and(|m| {
        m.iter().any(|x| {
            x["role"] == "user"
                && x["content"]
                    .as_str()
                    .is_some_and(|c| c.trim_start().starts_with("<returncode>"))
        })
    })
}

/// The command of a text-based turn: its last ```` ```bash ```` (or
/// ```` ```mswea_bash_command ````, ```` ```sh ````) block.
fn command(text: &str) -> Option<String> {
    ["```bash\n", "```mswea_bash_command\n", "```sh\n"]
        .iter()
        .filter_map(|fence| {
            let (before, r) = text.rsplit_once(fence)?;
            let (c, _) = r.split_once("```")?;
            Some((before.len(), c.trim().to_string()))
        })
        .max_by_key(|(at, _)| *at)
        .map(|(_, c)| c)
}

/// Splits `<returncode>N</returncode>\n<output>…</output>` into (N, output);
/// `<exception>` / `<warning>` blocks stay in the text. Other text is returned whole.
pub fn unwrap_output(text: &str) -> (Option<i64>, String) {
    let text = normalize_newlines(text);
    let code = between(&text, "<returncode>", "</returncode>").and_then(|c| c.parse().ok());
    let Some(code) = code else {
        return (None, text);
    };
    let rest = text
        .split_once("</returncode>")
        .map(|(_, r)| r)
        .unwrap_or("");
    let out = match rest.split_once("<output>") {
        Some((before, after)) => {
            let (inner, tail) = match after.rfind("</output>") {
                Some(p) => (&after[..p], &after[p + "</output>".len()..]),
                None => (after, ""),
            };
            let inner = inner.strip_prefix('\n').unwrap_or(inner);
            let inner = inner.strip_suffix('\n').unwrap_or(inner);
            [before.trim(), inner, tail.trim()]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join("\n")
        }
        None => rest.trim().to_string(),
    };
    (Some(code), out)
}

/// The PR description of the task prompt, or the whole prompt.
fn question(text: &str) -> String {
    let text = normalize_newlines(text);
    between(
        &text,
        "Consider the following PR description:\n",
        "</pr_description>",
    )
    .or_else(|| between(&text, "<pr_description>", "</pr_description>"))
    .or_else(|| between(&text, "Please solve this issue: ", "\n\nYou can execute"))
    .filter(|q| !q.is_empty())
    .map(str::to_owned)
    .unwrap_or_else(|| text.trim().to_string())
}

pub fn read(v: &Value, source: SourceRef) -> Result<Trajectory, String> {
    let msgs = v["messages"]
        .as_array()
        .ok_or("mini-swe-agent trajectory without a messages list")?;
    let mut system = None;
    let mut q = None;
    let mut steps: Vec<Step> = Vec::new();
    let mut exit_patch = None;
    for (i, m) in msgs.iter().enumerate() {
        let text = content_text(&m["content"]);
        match m["role"].as_str().unwrap_or("") {
            "system" if system.is_none() => system = Some(text),
            "user" if q.is_none() => q = Some(question(&text)),
            "assistant" => {
                let calls = m["tool_calls"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                if calls.is_empty() {
                    // text-based mini-swe-agent: the command is the ```bash block
                    let cmd = command(&text);
                    steps.push(Step {
                        text: text.clone(),
                        call: cmd.map(|c| ToolCall {
                            name: "bash".into(),
                            args: serde_json::json!({ "command": c }),
                            id: None,
                        }),
                        ..Default::default()
                    });
                }
                for (k, c) in calls.iter().enumerate() {
                    let f = c.get("function").unwrap_or(c);
                    let name = f["name"]
                        .as_str()
                        .ok_or(format!("message {i}: tool call {k} without function.name"))?;
                    steps.push(Step {
                        text: if k == 0 { text.clone() } else { String::new() },
                        call: Some(ToolCall {
                            name: name.to_string(),
                            args: parse_args(&f["arguments"]),
                            id: c["id"].as_str().map(str::to_owned),
                        }),
                        ..Default::default()
                    });
                }
            }
            "tool" | "user" => {
                let (code, content) = unwrap_output(&text);
                let code = m["extra"]["returncode"].as_i64().or(code);
                let obs = Observation {
                    content,
                    is_error: code.is_some_and(|c| c != 0),
                };
                let linked = match m["tool_call_id"].as_str() {
                    Some(id) => attach_by_id(&mut steps, id, obs),
                    None => attach_to_last(&mut steps, obs),
                };
                if !linked && m["role"] == "tool" {
                    return Err(format!(
                        "message {i}: tool result {:?} has no preceding call waiting for it",
                        m["tool_call_id"].as_str().unwrap_or("(no tool_call_id)")
                    ));
                }
            }
            "exit" => {
                exit_patch = clean_patch(&text);
            }
            _ => {}
        }
    }
    let question = q
        .filter(|q| !q.is_empty())
        .ok_or("mini-swe-agent trajectory without a user message (the task)")?;
    if steps.iter().all(|s| s.call.is_none()) {
        return Err("mini-swe-agent trajectory without commands".into());
    }
    Ok(Trajectory {
        id: v["instance_id"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| source.to_string()),
        source_format: "mini-swe-agent".into(),
        source,
        question,
        system,
        steps,
        final_answer: None,
        patch: exit_patch.or_else(|| v["info"]["submission"].as_str().and_then(clean_patch)),
        verified: v["info"]["resolved"].as_bool(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwraps_returncode_and_output() {
        let (c, o) = unwrap_output("<returncode>1</returncode>\n<output>\nTraceback x\n</output>");
        assert_eq!(c, Some(1));
        assert_eq!(o, "Traceback x");
        let (c, o) = unwrap_output(
            "<returncode>0</returncode>\n<warning>too long</warning>\n<output>\na\nb\n</output>",
        );
        assert_eq!(c, Some(0));
        assert_eq!(o, "<warning>too long</warning>\na\nb");
        assert_eq!(unwrap_output("plain").0, None);
    }

    #[test]
    fn pr_description_question() {
        let t = "<pr_description>\nConsider the following PR description:\nFix it\r\nnow\n</pr_description>\n\n<instructions>…";
        assert_eq!(question(t), "Fix it\nnow");
    }
}
