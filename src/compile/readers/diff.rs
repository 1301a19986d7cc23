//! Unified-diff helpers for readers that rebuild a patch from a CLI agent's
//! edit records: repo-relative paths, `diff --git` file sections, hunks from
//! structured records or from the file's text before and after.

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

/// Unified-diff hunks (3 lines of context) turning `old` into `new`, from a
/// longest-common-subsequence line match; files too large for that become one
/// hunk replacing every line. Empty when they are equal.
#[allow(
    clippy::indexing_slicing,
    reason = "the LCS table is (n+1)×(m+1) and every index is below n, m, n+1 or m+1 by the loop bounds; hunk ranges are clamped to ops.len()"
)]
pub fn line_diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    if a == b {
        return String::new();
    }
    // ops: (' ' | '-' | '+', line)
    let mut ops: Vec<(char, &str)> = Vec::new();
    if a.len().saturating_mul(b.len()) > 4_000_000 {
        ops.extend(a.iter().map(|l| ('-', *l)));
        ops.extend(b.iter().map(|l| ('+', *l)));
    } else {
        let (n, m) = (a.len(), b.len());
        let mut lcs = vec![0u32; (n + 1) * (m + 1)];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[i * (m + 1) + j] = if a[i] == b[j] {
                    lcs[(i + 1) * (m + 1) + j + 1] + 1
                } else {
                    lcs[(i + 1) * (m + 1) + j].max(lcs[i * (m + 1) + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && a[i] == b[j] {
                ops.push((' ', a[i]));
                i += 1;
                j += 1;
            } else if j < m && (i == n || lcs[i * (m + 1) + j + 1] > lcs[(i + 1) * (m + 1) + j]) {
                ops.push(('+', b[j]));
                j += 1;
            } else {
                ops.push(('-', a[i]));
                i += 1;
            }
        }
    }
    // hunks: changed ops with up to 3 unchanged lines around them, merged when close
    const CONTEXT: usize = 3;
    let changed: Vec<usize> = (0..ops.len()).filter(|&k| ops[k].0 != ' ').collect();
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for &k in &changed {
        let (lo, hi) = (k.saturating_sub(CONTEXT), (k + CONTEXT + 1).min(ops.len()));
        match ranges.last_mut() {
            Some(r) if lo <= r.1 => r.1 = hi,
            _ => ranges.push((lo, hi)),
        }
    }
    let mut out = String::new();
    for (lo, hi) in ranges {
        let before_old = ops[..lo].iter().filter(|o| o.0 != '+').count();
        let before_new = ops[..lo].iter().filter(|o| o.0 != '-').count();
        let old_n = ops[lo..hi].iter().filter(|o| o.0 != '+').count();
        let new_n = ops[lo..hi].iter().filter(|o| o.0 != '-').count();
        let start = |before: usize, count: usize| if count == 0 { before } else { before + 1 };
        out.push_str(&format!(
            "@@ -{},{} +{},{} @@\n",
            start(before_old, old_n),
            old_n,
            start(before_new, new_n),
            new_n
        ));
        for (tag, line) in &ops[lo..hi] {
            out.push(*tag);
            out.push_str(line);
            out.push('\n');
        }
    }
    out
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

    #[test]
    fn line_diffs() {
        assert_eq!(line_diff("a\nb\n", "a\nb\n"), "");
        assert_eq!(
            line_diff("# T\nx\ny\nz\n", "# T\nz\n"),
            "@@ -1,4 +1,2 @@\n # T\n-x\n-y\n z\n"
        );
        let old: String = (1..=20).map(|i| format!("{i}\n")).collect();
        let new = old.replace("10\n", "ten\n");
        assert_eq!(
            line_diff(&old, &new),
            "@@ -7,7 +7,7 @@\n 7\n 8\n 9\n-10\n+ten\n 11\n 12\n 13\n"
        );
        assert_eq!(line_diff("", "a\n"), "@@ -0,0 +1,1 @@\n+a\n");
    }
}
