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

// paths of the modules that moved out (the environments, the curriculum,
// the token counter), for the reproduce pipeline until it imports them
pub use crate::environments as agents;
pub use crate::tokenizer::{approx_tokens, TokenCounter};
pub use crate::train::curriculum::{drill_check, drills};
