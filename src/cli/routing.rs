//! `acc-probe routing`: expert routing of a base / ACC pair on identical probe
//! inputs — expert frequencies per task and layer, the top experts, router
//! entropy, co-activation, the routers' agreement token by token, and each
//! expert's specialisation across tasks — with CIs, a table, figures and data.

use acc_probe::analysis::routing_report::{RoutingInputs, RoutingReport};
use acc_probe::analysis::to_json;
use acc_probe::io::write_atomic;
use acc_probe::probe::cache::RoutingRequest;
use acc_probe::probe::routing_capture::RoutingCapture;
use anyhow::bail;
use clap::Args;

use super::pair_args::{capture, capture_shard, PairArgs};

#[derive(Args, Debug)]
pub struct RoutingArgs {
    #[command(flatten)]
    pub pair: PairArgs,
    /// Experts shown per layer (the paper shows 20).
    #[arg(long, default_value_t = 20)]
    top: usize,
}

pub fn run(a: RoutingArgs) -> anyhow::Result<()> {
    if a.top == 0 {
        bail!("--top must be at least 1");
    }
    if a.pair.model.is_some() {
        bail!(
            "routing compares two models: give --base and --acc (or neither, for the bundled pair)"
        );
    }
    // only layers with a router can be compared
    let s = a.pair.open(true)?;
    let req = RoutingRequest {
        layers: s.capture_layers.clone(),
    };
    let cache = a.pair.cache_dir();
    let out = &a.pair.out;
    if let Some(sh) = a.pair.shard {
        return capture_shard::<RoutingCapture>(
            &s,
            "routing",
            "routing",
            sh,
            &req,
            out,
            cache.as_deref(),
        );
    }
    let cb: RoutingCapture = capture(
        &s.base,
        "base",
        "routing",
        &s.inputs,
        &req,
        cache.as_deref(),
    )?;
    let ca: RoutingCapture = capture(&s.acc, "ACC", "routing", &s.inputs, &req, cache.as_deref())?;
    let cfg = &s.base.ckpt.config;
    let mut report = RoutingReport::compute(RoutingInputs {
        base_dir: s.base.dir.clone(),
        acc_dir: s.acc.dir.clone(),
        base: &cb,
        acc: &ca,
        tasks: &s.tasks,
        layers: &s.capture_layers,
        choice: &s.choice,
        silent: &s.silent,
        sizes: (a.pair.examples, a.pair.tokens),
        experts: (cfg.num_experts, cfg.num_experts_per_tok),
        top: a.top,
        opts: &a.pair.paired_options(),
    })?;
    report.render_figures(out)?;
    let json = to_json(&report)?;
    let json_path = out.join("routing.json");
    write_atomic(&json_path, json.as_bytes())?;
    if a.pair.json {
        println!("{json}");
    } else {
        print!("{}", report.table());
        // the JSON, the top-experts figure and the co-activation figure
        println!(
            "wrote {} and {}",
            json_path.display(),
            report.figures.join(", ")
        );
    }
    Ok(())
}
