//! The horizontal bar chart: one labelled bar per value, a whisker for its range.

use super::{failed, font, human, FONT, PALETTE, TITLE_FONT, WIDTH};
use crate::error::ReportError;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// One bar of a bar chart.
pub struct Bar {
    /// Its label, left of the bar.
    pub name: String,
    /// Its length (the median).
    pub value: f64,
    /// The lowest and highest run, drawn as a whisker.
    pub range: Option<(f64, f64)>,
    /// Its colour, by palette index (a model keeps its colour on every chart).
    pub color: usize,
    /// Written after the value ("never answered", "3 % lost").
    pub note: Option<String>,
}

/// A horizontal bar chart, names on the left, values at the bars' ends.
pub fn bar_chart(path: &Path, title: &str, x_label: &str, bars: &[Bar]) -> Result<(), ReportError> {
    let x_max = bars
        .iter()
        .map(|b| b.range.map_or(b.value, |r| r.1.max(b.value)))
        .fold(1e-9, f64::max)
        * 1.45;
    let height = 170 + 78 * bars.len() as u32;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(path, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, font(TITLE_FONT))
        .margin(16)
        .x_label_area_size(80)
        .y_label_area_size(300)
        .build_cartesian_2d(0f64..x_max, 0f64..bars.len() as f64)
        .map_err(|e| failed(path, e))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(WHITE)
        .y_labels(0)
        .x_labels(6)
        .x_label_formatter(&|v| human(*v))
        .x_label_style(font(FONT))
        .x_desc(x_label)
        .axis_desc_style(font(FONT))
        .draw()
        .map_err(|e| failed(path, e))?;
    for (index, bar) in bars.iter().enumerate() {
        let color = PALETTE[bar.color % PALETTE.len()];
        let row = (bars.len() - 1 - index) as f64;
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(0.0, row + 0.18), (bar.value, row + 0.82)],
                color.filled(),
            )))
            .map_err(|e| failed(path, e))?;
        if let Some((low, high)) = bar.range {
            chart
                .draw_series([PathElement::new(
                    vec![(low, row + 0.5), (high, row + 0.5)],
                    BLACK.stroke_width(3),
                )])
                .map_err(|e| failed(path, e))?;
        }
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((0.0, row + 0.5))
                    + Text::new(
                        bar.name.clone(),
                        (-12, 0),
                        font(FONT).pos(Pos::new(HPos::Right, VPos::Center)),
                    ),
            ))
            .map_err(|e| failed(path, e))?;
        let end = bar.range.map_or(bar.value, |r| r.1.max(bar.value));
        let text = match &bar.note {
            Some(note) => format!("{}{note}", human(bar.value)),
            None => human(bar.value),
        };
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((end, row + 0.5))
                    + Text::new(
                        text,
                        (10, 0),
                        font(FONT).pos(Pos::new(HPos::Left, VPos::Center)),
                    ),
            ))
            .map_err(|e| failed(path, e))?;
    }
    root.present().map_err(|e| failed(path, e))
}
