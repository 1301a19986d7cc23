//! Ending a run on a criterion instead of a step count ([`Until`]).
//!
//! The schedule is warmup–stable–decay: linear warm-up, then the peak rate
//! held while a [`Criterion`] checks the model every `every` steps; the
//! first check that passes starts a cosine decay to `min_lr_ratio` of the
//! peak over `decay` steps, after which the run ends. `steps` is then the
//! most steps the run may take before a check passes. A run whose checks
//! never pass keeps its last checkpoint, writes no model and stops with an
//! error that lists its checks, so nothing downstream trains on a model that
//! has not learned what the criterion asks.
//!
//! The stable phase suits a stage whose transition comes at a step that
//! varies with the seed (a copy stage's plateau): a cosine schedule sized for
//! one seed's transition has already decayed when another seed's comes, and
//! a late transition at a small rate does not finish. The checks and the
//! step that passed are part of the run's state, saved with every
//! checkpoint, so a resumed run continues the same schedule.

use serde::{Deserialize, Serialize};

use super::optim::Schedule;
use crate::error::{Error, Result};
use crate::model::Qwen3Moe;

/// The most steps between checks, and of the decay after one passes.
pub const MAX_UNTIL_STEPS: usize = 1_000_000;

/// End a run on a criterion (see the module).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Until {
    /// Steps between checks (the first comes after warm-up).
    pub every: usize,
    /// Steps of decay after the check that passes.
    pub decay: usize,
}

impl Until {
    pub fn validate(&self) -> Result<()> {
        for (what, n) in [
            ("steps between criterion checks", self.every),
            ("decay steps after the criterion", self.decay),
        ] {
            if !(1..=MAX_UNTIL_STEPS).contains(&n) {
                return Err(Error::OutOfRange {
                    what: what.into(),
                    value: n.to_string(),
                    valid: format!("1..={MAX_UNTIL_STEPS}"),
                });
            }
        }
        Ok(())
    }

    /// Whether a check is due after `done` steps, with warm-up `warmup`.
    pub fn due(&self, done: usize, warmup: usize) -> bool {
        done >= warmup && done.is_multiple_of(self.every)
    }
}

/// One check of the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// Steps done when checked.
    pub step: usize,
    pub passed: bool,
    /// The criterion's measure (e.g. the fraction of held-out drills right).
    pub score: f64,
    /// The measure in words (`14/24 exact (list 6/8, hash 5/8, one-hop 3/8)`).
    pub detail: String,
    /// Mean training loss over the steps since the previous check.
    pub loss: f64,
}

/// Decides when a run with [`Until`] has learned enough.
pub trait Criterion {
    /// What passes, in words (for logs and reports).
    fn describe(&self) -> String;
    /// Checks `model` after `step` steps; `loss` is the mean training loss
    /// since the previous check.
    fn check(&mut self, step: usize, loss: f64, model: &Qwen3Moe) -> Result<Check>;
}

/// How a run with [`Until`] stands: its checks and the step whose check
/// passed. Saved with every checkpoint and in the run's summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UntilState {
    pub checks: Vec<Check>,
    /// The check that passed (the decay runs after it).
    pub passed_at: Option<usize>,
}

impl UntilState {
    /// The step the run ends at: `max` until a check passes.
    pub fn end(&self, u: &Until, max: usize) -> usize {
        match self.passed_at {
            Some(p) => p + u.decay,
            None => max,
        }
    }

    /// The rate of step `step` (0-based) under `s` (its peak, warm-up and
    /// min ratio): warm-up, the peak until the check that passed, then a
    /// cosine decay over `u.decay` steps.
    pub fn lr(&self, s: &Schedule, u: &Until, step: usize) -> f64 {
        if step < s.warmup {
            return s.lr(step);
        }
        let Some(from) = self.passed_at else {
            return s.peak;
        };
        if step < from {
            return s.peak;
        }
        let progress = ((step - from) as f64 / u.decay.max(1) as f64).min(1.0);
        let min = s.peak * s.min_ratio;
        s.peak - (s.peak - min) * 0.5 * (1.0 - (std::f64::consts::PI * progress).cos())
    }

    /// The error of a run whose checks did not pass in `max` steps.
    pub fn failed(&self, what: &str, max: usize, run: &std::path::Path) -> Error {
        let checks: Vec<String> = self
            .checks
            .iter()
            .map(|c| format!("step {}: {} (loss {:.2})", c.step, c.detail, c.loss))
            .collect();
        Error::Training(format!(
            "the criterion ({what}) did not pass in {max} steps; checks: {}. The last checkpoint is in {}",
            match checks.is_empty() {
                true => "none (every check comes after warm-up)".to_string(),
                false => checks.join("; "),
            },
            run.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_holds_at_its_peak_until_a_check_passes_then_decays() {
        let s = Schedule::cosine(1e-2, 1000, 0.1, 0.1);
        let u = Until {
            every: 50,
            decay: 200,
        };
        let mut st = UntilState::default();
        assert!((st.lr(&s, &u, 0) - 1e-4).abs() < 1e-12);
        assert_eq!(st.lr(&s, &u, 99), 1e-2);
        assert_eq!(st.lr(&s, &u, 999), 1e-2);
        assert_eq!(st.end(&u, 1000), 1000);
        st.passed_at = Some(300);
        assert_eq!(st.end(&u, 1000), 500);
        assert_eq!(st.lr(&s, &u, 299), 1e-2);
        assert_eq!(st.lr(&s, &u, 300), 1e-2);
        assert!((st.lr(&s, &u, 400) - 0.55e-2).abs() < 1e-12);
        assert!((st.lr(&s, &u, 499) - 1e-3).abs() < 1e-6);
        assert!(u.due(100, 100) && !u.due(50, 100) && !u.due(120, 100));
    }

    #[test]
    fn bad_settings_and_failures_are_named() {
        let e = Until { every: 0, decay: 5 }.validate().unwrap_err();
        assert!(e.to_string().contains("between criterion checks"), "{e}");
        let st = UntilState {
            checks: vec![Check {
                step: 250,
                passed: false,
                score: 0.0,
                detail: "0/24 exact".into(),
                loss: 3.61,
            }],
            passed_at: None,
        };
        let e = st.failed("half of 24 drills", 4000, "r/train".as_ref());
        let e = e.to_string();
        assert!(e.contains("4000 steps") && e.contains("step 250: 0/24 exact (loss 3.61)"));
    }
}
