//! `acc-probe reproduce`: the paper's recipe end to end at toy scale, as a
//! pipeline of stages ([`StageId`]), each writing its own directory of the
//! run directory:
//!
//! 1. `trajectories`: synthetic search / SQL / SWE environments → solved
//!    episodes, written as trajectory files in several agent-framework
//!    formats and read back by the compiler's readers (`corpus`);
//! 2. `tokenizer`: a BPE tokenizer trained on the corpus (environment
//!    conversations but the repository-history runs, + toy tasks), and the
//!    model configs for its vocabulary;
//! 3. `data`: the compiler turns the trajectories into ACC samples
//!    (question + shuffled evidence with distractors → reasoning + answer)
//!    and agent-SFT conversations, beside the LM corpus and the copy drills
//!    (`datasets`);
//! 4. the model stages (`stages`, `training`): base = copy drills (loss on the copy
//!    only; `copy_steps`), long copy drills at the tasks' lengths
//!    (`long_copy_steps`), LM pretraining on the corpus, then agent SFT;
//!    ACC = base + ACC SFT (loss on reasoning + answer only); a shallow copy
//!    model is grown to the preset's depth on the way ([`GrowBefore`]);
//! 5. `eval`: both models on held-out toy MRCR and GraphWalks (seeds
//!    disjoint from every training problem) with 95% bootstrap CIs and
//!    paired differences (`evaluate`); `results.json` and `results.md`
//!    (`report`).
//!
//! The LM corpus contains toy MRCR / GraphWalks problems with their answers
//! (other seeds) and short graph / recall drills (`train::curriculum::drills`), so that
//! the small base model learns the answer formats and in-context lookup; both
//! models share that stage, and the comparison measures what ACC SFT adds.
//! A stage whose output exists is skipped (a stopped run continues; training
//! stages resume from checkpoints). docs/curriculum.md holds the
//! measurements behind the curriculum.

mod corpus;
mod datasets;
mod evaluate;
mod limits;
mod preset;
mod report;
mod seeds;
mod stages;
mod training;

use std::collections::BTreeMap;
use std::path::Path;

use tokenizers::Tokenizer;

pub use evaluate::{evaluate_pair, PairModel, PairScores, TaskResult};
pub use preset::{
    CopyUntil, GrowBefore, LongPractice, Preset, PAIR_EVAL_N, PAIR_HISTORY_COMMITS,
    PAIR_MAX_NEW_TOKENS, PAIR_TASK_TOKENS,
};
pub use report::{results_table, task_table, Report};
pub use seeds::{seeds_report, seeds_table, SeedRun, SeedsReport, SeedsTask};
pub use stages::StageId;

use super::trainer::StepMetrics;
use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::train::curriculum::drill_check::DrillCheck;
use crate::train::until::UntilState;
use corpus::Corpus;
use stages::{Stage, Work};

/// Hooks for progress display.
pub struct Hooks<'a> {
    pub stage: &'a mut dyn FnMut(&str),
    pub step: &'a mut dyn FnMut(&str, &StepMetrics),
}

/// What every stage sees: the preset, the seed, the run directory and the
/// progress hooks.
struct Context<'a, 'h> {
    p: &'a Preset,
    seed: u64,
    out: &'a Path,
    stage: &'h mut dyn FnMut(&str),
    step: &'h mut dyn FnMut(&str, &StepMetrics),
}

/// What the stages run so far hand on to the next ones.
#[derive(Default)]
struct Products {
    corpus: Option<Corpus>,
    tokenizer: Option<Tokenizer>,
}

/// What the stages find, for the report.
#[derive(Default)]
struct Findings {
    counts: BTreeMap<String, usize>,
    drill_checks: BTreeMap<String, DrillCheck>,
    criteria: BTreeMap<String, UntilState>,
    results: Vec<TaskResult>,
}

/// Runs (or continues) a reproduction into `out`.
pub fn reproduce(p: &Preset, seed: u64, out: &Path, hooks: Hooks<'_>) -> Result<Report> {
    let plan = stages::plan(p, out)?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut cx = Context {
        p,
        seed,
        out,
        stage: hooks.stage,
        step: hooks.step,
    };
    let (mut made, mut found) = (Products::default(), Findings::default());
    for s in &plan {
        run_stage(&mut cx, s, &mut made, &mut found)?;
    }
    let report = Report {
        preset: p.clone(),
        seed,
        counts: found.counts,
        drill_checks: found.drill_checks,
        criteria: found.criteria,
        results: found.results,
        base: StageId::Base.dir(out),
        acc: StageId::Acc.dir(out),
    };
    write_atomic(
        &out.join("results.json"),
        &serde_json::to_vec_pretty(&report).expect("report serialises"),
    )?;
    write_atomic(&out.join("results.md"), results_table(&report).as_bytes())?;
    Ok(report)
}

/// Runs stage `s` (or finds it done), with what the stages before it made.
fn run_stage(cx: &mut Context, s: &Stage, made: &mut Products, found: &mut Findings) -> Result<()> {
    let (p, seed, out) = (cx.p, cx.seed, cx.out);
    let dir = s.id.dir(out);
    let done = s.done(out);
    match &s.work {
        Work::Trajectories => {
            let corpus = Corpus::build(&dir, p, seed, &mut *cx.stage, &mut found.counts)?;
            made.corpus = Some(corpus);
        }
        Work::Tokenizer => {
            (cx.stage)("tokenizer");
            let path = stages::tokenizer_path(out);
            let tok = match done {
                true => crate::tokenizer::load(&path)?,
                false => corpus::train_tokenizer(made.corpus(), p, seed, &path)?,
            };
            corpus::write_model_configs(p, &tok, out)?;
            made.tokenizer = Some(tok);
        }
        Work::Data => {
            (cx.stage)("compiling training data");
            let sources = datasets::Sources {
                p,
                seed,
                corpus: made.corpus(),
                tok: made.tokenizer(),
                databases: &StageId::Trajectories.dir(out).join("databases"),
            };
            datasets::write(&sources, &dir, &mut found.counts)?;
        }
        Work::Train(t) => {
            let r = training::train_stage(cx, s.id, t, done)?;
            if let Some(c) = r.drill_check {
                found.drill_checks.insert(s.id.to_string(), c);
            }
            if let Some(u) = r.until {
                found.criteria.insert(s.id.to_string(), u);
            }
        }
        Work::Grow { from, dtype } => {
            training::grow_model(cx, &from.dir(out), &dir, *dtype)?;
        }
        Work::Evaluate => {
            found.results = evaluate::evaluate_run(cx, made.tokenizer())?;
        }
    }
    Ok(())
}

impl Products {
    fn corpus(&self) -> &Corpus {
        self.corpus
            .as_ref()
            .expect("the trajectories stage runs first")
    }

    fn tokenizer(&self) -> &Tokenizer {
        (self.tokenizer.as_ref()).expect("the tokenizer stage runs before the stages using it")
    }
}
