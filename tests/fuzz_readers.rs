//! Structure-aware fuzzing of every trajectory reader. Each record reader
//! of the registry gets the real records of the fixtures that it detects,
//! mutated (fields deleted, retyped or set to extreme values; strings cut,
//! repeated or spliced with the markers the text dialects key on), read as
//! its own format and by detection, then compiled. The session and text
//! layouts (Claude Code, Codex, Gemini append logs, ReAct run logs,
//! Search-R1 text) get their files' lines mutated the same way. A reader
//! must return trajectories or refusals, never panic.
//!
//! CI runs the smoke (`SMOKE` mutations per reader). The long run, a
//! million per reader:
//! `ACC_PROBE_FUZZ_ITERS=1000000 cargo test --release --test fuzz_readers -- --nocapture`
//! (seeded: `ACC_PROBE_FUZZ_SEED=N` replays a run; `ACC_PROBE_FUZZ_ONLY=openai,codex`
//! runs the named readers only, so a long run can be split over processes).

mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use acc_probe::compile::pipeline::{collect_files, compile_one, CompileOptions};
use acc_probe::compile::readers::{
    claude_code, codex, detect_record, gemini_cli, react, read_record, search_r1, text_calls,
    SourceFormat, REGISTRY,
};
use acc_probe::compile::trajectory::{SourceRef, Trajectory};
use common::fuzz::{iters_or, mutate_record, mutate_text, no_panic, rng};
use common::{compile_opts, fixture, Chars};
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::Value;

/// Mutations per reader in the CI smoke (a few seconds in all).
const SMOKE: usize = 2000;

fn iters() -> usize {
    iters_or(SMOKE)
}

/// Whether `ACC_PROBE_FUZZ_ONLY` (a comma list of reader names) selects `name`.
fn selected(name: &str) -> bool {
    std::env::var("ACC_PROBE_FUZZ_ONLY")
        .map(|only| only.split(',').any(|n| n.trim() == name))
        .unwrap_or(true)
}

fn opts() -> CompileOptions {
    compile_opts(4096)
}

fn src() -> SourceRef {
    SourceRef {
        file: "fuzz.json".into(),
        record: 1,
        part: None,
    }
}

/// Reads' downstream: the text-call pass and the compiler.
fn compile_all(ts: impl IntoIterator<Item = Trajectory>) {
    for mut t in ts {
        text_calls::lift(&mut t);
        let _ = compile_one(&t, &opts(), &Chars);
    }
}

/// The JSON records of every fixture file, by the format that detects them.
fn seeds() -> BTreeMap<&'static str, Vec<Value>> {
    let mut by: BTreeMap<&'static str, Vec<Value>> = BTreeMap::new();
    let mut files = collect_files(&[fixture("trajectories")]).unwrap();
    // a conversation folder's events, one record each
    for dir in files.clone().iter().filter(|f| f.is_dir()) {
        let mut events: Vec<_> = std::fs::read_dir(dir.join("events"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        events.sort();
        files.extend(events);
    }
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        let records: Vec<Value> = match serde_json::from_str::<Value>(&text) {
            Ok(Value::Array(items)) => {
                let mut all = items.clone();
                all.push(Value::Array(items));
                all
            }
            Ok(v) => vec![v],
            Err(_) => text
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect(),
        };
        for v in records {
            if let Some(fmt) = detect_record(&v) {
                by.entry(fmt.name()).or_default().push(v);
            }
        }
    }
    by
}

#[test]
fn every_record_reader_survives_mutated_records() {
    let seeds = seeds();
    let mut r = rng(11);
    for reader in REGISTRY {
        let fmt = reader.format();
        if !selected(fmt.name()) {
            continue;
        }
        let Some(pool) = seeds.get(fmt.name()) else {
            // the session formats are read whole-file, below
            assert!(
                matches!(fmt, SourceFormat::ClaudeCode | SourceFormat::Codex),
                "no fixture record detects as {}",
                fmt.name()
            );
            continue;
        };
        let started = Instant::now();
        for i in 0..iters() {
            let mut v = pool[i % pool.len()].clone();
            mutate_record(&mut v, &mut r);
            no_panic(fmt.name(), i, || {
                for res in read_record(&v, src(), Some(fmt))
                    .into_iter()
                    .chain(read_record(&v, src(), None))
                {
                    compile_all(res.ok());
                }
            });
        }
        eprintln!(
            "{:>15}: {} mutations of {} records in {:.1?}",
            fmt.name(),
            iters(),
            pool.len(),
            started.elapsed()
        );
    }
}

/// One line of a file, mutated as JSON where it parses, else as text.
fn mutate_lines(text: &str, r: &mut StdRng) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if lines.is_empty() {
        return String::new();
    }
    for _ in 0..r.random_range(1..=2) {
        let k = r.random_range(0..lines.len());
        match serde_json::from_str::<Value>(&lines[k]) {
            Ok(mut v) => {
                mutate_record(&mut v, r);
                lines[k] = v.to_string();
            }
            Err(_) => mutate_text(&mut lines[k], r),
        }
    }
    if r.random_bool(0.1) {
        lines.truncate(r.random_range(1..=lines.len()));
    }
    lines.join("\n")
}

#[test]
fn every_session_and_text_reader_survives_mutated_lines() {
    type Reader = fn(&str) -> (Vec<Trajectory>, usize);
    fn lines_of(text: &str) -> Vec<(usize, &str)> {
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| (i + 1, l))
            .collect()
    }
    let cases: [(&str, &str, Reader); 6] = [
        (
            "claude-code",
            "anthropic-claude-code/spotter_main-session_with-task-subagent.jsonl",
            |t| {
                let (ts, rs) = claude_code::read(&lines_of(t), "f");
                (ts, rs.len())
            },
        ),
        (
            "codex",
            "openai-responses-codex/rollout-2026-05-11T11-26-55-019e1625-789d-76c0-80ab-3724b5ddb799_excerpt.jsonl",
            |t| {
                let (ts, rs) = codex::read(&lines_of(t), "f");
                (ts, rs.len())
            },
        ),
        (
            "codex (early layout)",
            "openai-responses-codex/rollout-44444444-4444-4444-8444-444444444444.legacy.jsonl",
            |t| {
                let (ts, rs) = codex::read(&lines_of(t), "f");
                (ts, rs.len())
            },
        ),
        (
            "gemini-cli log",
            "other-cli-agents/vibecodingtracker_session.jsonl",
            |t| {
                let (session, _) = gemini_cli::rebuild_log(&lines_of(t));
                let recs = gemini_cli::read_records(&session, SourceRef { file: "f".into(), record: 1, part: None });
                let n = recs.len();
                (recs.into_iter().filter_map(Result::ok).collect(), n)
            },
        ),
        (
            "react run log",
            "react-text/reflexion_hotpotqa_react_base_100q_5trials_excerpt.txt",
            |t| {
                let (ts, rs) = react::read_text(t, "f");
                (ts, rs.len())
            },
        ),
        ("search-r1 text", "search-r1/search_r1_case.txt", |t| {
            let (ts, rs) = search_r1::read_text(t, "f");
            (ts, rs.len())
        }),
    ];
    let mut r = rng(12);
    for (name, rel, read) in cases {
        if !selected(name) {
            continue;
        }
        let text = std::fs::read_to_string(fixture(&format!("trajectories/{rel}"))).unwrap();
        let started = Instant::now();
        for i in 0..iters() {
            let mutated = mutate_lines(&text, &mut r);
            no_panic(name, i, || {
                let (ts, _) = read(&mutated);
                compile_all(ts);
            });
        }
        eprintln!(
            "{name:>20}: {} mutations in {:.1?}",
            iters(),
            started.elapsed()
        );
    }
}

#[test]
fn the_conversation_folder_reader_survives_mutated_events() {
    if !selected("openhands-v1 folder") {
        return;
    }
    let conv = fixture("trajectories/openhands/v1_sdk_conversation");
    let mut names: Vec<_> = std::fs::read_dir(conv.join("events"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    let events: Vec<(std::ffi::OsString, Value)> = names
        .into_iter()
        .map(|n| {
            let v = serde_json::from_slice(&std::fs::read(conv.join("events").join(&n)).unwrap())
                .unwrap();
            (n, v)
        })
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("events")).unwrap();
    std::fs::copy(conv.join("base_state.json"), dir.join("base_state.json")).unwrap();
    let mut r = rng(13);
    // the folder is rewritten each time; fewer rounds than the in-memory readers
    let rounds = (iters() / 10).max(30);
    let started = Instant::now();
    for i in 0..rounds {
        let k = r.random_range(0..events.len());
        for (j, (name, v)) in events.iter().enumerate() {
            let mut v = v.clone();
            if j == k {
                mutate_record(&mut v, &mut r);
            }
            std::fs::write(dir.join("events").join(name), v.to_string()).unwrap();
        }
        no_panic("openhands-v1 folder", i, || {
            let (ts, _) = acc_probe::compile::readers::openhands_v1::read_dir(dir);
            compile_all(ts);
        });
    }
    eprintln!(
        "openhands-v1 folder: {rounds} mutations in {:.1?}",
        started.elapsed()
    );
}
