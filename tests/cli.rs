//! The command line end to end: dump on the bundled fixture (ids and text
//! input), layer and input validation, forward timing output.

mod common;

use std::process::Command;

use candle_core::Device;
use common::*;

fn acc_probe(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_acc-probe"))
        .args(args)
        .output()
        .expect("run acc-probe")
}

fn model_dir() -> String {
    fixture("tiny-qwen3-moe/model").display().to_string()
}

#[test]
fn dump_writes_the_reference_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cap.safetensors");
    let ids = fixture("tiny-qwen3-moe/ids.json").display().to_string();
    let o = acc_probe(&[
        "dump",
        "--model",
        &model_dir(),
        "--ids",
        &ids,
        "--out",
        out.to_str().unwrap(),
        "--materialize",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cap = candle_core::safetensors::load(&out, &Device::Cpu).unwrap();
    let reference = load_reference();
    for (name, t) in &reference {
        let ours = cap.get(name).unwrap_or_else(|| panic!("dump lacks {name}"));
        assert_eq!(ours.dims(), t.dims(), "{name}");
        assert_eq!(ours.dtype(), t.dtype(), "{name}");
    }
    let d = max_abs_diff(
        &vec_f32(&cap["blocks.1.attn.entropy"]),
        &vec_f32(&reference["blocks.1.attn.entropy"]),
    );
    assert!(d < 1e-5);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("cap.json")).unwrap())
            .unwrap();
    assert_eq!(
        meta["distance_bin_lower_edges"].as_array().unwrap().len(),
        32
    );
    assert_eq!(
        meta["tensors"]["logits"]["shape"],
        serde_json::json!([96, 512])
    );
    // no temporary files are left behind
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn dump_stores_the_logits_asked_for_with_either_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let ids = fixture("tiny-qwen3-moe/ids.json").display().to_string();
    let mut logits = Vec::new();
    for (which, weights, shape) in [
        ("last", "resident", Some(serde_json::json!([1, 512]))),
        ("last", "streamed", Some(serde_json::json!([1, 512]))),
        ("none", "streamed", None),
    ] {
        // a folder that does not exist yet is created
        let out = tmp
            .path()
            .join("new")
            .join(format!("{which}-{weights}.safetensors"));
        let o = acc_probe(&[
            "dump",
            "--model",
            &model_dir(),
            "--ids",
            &ids,
            "--out",
            out.to_str().unwrap(),
            "--logits",
            which,
            "--weights",
            weights,
            "--layers",
            "1",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.with_extension("json")).unwrap())
                .unwrap();
        assert_eq!(meta["logits"], which);
        match shape {
            Some(s) => {
                assert_eq!(meta["tensors"]["logits"]["shape"], s);
                let cap = candle_core::safetensors::load(&out, &Device::Cpu).unwrap();
                logits.push(vec_f32(&cap["logits"]));
            }
            None => assert!(meta["tensors"].get("logits").is_none()),
        }
    }
    assert_eq!(
        logits[0], logits[1],
        "streamed weights give the resident logits"
    );
}

#[test]
fn dump_from_text_with_a_tokenizer() {
    use tokenizers::models::wordlevel::WordLevel;
    let tmp = tempfile::tempdir().unwrap();
    let vocab: std::collections::HashMap<String, u32> =
        ["[UNK]", "the", "needle", "is", "in", "haystack", "a"]
            .iter()
            .enumerate()
            .map(|(i, w)| (w.to_string(), i as u32))
            .collect();
    let model = WordLevel::builder()
        .vocab(vocab.into_iter().collect())
        .unk_token("[UNK]".into())
        .build()
        .unwrap();
    let mut tok = tokenizers::Tokenizer::new(model);
    tok.with_pre_tokenizer(Some(tokenizers::pre_tokenizers::whitespace::Whitespace {}));
    let tok_path = tmp.path().join("tokenizer.json");
    tok.save(&tok_path, false).unwrap();
    let out = tmp.path().join("t.safetensors");
    let o = acc_probe(&[
        "dump",
        "--model",
        &model_dir(),
        "--text",
        "the needle is in a haystack",
        "--tokenizer",
        tok_path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cap = candle_core::safetensors::load(&out, &Device::Cpu).unwrap();
    assert_eq!(
        cap["input_ids"].to_vec1::<i64>().unwrap(),
        vec![1, 2, 3, 4, 6, 5]
    );
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["tokens"], 6);

    // --text without any tokenizer is a clear error
    let o = acc_probe(&[
        "dump",
        "--model",
        &model_dir(),
        "--text",
        "hi",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("has no tokenizer.json"));
}

#[test]
fn bad_arguments_name_the_valid_range() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x.safetensors");
    let ids = fixture("tiny-qwen3-moe/ids.json").display().to_string();
    let o = acc_probe(&[
        "dump",
        "--model",
        &model_dir(),
        "--ids",
        &ids,
        "--out",
        out.to_str().unwrap(),
        "--layers",
        "0,2",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("layer 2 is out of range: valid 0..=1 (the model has 2 layers)"),
        "{err}"
    );

    let bad = tmp.path().join("bad.json");
    std::fs::write(&bad, "[1, 2, 999]").unwrap();
    let o = acc_probe(&[
        "dump",
        "--model",
        &model_dir(),
        "--ids",
        bad.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success()
            && err.contains("token id at position 2 999 is out of range: valid 0..512"),
        "{err}"
    );

    std::fs::write(&bad, "{\"ids\": [1]}").unwrap();
    let o = acc_probe(&[
        "dump",
        "--model",
        &model_dir(),
        "--ids",
        bad.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("bad.json: expected a JSON array"),
        "{err}"
    );

    let o = acc_probe(&["forward", "--model", &model_dir(), "--tokens", "2000"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("valid 1..=1024"),
        "{err}"
    );
    assert!(!out.exists(), "a failed run must not leave an output");
}

#[test]
fn forward_reports_time_and_memory() {
    let o = acc_probe(&[
        "forward",
        "--model",
        &model_dir(),
        "--tokens",
        "200",
        "--probe",
        "all",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(m["tokens"], 200);
    assert!(m["seconds"].as_f64().unwrap() > 0.0);
    assert!(m["peak_rss_bytes"].as_u64().unwrap() > 0);
    // the same pass with candle-transformers gives the same logits
    let c = acc_probe(&[
        "forward",
        "--model",
        &model_dir(),
        "--tokens",
        "200",
        "--impl",
        "candle",
        "--json",
    ]);
    let c: serde_json::Value = serde_json::from_slice(&c.stdout).unwrap();
    assert!(
        (m["logits_checksum"].as_f64().unwrap() - c["logits_checksum"].as_f64().unwrap()).abs()
            < 1e-5
    );
}

#[test]
fn generate_matches_the_library_decoder() {
    let ids = fixture("tiny-qwen3-moe/ids.json").display().to_string();
    let o = acc_probe(&[
        "generate",
        "--model",
        &model_dir(),
        "--ids",
        &ids,
        "--max-new-tokens",
        "6",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let model = acc_probe::model::Qwen3Moe::from_dir(fixture("tiny-qwen3-moe/model"), &Device::Cpu)
        .unwrap();
    let prompt: Vec<u32> =
        serde_json::from_str(&std::fs::read_to_string(fixture("tiny-qwen3-moe/ids.json")).unwrap())
            .unwrap();
    let expected = acc_probe::model::generate::greedy_uncached(&model, &prompt, 6, &[]).unwrap();
    assert_eq!(v["ids"], serde_json::json!(expected));
}

#[test]
fn an_io_error_names_the_file_and_its_cause_once() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("grown");
    let o = acc_probe(&[
        "grow",
        "--model",
        tmp.path().to_str().unwrap(),
        "--layers",
        "4",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    let config = tmp.path().join("config.json");
    assert!(err.contains(&*config.to_string_lossy()), "{err}");
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
    assert!(!out.exists());
}

#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    // a skipped row logs a warning; stderr is a pipe here
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("acc.jsonl");
    std::fs::write(
        &data,
        "{\"meta\": {\"domain\": \"sql\", \"context_tokens\": 900}}\nnot json\n",
    )
    .unwrap();
    let out = tmp.path().join("l");
    let o = acc_probe(&[
        "lengths",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("WARN"), "{err}");
    assert!(!err.contains('\x1b'), "{err:?}");
}
