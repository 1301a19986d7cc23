//! Tool calls written inside assistant text, and one post-pass that turns
//! them into call steps of the canonical [`Trajectory`].
//!
//! Two conventions:
//! - `<function=NAME>\n<parameter=KEY>\nVALUE\n</parameter>…</function>`
//!   (OpenHands / SWE-smith non-native function calling, Spider2
//!   `final_messages`; also wrapped in `<tool_call>…</tool_call>`), answered
//!   by the next user/tool message, often prefixed `OBSERVATION:` or
//!   `EXECUTION RESULT of [NAME]:`;
//! - Hermes / Qwen `<tool_call>\n{"name": …, "arguments": {…}}\n</tool_call>`,
//!   answered by `<tool_response>…</tool_response>` blocks (several per
//!   message possible, in call order).
//!
//! Only assistant text is parsed: system prompts and user instructions that
//! show the tags as examples never become calls.

use serde_json::{Map, Value};

use crate::compile::trajectory::{parse_args, Observation, Step, ToolCall, Trajectory};

/// Call names whose `answer` (or `result`, `message`) argument is the final answer.
const TERMINAL: &[&str] = &[
    "terminate",
    "finish",
    "final_answer",
    "submit_answer",
    "answer",
];

/// A `<function=NAME>` block: (name, arguments as an object of strings).
pub fn parse_function_block(block: &str) -> Option<ToolCall> {
    let rest = block.trim_start().strip_prefix("<function=")?;
    let (name, body) = rest.split_once('>')?;
    let name = name.trim();
    if name.is_empty() || name.contains(char::is_whitespace) {
        return None;
    }
    let closed = body.contains("</function>");
    let body = body.split("</function>").next().unwrap_or(body);
    let mut args = Map::new();
    let mut rest = body;
    while let Some(start) = rest.find("<parameter=") {
        let after = &rest[start + "<parameter=".len()..];
        let (key, tail) = after.split_once('>')?;
        let (value, next) = match tail.find("</parameter>") {
            Some(end) => (&tail[..end], &tail[end + "</parameter>".len()..]),
            None => (tail, ""),
        };
        let value = value.strip_prefix('\n').unwrap_or(value);
        let value = value.strip_suffix('\n').unwrap_or(value);
        args.insert(key.trim().to_string(), Value::String(value.to_string()));
        rest = next;
    }
    // an unclosed block counts only when it carries parameters (a mention in prose does not)
    if !closed && args.is_empty() {
        return None;
    }
    Some(ToolCall {
        name: name.to_string(),
        args: Value::Object(args),
        id: None,
    })
}

/// The JSON body of a Hermes `<tool_call>` block: `{"name", "arguments"|"parameters"}`.
pub fn parse_json_call(body: &str) -> Option<ToolCall> {
    let v: Value = serde_json::from_str(body.trim()).ok()?;
    let name = v.get("name")?.as_str()?.trim();
    if name.is_empty() {
        return None;
    }
    let args = v
        .get("arguments")
        .or_else(|| v.get("parameters"))
        .map(parse_args)
        .unwrap_or(Value::Object(Map::new()));
    Some(ToolCall {
        name: name.to_string(),
        args,
        id: v.get("id").and_then(Value::as_str).map(str::to_owned),
    })
}

/// The calls written in `text`, in order, and the text outside them (trimmed,
/// segments joined by blank lines). `None` when the text holds no well-formed call.
pub fn parse_calls(text: &str) -> Option<(String, Vec<ToolCall>)> {
    let mut calls = Vec::new();
    let mut outside: Vec<&str> = Vec::new();
    let mut rest = text;
    loop {
        let tc = rest.find("<tool_call>");
        let fc = rest.find("<function=");
        let start = match (tc, fc) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => break,
        };
        let (call, end) = if tc == Some(start) {
            let inner = &rest[start + "<tool_call>".len()..];
            let (body, used) = match inner.find("</tool_call>") {
                Some(e) => (&inner[..e], e + "</tool_call>".len()),
                None => (inner, inner.len()),
            };
            let call = if body.trim_start().starts_with("<function=") {
                parse_function_block(body)
            } else {
                parse_json_call(body)
            };
            (call, start + "<tool_call>".len() + used)
        } else {
            let inner = &rest[start..];
            // the closing tag may be missing when generation stopped on `</function`
            let used = inner
                .find("</function>")
                .map(|e| e + "</function>".len())
                .unwrap_or(inner.len());
            (parse_function_block(&inner[..used]), start + used)
        };
        match call {
            Some(c) => {
                outside.push(&rest[..start]);
                calls.push(c);
                rest = &rest[end..];
            }
            None => {
                // not a well-formed call: keep it as text and look further on
                let skip = start + 1;
                outside.push(&rest[..skip]);
                rest = &rest[skip..];
            }
        }
    }
    if calls.is_empty() {
        return None;
    }
    outside.push(rest);
    let joined = outside.concat();
    let text = joined
        .split("\n\n")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    Some((text, calls))
}

/// Whether a tool result reads as an error.
pub fn looks_like_error(s: &str) -> bool {
    let s = s.trim_start();
    s.starts_with("SQL Error") || s.starts_with("ERROR:") || s.starts_with("Error:")
}

/// A result without its `OBSERVATION:` / `EXECUTION RESULT of [NAME]:` prefix.
pub fn strip_result_prefix(s: &str) -> &str {
    if let Some(r) = s.strip_prefix("OBSERVATION:") {
        return r.strip_prefix('\n').unwrap_or(r.trim_start_matches(' '));
    }
    if let Some(r) = s.strip_prefix("EXECUTION RESULT of [") {
        if let Some((_, body)) = r.split_once("]:") {
            return body
                .strip_prefix('\n')
                .unwrap_or(body.trim_start_matches(' '));
        }
    }
    s
}

/// The results in one observation message: each `<tool_response>` block in
/// order, else the whole text without its result prefix.
pub fn split_results(content: &str) -> Vec<Observation> {
    let obs = |s: &str| Observation {
        content: s.trim().to_string(),
        is_error: looks_like_error(s),
    };
    if !content.contains("<tool_response>") {
        return vec![obs(strip_result_prefix(content.trim_start()))];
    }
    let mut out = Vec::new();
    let mut rest = content;
    while let Some(s) = rest.find("<tool_response>") {
        let inner = &rest[s + "<tool_response>".len()..];
        let (body, next) = match inner.find("</tool_response>") {
            Some(e) => (&inner[..e], &inner[e + "</tool_response>".len()..]),
            None => (inner, ""),
        };
        out.push(obs(strip_result_prefix(body.trim_start())));
        rest = next;
    }
    out
}

/// Whether the last assistant step holds text calls still waiting for their
/// results (readers then keep a result message instead of refusing it).
pub fn awaiting_results(steps: &[Step]) -> bool {
    steps
        .iter()
        .rev()
        .find(|s| !(s.call.is_none() && s.text.is_empty() && s.observation.is_some()))
        .is_some_and(|s| {
            s.call.is_none() && s.observation.is_none() && parse_calls(&s.text).is_some()
        })
}

fn is_result_only(s: &Step) -> bool {
    s.call.is_none() && s.observation.is_some() && s.text.trim().is_empty()
}

/// Whether a call ends the run (it needs no result): a terminal call, or a
/// submit / terminate / exit / respond-to-user action.
pub fn ends_run(name: &str) -> bool {
    let n = name.to_lowercase();
    TERMINAL.contains(&n.as_str())
        || matches!(
            n.as_str(),
            "submit" | "terminate" | "exit" | "respond" | "give_answer" | "stop" | "done"
        )
}

/// The answer a terminal call (`finish`, `final_answer`, …) carries.
pub fn terminal_answer(c: &ToolCall) -> Option<String> {
    if !TERMINAL.contains(&c.name.to_lowercase().as_str()) {
        return None;
    }
    ["answer", "result", "message"]
        .iter()
        .find_map(|k| c.args.get(*k).and_then(Value::as_str))
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
}

/// The post-pass: an assistant step with no structured call whose text holds
/// calls becomes call steps (the text outside the calls stays on the first);
/// the result-only steps that follow become their observations, in order.
pub fn lift(t: &mut Trajectory) {
    let steps = std::mem::take(&mut t.steps);
    let mut out: Vec<Step> = Vec::with_capacity(steps.len());
    let mut lifted_texts: Vec<String> = Vec::new();
    let mut last_lifted_answer: Option<Option<String>> = None;
    let mut it = steps.into_iter().peekable();
    while let Some(s) = it.next() {
        let parsed = if s.call.is_none() && s.observation.is_none() {
            parse_calls(&s.text)
        } else {
            None
        };
        let Some((outside, calls)) = parsed else {
            out.push(s);
            continue;
        };
        let first = out.len();
        last_lifted_answer = Some(calls.last().and_then(terminal_answer));
        for (k, c) in calls.into_iter().enumerate() {
            out.push(Step {
                text: if k == 0 {
                    outside.clone()
                } else {
                    String::new()
                },
                reasoning: if k == 0 {
                    s.reasoning.clone()
                } else {
                    String::new()
                },
                call: Some(c),
                observation: None,
            });
        }
        let mut next = first;
        while let Some(r) = it.next_if(is_result_only) {
            let Some(o) = r.observation else { continue };
            for mut res in split_results(&o.content) {
                res.is_error |= o.is_error;
                if let Some(step) = out.get_mut(next) {
                    step.observation = Some(res);
                    next += 1;
                } else {
                    out.push(Step {
                        observation: Some(res),
                        ..Default::default()
                    });
                }
            }
        }
        lifted_texts.push(s.text);
    }
    t.steps = out;
    // a final answer taken from a message that was really a call is no answer
    let from_call = last_lifted_answer.flatten();
    match &t.final_answer {
        Some(fa) if lifted_texts.iter().any(|x| x == fa) => t.final_answer = from_call,
        None if from_call.is_some() => t.final_answer = from_call,
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::trajectory::SourceRef;
    use serde_json::json;

    #[test]
    fn function_block_with_multiline_parameters() {
        let c = parse_function_block(
            "<function=str_replace_editor>\n<parameter=command>\nview\n</parameter>\n<parameter=path>\n/testbed/a.py\n</parameter>\n<parameter=new_str>\nline 1\nline 2\n</parameter>\n</function>",
        )
        .unwrap();
        assert_eq!(c.name, "str_replace_editor");
        assert_eq!(
            c.args,
            json!({"command": "view", "path": "/testbed/a.py", "new_str": "line 1\nline 2"})
        );
    }

    #[test]
    fn text_outside_calls_is_kept_and_calls_are_in_order() {
        let text = "Let me look.\n\n<function=execute_bash>\n<parameter=command>\nls\n</parameter>\n</function>\n\n<tool_call>\n{\"name\": \"search\", \"arguments\": \"{\\\"query\\\": \\\"x\\\"}\"}\n</tool_call>";
        let (outside, calls) = parse_calls(text).unwrap();
        assert_eq!(outside, "Let me look.");
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].name, "execute_bash");
        assert_eq!(calls[0].args, json!({"command": "ls"}));
        assert_eq!(calls[1].name, "search");
        assert_eq!(calls[1].args, json!({"query": "x"}));
    }

    #[test]
    fn tool_call_wrapping_a_function_block_and_a_missing_closing_tag() {
        let (_, calls) = parse_calls(
            "<tool_call>\n<function=execute_bash>\n<parameter=command>\nls USFS_FIA\n</parameter>\n</function>\n</tool_call>",
        )
        .unwrap();
        assert_eq!(calls[0].name, "execute_bash");
        assert_eq!(calls[0].args, json!({"command": "ls USFS_FIA"}));
        let (_, calls) = parse_calls("ok\n<function=finish>\n<parameter=message>\ndone\n").unwrap();
        assert_eq!(calls[0].args, json!({"message": "done"}));
    }

    #[test]
    fn mentions_of_the_tags_are_not_calls() {
        assert!(parse_calls("Reply with <tool_call> tags and a JSON object.").is_none());
        assert!(parse_calls("use <function=example_function_name> like this").is_none());
        assert!(parse_calls("<tool_call>\nnot json\n</tool_call>").is_none());
    }

    #[test]
    fn results_are_split_and_prefixes_stripped() {
        let r = split_results("<tool_response>\n{\"a\": 1}\n</tool_response>\n<tool_response>\nERROR: no such file\n</tool_response>");
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].content, "{\"a\": 1}");
        assert!(!r[0].is_error);
        assert!(r[1].is_error);
        let r = split_results("EXECUTION RESULT of [execute_snowflake_sql]:\nSQL Error: 000904");
        assert_eq!(r[0].content, "SQL Error: 000904");
        assert!(r[0].is_error);
        assert_eq!(
            split_results("OBSERVATION:\nfile.txt")[0].content,
            "file.txt"
        );
    }

    fn traj(steps: Vec<Step>, final_answer: Option<&str>) -> Trajectory {
        Trajectory {
            id: "t".into(),
            source_format: "openai".into(),
            source: SourceRef {
                file: "f".into(),
                record: 1,
                part: None,
            },
            question: "q".into(),
            system: None,
            steps,
            final_answer: final_answer.map(str::to_owned),
            patch: None,
            verified: None,
        }
    }

    fn text(s: &str) -> Step {
        Step {
            text: s.into(),
            ..Default::default()
        }
    }

    fn result(s: &str) -> Step {
        Step {
            observation: Some(Observation {
                content: s.into(),
                is_error: false,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn lift_pairs_results_with_calls_in_order() {
        let call = "Two at once.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"name\": \"b\", \"arguments\": {}}\n</tool_call>";
        let mut t = traj(
            vec![
                text(call),
                result(
                    "<tool_response>\nA\n</tool_response>\n<tool_response>\nB\n</tool_response>",
                ),
                text("The answer is AB."),
            ],
            Some("The answer is AB."),
        );
        lift(&mut t);
        assert_eq!(t.steps.len(), 3);
        assert_eq!(t.steps[0].text, "Two at once.");
        assert_eq!(t.steps[0].call.as_ref().unwrap().name, "a");
        assert_eq!(t.steps[0].observation.as_ref().unwrap().content, "A");
        assert_eq!(t.steps[1].call.as_ref().unwrap().name, "b");
        assert_eq!(t.steps[1].observation.as_ref().unwrap().content, "B");
        assert_eq!(t.final_answer.as_deref(), Some("The answer is AB."));
    }

    #[test]
    fn a_final_call_is_no_answer_unless_it_terminates() {
        let call = "<function=execute_bash>\n<parameter=command>\nls\n</parameter>\n</function>";
        let mut t = traj(vec![text(call)], Some(call));
        lift(&mut t);
        assert_eq!(t.final_answer, None);
        let call = "<function=terminate>\n<parameter=answer>\nSELECT 1\n</parameter>\n</function>";
        let mut t = traj(vec![text(call)], Some(call));
        lift(&mut t);
        assert_eq!(t.final_answer.as_deref(), Some("SELECT 1"));
    }

    #[test]
    fn awaiting_results_sees_only_open_text_calls() {
        let call = "<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>";
        assert!(awaiting_results(&[text(call)]));
        assert!(awaiting_results(&[text(call), result("x")]));
        assert!(!awaiting_results(&[text("plain")]));
    }
}
