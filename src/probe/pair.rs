//! A base / fine-tuned model pair probed on identical inputs: loading with
//! architecture and tokenizer checks, and attention captures cached on disk
//! under a key of (model files, token ids, layers, statistics), so that a
//! second run with other reporting options does not run the models again.

use std::hash::Hasher;
use std::path::{Path, PathBuf};

use candle_core::Device;

use super::per_example::{capture_attention, AttnCapture, Queries};
use super::routing_capture::{capture_routing, RoutingCapture};
use crate::error::{Error, Result};
use crate::model::{Checkpoint, Qwen3Moe, StreamBlocks, WeightsMode};
use crate::stats::attn::AttnStatsSpec;
use crate::tasks::probe_inputs::ProbeInput;

/// A loaded model with what identifies it.
pub struct Loaded {
    pub dir: PathBuf,
    pub model: Qwen3Moe,
    pub ckpt: Checkpoint,
    /// Fingerprint of config.json and the weight files.
    pub fingerprint: u64,
}

/// 64-bit FNV-1a, stable across platforms and releases (cache keys).
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Weight files up to this size are hashed whole; larger ones by size,
/// modification time and their first and last MiB.
const HASH_WHOLE: u64 = 256 << 20;

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

/// Opens a model directory on `device`, its weights held as `weights` says.
pub fn load(dir: &Path, device: &Device, weights: WeightsMode) -> Result<Loaded> {
    let ckpt = Checkpoint::open(dir)?;
    let model = Qwen3Moe::open(ckpt.clone(), device, weights)?;
    let fingerprint = fingerprint(&ckpt)?;
    Ok(Loaded {
        dir: dir.to_path_buf(),
        model,
        ckpt,
        fingerprint,
    })
}

/// Refuses a pair whose architectures or tokenizers differ (paired statistics
/// need the same layers, heads and experts, and the same token ids).
pub fn check_pair(base: &Loaded, acc: &Loaded) -> Result<()> {
    let (a, b) = (&base.ckpt.config, &acc.ckpt.config);
    let fields = [
        (
            "num_hidden_layers",
            a.num_hidden_layers,
            b.num_hidden_layers,
        ),
        (
            "num_attention_heads",
            a.num_attention_heads,
            b.num_attention_heads,
        ),
        (
            "num_key_value_heads",
            a.num_key_value_heads,
            b.num_key_value_heads,
        ),
        ("head_dim", a.head_dim, b.head_dim),
        ("num_experts", a.num_experts, b.num_experts),
        (
            "num_experts_per_tok",
            a.num_experts_per_tok,
            b.num_experts_per_tok,
        ),
        ("vocab_size", a.vocab_size, b.vocab_size),
    ];
    let diff: Vec<String> = fields
        .iter()
        .filter(|(_, x, y)| x != y)
        .map(|(n, x, y)| format!("{n}: {x} vs {y}"))
        .collect();
    if !diff.is_empty() {
        return Err(Error::Input(format!(
            "{} and {} have different architectures ({}); a paired comparison needs the same layers, heads and experts",
            base.dir.display(),
            acc.dir.display(),
            diff.join(", ")
        )));
    }
    let (ta, tb) = (base.ckpt.tokenizer_path(), acc.ckpt.tokenizer_path());
    if let (Some(ta), Some(tb)) = (&ta, &tb) {
        let va = std::fs::read(ta).map_err(|e| Error::io(ta, e))?;
        let vb = std::fs::read(tb).map_err(|e| Error::io(tb, e))?;
        if va != vb {
            return Err(Error::Input(format!(
                "{} and {} differ: the pair must share one tokenizer so that both see identical token ids",
                ta.display(),
                tb.display()
            )));
        }
    }
    Ok(())
}

/// The layers that write nothing to the residual stream in both models
/// (`Qwen3Moe::silent_layers`): a change of their attention or routing
/// cannot change what either model computes.
pub fn silent_in_both(base: &Loaded, acc: &Loaded) -> Result<Vec<usize>> {
    let b = base.model.silent_layers()?;
    let a = acc.model.silent_layers()?;
    Ok(b.into_iter().filter(|l| a.contains(l)).collect())
}

/// The cache key of one model's capture on `inputs`.
pub fn capture_key(
    m: &Loaded,
    inputs: &[ProbeInput],
    layers: &[usize],
    spec: &AttnStatsSpec,
    queries: Queries,
    blocks: StreamBlocks,
) -> u64 {
    let mut h = Fnv::default();
    h.write(b"attn-v1");
    h.write_u64(m.fingerprint);
    hash_inputs(&mut h, inputs);
    for &l in layers {
        h.write_usize(l);
    }
    h.write(
        serde_json::to_string(&(spec, queries))
            .expect("spec serialises")
            .as_bytes(),
    );
    h.write_usize(blocks.block_q);
    h.write_usize(blocks.block_k);
    h.finish()
}

/// The cache key of one model's routing capture on `inputs`.
pub fn routing_key(m: &Loaded, inputs: &[ProbeInput], layers: &[usize]) -> u64 {
    let mut h = Fnv::default();
    h.write(b"routing-v1");
    h.write_u64(m.fingerprint);
    hash_inputs(&mut h, inputs);
    for &l in layers {
        h.write_usize(l);
    }
    h.finish()
}

/// The cache file name of an attention capture with `key`.
pub fn attn_cache_file(key: u64) -> String {
    format!("attn-{key:016x}.safetensors")
}

/// The cache file name of a routing capture with `key`.
pub fn routing_cache_file(key: u64) -> String {
    format!("routing-{key:016x}.safetensors")
}

/// Where a capture came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cache,
    Computed,
}

/// A cached computation: read `path` when present, readable and `fits`
/// (otherwise recompute with a warning), else compute and store it.
fn cached<C>(
    path: Option<PathBuf>,
    load: impl Fn(&Path) -> Result<C>,
    fits: impl Fn(&C) -> bool,
    save: impl Fn(&C, &Path) -> Result<()>,
    compute: impl FnOnce() -> Result<C>,
) -> Result<(C, Source)> {
    if let Some(p) = &path {
        if p.is_file() {
            match load(p) {
                Ok(c) if fits(&c) => return Ok((c, Source::Cache)),
                Ok(_) => tracing::warn!(
                    "{}: cached capture does not match the request; recomputing",
                    p.display()
                ),
                Err(e) => tracing::warn!("{}: unreadable cache ({e}); recomputing", p.display()),
            }
        }
    }
    let c = compute()?;
    if let Some(p) = &path {
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
        }
        save(&c, p)?;
    }
    Ok((c, Source::Computed))
}

fn hash_inputs(h: &mut Fnv, inputs: &[ProbeInput]) {
    for x in inputs {
        h.write(x.id.as_bytes());
        h.write_usize(x.question_start);
        h.write_usize(x.ids.len());
        for &t in &x.ids {
            h.write_u32(t);
        }
    }
}

/// The attention capture of `m` on `inputs`, cached in `cache_dir`.
#[allow(clippy::too_many_arguments)]
pub fn cached_capture(
    m: &Loaded,
    inputs: &[ProbeInput],
    layers: &[usize],
    spec: &AttnStatsSpec,
    queries: Queries,
    blocks: StreamBlocks,
    cache_dir: Option<&Path>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(AttnCapture, Source)> {
    let key = capture_key(m, inputs, layers, spec, queries, blocks);
    cached(
        cache_dir.map(|d| d.join(attn_cache_file(key))),
        AttnCapture::load,
        |c| c.examples.len() == inputs.len() && c.layers == layers,
        |c, p| c.save(p),
        || {
            capture_attention(
                &m.model,
                &m.dir.display().to_string(),
                inputs,
                layers,
                spec,
                queries,
                blocks,
                progress,
            )
        },
    )
}

/// The routing capture of `m` on `inputs`, cached in `cache_dir`.
pub fn cached_routing(
    m: &Loaded,
    inputs: &[ProbeInput],
    layers: &[usize],
    cache_dir: Option<&Path>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(RoutingCapture, Source)> {
    let key = routing_key(m, inputs, layers);
    cached(
        cache_dir.map(|d| d.join(routing_cache_file(key))),
        RoutingCapture::load,
        |c| c.examples.len() == inputs.len() && c.layers == layers,
        |c, p| c.save(p),
        || {
            capture_routing(
                &m.model,
                &m.dir.display().to_string(),
                inputs,
                layers,
                progress,
            )
        },
    )
}
