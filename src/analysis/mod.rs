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
pub mod seeds;
pub mod session;

use crate::error::{Error, Result};

/// Renders a typed report as pretty JSON, keys sorted (the form every
/// report file has).
pub fn to_json<T: serde::Serialize>(report: &T) -> Result<String> {
    serde_json::to_value(report)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .map_err(|e| Error::Input(format!("a report that does not serialise: {e}")))
}

/// Orders numbers as `partial_cmp` does, with NaN after every number instead
/// of a panic (the analyses refuse non-finite inputs where they enter; a
/// sort never aborts a run).
pub(crate) fn cmp_f64(a: &f64, b: &f64) -> std::cmp::Ordering {
    a.partial_cmp(b)
        .unwrap_or_else(|| a.is_nan().cmp(&b.is_nan()))
}
