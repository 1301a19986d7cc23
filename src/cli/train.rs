//! `acc-probe train`: train or fine-tune a Qwen3-MoE with the `lm`,
//! `agent-sft` or `acc` objective.

use std::path::PathBuf;

use acc_probe::train::optim::AdamWConfig;
use acc_probe::train::trainer::SaveDtype;
use acc_probe::train::{train, Init, Objective, TrainConfig};

use super::common::save_dtype_parser;
use anyhow::bail;
use clap::Args;

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Training rows (JSONL: text, messages/dialogs/conversations, prompt/completion, or input_ids/labels).
    #[arg(long)]
    data: PathBuf,
    /// Start from this Hugging Face model directory (fine-tuning).
    #[arg(long, conflicts_with = "config", required_unless_present = "config")]
    model: Option<PathBuf>,
    /// Start from random weights for this config.json (needs --tokenizer).
    #[arg(long, requires = "tokenizer")]
    config: Option<PathBuf>,
    /// tokenizer.json for --config.
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// lm (every token), agent-sft (assistant turns), acc (the final reasoning + answer).
    #[arg(long)]
    objective: String,
    /// Output: the trained model (Hugging Face layout) and train/ (run.json, metrics, checkpoints).
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 100)]
    steps: usize,
    /// Packs per optimizer step (gradient accumulation over them).
    #[arg(long, default_value_t = 4)]
    batch: usize,
    /// Tokens per pack (examples are packed with block-diagonal attention).
    #[arg(long, default_value_t = 1024)]
    seq_len: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Warmup fraction of the steps (then cosine decay).
    #[arg(long, default_value_t = 0.05)]
    warmup: f64,
    /// Final learning rate as a fraction of the peak.
    #[arg(long, default_value_t = 0.1)]
    min_lr_ratio: f64,
    #[arg(long, default_value_t = 0.1)]
    weight_decay: f64,
    #[arg(long, default_value_t = 0.9)]
    beta1: f64,
    #[arg(long, default_value_t = 0.95)]
    beta2: f64,
    /// Global gradient-norm clip (0: none).
    #[arg(long, default_value_t = 1.0)]
    clip: f64,
    /// Router load-balancing coefficient (default: the config's router_aux_loss_coef).
    #[arg(long)]
    aux_coef: Option<f64>,
    /// Standard deviation of random initial weights (with --config).
    #[arg(long, default_value_t = 0.02)]
    init_std: f32,
    /// Initial q_norm/k_norm weight (with --config): the attention logit is
    /// at most its square × sqrt(head_dim), so >1 allows sharper attention.
    #[arg(long, default_value_t = 1.0)]
    qk_norm_init: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write a checkpoint every N steps (0: at the end only).
    #[arg(long, default_value_t = 0)]
    save_every: usize,
    /// Complete checkpoints to keep.
    #[arg(long, default_value_t = 2)]
    keep: usize,
    /// dtype of the final model.safetensors.
    #[arg(long, default_value = "f32", value_parser = save_dtype_parser())]
    save_dtype: SaveDtype,
    /// Use candle's composed ops instead of the fused ops with analytic backward.
    #[arg(long)]
    composed: bool,
    /// Packs computed in parallel, each with single-threaded kernels (data
    /// parallelism; the same result for any count). Default: --threads, else 1.
    #[arg(long, value_parser = super::common::in_range(1, super::common::MAX_THREADS))]
    pub workers: Option<usize>,
    /// Continue the run in --out from its latest checkpoint (same settings).
    #[arg(long)]
    resume: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

pub fn config_from(a: &TrainArgs) -> anyhow::Result<TrainConfig> {
    let init = match (&a.model, &a.config, &a.tokenizer) {
        (Some(dir), None, _) => Init::Model { dir: dir.clone() },
        (None, Some(config), Some(tokenizer)) => Init::Config {
            config: config.clone(),
            tokenizer: tokenizer.clone(),
            init_std: a.init_std,
            qk_norm_init: a.qk_norm_init,
        },
        _ => bail!("give --model DIR, or --config FILE with --tokenizer FILE"),
    };
    let mut cfg = TrainConfig::new(a.data.clone(), init, Objective::parse(&a.objective)?);
    cfg.steps = a.steps;
    cfg.batch = a.batch;
    cfg.seq_len = a.seq_len;
    cfg.lr = a.lr;
    cfg.warmup_ratio = a.warmup;
    cfg.min_lr_ratio = a.min_lr_ratio;
    cfg.adamw = AdamWConfig {
        beta1: a.beta1,
        beta2: a.beta2,
        eps: 1e-8,
        weight_decay: a.weight_decay,
    };
    cfg.clip = a.clip;
    cfg.aux_coef = a.aux_coef;
    cfg.seed = a.seed;
    cfg.save_every = a.save_every;
    cfg.keep = a.keep;
    cfg.save_dtype = a.save_dtype;
    cfg.fused = !a.composed;
    cfg.workers = a.workers.unwrap_or(1).max(1);
    Ok(cfg)
}

pub fn run(a: TrainArgs) -> anyhow::Result<()> {
    let cfg = config_from(&a)?;
    let bar = indicatif::ProgressBar::new(cfg.steps as u64);
    bar.set_style(super::common::bar_style(
        "{bar:30} {pos}/{len} steps  {msg}  [{elapsed_precise} < {eta_precise}]",
    ));
    let mut on_step = |m: &acc_probe::train::StepMetrics| {
        bar.set_position(m.step as u64);
        bar.set_message(format!(
            "loss {:.4}  lr {:.2e}  {:.0} tok/s",
            m.loss, m.lr, m.tokens_per_s
        ));
    };
    if let Some(m) = a
        .model
        .as_deref()
        .filter(|m| acc_probe::io::same_path(m, &a.out))
    {
        bail!(
            "--out {} is the --model directory: training writes its model there, over the weights it starts from; choose another --out",
            m.display()
        );
    }
    let summary = train(&cfg, &a.out, a.resume, &mut on_step)?;
    bar.finish_and_clear();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "trained {} steps ({} params) on {} packs from {} rows ({} skipped): loss {} → {}, {:.0} tokens/s; model in {}",
            summary.steps,
            summary.params,
            summary.packs,
            summary.rows,
            summary.skipped,
            summary.first_loss.map_or("-".into(), |l| format!("{l:.4}")),
            summary.final_loss.map_or("-".into(), |l| format!("{l:.4}")),
            summary.tokens_per_s,
            summary.out.display()
        );
    }
    Ok(())
}
