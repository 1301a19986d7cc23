//! Evaluating a model on MRCR / GraphWalks rows: render the prompt with the
//! model's chat template, decode greedily, grade with the official grader,
//! and report means with bootstrap CIs per needle count / problem type and
//! per lm-eval length bin, with lm-eval's AUC. Rows whose prompt plus answer
//! exceed the model's positions are dropped and counted, as lm-eval does.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::bins::{self, LengthBin};
use super::conventions::Conventions;
use super::grade::{self, AnswerLine, EmptySet};
use super::graphwalks::GraphWalksRow;
use super::mrcr::MrcrRow;
use super::score::Task;
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

    /// The strict score of `response` (the answer part), and for GraphWalks
    /// the flexible F1.
    pub fn grade(&self, response: &str, empty: EmptySet) -> (f64, Option<f64>) {
        match self {
            TaskRow::Mrcr(r) => (
                grade::mrcr(response, &r.answer, &r.random_string_to_prepend),
                None,
            ),
            TaskRow::Graphwalks(r) => {
                let f1 = |line| grade::graphwalks_f1(response, &r.answer_nodes, line, empty);
                (f1(AnswerLine::Last), Some(f1(AnswerLine::Any)))
            }
        }
    }

    /// The expected answer as text (its tokens count toward the model's
    /// positions, as lm-eval counts them).
    pub fn answer_text(&self) -> String {
        match self {
            TaskRow::Mrcr(r) => r.answer.clone(),
            TaskRow::Graphwalks(r) => format!("Final Answer: [{}]", r.answer_nodes.join(", ")),
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
    /// The score (GraphWalks: strict F1).
    pub score: f64,
    /// GraphWalks: the flexible F1.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub flexible: Option<f64>,
    pub response: String,
}

/// Scores with 95% bootstrap CIs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalReport {
    pub task: Task,
    /// How the scores were computed (graders, empty sets, bins, tokens).
    pub conventions: Conventions,
    /// Rows not decoded: prompt plus answer exceed the model's positions.
    pub dropped_too_long: usize,
    pub overall: MeanCi,
    /// GraphWalks: the flexible F1 over every row.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub flexible: Option<MeanCi>,
    /// By needle count (MRCR: "2 needles", …) or operation (GraphWalks: bfs, parents).
    pub by_kind: BTreeMap<String, MeanCi>,
    /// GraphWalks: the flexible F1 by operation.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub by_kind_flexible: BTreeMap<String, MeanCi>,
    /// By lm-eval's length bins of prompt tokens (the model's, chat-templated).
    pub by_length: Vec<LengthBin>,
    /// lm-eval's area under the score-versus-length curve (0–1).
    pub auc: Option<f64>,
    pub rows: Vec<EvalRow>,
}

/// How decoding and the bootstrap run.
#[derive(Debug, Clone, Copy)]
pub struct EvalOptions {
    pub max_new_tokens: usize,
    pub resamples: usize,
    pub seed: u64,
    /// GraphWalks, both sets empty.
    pub empty_set: EmptySet,
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
    let positions = model.config.max_position_embeddings;
    let mut out = Vec::with_capacity(rows.len());
    let mut dropped = 0;
    for (i, row) in rows.iter().enumerate() {
        let text = template.render(&row.messages()?, true)?;
        let ids = tokenizer
            .encode(text.as_str(), false)
            .map_err(tok_err)?
            .get_ids()
            .to_vec();
        let answer = tokenizer
            .encode(row.answer_text().as_str(), false)
            .map_err(tok_err)?
            .len();
        if ids.len() + answer > positions || ids.len() >= positions {
            // lm-eval drops what the model cannot hold
            dropped += 1;
            progress(i + 1);
            continue;
        }
        model.check_input(&ids)?;
        let new = greedy(model, &ids, opts.max_new_tokens, stop)?;
        let new: Vec<u32> = new.into_iter().filter(|t| !stop.contains(t)).collect();
        // keep added tokens such as </think> (a tokenizer may mark them special);
        // stop ids were removed above
        let response = tokenizer.decode(&new, false).map_err(tok_err)?;
        let (score, flexible) = row.grade(answer_part(&response), opts.empty_set);
        out.push(EvalRow {
            kind: row.kind(),
            prompt_tokens: ids.len(),
            score,
            flexible,
            response,
        });
        progress(i + 1);
    }
    if out.is_empty() {
        return Err(Error::Input(format!(
            "all {dropped} rows are longer than the model's {positions} positions \
             (prompt plus answer); nothing was scored"
        )));
    }
    let mut report = summarize(task, out, opts);
    report.dropped_too_long = dropped;
    report.conventions.max_len = Some(positions);
    Ok(report)
}

/// Groups graded rows and attaches bootstrap CIs.
pub fn summarize(task: Task, rows: Vec<EvalRow>, opts: EvalOptions) -> EvalReport {
    let ci = |v: &[f64]| mean_ci(v, opts.resamples, 0.95, opts.seed);
    let mut kinds: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut kinds_flexible: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in &rows {
        kinds.entry(r.kind.clone()).or_default().push(r.score);
        if let Some(f) = r.flexible {
            kinds_flexible.entry(r.kind.clone()).or_default().push(f);
        }
    }
    let all: Vec<f64> = rows.iter().map(|r| r.score).collect();
    let flexible: Vec<f64> = rows.iter().filter_map(|r| r.flexible).collect();
    let lengths: Vec<(usize, f64)> = rows.iter().map(|r| (r.prompt_tokens, r.score)).collect();
    let by_length = bins::by_length(&lengths, opts.resamples, opts.seed);
    EvalReport {
        task,
        conventions: Conventions::new(
            opts.empty_set,
            "the model's tokenizer, over the chat-templated prompt (lm-eval)",
            None,
        ),
        dropped_too_long: 0,
        overall: ci(&all),
        flexible: (!flexible.is_empty()).then(|| ci(&flexible)),
        by_kind: kinds.iter().map(|(k, v)| (k.clone(), ci(v))).collect(),
        by_kind_flexible: kinds_flexible
            .iter()
            .map(|(k, v)| (k.clone(), ci(v)))
            .collect(),
        auc: bins::auc(&by_length),
        by_length,
        rows,
    }
}
