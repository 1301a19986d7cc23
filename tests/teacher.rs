//! `compile --reasoning teacher` against an in-process OpenAI-compatible
//! server: transport retries (5xx, garbled JSON, timeouts), rejection sampling
//! on failed verification, refusals, SQL verification on the real database,
//! bounded concurrency, and counts that reconcile.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

/// What the server does for one request.
#[derive(Clone, Debug)]
enum Act {
    Status(u16),
    Garbled,
    /// Content with a <think> block.
    Think(String, String),
    /// Answer in content, reasoning in `reasoning_content`.
    Field(String, String),
    /// Sleep past the client's timeout.
    Hang,
}

#[derive(Default)]
struct Server {
    /// question → actions for successive requests (the last one repeats)
    script: HashMap<String, Vec<Act>>,
    seen: Mutex<HashMap<String, usize>>,
    requests: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    auth: Mutex<Vec<String>>,
}

fn question_of(body: &Value) -> String {
    let user = body["messages"][1]["content"].as_str().unwrap_or("");
    user.rsplit("Question: ")
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}

fn handle(server: &Server, mut stream: TcpStream) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut len = 0usize;
    let mut auth = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let lower = l.to_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("authorization:") {
            auth = l["authorization:".len()..].trim().to_string();
        }
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    server.auth.lock().unwrap().push(auth);
    server.requests.fetch_add(1, Ordering::SeqCst);
    let now = server.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    server.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let q = question_of(&body);
    let k = {
        let mut seen = server.seen.lock().unwrap();
        let e = seen.entry(q.clone()).or_default();
        *e += 1;
        *e - 1
    };
    let acts = server
        .script
        .get(&q)
        .unwrap_or_else(|| panic!("unscripted question {q:?}"));
    let act = acts[k.min(acts.len() - 1)].clone();
    // hold the request a little so that concurrency is observable
    std::thread::sleep(Duration::from_millis(30));
    let (status, text) = match act {
        Act::Status(s) => (s, json!({"error": {"message": "scripted"}}).to_string()),
        Act::Garbled => (200, "{\"choices\": [ {\"message\": ".to_string()),
        Act::Hang => {
            std::thread::sleep(Duration::from_millis(2500));
            (200, "{}".to_string())
        }
        Act::Think(r, a) => (
            200,
            json!({"choices": [{"message": {"role": "assistant", "content": format!("<think>\n{r}\n</think>\n\n{a}")}}]})
                .to_string(),
        ),
        Act::Field(r, a) => (
            200,
            json!({"choices": [{"message": {"role": "assistant", "content": a, "reasoning_content": r}}]})
                .to_string(),
        ),
    };
    server.in_flight.fetch_sub(1, Ordering::SeqCst);
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

/// Serves until the test process ends; returns the base URL.
fn serve(server: Arc<Server>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            let server = server.clone();
            std::thread::spawn(move || handle(&server, s));
        }
    });
    format!("http://{addr}")
}

fn acc(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_acc-probe"));
    c.args(args).env_remove("OPENAI_API_KEY");
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn rows(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn agents(dir: &Path, domain: &str, n: &str) -> Vec<Value> {
    agents_seeded(dir, domain, n, "11")
}

fn agents_seeded(dir: &Path, domain: &str, n: &str, seed: &str) -> Vec<Value> {
    let o = acc(
        &[
            "agents",
            "--domain",
            domain,
            "--n",
            n,
            "--seed",
            seed,
            "--format",
            "openai",
            "--out",
            dir.join(domain).to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    rows(&dir.join(domain).join("ground_truth.jsonl"))
}

#[test]
fn teacher_reasoning_is_verified_retried_and_accounted_for() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let gt = agents(t, "search", "7");
    let q = |i: usize| gt[i]["question"].as_str().unwrap().to_string();
    let a = |i: usize| {
        gt[i]["ground_truth"]["answer"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let think = |i: usize, ans: String| Act::Think(format!("teacher reasoning {i}"), ans);
    let mut script = HashMap::new();
    // 0: right at once
    script.insert(q(0), vec![think(0, a(0))]);
    // 1: a 503, then right (transport retry, not an attempt)
    script.insert(q(1), vec![Act::Status(503), think(1, a(1))]);
    // 2: garbled JSON, a wrong answer, then right on attempt 2 (reasoning in its own field)
    script.insert(
        q(2),
        vec![
            Act::Garbled,
            think(2, "Nobody".into()),
            Act::Field("teacher reasoning 2".into(), format!("{}.", a(2))),
        ],
    );
    // 3: always wrong → rejected after 2 attempts
    script.insert(q(3), vec![think(3, "Nobody at all".into())]);
    // 4: a client error is not retried
    script.insert(q(4), vec![Act::Status(400)]);
    // 5: the server never answers in time
    script.insert(q(5), vec![Act::Hang]);
    // 6: an answer with no reasoning (an attempt lost), then one with it
    script.insert(q(6), vec![Act::Field(String::new(), a(6)), think(6, a(6))]);
    let server = Arc::new(Server {
        script,
        ..Default::default()
    });
    let url = serve(server.clone());
    let out = t.join("out.jsonl");
    let rejects = t.join("rejects.jsonl");
    let o = acc(
        &[
            "compile",
            "--input",
            t.join("search/openai").to_str().unwrap(),
            "--budget",
            "4k",
            "--out",
            out.to_str().unwrap(),
            "--rejects",
            rejects.to_str().unwrap(),
            "--reasoning",
            "teacher",
            "--endpoint",
            &format!("{url}/v1"),
            "--teacher-model",
            "stand-in",
            "--attempts",
            "2",
            "--retries",
            "2",
            "--backoff-ms",
            "1",
            "--timeout",
            "1",
            "--concurrency",
            "3",
        ],
        &[("TEACHER_TEST_KEY", "sk-test")],
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stdout.contains("7 records read = 4 written + 3 rejected"),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let got = rows(&out);
    let by_q: HashMap<String, &Value> = got
        .iter()
        .map(|r| {
            let p = r["dialogs"][0]["content"].as_str().unwrap();
            (p.rsplit("Question: ").next().unwrap().trim().to_string(), r)
        })
        .collect();
    for i in [0, 1, 2, 6] {
        let r = by_q
            .get(&q(i))
            .unwrap_or_else(|| panic!("sample {i} missing"));
        let target = r["dialogs"][1]["content"].as_str().unwrap();
        assert!(
            target.starts_with(&format!("<think>\nteacher reasoning {i}\n</think>")),
            "{target}"
        );
        assert!(target.contains(&a(i)), "{target}");
    }
    let notes = |i: usize| by_q[&q(i)]["meta"]["notes"].to_string();
    assert!(notes(0).contains("verified (exact match) on attempt 1/2"));
    assert!(notes(1).contains("on attempt 1/2"));
    assert!(notes(2).contains("verified (exact match) on attempt 2/2"));
    assert!(notes(6).contains("on attempt 2/2"));

    let rej: Vec<String> = rows(&rejects)
        .iter()
        .map(|r| r["reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(rej.len(), 3, "{rej:?}");
    assert!(rej.iter().any(
        |r| r.starts_with("teacher answers failed verification in 2 attempts (last: token F1 0.00")
    ));
    assert!(rej
        .iter()
        .any(|r| r.starts_with("teacher refused the request: HTTP 400")));
    assert!(rej
        .iter()
        .any(|r| r.starts_with("teacher unavailable after 3 tries: timed out")));

    // requests: 0:1, 1:2, 2:3, 3:2, 4:1, 5:3, 6:2
    assert_eq!(server.requests.load(Ordering::SeqCst), 14);
    let max = server.max_in_flight.load(Ordering::SeqCst);
    assert!((2..=3).contains(&max), "in flight at once: {max}");
    // no key variable set → no Authorization header
    assert!(server.auth.lock().unwrap().iter().all(String::is_empty));
}

#[test]
fn sql_answers_are_verified_on_the_database_and_keys_are_sent() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    // a seed whose tasks 0 and 2 ask the same question (and whose task 1, a
    // tracking-code lookup, has an answer that no guessed count matches)
    let gt = agents_seeded(t, "sql", "3", "25");
    let q = |i: usize| gt[i]["question"].as_str().unwrap().to_string();
    let gold = |i: usize| gt[i]["ground_truth"]["sql"].as_str().unwrap().to_string();
    // tasks 0 and 2 ask the same question (each of its own database): the same reply fits both
    assert_eq!(q(0), q(2));
    assert_eq!(gold(0), gold(2));
    let mut script = HashMap::new();
    // the gold query rewritten (lower case, another alias) gives the same result set
    let rewritten = gold(0)
        .to_lowercase()
        .replace(" o ", " ord ")
        .replace("o.", "ord.");
    script.insert(
        q(0),
        vec![Act::Think(
            "join the tables".into(),
            format!("```sql\n{rewritten}\n```"),
        )],
    );
    // task 1: a query that runs but returns other rows, then one that does not run
    script.insert(
        q(1),
        vec![
            Act::Think(
                "guess".into(),
                "```sql\nSELECT COUNT(*) FROM customers WHERE 0\n```".into(),
            ),
            Act::Think(
                "guess again".into(),
                "```sql\nSELECT nope FROM nowhere\n```".into(),
            ),
        ],
    );
    let server = Arc::new(Server {
        script,
        ..Default::default()
    });
    let url = serve(server.clone());
    let out = t.join("out.jsonl");
    let rejects = t.join("rejects.jsonl");
    let o = acc(
        &[
            "compile",
            "--input",
            t.join("sql/openai").to_str().unwrap(),
            "--db",
            t.join("sql/databases").to_str().unwrap(),
            "--budget",
            "8k",
            "--out",
            out.to_str().unwrap(),
            "--rejects",
            rejects.to_str().unwrap(),
            "--reasoning",
            "teacher",
            "--endpoint",
            &url,
            "--teacher-model",
            "stand-in",
            "--api-key-env",
            "TEACHER_TEST_KEY",
            "--attempts",
            "2",
            "--backoff-ms",
            "1",
        ],
        &[("TEACHER_TEST_KEY", "sk-test")],
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stdout.contains("3 records read = 2 written + 1 rejected"),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let got = rows(&out);
    assert_eq!(got.len(), 2);
    for r in &got {
        assert_eq!(r["meta"]["gold_sql"], gold(0));
        assert!(r["meta"]["notes"]
            .to_string()
            .contains("verified (result sets equal (1 rows)) on attempt 1/2"));
    }
    let rej = rows(&rejects);
    assert_eq!(rej.len(), 1);
    assert!(rej[0]["source"]["file"]
        .as_str()
        .unwrap()
        .ends_with("sql-00001.openai.json"));
    assert_eq!(
        rej[0]["reason"],
        "teacher answers failed verification in 2 attempts (last: predicted SQL fails: no such table: nowhere)"
    );
    assert_eq!(server.requests.load(Ordering::SeqCst), 4);
    assert!(server
        .auth
        .lock()
        .unwrap()
        .iter()
        .all(|a| a == "Bearer sk-test"));
}
