//! `acc-probe reproduce`: environments → trajectories → compile → base and
//! ACC models → held-out toy MRCR / GraphWalks with 95% CIs.

use std::path::{Path, PathBuf};

use acc_probe::train::reproduce::{reproduce, results_table, Hooks, Preset};
use acc_probe::train::StepMetrics;
use anyhow::Context;
use clap::Args;

#[derive(Args, Debug)]
pub struct ReproduceArgs {
    /// The tiny preset (minutes on 2 cores) instead of the bundled-pair preset.
    #[arg(long)]
    quick: bool,
    /// A JSON file of preset fields that replace the chosen preset's (e.g.
    /// `{"lm_steps": 600, "task_tokens": 600}`); the run records the result.
    #[arg(long)]
    preset: Option<PathBuf>,
    /// Run directory (every stage's output; a rerun continues where it stopped).
    #[arg(long, default_value = "runs/reproduce")]
    out: PathBuf,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also copy the two final models (without training state) to DIR/base and DIR/acc.
    #[arg(long)]
    bundle: Option<PathBuf>,
    /// Packs computed in parallel during training (see `train --workers`).
    #[arg(long, value_parser = super::common::in_range(1, super::common::MAX_THREADS))]
    pub workers: Option<usize>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Copies the model files of `src` (not its train/ directory) to `dst`.
fn copy_model(src: &Path, dst: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dst).with_context(|| format!("creating {}", dst.display()))?;
    for f in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
    ] {
        let (a, b) = (src.join(f), dst.join(f));
        let tmp = acc_probe::io::temp_path(&b);
        std::fs::copy(&a, &tmp).with_context(|| format!("copying {}", a.display()))?;
        std::fs::rename(&tmp, &b).with_context(|| format!("writing {}", b.display()))?;
    }
    Ok(())
}

pub fn run(a: ReproduceArgs) -> anyhow::Result<()> {
    let preset = if a.quick {
        Preset::quick()
    } else {
        Preset::full()
    };
    let preset_file: Vec<(&str, &Path)> =
        a.preset.iter().map(|p| ("--preset", p.as_path())).collect();
    if let Some(dir) = &a.bundle {
        acc_probe::io::check_out_dir("--bundle", dir, &[], &preset_file)?;
    }
    acc_probe::io::prepare_out_dir("--out", &a.out, &[], &preset_file)?;
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(std::time::Duration::from_millis(250));
    let mut stage = |s: &str| {
        tracing::info!("{s}");
        bar.set_message(s.to_string());
    };
    let bar2 = bar.clone();
    let mut step = |name: &str, m: &StepMetrics| {
        bar2.set_message(format!(
            "training {name}: step {}  loss {:.4}  {:.0} tok/s",
            m.step, m.loss, m.tokens_per_s
        ));
    };
    let mut preset = match &a.preset {
        Some(f) => {
            let text = acc_probe::io::read_text(f, acc_probe::io::MAX_DOC_BYTES)?;
            let v: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{}: not JSON", f.display()))?;
            preset.with_overrides(&v, &f.display().to_string())?
        }
        None => preset,
    };
    preset.workers = a.workers.unwrap_or(1).max(1);
    let report = reproduce(
        &preset,
        a.seed,
        &a.out,
        Hooks {
            stage: &mut stage,
            step: &mut step,
        },
    )?;
    bar.finish_and_clear();
    if let Some(dir) = &a.bundle {
        copy_model(&report.base, &dir.join("base"))?;
        copy_model(&report.acc, &dir.join("acc"))?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", results_table(&report));
        println!("run directory: {}", a.out.display());
    }
    Ok(())
}
