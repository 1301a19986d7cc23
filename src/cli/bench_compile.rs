//! `acc-probe bench compile`: compiler throughput on generated trajectories
//! (mixed domains and formats) with 1 and 2 jobs, next to the throughput of
//! the tokenizer alone on the compiled prompts (the bound the compiler can
//! approach, since measuring tokens dominates its work).

use std::path::PathBuf;
use std::time::Instant;

use acc_probe::compile::pipeline::{collect_files, compile_files, Budget, CompileOptions};
use acc_probe::compile::writers::{row, Writer};
use acc_probe::domain::Domain;
use acc_probe::environments::{self, Format};
use acc_probe::tokenizer::TokenCounter;
use anyhow::Context;
use clap::Args;
use rayon::prelude::*;

#[derive(Args, Debug)]
pub struct BenchCompileArgs {
    /// Trajectories to generate (split evenly over search, SQL and SWE).
    #[arg(long, default_value_t = 2100)]
    n: usize,
    /// Token budget per sample (log-uniform over a range).
    #[arg(long, default_value = "2k..64k")]
    budget: String,
    /// Thread counts to time.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    jobs: Vec<usize>,
    /// tokenizer.json; without it a byte-level BPE (Qwen3 pre-tokenisation) is trained on the corpus.
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Vocabulary of the trained tokenizer.
    #[arg(long, default_value_t = 16384)]
    vocab: usize,
    /// Keep the generated corpus (and tokenizer.json) here instead of a temporary directory.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Timed runs per cell (the fastest is reported).
    #[arg(long, default_value_t = 2)]
    repeat: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: BenchCompileArgs) -> anyhow::Result<()> {
    let dir = match &a.dir {
        Some(d) => d.clone(),
        None => {
            std::env::temp_dir().join(format!("acc-probe-bench-compile-{}", std::process::id()))
        }
    };
    let result = bench(&a, &dir);
    if a.dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn bench(a: &BenchCompileArgs, dir: &std::path::Path) -> anyhow::Result<()> {
    // 1. the corpus: a third per domain, formats mixed
    let per = a.n.div_ceil(3);
    let plan = [
        (
            Domain::Search,
            vec![Format::Openai, Format::ClaudeCode, Format::Sharegpt],
        ),
        (Domain::Sql, vec![Format::Openai, Format::Sharegpt]),
        (Domain::Swe, vec![Format::Openai, Format::SweAgent]),
    ];
    let mut inputs = Vec::new();
    for (domain, formats) in &plan {
        let sub = dir.join(domain.name());
        let episodes = environments::generate(*domain, per, a.seed, &sub.join("databases"))?;
        for (k, f) in formats.iter().enumerate() {
            // each episode once, in one of the domain's formats
            let mine: Vec<_> = episodes
                .iter()
                .skip(k)
                .step_by(formats.len())
                .cloned()
                .collect();
            environments::write(&sub, &mine, &[*f])?;
        }
        inputs.push(sub.clone());
    }
    let files: Vec<PathBuf> = collect_files(&inputs)?
        .into_iter()
        .filter(|p| {
            p.extension().is_some_and(|e| e != "sqlite") && !p.ends_with("ground_truth.jsonl")
        })
        .collect();
    let bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    // 2. the tokenizer
    let tok = match &a.tokenizer {
        Some(p) => acc_probe::tokenizer::load(p)?,
        None => {
            let texts: Vec<String> = files
                .iter()
                .filter_map(|f| std::fs::read_to_string(f).ok())
                .collect();
            let t = acc_probe::tokenizer::train_bpe(texts.iter(), a.vocab)?;
            let path = dir.join("tokenizer.json");
            t.save(&path, false)
                .map_err(|e| anyhow::anyhow!("saving {}: {e}", path.display()))?;
            t
        }
    };
    let opts = CompileOptions {
        format: None,
        domain: None,
        budget: Budget::parse(&a.budget)?,
        distractors: true,
        seed: a.seed,
        db: None,
        repo_root: None,
    };
    println!(
        "bench compile: {} trajectories in {} files ({:.1} MiB; search, SQL, SWE; openai, claude-code, sharegpt, swe-agent), budget {}, tokenizer vocab {}, fastest of {}",
        files.len(),
        files.len(),
        bytes as f64 / (1 << 20) as f64,
        a.budget,
        tok.get_vocab_size(true),
        a.repeat
    );
    println!(
        "{:>4} | {:>8} | {:>9} | {:>8} | {:>11} | {:>14} | {:>7}",
        "jobs", "samples", "seconds", "traj/s", "tokens/s", "tok-only tok/s", "ratio"
    );
    let mut results = Vec::new();
    for &j in &a.jobs {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(j).build()?;
        let mut best = f64::INFINITY;
        let mut out = None;
        for _ in 0..a.repeat.max(1) {
            let t0 = Instant::now();
            let o = pool.install(|| compile_files(&files, &opts, &tok, &|| ()));
            // formatting the rows is part of the work
            let text: String = o
                .samples
                .iter()
                .map(|s| row(s, Writer::Acc, None).map(|v| v.to_string() + "\n"))
                .collect::<Result<_, _>>()?;
            std::hint::black_box(text);
            best = best.min(t0.elapsed().as_secs_f64());
            out = Some(o);
        }
        let out = out.context("no run")?;
        let tokens: usize = out.samples.iter().map(|s| s.context.tokens).sum();
        // the bound: the tokenizer alone, once over every compiled prompt
        let prompts: Vec<&str> = out
            .samples
            .iter()
            .map(|s| s.context.prompt.as_str())
            .collect();
        let mut tok_best = f64::INFINITY;
        let mut tok_tokens = 0;
        for _ in 0..a.repeat.max(1) {
            let t0 = Instant::now();
            tok_tokens = pool.install(|| prompts.par_iter().map(|p| tok.count(p)).sum::<usize>());
            tok_best = tok_best.min(t0.elapsed().as_secs_f64());
        }
        let r = serde_json::json!({
            "jobs": j,
            "files": files.len(),
            "read": out.read,
            "samples": out.samples.len(),
            "rejected": out.rejections.len(),
            "seconds": best,
            "trajectories_per_s": out.read as f64 / best,
            "tokens": tokens,
            "tokens_per_s": tokens as f64 / best,
            "tokenizer_only_tokens_per_s": tok_tokens as f64 / tok_best,
            "ratio_to_tokenizer_only": (tokens as f64 / best) / (tok_tokens as f64 / tok_best),
        });
        println!(
            "{:>4} | {:>8} | {:>9.2} | {:>8.0} | {:>11.0} | {:>14.0} | {:>6.0}%",
            j,
            out.samples.len(),
            best,
            out.read as f64 / best,
            tokens as f64 / best,
            tok_tokens as f64 / tok_best,
            100.0 * r["ratio_to_tokenizer_only"].as_f64().unwrap_or(0.0)
        );
        results.push(r);
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    }
    Ok(())
}
