//! `acc-probe drills`: exact-match copying on held-out copy drills, short and
//! at the toy tasks' lengths.

use std::path::PathBuf;

use acc_probe::model_dir::ModelDir;
use acc_probe::train::curriculum::drill_check::{check, DrillCheck};
use clap::Args;

#[derive(Args, Debug)]
pub struct DrillsArgs {
    /// Hugging Face model directory.
    #[arg(long)]
    model: PathBuf,
    /// Drills of each kind (short: list, hash, one-hop; long: lookup, recall).
    #[arg(long, default_value_t = 6, value_parser = super::common::count)]
    n: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The lookups' references carry their edge trace (for a model trained
    /// with the preset's `edge_trace`).
    #[arg(long)]
    edge_trace: bool,
    /// Print the scores as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: DrillsArgs) -> anyhow::Result<()> {
    let c = check(&ModelDir::cpu(&a.model)?.chat()?, a.n, a.seed, a.edge_trace)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&c)?);
        return Ok(());
    }
    println!(
        "copy drills of {} (exact match; teacher-forced probability of the reference's tokens: \
         the first token of each copied name or hash, its other tokens, the rest, and the first \
         token of the last copy: in a lookup the child)",
        a.model.display()
    );
    println!(
        "{:<6} {:<8} {:>7} {:>14} {:>9} {:>8} {:>8} {:>8} {:>8}  first: reference → response",
        "set",
        "kind",
        "exact",
        "prompt tokens",
        "too long",
        "p(start)",
        "p(in)",
        "p(rest)",
        "p(last)"
    );
    let p = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.3}"));
    for (set, scores) in [("short", &c.short), ("long", &c.long)] {
        for k in scores {
            println!(
                "{:<6} {:<8} {:>3}/{:<3} {:>14.0} {:>9} {:>8} {:>8} {:>8} {:>8}  {:?} → {:?}",
                set,
                k.kind,
                k.exact,
                k.n,
                k.prompt_tokens,
                k.too_long,
                p(k.forced.start),
                p(k.forced.inside),
                p(k.forced.rest),
                p(k.forced.last_start),
                k.example.0,
                k.example.1
            );
        }
        let (e, n) = DrillCheck::total(scores);
        println!("{set:<6} {:<8} {e:>3}/{n:<3}", "all");
    }
    Ok(())
}
