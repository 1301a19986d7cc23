//! `acc-probe seeds`: reproductions that differ only in their training seed,
//! side by side. Each seed's scores with CIs and when its copy stage passed
//! its criterion, then the mean over seeds with a 95% interval over seeds
//! and one over problems; a table, seeds.json and seeds.md.

use std::path::PathBuf;

use acc_probe::io::write_atomic;
use acc_probe::train::reproduce::{seeds_report, seeds_table};
use clap::Args;

#[derive(Args, Debug)]
pub struct SeedsArgs {
    /// Run directories of `acc-probe reproduce` (one per seed, same preset).
    #[arg(required = true, num_args = 1..)]
    runs: Vec<PathBuf>,
    /// Output directory: seeds.json and seeds.md.
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
    acc_probe::io::prepare_out_dir("--out", &a.out, &["seeds.json", "seeds.md"], &inputs)?;
    let report = seeds_report(&a.runs, a.resamples, a.seed)?;
    let table = seeds_table(&report);
    let json = serde_json::to_vec_pretty(&report)?;
    write_atomic(&a.out.join("seeds.json"), &json)?;
    write_atomic(&a.out.join("seeds.md"), table.as_bytes())?;
    if a.json {
        println!("{}", String::from_utf8_lossy(&json));
    } else {
        println!("{table}");
        eprintln!("wrote {}", a.out.join("seeds.json").display());
    }
    Ok(())
}
