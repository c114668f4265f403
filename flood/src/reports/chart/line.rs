//! The line chart: one line per series, points apart in their bands.

use super::{
    apart_strokes, failed, font, human, legend, marker, Axes, Band, Point, Scale, Series, FONT,
    LEGEND_WIDTH, PALETTE, TITLE_FONT, WIDTH,
};
use crate::error::ReportError;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// A line chart: x at the measured values, evenly spaced; y linear from 0
/// (logarithmic if the values span more than ~1.5 decades); a bar through
/// each repeated point from its lowest to its highest run; points apart
/// drawn in their band, one label row each so labels never collide.
pub fn line_chart(
    path: &Path,
    title: &str,
    axes: &Axes,
    series: &[Series],
) -> Result<(), ReportError> {
    let ticks = axes.x_ticks;
    let slot = |x: f64| ticks.iter().position(|t| (t - x).abs() < 1e-9).unwrap_or(0) as f64;
    let measured = || {
        series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|p| p.apart.is_none())
    };
    let values = || {
        measured()
            .flat_map(|p| [Some(p.y), p.range.map(|r| r.0), p.range.map(|r| r.1)])
            .flatten()
    };
    let top = values().fold(1e-9, f64::max);
    let bottom = values().filter(|v| *v > 0.0).fold(top, f64::min);
    let scale = if top / bottom.max(1e-9) > 30.0 {
        Scale::Log
    } else {
        Scale::Linear
    };
    let (lo, hi) = match scale {
        Scale::Linear => (0.0, top * 1.08),
        Scale::Log => (bottom / 1.5, top * 1.5),
    };
    let (t_lo, t_hi) = (scale.to(lo), scale.to(hi));
    let span = t_hi - t_lo;
    let apart: Vec<(usize, &Point)> = series
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            s.points
                .iter()
                .filter(|p| p.apart.is_some())
                .map(move |p| (i, p))
        })
        .collect();
    let row = span * 0.085;
    let band_height = row * (apart.len() as f64 + 0.6);
    let above = apart
        .iter()
        .any(|(_, p)| matches!(p.apart, Some((Band::Above, _))));
    let below = apart
        .iter()
        .any(|(_, p)| matches!(p.apart, Some((Band::Below, _))));
    let gap = span * 0.04;
    let y_min = if below {
        t_lo - gap - band_height
    } else {
        t_lo
    };
    let y_max = if above {
        t_hi + gap + band_height
    } else {
        t_hi
    };
    let height = 720
        + if apart.is_empty() {
            0
        } else {
            40 * apart.len() as u32
        };
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(path, e))?;
    let (plot, side) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
    let last = ticks.len().saturating_sub(1) as f64;
    let mut chart = ChartBuilder::on(&plot)
        .caption(title, font(TITLE_FONT))
        .margin(16)
        .x_label_area_size(80)
        .y_label_area_size(110)
        .build_cartesian_2d(-0.5f64..last + 0.5, y_min..y_max)
        .map_err(|e| failed(path, e))?;
    let y_ticks = scale.ticks(lo, hi);
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(0)
        .y_labels(0)
        .x_desc(axes.x_label)
        .y_desc(axes.y_label)
        .axis_desc_style(font(FONT))
        .draw()
        .map_err(|e| failed(path, e))?;
    let grid = RGBColor(220, 220, 220);
    for &v in &y_ticks {
        let t = scale.to(v);
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(-0.5, t), (last + 0.5, t)],
                grid.stroke_width(1),
            )))
            .map_err(|e| failed(path, e))?;
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((-0.5, t))
                    + Text::new(
                        human(v),
                        (-10, 0),
                        font(FONT).pos(Pos::new(HPos::Right, VPos::Center)),
                    ),
            ))
            .map_err(|e| failed(path, e))?;
    }
    for (index, tick) in ticks.iter().enumerate() {
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((index as f64, y_min))
                    + Text::new(
                        human(*tick),
                        (0, 12),
                        font(FONT).pos(Pos::new(HPos::Center, VPos::Top)),
                    ),
            ))
            .map_err(|e| failed(path, e))?;
    }
    for (band, present, from, to) in [
        (Band::Above, above, t_hi + gap, y_max),
        (Band::Below, below, y_min, t_lo - gap),
    ] {
        if !present {
            continue;
        }
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(-0.5, from), (last + 0.5, to)],
                RGBColor(238, 238, 238).filled(),
            )))
            .map_err(|e| failed(path, e))?;
        let text = match band {
            Band::Above => "never answered: not a measured value",
            Band::Below => "clients left unanswered: not a measured value",
        };
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((-0.5, to))
                    + Text::new(
                        text,
                        (8, 4),
                        font(FONT).pos(Pos::new(HPos::Left, VPos::Top)),
                    ),
            ))
            .map_err(|e| failed(path, e))?;
    }
    for (index, line) in series.iter().enumerate() {
        let color = PALETTE[index % PALETTE.len()];
        let on_line: Vec<(f64, f64)> = line
            .points
            .iter()
            .filter(|p| p.apart.is_none())
            .map(|p| (slot(p.x), scale.to(p.y)))
            .collect();
        chart
            .draw_series(LineSeries::new(on_line.clone(), color.stroke_width(3)))
            .map_err(|e| failed(path, e))?;
        for p in line.points.iter().filter(|p| p.apart.is_none()) {
            if let Some((low, high)) = p.range {
                let x = slot(p.x);
                let (a, b) = (scale.to(low), scale.to(high));
                chart
                    .draw_series([PathElement::new(
                        vec![(x, a), (x, b)],
                        color.stroke_width(2),
                    )])
                    .map_err(|e| failed(path, e))?;
                for end in [a, b] {
                    chart
                        .draw_series(std::iter::once(
                            EmptyElement::at((x, end))
                                + PathElement::new(vec![(-7, 0), (7, 0)], color.stroke_width(2)),
                        ))
                        .map_err(|e| failed(path, e))?;
                }
            }
        }
        chart
            .draw_series(
                on_line
                    .iter()
                    .map(|&p| EmptyElement::at(p) + Polygon::new(marker(index), color.filled())),
            )
            .map_err(|e| failed(path, e))?;
    }
    let (mut above_row, mut below_row) = (0.0, 0.0);
    for (index, point) in &apart {
        let Some((band, label)) = &point.apart else {
            continue;
        };
        let color = PALETTE[index % PALETTE.len()];
        let y = match band {
            Band::Above => {
                above_row += 1.0;
                t_hi + gap + band_height - above_row * row
            }
            Band::Below => {
                below_row += 1.0;
                t_lo - gap - below_row * row
            }
        };
        let x = slot(point.x);
        let right_half = last > 0.0 && x >= last / 2.0;
        let text = format!("{}: {label}", series[*index].name);
        let (offset, anchor) = if right_half {
            (-18, HPos::Right)
        } else {
            (18, HPos::Left)
        };
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((x, y))
                    + PathElement::new(apart_strokes()[0].clone(), color.stroke_width(5))
                    + PathElement::new(apart_strokes()[1].clone(), color.stroke_width(5)),
            ))
            .map_err(|e| failed(path, e))?;
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((x, y))
                    + Text::new(
                        text,
                        (offset, 0),
                        font(FONT).color(&color).pos(Pos::new(anchor, VPos::Center)),
                    ),
            ))
            .map_err(|e| failed(path, e))?;
    }
    let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
    legend(&side, &names, (!apart.is_empty()).then_some("no answer"))
        .map_err(|e| failed(path, e))?;
    root.present().map_err(|e| failed(path, e))
}
