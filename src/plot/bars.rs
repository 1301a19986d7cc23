//! Bar and histogram figures (grouped bars with CI whiskers; step
//! histograms), drawn with the shared pieces of [`super::draw`].

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::draw::{
    fit_text, fmt_number, grid_cells, grid_rows, grid_width, plot_width, series_legend, style,
    text_width, y_range, y_top, Header, LegendItem, Swatch, TickedAxis, DESC_SIZE, FIG_W,
    GRID_BOLD, GRID_LIGHT, PANEL_H, PANEL_MARGIN, PANEL_MARGIN_RIGHT, PANEL_TITLE_SIZE, SINGLE_H,
    TICK_SIZE, WHISKER, X_AREA, Y_AREA,
};
use super::output::Figure;
use super::{BarPanel, HistSeries};

pub(super) struct BarFigure<'a> {
    panels: &'a [BarPanel],
    ncols: usize,
    rows: usize,
    header: Header,
}

impl<'a> BarFigure<'a> {
    pub(super) fn new(title: &str, panels: &'a [BarPanel], ncols: usize) -> Self {
        let ncols = ncols.min(panels.len()).max(1);
        let items = series_legend(
            panels.iter().flat_map(|p| &p.series),
            Swatch::Patch,
            (Swatch::Whisker, "whiskers: 95% CI"),
        );
        BarFigure {
            panels,
            ncols,
            rows: grid_rows(panels.len(), ncols),
            header: Header::new(title, items, grid_width(ncols)),
        }
    }
}

impl Figure for BarFigure<'_> {
    fn size(&self) -> (u32, u32) {
        (
            self.header.width,
            self.header.height() + PANEL_H * self.rows as u32,
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<(), DB> {
        root.fill(&WHITE)?;
        let body = self.header.draw(root)?;
        let cells = grid_cells(&body, self.rows, self.ncols);
        let x_area = cells
            .iter()
            .zip(self.panels)
            .map(|(cell, panel)| bar_labels(panel, cell.dim_in_pixel().0).2)
            .max()
            .unwrap_or(X_AREA);
        for (cell, panel) in cells.iter().zip(self.panels) {
            draw_bar_panel(cell, panel, x_area)?;
        }
        Ok(())
    }
}

/// Longest category label, in pixels, before it is shortened.
const MAX_CATEGORY_W: u32 = 120;

/// A bar panel's category labels (shortened to [`MAX_CATEGORY_W`]), whether
/// they must be rotated to fit under their bars in a cell `cell_w` wide, and
/// the height they need under the plot.
fn bar_labels(p: &BarPanel, cell_w: u32) -> (Vec<String>, bool, u32) {
    let labels: Vec<String> = p
        .categories
        .iter()
        .map(|c| fit_text(c, MAX_CATEGORY_W, TICK_SIZE, TICK_SIZE).0)
        .collect();
    let widest = labels
        .iter()
        .map(|l| text_width(l, TICK_SIZE))
        .max()
        .unwrap_or(0);
    let slot = plot_width(cell_w) as f64 / labels.len() as f64;
    let rotate = widest as f64 + 8.0 > slot;
    // Rotated labels need room for their length; upright ones for one line.
    let x_area = if rotate { widest + 16 } else { X_AREA };
    (labels, rotate, x_area)
}

/// Draws one bar panel; `x_area` (shared by the figure's panels, so that
/// their x axes line up) is the height under the plot for category labels.
fn draw_bar_panel<DB: DrawingBackend>(
    cell: &DrawingArea<DB, Shift>,
    p: &BarPanel,
    x_area: u32,
) -> DrawResult<(), DB> {
    let n = p.categories.len();
    let (cell_w, _) = cell.dim_in_pixel();
    let (labels, rotate, _) = bar_labels(p, cell_w);
    let (ylo, yhi) = y_range(&p.series, 1.0);
    let (title, title_size) = fit_text(&p.title, cell_w.saturating_sub(24), PANEL_TITLE_SIZE, 12.0);

    let mut chart = ChartBuilder::on(cell)
        .caption(title, style(title_size))
        .margin(PANEL_MARGIN)
        .margin_right(PANEL_MARGIN_RIGHT)
        .x_label_area_size(x_area)
        .y_label_area_size(Y_AREA)
        .build_cartesian_2d(
            TickedAxis::new(-0.5..n as f64 - 0.5, (0..n).map(|i| i as f64).collect()),
            ylo..yhi,
        )?;
    let x_fmt = |x: &f64| {
        let i = x.round();
        if !rotate && i >= 0.0 && (i as usize) < n {
            labels[i as usize].clone()
        } else {
            String::new()
        }
    };
    let span = yhi - ylo;
    let y_fmt = |y: &f64| fmt_number(*y, span);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .y_labels(6)
        .y_desc(p.y_label.as_str())
        .label_style(style(TICK_SIZE))
        .axis_desc_style(style(DESC_SIZE))
        .bold_line_style(GRID_BOLD)
        .light_line_style(GRID_LIGHT)
        .max_light_lines(2)
        .draw()?;

    let group = 0.8;
    let bar_w = group / p.series.len() as f64;
    let gap = bar_w * 0.08;
    for (k, s) in p.series.iter().enumerate() {
        let x0 = |i: usize| i as f64 - group / 2.0 + k as f64 * bar_w;
        chart.draw_series(s.values.iter().enumerate().map(|(i, &v)| {
            Rectangle::new(
                [(x0(i) + gap, 0.0), (x0(i) + bar_w - gap, v)],
                s.color.filled(),
            )
        }))?;
        if let Some(b) = &s.band {
            let whisker = WHISKER.stroke_width(1);
            for i in 0..n {
                let xc = x0(i) + bar_w / 2.0;
                let cap = bar_w * 0.25;
                chart.draw_series([
                    PathElement::new(vec![(xc, b.lo[i]), (xc, b.hi[i])], whisker),
                    PathElement::new(vec![(xc - cap, b.lo[i]), (xc + cap, b.lo[i])], whisker),
                    PathElement::new(vec![(xc - cap, b.hi[i]), (xc + cap, b.hi[i])], whisker),
                ])?;
            }
        }
    }
    if rotate {
        // Read bottom-up, ending just under the tick (as matplotlib's
        // rotation=90, ha="right").
        let label_style = style(TICK_SIZE)
            .transform(FontTransform::Rotate270)
            .pos(Pos::new(HPos::Right, VPos::Center));
        chart.draw_series(labels.iter().enumerate().map(|(i, l)| {
            EmptyElement::at((i as f64, ylo)) + Text::new(l.clone(), (0, 8), label_style.clone())
        }))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Histogram figure

pub(super) struct HistFigure<'a> {
    x_label: &'a str,
    edges: &'a [f64],
    series: &'a [HistSeries],
    header: Header,
}

impl<'a> HistFigure<'a> {
    pub(super) fn new(
        title: &str,
        x_label: &'a str,
        edges: &'a [f64],
        series: &'a [HistSeries],
    ) -> Self {
        let items = series
            .iter()
            .map(|s| LegendItem {
                label: s.label.clone(),
                swatch: Swatch::Step(s.color),
            })
            .collect();
        HistFigure {
            x_label,
            edges,
            series,
            header: Header::new(title, items, FIG_W),
        }
    }
}

impl Figure for HistFigure<'_> {
    fn size(&self) -> (u32, u32) {
        (FIG_W, self.header.height() + SINGLE_H)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<(), DB> {
        root.fill(&WHITE)?;
        let body = self.header.draw(root)?;
        let (x0, x1) = (self.edges[0], self.edges[self.edges.len() - 1]);
        let top = self
            .series
            .iter()
            .flat_map(|s| s.counts.iter().copied())
            .fold(0.0f64, f64::max);
        let yhi = y_top(top);
        let mut chart = ChartBuilder::on(&body)
            .margin(PANEL_MARGIN)
            .margin_right(PANEL_MARGIN_RIGHT + 10)
            .x_label_area_size(X_AREA + 26)
            .y_label_area_size(Y_AREA)
            .build_cartesian_2d(x0..x1, 0.0..yhi)?;
        let x_span = x1 - x0;
        let x_fmt = |x: &f64| fmt_number(*x, x_span);
        let y_fmt = |y: &f64| fmt_number(*y, yhi);
        chart
            .configure_mesh()
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .x_labels(10)
            .y_labels(6)
            .x_desc(self.x_label)
            .y_desc("count")
            .label_style(style(TICK_SIZE))
            .axis_desc_style(style(DESC_SIZE))
            .bold_line_style(GRID_BOLD)
            .light_line_style(GRID_LIGHT)
            .max_light_lines(2)
            .draw()?;
        for s in self.series {
            let steps = s
                .counts
                .iter()
                .enumerate()
                .flat_map(|(i, &c)| [(self.edges[i], c), (self.edges[i + 1], c)]);
            chart.draw_series(
                AreaSeries::new(steps, 0.0, s.color.mix(0.3).filled())
                    .border_style(s.color.stroke_width(2)),
            )?;
        }
        Ok(())
    }
}
