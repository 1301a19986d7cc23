//! Streamed weights against resident weights: the same numbers, bit for bit,
//! on random configs, arbitrary shard layouts, the parity fixture and the
//! bundled pair; at most two layers held at once whatever the depth; and
//! `random-model`'s checkpoints and variants.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use acc_probe::model::hook::Probe;
use acc_probe::model::random::{random_weights, write_checkpoint, RandomInit};
use acc_probe::model::synth::{self, SynthOptions};
use acc_probe::model::{
    Checkpoint, ForwardOptions, Interventions, KvCache, LogitsRequest, Qwen3Moe, Qwen3MoeConfig,
    WeightsMode,
};
use acc_probe::probe::capture::DumpProbe;
use acc_probe::stats::attn::AttnStatsSpec;
use candle_core::{DType, Device, Tensor};
use common::*;

fn config(layers: usize) -> Qwen3MoeConfig {
    Qwen3MoeConfig {
        vocab_size: 101,
        hidden_size: 48,
        intermediate_size: 40,
        num_hidden_layers: layers,
        num_attention_heads: 6,
        num_key_value_heads: 2,
        head_dim: 12,
        moe_intermediate_size: 16,
        num_experts: 8,
        num_experts_per_tok: 2,
        norm_topk_prob: true,
        decoder_sparse_step: 1,
        // a dense layer among the MoE ones
        mlp_only_layers: vec![1],
        rope_theta: 10000.0,
        rms_norm_eps: 1e-6,
        max_position_embeddings: 512,
        tie_word_embeddings: false,
        attention_bias: true,
        router_aux_loss_coef: 0.001,
    }
}

fn open(dir: &Path, mode: WeightsMode) -> Qwen3Moe {
    Qwen3Moe::open(Checkpoint::open(dir).unwrap(), &Device::Cpu, mode).unwrap()
}

fn bits(t: &Tensor) -> Vec<u64> {
    t.flatten_all()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()
        .into_iter()
        .map(f64::to_bits)
        .collect()
}

/// Everything a dump records (every hook of every layer) and the logits.
fn dump(m: &Qwen3Moe, ids: &[u32]) -> BTreeMap<String, Vec<u64>> {
    let mut probe = DumpProbe::new(AttnStatsSpec::default(), false);
    let out = m
        .forward(
            ids,
            &mut probe,
            ForwardOptions {
                logits: LogitsRequest::All,
                ..Default::default()
            },
        )
        .unwrap();
    let mut all: BTreeMap<String, Vec<u64>> = probe
        .capture
        .tensors
        .iter()
        .map(|(k, t)| (k.clone(), bits(t)))
        .collect();
    all.insert("logits".into(), bits(&out.logits.unwrap()));
    all
}

fn ids(n: usize, vocab: usize, seed: usize) -> Vec<u32> {
    (0..n)
        .map(|i| ((i * 31 + seed * 17) % vocab) as u32)
        .collect()
}

fn assert_same(a: &BTreeMap<String, Vec<u64>>, b: &BTreeMap<String, Vec<u64>>) {
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (k, v) in a {
        assert!(
            v == &b[k],
            "{k} differs between resident and streamed weights"
        );
    }
}

/// A random bf16 checkpoint of `cfg` split into `shards` files by name
/// (layers cut across shards).
fn write_random(dir: &Path, cfg: &Qwen3MoeConfig, shards: usize) {
    let init = RandomInit {
        std: 0.2,
        norm_jitter: 0.2,
        qk_gain: 3.0,
    };
    let w = random_weights(cfg, 5, init, &Device::Cpu).unwrap();
    write_checkpoint(dir, cfg, &w, DType::BF16, shards).unwrap();
}

#[test]
fn streamed_equals_resident_bit_for_bit_on_random_configs() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, (layers, shards, tie)) in [(4, 3, false), (3, 1, true), (5, 7, false)]
        .into_iter()
        .enumerate()
    {
        let mut cfg = config(layers);
        cfg.tie_word_embeddings = tie;
        let dir = tmp.path().join(format!("m{i}"));
        write_random(&dir, &cfg, shards);
        let resident = open(&dir, WeightsMode::Resident);
        let streamed = open(&dir, WeightsMode::Streamed);
        assert_eq!(streamed.weights_mode(), WeightsMode::Streamed);
        // repeated ids: the embedding reads each row once
        let x = ids(70, cfg.vocab_size, i);
        assert_same(&dump(&resident, &x), &dump(&streamed, &x));
        // decoding with a KV cache
        let (mut ca, mut cb) = (KvCache::default(), KvCache::default());
        for chunk in [&x[..50], &x[50..51], &x[51..53]] {
            let a = resident.forward_cached(chunk, &mut ca).unwrap();
            let b = streamed.forward_cached(chunk, &mut cb).unwrap();
            assert_eq!(bits(&a), bits(&b));
        }
        // interventions apply to layers as they are built
        let mut iv = Interventions::remove_experts(0, &[1, 2]);
        iv.heads = Interventions::clamp_heads(2, &[0, 3], 5).heads;
        let ra = resident.with_interventions(&iv).unwrap();
        let sa = streamed.with_interventions(&iv).unwrap();
        assert_same(&dump(&ra, &x), &dump(&sa, &x));
        assert_eq!(sa.interventions(), ra.interventions());
        // the training path needs resident weights
        let err = streamed.forward_packed(&x, &[70], true).unwrap_err();
        assert!(err.to_string().contains("resident"), "{err}");
        let io = streamed.weight_io().unwrap();
        assert!(io.bytes_read > 0 && io.layers_read > 0);
    }
}

#[test]
fn a_batch_gives_each_input_its_own_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(4);
    write_random(tmp.path(), &cfg, 2);
    for mode in [WeightsMode::Resident, WeightsMode::Streamed] {
        let m = open(tmp.path(), mode);
        let inputs: Vec<Vec<u32>> = (0..3)
            .map(|s| ids(20 + 13 * s, cfg.vocab_size, s))
            .collect();
        // input 1 probes only layer 1: its pass stops there
        let mut probes: Vec<DumpProbe> = (0..3)
            .map(|i| {
                let p = DumpProbe::new(AttnStatsSpec::default(), false);
                if i == 1 {
                    p.with_layers(vec![1])
                } else {
                    p
                }
            })
            .collect();
        let refs: Vec<&[u32]> = inputs.iter().map(Vec::as_slice).collect();
        let mut dyns: Vec<&mut dyn Probe> =
            probes.iter_mut().map(|p| p as &mut dyn Probe).collect();
        let mut passes = 0;
        let outs = m
            .forward_batch(
                &refs,
                &mut dyns,
                ForwardOptions {
                    logits: LogitsRequest::None,
                    ..Default::default()
                },
                &mut |ran| passes += ran,
            )
            .unwrap();
        assert_eq!(passes, 4 + 2 + 4);
        assert_eq!(
            outs.iter().map(|o| o.layers_run).collect::<Vec<_>>(),
            [4, 2, 4]
        );
        for (i, x) in inputs.iter().enumerate() {
            let mut alone = DumpProbe::new(AttnStatsSpec::default(), false);
            if i == 1 {
                alone = alone.with_layers(vec![1]);
            }
            m.forward(
                x,
                &mut alone,
                ForwardOptions {
                    logits: LogitsRequest::None,
                    ..Default::default()
                },
            )
            .unwrap();
            let a: BTreeMap<_, _> = alone
                .capture
                .tensors
                .iter()
                .map(|(k, t)| (k.clone(), bits(t)))
                .collect();
            let b: BTreeMap<_, _> = probes[i]
                .capture
                .tensors
                .iter()
                .map(|(k, t)| (k.clone(), bits(t)))
                .collect();
            assert_same(&a, &b);
        }
    }
}

#[test]
fn at_most_two_layers_are_held_whatever_the_depth() {
    let tmp = tempfile::tempdir().unwrap();
    for layers in [2, 6, 12] {
        let dir = tmp.path().join(format!("d{layers}"));
        write_random(&dir, &config(layers), 3);
        let m = open(&dir, WeightsMode::Streamed);
        dump(&m, &ids(30, 101, 1));
        assert_eq!(m.weight_io().unwrap().layers_read, layers as u64);
        let held = m.max_layers_held().unwrap();
        assert!(
            (1..=2).contains(&held),
            "{layers} layers: {held} held at once"
        );
    }
}

#[test]
fn silent_layers_agree_and_the_fixtures_match() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(4);
    let mut w = random_weights(&cfg, 3, RandomInit::default(), &Device::Cpu).unwrap();
    // layer 2 writes nothing: zero (and −0) output projections and biases
    for (name, t) in w.iter_mut() {
        let silent = name.starts_with("model.layers.2.")
            && (name.contains("o_proj") || name.contains("down_proj"));
        if silent {
            *t = (t.zeros_like().unwrap() * -1.0).unwrap();
        }
    }
    write_checkpoint(tmp.path(), &cfg, &w, DType::BF16, 2).unwrap();
    let r = open(tmp.path(), WeightsMode::Resident);
    let s = open(tmp.path(), WeightsMode::Streamed);
    assert_eq!(r.silent_layers().unwrap(), vec![2]);
    assert_eq!(s.silent_layers().unwrap(), vec![2]);
    // the HF parity fixture (f32, one file) and the bundled pair (bf16)
    for dir in [
        fixture("tiny-qwen3-moe/model"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("checkpoints/acc"),
    ] {
        let r = open(&dir, WeightsMode::Resident);
        let s = open(&dir, WeightsMode::Streamed);
        let x = ids(200, r.config.vocab_size.min(3000), 2);
        assert_same(&dump(&r, &x), &dump(&s, &x));
        assert_eq!(r.silent_layers().unwrap(), s.silent_layers().unwrap());
    }
    // auto keeps small models resident
    assert_eq!(
        open(tmp.path(), WeightsMode::Auto).weights_mode(),
        WeightsMode::Resident
    );
}

fn synth_config() -> Qwen3MoeConfig {
    let mut c = config(5);
    c.mlp_only_layers = vec![];
    c.attention_bias = false;
    c.vocab_size = 4160;
    c
}

#[test]
fn random_model_writes_a_checkpoint_and_variants_differ_only_where_named() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    let acc = tmp.path().join("acc");
    let cfg = synth_config();
    let o = SynthOptions {
        seed: 3,
        std: 0.1,
        ..Default::default()
    };
    let tok = Path::new(env!("CARGO_MANIFEST_DIR")).join("checkpoints/base");
    let r = synth::write_random(&base, &cfg, &o, Some(&tok), &mut |_, _| {}).unwrap();
    assert_eq!(r.shards, 6);
    let ckpt = Checkpoint::open(&base).unwrap();
    assert_eq!(ckpt.config, cfg);
    assert!(base.join("tokenizer.json").is_file());
    // the same seed writes the same bytes
    let again = tmp.path().join("again");
    synth::write_random(&again, &cfg, &o, None, &mut |_, _| {}).unwrap();
    for f in &ckpt.files {
        let name = f.file_name().unwrap();
        assert_eq!(
            std::fs::read(f).unwrap(),
            std::fs::read(again.join(name)).unwrap()
        );
    }
    // a variant in layers 2 and 4
    let v = synth::write_variant(&acc, &base, &[2, 4], &o, &mut |_, _| {}).unwrap();
    assert_eq!((v.shards_written, v.shards_linked), (2, 4));
    let a = Checkpoint::open(&acc).unwrap();
    assert!(acc.join("tokenizer.json").is_file());
    let read = |c: &Checkpoint, name: &str| {
        let info = &c.tensors[name];
        let bytes = std::fs::read(&info.file).unwrap();
        bytes[info.offset as usize..(info.offset + info.len) as usize].to_vec()
    };
    for name in ckpt.tensors.keys() {
        let layer = name
            .strip_prefix("model.layers.")
            .and_then(|r| r.split('.').next())
            .and_then(|l| l.parse::<usize>().ok());
        let same = read(&ckpt, name) == read(&a, name);
        let norm = name.ends_with("norm.weight");
        match layer {
            Some(2) | Some(4) if !norm => assert!(!same, "{name} should differ"),
            _ => assert!(same, "{name} should be identical"),
        }
    }
    // unchanged shards are the same files
    use std::os::unix::fs::MetadataExt;
    let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
    let first = ckpt.files[0].file_name().unwrap();
    assert_eq!(ino(&base.join(first)), ino(&acc.join(first)));
    // identical up to layer 1, different from layer 2 on
    let (mb, ma) = (
        open(&base, WeightsMode::Streamed),
        open(&acc, WeightsMode::Streamed),
    );
    let x = ids(64, 4096, 0);
    let (db, da) = (dump(&mb, &x), dump(&ma, &x));
    for (k, vb) in &db {
        let same = vb == &da[k];
        if k.starts_with("blocks.0.") || k.starts_with("blocks.1.") {
            assert!(same, "{k} should be identical");
        } else if k == "blocks.2.attn.entropy"
            || k == "blocks.2.attn.mean_distance"
            || k == "logits"
        {
            // layer 2's attention sees identical inputs with other weights
            assert!(!same, "{k} should differ");
        }
    }
}

#[test]
fn random_model_refuses_what_it_cannot_write() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("m");
    let cfg = synth_config();
    synth::write_random(&out, &cfg, &SynthOptions::default(), None, &mut |_, _| {}).unwrap();
    // an existing directory
    let err = synth::write_random(&out, &cfg, &SynthOptions::default(), None, &mut |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("exists"), "{err}");
    // more than the disk holds: refused before anything is written
    let mut huge = cfg.clone();
    huge.vocab_size = 1 << 40;
    huge.hidden_size = 1 << 12;
    huge.head_dim = 1 << 12;
    huge.num_attention_heads = 1;
    huge.num_key_value_heads = 1;
    let big = tmp.path().join("big");
    let err = synth::write_random(&big, &huge, &SynthOptions::default(), None, &mut |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("disk space") && err.contains("GB"), "{err}");
    assert!(!big.exists());
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "no partial directory left"
    );
    // a variant naming a layer the model lacks
    let err = synth::write_variant(
        &tmp.path().join("v"),
        &out,
        &[9],
        &SynthOptions::default(),
        &mut |_, _| {},
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("0..=4"), "{err}");
    // a truncated shard is found when the checkpoint is opened
    let shard = out.join("model-00003-of-00006.safetensors");
    let len = std::fs::metadata(&shard).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&shard)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    let err = Checkpoint::open(&out).unwrap_err().to_string();
    assert!(err.contains("model-00003-of-00006.safetensors"), "{err}");
}

fn acc_probe(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_acc-probe"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn cli_random_pair_gives_zero_change_before_the_changed_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |n: &str| tmp.path().join(n).to_str().unwrap().to_string();
    let cfg = synth_config();
    std::fs::write(
        p("config.json"),
        serde_json::to_vec(&cfg.to_hf_json()).unwrap(),
    )
    .unwrap();
    let out = acc_probe(&[
        "random-model",
        "--shape",
        &p("config.json"),
        "--out",
        &p("base"),
        "--std",
        "0.1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = acc_probe(&[
        "random-model",
        "--like",
        &p("base"),
        "--change",
        "3",
        "--out",
        &p("acc"),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["shards_written"], 1);
    let out = acc_probe(&[
        "attention",
        "--base",
        &p("base"),
        "--acc",
        &p("acc"),
        "--layers",
        "2,3",
        "--task",
        "mrcr",
        "--examples",
        "2",
        "--tokens",
        "480",
        "--weights",
        "streamed",
        "--resamples",
        "50",
        "--permutations",
        "20",
        "--out",
        &p("out"),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let js = |i: usize| {
        r["results"][0]["layers"][i]["mean"]["js"]["value"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(r["results"][0]["layers"][0]["layer"], 2);
    assert_eq!(js(0), 0.0, "identical models up to layer 2");
    assert!(js(1) > 0.0, "layer 3 was regenerated");
    // an existing --out is refused
    let out = acc_probe(&[
        "random-model",
        "--like",
        &p("base"),
        "--change",
        "3",
        "--out",
        &p("acc"),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists"));
}

#[test]
fn an_interrupted_random_model_leaves_nothing_that_looks_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = synth_config();
    // about 1.6 GB in bf16: it is killed long before it finishes
    cfg.hidden_size = 1024;
    cfg.moe_intermediate_size = 512;
    cfg.num_experts = 64;
    cfg.num_hidden_layers = 8;
    let config = tmp.path().join("config.json");
    std::fs::write(&config, serde_json::to_vec(&cfg.to_hf_json()).unwrap()).unwrap();
    let out = tmp.path().join("m");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_acc-probe"))
        .args([
            "random-model",
            "--shape",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // wait until it writes shards, then kill it
    let partial = || {
        std::fs::read_dir(tmp.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .find(|e| e.file_name().to_string_lossy().contains(".partial-"))
            .map(|e| e.path())
    };
    let start = std::time::Instant::now();
    while partial()
        .and_then(|d| std::fs::read_dir(d).ok())
        .is_none_or(|mut d| d.next().is_none())
    {
        assert!(start.elapsed().as_secs() < 60, "no shard written");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !out.exists(),
        "the checkpoint directory appears only when complete"
    );
    let left = partial().unwrap();
    assert!(!left.join("config.json").exists());
    assert!(Checkpoint::open(&left).is_err());
}
