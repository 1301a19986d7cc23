//! `acc-probe agents`: synthetic agent trajectories in real framework formats.

use std::path::PathBuf;

use acc_probe::domain::Domain;
use acc_probe::environments::{self, Environment, Format};
use anyhow::bail;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::Args;

#[derive(Args, Debug)]
pub struct AgentsArgs {
    /// The environment: search, sql, swe, or history (an SWE agent answering
    /// a question about a repository's commit graph).
    #[arg(long, value_parser = PossibleValuesParser::new(Environment::ALL.map(|e| e.name()))
        .map(|s| s.parse::<Environment>().expect("a listed environment")))]
    domain: Environment,
    #[arg(long, value_parser = super::common::count)]
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
    /// History only: commits per repository, MIN,MAX (default 6,9; 20,32
    /// gives listings as long as a toy GraphWalks graph at 800 tokens).
    #[arg(long, value_delimiter = ',')]
    commits: Option<Vec<usize>>,
    /// Output directory: one folder per format, ground_truth.jsonl, databases/ for SQL.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(a: AgentsArgs) -> anyhow::Result<()> {
    let formats = a
        .format
        .iter()
        .map(|f| Format::parse(f))
        .collect::<Result<Vec<_>, _>>()?;
    let swe_agent = formats.contains(&Format::SweAgent);
    acc_probe::io::prepare_out_dir("--out", &a.out, &[], &[])?;
    // the history episodes are generated on their own (`generate_history`)
    let episodes = match (a.domain != Environment::History).then(|| a.domain.domain()) {
        None if swe_agent => {
            bail!("--format swe-agent holds patch submissions; history episodes end with an answer (use openai, claude-code or sharegpt)")
        }
        None => {
            let (lo, hi) = match a.commits.as_deref() {
                None => environments::history::SMALL_REPOSITORY,
                Some(&[lo, hi]) => (lo, hi),
                Some(other) => bail!("--commits takes two numbers, MIN,MAX (got {other:?})"),
            };
            if !environments::history::valid_commits((lo, hi)) {
                bail!(
                    "--commits {lo},{hi}: expected MIN,MAX with 2 <= MIN <= MAX <= {}",
                    environments::history::MAX_COMMITS
                );
            }
            environments::generate_history(a.n, a.seed, (lo, hi))
        }
        Some(_) if a.commits.is_some() => {
            bail!("--commits sizes the repositories of --domain history only")
        }
        Some(d) if swe_agent && d != Domain::Swe => {
            bail!("--format swe-agent holds software-engineering episodes only (use --domain swe)")
        }
        Some(d) => environments::generate(d, a.n, a.seed, &a.out.join("databases"))?,
    };
    let written = environments::write(&a.out, &episodes, &formats)?;
    println!(
        "wrote {} {:?} episodes as {} files under {}",
        episodes.len(),
        a.domain,
        written.len(),
        a.out.display()
    );
    Ok(())
}
