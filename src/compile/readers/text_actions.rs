//! Actions written as plain text by AgentBench / AgentInstruct agents, one
//! per agent turn, answered by the next user turn:
//! - HTTP: `GET url` / `POST url` + a JSON body; `FINISH([...])` answers;
//! - SQL: `Action: Operation` + a ```` ```sql ```` block; `Action: Answer` +
//!   `Final Answer: [...]` answers;
//! - shell: `Act: bash` + a ```` ```bash ```` block; `Act: answer(...)` or
//!   `Act: finish` ends the run;
//! - function style: `Action: name(args)` or `Action: name[args]`;
//!   `Final Answer: …` answers.

use serde_json::{json, Value};

use crate::compile::trajectory::ToolCall;

/// What one agent turn does.
#[derive(Debug, Clone, PartialEq)]
pub enum TextAction {
    Call(ToolCall),
    /// The run's answer (possibly empty: `Act: finish`).
    Finish(String),
}

fn call(name: &str, args: Value) -> TextAction {
    TextAction::Call(ToolCall {
        name: name.to_string(),
        args,
        id: None,
    })
}

/// The body of the first ```` ```lang ```` fenced block after `from`.
fn fenced<'a>(text: &'a str, langs: &[&str]) -> Option<&'a str> {
    let mut rest = text;
    while let Some(at) = rest.find("```") {
        let after = &rest[at + 3..];
        let (lang, body) = after.split_once('\n')?;
        let end = body.find("```").unwrap_or(body.len());
        if langs.contains(&lang.trim()) {
            return Some(body[..end].trim());
        }
        rest = &body[(end + 3).min(body.len())..];
    }
    None
}

/// The text inside the outermost parentheses after `prefix` (`FINISH(…)`).
fn call_args<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let at = text.find(prefix)?;
    let inner = &text[at + prefix.len()..];
    let end = inner.rfind(')')?;
    Some(inner[..end].trim())
}

/// The action of one agent turn, if it writes one.
pub fn parse(text: &str) -> Option<TextAction> {
    let t = text.trim();
    if let Some(args) = call_args(t, "FINISH(") {
        return Some(TextAction::Finish(args.to_string()));
    }
    if let Some((_, ans)) = t.rsplit_once("Final Answer:") {
        if t.contains("Action: Answer") || !t.contains("Action:") {
            return Some(TextAction::Finish(ans.trim().to_string()));
        }
    }
    for line in t.lines() {
        let line = line.trim();
        if let Some(url) = line.strip_prefix("GET ") {
            return Some(call("http_get", json!({ "url": url.trim() })));
        }
        if let Some(url) = line.strip_prefix("POST ") {
            let body = t.split_once(line).map_or("", |(_, b)| b.trim());
            return Some(call(
                "http_post",
                json!({ "url": url.trim(), "body": serde_json::from_str::<Value>(body).unwrap_or(json!(body)) }),
            ));
        }
    }
    if t.contains("Action: Operation") {
        return fenced(t, &["sql", "SQL", ""]).map(|q| call("sql", json!({ "sql": q })));
    }
    if let Some(act) = t.split("Act:").nth(1).map(str::trim) {
        if act.starts_with("bash") {
            return fenced(t, &["bash", "sh", ""]).map(|c| call("bash", json!({ "command": c })));
        }
        if let Some(args) = call_args(act, "answer(") {
            return Some(TextAction::Finish(args.to_string()));
        }
        if act.starts_with("finish") {
            return Some(TextAction::Finish(String::new()));
        }
    }
    let action = t
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("Action:"))
        .map(str::trim)?;
    let open = action.find(['(', '['])?;
    let name = action[..open].trim();
    if name.is_empty() || name.contains(char::is_whitespace) {
        return None;
    }
    let close = if &action[open..open + 1] == "(" {
        ')'
    } else {
        ']'
    };
    let inner = action[open + 1..].trim_end().strip_suffix(close)?;
    Some(call(name, json!({ "input": inner.trim() })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn called(t: &str) -> (String, Value) {
        match parse(t) {
            Some(TextAction::Call(c)) => (c.name, c.args),
            other => panic!("{t}: {other:?}"),
        }
    }

    #[test]
    fn each_dialect() {
        assert_eq!(
            called("GET http://h/fhir/Observation?code=A1C"),
            (
                "http_get".into(),
                json!({"url": "http://h/fhir/Observation?code=A1C"})
            )
        );
        assert_eq!(
            called("POST http://h/fhir/ServiceRequest\n{\"a\": 1}").1["body"],
            json!({"a": 1})
        );
        assert_eq!(
            parse("FINISH([6.1, \"2023-10-13\"])"),
            Some(TextAction::Finish("[6.1, \"2023-10-13\"]".into()))
        );
        assert_eq!(
            called("I will look.\nAction: Operation\n```sql\nSELECT * FROM t;\n```"),
            ("sql".into(), json!({"sql": "SELECT * FROM t;"}))
        );
        assert_eq!(
            parse("Done.\nAction: Answer\nFinal Answer: [\"none\"]"),
            Some(TextAction::Finish("[\"none\"]".into()))
        );
        assert_eq!(
            called("Think: list.\n\nAct: bash\n\n```bash\nls /etc\n```"),
            ("bash".into(), json!({"command": "ls /etc"}))
        );
        assert_eq!(
            parse("Act: answer(42)"),
            Some(TextAction::Finish("42".into()))
        );
        assert_eq!(
            called("Thought: relations.\nAction: get_relations(Barack Obama)"),
            ("get_relations".into(), json!({"input": "Barack Obama"}))
        );
        assert_eq!(
            called("Action: search[red shoes]"),
            ("search".into(), json!({"input": "red shoes"}))
        );
        assert_eq!(parse("Ok."), None);
    }
}
