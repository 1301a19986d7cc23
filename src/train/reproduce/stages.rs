//! The stages of a reproduction: [`StageId`] names each one and its
//! directory in `--out`; [`plan`] lists a preset's stages in run order, each
//! with its inputs (a training stage's data file and start model, a grown
//! model's shallow source) and the output whose presence means it is done.

use std::fmt;
use std::path::{Path, PathBuf};

use super::preset::{CopyUntil, Preset};
use crate::error::Result;
use crate::train::data::Objective;
use crate::train::trainer::{Init, SaveDtype};

/// A stage of a reproduction, in run order; each writes the directory of
/// its name in `--out`. The model stages are in curriculum order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StageId {
    /// Environments → trajectory files in several formats.
    Trajectories,
    /// The BPE tokenizer (and, beside it, the model configs).
    Tokenizer,
    /// The training sets: LM corpus, copy drills, agent SFT, ACC.
    Data,
    /// Short copy drills from scratch (loss on the copied answer).
    BaseCopy,
    /// Long copy drills at the toy tasks' lengths.
    BaseCopyLong,
    /// LM pretraining on the corpus.
    BaseLm,
    /// Agent SFT of the shallow model, grown into `base` after training.
    BaseCore,
    /// The base model: agent SFT (or grown from `base-core`).
    Base,
    /// ACC SFT of the shallow model, grown into `acc` after training.
    AccCore,
    /// The ACC model: base + ACC SFT (or grown from `acc-core`).
    Acc,
    /// The step-count control of the shallow model, grown into `control`.
    ControlCore,
    /// The step-count control: base + as many more agent-SFT steps as the
    /// preset's `control_steps` (or grown from `control-core`).
    Control,
    /// The final models on held-out toy MRCR and GraphWalks.
    Eval,
}

impl StageId {
    pub const ALL: [StageId; 13] = [
        StageId::Trajectories,
        StageId::Tokenizer,
        StageId::Data,
        StageId::BaseCopy,
        StageId::BaseCopyLong,
        StageId::BaseLm,
        StageId::BaseCore,
        StageId::Base,
        StageId::AccCore,
        StageId::Acc,
        StageId::ControlCore,
        StageId::Control,
        StageId::Eval,
    ];

    /// The stage's name: its directory, its key in the report.
    pub fn name(self) -> &'static str {
        match self {
            StageId::Trajectories => "trajectories",
            StageId::Tokenizer => "tokenizer",
            StageId::Data => "data",
            StageId::BaseCopy => "base-copy",
            StageId::BaseCopyLong => "base-copy-long",
            StageId::BaseLm => "base-lm",
            StageId::BaseCore => "base-core",
            StageId::Base => "base",
            StageId::AccCore => "acc-core",
            StageId::Acc => "acc",
            StageId::ControlCore => "control-core",
            StageId::Control => "control",
            StageId::Eval => "eval",
        }
    }

    /// The stage named `name`.
    pub fn from_name(name: &str) -> Option<StageId> {
        StageId::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The stage's directory in the run directory `out`.
    pub fn dir(self, out: &Path) -> PathBuf {
        out.join(self.name())
    }
}

impl fmt::Display for StageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One stage of a plan: which it is and what it does.
pub(super) struct Stage {
    pub id: StageId,
    pub work: Work,
}

/// What a stage does, with its inputs.
pub(super) enum Work {
    /// Writes the trajectory files and reads them back (every run).
    Trajectories,
    /// Trains the tokenizer on the corpus (or loads it) and writes the
    /// model configs for its vocabulary.
    Tokenizer,
    /// Compiles and writes the training sets (every run).
    Data,
    /// Trains a model.
    Train(Training),
    /// Grows the shallow model of stage `from` to the preset's depth.
    Grow { from: StageId, dtype: SaveDtype },
    /// Decodes and grades both final models (every run).
    Evaluate,
}

/// A training stage's inputs and settings.
pub(super) struct Training {
    pub data: PathBuf,
    pub init: Init,
    pub objective: Objective,
    pub steps: usize,
    pub lr: f64,
    pub batch: usize,
    pub seq_len: usize,
    /// A model directory to grow to the preset's depth into `init`'s
    /// directory before the stage (the shallow copy model).
    pub grow_from: Option<PathBuf>,
    /// The stage ends on its criterion (the copy stage with `copy_until`).
    pub until: Option<CopyUntil>,
}

impl Stage {
    /// Whether the stage's output is in `out` already: a trained model's
    /// `train/summary.json`, a grown model's weights, the tokenizer. The
    /// trajectories, data and evaluation are rebuilt on every run (they are
    /// deterministic, and the report counts them); an unfinished training
    /// stage resumes from its checkpoints.
    pub fn done(&self, out: &Path) -> bool {
        let dir = self.id.dir(out);
        match self.work {
            Work::Tokenizer => tokenizer_path(out).is_file(),
            Work::Train(_) => dir.join("train/summary.json").is_file(),
            Work::Grow { .. } => dir.join("model.safetensors").is_file(),
            Work::Trajectories | Work::Data | Work::Evaluate => false,
        }
    }
}

/// The tokenizer file of the run directory `out`.
pub(super) fn tokenizer_path(out: &Path) -> PathBuf {
    StageId::Tokenizer.dir(out).join("tokenizer.json")
}

/// The model config of the preset's depth in `out`.
pub(super) fn model_config_path(out: &Path) -> PathBuf {
    out.join("model-config.json")
}

/// The model config of the shallow copy model in `out`.
pub(super) fn copy_model_config_path(out: &Path) -> PathBuf {
    out.join("model-config-copy.json")
}

/// Every stage of a reproduction with preset `p` into `out`, in run order,
/// or the first check the preset fails.
pub(super) fn plan(p: &Preset, out: &Path) -> Result<Vec<Stage>> {
    p.check()?;
    let mut stages: Vec<Stage> = [StageId::Trajectories, StageId::Tokenizer, StageId::Data]
        .into_iter()
        .zip([Work::Trajectories, Work::Tokenizer, Work::Data])
        .map(|(id, work)| Stage { id, work })
        .collect();
    stages.extend(training_stages(p, out).into_iter().map(|(id, t)| Stage {
        id,
        work: Work::Train(t),
    }));
    if p.grows_at_end() {
        // the final models grown from the shallow ones, with the same new layers
        let mut grown = vec![
            (StageId::BaseCore, StageId::Base),
            (StageId::AccCore, StageId::Acc),
        ];
        if p.control_steps > 0 {
            grown.push((StageId::ControlCore, StageId::Control));
        }
        for (from, id) in grown {
            let dtype = SaveDtype::Bf16;
            stages.push(Stage {
                id,
                work: Work::Grow { from, dtype },
            });
        }
    }
    stages.push(Stage {
        id: StageId::Eval,
        work: Work::Evaluate,
    });
    Ok(stages)
}

/// The training stages of a reproduction, in order: the copy stages (when
/// `copy_steps` > 0), LM pretraining, agent SFT (`base`) and ACC SFT (`acc`),
/// each starting from the previous stage's model in `out`. The copy stage
/// starts from a scratch model of `copy_layers` layers; when that is
/// shallower than the preset, the stage `grow_before` grows it first.
fn training_stages(p: &Preset, out: &Path) -> Vec<(StageId, Training)> {
    let data = StageId::Data.dir(out);
    let scratch = |config: PathBuf| Init::Config {
        config,
        tokenizer: tokenizer_path(out),
        init_std: 0.02,
        qk_norm_init: p.qk_norm_init,
    };
    let from = |id: StageId| Init::Model { dir: id.dir(out) };
    let stage = |file: &str, init, objective, steps, lr| Training {
        data: data.join(file),
        init,
        objective,
        steps,
        lr,
        batch: p.batch,
        seq_len: p.seq_len,
        grow_from: None,
        until: None,
    };
    let lm_lr = match p.copy_steps {
        0 => p.lr,
        _ => p.lm_lr.unwrap_or(p.lr),
    };
    // with growth at the end the SFT stages train the shallow model
    let (base, acc) = match p.grows_at_end() {
        true => (StageId::BaseCore, StageId::AccCore),
        false => (StageId::Base, StageId::Acc),
    };
    let mut stages = Vec::new();
    // the previous stage (None: train from scratch)
    let mut last: Option<StageId> = None;
    if p.copy_steps > 0 {
        let copy_init = match p.grows() {
            true => scratch(copy_model_config_path(out)),
            false => scratch(model_config_path(out)),
        };
        let mut copy = stage(
            "copy.jsonl",
            copy_init,
            Objective::AgentSft,
            p.copy_steps,
            p.lr,
        );
        (copy.batch, copy.seq_len) = (p.copy_batch, p.copy_seq_len);
        copy.until = p.copy_until;
        stages.push((StageId::BaseCopy, copy));
        last = Some(StageId::BaseCopy);
        if p.long_copy_steps > 0 {
            // loss on the last turn only: the copied answer, not the
            // recall drills' earlier (random) responses
            let lr = p.long_lr.unwrap_or(lm_lr);
            let init = from(StageId::BaseCopy);
            let long = stage(
                "long_copy.jsonl",
                init,
                Objective::Acc,
                p.long_copy_steps,
                lr,
            );
            stages.push((StageId::BaseCopyLong, long));
            last = Some(StageId::BaseCopyLong);
        }
    }
    let lm_init = last.map_or_else(|| scratch(model_config_path(out)), from);
    stages.push((
        StageId::BaseLm,
        stage("lm.jsonl", lm_init, Objective::Lm, p.lm_steps, lm_lr),
    ));
    let sft = stage(
        "agent_sft.jsonl",
        from(StageId::BaseLm),
        Objective::AgentSft,
        p.sft_steps,
        p.sft_lr,
    );
    stages.push((base, sft));
    let acc_lr = p.acc_lr.unwrap_or(p.sft_lr);
    let acc_sft = stage("acc.jsonl", from(base), Objective::Acc, p.acc_steps, acc_lr);
    stages.push((acc, acc_sft));
    if p.control_steps > 0 {
        // the step-count control: as many more steps as ACC SFT adds, on
        // agent SFT's own data
        let control = match p.grows_at_end() {
            true => StageId::ControlCore,
            false => StageId::Control,
        };
        let more = stage(
            "agent_sft.jsonl",
            from(base),
            Objective::AgentSft,
            p.control_steps,
            p.sft_lr,
        );
        stages.push((control, more));
    }
    if let (true, Some(at)) = (p.grows(), p.grow_before.stage()) {
        grow_before(&mut stages, at);
    }
    stages
}

/// A shallow copy model is grown to the full depth before the stage `at`
/// (the first one from `at` on that exists): that stage starts from
/// `<previous stage>-grown`, grown from the previous stage's model.
fn grow_before(stages: &mut [(StageId, Training)], at: StageId) {
    let (_, t) = stages
        .iter_mut()
        .find(|(id, _)| *id >= at)
        .expect("the base stage is always there");
    let Init::Model { dir: prev } = t.init.clone() else {
        unreachable!("a stage after the copy stage starts from a model")
    };
    let grown = prev.with_file_name(format!(
        "{}-grown",
        prev.file_name().expect("a stage dir").to_string_lossy()
    ));
    t.init = Init::Model { dir: grown };
    t.grow_from = Some(prev);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::train::reproduce::preset::{GrowBefore, LongPractice};

    /// The training stages of `p` in a run directory `/run`.
    fn stages(p: &Preset) -> Result<Vec<(StageId, Training)>> {
        let out = Path::new("/run");
        Ok(plan(p, out)?
            .into_iter()
            .filter_map(|s| match s.work {
                Work::Train(t) => Some((s.id, t)),
                _ => None,
            })
            .collect())
    }

    /// (stage name, its init model dir's file name, the dir it is grown from)
    fn plan_of(p: &Preset) -> Result<Vec<(String, String, Option<String>)>> {
        let file = |d: &Path| d.file_name().unwrap().to_string_lossy().into_owned();
        Ok(stages(p)?
            .iter()
            .map(|(id, s)| {
                let init = match &s.init {
                    Init::Model { dir } => file(dir),
                    Init::Config { config, .. } => file(config),
                };
                (id.to_string(), init, s.grow_from.as_deref().map(file))
            })
            .collect())
    }

    #[test]
    fn the_shallow_copy_model_is_grown_before_the_chosen_stage() {
        let row = |n: &str, i: &str, g: Option<&str>| (n.into(), i.into(), g.map(String::from));
        let mut p = staged();
        assert_eq!((p.copy_layers, p.layers), (4, 24));
        p.grow_before = GrowBefore::BaseCopyLong;
        assert_eq!(
            plan_of(&p).unwrap(),
            vec![
                row("base-copy", "model-config-copy.json", None),
                row("base-copy-long", "base-copy-grown", Some("base-copy")),
                row("base-lm", "base-copy-long", None),
                row("base", "base-lm", None),
                row("acc", "base", None),
            ]
        );
        p.grow_before = GrowBefore::BaseLm;
        let stages = plan_of(&p).unwrap();
        assert_eq!(stages[1], row("base-copy-long", "base-copy", None));
        assert_eq!(
            stages[2],
            row("base-lm", "base-copy-long-grown", Some("base-copy-long"))
        );
        p.grow_before = GrowBefore::Base;
        let stages = plan_of(&p).unwrap();
        assert_eq!(stages[2], row("base-lm", "base-copy-long", None));
        assert_eq!(stages[3], row("base", "base-lm-grown", Some("base-lm")));
        assert_eq!(stages[4], row("acc", "base", None));
        // grown at the end: every stage trains the shallow model, ACC SFT
        // starts from the shallow base model
        p.grow_before = GrowBefore::End;
        let stages = plan_of(&p).unwrap();
        assert_eq!(stages[2], row("base-lm", "base-copy-long", None));
        assert_eq!(stages[3], row("base-core", "base-lm", None));
        assert_eq!(stages[4], row("acc-core", "base-core", None));
        assert!(stages.iter().all(|s| s.2.is_none()));
        p.grow_positions = Some(vec![2, 8, 14, 20]);
        assert!(plan_of(&p).is_ok());
        p.grow_positions = Some(vec![2, 8, 14, 24]);
        let e = plan_of(&p).unwrap_err().to_string();
        assert!(
            e.contains("grow_positions") && e.contains("below 24"),
            "{e}"
        );
        p.grow_positions = None;
        // without a long copy stage the growth moves to the next stage
        p.grow_before = GrowBefore::BaseCopyLong;
        p.long_copy_steps = 0;
        let stages = plan_of(&p).unwrap();
        assert_eq!(stages.len(), 4);
        assert_eq!(
            stages[1],
            row("base-lm", "base-copy-grown", Some("base-copy"))
        );
        // no copy stage: from scratch at full depth, nothing grown
        p.copy_steps = 0;
        let stages = plan_of(&p).unwrap();
        assert_eq!(stages[0], row("base-lm", "model-config.json", None));
        assert!(stages.iter().all(|s| s.2.is_none()));
        // a copy model as deep as the preset is not grown
        let mut p = staged();
        p.copy_layers = 24;
        assert!(plan_of(&p).unwrap().iter().all(|s| s.2.is_none()));
        let e = p
            .with_overrides(&json!({"grow_before": "acc"}), "p.json")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("grow_before `acc`") && e.contains("base-lm"),
            "{e}"
        );
    }

    /// The full preset with every stage at full depth after the copy stage,
    /// and a long copy stage.
    fn staged() -> Preset {
        let mut p = Preset::full();
        p.grow_before = GrowBefore::Base;
        p.grow_positions = None;
        p.long_copy_steps = 1000;
        p.long_practice = LongPractice::Base;
        p.acc_long_rehearsal = None;
        p
    }

    #[test]
    fn the_full_preset_trains_shallow_and_keeps_long_rows_for_acc() {
        let p = Preset::full();
        p.check_long_practice().unwrap();
        let names: Vec<_> = stages(&p).unwrap().iter().map(|s| s.0.name()).collect();
        assert_eq!(names, ["base-copy", "base-lm", "base-core", "acc-core"]);
        assert!(p.grows() && p.grows_at_end());
        let all: Vec<_> = plan(&p, Path::new("/run")).unwrap();
        let grown: Vec<_> = all
            .iter()
            .filter_map(|s| match s.work {
                Work::Grow { from, .. } => Some((from, s.id)),
                _ => None,
            })
            .collect();
        assert_eq!(
            grown,
            [
                (StageId::BaseCore, StageId::Base),
                (StageId::AccCore, StageId::Acc)
            ]
        );
        // a long copy stage would put long rows in base
        let mut q = p.clone();
        q.long_copy_steps = 10;
        let e = q.check_long_practice().unwrap_err().to_string();
        assert!(e.contains("long_copy_steps is 10"), "{e}");
        let e = q
            .with_overrides(&json!({"long_practice": "both"}), "p.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`both`") && e.contains("base, acc"), "{e}");
        // ACC's own rehearsal mix exists only where base has no long rows
        q.long_practice = LongPractice::Base;
        assert_eq!(q.acc_long_rehearsal, Some(6000));
        let e = q.check_long_practice().unwrap_err().to_string();
        assert!(e.contains("acc_long_rehearsal 6000"), "{e}");
        q.acc_long_rehearsal = None;
        q.check_long_practice().unwrap();
    }

    #[test]
    fn each_stage_takes_its_own_learning_rate() {
        let lrs = |p: &Preset| -> Vec<(&'static str, f64)> {
            stages(p)
                .unwrap()
                .iter()
                .map(|(id, s)| (id.name(), s.lr))
                .collect()
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
}
