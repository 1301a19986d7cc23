//! The SWE environment: a small generated Python repository with a planted
//! one-line bug and a failing test; a scripted agent lists the files, views
//! them (SWE-agent style `[File: path (N lines total)]` views with line
//! numbers), runs the tests (their output), edits the line and submits a
//! unified diff. The correct patch is the ground truth.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::{Domain, Episode, Step, ToolSpec};

/// (function source with the bug, buggy line, fixed line, test source, failure message)
struct Bug {
    func: String,
    buggy: String,
    fixed: String,
    test: String,
    failure: String,
}

fn bug(rng: &mut StdRng, module: &str) -> Bug {
    let n = rng.random_range(2..9);
    match rng.random_range(0..3) {
        0 => Bug {
            func: "def total(xs):\n    \"\"\"Sum of the items.\"\"\"\n    s = 0\n    for i in range(1, len(xs)):\n        s += xs[i]\n    return s\n".into(),
            buggy: "    for i in range(1, len(xs)):".into(),
            fixed: "    for i in range(len(xs)):".into(),
            test: format!("from calc.{module} import total\n\n\ndef test_total():\n    assert total([{n}, 1, 2]) == {}\n", n + 3),
            failure: format!("E       assert 3 == {}\nE        +  where 3 = total([{n}, 1, 2])", n + 3),
        },
        1 => Bug {
            func: "def clamp(x, lo, hi):\n    \"\"\"Limit x to [lo, hi].\"\"\"\n    if x > lo:\n        return lo\n    if x > hi:\n        return hi\n    return x\n".into(),
            buggy: "    if x > lo:".into(),
            fixed: "    if x < lo:".into(),
            test: format!("from calc.{module} import clamp\n\n\ndef test_clamp():\n    assert clamp({n}, 0, 10) == {n}\n"),
            failure: format!("E       assert 0 == {n}\nE        +  where 0 = clamp({n}, 0, 10)"),
        },
        _ => Bug {
            func: format!("def is_adult(age):\n    \"\"\"Adults are {n}0 or older.\"\"\"\n    return age > {n}0\n"),
            buggy: format!("    return age > {n}0"),
            fixed: format!("    return age >= {n}0"),
            test: format!("from calc.{module} import is_adult\n\n\ndef test_is_adult():\n    assert is_adult({n}0)\n"),
            failure: format!("E       assert False\nE        +  where False = is_adult({n}0)"),
        },
    }
}

/// SWE-agent's file view: header, numbered lines.
pub fn file_view(path: &str, content: &str) -> String {
    let lines: Vec<&str> = content.lines().collect();
    let mut s = format!("[File: {path} ({} lines total)]", lines.len());
    for (i, l) in lines.iter().enumerate() {
        s.push_str(&format!("\n{}:{l}", i + 1));
    }
    s
}

/// A unified diff replacing line `idx` (0-based) of `old` at `path` with `new_line`, 3 lines of context.
pub fn one_line_patch(path: &str, old: &str, idx: usize, new_line: &str) -> String {
    let lines: Vec<&str> = old.lines().collect();
    let lo = idx.saturating_sub(3);
    let hi = (idx + 4).min(lines.len());
    let mut s = format!(
        "diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@ -{},{} +{},{} @@\n",
        lo + 1,
        hi - lo,
        lo + 1,
        hi - lo
    );
    for (i, l) in lines.iter().enumerate().take(hi).skip(lo) {
        if i == idx {
            s.push_str(&format!("-{l}\n+{new_line}\n"));
        } else {
            s.push_str(&format!(" {l}\n"));
        }
    }
    s
}

fn tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "bash".into(),
            description: "Run a shell command in the repository.".into(),
            parameters: json!({"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}),
        },
        ToolSpec {
            name: "submit".into(),
            description: "Submit the current diff as the fix.".into(),
            parameters: json!({"type": "object", "properties": {}}),
        },
    ]
}

/// One episode.
pub fn episode(seed: u64, index: usize) -> Episode {
    let mut rng = StdRng::seed_from_u64(seed);
    let module = *["stats", "numbers", "helpers", "core"]
        .choose(&mut rng)
        .expect("modules");
    let b = bug(&mut rng, module);
    let path = format!("calc/{module}.py");
    let test_path = format!("tests/test_{module}.py");
    let src = format!("\"\"\"Small numeric helpers.\"\"\"\n\n\n{}", b.func);
    let util = "\"\"\"Formatting helpers (not involved in the bug).\"\"\"\n\n\ndef fmt(x):\n    return f\"{x:.2f}\"\n".to_string();
    let mut files = BTreeMap::new();
    files.insert(path.clone(), src.clone());
    files.insert("calc/util.py".to_string(), util.clone());
    files.insert("calc/__init__.py".to_string(), String::new());
    files.insert(test_path.clone(), b.test.clone());
    files.insert(
        "README.md".to_string(),
        "# calc\n\nSmall numeric helpers.\n".to_string(),
    );

    let idx = src
        .lines()
        .position(|l| l == b.buggy)
        .expect("the bug is in the source");
    let patch = one_line_patch(&path, &src, idx, &b.fixed);
    let test_name = b
        .test
        .lines()
        .find_map(|l| l.strip_prefix("def "))
        .and_then(|l| l.split('(').next())
        .unwrap_or("test")
        .to_string();
    let fail = format!(
        "============================= test session starts ==============================\ncollected 1 item\n\n{test_path} F\n\n\
=================================== FAILURES ===================================\n_________________________________ {test_name} _________________________________\n\n\
    def {test_name}():\n>{}\n\n{}\n\n{test_path}:5: AssertionError\n=========================== short test summary info ============================\n\
FAILED {test_path}::{test_name} - AssertionError\n============================== 1 failed in 0.03s ===============================",
        b.test.lines().nth(4).unwrap_or("").trim_start_matches(' '),
        b.failure
    );
    let bash = |thought: &str, command: String, observation: String| Step {
        thought: thought.into(),
        tool: "bash".into(),
        args: json!({"command": command}),
        observation,
        is_error: false,
    };
    let listing = files.keys().cloned().collect::<Vec<_>>().join("\n");
    let steps = vec![
        bash(
            "Let me see the repository layout.",
            "find . -name '*.py' -o -name '*.md' | sort".into(),
            listing,
        ),
        bash(
            "Run the tests to see what fails.",
            "python -m pytest -q".into(),
            fail,
        ),
        bash(
            &format!("The failing test imports from {path}; let me open it."),
            format!("open {path}"),
            file_view(&path, &src),
        ),
        bash(
            "The helper module might be involved too.",
            "open calc/util.py".into(),
            file_view("calc/util.py", &util),
        ),
        bash(
            &format!(
                "Line {} is wrong: `{}` should be `{}`.",
                idx + 1,
                b.buggy.trim(),
                b.fixed.trim()
            ),
            format!("edit {}:{}\n{}\nend_of_edit", idx + 1, idx + 1, b.fixed),
            format!(
                "File updated. Please review the changes.\n{}",
                file_view(&path, &src.replace(&b.buggy, &b.fixed))
            ),
        ),
        bash(
            "Re-run the tests.",
            "python -m pytest -q".into(),
            "1 passed in 0.02s".into(),
        ),
        Step {
            thought: "The fix is complete; submitting.".into(),
            tool: "submit".into(),
            args: json!({}),
            observation: patch.clone(),
            is_error: false,
        },
    ];
    Episode {
        id: format!("swe-{index:05}"),
        domain: Domain::Swe,
        system: "You are a software engineer. Fix the issue in the repository, then submit.".into(),
        question: format!(
            "<pr_description>\n{test_name} fails: {}\n</pr_description>",
            b.failure
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("E       ")
        ),
        tools: tools(),
        steps,
        final_answer: format!(
            "I fixed line {} of {path} and submitted the patch.",
            idx + 1
        ),
        ground_truth: json!({"patch": patch, "files": [path]}),
        meta: json!({"repo": files, "test": test_path}),
    }
}
