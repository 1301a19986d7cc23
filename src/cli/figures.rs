//! `acc-probe figures`: runs the declarative analyses of `analyses/*.toml`
//! and writes each one's figure and data to `figures/<name>.{png,svg,json}`,
//! plus `figures/README.md` listing every figure with the commands that made it.
//!
//! A spec is a list of acc-probe commands (steps) and the files the last one
//! writes:
//!
//! ```toml
//! name = "attention-distances"      # figures/attention-distances.{png,svg,json}
//! title = "Attention distance distributions in the most-changed layers"
//! reproduces = "paper: attention restructuring (top-3 changed layers per task)"
//! figure = "attention"              # <work>/attention.png and .svg
//! data = "attention.json"           # <work>/attention.json
//! [[steps]]
//! command = "attention"
//! args = ["--task", "all", "--top-changed", "3", "--out", "{work}"]
//! ```
//!
//! Placeholders in args: `{work}` (this spec's working directory),
//! `{shared}` (a working directory shared by every spec, for capture caches),
//! `{base}` / `{acc}` (the model pair: `--base`/`--acc` or the bundled one).

use std::path::{Path, PathBuf};

use acc_probe::io::write_atomic;
use anyhow::{bail, Context};
use clap::{Args, Parser};
use serde::Deserialize;

use super::pair_args::bundled;

#[derive(Args, Debug)]
pub struct FiguresArgs {
    /// Spec files (default: every analyses/*.toml, in name order).
    #[arg(long)]
    spec: Vec<PathBuf>,
    /// Where the figures go.
    #[arg(long, default_value = "figures")]
    out: PathBuf,
    /// Working directory for captures, caches and intermediate outputs.
    #[arg(long, default_value = "runs/figures")]
    work: PathBuf,
    /// Base model for `{base}` (default: the bundled checkpoints/base).
    #[arg(long)]
    base: Option<PathBuf>,
    /// ACC model for `{acc}` (default: the bundled checkpoints/acc).
    #[arg(long)]
    acc: Option<PathBuf>,
    /// Print the commands of each spec without running them.
    #[arg(long)]
    dry_run: bool,
}

/// One step of a spec: an acc-probe subcommand and its arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
}

/// One declarative analysis (a paper figure or table, or one of ours).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub name: String,
    pub title: String,
    /// What of the paper it reproduces, or what it adds.
    pub reproduces: String,
    /// The figure stem the last step writes in `{work}` (`.png` and `.svg`).
    pub figure: String,
    /// The JSON file (in `{work}`) holding the plotted numbers.
    pub data: String,
    pub steps: Vec<Step>,
}

impl Spec {
    /// Reads and checks a spec file; errors name the file.
    pub fn load(path: &Path) -> anyhow::Result<Spec> {
        let text = acc_probe::io::read_text(path, acc_probe::io::MAX_DOC_BYTES)?;
        let spec: Spec = toml::from_str(&text)
            .with_context(|| format!("{}: not a valid spec", path.display()))?;
        let ok_name = !spec.name.is_empty()
            && spec
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok_name {
            bail!(
                "{}: name `{}` must be non-empty ASCII letters, digits, - or _",
                path.display(),
                spec.name
            );
        }
        if spec.steps.is_empty() {
            bail!("{}: no [[steps]]", path.display());
        }
        if let Some(s) = spec.steps.iter().find(|s| s.command == "figures") {
            bail!("{}: a step may not run `{}`", path.display(), s.command);
        }
        Ok(spec)
    }
}

/// Every `*.toml` in `dir`, sorted by file name.
fn default_specs(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    if v.is_empty() {
        bail!("no *.toml specs in {}", dir.display());
    }
    Ok(v)
}

struct Places {
    work: PathBuf,
    shared: PathBuf,
    base: Option<PathBuf>,
    acc: Option<PathBuf>,
}

fn expand(arg: &str, p: &Places) -> anyhow::Result<String> {
    let mut s = arg
        .replace("{work}", &p.work.display().to_string())
        .replace("{shared}", &p.shared.display().to_string());
    for (key, dir, name) in [("{base}", &p.base, "base"), ("{acc}", &p.acc, "acc")] {
        if s.contains(key) {
            let d = match dir {
                Some(d) => d.clone(),
                None => bundled(name)?,
            };
            s = s.replace(key, &d.display().to_string());
        }
    }
    Ok(s)
}

/// The figure (png, svg) and data files a spec's last step writes, with
/// placeholders expanded; relative paths are under `{work}`.
fn outputs(spec: &Spec, p: &Places) -> anyhow::Result<[(PathBuf, &'static str); 3]> {
    let at = |s: String| -> anyhow::Result<PathBuf> {
        let e = PathBuf::from(expand(&s, p)?);
        Ok(if e.is_absolute() || s.starts_with('{') {
            e
        } else {
            p.work.join(e)
        })
    };
    Ok([
        (at(format!("{}.png", spec.figure))?, "png"),
        (at(format!("{}.svg", spec.figure))?, "svg"),
        (at(spec.data.clone())?, "json"),
    ])
}

fn command_line(step: &Step, args: &[String]) -> String {
    let quote = |a: &String| {
        if a.contains(' ') || a.is_empty() {
            format!("'{a}'")
        } else {
            a.clone()
        }
    };
    let mut s = format!("acc-probe {}", step.command);
    for a in args {
        s.push(' ');
        s.push_str(&quote(a));
    }
    s
}

/// Copies a result into figures/; JSON is written compact (the committed
/// data are the same numbers in about half the bytes).
fn copy_atomic(from: &Path, to: &Path) -> anyhow::Result<()> {
    let mut bytes = std::fs::read(from)
        .with_context(|| format!("{}: the spec's last step did not write it", from.display()))?;
    if to.extension().is_some_and(|e| e == "json") {
        let v: serde_json::Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not valid JSON", from.display()))?;
        bytes = serde_json::to_vec(&v)?;
        bytes.push(b'\n');
    }
    write_atomic(to, &bytes)?;
    Ok(())
}

pub fn run(a: FiguresArgs) -> anyhow::Result<()> {
    let specs = if a.spec.is_empty() {
        // ./analyses when run from a checkout, else the source tree's
        default_specs(Path::new("analyses"))
            .or_else(|_| default_specs(&Path::new(env!("CARGO_MANIFEST_DIR")).join("analyses")))?
    } else {
        a.spec.clone()
    };
    let loaded: Vec<(PathBuf, Spec)> = specs
        .iter()
        .map(|p| Ok((p.clone(), Spec::load(p)?)))
        .collect::<anyhow::Result<_>>()?;
    let mut seen = std::collections::BTreeSet::new();
    for (p, s) in &loaded {
        if !seen.insert(s.name.clone()) {
            bail!("{}: a second spec named `{}`", p.display(), s.name);
        }
    }
    let writes: Vec<String> = loaded
        .iter()
        .flat_map(|(_, s)| ["png", "svg", "json"].map(|ext| format!("{}.{ext}", s.name)))
        .chain(std::iter::once("README.md".to_string()))
        .collect();
    let writes: Vec<&str> = writes.iter().map(String::as_str).collect();
    let mut inputs: Vec<(&str, &Path)> = loaded
        .iter()
        .map(|(p, _)| ("--spec", p.as_path()))
        .collect();
    inputs.extend(a.base.as_deref().map(|b| ("--base", b)));
    inputs.extend(a.acc.as_deref().map(|b| ("--acc", b)));
    acc_probe::io::prepare_out_dir("--out", &a.out, &writes, &inputs)?;
    acc_probe::io::prepare_out_dir("--work", &a.work, &[], &inputs)?;
    let mut rows = Vec::new();
    for (path, spec) in &loaded {
        let places = Places {
            work: a.work.join(&spec.name),
            shared: a.work.join("shared"),
            base: a.base.clone(),
            acc: a.acc.clone(),
        };
        // a figure left from an earlier run must not pass for this one's
        if !a.dry_run {
            for (f, _) in outputs(spec, &places)? {
                let _ = std::fs::remove_file(f);
            }
        }
        let mut lines = Vec::new();
        for step in &spec.steps {
            let args: Vec<String> = step
                .args
                .iter()
                .map(|x| expand(x, &places))
                .collect::<anyhow::Result<_>>()?;
            let line = command_line(step, &args);
            if a.dry_run {
                lines.push(line);
                continue;
            }
            eprintln!("{}: {line}", spec.name);
            lines.push(line);
            let argv = std::iter::once("acc-probe".to_string())
                .chain(std::iter::once(step.command.clone()))
                .chain(args);
            let cli = super::Cli::try_parse_from(argv)
                .map_err(|e| anyhow::anyhow!("{}: step `{}`: {e}", path.display(), step.command))?;
            std::fs::create_dir_all(&places.work)
                .with_context(|| format!("creating {}", places.work.display()))?;
            super::dispatch(cli.command)
                .with_context(|| format!("{}: step `{}` failed", path.display(), step.command))?;
        }
        if a.dry_run {
            println!("# {} ({})", spec.name, path.display());
            for l in &lines {
                println!("{l}");
            }
            continue;
        }
        for (from, ext) in outputs(spec, &places)? {
            copy_atomic(&from, &a.out.join(format!("{}.{ext}", spec.name)))?;
        }
        println!("wrote {}/{}.{{png,svg,json}}", a.out.display(), spec.name);
        rows.push((path.clone(), spec.clone(), lines));
    }
    if a.dry_run {
        return Ok(());
    }
    // figures/README.md: every figure of this run, with its commands
    let mut md = String::from(
        "# figures/\n\nGenerated by `acc-probe figures` from the specs in `analyses/` (one per\n\
         figure); each figure comes with the JSON of the numbers it plots. Regenerate\n\
         all of them with `acc-probe figures`, or one with `acc-probe figures --spec FILE`.\n",
    );
    for (path, spec, lines) in &rows {
        md.push_str(&format!(
            "\n## {}\n\n{}. Reproduces: {}.\n\n- figure: `{}.png`, `{}.svg`; data: `{}.json`\n- spec: `{}`\n- commands:\n\n```sh\n{}\n```\n",
            spec.name,
            spec.title,
            spec.reproduces,
            spec.name,
            spec.name,
            spec.name,
            path.file_name().map(|f| format!("analyses/{}", f.to_string_lossy())).unwrap_or_default(),
            lines.join("\n")
        ));
    }
    if a.spec.is_empty() {
        write_atomic(&a.out.join("README.md"), md.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_refuse_what_they_should() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.toml");
        std::fs::write(
            &p,
            "name = \"x-1\"\ntitle = \"T\"\nreproduces = \"R\"\nfigure = \"f\"\ndata = \"f.json\"\n\
             [[steps]]\ncommand = \"lengths\"\nargs = [\"--out\", \"{work}\"]\n",
        )
        .unwrap();
        let s = Spec::load(&p).unwrap();
        assert_eq!(s.steps[0].args[1], "{work}");
        let places = Places {
            work: "w/x-1".into(),
            shared: "w/shared".into(),
            base: Some("b".into()),
            acc: None,
        };
        assert_eq!(expand("{work}/a", &places).unwrap(), "w/x-1/a");
        assert_eq!(expand("{base}", &places).unwrap(), "b");
        std::fs::write(&p, "name = \"x\"\ntitle = \"T\"\nreproduces = \"R\"\nfigure = \"f\"\ndata = \"d\"\nsteps = []\nextra = 1\n").unwrap();
        let e = format!("{:#}", Spec::load(&p).unwrap_err());
        assert!(e.contains("a.toml") && e.contains("extra"), "{e}");
        std::fs::write(&p, "name = \"../x\"\ntitle = \"T\"\nreproduces = \"R\"\nfigure = \"f\"\ndata = \"d\"\n[[steps]]\ncommand = \"scores\"\n").unwrap();
        assert!(format!("{:#}", Spec::load(&p).unwrap_err()).contains("name"));
    }

    #[test]
    fn the_shipped_specs_parse_and_name_real_commands() {
        let specs = default_specs(&Path::new(env!("CARGO_MANIFEST_DIR")).join("analyses")).unwrap();
        assert!(specs.len() >= 6, "{specs:?}");
        for p in specs {
            let s = Spec::load(&p).unwrap();
            let places = Places {
                work: "w".into(),
                shared: "s".into(),
                base: Some("b".into()),
                acc: Some("a".into()),
            };
            for step in &s.steps {
                let args: Vec<String> = step
                    .args
                    .iter()
                    .map(|x| expand(x, &places).unwrap())
                    .collect();
                let argv = ["acc-probe".to_string(), step.command.clone()]
                    .into_iter()
                    .chain(args);
                if let Err(e) = super::super::Cli::try_parse_from(argv) {
                    panic!("{}: {e}", p.display());
                }
            }
        }
    }
}
