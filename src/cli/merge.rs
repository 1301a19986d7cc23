//! `acc-probe merge`: joins the captures of `attention` / `routing` shard runs
//! (`--shard i/N`) into the capture cache of the whole run, so that the same
//! command without `--shard` and with `--out DIR` reads them instead of
//! running the models. The merge is exact: the examples are put back in the
//! input order of the whole run, and every input must come from exactly one shard.

use std::path::PathBuf;

use acc_probe::probe::per_example::AttnCapture;
use acc_probe::probe::routing_capture::RoutingCapture;
use acc_probe::probe::shard::{merge_attention, merge_routing, ShardManifest};
use anyhow::{bail, Context};
use clap::Args;

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The shard runs' output directories (each holds shard.json).
    #[arg(required = true, num_args = 1..)]
    parts: Vec<PathBuf>,
    /// The whole run's output directory (the captures go to DIR/cache).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(a: MergeArgs) -> anyhow::Result<()> {
    let manifests: Vec<ShardManifest> = a
        .parts
        .iter()
        .map(|d| ShardManifest::load(d).map_err(anyhow::Error::from))
        .collect::<anyhow::Result<_>>()?;
    let (Some(first), Some(first_dir)) = (manifests.first(), a.parts.first()) else {
        bail!("merge: give the shard runs' folders");
    };
    let count = first.shard.count;
    let mut seen = vec![None; count];
    for (m, dir) in manifests.iter().zip(&a.parts) {
        let what = dir.display();
        if m.kind != first.kind {
            bail!("{what}: a {} shard among {} shards", m.kind, first.kind);
        }
        if m.shard.count != count {
            bail!("{what}: shard of {} among shards of {count}", m.shard.count);
        }
        if m.input_ids != first.input_ids || m.models != first.models {
            bail!(
                "{what}: made by a different command than {} (other inputs, models or options)",
                first_dir.display()
            );
        }
        // ShardManifest::load checked index < count
        let Some(slot) = seen.get_mut(m.shard.index) else {
            bail!("{what}: shard {}/{count} out of range", m.shard.index);
        };
        if let Some(other) = slot.replace(dir.clone()) {
            bail!(
                "shard {}/{count} given twice: {} and {what}",
                m.shard.index,
                other.display()
            );
        }
    }
    let missing: Vec<String> = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_none())
        .map(|(i, _)| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        bail!("missing shards: {}", missing.join(", "));
    }
    let parts: Vec<(&str, &std::path::Path)> = a
        .parts
        .iter()
        .map(|p| ("a shard run", p.as_path()))
        .collect();
    acc_probe::io::prepare_out_dir("--out", &a.out, &["cache"], &parts)?;
    let cache = a.out.join("cache");
    std::fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    for model in &first.models {
        let dest = cache.join(&model.cache_file);
        match first.kind.as_str() {
            "attention" => {
                let parts = a
                    .parts
                    .iter()
                    .map(|d| AttnCapture::load(&d.join(&model.file)).map_err(anyhow::Error::from))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                merge_attention(parts, &first.input_ids)?.save(&dest)?;
            }
            "routing" => {
                let parts = a
                    .parts
                    .iter()
                    .map(|d| {
                        RoutingCapture::load(&d.join(&model.file)).map_err(anyhow::Error::from)
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                merge_routing(parts, &first.input_ids)?.save(&dest)?;
            }
            other => bail!("{}: unknown shard kind `{other}`", first_dir.display()),
        }
        println!(
            "{}: {} inputs → {}",
            model.label,
            first.input_ids.len(),
            dest.display()
        );
    }
    println!(
        "merged {count} {} shards; now run `{}` without --shard and with --out {}",
        first.kind,
        first.command,
        a.out.display()
    );
    Ok(())
}
