//! The ranges a run's settings must lie in, checked before anything is read
//! or written: a NaN learning rate or a billion packs per step is refused
//! with the setting's name and its valid range, never trained on or
//! allocated.

use super::trainer::{Init, TrainConfig};
use crate::error::{Error, Result};

/// The most packs per optimizer step (each is one sequence's activations).
pub const MAX_BATCH: usize = 65_536;
/// The most optimizer steps of one run.
pub const MAX_STEPS: usize = 100_000_000;
/// The most packs computed in parallel.
pub const MAX_WORKERS: usize = 1024;

fn out_of_range(what: &str, value: impl ToString, valid: &str) -> Error {
    Error::OutOfRange {
        what: what.into(),
        value: value.to_string(),
        valid: valid.into(),
    }
}

/// `x` is finite and within `lo..=hi` (`lo` itself excluded when `open_lo`).
fn real(what: &str, x: f64, lo: f64, open_lo: bool, hi: f64) -> Result<()> {
    let above = if open_lo { x > lo } else { x >= lo };
    if x.is_finite() && above && x <= hi {
        return Ok(());
    }
    let valid = match (open_lo, hi == f64::MAX) {
        (true, true) => format!("a finite number > {lo}"),
        (false, true) => format!("a finite number ≥ {lo}"),
        (true, false) => format!("a finite number in ({lo}, {hi}]"),
        (false, false) => format!("a finite number in [{lo}, {hi}]"),
    };
    Err(out_of_range(what, x, &valid))
}

fn count(what: &str, n: usize, lo: usize, hi: usize) -> Result<()> {
    if (lo..=hi).contains(&n) {
        return Ok(());
    }
    Err(out_of_range(what, n, &format!("{lo}..={hi}")))
}

impl TrainConfig {
    /// Checks every setting against its range (see the module).
    pub fn validate(&self) -> Result<()> {
        count("steps", self.steps, 1, MAX_STEPS)?;
        count("batch (packs per step)", self.batch, 1, MAX_BATCH)?;
        count("workers", self.workers, 1, MAX_WORKERS)?;
        if self.seq_len < 2 {
            return Err(out_of_range(
                "sequence length",
                self.seq_len,
                "at least 2 (a token and its target)",
            ));
        }
        // no upper bound: a rate that diverges is stopped at its first non-finite loss
        real("learning rate", self.lr, 0.0, true, f64::MAX)?;
        real("warmup fraction", self.warmup_ratio, 0.0, false, 1.0)?;
        real("min-lr ratio", self.min_lr_ratio, 0.0, false, 1.0)?;
        real("weight decay", self.adamw.weight_decay, 0.0, false, 1e3)?;
        real("beta1", self.adamw.beta1, 0.0, false, 1.0 - f64::EPSILON)?;
        real("beta2", self.adamw.beta2, 0.0, false, 1.0 - f64::EPSILON)?;
        real("AdamW eps", self.adamw.eps, 0.0, true, 1.0)?;
        real("gradient clip", self.clip, 0.0, false, f64::MAX)?;
        if let Some(u) = &self.until {
            u.validate()?;
        }
        if let Some(c) = self.aux_coef {
            real("router aux-loss coefficient", c, 0.0, false, 1e3)?;
        }
        if let Init::Config {
            init_std,
            qk_norm_init,
            ..
        } = &self.init
        {
            real("init std", f64::from(*init_std), 0.0, true, 1e3)?;
            real("qk-norm init", f64::from(*qk_norm_init), 0.0, true, 1e3)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::data::Objective;

    fn cfg() -> TrainConfig {
        TrainConfig::new(
            "d.jsonl".into(),
            Init::Model { dir: "m".into() },
            Objective::Lm,
        )
    }

    #[test]
    fn the_defaults_pass_and_each_bad_setting_is_named() {
        cfg().validate().unwrap();
        type Edit = fn(&mut TrainConfig);
        let cases: Vec<(Edit, &str)> = vec![
            (|c| c.lr = f64::NAN, "learning rate"),
            (|c| c.lr = f64::INFINITY, "learning rate"),
            (|c| c.lr = 0.0, "learning rate"),
            (|c| c.batch = 1 << 40, "batch"),
            (|c| c.steps = 0, "steps"),
            (|c| c.workers = 0, "workers"),
            (|c| c.seq_len = 1, "sequence length"),
            (|c| c.warmup_ratio = 1.5, "warmup"),
            (|c| c.adamw.beta2 = 1.0, "beta2"),
            (|c| c.clip = -1.0, "gradient clip"),
            (|c| c.aux_coef = Some(f64::NAN), "aux-loss"),
            (
                |c| {
                    c.until = Some(crate::train::until::Until {
                        every: 100,
                        decay: 0,
                    })
                },
                "decay steps",
            ),
        ];
        for (edit, name) in cases {
            let mut c = cfg();
            edit(&mut c);
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(name), "{e}");
        }
    }
}
