//! `acc-probe reproduce`: the paper's recipe end to end at toy scale.
//!
//! 1. synthetic search / SQL / SWE environments → solved episodes, written as
//!    trajectory files in several agent-framework formats;
//! 2. the files are read back by the compiler's readers; a BPE tokenizer is
//!    trained on the corpus (environment conversations but the
//!    repository-history runs, + toy tasks);
//! 3. the compiler turns them into ACC samples (question + shuffled evidence
//!    with distractors → reasoning + answer) and agent-SFT conversations;
//! 4. base = copy drills (loss on the copy only; `copy_steps`), long copy
//!    drills at the tasks' lengths (`long_copy_steps`), LM pretraining on the
//!    corpus, then agent SFT;
//!    ACC = base + ACC SFT (loss on reasoning + answer only);
//! 5. both are evaluated on held-out toy MRCR and GraphWalks (seeds disjoint
//!    from every training problem) with 95% bootstrap CIs and paired differences.
//!
//! The LM corpus contains toy MRCR / GraphWalks problems with their answers
//! (other seeds) and short graph / recall drills (`tasks::drills`), so that
//! the small base model learns the answer formats and in-context lookup; both
//! models share that stage, and the comparison measures what ACC SFT adds.
//! Every stage writes into its own directory and is skipped when its output
//! exists (a stopped run continues; training stages resume from checkpoints).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::DType;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::data::Objective;
use super::grow::grow_model_dir;
use super::trainer::{train, Init, SaveDtype, StepMetrics, TrainConfig};
use crate::analysis::bootstrap::{mean_ci, MeanCi};
use crate::chat::{ChatTemplate, Message};
use crate::compile::agent_sft;
use crate::compile::pipeline::{compile_one, Budget, CompileOptions};
use crate::compile::readers::read_file;
use crate::compile::trajectory::Trajectory;
use crate::compile::writers::{row as acc_row, Writer};
use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::model::random::RandomInit;
use crate::model::Qwen3MoeConfig;
use crate::tasks::agents::{self, Domain, Format};
use crate::tasks::drill_check::{self, DrillCheck};
use crate::tasks::drills;
use crate::tasks::eval::{evaluate, ChatDir, EvalOptions, EvalReport, TaskRow};
use crate::tasks::graphwalks;
use crate::tasks::score::Task;
use crate::tasks::toy::{
    self, seed_for, COPY_DRILL_STREAM, EVAL_STREAM, GRAPH_COPY_DRILL_STREAM, GRAPH_DRILL_STREAM,
    LONG_COPY_DRILL_STREAM, LONG_GRAPH_DRILL_STREAM, RECALL_DRILL_STREAM, TRAIN_STREAM,
};

/// Sizes of one reproduction.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Preset {
    pub name: String,
    pub layers: usize,
    pub hidden: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub experts: usize,
    pub top_k: usize,
    pub moe_intermediate: usize,
    pub vocab: usize,
    pub episodes_per_domain: usize,
    /// Repository-history episodes (`tasks::agents::history`): an SWE agent
    /// answering a parents or BFS question about a commit graph it lists page
    /// by page. Their compiled samples are graph walks over evidence, the
    /// operations of GraphWalks met in tool output.
    #[serde(default)]
    pub history_episodes: usize,
    /// Commits per repository of the history episodes, a range (6–9 where a
    /// preset leaves it out: the whole listing fits a 300-token budget; the
    /// full preset's is [`PAIR_HISTORY_COMMITS`]). At 20–32 a listing has as
    /// many edges as a toy GraphWalks graph at 800 tokens, and the compiled
    /// samples fill their budget with it.
    #[serde(default = "default_history_commits")]
    pub history_commits: (usize, usize),
    /// Toy MRCR and GraphWalks problems (each) of the training stream: the
    /// tokenizer's corpus takes up to 200, the LM corpus `lm_task_problems`.
    pub task_problems: usize,
    /// Toy problems (each task, at most `task_problems`) in the LM corpus
    /// (default: all with `long_practice` `base`, none with `acc`). They are
    /// the only rows in the toy prompts' own form (instructions, a worked
    /// example, then the problem; 600 tokens and more); a model that has
    /// seen none answers them out of form.
    #[serde(default)]
    pub lm_task_problems: Option<usize>,
    /// Prompt tokens of toy problems (training and evaluation).
    pub task_tokens: usize,
    /// Short graph and recall drills (each) in the LM corpus (`tasks::drills`).
    #[serde(default)]
    pub drills: usize,
    /// Copy drills (`tasks::drills::copy_drill`): the data of the copy stage,
    /// and part of the LM corpus, which rehearses them (without them LM
    /// pretraining erases the copying the copy stage taught).
    #[serde(default)]
    pub copy_drills: usize,
    /// Steps of the copy stage, trained from scratch before LM pretraining with
    /// loss on the copied answer only (0: no copy stage). Copying a span of
    /// the context (induction) is what both toy tasks rest on, and it appears
    /// only after a long plateau; short drills reach it in the fewest tokens.
    #[serde(default)]
    pub copy_steps: usize,
    /// Long copy drills (`tasks::drills::ramp_copy_drill`, from the short
    /// drills' length to the toy tasks'): the data of the long copy stage
    /// and part of the LM corpus, or with `long_practice` `acc` only the
    /// long part of ACC SFT's rehearsal.
    #[serde(default)]
    pub long_copy_drills: usize,
    /// Steps of the long copy stage, between the copy stage and LM
    /// pretraining, at `seq_len` × `batch`, loss on the answer only (0: none).
    /// Short drills teach copying within ~200 tokens; the tasks need it over
    /// 1,000.
    #[serde(default)]
    pub long_copy_steps: usize,
    /// Short graph drills (`tasks::drills::graph_drill`) spread among the
    /// copy stage's copy drills, and so in the LM corpus and the short
    /// rehearsal. The copy drills teach single lookups; these teach the
    /// toy GraphWalks operations themselves (several lookups, reverse ones
    /// for parents, an answer list), at lengths the copy stage trains fast.
    #[serde(default)]
    pub graph_copy_drills: usize,
    /// Long graph drills (`tasks::drills::long_graph_drill`) spread among the
    /// long copy drills.
    #[serde(default)]
    pub long_graph_drills: usize,
    /// Which model practises at the toy tasks' lengths: `base` (the long copy
    /// stage, the toy problems and long drills in the LM corpus, long drills
    /// in both SFT sets' rehearsal) or `acc`: only ACC SFT sees long rows
    /// (its compiled samples and a rehearsal of short and long drills in
    /// turn), while base trains on short drills and agent conversations
    /// only. `acc` is the paper's contrast in miniature: agent SFT learns
    /// from each trajectory's own short context, ACC from long compiled
    /// ones. It needs `long_copy_steps` 0.
    #[serde(default = "default_long_practice")]
    pub long_practice: String,
    /// Layers of the copy stage's model (0: `layers`). A shallower model
    /// trains several times faster per step; it is grown to `layers` with
    /// the same function (`train::grow`) before the stage `grow_before`.
    #[serde(default)]
    pub copy_layers: usize,
    /// The first base stage trained at the full depth when `copy_layers` is
    /// shallower: `base-copy-long` (only the copy stage is shallow),
    /// `base-lm` (the long copy stage too) or `base` (LM pretraining too, so
    /// only agent SFT and ACC SFT train all `layers`), or `end`: every stage
    /// trains the shallow model (`base-core`, `acc-core`) and the two final
    /// models are grown from them, with the same new layers, into `base` and
    /// `acc`. When that stage has no steps the model is grown before the next
    /// one.
    #[serde(default = "default_grow_before")]
    pub grow_before: String,
    /// Positions of the shallow model's layers in the grown one (default:
    /// evenly spaced, `train::grow::grown_positions`).
    #[serde(default)]
    pub grow_positions: Option<Vec<usize>>,
    /// Sequence length and batch of the copy stage.
    #[serde(default = "default_copy_seq_len")]
    pub copy_seq_len: usize,
    #[serde(default = "default_copy_batch")]
    pub copy_batch: usize,
    /// ACC context budget range in tokens.
    pub budget: (usize, usize),
    pub seq_len: usize,
    pub batch: usize,
    pub lm_steps: usize,
    pub sft_steps: usize,
    pub acc_steps: usize,
    /// Peak learning rate of the copy stage, and of LM pretraining when there
    /// is no copy stage.
    pub lr: f64,
    /// Peak learning rate of the stages after a copy stage: LM pretraining
    /// and (unless `long_lr`) the long copy stage (default `lr`). A lower rate keeps the
    /// copying: at 4e-3, 500 LM steps erased it, and so did the first 100
    /// steps of the long drills.
    #[serde(default)]
    pub lm_lr: Option<f64>,
    /// Peak learning rate of the long copy stage (default: the rate of LM
    /// pretraining after a copy stage, `lm_lr`).
    #[serde(default)]
    pub long_lr: Option<f64>,
    /// Peak learning rate of agent SFT, and of ACC SFT unless `acc_lr`. One epoch of agent SFT
    /// at 1e-3 erased the copy drills (hash 5/6 → 0/6, 4 layers); at 1e-4
    /// the drill check stayed as it was.
    pub sft_lr: f64,
    /// Peak learning rate of ACC SFT (default `sft_lr`). Agent SFT keeps
    /// `sft_lr`, so a different rate here changes only the ACC model.
    #[serde(default)]
    pub acc_lr: Option<f64>,
    /// Copy drills mixed into both SFT sets (agent SFT and ACC), short and
    /// long in turn (0: none); with `long_practice` `acc`, agent SFT gets as
    /// many short ones instead (unless `acc_long_rehearsal`). They keep the
    /// copying that narrow SFT data wears away.
    #[serde(default)]
    pub sft_rehearsal: usize,
    /// With `long_practice` `acc`: ACC SFT rehearses the same
    /// `sft_rehearsal` short drills as agent SFT, in the same order, with
    /// this many long ones spread among them (default: short and long in
    /// turn, `sft_rehearsal` in all, so half as much short practice as
    /// agent SFT).
    #[serde(default)]
    pub acc_long_rehearsal: Option<usize>,
    /// RoPE base of the model config (default 10,000; Qwen3's own is
    /// 1,000,000). A content lookup over a distance `d` can rely only on the
    /// rotary pairs with `d·θ_i < 0.5`: with head_dim 32 at 800 tokens, 3 of
    /// 16 pairs at 10,000 and 7 at 1,000,000. Measured at 4 layers (hidden
    /// 128, the full preset's copy and long copy stages): 1,000,000 delays
    /// the copy stage's onset by ~400 steps and leaves the long drills at
    /// 0/24, as at 10,000.
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f64,
    /// Hex ids (node names, tracking codes, numbers) are cut into pieces of
    /// at most this many characters before BPE (`tokenizer::id_chunk_pattern`;
    /// 0: BPE's own pieces, mostly 2 characters).
    #[serde(default)]
    pub id_chunk: usize,
    /// Initial q_norm/k_norm weight of the scratch model (see
    /// `Init::Config::qk_norm_init`).
    #[serde(default = "default_qk_norm_init")]
    pub qk_norm_init: f32,
    /// Held-out copy drills of each kind decoded after every stage
    /// (`tasks::drill_check`; 0: none).
    #[serde(default)]
    pub drill_checks: usize,
    /// Graph answers (toy GraphWalks, graph and lookup drills, in every
    /// stage's data and in the drill check) carry the edges they follow as
    /// reasoning first (`tasks::graphwalks::with_edge_trace`): each lookup is
    /// then made in the edge's own context (`X -> ` written, the child
    /// copied), instead of from the question's node name far away.
    #[serde(default)]
    pub edge_trace: bool,
    /// Held-out problems per task.
    pub eval_n: usize,
    pub max_new_tokens: usize,
    /// Packs computed in parallel in training (not part of the results).
    #[serde(skip)]
    pub workers: usize,
}

fn default_long_practice() -> String {
    LONG_PRACTICE[0].into()
}

/// `long_practice` values: long rows in every base stage, or in ACC SFT only.
const LONG_PRACTICE: [&str; 2] = ["base", "acc"];

/// How the bundled pair is evaluated (the full preset's `task_tokens`,
/// `max_new_tokens` and `eval_n`); `scores` and `ablate` default to it.
pub const PAIR_TASK_TOKENS: usize = 800;
pub const PAIR_MAX_NEW_TOKENS: usize = 200;
pub const PAIR_EVAL_N: usize = 200;

/// Commits per history repository in the full preset: 24-40 edges over 4-7
/// listing pages, as many edges as a toy GraphWalks graph at
/// [`PAIR_TASK_TOKENS`] (see docs/curriculum.md).
pub const PAIR_HISTORY_COMMITS: (usize, usize) = (20, 32);

fn default_history_commits() -> (usize, usize) {
    agents::history::SMALL_REPOSITORY
}

fn default_grow_before() -> String {
    "base-copy-long".into()
}

/// The base stages after the copy stage, in curriculum order.
const AFTER_COPY: [&str; 3] = ["base-copy-long", "base-lm", "base"];

/// `grow_before` value: grow the two final models, after all training.
const GROW_AT_END: &str = "end";

/// With `grow_before` `end`: (trained shallow stage, grown final model).
const GROWN_AT_END: [(&str, &str); 2] = [("base-core", "base"), ("acc-core", "acc")];

/// Whether a shallow copy model is grown at all (a copy stage of fewer than
/// `layers` layers), and whether that happens after all training.
fn growth(p: &Preset, copy_layers: usize) -> (bool, bool) {
    let grows = p.copy_steps > 0 && copy_layers < p.layers;
    (grows, grows && p.grow_before == GROW_AT_END)
}

fn default_rope_theta() -> f64 {
    10_000.0
}

fn default_qk_norm_init() -> f32 {
    1.0
}

fn default_copy_seq_len() -> usize {
    256
}

fn default_copy_batch() -> usize {
    8
}

impl Preset {
    /// Whether base's stages see long rows (`long_practice` `base`), or only
    /// ACC SFT does (`acc`).
    fn long_rows_in_base(&self) -> bool {
        self.long_practice == LONG_PRACTICE[0]
    }

    /// Minutes on 2 cores; exercised by the test suite.
    pub fn quick() -> Self {
        Preset {
            name: "quick".into(),
            layers: 4,
            hidden: 32,
            heads: 4,
            kv_heads: 2,
            head_dim: 16,
            experts: 8,
            top_k: 2,
            moe_intermediate: 32,
            vocab: 2048,
            episodes_per_domain: 12,
            history_episodes: 6,
            history_commits: default_history_commits(),
            task_problems: 24,
            lm_task_problems: None,
            task_tokens: 1400,
            drills: 40,
            copy_drills: 60,
            copy_steps: 4,
            long_copy_drills: 20,
            long_copy_steps: 2,
            graph_copy_drills: 0,
            long_graph_drills: 0,
            long_practice: default_long_practice(),
            copy_layers: 2,
            grow_before: default_grow_before(),
            grow_positions: None,
            copy_seq_len: 256,
            copy_batch: 2,
            budget: (300, 900),
            seq_len: 1536,
            batch: 2,
            lm_steps: 12,
            sft_steps: 6,
            acc_steps: 6,
            lr: 3e-3,
            lm_lr: Some(1e-3),
            long_lr: None,
            sft_lr: 1e-3,
            acc_lr: None,
            sft_rehearsal: 8,
            acc_long_rehearsal: None,
            rope_theta: default_rope_theta(),
            qk_norm_init: 1.0,
            id_chunk: 0,
            drill_checks: 1,
            edge_trace: false,
            eval_n: 6,
            max_new_tokens: 24,
            workers: 1,
        }
    }

    /// The bundled pair: 24 layers, MoE in every layer (8 experts, top-2), GQA.
    pub fn full() -> Self {
        Preset {
            name: "full".into(),
            layers: 24,
            hidden: 128,
            heads: 4,
            kv_heads: 2,
            head_dim: 32,
            experts: 8,
            top_k: 2,
            moe_intermediate: 28,
            vocab: 4096,
            episodes_per_domain: 300,
            history_episodes: 2000,
            history_commits: PAIR_HISTORY_COMMITS,
            task_problems: 1200,
            lm_task_problems: Some(1200),
            task_tokens: PAIR_TASK_TOKENS,
            drills: 6000,
            copy_drills: 40000,
            copy_steps: 4000,
            long_copy_drills: 12000,
            long_copy_steps: 0,
            graph_copy_drills: 8000,
            long_graph_drills: 8000,
            long_practice: "acc".into(),
            copy_layers: 4,
            grow_before: GROW_AT_END.into(),
            grow_positions: Some(vec![0, 7, 14, 20]),
            copy_seq_len: 512,
            copy_batch: 4,
            budget: (300, 900),
            seq_len: 1536,
            batch: 4,
            lm_steps: 600,
            sft_steps: 300,
            acc_steps: 1500,
            lr: 1e-2,
            lm_lr: Some(1e-3),
            long_lr: None,
            sft_lr: 1e-3,
            acc_lr: None,
            sft_rehearsal: 12000,
            acc_long_rehearsal: Some(6000),
            rope_theta: default_rope_theta(),
            qk_norm_init: 1.0,
            id_chunk: 0,
            drill_checks: 6,
            edge_trace: true,
            eval_n: PAIR_EVAL_N,
            max_new_tokens: PAIR_MAX_NEW_TOKENS,
            workers: 1,
        }
    }

    /// This preset with the fields of a JSON object replaced (`{"lm_steps": 600}`);
    /// an unknown field or a value of the wrong type is an error naming it.
    pub fn with_overrides(&self, overrides: &Value, source: &str) -> Result<Self> {
        let obj = overrides.as_object().ok_or_else(|| {
            Error::Input(format!("{source}: expected a JSON object of preset fields"))
        })?;
        let mut merged = serde_json::to_value(self).expect("preset serialises");
        let fields = merged.as_object_mut().expect("preset is an object");
        for (k, v) in obj {
            if !fields.contains_key(k) {
                let known: Vec<&str> = fields.keys().map(String::as_str).collect();
                return Err(Error::Input(format!(
                    "{source}: unknown preset field `{k}` (known: {})",
                    known.join(", ")
                )));
            }
            fields.insert(k.clone(), v.clone());
        }
        let mut p: Preset =
            serde_json::from_value(merged).map_err(|e| Error::Input(format!("{source}: {e}")))?;
        p.workers = self.workers;
        Ok(p)
    }

    /// The model config for a tokenizer of `vocab` ids (rounded up to 64).
    pub fn model_config(&self, vocab: usize) -> Qwen3MoeConfig {
        Qwen3MoeConfig {
            vocab_size: vocab.div_ceil(64) * 64,
            hidden_size: self.hidden,
            intermediate_size: self.moe_intermediate * 2,
            num_hidden_layers: self.layers,
            num_attention_heads: self.heads,
            num_key_value_heads: self.kv_heads,
            head_dim: self.head_dim,
            moe_intermediate_size: self.moe_intermediate,
            num_experts: self.experts,
            num_experts_per_tok: self.top_k,
            norm_topk_prob: true,
            decoder_sparse_step: 1,
            mlp_only_layers: Vec::new(),
            rope_theta: self.rope_theta,
            rms_norm_eps: 1e-6,
            max_position_embeddings: 4096,
            tie_word_embeddings: true,
            attention_bias: false,
            router_aux_loss_coef: 0.001,
        }
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
}

/// One training stage of a reproduction.
struct Stage {
    name: &'static str,
    data: PathBuf,
    init: Init,
    objective: Objective,
    steps: usize,
    lr: f64,
    batch: usize,
    seq_len: usize,
    /// A model directory to grow to the preset's depth into `init`'s
    /// directory before the stage (the shallow copy model).
    grow_from: Option<PathBuf>,
}

/// What `reproduce` reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub preset: Preset,
    pub seed: u64,
    pub counts: BTreeMap<String, usize>,
    /// Every stage's drill check, by stage name.
    #[serde(default)]
    pub drill_checks: BTreeMap<String, DrillCheck>,
    pub results: Vec<TaskResult>,
    pub base: PathBuf,
    pub acc: PathBuf,
}

/// Hooks for progress display.
pub struct Hooks<'a> {
    pub stage: &'a mut dyn FnMut(&str),
    pub step: &'a mut dyn FnMut(&str, &StepMetrics),
}

fn write_jsonl(path: &Path, rows: &[Value]) -> Result<()> {
    let mut text = String::new();
    for r in rows {
        text.push_str(&r.to_string());
        text.push('\n');
    }
    write_atomic(path, text.as_bytes())
}

/// The reference answer of a toy problem (what a perfect model writes).
fn reference_answer(row: &TaskRow) -> String {
    match row {
        TaskRow::Mrcr(r) => r.answer.clone(),
        TaskRow::Graphwalks(r) => format!("Final Answer: [{}]", r.answer_nodes.join(", ")),
    }
}

fn with_answer(row: &TaskRow) -> Result<Vec<Message>> {
    let mut m = row.messages()?;
    m.push(Message {
        role: "assistant".into(),
        content: reference_answer(row),
    });
    Ok(m)
}

fn domain_formats(d: Domain) -> Vec<Format> {
    let mut f = vec![Format::Openai, Format::ClaudeCode, Format::Sharegpt];
    if d == Domain::Swe {
        f.push(Format::SweAgent);
    }
    f
}

/// Step 1: episodes written round-robin over each domain's formats: the
/// trajectory files in path order, each with whether it holds a
/// repository-history run.
fn write_trajectories(dir: &Path, p: &Preset, seed: u64) -> Result<Vec<(PathBuf, bool)>> {
    let mut files = Vec::new();
    for (di, d) in [Domain::Search, Domain::Sql, Domain::Swe]
        .into_iter()
        .enumerate()
    {
        let name = format!("{d:?}").to_lowercase();
        let eps = agents::generate(
            d,
            p.episodes_per_domain,
            seed_for(seed, 10 + di as u64, 0),
            &dir.join("databases"),
        )?;
        write_round_robin(dir, &name, &eps, &domain_formats(d), &mut files)?;
    }
    // repository-history episodes: SWE agents without a patch, in the
    // formats that carry a final answer
    let history = agents::generate_history(
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
    eps: &[agents::Episode],
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
        for w in agents::write(&sub, &part, &[*f])? {
            if w.file_name().is_some_and(|n| n != "ground_truth.jsonl") {
                files.push(w);
            }
        }
    }
    Ok(())
}

/// Runs (or continues) a reproduction into `out`.
pub fn reproduce(p: &Preset, seed: u64, out: &Path, hooks: Hooks<'_>) -> Result<Report> {
    let Hooks { stage, step } = hooks;
    check_long_practice(p)?;
    check_history(p)?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut counts = BTreeMap::new();

    // 1. environments → trajectory files (several formats)
    stage("environments → trajectories");
    let traj_dir = out.join("trajectories");
    let files = write_trajectories(&traj_dir, p, seed)?;
    counts.insert("trajectory_files".into(), files.len());

    // 2. read back through the compiler's readers
    stage("reading trajectories");
    let mut trajs: Vec<Trajectory> = Vec::new();
    // which trajectories are repository-history runs
    let mut history_run: Vec<bool> = Vec::new();
    let mut rejected = 0;
    for (f, history) in &files {
        let (t, r) = read_file(f, None);
        history_run.extend(std::iter::repeat_n(*history, t.len()));
        trajs.extend(t);
        rejected += r.len();
    }
    counts.insert("trajectories".into(), trajs.len());
    counts.insert("trajectory_records_rejected".into(), rejected);
    let template = ChatTemplate::chatml_tools();
    let (sft_rows, sft_history): (Vec<Value>, Vec<bool>) = trajs
        .iter()
        .zip(&history_run)
        .filter_map(|(t, &h)| Some((agent_sft::row(t)?, h)))
        .unzip();
    // each rendered conversation with whether it is a history run's
    let mut conversations: Vec<String> = Vec::new();
    let mut of_history: Vec<bool> = Vec::new();
    for (r, &h) in sft_rows.iter().zip(&sft_history) {
        if let Ok(m) = serde_json::from_value::<Vec<Message>>(r["messages"].clone()) {
            conversations.push(template.render(&m, false)?);
            of_history.push(h);
        }
    }

    // 3. tokenizer on the corpus (conversations + toy tasks at approximate sizes)
    stage("tokenizer");
    let tok_dir = out.join("tokenizer");
    let tok_path = tok_dir.join("tokenizer.json");
    let approx = crate::tasks::approx_tokens;
    let tok = if tok_path.is_file() {
        crate::tokenizer::load(&tok_path)?
    } else {
        let (m, g) = toy::rows(
            p.task_problems.min(200),
            p.task_tokens,
            seed,
            TRAIN_STREAM,
            &approx,
        )?;
        // the environments' conversations without the history runs: those add
        // only hex names, which the toy tasks and SQL codes already bring,
        // and a vocabulary trained on them holds more 3-character hex pieces
        // (1,642 of 4,096 with 2,000 runs of 20-32 commits, 1,239 with 300 of
        // them, 1,065 with none). With either, the copy stage had not left
        // its plateau by step 2,600 (loss 3.3) or 3,800 (2.9), where without
        // them it leaves it at step ~1,500. So `history_episodes` leaves the
        // tokenizer, and with it the copy stage, as they are without it.
        let mut texts: Vec<String> = conversations
            .iter()
            .zip(&of_history)
            .filter(|(_, &h)| !h)
            .map(|(c, _)| c.clone())
            .collect();
        for r in m.iter().chain(&g) {
            texts.push(template.render(&with_answer(r)?, false)?);
        }
        let tok = crate::tokenizer::train_bpe_with(texts.iter(), p.vocab, p.id_chunk)?;
        let json = tok
            .to_string(false)
            .map_err(|e| Error::Input(format!("tokenizer does not serialise: {e}")))?;
        write_atomic(&tok_path, json.as_bytes())?;
        tok
    };
    let vocab = tok.get_vocab_size(true);
    let mcfg = p.model_config(vocab);
    let cfg_path = out.join("model-config.json");
    write_atomic(
        &cfg_path,
        &serde_json::to_vec_pretty(&mcfg.to_hf_json()).expect("config serialises"),
    )?;

    // 4. training data: LM corpus, agent SFT, ACC
    stage("compiling training data");
    let data = out.join("data");
    // graph answers with or without their edge trace
    let traced = |d: Vec<Message>| match p.edge_trace {
        true => graphwalks::with_edge_trace(d),
        false => d,
    };
    // long drills (and by default the toy problems) stay out of base's data
    // with `long_practice` acc
    let base_long = p.long_rows_in_base();
    let mut lm: Vec<Value> = conversations.iter().map(|c| json!({"text": c})).collect();
    let lm_tasks = match (p.lm_task_problems, base_long) {
        (Some(n), _) => n,
        (None, true) => p.task_problems,
        (None, false) => 0,
    };
    // only the problems the corpus takes are generated (row i is the same
    // whatever the count)
    let n_tasks = lm_tasks.min(p.task_problems);
    let (m, g) = toy::rows(n_tasks, p.task_tokens, seed, TRAIN_STREAM, &tok)?;
    for r in m.iter().chain(&g) {
        lm.push(json!({"text": template.render(&traced(with_answer(r)?), false)?}));
    }
    for i in 0..p.drills {
        for d in [
            traced(drills::graph_drill(seed_for(seed, GRAPH_DRILL_STREAM, i))),
            drills::recall_drill(seed_for(seed, RECALL_DRILL_STREAM, i)),
        ] {
            lm.push(json!({"text": template.render(&d, false)?}));
        }
    }
    // drills of two kinds, (count, seed stream, maker) each, the second
    // spread among the first
    type Kind = (usize, u64, fn(u64) -> Vec<Message>);
    let mixed = |a: Kind, b: Kind| {
        let of = |(n, stream, make): Kind| -> Vec<Vec<Message>> {
            (0..n)
                .map(|i| traced(make(seed_for(seed, stream, i))))
                .collect()
        };
        spread(of(a), of(b))
    };
    let mut copy_rows = Vec::with_capacity(p.copy_drills + p.graph_copy_drills);
    for d in mixed(
        (p.copy_drills, COPY_DRILL_STREAM, drills::copy_drill),
        (
            p.graph_copy_drills,
            GRAPH_COPY_DRILL_STREAM,
            drills::graph_drill,
        ),
    ) {
        lm.push(json!({"text": template.render(&d, false)?}));
        copy_rows.push(json!({ "messages": d }));
    }
    counts.insert("copy_rows".into(), copy_rows.len());
    if p.copy_steps > 0 {
        write_jsonl(&data.join("copy.jsonl"), &copy_rows)?;
    }
    let mut long_copy_rows = Vec::with_capacity(p.long_copy_drills + p.long_graph_drills);
    for d in mixed(
        (
            p.long_copy_drills,
            LONG_COPY_DRILL_STREAM,
            drills::ramp_copy_drill,
        ),
        (
            p.long_graph_drills,
            LONG_GRAPH_DRILL_STREAM,
            drills::long_graph_drill,
        ),
    ) {
        if base_long {
            lm.push(json!({"text": template.render(&d, false)?}));
        }
        long_copy_rows.push(json!({ "messages": d }));
    }
    counts.insert("long_copy_rows".into(), long_copy_rows.len());
    // short and long drills in turn; with `long_practice` acc, agent SFT
    // rehearses as many short ones instead, and with `acc_long_rehearsal`
    // ACC SFT the same short ones with that many long ones spread among them
    let mixed = || rehearsal_rows(&copy_rows, &long_copy_rows, p.sft_rehearsal);
    let short = || rehearsal_rows(&copy_rows, &[], p.sft_rehearsal);
    let (agent_rehearsal, rehearsal) = match (base_long, p.acc_long_rehearsal) {
        (true, _) => (mixed(), mixed()),
        (false, None) => (short(), mixed()),
        (false, Some(n_long)) => {
            let long = rehearsal_rows(&[], &long_copy_rows, n_long);
            (short(), spread(short(), long))
        }
    };
    counts.insert("sft_rehearsal_rows".into(), agent_rehearsal.len());
    counts.insert("acc_rehearsal_rows".into(), rehearsal.len());
    if p.copy_steps > 0 && p.long_copy_steps > 0 {
        // the short drills stay in: the long stage extends the copying
        // rather than relearning it (alone, the long drills' first steps
        // wrecked it: loss 9.7 on their answers, then back on the plateau)
        long_copy_rows.extend(copy_rows.iter().cloned());
        write_jsonl(&data.join("long_copy.jsonl"), &long_copy_rows)?;
    }
    counts.insert("lm_rows".into(), lm.len());
    write_jsonl(&data.join("lm.jsonl"), &lm)?;
    counts.insert("agent_sft_rows".into(), sft_rows.len());
    let mut agent_rows = sft_rows.clone();
    agent_rows.extend(agent_rehearsal);
    write_jsonl(&data.join("agent_sft.jsonl"), &agent_rows)?;
    let copts = CompileOptions {
        format: None,
        domain: None,
        budget: Budget::Range(p.budget.0, p.budget.1),
        distractors: true,
        seed,
        db: Some(traj_dir.join("databases")),
        repo_root: None,
    };
    let mut acc_rows = Vec::new();
    let mut acc_rejected = 0;
    for t in &trajs {
        match compile_one(t, &copts, &tok) {
            Ok(s) => acc_rows.push(acc_row(&s, Writer::Acc, None)?),
            Err(reason) => {
                tracing::warn!("{}: not compiled: {reason}", t.source);
                acc_rejected += 1;
            }
        }
    }
    counts.insert("acc_rows".into(), acc_rows.len());
    counts.insert("acc_rejected".into(), acc_rejected);
    acc_rows.extend(rehearsal);
    write_jsonl(&data.join("acc.jsonl"), &acc_rows)?;

    // 5. training: base = (copy drills, then) LM then agent SFT; ACC = base + ACC SFT
    let scratch = Init::Config {
        config: cfg_path.clone(),
        tokenizer: tok_path.clone(),
        init_std: 0.02,
        qk_norm_init: p.qk_norm_init,
    };
    let copy_layers = match p.copy_layers {
        0 => p.layers,
        n => n,
    };
    if copy_layers > p.layers {
        return Err(Error::Input(format!(
            "preset {}: copy_layers {copy_layers} is more than layers {}",
            p.name, p.layers
        )));
    }
    let copy_init = if copy_layers < p.layers && p.copy_steps > 0 {
        let mut c = mcfg.clone();
        c.num_hidden_layers = copy_layers;
        let path = out.join("model-config-copy.json");
        write_atomic(
            &path,
            &serde_json::to_vec_pretty(&c.to_hf_json()).expect("config serialises"),
        )?;
        Init::Config {
            config: path,
            tokenizer: tok_path.clone(),
            init_std: 0.02,
            qk_norm_init: p.qk_norm_init,
        }
    } else {
        scratch.clone()
    };
    let stages = plan_stages(p, out, &data, scratch, copy_init, copy_layers)?;
    let mut checks = BTreeMap::new();
    for Stage {
        name,
        data: data_path,
        init,
        objective,
        steps,
        lr,
        batch,
        seq_len,
        grow_from,
    } in stages
    {
        let dir = out.join(name);
        if let (Some(src), Init::Model { dir: dst }) = (&grow_from, &init) {
            grow_stage_model(p, seed, src, dst, DType::F32, &mut *stage)?;
        }
        if dir.join("train/summary.json").is_file() {
            stage(&format!("{name}: done earlier"));
            if let Some(c) =
                stage_drill_check(name, &dir, p.drill_checks, seed, p.edge_trace, &mut *stage)?
            {
                checks.insert(name.to_string(), c);
            }
            continue;
        }
        stage(&format!(
            "training {name} ({} steps, {})",
            steps,
            objective.name()
        ));
        let mut cfg = TrainConfig::new(data_path, init, objective);
        cfg.steps = steps;
        cfg.batch = batch;
        cfg.seq_len = seq_len;
        cfg.lr = lr;
        cfg.seed = seed;
        // often enough that a stopped run loses little
        cfg.save_every = (steps / 4).clamp(1, 100);
        cfg.save_dtype = SaveDtype::Bf16;
        cfg.workers = p.workers;
        let resume = dir.join("train/run.json").is_file();
        let mut on = |m: &StepMetrics| step(name, m);
        train(&cfg, &dir, resume, &mut on)?;
        if let Some(c) =
            stage_drill_check(name, &dir, p.drill_checks, seed, p.edge_trace, &mut *stage)?
        {
            checks.insert(name.to_string(), c);
        }
    }

    // the final models grown from the shallow ones, with the same new layers
    if growth(p, copy_layers).1 {
        for (core, fin) in GROWN_AT_END {
            grow_stage_model(
                p,
                seed,
                &out.join(core),
                &out.join(fin),
                DType::BF16,
                &mut *stage,
            )?;
        }
    }

    // 6. held-out evaluation
    stage("evaluating on held-out toy MRCR and GraphWalks");
    let (em, eg) = toy::rows(p.eval_n, p.task_tokens, seed, EVAL_STREAM, &tok)?;
    let opts = EvalOptions {
        max_new_tokens: p.max_new_tokens,
        resamples: 1000,
        seed,
    };
    let tasks = [(Task::Mrcr, em), (Task::Graphwalks, eg)];
    let pair = evaluate_pair(
        &out.join("base"),
        &out.join("acc"),
        &tasks,
        opts,
        &mut |m, t| stage(&format!("evaluating {m} on {t}")),
    )?;
    for ((label, name), rep) in &pair.reports {
        write_atomic(
            &out.join("eval").join(format!("{name}-{label}.json")),
            &serde_json::to_vec_pretty(rep).expect("report serialises"),
        )?;
    }
    let results = pair.results;
    let report = Report {
        preset: p.clone(),
        seed,
        counts,
        drill_checks: checks,
        results,
        base: out.join("base"),
        acc: out.join("acc"),
    };
    write_atomic(
        &out.join("results.json"),
        &serde_json::to_vec_pretty(&report).expect("report serialises"),
    )?;
    write_atomic(&out.join("results.md"), results_table(&report).as_bytes())?;
    Ok(report)
}

/// Grows the stage model `src` to the preset's depth into `dst` (through
/// `dst.partial`, renamed when complete), unless `dst` already holds a model.
fn grow_stage_model(
    p: &Preset,
    seed: u64,
    src: &Path,
    dst: &Path,
    dtype: DType,
    stage: &mut dyn FnMut(&str),
) -> Result<()> {
    if dst.join("model.safetensors").is_file() {
        return Ok(());
    }
    stage(&format!("growing {} to {} layers", src.display(), p.layers));
    let tmp = dst.with_extension("partial");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    let init = RandomInit {
        std: 0.02,
        qk_gain: p.qk_norm_init,
        ..RandomInit::default()
    };
    grow_model_dir(
        src,
        p.layers,
        p.grow_positions.as_deref(),
        seed,
        init,
        dtype,
        &tmp,
    )?;
    if dst.exists() {
        std::fs::remove_dir_all(dst).map_err(|e| Error::io(dst, e))?;
    }
    std::fs::rename(&tmp, dst).map_err(|e| Error::io(dst, e))
}

/// The history repositories' size range must be non-empty, of 2 commits or more.
fn check_history(p: &Preset) -> Result<()> {
    let (lo, hi) = p.history_commits;
    if !agents::history::valid_commits(p.history_commits) {
        return Err(Error::Input(format!(
            "preset {}: history_commits ({lo}, {hi}) is not a range of at least 2 commits (expected 2 <= min <= max)",
            p.name
        )));
    }
    Ok(())
}

/// `long_practice` is known, and with `acc` base has no long copy stage.
fn check_long_practice(p: &Preset) -> Result<()> {
    if !LONG_PRACTICE.contains(&p.long_practice.as_str()) {
        return Err(Error::Input(format!(
            "preset {}: long_practice `{}` is not one of {}",
            p.name,
            p.long_practice,
            LONG_PRACTICE.join(", ")
        )));
    }
    if let (true, Some(n)) = (p.long_rows_in_base(), p.acc_long_rehearsal) {
        return Err(Error::Input(format!(
            "preset {}: acc_long_rehearsal {n} applies with long_practice `acc` only (long_practice is `{}`)",
            p.name, p.long_practice
        )));
    }
    if !p.long_rows_in_base() && p.long_copy_steps > 0 {
        return Err(Error::Input(format!(
            "preset {}: long_practice `acc` keeps long rows out of base, but long_copy_steps is {} (expected 0)",
            p.name, p.long_copy_steps
        )));
    }
    Ok(())
}

/// `b`'s items spread evenly among `a`'s, in order (`a` itself when `b` is empty).
fn spread<T>(a: Vec<T>, b: Vec<T>) -> Vec<T> {
    let (na, nb) = (a.len(), b.len());
    let mut out = Vec::with_capacity(na + nb);
    let (mut a, mut b) = (a.into_iter(), b.into_iter());
    for k in 0..na + nb {
        // b's share of the first k + 1 items is ⌊(k + 1)·nb / (na + nb)⌋
        let due = (k + 1) * nb / (na + nb) > k * nb / (na + nb);
        let next = if due { b.next() } else { a.next() };
        out.extend(next);
    }
    out
}

/// `n` rehearsal rows for the SFT sets: short and long copy drills in turn
/// (the short ones alone once the long ones run out, and the other way round).
fn rehearsal_rows(short: &[Value], long: &[Value], n: usize) -> Vec<Value> {
    let mut out = Vec::with_capacity(n);
    let (mut s, mut l) = (short.iter().peekable(), long.iter().peekable());
    while out.len() < n {
        let short_turn = out.len() % 2 == 0;
        let next = match (short_turn, s.peek().is_some(), l.peek().is_some()) {
            (_, false, false) => break,
            (true, true, _) | (false, true, false) => s.next(),
            _ => l.next(),
        };
        out.extend(next.cloned());
    }
    out
}

/// The training stages of a reproduction, in order: the copy stages (when
/// `copy_steps` > 0), LM pretraining, agent SFT (`base`) and ACC SFT (`acc`),
/// each starting from the previous stage's model in `out`. `copy_init` is
/// the copy stage's scratch model of `copy_layers` layers; when that is
/// shallower than the preset, the stage `grow_before` grows it first.
fn plan_stages(
    p: &Preset,
    out: &Path,
    data: &Path,
    scratch: Init,
    copy_init: Init,
    copy_layers: usize,
) -> Result<Vec<Stage>> {
    let mut stages: Vec<Stage> = Vec::new();
    let lm_lr = match p.copy_steps {
        0 => p.lr,
        _ => p.lm_lr.unwrap_or(p.lr),
    };
    let at_end = p.grow_before == GROW_AT_END;
    if !at_end && !AFTER_COPY.contains(&p.grow_before.as_str()) {
        return Err(Error::Input(format!(
            "preset {}: grow_before `{}` is not a stage after the copy stage (expected one of {}, or {GROW_AT_END})",
            p.name,
            p.grow_before,
            AFTER_COPY.join(", ")
        )));
    }
    if let (Some(at), true) = (&p.grow_positions, copy_layers < p.layers) {
        // checked before any training, not when the growth comes
        crate::train::grow::check_positions(at, copy_layers, p.layers)
            .map_err(|e| Error::Input(format!("preset {}: grow_positions: {e}", p.name)))?;
    }
    // with growth at the end the SFT stages train the shallow model
    let (grows, shallow) = growth(p, copy_layers);
    let (base_name, acc_name) = match shallow {
        true => (GROWN_AT_END[0].0, GROWN_AT_END[1].0),
        false => ("base", "acc"),
    };
    // the previous stage's model directory (None: train from scratch)
    let mut last: Option<PathBuf> = None;
    if p.copy_steps > 0 {
        stages.push(Stage {
            name: "base-copy",
            data: data.join("copy.jsonl"),
            init: copy_init,
            objective: Objective::AgentSft,
            steps: p.copy_steps,
            lr: p.lr,
            batch: p.copy_batch,
            seq_len: p.copy_seq_len,
            grow_from: None,
        });
        last = Some(out.join("base-copy"));
        if p.long_copy_steps > 0 {
            // loss on the last turn only: the copied answer, not the
            // recall drills' earlier (random) responses
            stages.push(Stage {
                name: "base-copy-long",
                data: data.join("long_copy.jsonl"),
                init: Init::Model {
                    dir: out.join("base-copy"),
                },
                objective: Objective::Acc,
                steps: p.long_copy_steps,
                lr: p.long_lr.unwrap_or(lm_lr),
                batch: p.batch,
                seq_len: p.seq_len,
                grow_from: None,
            });
            last = Some(out.join("base-copy-long"));
        }
    }
    stages.push(Stage {
        name: "base-lm",
        data: data.join("lm.jsonl"),
        init: last.map_or(scratch, |dir| Init::Model { dir }),
        objective: Objective::Lm,
        steps: p.lm_steps,
        lr: lm_lr,
        batch: p.batch,
        seq_len: p.seq_len,
        grow_from: None,
    });
    stages.push(Stage {
        name: base_name,
        data: data.join("agent_sft.jsonl"),
        init: Init::Model {
            dir: out.join("base-lm"),
        },
        objective: Objective::AgentSft,
        steps: p.sft_steps,
        lr: p.sft_lr,
        batch: p.batch,
        seq_len: p.seq_len,
        grow_from: None,
    });
    stages.push(Stage {
        name: acc_name,
        data: data.join("acc.jsonl"),
        init: Init::Model {
            dir: out.join(base_name),
        },
        objective: Objective::Acc,
        steps: p.acc_steps,
        lr: p.acc_lr.unwrap_or(p.sft_lr),
        batch: p.batch,
        seq_len: p.seq_len,
        grow_from: None,
    });
    // a shallow copy model is grown to the full depth before the stage
    // `grow_before` (the first one after it that exists): that stage starts
    // from `<previous stage>-grown`
    if grows && !at_end {
        let from = AFTER_COPY
            .iter()
            .position(|n| *n == p.grow_before)
            .expect("checked above");
        let at = stages
            .iter()
            .position(|s| AFTER_COPY[from..].contains(&s.name))
            .expect("the base stage is always there");
        let Init::Model { dir: prev } = stages[at].init.clone() else {
            unreachable!("a stage after the copy stage starts from a model")
        };
        let grown = prev.with_file_name(format!(
            "{}-grown",
            prev.file_name().expect("a stage dir").to_string_lossy()
        ));
        stages[at].init = Init::Model { dir: grown };
        stages[at].grow_from = Some(prev);
    }
    Ok(stages)
}

/// The drill check of a stage's model, kept in `<stage>/drill_check.json`
/// (computed once); `None` when the preset asks for none.
fn stage_drill_check(
    name: &str,
    dir: &Path,
    per_kind: usize,
    seed: u64,
    edge_trace: bool,
    stage: &mut dyn FnMut(&str),
) -> Result<Option<DrillCheck>> {
    if per_kind == 0 {
        return Ok(None);
    }
    let path = dir.join("drill_check.json");
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Ok(c) = serde_json::from_str::<DrillCheck>(&text) {
            return Ok(Some(c));
        }
        tracing::warn!("{}: unreadable, checking again", path.display());
    }
    stage(&format!("{name}: copy drill check"));
    let c = drill_check::check(&ChatDir::open(dir)?.chat(), per_kind, seed, edge_trace)?;
    stage(&format!(
        "{name}: copy drills {}; long lookups p(start) / p(in) {}",
        c.summary(),
        c.long_lookup_probs()
    ));
    write_atomic(
        &path,
        &serde_json::to_vec_pretty(&c).expect("drill check serialises"),
    )?;
    Ok(Some(c))
}

/// Both models' scores on the same problems, and the paired comparison.
pub struct PairScores {
    /// (task, "base" | "acc") → the graded report.
    pub reports: BTreeMap<(String, String), EvalReport>,
    /// One result per task, in the order given.
    pub results: Vec<TaskResult>,
}

/// Decodes and grades `tasks` with the base and the ACC model (identical
/// problems), with 95% bootstrap CIs and the paired ACC − base difference.
/// `progress(model, task)` is called before each evaluation.
pub fn evaluate_pair(
    base: &Path,
    acc: &Path,
    tasks: &[(Task, Vec<TaskRow>)],
    opts: EvalOptions,
    progress: &mut dyn FnMut(&str, &str),
) -> Result<PairScores> {
    let mut reports: BTreeMap<(String, String), EvalReport> = BTreeMap::new();
    for (name, dir) in [("base", base), ("acc", acc)] {
        let loaded = ChatDir::open(dir)?;
        let chat = loaded.chat();
        for (task, rows) in tasks {
            let label = format!("{task:?}").to_lowercase();
            progress(name, &label);
            let rep = evaluate(&chat, *task, rows, opts, &|_| {})?;
            reports.insert((label, name.to_string()), rep);
        }
    }
    let mut results = Vec::new();
    for (task, _) in tasks {
        let label = format!("{task:?}").to_lowercase();
        let b = &reports[&(label.clone(), "base".to_string())];
        let a = &reports[&(label.clone(), "acc".to_string())];
        let diffs: Vec<f64> = a
            .rows
            .iter()
            .zip(&b.rows)
            .map(|(x, y)| x.score - y.score)
            .collect();
        results.push(TaskResult {
            task: label,
            base: b.overall,
            acc: a.overall,
            diff: mean_ci(&diffs, opts.resamples, 0.95, opts.seed),
        });
    }
    Ok(PairScores { reports, results })
}

fn ci(m: &MeanCi) -> String {
    format!("{:.3} [{:.3}, {:.3}]", m.mean, m.lo, m.hi)
}

/// The results as a markdown table.
pub fn results_table(r: &Report) -> String {
    let mut s = task_table(&r.results);
    if !r.drill_checks.is_empty() {
        s.push_str(
            "\n| stage | copy drills, exact | long lookups, teacher-forced p(start) / p(in), the child |\n|---|---|---|\n",
        );
        // in curriculum order
        let order = [
            "base-copy",
            "base-copy-long",
            "base-lm",
            "base-core",
            "base",
            "acc-core",
            "acc",
        ];
        let mut names: Vec<&String> = r.drill_checks.keys().collect();
        names.sort_by_key(|n| order.iter().position(|o| o == n));
        for name in names {
            let c = &r.drill_checks[name];
            s.push_str(&format!(
                "| {name} | {} | {} |\n",
                c.summary(),
                c.long_lookup_probs()
            ));
        }
    }
    s
}

/// Per-task results as a markdown table (base, ACC, paired difference, with CIs).
pub fn task_table(results: &[TaskResult]) -> String {
    let mut s =
        String::from("| task | n | base | ACC | ACC − base (paired) |\n|---|---|---|---|---|\n");
    for t in results {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            t.task,
            t.base.n,
            ci(&t.base),
            ci(&t.acc),
            ci(&t.diff)
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stages of `p` in a run directory `/run`.
    fn stages(p: &Preset) -> Result<Vec<Stage>> {
        let out = Path::new("/run");
        let cfg = |name: &str| Init::Config {
            config: out.join(name),
            tokenizer: out.join("tokenizer.json"),
            init_std: 0.02,
            qk_norm_init: 1.0,
        };
        plan_stages(
            p,
            out,
            &out.join("data"),
            cfg("model-config.json"),
            cfg("model-config-copy.json"),
            p.copy_layers,
        )
    }

    /// (stage name, its init model dir's file name, the dir it is grown from)
    fn plan(p: &Preset) -> Result<Vec<(String, String, Option<String>)>> {
        let file = |d: &Path| d.file_name().unwrap().to_string_lossy().into_owned();
        Ok(stages(p)?
            .iter()
            .map(|s| {
                let init = match &s.init {
                    Init::Model { dir } => file(dir),
                    Init::Config { config, .. } => file(config),
                };
                (s.name.to_string(), init, s.grow_from.as_deref().map(file))
            })
            .collect())
    }

    #[test]
    fn the_shallow_copy_model_is_grown_before_the_chosen_stage() {
        let row = |n: &str, i: &str, g: Option<&str>| (n.into(), i.into(), g.map(String::from));
        let mut p = staged();
        assert_eq!((p.copy_layers, p.layers), (4, 24));
        p.grow_before = "base-copy-long".into();
        assert_eq!(
            plan(&p).unwrap(),
            vec![
                row("base-copy", "model-config-copy.json", None),
                row("base-copy-long", "base-copy-grown", Some("base-copy")),
                row("base-lm", "base-copy-long", None),
                row("base", "base-lm", None),
                row("acc", "base", None),
            ]
        );
        p.grow_before = "base-lm".into();
        let stages = plan(&p).unwrap();
        assert_eq!(stages[1], row("base-copy-long", "base-copy", None));
        assert_eq!(
            stages[2],
            row("base-lm", "base-copy-long-grown", Some("base-copy-long"))
        );
        p.grow_before = "base".into();
        let stages = plan(&p).unwrap();
        assert_eq!(stages[2], row("base-lm", "base-copy-long", None));
        assert_eq!(stages[3], row("base", "base-lm-grown", Some("base-lm")));
        assert_eq!(stages[4], row("acc", "base", None));
        // grown at the end: every stage trains the shallow model, ACC SFT
        // starts from the shallow base model
        p.grow_before = "end".into();
        let stages = plan(&p).unwrap();
        assert_eq!(stages[2], row("base-lm", "base-copy-long", None));
        assert_eq!(stages[3], row("base-core", "base-lm", None));
        assert_eq!(stages[4], row("acc-core", "base-core", None));
        assert!(stages.iter().all(|s| s.2.is_none()));
        p.grow_positions = Some(vec![2, 8, 14, 20]);
        assert!(plan(&p).is_ok());
        p.grow_positions = Some(vec![2, 8, 14, 24]);
        let e = plan(&p).unwrap_err().to_string();
        assert!(
            e.contains("grow_positions") && e.contains("below 24"),
            "{e}"
        );
        p.grow_positions = None;
        // without a long copy stage the growth moves to the next stage
        p.grow_before = "base-copy-long".into();
        p.long_copy_steps = 0;
        let stages = plan(&p).unwrap();
        assert_eq!(stages.len(), 4);
        assert_eq!(
            stages[1],
            row("base-lm", "base-copy-grown", Some("base-copy"))
        );
        // no copy stage: from scratch at full depth, nothing grown
        p.copy_steps = 0;
        let stages = plan(&p).unwrap();
        assert_eq!(stages[0], row("base-lm", "model-config.json", None));
        assert!(stages.iter().all(|s| s.2.is_none()));
        // a copy model as deep as the preset is not grown
        let mut p = staged();
        p.copy_layers = 24;
        assert!(plan(&p).unwrap().iter().all(|s| s.2.is_none()));
        p.grow_before = "acc".into();
        let e = plan(&p).unwrap_err().to_string();
        assert!(
            e.contains("grow_before `acc`") && e.contains("base-lm"),
            "{e}"
        );
    }

    /// The full preset with every stage at full depth after the copy stage,
    /// and a long copy stage.
    fn staged() -> Preset {
        let mut p = Preset::full();
        p.grow_before = "base".into();
        p.grow_positions = None;
        p.long_copy_steps = 1000;
        p.long_practice = "base".into();
        p
    }

    #[test]
    fn the_full_preset_trains_shallow_and_keeps_long_rows_for_acc() {
        let p = Preset::full();
        check_long_practice(&p).unwrap();
        let names: Vec<_> = stages(&p).unwrap().iter().map(|s| s.name).collect();
        assert_eq!(names, ["base-copy", "base-lm", "base-core", "acc-core"]);
        let (grows, at_end) = growth(&p, p.copy_layers);
        assert!(grows && at_end);
        // a long copy stage would put long rows in base
        let mut q = p.clone();
        q.long_copy_steps = 10;
        let e = check_long_practice(&q).unwrap_err().to_string();
        assert!(e.contains("long_copy_steps is 10"), "{e}");
        q.long_practice = "both".into();
        let e = check_long_practice(&q).unwrap_err().to_string();
        assert!(e.contains("`both`") && e.contains("base, acc"), "{e}");
        // ACC's own rehearsal mix exists only where base has no long rows
        q.long_practice = "base".into();
        assert_eq!(q.acc_long_rehearsal, Some(6000));
        let e = check_long_practice(&q).unwrap_err().to_string();
        assert!(e.contains("acc_long_rehearsal 6000"), "{e}");
        q.acc_long_rehearsal = None;
        check_long_practice(&q).unwrap();
    }

    #[test]
    fn history_repository_sizes_must_be_a_range() {
        let mut p = Preset::full();
        check_history(&p).unwrap();
        assert_eq!(p.history_commits, PAIR_HISTORY_COMMITS);
        p.history_commits = (2, 2);
        check_history(&p).unwrap();
        for bad in [(1, 5), (9, 6)] {
            p.history_commits = bad;
            let e = check_history(&p).unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
        // a preset file names the range as a pair
        let q = Preset::full()
            .with_overrides(&json!({"history_commits": [12, 18]}), "p.json")
            .unwrap();
        assert_eq!(q.history_commits, (12, 18));
    }

    #[test]
    fn spread_interleaves_evenly_and_keeps_both_orders() {
        let a: Vec<String> = (0..6).map(|i| format!("a{i}")).collect();
        let b: Vec<String> = (0..2).map(|i| format!("b{i}")).collect();
        assert_eq!(
            spread(a.clone(), b.clone()),
            ["a0", "a1", "a2", "b0", "a3", "a4", "a5", "b1"]
        );
        assert_eq!(spread(a.clone(), Vec::new()), a);
        assert_eq!(spread(Vec::new(), b.clone()), b);
        let long = spread((0..1000).collect::<Vec<u32>>(), (1000..1300).collect());
        assert_eq!(long.len(), 1300);
        // every window of 13 holds 3 of b's items
        assert!(long
            .chunks(13)
            .all(|w| w.iter().filter(|&&x| x >= 1000).count() == 3));
        let (x, y): (Vec<u32>, Vec<u32>) = long.iter().partition(|&&v| v < 1000);
        assert!(x.windows(2).all(|w| w[0] < w[1]) && y.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn rehearsal_alternates_short_and_long_drills_and_stops_when_both_run_out() {
        let rows = |tag: &str, n: usize| -> Vec<Value> {
            (0..n).map(|i| json!(format!("{tag}{i}"))).collect()
        };
        let (s, l) = (rows("s", 3), rows("l", 1));
        let got: Vec<Value> = rehearsal_rows(&s, &l, 4);
        assert_eq!(
            got,
            vec![json!("s0"), json!("l0"), json!("s1"), json!("s2")]
        );
        assert_eq!(rehearsal_rows(&s, &l, 10).len(), 4);
        assert!(rehearsal_rows(&s, &l, 0).is_empty());
        assert_eq!(rehearsal_rows(&[], &l, 2), vec![json!("l0")]);
    }

    #[test]
    fn each_stage_takes_its_own_learning_rate() {
        let lrs = |p: &Preset| -> Vec<(&'static str, f64)> {
            stages(p).unwrap().iter().map(|s| (s.name, s.lr)).collect()
        };
        let mut p = staged();
        let (lr, lm, sft) = (p.lr, p.lm_lr.unwrap(), p.sft_lr);
        let defaults = vec![
            ("base-copy", lr),
            ("base-copy-long", lm),
            ("base-lm", lm),
            ("base", sft),
            ("acc", sft),
        ];
        assert_eq!(lrs(&p), defaults);
        p.long_lr = Some(3e-3);
        p.acc_lr = Some(2e-3);
        assert_eq!(
            lrs(&p),
            vec![
                ("base-copy", lr),
                ("base-copy-long", 3e-3),
                ("base-lm", lm),
                ("base", sft),
                ("acc", 2e-3),
            ]
        );
    }

    #[test]
    fn preset_overrides_replace_named_fields_only() {
        let mut full = Preset::full();
        full.workers = 2;
        let p = full
            .with_overrides(&json!({"lm_steps": 7, "budget": [10, 20]}), "p.json")
            .unwrap();
        assert_eq!((p.lm_steps, p.budget, p.workers), (7, (10, 20), 2));
        assert_eq!(p.layers, full.layers);
        let e = full
            .with_overrides(&json!({"lm_stepz": 7}), "p.json")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("p.json") && e.contains("lm_stepz") && e.contains("lm_steps"),
            "{e}"
        );
        let e = full
            .with_overrides(&json!({"lm_steps": "many"}), "p.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("p.json"), "{e}");
        assert!(full.with_overrides(&json!([1]), "p.json").is_err());
    }

    #[test]
    fn the_rope_base_reaches_the_model_config() {
        let full = Preset::full();
        assert_eq!(full.model_config(4096).rope_theta, 10_000.0);
        let p = full
            .with_overrides(&json!({"rope_theta": 1e6}), "p.json")
            .unwrap();
        let cfg = p.model_config(4096);
        assert_eq!(cfg.rope_theta, 1e6);
        assert_eq!(cfg.to_hf_json()["rope_theta"], json!(1e6));
        // a preset written before the field existed still parses
        let mut old = serde_json::to_value(&full).unwrap();
        old.as_object_mut().unwrap().remove("rope_theta");
        let back: Preset = serde_json::from_value(old).unwrap();
        assert_eq!(back.rope_theta, 10_000.0);
    }
}
