//! The scoring conventions a report used, written into every score and
//! eval JSON, so that a number can be compared with a published one that
//! used the same (MRCR in lm-evaluation-harness, GraphWalks in NeMo Gym or
//! lm-eval).

use serde::{Deserialize, Serialize};

use super::grade::EmptySet;

/// How a report's scores were computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conventions {
    /// GraphWalks, both sets empty: `nemo` scores 1, `lm-eval` 0.
    pub empty_set: EmptySet,
    /// GraphWalks F1: where `Final Answer: [...]` is read.
    pub graphwalks_f1: String,
    /// MRCR: the grader.
    pub mrcr: String,
    /// What is graded of a response with reasoning.
    pub reasoning: String,
    /// What counts the tokens of the length bins.
    pub length_tokens: String,
    /// The length bins and the AUC.
    pub length_bins: String,
    /// Rows whose prompt plus answer exceed this many tokens are dropped
    /// and counted, as lm-eval does; `None`: no limit.
    pub max_len: Option<usize>,
}

impl Conventions {
    /// The conventions with `empty_set`, tokens counted by `length_tokens`,
    /// and rows past `max_len` dropped.
    pub fn new(empty_set: EmptySet, length_tokens: &str, max_len: Option<usize>) -> Self {
        Conventions {
            empty_set,
            graphwalks_f1: "strict: the last line only (the dataset card, NeMo Gym, lm-eval f1); \
                            flexible: the last line that holds one (lm-eval flexible_f1)"
                .into(),
            mrcr: "0 without the random hash; else difflib SequenceMatcher ratio with the hash \
                   removed from both (the dataset card)"
                .into(),
            reasoning: "the text after a closing </think> is graded (lm-eval)".into(),
            length_tokens: length_tokens.into(),
            length_bins: "lm-eval MRCR bins of prompt tokens, (0,8K] … (512K,1M]; AUC: each \
                          non-empty bin's mean at its upper edge, trapezoids over a linear token \
                          axis divided by the span (lm-eval prints it x100)"
                .into(),
            max_len,
        }
    }
}
