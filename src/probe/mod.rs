//! Probes: typed hook points, the [`Probe`] trait and the accumulators that
//! reduce captured activity where it is produced.
//!
//! Hook points are named like TransformerLens' (`blocks.{l}.attn`,
//! `blocks.{l}.router`). A probe tells the forward pass what it wants per
//! layer; the pass computes only that, and stops after the last layer anyone
//! needs when no logits are requested. [`NoProbe`] asks for nothing, so an
//! unprobed pass runs the statistics-free attention kernel.

pub mod attn_stats;
pub mod batch;
pub mod capture;
pub mod pair;
pub mod per_example;
pub mod routing;
pub mod routing_capture;
pub mod shard;

use std::fmt;
use std::str::FromStr;

use candle_core::Tensor;

use crate::error::{Error, Result};
use crate::model::attention_stream::StreamStats;
use crate::model::router::RouterOutput;
use attn_stats::AttnStatsSpec;

/// A named place in the forward pass where a probe can observe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HookPoint {
    /// Attention statistics of layer l (`blocks.{l}.attn`).
    Attn(usize),
    /// Materialised attention probabilities of layer l (`blocks.{l}.attn.probs`).
    AttnProbs(usize),
    /// Router decisions of layer l (`blocks.{l}.router`).
    Router(usize),
}

impl HookPoint {
    pub fn layer(&self) -> usize {
        match *self {
            HookPoint::Attn(l) | HookPoint::AttnProbs(l) | HookPoint::Router(l) => l,
        }
    }

    /// Fails with the valid range when the layer does not exist.
    pub fn check(&self, num_layers: usize) -> Result<()> {
        check_layer(self.layer(), num_layers)
    }
}

/// `--layer` style validation: the error states the valid range.
pub fn check_layer(layer: usize, num_layers: usize) -> Result<()> {
    if layer >= num_layers {
        return Err(Error::OutOfRange {
            what: "layer".into(),
            value: layer.to_string(),
            valid: format!(
                "0..={} (the model has {num_layers} layers)",
                num_layers.saturating_sub(1)
            ),
        });
    }
    Ok(())
}

impl fmt::Display for HookPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HookPoint::Attn(l) => write!(f, "blocks.{l}.attn"),
            HookPoint::AttnProbs(l) => write!(f, "blocks.{l}.attn.probs"),
            HookPoint::Router(l) => write!(f, "blocks.{l}.router"),
        }
    }
}

impl FromStr for HookPoint {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::Input(format!(
            "bad hook point `{s}`: expected blocks.L.attn, blocks.L.attn.probs or blocks.L.router"
        ))
        };
        let rest = s.strip_prefix("blocks.").ok_or_else(bad)?;
        let (l, kind) = rest.split_once('.').ok_or_else(bad)?;
        let l: usize = l.parse().map_err(|_| bad())?;
        match kind {
            "attn" => Ok(HookPoint::Attn(l)),
            "attn.probs" => Ok(HookPoint::AttnProbs(l)),
            "router" => Ok(HookPoint::Router(l)),
            _ => Err(bad()),
        }
    }
}

/// Observes a forward pass. Every method has a no-op default.
pub trait Probe {
    /// Attention statistics wanted at `blocks.{layer}.attn`.
    fn attn_spec(&self, _layer: usize) -> Option<AttnStatsSpec> {
        None
    }
    /// Whether to materialise `blocks.{layer}.attn.probs` (short inputs only).
    fn wants_attn_probs(&self, _layer: usize) -> bool {
        false
    }
    /// Whether to observe `blocks.{layer}.router`.
    fn wants_router(&self, _layer: usize) -> bool {
        false
    }
    fn on_attn_stats(&mut self, _layer: usize, _stats: &StreamStats) -> Result<()> {
        Ok(())
    }
    fn on_attn_probs(&mut self, _layer: usize, _probs: &Tensor) -> Result<()> {
        Ok(())
    }
    fn on_router(&mut self, _layer: usize, _routing: &RouterOutput) -> Result<()> {
        Ok(())
    }

    /// Whether this probe wants anything at `layer`.
    fn wants_layer(&self, layer: usize) -> bool {
        self.attn_spec(layer).is_some() || self.wants_attn_probs(layer) || self.wants_router(layer)
    }
}

/// Observes nothing: the zero-cost path.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProbe;

impl Probe for NoProbe {}

/// Several probes observing the same pass.
pub struct Probes<'a>(pub Vec<&'a mut dyn Probe>);

impl Probe for Probes<'_> {
    /// One kernel call per layer computes one spec: the first probe's. Probes
    /// asking for a different spec at the same layer get an error in
    /// [`Probe::on_attn_stats`] rather than statistics they did not ask for.
    fn attn_spec(&self, layer: usize) -> Option<AttnStatsSpec> {
        self.0.iter().find_map(|p| p.attn_spec(layer))
    }
    fn wants_attn_probs(&self, layer: usize) -> bool {
        self.0.iter().any(|p| p.wants_attn_probs(layer))
    }
    fn wants_router(&self, layer: usize) -> bool {
        self.0.iter().any(|p| p.wants_router(layer))
    }
    fn on_attn_stats(&mut self, layer: usize, stats: &StreamStats) -> Result<()> {
        let computed = self.attn_spec(layer);
        for p in self.0.iter_mut() {
            let Some(wanted) = p.attn_spec(layer) else {
                continue;
            };
            if Some(&wanted) != computed.as_ref() {
                return Err(Error::Input(format!(
                    "probes of one pass ask for different attention statistics at {}: {wanted:?} vs {computed:?}",
                    HookPoint::Attn(layer)
                )));
            }
            p.on_attn_stats(layer, stats)?;
        }
        Ok(())
    }
    fn on_attn_probs(&mut self, layer: usize, probs: &Tensor) -> Result<()> {
        for p in self.0.iter_mut() {
            if p.wants_attn_probs(layer) {
                p.on_attn_probs(layer, probs)?;
            }
        }
        Ok(())
    }
    fn on_router(&mut self, layer: usize, routing: &RouterOutput) -> Result<()> {
        for p in self.0.iter_mut() {
            if p.wants_router(layer) {
                p.on_router(layer, routing)?;
            }
        }
        Ok(())
    }
}
