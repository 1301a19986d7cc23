//! `acc-probe seeds`: reproductions that differ only in their training seed,
//! side by side. Each seed's scores with CIs and when its copy stage passed
//! its criterion, then the mean over seeds with a 95% interval over seeds
//! and one over problems; a table, seeds.json, seeds.md and a figure
//! (seeds.png/.svg: each seed's base and ACC with their bootstrap CIs, then
//! the mean over seeds with its interval over seeds).

use std::path::PathBuf;

use acc_probe::io::write_atomic;
use acc_probe::plot::{self, BarPanel, Series};
use acc_probe::train::reproduce::{seeds_report, seeds_table, SeedsReport};
use clap::Args;

#[derive(Args, Debug)]
pub struct SeedsArgs {
    /// Run directories of `acc-probe reproduce` (one per seed, same preset).
    #[arg(required = true, num_args = 1..)]
    runs: Vec<PathBuf>,
    /// Output directory: seeds.json, seeds.md, seeds.png and seeds.svg.
    #[arg(long, default_value = "runs/seeds")]
    out: PathBuf,
    /// Bootstrap resamples of the interval over problems.
    #[arg(long, default_value_t = 1000, value_parser = super::common::in_range(1, super::common::MAX_RESAMPLES))]
    resamples: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(a: SeedsArgs) -> anyhow::Result<()> {
    let inputs: Vec<(&str, &std::path::Path)> =
        a.runs.iter().map(|d| ("RUN", d.as_path())).collect();
    acc_probe::io::prepare_out_dir(
        "--out",
        &a.out,
        &["seeds.json", "seeds.md", "seeds.png", "seeds.svg"],
        &inputs,
    )?;
    let report = seeds_report(&a.runs, a.resamples, a.seed)?;
    let table = seeds_table(&report);
    let json = serde_json::to_vec_pretty(&report)?;
    write_atomic(&a.out.join("seeds.json"), &json)?;
    write_atomic(&a.out.join("seeds.md"), table.as_bytes())?;
    figure(&report, &a.out)?;
    if a.json {
        println!("{}", String::from_utf8_lossy(&json));
    } else {
        println!("{table}");
        eprintln!("wrote {}", a.out.join("seeds.json").display());
    }
    Ok(())
}

/// One panel per task: base and ACC for each seed (bootstrap CIs over its
/// problems), then their means over seeds (Student-t intervals over seeds).
fn figure(r: &SeedsReport, out: &std::path::Path) -> anyhow::Result<()> {
    let mut panels = Vec::new();
    for t in &r.tasks {
        let mut cats: Vec<String> = r.runs.iter().map(|x| format!("seed {}", x.seed)).collect();
        cats.push(format!("mean of {}", r.runs.len()));
        let series = |label: &str,
                      color,
                      pick: &dyn Fn(
            &acc_probe::train::reproduce::TaskResult,
        ) -> acc_probe::analysis::bootstrap::MeanCi,
                      over: &acc_probe::analysis::seeds::OverSeeds| {
            let (mut v, mut lo, mut hi) = (Vec::new(), Vec::new(), Vec::new());
            for run in &r.runs {
                let m = run.results.iter().find(|x| x.task == t.task).map(pick);
                v.push(m.map_or(f64::NAN, |m| m.mean));
                lo.push(m.map_or(f64::NAN, |m| m.lo));
                hi.push(m.map_or(f64::NAN, |m| m.hi));
            }
            v.push(over.mean);
            let i = over
                .over_seeds
                .unwrap_or(acc_probe::analysis::seeds::Interval {
                    lo: over.mean,
                    hi: over.mean,
                });
            lo.push(i.lo);
            hi.push(i.hi);
            Series::new(label, color, v).with_band(lo, hi)
        };
        panels.push(BarPanel {
            title: format!("{} · ACC − base {:.3}", t.task, t.diff.mean),
            categories: cats,
            y_label: "score (95% CI; mean: over seeds)".into(),
            series: vec![
                series("base", plot::BASE_COLOR, &|x| x.base, &t.base),
                series("ACC", plot::ACC_COLOR, &|x| x.acc, &t.acc),
            ],
        });
    }
    let ncols = panels.len().max(1);
    plot::bar_figure(
        &format!(
            "Toy MRCR and GraphWalks over {} training seeds ({} preset)",
            r.runs.len(),
            r.preset
        ),
        &panels,
        ncols,
        &out.join("seeds.png"),
        &out.join("seeds.svg"),
    )?;
    Ok(())
}
