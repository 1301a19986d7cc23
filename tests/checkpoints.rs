//! Loading real checkpoint layouts: config-key variants, sharding, tied
//! embeddings, dense layers, dtypes — and every bad-checkpoint case, each with
//! an error that names the file and the tensor or field.

mod common;

use std::path::Path;

use acc_probe::model::random::{random_weights, write_checkpoint, RandomInit};
use acc_probe::model::{Checkpoint, Qwen3Moe, Qwen3MoeConfig};
use candle_core::{DType, Device};
use common::*;
use serde_json::{json, Value};

fn small_config() -> Qwen3MoeConfig {
    Qwen3MoeConfig {
        vocab_size: 97,
        hidden_size: 48,
        intermediate_size: 40,
        num_hidden_layers: 3,
        num_attention_heads: 6,
        num_key_value_heads: 2,
        head_dim: 12, // ≠ 48 / 6
        moe_intermediate_size: 16,
        num_experts: 6,
        num_experts_per_tok: 2,
        norm_topk_prob: false,
        decoder_sparse_step: 1,
        mlp_only_layers: vec![],
        rope_theta: 10000.0,
        rms_norm_eps: 1e-6,
        max_position_embeddings: 256,
        tie_word_embeddings: false,
        attention_bias: false,
        router_aux_loss_coef: 0.001,
    }
}

fn write(dir: &Path, cfg: &Qwen3MoeConfig, dtype: DType, shards: usize) {
    let w = random_weights(
        cfg,
        1,
        RandomInit {
            norm_jitter: 0.2,
            qk_gain: 2.0,
            ..Default::default()
        },
        &Device::Cpu,
    )
    .unwrap();
    write_checkpoint(dir, cfg, &w, dtype, shards).unwrap();
}

fn logits(dir: &Path) -> Vec<f32> {
    let m = Qwen3Moe::from_dir(dir, &Device::Cpu).unwrap();
    let ids: Vec<u32> = (0..40).map(|i| (i * 7 % 97) as u32).collect();
    vec_f32(&m.logits(&ids).unwrap())
}

fn edit_config(dir: &Path, f: impl FnOnce(&mut serde_json::Map<String, Value>)) {
    let p = dir.join("config.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    f(v.as_object_mut().unwrap());
    std::fs::write(&p, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

fn open_err(dir: &Path) -> String {
    Checkpoint::open(dir)
        .expect_err("the checkpoint must be refused")
        .to_string()
}

#[test]
fn transformers5_keys_load_like_transformers4_keys() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), &small_config(), DType::F32, 1);
    let v4 = logits(tmp.path());
    edit_config(tmp.path(), |c| {
        let e = c.remove("num_experts").unwrap();
        c.insert("num_local_experts".into(), e);
        let theta = c.remove("rope_theta").unwrap();
        c.insert(
            "rope_parameters".into(),
            json!({"rope_type": "default", "rope_theta": theta}),
        );
        c.insert(
            "layer_types".into(),
            json!(["full_attention", "full_attention", "full_attention"]),
        );
    });
    let cfg = Checkpoint::open(tmp.path()).unwrap().config;
    assert_eq!(cfg, small_config());
    assert_eq!(logits(tmp.path()), v4);
}

#[test]
fn sharded_and_bf16_checkpoints() {
    let one = tempfile::tempdir().unwrap();
    let sharded = tempfile::tempdir().unwrap();
    write(one.path(), &small_config(), DType::F32, 1);
    write(sharded.path(), &small_config(), DType::F32, 3);
    assert!(sharded
        .path()
        .join("model.safetensors.index.json")
        .is_file());
    assert_eq!(Checkpoint::open(sharded.path()).unwrap().files.len(), 3);
    assert_eq!(logits(one.path()), logits(sharded.path()));

    let bf16 = tempfile::tempdir().unwrap();
    write(bf16.path(), &small_config(), DType::BF16, 2);
    let d = max_abs_diff(&logits(one.path()), &logits(bf16.path()));
    assert!(
        d > 0.0 && d < 0.05,
        "bf16 weights should change logits only slightly, got {d}"
    );
}

#[test]
fn tied_embeddings_dense_layers_and_sparse_step() {
    let mut cfg = small_config();
    cfg.tie_word_embeddings = true;
    cfg.mlp_only_layers = vec![1];
    cfg.norm_topk_prob = true;
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), &cfg, DType::F32, 1);
    let ck = Checkpoint::open(tmp.path()).unwrap();
    assert!(!ck.tensors.contains_key("lm_head.weight"));
    assert!(ck
        .tensors
        .contains_key("model.layers.1.mlp.gate_proj.weight"));
    assert!(!ck.tensors.contains_key("model.layers.1.mlp.gate.weight"));
    // the LM head is the embedding matrix: the same logits as an untied
    // checkpoint whose lm_head.weight is a copy of it
    let mut w =
        candle_core::safetensors::load(tmp.path().join("model.safetensors"), &Device::Cpu).unwrap();
    w.insert(
        "lm_head.weight".into(),
        w["model.embed_tokens.weight"].clone(),
    );
    let mut untied_cfg = cfg.clone();
    untied_cfg.tie_word_embeddings = false;
    let untied = tempfile::tempdir().unwrap();
    write_checkpoint(untied.path(), &untied_cfg, &w, DType::F32, 1).unwrap();
    let tied_logits = logits(tmp.path());
    assert_eq!(tied_logits, logits(untied.path()));
    assert!(tied_logits.iter().all(|x| x.is_finite()));

    let mut cfg = small_config();
    cfg.decoder_sparse_step = 2; // layers 1 is MoE, 0 and 2 dense
    assert!(!cfg.is_moe_layer(0) && cfg.is_moe_layer(1) && !cfg.is_moe_layer(2));
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), &cfg, DType::F16, 1);
    assert!(logits(tmp.path()).iter().all(|x| x.is_finite()));
}

#[test]
fn bad_checkpoints_are_refused_with_the_file_and_tensor() {
    let cfg = small_config();
    let base = tempfile::tempdir().unwrap();
    write(base.path(), &cfg, DType::F32, 2);
    let fresh = || {
        let t = tempfile::tempdir().unwrap();
        for e in std::fs::read_dir(base.path()).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), t.path().join(e.file_name())).unwrap();
        }
        t
    };

    // missing tensor: drop one from its shard and from the index
    let t = fresh();
    let victim = "model.layers.1.self_attn.k_norm.weight";
    let file = Checkpoint::open(t.path()).unwrap().tensors[victim]
        .file
        .clone();
    let mut tensors = candle_core::safetensors::load(&file, &Device::Cpu).unwrap();
    tensors.remove(victim);
    candle_core::safetensors::save(&tensors, &file).unwrap();
    let idx = t.path().join("model.safetensors.index.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&idx).unwrap()).unwrap();
    v["weight_map"].as_object_mut().unwrap().remove(victim);
    std::fs::write(&idx, v.to_string()).unwrap();
    let e = open_err(t.path());
    assert!(
        e.contains(&format!("missing tensor `{victim}` (expected shape [12]")),
        "{e}"
    );
    assert!(
        e.contains("model-00001-of-00002.safetensors, model-00002-of-00002.safetensors"),
        "{e}"
    );

    // wrong shape: a config with a larger expert intermediate size
    let t = fresh();
    edit_config(t.path(), |c| {
        c.insert("moe_intermediate_size".into(), json!(17));
    });
    let e = open_err(t.path());
    assert!(
        e.contains("tensor `model.layers.0.mlp.experts.0.down_proj.weight` has shape [48, 16], expected [48, 17]")
            && e.contains(".safetensors"),
        "{e}"
    );

    // unexpected tensor: a tied config with an untied checkpoint is fine (lm_head ignored),
    // but fewer layers leaves layer 2's tensors unexplained
    let t = fresh();
    edit_config(t.path(), |c| {
        c.insert("num_hidden_layers".into(), json!(2));
    });
    let e = open_err(t.path());
    assert!(e.contains("unexpected tensor `model.layers.2."), "{e}");

    // corrupt safetensors header
    let t = fresh();
    let shard = t.path().join("model-00002-of-00002.safetensors");
    let mut bytes = std::fs::read(&shard).unwrap();
    bytes[8..20].copy_from_slice(b"{not json!!!");
    std::fs::write(&shard, bytes).unwrap();
    let e = open_err(t.path());
    assert!(
        e.contains("model-00002-of-00002.safetensors") && e.contains("corrupt safetensors"),
        "{e}"
    );

    // truncated file
    let t = fresh();
    let shard = t.path().join("model-00001-of-00002.safetensors");
    let bytes = std::fs::read(&shard).unwrap();
    std::fs::write(&shard, &bytes[..bytes.len() / 2]).unwrap();
    let e = open_err(t.path());
    assert!(
        e.contains("model-00001-of-00002.safetensors") && e.contains("corrupt"),
        "{e}"
    );

    // config missing a field
    let t = fresh();
    edit_config(t.path(), |c| {
        c.remove("hidden_size");
    });
    let e = open_err(t.path());
    assert!(
        e.contains("config.json") && e.contains("`hidden_size`") && e.contains("missing"),
        "{e}"
    );

    // wrong model type
    let t = fresh();
    edit_config(t.path(), |c| {
        c.insert("model_type".into(), json!("llama"));
    });
    let e = open_err(t.path());
    assert!(
        e.contains("model_type is `llama`, expected `qwen3_moe`"),
        "{e}"
    );

    // unsupported features
    let t = fresh();
    edit_config(t.path(), |c| {
        c.insert("use_sliding_window".into(), json!(true));
    });
    assert!(open_err(t.path()).contains("sliding-window attention is not supported"));
    let t = fresh();
    edit_config(t.path(), |c| {
        c.insert(
            "rope_scaling".into(),
            json!({"rope_type": "yarn", "factor": 4.0}),
        );
    });
    assert!(open_err(t.path()).contains("rope_scaling.rope_type is `yarn`"));

    // an index naming a shard that lacks the tensor
    let t = fresh();
    let idx = t.path().join("model.safetensors.index.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&idx).unwrap()).unwrap();
    v["weight_map"]["model.norm.weight"] = json!("model-00001-of-00002.safetensors");
    let actual = Checkpoint::open(base.path()).unwrap().tensors["model.norm.weight"]
        .file
        .clone();
    std::fs::write(&idx, v.to_string()).unwrap();
    if actual.file_name().unwrap() != "model-00001-of-00002.safetensors" {
        let e = open_err(t.path());
        assert!(e.contains("`model.norm.weight` listed in the index is not in shard model-00001-of-00002.safetensors"), "{e}");
    }

    // no weights at all
    let t = tempfile::tempdir().unwrap();
    std::fs::copy(
        base.path().join("config.json"),
        t.path().join("config.json"),
    )
    .unwrap();
    assert!(open_err(t.path()).contains("no weights found"));
}

#[test]
fn inputs_beyond_the_model_limits_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), &small_config(), DType::F32, 1);
    let m = Qwen3Moe::from_dir(tmp.path(), &Device::Cpu).unwrap();
    let e = m.check_input(&vec![1; 257]).unwrap_err().to_string();
    assert!(
        e.contains("257") && e.contains("max_position_embeddings = 256"),
        "{e}"
    );
    let e = m.check_input(&[1, 2, 97]).unwrap_err().to_string();
    assert!(e.contains("position 2") && e.contains("0..97"), "{e}");
    let e = acc_probe::model::hook::check_layer(3, 3)
        .unwrap_err()
        .to_string();
    assert!(e.contains("layer 3 is out of range: valid 0..=2"), "{e}");
}

#[test]
fn probes_of_layers_the_model_lacks_are_refused() {
    use acc_probe::model::{ForwardOptions, LogitsRequest};
    use acc_probe::probe::capture::AttentionAccumulator;
    use acc_probe::probe::routing::RoutingAccumulator;
    use acc_probe::stats::attn::AttnStatsSpec;
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), &small_config(), DType::F32, 1);
    let m = Qwen3Moe::from_dir(tmp.path(), &Device::Cpu).unwrap();
    let layers = m.config.num_hidden_layers;
    let opts = ForwardOptions {
        logits: LogitsRequest::None,
        ..Default::default()
    };
    let mut attn = AttentionAccumulator::new(AttnStatsSpec::default(), vec![0, 99]);
    let e = m
        .forward(&[1, 2, 3], &mut attn, opts)
        .unwrap_err()
        .to_string();
    assert!(e.contains("layer 99 is out of range"), "{e}");
    assert!(e.contains(&format!("0..={}", layers - 1)), "{e}");
    let mut routing = RoutingAccumulator::new(vec![layers]);
    let e = m
        .forward(&[1, 2, 3], &mut routing, opts)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("layer {layers} is out of range")),
        "{e}"
    );
    // the layers it has pass
    let mut ok = AttentionAccumulator::new(AttnStatsSpec::default(), vec![layers - 1]);
    m.forward(&[1, 2, 3], &mut ok, opts).unwrap();
    assert!(ok.per_layer.contains_key(&(layers - 1)));
}

#[test]
fn a_config_implying_far_more_tensors_than_the_files_is_refused_with_both_counts() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), &small_config(), DType::F32, 1);
    let p = tmp.path().join("config.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    v["num_experts"] = json!(100_000);
    std::fs::write(&p, v.to_string()).unwrap();
    let e = open_err(tmp.path());
    assert!(
        e.contains("config.json")
            && e.contains("100000 experts")
            && e.contains("the checkpoint has"),
        "{e}"
    );
    // one missing tensor is still named
    let mut v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    v["num_experts"] = json!(7);
    std::fs::write(&p, v.to_string()).unwrap();
    assert!(open_err(tmp.path()).contains("missing tensor"));
}
