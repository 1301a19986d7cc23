//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod fuzz;

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{Device, Tensor};

pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

pub fn load_reference() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(
        fixture("tiny-qwen3-moe/reference.safetensors"),
        &Device::Cpu,
    )
    .unwrap()
}

pub fn vec_f32(t: &Tensor) -> Vec<f32> {
    t.flatten_all()
        .unwrap()
        .to_dtype(candle_core::DType::F32)
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// Largest absolute difference; panics on length mismatch.
/// The largest |a − b|; infinite where either side is NaN (so a NaN never
/// passes a tolerance check).
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| match (x - y).abs() {
            d if d.is_nan() => f32::INFINITY,
            d => d,
        })
        .fold(0.0, f32::max)
}

pub fn ids_of(t: &Tensor) -> Vec<u32> {
    t.to_vec1::<i64>()
        .unwrap()
        .into_iter()
        .map(|x| x as u32)
        .collect()
}

/// A model with seeded random weights for `cfg`.
pub fn random_model(
    cfg: &acc_probe::model::Qwen3MoeConfig,
    seed: u64,
    init: acc_probe::model::random::RandomInit,
) -> acc_probe::model::Qwen3Moe {
    let w = acc_probe::model::random::random_weights(cfg, seed, init, &Device::Cpu).unwrap();
    let vb = candle_nn::VarBuilder::from_tensors(w, candle_core::DType::F32, &Device::Cpu);
    acc_probe::model::Qwen3Moe::load(cfg, vb).unwrap()
}

/// Logits of the last position of a full (uncached) pass.
pub fn last_logits(model: &acc_probe::model::Qwen3Moe, ids: &[u32]) -> Tensor {
    let opts = acc_probe::model::ForwardOptions {
        logits: acc_probe::model::LogitsRequest::Last,
        ..Default::default()
    };
    model
        .forward(ids, &mut acc_probe::model::hook::NoProbe, opts)
        .unwrap()
        .logits
        .unwrap()
}

/// Copies the tiny model into `dir` with a word-level tokenizer covering the
/// toy tasks' instruction words (the chat control tokens special).
pub fn model_with_tokenizer(dir: &std::path::Path) {
    for f in ["config.json", "model.safetensors", "generation_config.json"] {
        std::fs::copy(fixture("tiny-qwen3-moe/model").join(f), dir.join(f)).unwrap();
    }
    let words = "the a of to graph node nodes edges edge is are you will be given list directed all at least degree also get description operation perform on your job execute and return set that results in if asked for breadth first search bfs only reachable exactly depth do not starting parents have an leading given itself here example begin end with following find from final answer should immediately stop outputting after format as last line like write poem about prepend th indexed include any other text response"
        .split(' ');
    let mut vocab: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    vocab.insert("[UNK]".into(), 0);
    for w in words.chain([".", ",", ":", "[", "]", "->", "(", ")", "-"]) {
        let n = vocab.len() as u32;
        vocab.entry(w.to_string()).or_insert(n);
    }
    let model = tokenizers::models::wordlevel::WordLevel::builder()
        .vocab(vocab.into_iter().collect())
        .unk_token("[UNK]".into())
        .build()
        .unwrap();
    let mut tok = tokenizers::Tokenizer::new(model);
    tok.with_pre_tokenizer(Some(tokenizers::pre_tokenizers::whitespace::Whitespace {}));
    let _ = tok.add_special_tokens([
        tokenizers::AddedToken::from("<|im_start|>", true),
        tokenizers::AddedToken::from("<|im_end|>", true),
    ]);
    tok.save(dir.join("tokenizer.json"), false).unwrap();
}

/// A model of the fixture's architecture with `layers` layers and other
/// random weights, sharing `base`'s tokenizer.
pub fn other_model(base: &std::path::Path, dir: &std::path::Path, layers: usize, seed: u64) {
    use acc_probe::model::random::{random_weights, write_checkpoint, RandomInit};
    let mut cfg = acc_probe::model::Qwen3MoeConfig::from_file(base.join("config.json")).unwrap();
    cfg.num_hidden_layers = layers;
    let init = RandomInit {
        std: 0.2,
        qk_gain: 4.0,
        ..Default::default()
    };
    let w = random_weights(&cfg, seed, init, &Device::Cpu).unwrap();
    write_checkpoint(dir, &cfg, &w, candle_core::DType::F32, 1).unwrap();
    std::fs::copy(base.join("tokenizer.json"), dir.join("tokenizer.json")).unwrap();
}

/// A tiny base / "ACC" pair in a temporary directory: the fixture model with
/// a word-level tokenizer, and a 2-layer model of other random weights.
pub struct Pair {
    pub _tmp: tempfile::TempDir,
    pub base: String,
    pub acc: String,
    pub out: String,
}

pub fn pair() -> Pair {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    let acc = tmp.path().join("acc");
    std::fs::create_dir_all(&base).unwrap();
    model_with_tokenizer(&base);
    other_model(&base, &acc, 2, 7);
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    Pair {
        base: s(&base),
        acc: s(&acc),
        out: s(&tmp.path().join("out")),
        _tmp: tmp,
    }
}

/// Four characters a token: the compiler's budget without a tokenizer.
pub struct Chars;

impl acc_probe::tokenizer::TokenCounter for Chars {
    fn count(&self, text: &str) -> usize {
        text.len().div_ceil(4)
    }
}

/// Compile options with a fixed budget of `tokens` and everything else default.
pub fn compile_opts(tokens: usize) -> acc_probe::compile::pipeline::CompileOptions {
    acc_probe::compile::pipeline::CompileOptions {
        format: None,
        domain: None,
        budget: acc_probe::compile::pipeline::Budget::Fixed(tokens),
        distractors: true,
        seed: 0,
        db: None,
        repo_root: None,
    }
}

/// Copies the directory tree `src` to `dst`.
pub fn copy_dir(src: &std::path::Path, dst: &std::path::Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), to).unwrap();
        }
    }
}
