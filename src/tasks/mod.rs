//! Probe tasks: the official graders of MRCR and GraphWalks (generators and
//! loaders follow).

pub mod difflib;
pub mod grade;
