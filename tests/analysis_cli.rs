//! `acc-probe attention` and `routing` end to end on a tiny pair: the fixture model as base
//! and a differently initialised model of the same architecture as "ACC",
//! sharing one tokenizer.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use serde_json::Value;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_acc-probe"))
        .arg("attention")
        .args(args)
        .args(["--task", "graphwalks", "--tokens", "700"])
        .args(["--resamples", "200", "--permutations", "200"])
        .output()
        .unwrap()
}

fn json_of(o: &Output) -> Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn paired_report_has_layers_heads_cis_figures_and_a_cache() {
    let p = pair();
    let args = [
        "--base",
        &p.base,
        "--acc",
        &p.acc,
        "--layers",
        "0,1",
        "--examples",
        "4",
        "--out",
        &p.out,
        "--json",
    ];
    let first = json_of(&run(&args));
    let r = &first["results"][0];
    assert_eq!(r["task"], "graphwalks");
    let layers = r["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    for l in layers {
        assert_eq!(l["heads"].as_array().unwrap().len(), 4);
        let m = &l["mean"];
        assert_eq!(m["n_examples"], 4);
        let js = m["js"]["value"].as_f64().unwrap();
        assert!(js > 0.0 && js <= std::f64::consts::LN_2, "{js}");
        let p = m["js_p_value"].as_f64().unwrap();
        assert!(p > 0.0 && p <= 1.0);
        for k in ["base", "acc"] {
            let d: Vec<f64> = serde_json::from_value(m[k].clone()).unwrap();
            assert_eq!(d.len(), 32);
            assert!((d.iter().sum::<f64>() - 1.0).abs() < 1e-6, "{k}: {d:?}");
        }
        let md = &m["mean_distance"];
        assert!(md["diff"]["lo"].as_f64().unwrap() <= md["diff"]["hi"].as_f64().unwrap());
    }
    let out = Path::new(&p.out);
    for f in ["attention.json", "attention.png", "attention.svg"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let cache: Vec<_> = std::fs::read_dir(out.join("cache"))
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().to_string_lossy().to_string();
            n.ends_with(".safetensors").then_some(n)
        })
        .collect();
    assert_eq!(cache.len(), 2, "{cache:?}");
    // a second run reads both captures back and reports the same numbers
    let stamp = |n: &str| {
        std::fs::metadata(out.join("cache").join(n))
            .unwrap()
            .modified()
            .unwrap()
    };
    let before: Vec<_> = cache.iter().map(|n| stamp(n)).collect();
    let second = json_of(&run(&args));
    assert_eq!(first["results"], second["results"]);
    let after: Vec<_> = cache.iter().map(|n| stamp(n)).collect();
    assert_eq!(before, after, "the cache was rewritten");
    // an unreadable cache file is recomputed, never trusted
    std::fs::write(out.join("cache").join(&cache[0]), b"garbage").unwrap();
    let third = json_of(&run(&args));
    assert_eq!(first["results"], third["results"]);
}

#[test]
fn a_model_against_itself_shows_no_change() {
    let p = pair();
    let o = json_of(&run(&[
        "--base",
        &p.base,
        "--acc",
        &p.base,
        "--layer",
        "1",
        "--examples",
        "3",
        "--out",
        &p.out,
        "--json",
        "--no-cache",
    ]));
    let l = &o["results"][0]["layers"][0];
    assert_eq!(l["layer"], 1);
    assert_eq!(l["mean"]["js"]["value"].as_f64().unwrap(), 0.0);
    assert_eq!(l["mean"]["js_p_value"].as_f64().unwrap(), 1.0);
    assert_eq!(
        l["mean"]["mean_distance"]["diff"]["mean"].as_f64().unwrap(),
        0.0
    );
}

#[test]
fn top_changed_layers_can_be_chosen_on_held_out_examples() {
    let p = pair();
    let o = json_of(&run(&[
        "--base",
        &p.base,
        "--acc",
        &p.acc,
        "--top-changed",
        "1",
        "--split-select",
        "--examples",
        "4",
        "--out",
        &p.out,
        "--json",
    ]));
    let r = &o["results"][0];
    assert_eq!(r["layers"].as_array().unwrap().len(), 1);
    assert_eq!(r["select_examples"], serde_json::json!([0, 2]));
    assert_eq!(r["report_examples"], serde_json::json!([1, 3]));
    assert_eq!(r["curve"].as_array().unwrap().len(), 2);
    assert!(Path::new(&p.out)
        .join("attention-js-graphwalks.png")
        .is_file());
}

#[test]
fn one_model_alone_gives_its_distributions() {
    let p = pair();
    let o = json_of(&run(&[
        "--model",
        &p.base,
        "--layer",
        "1",
        "--examples",
        "3",
        "--out",
        &p.out,
        "--json",
    ]));
    let r = &o["results"][0];
    assert_eq!(r["layer"], 1);
    let d: Vec<f64> = serde_json::from_value(r["stats"]["dist"].clone()).unwrap();
    assert!((d.iter().sum::<f64>() - 1.0).abs() < 1e-6);
}

#[test]
fn bad_requests_are_refused_clearly() {
    let p = pair();
    let err = |o: Output| {
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).to_string()
    };
    let e = err(run(&[
        "--base", &p.base, "--acc", &p.acc, "--layer", "5", "--out", &p.out,
    ]));
    assert!(e.contains("0..=1"), "{e}");
    let three = Path::new(&p.out).join("three");
    other_model(Path::new(&p.base), &three, 3, 1);
    let e = err(run(&[
        "--base",
        &p.base,
        "--acc",
        three.to_str().unwrap(),
        "--layer",
        "1",
        "--out",
        &p.out,
    ]));
    assert!(
        e.contains("different architectures") && e.contains("num_hidden_layers"),
        "{e}"
    );
    let e = err(Command::new(env!("CARGO_BIN_EXE_acc-probe"))
        .args([
            "attention",
            "--base",
            &p.base,
            "--acc",
            &p.acc,
            "--layer",
            "1",
        ])
        .args(["--task", "graphwalks", "--tokens", "5000", "--out", &p.out])
        .output()
        .unwrap());
    assert!(
        e.contains("max_position_embeddings") && e.contains("1024"),
        "{e}"
    );
}

fn routing(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_acc-probe"))
        .arg("routing")
        .args(args)
        .args([
            "--tokens",
            "700",
            "--resamples",
            "200",
            "--permutations",
            "200",
        ])
        .output()
        .unwrap()
}

#[test]
fn routing_compares_expert_use_agreement_and_specialisation() {
    let p = pair();
    let o = json_of(&routing(&[
        "--base",
        &p.base,
        "--acc",
        &p.acc,
        "--layers",
        "0,1",
        "--task",
        "mrcr,graphwalks",
        "--examples",
        "3",
        "--top",
        "5",
        "--out",
        &p.out,
        "--json",
    ]));
    assert_eq!(o["results"].as_array().unwrap().len(), 2);
    let l = &o["results"][0]["layers"][0];
    let f: Vec<f64> = serde_json::from_value(l["frequency"]["base"].clone()).unwrap();
    assert_eq!(f.len(), 8);
    assert!((f.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    assert_eq!(l["top"].as_array().unwrap().len(), 5);
    let ov = l["overlap"]["mean"].as_f64().unwrap();
    assert!(
        (0.0..1.0).contains(&ov),
        "different models should disagree somewhere: {ov}"
    );
    assert_eq!(l["coactivation_base"].as_array().unwrap().len(), 64);
    let kl = l["router_kl"]["mean"].as_f64().unwrap();
    assert!(kl > 0.0 && kl.is_finite(), "router KL {kl}");
    // two tasks → a specialisation index per expert, layer and model
    assert_eq!(o["specialisation"].as_array().unwrap().len(), 4);
    for f in [
        "routing.json",
        "routing.png",
        "routing.svg",
        "routing-coactivation.png",
        "routing-coactivation.svg",
    ] {
        assert!(Path::new(&p.out).join(f).is_file(), "{f} missing");
    }
    // a model against itself: identical routing
    let same = json_of(&routing(&[
        "--base",
        &p.base,
        "--acc",
        &p.base,
        "--layer",
        "1",
        "--task",
        "graphwalks",
        "--examples",
        "2",
        "--out",
        &p.out,
        "--json",
    ]));
    let l = &same["results"][0]["layers"][0];
    assert_eq!(l["overlap"]["mean"].as_f64().unwrap(), 1.0);
    assert_eq!(l["frequency"]["js"]["value"].as_f64().unwrap(), 0.0);
    assert_eq!(l["router_kl"]["mean"].as_f64().unwrap(), 0.0);
}
