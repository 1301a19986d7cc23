//! The criterion that ends `reproduce`'s copy stage: on held-out short copy
//! drills (list, hash, one-hop lookup), the mean teacher-forced probability
//! of the answer's copied tokens (the names and hashes it takes from the
//! prompt, `p(copy)`). On the copy stage's plateau the model knows only how
//! often each hex piece occurs, and `p(copy)` stays near 0.02; when the
//! copying (induction) appears it rises within a few hundred steps, and
//! exact answers follow only as it nears 1. The stage trains at its peak
//! rate until `p(copy)` reaches the threshold, then decays
//! (`train::until`), so a seed whose plateau lasts longer trains longer
//! instead of decaying before it copies. The check also decodes the drills
//! and reports exact answers. Its drills come from a seed stream of their
//! own ([`COPY_CRITERION_STREAM`]), disjoint from the training drills and
//! from the drill check that reports each stage.

use serde::{Deserialize, Serialize};

use super::drill_check::{check_short, DrillCheck, KindScore};
use crate::chat::ChatTemplate;
use crate::error::{Error, Result};
use crate::model::Qwen3Moe;
use crate::model_dir::ChatModel;
use crate::tasks::toy::COPY_CRITERION_STREAM;
use crate::train::until::{Check, Criterion};

/// What passes: over `per_kind` held-out drills of each short kind, a mean
/// teacher-forced probability of the copied tokens of at least `p_copy`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CopyPass {
    /// Drills of each kind (list, hash, one-hop).
    pub per_kind: usize,
    /// The threshold of `p(copy)`, in (0, 1].
    pub p_copy: f64,
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
        if !(self.p_copy > 0.0 && self.p_copy <= 1.0) {
            return Err(Error::OutOfRange {
                what: format!("{source}: criterion p(copy)"),
                value: self.p_copy.to_string(),
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
            "p(copy) at least {} on {} held-out short copy drills",
            self.want.p_copy,
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
        let p = p_copy(&s);
        let kinds: Vec<String> = s
            .iter()
            .map(|k| format!("{} {}/{}", k.kind, k.exact, k.n))
            .collect();
        Ok(Check {
            step,
            passed: p.is_some_and(|p| p >= self.want.p_copy),
            score: p.unwrap_or(0.0),
            detail: format!(
                "p(copy) {}, exact {exact}/{n} ({})",
                p.map_or("-".into(), |p| format!("{p:.3}")),
                kinds.join(", ")
            ),
            loss,
        })
    }
}

/// The mean teacher-forced probability of the copied tokens (a copy's first
/// token and the others, weighted by their counts) over the drills of
/// `scores`; `None` when no answer copies anything.
pub fn p_copy(scores: &[KindScore]) -> Option<f64> {
    let (mut sum, mut n) = (0.0, 0usize);
    for k in scores {
        let f = &k.forced;
        for (p, count) in [(f.start, f.tokens[0]), (f.inside, f.tokens[1])] {
            if let Some(p) = p {
                sum += p * count as f64;
                n += count;
            }
        }
    }
    (n > 0).then(|| sum / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::curriculum::drill_check::RoleProbs;

    #[test]
    fn p_copy_weights_each_role_by_its_tokens_and_bad_thresholds_are_named() {
        let kind = |start, inside, tokens| KindScore {
            kind: "list".into(),
            n: 1,
            exact: 0,
            too_long: 0,
            example: Default::default(),
            prompt_tokens: 0.0,
            forced: RoleProbs {
                start,
                inside,
                rest: Some(0.9),
                tokens,
                last_start: None,
            },
        };
        let s = [
            kind(Some(0.2), Some(0.6), [1, 3, 5]),
            kind(None, Some(1.0), [0, 4, 0]),
        ];
        assert!((p_copy(&s).unwrap() - (0.2 + 1.8 + 4.0) / 8.0).abs() < 1e-12);
        assert_eq!(p_copy(&[kind(None, None, [0, 0, 2])]), None);
        let bad = CopyPass {
            per_kind: 4,
            p_copy: 0.0,
        };
        assert!(bad
            .validate("p.json")
            .unwrap_err()
            .to_string()
            .contains("p(copy)"));
    }
}
