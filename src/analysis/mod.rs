//! Statistics over examples: bootstrap confidence intervals (distributions,
//! divergences and paired comparisons follow).

pub mod bootstrap;
