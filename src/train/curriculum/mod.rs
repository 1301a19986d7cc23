//! The training curriculum's own material, beside the benchmarks it
//! prepares for: short graph / recall / copy drills mixed into the LM corpus
//! ([`drills`]), the copy-drill check `reproduce` runs after every stage
//! ([`drill_check`]), and the criterion that ends the copy stage
//! ([`copy_criterion`]). Their problem seeds come from the drill streams of
//! [`crate::tasks::toy`], which keeps every stream in one table so that
//! training, evaluation and probe problems never share a seed.

pub mod copy_criterion;
pub mod drill_check;
pub mod drills;
