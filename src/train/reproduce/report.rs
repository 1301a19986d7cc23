//! What a reproduction reports ([`Report`], written as `results.json`) and
//! its markdown tables (`results.md`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::evaluate::TaskResult;
use super::preset::Preset;
use super::stages::StageId;
use crate::analysis::bootstrap::MeanCi;
use crate::train::curriculum::drill_check::DrillCheck;
use crate::train::until::UntilState;

/// What `reproduce` reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub preset: Preset,
    pub seed: u64,
    pub counts: BTreeMap<String, usize>,
    /// Every stage's drill check, by stage name ([`StageId::name`]).
    #[serde(default)]
    pub drill_checks: BTreeMap<String, DrillCheck>,
    /// The checks of every stage that ended on a criterion (the copy stage
    /// with `copy_until`), by stage name: when it passed.
    #[serde(default)]
    pub criteria: BTreeMap<String, UntilState>,
    pub results: Vec<TaskResult>,
    pub base: PathBuf,
    pub acc: PathBuf,
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
        let mut names: Vec<&String> = r.drill_checks.keys().collect();
        names.sort_by_key(|n| StageId::from_name(n));
        for name in names {
            let c = &r.drill_checks[name];
            s.push_str(&format!(
                "| {name} | {} | {} |\n",
                c.summary(),
                c.long_lookup_probs()
            ));
        }
    }
    for (name, st) in &r.criteria {
        s.push_str(&format!("\n{name}: {}.\n", super::training::until_line(st)));
    }
    s
}

/// Per-task results as a markdown table (base, ACC, paired difference, with CIs).
/// With a step-count control, two more columns: its scores and ACC −
/// control (paired).
pub fn task_table(results: &[TaskResult]) -> String {
    let control = results.iter().any(|t| t.control.is_some());
    let mut s = String::from("| task | n | base | ACC | ACC − base (paired) |");
    s.push_str(match control {
        true => " control | ACC − control (paired) |\n|---|---|---|---|---|---|---|\n",
        false => "\n|---|---|---|---|---|\n",
    });
    for t in results {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} |",
            t.task,
            t.base.n,
            ci(&t.base),
            ci(&t.acc),
            ci(&t.diff)
        ));
        if control {
            let opt = |m: &Option<MeanCi>| m.as_ref().map_or("-".into(), ci);
            s.push_str(&format!(
                " {} | {} |",
                opt(&t.control),
                opt(&t.acc_minus_control)
            ));
        }
        s.push('\n');
    }
    s
}
