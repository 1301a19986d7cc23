//! Structure-aware fuzzing of the readers that take users' files: config.json,
//! safetensors headers and trajectory files. Each case mutates a valid input
//! the way real files go wrong — fields deleted, retyped or set to extreme
//! values, header offsets and shapes changed, bytes flipped, files cut short —
//! and the reader must return (a value or an error), never panic.
//!
//! CI runs a seconds-long smoke (`FUZZ_SMOKE` mutations each). The long run:
//! `ACC_PROBE_FUZZ_ITERS=1000000 cargo test --release --test fuzz_inputs -- --nocapture`
//! (seeded: `ACC_PROBE_FUZZ_SEED=N` replays a run).

mod common;

use std::path::Path;

use acc_probe::compile::readers::read_file;
use acc_probe::model::Checkpoint;
use common::fixture;
use common::fuzz::{iters, mutate_bytes, mutate_json, no_panic, rng};
use rand::Rng;
use serde_json::Value;

#[test]
fn mutated_configs_never_panic() {
    let model = fixture("tiny-qwen3-moe/model");
    let base: Value =
        serde_json::from_slice(&std::fs::read(model.join("config.json")).unwrap()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::copy(model.join("model.safetensors"), d.join("model.safetensors")).unwrap();
    let mut r = rng(1);
    for i in 0..iters() {
        let mut v = base.clone();
        mutate_json(&mut v, &mut r);
        std::fs::write(d.join("config.json"), v.to_string()).unwrap();
        no_panic("config.json", i, || {
            let _ = Checkpoint::open(d);
        });
    }
}

/// The safetensors header: (length prefix, JSON header, data).
fn split_safetensors(bytes: &[u8]) -> (Value, Vec<u8>) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    (header, bytes[8 + n..].to_vec())
}

#[test]
fn mutated_safetensors_headers_never_panic() {
    let model = fixture("tiny-qwen3-moe/model");
    let bytes = std::fs::read(model.join("model.safetensors")).unwrap();
    let (header, data) = split_safetensors(&bytes);
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::copy(model.join("config.json"), d.join("config.json")).unwrap();
    let mut r = rng(2);
    for i in 0..iters() {
        let out = if r.random_bool(0.6) {
            // structure-aware: shapes, dtypes and offsets of the header
            let mut h = header.clone();
            mutate_json(&mut h, &mut r);
            let text = h.to_string().into_bytes();
            let mut out = (text.len() as u64).to_le_bytes().to_vec();
            out.extend(text);
            out.extend(&data);
            out
        } else {
            // bytes of the prefix and the header
            let mut out = bytes.clone();
            let n = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
            mutate_bytes(&mut out, &mut r, n);
            out
        };
        std::fs::write(d.join("model.safetensors"), out).unwrap();
        no_panic("model.safetensors", i, || {
            let _ = Checkpoint::open(d);
        });
    }
}

#[test]
fn mutated_trajectories_never_panic() {
    let files = [
        "trajectories/react-text/fireact_hotpotqa_gpt_format_first51.jsonl",
        "trajectories/anthropic-claude-code/claude_code_session_4c2ddfdc.jsonl",
        "trajectories/llamafactory/llamafactory_v1_sft_demo_first20.jsonl",
        "trajectories/openai-responses-codex/rollout-2026-05-11T11-26-55-019e1625-789d-76c0-80ab-3724b5ddb799_excerpt.jsonl",
    ];
    let sources: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|f| (f.to_string(), std::fs::read(fixture(f)).unwrap()))
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let mut r = rng(3);
    for i in 0..iters() {
        let (name, bytes) = &sources[i % sources.len()];
        let mut lines: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
        let k = r.random_range(0..lines.len());
        // one line: its JSON mutated where it parses, else its bytes
        match serde_json::from_slice::<Value>(&lines[k]) {
            Ok(mut v) if r.random_bool(0.7) => {
                mutate_json(&mut v, &mut r);
                lines[k] = v.to_string().into_bytes();
            }
            _ => {
                let n = lines[k].len();
                mutate_bytes(&mut lines[k], &mut r, n);
            }
        }
        if r.random_bool(0.2) {
            lines.truncate(r.random_range(1..=lines.len()));
        }
        let f = tmp.path().join(Path::new(name).file_name().unwrap());
        std::fs::write(&f, lines.join(&b'\n')).unwrap();
        no_panic(name, i, || {
            let (trajectories, rejections) = read_file(&f, None);
            // every record ends as a trajectory or a rejection
            let _ = (trajectories, rejections);
        });
    }
}
