//! Benchmarks: MRCR and GraphWalks generators with token-length targets
//! (`mrcr`, `graphwalks`, the seeded toy sets of `toy`), their official
//! graders (`grade`, `score`, `difflib`) with lm-eval's length bins and AUC
//! (`bins`) and the conventions a report names (`conventions`), evaluation by
//! decoding (`eval`), and
//! the probe inputs of the paired analyses (`probe_inputs`).

pub mod bins;
pub mod conventions;
pub mod difflib;
pub mod eval;
pub mod grade;
pub mod graphwalks;
pub mod mrcr;
pub mod probe_inputs;
pub mod score;
pub mod toy;
