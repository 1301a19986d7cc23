//! Readers for CLI coding agents (Codex rollouts, Claude Code sessions, Gemini
//! CLI sessions) and chat-message dumps (Anthropic Messages API, LangChain /
//! LangGraph, LLaMA-Factory v1) on real files from tests/fixtures/trajectories
//! (see its MANIFEST.txt) and small hand-written ones: one trajectory per user
//! turn, calls paired with their results, patches rebuilt as unified diffs,
//! refusals with reasons, and the compile summary reconciling.

use std::path::{Path, PathBuf};
use std::process::Command;

use acc_probe::compile::readers::{read_file, Rejection, SourceFormat};
use acc_probe::compile::trajectory::Trajectory;
use serde_json::Value;

const SESSION: &str = "019e1625-789d-76c0-80ab-3724b5ddb799";

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/trajectories")
        .join(rel)
}

fn codex_file() -> PathBuf {
    fixture("openai-responses-codex/rollout-2026-05-11T11-26-55-019e1625-789d-76c0-80ab-3724b5ddb799_excerpt.jsonl")
}

fn read(rel: &str) -> (Vec<Trajectory>, Vec<Rejection>) {
    read_file(&fixture(rel), None)
}

fn acc(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_acc-probe"))
        .args(args)
        .output()
        .unwrap()
}

fn rows(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Compiles `inputs`: (stdout, output rows, rejection rows).
fn compile(inputs: &[&Path], extra: &[&str]) -> (String, Vec<Value>, Vec<Value>) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o.jsonl");
    let rej = tmp.path().join("r.jsonl");
    let mut args: Vec<String> = vec!["compile".into(), "--input".into()];
    args.extend(inputs.iter().map(|p| p.display().to_string()));
    args.extend(
        ["--budget", "64k", "--out"]
            .iter()
            .map(|s| s.to_string())
            .chain([out.display().to_string(), "--rejects".into()])
            .chain([rej.display().to_string()])
            .chain(extra.iter().map(|s| s.to_string())),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = acc(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (
        String::from_utf8_lossy(&o.stdout).to_string(),
        rows(&out),
        rows(&rej),
    )
}

fn names(t: &Trajectory) -> Vec<&str> {
    t.steps
        .iter()
        .filter_map(|s| s.call.as_ref().map(|c| c.name.as_str()))
        .collect()
}

#[test]
fn codex_rollout_gives_one_trajectory_per_user_turn() {
    let (trajs, rej) = read_file(&codex_file(), None);
    assert!(rej.is_empty(), "{rej:?}");
    assert_eq!(trajs.len(), 2);
    let (t1, t2) = (&trajs[0], &trajs[1]);
    assert_eq!(t1.id, format!("{SESSION}#turn1"));
    assert_eq!(t2.id, format!("{SESSION}#turn2"));
    assert_eq!(t1.source_format, "codex");
    // the prompt's line (event_msg user_message); AGENTS.md / permissions are not the question
    assert_eq!((t1.source.record, t1.question.as_str()), (7, "show tools"));
    assert_eq!(
        (t2.source.record, t2.question.as_str()),
        (
            23,
            "let's update the defailt context compart to 90 in env var"
        )
    );

    // turn 1: exec_command, its result from exec_command_end; the write_stdin poll is folded in
    assert_eq!(t1.steps.len(), 2);
    let c = t1.steps[0].call.as_ref().unwrap();
    assert_eq!(c.name, "exec_command");
    assert_eq!(c.id.as_deref(), Some("call_Y2p6KmqwoTtpi6atpDPuxC5M"));
    assert!(c.args["cmd"]
        .as_str()
        .unwrap()
        .starts_with("sed -n '1,180p' /Users/Sample_User/.codex/plugins"));
    let o = t1.steps[0].observation.as_ref().unwrap();
    assert!(
        o.content.starts_with("---\nname: using-superpowers\n"),
        "{}",
        o.content
    );
    assert!(!o.is_error);
    assert!(t1.steps[1]
        .text
        .starts_with("Available tool groups in this session:"));
    assert!(t1
        .final_answer
        .as_deref()
        .unwrap()
        .starts_with("Available tool groups in this session:"));
    assert_eq!(t1.patch, None);

    // turn 2: commentary, 3 exec calls, a web search, a plan, 3 apply_patch calls, the answer
    assert_eq!(
        names(t2),
        [
            "exec_command",
            "exec_command",
            "web_search",
            "update_plan",
            "apply_patch",
            "exec_command",
            "apply_patch",
            "apply_patch"
        ]
    );
    assert_eq!(t2.steps.len(), 10);
    assert!(!names(t2).contains(&"write_stdin"));
    assert!(t2.steps[0]
        .text
        .starts_with("Using `superpowers:brainstorming` briefly"));
    // observation k belongs to call k (matched by call_id, not by order)
    let sed = &t2.steps[1];
    assert_eq!(
        sed.call.as_ref().unwrap().args["cmd"],
        "sed -n '1,230p' src/agents/plugins/opencode/opencode.plugin.ts"
    );
    assert!(sed
        .observation
        .as_ref()
        .unwrap()
        .content
        .starts_with("import type { AgentMetadata, AgentConfig } from '../../core/types.js';"));
    let search = t2.steps[3].call.as_ref().unwrap();
    assert_eq!(
        search.args["query"],
        "OpenCode config compact context percentage compact threshold env var OPENCODE_CONFIG_CONTENT"
    );
    assert!(
        t2.steps[3].observation.is_none(),
        "web search results are not logged"
    );
    let patch_call = &t2.steps[5];
    assert!(patch_call.call.as_ref().unwrap().args["input"]
        .as_str()
        .unwrap()
        .starts_with("*** Begin Patch\n*** Update File: src/agents/plugins/__tests__/"));
    assert_eq!(
        patch_call.observation.as_ref().unwrap().content,
        "Success. Updated the following files:\nM src/agents/plugins/__tests__/codemie-code-reasoning.test.ts\n"
    );
    // the failing test run: exit code 1 from exec_command_end
    let npm = &t2.steps[6];
    assert!(npm.call.as_ref().unwrap().args["cmd"]
        .as_str()
        .unwrap()
        .starts_with("npm test -- --run"));
    let o = npm.observation.as_ref().unwrap();
    assert!(o.is_error);
    assert!(o
        .content
        .contains("vitest --run src/agents/plugins/__tests__/codemie-code-reasoning.test.ts"));
    let errors: Vec<bool> = t2
        .steps
        .iter()
        .filter_map(|s| s.observation.as_ref().map(|o| o.is_error))
        .collect();
    assert_eq!(errors.iter().filter(|e| **e).count(), 1, "{errors:?}");
    assert!(t2
        .final_answer
        .as_deref()
        .unwrap()
        .starts_with("Implemented the default context compaction setting as `threshold: 0.9`"));

    // the turn's patch: the three patch_apply_end changes, repo-relative
    let patch = t2.patch.as_deref().unwrap();
    assert_eq!(
        patch.lines().next().unwrap(),
        "diff --git a/src/agents/plugins/__tests__/codemie-code-reasoning.test.ts b/src/agents/plugins/__tests__/codemie-code-reasoning.test.ts"
    );
    assert_eq!(patch.matches("diff --git ").count(), 3);
    assert!(patch.contains(
        "--- a/src/agents/plugins/codemie-code.plugin.ts\n+++ b/src/agents/plugins/codemie-code.plugin.ts\n@@ -98,2 +98,7 @@\n     share: 'disabled',\n+    compaction: {\n"
    ));
    assert!(!patch.contains("/Users/"));
}

#[test]
fn codex_rollout_compiles_per_turn_with_the_patch_as_answer() {
    let (stdout, out, rej) = compile(&[&codex_file()], &[]);
    assert!(
        stdout.contains("2 records read = 2 written + 0 rejected"),
        "{stdout} {rej:?}"
    );
    let turn2 = out
        .iter()
        .find(|r| r["meta"]["id"] == format!("{SESSION}#turn2"))
        .unwrap();
    assert_eq!(turn2["meta"]["domain"], "swe");
    assert_eq!(turn2["meta"]["source_format"], "codex");
    assert!(turn2["ground_truth_answer"]
        .as_str()
        .unwrap()
        .starts_with("diff --git a/src/agents/plugins/__tests__/codemie-code-reasoning.test.ts"));
    // the patched file the agent read with sed is evidence
    let evidence: Vec<&str> = turn2["meta"]["pieces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "evidence")
        .map(|p| p["source"].as_str().unwrap())
        .collect();
    assert!(
        evidence.contains(&"src/agents/plugins/opencode/opencode.plugin.ts"),
        "{evidence:?}"
    );
    let prompt = turn2["dialogs"][0]["content"].as_str().unwrap();
    assert!(prompt.contains("let's update the defailt context compart to 90 in env var"));
    assert!(!prompt.contains("# AGENTS.md instructions"));
}

#[test]
fn claude_code_session_gives_one_trajectory_per_prompt_with_rebuilt_patches() {
    let (trajs, rej) = read("anthropic-claude-code/claude_code_session_4c2ddfdc.jsonl");
    assert!(rej.is_empty(), "{rej:?}");
    let qs: Vec<(&str, usize)> = trajs
        .iter()
        .map(|t| (t.question.as_str(), t.source.record))
        .collect();
    assert_eq!(
        qs,
        [
            ("create hello.py, md and js", 2),
            ("update py with one liner comment", 15),
            ("delete js", 22)
        ]
    );
    assert_eq!(trajs[0].id, "4c2ddfdc-b619-4525-8d03-1950fb1b0257#turn1");
    // turn 1: one API message split over 4 lines (text + 3 Write calls), merged
    let t1 = &trajs[0];
    assert_eq!(names(t1), ["Write", "Write", "Write"]);
    assert_eq!(t1.steps.len(), 4);
    assert_eq!(
        t1.steps[0].text,
        "I'll create three simple files: hello.py, hello.md, and hello.js."
    );
    assert_eq!(
        t1.steps[0].call.as_ref().unwrap().args["file_path"],
        "/tmp/private/hello.py"
    );
    assert_eq!(
        t1.steps[1].observation.as_ref().unwrap().content,
        "File created successfully at: /tmp/private/hello.md"
    );
    let p1 = t1.patch.as_deref().unwrap();
    assert_eq!(
        p1.lines().next().unwrap(),
        "diff --git a/hello.py b/hello.py"
    );
    assert!(p1.contains(
        "--- /dev/null\n+++ b/hello.py\n@@ -0,0 +1,7 @@\n+#!/usr/bin/env python3\n+\n+def main():\n"
    ));
    assert_eq!(p1.matches("new file mode").count(), 3);
    // turn 2: Read then Edit; the Edit's structuredPatch as a hunk, path relative to cwd
    let t2 = &trajs[1];
    assert_eq!(names(t2), ["Read", "Edit"]);
    // the file as the agent saw it, without the harness's <system-reminder> block
    let seen = &t2.steps[0].observation.as_ref().unwrap().content;
    assert!(seen.ends_with("     7→    main()\n     8→"), "{seen}");
    assert!(!seen.contains("system-reminder"));
    assert!(t2.steps[0]
        .observation
        .as_ref()
        .unwrap()
        .content
        .starts_with("     1→#!/usr/bin/env python3"));
    assert_eq!(
        t2.patch.as_deref().unwrap(),
        "diff --git a/hello.py b/hello.py\n--- a/hello.py\n+++ b/hello.py\n@@ -1,5 +1,6 @@\n #!/usr/bin/env python3\n \n+# Simple hello world program\n def main():\n     print(\"Hello, World!\")\n \n"
    );
    assert_eq!(
        t2.final_answer.as_deref(),
        Some("Done! I've added a one-liner comment to hello.py: `# Simple hello world program`")
    );
    // turn 3: a Bash rm, no edit, no patch
    let t3 = &trajs[2];
    assert_eq!(
        t3.steps[0].call.as_ref().unwrap().args["command"],
        "rm hello.js"
    );
    assert!(!t3.steps[0].observation.as_ref().unwrap().is_error);
    assert_eq!(t3.patch, None);
    assert_eq!(
        t3.final_answer.as_deref(),
        Some("Done! I've deleted hello.js.")
    );

    let (stdout, out, rej) = compile(
        &[&fixture(
            "anthropic-claude-code/claude_code_session_4c2ddfdc.jsonl",
        )],
        &[],
    );
    assert!(
        stdout.contains("3 records read = 1 written + 2 rejected"),
        "{stdout}"
    );
    assert_eq!(
        out[0]["meta"]["id"],
        "4c2ddfdc-b619-4525-8d03-1950fb1b0257#turn2"
    );
    assert_eq!(out[0]["meta"]["domain"], "swe");
    // the file as the Read tool showed it is the evidence for the patched file
    assert_eq!(out[0]["meta"]["pieces"][0]["source"], "hello.py");
    assert!(out[0]["ground_truth_answer"]
        .as_str()
        .unwrap()
        .contains("+# Simple hello world program"));
    let reasons: Vec<(u64, &str)> = rej
        .iter()
        .map(|r| {
            (
                r["source"]["record"].as_u64().unwrap(),
                r["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        reasons[0].1,
        "no evidence: patched file hello.py is new (created by the patch): no earlier content to show; \
         patched file hello.md is new (created by the patch): no earlier content to show; \
         patched file hello.js is new (created by the patch): no earlier content to show"
    );
    assert_eq!(reasons[0].0, 2);
    // `rm hello.js` answers in text and prints nothing: no evidence to build a context from
    assert_eq!(
        reasons[1],
        (
            22,
            "no evidence: domain other: none of its 1 tool calls returned any output"
        )
    );
}

#[test]
fn claude_code_skips_meta_and_slash_commands_and_flags_string_results_as_errors() {
    let (trajs, rej) =
        read("anthropic-claude-code/claude_code_session-196820da_coding_excerpt.jsonl");
    assert!(rej.is_empty(), "{rej:?}");
    assert_eq!(trajs.len(), 2);
    let t1 = &trajs[0];
    // lines 2-4 (meta caveat, /clear echo, its stdout) are not prompts
    assert_eq!(t1.source.record, 6);
    assert!(t1
        .question
        .starts_with("ultrathink there is logic that tracks files in claude folder"));
    assert_eq!(names(t1), ["Bash", "Bash"]);
    // thinking goes to reasoning; the two results are plain-string toolUseResult errors
    assert!(!t1.steps[0].reasoning.is_empty());
    for s in &t1.steps[..2] {
        let o = s.observation.as_ref().unwrap();
        assert!(o.is_error);
        assert!(o
            .content
            .starts_with("Exit code 1\n(eval):1: no matches found: /Users/user/.claude/projects/"));
    }
    assert!(t1
        .final_answer
        .as_deref()
        .unwrap()
        .starts_with("## Summary"));

    let t2 = &trajs[1];
    assert_eq!(t2.id, "196820da-1026-4b6f-a513-a6aae42da1a6#turn2");
    assert_eq!(t2.source.record, 16);
    assert_eq!(
        t2.question,
        "great, but there is existing logic for scanning history"
    );
    assert_eq!(
        names(t2),
        [
            "Grep",
            "Grep",
            "Grep",
            "Read",
            "Read",
            "Read",
            "Grep",
            "TodoWrite"
        ]
    );
    assert_eq!(
        t2.steps[0].text,
        "Good catch! Let me find the existing history scanning logic."
    );
    assert_eq!(
        t2.steps[0].call.as_ref().unwrap().args["pattern"],
        "history\\.jsonl"
    );
    assert_eq!(
        t2.steps[3].call.as_ref().unwrap().args["file_path"],
        "/Users/user/repo/src/agents/plugins/claude/history-parser.ts"
    );
    assert!(t2.steps[3]
        .observation
        .as_ref()
        .unwrap()
        .content
        .contains("→"));
    assert!(t2
        .final_answer
        .as_deref()
        .unwrap()
        .starts_with("## Final Implementation Plan: Extend Existing HistoryParser"));
}

#[test]
fn gemini_cli_session_gives_one_trajectory_per_prompt() {
    let (trajs, rej) = read("other-cli-agents/gemini_cli_session_file-ops.json");
    assert!(rej.is_empty(), "{rej:?}");
    let qs: Vec<(&str, usize)> = trajs
        .iter()
        .map(|t| (t.question.as_str(), t.source.record))
        .collect();
    assert_eq!(
        qs,
        [
            ("show tools", 1),
            (
                "expore repository and figure out issues. focus on adaptability and security",
                3
            ),
            ("create hello.md file", 6),
            ("add 5 lines of random text", 9),
            ("remove 2 and 3 line", 12)
        ]
    );
    assert_eq!(trajs[0].source_format, "gemini-cli");
    assert_eq!(trajs[4].id, "37b7abef-713d-4522-85f0-8ff15a4e6d17#turn5");
    assert!(trajs[0].steps.iter().all(|s| s.call.is_none()));
    let t2 = &trajs[1];
    assert_eq!(
        names(t2),
        [
            "write_todos",
            "delegate_to_agent",
            "write_todos",
            "read_file",
            "read_file",
            "read_file",
            "write_todos",
            "search_file_content",
            "read_file"
        ]
    );
    assert_eq!(t2.steps.len(), 10);
    let read = &t2.steps[3];
    let c = read.call.as_ref().unwrap();
    assert_eq!(
        c.id.as_deref(),
        Some("read_file-1768561450182-7b0e80586cb07")
    );
    assert_eq!(c.args["file_path"], "SECURITY.md");
    assert!(read
        .observation
        .as_ref()
        .unwrap()
        .content
        .starts_with("# Security Policy"));
    assert_eq!(
        t2.steps[5].call.as_ref().unwrap().args["file_path"],
        "src/env/manager.ts"
    );
    assert!(t2.steps[5]
        .observation
        .as_ref()
        .unwrap()
        .content
        .starts_with("import * as fs from 'fs/promises';"));
    assert!(t2
        .steps
        .iter()
        .all(|s| s.observation.as_ref().is_none_or(|o| !o.is_error)));
    let t5 = &trajs[4];
    assert_eq!(names(t5), ["read_file", "write_file"]);
    assert_eq!(
        t5.steps[1].call.as_ref().unwrap().args["content"],
        "# Hello World\nSphinx of black quartz, judge my vow.\nPack my box with five dozen liquor jugs.\nHow vexingly quick daft zebras jump."
    );
    assert_eq!(
        t5.final_answer.as_deref(),
        Some("I have removed the 2nd and 3rd lines from `hello.md`.")
    );

    // patches from write_file against the file as created, read or written before
    assert_eq!(trajs[1].patch, None);
    assert_eq!(
        trajs[2].patch.as_deref(),
        Some("diff --git a/hello.md b/hello.md\nnew file mode 100644\n--- /dev/null\n+++ b/hello.md\n@@ -0,0 +1,1 @@\n+# Hello World\n")
    );
    assert!(trajs[3].patch.as_deref().unwrap().contains(
        "@@ -1,1 +1,6 @@\n # Hello World\n+The quick brown fox jumps over the lazy dog.\n"
    ));
    assert_eq!(
        t5.patch.as_deref(),
        Some("diff --git a/hello.md b/hello.md\n--- a/hello.md\n+++ b/hello.md\n@@ -1,6 +1,4 @@\n # Hello World\n\
              -The quick brown fox jumps over the lazy dog.\n-A wizard's job is to vex chumps quickly in fog.\n\
              \x20Sphinx of black quartz, judge my vow.\n Pack my box with five dozen liquor jugs.\n\
              \x20How vexingly quick daft zebras jump.\n")
    );

    let (stdout, out, rej) = compile(
        &[&fixture(
            "other-cli-agents/gemini_cli_session_file-ops.json",
        )],
        &[],
    );
    assert!(
        stdout.contains("5 records read = 3 written + 2 rejected"),
        "{stdout}"
    );
    let domains: Vec<(&str, &str)> = out
        .iter()
        .map(|r| {
            (
                r["meta"]["id"].as_str().unwrap(),
                r["meta"]["domain"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        domains,
        [
            ("37b7abef-713d-4522-85f0-8ff15a4e6d17#turn2", "other"),
            ("37b7abef-713d-4522-85f0-8ff15a4e6d17#turn4", "swe"),
            ("37b7abef-713d-4522-85f0-8ff15a4e6d17#turn5", "swe")
        ]
    );
    assert_eq!(rej[0]["source"]["record"], 1);
    assert_eq!(
        rej[0]["reason"],
        "a conversation with no tool call: chat, not an agent run"
    );
    assert_eq!(rej[0]["kind"], "no_tool_calls");
    assert_eq!(rej[1]["source"]["record"], 6);
    assert_eq!(
        rej[1]["reason"],
        "no evidence: patched file hello.md is new (created by the patch): no earlier content to show"
    );
}

#[test]
fn gemini_status_other_than_success_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("session.log"); // detection does not look at the extension
    std::fs::write(
        &f,
        r#"{"sessionId": "s1", "projectHash": "h", "messages": [
            {"id": "1", "type": "user", "content": "read notes.txt"},
            {"id": "2", "type": "gemini", "content": "", "toolCalls": [
                {"id": "read_file-1", "name": "read_file", "args": {"file_path": "notes.txt"}, "status": "error",
                 "result": [{"functionResponse": {"id": "read_file-1", "name": "read_file",
                             "response": {"error": "File not found: notes.txt"}}}]}]},
            {"id": "3", "type": "gemini", "content": "notes.txt does not exist."}]}"#,
    )
    .unwrap();
    let (trajs, rej) = read_file(&f, None);
    assert!(rej.is_empty(), "{rej:?}");
    let o = trajs[0].steps[0].observation.as_ref().unwrap();
    assert_eq!(
        (o.content.as_str(), o.is_error),
        ("File not found: notes.txt", true)
    );
    assert_eq!(
        trajs[0].final_answer.as_deref(),
        Some("notes.txt does not exist.")
    );
}

#[test]
fn anthropic_messages_dumps_are_not_read_as_openai() {
    let (trajs, rej) = read("anthropic-messages/messages_api_dumps.jsonl");
    assert_eq!(trajs.len(), 1);
    let t = &trajs[0];
    assert_eq!(t.source_format, "anthropic");
    assert_eq!(t.id, "msg_dump_pin_python");
    assert_eq!(
        t.system.as_deref(),
        Some("You are a coding assistant with read access to the repository through tools.")
    );
    assert_eq!(
        t.question,
        "Which Python version does this project require, and where is it declared?"
    );
    assert_eq!(names(t), ["read_file", "read_file", "grep"]);
    assert_eq!(t.steps.len(), 4);
    assert_eq!(
        t.steps[0].reasoning,
        "The version is usually pinned in pyproject.toml; read it first."
    );
    assert_eq!(t.steps[0].text, "I'll check the project metadata.");
    assert!(t.steps[0]
        .observation
        .as_ref()
        .unwrap()
        .content
        .contains("requires-python = \">=3.10\""));
    // two results in one user message, each to its own tool_use id
    let missing = t.steps[1].observation.as_ref().unwrap();
    assert_eq!(
        t.steps[1].call.as_ref().unwrap().args["path"],
        ".python-version"
    );
    assert_eq!(
        (missing.content.as_str(), missing.is_error),
        ("Error: file not found: .python-version", true)
    );
    let grep = t.steps[2].observation.as_ref().unwrap();
    assert_eq!(
        (grep.content.as_str(), grep.is_error),
        ("setup.cfg:7:python_requires = >=3.10", false)
    );
    assert!(t
        .final_answer
        .as_deref()
        .unwrap()
        .starts_with("The project requires Python 3.10 or newer"));
    assert_eq!(rej.len(), 1);
    assert_eq!(rej[0].source.record, 2);
    assert_eq!(
        rej[0].reason,
        "message 3: tool result for unknown call id toolu_01Z"
    );
}

#[test]
fn langchain_dumps_in_both_forms() {
    // messages_to_dict: the whole list is one conversation
    let (trajs, rej) = read("langchain/messages_to_dict_eiffel.json");
    assert!(rej.is_empty(), "{rej:?}");
    assert_eq!(trajs.len(), 1);
    let t = &trajs[0];
    assert_eq!(t.source_format, "langchain");
    assert_eq!(
        t.system.as_deref(),
        Some("You are a research assistant. Use the tools to look things up.")
    );
    assert_eq!(
        t.question,
        "In which year was the Eiffel Tower completed, and how tall is it today?"
    );
    assert_eq!(names(t), ["web_search", "fetch"]);
    assert_eq!(
        t.steps[1].call.as_ref().unwrap().id.as_deref(),
        Some("call_Xq2")
    );
    assert!(t.steps[1]
        .observation
        .as_ref()
        .unwrap()
        .content
        .starts_with("The Eiffel Tower is a wrought-iron lattice tower"));
    assert!(t.steps[0]
        .observation
        .as_ref()
        .unwrap()
        .content
        .starts_with("1. Eiffel Tower - Wikipedia"));
    assert!(t.final_answer.as_deref().unwrap().contains("330 metres"));

    // LangGraph state with flat messages; status "error" marks the failed query
    let (trajs, rej) = read("langchain/langgraph_state_sql.json");
    assert!(rej.is_empty(), "{rej:?}");
    let t = &trajs[0];
    assert_eq!(t.question, "How many rows does the orders table have?");
    let obs: Vec<(&str, bool)> = t
        .steps
        .iter()
        .filter_map(|s| s.observation.as_ref())
        .map(|o| (o.content.as_str(), o.is_error))
        .collect();
    assert_eq!(
        obs,
        [
            (
                "Error: (sqlite3.OperationalError) near \"order\": syntax error",
                true
            ),
            ("[(830,)]", false)
        ]
    );
    assert_eq!(
        t.steps[1].call.as_ref().unwrap().args["query"],
        "SELECT COUNT(*) FROM orders"
    );

    let (stdout, out, _) = compile(&[&fixture("langchain")], &[]);
    assert!(
        stdout.contains("2 records read = 2 written + 0 rejected"),
        "{stdout}"
    );
    let domains: Vec<&str> = out
        .iter()
        .map(|r| r["meta"]["domain"].as_str().unwrap())
        .collect();
    assert_eq!(domains, ["sql", "search"]);
}

#[test]
fn llamafactory_rows_and_refusals() {
    let (trajs, rej) = read("llamafactory/llamafactory_v1_sft_demo_first20.jsonl");
    assert!(rej.is_empty(), "{rej:?}");
    assert_eq!(trajs.len(), 20);
    assert_eq!(trajs[0].source_format, "llamafactory");
    assert_eq!(trajs[0].question, "hi");
    assert!(trajs[0]
        .final_answer
        .as_deref()
        .unwrap()
        .starts_with("Hello! I am {{name}}, an AI assistant developed by {{author}}."));
    assert!(trajs
        .iter()
        .all(|t| t.steps.len() == 1 && t.steps[0].call.is_none()));

    let (trajs, rej) = read("llamafactory/v1_tool_rows.jsonl");
    let t = &trajs[0];
    assert_eq!(t.system.as_deref(), Some("You can call tools to answer."));
    assert_eq!(t.question, "What is the weather in Lisbon right now?");
    let c = t.steps[0].call.as_ref().unwrap();
    assert_eq!(c.name, "get_weather");
    assert_eq!(
        c.args,
        serde_json::json!({"city": "Lisbon", "unit": "celsius"})
    );
    assert_eq!(
        t.steps[0].reasoning,
        "I need live data; call the weather tool."
    );
    assert!(t.steps[0]
        .observation
        .as_ref()
        .unwrap()
        .content
        .contains("\"temperature\": 19"));
    assert_eq!(
        t.final_answer.as_deref(),
        Some("It is 19 °C and partly cloudy in Lisbon right now.")
    );
    assert_eq!(rej.len(), 1);
    assert_eq!(rej[0].source.record, 2);
    assert_eq!(
        rej[0].reason,
        "message 2: tool_call value is not JSON {name, arguments}"
    );

    let (stdout, _, rej) = compile(&[&fixture("llamafactory")], &[]);
    assert!(
        stdout.contains("24 records read = 1 written + 23 rejected"),
        "{stdout}"
    );
    let reason_of = |file: &str| -> Vec<&str> {
        rej.iter()
            .filter(|r| r["source"]["file"].as_str().unwrap().ends_with(file))
            .map(|r| r["reason"].as_str().unwrap())
            .collect()
    };
    assert_eq!(
        reason_of("llamafactory_dataset_info.json"),
        ["LLaMA-Factory dataset registry (dataset_info.json): maps dataset names to files and columns; contains no conversations"]
    );
    assert_eq!(
        reason_of("llamafactory_v1_sft_demo.yaml"),
        ["LLaMA-Factory v1 dataset config (YAML): lists data sources; contains no conversations"]
    );
    let chat = reason_of("llamafactory_v1_sft_demo_first20.jsonl");
    assert_eq!(chat.len(), 20);
    assert!(chat
        .iter()
        .all(|r| *r == "a conversation with no tool call: chat, not an agent run"));
}

#[test]
fn detection_ignores_extensions_and_format_forces_a_reader() {
    let tmp = tempfile::tempdir().unwrap();
    let codex = tmp.path().join("rollout.txt");
    std::fs::copy(codex_file(), &codex).unwrap();
    let claude = tmp.path().join("session.json");
    std::fs::copy(
        fixture("anthropic-claude-code/claude_code_session_4c2ddfdc.jsonl"),
        &claude,
    )
    .unwrap();
    assert_eq!(read_file(&codex, None).0.len(), 2);
    assert_eq!(read_file(&claude, None).0.len(), 3);
    for name in [
        "codex",
        "gemini-cli",
        "anthropic",
        "langchain",
        "llamafactory",
    ] {
        assert_eq!(SourceFormat::parse(name).unwrap().name(), name);
    }
    // forced: the Anthropic dump read as LangChain, Codex forced on a Claude session
    let (t, rej) = read_file(
        &fixture("anthropic-messages/messages_api_dumps.jsonl"),
        SourceFormat::parse("anthropic"),
    );
    assert_eq!((t.len(), rej.len()), (1, 1));
    let (t, rej) = read_file(
        &fixture("anthropic-messages/messages_api_dumps.jsonl"),
        SourceFormat::parse("langchain"),
    );
    assert!(t.is_empty());
    assert_eq!(rej[0].reason, "message 1: unknown message type ``");
    let (t, rej) = read_file(&claude, SourceFormat::parse("codex"));
    assert!(t.is_empty());
    assert_eq!(rej[0].reason, "Codex rollout without a user prompt");
    // the CLI flag
    let (stdout, _, rej) = compile(
        &[&fixture("langchain/langgraph_state_sql.json")],
        &["--format", "llamafactory"],
    );
    assert!(
        stdout.contains("1 records read = 0 written + 1 rejected"),
        "{stdout}"
    );
    assert_eq!(rej[0]["reason"], "message 1: unknown role ``");
}

#[test]
fn bad_records_are_rejected_and_the_rest_survive() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("session.jsonl");
    let mut text = std::fs::read_to_string(fixture(
        "anthropic-claude-code/claude_code_session_4c2ddfdc.jsonl",
    ))
    .unwrap();
    // a broken line, and a result for an unknown tool_use id in turn 3
    text = text.replacen("\n{\"parentUuid\"", "\n{not json\n{\"parentUuid\"", 1);
    text = text.replace(
        "\"tool_use_id\":\"toolu_bdrk_01Siz9pfbo7dpNst33AQai4F\"",
        "\"tool_use_id\":\"toolu_missing\"",
    );
    std::fs::write(&f, text).unwrap();
    let (stdout, out, rej) = compile(&[&f], &[]);
    let reasons: Vec<String> = rej
        .iter()
        .map(|r| {
            format!(
                "{}: {}",
                r["source"]["record"],
                r["reason"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        stdout.contains("4 records read = 1 written + 3 rejected"),
        "{stdout} {reasons:?}"
    );
    assert!(
        reasons[0].starts_with("2: malformed JSON line"),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("23: turn 3: line 25: tool_result for unknown tool_use id")),
        "{reasons:?}"
    );
    assert_eq!(out.len(), 1);
}
