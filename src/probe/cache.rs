//! The capture cache: a per-example capture of one model on a list of probe
//! inputs is stored under a key of (model files, token ids, what was
//! captured), so that a second run with other reporting options, or the
//! merge of `--shard` runs, does not run the model again. One [`Capture`]
//! trait, implemented by the attention and the routing captures.

use std::hash::Hasher;
use std::path::{Path, PathBuf};

use super::per_example::{capture_attention, AttnCapture};
use super::routing_capture::{capture_routing, RoutingCapture};
use crate::error::{Error, Result};
use crate::io::Fnv;
use crate::model::StreamBlocks;
use crate::model_dir::ModelDir;
use crate::stats::attn::{AttnStatsSpec, Queries};
use crate::tasks::probe_inputs::ProbeInput;

/// A per-example capture that can be computed, stored and found again.
pub trait Capture: Sized {
    /// The file-name prefix of its cache files (`{KIND}-{key:016x}.safetensors`).
    const KIND: &'static str;
    /// What is captured besides the inputs.
    type Request;
    /// The cache key of `m`'s capture of `inputs`.
    fn key(m: &ModelDir, inputs: &[ProbeInput], req: &Self::Request) -> Result<u64>;
    fn compute(
        m: &ModelDir,
        inputs: &[ProbeInput],
        req: &Self::Request,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Self>;
    fn save(&self, path: &Path) -> Result<()>;
    fn load(path: &Path) -> Result<Self>;
    /// Whether a capture read from the cache answers the request.
    fn fits(&self, inputs: &[ProbeInput], req: &Self::Request) -> bool;
}

/// The attention statistics captured per example.
#[derive(Debug, Clone)]
pub struct AttnRequest {
    pub layers: Vec<usize>,
    pub spec: AttnStatsSpec,
    pub queries: Queries,
    pub blocks: StreamBlocks,
}

/// The routing captured per example.
#[derive(Debug, Clone)]
pub struct RoutingRequest {
    pub layers: Vec<usize>,
}

impl Capture for AttnCapture {
    const KIND: &'static str = "attn";
    type Request = AttnRequest;
    fn key(m: &ModelDir, inputs: &[ProbeInput], r: &AttnRequest) -> Result<u64> {
        let mut h = Fnv::default();
        h.write(b"attn-v1");
        h.write_u64(m.fingerprint()?);
        hash_inputs(&mut h, inputs);
        for &l in &r.layers {
            h.write_usize(l);
        }
        h.write(
            serde_json::to_string(&(&r.spec, r.queries))
                .expect("spec serialises")
                .as_bytes(),
        );
        h.write_usize(r.blocks.block_q);
        h.write_usize(r.blocks.block_k);
        Ok(h.finish())
    }
    fn compute(
        m: &ModelDir,
        inputs: &[ProbeInput],
        r: &AttnRequest,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Self> {
        capture_attention(
            &m.model,
            &m.dir.display().to_string(),
            inputs,
            &r.layers,
            &r.spec,
            r.queries,
            r.blocks,
            progress,
        )
    }
    fn save(&self, path: &Path) -> Result<()> {
        AttnCapture::save(self, path)
    }
    fn load(path: &Path) -> Result<Self> {
        AttnCapture::load(path)
    }
    fn fits(&self, inputs: &[ProbeInput], r: &AttnRequest) -> bool {
        self.examples.len() == inputs.len() && self.layers == r.layers
    }
}

impl Capture for RoutingCapture {
    const KIND: &'static str = "routing";
    type Request = RoutingRequest;
    fn key(m: &ModelDir, inputs: &[ProbeInput], r: &RoutingRequest) -> Result<u64> {
        let mut h = Fnv::default();
        h.write(b"routing-v1");
        h.write_u64(m.fingerprint()?);
        hash_inputs(&mut h, inputs);
        for &l in &r.layers {
            h.write_usize(l);
        }
        Ok(h.finish())
    }
    fn compute(
        m: &ModelDir,
        inputs: &[ProbeInput],
        r: &RoutingRequest,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Self> {
        capture_routing(
            &m.model,
            &m.dir.display().to_string(),
            inputs,
            &r.layers,
            progress,
        )
    }
    fn save(&self, path: &Path) -> Result<()> {
        RoutingCapture::save(self, path)
    }
    fn load(path: &Path) -> Result<Self> {
        RoutingCapture::load(path)
    }
    fn fits(&self, inputs: &[ProbeInput], r: &RoutingRequest) -> bool {
        self.examples.len() == inputs.len() && self.layers == r.layers
    }
}

/// The cache file name of a capture of kind `C` with `key`.
pub fn cache_file<C: Capture>(key: u64) -> String {
    format!("{}-{key:016x}.safetensors", C::KIND)
}

/// Where a capture came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cache,
    Computed,
}

/// `m`'s capture of `inputs`: read from `cache_dir` when present, readable
/// and fitting the request (otherwise recomputed with a warning), else
/// computed and stored there. `progress(done, total)` counts layer passes.
pub fn cached<C: Capture>(
    m: &ModelDir,
    inputs: &[ProbeInput],
    req: &C::Request,
    cache_dir: Option<&Path>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(C, Source)> {
    let path: Option<PathBuf> = match cache_dir {
        Some(d) => Some(d.join(cache_file::<C>(C::key(m, inputs, req)?))),
        None => None,
    };
    if let Some(p) = &path {
        if p.is_file() {
            match C::load(p) {
                Ok(c) if c.fits(inputs, req) => return Ok((c, Source::Cache)),
                Ok(_) => tracing::warn!(
                    "{}: cached capture does not match the request; recomputing",
                    p.display()
                ),
                Err(e) => tracing::warn!("{}: unreadable cache ({e}); recomputing", p.display()),
            }
        }
    }
    let c = C::compute(m, inputs, req, progress)?;
    if let Some(p) = &path {
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
        }
        c.save(p)?;
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
