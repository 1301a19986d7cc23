//! Build script. Only with the `cuda-kernels` feature (implied by `cuda`) does
//! it do anything: it compiles kernels/attn_stats.cu with nvcc to PTX
//! (compute_90) and to an sm_90 cubin in OUT_DIR, which src/gpu embeds. The
//! default CPU build needs no CUDA toolkit.
//!
//! nvcc is `$NVCC`, else `$CUDA_ROOT/bin/nvcc`, else `nvcc` on PATH
//! (scripts/build-cuda.sh installs one). The GPU machines run R580 drivers
//! (CUDA 13.0), which cannot JIT PTX newer than ISA 9.0, so a newer nvcc gets
//! a warning; the sm_90 cubin loads there regardless.

use std::path::{Path, PathBuf};
use std::process::Command;

const KERNELS: &[&str] = &["attn_stats"];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_CUDA_KERNELS").is_none() {
        return;
    }
    for var in ["NVCC", "CUDA_ROOT", "PATH"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let nvcc = find_nvcc();
    for name in KERNELS {
        let src = Path::new("kernels").join(format!("{name}.cu"));
        println!("cargo:rerun-if-changed={}", src.display());
        let ptx = out.join(format!("{name}.ptx"));
        let cubin = out.join(format!("{name}.sm_90.cubin"));
        let common = ["-std=c++17", "-O3", "-Werror", "all-warnings"];
        run(
            Command::new(&nvcc)
                .args(common)
                .args(["-arch=compute_90", "-ptx", "-o"])
                .arg(&ptx)
                .arg(&src),
            &nvcc,
        );
        run(
            Command::new(&nvcc)
                .args(common)
                .args(["-arch=sm_90", "-cubin", "-o"])
                .arg(&cubin)
                .arg(&src),
            &nvcc,
        );
        let text = std::fs::read_to_string(&ptx)
            .unwrap_or_else(|e| panic!("reading {}: {e}", ptx.display()));
        let version = text
            .lines()
            .find_map(|l| l.strip_prefix(".version "))
            .unwrap_or("?")
            .trim()
            .to_string();
        if version != "9.0" {
            println!(
                "cargo:warning={name}.ptx has PTX ISA {version}; R580 drivers (CUDA 13.0) JIT only up to 9.0 \
                 (use nvcc 13.0.x, e.g. scripts/build-cuda.sh); the sm_90 cubin still loads on sm_90 GPUs"
            );
        }
    }
}

fn find_nvcc() -> PathBuf {
    if let Some(p) = std::env::var_os("NVCC") {
        return PathBuf::from(p);
    }
    if let Some(root) = std::env::var_os("CUDA_ROOT") {
        let p = Path::new(&root).join("bin").join("nvcc");
        if p.exists() {
            return p;
        }
    }
    PathBuf::from("nvcc")
}

fn run(cmd: &mut Command, nvcc: &Path) {
    let status = cmd.status().unwrap_or_else(|e| {
        panic!(
            "the `cuda-kernels` feature compiles kernels/*.cu with nvcc, but `{}` could not be run ({e}); \
             install CUDA 13.0 or run scripts/build-cuda.sh, or set NVCC=/path/to/nvcc",
            nvcc.display()
        )
    });
    if !status.success() {
        panic!("nvcc failed ({status}): {cmd:?}");
    }
}
