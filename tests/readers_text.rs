//! Readers for text-based trajectories on real files (tests/fixtures/trajectories,
//! see MANIFEST.txt): ReAct / FireAct, Search-R1, Spider2 spider-agent-tc, tool
//! calls written inside assistant text, and the non-trajectory files they refuse.

use std::path::{Path, PathBuf};
use std::process::Command;

use acc_probe::compile::readers::{read_file, Rejection, SourceFormat};
use acc_probe::compile::trajectory::{Step, Trajectory};
use serde_json::{json, Value};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/trajectories")
        .join(rel)
}

fn acc(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_acc-probe"))
        .args(args)
        .output()
        .unwrap()
}

fn rows(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

struct Compiled {
    summary: String,
    rows: Vec<Value>,
    rejects: Vec<Value>,
}

/// Runs `acc-probe compile` on `inputs` (plus extra args) and returns the summary, rows and rejects.
fn compile(inputs: &[&Path], extra: &[&str]) -> Compiled {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o.jsonl");
    let rej = tmp.path().join("r.jsonl");
    let mut args: Vec<String> = vec!["compile".into(), "--input".into()];
    args.extend(inputs.iter().map(|p| p.display().to_string()));
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend([
        "--out".into(),
        out.display().to_string(),
        "--rejects".into(),
        rej.display().to_string(),
    ]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = acc(&a);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    Compiled {
        summary: String::from_utf8_lossy(&o.stdout).to_string(),
        rows: rows(&out),
        rejects: rows(&rej),
    }
}

fn read(rel: &str) -> (Vec<Trajectory>, Vec<Rejection>) {
    read_file(&fixture(rel), None)
}

fn call(s: &Step) -> (&str, &Value) {
    let c = s.call.as_ref().expect("a call step");
    (c.name.as_str(), &c.args)
}

fn obs(s: &Step) -> &str {
    &s.observation.as_ref().expect("an observation").content
}

fn pieces(row: &Value) -> Vec<(String, String)> {
    row["meta"]["pieces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap().to_string(),
                p["source"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn answer(row: &Value) -> String {
    let target = row["dialogs"][1]["content"].as_str().unwrap();
    target
        .rsplit("</think>\n\n")
        .next()
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn fireact_chat_rows_become_verified_search_samples() {
    let rel = "react-text/fireact_hotpotqa_gpt_format_first51.jsonl";
    let (ts, rej) = read(rel);
    assert_eq!((ts.len(), rej.len()), (51, 0));
    let t = &ts[0];
    assert_eq!(t.source_format, "react");
    assert_eq!(
        t.question,
        "Who was once considered the best kick boxer in the world, however he has been involved in a number of controversies relating to his \"unsportsmanlike conducts\" in the sport and crimes of violence outside of the ring."
    );
    assert_eq!(t.steps.len(), 2);
    assert_eq!(
        call(&t.steps[0]),
        (
            "search",
            &json!({"query": "best kick boxer in the world unsportsmanlike conducts crimes of violence"})
        )
    );
    assert!(obs(&t.steps[0])
        .starts_with("Badr Hari (born 8 December 1984) is a Moroccan-Dutch kickboxer."));
    assert_eq!(t.steps[1].text, "Badr Hari");
    assert!(t.steps[1].call.is_none());
    assert_eq!(t.final_answer.as_deref(), Some("Badr Hari"));
    assert_eq!(t.verified, Some(true));
    // a longer one: three searches (the first found nothing), each observation with its own search
    let t = &ts[39];
    assert_eq!(t.tool_names(), vec!["search"]);
    assert_eq!(t.steps.len(), 4);
    assert_eq!(
        call(&t.steps[1]).1["query"],
        "Four-time Academy Award nominee in The Great Outdoors"
    );
    assert_eq!(obs(&t.steps[0]), "None");
    assert!(obs(&t.steps[1]).starts_with("Annette Bening made her film debut"));
    assert_eq!(obs(&t.steps[2]), "2006");
    assert_eq!(t.final_answer.as_deref(), Some("2006"));

    let c = compile(&[&fixture(rel)], &[]);
    assert!(
        c.summary
            .contains("51 records read = 50 written + 1 rejected"),
        "{}",
        c.summary
    );
    assert!(c.rows.iter().all(|r| r["meta"]["domain"] == "search"
        && r["meta"]["verified"] == true
        && r["meta"]["source_format"] == "react"));
    assert_eq!(answer(&c.rows[0]), "Badr Hari");
    assert_eq!(
        pieces(&c.rows[0]),
        vec![(
            "evidence".to_string(),
            "best kick boxer in the world unsportsmanlike conducts crimes of violence".to_string()
        )]
    );
    // an empty search result is no evidence
    assert_eq!(pieces(&c.rows[39]).len(), 2);
    // record 51 answers from the question alone: no search, nothing to build a context from
    assert_eq!(c.rejects.len(), 1);
    assert_eq!(c.rejects[0]["source"]["record"], 51);
    assert_eq!(
        c.rejects[0]["reason"],
        "a conversation with no tool call: chat, not an agent run"
    );
}

#[test]
fn fireact_alpaca_rows_and_react_numbered_runs() {
    let (ts, rej) = read("react-text/fireact_hotpotqa_alpaca_format_excerpt.json");
    assert_eq!((ts.len(), rej.len()), (3, 0));
    let t = &ts[2];
    assert_eq!(
        t.question,
        "Which magazine was started first Arthur's Magazine or First for Women?"
    );
    assert_eq!(t.steps.len(), 3);
    assert_eq!(call(&t.steps[0]).1["query"], "Arthur's Magazine start date");
    assert!(obs(&t.steps[0]).starts_with("Arthur's Magazine (1844–1846)"));
    assert_eq!(call(&t.steps[1]).1["query"], "First for Women start date");
    assert!(obs(&t.steps[1]).starts_with("The magazine was started in 1989"));
    assert_eq!(
        t.steps[1].reasoning,
        "Arthur's Magazine was started in 1844. Now I need to find the start date of First for Women."
    );
    assert_eq!(t.final_answer.as_deref(), Some("Arthur's Magazine"));
    assert_eq!(t.verified, Some(true));

    // ReAct run record: the few-shot exemplars precede the real question
    let (ts, rej) = read("react-text/react_webthink_runs_written.jsonl");
    assert_eq!((ts.len(), rej.len()), (2, 0));
    let t = &ts[0];
    assert_eq!(
        t.question,
        "The Oberoi family is part of a hotel company that has a head office in what city?"
    );
    let calls: Vec<(&str, &Value)> = t
        .steps
        .iter()
        .filter(|s| s.call.is_some())
        .map(call)
        .collect();
    assert_eq!(
        calls,
        vec![
            ("search", &json!({"query": "Oberoi family"})),
            ("search", &json!({"query": "The Oberoi Group"})),
            ("lookup", &json!({"keyword": "head office"})),
        ]
    );
    assert_eq!(
        obs(&t.steps[2]),
        "(Result 1 / 1) The Oberoi Group is a hotel company with its head office in Delhi."
    );
    assert_eq!(t.final_answer.as_deref(), Some("Delhi"));
    assert_eq!(t.verified, Some(true));
    // a run whose action was malformed and that never finished
    let t = &ts[1];
    assert_eq!(
        call(&t.steps[0]),
        ("action", &json!({"input": "Search Jim Morrison film"}))
    );
    assert_eq!(obs(&t.steps[0]), "Invalid action: Search Jim Morrison film");
    assert_eq!(t.final_answer, None);
    assert_eq!(t.verified, Some(false));

    let c = compile(
        &[&fixture("react-text/react_webthink_runs_written.jsonl")],
        &[],
    );
    assert!(
        c.summary
            .contains("2 records read = 1 written + 1 rejected"),
        "{}",
        c.summary
    );
    assert_eq!(answer(&c.rows[0]), "Delhi");
    let srcs: Vec<String> = pieces(&c.rows[0]).into_iter().map(|p| p.1).collect();
    assert_eq!(srcs.len(), 3, "{srcs:?}");
    assert!(srcs.contains(&"lookup".to_string()), "{srcs:?}");
    assert_eq!(
        c.rejects[0]["reason"],
        "the run ends without a final answer or a patch: it never finished"
    );
    assert_eq!(c.rejects[0]["kind"], "unfinished");
}

#[test]
fn react_prompt_collection_gives_its_acting_episodes() {
    // 8 prompts of exemplars: the Thought/Action/Observation episodes that
    // reach Finish[…] are trajectories, chain-of-thought and direct-answer
    // exemplars have no action
    let (ts, rej) = read("react-text/react_hotpotqa_prompts_naive.json");
    assert_eq!((ts.len(), rej.len()), (23, 28));
    assert!(rej
        .iter()
        .all(|r| r.kind == acc_probe::compile::readers::RejectKind::NoToolCalls));
    let t = &ts[0];
    assert_eq!(
        t.source.part,
        Some(
            t.source
                .to_string()
                .rsplit('#')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        )
    );
    assert!(t.steps.iter().any(|s| s.call.is_some()));
    assert!(t.final_answer.as_ref().is_some_and(|a| !a.is_empty()));
    assert!(!t.question.contains("Thought"), "{}", t.question);
    // every part number is used once
    let mut parts: Vec<usize> = ts
        .iter()
        .map(|t| t.source.part.unwrap())
        .chain(rej.iter().map(|r| r.source.part.unwrap()))
        .collect();
    parts.sort();
    assert_eq!(parts, (1..=51).collect::<Vec<_>>());
}

#[test]
fn search_r1_text_holds_two_trajectories_with_tags_parsed_after_the_assistant_marker() {
    let (ts, rej) = read("search-r1/search_r1_case.txt");
    assert_eq!((ts.len(), rej.len()), (2, 0));
    let t = &ts[0];
    assert_eq!(t.source_format, "search-r1");
    assert_eq!(t.question, "paul walkers cars in fast and furious list?");
    assert_eq!(t.system.as_deref(), Some("You are a helpful assistant."));
    let queries: Vec<&Value> = t
        .steps
        .iter()
        .filter(|s| s.call.is_some())
        .map(|s| &call(s).1["query"])
        .collect();
    // the instruction's example tags (`<search> query </search>`, `<answer> Beijing </answer>`) are not parsed
    assert_eq!(
        queries,
        vec![
            "Paul Walker's cars in Fast and Furious",
            "list of cars paul walker drove in Fast and Furious"
        ]
    );
    assert_eq!(
        t.steps[0].reasoning,
        "I need to search for Paul Walker's cars in Fast and Furious movies."
    );
    assert!(obs(&t.steps[0])
        .starts_with("Doc 1(Title: \"Paul Walker\") also had a large car collection"));
    assert!(obs(&t.steps[1]).starts_with("Doc 1(Title: \"Paul Walker\")"));
    assert!(t.steps[1]
        .reasoning
        .starts_with("From the information provided, it's clear that Paul Walker"));
    assert_eq!(t.final_answer.as_deref(), Some("Charger"));
    assert_eq!(t.verified, None);
    let t = &ts[1];
    assert_eq!(
        t.question,
        "the heart muscle is stimulated to contract by electrical impulses which are generated where?"
    );
    assert_eq!(t.tool_names(), vec!["search"]);
    assert_eq!(t.final_answer.as_deref(), Some("sinoatrial (SA) node"));

    let c = compile(&[&fixture("search-r1/search_r1_case.txt")], &[]);
    assert!(
        c.summary
            .contains("2 records read = 2 written + 0 rejected"),
        "{}",
        c.summary
    );
    // six retrieved passages in case 1, three of them distinct
    assert_eq!(
        pieces(&c.rows[0]),
        vec![("evidence".to_string(), "Paul Walker".to_string()); 3]
    );
    let mut srcs: Vec<String> = pieces(&c.rows[1]).into_iter().map(|p| p.1).collect();
    srcs.sort();
    assert_eq!(
        srcs,
        vec![
            "Cardiac pacemaker",
            "Electrical conduction system of the heart",
            "Sinoatrial node"
        ]
    );
    assert!(c.rows.iter().all(|r| r["meta"]["domain"] == "search"));
    assert_eq!(answer(&c.rows[1]), "sinoatrial (SA) node");
    let prompt = c.rows[1]["dialogs"][0]["content"].as_str().unwrap();
    assert!(prompt.contains("The sinoatrial node (SA node), also known as sinus node"));
    assert!(!prompt.contains("Doc 3(Title:"));
}

#[test]
fn search_r1_corpus_is_refused() {
    let (ts, rej) = read("search-r1/search_r1_corpus_sample.jsonl");
    assert!(ts.is_empty());
    assert_eq!(rej.len(), 10);
    assert!(rej.iter().all(|r| r.reason
        == "Search-R1 retrieval corpus (id + contents passages); no queries, actions or answers; not a trajectory"));
}

#[test]
fn spider2_rollouts_and_task_specs() {
    // the real rollout never terminated
    let c = compile(
        &[
            &fixture("sql-agent/spider2_spider-agent-tc_sf_bq024.json"),
            &fixture("sql-agent/spider2-snow_task_sf_bq024.jsonl"),
        ],
        &[],
    );
    assert!(
        c.summary
            .contains("2 records read = 0 written + 2 rejected"),
        "{}",
        c.summary
    );
    let reasons: Vec<&str> = c
        .rejects
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        vec![
            "Spider2 task specification (instance_id, instruction, db_id); contains no agent steps",
            "no final answer: the agent did not terminate (terminated=false after 25 rounds)",
        ]
    );

    let rel = "sql-agent/spider2_spider-agent-tc_terminated_written.json";
    let (ts, rej) = read(rel);
    assert_eq!((ts.len(), rej.len()), (1, 0));
    let t = &ts[0];
    assert_eq!(t.id, "sf_shop001");
    assert_eq!(t.source_format, "spider2");
    assert_eq!(
        t.question,
        "Which three customers spent the most on orders shipped in 2023? Please include the customer name and the total amount spent."
    );
    let names: Vec<&str> = t.steps.iter().map(|s| call(s).0).collect();
    assert_eq!(
        names,
        vec![
            "execute_bash",
            "execute_snowflake_sql",
            "execute_snowflake_sql",
            "terminate"
        ]
    );
    assert_eq!(call(&t.steps[0]).1["command"], "cat SHOP_DB/DDL.csv");
    assert!(obs(&t.steps[0]).starts_with("table_name,description,DDL\nCUSTOMERS"));
    let bad = t.steps[1].observation.as_ref().unwrap();
    assert!(bad.is_error && bad.content.starts_with("SQL Error: 000904 (42000)"));
    assert!(call(&t.steps[2]).1["sql"]
        .as_str()
        .unwrap()
        .starts_with("SELECT c.\"customer_name\""));
    assert_eq!(
        obs(&t.steps[2]),
        "customer_name,total_spent\nAcme Corp,15230.50\nGlobex,12875.00\nInitech,9940.25"
    );
    assert!(!t.steps[2].observation.as_ref().unwrap().is_error);
    let sql = t.final_answer.clone().unwrap();
    assert!(sql.starts_with("SELECT c.\"customer_name\", SUM(o.\"amount\") AS \"total_spent\""));
    assert!(sql.ends_with("LIMIT 3;"));

    let c = compile(&[&fixture(rel)], &[]);
    assert!(
        c.summary
            .contains("1 records read = 1 written + 0 rejected"),
        "{}",
        c.summary
    );
    let row = &c.rows[0];
    assert_eq!(row["meta"]["domain"], "sql");
    assert_eq!(answer(row), sql);
    assert!(row["meta"]["notes"][0]
        .as_str()
        .unwrap()
        .starts_with("no --db: query results seen in the trajectory"));
    assert!(row["dialogs"][0]["content"]
        .as_str()
        .unwrap()
        .contains("Acme Corp,15230.50"));

    // the same run from final_messages alone (calls written as text) reads the same
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture(rel)).unwrap()).unwrap();
    v[0].as_object_mut().unwrap().remove("conversation");
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("final_messages_only.json");
    std::fs::write(&p, v.to_string()).unwrap();
    let (ts2, rej) = read_file(&p, None);
    assert!(rej.is_empty(), "{rej:?}");
    let t2 = &ts2[0];
    let names2: Vec<&str> = t2.steps.iter().map(|s| call(s).0).collect();
    assert_eq!(names2, names);
    assert_eq!(call(&t2.steps[2]).1["sql"], call(&t.steps[2]).1["sql"]);
    assert_eq!(obs(&t2.steps[2]), obs(&t.steps[2]));
    assert!(t2.steps[1].observation.as_ref().unwrap().is_error);
    assert_eq!(t2.final_answer, t.final_answer);

    let (_, rej) = read("sql-agent/spider2-snow_task_sf_bq024.jsonl");
    assert_eq!(rej[0].source.record, 1);
}

#[test]
fn text_calls_in_openai_messages() {
    let (ts, rej) = read("text-calls/openai_messages_text_calls.jsonl");
    assert_eq!((ts.len(), rej.len()), (2, 0));
    // <function=…><parameter=…> with OBSERVATION: results in user messages
    let t = &ts[0];
    assert_eq!(
        t.question,
        "When did the Semmering railway open, and who was its chief engineer?"
    );
    assert_eq!(t.steps.len(), 3);
    assert_eq!(
        t.steps[0].text,
        "I'll search for the railway's history first."
    );
    assert_eq!(
        call(&t.steps[0]),
        (
            "web_search",
            &json!({"query": "Semmering railway opening year engineer"})
        )
    );
    assert!(obs(&t.steps[0])
        .starts_with("A Google search for 'Semmering railway opening year engineer'"));
    assert_eq!(
        call(&t.steps[1]),
        (
            "visit",
            &json!({"url": "https://en.wikipedia.org/wiki/Semmering_railway", "goal": "opening date and chief engineer"})
        )
    );
    assert!(obs(&t.steps[1])
        .starts_with("The useful information in https://en.wikipedia.org/wiki/Semmering_railway"));
    assert_eq!(
        t.final_answer.as_deref(),
        Some(
            "The Semmering railway opened on 17 July 1854; its chief engineer was Carl von Ghega."
        )
    );
    // Hermes <tool_call> JSON, two calls answered by two <tool_response> blocks in one message;
    // the system prompt's example call (Berlin) is not a call
    let t = &ts[1];
    assert_eq!(t.steps.len(), 3);
    assert_eq!(t.steps[0].text, "I'll check both cities.");
    assert_eq!(
        call(&t.steps[0]),
        (
            "get_current_weather",
            &json!({"location": "Lisbon, Portugal", "unit": "celsius"})
        )
    );
    assert_eq!(call(&t.steps[1]).1["location"], "Oslo, Norway");
    assert!(obs(&t.steps[0]).contains("\"location\": \"Lisbon, Portugal\", \"temperature\": 21"));
    assert!(obs(&t.steps[1]).contains("\"location\": \"Oslo, Norway\", \"temperature\": 4"));
    assert!(!format!("{:?}", t.steps).contains("Berlin"));

    let c = compile(
        &[&fixture("text-calls/openai_messages_text_calls.jsonl")],
        &[],
    );
    assert!(
        c.summary
            .contains("2 records read = 2 written + 0 rejected"),
        "{}",
        c.summary
    );
    assert_eq!(c.rows[0]["meta"]["domain"], "search");
    let p = pieces(&c.rows[0]);
    assert!(p.contains(&(
        "evidence".into(),
        "https://en.wikipedia.org/wiki/Semmering_railway".into()
    )));
    assert!(p.contains(&(
        "distractor".into(),
        "https://en.wikipedia.org/wiki/Carl_von_Ghega".into()
    )));
    assert_eq!(c.rows[1]["meta"]["domain"], "other");
    assert_eq!(
        answer(&c.rows[1]),
        "Lisbon is warmer: 21 °C and sunny, against 4 °C with light snow in Oslo."
    );
}

#[test]
fn text_calls_in_sharegpt_conversations() {
    let (ts, rej) = read("text-calls/sharegpt_text_calls.json");
    assert_eq!((ts.len(), rej.len()), (2, 0));
    let t = &ts[0];
    assert_eq!(t.source_format, "sharegpt");
    assert_eq!(t.steps.len(), 3);
    assert_eq!(t.steps[0].text, "Let me look at the tables first.");
    assert_eq!(
        call(&t.steps[0]).1["sql"],
        "SELECT name, sql FROM sqlite_master WHERE type = 'table';"
    );
    assert!(obs(&t.steps[0]).starts_with("name,sql\ndepartments,"));
    assert!(call(&t.steps[1]).1["sql"]
        .as_str()
        .unwrap()
        .starts_with("SELECT COUNT(*) FROM employees e JOIN departments d"));
    assert_eq!(obs(&t.steps[1]), "COUNT(*)\n7");
    assert_eq!(
        t.final_answer.as_deref(),
        Some("7 employees in the Sales department earn more than 60,000.")
    );
    // Hermes: one from:"tool" turn per call, in order; the system example (IBM) is not a call
    let t = &ts[1];
    let calls: Vec<(&str, &Value)> = t
        .steps
        .iter()
        .filter(|s| s.call.is_some())
        .map(call)
        .collect();
    assert_eq!(
        calls,
        vec![
            ("get_stock_price", &json!({"symbol": "AAPL"})),
            ("get_stock_price", &json!({"symbol": "MSFT"})),
        ]
    );
    assert_eq!(
        obs(&t.steps[0]),
        "{\"symbol\": \"AAPL\", \"price\": 189.84, \"currency\": \"USD\"}"
    );
    assert!(obs(&t.steps[1]).contains("\"MSFT\""));

    let c = compile(&[&fixture("text-calls/sharegpt_text_calls.json")], &[]);
    assert!(
        c.summary
            .contains("2 records read = 2 written + 0 rejected"),
        "{}",
        c.summary
    );
    assert_eq!(c.rows[0]["meta"]["domain"], "sql");
    assert!(pieces(&c.rows[0])
        .iter()
        .any(|p| p.1.starts_with("execute_sql: SELECT COUNT(*)")));
    assert_eq!(
        answer(&c.rows[1]),
        "Apple (AAPL) is trading at $189.84 and Microsoft (MSFT) at $415.50."
    );
}

#[test]
fn forced_formats_and_names() {
    for (name, f) in [
        ("react", SourceFormat::React),
        ("search-r1", SourceFormat::SearchR1),
        ("spider2", SourceFormat::Spider2),
    ] {
        assert_eq!(SourceFormat::parse(name), Some(f));
        assert_eq!(f.name(), name);
    }
    let c = compile(
        &[&fixture("search-r1/search_r1_case.txt")],
        &["--format", "search-r1"],
    );
    assert_eq!(c.rows.len(), 2);
    let c = compile(
        &[&fixture(
            "react-text/fireact_hotpotqa_alpaca_format_excerpt.json",
        )],
        &["--format", "react"],
    );
    assert_eq!(c.rows.len(), 3);
    // forcing a reader onto another format's rows gives that reader's refusal, per record
    let c = compile(
        &[&fixture("text-calls/sharegpt_text_calls.json")],
        &["--format", "spider2"],
    );
    assert!(
        c.summary
            .contains("2 records read = 0 written + 2 rejected"),
        "{}",
        c.summary
    );
    assert_eq!(
        c.rejects[0]["reason"],
        "no conversation or final_messages list"
    );
}

#[test]
fn bad_records_are_rejected_and_good_ones_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(fixture(
        "react-text/fireact_hotpotqa_gpt_format_first51.jsonl",
    ))
    .unwrap()
    .lines()
    .next()
    .unwrap()
    .to_string();
    let orphan = json!({"messages": [
        {"role": "user", "content": "Which river flows through Vienna?"},
        {"role": "user", "content": "Observation: Vienna lies on the Danube."},
        {"role": "assistant", "content": "Thought: It is the Danube.\nAction: finish[Danube]"}
    ]})
    .to_string();
    let jsonl = tmp.path().join("mixed.jsonl");
    std::fs::write(
        &jsonl,
        [good.as_str(), "{not json", orphan.as_str()].join("\n"),
    )
    .unwrap();
    // a Search-R1 file whose second case was cut before the assistant turn
    let text = std::fs::read_to_string(fixture("search-r1/search_r1_case.txt")).unwrap();
    let cut = text.rfind("<|im_start|>assistant").unwrap();
    let txt = tmp.path().join("cut.txt");
    std::fs::write(&txt, &text[..cut]).unwrap();
    let c = compile(&[&jsonl, &txt], &[]);
    assert!(
        c.summary
            .contains("5 records read = 2 written + 3 rejected"),
        "{}",
        c.summary
    );
    let got: Vec<String> = c
        .rejects
        .iter()
        .map(|r| {
            format!(
                "{}:{} {}",
                r["source"]["file"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap(),
                r["source"]["record"],
                r["reason"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            "cut.txt:2 no <|im_start|>assistant turn",
            "mixed.jsonl:2 malformed JSON line: key must be a string at line 1 column 2",
            "mixed.jsonl:3 observation `Vienna lies on the Danube.` answers no action",
        ]
    );
}
