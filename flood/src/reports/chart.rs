//! SVG charts for the comparison report, drawn with plotters (SVG only:
//! no bitmap or font-rendering dependencies; text is left to the viewer).

use plotters::prelude::*;
use std::path::Path;

/// One measured point. A point with a `mark` is drawn apart from its
/// line, as a red cross with the mark as its label (a starved run, a
/// client never answered): it never takes part in the line, so a model
/// that starved clients can never look like the best line.
#[derive(Debug, Clone)]
pub struct Point {
    /// The x value (a client count, a number of idle connections).
    pub x: f64,
    /// The y value; for a marked point with nothing to show, 0.
    pub y: f64,
    /// Why this point is not on the line, shown beside it.
    pub mark: Option<String>,
}

impl Point {
    /// A point on the line.
    pub fn at(x: f64, y: f64) -> Point {
        Point { x, y, mark: None }
    }

    /// A point drawn apart, labelled.
    pub fn marked(x: f64, y: f64, mark: impl Into<String>) -> Point {
        Point {
            x,
            y,
            mark: Some(mark.into()),
        }
    }
}

/// One named line of a chart.
pub struct Series {
    /// The legend entry.
    pub name: String,
    /// Points, x ascending.
    pub points: Vec<Point>,
}

/// The axes of a line chart.
pub struct Axes<'a> {
    /// The x axis's label, with its unit.
    pub x_label: &'a str,
    /// The y axis's label, with its unit.
    pub y_label: &'a str,
    /// Where the x ticks go: the measured values (the x axis is logarithmic).
    pub x_ticks: &'a [f64],
}

fn failed(path: &Path, error: impl std::fmt::Display) -> String {
    format!("cannot draw {}: {error}", path.display())
}

/// A line chart: x at the measured values, evenly spaced (they grow by
/// factors, so this is a log axis with a tick at every measurement); y
/// logarithmic in whole decades (values here span several). Marked points
/// are drawn as labelled red crosses at their value, or on the bottom edge
/// when it is 0; marks at the same x are stacked so their labels stay legible.
pub fn line_chart(path: &Path, title: &str, axes: &Axes, series: &[Series]) -> Result<(), String> {
    let ticks = axes.x_ticks;
    let slot = |x: f64| ticks.iter().position(|t| (t - x).abs() < 1e-9).unwrap_or(0) as f64;
    let all = || series.iter().flat_map(|s| s.points.iter());
    let positive = || all().map(|p| p.y).filter(|y| *y > 0.0);
    let y_top = positive().fold(1.0, f64::max);
    let y_bottom = positive().fold(f64::MAX, f64::min).min(y_top);
    let y_lo = 10f64.powf(y_bottom.log10().floor() - 1.0).max(1e-3);
    let y_hi = 10f64.powf((y_top * 1.01).log10().ceil());
    let last = ticks.len().saturating_sub(1) as f64;
    let root = SVGBackend::new(path, (900, 540)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(path, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .build_cartesian_2d(-0.4f64..last + 0.6, (y_lo..y_hi).log_scale())
        .map_err(|e| failed(path, e))?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_desc(axes.x_label)
        .y_desc(axes.y_label)
        .x_labels(ticks.len() * 2 + 2)
        .x_label_formatter(&|x| {
            let index = x.round();
            match ticks.get(index as usize) {
                Some(t) if (x - index).abs() < 1e-6 && index >= 0.0 => format!("{t:.0}"),
                _ => String::new(),
            }
        })
        .y_label_formatter(&|y| human(*y))
        .draw()
        .map_err(|e| failed(path, e))?;
    let mut marks_at = std::collections::HashMap::<usize, u32>::new();
    for (index, line) in series.iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        let on_line: Vec<(f64, f64)> = line
            .points
            .iter()
            .filter(|p| p.mark.is_none() && p.y > 0.0)
            .map(|p| (slot(p.x), p.y))
            .collect();
        chart
            .draw_series(LineSeries::new(on_line.clone(), color.stroke_width(2)))
            .map_err(|e| failed(path, e))?
            .label(line.name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(on_line.iter().map(|&p| Circle::new(p, 4, color.filled())))
            .map_err(|e| failed(path, e))?;
        for point in line.points.iter().filter(|p| p.mark.is_some()) {
            let x = slot(point.x);
            let stacked = marks_at.entry(x as usize).or_insert(0);
            let base = if point.y > 0.0 { point.y } else { y_lo * 1.8 };
            let at = (x, base * 2.2f64.powi(*stacked as i32));
            *stacked += 1;
            let label = format!("{}: {}", line.name, point.mark.as_deref().unwrap_or(""));
            // Centred under its cross (about 6.5 px a character), so
            // labels of neighbouring columns do not run into each other.
            let half_width = (label.chars().count() as f64 * 3.3) as i32;
            let font = ("sans-serif", 13).into_font().color(&RED);
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at(at)
                        + Cross::new((0, 0), 7, RED.stroke_width(3))
                        + Text::new(label, (-half_width, 9), font),
                ))
                .map_err(|e| failed(path, e))?;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| failed(path, e))?;
    root.present().map_err(|e| failed(path, e))
}

/// 1200 -> "1.2k", 3500000 -> "3.5M".
fn human(value: f64) -> String {
    match value {
        v if v >= 1e6 => format!("{}M", trim(v / 1e6)),
        v if v >= 1e3 => format!("{}k", trim(v / 1e3)),
        v => trim(v),
    }
}

fn trim(value: f64) -> String {
    let text = format!("{value:.1}");
    text.strip_suffix(".0").map_or(text.clone(), str::to_string)
}

/// A horizontal bar chart: one labelled bar per (name, value).
pub fn bar_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    bars: &[(String, f64)],
) -> Result<(), String> {
    let x_max = bars.iter().map(|b| b.1).fold(1e-9, f64::max) * 1.6;
    let root = SVGBackend::new(path, (820, 120 + 70 * bars.len() as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(path, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(10)
        .build_cartesian_2d(0f64..x_max, 0f64..bars.len() as f64)
        .map_err(|e| failed(path, e))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc(x_label)
        .draw()
        .map_err(|e| failed(path, e))?;
    for (index, (name, value)) in bars.iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        let row = (bars.len() - 1 - index) as f64;
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(0.0, row + 0.2), (*value, row + 0.8)],
                color.filled(),
            )))
            .map_err(|e| failed(path, e))?;
        chart
            .draw_series(std::iter::once(Text::new(
                format!("{name}: {value:.2}"),
                (*value + x_max * 0.01, row + 0.6),
                ("sans-serif", 16),
            )))
            .map_err(|e| failed(path, e))?;
    }
    root.present().map_err(|e| failed(path, e))
}
