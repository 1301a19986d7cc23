//! Streamed weights: a checkpoint read layer by layer as the forward pass
//! reaches it, so that peak memory is about one layer, not the model.
//!
//! The resident path converts every weight to f32 at load: 4 bytes per
//! parameter, 122 GB for Qwen3-30B-A3B. Here the weights stay in the
//! checkpoint's files until used:
//! - a decoder layer's tensors are read (`pread`, not mapped: mapped pages
//!   count in RSS) into buffers in their stored dtype while the layer before
//!   it computes, on a background thread; the layer is built from them
//!   through a VarBuilder whose paths are the checkpoint's tensor names, so
//!   every conversion is the one the resident loader makes and the numbers
//!   are bit-identical;
//! - a MoE expert is converted to the compute dtype only when a token routes
//!   to it ([`super::moe::Experts::OnDemand`]);
//! - the embedding reads only the rows of the input ids, and `lm_head` is read
//!   only when logits are asked for;
//! - a layer is released when the pass leaves it, so at most two layers are
//!   held at once: the one computing and the one being read.
//!
//! [`WeightIo`] counts bytes read, read time and the time the pass waited for
//! a layer (the part of the I/O the prefetch did not hide).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use super::config::Qwen3MoeConfig;
use super::decoder::DecoderLayer;
use super::linear::Linear;
use super::loader::{Checkpoint, TensorInfo};
use super::norm::RmsNorm;
use crate::error::{Error, Result};

/// The I/O of a streamed model so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct WeightIo {
    /// Bytes read from the checkpoint's files.
    pub bytes_read: u64,
    /// Seconds spent reading them (on the reader thread, overlapping compute).
    pub read_seconds: f64,
    /// Seconds the forward pass waited for a layer that was not read yet.
    pub wait_seconds: f64,
    /// Decoder layers read.
    pub layers_read: u64,
}

impl WeightIo {
    /// Read throughput in bytes per second of reading.
    pub fn read_throughput(&self) -> f64 {
        if self.read_seconds > 0.0 {
            self.bytes_read as f64 / self.read_seconds
        } else {
            0.0
        }
    }
}

/// One tensor's bytes as stored.
struct RawTensor {
    dtype: DType,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

/// Some tensors of a checkpoint in their stored dtype, as a VarBuilder
/// backend: each `get` converts one tensor to the requested dtype, exactly as
/// the memory-mapped loader does. While it lives it counts as one layer held.
pub struct RawTensors {
    tensors: HashMap<String, RawTensor>,
    held: Option<Arc<HeldCounter>>,
}

impl Drop for RawTensors {
    fn drop(&mut self) {
        if let Some(h) = &self.held {
            h.now.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl RawTensors {
    fn tensor(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        let raw = self.tensors.get(name).ok_or_else(|| {
            candle_core::Error::CannotFindTensor {
                path: name.to_string(),
            }
            .bt()
        })?;
        Tensor::from_raw_buffer(&raw.bytes, raw.dtype, &raw.shape, dev)?.to_dtype(dtype)
    }

    /// A VarBuilder over these tensors, converting to `dtype` on `device`.
    pub fn into_var_builder(self, dtype: DType, device: &Device) -> VarBuilder<'static> {
        VarBuilder::from_backend(Box::new(self), dtype, device.clone())
    }
}

impl SimpleBackend for RawTensors {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let t = self.tensor(name, dtype, dev)?;
        if t.shape() != &s {
            return Err(candle_core::Error::UnexpectedShape {
                msg: format!("shape mismatch for {name}"),
                expected: s,
                got: t.shape().clone(),
            }
            .bt());
        }
        Ok(t)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.tensor(name, dtype, dev)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }
}

/// Layers held at once: now and the most so far.
#[derive(Debug, Default)]
struct HeldCounter {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl HeldCounter {
    fn enter(&self) {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
    }
}

/// A validated checkpoint whose weights are read when used.
pub struct WeightStream {
    ckpt: Checkpoint,
    files: HashMap<PathBuf, File>,
    /// Tensor names of each decoder layer.
    layer_tensors: Vec<Vec<String>>,
    io: Mutex<WeightIo>,
    held: Arc<HeldCounter>,
}

impl std::fmt::Debug for WeightStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeightStream")
            .field("dir", &self.ckpt.dir)
            .field("files", &self.files.len())
            .finish()
    }
}

impl WeightStream {
    /// Opens every shard of a validated checkpoint (nothing is read yet).
    pub fn open(ckpt: Checkpoint) -> Result<Self> {
        let mut files = HashMap::new();
        for f in &ckpt.files {
            let file = File::open(f).map_err(|e| Error::io(f, e))?;
            files.insert(f.clone(), file);
        }
        let n = ckpt.config.num_hidden_layers;
        let mut layer_tensors: Vec<Vec<String>> = vec![Vec::new(); n];
        for name in ckpt.tensors.keys() {
            if let Some(rest) = name.strip_prefix("model.layers.") {
                let l = rest.split('.').next().and_then(|s| s.parse::<usize>().ok());
                if let Some(l) = l.filter(|&l| l < n) {
                    layer_tensors[l].push(name.clone());
                }
            }
        }
        Ok(WeightStream {
            ckpt,
            files,
            layer_tensors,
            io: Mutex::new(WeightIo::default()),
            held: Arc::default(),
        })
    }

    pub fn config(&self) -> &Qwen3MoeConfig {
        &self.ckpt.config
    }

    /// The I/O so far.
    pub fn io(&self) -> WeightIo {
        *self.io.lock().expect("io counters")
    }

    /// The most decoder layers held at once so far (read or built).
    pub fn max_layers_held(&self) -> usize {
        self.held.max.load(Ordering::SeqCst)
    }

    fn info(&self, name: &str) -> Result<&TensorInfo> {
        self.ckpt.tensors.get(name).ok_or_else(|| {
            Error::Input(format!(
                "{}: the checkpoint has no tensor `{name}`",
                self.ckpt.dir.display()
            ))
        })
    }

    /// `len` bytes of `name`'s data from `offset` (relative to the tensor).
    fn read_bytes(
        &self,
        name: &str,
        info: &TensorInfo,
        offset: u64,
        len: usize,
    ) -> Result<Vec<u8>> {
        let file = &self.files[&info.file];
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, info.offset + offset)
            .map_err(|e| read_error(&info.file, name, e))?;
        Ok(buf)
    }

    /// Reads `names` whole, counting the I/O (and, for a `layer`, the layers
    /// held from the moment its buffers are allocated).
    fn read_tensors(&self, names: &[String], layer: bool) -> Result<RawTensors> {
        let start = Instant::now();
        let held = layer.then(|| {
            self.held.enter();
            self.held.clone()
        });
        let mut raw = RawTensors {
            tensors: HashMap::with_capacity(names.len()),
            held,
        };
        let mut bytes = 0u64;
        for name in names {
            let info = self.info(name)?;
            let dtype = info.candle_dtype(name)?;
            let data = self.read_bytes(name, info, 0, info.len as usize)?;
            bytes += info.len;
            raw.tensors.insert(
                name.clone(),
                RawTensor {
                    dtype,
                    shape: info.shape.clone(),
                    bytes: data,
                },
            );
        }
        let mut io = self.io.lock().expect("io counters");
        io.bytes_read += bytes;
        io.read_seconds += start.elapsed().as_secs_f64();
        io.layers_read += u64::from(layer);
        Ok(raw)
    }

    /// Layer `l`'s tensors as stored.
    pub fn read_layer(&self, l: usize) -> Result<RawTensors> {
        self.read_tensors(&self.layer_tensors[l], true)
    }

    /// Builds layer `l` from its tensors (experts on demand).
    pub fn build_layer(&self, l: usize, raw: RawTensors, device: &Device) -> Result<DecoderLayer> {
        let vb = raw.into_var_builder(DType::F32, device);
        DecoderLayer::load_on_demand(&self.ckpt.config, l, vb.pp("model.layers").pp(l))
    }

    /// Reads layers `layers` in order on a background thread, one ahead of
    /// the consumer ([`LayerReader::next_layer`]).
    pub fn read_ahead(self: &Arc<Self>, layers: std::ops::Range<usize>) -> Result<LayerReader> {
        // a rendezvous channel: the reader hands layer l+1 over only when the
        // consumer asks, so it holds at most one layer besides the consumer's
        let (tx, rx) = sync_channel::<Result<RawTensors>>(0);
        let me = Arc::clone(self);
        let range = layers.clone();
        let handle = std::thread::Builder::new()
            .name("weight-reader".into())
            .spawn(move || {
                for l in range {
                    let r = me.read_layer(l);
                    let failed = r.is_err();
                    if tx.send(r).is_err() || failed {
                        break;
                    }
                }
            })
            .map_err(|e| Error::Input(format!("cannot start the weight reader thread: {e}")))?;
        Ok(LayerReader {
            stream: Arc::clone(self),
            rx: Some(rx),
            handle: Some(handle),
            next: layers.start,
            end: layers.end,
        })
    }

    /// The embeddings [t, hidden] of `ids` (f32), reading only their rows.
    pub fn embed_rows(&self, ids: &[u32], device: &Device) -> Result<Tensor> {
        let name = "model.embed_tokens.weight";
        let info = self.info(name)?;
        let dtype = info.candle_dtype(name)?;
        let (vocab, hidden) = (info.shape[0], info.shape[1]);
        let row = hidden * dtype.size_in_bytes();
        let start = Instant::now();
        let mut rows: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
        for &id in ids {
            if id as usize >= vocab {
                return Err(Error::OutOfRange {
                    what: "token id".into(),
                    value: id.to_string(),
                    valid: format!("0..{vocab} (rows of {name})"),
                });
            }
            if let std::collections::btree_map::Entry::Vacant(v) = rows.entry(id) {
                v.insert(self.read_bytes(name, info, id as u64 * row as u64, row)?);
            }
        }
        let mut data = Vec::with_capacity(ids.len() * row);
        for id in ids {
            data.extend_from_slice(&rows[id]);
        }
        let mut io = self.io.lock().expect("io counters");
        io.bytes_read += (rows.len() * row) as u64;
        io.read_seconds += start.elapsed().as_secs_f64();
        drop(io);
        Ok(
            Tensor::from_raw_buffer(&data, dtype, &[ids.len(), hidden], device)?
                .to_dtype(DType::F32)?,
        )
    }

    /// The final norm (read now; it is small).
    pub fn final_norm(&self, device: &Device) -> Result<RmsNorm> {
        let names = ["model.norm.weight".to_string()];
        let vb = self
            .read_tensors(&names, false)?
            .into_var_builder(DType::F32, device);
        RmsNorm::load(
            self.ckpt.config.hidden_size,
            self.ckpt.config.rms_norm_eps,
            vb.pp("model.norm"),
        )
    }

    /// The LM head (`lm_head.weight`, or the embedding when tied), read now.
    pub fn lm_head(&self, device: &Device) -> Result<Linear> {
        let cfg = &self.ckpt.config;
        let name = if cfg.tie_word_embeddings {
            "model.embed_tokens.weight"
        } else {
            "lm_head.weight"
        };
        let vb = self
            .read_tensors(&[name.to_string()], false)?
            .into_var_builder(DType::F32, device);
        Ok(Linear {
            weight: vb.get((cfg.vocab_size, cfg.hidden_size), name)?,
            bias: None,
        })
    }

    /// Whether layer `l` can change the residual stream: some element of its
    /// attention output projection or of a down projection is not ±0
    /// (the rule of [`DecoderLayer::writes_residual`], on the stored bytes).
    /// Reads in chunks and stops at the first nonzero element, so a layer
    /// that writes is usually settled by its first page.
    pub fn writes_residual(&self, l: usize) -> Result<bool> {
        let cfg = &self.ckpt.config;
        let p = format!("model.layers.{l}");
        let mut names = vec![format!("{p}.self_attn.o_proj.weight")];
        if cfg.attention_bias {
            names.push(format!("{p}.self_attn.o_proj.bias"));
        }
        if cfg.is_moe_layer(l) {
            names.extend(
                (0..cfg.num_experts).map(|e| format!("{p}.mlp.experts.{e}.down_proj.weight")),
            );
        } else {
            names.push(format!("{p}.mlp.down_proj.weight"));
        }
        const CHUNK: u64 = 1 << 20;
        for name in &names {
            let info = self.info(name)?;
            let width = info.candle_dtype(name)?.size_in_bytes();
            let mut at = 0;
            while at < info.len {
                let n = (info.len - at).min(CHUNK) as usize;
                let bytes = self.read_bytes(name, info, at, n)?;
                if any_nonzero(&bytes, width) {
                    return Ok(true);
                }
                at += n as u64;
            }
        }
        Ok(false)
    }
}

/// Whether some little-endian float of `width` bytes in `bytes` is not ±0
/// (NaN counts as nonzero).
fn any_nonzero(bytes: &[u8], width: usize) -> bool {
    bytes.chunks_exact(width).any(|e| {
        // every byte but the sign bit of the most significant one
        let (last, rest) = e.split_last().expect("width ≥ 1");
        (last & 0x7f) != 0 || rest.iter().any(|&b| b != 0)
    })
}

fn read_error(file: &Path, tensor: &str, e: std::io::Error) -> Error {
    Error::CorruptSafetensors {
        path: file.to_path_buf(),
        reason: format!("reading tensor `{tensor}`: {e} (was the file truncated or changed after it was opened?)"),
    }
}

/// Layers read one ahead on a background thread ([`WeightStream::read_ahead`]).
pub struct LayerReader {
    stream: Arc<WeightStream>,
    rx: Option<Receiver<Result<RawTensors>>>,
    handle: Option<JoinHandle<()>>,
    next: usize,
    end: usize,
}

impl LayerReader {
    /// The next layer's number and tensors, waiting for the reader if it is
    /// not done (the wait is counted in [`WeightIo::wait_seconds`]).
    pub fn next_layer(&mut self) -> Result<(usize, RawTensors)> {
        if self.next >= self.end {
            return Err(Error::Input("no layer left to read".into()));
        }
        let start = Instant::now();
        let got = self
            .rx
            .as_ref()
            .expect("receiver lives until drop")
            .recv()
            .map_err(|_| {
                Error::Input(format!(
                    "the weight reader stopped before layer {}",
                    self.next
                ))
            })?;
        self.stream.io.lock().expect("io counters").wait_seconds += start.elapsed().as_secs_f64();
        let l = self.next;
        self.next += 1;
        Ok((l, got?))
    }
}

impl Drop for LayerReader {
    fn drop(&mut self) {
        // a reader blocked in send sees the closed channel and stops
        self.rx.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_test_ignores_the_sign_only() {
        let bf = |v: f32| half::bf16::from_f32(v).to_le_bytes().to_vec();
        assert!(!any_nonzero(&[bf(0.0), bf(-0.0)].concat(), 2));
        assert!(any_nonzero(&[bf(0.0), bf(1e-30)].concat(), 2));
        assert!(any_nonzero(&bf(f32::NAN), 2));
        assert!(!any_nonzero(&(-0.0f32).to_le_bytes(), 4));
        assert!(any_nonzero(&f32::MIN_POSITIVE.to_le_bytes(), 4));
    }
}
