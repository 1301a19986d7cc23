//! Statistics over examples: bootstrap confidence intervals, divergences,
//! paired base-vs-ACC comparisons and layer selection.

pub mod ablation;
pub mod attention;
pub mod bootstrap;
pub mod divergence;
pub mod paired;
pub mod routing;
