//! The training curriculum's own material, beside the benchmarks it
//! prepares for: short graph / recall / copy drills mixed into the LM corpus
//! ([`drills`]), and the copy-drill check `reproduce` runs after every stage
//! ([`drill_check`]). Their problem seeds come from the drill streams of
//! [`crate::tasks::toy`], which keeps every stream in one table so that
//! training, evaluation and probe problems never share a seed.

pub mod drill_check;
pub mod drills;
