//! Probe tasks: MRCR and GraphWalks generators with token-length targets, and
//! their official graders.

pub mod agents;
pub mod difflib;
pub mod drill_check;
pub mod drills;
pub mod eval;
pub mod grade;
pub mod graphwalks;
pub mod mrcr;
pub mod probe_inputs;
pub mod score;
pub mod toy;

/// Counts tokens of a text (a real tokenizer, or an approximation in tests).
pub trait TokenCounter {
    fn count(&self, text: &str) -> usize;

    /// The end (a char boundary) of the longest prefix of `text` that the
    /// counter puts at no more than `max` tokens. This default bisects on
    /// characters; tokenizers answer from one encoding's offsets.
    fn prefix_within(&self, text: &str, max: usize) -> usize {
        let ends: Vec<usize> = text.char_indices().map(|(i, c)| i + c.len_utf8()).collect();
        let (mut lo, mut hi) = (0usize, ends.len());
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if self.count(&text[..ends[mid - 1]]) <= max {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        if lo == 0 {
            0
        } else {
            ends[lo - 1]
        }
    }

    /// Tokens of `text`, and of each byte span of it (spans sorted, disjoint).
    /// This default counts each span on its own; tokenizers attribute the
    /// tokens of one encoding of the whole text by their start offsets.
    fn count_spans(&self, text: &str, spans: &[(usize, usize)]) -> (usize, Vec<usize>) {
        (
            self.count(text),
            spans
                .iter()
                .map(|&(a, b)| self.count(&text[a..b]))
                .collect(),
        )
    }
}

impl TokenCounter for tokenizers::Tokenizer {
    fn count(&self, text: &str) -> usize {
        self.encode(text, false)
            .map(|e| e.len())
            .unwrap_or(usize::MAX)
    }

    fn prefix_within(&self, text: &str, max: usize) -> usize {
        let Ok(enc) = self.encode(text, false) else {
            return 0;
        };
        if enc.len() <= max {
            return text.len();
        }
        if max == 0 {
            return 0;
        }
        // the end of token `max - 1`, moved back to a char boundary
        let mut end = enc.get_offsets()[max - 1].1.min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        end
    }

    fn count_spans(&self, text: &str, spans: &[(usize, usize)]) -> (usize, Vec<usize>) {
        let Ok(enc) = self.encode(text, false) else {
            return (usize::MAX, vec![usize::MAX; spans.len()]);
        };
        let mut per = vec![0; spans.len()];
        for &(start, _) in enc.get_offsets() {
            // the span whose range holds the token's first byte
            let k = spans.partition_point(|&(a, _)| a <= start);
            if k > 0 && start < spans[k - 1].1 {
                per[k - 1] += 1;
            }
        }
        (enc.len(), per)
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
