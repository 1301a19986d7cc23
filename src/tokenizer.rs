//! Text → token ids with a Hugging Face `tokenizer.json`.

use std::path::Path;

use crate::error::{Error, Result};

/// Loads `tokenizer.json`.
pub fn load(path: &Path) -> Result<tokenizers::Tokenizer> {
    let bytes = crate::io::read_bounded(path, crate::io::MAX_DOC_BYTES)?;
    tokenizers::Tokenizer::from_bytes(bytes).map_err(|e| Error::Tokenizer {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Encodes `text` without adding special tokens.
pub fn encode(tok: &tokenizers::Tokenizer, path: &Path, text: &str) -> Result<Vec<u32>> {
    let enc = tok.encode(text, false).map_err(|e| Error::Tokenizer {
        path: path.to_path_buf(),
        reason: format!("cannot encode text: {e}"),
    })?;
    Ok(enc.get_ids().to_vec())
}

/// The pre-tokenisation pattern of Qwen2/Qwen3's byte-level BPE.
pub const QWEN_SPLIT_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The pre-tokenisation pattern of the tokenizers acc-probe trains: Qwen's,
/// except that a run of letters and digits that contains a digit (a hex id,
/// a hash, a number) is one pre-token without a leading space or
/// punctuation mark. Such an id then tokenizes into the same few pieces in
/// every context (after a space, a bracket, a newline), so a copy of it is a
/// copy of its tokens; with Qwen's pattern every digit is its own token and
/// the first piece changes with what precedes it.
pub const SPLIT_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|\p{L}*\p{N}[\p{L}\p{N}]*|[^\r\n\p{L}\p{N}]?(?>\p{L}+)(?!\p{N})| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The optional second pre-tokenisation pass (`train_bpe_with`, `id_chunk`
/// = n), run on each pre-token of [`SPLIT_PATTERN`]: a pre-token of hex
/// digits that contains a digit (a node name, a tracking code, a number) is
/// cut into pieces of at most n characters from its start; every other
/// pre-token (words, hashes with other letters) stays whole. With n = 3 a
/// 10-character hex name is three pieces out of 4,096 and a last one out of
/// 16, so in a context of a thousand tokens almost every piece of a name
/// occurs in that name only and a one-token induction head finds the right
/// occurrence; BPE's own pieces of random hex are mostly 2 characters (256
/// kinds), each of which recurs many times in such a context.
pub fn id_chunk_pattern(n: usize) -> String {
    format!(r"^[^\p{{N}}]*$|^[\p{{L}}\p{{N}}]*[g-zA-Z][\p{{L}}\p{{N}}]*$|[0-9a-f]{{1,{n}}}")
}

/// Special and added tokens of the Qwen3 chat format (the first three are the
/// control tokens [`CHAT_CONTROL_TOKENS`]; the tags follow the learned vocabulary).
pub const QWEN_SPECIAL_TOKENS: [&str; 9] = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<think>",
    "</think>",
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
];

/// The special tokens that frame chat turns. The others (`<think>`,
/// `<tool_call>`, …) are added tokens that are *not* special, as in Qwen3's
/// tokenizer, so decoding with `skip_special_tokens` keeps them.
pub const CHAT_CONTROL_TOKENS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

/// Trains a byte-level BPE tokenizer with [`SPLIT_PATTERN`] and Qwen3's
/// special tokens on `texts` (deterministic for the same texts).
pub fn train_bpe<I, S>(texts: I, vocab_size: usize) -> Result<tokenizers::Tokenizer>
where
    I: Iterator<Item = S> + Send,
    S: AsRef<str> + Send,
{
    train_bpe_with(texts, vocab_size, 0)
}

/// [`train_bpe`] with hex ids cut into pieces of at most `id_chunk`
/// characters before BPE ([`id_chunk_pattern`]; 0: not cut).
pub fn train_bpe_with<I, S>(
    texts: I,
    vocab_size: usize,
    id_chunk: usize,
) -> Result<tokenizers::Tokenizer>
where
    I: Iterator<Item = S> + Send,
    S: AsRef<str> + Send,
{
    use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
    use tokenizers::models::TrainerWrapper;
    use tokenizers::pre_tokenizers::byte_level::ByteLevel;
    use tokenizers::pre_tokenizers::sequence::Sequence;
    use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
    use tokenizers::{AddedToken, SplitDelimiterBehavior};
    let err = |e: tokenizers::Error| Error::Tokenizer {
        path: "<training>".into(),
        reason: e.to_string(),
    };
    let split = Split::new(
        SplitPattern::Regex(SPLIT_PATTERN.into()),
        SplitDelimiterBehavior::Isolated,
        false,
    )
    .map_err(err)?;
    let mut pre = vec![split.into()];
    if id_chunk > 0 {
        pre.push(
            Split::new(
                SplitPattern::Regex(id_chunk_pattern(id_chunk)),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map_err(err)?
            .into(),
        );
    }
    pre.push(ByteLevel::new(false, false, false).into());
    let mut tok = tokenizers::Tokenizer::new(BPE::default());
    tok.with_pre_tokenizer(Some(Sequence::new(pre)));
    tok.with_decoder(Some(ByteLevel::default()));
    let specials: Vec<AddedToken> = CHAT_CONTROL_TOKENS
        .iter()
        .map(|t| AddedToken::from(*t, true))
        .collect();
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .show_progress(false)
        .vocab_size(vocab_size)
        .min_frequency(2)
        .special_tokens(specials)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build()
        .into();
    tok.train(&mut trainer, texts).map_err(err)?;
    let tags: Vec<AddedToken> = QWEN_SPECIAL_TOKENS
        .iter()
        .filter(|t| !CHAT_CONTROL_TOKENS.contains(t))
        .map(|t| AddedToken::from(*t, false))
        .collect();
    tok.add_tokens(tags).map_err(err)?;
    Ok(tok)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trained_bpe_round_trips_and_keeps_special_tokens_whole() {
        let corpus: Vec<String> = (0..200)
            .map(|i| {
                format!(
                    "The order {i} shipped to Tallinn on day {}.\n  fn main() {{ x += {i}; }}",
                    i % 7
                )
            })
            .collect();
        let tok = train_bpe(corpus.iter(), 400).unwrap();
        assert!(tok.get_vocab_size(true) <= 400 + QWEN_SPECIAL_TOKENS.len());
        let text = "<|im_start|>user\nThe order 77 shipped to Tallinn ünïcode 🙂<|im_end|>";
        let enc = tok.encode(text, false).unwrap();
        assert_eq!(enc.get_tokens()[0], "<|im_start|>");
        assert_eq!(enc.get_tokens().last().unwrap(), "<|im_end|>");
        assert_eq!(tok.decode(enc.get_ids(), false).unwrap(), text);
        // reasoning and tool tags are whole tokens that survive skip_special_tokens
        let t = tok
            .encode("<think>\nx\n</think>\n\nA<|im_end|>", false)
            .unwrap();
        assert_eq!(t.get_tokens()[0], "<think>");
        assert_eq!(
            tok.decode(t.get_ids(), true).unwrap(),
            "<think>\nx\n</think>\n\nA"
        );
        // merges were learned: far fewer tokens than bytes
        let plain = tok
            .encode("The order 12 shipped to Tallinn", false)
            .unwrap();
        assert!(plain.len() < 12, "{:?}", plain.get_tokens());
        // an id with a digit is the same pieces after a space, a bracket, a
        // newline or a colon, and prose keeps its leading-space words
        let pieces = |t: &str| tok.encode(t, false).unwrap().get_tokens().to_vec();
        let id = pieces("8f99d96fb2");
        for ctx in [" ", "[", "\n", ": ", ", ", "-> "] {
            let p = pieces(&format!("{ctx}8f99d96fb2"));
            assert_eq!(&p[p.len() - id.len()..], &id[..], "after {ctx:?}: {p:?}");
        }
        assert_eq!(pieces("77").len(), 1, "{:?}", pieces("77"));
        assert_eq!(pieces(" order")[0], "Ġorder");
        // the same corpus gives the same tokenizer
        let again = train_bpe(corpus.iter(), 400).unwrap();
        assert_eq!(
            tok.to_string(false).unwrap(),
            again.to_string(false).unwrap()
        );
    }

    #[test]
    fn id_chunks_cut_hex_ids_and_leave_words_and_hashes_whole() {
        let hex = |i: u64| {
            format!(
                "{:010x}",
                0x9e37_79b9_7f4a_7c15u64.wrapping_mul(i + 1) >> 24
            )
        };
        // 20 ids, each often enough that its chunks become tokens
        let corpus: Vec<String> = (0..600)
            .map(|i| {
                format!(
                    "{} -> {}\nPrepend aB3xYz9QkW to the 2nd poem about face, in 2025.",
                    hex(i % 20),
                    hex(i % 20 + 7)
                )
            })
            .collect();
        let tok = train_bpe_with(corpus.iter(), 4000, 3).unwrap();
        let pieces = |t: &str| tok.encode(t, false).unwrap().get_tokens().to_vec();
        for i in [3, 11, 19] {
            let id = hex(i);
            let p = pieces(&id);
            // pieces of at most 3 characters from the start: 3 + 3 + 3 + 1
            let want: Vec<String> = id
                .as_bytes()
                .chunks(3)
                .map(|c| String::from_utf8(c.to_vec()).unwrap())
                .collect();
            assert_eq!(p, want, "{id}");
            // and the same pieces in an edge line
            let line = pieces(&format!("{id} -> {}", hex(i + 7)));
            assert_eq!(&line[..want.len()], &want[..], "{line:?}");
        }
        // words, hashes with non-hex letters and hex words without a digit stay whole
        assert_eq!(pieces("aB3xYz9QkW"), vec!["aB3xYz9QkW".to_string()]);
        assert_eq!(pieces(" face"), vec!["Ġface".to_string()]);
        assert_eq!(pieces("2nd"), vec!["2nd".to_string()]);
        // a number is hex digits too
        assert_eq!(pieces("2025"), vec!["202".to_string(), "5".to_string()]);
        // an id never seen: BPE's pieces, but none across a chunk's end
        let unseen = "9a8b7c6d5e";
        let mut at = 0;
        for p in pieces(unseen) {
            assert_eq!(at / 3, (at + p.len() - 1) / 3, "{p} crosses a chunk end");
            at += p.len();
        }
        assert_eq!(at, unseen.len());
        let text = "abc123def0 -> 0fedcba987 aB3xYz9QkW";
        assert_eq!(
            tok.decode(tok.encode(text, false).unwrap().get_ids(), false)
                .unwrap(),
            text
        );
    }
}

/// OpenAI's `o200k_base` encoding, which the official MRCR scripts count
/// lengths with (its BPE ranks ship inside the tiktoken-rs crate: nothing is
/// downloaded). Text is encoded as ordinary text: special-token strings
/// count as the characters they are.
#[derive(Debug, Clone, Copy, Default)]
pub struct O200k;

impl TokenCounter for O200k {
    fn count(&self, text: &str) -> usize {
        tiktoken_rs::o200k_base_singleton()
            .encode_ordinary(text)
            .len()
    }
}

#[cfg(test)]
mod o200k_tests {
    use super::*;

    #[test]
    fn o200k_counts_as_tiktoken_does() {
        // tiktoken.get_encoding("o200k_base").encode(...)
        assert_eq!(O200k.count("Hello, world!"), 4);
        assert_eq!(O200k.count(""), 0);
        assert_eq!(O200k.count("<|endoftext|>"), O200k.count("<|endoftext|>"));
        assert!(O200k.count(&"tapir ".repeat(100)) >= 100);
    }
}
