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
