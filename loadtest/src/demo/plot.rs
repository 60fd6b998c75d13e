//! The demo's plot: median latency over time per executor, one panel per proxy, the event
//! marked. Drawn with plotters into a self-contained SVG.

use std::path::Path;

use plotters::prelude::*;

use crate::run::{LoadReport, NO_EXECUTOR};

const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Draws `panels` (title, report) side by side into `path`, with a vertical line at `event_s`.
pub fn draw(
    path: &Path,
    panels: &[(String, &LoadReport)],
    executors: &[String],
    warmup_s: f64,
    event_s: f64,
    event_label: &str,
) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (1100, 420 * panels.len() as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let areas = root.split_evenly((panels.len(), 1));
    for ((title, report), area) in panels.iter().zip(areas.iter()) {
        let end = report
            .timeline
            .last()
            .map_or(1.0, |b| b.end_s)
            .max(event_s + 1.0);
        let start = report.timeline.first().map_or(0.0, |b| b.start_s).min(0.0);
        let ymax = report
            .timeline
            .iter()
            .flat_map(|b| b.executors.values())
            .map(|s| s.latency.p50_ms)
            .fold(1.0f64, f64::max)
            * 1.15;
        let mut chart = ChartBuilder::on(area)
            .caption(title.as_str(), ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(start..end, 0.0..ymax)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(format!(
                "seconds since the start of the run (the first {warmup_s:.0} s are warm-up)"
            ))
            .y_desc("median latency, ms")
            .draw()
            .map_err(err)?;
        for (i, executor) in executors.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let points: Vec<(f64, f64)> = report
                .timeline
                .iter()
                .filter_map(|b| {
                    let s = b.executors.get(executor)?;
                    (s.requests > s.errors)
                        .then_some(((b.start_s + b.end_s) / 2.0, s.latency.p50_ms))
                })
                .collect();
            let share: u64 = report
                .timeline
                .iter()
                .filter_map(|b| b.executors.get(executor))
                .map(|s| s.requests)
                .sum();
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|&(x, y)| Circle::new((x, y), 3, colour.filled())),
                )
                .map_err(err)?
                .label(format!("{executor} ({share} requests)"))
                .legend(move |(x, y)| Circle::new((x + 10, y), 4, colour.filled()));
        }
        let unrouted: u64 = report
            .timeline
            .iter()
            .filter_map(|b| b.executors.get(NO_EXECUTOR))
            .map(|s| s.requests)
            .sum();
        chart
            .draw_series(LineSeries::new(
                [(event_s, 0.0), (event_s, ymax)],
                BLACK.stroke_width(2),
            ))
            .map_err(err)?
            .label(format!(
                "{event_label}{}",
                if unrouted > 0 {
                    format!("; {unrouted} unrouted")
                } else {
                    String::new()
                }
            ))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2)));
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("plot: {e:?}")
}
