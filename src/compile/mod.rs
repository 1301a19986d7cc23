//! The ACC compiler: format readers → canonical trajectory → evidence →
//! context → writers.

pub mod assemble;
pub mod evidence;
pub mod pipeline;
pub mod readers;
pub mod trajectory;
pub mod views;
pub mod writers;
