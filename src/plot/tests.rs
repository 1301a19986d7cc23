use std::path::{Path, PathBuf};

use super::*;

/// Half-octave lower edges 0, 1, 2, 3, 4, 6, 8, 12, …, 49152, 65536.
fn half_octave_edges() -> Vec<u32> {
    let mut e = vec![0, 1];
    for k in 1..=16u32 {
        e.push(1 << k);
        if k < 16 {
            e.push(3 << (k - 1));
        }
    }
    e.sort_unstable();
    e
}

/// Fake attention mass per bin: a local peak plus a long tail, zero beyond
/// `context` tokens, normalised to sum to 1.
fn fake_mass(edges: &[u32], context: u32, local: f64, tail: f64) -> Vec<f64> {
    let raw: Vec<f64> = edges
        .iter()
        .enumerate()
        .map(|(i, &e)| {
            if e >= context {
                0.0
            } else {
                let x = i as f64;
                local * (-(x - 2.0).powi(2) / 6.0).exp() + tail * (1.0 + 0.04 * x)
            }
        })
        .collect();
    let total: f64 = raw.iter().sum();
    raw.iter().map(|v| v / total).collect()
}

fn with_ci(s: Series, rel: f64) -> Series {
    let lo = s.values.iter().map(|v| v * (1.0 - rel)).collect();
    let hi = s.values.iter().map(|v| v * (1.0 + rel)).collect();
    s.with_band(lo, hi)
}

fn distance_panels() -> Vec<DistancePanel> {
    let edges = half_octave_edges();
    [
        ("graphwalks · layer 20 · JS 0.012 [0.008, 0.019]", 0.0),
        ("sql · layer 20 · JS 0.031 [0.022, 0.040]", 0.5),
        ("code · layer 12 · JS 0.004 [0.002, 0.007]", 1.0),
    ]
    .iter()
    .map(|&(title, shift)| DistancePanel {
        title: title.to_string(),
        bin_lower_edges: edges.clone(),
        series: vec![
            with_ci(
                Series::new("base", BASE_COLOR, fake_mass(&edges, 32768, 1.0, 0.05)),
                0.12,
            ),
            with_ci(
                Series::new(
                    "ACC",
                    ACC_COLOR,
                    fake_mass(&edges, 32768, 0.7, 0.07 + 0.01 * shift),
                ),
                0.12,
            ),
        ],
    })
    .collect()
}

fn layer_curve(layers: usize) -> LayerCurve {
    let js: Vec<f64> = (0..layers)
        .map(|l| 0.004 + 0.02 * (-((l as f64 - 17.0).powi(2)) / 20.0).exp() + 0.0005 * l as f64)
        .collect();
    let lo = js.iter().map(|v| v * 0.7).collect();
    let hi = js.iter().map(|v| v * 1.3).collect();
    LayerCurve {
        title: "JS divergence of attention-distance distributions, base → ACC".to_string(),
        y_label: "JS divergence (bits)".to_string(),
        series: vec![Series::new("graphwalks", ACC_COLOR, js).with_band(lo, hi)],
        silent_layers: vec![],
    }
}

fn bar_panels() -> Vec<BarPanel> {
    let categories: Vec<String> = (0..20).map(|i| format!("L20·E{}", 7 * i + 3)).collect();
    let base: Vec<f64> = (0..20).map(|i| 6.0 / (1.0 + i as f64 * 0.3)).collect();
    let acc: Vec<f64> = base
        .iter()
        .enumerate()
        .map(|(i, v)| v * (0.8 + 0.02 * i as f64))
        .collect();
    vec![
        BarPanel {
            title: "graphwalks · layer 20".to_string(),
            categories: categories.clone(),
            y_label: "routing frequency (%)".to_string(),
            series: vec![
                with_ci(Series::new("base", BASE_COLOR, base.clone()), 0.1),
                Series::new("ACC", ACC_COLOR, acc.clone()),
            ],
        },
        BarPanel {
            title: "sql · layer 20".to_string(),
            categories: (0..4).map(|i| format!("E{i}")).collect(),
            y_label: "routing frequency (%)".to_string(),
            series: vec![
                Series::new("base", BASE_COLOR, base[..4].to_vec()),
                Series::new("ACC", ACC_COLOR, acc[..4].to_vec()),
            ],
        },
    ]
}

fn hist_input() -> (Vec<f64>, Vec<HistSeries>) {
    let edges: Vec<f64> = (0..=16).map(|i| i as f64 * 4096.0).collect();
    let series = ["graphwalks", "sql", "code"]
        .iter()
        .enumerate()
        .map(|(k, name)| HistSeries {
            label: name.to_string(),
            color: PALETTE[k],
            counts: (0..16)
                .map(|i| {
                    let x = i as f64 - 4.0 - 3.0 * k as f64;
                    (120.0 * (-x * x / 8.0).exp()).round()
                })
                .collect(),
        })
        .collect();
    (edges, series)
}

/// Width and height from a PNG's signature and IHDR chunk.
fn png_dims(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap();
    assert!(b.len() > 24, "{} is too short for a PNG", path.display());
    assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&b[12..16], b"IHDR", "first chunk is IHDR");
    let be = |s: &[u8]| u32::from_be_bytes([s[0], s[1], s[2], s[3]]);
    (be(&b[16..20]), be(&b[20..24]))
}

/// The contents of every `<text>` element of an SVG file.
fn svg_texts(path: &Path) -> Vec<String> {
    let s = std::fs::read_to_string(path).unwrap();
    assert!(s.contains("<svg"), "{} is not an SVG", path.display());
    s.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..];
            Some(body[..body.find("</text>")?].trim().to_string())
        })
        .collect()
}

fn assert_texts(path: &Path, expected: &[&str]) {
    let texts = svg_texts(path);
    for text in expected {
        assert!(
            texts.iter().any(|t| t == text),
            "SVG lacks text {text:?}; has {texts:?}"
        );
    }
}

/// The files in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn outputs(dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{stem}.png")),
        dir.join(format!("{stem}.svg")),
    )
}

#[test]
fn trim_empty_tail_drops_trailing_empty_bins() {
    let edges = vec![0, 1, 2, 3, 4, 6];
    let panel = DistancePanel {
        title: "t".to_string(),
        bin_lower_edges: edges,
        series: vec![
            Series::new("base", BASE_COLOR, vec![0.5, 0.3, 0.2, 0.0, 0.0, 0.0]),
            Series::new("ACC", ACC_COLOR, vec![0.4, 0.0, 0.3, 0.3, 0.0, 0.0]),
        ],
    };
    let t = trim_empty_tail(&panel);
    assert_eq!(t.bin_lower_edges, vec![0, 1, 2, 3]);
    assert_eq!(t.series[0].values, vec![0.5, 0.3, 0.2, 0.0]);
    assert_eq!(t.series[1].values, vec![0.4, 0.0, 0.3, 0.3]);
    assert_eq!(t.title, "t");

    // A bin whose only mass is in a CI band's upper bound is kept.
    let banded = DistancePanel {
        series: vec![
            Series::new("base", BASE_COLOR, vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0]).with_band(
                vec![0.9, 0.0, 0.0, 0.0, 0.0, 0.0],
                vec![1.0, 0.0, 0.0, 0.0, 0.01, 0.0],
            ),
        ],
        ..panel.clone()
    };
    let t = trim_empty_tail(&banded);
    assert_eq!(t.bin_lower_edges.len(), 5);
    let b = t.series[0].band.as_ref().unwrap();
    assert_eq!((b.lo.len(), b.hi.len()), (5, 5));

    // Nothing to trim, and an all-empty panel keeps one bin.
    let full = DistancePanel {
        series: vec![Series::new("base", BASE_COLOR, vec![0.1; 6])],
        ..panel.clone()
    };
    assert_eq!(trim_empty_tail(&full), full);
    let empty = DistancePanel {
        series: vec![Series::new("base", BASE_COLOR, vec![0.0; 6])],
        ..panel
    };
    assert_eq!(trim_empty_tail(&empty).bin_lower_edges, vec![0]);
}

#[test]
fn token_tick_labels_are_compact() {
    let labels: Vec<String> = [0, 1, 3, 768, 1024, 1536, 49152, 65536, 1000]
        .iter()
        .map(|&t| draw::fmt_tokens(t))
        .collect();
    assert_eq!(
        labels,
        ["0", "1", "3", "768", "1k", "1.5k", "48k", "64k", "1000"]
    );
}

#[test]
fn distance_figure_renders_png_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let (png, svg) = outputs(dir.path(), "distance");
    let panels = distance_panels();
    distance_figure("Attention distance, base vs ACC", &panels, 3, &png, &svg).unwrap();
    let (w, h) = png_dims(&png);
    assert_eq!(w, 1200);
    assert!((400..=600).contains(&h), "height {h}");
    assert_texts(
        &svg,
        &[
            "Attention distance, base vs ACC",
            "graphwalks · layer 20 · JS 0.012 [0.008, 0.019]",
            DISTANCE_X_LABEL,
            DISTANCE_Y_LABEL,
            "base",
            "ACC",
            "shaded: 95% CI",
            "16k",
        ],
    );
    // Bins from 32k on are empty in every panel and are trimmed; the tick
    // labels are every 4th edge (powers of 4), so 3 and 12 are not shown.
    let texts = svg_texts(&svg);
    for hidden in ["32k", "64k", "3", "12"] {
        assert!(!texts.iter().any(|t| t == hidden), "tick {hidden:?} shown");
    }
    // Only the two outputs: no temporary file is left.
    assert_eq!(listing(dir.path()), ["distance.png", "distance.svg"]);

    // Two rows of panels double the grid height.
    let (png2, svg2) = outputs(dir.path(), "distance2");
    distance_figure("two rows", &panels[..2], 1, &png2, &svg2).unwrap();
    let (w2, h2) = png_dims(&png2);
    assert_eq!(w2, 1200);
    assert!(h2 >= h + 350, "height {h2} for two rows vs {h} for one");
}

#[test]
fn layer_curve_figure_renders_png_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let (png, svg) = outputs(dir.path().join("nested").as_path(), "layers");
    let mut c = layer_curve(24);
    c.series.push(Series::new(
        "sql",
        BASE_COLOR,
        c.series[0].values.iter().map(|v| v * 0.5).collect(),
    ));
    c.silent_layers = vec![1, 2, 3];
    layer_curve_figure(&c, &[12, 20], &png, &svg).unwrap();
    assert_eq!(png_dims(&png).0, 1200);
    assert_texts(
        &svg,
        &[
            c.title.as_str(),
            "JS divergence (bits)",
            "layer",
            "graphwalks",
            "sql",
            "highlighted layers",
            "grey: writes nothing to the residual stream",
            "shaded: 95% CI",
            "0",
            "23",
        ],
    );
}

#[test]
fn bar_figure_renders_png_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let (png, svg) = outputs(dir.path(), "bars");
    bar_figure("Top-20 experts", &bar_panels(), 2, &png, &svg).unwrap();
    let (w, h) = png_dims(&png);
    assert_eq!(w, 1200);
    assert!((400..=600).contains(&h), "height {h}");
    assert_texts(
        &svg,
        &[
            "Top-20 experts",
            "graphwalks · layer 20",
            "routing frequency (%)",
            "L20·E3",
            "L20·E136",
            "E2",
            "base",
            "ACC",
            "whiskers: 95% CI",
        ],
    );
    // The 20 crowded labels are rotated, the 4 roomy ones are not.
    let s = std::fs::read_to_string(&svg).unwrap();
    assert_eq!(
        s.matches("rotate(270").count(),
        20 + 2,
        "20 labels + 2 y descriptions"
    );
}

#[test]
fn histogram_figure_renders_png_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let (png, svg) = outputs(dir.path(), "hist");
    let (edges, series) = hist_input();
    histogram_figure(
        "Compiled context lengths",
        "context length (tokens)",
        &edges,
        &series,
        &png,
        &svg,
    )
    .unwrap();
    assert_eq!(png_dims(&png).0, 1200);
    assert_texts(
        &svg,
        &[
            "Compiled context lengths",
            "context length (tokens)",
            "count",
            "graphwalks",
            "sql",
            "code",
            "20k",
        ],
    );
}

const COACT_LABELS: HeatmapLabels<'static> = HeatmapLabels {
    x: "expert j",
    y: "expert i",
    value: "CoAct(i, j) = N_ij / N_i",
};

fn heatmap_panels(e: usize) -> Vec<HeatmapPanel> {
    let labels: Vec<String> = (0..e).map(|i| format!("E{i}")).collect();
    ["base", "ACC"]
        .iter()
        .enumerate()
        .map(|(m, name)| HeatmapPanel {
            title: format!("mrcr · layer 20 · {name}"),
            row_labels: labels.clone(),
            col_labels: labels.clone(),
            values: (0..e * e)
                .map(|k| {
                    let (i, j) = (k / e, k % e);
                    if i == j {
                        0.0
                    } else {
                        ((i * 7 + j * 3 + m) % 10) as f64 / 10.0
                    }
                })
                .collect(),
        })
        .collect()
}

#[test]
fn heatmap_figure_renders_png_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let (png, svg) = outputs(dir.path(), "heat");
    heatmap_figure(
        "Expert co-activation",
        COACT_LABELS,
        &heatmap_panels(8),
        2,
        &png,
        &svg,
    )
    .unwrap();
    let (w, h) = png_dims(&png);
    assert_eq!(w, 2 * 560 + 130);
    assert!(h > 560, "height {h}");
    assert_texts(
        &svg,
        &[
            "Expert co-activation",
            "mrcr · layer 20 · base",
            "mrcr · layer 20 · ACC",
            "expert j",
            "expert i",
            "CoAct(i, j) = N_ij / N_i",
            "E0",
            "E7",
            "0.9",
        ],
    );
    // 128 experts: no values written in, labels thinned
    let (png, svg) = outputs(dir.path(), "heat128");
    heatmap_figure(
        "big",
        COACT_LABELS,
        &heatmap_panels(128)[..1],
        1,
        &png,
        &svg,
    )
    .unwrap();
    let texts = svg_texts(&svg);
    assert!(
        texts.len() < 100,
        "values written into a 128 × 128 map: {} texts",
        texts.len()
    );
    assert!(texts.iter().any(|t| t == "E0") && !texts.iter().any(|t| t == "E1"));
}

#[test]
fn heatmap_colour_bar_ticks_are_round_values_in_range() {
    use super::heatmap::nice_ticks;
    let close = |a: &[f64], b: &[f64]| {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12)
    };
    assert!(close(&nice_ticks(0.0, 0.9), &[0.0, 0.2, 0.4, 0.6, 0.8]));
    assert!(close(
        &nice_ticks(0.0, 1.0),
        &[0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    ));
    assert!(close(&nice_ticks(0.0, 37.0), &[0.0, 10.0, 20.0, 30.0]));
    assert_eq!(nice_ticks(1.0, 1.0), vec![1.0]);
}

#[test]
fn heatmap_colours_follow_viridis_ends() {
    use super::heatmap::viridis;
    assert_eq!(viridis(0.0), RGBColor(0x44, 0x01, 0x54));
    assert_eq!(viridis(1.0), RGBColor(0xfd, 0xe7, 0x25));
    assert_eq!(viridis(f64::NAN), viridis(0.0));
    assert_eq!(viridis(2.0), viridis(1.0));
}

#[test]
fn inconsistent_heatmaps_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (png, svg) = outputs(dir.path(), "bad");
    let mut p = heatmap_panels(4);
    p[1].values.pop();
    assert_input_error(
        heatmap_figure("t", COACT_LABELS, &p, 2, &png, &svg),
        "15 values, expected 4 × 4 = 16",
    );
    let mut p = heatmap_panels(4);
    p[0].values[3] = f64::INFINITY;
    assert_input_error(
        heatmap_figure("t", COACT_LABELS, &p, 2, &png, &svg),
        "non-finite",
    );
    let mut p = heatmap_panels(4);
    p[0].row_labels.clear();
    assert_input_error(
        heatmap_figure("t", COACT_LABELS, &p, 2, &png, &svg),
        "0 row and 4 column labels",
    );
    assert!(!png.exists() && !svg.exists());
}

fn assert_input_error(r: Result<()>, needle: &str) {
    match r {
        Err(Error::Input(m)) => assert!(m.contains(needle), "message {m:?} lacks {needle:?}"),
        other => panic!("expected Error::Input containing {needle:?}, got {other:?}"),
    }
}

#[test]
fn inconsistent_inputs_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (png, svg) = outputs(dir.path(), "bad");

    // Distance: a series shorter than the bins; a band of the wrong length;
    // edges that do not increase; no panels; ncols 0.
    let mut p = distance_panels();
    p[1].series[0].values.pop();
    assert_input_error(
        distance_figure("t", &p, 3, &png, &svg),
        "has 32 values, expected 33",
    );
    let mut p = distance_panels();
    p[0].series[1].band.as_mut().unwrap().hi.push(0.0);
    assert_input_error(distance_figure("t", &p, 3, &png, &svg), "upper CI bounds");
    let mut p = distance_panels();
    p[0].bin_lower_edges.swap(3, 4);
    assert_input_error(distance_figure("t", &p, 3, &png, &svg), "increase strictly");
    assert_input_error(distance_figure("t", &[], 3, &png, &svg), "no panels");
    assert_input_error(
        distance_figure("t", &distance_panels(), 0, &png, &svg),
        "ncols",
    );

    // Layer curve: series of different lengths; highlighted layer out of range.
    let mut c = layer_curve(24);
    c.series
        .push(Series::new("short", BASE_COLOR, vec![0.1; 23]));
    assert_input_error(
        layer_curve_figure(&c, &[], &png, &svg),
        "has 23 values, expected 24",
    );
    assert_input_error(
        layer_curve_figure(&layer_curve(24), &[24], &png, &svg),
        "highlighted layer 24",
    );

    // Bars: values vs categories; histogram: counts vs edges, edges order.
    let mut b = bar_panels();
    b[0].categories.pop();
    assert_input_error(bar_figure("t", &b, 2, &png, &svg), "expected 19");
    let (edges, mut series) = hist_input();
    series[2].counts.pop();
    assert_input_error(
        histogram_figure("t", "x", &edges, &series, &png, &svg),
        "expected 16",
    );
    let (mut edges, series) = hist_input();
    edges[5] = edges[4];
    assert_input_error(
        histogram_figure("t", "x", &edges, &series, &png, &svg),
        "increase strictly",
    );

    // The same path for both outputs.
    assert_input_error(
        histogram_figure("t", "x", &hist_input().0, &hist_input().1, &png, &png),
        "same file",
    );
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
}

#[test]
fn empty_and_non_finite_inputs_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (png, svg) = outputs(dir.path(), "bad");

    let mut p = distance_panels();
    p[2].series.clear();
    assert_input_error(distance_figure("t", &p, 3, &png, &svg), "no series");
    let mut p = distance_panels();
    p[0].series[0].values[4] = f64::NAN;
    assert_input_error(
        distance_figure("t", &p, 3, &png, &svg),
        "non-finite value (NaN) at index 4",
    );
    let mut p = distance_panels();
    p[0].series[0].band.as_mut().unwrap().lo[2] = f64::NEG_INFINITY;
    assert_input_error(distance_figure("t", &p, 3, &png, &svg), "non-finite");
    let mut p = distance_panels();
    p[0].series[0].band.as_mut().unwrap().lo[2] = 1.0;
    assert_input_error(distance_figure("t", &p, 3, &png, &svg), "above upper bound");

    let empty = LayerCurve {
        series: vec![],
        ..layer_curve(4)
    };
    assert_input_error(layer_curve_figure(&empty, &[], &png, &svg), "no series");
    let mut c = layer_curve(4);
    c.series[0].values = vec![];
    c.series[0].band = None;
    assert_input_error(layer_curve_figure(&c, &[], &png, &svg), "no values");
    let mut c = layer_curve(4);
    c.series[0].values[1] = f64::INFINITY;
    assert_input_error(layer_curve_figure(&c, &[], &png, &svg), "non-finite");
    let mut c = layer_curve(4);
    c.silent_layers = vec![4];
    assert_input_error(
        layer_curve_figure(&c, &[], &png, &svg),
        "silent layer 4 is out of range",
    );

    let mut b = bar_panels();
    b[1].series.clear();
    assert_input_error(bar_figure("t", &b, 2, &png, &svg), "no series");
    let mut b = bar_panels();
    b[0].categories.clear();
    assert_input_error(bar_figure("t", &b, 2, &png, &svg), "no categories");

    let (edges, mut series) = hist_input();
    series[0].counts[0] = f64::NAN;
    assert_input_error(
        histogram_figure("t", "x", &edges, &series, &png, &svg),
        "non-finite",
    );
    let (edges, mut series) = hist_input();
    series[0].counts[0] = -1.0;
    assert_input_error(
        histogram_figure("t", "x", &edges, &series, &png, &svg),
        "negative count",
    );
    let (edges, _) = hist_input();
    assert_input_error(
        histogram_figure("t", "x", &edges, &[], &png, &svg),
        "no series",
    );
    assert_input_error(
        histogram_figure("t", "x", &[1.0], &hist_input().1, &png, &svg),
        "at least 2",
    );
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
}

#[test]
fn failed_png_write_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    // The PNG destination is a non-empty directory, so the final rename fails
    // after both files were rendered.
    let png = dir.path().join("fig.png");
    std::fs::create_dir(&png).unwrap();
    std::fs::write(png.join("keep"), b"x").unwrap();
    let svg = dir.path().join("fig.svg");
    let err = layer_curve_figure(&layer_curve(8), &[3], &png, &svg).unwrap_err();
    assert!(
        err.to_string().contains("fig.png"),
        "error does not name the file: {err}"
    );
    assert_eq!(listing(dir.path()), ["fig.png"]);
    assert_eq!(listing(&png), ["keep"]);
}

#[test]
fn failed_svg_write_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("fig.png");
    let svg = dir.path().join("fig.svg");
    std::fs::create_dir(&svg).unwrap();
    std::fs::write(svg.join("keep"), b"x").unwrap();
    let err = bar_figure("t", &bar_panels(), 2, &png, &svg).unwrap_err();
    assert!(
        err.to_string().contains("fig.svg"),
        "error does not name the file: {err}"
    );
    assert_eq!(listing(dir.path()), ["fig.svg"]);
    assert_eq!(listing(&svg), ["keep"]);
}

/// Writes preview figures for a person to look at:
/// `cargo test --lib plot::tests::write_previews -- --ignored`
/// (into $PLOT_PREVIEW_DIR, default /tmp/plot-preview).
#[test]
#[ignore = "writes preview images outside the test's temp dir"]
fn write_previews() {
    let dir = PathBuf::from(
        std::env::var("PLOT_PREVIEW_DIR").unwrap_or_else(|_| "/tmp/plot-preview".to_string()),
    );
    let (png, svg) = outputs(&dir, "distance");
    distance_figure(
        "Attention mass by query–key distance, base vs ACC",
        &distance_panels(),
        3,
        &png,
        &svg,
    )
    .unwrap();
    let (png, svg) = outputs(&dir, "layer_curve");
    layer_curve_figure(&layer_curve(24), &[17, 20], &png, &svg).unwrap();
    let (png, svg) = outputs(&dir, "layer_curve_48");
    let mut c48 = layer_curve(48);
    c48.series.push(Series::new(
        "sql",
        BASE_COLOR,
        c48.series[0].values.iter().map(|v| v * 0.6).collect(),
    ));
    layer_curve_figure(&c48, &[20], &png, &svg).unwrap();
    let (png, svg) = outputs(&dir, "distance_2x2");
    let mut four = distance_panels();
    four.push(four[0].clone());
    distance_figure("Four panels, two per row", &four, 2, &png, &svg).unwrap();
    let (png, svg) = outputs(&dir, "bars");
    bar_figure(
        "Top-20 experts by routing frequency",
        &bar_panels(),
        2,
        &png,
        &svg,
    )
    .unwrap();
    let (png, svg) = outputs(&dir, "heatmap");
    heatmap_figure(
        "Expert co-activation, base vs ACC",
        COACT_LABELS,
        &heatmap_panels(8),
        2,
        &png,
        &svg,
    )
    .unwrap();
    let (png, svg) = outputs(&dir, "histogram");
    let (edges, series) = hist_input();
    histogram_figure(
        "Compiled context lengths per domain",
        "context length (tokens)",
        &edges,
        &series,
        &png,
        &svg,
    )
    .unwrap();
}
