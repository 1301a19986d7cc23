//! `acc-probe agents`: synthetic agent trajectories in real framework formats.

use std::path::PathBuf;

use acc_probe::tasks::agents::{self, Domain, Format};
use anyhow::bail;
use clap::{Args, ValueEnum};

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum DomainArg {
    Search,
    Swe,
    Sql,
}

#[derive(Args, Debug)]
pub struct AgentsArgs {
    #[arg(long, value_enum)]
    domain: DomainArg,
    #[arg(long)]
    n: usize,
    /// Formats to write: openai, claude-code, sharegpt, swe-agent (SWE only).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "openai,claude-code,sharegpt"
    )]
    format: Vec<String>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output directory: one folder per format, ground_truth.jsonl, databases/ for SQL.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(a: AgentsArgs) -> anyhow::Result<()> {
    let domain = match a.domain {
        DomainArg::Search => Domain::Search,
        DomainArg::Swe => Domain::Swe,
        DomainArg::Sql => Domain::Sql,
    };
    let formats = a
        .format
        .iter()
        .map(|f| Format::parse(f))
        .collect::<Result<Vec<_>, _>>()?;
    if formats.contains(&Format::SweAgent) && domain != Domain::Swe {
        bail!("--format swe-agent holds software-engineering episodes only (use --domain swe)");
    }
    let episodes = agents::generate(domain, a.n, a.seed, &a.out.join("databases"))?;
    let written = agents::write(&a.out, &episodes, &formats)?;
    println!(
        "wrote {} {:?} episodes as {} files under {}",
        episodes.len(),
        domain,
        written.len(),
        a.out.display()
    );
    Ok(())
}
