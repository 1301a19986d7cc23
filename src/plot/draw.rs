//! The drawing code behind the public figure functions. Inputs are already
//! validated when they get here.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::output::Figure;
use super::{DistancePanel, LayerCurve, Series, DISTANCE_X_LABEL, DISTANCE_Y_LABEL, FONT};

/// Width of a figure with up to 3 panels per row, and of single-panel figures.
pub(super) const FIG_W: u32 = 1200;
/// Minimum width per panel column in grids wider than 3 columns.
const COL_W: u32 = 400;
/// Height of one row of panels.
pub(super) const PANEL_H: u32 = 400;
/// Height of the plot body of single-panel figures.
pub(super) const SINGLE_H: u32 = 440;
/// Height of the figure title strip.
const TITLE_H: u32 = 46;
/// Height of one row of the shared legend.
const LEGEND_ROW_H: u32 = 28;
/// Height of the strip holding the shared x axis label under a grid.
pub(super) const FOOTER_H: u32 = 34;

const TITLE_SIZE: f64 = 26.0;
pub(super) const PANEL_TITLE_SIZE: f64 = 19.0;
const LEGEND_SIZE: f64 = 17.0;
pub(super) const DESC_SIZE: f64 = 17.0;
pub(super) const TICK_SIZE: f64 = 15.0;

/// Pixels reserved left of each plot for tick labels and the y description.
pub(super) const Y_AREA: u32 = 66;
/// Pixels reserved under each plot for the x tick labels.
pub(super) const X_AREA: u32 = 34;
pub(super) const PANEL_MARGIN: u32 = 10;
pub(super) const PANEL_MARGIN_RIGHT: u32 = 22;

pub(super) const TEXT: RGBColor = RGBColor(0x22, 0x22, 0x22);
pub(super) const GRID_BOLD: RGBColor = RGBColor(0xd9, 0xd9, 0xd9);
pub(super) const GRID_LIGHT: RGBColor = RGBColor(0xf2, 0xf2, 0xf2);
const HIGHLIGHT: RGBColor = RGBColor(0x55, 0x55, 0x55);
pub(super) const WHISKER: RGBColor = RGBColor(0x33, 0x33, 0x33);
/// Layers that write nothing to the residual stream (layer curves).
const SILENT: RGBColor = RGBColor(0xe4, 0xe4, 0xe4);
const BAND_ALPHA: f64 = 0.2;

pub(super) fn style(size: f64) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font()).color(&TEXT)
}

/// Rendered width of `text` at `size`, in pixels.
pub(super) fn text_width(text: &str, size: f64) -> u32 {
    (FONT, size)
        .into_font()
        .box_size(text)
        .map(|(w, _)| w)
        // Only reached if the font is missing, which `render` rules out.
        .unwrap_or((text.chars().count() as f64 * size * 0.6) as u32)
}

/// `text` at the largest size in `min..=max` that fits in `width` pixels,
/// shortened with an ellipsis if even `min` does not fit.
pub(super) fn fit_text(text: &str, width: u32, max: f64, min: f64) -> (String, f64) {
    let mut size = max;
    while size > min && text_width(text, size) > width {
        size -= 1.0;
    }
    if text_width(text, size) <= width {
        return (text.to_string(), size);
    }
    let chars: Vec<char> = text.chars().collect();
    let mut keep = chars.len();
    while keep > 1 {
        keep -= 1;
        let short: String = chars[..keep].iter().collect::<String>() + "…";
        if text_width(&short, size) <= width {
            return (short, size);
        }
    }
    ("…".to_string(), size)
}

/// A tick label for a distance in tokens: plain below 1024, otherwise in
/// units of 1024 ("1k", "1.5k", "64k") when that is exact to one decimal.
pub(super) fn fmt_tokens(t: u32) -> String {
    if t >= 1024 && t.is_multiple_of(512) {
        let k = t / 1024;
        if t.is_multiple_of(1024) {
            format!("{k}k")
        } else {
            format!("{k}.5k")
        }
    } else {
        t.to_string()
    }
}

/// Decimal places that distinguish ticks over a range of `span`.
fn decimals_for(span: f64) -> usize {
    if span <= 0.0 || !span.is_finite() {
        return 2;
    }
    (-(span / 5.0).log10()).ceil().clamp(0.0, 6.0) as usize
}

/// A tick label: k/M suffixes for large magnitudes, else fixed decimals.
pub(super) fn fmt_number(v: f64, span: f64) -> String {
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if span >= 5e6 && v.abs() >= 1e6 {
        trim(format!("{:.2}", v / 1e6)) + "M"
    } else if span >= 5e3 && v.abs() >= 1e3 {
        trim(format!("{:.1}", v / 1e3)) + "k"
    } else {
        let s = format!("{v:.*}", decimals_for(span));
        if s.trim_start_matches('-')
            .chars()
            .all(|c| c == '0' || c == '.')
        {
            s.trim_start_matches('-').to_string()
        } else {
            s
        }
    }
}

/// The smallest stride in 1, 2, 4, 8, … at which the labels of indices
/// 0, stride, 2·stride, … fit in a plot `plot_w` pixels wide.
pub(super) fn tick_stride(n: usize, plot_w: u32, label: impl Fn(usize) -> String) -> usize {
    let mut stride = 1;
    while stride < n {
        let slot = plot_w as f64 * stride as f64 / n as f64;
        let widest = (0..n)
            .step_by(stride)
            .map(|i| text_width(&label(i), TICK_SIZE))
            .max()
            .unwrap_or(0);
        if slot >= widest as f64 + 14.0 {
            break;
        }
        stride *= 2;
    }
    stride
}

/// An f64 axis whose ticks (and bold grid lines) are exactly `ticks`.
///
/// plotters' own `with_key_points` on an f64 range loses the value
/// formatter that `configure_mesh` needs; this axis uses the default one and
/// every caller sets its own label formatter.
pub(super) struct TickedAxis {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl TickedAxis {
    pub(super) fn new(range: Range<f64>, ticks: Vec<f64>) -> Self {
        TickedAxis {
            inner: range.into(),
            ticks,
        }
    }
}

impl Ranged for TickedAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }
}

/// A nice upper bound for a y axis whose data reach `max`.
pub(super) fn y_top(max: f64) -> f64 {
    if max > 0.0 {
        max * 1.08
    } else {
        1.0
    }
}

// ---------------------------------------------------------------------------
// Shared legend and title strip

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Swatch {
    /// A line with a marker (line series).
    Line(RGBColor),
    /// A filled box (bars).
    Patch(RGBColor),
    /// A translucent box with a border (histograms).
    Step(RGBColor),
    /// A grey translucent box (CI bands).
    Band,
    /// A dashed vertical line (highlighted layers).
    Dashed(RGBColor),
    /// An error whisker with caps (CIs on bars).
    Whisker,
}

pub(super) struct LegendItem {
    pub(super) label: String,
    pub(super) swatch: Swatch,
}

const SWATCH_W: u32 = 34;
const SWATCH_GAP: u32 = 8;
const ITEM_GAP: u32 = 30;

/// A figure's title and shared legend, laid out for a given width.
pub(super) struct Header {
    title: String,
    title_size: f64,
    items: Vec<LegendItem>,
    /// Item indices per legend row.
    rows: Vec<Vec<usize>>,
    pub(super) width: u32,
}

impl Header {
    pub(super) fn new(title: &str, items: Vec<LegendItem>, width: u32) -> Self {
        let (title, title_size) = fit_text(title, width.saturating_sub(40), TITLE_SIZE, 14.0);
        let max_w = width.saturating_sub(40);
        let mut rows: Vec<Vec<usize>> = Vec::new();
        let mut row_w = 0;
        for (i, item) in items.iter().enumerate() {
            let w = item_width(item);
            match rows.last_mut() {
                Some(row) if row_w + ITEM_GAP + w <= max_w => {
                    row.push(i);
                    row_w += ITEM_GAP + w;
                }
                _ => {
                    rows.push(vec![i]);
                    row_w = w;
                }
            }
        }
        Header {
            title,
            title_size,
            items,
            rows,
            width,
        }
    }

    pub(super) fn height(&self) -> u32 {
        TITLE_H + LEGEND_ROW_H * self.rows.len() as u32 + 6
    }

    /// Draws the header on top of `root` and returns the area below it.
    pub(super) fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> DrawResult<DrawingArea<DB, Shift>, DB> {
        let centre = (self.width / 2) as i32;
        root.draw_text(
            &self.title,
            &style(self.title_size).pos(Pos::new(HPos::Center, VPos::Center)),
            (centre, (TITLE_H / 2) as i32 + 2),
        )?;
        for (r, row) in self.rows.iter().enumerate() {
            let total: u32 = row.iter().map(|&i| item_width(&self.items[i])).sum::<u32>()
                + ITEM_GAP * (row.len() as u32 - 1);
            let mut x = centre - (total / 2) as i32;
            let y = (TITLE_H + LEGEND_ROW_H * r as u32 + LEGEND_ROW_H / 2) as i32;
            for &i in row {
                let item = &self.items[i];
                draw_swatch(root, item.swatch, x, y)?;
                root.draw_text(
                    &item.label,
                    &style(LEGEND_SIZE).pos(Pos::new(HPos::Left, VPos::Center)),
                    (x + (SWATCH_W + SWATCH_GAP) as i32, y),
                )?;
                x += (item_width(item) + ITEM_GAP) as i32;
            }
        }
        Ok(root.split_vertically(self.height()).1)
    }
}

fn item_width(item: &LegendItem) -> u32 {
    SWATCH_W + SWATCH_GAP + text_width(&item.label, LEGEND_SIZE)
}

fn draw_swatch<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    swatch: Swatch,
    x: i32,
    y: i32,
) -> DrawResult<(), DB> {
    let w = SWATCH_W as i32;
    match swatch {
        Swatch::Line(c) => {
            root.draw(&PathElement::new(
                vec![(x, y), (x + w, y)],
                c.stroke_width(2),
            ))?;
            root.draw(&Circle::new((x + w / 2, y), 4, c.filled()))?;
        }
        Swatch::Patch(c) => {
            root.draw(&Rectangle::new(
                [(x + 6, y - 8), (x + w - 6, y + 8)],
                c.filled(),
            ))?;
        }
        Swatch::Step(c) => {
            root.draw(&Rectangle::new(
                [(x + 4, y - 8), (x + w - 4, y + 8)],
                c.mix(0.3).filled(),
            ))?;
            root.draw(&Rectangle::new(
                [(x + 4, y - 8), (x + w - 4, y + 8)],
                c.stroke_width(2),
            ))?;
        }
        Swatch::Band => {
            root.draw(&Rectangle::new(
                [(x, y - 8), (x + w, y + 8)],
                HIGHLIGHT.mix(0.25).filled(),
            ))?;
        }
        Swatch::Whisker => {
            let (xc, style) = (x + w / 2, WHISKER.stroke_width(2));
            for pts in [
                vec![(xc, y - 9), (xc, y + 9)],
                vec![(xc - 5, y - 9), (xc + 5, y - 9)],
                vec![(xc - 5, y + 9), (xc + 5, y + 9)],
            ] {
                root.draw(&PathElement::new(pts, style))?;
            }
        }
        Swatch::Dashed(c) => {
            for k in 0..3 {
                let y0 = y - 10 + k * 8;
                root.draw(&PathElement::new(
                    vec![(x + w / 2, y0), (x + w / 2, y0 + 5)],
                    c.stroke_width(2),
                ))?;
            }
        }
    }
    Ok(())
}

/// One legend entry per distinct (label, colour) among `series`, in order of
/// first appearance, plus a CI entry when any series has a band.
pub(super) fn series_legend<'a>(
    series: impl IntoIterator<Item = &'a Series>,
    swatch: fn(RGBColor) -> Swatch,
    band: (Swatch, &str),
) -> Vec<LegendItem> {
    let mut seen: Vec<(String, RGBColor)> = Vec::new();
    let mut any_band = false;
    for s in series {
        any_band |= s.band.is_some();
        if !seen.iter().any(|(l, c)| *l == s.label && *c == s.color) {
            seen.push((s.label.clone(), s.color));
        }
    }
    let mut items: Vec<LegendItem> = seen
        .into_iter()
        .map(|(label, c)| LegendItem {
            label,
            swatch: swatch(c),
        })
        .collect();
    if any_band {
        items.push(LegendItem {
            label: band.1.to_string(),
            swatch: band.0,
        });
    }
    items
}

pub(super) fn grid_width(ncols: usize) -> u32 {
    FIG_W.max(COL_W * ncols as u32)
}

pub(super) fn grid_rows(panels: usize, ncols: usize) -> usize {
    panels.div_ceil(ncols)
}

/// Splits `body` into `rows × ncols` cells.
pub(super) fn grid_cells<DB: DrawingBackend>(
    body: &DrawingArea<DB, Shift>,
    rows: usize,
    ncols: usize,
) -> Vec<DrawingArea<DB, Shift>> {
    body.split_evenly((rows, ncols))
}

/// Plot width left in a cell `cell_w` wide once labels and margins are taken.
pub(super) fn plot_width(cell_w: u32) -> u32 {
    cell_w.saturating_sub(Y_AREA + PANEL_MARGIN + PANEL_MARGIN_RIGHT)
}

/// Draws a series' CI band (if any) as a translucent polygon.
fn draw_band<DB: DrawingBackend, X, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
    s: &Series,
    scale: f64,
) -> DrawResult<(), DB>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    if let Some(b) = &s.band {
        let n = b.lo.len();
        let mut pts: Vec<(f64, f64)> = (0..n).map(|i| (i as f64, b.hi[i] * scale)).collect();
        pts.extend((0..n).rev().map(|i| (i as f64, b.lo[i] * scale)));
        chart.draw_series(std::iter::once(Polygon::new(
            pts,
            s.color.mix(BAND_ALPHA).filled(),
        )))?;
    }
    Ok(())
}

/// Draws a series as a line with round markers.
fn draw_line<DB: DrawingBackend, X, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
    s: &Series,
    scale: f64,
) -> DrawResult<(), DB>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let pts: Vec<(f64, f64)> = s
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| (i as f64, v * scale))
        .collect();
    chart.draw_series(LineSeries::new(
        pts.iter().copied(),
        s.color.stroke_width(2),
    ))?;
    chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, s.color.filled())))?;
    Ok(())
}

/// The y range covering every value and band bound (times `scale`), starting
/// at 0 unless something is negative.
pub(super) fn y_range(series: &[Series], scale: f64) -> (f64, f64) {
    let all = series.iter().flat_map(|s| {
        let band = s.band.iter().flat_map(|b| b.lo.iter().chain(b.hi.iter()));
        s.values.iter().chain(band).map(|v| v * scale)
    });
    let (lo, hi) = all.fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let pad = (hi - lo) * 0.08;
    let lo = if lo < 0.0 { lo - pad } else { 0.0 };
    let hi = if hi > 0.0 { hi + pad } else { y_top(0.0) };
    if hi > lo {
        (lo, hi)
    } else {
        (lo, lo + 1.0)
    }
}

// ---------------------------------------------------------------------------
// Distance figure

pub(super) struct DistanceFigure {
    panels: Vec<DistancePanel>,
    ncols: usize,
    rows: usize,
    header: Header,
}

impl DistanceFigure {
    pub(super) fn new(title: &str, panels: Vec<DistancePanel>, ncols: usize) -> Self {
        let ncols = ncols.min(panels.len()).max(1);
        let width = grid_width(ncols);
        let items = series_legend(
            panels.iter().flat_map(|p| &p.series),
            Swatch::Line,
            (Swatch::Band, "shaded: 95% CI"),
        );
        DistanceFigure {
            rows: grid_rows(panels.len(), ncols),
            panels,
            ncols,
            header: Header::new(title, items, width),
        }
    }
}

impl Figure for DistanceFigure {
    fn size(&self) -> (u32, u32) {
        (
            self.header.width,
            self.header.height() + PANEL_H * self.rows as u32 + FOOTER_H,
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<(), DB> {
        root.fill(&WHITE)?;
        let body = self.header.draw(root)?;
        let (grid, footer) = body.split_vertically(PANEL_H * self.rows as u32);
        for (cell, panel) in grid_cells(&grid, self.rows, self.ncols)
            .iter()
            .zip(&self.panels)
        {
            draw_distance_panel(cell, panel)?;
        }
        // One x description for the whole grid, centred under the plots.
        let (w, _) = footer.dim_in_pixel();
        let (desc, size) = fit_text(DISTANCE_X_LABEL, w.saturating_sub(20), DESC_SIZE, 12.0);
        footer.draw_text(
            &desc,
            &style(size).pos(Pos::new(HPos::Center, VPos::Center)),
            (((w + Y_AREA) / 2) as i32, (FOOTER_H / 2) as i32 - 4),
        )?;
        Ok(())
    }
}

fn draw_distance_panel<DB: DrawingBackend>(
    cell: &DrawingArea<DB, Shift>,
    p: &DistancePanel,
) -> DrawResult<(), DB> {
    let n = p.bin_lower_edges.len();
    let (cell_w, _) = cell.dim_in_pixel();
    let edges = &p.bin_lower_edges;
    let stride = tick_stride(n, plot_width(cell_w), |i| fmt_tokens(edges[i]));
    let ticks: Vec<f64> = (0..n).step_by(stride).map(|i| i as f64).collect();
    let (ylo, yhi) = y_range(&p.series, 100.0);
    let (title, title_size) = fit_text(&p.title, cell_w.saturating_sub(24), PANEL_TITLE_SIZE, 12.0);

    let mut chart = ChartBuilder::on(cell)
        .caption(title, style(title_size))
        .margin(PANEL_MARGIN)
        .margin_right(PANEL_MARGIN_RIGHT)
        .x_label_area_size(X_AREA)
        .y_label_area_size(Y_AREA)
        .build_cartesian_2d(TickedAxis::new(-0.5..n as f64 - 0.5, ticks), ylo..yhi)?;
    let x_fmt = |x: &f64| {
        let i = x.round();
        if i >= 0.0 && (i as usize) < n {
            fmt_tokens(edges[i as usize])
        } else {
            String::new()
        }
    };
    let span = yhi - ylo;
    let y_fmt = |y: &f64| fmt_number(*y, span);
    chart
        .configure_mesh()
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .y_labels(6)
        .y_desc(DISTANCE_Y_LABEL)
        .label_style(style(TICK_SIZE))
        .axis_desc_style(style(DESC_SIZE))
        .bold_line_style(GRID_BOLD)
        .light_line_style(GRID_LIGHT)
        .max_light_lines(2)
        .draw()?;
    for s in &p.series {
        draw_band(&mut chart, s, 100.0)?;
    }
    for s in &p.series {
        draw_line(&mut chart, s, 100.0)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Layer curve figure

pub(super) struct LayerFigure<'a> {
    curve: &'a LayerCurve,
    highlights: Vec<usize>,
    header: Header,
}

impl<'a> LayerFigure<'a> {
    pub(super) fn new(curve: &'a LayerCurve, highlights: &[usize]) -> Self {
        let mut highlights = highlights.to_vec();
        highlights.sort_unstable();
        highlights.dedup();
        let mut items = series_legend(
            &curve.series,
            Swatch::Line,
            (Swatch::Band, "shaded: 95% CI"),
        );
        if !highlights.is_empty() {
            let label = if highlights.len() == 1 {
                "highlighted layer"
            } else {
                "highlighted layers"
            };
            items.push(LegendItem {
                label: label.to_string(),
                swatch: Swatch::Dashed(HIGHLIGHT),
            });
        }
        if !curve.silent_layers.is_empty() {
            items.push(LegendItem {
                label: "grey: writes nothing to the residual stream".to_string(),
                swatch: Swatch::Patch(SILENT),
            });
        }
        LayerFigure {
            curve,
            highlights,
            header: Header::new(&curve.title, items, FIG_W),
        }
    }
}

impl Figure for LayerFigure<'_> {
    fn size(&self) -> (u32, u32) {
        (FIG_W, self.header.height() + SINGLE_H)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<(), DB> {
        root.fill(&WHITE)?;
        let body = self.header.draw(root)?;
        let series = &self.curve.series;
        let layers = series[0].values.len();
        let (w, _) = body.dim_in_pixel();
        let stride = tick_stride(layers, plot_width(w), |i| i.to_string());
        let ticks: Vec<f64> = (0..layers).step_by(stride).map(|i| i as f64).collect();
        let (ylo, yhi) = y_range(series, 1.0);

        let mut chart = ChartBuilder::on(&body)
            .margin(PANEL_MARGIN)
            .margin_right(PANEL_MARGIN_RIGHT)
            .x_label_area_size(X_AREA + 26)
            .y_label_area_size(Y_AREA)
            .build_cartesian_2d(TickedAxis::new(-0.5..layers as f64 - 0.5, ticks), ylo..yhi)?;
        let x_fmt = |x: &f64| format!("{}", x.round() as i64);
        let span = yhi - ylo;
        let y_fmt = |y: &f64| fmt_number(*y, span);
        chart
            .configure_mesh()
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .y_labels(6)
            .x_desc("layer")
            .y_desc(self.curve.y_label.as_str())
            .label_style(style(TICK_SIZE))
            .axis_desc_style(style(DESC_SIZE))
            .bold_line_style(GRID_BOLD)
            .light_line_style(GRID_LIGHT)
            .max_light_lines(2)
            .draw()?;
        chart.draw_series(self.curve.silent_layers.iter().map(|&l| {
            Rectangle::new(
                [(l as f64 - 0.5, ylo), (l as f64 + 0.5, yhi)],
                SILENT.mix(0.7).filled(),
            )
        }))?;
        for &h in &self.highlights {
            chart.draw_series(DashedLineSeries::new(
                [(h as f64, ylo), (h as f64, yhi)],
                7,
                5,
                HIGHLIGHT.stroke_width(2),
            ))?;
        }
        for s in series {
            draw_band(&mut chart, s, 1.0)?;
        }
        for s in series {
            draw_line(&mut chart, s, 1.0)?;
            chart.draw_series(
                self.highlights
                    .iter()
                    .map(|&h| Circle::new((h as f64, s.values[h]), 7, s.color.stroke_width(2))),
            )?;
        }
        Ok(())
    }
}
