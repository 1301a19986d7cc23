//! config.json: any bytes; a JSON document goes through the whole
//! validation (`Qwen3MoeConfig::from_json`), which must return, never panic
//! or allocate without bound.
#![no_main]

use acc_probe::model::Qwen3MoeConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = Qwen3MoeConfig::from_json(&v, std::path::Path::new("config.json"));
    }
});
