//! SVG charts for the reports, drawn with plotters (SVG only: no bitmap
//! or font-rendering dependencies; text is left to the viewer).
//!
//! Drawn to be projected: a 1200-unit `viewBox` that the page scales to
//! its width, text at 24 units (the page's body size once scaled), the
//! legend beside the plot instead of over it, the Okabe–Ito colour-blind
//! safe palette with a marker shape per series, and a linear y axis unless
//! the values span more than a decade and a half. A point that is not a
//! measurement (a client never answered) is drawn in a labelled band
//! outside the plotted range, with a marker of its own.

use crate::error::ReportError;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

mod bar;
mod line;

pub use bar::{bar_chart, Bar};
pub use line::line_chart;

/// Width of every chart's `viewBox`.
pub const WIDTH: u32 = 1200;
pub(crate) const LEGEND_WIDTH: u32 = 330;
pub(crate) const FONT: u32 = 24;
pub(crate) const TITLE_FONT: u32 = 28;

/// Okabe & Ito's palette without its yellow (too pale on white).
pub const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
];

/// Where a point that is not a measurement goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Band {
    /// Above the plotted range (latency: never answered is "worse than any").
    Above,
    /// Below it (throughput).
    Below,
}

/// One point of a line.
#[derive(Debug, Clone)]
pub struct Point {
    /// The x value (a client count, a loss rate).
    pub x: f64,
    /// The y value (the median, when the point was measured repeatedly).
    pub y: f64,
    /// The lowest and highest run, drawn as a bar through the point.
    pub range: Option<(f64, f64)>,
    /// Not a measurement: drawn in this band with this label.
    pub apart: Option<(Band, String)>,
}

impl Point {
    /// A measured point.
    pub fn at(x: f64, y: f64) -> Point {
        Point {
            x,
            y,
            range: None,
            apart: None,
        }
    }

    /// A point measured repeatedly: the median, and the lowest and highest run.
    pub fn ranged(x: f64, median: f64, low: f64, high: f64) -> Point {
        Point {
            range: Some((low, high)),
            ..Point::at(x, median)
        }
    }

    /// No measurement (clients never answered), drawn in `band`, labelled.
    pub fn apart(x: f64, band: Band, label: impl Into<String>) -> Point {
        Point {
            apart: Some((band, label.into())),
            ..Point::at(x, 0.0)
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
    /// Where the x ticks go: the measured values, evenly spaced.
    pub x_ticks: &'a [f64],
}

pub(crate) fn failed(path: &Path, error: DrawingError) -> ReportError {
    ReportError::Chart {
        path: path.to_path_buf(),
        source: Box::new(error),
    }
}

/// What plotters' SVG drawing fails with.
pub(crate) type DrawingError = plotters::drawing::DrawingAreaErrorKind<std::io::Error>;

/// The y axis: linear from 0, or logarithmic when values span decades.
#[derive(Clone, Copy)]
pub(crate) enum Scale {
    Linear,
    Log,
}

impl Scale {
    pub(crate) fn to(self, y: f64) -> f64 {
        match self {
            Scale::Linear => y,
            Scale::Log => y.max(1e-9).log10(),
        }
    }

    /// Tick values between `lo` and `hi` (in data units).
    pub(crate) fn ticks(self, lo: f64, hi: f64) -> Vec<f64> {
        match self {
            Scale::Linear => {
                let raw = (hi - lo) / 5.0;
                let magnitude = 10f64.powf(raw.max(1e-9).log10().floor());
                let step = [1.0, 2.0, 2.5, 5.0, 10.0]
                    .iter()
                    .map(|m| m * magnitude)
                    .find(|s| *s >= raw)
                    .unwrap_or(magnitude * 10.0);
                (0..=60)
                    .map(|i| (lo / step).ceil() * step + i as f64 * step)
                    .take_while(|v| *v <= hi * 1.0001)
                    .collect()
            }
            Scale::Log => {
                let (a, b) = (lo.log10().ceil() as i32, hi.log10().floor() as i32);
                let decades: Vec<f64> = (a..=b).map(|e| 10f64.powi(e)).collect();
                if decades.len() >= 3 {
                    return decades;
                }
                (a - 1..=b)
                    .flat_map(|e| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(e)))
                    .filter(|v| *v >= lo && *v <= hi)
                    .collect()
            }
        }
    }
}

pub(crate) fn font(size: u32) -> TextStyle<'static> {
    ("sans-serif", size).into_font().color(&BLACK)
}

/// The outline of marker `shape` (one per series), around (0, 0) in
/// pixels: circle, square, triangle, diamond, downward triangle.
pub(crate) fn marker(shape: usize) -> Vec<(i32, i32)> {
    let r = 9;
    match shape % 5 {
        0 => (0..16)
            .map(|i| {
                let angle = i as f64 * std::f64::consts::PI / 8.0;
                (
                    (angle.cos() * r as f64).round() as i32,
                    (angle.sin() * r as f64).round() as i32,
                )
            })
            .collect(),
        1 => vec![(-r, -r), (r, -r), (r, r), (-r, r)],
        2 => vec![(0, -r - 2), (r + 1, r), (-r - 1, r)],
        3 => vec![(0, -r - 3), (r + 2, 0), (0, r + 3), (-r - 2, 0)],
        _ => vec![(0, r + 2), (r + 1, -r), (-r - 1, -r)],
    }
}

/// The "not a measurement" marker: a bold ✕ (two strokes).
pub(crate) fn apart_strokes() -> [Vec<(i32, i32)>; 2] {
    [vec![(-10, -10), (10, 10)], vec![(-10, 10), (10, -10)]]
}

/// The legend, beside the plot: each series' marker, line and name.
pub(crate) fn legend(
    area: &DrawingArea<SVGBackend, Shift>,
    names: &[&str],
    extra: Option<&str>,
) -> Result<(), DrawingError> {
    let row = (FONT + 18) as i32;
    let top = 90;
    for (index, name) in names.iter().enumerate() {
        let y = top + row * index as i32;
        let color = PALETTE[index % PALETTE.len()];
        area.draw(&PathElement::new(
            vec![(10, y), (50, y)],
            color.stroke_width(3),
        ))?;
        area.draw(&Polygon::new(
            marker(index)
                .into_iter()
                .map(|(dx, dy)| (30 + dx, y + dy))
                .collect::<Vec<_>>(),
            color.filled(),
        ))?;
        area.draw(&Text::new(
            name.to_string(),
            (60, y),
            font(FONT).pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
    }
    if let Some(extra) = extra {
        let y = top + row * names.len() as i32 + 10;
        for stroke in apart_strokes() {
            let points: Vec<_> = stroke.iter().map(|(dx, dy)| (30 + dx, y + dy)).collect();
            area.draw(&PathElement::new(points, BLACK.stroke_width(5)))?;
        }
        area.draw(&Text::new(
            extra.to_string(),
            (60, y),
            font(FONT).pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
    }
    Ok(())
}

/// 1200 -> "1.2k", 3500000 -> "3.5M", 0.25 -> "0.25".
pub fn human(value: f64) -> String {
    let trim = |v: f64, digits: usize| {
        let text = format!("{v:.digits$}");
        if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            text
        }
    };
    match value.abs() {
        v if v >= 1e6 => format!("{}M", trim(value / 1e6, 1)),
        v if v >= 1e4 => format!("{}k", trim(value / 1e3, 0)),
        v if v >= 1e3 => format!("{}k", trim(value / 1e3, 1)),
        v if v >= 10.0 => trim(value, 0),
        v if v >= 1.0 => trim(value, 1),
        _ => trim(value, 2),
    }
}
