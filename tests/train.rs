//! The trainer: packed forward vs separate sequences, fused vs composed ops,
//! objectives' loss masks, exact resume, interrupted checkpoints, bad input,
//! non-finite losses, and the Hugging Face output layout.

mod common;

use std::path::{Path, PathBuf};

use acc_probe::chat::{ChatTemplate, Message};
use acc_probe::model::loader::expected_tensors;
use acc_probe::model::random::RandomInit;
use acc_probe::model::{AttnPath, ForwardOptions, LogitsRequest, Qwen3Moe, Qwen3MoeConfig};
use acc_probe::train::data::{self, Objective, Pack};
use acc_probe::train::loss::pack_loss;
use acc_probe::train::{train, Init, TrainConfig};
use candle_core::{DType, Device, Var};
use common::{copy_dir, max_abs_diff, random_model, vec_f32};
use serde_json::json;

fn tiny_config(vocab: usize) -> Qwen3MoeConfig {
    acc_probe::train::reproduce::Preset::quick().model_config(vocab)
}

fn corpus() -> Vec<String> {
    (0..300)
        .map(|i| {
            format!(
                "<|im_start|>user\nWhere was order {i} shipped?<|im_end|>\n<|im_start|>assistant\n<think>\nThe log says day {}.\n</think>\n\nIt shipped to Tallinn on day {}.<|im_end|>\n",
                i % 7,
                i % 7
            )
        })
        .collect()
}

/// A run directory with a tokenizer, a config and data files.
struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    tokenizer: PathBuf,
    config: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let tok = acc_probe::tokenizer::train_bpe(corpus().iter(), 512).unwrap();
    let tokenizer = root.join("tokenizer.json");
    std::fs::write(&tokenizer, tok.to_string(false).unwrap()).unwrap();
    let cfg = tiny_config(tok.get_vocab_size(true));
    let config = root.join("config.json");
    std::fs::write(&config, serde_json::to_vec(&cfg.to_hf_json()).unwrap()).unwrap();
    Setup {
        _dir: dir,
        root,
        tokenizer,
        config,
    }
}

fn write_rows(path: &Path, rows: &[serde_json::Value]) {
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(path, text).unwrap();
}

fn chat_rows(n: usize) -> Vec<serde_json::Value> {
    (0..n)
        .map(|i| {
            json!({"messages": [
                {"role": "user", "content": format!("Where was order {i} shipped?")},
                {"role": "assistant", "content": "<tool_call>\n{\"name\":\"log\",\"arguments\":{}}\n</tool_call>"},
                {"role": "tool", "content": format!("order {i}: Tallinn, day {}", i % 7)},
                {"role": "assistant", "content": format!("It shipped to Tallinn on day {}.", i % 7)},
            ]})
        })
        .collect()
}

fn config_for(s: &Setup, data: PathBuf, objective: Objective, steps: usize) -> TrainConfig {
    let mut c = TrainConfig::new(
        data,
        Init::Config {
            config: s.config.clone(),
            tokenizer: s.tokenizer.clone(),
            init_std: 0.05,
            qk_norm_init: 1.0,
        },
        objective,
    );
    c.steps = steps;
    c.batch = 2;
    c.seq_len = 256;
    c.lr = 3e-3;
    c.seed = 7;
    c
}

#[test]
fn packed_forward_equals_each_sequence_alone() {
    let cfg = tiny_config(300);
    let model = random_model(&cfg, 3, RandomInit::default());
    let a: Vec<u32> = (0..300).map(|i| (i * 7 % 300) as u32).take(300).collect();
    let b: Vec<u32> = (0..40).map(|i| (i * 13 % 300) as u32).collect();
    let packed: Vec<u32> = a.iter().chain(&b).copied().collect();
    let opts = ForwardOptions {
        path: AttnPath::Materialized,
        logits: LogitsRequest::All,
        ..Default::default()
    };
    for fused in [true, false] {
        let (logits, routing) = model.forward_packed(&packed, &[300, 40], fused).unwrap();
        assert_eq!(routing.len(), cfg.num_hidden_layers);
        for (ids, start) in [(&a, 0), (&b, 300)] {
            let alone = model
                .forward(ids, &mut acc_probe::model::hook::NoProbe, opts)
                .unwrap()
                .logits
                .unwrap();
            let part = logits.narrow(0, start, ids.len()).unwrap();
            let d = max_abs_diff(&vec_f32(&part), &vec_f32(&alone));
            assert!(d < 1e-4, "fused={fused}: packed vs alone differ by {d}");
        }
    }
}

/// Random weights of `cfg` as trainable variables, and a model over them.
fn trainable_model(
    cfg: &Qwen3MoeConfig,
    seed: u64,
) -> (std::collections::HashMap<String, Var>, Qwen3Moe) {
    let w =
        acc_probe::model::random::random_weights(cfg, seed, RandomInit::default(), &Device::Cpu)
            .unwrap();
    let vars: std::collections::HashMap<String, Var> = w
        .iter()
        .map(|(n, t)| (n.clone(), Var::from_tensor(t).unwrap()))
        .collect();
    let vb = candle_nn::VarBuilder::from_tensors(
        vars.iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
            .collect(),
        DType::F32,
        &Device::Cpu,
    );
    let model = Qwen3Moe::load(cfg, vb).unwrap();
    (vars, model)
}

#[test]
fn fused_and_composed_ops_give_the_same_loss_and_gradients() {
    let (vars, model) = trainable_model(&tiny_config(300), 5);
    let ids: Vec<u32> = (0..600).map(|i| (i * 31 % 300) as u32).collect();
    let pack = Pack {
        target: (0..600).map(|i| i % 3 != 0).collect(),
        segments: vec![520, 80],
        ids,
    };
    let run = |fused: bool| {
        let l = pack_loss(&model, &pack, fused, 1.0 / 400.0, 0.01).unwrap();
        let g = l.total.backward().unwrap();
        let grads: Vec<(String, Vec<f32>)> = [
            "model.embed_tokens.weight",
            "model.layers.0.self_attn.q_norm.weight",
            "model.layers.1.self_attn.k_proj.weight",
            "model.layers.2.mlp.gate.weight",
            "model.layers.3.mlp.experts.5.down_proj.weight",
            "model.norm.weight",
        ]
        .iter()
        .map(|n| {
            let t = g.get(vars[*n].as_tensor()).expect("gradient");
            (n.to_string(), vec_f32(t))
        })
        .collect();
        (l.ce_sum, l.aux, l.targets, grads)
    };
    let (ce_f, aux_f, n_f, g_f) = run(true);
    let (ce_c, aux_c, n_c, g_c) = run(false);
    assert_eq!(n_f, n_c);
    assert!((ce_f - ce_c).abs() < 1e-3 * ce_c.abs(), "{ce_f} vs {ce_c}");
    assert!((aux_f - aux_c).abs() < 1e-5, "{aux_f} vs {aux_c}");
    for ((name, a), (_, b)) in g_f.iter().zip(&g_c) {
        let scale = b.iter().fold(0f32, |m, x| m.max(x.abs()));
        assert!(scale > 0.0, "{name}: zero gradient");
        let d = max_abs_diff(a, b);
        assert!(
            d <= 1e-3 * scale,
            "{name}: fused vs composed differ by {d} (scale {scale})"
        );
    }
}

#[test]
fn objectives_choose_which_tokens_carry_loss() {
    let tok = acc_probe::tokenizer::train_bpe(corpus().iter(), 512).unwrap();
    let template = ChatTemplate::chatml_tools();
    let row = &chat_rows(1)[0];
    let targeted = |objective: Objective| -> String {
        let (ids, target) = data::tokenize_row(row, objective, &tok, &template).unwrap();
        let kept: Vec<u32> = ids
            .iter()
            .zip(&target)
            .filter(|(_, &t)| t)
            .map(|(&i, _)| i)
            .collect();
        tok.decode(&kept, false).unwrap()
    };
    let full = template
        .render(
            &serde_json::from_value::<Vec<Message>>(row["messages"].clone()).unwrap(),
            false,
        )
        .unwrap();
    assert_eq!(targeted(Objective::Lm), full);
    assert_eq!(
        targeted(Objective::AgentSft),
        "<tool_call>\n{\"name\":\"log\",\"arguments\":{}}\n</tool_call><|im_end|>\nIt shipped to Tallinn on day 0.<|im_end|>\n"
    );
    assert_eq!(
        targeted(Objective::Acc),
        "It shipped to Tallinn on day 0.<|im_end|>\n"
    );
    // the tool result and the user turn never carry loss under agent-sft
    assert!(!targeted(Objective::AgentSft).contains("order 0: Tallinn"));
}

#[test]
fn bad_rows_are_reported_and_skipped_with_counts_that_reconcile() {
    let s = setup();
    let path = s.root.join("mixed.jsonl");
    let mut rows: Vec<String> = chat_rows(3).iter().map(|r| r.to_string()).collect();
    rows.insert(1, "{not json".into());
    rows.push(json!({"messages": [{"role": "user", "content": "no answer"}]}).to_string());
    rows.push(json!({"something": 1}).to_string());
    std::fs::write(&path, rows.join("\n") + "\n\n").unwrap();
    let tok = acc_probe::tokenizer::load(&s.tokenizer).unwrap();
    let ds = data::load(
        &path,
        Objective::AgentSft,
        &tok,
        &ChatTemplate::chatml_tools(),
        256,
    )
    .unwrap();
    assert_eq!(ds.rows, 6);
    assert_eq!(ds.examples.len(), 3);
    assert_eq!(ds.skipped.len(), 3);
    let lines: Vec<usize> = ds.skipped.iter().map(|s| s.line).collect();
    assert_eq!(lines, vec![2, 5, 6]);
    assert!(ds.skipped[0].reason.contains("invalid JSON"));
    assert!(ds.skipped[1].reason.contains("no assistant turn"));
    // an empty file is an error naming it
    let empty = s.root.join("empty.jsonl");
    std::fs::write(&empty, "\n").unwrap();
    let e = data::load(
        &empty,
        Objective::Lm,
        &tok,
        &ChatTemplate::chatml_tools(),
        256,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("empty.jsonl") && e.contains("empty"), "{e}");
}

#[test]
fn token_ids_outside_the_vocabulary_name_the_line() {
    let s = setup();
    let path = s.root.join("ids.jsonl");
    write_rows(
        &path,
        &[
            json!({"input_ids": [1, 2, 3, 4], "labels": [-100, 2, 3, 4]}),
            json!({"input_ids": [1, 2, 99999], "labels": [-100, 2, 99999]}),
        ],
    );
    let cfg = config_for(&s, path, Objective::Lm, 2);
    let e = train(&cfg, &s.root.join("out"), false, &mut |_| {})
        .expect_err("an error")
        .to_string();
    assert!(e.contains("ids.jsonl:2") && e.contains("99999"), "{e}");
}

fn read_bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn training_lowers_the_loss_and_resume_ends_bit_identical() {
    let s = setup();
    let data = s.root.join("chat.jsonl");
    write_rows(&data, &chat_rows(24));
    let mut cfg = config_for(&s, data, Objective::AgentSft, 8);
    cfg.lr = 1e-2;
    cfg.save_every = 4;
    cfg.keep = 5;
    let full = s.root.join("full");
    let summary = train(&cfg, &full, false, &mut |_| {}).unwrap();
    assert_eq!(summary.examples, 24);
    let (first, last) = (summary.first_loss.unwrap(), summary.final_loss.unwrap());
    assert!(last < first * 0.7, "loss {first} → {last}");
    let metrics = std::fs::read_to_string(full.join("train/metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 8);

    // a run that stopped right after its step-4 checkpoint, with an interrupted
    // (partial) write of a later one lying around
    let cut = s.root.join("cut");
    copy_dir(&full, &cut);
    std::fs::remove_dir_all(cut.join("train/checkpoints/step-000008")).unwrap();
    std::fs::write(cut.join("train/latest"), "step-000004").unwrap();
    let partial = cut.join("train/checkpoints/step-000006.partial");
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::write(partial.join("model.safetensors"), b"truncated").unwrap();
    for f in ["model.safetensors", "config.json"] {
        std::fs::remove_file(cut.join(f)).unwrap();
    }
    let resumed = train(&cfg, &cut, true, &mut |_| {}).unwrap();
    assert_eq!(resumed.resumed_from, Some(4));
    assert_eq!(
        read_bytes(&cut.join("model.safetensors")),
        read_bytes(&full.join("model.safetensors")),
        "resumed weights differ from the uninterrupted run"
    );
    assert_eq!(
        read_bytes(&cut.join("train/checkpoints/step-000008/optimizer.safetensors")),
        read_bytes(&full.join("train/checkpoints/step-000008/optimizer.safetensors")),
    );
    assert_eq!(
        std::fs::read_to_string(cut.join("train/metrics.jsonl"))
            .unwrap()
            .lines()
            .count(),
        8
    );
    assert!(!partial.exists(), "the stale partial checkpoint is removed");

    // resuming with other settings is refused, naming the difference
    let mut other = cfg.clone();
    other.lr = 5e-2;
    let e = train(&other, &cut, true, &mut |_| {})
        .expect_err("refused")
        .to_string();
    assert!(e.contains("lr"), "{e}");
    // a second run into the same directory without --resume is refused
    let e = train(&cfg, &full, false, &mut |_| {})
        .expect_err("refused")
        .to_string();
    assert!(e.contains("--resume"), "{e}");
}

#[test]
fn a_non_finite_loss_stops_with_the_last_good_checkpoint_kept() {
    let s = setup();
    let data = s.root.join("chat.jsonl");
    write_rows(&data, &chat_rows(8));
    let mut cfg = config_for(&s, data, Objective::AgentSft, 6);
    cfg.lr = 1e30;
    cfg.warmup_ratio = 0.0;
    cfg.clip = 0.0;
    cfg.save_every = 1;
    let out = s.root.join("nan");
    let e = train(&cfg, &out, false, &mut |_| {})
        .expect_err("training must stop")
        .to_string();
    assert!(e.contains("non-finite"), "{e}");
    assert!(e.contains("last good checkpoint (step"), "{e}");
    let latest = acc_probe::train::checkpoint::latest(&out.join("train"))
        .unwrap()
        .expect("a checkpoint");
    let l = acc_probe::train::checkpoint::load(&latest).unwrap();
    assert!(l.state.step >= 1);
    assert!(!out.join("model.safetensors").exists());
}

#[test]
fn the_output_is_a_hugging_face_model_directory() {
    let s = setup();
    let data = s.root.join("chat.jsonl");
    write_rows(&data, &chat_rows(6));
    let mut cfg = config_for(&s, data.clone(), Objective::Acc, 2);
    cfg.save_dtype = acc_probe::train::SaveDtype::Bf16;
    let out = s.root.join("model");
    train(&cfg, &out, false, &mut |_| {}).unwrap();
    for f in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["model_type"], "qwen3_moe");
    assert_eq!(config["torch_dtype"], "bfloat16");
    assert_eq!(config["architectures"][0], "Qwen3MoeForCausalLM");
    let tc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("tokenizer_config.json")).unwrap()).unwrap();
    assert_eq!(tc["eos_token"], "<|im_end|>");
    assert!(tc["chat_template"]
        .as_str()
        .unwrap()
        .contains("<|im_start|>"));
    // exactly the architecture's tensors, in bf16, under HF names
    let st = candle_core::safetensors::load(out.join("model.safetensors"), &Device::Cpu).unwrap();
    let cfg_m = Qwen3MoeConfig::from_file(out.join("config.json")).unwrap();
    let expected = expected_tensors(&cfg_m);
    let mut names: Vec<&String> = st.keys().collect();
    names.sort();
    assert_eq!(names, expected.keys().collect::<Vec<_>>());
    assert!(st.values().all(|t| t.dtype() == DType::BF16));
    // it loads, renders its chat template and decodes
    let model = Qwen3Moe::from_dir(&out, &Device::Cpu).unwrap();
    let template = ChatTemplate::for_model_dir(&out).unwrap();
    let prompt = template
        .render(
            &[Message {
                role: "user".into(),
                content: "Where was order 3 shipped?".into(),
            }],
            true,
        )
        .unwrap();
    assert!(prompt.ends_with("<|im_start|>assistant\n"));
    let tok = acc_probe::tokenizer::load(&out.join("tokenizer.json")).unwrap();
    let ids = tok
        .encode(prompt.as_str(), false)
        .unwrap()
        .get_ids()
        .to_vec();
    let new = acc_probe::model::generate::greedy(&model, &ids, 4, &[]).unwrap();
    assert_eq!(new.len(), 4);
    // fine-tuning from it works (model init) and keeps the tokenizer
    let mut ft = TrainConfig::new(data, Init::Model { dir: out.clone() }, Objective::AgentSft);
    ft.steps = 1;
    ft.seq_len = 256;
    let out2 = s.root.join("model2");
    train(&ft, &out2, false, &mut |_| {}).unwrap();
    assert_eq!(
        read_bytes(&out2.join("tokenizer.json")),
        read_bytes(&out.join("tokenizer.json"))
    );
}

#[test]
fn parallel_packs_give_the_same_weights_as_sequential_ones() {
    let s = setup();
    let data = s.root.join("chat.jsonl");
    write_rows(&data, &chat_rows(16));
    let mut cfg = config_for(&s, data, Objective::AgentSft, 3);
    cfg.batch = 4;
    let one = s.root.join("w1");
    train(&cfg, &one, false, &mut |_| {}).unwrap();
    cfg.workers = 2;
    let two = s.root.join("w2");
    train(&cfg, &two, false, &mut |_| {}).unwrap();
    assert_eq!(
        read_bytes(&one.join("model.safetensors")),
        read_bytes(&two.join("model.safetensors"))
    );
}

/// Every weight gets a non-zero gradient from one pack (a missing backward
/// through RoPE, q/k norm or the causal softmax would leave the attention
/// pattern untrainable while the loss still falls).
#[test]
fn every_weight_gets_a_gradient() {
    let (vars, model) = trainable_model(&tiny_config(300), 3);
    // a repeated pattern, long enough to cross a training query block
    let ids: Vec<u32> = (0..300).map(|i| ((i % 37) * 7 % 300) as u32).collect();
    let pack = Pack {
        target: vec![true; 300],
        segments: vec![300],
        ids,
    };
    for fused in [false, true] {
        let l = pack_loss(&model, &pack, fused, 1.0, 0.0).unwrap();
        let g = l.total.backward().unwrap();
        let mut missing: Vec<&String> = vars
            .iter()
            .filter(|(_, v)| {
                g.get(v.as_tensor())
                    .is_none_or(|t| vec_f32(t).iter().all(|x| *x == 0.0))
            })
            .map(|(n, _)| n)
            .collect();
        missing.sort();
        assert!(
            missing.is_empty(),
            "fused={fused}: no gradient for {missing:?}"
        );
    }
}

#[test]
fn the_qk_norm_init_sets_the_q_and_k_norm_weights_of_a_scratch_model() {
    let s = setup();
    let data = s.root.join("chat.jsonl");
    write_rows(&data, &chat_rows(4));
    let mut cfg = config_for(&s, data, Objective::Acc, 1);
    cfg.lr = 1e-9;
    if let Init::Config { qk_norm_init, .. } = &mut cfg.init {
        *qk_norm_init = 2.5;
    }
    let out = s.root.join("model");
    train(&cfg, &out, false, &mut |_| {}).unwrap();
    let st = candle_core::safetensors::load(out.join("model.safetensors"), &Device::Cpu).unwrap();
    let layers = tiny_config(8).num_hidden_layers;
    for l in 0..layers {
        for n in ["q_norm", "k_norm"] {
            let w = vec_f32(&st[&format!("model.layers.{l}.self_attn.{n}.weight")]);
            assert!(
                w.iter().all(|v| (v - 2.5).abs() < 1e-3),
                "layer {l} {n}: {w:?}"
            );
        }
        let w = vec_f32(&st[&format!("model.layers.{l}.input_layernorm.weight")]);
        assert!(
            w.iter().all(|v| (v - 1.0).abs() < 1e-3),
            "layer {l} input_layernorm"
        );
    }
    // a run.json written before the field existed reads as 1.0 (resume keeps working)
    let mut old = serde_json::to_value(&cfg).unwrap();
    old["init"]["config"]
        .as_object_mut()
        .unwrap()
        .remove("qk_norm_init");
    let back: TrainConfig = serde_json::from_value(old).unwrap();
    match back.init {
        Init::Config { qk_norm_init, .. } => assert_eq!(qk_norm_init, 1.0),
        other => panic!("expected a config init, got {other:?}"),
    }
}

#[test]
fn a_grown_model_computes_the_same_logits_and_its_new_layers_train() {
    use acc_probe::train::grow::{grow_depth, grow_model_dir};
    let s = setup();
    let data = s.root.join("chat.jsonl");
    write_rows(&data, &chat_rows(6));
    let mut cfg = config_for(&s, data.clone(), Objective::Acc, 3);
    cfg.init = Init::Config {
        config: s.config.clone(),
        tokenizer: s.tokenizer.clone(),
        init_std: 0.2,
        qk_norm_init: 2.0,
    };
    let small = s.root.join("small");
    train(&cfg, &small, false, &mut |_| {}).unwrap();
    let layers = tiny_config(8).num_hidden_layers;
    let grown = s.root.join("grown");
    let report = grow_model_dir(
        &small,
        layers + 3,
        None,
        5,
        RandomInit::default(),
        DType::F32,
        &grown,
    )
    .unwrap();
    assert_eq!(report.layers_after, layers + 3);
    assert_eq!(report.old_layer_positions.len(), layers);
    // same logits (the new layers add exactly zero to the residual stream)
    let opts = ForwardOptions {
        path: AttnPath::Materialized,
        logits: LogitsRequest::All,
        ..Default::default()
    };
    let ids: Vec<u32> = (0..60).map(|i| (i * 37 % 300) as u32 + 3).collect();
    let logits = |dir: &Path| {
        let m = Qwen3Moe::from_dir(dir, &Device::Cpu).unwrap();
        vec_f32(
            &m.forward(&ids, &mut acc_probe::model::hook::NoProbe, opts)
                .unwrap()
                .logits
                .unwrap(),
        )
    };
    let (before, after) = (logits(&small), logits(&grown));
    assert_eq!(before, after, "growing changed the logits");
    // the new layers, and only they, write nothing to the residual stream
    let silent = |dir: &Path| {
        Qwen3Moe::from_dir(dir, &Device::Cpu)
            .unwrap()
            .silent_layers()
            .unwrap()
    };
    assert_eq!(silent(&small), Vec::<usize>::new());
    let new_layers: Vec<usize> = (0..layers + 3)
        .filter(|l| !report.old_layer_positions.contains(l))
        .collect();
    assert_eq!(silent(&grown), new_layers);
    let st = |dir: &Path| {
        candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).unwrap()
    };
    // old layers at given positions (the last one at the last layer): the same logits
    let placed = s.root.join("placed");
    let at: Vec<usize> = (0..layers).map(|i| i + 3).collect();
    let r = grow_model_dir(
        &small,
        layers + 3,
        Some(&at),
        5,
        RandomInit::default(),
        DType::F32,
        &placed,
    )
    .unwrap();
    assert_eq!(r.old_layer_positions, at);
    assert_eq!(
        logits(&placed),
        before,
        "growing to given positions changed the logits"
    );
    let (placed_w, small_w) = (st(&placed), st(&small));
    let last = format!("model.layers.{}.self_attn.q_proj.weight", layers - 1);
    let moved = format!("model.layers.{}.self_attn.q_proj.weight", layers + 2);
    assert_eq!(vec_f32(&placed_w[&moved]), vec_f32(&small_w[&last]));
    // positions that are not one increasing position per old layer, or past the end
    for bad in [
        vec![0; layers],
        (1..=layers).map(|i| i + 3).collect(),
        vec![1],
    ] {
        let e = grow_model_dir(
            &small,
            layers + 3,
            Some(&bad),
            5,
            RandomInit::default(),
            DType::F32,
            &s.root.join("bad"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("increasing positions below"), "{e}");
    }
    let gcfg = Qwen3MoeConfig::from_file(grown.join("config.json")).unwrap();
    assert_eq!(gcfg.num_hidden_layers, layers + 3);
    assert!(grown.join("tokenizer_config.json").is_file());
    // a new layer: zero output projections, random elsewhere; it trains from there
    let new_layer = (0..layers + 3)
        .find(|l| !report.old_layer_positions.contains(l))
        .unwrap();
    let w = st(&grown);
    let o = format!("model.layers.{new_layer}.self_attn.o_proj.weight");
    let q = format!("model.layers.{new_layer}.self_attn.q_proj.weight");
    assert!(vec_f32(&w[&o]).iter().all(|&v| v == 0.0));
    assert!(vec_f32(&w[&q]).iter().any(|&v| v != 0.0));
    let mut ft = TrainConfig::new(data, Init::Model { dir: grown.clone() }, Objective::Acc);
    ft.steps = 1;
    ft.seq_len = 256;
    ft.lr = 1e-3;
    let tuned = s.root.join("tuned");
    train(&ft, &tuned, false, &mut |_| {}).unwrap();
    let t = st(&tuned);
    assert!(
        vec_f32(&t[&o]).iter().any(|&v| v != 0.0),
        "o_proj got no gradient"
    );
    // growing to fewer layers, or a missing tensor, is an error naming it
    let mut weights: std::collections::HashMap<String, candle_core::Tensor> =
        st(&small).into_iter().collect();
    let scfg = Qwen3MoeConfig::from_file(small.join("config.json")).unwrap();
    let e = grow_depth(&weights, &scfg, layers, 0, RandomInit::default()).unwrap_err();
    assert!(e.to_string().contains("already has"), "{e}");
    weights.remove("model.layers.0.self_attn.q_norm.weight");
    let e = grow_depth(&weights, &scfg, layers + 1, 0, RandomInit::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("model.layers.0.self_attn.q_norm.weight"),
        "{e}"
    );
}
