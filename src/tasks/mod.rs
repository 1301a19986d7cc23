//! Probe tasks: MRCR and GraphWalks generators with token-length targets, and
//! their official graders.

pub mod difflib;
pub mod eval;
pub mod grade;
pub mod graphwalks;
pub mod mrcr;
pub mod probe_inputs;
pub mod score;
pub mod toy;
