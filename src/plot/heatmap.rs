//! The heatmap figure: a grid of matrix panels (e.g. expert co-activation,
//! base vs ACC) on one shared colour scale with a colour bar. Inputs are
//! validated by [`super::heatmap_figure`].

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::draw::{
    fit_text, fmt_number, grid_cells, grid_rows, style, tick_stride, Header, TickedAxis, DESC_SIZE,
    PANEL_MARGIN, PANEL_TITLE_SIZE, TEXT, TICK_SIZE,
};
use super::output::Figure;
use super::{HeatmapLabels, HeatmapPanel};

/// Width and height of one panel's cell.
const CELL: u32 = 560;
/// Width of the colour bar strip at the right of the figure.
const BAR_STRIP: u32 = 130;
/// Pixels left of / under each matrix for tick labels and the axis name.
const LABEL_AREA: u32 = 70;
/// Matrices up to this many rows and columns get their values written in.
const ANNOTATE_MAX: usize = 16;

/// Viridis (matplotlib), sampled at 9 evenly spaced points.
const VIRIDIS: [(u8, u8, u8); 9] = [
    (0x44, 0x01, 0x54),
    (0x47, 0x2d, 0x7b),
    (0x3b, 0x52, 0x8b),
    (0x2c, 0x72, 0x8e),
    (0x21, 0x91, 0x8c),
    (0x28, 0xae, 0x80),
    (0x5e, 0xc9, 0x62),
    (0xad, 0xdc, 0x30),
    (0xfd, 0xe7, 0x25),
];

/// The colour of `t` in [0, 1] on the viridis scale (linear between samples).
pub(super) fn viridis(t: f64) -> RGBColor {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let x = t * (VIRIDIS.len() - 1) as f64;
    let i = (x.floor() as usize).min(VIRIDIS.len() - 2);
    let f = x - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |p: u8, q: u8| (p as f64 + (q as f64 - p as f64) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Round tick values (multiples of 1, 2 or 5 × 10^k, 3 to 6 of them) that
/// lie in [lo, hi], so each label sits exactly at its value.
pub(super) fn nice_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = hi - lo;
    if !span.is_finite() || span <= 0.0 {
        return vec![lo];
    }
    let raw = span / 4.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= 5.0)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// Whether a cell of colour `c` is light enough for dark text (else white).
fn is_light(c: RGBColor) -> bool {
    0.299 * c.0 as f64 + 0.587 * c.1 as f64 + 0.114 * c.2 as f64 > 140.0
}

pub(super) struct HeatmapFigure<'a> {
    panels: &'a [HeatmapPanel],
    x_label: &'a str,
    y_label: &'a str,
    value_label: &'a str,
    /// The shared colour scale.
    lo: f64,
    hi: f64,
    ncols: usize,
    rows: usize,
    header: Header,
}

impl<'a> HeatmapFigure<'a> {
    pub(super) fn new(
        title: &str,
        labels: HeatmapLabels<'a>,
        panels: &'a [HeatmapPanel],
        ncols: usize,
    ) -> Self {
        let ncols = ncols.min(panels.len()).max(1);
        let HeatmapLabels {
            x: x_label,
            y: y_label,
            value: value_label,
        } = labels;
        let all = panels.iter().flat_map(|p| p.values.iter().copied());
        let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
        // Scales start at 0 for non-negative data; a constant matrix gets a unit span.
        let lo = lo.min(0.0);
        let hi = if hi > lo { hi } else { lo + 1.0 };
        let width = CELL * ncols as u32 + BAR_STRIP;
        HeatmapFigure {
            panels,
            x_label,
            y_label,
            value_label,
            lo,
            hi,
            ncols,
            rows: grid_rows(panels.len(), ncols),
            header: Header::new(title, Vec::new(), width),
        }
    }

    fn scale(&self, v: f64) -> f64 {
        (v - self.lo) / (self.hi - self.lo)
    }
}

impl Figure for HeatmapFigure<'_> {
    fn size(&self) -> (u32, u32) {
        (
            self.header.width,
            self.header.height() + CELL * self.rows as u32,
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<(), DB> {
        root.fill(&WHITE)?;
        let body = self.header.draw(root)?;
        let (grid, bar) = body.split_horizontally(CELL * self.ncols as u32);
        for (cell, panel) in grid_cells(&grid, self.rows, self.ncols)
            .iter()
            .zip(self.panels)
        {
            self.draw_panel(cell, panel)?;
        }
        self.draw_colour_bar(&bar)
    }
}

impl HeatmapFigure<'_> {
    fn draw_panel<DB: DrawingBackend>(
        &self,
        cell: &DrawingArea<DB, Shift>,
        p: &HeatmapPanel,
    ) -> DrawResult<(), DB> {
        let (nr, nc) = (p.row_labels.len(), p.col_labels.len());
        let (cell_w, _) = cell.dim_in_pixel();
        let (title, title_size) =
            fit_text(&p.title, cell_w.saturating_sub(24), PANEL_TITLE_SIZE, 12.0);
        let plot_w = cell_w.saturating_sub(LABEL_AREA + 2 * PANEL_MARGIN);
        let xs = tick_stride(nc, plot_w, |i| p.col_labels[i].clone());
        // Row labels stack vertically: a slot must be about one line high,
        // which is the width of two digits at the tick size.
        let ys = tick_stride(nr, plot_w, |_| "00".to_string());
        let ticks = |n: usize, stride: usize| (0..n).step_by(stride).map(|i| i as f64).collect();
        // Row 0 is drawn at the top: row i sits at y = nr - 1 - i.
        let mut chart = ChartBuilder::on(cell)
            .caption(title, style(title_size))
            .margin(PANEL_MARGIN)
            .x_label_area_size(LABEL_AREA)
            .y_label_area_size(LABEL_AREA)
            .build_cartesian_2d(
                TickedAxis::new(-0.5..nc as f64 - 0.5, ticks(nc, xs)),
                TickedAxis::new(-0.5..nr as f64 - 0.5, ticks(nr, ys)),
            )?;
        let x_fmt = |x: &f64| {
            let i = x.round() as usize;
            p.col_labels.get(i).cloned().unwrap_or_default()
        };
        let y_fmt = |y: &f64| {
            let i = nr as f64 - 1.0 - y.round();
            if i >= 0.0 {
                p.row_labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .x_desc(self.x_label)
            .y_desc(self.y_label)
            .label_style(style(TICK_SIZE))
            .axis_desc_style(style(DESC_SIZE))
            .draw()?;
        let at = |r: usize, c: usize| p.values[r * nc + c];
        chart.draw_series((0..nr).flat_map(|r| {
            (0..nc).map(move |c| {
                let y = (nr - 1 - r) as f64;
                Rectangle::new(
                    [(c as f64 - 0.5, y - 0.5), (c as f64 + 0.5, y + 0.5)],
                    viridis(self.scale(at(r, c))).filled(),
                )
            })
        }))?;
        if nr <= ANNOTATE_MAX && nc <= ANNOTATE_MAX {
            let span = self.hi - self.lo;
            let size = (plot_w as f64 / nc as f64 / 4.2).clamp(9.0, 15.0);
            let centred = Pos::new(HPos::Center, VPos::Center);
            let dark = style(size).color(&TEXT).pos(centred);
            let light = style(size).color(&WHITE).pos(centred);
            chart.draw_series((0..nr).flat_map(|r| {
                let (dark, light) = (dark.clone(), light.clone());
                (0..nc).map(move |c| {
                    let v = at(r, c);
                    let s = if is_light(viridis(self.scale(v))) {
                        dark.clone()
                    } else {
                        light.clone()
                    };
                    Text::new(fmt_number(v, span), (c as f64, (nr - 1 - r) as f64), s)
                })
            }))?;
        }
        Ok(())
    }

    fn draw_colour_bar<DB: DrawingBackend>(
        &self,
        strip: &DrawingArea<DB, Shift>,
    ) -> DrawResult<(), DB> {
        let (_, h) = strip.dim_in_pixel();
        let (x0, w) = (16i32, 22i32);
        let (top, bottom) = (48i32, (h as i32 - LABEL_AREA as i32 - 10).max(80));
        let steps = 100;
        for k in 0..steps {
            let t0 = k as f64 / steps as f64;
            let y = |t: f64| bottom - ((bottom - top) as f64 * t).round() as i32;
            strip.draw(&Rectangle::new(
                [(x0, y(t0 + 1.0 / steps as f64)), (x0 + w, y(t0))],
                viridis(t0 + 0.5 / steps as f64).filled(),
            ))?;
        }
        strip.draw(&Rectangle::new(
            [(x0, top), (x0 + w, bottom)],
            TEXT.stroke_width(1),
        ))?;
        let span = self.hi - self.lo;
        for v in nice_ticks(self.lo, self.hi) {
            let y = bottom - ((bottom - top) as f64 * self.scale(v)).round() as i32;
            strip.draw(&PathElement::new(
                vec![(x0 + w, y), (x0 + w + 5, y)],
                TEXT.stroke_width(1),
            ))?;
            strip.draw_text(
                &fmt_number(v, span),
                &style(TICK_SIZE).pos(Pos::new(HPos::Left, VPos::Center)),
                (x0 + w + 8, y),
            )?;
        }
        let (label, size) = fit_text(self.value_label, (bottom - top) as u32, DESC_SIZE, 11.0);
        strip.draw_text(
            &label,
            &style(size)
                .transform(FontTransform::Rotate90)
                .pos(Pos::new(HPos::Center, VPos::Center)),
            (x0 + w + 80, (top + bottom) / 2),
        )?;
        Ok(())
    }
}
