//! The criterion that ends `reproduce`'s copy stage: a share of held-out
//! short copy drills (list, hash, one-hop lookup) decoded exactly. The
//! stage trains at its peak rate until the share is reached, then decays
//! (`train::until`), so a seed whose plateau lasts longer trains longer
//! instead of decaying before it copies. Its drills come from a seed stream
//! of their own ([`COPY_CRITERION_STREAM`]), disjoint from the training
//! drills and from the drill check that reports each stage.

use serde::{Deserialize, Serialize};

use super::drill_check::{check_short, DrillCheck};
use crate::chat::ChatTemplate;
use crate::error::{Error, Result};
use crate::model::Qwen3Moe;
use crate::model_dir::ChatModel;
use crate::tasks::toy::COPY_CRITERION_STREAM;
use crate::train::until::{Check, Criterion};

/// What passes: at least `pass` of `per_kind` held-out drills of each short
/// kind decoded exactly.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CopyPass {
    /// Drills of each kind (list, hash, one-hop).
    pub per_kind: usize,
    /// The share of all of them that must be exact, in (0, 1].
    pub pass: f64,
}

impl CopyPass {
    pub fn validate(&self, source: &str) -> Result<()> {
        if !(1..=1000).contains(&self.per_kind) {
            return Err(Error::OutOfRange {
                what: format!("{source}: criterion drills per kind"),
                value: self.per_kind.to_string(),
                valid: "1..=1000".into(),
            });
        }
        if !(self.pass > 0.0 && self.pass <= 1.0) {
            return Err(Error::OutOfRange {
                what: format!("{source}: criterion share of exact drills"),
                value: self.pass.to_string(),
                valid: "(0, 1]".into(),
            });
        }
        Ok(())
    }
}

/// [`CopyPass`] checked on a model with its tokenizer, chat template and
/// stop ids.
pub struct CopyCriterion {
    pub want: CopyPass,
    pub tokenizer: tokenizers::Tokenizer,
    pub template: ChatTemplate,
    pub stop: Vec<u32>,
    /// The run's seed (the drills are the stream's for that seed).
    pub seed: u64,
    /// Lookups answered with their edge trace, as the training drills are.
    pub edge_trace: bool,
}

impl Criterion for CopyCriterion {
    fn describe(&self) -> String {
        format!(
            "at least {:.0}% of {} held-out short copy drills exact",
            self.want.pass * 100.0,
            3 * self.want.per_kind
        )
    }

    fn check(&mut self, step: usize, loss: f64, model: &Qwen3Moe) -> Result<Check> {
        let chat = ChatModel {
            model,
            tokenizer: &self.tokenizer,
            template: &self.template,
            stop: &self.stop,
        };
        let s = check_short(
            &chat,
            self.want.per_kind,
            self.seed,
            COPY_CRITERION_STREAM,
            self.edge_trace,
        )?;
        let (exact, n) = DrillCheck::total(&s);
        let score = exact as f64 / n.max(1) as f64;
        let kinds: Vec<String> = s
            .iter()
            .map(|k| format!("{} {}/{}", k.kind, k.exact, k.n))
            .collect();
        Ok(Check {
            step,
            passed: n > 0 && score >= self.want.pass,
            score,
            detail: format!("{exact}/{n} exact ({})", kinds.join(", ")),
            loss,
        })
    }
}
