//! One way to open a model directory: the checkpoint (config.json, sharded
//! safetensors), the model with its weights resident or streamed, and what
//! the directory ships beside its weights — tokenizer.json, the chat
//! template, the stop ids of generation_config.json — read when first asked
//! for, so that a pass over probe inputs never pays for what only decoding
//! needs. Every command, the paired analyses, evaluation and `reproduce`
//! open models through [`ModelDir::open`].

use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use candle_core::Device;

use crate::chat::ChatTemplate;
use crate::error::{Error, Result};
use crate::io::Fnv;
use crate::model::generate::stop_ids;
use crate::model::{Checkpoint, Qwen3Moe, WeightsMode};

/// A model directory opened once.
pub struct ModelDir {
    pub dir: PathBuf,
    pub ckpt: Checkpoint,
    pub model: Qwen3Moe,
    tokenizer: OnceLock<tokenizers::Tokenizer>,
    template: OnceLock<ChatTemplate>,
    stop: OnceLock<Vec<u32>>,
    fingerprint: OnceLock<u64>,
}

/// A model with what it takes to answer chat prompts.
pub struct ChatModel<'a> {
    pub model: &'a Qwen3Moe,
    pub tokenizer: &'a tokenizers::Tokenizer,
    pub template: &'a ChatTemplate,
    /// Token ids that end a response.
    pub stop: &'a [u32],
}

impl ModelDir {
    /// Opens `dir` on `device`, its weights held as `weights` says.
    pub fn open(dir: impl AsRef<Path>, device: &Device, weights: WeightsMode) -> Result<Self> {
        Self::with_checkpoint(Checkpoint::open(dir)?, device, weights)
    }

    /// The model of an opened checkpoint.
    pub fn with_checkpoint(
        ckpt: Checkpoint,
        device: &Device,
        weights: WeightsMode,
    ) -> Result<Self> {
        let model = Qwen3Moe::open(ckpt.clone(), device, weights)?;
        Ok(ModelDir {
            dir: ckpt.dir.clone(),
            ckpt,
            model,
            tokenizer: OnceLock::new(),
            template: OnceLock::new(),
            stop: OnceLock::new(),
            fingerprint: OnceLock::new(),
        })
    }

    /// Opens `dir` on the CPU with resident weights (training, decoding
    /// small models).
    pub fn cpu(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open(dir, &Device::Cpu, WeightsMode::Resident)
    }

    /// The directory's tokenizer.json (an error naming the directory when it has none).
    pub fn tokenizer(&self) -> Result<&tokenizers::Tokenizer> {
        once(&self.tokenizer, || {
            let path = self.ckpt.tokenizer_path().ok_or_else(|| {
                Error::Input(format!(
                    "{}: no tokenizer.json (prompts and probe inputs need the model's tokenizer)",
                    self.dir.display()
                ))
            })?;
            crate::tokenizer::load(&path)
        })
    }

    /// The chat template of tokenizer_config.json (ChatML when absent).
    pub fn template(&self) -> Result<&ChatTemplate> {
        once(&self.template, || ChatTemplate::for_model_dir(&self.dir))
    }

    /// The ids that end a response (generation_config.json, config.json;
    /// the tokenizer's end-of-text tokens where the directory has one).
    pub fn stop(&self) -> Result<&[u32]> {
        let stop = once(&self.stop, || {
            let tok = match self.ckpt.tokenizer_path() {
                Some(_) => Some(self.tokenizer()?),
                None => None,
            };
            Ok(stop_ids(&self.dir, tok))
        })?;
        Ok(stop)
    }

    /// The model with its tokenizer, template and stop ids.
    pub fn chat(&self) -> Result<ChatModel<'_>> {
        Ok(ChatModel {
            model: &self.model,
            tokenizer: self.tokenizer()?,
            template: self.template()?,
            stop: self.stop()?,
        })
    }

    /// A fingerprint of config.json and the weight files (cache keys).
    pub fn fingerprint(&self) -> Result<u64> {
        once(&self.fingerprint, || fingerprint(&self.ckpt)).copied()
    }
}

/// The value of `cell`, made by `make` the first time (an error leaves the
/// cell empty, so a later call tries again).
fn once<T>(cell: &OnceLock<T>, make: impl FnOnce() -> Result<T>) -> Result<&T> {
    if let Some(v) = cell.get() {
        return Ok(v);
    }
    let v = make()?;
    Ok(cell.get_or_init(|| v))
}

/// Weight files up to this size are hashed whole; larger ones by size,
/// modification time and their first and last MiB.
const HASH_WHOLE: u64 = 256 << 20;

/// A fingerprint of config.json and the weight files (cache keys).
fn fingerprint(ckpt: &Checkpoint) -> Result<u64> {
    let mut h = Fnv::default();
    let cfg = ckpt.dir.join("config.json");
    h.write(&std::fs::read(&cfg).map_err(|e| Error::io(&cfg, e))?);
    for f in &ckpt.files {
        let md = std::fs::metadata(f).map_err(|e| Error::io(f, e))?;
        h.write_u64(md.len());
        if md.len() <= HASH_WHOLE {
            h.write(&std::fs::read(f).map_err(|e| Error::io(f, e))?);
        } else {
            use std::io::{Read, Seek, SeekFrom};
            let mtime = md
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as u64);
            h.write_u64(mtime);
            let mut file = std::fs::File::open(f).map_err(|e| Error::io(f, e))?;
            let mut buf = vec![0u8; 1 << 20];
            file.read_exact(&mut buf).map_err(|e| Error::io(f, e))?;
            h.write(&buf);
            file.seek(SeekFrom::End(-(1 << 20)))
                .map_err(|e| Error::io(f, e))?;
            file.read_exact(&mut buf).map_err(|e| Error::io(f, e))?;
            h.write(&buf);
        }
    }
    Ok(h.finish())
}
