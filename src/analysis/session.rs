//! One paired-analysis session, shared by `attention` and `routing`: the two
//! models checked as a pair, the layers neither writes to the residual
//! stream, the layer plan, and the probe inputs both see. Everything the
//! request names is checked against the checkpoints' configs before any
//! weights load, so a wrong layer or length costs no model load.

use std::path::PathBuf;

use candle_core::Device;

use super::attention::LayerChoice;
use crate::error::{Error, Result};
use crate::model::hook::check_layer;
use crate::model::{Checkpoint, Qwen3MoeConfig, WeightsMode};
use crate::model_dir::ModelDir;
use crate::probe::pair::{check_pair, silent_in_both};
use crate::tasks::probe_inputs::{self, ProbeInput, ProbeTask};

/// The most probe inputs per task a session builds.
pub const MAX_EXAMPLES: usize = 10_000;

/// Which layers to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerRequest {
    /// These layers.
    Given(Vec<usize>),
    /// The K layers that changed most (every layer is captured).
    TopChanged { k: usize, split: bool },
}

/// The probe inputs of a session.
#[derive(Debug, Clone)]
pub struct InputPlan {
    pub tasks: Vec<ProbeTask>,
    /// Inputs per task.
    pub examples: usize,
    /// Prompt length of each input, in tokens.
    pub tokens: usize,
    pub seed: u64,
    /// The generators' scratch files.
    pub work: PathBuf,
}

/// A paired session as asked for.
#[derive(Debug, Clone)]
pub struct PairRequest {
    pub base: PathBuf,
    pub acc: PathBuf,
    pub layers: LayerRequest,
    /// Only layers with a router can be compared (routing).
    pub moe_only: bool,
    pub inputs: InputPlan,
    pub weights: WeightsMode,
}

/// Two models on identical inputs, with the layers to capture.
pub struct PairSession {
    pub base: ModelDir,
    pub acc: ModelDir,
    /// Layers that write nothing to the residual stream in both models.
    pub silent: Vec<usize>,
    pub choice: LayerChoice,
    /// The layers captured for `choice` (every layer for `TopChanged`, MoE
    /// layers only when the request says so).
    pub capture_layers: Vec<usize>,
    pub tasks: Vec<ProbeTask>,
    pub inputs: Vec<ProbeInput>,
}

impl PairSession {
    /// Checks the request against both configs, loads the models on `device`,
    /// finds their silent layers, plans the layers and builds the inputs
    /// with the base model's tokenizer and chat template. `loaded` is told
    /// of each model as it opens.
    pub fn open(
        req: &PairRequest,
        device: &Device,
        loaded: &mut dyn FnMut(&ModelDir),
    ) -> Result<Self> {
        let cb = Checkpoint::open(&req.base)?;
        let ca = Checkpoint::open(&req.acc)?;
        check_pair(&cb, &ca)?;
        let cfg = cb.config.clone();
        check_request(&req.layers, req.moe_only, &cfg)?;
        check_inputs(&req.inputs, &cfg)?;
        let base = ModelDir::with_checkpoint(cb, device, req.weights)?;
        loaded(&base);
        let acc = ModelDir::with_checkpoint(ca, device, req.weights)?;
        loaded(&acc);
        let silent = silent_in_both(&base, &acc)?;
        let (choice, mut capture_layers) = plan(&req.layers, cfg.num_hidden_layers, &silent)?;
        if req.moe_only {
            capture_layers.retain(|&l| cfg.is_moe_layer(l));
        }
        // the plan was checked against the config above
        let inputs = generate_inputs(&base, &req.inputs)?;
        Ok(PairSession {
            base,
            acc,
            silent,
            choice,
            capture_layers,
            tasks: req.inputs.tasks.clone(),
            inputs,
        })
    }
}

/// Given layers must exist (and have a router when `moe_only`); K of
/// `TopChanged` must be at least 1 and at most the model's layers.
pub fn check_request(layers: &LayerRequest, moe_only: bool, cfg: &Qwen3MoeConfig) -> Result<()> {
    let n = cfg.num_hidden_layers;
    match layers {
        LayerRequest::Given(ls) => {
            if ls.is_empty() {
                return Err(Error::Input("no layers given".into()));
            }
            for &l in ls {
                check_layer(l, n)?;
            }
            let dense: Vec<usize> = ls
                .iter()
                .copied()
                .filter(|&l| !cfg.is_moe_layer(l))
                .collect();
            if moe_only && !dense.is_empty() {
                return Err(Error::Input(format!(
                    "layers {dense:?} have no router (dense MLP layers); choose MoE layers"
                )));
            }
        }
        LayerRequest::TopChanged { k, .. } => {
            if *k == 0 || *k > n {
                return Err(Error::Input(format!(
                    "--top-changed {k}: expected 1..={n} ({n} layers)"
                )));
            }
        }
    }
    Ok(())
}

fn check_inputs(p: &InputPlan, cfg: &Qwen3MoeConfig) -> Result<()> {
    if p.examples == 0 || p.examples > MAX_EXAMPLES {
        return Err(Error::OutOfRange {
            what: "--examples".into(),
            value: p.examples.to_string(),
            valid: format!("1..={MAX_EXAMPLES} probe inputs per task"),
        });
    }
    if p.tasks.is_empty() {
        return Err(Error::Input("no probe tasks given".into()));
    }
    let limit = cfg.max_position_embeddings;
    if p.tokens > limit {
        return Err(Error::Input(format!(
            "--tokens {}: longer than the model's max_position_embeddings ({limit})",
            p.tokens
        )));
    }
    Ok(())
}

/// The layer choice and the layers to capture for it; `TopChanged` never
/// chooses a layer of `silent`.
pub fn plan(
    layers: &LayerRequest,
    num_layers: usize,
    silent: &[usize],
) -> Result<(LayerChoice, Vec<usize>)> {
    Ok(match layers {
        LayerRequest::Given(l) => (LayerChoice::Given(l.clone()), l.clone()),
        LayerRequest::TopChanged { k, split } => {
            let open = num_layers - silent.len();
            if *k == 0 || *k > open {
                return Err(Error::Input(format!(
                    "--top-changed {k}: expected 1..={open} ({num_layers} layers{})",
                    silent_note(silent)
                )));
            }
            (
                LayerChoice::TopChanged {
                    k: *k,
                    split: *split,
                    skip: silent.to_vec(),
                },
                (0..num_layers).collect(),
            )
        }
    })
}

/// `examples` probe inputs per task of about `tokens` tokens, tokenized with
/// `m`'s tokenizer and chat template.
pub fn probe_inputs(m: &ModelDir, p: &InputPlan) -> Result<Vec<ProbeInput>> {
    check_inputs(p, &m.ckpt.config)?;
    generate_inputs(m, p)
}

/// [`probe_inputs`] of a checked plan.
fn generate_inputs(m: &ModelDir, p: &InputPlan) -> Result<Vec<ProbeInput>> {
    let tok = m.tokenizer()?;
    let template = m.template()?;
    let mut all = Vec::new();
    for &t in &p.tasks {
        let got = probe_inputs::generate(t, p.examples, p.tokens, p.seed, tok, template, &p.work)
            .map_err(|e| Error::Input(format!("building {} probe inputs: {e}", t.name())))?;
        all.extend(got);
    }
    Ok(all)
}

/// ", of which N (…) write nothing to the residual stream", or nothing.
pub fn silent_note(silent: &[usize]) -> String {
    match silent {
        [] => String::new(),
        s => format!(
            ", of which {} ({}) write nothing to the residual stream in both models",
            s.len(),
            layer_ranges(s)
        ),
    }
}

/// Layer numbers as ranges: 1–6, 8–13, 21.
pub fn layer_ranges(layers: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < layers.len() {
        let mut j = i;
        while j + 1 < layers.len() && layers[j + 1] == layers[j] + 1 {
            j += 1;
        }
        parts.push(match j - i {
            0 => layers[i].to_string(),
            _ => format!("{}–{}", layers[i], layers[j]),
        });
        i = j + 1;
    }
    parts.join(", ")
}

/// How the reported layers were chosen, for table headers.
pub fn selection_note(choice: &LayerChoice, n_select: usize) -> String {
    match choice {
        LayerChoice::TopChanged { split: true, .. } => {
            format!(" (layers chosen on {n_select} other examples)")
        }
        LayerChoice::TopChanged { split: false, .. } => {
            " (layers chosen on these examples)".to_string()
        }
        LayerChoice::Given(_) => String::new(),
    }
}
