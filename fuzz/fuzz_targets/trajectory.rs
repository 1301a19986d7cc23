//! A trajectory file: any bytes, read with format detection (every reader
//! of the registry may take it), and each trajectory read compiled into a
//! sample. Reading and compiling must return, never panic.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use acc_probe::compile::pipeline::{compile_one, Budget, CompileOptions};
use acc_probe::compile::readers::read_file;
use acc_probe::tokenizer::TokenCounter;
use libfuzzer_sys::fuzz_target;

struct Chars;

impl TokenCounter for Chars {
    fn count(&self, text: &str) -> usize {
        text.len().div_ceil(4)
    }
}

fn file() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let d = tempfile::tempdir().expect("a temp folder").keep();
        d.join("input.jsonl")
    })
}

fuzz_target!(|data: &[u8]| {
    let f = file();
    std::fs::write(f, data).expect("writing the input");
    let (trajectories, _) = read_file(f, None);
    let opts = CompileOptions {
        format: None,
        domain: None,
        budget: Budget::Fixed(2048),
        distractors: true,
        seed: 0,
        db: None,
        repo_root: None,
    };
    for t in &trajectories {
        let _ = compile_one(t, &opts, &Chars);
    }
});
