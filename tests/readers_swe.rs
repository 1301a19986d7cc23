//! Readers for the SWE-agent family, mini-swe-agent, SWE-Gym, OpenHands (v0
//! events and eval rows, v1 conversation folders), nebius and ADP, on real
//! files (tests/fixtures/trajectories, see MANIFEST.txt): the question is the
//! issue without its wrapper, each result belongs to its own call, the patch
//! and the verified flag come through, and files that are not trajectories
//! are refused with a reason.

use std::path::{Path, PathBuf};
use std::process::Command;

use acc_probe::compile::readers::{read_file, SourceFormat};
use acc_probe::compile::trajectory::{Step, Trajectory};
use serde_json::Value;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/trajectories")
        .join(rel)
}

fn read_one(rel: &str) -> Trajectory {
    let (mut t, r) = read_file(&fixture(rel), None);
    assert!(r.is_empty(), "{rel}: {r:?}");
    assert_eq!(t.len(), 1, "{rel}");
    t.remove(0)
}

fn obs(s: &Step) -> &str {
    s.observation
        .as_ref()
        .map(|o| o.content.as_str())
        .unwrap_or("<none>")
}

fn call_names(t: &Trajectory) -> Vec<&str> {
    t.steps
        .iter()
        .filter_map(|s| s.call.as_ref().map(|c| c.name.as_str()))
        .collect()
}

fn acc(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_acc-probe"))
        .args(args)
        .output()
        .unwrap()
}

/// Compiles `inputs`; returns (stdout, output rows, rejection rows).
fn compile(inputs: &[PathBuf], extra: &[&str]) -> (String, Vec<Value>, Vec<Value>) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o.jsonl");
    let rej = tmp.path().join("r.jsonl");
    let mut args: Vec<String> = vec!["compile".into(), "--input".into()];
    args.extend(inputs.iter().map(|p| p.display().to_string()));
    args.extend(
        [
            "--out",
            out.to_str().unwrap(),
            "--rejects",
            rej.to_str().unwrap(),
        ]
        .map(String::from),
    );
    args.extend(extra.iter().map(|s| s.to_string()));
    let o = acc(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = |p: &Path| -> Vec<Value> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    (
        String::from_utf8_lossy(&o.stdout).to_string(),
        rows(&out),
        rows(&rej),
    )
}

#[test]
fn swe_agent_1x_reused_call_ids_pair_with_the_nearest_open_call() {
    let t = read_one("swe-agent/marshmallow-1867__function_calling_replace.traj");
    assert_eq!(t.source_format, "swe-agent");
    assert_eq!(t.id, "marshmallow-code__marshmallow-1867");
    // replay_config.problem_statement.text: the clean issue
    assert!(t
        .question
        .starts_with("TimeDelta serialization precision\nHi there!"));
    assert!(!t.question.contains("INSTRUCTIONS"));
    assert_eq!(
        call_names(&t),
        [
            "create",
            "insert",
            "bash",
            "bash",
            "find_file",
            "open",
            "edit",
            "edit",
            "bash",
            "bash",
            "submit"
        ]
    );
    let s = &t.steps;
    // call_5iDdbOYybq7L19vqXmR0DPaU is used by steps 2, 3, 8 and 9
    for k in [2, 3, 8, 9] {
        assert_eq!(
            s[k].call.as_ref().unwrap().id.as_deref(),
            Some("call_5iDdbOYybq7L19vqXmR0DPaU")
        );
    }
    assert_eq!(
        s[2].call.as_ref().unwrap().args["command"],
        "python reproduce.py"
    );
    assert_eq!(obs(&s[2]), "344");
    assert!(obs(&s[3]).starts_with("AUTHORS.rst"));
    assert_eq!(obs(&s[8]), "345");
    assert_eq!(
        obs(&s[9]),
        "Your command ran successfully and did not produce any output."
    );
    // call_q3VsBszvsntfyPkxeHq4i5N1: insert (step 1), then the failed edit (step 6)
    assert!(obs(&s[1]).starts_with("[File: /testbed/reproduce.py (10 lines total)]"));
    assert!(obs(&s[6]).starts_with("Your proposed edit has introduced new syntax error(s)"));
    assert_eq!(s[5].call.as_ref().unwrap().args["line_number"], 1474);
    // footers stripped, CRLF normalised
    for st in s {
        assert!(
            !obs(st).contains("bash-$") && !obs(st).contains('\r'),
            "{}",
            obs(st)
        );
    }
    let patch = t.patch.as_deref().unwrap();
    assert_eq!(
        patch.lines().next(),
        Some("diff --git a/src/marshmallow/fields.py b/src/marshmallow/fields.py")
    );
    assert!(!patch.contains('\r'));
    assert!(patch
        .contains("+        return int(round(value.total_seconds() / base_unit.total_seconds()))"));
}

#[test]
fn swe_agent_history_only_takes_the_patch_from_submit() {
    let t = read_one("swe-agent/function_calling_simple_historyonly.traj");
    assert!(t.question.starts_with("SyntaxError: invalid syntax\n"));
    assert_eq!(
        call_names(&t),
        ["find_file", "open", "edit", "bash", "submit"]
    );
    assert_eq!(
        t.steps[0].call.as_ref().unwrap().args,
        serde_json::json!({"file_name": "missing_colon.py"})
    );
    assert_eq!(obs(&t.steps[3]), "8.2");
    let patch = t.patch.as_deref().unwrap();
    assert_eq!(
        patch.lines().next(),
        Some("diff --git a/tests/missing_colon.py b/tests/missing_colon.py")
    );
    assert!(patch.contains("+def division(a: float, b: float) -> float:"));
}

#[test]
fn swe_agent_0x_actions_pair_by_adjacency_and_drop_the_demo() {
    let t = read_one("swe-agent/pydicom__pydicom-1458__gpt4_v0.traj");
    assert!(t
        .question
        .starts_with("Pixel Representation attribute should be optional for pixel data handler"));
    assert!(!t.question.contains("DEMONSTRATION"));
    assert_eq!(
        call_names(&t),
        [
            "create",
            "edit",
            "python",
            "find_file",
            "open",
            "edit",
            "edit",
            "edit",
            "edit",
            "python",
            "rm",
            "submit"
        ]
    );
    let s = &t.steps;
    assert_eq!(
        s[0].call.as_ref().unwrap().args,
        serde_json::json!({"command": "create reproduce_bug.py"})
    );
    assert_eq!(
        obs(&s[0]),
        "[File: /pydicom__pydicom/reproduce_bug.py (1 lines total)]\n1:"
    );
    assert!(obs(&s[2]).starts_with("Traceback (most recent call last):"));
    assert!(s[1].call.as_ref().unwrap().args["command"]
        .as_str()
        .unwrap()
        .ends_with("end_of_edit"));
    assert!(obs(&s[9]).starts_with("Script completed successfully, no errors. Result: True"));
    // the submit's result comes from trajectory[-1].observation
    assert!(obs(&s[11]).starts_with("diff --git a/pydicom/pixel_data_handlers/numpy_handler.py"));
    assert_eq!(
        t.patch.as_deref().unwrap().lines().next(),
        Some("diff --git a/pydicom/pixel_data_handlers/numpy_handler.py b/pydicom/pixel_data_handlers/numpy_handler.py")
    );
}

#[test]
fn swe_bench_predictions_file_is_refused() {
    let (t, r) = read_file(&fixture("swe-agent/pydicom__all_preds.jsonl"), None);
    assert!(t.is_empty());
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].source.record, 1);
    assert!(
        r[0].reason.starts_with(
            "SWE-bench predictions file (instance_id + model_patch only, instance pydicom__pydicom-1458); contains no agent trajectory"
        ),
        "{}",
        r[0].reason
    );
}

#[test]
fn mini_swe_agent_unwraps_returncode_and_output() {
    let t = read_one("mini-swe-agent/astropy__astropy-12907_excerpt.traj.json");
    assert_eq!(t.source_format, "mini-swe-agent");
    assert_eq!(t.id, "astropy__astropy-12907");
    assert!(t.question.starts_with(
        "Modeling's `separability_matrix` does not compute separability correctly for nested CompoundModels\nConsider the following model:\n\n```python"
    ));
    assert!(t
        .question
        .ends_with("This feels like a bug to me, but I might be missing something?"));
    assert_eq!(t.steps.len(), 6);
    assert_eq!(call_names(&t), ["bash"; 6]);
    let s = &t.steps;
    assert_eq!(
        s[1].call.as_ref().unwrap().args["command"],
        "cd /testbed && cat astropy/modeling/separable.py"
    );
    assert_eq!(
        s[1].call.as_ref().unwrap().id.as_deref(),
        Some("call_00_dLk7KAakKeqOwESHBlgf3509")
    );
    assert!(obs(&s[1]).starts_with("# Licensed under a 3-clause BSD style license"));
    assert!(!s[1].observation.as_ref().unwrap().is_error);
    // returncode 1: an error, with the wrapper removed
    let err = s[2].observation.as_ref().unwrap();
    assert!(err.is_error);
    assert!(err
        .content
        .starts_with("Traceback (most recent call last):"));
    assert!(!err.content.contains("<returncode>") && !err.content.contains("</output>"));
    assert_eq!(obs(&s[0]), "./astropy/modeling/separable.py");
    // the submit command has no tool result: the exit message carries the patch
    assert!(s[5].observation.is_none());
    assert_eq!(
        t.patch.as_deref().unwrap().lines().next(),
        Some("diff --git a/astropy/modeling/separable.py b/astropy/modeling/separable.py")
    );
}

#[test]
fn swe_gym_skips_nudges_and_links_parallel_calls_by_id() {
    let t = read_one("swe-datasets/swe-gym_sample_raw_first1.json");
    assert_eq!(t.source_format, "swe-gym");
    assert_eq!(t.id, "python__mypy-15976_0");
    assert!(t.question.starts_with(
        "attrs & dataclasses false positive error with slots=True when subclassing from non-slots base class"
    ));
    assert!(!t.question.contains("<pr_description>") && !t.question.contains("Can you help me"));
    assert_eq!(t.verified, Some(true));
    // 20 calls besides finish; every one answered, no nudge taken as a result or step
    assert_eq!(call_names(&t).len(), 20);
    assert!(!call_names(&t).contains(&"finish"));
    for s in &t.steps {
        assert!(!obs(s).contains("Please continue working on the task"));
        assert!(!obs(s).starts_with("OBSERVATION:"));
        if s.call.is_some() {
            assert!(s.observation.is_some());
        }
    }
    // four parallel views in one message: each result belongs to its own call
    let views: Vec<&Step> = t
        .steps
        .iter()
        .filter(|s| {
            s.call.as_ref().is_some_and(|c| {
                [
                    "call_48gQznXiA3mkZFumuCX9Fx2U",
                    "call_32ZytJtCwm4MRljkRexXnq1i",
                    "call_M5krjhxVJ5AaD7Ew6N8xjTaI",
                    "call_tD4fy6SqJSXkVBa7nZpWeBbS",
                ]
                .contains(&c.id.as_deref().unwrap_or(""))
            })
        })
        .collect();
    assert_eq!(views.len(), 4);
    for (s, (file, first)) in views.iter().zip([
        ("attrs.py", "   297\t"),
        ("attrs.py", "   895\t"),
        ("dataclasses.py", "   243\t"),
        ("dataclasses.py", "   418\t"),
    ]) {
        let c = s.call.as_ref().unwrap();
        assert!(c.args["path"].as_str().unwrap().ends_with(file));
        assert_eq!(
            c.args["view_range"][0].as_i64().unwrap().to_string(),
            first.trim()
        );
        let o = obs(s);
        assert!(o.starts_with(&format!(
            "Here's the result of running `cat -n` on /workspace/python__mypy__1.6/mypy/plugins/{file}:\n{first}"
        )), "{o}");
    }
    // errors are only in the text
    let e = t
        .steps
        .iter()
        .find(|s| obs(s).starts_with("ERROR:"))
        .unwrap();
    assert!(e.observation.as_ref().unwrap().is_error);
    assert!(t
        .final_answer
        .as_deref()
        .unwrap()
        .starts_with("The task has been successfully completed."));
    assert_eq!(
        t.patch.as_deref().unwrap().lines().next(),
        Some("diff --git a/mypy/plugins/attrs.py b/mypy/plugins/attrs.py")
    );
}

#[test]
fn openhands_v0_event_list_is_one_trajectory() {
    let t = read_one("openhands/openhands_v0_events_basic.json");
    assert_eq!(t.source_format, "openhands");
    assert_eq!(
        t.question,
        "Please create a simple 2048 game. No need to run it. Please finish the interaction after your finish coding."
    );
    assert_eq!(t.steps.len(), 1);
    let c = t.steps[0].call.as_ref().unwrap();
    assert_eq!(c.name, "str_replace_editor");
    assert_eq!(c.id.as_deref(), Some("toolu_017nBp7UfiGqyrA7j77HgtFP"));
    // the real arguments come from the model response, not the empty args.content
    assert_eq!(c.args["command"], "create");
    assert_eq!(c.args["path"], "/workspace/game_2048.py");
    assert!(c.args["file_text"]
        .as_str()
        .unwrap()
        .starts_with("import random\nimport keyboard"));
    assert!(
        obs(&t.steps[0]).starts_with("--- /workspace/game_2048.py\n+++ /workspace/game_2048.py")
    );
    assert!(t.steps[0]
        .reasoning
        .starts_with("I'll help you create a simple 2048 game"));
    assert!(t
        .final_answer
        .as_deref()
        .unwrap()
        .starts_with("I've created a simple implementation of the 2048 game"));
    assert_eq!(t.patch, None);
}

#[test]
fn openhands_eval_row_with_an_orphan_error_and_exit_codes() {
    let t = read_one("openhands/openhands_eval_output_ponyc-4593_excerpt.jsonl");
    assert_eq!(t.id, "ponylang__ponyc-4593");
    // instance.problem_statement, not the wrapped instruction
    assert!(t.question.starts_with(
        "CommandParser ignores parent default options when parsing leaf command\nConsider the following setup,"
    ));
    assert!(!t.question.contains("<uploaded_files>"));
    assert!(t
        .system
        .as_deref()
        .unwrap()
        .starts_with("You are OpenHands agent"));
    let names = call_names(&t);
    assert_eq!(names[0], "execute_bash");
    assert!(names.contains(&"str_replace_editor"));
    // run observations: exit code 2 (event 8) and 1 (event 20) are errors, 0 is not
    let runs: Vec<&Step> = t
        .steps
        .iter()
        .filter(|s| s.call.as_ref().is_some_and(|c| c.name == "execute_bash"))
        .collect();
    let flags: Vec<bool> = runs
        .iter()
        .map(|s| s.observation.as_ref().unwrap().is_error)
        .collect();
    assert_eq!(
        flags,
        [false, true, false, false, false, false, false, true, false, false, false, false]
    );
    // the model's call arguments
    assert_eq!(
        runs[10].call.as_ref().unwrap().args,
        serde_json::json!({"command": "find . -name \"*cli*.pony\""})
    );
    assert_eq!(
        obs(runs[10]),
        "./packages/cli/cli.pony\n./examples/net/client.pony\n./test/full-program-runner/_cli_options.pony"
    );
    // event 29: an error without cause, after a call that already had its result
    let k = t
        .steps
        .iter()
        .position(|s| obs(s).starts_with("Parameter 'command' is expected to be one of"))
        .unwrap();
    assert!(t.steps[k].call.is_none());
    assert!(t.steps[k].observation.as_ref().unwrap().is_error);
    assert!(obs(&t.steps[k - 1]).starts_with(
        "Here's the result of running `cat -n` on /workspace/ponylang__ponyc__0.1/packages/cli/cli.pony:"
    ));
    assert!(t
        .final_answer
        .as_deref()
        .unwrap()
        .starts_with("Unable to make necessary changes to the file"));
    assert_eq!(
        t.patch.as_deref().unwrap().lines().next(),
        Some("diff --git a/packages/cli/command_parser.pony b/packages/cli/command_parser.pony")
    );
}

#[test]
fn openhands_v1_folder_gives_one_trajectory_per_user_turn() {
    let (t, r) = read_file(&fixture("openhands/v1_sdk_conversation"), None);
    assert!(r.is_empty(), "{r:?}");
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].id, "cd945624-03b9-487e-bdd4-018e3f531dfd#turn1");
    assert_eq!(t[1].id, "cd945624-03b9-487e-bdd4-018e3f531dfd#turn2");
    assert_eq!((t[0].source.record, t[1].source.record), (1, 6));
    assert_eq!(
        t[0].question,
        "Use the terminal tool to run `pwd` and write the output to tool_output.txt. Reply with a short confirmation once done."
    );
    assert_eq!(t[0].steps.len(), 1);
    let c = t[0].steps[0].call.as_ref().unwrap();
    assert_eq!(c.name, "terminal");
    assert_eq!(c.id.as_deref(), Some("call_KaQ0kUcBb5tbMzhxbIx9dvoZ"));
    assert_eq!(c.args["command"], "pwd > tool_output.txt");
    assert_eq!(
        obs(&t[0].steps[0]),
        "[The command completed with exit code 0.]"
    );
    assert_eq!(
        t[0].final_answer.as_deref(),
        Some("The current directory has been written to tool_output.txt.")
    );
    assert!(t[0]
        .system
        .as_deref()
        .unwrap()
        .starts_with("You are OpenHands agent"));
    assert_eq!(
        t[1].question,
        "Without using any tools, summarize in one sentence what you did."
    );
    assert!(t[1].steps.iter().all(|s| s.call.is_none()));
    assert!(t[1]
        .final_answer
        .as_deref()
        .unwrap()
        .starts_with("I executed the `pwd` command"));
}

#[test]
fn openhands_v1_single_event_file_is_refused() {
    let (t, r) = read_file(
        &fixture("openhands/v1_sdk_conversation/events/event-00002-fa7668e4-a43d-4fa4-b75c-ffd642afb5b5.json"),
        None,
    );
    assert!(t.is_empty());
    assert_eq!(
        r[0].reason,
        "one OpenHands v1 event; pass the conversation folder (base_state.json + events/)"
    );
}

#[test]
fn nebius_rows_take_the_command_from_the_last_fenced_block() {
    let (t, r) = read_file(&fixture("swe-datasets/nebius_sample_raw_first2.json"), None);
    assert!(r.is_empty(), "{r:?}");
    assert_eq!(t.len(), 2);
    let t0 = &t[0];
    assert_eq!(t0.source_format, "nebius");
    assert_eq!(t0.id, "tomerfiliba__plumbum-366_17");
    assert!(t0.question.starts_with(
        "SyntaxError in plumbum/cli/image.py\nimage.py contains the line\n\nimport . as cli"
    ));
    assert_eq!(t0.verified, Some(true));
    assert_eq!(t0.steps[0].call.as_ref().unwrap().name, "ls");
    assert_eq!(t0.steps[0].call.as_ref().unwrap().args["command"], "ls -F");
    assert!(obs(&t0.steps[0]).starts_with("CHANGELOG.rst\nCONTRIBUTING.rst"));
    assert_eq!(
        t0.steps[1].call.as_ref().unwrap().args["command"],
        "find_file \"image.py\" plumbum"
    );
    assert_eq!(
        obs(&t0.steps[1]),
        "Found 1 matches for \"image.py\" in /plumbum/plumbum:\n/plumbum/plumbum/cli/image.py"
    );
    assert!(t0.steps[0]
        .reasoning
        .starts_with("To start addressing the issue"));
    assert!(!t0.steps[0].reasoning.contains("```"));
    let last = t0.steps.last().unwrap();
    assert_eq!(last.call.as_ref().unwrap().name, "submit");
    assert!(last.observation.is_none());
    assert_eq!(
        t0.patch.as_deref().unwrap().lines().next(),
        Some("diff --git a/plumbum/cli/image.py b/plumbum/cli/image.py")
    );
}

#[test]
fn adp_strips_kwarg_quotes_and_ignores_boilerplate() {
    let (t, r) = read_file(
        &fixture("swe-datasets/nebius_sample_std_ADP_first2.json"),
        None,
    );
    assert!(r.is_empty(), "{r:?}");
    assert_eq!(t.len(), 2);
    let t0 = &t[0];
    assert_eq!(t0.source_format, "adp");
    assert!(t0
        .question
        .starts_with("SyntaxError in plumbum/cli/image.py"));
    assert_eq!(
        call_names(t0),
        ["bash", "find_file", "open", "edit", "bash", "submit"]
    );
    assert_eq!(t0.steps[0].call.as_ref().unwrap().args["command"], "ls -F");
    assert_eq!(
        t0.steps[1].call.as_ref().unwrap().args,
        serde_json::json!({"file_name": "image.py", "dir": "plumbum"})
    );
    assert_eq!(
        t0.steps[3].call.as_ref().unwrap().args["replacement_text"],
        "import plumbum.cli as cli\n"
    );
    assert!(obs(&t0.steps[2])
        .starts_with("[File: /plumbum/plumbum/cli/image.py (99 lines total)]\n1:from __future__"));
    // "Task completed successfully." and "<finish> I did it!…" are not results or answers
    assert!(t0.steps[5].observation.is_none());
    assert_eq!(t0.final_answer, None);
    assert!(t0.steps.iter().all(|s| !s.text.contains("I did it")));
    assert_eq!(
        t0.patch.as_deref().unwrap().lines().next(),
        Some("diff --git a/plumbum/cli/image.py b/plumbum/cli/image.py")
    );
}

#[test]
fn every_fixture_compiles_or_is_refused_and_the_summary_reconciles() {
    let inputs: Vec<PathBuf> = ["swe-agent", "mini-swe-agent", "openhands", "swe-datasets"]
        .iter()
        .map(|d| fixture(d))
        .collect();
    let (stdout, rows, rej) = compile(&inputs, &[]);
    // 6 swe-agent + 2 mini + (1 v0 list + 1 eval row + 1 resolver row + 2 V1
    // eval rows + 2 v1 turns + 1 v1 excerpt) + 2 nebius + 2 ADP + 1 SWE-Gym,
    // + 3 SWE-chat sessions + 1 Gorilla eval row, less the predictions file,
    // the v1 turn without tool calls, the V1 eval row that never finished, the
    // v1 excerpt without its task, the SWE-chat session left unanswered and
    // the Gorilla row that never calls a tool
    assert!(
        stdout.contains("25 records read = 19 written + 6 rejected"),
        "{stdout}"
    );
    let reasons: Vec<(&str, &str)> = rej
        .iter()
        .map(|r| {
            (
                r["source"]["file"].as_str().unwrap(),
                r["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(reasons.len(), 6);
    assert!(reasons.iter().any(|(f, r)| f
        .ends_with("oh-benchmarks_openagentsafety_v1_output.jsonl")
        && r.starts_with("the run ends without a final answer or a patch")));
    assert!(reasons
        .iter()
        .any(|(f, r)| f.ends_with("v1_events_excerpt_no_task_no_finish")
            && r.starts_with("no user message with the task and no finish")));
    assert!(reasons
        .iter()
        .any(|(f, r)| f.ends_with("pydicom__all_preds.jsonl")
            && r.starts_with("SWE-bench predictions file")));
    assert!(reasons
        .iter()
        .any(|(f, r)| f.ends_with("v1_sdk_conversation")
            && *r == "a conversation with no tool call: chat, not an agent run"));
    for r in &rows {
        let m = &r["meta"];
        let src = m["source"].as_str().unwrap();
        // runs that answer in words (a CTF flag, a safety task) are not patches
        let answered = [
            "openhands_v0_events_basic",
            "v1_sdk_conversation",
            "oh-benchmarks_openagentsafety",
            "enigma0x",
            "swe-chat",
        ];
        let want = if answered.iter().any(|a| src.contains(a)) {
            "other"
        } else {
            "swe"
        };
        assert_eq!(m["domain"], want, "{src}");
        let prompt = r["dialogs"][0]["content"].as_str().unwrap();
        assert!(!prompt.contains("bash-$"), "{src}");
        if want == "swe" {
            // the patched file is evidence, and the answer is the patch
            assert!(
                m["pieces"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["kind"] == "evidence"),
                "{src}"
            );
            let answer = r["dialogs"][1]["content"].as_str().unwrap();
            assert!(answer.contains("diff --git a/"), "{src}");
            // the agent's own diff is never shown in the context
            assert!(!prompt.contains("diff --git a/"), "{src}");
        }
    }
    let marsh = rows
        .iter()
        .find(|r| r["meta"]["id"] == "marshmallow-code__marshmallow-1867")
        .unwrap();
    let ev: Vec<&str> = marsh["meta"]["pieces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "evidence")
        .map(|p| p["source"].as_str().unwrap())
        .collect();
    assert_eq!(ev, ["src/marshmallow/fields.py"]);
    // absolute view paths (/pydicom__pydicom/…) name the patched file
    let pyd = rows
        .iter()
        .find(|r| {
            r["meta"]["source"]
                .as_str()
                .unwrap()
                .contains("pydicom-1458")
        })
        .unwrap();
    assert!(pyd["meta"]["pieces"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["kind"] == "evidence"
            && p["source"] == "pydicom/pixel_data_handlers/numpy_handler.py"));
    let gym = rows
        .iter()
        .find(|r| r["meta"]["id"] == "python__mypy-15976_0")
        .unwrap();
    assert_eq!(gym["meta"]["verified"], true);
}

#[test]
fn detection_ignores_extensions_and_format_forces_a_reader() {
    let tmp = tempfile::tempdir().unwrap();
    // a .traj under a misleading name
    let odd = tmp.path().join("trajectory.jsonl");
    std::fs::copy(
        fixture("swe-agent/function_calling_simple_historyonly.traj"),
        &odd,
    )
    .unwrap();
    let (t, r) = read_file(&odd, None);
    assert!(r.is_empty(), "{r:?}");
    assert_eq!(t[0].source_format, "swe-agent");
    // --format names
    for (name, f) in [
        ("swe-agent", SourceFormat::SweAgent),
        ("mini-swe-agent", SourceFormat::MiniSweAgent),
        ("swe-gym", SourceFormat::SweGym),
        ("openhands", SourceFormat::Openhands),
        ("openhands-v1", SourceFormat::OpenhandsV1),
        ("nebius", SourceFormat::Nebius),
        ("adp", SourceFormat::Adp),
    ] {
        assert_eq!(SourceFormat::parse(name), Some(f));
        assert_eq!(f.name(), name);
    }
    // forcing a reader: the nebius rows read as ADP fail with that reader's reason
    let (stdout, rows, rej) = compile(
        &[fixture("swe-datasets/nebius_sample_raw_first2.json")],
        &["--format", "adp"],
    );
    assert!(rows.is_empty());
    assert!(
        stdout.contains("2 records read = 0 written + 2 rejected"),
        "{stdout}"
    );
    assert_eq!(rej[0]["reason"], "ADP trajectory without a content list");
    let (stdout, _, _) = compile(
        &[fixture("swe-datasets/nebius_sample_raw_first2.json")],
        &["--format", "nebius"],
    );
    assert!(
        stdout.contains("2 records read = 2 written + 0 rejected"),
        "{stdout}"
    );
}

#[test]
fn a_bad_record_is_rejected_and_the_good_ones_survive() {
    let tmp = tempfile::tempdir().unwrap();
    let rows: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(fixture("swe-datasets/nebius_sample_raw_first2.json")).unwrap(),
    )
    .unwrap();
    let bad = serde_json::json!({"instance_id": "broken_1", "trajectory": "not a list", "generated_patch": "", "target": false});
    let mixed = tmp.path().join("mixed.json");
    std::fs::write(
        &mixed,
        serde_json::to_string(&vec![rows[0].clone(), bad, rows[1].clone()]).unwrap(),
    )
    .unwrap();
    let (stdout, out, rej) = compile(std::slice::from_ref(&mixed), &["--format", "nebius"]);
    assert!(
        stdout.contains("3 records read = 2 written + 1 rejected"),
        "{stdout}"
    );
    assert_eq!(out.len(), 2);
    assert!(rej[0]["source"]["file"]
        .as_str()
        .unwrap()
        .ends_with("mixed.json"));
    assert_eq!(rej[0]["source"]["record"], 2);
    assert_eq!(rej[0]["reason"], "nebius row without a trajectory list");
    // an observation without a cause (legacy resolver output) answers the
    // action before it; one with no action waiting is refused by name
    let row = serde_json::json!({"instance_id": "x", "instruction": "Fix it", "test_result": {"git_patch": ""},
    "history": [
        {"id": 1, "source": "user", "action": "message", "args": {"content": "Fix it"}},
        {"id": 2, "source": "agent", "action": "run", "args": {"command": "ls"}},
        {"id": 3, "source": "agent", "observation": "run", "content": "a.py"}
    ]});
    let orphan = serde_json::json!({"instance_id": "y", "instruction": "Fix it", "test_result": {"git_patch": ""},
    "history": [
        {"id": 1, "source": "user", "action": "message", "args": {"content": "Fix it"}},
        {"id": 3, "source": "agent", "observation": "run", "content": "a.py"}
    ]});
    let f = tmp.path().join("eval.jsonl");
    std::fs::write(&f, format!("{row}\n{orphan}\n{{not json\n")).unwrap();
    let (t, r) = read_file(&f, None);
    assert_eq!(t.len(), 1);
    let obs = t[0].steps[0].observation.as_ref().unwrap();
    assert_eq!(obs.content, "a.py");
    assert_eq!(r.len(), 2);
    assert_eq!(
        r[0].reason,
        "event 1: `run` observation with no cause and no action before it waiting for a result"
    );
    assert_eq!(r[1].source.record, 3);
    assert!(r[1].reason.starts_with("malformed JSON line"));
}
