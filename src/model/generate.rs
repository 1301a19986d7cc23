//! Greedy decoding: with a KV cache, and by recomputing the whole sequence
//! each step (the reference the cached path is tested against).

use candle_core::Tensor;

use super::hook::NoProbe;
use super::qwen3_moe::{ForwardOptions, KvCache, LogitsRequest, Qwen3Moe};
use crate::error::Result;

/// Argmax of logits [1, V] (lowest id on ties).
pub fn argmax(logits: &Tensor) -> Result<u32> {
    let v = logits.flatten_all()?.to_vec1::<f32>()?;
    let mut best = 0usize;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    Ok(best as u32)
}

/// Greedy continuation of `prompt` with a KV cache: at most `max_new` tokens,
/// stopping after any id in `stop`. Returns the new tokens (stop token included).
pub fn greedy(model: &Qwen3Moe, prompt: &[u32], max_new: usize, stop: &[u32]) -> Result<Vec<u32>> {
    let mut cache = KvCache::default();
    // no more tokens than positions: a huge --max-new-tokens reserves nothing
    let mut out = Vec::with_capacity(max_new.min(model.config.max_position_embeddings));
    if max_new == 0 {
        return Ok(out);
    }
    let mut logits = model.forward_cached(prompt, &mut cache)?;
    loop {
        let next = argmax(&logits)?;
        out.push(next);
        if out.len() >= max_new || stop.contains(&next) {
            return Ok(out);
        }
        logits = model.forward_cached(&[next], &mut cache)?;
    }
}

/// The same continuation, recomputing the full sequence at every step.
pub fn greedy_uncached(
    model: &Qwen3Moe,
    prompt: &[u32],
    max_new: usize,
    stop: &[u32],
) -> Result<Vec<u32>> {
    let mut seq = prompt.to_vec();
    // no more tokens than positions: a huge --max-new-tokens reserves nothing
    let mut out = Vec::with_capacity(max_new.min(model.config.max_position_embeddings));
    while out.len() < max_new {
        let logits = model
            .forward(
                &seq,
                &mut NoProbe,
                ForwardOptions {
                    logits: LogitsRequest::Last,
                    ..Default::default()
                },
            )?
            .logits
            .expect("logits requested");
        let next = argmax(&logits)?;
        out.push(next);
        seq.push(next);
        if stop.contains(&next) {
            break;
        }
    }
    Ok(out)
}

/// Stop ids of a model directory: `eos_token_id` of generation_config.json
/// (else config.json; a number or a list), plus `<|im_end|>` when the
/// tokenizer knows it (ChatML turns end there).
pub fn stop_ids(dir: &std::path::Path, tokenizer: Option<&tokenizers::Tokenizer>) -> Vec<u32> {
    let mut ids = Vec::new();
    for f in ["generation_config.json", "config.json"] {
        let Ok(text) = std::fs::read_to_string(dir.join(f)) else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        match &v["eos_token_id"] {
            serde_json::Value::Number(n) => ids.extend(n.as_u64().map(|x| x as u32)),
            serde_json::Value::Array(a) => {
                ids.extend(a.iter().filter_map(|x| x.as_u64()).map(|x| x as u32))
            }
            _ => continue,
        }
        break;
    }
    if let Some(id) = tokenizer.and_then(|t| t.token_to_id("<|im_end|>")) {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}
