//! A timer-based breakdown of the forward pass, off unless asked for
//! (`forward --profile`): each part of the pass adds its wall time to one
//! counter. candle's CPU ops run synchronously, so a part's time is the time
//! its ops took. When off, a part costs one relaxed atomic load.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// The parts of the forward pass the breakdown times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Token embedding rows.
    Embed,
    /// Input, post-attention, q/k and final RMSNorms.
    Norms,
    /// q, k and v projections.
    QkvProj,
    /// Rotary position embedding of q and k.
    Rope,
    /// The attention kernel (streaming or materialised), statistics included.
    AttnKernel,
    /// The output projection.
    OProj,
    /// Router logits, softmax and top-k.
    Router,
    /// Grouping routed tokens by expert, gathering their rows, scaling by the
    /// combine weights and adding them back.
    Dispatch,
    /// The experts' gate, up and down projections.
    Experts,
    /// Dense feed-forward layers (non-MoE).
    DenseMlp,
    /// The language-model head.
    Logits,
}

impl Part {
    pub const ALL: [Part; 11] = [
        Part::Embed,
        Part::Norms,
        Part::QkvProj,
        Part::Rope,
        Part::AttnKernel,
        Part::OProj,
        Part::Router,
        Part::Dispatch,
        Part::Experts,
        Part::DenseMlp,
        Part::Logits,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Part::Embed => "embedding",
            Part::Norms => "norms",
            Part::QkvProj => "q/k/v projections",
            Part::Rope => "RoPE",
            Part::AttnKernel => "attention kernel",
            Part::OProj => "o projection",
            Part::Router => "router",
            Part::Dispatch => "expert dispatch + gather",
            Part::Experts => "expert GEMMs",
            Part::DenseMlp => "dense MLP",
            Part::Logits => "logits",
        }
    }
}

static ON: AtomicBool = AtomicBool::new(false);
static NANOS: [AtomicU64; 11] = [const { AtomicU64::new(0) }; 11];

/// Turns the breakdown on or off, and zeroes its counters.
pub fn enable(on: bool) {
    for n in &NANOS {
        n.store(0, Ordering::Relaxed);
    }
    ON.store(on, Ordering::Relaxed);
}

/// Whether the breakdown is on.
#[inline]
pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Runs `f`, adding its wall time to `part` when the breakdown is on.
#[inline]
pub fn time<T>(part: Part, f: impl FnOnce() -> T) -> T {
    if !ON.load(Ordering::Relaxed) {
        return f();
    }
    let t0 = Instant::now();
    let out = f();
    let ns = t0.elapsed().as_nanos() as u64;
    if let Some(n) = NANOS.get(part as usize) {
        n.fetch_add(ns, Ordering::Relaxed);
    }
    out
}

/// Adds `seconds` to `part` when the breakdown is on (a part timed as a
/// difference of others).
pub fn add(part: Part, seconds: f64) {
    if ON.load(Ordering::Relaxed) {
        if let Some(n) = NANOS.get(part as usize) {
            n.fetch_add((seconds.max(0.0) * 1e9) as u64, Ordering::Relaxed);
        }
    }
}

/// Seconds of `part` so far.
pub fn seconds_of(part: Part) -> f64 {
    NANOS
        .get(part as usize)
        .map_or(0.0, |n| n.load(Ordering::Relaxed) as f64 * 1e-9)
}

/// Seconds per part since [`enable`], in [`Part::ALL`] order.
pub fn seconds() -> Vec<(Part, f64)> {
    Part::ALL
        .iter()
        .zip(&NANOS)
        .map(|(&p, n)| (p, n.load(Ordering::Relaxed) as f64 * 1e-9))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_add_their_time_only_when_on() {
        enable(false);
        time(Part::Router, || {
            std::thread::sleep(std::time::Duration::from_millis(2))
        });
        assert_eq!(seconds()[Part::Router as usize].1, 0.0);
        enable(true);
        time(Part::Router, || {
            std::thread::sleep(std::time::Duration::from_millis(2))
        });
        assert!(seconds()[Part::Router as usize].1 >= 0.002);
        enable(false);
    }
}
