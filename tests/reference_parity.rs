//! Parity with HF transformers 5.23 (eager, f32) on the tiny reference model:
//! logits within 1e-4, attention statistics within 1e-5, identical top-k sets
//! where the k-th/(k+1)-th probability margin exceeds 1e-4.

mod common;

use acc_probe::model::{AttnPath, ForwardOptions, LogitsRequest, Qwen3Moe};
use acc_probe::probe::capture::DumpProbe;
use acc_probe::stats::attn::AttnStatsSpec;
use candle_core::Device;
use common::*;

fn run(
    path: AttnPath,
) -> (
    std::collections::HashMap<String, candle_core::Tensor>,
    DumpProbe,
    candle_core::Tensor,
) {
    let reference = load_reference();
    let model = Qwen3Moe::from_dir(fixture("tiny-qwen3-moe/model"), &Device::Cpu).unwrap();
    let ids = ids_of(&reference["input_ids"]);
    let mut probe = DumpProbe::new(AttnStatsSpec::default(), true);
    let out = model
        .forward(
            &ids,
            &mut probe,
            ForwardOptions {
                path,
                logits: LogitsRequest::All,
                ..Default::default()
            },
        )
        .unwrap();
    (reference, probe, out.logits.unwrap())
}

fn check(path: AttnPath) {
    let (reference, probe, logits) = run(path);
    let cap = &probe.capture.tensors;
    let d = max_abs_diff(&vec_f32(&logits), &vec_f32(&reference["logits"]));
    assert!(d < 1e-4, "logits differ by {d}");
    for l in 0..2 {
        for stat in ["mean_distance", "entropy", "distance_hist", "sink_mass"] {
            let name = format!("blocks.{l}.attn.{stat}");
            assert_eq!(cap[&name].dims(), reference[&name].dims(), "{name} shape");
            let d = max_abs_diff(&vec_f32(&cap[&name]), &vec_f32(&reference[&name]));
            assert!(d < 1e-5, "{name} differs by {d} ({path:?})");
        }
        let name = format!("blocks.{l}.attn.probs");
        let d = max_abs_diff(&vec_f32(&cap[&name]), &vec_f32(&reference[&name]));
        assert!(d < 1e-5, "{name} differs by {d}");
        let name = format!("blocks.{l}.router.logits");
        let d = max_abs_diff(&vec_f32(&cap[&name]), &vec_f32(&reference[&name]));
        assert!(d < 1e-4, "{name} differs by {d}");

        // top-k sets agree wherever the k-th/(k+1)-th margin is clear
        let ours = cap[&format!("blocks.{l}.router.topk")]
            .to_vec2::<i64>()
            .unwrap();
        let theirs = reference[&format!("blocks.{l}.router.topk")]
            .to_vec2::<i64>()
            .unwrap();
        let logits = reference[&name].to_vec2::<f32>().unwrap();
        let mut compared = 0;
        for (t, row) in logits.iter().enumerate() {
            let m = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let z: f32 = row.iter().map(|x| (x - m).exp()).sum();
            let mut p: Vec<f32> = row.iter().map(|x| (x - m).exp() / z).collect();
            p.sort_by(|a, b| b.partial_cmp(a).unwrap());
            let k = ours[t].len();
            if p[k - 1] - p[k] > 1e-4 {
                let mut a = ours[t].clone();
                let mut b = theirs[t].clone();
                assert_eq!(a, b, "layer {l} token {t}: top-k order");
                a.sort();
                b.sort();
                assert_eq!(a, b, "layer {l} token {t}: top-k set");
                compared += 1;
            }
        }
        assert!(
            compared > 80,
            "only {compared} tokens had a clear top-k margin"
        );
    }
}

#[test]
fn streaming_path_matches_transformers() {
    check(AttnPath::Streaming);
}

#[test]
fn materialized_path_matches_transformers() {
    check(AttnPath::Materialized);
}
