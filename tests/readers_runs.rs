//! What the readers take from real runs: the task behind templates and
//! worked examples, calls paired with their results, the answer, the
//! verified flag; and the runs they refuse, for their true reason.

mod common;

use std::path::Path;

use acc_probe::compile::readers::{read_file, RejectKind};
use acc_probe::compile::trajectory::{Step, Trajectory};
use common::fixture;

fn read(rel: &str) -> (Vec<Trajectory>, Vec<acc_probe::compile::readers::Rejection>) {
    read_file(&fixture(&format!("trajectories/{rel}")), None)
}

fn calls(t: &Trajectory) -> Vec<&Step> {
    t.steps.iter().filter(|s| s.call.is_some()).collect()
}

fn obs(s: &Step) -> &str {
    s.observation.as_ref().map_or("", |o| o.content.as_str())
}

#[test]
fn an_llm_call_log_is_its_prompt_then_its_reply() {
    let (ts, rej) = read("openai-chat/openhands-sdk_llmlog_deepseek_nonfncall.json");
    assert!(rej.is_empty(), "{rej:?}");
    let t = &ts[0];
    // the worked example before the task is not the task
    assert_eq!(
        t.question,
        "Hello! Can you create a new Python file named hello.py that prints 'Hello, World!'?"
    );
    // three text calls answered by `EXECUTION RESULT` turns, then the reply's finish
    let c = calls(t);
    assert_eq!(c.len(), 4);
    assert_eq!(c[3].call.as_ref().unwrap().name, "finish");
    assert!(c[..3].iter().all(|s| s.observation.is_some()));
    assert!(c.iter().all(|s| !obs(s).starts_with("EXECUTION RESULT")));
    assert!(obs(c[2]).starts_with("Hello, World!"), "{}", obs(c[2]));
    // the reply's finish call is the answer
    assert!(t
        .final_answer
        .as_deref()
        .unwrap()
        .starts_with("The hello.py file already exists"));
}

#[test]
fn tau_bench_turns_the_users_replies_into_results_and_drops_the_stop() {
    let (ts, rej) = read("openai-chat/tau-bench_gpt-4o-airline_first3records.json");
    assert_eq!((ts.len(), rej.len()), (3, 0));
    let t = &ts[0];
    assert_eq!(
        t.question,
        "Hi! I'm looking to book a flight from New York to Seattle on May 20th."
    );
    assert_eq!(t.verified, Some(false));
    let respond: Vec<&Step> = calls(t)
        .into_iter()
        .filter(|s| s.call.as_ref().unwrap().name == "respond")
        .collect();
    assert!(respond.iter().any(|s| obs(s).contains("mia_li_3668")));
    assert!(t
        .final_answer
        .as_deref()
        .unwrap()
        .starts_with("Your flight from New York"));
    let all = serde_json::to_string(t).unwrap();
    assert!(!all.contains("###STOP###"));
}

#[test]
fn agentbench_text_actions_and_the_question_after_the_instructions() {
    let (ts, rej) = read("agentbench/medagentbench_gpt-4o_runs_first2lines.jsonl");
    assert_eq!((ts.len(), rej.len()), (2, 0));
    let t = &ts[0];
    assert!(t.question.starts_with("Context:") || t.question.starts_with("Question:"));
    assert!(t.question.contains("HbA1C"), "{}", t.question);
    assert!(t.system.as_deref().unwrap().contains("FHIR"));
    let c = calls(t);
    assert_eq!(c[0].call.as_ref().unwrap().name, "http_get");
    assert!(obs(c[0]).starts_with("Here is the response from the GET request"));
    assert_eq!(
        t.final_answer.as_deref(),
        Some("[6.1, \"2023-10-13T22:22:00+00:00\"]")
    );
}

#[test]
fn a_gemini_append_log_keeps_each_message_once() {
    let (ts, rej) = read("other-cli-agents/vibecodingtracker_session.jsonl");
    assert_eq!((ts.len(), rej.len()), (1, 1));
    // messages re-emitted while they stream count once: 10 calls, each answered
    let c = calls(&ts[0]);
    assert_eq!(c.len(), 10);
    assert!(c.iter().all(|s| s.observation.is_some()));
    assert_eq!(rej[0].kind, RejectKind::Unfinished);
    assert!(rej[0].reason.contains("cancelled"), "{}", rej[0].reason);
}

#[test]
fn toolbench_answers_with_its_finish_call() {
    let (ts, rej) = read("toolbench/toolbench_raw_answer_82217_ChatGPT_DFS_woFilter_w2.json");
    assert!(rej.is_empty());
    let t = &ts[0];
    assert!(t.question.starts_with("I'm planning a surprise party"));
    assert_eq!(calls(t).len(), 3);
    assert!(calls(t).iter().all(|s| s.observation.is_some()));
    assert!(t
        .final_answer
        .as_deref()
        .unwrap()
        .starts_with("Here are some meaningful quotes"));
    let (ts, rej) = read("toolbench/stabletoolbench_cot_588_CoT1_failed.json");
    assert!(ts.is_empty());
    assert_eq!(rej[0].kind, RejectKind::Unfinished);
}

#[test]
fn spider_agent_observations_answer_the_step_before() {
    let (ts, _) = read("sql-agent/spider_agent_early_result_9863d716.json");
    let c = calls(&ts[0]);
    assert_eq!(c[0].call.as_ref().unwrap().name, "Bash");
    assert!(obs(c[0]).starts_with("total 12"), "{}", obs(c[0]));
    assert_eq!(ts[0].final_answer.as_deref(), Some("query.py"));
    let (ts, rej) = read("sql-agent/spider_agent_early_result_335fb285.json");
    assert!(ts.is_empty());
    assert_eq!(rej[0].kind, RejectKind::NoAnswer);
}

#[test]
fn a_reflexion_run_log_is_graded_by_its_sections() {
    let (ts, rej) = read("react-text/reflexion_hotpotqa_react_base_100q_5trials_excerpt.txt");
    assert_eq!((ts.len(), rej.len()), (3, 2));
    let first = &ts[0];
    assert_eq!(
        first.question,
        "Which of Jonny Craig and Pete Doherty has been a member of more bands ?"
    );
    assert_eq!(first.final_answer.as_deref(), Some("Jonny Craig"));
    assert_eq!(first.verified, Some(true));
    assert!(rej
        .iter()
        .all(|r| r.kind == RejectKind::Unfinished && r.reason.starts_with("halted")));
}

#[test]
fn legacy_resolver_observations_pair_with_the_action_before_them() {
    let (ts, rej) = read("openhands/openhands_resolver_mock_output_row1.jsonl");
    assert!(rej.is_empty(), "{rej:?}");
    let t = &ts[0];
    let c = calls(t);
    assert!(c.iter().all(|s| s.observation.is_some()));
    assert_eq!(c[0].call.as_ref().unwrap().args["command"], "touch LICENSE");
    assert!(t
        .patch
        .as_deref()
        .unwrap()
        .starts_with("diff --git a/LICENSE"));
    assert_eq!(t.verified, Some(true));
}

#[test]
fn enigma_answers_with_its_flag_and_asks_the_challenge() {
    let (ts, _) = read("swe-agent/enigma0x_networking_1.traj");
    let t = &ts[0];
    assert!(t
        .question
        .starts_with("We're currently solving the following CTF challenge"));
    assert!(!t.question.contains("INSTRUCTIONS:"));
    assert_eq!(
        t.final_answer.as_deref(),
        Some("flag{d316759c281bf925d600be698a4973d5}")
    );
    assert_eq!(t.patch, None);
}

fn session(dir: &Path, name: &str, lines: &[serde_json::Value]) -> std::path::PathBuf {
    let p = dir.join(name);
    let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    std::fs::write(&p, text.join("\n")).unwrap();
    p
}

#[test]
fn claude_code_rejected_interrupted_and_sub_agent_turns() {
    use serde_json::json;
    let tmp = tempfile::tempdir().unwrap();
    let line = |t: &str, side: bool, content: serde_json::Value| {
        json!({"type": t, "uuid": format!("u{}", content.to_string().len()), "sessionId": "s",
               "isSidechain": side, "message": {"role": t, "content": content}})
    };
    let rejected = "The user doesn't want to proceed with this tool use. The tool use was rejected (eg. if it was a file edit, the new_string was NOT written to the file). STOP what you are doing and wait for the user to tell you how to proceed.";
    let main = session(
        tmp.path(),
        "main.jsonl",
        &[
            line("user", false, json!("delete the logs")),
            line(
                "assistant",
                false,
                json!([{"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "rm -r logs"}}]),
            ),
            json!({"type": "user", "uuid": "r1", "sessionId": "s", "toolUseResult": "User rejected tool use",
                   "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": rejected, "is_error": true}]}}),
            line(
                "user",
                false,
                json!([{"type": "text", "text": "[Request interrupted by user for tool use]"}]),
            ),
            line("user", false, json!("list the files instead")),
            line(
                "assistant",
                false,
                json!([{"type": "tool_use", "id": "t2", "name": "Bash", "input": {"command": "ls"}}]),
            ),
            json!({"type": "user", "uuid": "r2", "sessionId": "s",
                   "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t2", "content": "a\nb"}]}}),
            line(
                "user",
                false,
                json!([{"type": "text", "text": "[Request interrupted by user]"}]),
            ),
        ],
    );
    let (ts, rej) = read_file(&main, None);
    assert!(ts.is_empty(), "{ts:?}");
    let kinds: Vec<RejectKind> = rej.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [RejectKind::ToolsRejected, RejectKind::Unfinished]);
    assert!(rej[1].reason.contains("interrupted"), "{}", rej[1].reason);
    // a sub-agent's transcript: side chain throughout, its first user line the task
    let sub = session(
        tmp.path(),
        "agent-a1.jsonl",
        &[
            line("user", true, json!("count the lines of a.txt")),
            line(
                "assistant",
                true,
                json!([{"type": "tool_use", "id": "t3", "name": "Bash", "input": {"command": "wc -l a.txt"}}]),
            ),
            json!({"type": "user", "uuid": "r3", "sessionId": "s", "isSidechain": true,
                   "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t3", "content": "12 a.txt"}]}}),
            line(
                "assistant",
                true,
                json!([{"type": "text", "text": "a.txt has 12 lines."}]),
            ),
        ],
    );
    let (ts, rej) = read_file(&sub, None);
    assert!(rej.is_empty(), "{rej:?}");
    assert_eq!(ts[0].question, "count the lines of a.txt");
    assert_eq!(ts[0].final_answer.as_deref(), Some("a.txt has 12 lines."));
}

#[test]
fn codex_declined_and_aborted_turns() {
    use serde_json::json;
    let tmp = tempfile::tempdir().unwrap();
    let ev = |ty: &str, payload: serde_json::Value| json!({"timestamp": "t", "type": ty, "payload": payload});
    let p = session(
        tmp.path(),
        "rollout.jsonl",
        &[
            ev("session_meta", json!({"id": "r1", "cwd": "/w"})),
            ev(
                "event_msg",
                json!({"type": "user_message", "message": "delete build/"}),
            ),
            ev(
                "response_item",
                json!({"type": "function_call", "name": "shell", "call_id": "c1", "arguments": "{\"command\": [\"bash\", \"-lc\", \"rm -rf build\"]}"}),
            ),
            ev(
                "response_item",
                json!({"type": "function_call_output", "call_id": "c1", "output": "exec command rejected by user"}),
            ),
            ev(
                "event_msg",
                json!({"type": "user_message", "message": "show the readme"}),
            ),
            ev(
                "response_item",
                json!({"type": "function_call", "name": "shell", "call_id": "c2", "arguments": "{\"command\": [\"cat\", \"README\"]}"}),
            ),
            ev(
                "response_item",
                json!({"type": "function_call_output", "call_id": "c2", "output": "hello"}),
            ),
            ev(
                "event_msg",
                json!({"type": "turn_aborted", "reason": "interrupted"}),
            ),
        ],
    );
    let (ts, rej) = read_file(&p, None);
    assert!(ts.is_empty(), "{ts:?}");
    let kinds: Vec<RejectKind> = rej.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [RejectKind::ToolsRejected, RejectKind::Unfinished]);
}

#[test]
fn a_bare_list_of_messages_is_one_conversation() {
    let (ts, rej) = read("openai-chat/oh_agent-sdk_fncall-llm-message_hello.json");
    assert_eq!((ts.len(), rej.len()), (1, 0));
    assert!(calls(&ts[0]).len() >= 4);
    let (ts, rej) = read("mini-swe-agent/miniswe_messages_only_github_issue.traj.json");
    assert_eq!((ts.len(), rej.len()), (1, 0));
    assert_eq!(ts[0].source_format, "mini-swe-agent");
    assert!(ts[0].question.starts_with("GitHub Issue: SyntaxError"));
}
