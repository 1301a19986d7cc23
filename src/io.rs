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

/// Removes, once per folder and process, the temporary files that a killed
/// process left there (`.NAME.PID.tmp` of a PID no longer running).
fn clean_stale_temps(dir: &Path) {
    static CLEANED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    {
        let mut cleaned = CLEANED.lock().unwrap_or_else(|e| e.into_inner());
        if cleaned.iter().any(|d| d == dir) {
            return;
        }
        cleaned.push(dir.to_path_buf());
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let me = std::process::id();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(pid) = name
            .strip_prefix('.')
            .and_then(|n| n.strip_suffix(".tmp"))
            .and_then(|n| n.rsplit_once('.'))
            .and_then(|(_, pid)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != me && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Writes `bytes` to `path` atomically (temp file + fsync + rename); a
/// failed write leaves no temporary file behind.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    clean_stale_temps(path.parent().unwrap_or(Path::new(".")));
    let tmp = temp_path(path);
    let written = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        f.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Saves tensors as safetensors, atomically.
pub fn save_safetensors(path: &Path, tensors: &HashMap<String, candle_core::Tensor>) -> Result<()> {
    clean_stale_temps(path.parent().unwrap_or(Path::new(".")));
    let tmp = temp_path(path);
    let saved = candle_core::safetensors::save(tensors, &tmp)
        .map_err(Error::from)
        .and_then(|_| std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e)));
    if saved.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    saved
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

/// The most bytes a JSON document (a config, token ids, messages, a preset,
/// a spec, an index) is read into memory with.
pub const MAX_DOC_BYTES: u64 = 1 << 30;
/// The most bytes a data file (JSONL rows, task rows, a trajectory file) is
/// read into memory with.
pub const MAX_DATA_BYTES: u64 = 4 << 30;

/// What a file that is neither a regular file nor a folder is: a FIFO, a
/// device, a socket; `None` for regular files and folders.
pub fn special_kind(meta: &std::fs::Metadata) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_file() || t.is_dir() {
        None
    } else if t.is_fifo() {
        Some("a FIFO")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        Some("not a regular file")
    }
}

fn is_fifo(meta: &std::fs::Metadata) -> bool {
    std::os::unix::fs::FileTypeExt::is_fifo(&meta.file_type())
}

/// Reads a whole input file of at most `limit` bytes. A device, a socket, a
/// folder or a larger file is refused before anything is allocated, naming
/// the file, its size and the limit; a pipe is read up to the limit.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    // a pipe (`<(…)`) is read within the limit; a device or socket never
    if let Some(kind) = special_kind(&meta).filter(|_| !is_fifo(&meta)) {
        return Err(Error::Input(format!(
            "{}: {kind}, not a file",
            path.display()
        )));
    }
    if meta.is_dir() {
        return Err(Error::Input(format!(
            "{}: a folder; expected a file",
            path.display()
        )));
    }
    let too_big = |n: u64| {
        Error::Input(format!(
            "{}: {n} bytes or more, over the {limit} bytes ({:.1} GiB) an input is read with",
            path.display(),
            limit as f64 / (1u64 << 30) as f64
        ))
    };
    if meta.is_file() && meta.len() > limit {
        return Err(too_big(meta.len()));
    }
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::new();
    f.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(too_big(bytes.len() as u64));
    }
    Ok(bytes)
}

/// [`read_bounded`] for a text document: invalid UTF-8 is an error naming
/// the line and byte.
pub fn read_text(path: &Path, limit: u64) -> Result<String> {
    let bytes = read_bounded(path, limit)?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e
            .as_bytes()
            .get(..at)
            .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
            + 1;
        Error::Input(format!(
            "{}: not valid UTF-8 at line {line} (byte offset {at})",
            path.display()
        ))
    })
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
/// the canonical form of its deepest existing folder joined with the rest.
fn resolved(p: &Path) -> PathBuf {
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    let mut rest = Vec::new();
    let mut at = p;
    loop {
        match (at.file_name(), at.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_os_string());
                let parent = if parent.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    parent
                };
                if let Ok(c) = parent.canonicalize() {
                    return rest.iter().rev().fold(c, |acc, n| acc.join(n));
                }
                at = parent;
            }
            _ => return p.to_path_buf(),
        }
    }
}

/// Whether `a` and `b` name the same file or folder (existing or not).
pub fn same_path(a: &Path, b: &Path) -> bool {
    resolved(a) == resolved(b)
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
            if let Some(file) = file_in_the_way(d) {
                return Err(Error::Input(format!(
                    "{what} {}: {} is a file, not a folder",
                    p.display(),
                    file.display()
                )));
            }
            std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
        }
    }
    Ok(())
}

/// The first existing ancestor of `p` (itself included) that is not a
/// folder: a path that lies in a file, which no write can create.
fn file_in_the_way(p: &Path) -> Option<&Path> {
    p.ancestors()
        .filter(|a| !a.as_os_str().is_empty())
        .find(|a| a.exists())
        .filter(|a| !a.is_dir())
}

/// Checks a command's output folder before anything runs (see
/// [`check_out_dir`]), then creates it.
pub fn prepare_out_dir(
    what: &str,
    dir: &Path,
    writes: &[&str],
    inputs: &[(&str, &Path)],
) -> Result<()> {
    check_out_dir(what, dir, writes, inputs)?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
}

/// Checks a command's output folder before anything runs. The folder is a folder or does not exist yet, and lies in folders; it is
/// none of the inputs and lies inside no input folder (a model or data
/// folder stays as it was); and none of the files the command writes there
/// (`writes`, names relative to it) is an input. Each path comes with the
/// flag that named it, for the message.
pub fn check_out_dir(
    what: &str,
    dir: &Path,
    writes: &[&str],
    inputs: &[(&str, &Path)],
) -> Result<()> {
    if let Some(file) = file_in_the_way(dir) {
        return Err(Error::Input(if file == dir {
            format!("{what} {}: is a file; expected a folder", dir.display())
        } else {
            format!(
                "{what} {}: {} is a file, not a folder",
                dir.display(),
                file.display()
            )
        }));
    }
    let d = resolved(dir);
    for &(input, p) in inputs {
        let r = resolved(p);
        if r == d {
            return Err(Error::Input(format!(
                "{what} {} is also {input}: an output folder is never an input",
                dir.display()
            )));
        }
        if p.is_dir() && d.starts_with(&r) {
            return Err(Error::Input(format!(
                "{what} {} lies inside {input} {}: outputs never go into an input folder",
                dir.display(),
                p.display()
            )));
        }
        if let Some(name) = writes.iter().find(|n| d.join(n) == r) {
            return Err(Error::Input(format!(
                "{what} {}: the {name} written there is {input} {}; an output never overwrites an input",
                dir.display(),
                p.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_killed_writers_temp_files_are_cleaned_by_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // no PID this large runs (pid_max is at most 2^22)
        let stale = d.join(".out.json.999999999.tmp");
        let mine = d.join(format!(".other.json.{}.tmp", std::process::id()));
        let unrelated = d.join(".notes.tmp");
        for f in [&stale, &mine, &unrelated] {
            std::fs::write(f, b"x").unwrap();
        }
        write_atomic(&d.join("out.json"), b"{}").unwrap();
        assert!(!stale.exists());
        assert!(mine.exists() && unrelated.exists());
        assert_eq!(std::fs::read(d.join("out.json")).unwrap(), b"{}");
        // a write that fails leaves no temporary file
        std::fs::create_dir_all(d.join("taken")).unwrap();
        assert!(write_atomic(&d.join("taken"), b"x").is_err());
        let left: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".taken."))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
