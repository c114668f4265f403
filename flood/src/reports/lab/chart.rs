//! `lab.svg`: the loss lesson in three panels over one x axis.

use super::loss::{expected_udp_loss, ms, num, Row};
use crate::error::ReportError;
use crate::reports::chart::{failed, PALETTE};
use plotters::prelude::*;
use std::path::Path;

// The reports' Okabe–Ito palette (told apart with any colour vision), each
// series with a marker shape of its own as well.
const BLUE: RGBColor = PALETTE[0];
const VERMILLION: RGBColor = PALETTE[1];
const GREEN: RGBColor = PALETTE[2];
const PURPLE: RGBColor = PALETTE[3];
const ORANGE: RGBColor = PALETTE[4];
const SKY: RGBColor = PALETTE[5];

/// The SVG's own size; it scales with the page (plotters writes a viewBox).
/// Text at 24 px stays as large as body text when the page is 1400 px wide.
const SIZE: (u32, u32) = (1500, 640);
const TEXT: u32 = 24;

#[derive(Clone, Copy)]
enum Shape {
    Circle,
    Triangle,
    Square,
}

/// One line of a panel: its legend entry, colour, marker and points.
struct Line {
    name: String,
    color: RGBColor,
    shape: Shape,
    dashed: bool,
    points: Vec<(f64, f64)>,
}

/// Three panels, one lesson each, over the same x axis (loss each way, %):
/// TCP's latency tail (ms, logarithmic: it spans decades), the segments
/// each host's kernel resent, and UDP's round trips lost beside the
/// 1 − (1 − p)² expected. Legends sit under the plots, never on them.
pub(super) fn draw(path: &Path, rows: &[Row]) -> Result<(), ReportError> {
    let x_max = f64::from(rows.iter().map(|r| r.loss_pct).max().unwrap_or(0).max(1));
    let at = |r: &Row, y: f64| (f64::from(r.loss_pct), y);
    let tcp_ms = |name: &str, key: &str, color, shape| Line {
        name: name.to_string(),
        color,
        shape,
        dashed: false,
        points: rows.iter().map(|r| at(r, ms(&r.tcp, key))).collect(),
    };
    let latency = [
        tcp_ms("TCP p50", "p50_us", SKY, Shape::Circle),
        tcp_ms("TCP p99", "p99_us", ORANGE, Shape::Triangle),
        tcp_ms("TCP worst line", "max_us", VERMILLION, Shape::Square),
    ];
    let resent = [
        Line {
            name: "by the server's kernel".into(),
            color: BLUE,
            shape: Shape::Square,
            dashed: false,
            points: rows
                .iter()
                .map(|r| at(r, r.server_tcp.retrans_segs as f64))
                .collect(),
        },
        Line {
            name: "by the client's kernel".into(),
            color: GREEN,
            shape: Shape::Triangle,
            dashed: false,
            points: rows
                .iter()
                .map(|r| at(r, r.client_tcp.retrans_segs as f64))
                .collect(),
        },
    ];
    let udp = [
        Line {
            name: "UDP round trips lost".into(),
            color: PURPLE,
            shape: Shape::Circle,
            dashed: false,
            points: rows
                .iter()
                .map(|r| at(r, num(&r.udp, "loss_pct")))
                .collect(),
        },
        Line {
            name: "expected: 1 − (1 − p)²".into(),
            color: BLACK,
            shape: Shape::Circle,
            dashed: true,
            points: (0..=50)
                .map(|i| {
                    let p = x_max * f64::from(i) / 50.0;
                    (p, expected_udp_loss(p))
                })
                .collect(),
        },
    ];

    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(path, e))?;
    let (title, body) = root.split_vertically(56);
    title
        .draw_text(
            "Packet loss: TCP delivers every line, late; UDP is never late, and loses",
            &("sans-serif", 30).into_font().color(&BLACK),
            (24, 14),
        )
        .map_err(|e| failed(path, e))?;
    let panels = body.split_evenly((1, 3));
    let x_label = "packets dropped each way (%)";

    // TCP's tail: logarithmic in whole decades of milliseconds.
    let positive = latency
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .filter(|y| *y > 0.0);
    let (lo, hi) = positive.fold((f64::MAX, 0.0f64), |(lo, hi), y| (lo.min(y), hi.max(y)));
    let (lo, hi) = if hi > 0.0 { (lo, hi) } else { (0.01, 1.0) };
    let y_range = 10f64.powf(lo.log10().floor())..10f64.powf((hi * 1.01).log10().ceil());
    panel(
        path,
        &panels[0],
        "TCP: latency (ms)",
        x_max,
        x_label,
        y_range,
        true,
        &latency,
    )?;

    let top = resent
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(1.0, f64::max);
    panel(
        path,
        &panels[1],
        "TCP: segments resent (TcpRetransSegs)",
        x_max,
        x_label,
        0.0..top * 1.15,
        false,
        &resent,
    )?;

    let top = udp
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(1.0, f64::max);
    panel(
        path,
        &panels[2],
        "UDP: round trips lost (%)",
        x_max,
        x_label,
        0.0..top * 1.15,
        false,
        &udp,
    )?;
    root.present().map_err(|e| failed(path, e))
}

#[allow(clippy::too_many_arguments)]
fn panel(
    path: &Path,
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    title: &str,
    x_max: f64,
    x_label: &str,
    y_range: std::ops::Range<f64>,
    log: bool,
    lines: &[Line],
) -> Result<(), ReportError> {
    let legend_height = 20 + 36 * lines.len() as u32;
    let (plot, legend) = area.split_vertically(area.dim_in_pixel().1 - legend_height);
    let font = ("sans-serif", TEXT);
    let mut builder = ChartBuilder::on(&plot);
    builder
        .caption(title, ("sans-serif", 26))
        .margin(14)
        .x_label_area_size(64)
        .y_label_area_size(80);
    let x_range = -x_max * 0.04..x_max * 1.04;
    macro_rules! draw_lines {
        ($chart:expr) => {{
            let chart = $chart;
            for line in lines {
                let style = line.color.stroke_width(3);
                if line.dashed {
                    chart
                        .draw_series(DashedLineSeries::new(line.points.clone(), 10, 6, style))
                        .map_err(|e| failed(path, e))?;
                } else {
                    chart
                        .draw_series(LineSeries::new(line.points.clone(), style))
                        .map_err(|e| failed(path, e))?;
                    let style = line.color.filled();
                    let at = |p: (f64, f64)| EmptyElement::at(p);
                    match line.shape {
                        Shape::Circle => chart.draw_series(
                            line.points
                                .iter()
                                .map(|&p| at(p) + Circle::new((0, 0), 7, style)),
                        ),
                        Shape::Triangle => chart.draw_series(
                            line.points
                                .iter()
                                .map(|&p| at(p) + TriangleMarker::new((0, 0), 9, style)),
                        ),
                        Shape::Square => chart.draw_series(
                            line.points
                                .iter()
                                .map(|&p| at(p) + Rectangle::new([(-6, -6), (6, 6)], style)),
                        ),
                    }
                    .map_err(|e| failed(path, e))?;
                }
            }
        }};
    }
    // One chart body for both axes; only the y coordinate type and its
    // labels differ (a log axis's ticks are 0.1, 1, 10…, kept as written).
    macro_rules! plot {
        ($y_range:expr, $y_label:expr) => {{
            let mut chart = builder
                .build_cartesian_2d(x_range, $y_range)
                .map_err(|e| failed(path, e))?;
            chart
                .configure_mesh()
                .light_line_style(WHITE)
                .label_style(font)
                .axis_desc_style(font)
                .x_desc(x_label)
                .x_labels(6)
                .x_label_formatter(&|x| format!("{x:.0}"))
                .y_label_formatter($y_label)
                .draw()
                .map_err(|e| failed(path, e))?;
            draw_lines!(&mut chart);
        }};
    }
    if log {
        plot!(y_range.log_scale(), &|y: &f64| format!("{y}"));
    } else {
        plot!(y_range, &|y: &f64| format!("{y:.0}"));
    }
    for (i, line) in lines.iter().enumerate() {
        let y = 18 + 36 * i as i32;
        let style = line.color.stroke_width(3);
        let x0 = 90;
        if line.dashed {
            for dash in 0..3 {
                let start = x0 + dash * 16;
                legend
                    .draw(&PathElement::new(vec![(start, y), (start + 10, y)], style))
                    .map_err(|e| failed(path, e))?;
            }
        } else {
            legend
                .draw(&PathElement::new(vec![(x0, y), (x0 + 44, y)], style))
                .map_err(|e| failed(path, e))?;
            let marker_style = line.color.filled();
            match line.shape {
                Shape::Circle => legend.draw(&Circle::new((x0 + 22, y), 7, marker_style)),
                Shape::Triangle => legend.draw(&TriangleMarker::new((x0 + 22, y), 9, marker_style)),
                Shape::Square => legend.draw(&Rectangle::new(
                    [(x0 + 16, y - 6), (x0 + 28, y + 6)],
                    marker_style,
                )),
            }
            .map_err(|e| failed(path, e))?;
        }
        legend
            .draw_text(
                &line.name,
                &("sans-serif", TEXT).into_font().color(&BLACK),
                (x0 + 56, y - 12),
            )
            .map_err(|e| failed(path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::lab::loss::tests::row;

    #[test]
    fn the_chart_shows_tcp_resends_and_udp_loss_against_the_expected() {
        let rows = [
            row(0, 100_000.0, 100.0, 0.0, (0, 0)),
            row(5, 250.0, 208_000.0, 9.4, (1000, 3)),
        ];
        let dir = std::env::temp_dir().join(format!("upcase-lab-chart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("lab.svg");
        draw(&path, &rows).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        for text in [
            "TcpRetransSegs",
            "round trips lost",
            "1 − (1 − p)²",
            "latency (ms)",
            "viewBox",
        ] {
            assert!(svg.contains(text), "the chart lacks {text:?}");
        }
    }
}
