//! The ACC compiler: format readers → canonical trajectory → evidence →
//! context → writers.

pub mod agent_sft;
pub mod assemble;
pub mod evidence;
pub mod pipeline;
pub mod readers;
pub mod teacher;
pub mod trajectory;
pub mod verify;
pub mod views;
pub mod writers;
