//! `acc-probe train` and `acc-probe reproduce --quick` end to end.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_acc-probe"))
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{:?} failed:\n{}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json_file(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

#[test]
fn reproduce_quick_runs_end_to_end_and_bundles_both_models() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let bundle = dir.path().join("bundle");
    let stdout = run_ok(bin().args([
        "--threads",
        "2",
        "reproduce",
        "--quick",
        "--out",
        out.to_str().unwrap(),
        "--bundle",
        bundle.to_str().unwrap(),
    ]));
    assert!(
        stdout.contains("| mrcr |") && stdout.contains("| graphwalks |"),
        "{stdout}"
    );
    let report = json_file(&out.join("results.json"));
    let c = &report["counts"];
    let n = |k: &str| c[k].as_u64().unwrap_or_else(|| panic!("count {k}"));
    // 12 episodes per domain and 6 repository-history ones, each written in
    // one format, each read back once
    assert_eq!(n("trajectories"), 42);
    assert_eq!(n("trajectory_records_rejected"), 0);
    assert_eq!(n("acc_rows") + n("acc_rejected"), n("trajectories"));
    assert!(n("acc_rows") >= 36, "{c}");
    assert_eq!(n("agent_sft_rows"), 42);
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    for r in results {
        assert_eq!(r["base"]["n"], 6);
        let mean = r["acc"]["mean"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&mean));
    }
    // trajectories in several formats were written and compiled
    for f in [
        "search-openai",
        "sql-claude-code",
        "swe-sharegpt",
        "swe-swe-agent",
        "history-openai",
        "history-sharegpt",
    ] {
        assert!(out.join("trajectories").join(f).is_dir(), "{f}");
    }
    // each stage has its metrics and the models are HF directories
    for (stage, steps) in [
        ("base-copy", 4),
        ("base-copy-long", 2),
        ("base-lm", 6),
        ("base", 6),
        ("acc", 6),
    ] {
        let m = std::fs::read_to_string(out.join(stage).join("train/metrics.jsonl")).unwrap();
        assert!(m.lines().count() >= steps, "{stage}");
    }
    // the copy stage trained a 2-layer model, grown to the preset's 4 layers
    // (same logits) for the stages after it
    let layers = |d: &str| json_file(&out.join(d).join("config.json"))["num_hidden_layers"].clone();
    assert_eq!(layers("base-copy"), 2);
    assert_eq!(layers("base-copy-grown"), 4);
    assert_eq!(layers("base-copy-long"), 4);
    assert_eq!(layers("acc"), 4);
    let long_run = json_file(&out.join("base-copy-long/train/run.json"));
    assert!(long_run["init"]["model"]["dir"]
        .as_str()
        .unwrap()
        .ends_with("base-copy-grown"));
    let ids: Vec<u32> = (0..40).map(|i| (i * 31 % 500) as u32 + 5).collect();
    let logits = |d: &str| {
        let m =
            acc_probe::model::Qwen3Moe::from_dir(out.join(d), &candle_core::Device::Cpu).unwrap();
        m.logits(&ids)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_dtype(candle_core::DType::F32)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    };
    assert_eq!(logits("base-copy"), logits("base-copy-grown"));
    // every stage's model was checked on held-out copy drills
    let report = json_file(&out.join("results.json"));
    for stage in ["base-copy", "base-copy-long", "base-lm", "base", "acc"] {
        let c = &report["drill_checks"][stage];
        let kinds = |part: &str| -> Vec<String> {
            c[part]
                .as_array()
                .unwrap_or_else(|| panic!("{stage}: no {part} drill check"))
                .iter()
                .map(|k| {
                    assert_eq!(k["n"], 1, "{stage}");
                    assert!(k["exact"].as_u64().unwrap() <= 1);
                    // every kind copies a node name or hash: tokens of
                    // each role, with probabilities
                    // (a hash drill's answer is the hash alone: no rest)
                    let f = &k["forced"];
                    for (i, role) in ["start", "inside", "rest"].iter().enumerate() {
                        if k["kind"] == "hash" && *role == "rest" {
                            assert_eq!(f["tokens"][i], 0);
                            continue;
                        }
                        assert!(f["tokens"][i].as_u64().unwrap() > 0, "{stage} {k}");
                        let p = f[role].as_f64().unwrap();
                        assert!(p > 0.0 && p <= 1.0, "{stage} {role} {p}");
                    }
                    k["kind"].as_str().unwrap().to_string()
                })
                .collect()
        };
        assert_eq!(kinds("short"), ["list", "hash", "one-hop"]);
        assert_eq!(kinds("long"), ["lookup", "recall"]);
        assert!(out.join(stage).join("drill_check.json").is_file());
    }
    let table = std::fs::read_to_string(out.join("results.md")).unwrap();
    assert!(table.contains("| base-copy-long | short "), "{table}");
    for m in ["base", "acc"] {
        let d = bundle.join(m);
        assert!(!d.join("train").exists());
        acc_probe::model::Qwen3Moe::from_dir(&d, &candle_core::Device::Cpu).unwrap();
        assert_eq!(json_file(&d.join("config.json"))["torch_dtype"], "bfloat16");
    }
    // a rerun continues: every stage is found done and the results are the same
    let again = run_ok(bin().args([
        "--threads",
        "2",
        "reproduce",
        "--quick",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]));
    let again: Value = serde_json::from_str(&again).unwrap();
    assert_eq!(again["results"], report["results"]);
}

/// The data rows of a run's JSONL file, as JSON text.
fn rows(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn reproduce_keeps_long_rows_for_acc_with_long_practice_acc() {
    let dir = tempfile::tempdir().unwrap();
    let (out, preset) = (dir.path().join("run"), dir.path().join("p.json"));
    let fields = serde_json::json!({
        "long_practice": "acc", "long_copy_steps": 0, "grow_before": "end",
        "graph_copy_drills": 30, "long_graph_drills": 10, "sft_rehearsal": 40,
        "copy_steps": 2, "lm_steps": 2, "sft_steps": 2, "acc_steps": 2,
        "control_steps": 2, "drill_checks": 0, "eval_n": 2, "max_new_tokens": 4
    });
    std::fs::write(&preset, fields.to_string()).unwrap();
    let args = ["--threads", "2", "reproduce", "--quick", "--json", "--out"];
    let mut cmd = bin();
    cmd.args(args).arg(&out).arg("--preset").arg(&preset);
    let report: Value = serde_json::from_str(&run_ok(&mut cmd)).unwrap();
    let c = &report["counts"];
    let n = |k: &str| c[k].as_u64().unwrap_or_else(|| panic!("count {k}"));
    // quick: 60 copy drills; 20 ramp drills
    assert_eq!((n("copy_rows"), n("long_copy_rows")), (90, 30));
    assert_eq!((n("sft_rehearsal_rows"), n("acc_rehearsal_rows")), (40, 40));
    let data = out.join("data");
    let copy = rows(&data.join("copy.jsonl"));
    // the graph drills are spread among the copy drills: parents questions
    // (no copy drill asks one) in both halves of the stage's data
    let parents = |rs: &[String]| rs.iter().filter(|r| r.contains("parents of node")).count();
    assert!(parents(&copy[..45]) > 0 && parents(&copy[45..]) > 0);
    // agent SFT rehearses short drills only; ACC short and long in turn
    let agent = rows(&data.join("agent_sft.jsonl"));
    let acc = rows(&data.join("acc.jsonl"));
    let (agent_r, acc_r) = (&agent[agent.len() - 40..], &acc[acc.len() - 40..]);
    assert!(agent_r.iter().all(|r| copy.contains(r)));
    let long = acc_r.iter().filter(|r| !copy.contains(r)).count();
    assert_eq!(long, 20);
    // no toy problem in base's LM corpus (unless asked for: below)
    let lm = rows(&data.join("lm.jsonl"));
    assert!(!lm.iter().any(|r| r.contains("<begin example>")));
    assert!(!out.join("base-copy-long").exists());
    // both models grown from their trained cores at the end
    let layers = |d: &str| json_file(&out.join(d).join("config.json"))["num_hidden_layers"].clone();
    assert_eq!(
        (layers("base-core"), layers("acc-core")),
        (2.into(), 2.into())
    );
    assert_eq!((layers("base"), layers("acc")), (4.into(), 4.into()));
    // the step-count control: base-core + 2 more agent-SFT steps, grown with
    // the same new layers, evaluated beside base and ACC
    assert_eq!(
        (layers("control-core"), layers("control")),
        (2.into(), 4.into())
    );
    let control_run = json_file(&out.join("control-core/train/run.json"));
    assert_eq!(control_run["steps"], 2);
    assert!(control_run["data"]
        .as_str()
        .unwrap()
        .ends_with("agent_sft.jsonl"));
    assert!(out.join("eval/control-mrcr.json").is_file());
    for t in report["results"].as_array().unwrap() {
        assert!(
            t["control"]["mean"].is_number() && t["acc_minus_control"]["n"] == 2,
            "{t}"
        );
    }
    let table = std::fs::read_to_string(out.join("results.md")).unwrap();
    assert!(table.contains("ACC − control (paired)"), "{table}");
    // with lm_task_problems the toy problems are back, as many as asked
    // (and with acc_long_rehearsal ACC SFT rehearses agent SFT's short
    // drills, in the same order, with that many long ones spread among them)
    let mut fields = fields;
    fields["lm_task_problems"] = 5.into();
    fields["acc_long_rehearsal"] = 20.into();
    std::fs::write(&preset, fields.to_string()).unwrap();
    let out2 = dir.path().join("run2");
    let mut cmd = bin();
    cmd.args(args).arg(&out2).arg("--preset").arg(&preset);
    run_ok(&mut cmd);
    let lm = rows(&out2.join("data/lm.jsonl"));
    let toy_gw = lm.iter().filter(|r| r.contains("<begin example>")).count();
    assert_eq!(toy_gw, 5);
    let agent = rows(&out2.join("data/agent_sft.jsonl"));
    let acc = rows(&out2.join("data/acc.jsonl"));
    let (agent_r, acc_r) = (&agent[agent.len() - 40..], &acc[acc.len() - 60..]);
    let (acc_short, acc_long): (Vec<&String>, Vec<&String>) =
        acc_r.iter().partition(|r| copy.contains(r));
    assert_eq!(acc_short, agent_r.iter().collect::<Vec<_>>());
    assert_eq!(acc_long.len(), 20);
    assert!(acc_r[..30].iter().any(|r| !copy.contains(r)));
}

#[test]
fn a_copy_stage_that_fails_its_criterion_stops_the_run_with_its_checks() {
    let dir = tempfile::tempdir().unwrap();
    let (out, preset) = (dir.path().join("run"), dir.path().join("p.json"));
    // 4 steps from scratch cannot copy with certainty
    let fields = serde_json::json!({
        "copy_steps": 4, "drill_checks": 0, "eval_n": 2, "max_new_tokens": 4,
        "copy_until": {"every": 2, "decay": 2, "per_kind": 1, "p_copy": 1.0}
    });
    std::fs::write(&preset, fields.to_string()).unwrap();
    let o = bin()
        .args(["--threads", "2", "reproduce", "--quick", "--out"])
        .arg(&out)
        .arg("--preset")
        .arg(&preset)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("stage base-copy"), "{err}");
    assert!(
        err.contains("p(copy) at least 1 on 3 held-out short copy drills"),
        "{err}"
    );
    assert!(err.contains("did not pass in 4 steps"), "{err}");
    assert!(err.contains("The run stops here"), "{err}");
    let checks = json_file(&out.join("base-copy/train/until.json"));
    assert_eq!(checks["checks"].as_array().map(Vec::len), Some(2));
    assert!(checks["passed_at"].is_null());
    assert!(!out.join("base-copy/model.safetensors").exists());
    assert!(!out.join("base-lm").exists() && !out.join("results.json").exists());
    // a bad criterion is refused before anything runs
    let fields =
        serde_json::json!({"copy_until": {"every": 2, "decay": 2, "per_kind": 1, "p_copy": 0}});
    std::fs::write(&preset, fields.to_string()).unwrap();
    let o = bin()
        .args(["reproduce", "--quick", "--out"])
        .arg(dir.path().join("run2"))
        .arg("--preset")
        .arg(&preset)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("copy_until"), "{err}");
    assert!(!dir.path().join("run2/trajectories").exists());
}

/// A tokenizer, a model config and an LM corpus (`lm.jsonl`) in `root`.
fn lm_setup(root: &Path) {
    let corpus: Vec<String> = (0..200)
        .map(|i| format!("The order {i} shipped to Tallinn on day {}.", i % 7))
        .collect();
    let tok = acc_probe::tokenizer::train_bpe(corpus.iter(), 400).unwrap();
    std::fs::write(root.join("tokenizer.json"), tok.to_string(false).unwrap()).unwrap();
    let cfg = acc_probe::train::reproduce::Preset::quick().model_config(tok.get_vocab_size(true));
    std::fs::write(
        root.join("config.json"),
        serde_json::to_vec(&cfg.to_hf_json()).unwrap(),
    )
    .unwrap();
    let text: String = corpus
        .iter()
        .map(|t| serde_json::json!({ "text": t }).to_string() + "\n")
        .collect();
    std::fs::write(root.join("lm.jsonl"), text).unwrap();
}

#[test]
fn a_train_refused_for_its_data_leaves_nothing_that_blocks_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    lm_setup(root);
    std::fs::write(root.join("bad.jsonl"), "{\"nope\": 1}\n{\"nope\": 2}\n").unwrap();
    let args = |data: &str| {
        let mut c = bin();
        c.current_dir(root).args([
            "train",
            "--data",
            data,
            "--config",
            "config.json",
            "--tokenizer",
            "tokenizer.json",
            "--objective",
            "lm",
            "--out",
            "run",
            "--steps",
            "1",
            "--seq-len",
            "64",
        ]);
        c
    };
    let o = args("bad.jsonl").output().unwrap();
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("bad.jsonl"), "{e}");
    assert!(!root.join("run/train/run.json").exists());
    // the same --out with good data starts a run, without --resume
    run_ok(&mut args("lm.jsonl"));
    assert!(root.join("run/train/run.json").is_file());
}

#[test]
fn train_cli_from_a_config_then_fine_tune() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    lm_setup(root);
    let out = root.join("lm");
    let s = run_ok(bin().current_dir(root).args([
        "train",
        "--data",
        "lm.jsonl",
        "--config",
        "config.json",
        "--tokenizer",
        "tokenizer.json",
        "--objective",
        "lm",
        "--out",
        "lm",
        "--steps",
        "3",
        "--seq-len",
        "128",
        "--json",
    ]));
    let summary: Value = serde_json::from_str(&s).unwrap();
    assert_eq!(summary["steps"], 3);
    assert_eq!(summary["rows"], 200);
    assert!(out.join("model.safetensors").is_file());
    let run = json_file(&out.join("train/run.json"));
    assert_eq!(run["objective"], "lm");
    // bad objective and a missing tokenizer are refused with a reason
    let bad = bin()
        .current_dir(root)
        .args([
            "train",
            "--data",
            "lm.jsonl",
            "--model",
            "lm",
            "--objective",
            "sft",
            "--out",
            "x",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown objective `sft`"));
    let s = run_ok(bin().current_dir(root).args([
        "train",
        "--data",
        "lm.jsonl",
        "--model",
        "lm",
        "--objective",
        "lm",
        "--out",
        "ft",
        "--steps",
        "1",
        "--seq-len",
        "128",
    ]));
    assert!(s.contains("trained 1 steps"), "{s}");
}
