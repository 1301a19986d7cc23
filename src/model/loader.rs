//! Loading a Hugging Face checkpoint directory.
//!
//! A directory holds `config.json`, the weights as `model.safetensors` or as
//! shards listed in `model.safetensors.index.json`, and optionally
//! `tokenizer.json` / `tokenizer_config.json`. Before any tensor is read, the
//! inventory of every shard is checked against the tensors the config implies:
//! missing, unexpected and wrongly shaped tensors are reported with the file
//! and the tensor name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use safetensors::SafeTensors;

use super::config::Qwen3MoeConfig;
use crate::error::{Error, Result};

/// Where one tensor lives and what it looks like on disk.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub file: PathBuf,
    pub shape: Vec<usize>,
    pub dtype: String,
    /// Byte offset of the tensor's data in `file`.
    pub offset: u64,
    /// Length of the tensor's data in bytes.
    pub len: u64,
}

impl TensorInfo {
    /// The stored dtype as candle's (the weight dtypes a checkpoint may use);
    /// `name` is the tensor's, for the error.
    pub fn candle_dtype(&self, name: &str) -> Result<DType> {
        match self.dtype.as_str() {
            "F32" => Ok(DType::F32),
            "BF16" => Ok(DType::BF16),
            "F16" => Ok(DType::F16),
            other => Err(Error::WrongDtype {
                path: self.file.clone(),
                tensor: name.to_string(),
                dtype: other.to_string(),
            }),
        }
    }
}

/// A checkpoint directory whose inventory has been validated against its config.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub dir: PathBuf,
    pub config: Qwen3MoeConfig,
    /// Safetensors files, in a deterministic order.
    pub files: Vec<PathBuf>,
    pub tensors: BTreeMap<String, TensorInfo>,
}

impl Checkpoint {
    /// Reads `config.json` and the safetensors inventory of `dir` and validates them.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            return Err(Error::Input(format!(
                "{}: not a directory (expected a Hugging Face model directory with config.json)",
                dir.display()
            )));
        }
        let config = Qwen3MoeConfig::from_file(dir.join("config.json"))?;
        let files = weight_files(&dir)?;
        let mut tensors = BTreeMap::new();
        for file in &files {
            for (name, info) in read_inventory(file)? {
                if let Some(prev) = tensors.get(&name) {
                    let prev: &TensorInfo = prev;
                    return Err(Error::CorruptSafetensors {
                        path: file.clone(),
                        reason: format!("tensor `{name}` also appears in {}", prev.file.display()),
                    });
                }
                tensors.insert(name, info);
            }
        }
        check_index_consistency(&dir, &tensors)?;
        let ckpt = Checkpoint {
            dir,
            config,
            files,
            tensors,
        };
        ckpt.validate()?;
        Ok(ckpt)
    }

    /// Compares the inventory with the tensors the config implies.
    fn validate(&self) -> Result<()> {
        // a config implying far more tensors than the files hold is refused
        // before the expected names are listed (a few missing ones are
        // named one by one below)
        let implied = self.config.expected_tensor_count();
        if implied > 2.0 * self.tensors.len() as f64 + 16.0 {
            return Err(Error::Config {
                path: self.dir.join("config.json"),
                field: "num_hidden_layers".into(),
                reason: format!(
                    "{} layers ({} of them MoE with {} experts) imply {implied} tensors; the checkpoint has {}",
                    self.config.num_hidden_layers,
                    self.config.moe_layer_count(),
                    self.config.num_experts,
                    self.tensors.len()
                ),
            });
        }
        let expected = expected_tensors(&self.config);
        let files = self
            .files
            .iter()
            .map(|f| {
                f.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect::<Vec<_>>()
            .join(", ");
        for (name, shape) in &expected {
            match self.tensors.get(name) {
                None => {
                    return Err(Error::MissingTensor {
                        dir: self.dir.clone(),
                        tensor: name.clone(),
                        expected: shape.clone(),
                        files,
                    })
                }
                Some(info) if &info.shape != shape => {
                    return Err(Error::WrongShape {
                        path: info.file.clone(),
                        tensor: name.clone(),
                        expected: shape.clone(),
                        found: info.shape.clone(),
                    })
                }
                Some(info) if !matches!(info.dtype.as_str(), "F32" | "BF16" | "F16") => {
                    return Err(Error::WrongDtype {
                        path: info.file.clone(),
                        tensor: name.clone(),
                        dtype: info.dtype.clone(),
                    })
                }
                Some(_) => {}
            }
        }
        for (name, info) in &self.tensors {
            if expected.contains_key(name) || is_ignorable(name, &self.config) {
                continue;
            }
            return Err(Error::UnexpectedTensor {
                path: info.file.clone(),
                tensor: name.clone(),
                shape: info.shape.clone(),
            });
        }
        Ok(())
    }

    /// A VarBuilder over the memory-mapped weights, converting to `dtype` on access.
    pub fn var_builder(&self, dtype: DType, device: &Device) -> Result<VarBuilder<'static>> {
        // SAFETY: the files are memory-mapped read-only; like every mmap-based
        // loader we assume they are not modified while the model is loaded.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&self.files, dtype, device)? };
        Ok(vb)
    }

    /// Parameters in the weight files.
    pub fn parameter_count(&self) -> u64 {
        self.tensors
            .values()
            .map(|t| t.shape.iter().product::<usize>() as u64)
            .sum()
    }

    /// Bytes of tensor data in the weight files, as stored.
    pub fn stored_bytes(&self) -> u64 {
        self.tensors.values().map(|t| t.len).sum()
    }

    /// `tokenizer.json` in the checkpoint directory, if present.
    pub fn tokenizer_path(&self) -> Option<PathBuf> {
        let p = self.dir.join("tokenizer.json");
        p.is_file().then_some(p)
    }
}

/// Tensors that may be present but are not used (HF writes them in some versions).
fn is_ignorable(name: &str, cfg: &Qwen3MoeConfig) -> bool {
    (cfg.tie_word_embeddings && name == "lm_head.weight") || name.ends_with("rotary_emb.inv_freq")
}

/// The safetensors files of a checkpoint directory.
fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let index = dir.join("model.safetensors.index.json");
    if index.is_file() {
        let text = crate::io::read_text(&index, crate::io::MAX_DOC_BYTES)?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|source| Error::Json {
                path: index.clone(),
                source,
            })?;
        let map = value
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| Error::Config {
                path: index.clone(),
                field: "weight_map".into(),
                reason: "missing or not an object".into(),
            })?;
        let mut shards: Vec<String> = map
            .values()
            .map(|v| {
                v.as_str().map(str::to_owned).ok_or_else(|| Error::Config {
                    path: index.clone(),
                    field: "weight_map".into(),
                    reason: format!("shard name {v} is not a string"),
                })
            })
            .collect::<Result<_>>()?;
        shards.sort();
        shards.dedup();
        let mut files = Vec::with_capacity(shards.len());
        for s in shards {
            let p = dir.join(&s);
            if !p.is_file() {
                return Err(Error::Input(format!(
                    "{}: shard `{s}` listed in the index does not exist",
                    index.display()
                )));
            }
            files.push(p);
        }
        return Ok(files);
    }
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    // Shards without an index: accept `model-*.safetensors` in name order.
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().unwrap_or_default().to_string_lossy();
            n.starts_with("model-") && n.ends_with(".safetensors")
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::NoWeights {
            dir: dir.to_path_buf(),
        });
    }
    Ok(files)
}

/// Reads a safetensors header (validating offsets against the file size).
pub fn read_inventory(file: &Path) -> Result<Vec<(String, TensorInfo)>> {
    let f = std::fs::File::open(file).map_err(|e| Error::io(file, e))?;
    // SAFETY: read-only mapping of a file we do not modify.
    let mmap = unsafe { memmap2::Mmap::map(&f) }.map_err(|e| Error::io(file, e))?;
    let st = SafeTensors::deserialize(&mmap).map_err(|e| Error::CorruptSafetensors {
        path: file.to_path_buf(),
        reason: e.to_string(),
    })?;
    let base = mmap.as_ptr() as usize;
    Ok(st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            (
                name,
                TensorInfo {
                    file: file.to_path_buf(),
                    shape: view.shape().to_vec(),
                    dtype: format!("{:?}", view.dtype()),
                    // the view's data lies inside the mapping
                    offset: (view.data().as_ptr() as usize - base) as u64,
                    len: view.data().len() as u64,
                },
            )
        })
        .collect())
}

/// Every tensor the index names must be in the shard it names.
fn check_index_consistency(dir: &Path, tensors: &BTreeMap<String, TensorInfo>) -> Result<()> {
    let index = dir.join("model.safetensors.index.json");
    if !index.is_file() {
        return Ok(());
    }
    let text = crate::io::read_text(&index, crate::io::MAX_DOC_BYTES)?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|source| Error::Json {
        path: index.clone(),
        source,
    })?;
    if let Some(map) = value.get("weight_map").and_then(|m| m.as_object()) {
        for (name, shard) in map {
            let shard = shard.as_str().unwrap_or_default();
            let in_shard = tensors
                .get(name)
                .map(|t| t.file.file_name().map(|f| f == shard).unwrap_or(false))
                .unwrap_or(false);
            if !in_shard {
                return Err(Error::IndexMismatch {
                    path: index.clone(),
                    tensor: name.clone(),
                    shard: shard.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// Every tensor name of a Qwen3-MoE checkpoint with its shape (sorted, so that
/// validation reports the same first problem every time), as HF transformers
/// names them (per-expert layout).
pub fn expected_tensors(cfg: &Qwen3MoeConfig) -> BTreeMap<String, Vec<usize>> {
    let h = cfg.hidden_size;
    let q = cfg.num_attention_heads * cfg.head_dim;
    let kv = cfg.num_key_value_heads * cfg.head_dim;
    let mut t = BTreeMap::new();
    t.insert(
        "model.embed_tokens.weight".to_string(),
        vec![cfg.vocab_size, h],
    );
    t.insert("model.norm.weight".to_string(), vec![h]);
    if !cfg.tie_word_embeddings {
        t.insert("lm_head.weight".to_string(), vec![cfg.vocab_size, h]);
    }
    for l in 0..cfg.num_hidden_layers {
        let p = format!("model.layers.{l}");
        t.insert(format!("{p}.input_layernorm.weight"), vec![h]);
        t.insert(format!("{p}.post_attention_layernorm.weight"), vec![h]);
        t.insert(format!("{p}.self_attn.q_proj.weight"), vec![q, h]);
        t.insert(format!("{p}.self_attn.k_proj.weight"), vec![kv, h]);
        t.insert(format!("{p}.self_attn.v_proj.weight"), vec![kv, h]);
        t.insert(format!("{p}.self_attn.o_proj.weight"), vec![h, q]);
        if cfg.attention_bias {
            t.insert(format!("{p}.self_attn.q_proj.bias"), vec![q]);
            t.insert(format!("{p}.self_attn.k_proj.bias"), vec![kv]);
            t.insert(format!("{p}.self_attn.v_proj.bias"), vec![kv]);
            t.insert(format!("{p}.self_attn.o_proj.bias"), vec![h]);
        }
        t.insert(format!("{p}.self_attn.q_norm.weight"), vec![cfg.head_dim]);
        t.insert(format!("{p}.self_attn.k_norm.weight"), vec![cfg.head_dim]);
        if cfg.is_moe_layer(l) {
            let i = cfg.moe_intermediate_size;
            t.insert(format!("{p}.mlp.gate.weight"), vec![cfg.num_experts, h]);
            for e in 0..cfg.num_experts {
                t.insert(format!("{p}.mlp.experts.{e}.gate_proj.weight"), vec![i, h]);
                t.insert(format!("{p}.mlp.experts.{e}.up_proj.weight"), vec![i, h]);
                t.insert(format!("{p}.mlp.experts.{e}.down_proj.weight"), vec![h, i]);
            }
        } else {
            let i = cfg.intermediate_size;
            t.insert(format!("{p}.mlp.gate_proj.weight"), vec![i, h]);
            t.insert(format!("{p}.mlp.up_proj.weight"), vec![i, h]);
            t.insert(format!("{p}.mlp.down_proj.weight"), vec![h, i]);
        }
    }
    t
}
