//! File output helpers: every output is written to a temporary file beside its
//! destination and renamed into place, so a reader never sees a partial file.

use std::collections::HashMap;
use std::hash::Hasher;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A temporary path in the same directory as `path`.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Writes `bytes` to `path` atomically (temp file + fsync + rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let tmp = temp_path(path);
    let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
    f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Saves tensors as safetensors, atomically.
pub fn save_safetensors(path: &Path, tensors: &HashMap<String, candle_core::Tensor>) -> Result<()> {
    let tmp = temp_path(path);
    candle_core::safetensors::save(tensors, &tmp)?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// 64-bit FNV-1a, stable across platforms and releases (cache keys).
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// The lines of `bytes` (1-based numbers), each as text or, where it is not
/// valid UTF-8, the reason: one bad byte costs its line, not the file.
pub fn utf8_lines(bytes: &[u8]) -> Vec<(usize, std::result::Result<&str, String>)> {
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            let l = l.strip_suffix(b"\r").unwrap_or(l);
            let text = std::str::from_utf8(l)
                .map_err(|e| format!("not valid UTF-8 (byte {} of the line)", e.valid_up_to() + 1));
            (i + 1, text)
        })
        .collect()
}

/// The file `p` names, for comparing paths: canonical where it exists, else
/// its canonical folder joined with its name.
fn resolved(p: &Path) -> PathBuf {
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    let parent = p
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match (parent.canonicalize(), p.file_name()) {
        (Ok(d), Some(name)) => d.join(name),
        _ => p.to_path_buf(),
    }
}

/// Checks a command's output files before anything is written: no two are
/// the same file, none is one of its inputs, none is a folder or lies in
/// something that is not one; then creates their folders. Each path comes
/// with the flag (or role) that named it, for the message.
pub fn prepare_outputs(outputs: &[(&str, &Path)], inputs: &[(&str, &Path)]) -> Result<()> {
    let outs: Vec<(&str, &Path, PathBuf)> = outputs
        .iter()
        .map(|&(what, p)| (what, p, resolved(p)))
        .collect();
    for (i, (what, p, r)) in outs.iter().enumerate() {
        if p.is_dir() {
            return Err(Error::Input(format!(
                "{what} {}: is a folder; expected a file path",
                p.display()
            )));
        }
        if let Some((other, _, _)) = outs[..i].iter().find(|(_, _, q)| q == r) {
            return Err(Error::Input(format!(
                "{what} and {other} are the same file ({}): one would overwrite the other",
                p.display()
            )));
        }
        if let Some((input, _)) = inputs.iter().find(|(_, q)| resolved(q) == *r) {
            return Err(Error::Input(format!(
                "{what} {} is also {input}: an output never overwrites an input",
                p.display()
            )));
        }
    }
    for (what, p, _) in &outs {
        if let Some(d) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            if d.exists() && !d.is_dir() {
                return Err(Error::Input(format!(
                    "{what} {}: {} is not a folder",
                    p.display(),
                    d.display()
                )));
            }
            std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
        }
    }
    Ok(())
}
