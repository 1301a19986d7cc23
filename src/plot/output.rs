//! Writes a figure as PNG and SVG, atomically: the SVG is rendered to a
//! string and written with [`write_atomic`]; the PNG is rendered into a hidden
//! temporary file beside its destination and renamed into place. When any
//! step fails, the files this call created are removed again.

use std::fmt::Display;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::io::{temp_path, write_atomic};

/// A figure that can draw itself on any plotters backend.
pub(super) trait Figure {
    /// Size in pixels (width, height).
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<(), DB>;
}

/// An error for the output file `path`, naming what went wrong.
fn render_error(path: &Path, e: impl Display) -> Error {
    Error::io(
        path,
        std::io::Error::other(format!("cannot render figure: {e}")),
    )
}

/// The PNG's temporary file: hidden, beside `png`, and ending in `.png` so
/// that the encoder picks the PNG format.
fn png_temp_path(png: &Path) -> PathBuf {
    let tmp = temp_path(png);
    let name = tmp
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    tmp.with_file_name(format!("{name}.png"))
}

pub(super) fn render<F: Figure>(fig: &F, png: &Path, svg: &Path) -> Result<()> {
    if png == svg {
        return Err(Error::Input(format!(
            "the PNG and SVG outputs are the same file: {}",
            png.display()
        )));
    }
    super::ensure_font().map_err(|e| render_error(png, e))?;
    let size = fig.size();

    let mut svg_text = String::new();
    {
        let root = SVGBackend::with_string(&mut svg_text, size).into_drawing_area();
        fig.draw(&root)
            .and_then(|()| root.present())
            .map_err(|e| render_error(svg, e))?;
    }

    if let Some(parent) = png.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let tmp = png_temp_path(png);
    let drawn = {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        fig.draw(&root).and_then(|()| root.present())
        // The backend is dropped here, before the temporary file is touched.
    };
    let synced = drawn.map_err(|e| render_error(png, e)).and_then(|()| {
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io(&tmp, e))
    });
    if let Err(e) = synced {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }

    if let Err(e) = write_atomic(svg, svg_text.as_bytes()) {
        let _ = std::fs::remove_file(&tmp);
        let _ = std::fs::remove_file(temp_path(svg));
        return Err(e);
    }
    if let Err(e) = std::fs::rename(&tmp, png) {
        let _ = std::fs::remove_file(&tmp);
        let _ = std::fs::remove_file(svg);
        return Err(Error::io(png, e));
    }
    Ok(())
}
