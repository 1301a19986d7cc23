//! model.safetensors: any bytes as the checkpoint of the tiny test model's
//! config. Opening it reads the header (length prefix, JSON, offsets) and
//! checks every tensor's name, dtype and shape against the config.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use acc_probe::model::Checkpoint;
use libfuzzer_sys::fuzz_target;

/// One folder for the run: the fixture's config.json, and the input as
/// model.safetensors, rewritten each time.
fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().expect("a temp folder").keep();
        let cfg = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/tiny-qwen3-moe/model/config.json"
        );
        std::fs::copy(cfg, d.join("config.json")).expect("the fixture's config.json");
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let d = dir();
    std::fs::write(d.join("model.safetensors"), data).expect("writing the input");
    let _ = Checkpoint::open(d);
});
