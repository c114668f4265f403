//! SVG charts for the comparison report, drawn with plotters (SVG only:
//! no bitmap or font-rendering dependencies; text is left to the viewer).

use plotters::prelude::*;
use std::path::Path;

/// One named line of a chart.
pub struct Series {
    /// The legend entry.
    pub name: String,
    /// (x, y) points, x ascending.
    pub points: Vec<(f64, f64)>,
}

fn failed(path: &Path, error: impl std::fmt::Display) -> String {
    format!("cannot draw {}: {error}", path.display())
}

/// A line chart with a logarithmic x axis (client counts grow by factors).
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<(), String> {
    let all = || series.iter().flat_map(|s| s.points.iter());
    let x_max = all().map(|p| p.0).fold(2.0, f64::max);
    let y_max = all().map(|p| p.1).fold(1.0, f64::max);
    let root = SVGBackend::new(path, (820, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(path, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(80)
        .build_cartesian_2d((1f64..x_max * 1.2).log_scale(), 0f64..y_max * 1.15)
        .map_err(|e| failed(path, e))?;
    chart
        .configure_mesh()
        // The log axis would draw a line at every unit step: keep only the
        // labelled ones.
        .light_line_style(WHITE)
        .x_desc(x_label)
        .y_desc(y_label)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(|e| failed(path, e))?;
    for (index, line) in series.iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        chart
            .draw_series(LineSeries::new(line.points.clone(), color.stroke_width(2)))
            .map_err(|e| failed(path, e))?
            .label(line.name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(
                line.points
                    .iter()
                    .map(|&p| Circle::new(p, 3, color.filled())),
            )
            .map_err(|e| failed(path, e))?;
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
