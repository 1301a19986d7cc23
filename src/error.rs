//! Typed errors of the library. Every variant names the file, record or tensor
//! it concerns and what was expected, so that a message alone tells the user
//! what to fix.

use std::path::PathBuf;

/// The library's error type.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    #[error("{path}: config field `{field}`: {reason}")]
    Config {
        path: PathBuf,
        field: String,
        reason: String,
    },

    #[error("{path}: unsupported model: {reason}")]
    Unsupported { path: PathBuf, reason: String },

    #[error("{dir}: no weights found (expected model.safetensors, or model.safetensors.index.json with its shards)")]
    NoWeights { dir: PathBuf },

    #[error("{path}: corrupt safetensors file: {reason}")]
    CorruptSafetensors { path: PathBuf, reason: String },

    #[error("{path}: tensor `{tensor}` listed in the index is not in shard {shard}")]
    IndexMismatch {
        path: PathBuf,
        tensor: String,
        shard: String,
    },

    #[error("{dir}: missing tensor `{tensor}` (expected shape {expected:?}; searched {files})")]
    MissingTensor {
        dir: PathBuf,
        tensor: String,
        expected: Vec<usize>,
        files: String,
    },

    #[error("{path}: unexpected tensor `{tensor}` with shape {shape:?} (not part of a Qwen3-MoE model with this config)")]
    UnexpectedTensor {
        path: PathBuf,
        tensor: String,
        shape: Vec<usize>,
    },

    #[error("{path}: tensor `{tensor}` has shape {found:?}, expected {expected:?}")]
    WrongShape {
        path: PathBuf,
        tensor: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },

    #[error("{path}: tensor `{tensor}` has dtype {dtype}, expected one of F32, BF16, F16")]
    WrongDtype {
        path: PathBuf,
        tensor: String,
        dtype: String,
    },

    #[error("{what} {value} is out of range: valid {valid}")]
    OutOfRange {
        what: String,
        value: String,
        valid: String,
    },

    #[error("invalid input: {0}")]
    Input(String),

    #[error("training stopped: {0}")]
    Training(String),

    #[error("tokenizer {path}: {reason}")]
    Tokenizer { path: PathBuf, reason: String },

    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
