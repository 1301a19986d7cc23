//! File views in tool observations, as numbered lines, so that SWE evidence
//! can rebuild the files an agent read:
//! - SWE-agent: `[File: path (N lines total)]` then `N:text` lines;
//! - OpenHands / SWE-Gym editor: "Here's the result of running `cat -n` on
//!   path:" then `     N\ttext` lines;
//! - shell reads (the command's last `&&`/`;` segment): `cat path`,
//!   `cat -n path` / `nl -ba path`, `sed -n 'A,Bp' path`, `head -n K path`.

use serde_json::Value;

/// One view: the path as the agent named it, and (line number, text) pairs.
pub type View = (String, Vec<(usize, String)>);

/// `     12\ttext` → (12, text).
fn cat_n_line(l: &str) -> Option<(usize, String)> {
    let (n, text) = l.split_once('\t')?;
    let n = n.trim().parse().ok()?;
    Some((n, text.to_string()))
}

/// SWE-agent `[File: …]` views.
fn swe_agent_views(o: &str) -> Vec<View> {
    let mut out: Vec<View> = Vec::new();
    for l in o.lines() {
        if let Some(rest) = l.strip_prefix("[File: ") {
            let path = rest
                .split(" (")
                .next()
                .unwrap_or(rest)
                .trim_end_matches(']');
            out.push((path.to_string(), vec![]));
            continue;
        }
        let Some((_, lines)) = out.last_mut() else {
            continue;
        };
        if let Some((n, text)) = l.split_once(':') {
            if let Ok(n) = n.trim().parse::<usize>() {
                lines.push((n, text.to_string()));
            }
        }
    }
    out
}

/// OpenHands editor `cat -n` views.
fn cat_n_views(o: &str) -> Vec<View> {
    const HEAD: &str = "Here's the result of running `cat -n` on ";
    let mut out: Vec<View> = Vec::new();
    let mut open = false;
    for l in o.lines() {
        if let Some((_, rest)) = l.split_once(HEAD) {
            let rest = rest.strip_prefix("a snippet of ").unwrap_or(rest);
            // "…on a snippet of the edited file:" names no file
            let path = rest.trim().trim_end_matches(':');
            open = !path.is_empty() && !path.contains(char::is_whitespace);
            if open {
                out.push((path.to_string(), vec![]));
            }
            continue;
        }
        if let (true, Some((_, lines)), Some(line)) = (open, out.last_mut(), cat_n_line(l)) {
            lines.push(line);
        }
    }
    out
}

/// A shell command that prints a file (the last segment of a `&&` / `;` chain).
fn shell_view(command: &str, o: &str) -> Option<View> {
    let last = command
        .rsplit(['\n', ';'])
        .find(|s| !s.trim().is_empty())?
        .rsplit("&&")
        .next()?
        .trim();
    if last.contains(['|', '>', '<', '*', '$', '`']) {
        return None;
    }
    let words: Vec<&str> = last.split_whitespace().collect();
    let unq = |s: &str| s.trim_matches(|c| c == '"' || c == '\'').to_string();
    let numbered = |path: &str| -> Option<View> {
        let lines: Vec<(usize, String)> = o.lines().filter_map(cat_n_line).collect();
        (!lines.is_empty()).then(|| (unq(path), lines))
    };
    let plain = |path: &str, from: usize| -> Option<View> {
        let lines: Vec<(usize, String)> = o
            .lines()
            .enumerate()
            .map(|(i, l)| (from + i, l.to_string()))
            .collect();
        (!lines.is_empty()).then(|| (unq(path), lines))
    };
    if o.starts_with("cat: ") || o.starts_with("sed: ") || o.starts_with("head: ") {
        return None;
    }
    match words.as_slice() {
        ["cat", path] => plain(path, 1),
        ["cat", "-n", path] | ["nl", "-ba", path] => numbered(path),
        ["head", "-n", k, path] if k.parse::<usize>().is_ok() => plain(path, 1),
        ["sed", "-n", range, path] => {
            let r = unq(range);
            let (a, _) = r.strip_suffix('p')?.split_once(',')?;
            plain(path, a.trim().parse().ok()?)
        }
        _ => None,
    }
}

/// The file views in one observation of a call with `args`.
pub fn views_in(args: &Value, observation: &str) -> Vec<View> {
    let mut out = swe_agent_views(observation);
    out.extend(cat_n_views(observation));
    if out.is_empty() {
        if let Some(cmd) = args.get("command").and_then(Value::as_str) {
            out.extend(shell_view(cmd, observation));
        }
    }
    out.retain(|(p, lines)| !p.is_empty() && !lines.is_empty());
    out
}

/// Whether a viewed path names the repository file `file` (`/testbed/a/b.py` names `a/b.py`).
pub fn names_file(viewed: &str, file: &str) -> bool {
    let viewed = viewed.strip_prefix("./").unwrap_or(viewed);
    viewed == file || viewed.ends_with(&format!("/{file}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn swe_agent_view() {
        let v = views_in(
            &json!({}),
            "[File: /r/a.py (3 lines total)]\n(1 more lines above)\n2:x = 1\n3:y = 2",
        );
        assert_eq!(
            v,
            vec![(
                "/r/a.py".to_string(),
                vec![(2, "x = 1".into()), (3, "y = 2".into())]
            )]
        );
    }

    #[test]
    fn openhands_cat_n_view() {
        let v = views_in(
            &json!({"command": "view"}),
            "Here's the result of running `cat -n` on /w/p/src/x.c:\n     1\tint a;\n     2\t\n",
        );
        assert_eq!(v[0].0, "/w/p/src/x.c");
        assert_eq!(v[0].1, vec![(1, "int a;".into()), (2, "".into())]);
        let unnamed =
            "Here's the result of running `cat -n` on a snippet of the edited file:\n     5\tx";
        assert!(views_in(&json!({}), unnamed).is_empty());
    }

    #[test]
    fn shell_reads() {
        let v = views_in(&json!({"command": "cd /testbed && cat a/b.py"}), "l1\nl2");
        assert_eq!(
            v[0],
            ("a/b.py".into(), vec![(1, "l1".into()), (2, "l2".into())])
        );
        let v = views_in(
            &json!({"command": "cd /t && sed -n '219,220p' a/b.py"}),
            "x\ny",
        );
        assert_eq!(v[0].1[0], (219, "x".into()));
        assert!(views_in(&json!({"command": "cat a | grep x"}), "x").is_empty());
        assert!(views_in(&json!({"command": "cat nope"}), "cat: nope: No such file").is_empty());
    }

    #[test]
    fn path_suffix_matching() {
        assert!(names_file("/testbed/src/a.py", "src/a.py"));
        assert!(names_file("src/a.py", "src/a.py"));
        assert!(!names_file("/testbed/xsrc/a.py", "src/a.py"));
    }
}
