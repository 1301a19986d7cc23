//! Probe tasks: MRCR and GraphWalks generators with token-length targets, and
//! their official graders.

pub mod difflib;
pub mod grade;
pub mod graphwalks;
pub mod mrcr;

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
