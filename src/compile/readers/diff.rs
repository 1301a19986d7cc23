//! Unified-diff helpers for readers that rebuild a patch from a CLI agent's
//! edit records: repo-relative paths and `diff --git` file sections.

use serde_json::Value;

/// `path` relative to `cwd` when it lies under it; else without its leading `/`.
pub fn relative(path: &str, cwd: Option<&str>) -> String {
    if let Some(cwd) = cwd
        .map(|c| c.trim_end_matches('/'))
        .filter(|c| !c.is_empty())
    {
        if let Some(rest) = path.strip_prefix(cwd).and_then(|r| r.strip_prefix('/')) {
            return rest.to_string();
        }
    }
    path.trim_start_matches('/').to_string()
}

/// A file section of a unified diff: `diff --git` and `---`/`+++` headers, then
/// `hunks` (text starting at the first `@@`). `created`/`deleted` use `/dev/null`.
pub fn file_section(path: &str, hunks: &str, created: bool, deleted: bool) -> String {
    let old = if created {
        "/dev/null".to_string()
    } else {
        format!("a/{path}")
    };
    let new = if deleted {
        "/dev/null".to_string()
    } else {
        format!("b/{path}")
    };
    let mut s = format!("diff --git a/{path} b/{path}\n");
    if created {
        s.push_str("new file mode 100644\n");
    }
    if deleted {
        s.push_str("deleted file mode 100644\n");
    }
    s.push_str(&format!("--- {old}\n+++ {new}\n"));
    s.push_str(hunks);
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

/// The hunk for a whole file added (`sign` '+') or removed ('-').
pub fn whole_file_hunk(content: &str, sign: char) -> String {
    let lines: Vec<&str> = content.lines().collect();
    if lines.is_empty() {
        return String::new();
    }
    let range = format!("1,{}", lines.len());
    let header = if sign == '+' {
        format!("@@ -0,0 +{range} @@\n")
    } else {
        format!("@@ -{range} +0,0 @@\n")
    };
    let mut s = header;
    for l in lines {
        s.push(sign);
        s.push_str(l);
        s.push('\n');
    }
    s
}

/// Hunks given as `[{oldStart, oldLines, newStart, newLines, lines[]}]` (Claude
/// Code's `structuredPatch`), as unified-diff text. None when a hunk is malformed.
pub fn structured_hunks(hunks: &[Value]) -> Option<String> {
    let mut s = String::new();
    for h in hunks {
        let n = |k: &str| h[k].as_u64();
        s.push_str(&format!(
            "@@ -{},{} +{},{} @@\n",
            n("oldStart")?,
            n("oldLines")?,
            n("newStart")?,
            n("newLines")?
        ));
        for l in h["lines"].as_array()? {
            s.push_str(l.as_str()?);
            s.push('\n');
        }
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn relative_paths() {
        assert_eq!(relative("/tmp/p/a/b.py", Some("/tmp/p")), "a/b.py");
        assert_eq!(relative("/tmp/p/a/b.py", Some("/tmp/p/")), "a/b.py");
        assert_eq!(relative("/tmp/px/b.py", Some("/tmp/p")), "tmp/px/b.py");
        assert_eq!(relative("b.py", None), "b.py");
    }

    #[test]
    fn sections_and_hunks() {
        let h = structured_hunks(&[json!({"oldStart": 1, "oldLines": 2, "newStart": 1,
            "newLines": 3, "lines": [" a", "+b", " c"]})])
        .unwrap();
        assert_eq!(h, "@@ -1,2 +1,3 @@\n a\n+b\n c\n");
        let s = file_section("x.py", &h, false, false);
        assert!(s.starts_with("diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1,2"));
        let c = file_section("n.md", &whole_file_hunk("# T\n\nend", '+'), true, false);
        assert!(c.contains("--- /dev/null\n+++ b/n.md\n@@ -0,0 +1,3 @@\n+# T\n+\n+end\n"));
        assert_eq!(structured_hunks(&[json!({"oldStart": 1})]), None);
    }
}
