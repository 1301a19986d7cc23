//! The model's observation contract: named hook points and the [`Probe`]
//! trait through which a forward pass shows them.
//!
//! Hook points are named like TransformerLens' (`blocks.{l}.attn`,
//! `blocks.{l}.attn.probs`, `blocks.{l}.router`). A probe says which points
//! it observes; the pass computes only that (the statistics of
//! [`crate::stats::attn`] the probe's [`AttnStatsSpec`] asks for), refuses
//! layers the model does not have, and stops after the last layer anyone
//! needs when no logits are requested. [`NoProbe`] asks for nothing, so an
//! unprobed pass runs the statistics-free attention kernel.

use std::fmt;

use candle_core::Tensor;

use super::attention_stream::StreamStats;
use super::router::RouterOutput;
use crate::error::{Error, Result};
use crate::stats::attn::AttnStatsSpec;

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

    /// Every hook point of layer l.
    pub fn of_layer(l: usize) -> [HookPoint; 3] {
        [
            HookPoint::Attn(l),
            HookPoint::AttnProbs(l),
            HookPoint::Router(l),
        ]
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

/// Observes a forward pass. Every method has a no-op default.
pub trait Probe {
    /// Whether this probe observes `at`. `blocks.{l}.attn` is observed when
    /// [`Probe::attn_spec`] names statistics for layer l (the pass asks
    /// `attn_spec`: an override must answer `Attn` the same way).
    fn wants(&self, at: HookPoint) -> bool {
        match at {
            HookPoint::Attn(l) => self.attn_spec(l).is_some(),
            _ => false,
        }
    }
    /// The attention statistics wanted at `blocks.{layer}.attn`.
    fn attn_spec(&self, _layer: usize) -> Option<AttnStatsSpec> {
        None
    }
    /// The layers this probe asks for by number: the pass refuses any the
    /// model does not have (a probe of every layer names none).
    fn layers(&self) -> Vec<usize> {
        Vec::new()
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

    /// Whether this probe observes anything at `layer`.
    fn wants_layer(&self, layer: usize) -> bool {
        HookPoint::of_layer(layer)
            .into_iter()
            .any(|h| self.wants(h))
    }
}

/// Observes nothing: the zero-cost path.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProbe;

impl Probe for NoProbe {}

/// Several probes observing the same pass.
pub struct Probes<'a>(pub Vec<&'a mut dyn Probe>);

impl Probe for Probes<'_> {
    fn wants(&self, at: HookPoint) -> bool {
        self.0.iter().any(|p| p.wants(at))
    }
    /// One kernel call per layer computes one spec: the first probe's. Probes
    /// asking for a different spec at the same layer get an error in
    /// [`Probe::on_attn_stats`] rather than statistics they did not ask for.
    fn attn_spec(&self, layer: usize) -> Option<AttnStatsSpec> {
        self.0.iter().find_map(|p| p.attn_spec(layer))
    }
    fn layers(&self) -> Vec<usize> {
        let mut ls: Vec<usize> = self.0.iter().flat_map(|p| p.layers()).collect();
        ls.sort_unstable();
        ls.dedup();
        ls
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
            if p.wants(HookPoint::AttnProbs(layer)) {
                p.on_attn_probs(layer, probs)?;
            }
        }
        Ok(())
    }
    fn on_router(&mut self, layer: usize, routing: &RouterOutput) -> Result<()> {
        for p in self.0.iter_mut() {
            if p.wants(HookPoint::Router(layer)) {
                p.on_router(layer, routing)?;
            }
        }
        Ok(())
    }
}
