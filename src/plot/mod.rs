//! Rendering of analysis figures with plotters: every figure is written as
//! both PNG and SVG, atomically.
//!
//! This module only draws the numbers it is given; it never loads a model or
//! reads a capture file. Every public function checks its inputs first and
//! returns [`Error::Input`] when they are inconsistent (lengths that differ,
//! no series, non-finite values), before anything is written.
//!
//! Figures:
//! - [`distance_figure`]: a grid of panels, attention mass per query–key
//!   distance bin (half-octave bins, so bin index is a log-distance axis);
//! - [`layer_curve_figure`]: one curve per series over layers, with CI bands
//!   and highlighted layers;
//! - [`bar_figure`]: a grid of grouped-bar panels (e.g. top experts' routing
//!   frequency, base vs ACC);
//! - [`histogram_figure`]: histograms given as bin edges + counts;
//! - [`heatmap_figure`]: a grid of matrices (e.g. expert co-activation, base
//!   vs ACC) on one shared viridis scale with a colour bar.
//!
//! Colours are consistent across figures: [`BASE_COLOR`] for the base model,
//! [`ACC_COLOR`] for the ACC-trained one; [`PALETTE`] for anything else.
//!
//! Font: DejaVu Sans 2.37 is embedded (from the `dejavu` crate) and
//! registered as `"sans-serif"`, so rendering works on a machine with no
//! fonts installed. The SVG files name the `sans-serif` family and are drawn
//! with whatever sans font the viewer has.

mod bars;
mod draw;
mod heatmap;
mod output;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::OnceLock;

pub use plotters::style::RGBColor;

use crate::error::{Error, Result};

/// The base (pre-ACC) model's colour in every figure: matplotlib's blue.
pub const BASE_COLOR: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
/// The ACC-trained model's colour in every figure: matplotlib's orange.
pub const ACC_COLOR: RGBColor = RGBColor(0xff, 0x7f, 0x0e);
/// Colours for other series (e.g. one per domain): matplotlib's `tab10`,
/// which starts with [`BASE_COLOR`] and [`ACC_COLOR`].
pub const PALETTE: [RGBColor; 10] = [
    BASE_COLOR,
    ACC_COLOR,
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
];

/// The `i`-th colour of [`PALETTE`], cycling.
pub fn color(i: usize) -> RGBColor {
    PALETTE
        .iter()
        .cycle()
        .nth(i % PALETTE.len())
        .copied()
        .unwrap_or(BASE_COLOR)
}

/// The font family every text element uses.
const FONT: &str = "sans-serif";

/// Registers the embedded font once per process.
///
/// The font is DejaVu Sans 2.37 (`DejaVuSans.ttf`, 757 KB) as shipped in the
/// `dejavu` crate (crate code MIT/Apache-2.0). The font itself is under the
/// Bitstream Vera Fonts license (free to use, embed and redistribute; only
/// modified fonts must be renamed), with the DejaVu changes in the public
/// domain and glyphs from Arev under the same Vera-style terms.
fn ensure_font() -> std::result::Result<(), &'static str> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(
            FONT,
            plotters::style::FontStyle::Normal,
            dejavu::sans::regular(),
        )
        .is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err("the embedded DejaVu Sans font could not be parsed")
    }
}

/// A 95% confidence interval per point of a [`Series`].
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub lo: Vec<f64>,
    pub hi: Vec<f64>,
}

/// One labelled series of values, drawn in `color`, with an optional CI band.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub color: RGBColor,
    pub values: Vec<f64>,
    pub band: Option<Band>,
}

impl Series {
    /// A series without a CI band.
    pub fn new(label: impl Into<String>, color: RGBColor, values: Vec<f64>) -> Self {
        Series {
            label: label.into(),
            color,
            values,
            band: None,
        }
    }

    /// Adds a 95% CI band (`lo[i] <= hi[i]` per point).
    pub fn with_band(mut self, lo: Vec<f64>, hi: Vec<f64>) -> Self {
        self.band = Some(Band { lo, hi });
        self
    }
}

/// One panel: attention mass per query–key distance bin, one line per model.
#[derive(Debug, Clone, PartialEq)]
pub struct DistancePanel {
    /// E.g. "graphwalks · layer 20 · JS 0.012 [0.008, 0.019]".
    pub title: String,
    /// Lower edge of each bin in tokens, strictly increasing, e.g. 0, 1, 2,
    /// 3, 4, 6, 8, 12, 16, 24, …, 65536 (half-octaves; the last bin is open).
    pub bin_lower_edges: Vec<u32>,
    /// `values` = share of attention mass per bin (summing to 1), one value
    /// per bin; drawn in percent.
    pub series: Vec<Series>,
}

/// A per-layer curve (e.g. JS divergence base→ACC per layer, with CI band).
#[derive(Debug, Clone, PartialEq)]
pub struct LayerCurve {
    pub title: String,
    /// The y axis label, with units.
    pub y_label: String,
    /// `values` indexed by layer 0..L; every series has the same L.
    pub series: Vec<Series>,
    /// Layers shaded grey: they write nothing to the residual stream
    /// (`Qwen3Moe::silent_layers`), so their change cannot matter.
    pub silent_layers: Vec<usize>,
}

/// Grouped bars: e.g. the top-20 experts' routing frequency, base vs ACC.
#[derive(Debug, Clone, PartialEq)]
pub struct BarPanel {
    pub title: String,
    /// One name per group of bars.
    pub categories: Vec<String>,
    /// The y axis label, with units.
    pub y_label: String,
    /// `values` indexed like `categories`; a band is drawn as error whiskers.
    pub series: Vec<Series>,
}

/// One histogram, given as counts per bin of the shared edges.
#[derive(Debug, Clone, PartialEq)]
pub struct HistSeries {
    pub label: String,
    pub color: RGBColor,
    /// One count per bin: `edges.len() - 1` values, each finite and >= 0.
    pub counts: Vec<f64>,
}

/// One matrix panel of a heatmap: `values` row-major, `row_labels.len()` rows
/// × `col_labels.len()` columns, every value finite.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatmapPanel {
    pub title: String,
    pub row_labels: Vec<String>,
    pub col_labels: Vec<String>,
    pub values: Vec<f64>,
}

/// The axis names of a heatmap and the name of its colour bar (with units).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeatmapLabels<'a> {
    pub x: &'a str,
    pub y: &'a str,
    pub value: &'a str,
}

/// The x axis label of every distance panel.
pub const DISTANCE_X_LABEL: &str = "query–key distance (tokens, log scale; bin lower edge)";
/// The y axis label of every distance panel.
pub const DISTANCE_Y_LABEL: &str = "attention mass (%)";

/// Draws a grid of distance panels, `ncols` per row, with one shared legend.
///
/// The x axis is the bin index labelled with the bin's lower edge (every
/// 2nd, 4th, … edge so that labels do not overlap); with half-octave bins
/// this is a log-scaled distance axis. Trailing bins that are empty in every
/// panel are trimmed (all panels keep the same number of bins). Values are
/// drawn in percent, as lines with markers and a shaded band where a series
/// has one.
pub fn distance_figure(
    title: &str,
    panels: &[DistancePanel],
    ncols: usize,
    png: &Path,
    svg: &Path,
) -> Result<()> {
    check_grid("distance figure", panels.len(), ncols)?;
    for (i, p) in panels.iter().enumerate() {
        let ctx = format!("distance panel {i} ({:?})", p.title);
        if p.bin_lower_edges.is_empty() {
            return Err(Error::Input(format!("{ctx}: no distance bins")));
        }
        if let Some(w) = p.bin_lower_edges.windows(2).position(|w| w[0] >= w[1]) {
            return Err(Error::Input(format!(
                "{ctx}: bin lower edges must increase strictly, but edge {} is {} and edge {} is {}",
                w,
                p.bin_lower_edges[w],
                w + 1,
                p.bin_lower_edges[w + 1]
            )));
        }
        check_series_set(&ctx, &p.series, p.bin_lower_edges.len(), "distance bins")?;
    }
    let keep = panels.iter().map(occupied_len).max().unwrap_or(1);
    let panels: Vec<DistancePanel> = panels.iter().map(|p| truncate_panel(p, keep)).collect();
    let fig = draw::DistanceFigure::new(title, panels, ncols);
    output::render(&fig, png, svg)
}

/// A copy of `panel` without the trailing bins that are empty (zero value
/// and zero upper CI bound) in every series. At least one bin is kept.
pub fn trim_empty_tail(panel: &DistancePanel) -> DistancePanel {
    truncate_panel(panel, occupied_len(panel))
}

/// Number of leading bins up to and including the last bin that holds mass
/// in some series (at least 1).
fn occupied_len(panel: &DistancePanel) -> usize {
    let nonzero = |s: &Series, i: usize| {
        s.values.get(i).is_some_and(|v| *v != 0.0)
            || s.band
                .as_ref()
                .is_some_and(|b| b.hi.get(i).is_some_and(|v| *v != 0.0))
    };
    (0..panel.bin_lower_edges.len())
        .rev()
        .find(|&i| panel.series.iter().any(|s| nonzero(s, i)))
        .map_or(1, |i| i + 1)
}

fn truncate_panel(panel: &DistancePanel, n: usize) -> DistancePanel {
    let cut = |v: &Vec<f64>| v[..n.min(v.len())].to_vec();
    DistancePanel {
        title: panel.title.clone(),
        bin_lower_edges: panel.bin_lower_edges[..n.min(panel.bin_lower_edges.len())].to_vec(),
        series: panel
            .series
            .iter()
            .map(|s| Series {
                label: s.label.clone(),
                color: s.color,
                values: cut(&s.values),
                band: s.band.as_ref().map(|b| Band {
                    lo: cut(&b.lo),
                    hi: cut(&b.hi),
                }),
            })
            .collect(),
    }
}

/// Draws one curve per series over layers 0..L, with shaded CI bands; each
/// layer in `highlight_layers` gets a dashed vertical marker and ringed
/// points.
pub fn layer_curve_figure(
    c: &LayerCurve,
    highlight_layers: &[usize],
    png: &Path,
    svg: &Path,
) -> Result<()> {
    let ctx = format!("layer curve {:?}", c.title);
    let Some(first) = c.series.first() else {
        return Err(Error::Input(format!("{ctx}: no series")));
    };
    let layers = first.values.len();
    if layers == 0 {
        return Err(Error::Input(format!(
            "{ctx}: series {:?} has no values (expected one per layer)",
            first.label
        )));
    }
    check_series_set(&ctx, &c.series, layers, "layers")?;
    if let Some(&h) = highlight_layers.iter().find(|&&h| h >= layers) {
        return Err(Error::Input(format!(
            "{ctx}: highlighted layer {h} is out of range: the series have {layers} layers (0..{})",
            layers - 1
        )));
    }
    if let Some(&l) = c.silent_layers.iter().find(|&&l| l >= layers) {
        return Err(Error::Input(format!(
            "{ctx}: silent layer {l} is out of range: the series have {layers} layers (0..{})",
            layers - 1
        )));
    }
    let fig = draw::LayerFigure::new(c, highlight_layers);
    output::render(&fig, png, svg)
}

/// Draws a grid of grouped-bar panels, `ncols` per row, with one shared
/// legend. Category labels are rotated when they would overlap.
pub fn bar_figure(
    title: &str,
    panels: &[BarPanel],
    ncols: usize,
    png: &Path,
    svg: &Path,
) -> Result<()> {
    check_grid("bar figure", panels.len(), ncols)?;
    for (i, p) in panels.iter().enumerate() {
        let ctx = format!("bar panel {i} ({:?})", p.title);
        if p.categories.is_empty() {
            return Err(Error::Input(format!("{ctx}: no categories")));
        }
        check_series_set(&ctx, &p.series, p.categories.len(), "categories")?;
    }
    let fig = bars::BarFigure::new(title, panels, ncols);
    output::render(&fig, png, svg)
}

/// Draws overlaid histograms (filled steps, one colour per series) over
/// shared bin `edges` (`n + 1` strictly increasing values for `n` bins).
pub fn histogram_figure(
    title: &str,
    x_label: &str,
    edges: &[f64],
    series: &[HistSeries],
    png: &Path,
    svg: &Path,
) -> Result<()> {
    let ctx = format!("histogram {title:?}");
    if edges.len() < 2 {
        return Err(Error::Input(format!(
            "{ctx}: {} bin edges given, need at least 2",
            edges.len()
        )));
    }
    check_finite(&ctx, "bin edges", edges)?;
    if let Some(w) = edges.windows(2).position(|w| w[0] >= w[1]) {
        return Err(Error::Input(format!(
            "{ctx}: bin edges must increase strictly, but edge {w} is {} and edge {} is {}",
            edges[w],
            w + 1,
            edges[w + 1]
        )));
    }
    if series.is_empty() {
        return Err(Error::Input(format!("{ctx}: no series")));
    }
    let bins = edges.len() - 1;
    for s in series {
        if s.counts.len() != bins {
            return Err(Error::Input(format!(
                "{ctx}: series {:?} has {} counts, expected {bins} (one per bin of {} edges)",
                s.label,
                s.counts.len(),
                edges.len()
            )));
        }
        check_finite(&ctx, &format!("series {:?} counts", s.label), &s.counts)?;
        if let Some(i) = s.counts.iter().position(|c| *c < 0.0) {
            return Err(Error::Input(format!(
                "{ctx}: series {:?} has a negative count {} in bin {i}",
                s.label, s.counts[i]
            )));
        }
    }
    let fig = bars::HistFigure::new(title, x_label, edges, series);
    output::render(&fig, png, svg)
}

/// Draws a grid of matrix panels, `ncols` per row, on one colour scale
/// shared by every panel (from min(0, smallest value) to the largest), with a
/// colour bar labelled `labels.value`. Row 0 is at the top; matrices up to
/// 16 × 16 have their values written in the cells.
pub fn heatmap_figure(
    title: &str,
    labels: HeatmapLabels<'_>,
    panels: &[HeatmapPanel],
    ncols: usize,
    png: &Path,
    svg: &Path,
) -> Result<()> {
    check_grid("heatmap", panels.len(), ncols)?;
    for (i, p) in panels.iter().enumerate() {
        let ctx = format!("heatmap panel {i} ({:?})", p.title);
        let (r, c) = (p.row_labels.len(), p.col_labels.len());
        if r == 0 || c == 0 {
            return Err(Error::Input(format!(
                "{ctx}: {r} row and {c} column labels; need at least one of each"
            )));
        }
        if p.values.len() != r * c {
            return Err(Error::Input(format!(
                "{ctx}: {} values, expected {r} × {c} = {} (row-major)",
                p.values.len(),
                r * c
            )));
        }
        check_finite(&ctx, "values", &p.values)?;
    }
    let fig = heatmap::HeatmapFigure::new(title, labels, panels, ncols);
    output::render(&fig, png, svg)
}

fn check_grid(what: &str, panels: usize, ncols: usize) -> Result<()> {
    if panels == 0 {
        return Err(Error::Input(format!("{what}: no panels")));
    }
    if ncols == 0 {
        return Err(Error::Input(format!("{what}: ncols must be at least 1")));
    }
    Ok(())
}

/// Checks that there is at least one series and that every series (and its
/// band) has `n` finite values.
fn check_series_set(ctx: &str, series: &[Series], n: usize, unit: &str) -> Result<()> {
    if series.is_empty() {
        return Err(Error::Input(format!("{ctx}: no series")));
    }
    for s in series {
        let name = format!("series {:?}", s.label);
        if s.values.len() != n {
            return Err(Error::Input(format!(
                "{ctx}: {name} has {} values, expected {n} (one per {unit})",
                s.values.len()
            )));
        }
        check_finite(ctx, &format!("{name} values"), &s.values)?;
        if let Some(b) = &s.band {
            for (which, v) in [("lower", &b.lo), ("upper", &b.hi)] {
                if v.len() != n {
                    return Err(Error::Input(format!(
                        "{ctx}: {name} has {} {which} CI bounds, expected {n} (one per {unit})",
                        v.len()
                    )));
                }
                check_finite(ctx, &format!("{name} {which} CI bounds"), v)?;
            }
            if let Some(i) = (0..n).find(|&i| b.lo[i] > b.hi[i]) {
                return Err(Error::Input(format!(
                    "{ctx}: {name} has a CI band with lower bound {} above upper bound {} at index {i}",
                    b.lo[i], b.hi[i]
                )));
            }
        }
    }
    Ok(())
}

fn check_finite(ctx: &str, what: &str, values: &[f64]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(Error::Input(format!(
            "{ctx}: {what} contain a non-finite value ({}) at index {i}",
            values[i]
        ))),
        None => Ok(()),
    }
}
