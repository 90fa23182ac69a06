//! The price of sharing as a picture: for each expression of the interpreter bench's bars
//! (`squeak/benches/bars`), three bars: cowheap over its shared heap, cowheap over a plain
//! heap, and the real Squeak VM, in M bytecodes per CPU-second.

use std::path::Path;

use plotters::prelude::*;

const SIDES: [(&str, &str, RGBColor); 3] = [
    ("shared", "cowheap, shared heap", RGBColor(214, 39, 40)),
    ("plain", "cowheap, plain heap", RGBColor(31, 119, 180)),
    (
        "realvm",
        "real VM (squeak-vm 4.10)",
        RGBColor(127, 127, 127),
    ),
];

/// Draws `out` from the bench's `interp_bars.json`; `Ok(false)` if the bench has not written
/// it (run `cargo bench --bench interp` first).
pub fn draw(json: &Path, out: &Path) -> Result<bool, Box<dyn std::error::Error>> {
    let Ok(text) = std::fs::read_to_string(json) else {
        return Ok(false);
    };
    let v: serde_json::Value = serde_json::from_str(&text)?;
    let rows = v["rows"].as_array().ok_or("interp_bars.json: no rows")?;
    let names: Vec<String> = rows
        .iter()
        .map(|r| short(r["expression"].as_str().unwrap_or("?")))
        .collect();
    let value = |r: &serde_json::Value, side: &str| r[side]["bytecodes_per_s"].as_f64();
    let top = rows
        .iter()
        .flat_map(|r| SIDES.iter().filter_map(|s| value(r, s.0)))
        .fold(0.0f64, f64::max)
        / 1e6;
    let root = BitMapBackend::new(out, (900, 460)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut c = ChartBuilder::on(&root)
        .caption(
            "the same interpreter over a shared and a plain heap, and the real VM",
            ("sans-serif", 19),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..rows.len() as f64, 0.0..top * 1.25)?;
    c.configure_mesh()
        .disable_x_mesh()
        .x_labels(rows.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - i as f64 - 0.5).abs() < 0.01 {
                names.get(i).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc("M bytecodes per CPU-second")
        .label_style(("sans-serif", 13))
        .draw()?;
    for (k, &(side, label, color)) in SIDES.iter().enumerate() {
        let bars: Vec<_> = rows
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let x = i as f64 + 0.12 + 0.26 * k as f64;
                value(r, side)
                    .map(|y| Rectangle::new([(x, 0.0), (x + 0.24, y / 1e6)], color.filled()))
            })
            .collect();
        if bars.is_empty() {
            continue;
        }
        c.draw_series(bars)?
            .label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
    }
    c.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    root.present()?;
    Ok(true)
}

/// A label that fits under its bars.
fn short(expr: &str) -> String {
    match expr {
        e if e.contains("asOrderedCollection") => "200000 asOrderedCollection".into(),
        e if e.contains("factorial") => "1000 factorial printString".into(),
        e => e.into(),
    }
}
