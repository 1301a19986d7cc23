//! `acc-probe compile`: agent trajectories → long-context QA samples.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use acc_probe::chat::ChatTemplate;
use acc_probe::compile::pipeline::{
    collect_files, compile_files, shard, stats, Budget, CompileOptions, CompileOutput,
};
use acc_probe::compile::readers::{Reject, RejectKind, SourceFormat};
use acc_probe::compile::teacher::{annotate, HttpTeacher, TeacherOptions};
use acc_probe::compile::writers::{dataset_info_entry, row, Writer};
use acc_probe::domain::Domain;
use acc_probe::io::write_atomic;
use acc_probe::probe::shard::Shard;
use acc_probe::tokenizer::{approx_tokens, TokenCounter};
use anyhow::bail;
use clap::Args;

#[derive(Args, Debug)]
pub struct CompileArgs {
    /// Trajectory files or directories (recursed).
    #[arg(long, num_args = 1.., required = true)]
    input: Vec<PathBuf>,
    /// auto (detected per file and record), or a reader's name (an unknown name lists them; docs/readers.md).
    #[arg(long, default_value = "auto", value_parser = parse_format)]
    format: Auto<SourceFormat>,
    /// auto, search, swe, sql or other.
    #[arg(long, default_value = "auto", value_parser = parse_domain)]
    domain: Auto<Domain>,
    /// tokenizer.json (or a model directory) measuring the budget; without it, characters / 4.
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Token budget: 32k, or a range 2k..128k drawn per sample (log-uniform).
    #[arg(long, default_value = "32k", value_parser = |s: &str| Budget::parse(s).map_err(|e| e.to_string()))]
    budget: Budget,
    /// Keep distractors (on) or evidence only (off).
    #[arg(long, default_value = "on", value_parser = ["on", "off"])]
    distractors: String,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// acc, openai, trl, llamafactory or tokens.
    #[arg(long, default_value = "acc", value_parser = |s: &str| Writer::parse(s).map_err(|e| e.to_string()))]
    writer: Writer,
    /// SQLite database whose tables SQL trajectories queried (or a directory of `<trajectory id>.sqlite`).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Checkout the SWE trajectories ran in (file contents for patched files).
    #[arg(long)]
    repo_root: Option<PathBuf>,
    /// Output JSONL.
    #[arg(long)]
    out: PathBuf,
    /// Rejected records (JSONL: source and reason).
    #[arg(long)]
    rejects: Option<PathBuf>,
    /// Counts, rejections by reason and the length histogram (JSON).
    #[arg(long)]
    stats: Option<PathBuf>,
    /// Worker threads (output is identical for any value).
    #[arg(long, value_parser = super::common::in_range(1, super::common::MAX_THREADS))]
    jobs: Option<usize>,
    /// Compile shard i of N (i/N, 0-based); shards concatenate to the whole.
    #[arg(long, value_parser = |s: &str| Shard::parse(s).map_err(|e| e.to_string()))]
    shard: Option<Shard>,
    /// Where the reasoning comes from: the trajectory's own, or a teacher model
    /// (verified against the ground truth, with retries).
    #[arg(long, default_value = "trajectory", value_parser = ["trajectory", "teacher"])]
    reasoning: String,
    /// OpenAI-compatible server for --reasoning teacher (base URL, …/v1, or …/chat/completions).
    #[arg(long)]
    endpoint: Option<String>,
    /// Model name sent to the teacher server.
    #[arg(long)]
    teacher_model: Option<String>,
    /// Environment variable holding the teacher's API key (sent as a Bearer token when set).
    #[arg(long, default_value = "OPENAI_API_KEY")]
    api_key_env: String,
    /// Teacher answers drawn per sample before it is rejected.
    #[arg(long, default_value_t = 4)]
    attempts: usize,
    /// Retries per request on 5xx, 429, timeouts and garbled replies (exponential backoff).
    #[arg(long, default_value_t = 4)]
    retries: usize,
    /// Seconds before a teacher request times out.
    #[arg(long, default_value_t = 300.0)]
    timeout: f64,
    /// Teacher requests in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    #[arg(long, default_value_t = 0.7)]
    temperature: f64,
    #[arg(long)]
    max_tokens: Option<usize>,
    /// Token-F1 threshold for verifying text answers (exact match always passes).
    #[arg(long, default_value_t = 0.8)]
    f1_threshold: f64,
    /// First retry backoff in milliseconds (doubles per retry, capped at 30 s).
    #[arg(long, default_value_t = 500)]
    backoff_ms: u64,
}

/// `auto` (detected per file and record) or a value given.
#[derive(Debug, Clone, Copy)]
struct Auto<T>(Option<T>);

fn parse_format(f: &str) -> Result<Auto<SourceFormat>, String> {
    if f == "auto" {
        return Ok(Auto(None));
    }
    SourceFormat::parse(f)
        .map(|x| Auto(Some(x)))
        .ok_or_else(|| {
            let names: Vec<&str> = SourceFormat::names().collect();
            format!(
                "unknown --format {f}: expected auto or one of {}",
                names.join(", ")
            )
        })
}

fn parse_domain(d: &str) -> Result<Auto<Domain>, String> {
    if d == "auto" {
        return Ok(Auto(None));
    }
    Domain::parse(d)
        .map(|x| Auto(Some(x)))
        .ok_or_else(|| format!("unknown --domain {d}: expected auto, search, swe, sql or other"))
}

pub fn run(a: CompileArgs) -> anyhow::Result<()> {
    let (format, domain, writer) = (a.format.0, a.domain.0, a.writer);
    let tok = match &a.tokenizer {
        Some(p) => {
            let file = if p.is_dir() {
                p.join("tokenizer.json")
            } else {
                p.clone()
            };
            Some(acc_probe::tokenizer::load(&file)?)
        }
        None => None,
    };
    if writer == Writer::Tokens && tok.is_none() {
        bail!("--writer tokens needs --tokenizer");
    }
    let template = template_for(a.tokenizer.as_deref())?;
    let all_files = collect_files(&a.input)?;
    check_outputs(&a, writer, &all_files)?;
    let mut files = all_files;
    if let Some(s) = a.shard {
        files = shard(files, s.index, s.count);
    }
    let opts = CompileOptions {
        format,
        domain,
        budget: a.budget,
        distractors: a.distractors == "on",
        seed: a.seed,
        db: a.db.clone(),
        repo_root: a.repo_root.clone(),
    };
    let counter: &(dyn TokenCounter + Sync) = match &tok {
        Some(t) => t,
        None => &approx_tokens,
    };
    let bar = indicatif::ProgressBar::new(files.len() as u64);
    let done = AtomicU64::new(0);
    let progress = || bar.set_position(done.fetch_add(1, Ordering::Relaxed) + 1);
    let out = match a.jobs {
        Some(j) => rayon::ThreadPoolBuilder::new()
            .num_threads(j)
            .build()?
            .install(|| compile_files(&files, &opts, counter, &progress)),
        None => compile_files(&files, &opts, counter, &progress),
    };
    bar.finish_and_clear();
    let mut out = out;
    if a.reasoning == "teacher" {
        annotate_with_teacher(&a, &mut out)?;
    }

    let mut text = String::new();
    let mut rejections = out.rejections.clone();
    let mut written = 0;
    for s in &out.samples {
        match row(s, writer, tok.as_ref().map(|t| (t, &template))) {
            Ok(v) => {
                text.push_str(&v.to_string());
                text.push('\n');
                written += 1;
            }
            Err(e) => rejections.push(Reject::new(RejectKind::Writer, format!("writer: {e}")).at(
                acc_probe::compile::trajectory::SourceRef {
                    file: s.source.clone(),
                    record: 0,
                    part: None,
                },
            )),
        }
    }
    write_atomic(&a.out, text.as_bytes())?;
    if writer == Writer::Llamafactory {
        let name = a.out.file_stem().and_then(|s| s.to_str()).unwrap_or("acc");
        let file = a
            .out
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or("acc.jsonl");
        let info = a.out.with_file_name("dataset_info.json");
        write_atomic(
            &info,
            serde_json::to_string_pretty(&dataset_info_entry(name, file))?.as_bytes(),
        )?;
    }
    if let Some(r) = &a.rejects {
        let lines: String = rejections
            .iter()
            .map(|x| serde_json::to_string(x).map(|l| l + "\n"))
            .collect::<Result<_, _>>()?;
        write_atomic(r, lines.as_bytes())?;
    }
    if let Some(p) = &a.stats {
        write_atomic(p, serde_json::to_string_pretty(&stats(&out))?.as_bytes())?;
    }
    println!(
        "{} files, {} records read = {} written + {} rejected → {}",
        out.files,
        out.read,
        written,
        rejections.len(),
        a.out.display()
    );
    if out.read != written + rejections.len() {
        bail!("internal error: counts do not reconcile");
    }
    for r in rejections.iter().take(10) {
        eprintln!("rejected {}: {}", r.source, r.reason);
    }
    Ok(())
}

/// The chat template of `--tokenizer`'s model directory (or of the folder of
/// a tokenizer.json), ChatML where there is none.
fn template_for(tokenizer: Option<&std::path::Path>) -> anyhow::Result<ChatTemplate> {
    Ok(match tokenizer {
        Some(p) if p.is_dir() => ChatTemplate::for_model_dir(p)?,
        Some(p) => match p
            .parent()
            .map(|d| d.join("tokenizer_config.json"))
            .filter(|c| c.is_file())
        {
            Some(cfg) => {
                ChatTemplate::from_tokenizer_config(&cfg)?.unwrap_or_else(ChatTemplate::chatml)
            }
            None => ChatTemplate::chatml(),
        },
        None => ChatTemplate::chatml(),
    })
}

/// Replaces the trajectories' reasoning with a teacher's verified answers.
fn annotate_with_teacher(a: &CompileArgs, out: &mut CompileOutput) -> anyhow::Result<()> {
    let (Some(endpoint), Some(model)) = (a.endpoint.clone(), a.teacher_model.clone()) else {
        bail!("--reasoning teacher needs --endpoint URL and --teacher-model NAME");
    };
    let topts = TeacherOptions {
        endpoint,
        model,
        api_key: std::env::var(&a.api_key_env).ok().filter(|k| !k.is_empty()),
        attempts: a.attempts,
        retries: a.retries,
        timeout: std::time::Duration::from_secs_f64(a.timeout),
        concurrency: a.concurrency,
        temperature: a.temperature,
        max_tokens: a.max_tokens,
        f1_threshold: a.f1_threshold,
        backoff: std::time::Duration::from_millis(a.backoff_ms),
    };
    let teacher = HttpTeacher::new(topts.clone());
    let bar = indicatif::ProgressBar::new(out.samples.len() as u64);
    let progress = || bar.inc(1);
    let samples = std::mem::take(&mut out.samples);
    let (kept, rejected) = annotate(samples, &teacher, &topts, &progress);
    bar.finish_and_clear();
    tracing::info!(
        "teacher: {} verified, {} rejected",
        kept.len(),
        rejected.len()
    );
    out.samples = kept;
    out.rejections.extend(rejected);
    Ok(())
}

/// Refuses outputs that are the same file as each other or as an input
/// (before anything is read or written), and makes their folders.
fn check_outputs(a: &CompileArgs, writer: Writer, inputs: &[PathBuf]) -> anyhow::Result<()> {
    let info = a.out.with_file_name("dataset_info.json");
    let mut outs: Vec<(&str, &std::path::Path)> = vec![("--out", a.out.as_path())];
    if writer == Writer::Llamafactory {
        outs.push(("its dataset_info.json", info.as_path()));
    }
    if let Some(r) = &a.rejects {
        outs.push(("--rejects", r.as_path()));
    }
    if let Some(s) = &a.stats {
        outs.push(("--stats", s.as_path()));
    }
    let ins: Vec<(&str, &std::path::Path)> = inputs
        .iter()
        .map(|f| ("an --input file", f.as_path()))
        .collect();
    Ok(acc_probe::io::prepare_outputs(&outs, &ins)?)
}
