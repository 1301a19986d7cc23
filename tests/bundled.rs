//! The bundled base/ACC pair in `checkpoints/`: the architecture the paired
//! analyses need, the size budget, one tokenizer, and the README's main
//! command on it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("checkpoints")
        .join(name)
}

fn json_file(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

#[test]
fn the_bundled_pair_is_a_24_layer_moe_with_gqa_within_16_mb() {
    let mut bytes = 0;
    for m in ["base", "acc"] {
        let d = dir(m);
        let c = json_file(&d.join("config.json"));
        let n = |k: &str| c[k].as_u64().unwrap_or_else(|| panic!("{m}: {k}"));
        assert!(n("num_hidden_layers") >= 24, "{m}");
        assert!(
            n("num_experts") >= 8 && n("num_experts_per_tok") >= 2,
            "{m}"
        );
        assert!(
            n("num_key_value_heads") < n("num_attention_heads"),
            "{m}: GQA"
        );
        // MoE in every layer
        assert_eq!(n("decoder_sparse_step"), 1, "{m}");
        assert_eq!(c["mlp_only_layers"], serde_json::json!([]), "{m}");
        assert_eq!(c["torch_dtype"], "bfloat16", "{m}");
        for e in std::fs::read_dir(&d).unwrap() {
            bytes += e.unwrap().metadata().unwrap().len();
        }
        acc_probe::model::Qwen3Moe::from_dir(&d, &candle_core::Device::Cpu).unwrap();
    }
    assert!(bytes <= 16_000_000, "{bytes} bytes");
    let tok = |m: &str| std::fs::read(dir(m).join("tokenizer.json")).unwrap();
    assert_eq!(tok("base"), tok("acc"));
    let cfg = |m: &str| json_file(&dir(m).join("config.json"));
    assert_eq!(cfg("base"), cfg("acc"));
    // ACC SFT changed the weights
    let w = |m: &str| std::fs::read(dir(m).join("model.safetensors")).unwrap();
    assert_ne!(w("base"), w("acc"));
}

/// `acc-probe attention ARGS --json` (ARGS split at spaces) on the default
/// (bundled) pair: the report, stderr, and the output directory.
fn attention(args: &str) -> (Value, String, tempfile::TempDir) {
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_acc-probe"))
        .arg("attention")
        .args(args.split_whitespace())
        .args([
            "--resamples",
            "50",
            "--permutations",
            "50",
            "--json",
            "--out",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "{stderr}");
    (serde_json::from_slice(&o.stdout).unwrap(), stderr, out)
}

#[test]
fn attention_at_layer_20_runs_on_the_bundled_pair_by_default() {
    let (r, _, out) = attention("--layer 20 --task graphwalks --examples 2 --tokens 700");
    assert!(
        r.to_string().contains("checkpoints"),
        "the bundled pair was not used"
    );
    assert!(out.path().join("attention.png").is_file());
}

#[test]
fn top_changed_chooses_among_the_trained_layers_of_the_bundled_pair() {
    // the pair was grown from 4 trained layers: the 20 new ones have zero
    // output projections in both models and are never "most changed"
    let (r, stderr, _) = attention("--top-changed 2 --task mrcr --examples 2 --tokens 600");
    let trained: [u64; 4] = [0, 7, 14, 20];
    let silent: Vec<u64> = r["silent_layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = (0..24).filter(|l| !trained.contains(l)).collect();
    assert_eq!(silent, expected);
    let chosen = r["results"][0]["layers"].as_array().unwrap();
    assert_eq!(chosen.len(), 2);
    for l in chosen {
        let l = l["layer"].as_u64().unwrap();
        assert!(trained.contains(&l), "chose layer {l}");
    }
    assert!(
        stderr.contains("leaves out layers 1–6, 8–13, 15–19, 21–23"),
        "{stderr}"
    );
}
