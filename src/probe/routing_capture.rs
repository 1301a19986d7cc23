//! Per-example routing captures: for each probe input and chosen layer, the
//! routing sums of [`RoutingStats`] and every token's top-k experts (so that
//! two models' choices can be compared token by token on identical inputs).
//!
//! On disk (`*.safetensors` + `*.json`): per layer l, `blocks.{l}.router.counts`,
//! `top1_counts` [X, E] (i64), `prob_sum` [X, E], `coact` [X, E, E] (i64),
//! `n_tokens` [X] (i64), `entropy_sum`, `topk_mass_sum` [X] (f64), and
//! `blocks.{l}.router.topk` [Σ tokens, k] (i64) and `blocks.{l}.router.probs`
//! [Σ tokens, E] (f32, the softmax over all experts), examples concatenated in
//! order (the JSON's `examples[i].tokens` gives each length).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use serde_json::json;

use super::batch::run_batched;
use super::per_example::{ExampleMeta, Sidecar};
use super::routing::RoutingStats;
use crate::error::{Error, Result};
use crate::io::{save_safetensors, write_atomic};
use crate::model::hook::{HookPoint, Probe};
use crate::model::router::RouterOutput;
use crate::model::Qwen3Moe;
use crate::tasks::probe_inputs::ProbeInput;

/// Routing of one model over examples.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutingCapture {
    pub model: String,
    pub layers: Vec<usize>,
    pub num_experts: usize,
    pub top_k: usize,
    pub examples: Vec<ExampleMeta>,
    /// `[example][layer]`.
    pub stats: Vec<BTreeMap<usize, RoutingStats>>,
    /// `[example][layer]`: top-k ids per token, row-major [tokens * k].
    pub topk: Vec<BTreeMap<usize, Vec<u32>>>,
    /// `[example][layer]`: router probabilities p_t (softmax over all
    /// experts) per token, row-major [tokens * E].
    pub probs: Vec<BTreeMap<usize, Vec<f32>>>,
}

struct Recorder<'a> {
    layers: &'a [usize],
    stats: BTreeMap<usize, RoutingStats>,
    topk: BTreeMap<usize, Vec<u32>>,
    probs: BTreeMap<usize, Vec<f32>>,
}

impl Probe for Recorder<'_> {
    fn wants(&self, at: HookPoint) -> bool {
        matches!(at, HookPoint::Router(l) if self.layers.contains(&l))
    }
    fn layers(&self) -> Vec<usize> {
        self.layers.to_vec()
    }
    fn on_router(&mut self, layer: usize, r: &RouterOutput) -> Result<()> {
        self.stats
            .entry(layer)
            .or_insert_with(|| RoutingStats::new(r.num_experts, r.top_k))
            .add(r)?;
        self.topk
            .entry(layer)
            .or_default()
            .extend_from_slice(&r.topk_ids);
        let p: Vec<f32> = r.probs.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
        self.probs.entry(layer).or_default().extend(p);
        Ok(())
    }
}

/// Runs `model` over every input, recording routing at `layers` (the pass
/// stops after the last of them), layer-major in batches
/// ([`super::batch`]). `progress(done, total)` counts layer passes.
pub fn capture_routing(
    model: &Qwen3Moe,
    model_name: &str,
    inputs: &[ProbeInput],
    layers: &[usize],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<RoutingCapture> {
    let cfg = &model.config;
    if let Some(&l) = layers
        .iter()
        .find(|&&l| l < cfg.num_hidden_layers && !cfg.is_moe_layer(l))
    {
        return Err(Error::Input(format!(
            "layer {l} has no router (mlp_only_layers or decoder_sparse_step): nothing to capture"
        )));
    }
    let mut out = RoutingCapture {
        model: model_name.to_string(),
        layers: layers.to_vec(),
        num_experts: cfg.num_experts,
        top_k: cfg.num_experts_per_tok,
        examples: Vec::new(),
        stats: Vec::new(),
        topk: Vec::new(),
        probs: Vec::new(),
    };
    run_batched(
        model,
        inputs,
        layers,
        Default::default(),
        |_, _| {
            Ok(Recorder {
                layers,
                stats: BTreeMap::new(),
                topk: BTreeMap::new(),
                probs: BTreeMap::new(),
            })
        },
        |i, rec| {
            let input = &inputs[i];
            for &l in layers {
                if !rec.stats.contains_key(&l) {
                    return Err(Error::Input(format!(
                        "layer {l} has no router (mlp_only_layers or decoder_sparse_step): nothing to capture"
                    )));
                }
            }
            out.examples.push(ExampleMeta {
                id: input.id.clone(),
                task: input.task.name().to_string(),
                tokens: input.ids.len(),
                rows: (0, input.ids.len()),
            });
            out.stats.push(rec.stats);
            out.topk.push(rec.topk);
            out.probs.push(rec.probs);
            Ok(())
        },
        progress,
    )?;
    Ok(out)
}

impl RoutingCapture {
    /// Writes `path` (safetensors) and its `.json` sidecar.
    pub fn save(&self, path: &Path) -> Result<()> {
        let (x, e, k) = (self.examples.len(), self.num_experts, self.top_k);
        let dev = Device::Cpu;
        let mut map: HashMap<String, Tensor> = HashMap::new();
        let i64s = |v: Vec<u64>| v.into_iter().map(|c| c as i64).collect::<Vec<_>>();
        for &l in &self.layers {
            let p = HookPoint::Router(l).to_string();
            let st: Vec<&RoutingStats> = self.stats.iter().map(|s| &s[&l]).collect();
            let cat = |f: fn(&RoutingStats) -> &Vec<u64>| {
                i64s(st.iter().flat_map(|s| f(s).clone()).collect())
            };
            map.insert(
                format!("{p}.counts"),
                Tensor::from_vec(cat(|s| &s.counts), (x, e), &dev)?,
            );
            map.insert(
                format!("{p}.top1_counts"),
                Tensor::from_vec(cat(|s| &s.top1_counts), (x, e), &dev)?,
            );
            map.insert(
                format!("{p}.coact"),
                Tensor::from_vec(cat(|s| &s.coact), (x, e, e), &dev)?,
            );
            let probs: Vec<f64> = st.iter().flat_map(|s| s.prob_sum.clone()).collect();
            map.insert(
                format!("{p}.prob_sum"),
                Tensor::from_vec(probs, (x, e), &dev)?,
            );
            map.insert(
                format!("{p}.n_tokens"),
                Tensor::from_vec(i64s(st.iter().map(|s| s.n_tokens).collect()), x, &dev)?,
            );
            for (name, f) in [
                (
                    "entropy_sum",
                    (|s: &RoutingStats| s.entropy_sum) as fn(&RoutingStats) -> f64,
                ),
                ("topk_mass_sum", |s: &RoutingStats| s.topk_mass_sum),
            ] {
                let v: Vec<f64> = st.iter().map(|s| f(s)).collect();
                map.insert(format!("{p}.{name}"), Tensor::from_vec(v, x, &dev)?);
            }
            let ids: Vec<i64> = self
                .topk
                .iter()
                .flat_map(|t| t[&l].iter().map(|&i| i as i64))
                .collect();
            let rows = ids.len() / k.max(1);
            map.insert(format!("{p}.topk"), Tensor::from_vec(ids, (rows, k), &dev)?);
            let pt: Vec<f32> = self.probs.iter().flat_map(|t| t[&l].clone()).collect();
            map.insert(format!("{p}.probs"), Tensor::from_vec(pt, (rows, e), &dev)?);
        }
        save_safetensors(path, &map)?;
        let meta = json!({
            "kind": "acc-probe routing capture (per example)",
            "version": 2,
            "model": self.model,
            "layers": self.layers,
            "num_experts": e,
            "top_k": k,
            "examples": self.examples,
        });
        write_atomic(
            &path.with_extension("json"),
            &serde_json::to_vec_pretty(&meta).expect("json"),
        )
    }

    /// Reads a capture written by [`RoutingCapture::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let sidecar = Sidecar::read(path)?;
        let layers: Vec<usize> = sidecar.field("layers")?;
        let examples: Vec<ExampleMeta> = sidecar.field("examples")?;
        let num_experts: usize = sidecar.field("num_experts")?;
        let top_k: usize = sidecar.field("top_k")?;
        let model: String = sidecar.field("model")?;
        let tensors = candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| {
            Error::Input(format!(
                "{}: not a readable safetensors file: {e}",
                path.display()
            ))
        })?;
        let (x, e, k) = (examples.len(), num_experts, top_k);
        let total: usize = examples.iter().map(|m| m.tokens).sum();
        let mut stats = vec![BTreeMap::new(); x];
        let mut topk = vec![BTreeMap::new(); x];
        let mut router_probs = vec![BTreeMap::new(); x];
        for &l in &layers {
            let p = HookPoint::Router(l).to_string();
            let get = |name: &str, len: usize| -> Result<Vec<f64>> {
                let v: Vec<f64> = tensors
                    .get(&format!("{p}.{name}"))
                    .ok_or_else(|| {
                        Error::Input(format!("{}: missing tensor {p}.{name}", path.display()))
                    })?
                    .to_dtype(DType::F64)?
                    .flatten_all()?
                    .to_vec1()?;
                if v.len() != len {
                    return Err(Error::Input(format!(
                        "{}: {p}.{name} has {} values, expected {len}",
                        path.display(),
                        v.len()
                    )));
                }
                Ok(v)
            };
            let counts = get("counts", x * e)?;
            let top1 = get("top1_counts", x * e)?;
            let coact = get("coact", x * e * e)?;
            let probs = get("prob_sum", x * e)?;
            let n_tokens = get("n_tokens", x)?;
            let ent = get("entropy_sum", x)?;
            let mass = get("topk_mass_sum", x)?;
            let ids = get("topk", total * k)?;
            let pt = get("probs", total * e)?;
            let u = |v: &[f64]| v.iter().map(|&c| c as u64).collect::<Vec<_>>();
            let mut at = 0;
            for i in 0..x {
                let mut s = RoutingStats::new(e, k);
                s.counts = u(&counts[i * e..(i + 1) * e]);
                s.top1_counts = u(&top1[i * e..(i + 1) * e]);
                s.coact = u(&coact[i * e * e..(i + 1) * e * e]);
                s.prob_sum = probs[i * e..(i + 1) * e].to_vec();
                s.n_tokens = n_tokens[i] as u64;
                s.entropy_sum = ent[i];
                s.topk_mass_sum = mass[i];
                stats[i].insert(l, s);
                let len = examples[i].tokens * k;
                topk[i].insert(l, ids[at..at + len].iter().map(|&v| v as u32).collect());
                let (pa, pn) = (at / k * e, examples[i].tokens * e);
                router_probs[i].insert(l, pt[pa..pa + pn].iter().map(|&v| v as f32).collect());
                at += len;
            }
        }
        Ok(RoutingCapture {
            model,
            layers,
            num_experts,
            top_k,
            examples,
            stats,
            topk,
            probs: router_probs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_round_trips() {
        let (e, k) = (4, 2);
        let mut s = RoutingStats::new(e, k);
        s.counts = vec![1, 2, 3, 4];
        s.top1_counts = vec![1, 0, 2, 2];
        s.coact = (0..16).collect();
        s.prob_sum = vec![0.5, 0.25, 0.125, 0.125];
        s.n_tokens = 5;
        s.entropy_sum = 1.5;
        s.topk_mass_sum = 3.25;
        let c = RoutingCapture {
            model: "m".into(),
            layers: vec![3],
            num_experts: e,
            top_k: k,
            examples: vec![
                ExampleMeta {
                    id: "a".into(),
                    task: "mrcr".into(),
                    tokens: 2,
                    rows: (0, 2),
                },
                ExampleMeta {
                    id: "b".into(),
                    task: "mrcr".into(),
                    tokens: 3,
                    rows: (0, 3),
                },
            ],
            stats: vec![[(3, s.clone())].into(), [(3, s)].into()],
            topk: vec![
                [(3, vec![0, 1, 2, 3])].into(),
                [(3, vec![3, 2, 1, 0, 0, 2])].into(),
            ],
            probs: vec![
                [(3, (0..8).map(|i| i as f32 / 7.0).collect())].into(),
                [(3, (0..12).map(|i| 0.1 + i as f32 / 3.0).collect())].into(),
            ],
        };
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.safetensors");
        c.save(&p).unwrap();
        assert_eq!(RoutingCapture::load(&p).unwrap(), c);
    }
}
