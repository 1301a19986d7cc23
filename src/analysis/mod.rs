//! Statistics over examples: bootstrap confidence intervals, divergences,
//! paired base-vs-ACC comparisons and layer selection; the paired-analysis
//! session; typed reports that render to JSON, tables and figures.

pub mod ablation;
pub mod attention;
pub mod attention_report;
pub mod bootstrap;
pub mod divergence;
pub mod paired;
pub mod routing;
pub mod routing_report;
pub mod session;
