//! A run that ends on a criterion (`TrainConfig::until`): the rate holds at
//! its peak until a check passes, then decays over `decay` steps; a resumed
//! run ends bit-identical; a run whose checks never pass stops with its
//! checks listed and writes no model.

mod common;

use std::path::{Path, PathBuf};

use acc_probe::model::Qwen3Moe;
use acc_probe::train::until::{Check, Criterion, Until, UntilState};
use acc_probe::train::{train_until, Init, Objective, StepMetrics, TrainConfig};
use common::copy_dir;
use serde_json::json;

/// Passes from step `at` on, counting its checks.
struct PassFrom {
    at: usize,
    checked: Vec<usize>,
}

impl Criterion for PassFrom {
    fn describe(&self) -> String {
        format!("step {} or later", self.at)
    }

    fn check(&mut self, step: usize, loss: f64, model: &Qwen3Moe) -> acc_probe::Result<Check> {
        // the model it gets is the one being trained, usable for decoding
        assert!(model.config.num_hidden_layers > 0);
        assert!(loss.is_finite());
        self.checked.push(step);
        Ok(Check {
            step,
            passed: step >= self.at,
            score: step as f64,
            detail: format!("step {step}"),
            loss,
        })
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    cfg: TrainConfig,
}

fn setup(steps: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let rows: Vec<String> = (0..24)
        .map(|i| {
            json!({"messages": [
                {"role": "user", "content": format!("Where was order {i} shipped?")},
                {"role": "assistant", "content": format!("To Tallinn on day {}.", i % 7)},
            ]})
            .to_string()
        })
        .collect();
    let tok = acc_probe::tokenizer::train_bpe(rows.iter(), 400).unwrap();
    let tokenizer = root.join("tokenizer.json");
    std::fs::write(&tokenizer, tok.to_string(false).unwrap()).unwrap();
    let mcfg = acc_probe::train::reproduce::Preset::quick().model_config(tok.get_vocab_size(true));
    let config = root.join("config.json");
    std::fs::write(&config, serde_json::to_vec(&mcfg.to_hf_json()).unwrap()).unwrap();
    let data = root.join("chat.jsonl");
    std::fs::write(&data, rows.join("\n")).unwrap();
    let init = Init::Config {
        config,
        tokenizer,
        init_std: 0.05,
        qk_norm_init: 1.0,
    };
    let mut cfg = TrainConfig::new(data, init, Objective::AgentSft);
    (cfg.steps, cfg.batch, cfg.seq_len, cfg.lr, cfg.seed) = (steps, 2, 128, 1e-2, 3);
    cfg.warmup_ratio = 0.1;
    cfg.save_every = 2;
    cfg.keep = 10;
    cfg.until = Some(Until { every: 2, decay: 3 });
    Setup {
        _dir: dir,
        root,
        cfg,
    }
}

fn run(
    cfg: &TrainConfig,
    out: &Path,
    resume: bool,
    c: &mut PassFrom,
) -> acc_probe::Result<Vec<f64>> {
    let mut lrs = Vec::new();
    let mut on_step = |m: &StepMetrics| lrs.push(m.lr);
    train_until(cfg, out, resume, &mut on_step, Some(c))?;
    Ok(lrs)
}

fn until_json(out: &Path) -> UntilState {
    serde_json::from_slice(&std::fs::read(out.join("train/until.json")).unwrap()).unwrap()
}

#[test]
fn the_run_decays_after_the_first_passing_check_and_resumes_bit_identical() {
    let s = setup(20);
    let full = s.root.join("full");
    let mut c = PassFrom {
        at: 6,
        checked: vec![],
    };
    let lrs = run(&s.cfg, &full, false, &mut c).unwrap();
    // warm-up 2 steps; checks after 2, 4, 6; the decay's 3 steps; 9 in all
    assert_eq!(c.checked, [2, 4, 6]);
    assert_eq!(lrs.len(), 9);
    assert!(
        lrs[0] < 1e-2 && lrs[1..6].iter().all(|&r| r == 1e-2),
        "{lrs:?}"
    );
    assert!(
        lrs[6] == 1e-2 && lrs[7] < 1e-2 && lrs[8] < lrs[7],
        "{lrs:?}"
    );
    let st = until_json(&full);
    assert_eq!(st.passed_at, Some(6));
    assert_eq!(st.checks.len(), 3);
    assert!(full.join("model.safetensors").is_file());
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(full.join("train/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["steps"], 9);
    assert_eq!(summary["until"]["passed_at"], 6);

    // resumed from the step-4 checkpoint (before the check that passed)
    let cut = s.root.join("cut");
    let mut c = PassFrom {
        at: 6,
        checked: vec![],
    };
    std::fs::create_dir_all(&cut).unwrap();
    copy_dir(&full.join("train"), &cut.join("train"));
    std::fs::remove_file(cut.join("train/until.json")).unwrap();
    std::fs::remove_file(cut.join("train/summary.json")).unwrap();
    for step in [6, 8, 9] {
        let d = cut.join(format!("train/checkpoints/step-{step:06}"));
        std::fs::remove_dir_all(d).unwrap();
    }
    std::fs::write(cut.join("train/latest"), "step-000004").unwrap();
    run(&s.cfg, &cut, true, &mut c).unwrap();
    assert_eq!(c.checked, [6], "the resumed run keeps the checks before it");
    assert_eq!(until_json(&cut), st);
    assert_eq!(
        std::fs::read(cut.join("model.safetensors")).unwrap(),
        std::fs::read(full.join("model.safetensors")).unwrap()
    );
}

#[test]
fn a_run_whose_checks_never_pass_stops_without_a_model() {
    let s = setup(6);
    let out = s.root.join("never");
    let mut c = PassFrom {
        at: 1000,
        checked: vec![],
    };
    let e = run(&s.cfg, &out, false, &mut c).unwrap_err().to_string();
    assert!(e.contains("did not pass in 6 steps"), "{e}");
    assert!(
        e.contains("step 2: step 2") && e.contains("step 6: step 6"),
        "{e}"
    );
    assert!(!out.join("model.safetensors").exists());
    assert!(!out.join("train/summary.json").exists());
    assert_eq!(until_json(&out).checks.len(), 3);
    // a rerun fails the same way without training again
    let mut c = PassFrom {
        at: 1000,
        checked: vec![],
    };
    let e2 = run(&s.cfg, &out, true, &mut c).unwrap_err().to_string();
    assert_eq!(e, e2);
    assert!(c.checked.is_empty());
    // a config with `until` needs a criterion
    let mut on_step = |_: &StepMetrics| {};
    let e = train_until(&s.cfg, &s.root.join("none"), false, &mut on_step, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("needs the criterion"), "{e}");
}
