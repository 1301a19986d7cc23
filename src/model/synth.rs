//! Seeded checkpoints of any shape, written shard by shard (`acc-probe
//! random-model`): "can this machine probe a 30B model?" answered before a
//! 61 GB download.
//!
//! - **A new checkpoint** has one shard per decoder layer and one for the
//!   embeddings, final norm and LM head, with `model.safetensors.index.json`,
//!   `config.json` (transformers 4.x keys) and, optionally, tokenizer files.
//!   Each tensor's values depend only on the seed and its name, so any shard
//!   can be rewritten alone. Weights are approximately Normal(0, std) (a sum
//!   of four uniforms), norm weights 1.
//! - **A variant** (`like`) copies another checkpoint and regenerates the
//!   tensors of the named layers with a seed of its own. Shards holding none
//!   of them are hard links to the original's (a symlink across file
//!   systems); shards holding some are rewritten with the others' bytes
//!   copied, so the two models are identical outside the named layers.
//!
//! Nothing is held whole: values are generated and written in windows. The
//! directory is written under a temporary name beside `out` and renamed when
//! complete, so an interrupted run leaves nothing that looks like a
//! checkpoint; the free space is checked first.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use candle_core::DType;
use rayon::prelude::*;
use serde::Serialize;

use super::config::Qwen3MoeConfig;
use super::loader::{expected_tensors, Checkpoint, TensorInfo};
use crate::error::{Error, Result};
use crate::io::write_atomic;

/// Named shapes for `--shape`.
pub const SHAPES: [&str; 2] = ["qwen3-30b-a3b", "bench"];

/// The config of a named shape: `qwen3-30b-a3b` is Qwen3-30B-A3B's
/// (48 layers, 32 query / 4 KV heads × 128, 128 experts top-8, vocabulary
/// 151,936); `bench` is the benchmark model.
pub fn shape_config(name: &str) -> Option<Qwen3MoeConfig> {
    match name {
        "qwen3-30b-a3b" => Some(Qwen3MoeConfig {
            vocab_size: 151_936,
            hidden_size: 2048,
            intermediate_size: 6144,
            num_hidden_layers: 48,
            num_attention_heads: 32,
            num_key_value_heads: 4,
            head_dim: 128,
            moe_intermediate_size: 768,
            num_experts: 128,
            num_experts_per_tok: 8,
            norm_topk_prob: true,
            decoder_sparse_step: 1,
            mlp_only_layers: vec![],
            rope_theta: 1e6,
            rms_norm_eps: 1e-6,
            max_position_embeddings: 40_960,
            tie_word_embeddings: false,
            attention_bias: false,
            router_aux_loss_coef: 0.001,
        }),
        "bench" => Some(bench_config()),
        _ => None,
    }
}

/// How values are drawn.
#[derive(Debug, Clone, Copy)]
pub struct SynthOptions {
    /// Stored dtype: BF16, F16 or F32.
    pub dtype: DType,
    pub seed: u64,
    /// Standard deviation of the weights (norm weights are 1).
    pub std: f32,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            dtype: DType::BF16,
            seed: 0,
            std: 0.02,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct SynthReport {
    pub out: PathBuf,
    pub shards: usize,
    /// Shards written (the rest of a variant's are links).
    pub shards_written: usize,
    pub shards_linked: usize,
    pub parameters: u64,
    /// Bytes of tensor data written (links excluded).
    pub bytes_written: u64,
    /// Bytes of tensor data in the checkpoint (links included).
    pub checkpoint_bytes: u64,
    pub seconds: f64,
}

fn dtype_name(d: DType) -> Result<&'static str> {
    match d {
        DType::BF16 => Ok("BF16"),
        DType::F16 => Ok("F16"),
        DType::F32 => Ok("F32"),
        other => Err(Error::Input(format!(
            "dtype {other:?} is not a weight dtype (expected bf16, f16 or f32)"
        ))),
    }
}

/// splitmix64: a seed mixer whose outputs are well spread for consecutive inputs.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The seed of one tensor: the run's seed, the tensor's name, and whether it
/// belongs to a variant (so that a variant never repeats its original).
fn tensor_seed(seed: u64, name: &str, variant: bool) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in name.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    mix(mix(seed ^ h) ^ u64::from(variant).wrapping_mul(0xa5a5_a5a5_5a5a_5a5a))
}

fn is_norm(name: &str) -> bool {
    name.ends_with("norm.weight")
}

/// Elements generated per seed block (the unit of parallel work).
const BLOCK: usize = 1 << 16;
/// Bytes generated before each write.
const WINDOW: usize = 64 << 20;

/// Writes the values of tensor `name` (elements `start..start + n`) as
/// `dtype` bytes into `out`; `start` is a multiple of [`BLOCK`].
fn fill(out: &mut [u8], name: &str, start: usize, dtype: DType, o: &SynthOptions, variant: bool) {
    let width = dtype.size_in_bytes();
    let seed = tensor_seed(o.seed, name, variant);
    let norm = is_norm(name);
    let scale = o.std * 3f32.sqrt();
    out.par_chunks_mut(BLOCK * width)
        .enumerate()
        .for_each(|(b, chunk)| {
            let block = (start / BLOCK + b) as u64;
            let mut state = mix(seed ^ block.wrapping_mul(0x2545_f491_4f6c_dd1d));
            for e in chunk.chunks_exact_mut(width) {
                let v = if norm {
                    1.0
                } else {
                    state = mix(state);
                    // Irwin–Hall of four 16-bit uniforms: mean 2, variance 1/3
                    let u: f32 = (0..4)
                        .map(|k| ((state >> (16 * k)) & 0xffff) as f32 / 65536.0)
                        .sum();
                    (u - 2.0) * scale
                };
                match dtype {
                    DType::BF16 => e.copy_from_slice(&half::bf16::from_f32(v).to_le_bytes()),
                    DType::F16 => e.copy_from_slice(&half::f16::from_f32(v).to_le_bytes()),
                    _ => e.copy_from_slice(&v.to_le_bytes()),
                }
            }
        });
}

/// One tensor of a shard being written: generated, or copied from a file.
struct Entry {
    name: String,
    dtype: DType,
    shape: Vec<usize>,
    source: Source,
}

enum Source {
    Generate { variant: bool },
    Copy(TensorInfo),
}

impl Entry {
    fn bytes(&self) -> u64 {
        self.shape.iter().product::<usize>() as u64 * self.dtype.size_in_bytes() as u64
    }
}

/// The safetensors header of `entries`, in order, padded to 8 bytes.
fn header(entries: &[Entry]) -> Result<Vec<u8>> {
    let mut map = serde_json::Map::new();
    map.insert("__metadata__".into(), serde_json::json!({"format": "pt"}));
    let mut at = 0u64;
    for e in entries {
        let end = at + e.bytes();
        map.insert(
            e.name.clone(),
            serde_json::json!({"dtype": dtype_name(e.dtype)?, "shape": e.shape, "data_offsets": [at, end]}),
        );
        at = end;
    }
    let mut json = serde_json::to_vec(&map).expect("header serialises");
    while !json.len().is_multiple_of(8) {
        json.push(b' ');
    }
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend(json);
    Ok(out)
}

/// Writes one shard; `progress` gets the bytes of each window written.
fn write_shard(
    path: &Path,
    entries: &[Entry],
    o: &SynthOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<()> {
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    w.write_all(&header(entries)?)
        .map_err(|e| Error::io(path, e))?;
    let mut buf = Vec::new();
    for e in entries {
        let source = match &e.source {
            Source::Copy(info) => {
                Some(File::open(&info.file).map_err(|err| Error::io(&info.file, err))?)
            }
            Source::Generate { .. } => None,
        };
        let width = e.dtype.size_in_bytes();
        let n = e.shape.iter().product::<usize>();
        let per = (WINDOW / width / BLOCK).max(1) * BLOCK;
        let mut start = 0;
        while start < n {
            let k = per.min(n - start);
            buf.resize(k * width, 0);
            match &e.source {
                Source::Generate { variant } => {
                    fill(&mut buf, &e.name, start, e.dtype, o, *variant)
                }
                Source::Copy(info) => {
                    let f = source.as_ref().expect("opened above");
                    f.read_exact_at(&mut buf, info.offset + (start * width) as u64)
                        .map_err(|err| Error::io(&info.file, err))?;
                }
            }
            w.write_all(&buf).map_err(|err| Error::io(path, err))?;
            progress(buf.len() as u64);
            start += k;
        }
    }
    let file = w
        .into_inner()
        .map_err(|e| Error::io(path, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(path, e))?;
    Ok(())
}

/// Free bytes for an unprivileged writer on the file system holding `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `s` a writable statvfs.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut s) };
    (rc == 0).then(|| s.f_bavail as u64 * s.f_frsize as u64)
}

/// A directory being written beside `out`, renamed to `out` by `commit`
/// and removed if dropped before.
struct Staging {
    tmp: PathBuf,
    out: PathBuf,
    done: bool,
}

impl Staging {
    fn new(out: &Path, need: u64) -> Result<Self> {
        if out.exists() {
            return Err(Error::Input(format!(
                "{} exists: remove it or choose another --out",
                out.display()
            )));
        }
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
        if let Some(free) = free_bytes(&parent) {
            // room for the tensors plus 1% and 64 MiB for headers and metadata
            let want = need + need / 100 + (64 << 20);
            if want > free {
                return Err(Error::Input(format!(
                    "{} needs {} of disk space but the file system holding {} has {} free",
                    out.display(),
                    fmt_gb(want),
                    parent.display(),
                    fmt_gb(free)
                )));
            }
        }
        let name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        let tmp = parent.join(format!(".{name}.partial-{}", std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        Ok(Staging {
            tmp,
            out: out.to_path_buf(),
            done: false,
        })
    }

    fn commit(mut self) -> Result<()> {
        std::fs::rename(&self.tmp, &self.out).map_err(|e| Error::io(&self.out, e))?;
        self.done = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

fn fmt_gb(b: u64) -> String {
    format!("{:.1} GB", b as f64 / 1e9)
}

/// The layer a tensor name belongs to (`model.layers.{l}.…`).
fn layer_of(name: &str) -> Option<usize> {
    name.strip_prefix("model.layers.")?
        .split('.')
        .next()?
        .parse()
        .ok()
}

/// Tokenizer and generation files copied into a new checkpoint.
const TOKENIZER_FILES: [&str; 6] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "generation_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "vocab.json",
];

/// Writes a new checkpoint of `cfg` at `out`; tokenizer files come from
/// `tokenizer_from` (its tokens must fit `cfg.vocab_size`).
pub fn write_random(
    out: &Path,
    cfg: &Qwen3MoeConfig,
    o: &SynthOptions,
    tokenizer_from: Option<&Path>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<SynthReport> {
    dtype_name(o.dtype)?;
    cfg.validate(Path::new("--shape"))?;
    let start = std::time::Instant::now();
    if let Some(dir) = tokenizer_from {
        check_tokenizer_fits(dir, cfg)?;
    }
    // shards: the embeddings, norm and head; then one per layer
    let tensors = expected_tensors(cfg);
    let mut shards: Vec<Vec<Entry>> = (0..=cfg.num_hidden_layers).map(|_| Vec::new()).collect();
    for (name, shape) in tensors {
        let s = layer_of(&name).map_or(0, |l| l + 1);
        shards[s].push(Entry {
            name,
            dtype: o.dtype,
            shape,
            source: Source::Generate { variant: false },
        });
    }
    let total: u64 = shards.iter().flatten().map(Entry::bytes).sum();
    let parameters: u64 = shards
        .iter()
        .flatten()
        .map(|e| e.shape.iter().product::<usize>() as u64)
        .sum();
    let staging = Staging::new(out, total)?;
    let n = shards.len();
    let mut weight_map = serde_json::Map::new();
    let mut done = 0u64;
    for (i, entries) in shards.iter().enumerate() {
        let file = format!("model-{:05}-of-{n:05}.safetensors", i + 1);
        write_shard(&staging.tmp.join(&file), entries, o, &mut |b| {
            done += b;
            progress(done, total)
        })?;
        for e in entries {
            weight_map.insert(e.name.clone(), file.clone().into());
        }
    }
    let index = serde_json::json!({"metadata": {"total_size": total}, "weight_map": weight_map});
    write_atomic(
        &staging.tmp.join("model.safetensors.index.json"),
        &serde_json::to_vec_pretty(&index).expect("index serialises"),
    )?;
    if let Some(dir) = tokenizer_from {
        copy_files(dir, &staging.tmp, &TOKENIZER_FILES)?;
    }
    // config.json last: a directory without it is not a checkpoint
    let config = serde_json::to_vec_pretty(&cfg.to_hf_json()).expect("config serialises");
    write_atomic(&staging.tmp.join("config.json"), &config)?;
    staging.commit()?;
    Ok(SynthReport {
        out: out.to_path_buf(),
        shards: n,
        shards_written: n,
        shards_linked: 0,
        parameters,
        bytes_written: total,
        checkpoint_bytes: total,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The tokenizer in `dir` must not produce ids beyond `cfg.vocab_size`.
pub fn check_tokenizer_fits(dir: &Path, cfg: &Qwen3MoeConfig) -> Result<()> {
    let path = dir.join("tokenizer.json");
    if !path.is_file() {
        return Err(Error::Input(format!(
            "{}: no tokenizer.json to copy",
            dir.display()
        )));
    }
    let tok = crate::tokenizer::load(&path)?;
    // the largest id, not the count: added tokens may reuse ids
    let size = tok
        .get_vocab(true)
        .values()
        .max()
        .map_or(0, |&m| m as usize + 1);
    if size > cfg.vocab_size {
        return Err(Error::Input(format!(
            "{} has token ids up to {} but the model's vocab_size is {}: its ids would not fit",
            path.display(),
            size - 1,
            cfg.vocab_size
        )));
    }
    Ok(())
}

fn copy_files(from: &Path, to: &Path, names: &[&str]) -> Result<()> {
    for name in names {
        let src = from.join(name);
        if src.is_file() {
            let dst = to.join(name);
            std::fs::copy(&src, &dst).map_err(|e| Error::io(&src, e))?;
        }
    }
    Ok(())
}

/// Writes at `out` a copy of the checkpoint `like` whose layers `change` are
/// regenerated (seed `o.seed`, never the original's values); every other
/// tensor is byte-identical to `like`'s.
pub fn write_variant(
    out: &Path,
    like: &Path,
    change: &[usize],
    o: &SynthOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<SynthReport> {
    let start = std::time::Instant::now();
    let ckpt = Checkpoint::open(like)?;
    let n_layers = ckpt.config.num_hidden_layers;
    if let Some(&l) = change.iter().find(|&&l| l >= n_layers) {
        return Err(Error::OutOfRange {
            what: "--change layer".into(),
            value: l.to_string(),
            valid: format!(
                "0..={} ({} has {n_layers} layers)",
                n_layers - 1,
                like.display()
            ),
        });
    }
    if change.is_empty() {
        return Err(Error::Input(
            "--change names no layer: a variant differs from its original in at least one layer"
                .into(),
        ));
    }
    // the tensors of each shard, in file order
    let mut by_file: BTreeMap<PathBuf, Vec<(&String, &TensorInfo)>> = BTreeMap::new();
    for (name, info) in &ckpt.tensors {
        by_file
            .entry(info.file.clone())
            .or_default()
            .push((name, info));
    }
    let changed = |name: &str| layer_of(name).is_some_and(|l| change.contains(&l));
    let rewrite: Vec<PathBuf> = by_file
        .iter()
        .filter(|(_, ts)| ts.iter().any(|(n, _)| changed(n)))
        .map(|(f, _)| f.clone())
        .collect();
    let need: u64 = rewrite
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    let staging = Staging::new(out, need)?;
    let mut report = SynthReport {
        out: out.to_path_buf(),
        shards: by_file.len(),
        shards_written: 0,
        shards_linked: 0,
        parameters: ckpt.parameter_count(),
        bytes_written: 0,
        checkpoint_bytes: ckpt.stored_bytes(),
        seconds: 0.0,
    };
    let mut done = 0u64;
    for (file, ts) in &mut by_file {
        let name = file.file_name().expect("a shard file name");
        let dst = staging.tmp.join(name);
        if !rewrite.contains(file) {
            link_or_symlink(file, &dst)?;
            report.shards_linked += 1;
            continue;
        }
        ts.sort_by_key(|(_, info)| info.offset);
        let entries = ts
            .iter()
            .map(|(n, info)| {
                let dtype = info.candle_dtype(n)?;
                Ok(Entry {
                    name: (*n).clone(),
                    dtype,
                    shape: info.shape.clone(),
                    source: if changed(n) {
                        Source::Generate { variant: true }
                    } else {
                        Source::Copy((*info).clone())
                    },
                })
            })
            .collect::<Result<Vec<_>>>()?;
        write_shard(&dst, &entries, o, &mut |b| {
            done += b;
            progress(done, need)
        })?;
        report.shards_written += 1;
        report.bytes_written += entries.iter().map(Entry::bytes).sum::<u64>();
    }
    // every other file of the original (config, index, tokenizer), copied
    for entry in std::fs::read_dir(like).map_err(|e| Error::io(like, e))? {
        let entry = entry.map_err(|e| Error::io(like, e))?;
        let p = entry.path();
        let name = entry.file_name();
        if p.is_file() && !staging.tmp.join(&name).exists() {
            std::fs::copy(&p, staging.tmp.join(&name)).map_err(|e| Error::io(&p, e))?;
        }
    }
    staging.commit()?;
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}

/// A hard link to `src` at `dst`, or a symlink to its absolute path where
/// hard links are impossible (another file system).
fn link_or_symlink(src: &Path, dst: &Path) -> Result<()> {
    if std::fs::hard_link(src, dst).is_ok() {
        return Ok(());
    }
    let abs = std::fs::canonicalize(src).map_err(|e| Error::io(src, e))?;
    std::os::unix::fs::symlink(&abs, dst).map_err(|e| Error::io(dst, e))
}

/// The benchmark model: 4 layers, hidden 256, 4 heads / 2 KV heads of 64,
/// 16 experts top-4 (every layer MoE), positions up to 131,072.
pub fn bench_config() -> Qwen3MoeConfig {
    Qwen3MoeConfig {
        vocab_size: 4096,
        hidden_size: 256,
        intermediate_size: 512,
        num_hidden_layers: 4,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        head_dim: 64,
        moe_intermediate_size: 128,
        num_experts: 16,
        num_experts_per_tok: 4,
        norm_topk_prob: true,
        decoder_sparse_step: 1,
        mlp_only_layers: vec![],
        rope_theta: 1e6,
        rms_norm_eps: 1e-6,
        max_position_embeddings: 131_072,
        tie_word_embeddings: false,
        attention_bias: false,
        router_aux_loss_coef: 0.001,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_depend_on_seed_name_and_position_only() {
        let o = SynthOptions::default();
        let mut a = vec![0u8; 4 * BLOCK * 2];
        let mut b = vec![0u8; 2 * BLOCK * 2];
        fill(&mut a, "w", 0, DType::BF16, &o, false);
        // the second half generated alone equals the second half generated whole
        fill(&mut b, "w", 2 * BLOCK, DType::BF16, &o, false);
        assert_eq!(&a[4 * BLOCK..], &b[..]);
        let mut c = vec![0u8; 2 * BLOCK * 2];
        fill(&mut c, "w", 2 * BLOCK, DType::BF16, &o, true);
        assert_ne!(b, c, "a variant never repeats its original");
        let vals: Vec<f32> = a
            .chunks_exact(2)
            .map(|x| half::bf16::from_le_bytes([x[0], x[1]]).to_f32())
            .collect();
        let n = vals.len() as f32;
        let mean = vals.iter().sum::<f32>() / n;
        let sd = (vals.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt();
        assert!(mean.abs() < 1e-3, "mean {mean}");
        assert!((sd - 0.02).abs() < 1e-3, "std {sd}");
        let mut norm = vec![0u8; 8];
        fill(&mut norm, "model.norm.weight", 0, DType::F32, &o, false);
        assert_eq!(f32::from_le_bytes(norm[..4].try_into().unwrap()), 1.0);
    }

    #[test]
    fn the_real_shape_has_the_published_size() {
        let cfg = shape_config("qwen3-30b-a3b").unwrap();
        let params: u64 = expected_tensors(&cfg)
            .values()
            .map(|s| s.iter().product::<usize>() as u64)
            .sum();
        // Qwen3-30B-A3B: 30.5 B parameters, 61 GB in bf16
        assert!((30.4e9..30.6e9).contains(&(params as f64)), "{params}");
    }
}
