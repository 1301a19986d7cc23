//! The corpus of a reproduction: synthetic search / SQL / SWE episodes (and
//! repository-history runs) written as trajectory files in several agent
//! formats, read back through the compiler's readers into agent-SFT
//! conversations; the BPE tokenizer trained on it, and the model configs
//! for its vocabulary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tokenizers::Tokenizer;

use super::preset::Preset;
use super::stages::{copy_model_config_path, model_config_path};
use crate::chat::{ChatTemplate, Message};
use crate::compile::agent_sft;
use crate::compile::readers::read_file;
use crate::compile::trajectory::Trajectory;
use crate::domain::Domain;
use crate::environments::{self, Format};
use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::model::Qwen3MoeConfig;
use crate::tasks::eval::TaskRow;
use crate::tasks::toy::{self, seed_for, TRAIN_STREAM};

/// The trajectories read back, and what agent SFT makes of them.
pub(super) struct Corpus {
    pub trajectories: Vec<Trajectory>,
    /// Agent-SFT rows, one per trajectory that makes one.
    pub sft_rows: Vec<Value>,
    /// Each agent-SFT row's conversation rendered with the chat template,
    /// with whether it is a repository-history run's.
    pub conversations: Vec<(String, bool)>,
}

impl Corpus {
    /// Writes the episodes' trajectory files into `dir` and reads them back.
    pub fn build(
        dir: &Path,
        p: &Preset,
        seed: u64,
        stage: &mut dyn FnMut(&str),
        counts: &mut BTreeMap<String, usize>,
    ) -> Result<Self> {
        stage("environments → trajectories");
        let files = write_trajectories(dir, p, seed)?;
        counts.insert("trajectory_files".into(), files.len());
        stage("reading trajectories");
        let mut trajectories: Vec<Trajectory> = Vec::new();
        // which trajectories are repository-history runs
        let mut history_run: Vec<bool> = Vec::new();
        let mut rejected = 0;
        for (f, history) in &files {
            let (t, r) = read_file(f, None);
            history_run.extend(std::iter::repeat_n(*history, t.len()));
            trajectories.extend(t);
            rejected += r.len();
        }
        counts.insert("trajectories".into(), trajectories.len());
        counts.insert("trajectory_records_rejected".into(), rejected);
        let template = ChatTemplate::chatml_tools();
        let (sft_rows, sft_history): (Vec<Value>, Vec<bool>) = trajectories
            .iter()
            .zip(&history_run)
            .filter_map(|(t, &h)| Some((agent_sft::row(t)?, h)))
            .unzip();
        let mut conversations = Vec::new();
        for (r, &h) in sft_rows.iter().zip(&sft_history) {
            if let Ok(m) = serde_json::from_value::<Vec<Message>>(r["messages"].clone()) {
                conversations.push((template.render(&m, false)?, h));
            }
        }
        Ok(Corpus {
            trajectories,
            sft_rows,
            conversations,
        })
    }
}

fn domain_formats(d: Domain) -> Vec<Format> {
    let mut f = vec![Format::Openai, Format::ClaudeCode, Format::Sharegpt];
    if d == Domain::Swe {
        f.push(Format::SweAgent);
    }
    f
}

/// Episodes written round-robin over each domain's formats: the
/// trajectory files in path order, each with whether it holds a
/// repository-history run.
fn write_trajectories(dir: &Path, p: &Preset, seed: u64) -> Result<Vec<(PathBuf, bool)>> {
    let mut files = Vec::new();
    for (di, d) in [Domain::Search, Domain::Sql, Domain::Swe]
        .into_iter()
        .enumerate()
    {
        let name = d.name().to_string();
        let eps = environments::generate(
            d,
            p.episodes_per_domain,
            seed_for(seed, 10 + di as u64, 0),
            &dir.join("databases"),
        )?;
        write_round_robin(dir, &name, &eps, &domain_formats(d), &mut files)?;
    }
    // repository-history episodes: SWE agents without a patch, in the
    // formats that carry a final answer
    let history = environments::generate_history(
        p.history_episodes,
        seed_for(seed, toy::HISTORY_STREAM, 0),
        p.history_commits,
    );
    let formats = [Format::Openai, Format::ClaudeCode, Format::Sharegpt];
    let mut history_files = Vec::new();
    write_round_robin(dir, "history", &history, &formats, &mut history_files)?;
    let mut files: Vec<(PathBuf, bool)> = (files.into_iter().map(|f| (f, false)))
        .chain(history_files.into_iter().map(|f| (f, true)))
        .collect();
    files.sort();
    Ok(files)
}

/// Writes `eps` round-robin over `formats`, format f into `dir/<name>-<f>/`,
/// and adds the trajectory files written to `files`.
fn write_round_robin(
    dir: &Path,
    name: &str,
    eps: &[environments::Episode],
    formats: &[Format],
    files: &mut Vec<PathBuf>,
) -> Result<()> {
    for (fi, f) in formats.iter().enumerate() {
        let part: Vec<_> = eps
            .iter()
            .enumerate()
            .filter(|(i, _)| i % formats.len() == fi)
            .map(|(_, e)| e.clone())
            .collect();
        if part.is_empty() {
            continue;
        }
        let sub = dir.join(format!("{name}-{}", f.name()));
        for w in environments::write(&sub, &part, &[*f])? {
            if w.file_name().is_some_and(|n| n != "ground_truth.jsonl") {
                files.push(w);
            }
        }
    }
    Ok(())
}

/// The reference answer of a toy problem (what a perfect model writes).
fn reference_answer(row: &TaskRow) -> String {
    match row {
        TaskRow::Mrcr(r) => r.answer.clone(),
        TaskRow::Graphwalks(r) => format!("Final Answer: [{}]", r.answer_nodes.join(", ")),
    }
}

/// A toy problem's messages with the reference answer as the last turn.
pub(super) fn with_answer(row: &TaskRow) -> Result<Vec<Message>> {
    let mut m = row.messages()?;
    m.push(Message {
        role: "assistant".into(),
        content: reference_answer(row),
    });
    Ok(m)
}

/// Trains the BPE tokenizer on the corpus (conversations + toy tasks at
/// approximate sizes) and writes it to `path`.
pub(super) fn train_tokenizer(
    corpus: &Corpus,
    p: &Preset,
    seed: u64,
    path: &Path,
) -> Result<Tokenizer> {
    let template = ChatTemplate::chatml_tools();
    let approx = crate::tokenizer::approx_tokens;
    let (m, g) = toy::rows(
        p.task_problems.min(200),
        p.task_tokens,
        seed,
        TRAIN_STREAM,
        &approx,
    )?;
    // the environments' conversations without the history runs: those add
    // only hex names, which the toy tasks and SQL codes already bring, and
    // a vocabulary trained on them spends its ids on hex pieces and delays
    // the copy stage. So `history_episodes` leaves the tokenizer, and with
    // it the copy stage, as they are without it (docs/curriculum.md).
    let mut texts: Vec<String> = corpus
        .conversations
        .iter()
        .filter(|(_, h)| !h)
        .map(|(c, _)| c.clone())
        .collect();
    for r in m.iter().chain(&g) {
        texts.push(template.render(&with_answer(r)?, false)?);
    }
    let tok = crate::tokenizer::train_bpe_with(texts.iter(), p.vocab, p.id_chunk)?;
    let json = tok
        .to_string(false)
        .map_err(|e| Error::Input(format!("tokenizer does not serialise: {e}")))?;
    write_atomic(path, json.as_bytes())?;
    Ok(tok)
}

/// Writes the model config for the tokenizer's vocabulary into `out`, and
/// the shallow copy model's beside it where the preset grows one.
pub(super) fn write_model_configs(p: &Preset, tok: &Tokenizer, out: &Path) -> Result<()> {
    let write = |path: &Path, c: &Qwen3MoeConfig| {
        write_atomic(
            path,
            &serde_json::to_vec_pretty(&c.to_hf_json()).expect("config serialises"),
        )
    };
    let mut mcfg = p.model_config(tok.get_vocab_size(true));
    write(&model_config_path(out), &mcfg)?;
    if p.grows() {
        mcfg.num_hidden_layers = p.copy_depth();
        write(&copy_model_config_path(out), &mcfg)?;
    }
    Ok(())
}
