//! Log-log line charts of the bench results, as PNG.

use std::path::Path;

use plotters::prelude::*;

/// Registers the charts' one font: plotters draws text only with a TrueType font it was given.
pub fn font() -> Result<(), String> {
    let path = std::env::var("COWHEAP_PLOT_FONT")
        .unwrap_or_else(|_| "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf".into());
    let bytes = std::fs::read(&path).map_err(|e| format!("font {path}: {e}"))?;
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| format!("font {path}: not a usable TrueType font"))
}

const COLORS: [RGBColor; 7] = [
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(127, 127, 127),
];

/// One log-log line chart: `series` of (x, y) points.
pub fn chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<(), Box<dyn std::error::Error>> {
    let points = series.iter().flat_map(|(_, p)| p.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return Err(format!("no data for {}", path.display()).into());
    }
    let root = BitMapBackend::new(path, (760, 440)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut c = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(
            (x0 * 0.8..x1 * 1.25).log_scale(),
            (y0 * 0.7..y1 * 1.4).log_scale(),
        )?;
    c.configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style(("sans-serif", 13))
        .draw()?;
    for (i, (name, pts)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        c.draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        c.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    c.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    root.present()?;
    Ok(())
}

/// One bar chart: a bar per `(label, value)`, on a log axis when the values span more than two
/// orders of magnitude (memory per design does: 40 bytes to 2.8 MB).
pub fn bars(
    path: &Path,
    title: &str,
    y_label: &str,
    values: &[(String, f64)],
) -> Result<(), Box<dyn std::error::Error>> {
    let positive = || values.iter().map(|v| v.1).filter(|&v| v > 0.0);
    let (lo, hi) = positive().fold((f64::MAX, 0.0f64), |(l, h), v| (l.min(v), h.max(v)));
    if hi == 0.0 {
        return Err(format!("no data for {}", path.display()).into());
    }
    let n = values.len();
    let root = BitMapBackend::new(path, (760, 440)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70);
    let label = |x: &f64| {
        let i = x.floor() as usize;
        if (x - i as f64 - 0.5).abs() < 0.01 {
            values.get(i).map(|v| v.0.clone()).unwrap_or_default()
        } else {
            String::new()
        }
    };
    let rects = values.iter().enumerate().map(|(i, &(_, v))| {
        let color = COLORS[i % COLORS.len()];
        (i as f64 + 0.15, i as f64 + 0.85, v, color)
    });
    // The two axes are different types in plotters: one body, typed for each.
    macro_rules! body {
        ($y:expr, $floor:expr) => {{
            let mut c = builder.build_cartesian_2d(0.0..n as f64, $y)?;
            c.configure_mesh()
                .disable_x_mesh()
                .x_labels(n * 2 + 1)
                .x_label_formatter(&label)
                .y_label_formatter(&|y| compact(*y))
                .y_desc(y_label)
                .label_style(("sans-serif", 13))
                .draw()?;
            c.draw_series(rects.map(|(x0, x1, v, color)| {
                Rectangle::new([(x0, $floor), (x1, v)], color.filled())
            }))?;
        }};
    }
    if hi / lo > 100.0 {
        body!((lo * 0.5..hi * 2.0).log_scale(), lo * 0.5)
    } else {
        body!(0.0..hi * 1.2, 0.0)
    }
    root.present()?;
    Ok(())
}

/// An axis label: 1.2k, 34M, 0.5.
fn compact(v: f64) -> String {
    match v.abs() {
        a if a >= 1e9 => format!("{}G", trim(v / 1e9)),
        a if a >= 1e6 => format!("{}M", trim(v / 1e6)),
        a if a >= 1e3 => format!("{}k", trim(v / 1e3)),
        _ => trim(v),
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
}
