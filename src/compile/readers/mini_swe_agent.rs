//! mini-swe-agent `.traj.json` (`trajectory_format: "mini-swe-agent-…"`): OpenAI
//! style `messages[]` whose tool results read
//! `<returncode>N</returncode>\n<output>…</output>` (unwrapped here; a non-zero
//! return code, or `extra.returncode`, marks an error); the question is the PR
//! description inside the first user message; the patch is the content of the
//! final `role:"exit"` message (else `info.submission`).

use serde_json::Value;

use super::chat::{self, Msg, Role};
use super::util::{between, clean_patch, normalize_newlines};
use super::{Reject, RejectKind};
use crate::compile::trajectory::{content_text, SourceRef, ToolCall, Trajectory};

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

pub fn read(v: &Value, source: SourceRef) -> Result<Trajectory, Reject> {
    let msgs = v["messages"]
        .as_array()
        .ok_or("mini-swe-agent trajectory without a messages list")?;
    let mut walked: Vec<Msg> = Vec::with_capacity(msgs.len());
    let mut asked = false;
    let mut exit_patch = None;
    for (i, m) in msgs.iter().enumerate() {
        let text = content_text(&m["content"]);
        match m["role"].as_str().unwrap_or("") {
            "system" => walked.push(Msg::new(Role::System, text)),
            "user" if !asked => {
                asked = true;
                walked.push(Msg::new(Role::User, question(&text)));
            }
            role @ ("tool" | "user") => {
                // `<returncode>N</returncode><output>…</output>`: a non-zero code is an error
                let (code, content) = unwrap_output(&text);
                let code = m["extra"]["returncode"].as_i64().or(code);
                let mut r = Msg::new(
                    if role == "tool" {
                        Role::Tool
                    } else {
                        Role::User
                    },
                    content,
                );
                r.is_error = code.is_some_and(|c| c != 0);
                r.call_id = m["tool_call_id"].as_str().map(str::to_owned);
                r.at = Some(i);
                walked.push(r);
            }
            "assistant" => {
                let Some(mut a) = Msg::openai(m, i)? else {
                    continue;
                };
                // text-based mini-swe-agent: the command is the fenced block
                if a.calls.is_empty() {
                    if let Some(c) = command(&text) {
                        a.calls.push(ToolCall {
                            name: "bash".into(),
                            args: serde_json::json!({ "command": c }),
                            id: None,
                        });
                    }
                }
                walked.push(a);
            }
            "exit" => exit_patch = clean_patch(&text),
            _ => {}
        }
    }
    let chat = chat::walk(walked)?;
    let question = chat
        .question
        .filter(|q| !q.is_empty())
        .ok_or("mini-swe-agent trajectory without a user message (the task)")?;
    if chat.steps.iter().all(|s| s.call.is_none()) {
        return Err("mini-swe-agent trajectory without commands".into());
    }
    let patch = exit_patch.or_else(|| v["info"]["submission"].as_str().and_then(clean_patch));
    // the submit command prints the diff; a submission without one submitted nothing
    let submitted = chat.steps.iter().rev().find_map(|s| {
        let c = s.call.as_ref()?;
        let cmd = c.args["command"].as_str()?;
        cmd.contains("COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT")
            .then(|| s.observation.as_ref().map(|o| o.content.clone()))
    });
    if let Some(out) = submitted {
        let diff = out.is_some_and(|o| o.contains("diff --git"));
        if patch.is_none() && !diff {
            return Err(Reject::new(
                RejectKind::NoAnswer,
                "the agent submitted, but the submission holds no patch (no diff after the submit command)",
            ));
        }
    }
    Ok(Trajectory {
        id: v["instance_id"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| source.to_string()),
        source_format: "mini-swe-agent".into(),
        source,
        question,
        system: chat.system,
        steps: chat.steps,
        final_answer: None,
        patch,
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
