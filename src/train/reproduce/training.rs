//! Running the model stages of a reproduction: a training stage (trained,
//! resumed from its checkpoints, or found done), a model grown to the
//! preset's depth, and the drill check after each training stage.

use std::path::Path;

use super::preset::CopyUntil;
use super::stages::{StageId, Training};
use super::Context;
use crate::chat::ChatTemplate;
use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::model::random::RandomInit;
use crate::model_dir::ModelDir;
use crate::train::curriculum::copy_criterion::CopyCriterion;
use crate::train::curriculum::drill_check::{self, DrillCheck};
use crate::train::grow::grow_model_dir;
use crate::train::hf::stop_tokens;
use crate::train::trainer::{train_until, Init, SaveDtype, StepMetrics, TrainConfig};
use crate::train::until::{Criterion, UntilState};

/// What a training stage reports: its model's drill check, and the checks
/// of a stage that ends on a criterion.
#[derive(Default)]
pub(super) struct StageReport {
    pub drill_check: Option<DrillCheck>,
    pub until: Option<UntilState>,
}

/// Trains the stage `id` (growing its start model first where it has
/// one to grow), unless `done`; resumes an interrupted run. A stage with a
/// criterion that does not pass stops the run with an error listing its
/// checks (its `train/until.json` keeps them).
pub(super) fn train_stage(
    cx: &mut Context,
    id: StageId,
    t: &Training,
    done: bool,
) -> Result<StageReport> {
    let name = id.name();
    let dir = id.dir(cx.out);
    if let (Some(src), Init::Model { dir: dst }) = (&t.grow_from, &t.init) {
        grow_model(cx, src, dst, SaveDtype::F32)?;
    }
    if done {
        (cx.stage)(&format!("{name}: done earlier"));
        return Ok(StageReport {
            drill_check: drill_check(cx, id)?,
            until: read_until(&dir),
        });
    }
    (cx.stage)(&match t.until {
        None => format!("training {name} ({} steps, {})", t.steps, t.objective.name()),
        Some(u) => format!(
            "training {name} (until p(copy) reaches {} on {} held-out drills, at most {} steps, then {} decay steps; {})",
            u.p_copy,
            3 * u.per_kind,
            t.steps,
            u.decay,
            t.objective.name()
        ),
    });
    let mut cfg = TrainConfig::new(t.data.clone(), t.init.clone(), t.objective);
    cfg.steps = t.steps;
    cfg.batch = t.batch;
    cfg.seq_len = t.seq_len;
    cfg.lr = t.lr;
    cfg.seed = cx.seed;
    // often enough that a stopped run loses little
    cfg.save_every = (t.steps / 4).clamp(1, 100);
    cfg.save_dtype = SaveDtype::Bf16;
    cfg.workers = cx.p.workers;
    cfg.until = t.until.map(|u| u.until());
    let mut criterion = match t.until {
        Some(u) => Some(copy_criterion(cx, t, u)?),
        None => None,
    };
    let resume = dir.join("train/run.json").is_file();
    let step = &mut *cx.step;
    let criterion = criterion.as_mut().map(|c| c as &mut dyn Criterion);
    let summary = train_until(
        &cfg,
        &dir,
        resume,
        &mut |m: &StepMetrics| step(name, m),
        criterion,
    )
    .map_err(|e| match e {
        Error::Training(why) => Error::Training(format!(
            "stage {name}: {why}. The run stops here: later stages would train on a model that has not learned what this stage teaches"
        )),
        e => e,
    })?;
    if let Some(st) = &summary.until {
        (cx.stage)(&format!("{name}: {}", until_line(st)));
    }
    Ok(StageReport {
        drill_check: drill_check(cx, id)?,
        until: summary.until,
    })
}

/// The copy criterion of stage training `t`: the drills decoded with the
/// run's tokenizer and the chat template of a trained model.
fn copy_criterion(cx: &Context, t: &Training, u: CopyUntil) -> Result<CopyCriterion> {
    let tokenizer = match &t.init {
        Init::Config { tokenizer, .. } => crate::tokenizer::load(tokenizer)?,
        Init::Model { dir } => ModelDir::cpu(dir)?.tokenizer()?.clone(),
    };
    Ok(CopyCriterion {
        want: u.want(),
        stop: stop_tokens(&tokenizer),
        tokenizer,
        template: ChatTemplate::chatml_tools(),
        seed: cx.seed,
        edge_trace: cx.p.edge_trace,
    })
}

/// The checks of a stage that ended on a criterion (`train/until.json`).
fn read_until(dir: &Path) -> Option<UntilState> {
    let text = std::fs::read_to_string(dir.join("train/until.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// `criterion passed at step 1750 (p(copy) 0.569, exact 3/24 (…)) after 6
/// checks`, or `criterion not passed in N checks`.
pub(super) fn until_line(st: &UntilState) -> String {
    let passed = st
        .passed_at
        .and_then(|at| st.checks.iter().find(|c| c.step == at));
    match passed {
        Some(c) => format!(
            "criterion passed at step {} ({}) after {} checks",
            c.step,
            c.detail,
            st.checks.len()
        ),
        None => format!("criterion not passed in {} checks", st.checks.len()),
    }
}

/// Grows the stage model `src` to the preset's depth into `dst` (through
/// `dst.partial`, renamed when complete), unless `dst` already holds a model.
pub(super) fn grow_model(cx: &mut Context, src: &Path, dst: &Path, dtype: SaveDtype) -> Result<()> {
    if dst.join("model.safetensors").is_file() {
        return Ok(());
    }
    let p = cx.p;
    (cx.stage)(&format!("growing {} to {} layers", src.display(), p.layers));
    let tmp = dst.with_extension("partial");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    let init = RandomInit {
        std: 0.02,
        qk_gain: p.qk_norm_init,
        ..RandomInit::default()
    };
    let positions = p.grow_positions.as_deref();
    let dtype = dtype.dtype();
    grow_model_dir(src, p.layers, positions, cx.seed, init, dtype, &tmp)?;
    if dst.exists() {
        std::fs::remove_dir_all(dst).map_err(|e| Error::io(dst, e))?;
    }
    std::fs::rename(&tmp, dst).map_err(|e| Error::io(dst, e))
}

/// The drill check of stage `id`'s model, kept in `<stage>/drill_check.json`
/// (computed once); `None` when the preset asks for none.
fn drill_check(cx: &mut Context, id: StageId) -> Result<Option<DrillCheck>> {
    let per_kind = cx.p.drill_checks;
    if per_kind == 0 {
        return Ok(None);
    }
    let dir = id.dir(cx.out);
    let path = dir.join("drill_check.json");
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Ok(c) = serde_json::from_str::<DrillCheck>(&text) {
            return Ok(Some(c));
        }
        tracing::warn!("{}: unreadable, checking again", path.display());
    }
    (cx.stage)(&format!("{id}: copy drill check"));
    let m = ModelDir::cpu(&dir)?;
    let c = drill_check::check(&m.chat()?, per_kind, cx.seed, cx.p.edge_trace)?;
    (cx.stage)(&format!(
        "{id}: copy drills {}; long lookups p(start) / p(in) {}",
        c.summary(),
        c.long_lookup_probs()
    ));
    write_atomic(
        &path,
        &serde_json::to_vec_pretty(&c).expect("drill check serialises"),
    )?;
    Ok(Some(c))
}
