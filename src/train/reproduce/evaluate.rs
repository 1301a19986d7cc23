//! Evaluating the pair: both models decode and grade the same held-out toy
//! problems, with 95% bootstrap CIs and the paired ACC − base difference
//! ([`evaluate_pair`], also behind `acc-probe scores`), and the evaluation
//! stage of a reproduction, which writes each graded report into `eval/`.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use super::stages::StageId;
use super::Context;
use crate::analysis::bootstrap::{mean_ci, MeanCi};
use crate::error::Result;
use crate::io::write_atomic;
use crate::model_dir::ModelDir;
use crate::tasks::eval::{evaluate, EvalOptions, EvalReport, TaskRow};
use crate::tasks::score::Task;
use crate::tasks::toy::{self, EVAL_STREAM};

/// One model of the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PairModel {
    Base,
    Acc,
}

impl PairModel {
    /// The spelling in outputs (`eval/base-mrcr.json`, `scores.json`).
    pub fn name(self) -> &'static str {
        match self {
            PairModel::Base => "base",
            PairModel::Acc => "acc",
        }
    }
}

impl fmt::Display for PairModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One model's scores on one task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskResult {
    pub task: String,
    pub base: MeanCi,
    pub acc: MeanCi,
    /// Paired difference acc − base over the same problems.
    pub diff: MeanCi,
    /// The step-count control's scores, and ACC − control (paired), where
    /// the run has one (`control_steps`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<MeanCi>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acc_minus_control: Option<MeanCi>,
}

/// Both models' scores on the same problems, and the paired comparison.
pub struct PairScores {
    /// (task, model) → the graded report, by task name, then model name.
    pub reports: Vec<((Task, PairModel), EvalReport)>,
    /// One result per task, in the order given.
    pub results: Vec<TaskResult>,
}

impl PairScores {
    /// The graded report of `model` on `task`.
    pub fn report(&self, task: Task, model: PairModel) -> Option<&EvalReport> {
        (self.reports.iter())
            .find(|((t, m), _)| (*t, *m) == (task, model))
            .map(|(_, r)| r)
    }
}

/// The mean of `a − b` problem by problem (both graded on the same
/// problems, in the same order), with its 95% bootstrap CI.
fn paired_ci(a: &EvalReport, b: &EvalReport, opts: EvalOptions) -> MeanCi {
    let diffs: Vec<f64> = (a.rows.iter().zip(&b.rows))
        .map(|(x, y)| x.score - y.score)
        .collect();
    mean_ci(&diffs, opts.resamples, 0.95, opts.seed)
}

/// Decodes and grades `tasks` with the base and the ACC model (identical
/// problems), with 95% bootstrap CIs and the paired ACC − base difference.
/// `progress(model, task)` is called before each evaluation.
pub fn evaluate_pair(
    base: &Path,
    acc: &Path,
    tasks: &[(Task, Vec<TaskRow>)],
    opts: EvalOptions,
    progress: &mut dyn FnMut(PairModel, &str),
) -> Result<PairScores> {
    let mut reports = Vec::new();
    for (model, dir) in [(PairModel::Base, base), (PairModel::Acc, acc)] {
        let loaded = ModelDir::cpu(dir)?;
        let chat = loaded.chat()?;
        for (task, rows) in tasks {
            progress(model, task.name());
            let rep = evaluate(&chat, *task, rows, opts, &|_| {})?;
            reports.push(((*task, model), rep));
        }
    }
    reports.sort_by_key(|((t, m), _)| (t.name(), m.name()));
    let mut pair = PairScores {
        reports,
        results: Vec::new(),
    };
    for (task, _) in tasks {
        let report = |m| pair.report(*task, m).expect("both models evaluated");
        let (b, a) = (report(PairModel::Base), report(PairModel::Acc));
        let result = TaskResult {
            task: task.name().to_string(),
            base: b.overall,
            acc: a.overall,
            diff: paired_ci(a, b, opts),
            control: None,
            acc_minus_control: None,
        };
        pair.results.push(result);
    }
    Ok(pair)
}

/// The evaluation stage: `base` and `acc` on the held-out toy problems
/// (seeds disjoint from every training problem), each graded report
/// written to `eval/<model>-<task>.json`.
pub(super) fn evaluate_run(cx: &mut Context, tok: &Tokenizer) -> Result<Vec<TaskResult>> {
    let (p, out) = (cx.p, cx.out);
    (cx.stage)("evaluating on held-out toy MRCR and GraphWalks");
    let (em, eg) = toy::rows(p.eval_n, p.task_tokens, cx.seed, EVAL_STREAM, tok)?;
    let opts = EvalOptions {
        max_new_tokens: p.max_new_tokens,
        resamples: 1000,
        seed: cx.seed,
        empty_set: Default::default(),
    };
    let tasks = [(Task::Mrcr, em), (Task::Graphwalks, eg)];
    let mut pair = evaluate_pair(
        &StageId::Base.dir(out),
        &StageId::Acc.dir(out),
        &tasks,
        opts,
        &mut |m, t| (cx.stage)(&format!("evaluating {m} on {t}")),
    )?;
    let eval_dir = StageId::Eval.dir(out);
    let write = |model: &str, task: Task, rep: &EvalReport| {
        let file = format!("{model}-{}.json", task.name());
        write_atomic(
            &eval_dir.join(file),
            &serde_json::to_vec_pretty(rep).expect("report serialises"),
        )
    };
    for ((task, model), rep) in &pair.reports {
        write(model.name(), *task, rep)?;
    }
    let mut results = std::mem::take(&mut pair.results);
    if p.control_steps > 0 {
        let loaded = ModelDir::cpu(StageId::Control.dir(out))?;
        let chat = loaded.chat()?;
        for ((task, rows), result) in tasks.iter().zip(results.iter_mut()) {
            (cx.stage)(&format!("evaluating control on {}", task.name()));
            let rep = evaluate(&chat, *task, rows, opts, &|_| {})?;
            let acc = pair.report(*task, PairModel::Acc).expect("ACC evaluated");
            result.control = Some(rep.overall);
            result.acc_minus_control = Some(paired_ci(acc, &rep, opts));
            write("control", *task, &rep)?;
        }
    }
    Ok(results)
}
