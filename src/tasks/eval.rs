//! Evaluating a model on MRCR / GraphWalks rows: render the prompt with the
//! model's chat template, decode greedily, grade with the official grader,
//! and report means with bootstrap CIs per needle count / problem type and
//! per length bin.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::grade;
use super::graphwalks::GraphWalksRow;
use super::mrcr::MrcrRow;
use super::score::{length_bin, Task};
use crate::analysis::bootstrap::{mean_ci, MeanCi};
use crate::chat::Message;
use crate::error::{Error, Result};
use crate::model::generate::greedy;
use crate::model_dir::ChatModel;

/// A task row of either kind.
#[derive(Debug, Clone)]
pub enum TaskRow {
    Mrcr(MrcrRow),
    Graphwalks(GraphWalksRow),
}

impl TaskRow {
    /// The chat messages of the prompt.
    pub fn messages(&self) -> Result<Vec<Message>> {
        match self {
            TaskRow::Mrcr(r) => serde_json::from_str(&r.prompt).map_err(|e| {
                Error::Input(format!("MRCR prompt is not a JSON list of messages: {e}"))
            }),
            TaskRow::Graphwalks(r) => Ok(vec![Message {
                role: "user".into(),
                content: r.prompt.clone(),
            }]),
        }
    }

    /// Needle count or problem type.
    pub fn kind(&self) -> String {
        match self {
            TaskRow::Mrcr(r) => format!("{} needles", r.n_needles),
            TaskRow::Graphwalks(r) => r.problem_type.clone(),
        }
    }

    pub fn grade(&self, response: &str) -> f64 {
        match self {
            TaskRow::Mrcr(r) => grade::mrcr(response, &r.answer, &r.random_string_to_prepend),
            TaskRow::Graphwalks(r) => grade::graphwalks(response, &r.answer_nodes),
        }
    }
}

/// The answer part of a response: text after a closing `</think>` (thinking
/// models), else the whole response.
pub fn answer_part(response: &str) -> &str {
    match response.rfind("</think>") {
        Some(i) => response[i + "</think>".len()..].trim_start(),
        None => response,
    }
}

/// One graded row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalRow {
    pub kind: String,
    pub prompt_tokens: usize,
    pub score: f64,
    pub response: String,
}

/// Scores with 95% bootstrap CIs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalReport {
    pub task: Task,
    pub overall: MeanCi,
    pub by_kind: BTreeMap<String, MeanCi>,
    pub by_length: BTreeMap<String, MeanCi>,
    pub rows: Vec<EvalRow>,
}

/// How decoding and the bootstrap run.
#[derive(Debug, Clone, Copy)]
pub struct EvalOptions {
    pub max_new_tokens: usize,
    pub resamples: usize,
    pub seed: u64,
}

/// Decodes and grades every row; `progress` is called after each row.
pub fn evaluate(
    chat: &ChatModel<'_>,
    task: Task,
    rows: &[TaskRow],
    opts: EvalOptions,
    progress: &dyn Fn(usize),
) -> Result<EvalReport> {
    let ChatModel {
        model,
        tokenizer,
        template,
        stop,
    } = *chat;
    let tok_err = |e: tokenizers::Error| Error::Input(format!("tokenizer: {e}"));
    let mut out = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let text = template.render(&row.messages()?, true)?;
        let ids = tokenizer
            .encode(text.as_str(), false)
            .map_err(tok_err)?
            .get_ids()
            .to_vec();
        model.check_input(&ids)?;
        let new = greedy(model, &ids, opts.max_new_tokens, stop)?;
        let new: Vec<u32> = new.into_iter().filter(|t| !stop.contains(t)).collect();
        // keep added tokens such as </think> (a tokenizer may mark them special);
        // stop ids were removed above
        let response = tokenizer.decode(&new, false).map_err(tok_err)?;
        out.push(EvalRow {
            kind: row.kind(),
            prompt_tokens: ids.len(),
            score: row.grade(answer_part(&response)),
            response,
        });
        progress(i + 1);
    }
    Ok(summarize(task, out, opts))
}

/// Groups graded rows and attaches bootstrap CIs.
pub fn summarize(task: Task, rows: Vec<EvalRow>, opts: EvalOptions) -> EvalReport {
    let ci = |v: &[f64]| mean_ci(v, opts.resamples, 0.95, opts.seed);
    let mut kinds: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut lengths: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in &rows {
        kinds.entry(r.kind.clone()).or_default().push(r.score);
        lengths
            .entry(length_bin(r.prompt_tokens))
            .or_default()
            .push(r.score);
    }
    let all: Vec<f64> = rows.iter().map(|r| r.score).collect();
    EvalReport {
        task,
        overall: ci(&all),
        by_kind: kinds.iter().map(|(k, v)| (k.clone(), ci(v))).collect(),
        by_length: lengths.iter().map(|(k, v)| (k.clone(), ci(v))).collect(),
        rows,
    }
}
