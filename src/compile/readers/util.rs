//! Small text and linking helpers shared by the SWE-style readers: unwrap the
//! issue from prompt wrappers, strip SWE-agent's shell-prompt footer, normalise
//! line endings, and pair a tool result with the call it answers.

use crate::compile::trajectory::{Observation, Step};

/// `\r\n` (and lone `\r`) to `\n`.
pub fn normalize_newlines(s: &str) -> String {
    if s.contains('\r') {
        s.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        s.to_string()
    }
}

/// The text between `start` and `end` (the first `end` after `start`), trimmed;
/// `None` when `start` is missing. A missing `end` takes the rest of the text.
pub fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let (_, rest) = text.split_once(start)?;
    let inner = rest.split_once(end).map(|(a, _)| a).unwrap_or(rest);
    Some(inner.trim())
}

/// The issue of a SWE-agent prompt (`ISSUE:\n…\n\nINSTRUCTIONS:`), or the whole text.
pub fn swe_agent_issue(text: &str) -> String {
    let text = normalize_newlines(text);
    match between(&text, "ISSUE:\n", "\n\nINSTRUCTIONS:") {
        Some(issue) if !issue.is_empty() => issue.to_string(),
        _ => strip_shell_footer(&text).trim().to_string(),
    }
}

/// Strips SWE-agent's `\n(Open file: …)\n(Current directory: …)\nbash-$` footer.
pub fn strip_shell_footer(text: &str) -> String {
    let t = text.trim_end();
    let Some(body) = t.strip_suffix("bash-$") else {
        return text.to_string();
    };
    let Some(pos) = body.rfind("(Open file:") else {
        return text.to_string();
    };
    let footer = &body[pos..];
    if !footer.contains("(Current directory:") {
        return text.to_string();
    }
    body[..pos].trim_end_matches(['\n', '\r']).to_string()
}

/// A SWE-agent observation as the agent read it: CRLF normalised, footer stripped.
pub fn swe_agent_observation(text: &str) -> String {
    strip_shell_footer(&normalize_newlines(text))
}

/// A patch with CRLF normalised and surrounding blank lines removed (one final newline).
pub fn clean_patch(p: &str) -> Option<String> {
    let p = normalize_newlines(p);
    let p = p.trim_matches('\n');
    (!p.trim().is_empty()).then(|| format!("{p}\n"))
}

/// Puts `obs` on the nearest preceding step whose call has id `id` and no result yet
/// (ids can be reused, as in SWE-agent replays). Returns false when there is none.
pub fn attach_by_id(steps: &mut [Step], id: &str, obs: Observation) -> bool {
    match steps.iter_mut().rev().find(|s| {
        s.observation.is_none() && s.call.as_ref().and_then(|c| c.id.as_deref()) == Some(id)
    }) {
        Some(s) => {
            s.observation = Some(obs);
            true
        }
        None => false,
    }
}

/// Puts `obs` on the last step if it is a call still waiting for its result
/// (adjacency pairing). Returns false otherwise.
pub fn attach_to_last(steps: &mut [Step], obs: Observation) -> bool {
    match steps.last_mut() {
        Some(s) if s.call.is_some() && s.observation.is_none() => {
            s.observation = Some(obs);
            true
        }
        _ => false,
    }
}

/// Strips one level of matching surrounding quotes (`"x"` or `'x'`).
pub fn unquote(s: &str) -> &str {
    for q in ['"', '\''] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            return &s[1..s.len() - 1];
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::trajectory::ToolCall;

    #[test]
    fn issue_between_wrappers() {
        let q = "We're solving:\nISSUE:\nBug in x\r\nmore\n\n\nINSTRUCTIONS:\nDo it\n(Open file: n/a)\n(Current directory: /r)\nbash-$";
        assert_eq!(swe_agent_issue(q), "Bug in x\nmore");
        assert_eq!(swe_agent_issue("plain question"), "plain question");
    }

    #[test]
    fn footer_stripped_only_when_complete() {
        assert_eq!(
            swe_agent_observation("344\r\n(Open file: /a.py)\n(Current directory: /t)\nbash-$"),
            "344"
        );
        assert_eq!(strip_shell_footer("ends with bash-$"), "ends with bash-$");
        assert_eq!(strip_shell_footer("no footer"), "no footer");
    }

    #[test]
    fn patch_cleanup() {
        assert_eq!(
            clean_patch("\r\ndiff --git a/x b/x\r\n+y\r\n\n").as_deref(),
            Some("diff --git a/x b/x\n+y\n")
        );
        assert_eq!(clean_patch("\n \n"), None);
    }

    #[test]
    fn reused_ids_pair_with_nearest_open_call() {
        let call = |id: &str, n: &str| Step {
            call: Some(ToolCall {
                name: n.into(),
                args: serde_json::json!({}),
                id: Some(id.into()),
            }),
            ..Default::default()
        };
        let obs = |c: &str| Observation {
            content: c.into(),
            is_error: false,
        };
        let mut steps = vec![call("a", "first")];
        assert!(attach_by_id(&mut steps, "a", obs("1")));
        steps.push(call("a", "second"));
        assert!(attach_by_id(&mut steps, "a", obs("2")));
        assert_eq!(steps[1].observation.as_ref().unwrap().content, "2");
        assert!(!attach_by_id(&mut steps, "a", obs("3")));
    }

    #[test]
    fn unquote_one_level() {
        assert_eq!(unquote("\"image.py\""), "image.py");
        assert_eq!(unquote("'\"x\"'"), "\"x\"");
        assert_eq!(unquote("5"), "5");
        assert_eq!(unquote("\""), "\"");
    }
}
