//! Greedy decoding with a KV cache gives the same tokens (and logits) as
//! recomputing the whole sequence at every step.

mod common;

use acc_probe::model::generate::{greedy, greedy_uncached};
use acc_probe::model::random::RandomInit;
use acc_probe::model::{KvCache, Qwen3Moe};
use candle_core::Device;
use common::*;

#[test]
fn cached_decoding_equals_recomputation() {
    let reference = load_reference();
    let tiny = Qwen3Moe::from_dir(fixture("tiny-qwen3-moe/model"), &Device::Cpu).unwrap();
    let prompt: Vec<u32> = ids_of(&reference["input_ids"])[..40].to_vec();
    let a = greedy(&tiny, &prompt, 24, &[]).unwrap();
    let b = greedy_uncached(&tiny, &prompt, 24, &[]).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len(), 24);
    // stop tokens end the continuation (and are included)
    let stop = a[5];
    let first = a.iter().position(|&x| x == stop).unwrap();
    assert_eq!(
        greedy(&tiny, &prompt, 24, &[stop]).unwrap(),
        a[..=first].to_vec()
    );

    // a random GQA model with tied embeddings and a dense layer
    let mut cfg = tiny.config.clone();
    cfg.tie_word_embeddings = true;
    cfg.mlp_only_layers = vec![1];
    cfg.intermediate_size = 48;
    cfg.num_attention_heads = 6;
    cfg.num_key_value_heads = 2;
    let m = random_model(
        &cfg,
        4,
        RandomInit {
            std: 0.08,
            norm_jitter: 0.3,
            qk_gain: 2.0,
        },
    );
    assert_eq!(
        greedy(&m, &prompt, 16, &[]).unwrap(),
        greedy_uncached(&m, &prompt, 16, &[]).unwrap()
    );

    // step logits agree with the full pass
    let mut cache = KvCache::default();
    let mut seq = prompt[..10].to_vec();
    let mut step = m.forward_cached(&seq, &mut cache).unwrap();
    for &next in &prompt[10..20] {
        let full = last_logits(&m, &seq);
        let d = max_abs_diff(&vec_f32(&step), &vec_f32(&full));
        assert!(d < 1e-4, "step {}: logits differ by {d}", seq.len());
        seq.push(next);
        step = m.forward_cached(&[next], &mut cache).unwrap();
    }
    assert_eq!(cache.len(), 20);
    let e = m
        .forward_cached(&vec![1; cfg.max_position_embeddings], &mut cache)
        .unwrap_err()
        .to_string();
    assert!(e.contains("max_position_embeddings"), "{e}");
}
