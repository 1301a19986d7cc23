//! `acc-probe dump`: one forward pass, everything per row.

use std::path::PathBuf;

use acc_probe::model::{ForwardOptions, LogitsRequest};
use acc_probe::probe::capture::DumpProbe;
use acc_probe::tokenizer;
use anyhow::{bail, Context};
use candle_core::{Device, Tensor};
use clap::Args;
use serde_json::json;

use super::common::{
    fmt_bytes, ids_source, open_model, parse_layer_list, read_ids, LayerList, PathArg, StatsArgs,
    WeightsArg,
};

/// Largest materialised attention capture accepted, in bytes.
const MAX_PROBS_BYTES: u64 = 2 << 30;
/// Largest logits tensor stored, in bytes.
const MAX_LOGITS_BYTES: u64 = 2 << 30;

#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogitsArg {
    /// Every position [T, V].
    All,
    /// The last position [1, V].
    Last,
    /// None: the pass stops after the last recorded layer.
    None,
}

#[derive(Args, Debug)]
pub struct DumpArgs {
    /// Hugging Face model directory (config.json + safetensors).
    #[arg(long)]
    model: PathBuf,
    /// JSON file with an array of token ids.
    #[arg(long, conflicts_with = "text", required_unless_present = "text")]
    ids: Option<PathBuf>,
    /// Text to tokenize with the model's tokenizer.json.
    #[arg(long)]
    text: Option<String>,
    /// tokenizer.json to use with --text (default: the model directory's).
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Output safetensors file; a JSON sidecar is written beside it.
    #[arg(long)]
    out: PathBuf,
    /// Also store the attention probabilities blocks.{l}.attn.probs [H, T, T] (short inputs).
    #[arg(long)]
    materialize: bool,
    /// Record only these layers (comma-separated; default all).
    #[arg(long, value_parser = parse_layer_list)]
    layers: Option<LayerList>,
    /// Attention path computing the statistics.
    #[arg(long, value_enum, default_value_t = PathArg::Streaming)]
    path: PathArg,
    #[command(flatten)]
    stats: StatsArgs,
    /// Which logits to store.
    #[arg(long, value_enum, default_value_t = LogitsArg::All)]
    logits: LogitsArg,
    /// How the model's weights are held.
    #[arg(long, value_enum, default_value_t = WeightsArg::Auto)]
    weights: WeightsArg,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(a: DumpArgs) -> anyhow::Result<()> {
    let device = Device::Cpu;
    // the outputs are checked and their folder made before any pass runs (a
    // long pass must not end in a write that cannot happen or that destroys
    // another file)
    let sidecar = a.out.with_extension("json");
    let mut inputs: Vec<(&str, &std::path::Path)> = vec![("--model", a.model.as_path())];
    if let Some(ids) = &a.ids {
        inputs.push(("--ids", ids.as_path()));
    }
    if let Some(t) = &a.tokenizer {
        inputs.push(("--tokenizer", t.as_path()));
    }
    let model_files: Vec<std::path::PathBuf> = std::fs::read_dir(&a.model)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    inputs.extend(
        model_files
            .iter()
            .map(|f| ("a file of --model", f.as_path())),
    );
    acc_probe::io::prepare_outputs(
        &[
            ("--out", a.out.as_path()),
            ("its JSON sidecar", sidecar.as_path()),
        ],
        &inputs,
    )?;
    let m = open_model(&a.model, a.weights, &device)?;
    let (model, ckpt) = (&m.model, &m.ckpt);
    let ids = match (&a.ids, &a.text) {
        (Some(p), _) => read_ids(p)?,
        (None, Some(text)) => {
            let tok_path = a
                .tokenizer
                .clone()
                .or_else(|| ckpt.tokenizer_path())
                .with_context(|| format!("--text needs a tokenizer: {} has no tokenizer.json (pass --tokenizer FILE)", a.model.display()))?;
            let tok = tokenizer::load(&tok_path)?;
            tokenizer::encode(&tok, &tok_path, text)?
        }
        (None, None) => bail!("give --ids FILE or --text STRING"),
    };
    model
        .check_input(&ids)
        .with_context(|| ids_source(a.ids.as_deref(), "--text"))?;
    let cfg = &ckpt.config;
    let t = ids.len() as u64;
    if a.materialize {
        let bytes = cfg.num_hidden_layers as u64 * cfg.num_attention_heads as u64 * t * t * 4;
        if bytes > MAX_PROBS_BYTES {
            bail!(
                "--materialize would store {} of attention probabilities for {t} tokens (limit {}); use fewer tokens or drop --materialize",
                fmt_bytes(bytes),
                fmt_bytes(MAX_PROBS_BYTES)
            );
        }
    }
    if a.logits == LogitsArg::All {
        let bytes = t * cfg.vocab_size as u64 * 4;
        if bytes > MAX_LOGITS_BYTES {
            bail!(
                "--logits all would store {} of logits for {t} tokens × {} vocabulary (limit {}); use --logits last or --logits none",
                fmt_bytes(bytes),
                cfg.vocab_size,
                fmt_bytes(MAX_LOGITS_BYTES)
            );
        }
    }
    let spec = a.stats.spec(true)?;
    spec.rows.range(ids.len())?;
    let mut probe = DumpProbe::new(spec.clone(), a.materialize);
    if let Some(ls) = &a.layers {
        probe = probe.with_layers(ls.check(cfg.num_hidden_layers)?);
    }
    let start = std::time::Instant::now();
    let out = model.forward(
        &ids,
        &mut probe,
        ForwardOptions {
            path: a.path.into(),
            blocks: a.stats.blocks(),
            logits: match a.logits {
                LogitsArg::All => LogitsRequest::All,
                LogitsArg::Last => LogitsRequest::Last,
                LogitsArg::None => LogitsRequest::None,
            },
        },
    )?;
    let secs = start.elapsed().as_secs_f64();
    let mut cap = probe.capture;
    let ids64: Vec<i64> = ids.iter().map(|&x| x as i64).collect();
    cap.insert("input_ids", Tensor::from_vec(ids64, ids.len(), &device)?);
    if let Some(logits) = out.logits {
        cap.insert("logits", logits);
    }
    cap.meta.insert(
        "logits".into(),
        json!(format!("{:?}", a.logits).to_lowercase()),
    );
    cap.meta
        .insert("model".into(), json!(a.model.display().to_string()));
    cap.meta.insert("config".into(), serde_json::to_value(cfg)?);
    cap.meta.insert("tokens".into(), json!(ids.len()));
    cap.meta.insert(
        "attention_path".into(),
        json!(format!("{:?}", a.path).to_lowercase()),
    );
    cap.meta
        .insert("attn_spec".into(), serde_json::to_value(&spec)?);
    cap.meta.insert(
        "distance_bin_lower_edges".into(),
        json!(spec.bins.lower_edges()),
    );
    cap.meta
        .insert("sink_tokens".into(), json!(spec.sink_tokens));
    cap.meta.insert(
        "conventions".into(),
        json!({
            "router.logits": "raw router logits x·W_gateᵀ, before softmax",
            "router.topk": "expert ids by descending softmax probability (ties: lower id first)",
            "attn.*": "per query head; [H, rows] over the selected query rows; entropy in nats",
            "attn.distance_hist": "attention mass per distance bin (lower edges in distance_bin_lower_edges; last bin open)",
            "attn.argmax_distance": "distance of the first key with the largest weight",
        }),
    );
    let json_path = cap.save(&a.out)?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "out": a.out, "meta": json_path, "tokens": ids.len(), "layers": out.layers_run,
                "tensors": cap.tensors.len(), "seconds": secs,
            }))?
        );
    } else {
        println!(
            "wrote {} ({} tensors) and {} — {} tokens, {} layers, {:.3} s",
            a.out.display(),
            cap.tensors.len(),
            json_path.display(),
            ids.len(),
            out.layers_run,
            secs
        );
    }
    Ok(())
}
