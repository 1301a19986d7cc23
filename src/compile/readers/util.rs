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

/// The text after the line holding `marker` (the line itself dropped), when
/// the marker is there; the last occurrence wins.
fn after_marker_line<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let at = text.rfind(marker)?;
    let rest = &text[at + marker.len()..];
    Some(rest.split_once('\n').map_or("", |(_, r)| r))
}

/// The text before the first line holding `marker` (the whole text without it).
fn before_marker_line<'a>(text: &'a str, marker: &str) -> &'a str {
    match text.find(marker) {
        Some(at) => text[..at].rsplit_once('\n').map_or("", |(head, _)| head),
        None => text,
    }
}

/// The task statement of a first user turn that wraps it in an instance
/// template, or follows worked examples or a demonstration: the text of a
/// `NEW TASK DESCRIPTION` block, else what follows the last demonstration
/// or example, then unwrapped from the SWE-agent issue template
/// (`ISSUE:` … `INSTRUCTIONS:`) or a `<pr_description>` / `<issue>` block.
/// A turn with none of these is the task as it stands.
pub fn task_statement(text: &str) -> String {
    let text = normalize_newlines(text);
    let opening = text
        .match_indices("NEW TASK DESCRIPTION")
        .map(|(at, _)| at)
        .filter(|&at| !text[..at].ends_with("END OF "))
        .last();
    if let Some(at) = opening {
        let rest = text[at..].split_once('\n').map_or("", |(_, r)| r);
        let inner = before_marker_line(rest, "END OF NEW TASK DESCRIPTION").trim();
        if !inner.is_empty() {
            return inner.to_string();
        }
    }
    let mut body: &str = &text;
    for marker in [
        "END OF DEMONSTRATION",
        "END OF EXAMPLE",
        "END OF EXAMPLES",
        "--- END DEMONSTRATION ---",
    ] {
        if let Some(rest) = after_marker_line(body, marker) {
            if !rest.trim().is_empty() {
                body = rest;
            }
        }
    }
    for (start, end) in [
        ("<pr_description>", "</pr_description>"),
        ("<issue_description>", "</issue_description>"),
        ("<issue>", "</issue>"),
    ] {
        if let Some(inner) = between(body, start, end).filter(|i| !i.is_empty()) {
            return inner.to_string();
        }
    }
    // SWE-agent's templates: the issue between `ISSUE:` and `INSTRUCTIONS:`;
    // EnIGMA's challenge from `We're currently solving` to `INSTRUCTIONS:`
    if !body.contains("ISSUE:\n") {
        if let Some(at) = body.find("We're currently solving the following") {
            let task = &body[at..];
            let task = task.split("\nINSTRUCTIONS:").next().unwrap_or(task).trim();
            if !task.is_empty() {
                return task.to_string();
            }
        }
    }
    swe_agent_issue(body)
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
    fn task_statements_behind_examples_and_templates() {
        let nonfn = "Here's a running example.\n--------------------- START OF EXAMPLE ---------------------\nUSER: make a list\n--------------------- END OF EXAMPLE ---------------------\n\n--------------------- NEW TASK DESCRIPTION ---------------------\nCreate hello.py\n--------------------- END OF NEW TASK DESCRIPTION ---------------------\n\nPLEASE follow the format strictly!";
        assert_eq!(task_statement(nonfn), "Create hello.py");
        let demo = "Here is a demonstration:\nISSUE:\nold demo issue\n\nINSTRUCTIONS:\nx\n--- END OF DEMONSTRATION ---\nWe're currently solving the following issue within our repository. Here's the issue text:\nISSUE:\nThe real bug\n\nINSTRUCTIONS:\nNow, you're going to solve this issue";
        assert_eq!(task_statement(demo), "The real bug");
        assert_eq!(
            task_statement("<uploaded_files>\n/r\n</uploaded_files>\n<pr_description>\nFix it\n</pr_description>\nmore"),
            "Fix it"
        );
        assert_eq!(task_statement("What is 2+2?"), "What is 2+2?");
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
