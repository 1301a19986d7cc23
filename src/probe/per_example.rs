//! Per-example attention captures: for each probe input, each chosen layer's
//! per-head summary ([`AttnSummary`]), computed by the streaming attention path
//! with an early exit after the last chosen layer.
//!
//! On disk (`*.safetensors` + `*.json`, both written atomically) a capture holds,
//! for every layer l, the tensors `blocks.{l}.attn.<field>` with a leading
//! example axis: `n_rows` [E, H] (i64), `hist_sum` and `mean_distance_hist`
//! [E, H, B], and `mean_distance_sum`, `mean_distance_sq_sum`, `entropy_sum`,
//! `sink_sum`, `local_sum`, `max_weight_sum` [E, H] (f64); the JSON lists the
//! examples (id, task, tokens, measured rows), the layers, the statistics spec
//! and the model. Captures of disjoint example shards concatenate exactly
//! ([`AttnCapture::merge`]).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::batch::run_batched;
use super::capture::AttentionAccumulator;
use crate::error::{Error, Result};
use crate::io::{save_safetensors, write_atomic};
use crate::model::hook::HookPoint;
use crate::model::{Qwen3Moe, StreamBlocks};
use crate::stats::attn::{AttnStatsSpec, AttnSummary, Queries, RowSelection};
use crate::tasks::probe_inputs::ProbeInput;

/// One captured example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExampleMeta {
    pub id: String,
    pub task: String,
    pub tokens: usize,
    /// Measured query rows start..end.
    pub rows: (usize, usize),
}

/// Per-example attention summaries of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct AttnCapture {
    /// The model (directory) that produced it.
    pub model: String,
    pub layers: Vec<usize>,
    /// Bins, sink and local window (its `rows` is per example: see `examples`).
    pub spec: AttnStatsSpec,
    pub examples: Vec<ExampleMeta>,
    /// `[example][layer]`.
    pub summaries: Vec<BTreeMap<usize, AttnSummary>>,
}

/// Runs `model` over every input, observing `layers` only (the pass stops
/// after the last of them), layer-major in batches ([`super::batch`]).
/// `progress(done, total)` counts layer passes.
#[allow(clippy::too_many_arguments)]
pub fn capture_attention(
    model: &Qwen3Moe,
    model_name: &str,
    inputs: &[ProbeInput],
    layers: &[usize],
    spec: &AttnStatsSpec,
    queries: Queries,
    blocks: StreamBlocks,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<AttnCapture> {
    let mut examples = Vec::with_capacity(inputs.len());
    let mut summaries = Vec::with_capacity(inputs.len());
    run_batched(
        model,
        inputs,
        layers,
        blocks,
        |_, input| {
            let rows = queries.rows(input.ids.len(), Some(input.question_start))?;
            let range = rows.range(input.ids.len())?;
            examples.push(ExampleMeta {
                id: input.id.clone(),
                task: input.task.name().to_string(),
                tokens: input.ids.len(),
                rows: (range.start, range.end),
            });
            let mut s = spec.clone();
            s.rows = rows;
            Ok(AttentionAccumulator::new(s, layers.to_vec()))
        },
        |_, acc| {
            summaries.push(acc.per_layer);
            Ok(())
        },
        progress,
    )?;
    let mut spec = spec.clone();
    spec.rows = RowSelection::All;
    Ok(AttnCapture {
        model: model_name.to_string(),
        layers: layers.to_vec(),
        spec,
        examples,
        summaries,
    })
}

const F64_FIELDS: [&str; 6] = [
    "mean_distance_sum",
    "mean_distance_sq_sum",
    "entropy_sum",
    "sink_sum",
    "local_sum",
    "max_weight_sum",
];

fn field<'a>(s: &'a AttnSummary, name: &str) -> &'a [f64] {
    match name {
        "mean_distance_sum" => &s.mean_distance_sum,
        "mean_distance_sq_sum" => &s.mean_distance_sq_sum,
        "entropy_sum" => &s.entropy_sum,
        "sink_sum" => &s.sink_sum,
        "local_sum" => &s.local_sum,
        "max_weight_sum" => &s.max_weight_sum,
        _ => unreachable!("known field"),
    }
}

fn field_mut<'a>(s: &'a mut AttnSummary, name: &str) -> &'a mut Vec<f64> {
    match name {
        "mean_distance_sum" => &mut s.mean_distance_sum,
        "mean_distance_sq_sum" => &mut s.mean_distance_sq_sum,
        "entropy_sum" => &mut s.entropy_sum,
        "sink_sum" => &mut s.sink_sum,
        "local_sum" => &mut s.local_sum,
        "max_weight_sum" => &mut s.max_weight_sum,
        _ => unreachable!("known field"),
    }
}

/// The JSON sidecar of a capture file, read with errors that name the file and field.
pub(crate) struct Sidecar {
    path: std::path::PathBuf,
    meta: serde_json::Value,
}

impl Sidecar {
    /// Reads `capture` with extension `.json`.
    pub(crate) fn read(capture: &Path) -> Result<Self> {
        let path = capture.with_extension("json");
        let text = crate::io::read_text(&path, crate::io::MAX_DOC_BYTES)?;
        let meta = serde_json::from_str(&text)
            .map_err(|e| Error::Input(format!("{}: not JSON: {e}", path.display())))?;
        Ok(Sidecar { path, meta })
    }

    /// Field `k`, deserialised.
    pub(crate) fn field<T: serde::de::DeserializeOwned>(&self, k: &str) -> Result<T> {
        let v = self
            .meta
            .get(k)
            .cloned()
            .ok_or_else(|| Error::Input(format!("{}: missing `{k}`", self.path.display())))?;
        serde_json::from_value(v)
            .map_err(|e| Error::Input(format!("{}: `{k}`: {e}", self.path.display())))
    }
}

impl AttnCapture {
    /// Writes `path` (safetensors) and its `.json` sidecar.
    pub fn save(&self, path: &Path) -> Result<()> {
        let e = self.examples.len();
        let dev = Device::Cpu;
        let mut map: HashMap<String, Tensor> = HashMap::new();
        for &l in &self.layers {
            let p = HookPoint::Attn(l).to_string();
            let per: Vec<&AttnSummary> = self
                .summaries
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    s.get(&l).ok_or_else(|| {
                        Error::Input(format!("example {i} has no summary of layer {l}"))
                    })
                })
                .collect::<Result<_>>()?;
            let (h, nb) = per
                .first()
                .map_or((0, self.spec.bins.len()), |s| (s.heads, s.nbins));
            let n_rows: Vec<i64> = per
                .iter()
                .flat_map(|s| s.n_rows.iter().map(|&x| x as i64))
                .collect();
            map.insert(
                format!("{p}.n_rows"),
                Tensor::from_vec(n_rows, (e, h), &dev)?,
            );
            let hist: Vec<f64> = per.iter().flat_map(|s| s.hist_sum.clone()).collect();
            map.insert(
                format!("{p}.hist_sum"),
                Tensor::from_vec(hist, (e, h, nb), &dev)?,
            );
            let mdh: Vec<f64> = per
                .iter()
                .flat_map(|s| s.mean_distance_hist.iter().map(|&x| x as f64))
                .collect();
            map.insert(
                format!("{p}.mean_distance_hist"),
                Tensor::from_vec(mdh, (e, h, nb), &dev)?,
            );
            for name in F64_FIELDS {
                let v: Vec<f64> = per.iter().flat_map(|s| field(s, name).to_vec()).collect();
                map.insert(format!("{p}.{name}"), Tensor::from_vec(v, (e, h), &dev)?);
            }
        }
        save_safetensors(path, &map)?;
        let meta = json!({
            "kind": "acc-probe attention capture (per example)",
            "version": 1,
            "model": self.model,
            "layers": self.layers,
            "spec": self.spec,
            "examples": self.examples,
            "layout": "blocks.{l}.attn.<field>: [example, head] or [example, head, bin]; \
                       per-head sums over the example's measured query rows",
        });
        write_atomic(
            &path.with_extension("json"),
            &serde_json::to_vec_pretty(&meta).expect("json"),
        )
    }

    /// Reads a capture written by [`AttnCapture::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let sidecar = Sidecar::read(path)?;
        let layers: Vec<usize> = sidecar.field("layers")?;
        let spec: AttnStatsSpec = sidecar.field("spec")?;
        let examples: Vec<ExampleMeta> = sidecar.field("examples")?;
        let model: String = sidecar.field("model")?;
        let tensors = candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| {
            Error::Input(format!(
                "{}: not a readable safetensors file: {e}",
                path.display()
            ))
        })?;
        let e = examples.len();
        let mut summaries = vec![BTreeMap::new(); e];
        for &l in &layers {
            let p = HookPoint::Attn(l).to_string();
            let t = |name: &str| -> Result<Tensor> {
                tensors.get(&format!("{p}.{name}")).cloned().ok_or_else(|| {
                    Error::Input(format!("{}: missing tensor {p}.{name}", path.display()))
                })
            };
            let n_rows = t("n_rows")?;
            let (te, h) = n_rows.dims2()?;
            if te != e {
                return Err(Error::Input(format!(
                    "{}: {p}.n_rows has {te} examples, the JSON lists {e}",
                    path.display()
                )));
            }
            let nb = spec.bins.len();
            let n_rows: Vec<i64> = n_rows.flatten_all()?.to_vec1()?;
            let hist: Vec<f64> = t("hist_sum")?
                .to_dtype(DType::F64)?
                .flatten_all()?
                .to_vec1()?;
            let mdh: Vec<f64> = t("mean_distance_hist")?
                .to_dtype(DType::F64)?
                .flatten_all()?
                .to_vec1()?;
            if hist.len() != e * h * nb || mdh.len() != e * h * nb {
                return Err(Error::Input(format!(
                    "{}: {p}.hist_sum should be [{e}, {h}, {nb}]",
                    path.display()
                )));
            }
            let mut fields = BTreeMap::new();
            for name in F64_FIELDS {
                let v: Vec<f64> = t(name)?.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?;
                if v.len() != e * h {
                    return Err(Error::Input(format!(
                        "{}: {p}.{name} should be [{e}, {h}]",
                        path.display()
                    )));
                }
                fields.insert(name, v);
            }
            for (i, out) in summaries.iter_mut().enumerate() {
                let mut s = AttnSummary::zeros(h, nb);
                s.n_rows = n_rows[i * h..(i + 1) * h]
                    .iter()
                    .map(|&x| x as u64)
                    .collect();
                s.hist_sum = hist[i * h * nb..(i + 1) * h * nb].to_vec();
                s.mean_distance_hist = mdh[i * h * nb..(i + 1) * h * nb]
                    .iter()
                    .map(|&x| x as u64)
                    .collect();
                for (name, v) in &fields {
                    *field_mut(&mut s, name) = v[i * h..(i + 1) * h].to_vec();
                }
                out.insert(l, s);
            }
        }
        Ok(AttnCapture {
            model,
            layers,
            spec,
            examples,
            summaries,
        })
    }

    /// Concatenates captures of disjoint example shards (same model, layers and spec).
    pub fn merge(parts: Vec<AttnCapture>) -> Result<Self> {
        let mut it = parts.into_iter();
        let mut out = it
            .next()
            .ok_or_else(|| Error::Input("nothing to merge".into()))?;
        for p in it {
            if p.layers != out.layers || p.spec != out.spec || p.model != out.model {
                return Err(Error::Input(format!(
                    "cannot merge captures of different models, layers or statistics ({} layers {:?} vs {} layers {:?})",
                    out.model, out.layers, p.model, p.layers
                )));
            }
            for ex in &p.examples {
                if out.examples.iter().any(|x| x.id == ex.id) {
                    return Err(Error::Input(format!(
                        "example {} appears in two shards",
                        ex.id
                    )));
                }
            }
            out.examples.extend(p.examples);
            out.summaries.extend(p.summaries);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(seed: f64, heads: usize, nb: usize) -> AttnSummary {
        let mut s = AttnSummary::zeros(heads, nb);
        s.n_rows = (0..heads).map(|h| 3 + h as u64).collect();
        s.hist_sum = (0..heads * nb).map(|i| seed + i as f64 * 0.25).collect();
        s.mean_distance_hist = (0..heads * nb).map(|i| (i % 3) as u64).collect();
        s.mean_distance_sum = vec![seed * 2.0; heads];
        s.mean_distance_sq_sum = vec![seed * 3.0; heads];
        s.entropy_sum = vec![seed + 0.5; heads];
        s.sink_sum = vec![0.125; heads];
        s.local_sum = vec![1.5; heads];
        s.max_weight_sum = vec![0.75; heads];
        s
    }

    fn capture(ids: &[&str]) -> AttnCapture {
        let spec = AttnStatsSpec::default();
        let nb = spec.bins.len();
        AttnCapture {
            model: "m".into(),
            layers: vec![2, 5],
            spec,
            examples: ids
                .iter()
                .map(|id| ExampleMeta {
                    id: id.to_string(),
                    task: "graphwalks".into(),
                    tokens: 40,
                    rows: (0, 40),
                })
                .collect(),
            summaries: ids
                .iter()
                .enumerate()
                .map(|(i, _)| {
                    [2, 5]
                        .into_iter()
                        .map(|l| (l, summary(i as f64 + l as f64, 3, nb)))
                        .collect()
                })
                .collect(),
        }
    }

    #[test]
    fn save_load_round_trips_exactly_and_shards_merge() {
        let dir = tempfile::tempdir().unwrap();
        let c = capture(&["a", "b", "c"]);
        let p = dir.path().join("cap.safetensors");
        c.save(&p).unwrap();
        assert_eq!(AttnCapture::load(&p).unwrap(), c);
        // shards of the same examples merge back to the whole
        let (mut s1, mut s2) = (c.clone(), c.clone());
        s1.examples.truncate(1);
        s1.summaries.truncate(1);
        s2.examples.remove(0);
        s2.summaries.remove(0);
        assert_eq!(AttnCapture::merge(vec![s1.clone(), s2]).unwrap(), c);
        assert!(AttnCapture::merge(vec![s1.clone(), s1.clone()]).is_err());
        let mut other = s1.clone();
        other.layers = vec![2];
        assert!(AttnCapture::merge(vec![c.clone(), other]).is_err());
    }

    #[test]
    fn damaged_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cap.safetensors");
        capture(&["a"]).save(&p).unwrap();
        std::fs::write(&p, b"not safetensors").unwrap();
        let e = AttnCapture::load(&p).unwrap_err().to_string();
        assert!(e.contains("cap.safetensors"), "{e}");
    }
}
