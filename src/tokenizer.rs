//! Text → token ids with a Hugging Face `tokenizer.json`.

use std::path::Path;

use crate::error::{Error, Result};

/// Loads `tokenizer.json`.
pub fn load(path: &Path) -> Result<tokenizers::Tokenizer> {
    tokenizers::Tokenizer::from_file(path).map_err(|e| Error::Tokenizer {
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
    let mut tok = tokenizers::Tokenizer::new(BPE::default());
    tok.with_pre_tokenizer(Some(Sequence::new(vec![
        split.into(),
        ByteLevel::new(false, false, false).into(),
    ])));
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
}
