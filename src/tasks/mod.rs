//! Probe tasks: MRCR and GraphWalks generators with token-length targets, and
//! their official graders.

pub mod agents;
pub mod difflib;
pub mod eval;
pub mod grade;
pub mod graphwalks;
pub mod mrcr;
pub mod score;

/// Counts tokens of a text (a real tokenizer, or an approximation in tests).
pub trait TokenCounter {
    fn count(&self, text: &str) -> usize;
}

impl TokenCounter for tokenizers::Tokenizer {
    fn count(&self, text: &str) -> usize {
        self.encode(text, false)
            .map(|e| e.len())
            .unwrap_or(usize::MAX)
    }
}

/// Any `Fn(&str) -> usize` counts tokens.
impl<F: Fn(&str) -> usize> TokenCounter for F {
    fn count(&self, text: &str) -> usize {
        self(text)
    }
}

/// About four characters a token: for sizing when no tokenizer is given.
pub fn approx_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(4)
}
