//! `acc-probe generate`: greedy decoding with a KV cache.

use std::path::PathBuf;

use acc_probe::chat::Message;
use acc_probe::model::generate::greedy;
use acc_probe::tokenizer;
use anyhow::{bail, Context};
use candle_core::Device;
use clap::Args;
use serde_json::json;

use super::common::{open_model, read_ids, warn_streamed_decoding, WeightsArg};

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Hugging Face model directory.
    #[arg(long)]
    model: PathBuf,
    /// A user message, rendered with the model's chat template (ChatML when it has none).
    #[arg(long, conflicts_with_all = ["ids", "messages"], required_unless_present_any = ["ids", "messages"])]
    prompt: Option<String>,
    /// JSON file with a list of {role, content} messages, rendered with the chat template.
    #[arg(long, conflicts_with = "ids")]
    messages: Option<PathBuf>,
    /// Tokenize --prompt as it is, without the chat template.
    #[arg(long)]
    raw: bool,
    /// JSON file with an array of prompt token ids.
    #[arg(long)]
    ids: Option<PathBuf>,
    #[arg(long, default_value_t = 64)]
    max_new_tokens: usize,
    /// Extra stop token ids (the model's generation_config.json eos ids always stop).
    #[arg(long, value_delimiter = ',')]
    stop: Vec<u32>,
    /// How the model's weights are held (streamed: every decoding step reads the layers again).
    #[arg(long, value_enum, default_value_t = WeightsArg::Auto)]
    weights: WeightsArg,
    #[arg(long)]
    json: bool,
}

pub fn run(a: GenerateArgs) -> anyhow::Result<()> {
    let device = Device::Cpu;
    let m = open_model(&a.model, a.weights, &device)?;
    let (model, ckpt) = (&m.model, &m.ckpt);
    warn_streamed_decoding(&m);
    let tok = match ckpt.tokenizer_path() {
        Some(p) => Some((m.tokenizer()?, p)),
        None => None,
    };
    let text = match (&a.prompt, &a.messages) {
        (Some(p), _) if a.raw => Some(p.clone()),
        (Some(p), _) => {
            let user = Message {
                role: "user".into(),
                content: p.clone(),
            };
            Some(m.template()?.render(&[user], true)?)
        }
        (None, Some(f)) => {
            let text = acc_probe::io::read_text(f, acc_probe::io::MAX_DOC_BYTES)?;
            let msgs: Vec<Message> = serde_json::from_str(&text).with_context(|| {
                format!(
                    "{}: expected a JSON list of {{role, content}} messages",
                    f.display()
                )
            })?;
            if msgs.is_empty() {
                bail!(
                    "{}: no messages; expected at least one {{role, content}}",
                    f.display()
                );
            }
            Some(m.template()?.render(&msgs, true)?)
        }
        (None, None) => None,
    };
    let prompt = match (&a.ids, text, &tok) {
        (Some(p), _, _) => read_ids(p)?,
        (None, Some(text), Some((t, p))) => tokenizer::encode(t, p, &text)?,
        (None, Some(_), None) => bail!(
            "{}: no tokenizer.json; give --ids FILE instead",
            a.model.display()
        ),
        (None, None, _) => bail!("give --prompt TEXT, --messages FILE or --ids FILE"),
    };
    model
        .check_input(&prompt)
        .with_context(|| super::common::ids_source(a.ids.as_deref(), "the prompt"))?;
    let mut stop = m.stop()?.to_vec();
    stop.extend(&a.stop);
    let start = std::time::Instant::now();
    let out = greedy(model, &prompt, a.max_new_tokens, &stop).context("decoding")?;
    let secs = start.elapsed().as_secs_f64();
    let text = match &tok {
        Some((t, _)) => t.decode(&out, false).ok(),
        None => None,
    };
    if a.json {
        println!(
            "{}",
            json!({"prompt_tokens": prompt.len(), "ids": out, "text": text, "seconds": secs})
        );
    } else {
        match text {
            Some(t) => println!("{t}"),
            None => println!("{out:?}"),
        }
        eprintln!("{} new tokens in {:.3} s", out.len(), secs);
    }
    Ok(())
}
