//! Training checkpoints in a run directory, written so that an interrupted
//! write never leaves a checkpoint that a resume would read:
//!
//! ```text
//! train/checkpoints/step-000200/   model.safetensors (f32), optimizer.safetensors, state.json
//! train/latest                     "step-000200": written (atomically) only after the
//!                                  checkpoint directory is complete and renamed into place
//! ```
//!
//! A checkpoint is first written to `step-N.partial/` and renamed; only the
//! `keep` newest complete checkpoints are kept.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::io::{save_safetensors, write_atomic};

/// Where a run stands (saved with each checkpoint).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainState {
    /// Optimizer steps completed.
    pub step: usize,
    /// AdamW's update count.
    pub adam_t: u64,
    /// Tokens processed (packed, every position).
    pub tokens: u64,
    /// Training seconds so far.
    pub elapsed_s: f64,
    /// The checks of a run that ends on a criterion (`until`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<super::until::UntilState>,
}

/// A checkpoint read back.
pub struct Loaded {
    pub dir: PathBuf,
    pub weights: HashMap<String, Tensor>,
    pub optimizer: HashMap<String, Tensor>,
    pub state: TrainState,
}

fn checkpoints_dir(run: &Path) -> PathBuf {
    run.join("checkpoints")
}

/// Writes a checkpoint for `state.step` and points `latest` at it.
pub fn save(
    run: &Path,
    weights: &HashMap<String, Tensor>,
    optimizer: &HashMap<String, Tensor>,
    state: &TrainState,
    keep: usize,
) -> Result<PathBuf> {
    let root = checkpoints_dir(run);
    let name = format!("step-{:06}", state.step);
    let partial = root.join(format!("{name}.partial"));
    let done = root.join(&name);
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(|e| Error::io(&partial, e))?;
    }
    std::fs::create_dir_all(&partial).map_err(|e| Error::io(&partial, e))?;
    save_safetensors(&partial.join("model.safetensors"), weights)?;
    save_safetensors(&partial.join("optimizer.safetensors"), optimizer)?;
    write_atomic(
        &partial.join("state.json"),
        &serde_json::to_vec_pretty(state).expect("state serialises"),
    )?;
    if done.exists() {
        std::fs::remove_dir_all(&done).map_err(|e| Error::io(&done, e))?;
    }
    std::fs::rename(&partial, &done).map_err(|e| Error::io(&done, e))?;
    write_atomic(&run.join("latest"), name.as_bytes())?;
    prune(&root, keep.max(1))?;
    Ok(done)
}

/// Removes complete checkpoints beyond the `keep` newest, and stale partial ones.
fn prune(root: &Path, keep: usize) -> Result<()> {
    let mut complete: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(root).map_err(|e| Error::io(root, e))? {
        let path = entry.map_err(|e| Error::io(root, e))?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".partial") {
            std::fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
        } else if name.starts_with("step-") {
            complete.push(path);
        }
    }
    complete.sort();
    let n = complete.len();
    for old in complete.into_iter().take(n.saturating_sub(keep)) {
        std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
    }
    Ok(())
}

/// The checkpoint `latest` points at, if any.
pub fn latest(run: &Path) -> Result<Option<PathBuf>> {
    let pointer = run.join("latest");
    if !pointer.is_file() {
        return Ok(None);
    }
    let name = std::fs::read_to_string(&pointer).map_err(|e| Error::io(&pointer, e))?;
    let dir = checkpoints_dir(run).join(name.trim());
    if !dir.is_dir() {
        return Err(Error::Input(format!(
            "{}: points at {}, which does not exist",
            pointer.display(),
            dir.display()
        )));
    }
    Ok(Some(dir))
}

/// Reads a complete checkpoint directory.
pub fn load(dir: &Path) -> Result<Loaded> {
    let read = |file: &str| -> Result<HashMap<String, Tensor>> {
        let p = dir.join(file);
        candle_core::safetensors::load(&p, &Device::Cpu).map_err(|e| Error::CorruptSafetensors {
            path: p.clone(),
            reason: e.to_string(),
        })
    };
    let sp = dir.join("state.json");
    let text = std::fs::read_to_string(&sp).map_err(|e| Error::io(&sp, e))?;
    let state: TrainState = serde_json::from_str(&text).map_err(|source| Error::Json {
        path: sp.clone(),
        source,
    })?;
    Ok(Loaded {
        dir: dir.to_path_buf(),
        weights: read("model.safetensors")?,
        optimizer: read("optimizer.safetensors")?,
        state,
    })
}
