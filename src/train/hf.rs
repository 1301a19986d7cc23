//! A trained model as a Hugging Face model directory: config.json (4.x keys),
//! model.safetensors (HF tensor names), tokenizer.json, tokenizer_config.json
//! (with a ChatML chat template) and generation_config.json. transformers
//! loads it with `AutoModelForCausalLM` / `AutoTokenizer` (see
//! `scripts/check_hf_load.py`).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Tensor};
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::io::{save_safetensors, write_atomic};
use crate::model::loader::expected_tensors;
use crate::model::Qwen3MoeConfig;

fn dtype_name(dtype: DType) -> &'static str {
    match dtype {
        DType::BF16 => "bfloat16",
        DType::F16 => "float16",
        _ => "float32",
    }
}

fn json_bytes(v: &Value) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).expect("JSON serialises");
    b.push(b'\n');
    b
}

/// tokenizer_config.json for `tok`: the chat template, the special tokens of
/// the vocabulary as `added_tokens_decoder`, `<|im_end|>` as EOS.
pub fn tokenizer_config(tok: &tokenizers::Tokenizer, template: &str, max_len: usize) -> Value {
    let mut added = serde_json::Map::new();
    let mut specials: Vec<(u32, String, bool)> = tok
        .get_added_tokens_decoder()
        .into_iter()
        .map(|(id, t)| (id, t.content, t.special))
        .collect();
    specials.sort();
    for (id, content, special) in &specials {
        added.insert(
            id.to_string(),
            json!({"content": content, "lstrip": false, "normalized": false, "rstrip": false,
                   "single_word": false, "special": special}),
        );
    }
    json!({
        "added_tokens_decoder": added,
        "bos_token": null,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": null,
        "chat_template": template,
        "clean_up_tokenization_spaces": false,
        "errors": "replace",
        "model_max_length": max_len,
        "split_special_tokens": false,
        "tokenizer_class": "PreTrainedTokenizerFast",
    })
}

/// The ids that end a response of a trained model (`<|im_end|>`, then
/// `<|endoftext|>`): its generation_config.json's `eos_token_id`.
pub fn stop_tokens(tok: &tokenizers::Tokenizer) -> Vec<u32> {
    ["<|im_end|>", "<|endoftext|>"]
        .iter()
        .filter_map(|t| tok.token_to_id(t))
        .collect()
}

/// Writes the model directory `dir` (files replaced atomically).
pub fn write_model_dir(
    dir: &Path,
    cfg: &Qwen3MoeConfig,
    weights: &HashMap<String, Tensor>,
    dtype: DType,
    tok: &tokenizers::Tokenizer,
    template: &str,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let id = |t: &str| tok.token_to_id(t);
    let (eos, pad) = (id("<|im_end|>"), id("<|endoftext|>"));
    // 1. config.json (transformers 4.x keys) with the special token ids
    let mut config = cfg.to_hf_json();
    config["torch_dtype"] = json!(dtype_name(dtype));
    config["eos_token_id"] = json!(eos);
    config["bos_token_id"] = json!(pad);
    config["pad_token_id"] = json!(pad);
    config["transformers_version"] = json!("4.51.0");
    write_atomic(&dir.join("config.json"), &json_bytes(&config))?;
    // 2. weights: exactly the tensors of the architecture, HF names, `dtype`
    let expected = expected_tensors(cfg);
    let mut out = HashMap::with_capacity(expected.len());
    for (name, shape) in &expected {
        let t = weights
            .get(name)
            .ok_or_else(|| Error::Input(format!("trained weights have no tensor `{name}`")))?;
        if t.dims() != shape.as_slice() {
            return Err(Error::Input(format!(
                "trained tensor `{name}` has shape {:?}, expected {shape:?}",
                t.dims()
            )));
        }
        out.insert(name.clone(), t.to_dtype(dtype)?);
    }
    save_safetensors(&dir.join("model.safetensors"), &out)?;
    // 3. tokenizer files
    let tj = tok
        .to_string(false)
        .map_err(|e| Error::Input(format!("tokenizer does not serialise: {e}")))?;
    write_atomic(&dir.join("tokenizer.json"), tj.as_bytes())?;
    write_atomic(
        &dir.join("tokenizer_config.json"),
        &json_bytes(&tokenizer_config(
            tok,
            template,
            cfg.max_position_embeddings,
        )),
    )?;
    let stops = stop_tokens(tok);
    write_atomic(
        &dir.join("generation_config.json"),
        &json_bytes(&json!({
            "bos_token_id": pad,
            "eos_token_id": stops,
            "pad_token_id": pad,
            "do_sample": false,
            "transformers_version": "4.51.0",
        })),
    )?;
    // a stale index from an earlier sharded write would shadow model.safetensors
    let index = dir.join("model.safetensors.index.json");
    if index.exists() {
        std::fs::remove_file(&index).map_err(|e| Error::io(&index, e))?;
    }
    Ok(())
}
