//! The training loop.
//!
//! One optimizer step takes `batch` packs (chosen by [`data::batch_indices`]
//! from the seed and the step alone), runs forward and backward on each
//! (gradient accumulation: only one pack's activations are alive at a time),
//! sums the gradients on the host, clips them to a global norm and applies
//! AdamW at the scheduled learning rate. Every `save_every` steps, and at the
//! end, a checkpoint is written; `resume` continues from the latest one and
//! ends with the same weights as an uninterrupted run.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::checkpoint::{self, TrainState};
use super::data::{self, Objective, Pack};
use super::hf;
use super::loss::{accumulate, packs_grads};
use super::optim::{clip_global_norm, AdamW, AdamWConfig, Schedule};
use super::until::{Criterion, Until, UntilState};
use crate::chat::ChatTemplate;
use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::model::random::{random_weights, RandomInit};
use crate::model::{Checkpoint, Qwen3Moe, Qwen3MoeConfig};

/// Where the weights come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// A Hugging Face model directory (fine-tuning); its tokenizer is used.
    Model { dir: PathBuf },
    /// A config.json with seeded random weights (std `init_std`) and a tokenizer.json.
    Config {
        config: PathBuf,
        tokenizer: PathBuf,
        init_std: f32,
        /// Initial value of the q_norm/k_norm weights. With QK-norm the
        /// attention logit is at most `g_q·g_k·sqrt(head_dim)`, so at 1.0 one
        /// key gets at most e^5.7 times the weight of a key at logit 0; a larger value
        /// lets attention be sharp over long contexts (the learnable QK-norm
        /// scale of Henry et al. 2020, initialised from the length).
        #[serde(default = "one")]
        qk_norm_init: f32,
    },
}

fn one() -> f32 {
    1.0
}

/// Everything that determines a run (saved as `train/run.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub data: PathBuf,
    pub init: Init,
    pub objective: Objective,
    pub steps: usize,
    /// Packs per optimizer step (gradients accumulated over them).
    pub batch: usize,
    /// Tokens per pack (the training sequence length).
    pub seq_len: usize,
    pub lr: f64,
    pub warmup_ratio: f64,
    pub min_lr_ratio: f64,
    pub adamw: AdamWConfig,
    /// Global gradient-norm clip (0: none).
    pub clip: f64,
    /// Router load-balancing coefficient; `None`: the config's `router_aux_loss_coef`.
    pub aux_coef: Option<f64>,
    pub seed: u64,
    /// Checkpoint every N steps (0: only at the end).
    pub save_every: usize,
    /// Complete checkpoints kept.
    pub keep: usize,
    /// The dtype of the final model.safetensors.
    pub save_dtype: SaveDtype,
    /// Fused CPU ops with analytic backward (else composed candle ops).
    pub fused: bool,
    /// End on a criterion instead of at `steps` (see [`Until`]; `steps` is
    /// then the most steps before the criterion passes). `None`: `steps`
    /// steps, cosine schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Until>,
    /// Packs computed in parallel (data parallelism within a step; the
    /// gradients are summed in pack order, so the result is the same for any
    /// count). Not part of a run's identity: a resume may use another.
    #[serde(skip)]
    pub workers: usize,
}

impl TrainConfig {
    /// Defaults for `data`, `init` and `objective`.
    pub fn new(data: PathBuf, init: Init, objective: Objective) -> Self {
        TrainConfig {
            data,
            init,
            objective,
            steps: 100,
            batch: 4,
            seq_len: 1024,
            lr: 1e-3,
            warmup_ratio: 0.05,
            min_lr_ratio: 0.1,
            adamw: AdamWConfig::default(),
            clip: 1.0,
            aux_coef: None,
            seed: 0,
            save_every: 0,
            keep: 2,
            save_dtype: SaveDtype::F32,
            fused: true,
            until: None,
            workers: 1,
        }
    }
}

/// One line of `train/metrics.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepMetrics {
    pub step: usize,
    pub lr: f64,
    /// Mean cross-entropy per target token of the step.
    pub loss: f64,
    pub aux_loss: f64,
    pub grad_norm: f64,
    pub tokens: usize,
    pub targets: usize,
    pub step_s: f64,
    pub tokens_per_s: f64,
}

/// What a finished run reports.
#[derive(Debug, Clone, Serialize)]
pub struct TrainSummary {
    pub out: PathBuf,
    pub steps: usize,
    pub resumed_from: Option<usize>,
    pub rows: usize,
    pub examples: usize,
    pub skipped: usize,
    pub packs: usize,
    pub params: usize,
    pub tokens: u64,
    pub train_s: f64,
    pub tokens_per_s: f64,
    pub first_loss: Option<f64>,
    pub final_loss: Option<f64>,
    /// The checks of a run that ended on a criterion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<UntilState>,
}

/// The dtype of a written model.safetensors: `f32` or `bf16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SaveDtype {
    F32,
    Bf16,
}

impl SaveDtype {
    pub const ALL: [SaveDtype; 2] = [SaveDtype::F32, SaveDtype::Bf16];

    /// The spelling in run.json and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SaveDtype::F32 => "f32",
            SaveDtype::Bf16 => "bf16",
        }
    }

    pub fn dtype(self) -> DType {
        match self {
            SaveDtype::F32 => DType::F32,
            SaveDtype::Bf16 => DType::BF16,
        }
    }
}

impl fmt::Display for SaveDtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SaveDtype {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        (SaveDtype::ALL.into_iter().find(|d| d.name() == s))
            .ok_or_else(|| Error::Input(format!("unknown save dtype `{s}` (expected f32 or bf16)")))
    }
}

/// A model directory's weights (f32, host), config, tokenizer and chat template.
pub(crate) fn load_model_dir(
    dir: &Path,
) -> Result<(
    HashMap<String, Tensor>,
    Qwen3MoeConfig,
    tokenizers::Tokenizer,
    ChatTemplate,
)> {
    let ckpt = Checkpoint::open(dir)?;
    let mut weights = HashMap::new();
    for f in &ckpt.files {
        for (n, t) in candle_core::safetensors::load(f, &Device::Cpu)? {
            weights.insert(n, t.to_dtype(DType::F32)?);
        }
    }
    let tok = crate::tokenizer::load(&dir.join("tokenizer.json"))?;
    let template = ChatTemplate::for_model_dir(dir)?;
    Ok((weights, ckpt.config, tok, template))
}

/// Initial weights (f32, host), the config, the tokenizer and the template.
fn initial(
    init: &Init,
    seed: u64,
) -> Result<(
    HashMap<String, Tensor>,
    Qwen3MoeConfig,
    tokenizers::Tokenizer,
    ChatTemplate,
)> {
    match init {
        Init::Model { dir } => load_model_dir(dir),
        Init::Config {
            config,
            tokenizer,
            init_std,
            qk_norm_init,
        } => {
            let cfg = Qwen3MoeConfig::from_file(config)?;
            let init = RandomInit {
                std: *init_std,
                qk_gain: *qk_norm_init,
                ..RandomInit::default()
            };
            let weights = random_weights(&cfg, seed, init, &Device::Cpu)?;
            let tok = crate::tokenizer::load(tokenizer)?;
            let template = ChatTemplate::chatml_tools();
            Ok((weights, cfg, tok, template))
        }
    }
}

/// Checks every pack's token ids against the vocabulary, naming the source line.
fn check_vocab(ds: &data::Dataset, vocab: usize) -> Result<()> {
    for e in &ds.examples {
        if let Some(&bad) = e.ids.iter().find(|&&id| id as usize >= vocab) {
            return Err(Error::OutOfRange {
                what: format!("{}:{}: token id", ds.path.display(), e.line),
                value: bad.to_string(),
                valid: format!("0..{vocab} (the model's vocab_size)"),
            });
        }
    }
    Ok(())
}

fn run_json_differences(saved: &Value, now: &Value) -> Vec<String> {
    let (Some(a), Some(b)) = (saved.as_object(), now.as_object()) else {
        return vec!["run.json is not an object".into()];
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            format!(
                "{k}: {} (saved) vs {} (now)",
                a.get(k).unwrap_or(&Value::Null),
                b.get(k).unwrap_or(&Value::Null)
            )
        })
        .collect()
}

/// Trains according to `cfg`, writing the run into `out` (the final model in
/// Hugging Face layout, and `out/train/`: run.json, metrics.jsonl,
/// checkpoints). `on_step` sees every step's metrics (progress display).
pub fn train(
    cfg: &TrainConfig,
    out: &Path,
    resume: bool,
    on_step: &mut dyn FnMut(&StepMetrics),
) -> Result<TrainSummary> {
    train_until(cfg, out, resume, on_step, None)
}

/// [`train`], ending on `criterion` when the config has [`Until`] (which
/// then needs one): the run stops after the decay that follows the first
/// check that passes, or with an error listing its checks when none passes
/// in `steps` steps.
pub fn train_until(
    cfg: &TrainConfig,
    out: &Path,
    resume: bool,
    on_step: &mut dyn FnMut(&StepMetrics),
    mut criterion: Option<&mut dyn Criterion>,
) -> Result<TrainSummary> {
    cfg.validate()?;
    if cfg.until.is_some() && criterion.is_none() {
        return Err(Error::Input(
            "a run that ends on a criterion (until) needs the criterion that checks it".into(),
        ));
    }
    // 0. a new run, or the continuation of the one in `out`
    let run = out.join("train");
    let resume_from = open_run(cfg, out, resume)?;

    // 1. model config, tokenizer, data
    let (init_weights, mcfg, tok, template) = initial(&cfg.init, cfg.seed)?;
    if cfg.seq_len > mcfg.max_position_embeddings {
        return Err(Error::OutOfRange {
            what: "sequence length".into(),
            value: cfg.seq_len.to_string(),
            valid: format!(
                "at most max_position_embeddings = {}",
                mcfg.max_position_embeddings
            ),
        });
    }
    let (ds, packs) = load_packs(cfg, &mcfg, &tok, &template)?;
    // the run's state is written only once it can start: a run refused for
    // its data leaves nothing that blocks the next attempt
    start_run(cfg, &run, &ds)?;

    // 2. weights and optimizer (from the checkpoint when resuming)
    let (mut model, resumed_from) = match &resume_from {
        Some(dir) => {
            let l = checkpoint::load(dir)?;
            tracing::info!("resuming from {} (step {})", l.dir.display(), l.state.step);
            let step = l.state.step;
            let model = Learner::new(cfg, &mcfg, l.weights, Some(&l.optimizer), l.state)?;
            (model, Some(step))
        }
        None => {
            let state = TrainState {
                step: 0,
                adam_t: 0,
                tokens: 0,
                elapsed_s: 0.0,
                until: cfg.until.map(|_| UntilState::default()),
            };
            (Learner::new(cfg, &mcfg, init_weights, None, state)?, None)
        }
    };

    // 3. metrics: keep the lines of the steps already done
    let mut log = MetricsLog::open(&run, resumed_from);
    let mut last_good = resumed_from;

    // 4. the loop
    let start_step = model.state.step;
    let mut end = model.end(cfg);
    let mut since_check = (0.0, 0usize);
    let mut step = start_step;
    while step < end {
        let m = model.step(cfg, &packs, step, last_good, &run)?;
        log.push(&m)?;
        on_step(&m);
        step += 1;
        since_check = (since_check.0 + m.loss, since_check.1 + 1);
        if let (Some(u), Some(c)) = (&cfg.until, criterion.as_deref_mut()) {
            if model.check_due(u, step) {
                let loss = since_check.0 / since_check.1.max(1) as f64;
                since_check = (0.0, 0);
                model.check(u, c, step, loss)?;
                end = model.end(cfg);
            }
        }
        if step == end || (cfg.save_every > 0 && step % cfg.save_every == 0) {
            let (weights, opt) = (model.snapshot(), model.opt.state()?);
            checkpoint::save(&run, &weights, &opt, &model.state, cfg.keep)?;
            last_good = Some(step);
        }
    }
    if start_step >= end {
        log.write()?;
    }
    if let (Some(st), Some(c)) = (&model.state.until, criterion.as_deref()) {
        write_atomic(
            &run.join("until.json"),
            &serde_json::to_vec_pretty(st).expect("checks serialise"),
        )?;
        if st.passed_at.is_none() {
            return Err(st.failed(&c.describe(), cfg.steps, &run));
        }
    }

    // 5. the model directory
    let dtype = cfg.save_dtype.dtype();
    hf::write_model_dir(out, &mcfg, &model.snapshot(), dtype, &tok, &template.source)?;
    let state = &model.state;
    let summary = TrainSummary {
        out: out.to_path_buf(),
        steps: state.step,
        resumed_from,
        rows: ds.rows,
        examples: ds.examples.len(),
        skipped: ds.skipped.len(),
        packs: packs.len(),
        params: model.params(),
        tokens: state.tokens,
        train_s: state.elapsed_s,
        tokens_per_s: state.tokens as f64 / state.elapsed_s.max(1e-9),
        first_loss: log.first_loss,
        final_loss: log.final_loss,
        until: state.until.clone(),
    };
    write_atomic(
        &run.join("summary.json"),
        &serde_json::to_vec_pretty(&json!(summary)).expect("summary serialises"),
    )?;
    Ok(summary)
}

/// Starts the run in `out` (`out/train/run.json`) or, with `resume`, checks
/// that the run there was started with the same settings: the latest
/// checkpoint to continue from (`None`: start from the initial weights).
fn open_run(cfg: &TrainConfig, out: &Path, resume: bool) -> Result<Option<PathBuf>> {
    let run = out.join("train");
    let run_json = run.join("run.json");
    let cfg_value = serde_json::to_value(cfg).expect("config serialises");
    let resume_from = if resume {
        let text = std::fs::read_to_string(&run_json).map_err(|e| {
            Error::Input(format!(
                "--resume: {} cannot be read ({e}); is {} a training run?",
                run_json.display(),
                out.display()
            ))
        })?;
        let saved: Value = serde_json::from_str(&text).map_err(|source| Error::Json {
            path: run_json.clone(),
            source,
        })?;
        let diff = run_json_differences(&saved, &cfg_value);
        if !diff.is_empty() {
            return Err(Error::Input(format!(
                "--resume: the run in {} was started with other settings; resuming would not reproduce it: {}",
                out.display(),
                diff.join("; ")
            )));
        }
        checkpoint::latest(&run)?
    } else {
        if run_json.exists() {
            return Err(Error::Input(format!(
                "{} already holds a training run; pass --resume to continue it or choose another --out",
                out.display()
            )));
        }
        None
    };
    Ok(resume_from)
}

/// Writes the run's settings (`run.json`) and the rows its data skipped
/// (`skipped.json`) into `run`.
fn start_run(cfg: &TrainConfig, run: &Path, ds: &data::Dataset) -> Result<()> {
    std::fs::create_dir_all(run).map_err(|e| Error::io(run, e))?;
    // as a JSON value: sorted keys, the form `--resume` compares
    let cfg_value = serde_json::to_value(cfg).expect("config serialises");
    write_atomic(
        &run.join("run.json"),
        &serde_json::to_vec_pretty(&cfg_value).expect("config serialises"),
    )?;
    if !ds.skipped.is_empty() {
        write_atomic(
            &run.join("skipped.json"),
            &serde_json::to_vec_pretty(&ds.skipped).expect("serialises"),
        )?;
    }
    Ok(())
}

/// The training data: rows → examples (checked against the vocabulary) →
/// packs; the rows skipped are listed in `run/skipped.json`.
fn load_packs(
    cfg: &TrainConfig,
    mcfg: &Qwen3MoeConfig,
    tok: &tokenizers::Tokenizer,
    template: &ChatTemplate,
) -> Result<(data::Dataset, Vec<Pack>)> {
    let ds = data::load(&cfg.data, cfg.objective, tok, template, cfg.seq_len)?;
    check_vocab(&ds, mcfg.vocab_size)?;
    let packs = data::pack(&ds.examples, cfg.seq_len);
    tracing::info!(
        "{}: {} rows → {} examples ({} skipped) → {} packs of ≤ {} tokens",
        cfg.data.display(),
        ds.rows,
        ds.examples.len(),
        ds.skipped.len(),
        packs.len(),
        cfg.seq_len
    );
    Ok((ds, packs))
}

/// The model being trained, its optimizer and where the run stands.
struct Learner {
    model: Qwen3Moe,
    vars: HashMap<String, Var>,
    opt: AdamW,
    schedule: Schedule,
    aux_coef: f64,
    state: TrainState,
}

impl Learner {
    /// The model with `weights` as trainable f32 variables, and AdamW (with
    /// its saved state when resuming).
    fn new(
        cfg: &TrainConfig,
        mcfg: &Qwen3MoeConfig,
        weights: HashMap<String, Tensor>,
        opt_state: Option<&HashMap<String, Tensor>>,
        state: TrainState,
    ) -> Result<Self> {
        let device = Device::Cpu;
        let varmap = VarMap::new();
        let mut vars: HashMap<String, Var> = HashMap::new();
        {
            let mut data = varmap.data().lock().expect("varmap lock");
            for (name, t) in &weights {
                let v = Var::from_tensor(&t.to_dtype(DType::F32)?)?;
                data.insert(name.clone(), v.clone());
                vars.insert(name.clone(), v);
            }
        }
        let model = Qwen3Moe::load(mcfg, VarBuilder::from_varmap(&varmap, DType::F32, &device))?;
        let mut opt = AdamW::new(&vars, cfg.adamw)?;
        if let Some(s) = opt_state {
            opt.load_state(s, state.adam_t, "checkpoint")?;
        }
        Ok(Learner {
            model,
            vars,
            opt,
            schedule: Schedule::cosine(cfg.lr, cfg.steps, cfg.warmup_ratio, cfg.min_lr_ratio),
            aux_coef: cfg.aux_coef.unwrap_or(mcfg.router_aux_loss_coef),
            state,
        })
    }

    /// The step the run ends at: `steps`, or with [`Until`] the end of the
    /// decay after the check that passed.
    fn end(&self, cfg: &TrainConfig) -> usize {
        match (&cfg.until, &self.state.until) {
            (Some(u), Some(st)) => st.end(u, cfg.steps),
            _ => cfg.steps,
        }
    }

    /// Whether the criterion is to be checked after `done` steps: after
    /// warm-up, every `every` steps, until a check passes.
    fn check_due(&self, u: &Until, done: usize) -> bool {
        let pending = (self.state.until.as_ref()).is_some_and(|st| st.passed_at.is_none());
        pending && u.due(done, self.schedule.warmup)
    }

    /// Checks the model with `c` after `done` steps and records the check
    /// (and, when it passes, the step the decay starts from).
    fn check(&mut self, u: &Until, c: &mut dyn Criterion, done: usize, loss: f64) -> Result<()> {
        let check = c.check(done, loss, &self.model)?;
        tracing::info!(
            "step {done}: {} ({}; loss {loss:.3})",
            check.detail,
            match check.passed {
                true => format!("passed: {} decay steps follow", u.decay),
                false => "not yet".into(),
            }
        );
        let st = self.state.until.get_or_insert_with(UntilState::default);
        if check.passed {
            st.passed_at = Some(done);
        }
        st.checks.push(check);
        Ok(())
    }

    fn params(&self) -> usize {
        self.vars.values().map(|v| v.elem_count()).sum()
    }

    /// The current weights.
    fn snapshot(&self) -> HashMap<String, Tensor> {
        (self.vars.iter())
            .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
            .collect()
    }

    /// Optimizer step `step` (0-based) on its batch of `packs`: gradients
    /// accumulated over the packs, clipped, AdamW at the scheduled rate. A
    /// non-finite loss or gradient norm is an error naming the last good
    /// checkpoint in `run`.
    fn step(
        &mut self,
        cfg: &TrainConfig,
        packs: &[Pack],
        step: usize,
        last_good: Option<usize>,
        run: &Path,
    ) -> Result<StepMetrics> {
        let t0 = Instant::now();
        let idx = data::batch_indices(packs.len(), cfg.batch, cfg.seed, step);
        let step_packs: Vec<&Pack> = idx.iter().map(|&i| &packs[i]).collect();
        let step_targets: usize = step_packs.iter().map(|p| p.loss_tokens()).sum();
        let ce_weight = 1.0 / step_targets.max(1) as f64;
        let aux_weight = self.aux_coef / step_packs.len() as f64;
        let mut grads: HashMap<String, Vec<f32>> = HashMap::new();
        let (mut ce_sum, mut aux_sum) = (0.0, 0.0);
        let tokens: usize = step_packs.iter().map(|p| p.ids.len()).sum();
        let results = packs_grads(
            &self.model,
            &self.vars,
            &step_packs,
            cfg.fused,
            ce_weight,
            aux_weight,
            cfg.workers,
        );
        for (pi, r) in results.into_iter().enumerate() {
            let pg = r?;
            if !pg.ce_sum.is_finite() || !pg.aux.is_finite() {
                return Err(non_finite(step, idx[pi], "loss", last_good, run));
            }
            accumulate(&mut grads, pg.grads);
            ce_sum += pg.ce_sum;
            aux_sum += pg.aux;
        }
        let grad_norm = clip_global_norm(&mut grads, cfg.clip);
        if !grad_norm.is_finite() {
            return Err(non_finite(step, idx[0], "gradient norm", last_good, run));
        }
        let lr = match (&cfg.until, &self.state.until) {
            (Some(u), Some(st)) => st.lr(&self.schedule, u, step),
            _ => self.schedule.lr(step),
        };
        self.opt.step(&grads, lr)?;
        let step_s = t0.elapsed().as_secs_f64();
        let state = &mut self.state;
        state.step = step + 1;
        state.adam_t = self.opt.t;
        state.tokens += tokens as u64;
        state.elapsed_s += step_s;
        Ok(StepMetrics {
            step: step + 1,
            lr,
            loss: ce_sum / step_targets.max(1) as f64,
            aux_loss: aux_sum / step_packs.len() as f64,
            grad_norm,
            tokens,
            targets: step_targets,
            step_s,
            tokens_per_s: tokens as f64 / step_s.max(1e-9),
        })
    }
}

/// `train/metrics.jsonl`: one line per step done, rewritten after each step.
struct MetricsLog {
    path: PathBuf,
    lines: Vec<String>,
    first_loss: Option<f64>,
    final_loss: Option<f64>,
}

impl MetricsLog {
    /// The log of the run in `run`: a resumed run keeps the lines of the
    /// steps up to `resumed_from`, a new one starts empty.
    fn open(run: &Path, resumed_from: Option<usize>) -> Self {
        let path = run.join("metrics.jsonl");
        let lines: Vec<String> = match resumed_from {
            Some(done) => std::fs::read_to_string(&path)
                .unwrap_or_default()
                .lines()
                .filter(|l| {
                    serde_json::from_str::<Value>(l)
                        .ok()
                        .and_then(|v| v["step"].as_u64())
                        .is_some_and(|s| (s as usize) <= done)
                })
                .map(str::to_string)
                .collect(),
            None => Vec::new(),
        };
        let first_loss = lines
            .first()
            .and_then(|l| serde_json::from_str::<Value>(l).ok())
            .and_then(|v| v["loss"].as_f64());
        MetricsLog {
            path,
            lines,
            first_loss,
            final_loss: None,
        }
    }

    /// Adds a step's line and rewrites the file.
    fn push(&mut self, m: &StepMetrics) -> Result<()> {
        self.first_loss.get_or_insert(m.loss);
        self.final_loss = Some(m.loss);
        (self.lines).push(serde_json::to_string(m).expect("metrics serialise"));
        self.write()
    }

    fn write(&self) -> Result<()> {
        let mut text = self.lines.join("\n");
        text.push('\n');
        write_atomic(&self.path, text.as_bytes())
    }
}

fn non_finite(step: usize, pack: usize, what: &str, last_good: Option<usize>, run: &Path) -> Error {
    let keep = match last_good {
        Some(s) => format!(
            "the last good checkpoint (step {s}) is kept in {}",
            run.join("checkpoints").display()
        ),
        None => "no checkpoint was written yet".into(),
    };
    Error::Training(format!(
        "non-finite {what} at step {} (pack {pack}); lower the learning rate or check the data; {keep}",
        step + 1
    ))
}
