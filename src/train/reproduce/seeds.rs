//! Reproductions that differ only in their training seed, side by side
//! ([`SeedsReport`], behind `acc-probe seeds`): each seed's scores with their
//! CIs and when its copy stage passed its criterion, then the mean over
//! seeds with a 95% interval over seeds and one over problems
//! ([`crate::analysis::seeds`]).
//!
//! Each run directory is read as `reproduce` left it: `results.json` (the
//! preset, the seed, the per-task results, the copy stage's checks) and the
//! graded rows in `eval/<model>-<task>.json`. The runs must share one preset
//! and have distinct seeds; anything else is an error naming the runs.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::evaluate::TaskResult;
use super::report::Report;
use crate::analysis::seeds::{over_seeds, OverSeeds};
use crate::error::{Error, Result};
use crate::io::read_text;

/// One seed's run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedRun {
    pub dir: PathBuf,
    pub seed: u64,
    /// The step whose check passed the copy stage's criterion (`None`: the
    /// run has no criterion, or an earlier version wrote it).
    pub copy_passed_at: Option<usize>,
    /// The copy stage's steps in all (with the decay after the check).
    pub copy_steps: Option<usize>,
    pub results: Vec<TaskResult>,
}

/// One task over the seeds: per-seed means of base, ACC and the paired
/// difference, averaged, with both intervals.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedsTask {
    pub task: String,
    pub base: OverSeeds,
    pub acc: OverSeeds,
    pub diff: OverSeeds,
    /// Seeds whose own paired difference has its 95% CI above 0.
    pub seeds_above_zero: usize,
    /// ACC − the step-count control (paired), where every run has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acc_minus_control: Option<OverSeeds>,
    /// Seeds whose own ACC − control has its 95% CI above 0.
    #[serde(default)]
    pub control_above_zero: usize,
}

/// What `acc-probe seeds` reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedsReport {
    /// The preset the runs share (its name).
    pub preset: String,
    pub runs: Vec<SeedRun>,
    pub tasks: Vec<SeedsTask>,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = read_text(path, crate::io::MAX_DOC_BYTES)?;
    serde_json::from_str(&text).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// The rows of a graded report (`tasks::eval::EvalReport`), their scores only.
#[derive(Deserialize)]
struct Graded {
    rows: Vec<GradedRow>,
}

#[derive(Deserialize)]
struct GradedRow {
    score: f64,
}

/// The graded scores of `model` on `task` in run `dir`, in problem order.
fn scores(dir: &Path, model: &str, task: &str) -> Result<Vec<f64>> {
    let path = dir.join("eval").join(format!("{model}-{task}.json"));
    let r: Graded = read_json(&path)?;
    Ok(r.rows.iter().map(|row| row.score).collect())
}

/// ACC − `other` problem by problem, in run `dir`; both must be graded on
/// the same problems.
fn paired(dir: &Path, task: &str, acc: &[f64], (name, other): (&str, &[f64])) -> Result<Vec<f64>> {
    if acc.len() != other.len() {
        return Err(Error::Input(format!(
            "{}: {name} has {} {task} rows and acc {}; both must be graded on the same problems",
            dir.display(),
            other.len(),
            acc.len()
        )));
    }
    Ok(acc.iter().zip(other).map(|(a, o)| a - o).collect())
}

/// The first preset field in which `a` and `b` differ.
fn differing_field(a: &Value, b: &Value) -> Option<String> {
    let (Value::Object(a), Value::Object(b)) = (a, b) else {
        return (a != b).then(|| "preset".to_string());
    };
    a.keys()
        .chain(b.keys())
        .find(|k| a.get(*k) != b.get(*k))
        .cloned()
}

/// The report over the reproductions in `dirs` (bootstrap: `resamples`
/// resamples drawn with `seed`).
pub fn seeds_report(dirs: &[PathBuf], resamples: usize, seed: u64) -> Result<SeedsReport> {
    if dirs.is_empty() {
        return Err(Error::Input("no reproduction directories given".into()));
    }
    let mut runs: Vec<(SeedRun, Report)> = Vec::new();
    for dir in dirs {
        let report: Report = read_json(&dir.join("results.json"))?;
        if let Some((other, _)) = runs.iter().find(|(r, _)| r.seed == report.seed) {
            return Err(Error::Input(format!(
                "{} and {} are both seed {}: each seed counts once",
                other.dir.display(),
                dir.display(),
                report.seed
            )));
        }
        if let Some((first, r0)) = runs.first() {
            let (a, b) = (
                serde_json::to_value(&r0.preset).expect("preset serialises"),
                serde_json::to_value(&report.preset).expect("preset serialises"),
            );
            if let Some(field) = differing_field(&a, &b) {
                return Err(Error::Input(format!(
                    "{} and {} were run with different presets (field `{field}`): only the seed may differ",
                    first.dir.display(),
                    dir.display()
                )));
            }
        }
        let copy = report.criteria.get("base-copy");
        let decay = report.preset.copy_until.map(|u| u.decay);
        let run = SeedRun {
            dir: dir.clone(),
            seed: report.seed,
            copy_passed_at: copy.and_then(|c| c.passed_at),
            copy_steps: copy
                .and_then(|c| c.passed_at)
                .zip(decay)
                .map(|(p, d)| p + d),
            results: report.results.clone(),
        };
        runs.push((run, report));
    }
    let preset = runs[0].1.preset.name.clone();
    let mut tasks = Vec::new();
    for t in &runs[0].0.results {
        let (mut base, mut acc, mut diff) = (Vec::new(), Vec::new(), Vec::new());
        let (mut above, mut control_above) = (0, 0);
        let mut vs_control: Option<Vec<Vec<f64>>> = Some(Vec::new());
        for (run, _) in &runs {
            let b = scores(&run.dir, "base", &t.task)?;
            let a = scores(&run.dir, "acc", &t.task)?;
            diff.push(paired(&run.dir, &t.task, &a, ("base", &b))?);
            let own = run.results.iter().find(|r| r.task == t.task);
            above += usize::from(own.is_some_and(|r| r.diff.lo > 0.0));
            let own_control = own.and_then(|r| r.acc_minus_control);
            control_above += usize::from(own_control.is_some_and(|d| d.lo > 0.0));
            vs_control = match (vs_control, own_control) {
                (Some(mut v), Some(_)) => {
                    let c = scores(&run.dir, "control", &t.task)?;
                    v.push(paired(&run.dir, &t.task, &a, ("control", &c))?);
                    Some(v)
                }
                _ => None,
            };
            base.push(b);
            acc.push(a);
        }
        let named = |e: Error| Error::Input(format!("{}: {e}", t.task));
        tasks.push(SeedsTask {
            task: t.task.clone(),
            base: over_seeds(&base, resamples, seed).map_err(named)?,
            acc: over_seeds(&acc, resamples, seed).map_err(named)?,
            diff: over_seeds(&diff, resamples, seed).map_err(named)?,
            seeds_above_zero: above,
            acc_minus_control: match vs_control {
                Some(v) => Some(over_seeds(&v, resamples, seed).map_err(named)?),
                None => None,
            },
            control_above_zero: control_above,
        });
    }
    let mut runs: Vec<SeedRun> = runs.into_iter().map(|(r, _)| r).collect();
    runs.sort_by_key(|r| r.seed);
    Ok(SeedsReport {
        preset,
        runs,
        tasks,
    })
}

fn ci3(mean: f64, lo: f64, hi: f64) -> String {
    format!("{mean:.3} [{lo:.3}, {hi:.3}]")
}

/// The report as markdown: one row per seed, then the mean over seeds.
pub fn seeds_table(r: &SeedsReport) -> String {
    let names: Vec<&str> = r.tasks.iter().map(|t| t.task.as_str()).collect();
    let mut s = String::from("| seed | copy stage passed at (steps in all) |");
    for n in &names {
        s.push_str(&format!(" {n} base | {n} ACC | {n} ACC − base |"));
    }
    s.push_str(&format!(
        "\n|---|---|{}\n",
        "---|---|---|".repeat(names.len())
    ));
    for run in &r.runs {
        let copy = match (run.copy_passed_at, run.copy_steps) {
            (Some(p), Some(n)) => format!("{p} ({n})"),
            _ => "-".into(),
        };
        s.push_str(&format!("| {} | {copy} |", run.seed));
        for n in &names {
            match run.results.iter().find(|t| t.task == *n) {
                Some(t) => s.push_str(&format!(
                    " {} | {} | {} |",
                    ci3(t.base.mean, t.base.lo, t.base.hi),
                    ci3(t.acc.mean, t.acc.lo, t.acc.hi),
                    ci3(t.diff.mean, t.diff.lo, t.diff.hi)
                )),
                None => s.push_str(" - | - | - |"),
            }
        }
        s.push('\n');
    }
    s.push_str(&format!(
        "\nMean over {} seeds (95% intervals: Student's t over the seeds' means; a bootstrap over problems within each seed):\n\n",
        r.runs.len()
    ));
    s.push_str("| task | base | ACC | difference | mean | over seeds | over problems | seeds with CI > 0 |\n|---|---|---|---|---|---|---|---|\n");
    let n = r.runs.len();
    for t in &r.tasks {
        let row = |name: &str, d: &OverSeeds, above: usize| {
            let over = d
                .over_seeds
                .map_or("-".into(), |i| format!("[{:.3}, {:.3}]", i.lo, i.hi));
            let p = d.over_problems;
            format!(
                "| {} | {:.3} | {:.3} | {name} | {:.3} | {over} | [{:.3}, {:.3}] | {above}/{n} |\n",
                t.task, t.base.mean, t.acc.mean, d.mean, p.lo, p.hi
            )
        };
        s.push_str(&row("ACC − base", &t.diff, t.seeds_above_zero));
        if let Some(c) = &t.acc_minus_control {
            s.push_str(&row("ACC − control", c, t.control_above_zero));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::analysis::bootstrap::mean_ci;
    use crate::train::reproduce::Preset;
    use crate::train::until::UntilState;

    /// A run directory of seed `seed` whose ACC model gets the first `right`
    /// of `n` problems of each task right and the base model none.
    fn run_dir(root: &Path, seed: u64, n: usize, right: usize, preset: &Preset) -> PathBuf {
        let dir = root.join(format!("s{seed}"));
        std::fs::create_dir_all(dir.join("eval")).unwrap();
        let acc: Vec<f64> = (0..n).map(|i| f64::from(u8::from(i < right))).collect();
        let mut results = Vec::new();
        for task in ["mrcr", "graphwalks"] {
            for (model, s) in [("base", vec![0.0; n]), ("acc", acc.clone())] {
                let rows: Vec<Value> = s.iter().map(|x| json!({"score": x})).collect();
                let path = dir.join(format!("eval/{model}-{task}.json"));
                std::fs::write(path, json!({"rows": rows}).to_string()).unwrap();
            }
            results.push(TaskResult {
                task: task.into(),
                base: mean_ci(&vec![0.0; n], 200, 0.95, 0),
                acc: mean_ci(&acc, 200, 0.95, 0),
                diff: mean_ci(&acc, 200, 0.95, 0),
                control: None,
                acc_minus_control: None,
            });
        }
        let mut criteria = BTreeMap::new();
        let passed = UntilState {
            checks: vec![],
            passed_at: Some(1000 + seed as usize * 250),
        };
        criteria.insert("base-copy".to_string(), passed);
        let report = Report {
            preset: preset.clone(),
            seed,
            counts: BTreeMap::new(),
            drill_checks: BTreeMap::new(),
            criteria,
            results,
            base: dir.join("base"),
            acc: dir.join("acc"),
        };
        std::fs::write(
            dir.join("results.json"),
            serde_json::to_vec(&report).unwrap(),
        )
        .unwrap();
        dir
    }

    #[test]
    fn per_seed_rows_and_the_mean_over_seeds() {
        let tmp = tempfile::tempdir().unwrap();
        let mut p = Preset::quick();
        p.copy_until = Some(crate::train::reproduce::CopyUntil {
            every: 250,
            decay: 500,
            per_kind: 8,
            p_copy: 0.5,
        });
        let dirs: Vec<PathBuf> = [(2, 8), (0, 4), (1, 0)]
            .iter()
            .map(|&(seed, right)| run_dir(tmp.path(), seed, 40, right, &p))
            .collect();
        let r = seeds_report(&dirs, 300, 0).unwrap();
        assert_eq!(r.runs.iter().map(|x| x.seed).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(r.runs[0].copy_passed_at, Some(1000));
        assert_eq!(r.runs[2].copy_steps, Some(1500 + 500));
        let t = &r.tasks[0];
        assert_eq!(t.task, "mrcr");
        // per-seed means 0.2, 0.1, 0.0 (in the order given)
        assert!((t.diff.mean - 0.1).abs() < 1e-12, "{t:?}");
        assert_eq!(t.diff.per_seed, [0.2, 0.1, 0.0]);
        // seed 1's ACC gets nothing right: its CI is not above 0
        assert_eq!(t.seeds_above_zero, 2);
        let table = seeds_table(&r);
        assert!(table.contains("| 0 | 1000 (1500) |"), "{table}");
        assert!(
            table.contains("| mrcr | 0.000 | 0.100 | ACC − base | 0.100 |"),
            "{table}"
        );
        assert!(table.contains("2/3"), "{table}");
    }

    #[test]
    fn runs_that_cannot_be_compared_are_refused_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        let p = Preset::quick();
        let a = run_dir(tmp.path(), 0, 10, 2, &p);
        let e = seeds_report(&[a.clone(), a.clone()], 10, 0).unwrap_err();
        assert!(e.to_string().contains("both seed 0"), "{e}");
        let mut q = p.clone();
        q.lm_steps += 1;
        let b = run_dir(&tmp.path().join("other"), 1, 10, 2, &q);
        let e = seeds_report(&[a.clone(), b], 10, 0)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`lm_steps`") && e.contains("only the seed"),
            "{e}"
        );
        let c = run_dir(tmp.path(), 2, 10, 2, &p);
        std::fs::write(
            c.join("eval/acc-mrcr.json"),
            r#"{"rows": [{"score": 1.0}]}"#,
        )
        .unwrap();
        let e = seeds_report(&[a.clone(), c.clone()], 10, 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("same problems"), "{e}");
        std::fs::write(c.join("eval/acc-mrcr.json"), "{").unwrap();
        let e = seeds_report(&[a, c], 10, 0).unwrap_err().to_string();
        assert!(e.contains("acc-mrcr.json"), "{e}");
        assert!(seeds_report(&[], 10, 0).is_err());
    }
}
