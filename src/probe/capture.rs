//! Capture files: named tensors in safetensors plus a JSON sidecar that records
//! the conventions (bins, sink tokens, model, input), so that Python users can
//! load them directly (`safetensors.torch.load_file`, `json.load`).
//!
//! [`DumpProbe`] records per-row statistics of every layer (the layout of the
//! reference numerics); [`AttentionAccumulator`] keeps per-head summaries
//! only, with memory independent of the sequence length.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde_json::{json, Value};

use super::routing::{RoutingAccumulator, RoutingStats};
use crate::error::Result;
use crate::io::{save_safetensors, write_atomic};
use crate::model::attention_stream::StreamStats;
use crate::model::hook::{HookPoint, Probe};
use crate::model::router::RouterOutput;
use crate::stats::attn::{AttnStatsSpec, AttnSummary, RowStats};

/// Named tensors plus JSON metadata.
#[derive(Debug, Default)]
pub struct Capture {
    pub tensors: BTreeMap<String, Tensor>,
    pub meta: serde_json::Map<String, Value>,
}

impl Capture {
    pub fn insert(&mut self, name: impl Into<String>, t: Tensor) {
        self.tensors.insert(name.into(), t);
    }

    /// Writes `path` (safetensors) and `path` with extension `.json`, both atomically.
    pub fn save(&self, path: &Path) -> Result<PathBuf> {
        let map: HashMap<String, Tensor> = self
            .tensors
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        save_safetensors(path, &map)?;
        let mut meta = self.meta.clone();
        let shapes: serde_json::Map<String, Value> = self
            .tensors
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    json!({"shape": v.dims(), "dtype": format!("{:?}", v.dtype())}),
                )
            })
            .collect();
        meta.insert("tensors".into(), Value::Object(shapes));
        let json_path = path.with_extension("json");
        write_atomic(
            &json_path,
            &serde_json::to_vec_pretty(&Value::Object(meta)).expect("json"),
        )?;
        Ok(json_path)
    }
}

fn f32_tensor(v: &[f32], shape: &[usize]) -> Result<Tensor> {
    Ok(Tensor::from_slice(v, shape, &Device::Cpu)?)
}

fn f64_tensor(v: &[f64], shape: &[usize]) -> Result<Tensor> {
    Ok(Tensor::from_slice(v, shape, &Device::Cpu)?)
}

fn u64_as_i64(v: &[u64], shape: &[usize]) -> Result<Tensor> {
    let v: Vec<i64> = v.iter().map(|&x| x as i64).collect();
    Ok(Tensor::from_vec(v, shape, &Device::Cpu)?)
}

/// Adds per-row statistics of layer `l` under `blocks.{l}.attn.*`, shapes [H, R] and [H, R, bins].
pub fn add_row_stats(cap: &mut Capture, l: usize, rs: &RowStats) -> Result<()> {
    let p = HookPoint::Attn(l).to_string();
    let (h, r, nb) = (rs.heads, rs.n_rows(), rs.nbins);
    cap.insert(
        format!("{p}.mean_distance"),
        f32_tensor(&rs.mean_distance, &[h, r])?,
    );
    cap.insert(format!("{p}.entropy"), f32_tensor(&rs.entropy, &[h, r])?);
    cap.insert(
        format!("{p}.distance_hist"),
        f32_tensor(&rs.distance_hist, &[h, r, nb])?,
    );
    cap.insert(
        format!("{p}.sink_mass"),
        f32_tensor(&rs.sink_mass, &[h, r])?,
    );
    cap.insert(
        format!("{p}.local_mass"),
        f32_tensor(&rs.local_mass, &[h, r])?,
    );
    cap.insert(
        format!("{p}.max_weight"),
        f32_tensor(&rs.max_weight, &[h, r])?,
    );
    let argd: Vec<i64> = rs.argmax_distance.iter().map(|&x| x as i64).collect();
    cap.insert(
        format!("{p}.argmax_distance"),
        Tensor::from_vec(argd, (h, r), &Device::Cpu)?,
    );
    Ok(())
}

/// Adds a per-head summary of layer `l` under `blocks.{l}.attn.*`.
pub fn add_attn_summary(cap: &mut Capture, l: usize, s: &AttnSummary) -> Result<()> {
    let p = HookPoint::Attn(l).to_string();
    let (h, nb) = (s.heads, s.nbins);
    cap.insert(format!("{p}.n_rows"), u64_as_i64(&s.n_rows, &[h])?);
    cap.insert(format!("{p}.hist_sum"), f64_tensor(&s.hist_sum, &[h, nb])?);
    cap.insert(
        format!("{p}.mean_distance_hist"),
        u64_as_i64(&s.mean_distance_hist, &[h, nb])?,
    );
    for (name, v) in [
        ("mean_distance_sum", &s.mean_distance_sum),
        ("mean_distance_sq_sum", &s.mean_distance_sq_sum),
        ("entropy_sum", &s.entropy_sum),
        ("sink_sum", &s.sink_sum),
        ("local_sum", &s.local_sum),
        ("max_weight_sum", &s.max_weight_sum),
    ] {
        cap.insert(format!("{p}.{name}"), f64_tensor(v, &[h])?);
    }
    Ok(())
}

/// Adds routing sums of layer `l` under `blocks.{l}.router.*`.
pub fn add_routing_stats(cap: &mut Capture, l: usize, s: &RoutingStats) -> Result<()> {
    let p = HookPoint::Router(l).to_string();
    let e = s.num_experts;
    cap.insert(format!("{p}.counts"), u64_as_i64(&s.counts, &[e])?);
    cap.insert(
        format!("{p}.top1_counts"),
        u64_as_i64(&s.top1_counts, &[e])?,
    );
    cap.insert(format!("{p}.prob_sum"), f64_tensor(&s.prob_sum, &[e])?);
    cap.insert(format!("{p}.coact"), u64_as_i64(&s.coact, &[e, e])?);
    cap.insert(format!("{p}.n_tokens"), u64_as_i64(&[s.n_tokens], &[1])?);
    cap.insert(
        format!("{p}.entropy_sum"),
        f64_tensor(&[s.entropy_sum], &[1])?,
    );
    cap.insert(
        format!("{p}.topk_mass_sum"),
        f64_tensor(&[s.topk_mass_sum], &[1])?,
    );
    Ok(())
}

/// Records everything per row: router logits and top-k, attention statistics
/// per (head, row), optionally the materialised probabilities.
pub struct DumpProbe {
    pub spec: AttnStatsSpec,
    pub materialize: bool,
    /// Layers recorded; `None` = all.
    pub layers: Option<Vec<usize>>,
    pub capture: Capture,
}

impl DumpProbe {
    pub fn new(mut spec: AttnStatsSpec, materialize: bool) -> Self {
        spec.per_row = true;
        DumpProbe {
            spec,
            materialize,
            layers: None,
            capture: Capture::default(),
        }
    }

    /// Records only `layers`.
    pub fn with_layers(mut self, layers: Vec<usize>) -> Self {
        self.layers = Some(layers);
        self
    }

    fn records(&self, layer: usize) -> bool {
        self.layers.as_ref().is_none_or(|ls| ls.contains(&layer))
    }
}

impl Probe for DumpProbe {
    fn attn_spec(&self, layer: usize) -> Option<AttnStatsSpec> {
        self.records(layer).then(|| self.spec.clone())
    }
    fn wants(&self, at: HookPoint) -> bool {
        let l = at.layer();
        match at {
            HookPoint::AttnProbs(_) => self.materialize && self.records(l),
            HookPoint::Attn(_) => self.attn_spec(l).is_some(),
            HookPoint::Router(_) => self.records(l),
        }
    }
    fn layers(&self) -> Vec<usize> {
        self.layers.clone().unwrap_or_default()
    }
    fn on_attn_stats(&mut self, layer: usize, stats: &StreamStats) -> Result<()> {
        if let StreamStats::Rows(rs) = stats {
            add_row_stats(&mut self.capture, layer, rs)?;
        }
        Ok(())
    }
    fn on_attn_probs(&mut self, layer: usize, probs: &Tensor) -> Result<()> {
        self.capture
            .insert(format!("{}", HookPoint::AttnProbs(layer)), probs.clone());
        Ok(())
    }
    fn on_router(&mut self, layer: usize, r: &RouterOutput) -> Result<()> {
        let p = HookPoint::Router(layer).to_string();
        self.capture.insert(format!("{p}.logits"), r.logits.clone());
        self.capture.insert(format!("{p}.topk"), r.topk_tensor()?);
        Ok(())
    }
}

/// Per-head attention summaries for chosen layers, merged over every pass.
#[derive(Debug, Clone)]
pub struct AttentionAccumulator {
    pub spec: AttnStatsSpec,
    /// Layers to observe.
    pub layers: Vec<usize>,
    pub per_layer: BTreeMap<usize, AttnSummary>,
}

impl AttentionAccumulator {
    pub fn new(mut spec: AttnStatsSpec, layers: Vec<usize>) -> Self {
        spec.per_row = false;
        AttentionAccumulator {
            spec,
            layers,
            per_layer: BTreeMap::new(),
        }
    }

    pub fn to_capture(&self) -> Result<Capture> {
        let mut cap = Capture::default();
        for (l, s) in &self.per_layer {
            add_attn_summary(&mut cap, *l, s)?;
        }
        cap.meta.insert(
            "attn_spec".into(),
            serde_json::to_value(&self.spec).expect("spec"),
        );
        Ok(cap)
    }
}

impl Probe for AttentionAccumulator {
    fn attn_spec(&self, layer: usize) -> Option<AttnStatsSpec> {
        self.layers.contains(&layer).then(|| self.spec.clone())
    }
    fn layers(&self) -> Vec<usize> {
        self.layers.clone()
    }
    fn on_attn_stats(&mut self, layer: usize, stats: &StreamStats) -> Result<()> {
        let summary = match stats {
            StreamStats::Summary(s) => s.clone(),
            StreamStats::Rows(r) => r.summarize(&self.spec.bins),
        };
        match self.per_layer.get_mut(&layer) {
            Some(acc) => acc.merge(&summary)?,
            None => {
                self.per_layer.insert(layer, summary);
            }
        }
        Ok(())
    }
}

impl RoutingAccumulator {
    pub fn to_capture(&self) -> Result<Capture> {
        let mut cap = Capture::default();
        for (l, s) in &self.per_layer {
            add_routing_stats(&mut cap, *l, s)?;
        }
        Ok(cap)
    }
}
