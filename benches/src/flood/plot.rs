//! `msrp-flood plot`: latency over time from a per-second CSV
//! ([`super::timeline`]), as a PNG.
//!
//! The left axis is latency on a log scale (p50, p99 and max of each second's
//! messages; a tail shows as a gap between the lines rather than being flattened
//! by the median), the right axis the rate: set-ups per second for a churn run,
//! messages per second otherwise, achieved (solid) against the schedule's
//! target (dashed), and errors per second when there were any. Seconds in
//! which no message was delivered have no latency and leave gaps in it; the
//! run's last interval, when it is under half a second, is left out.
//!
//! Text is drawn with DejaVu Sans, embedded in the binary and registered with
//! plotters' `ab_glyph` backend: no system font is looked up, so the picture is
//! the same on a machine without fontconfig.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context, bail};
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use super::timeline::TimelineRow;

/// What to draw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlotStyle {
    /// The title above the chart.
    pub title: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl Default for PlotStyle {
    fn default() -> Self {
        Self {
            title: "msrp-flood: latency over time".into(),
            width: 1200,
            height: 600,
        }
    }
}

/// Draws `rows` into a PNG at `out`.
pub fn plot(rows: &[TimelineRow], out: &Path, style: &PlotStyle) -> anyhow::Result<()> {
    if rows.is_empty() {
        bail!("the CSV has no rows to plot");
    }
    if style.width < 200 || style.height < 150 {
        bail!("--width and --height must be at least 200 by 150 pixels");
    }
    register_fonts()?;
    draw(rows, out, style).with_context(|| format!("drawing {}", out.display()))
}

/// The font's family name in plotters' table.
const FAMILY: &str = "sans-serif";

fn register_fonts() -> anyhow::Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let registered = *REGISTERED
        .get_or_init(|| register_font(FAMILY, FontStyle::Normal, dejavu::sans::regular()).is_ok());
    if !registered {
        bail!("the embedded DejaVu Sans font did not load");
    }
    Ok(())
}

/// Reads one latency figure of a row.
type Percentile = fn(&TimelineRow) -> u64;

/// The rate series of the right axis: set-ups for a churn run, messages else.
struct RateAxis {
    label: &'static str,
    achieved: fn(&TimelineRow) -> f64,
}

fn draw(rows: &[TimelineRow], out: &Path, style: &PlotStyle) -> anyhow::Result<()> {
    let churn = rows.iter().any(|r| r.setups_per_s > 0.0);
    let axis = match churn {
        true => RateAxis {
            label: "set-ups/s",
            achieved: |r| r.setups_per_s,
        },
        false => RateAxis {
            label: "messages/s",
            achieved: |r| r.msgs_per_s,
        },
    };
    // The run's last, shorter interval is left out of every line: a rate over a
    // few milliseconds is noise, and so are the percentiles of the handful of
    // messages in it (the CSV and the interval log keep them). A run shorter
    // than that is drawn as it is.
    let rated = match whole_seconds(rows) {
        whole if whole.is_empty() => rows.to_vec(),
        whole => whole,
    };
    let t_max = rows.iter().map(|r| r.t_s).fold(1.0, f64::max);
    let with_latency: Vec<&TimelineRow> = rated.iter().filter(|r| r.msgs_per_s > 0.0).collect();
    let lat_lo = with_latency
        .iter()
        .map(|r| r.p50_us.max(1))
        .min()
        .unwrap_or(1);
    let lat_hi = with_latency
        .iter()
        .map(|r| r.max_us.max(r.p99_us))
        .max()
        .unwrap_or(1000);
    // A decade of room below the lowest median and above the highest max, so
    // the lines stay off the frame.
    let y_lo = decade_floor(lat_lo as f64 / 2.0);
    let y_hi = decade_ceil(lat_hi as f64 * 2.0).max(y_lo * 100.0);
    let rate_hi = rated
        .iter()
        .map(|r| {
            (axis.achieved)(r)
                .max(r.target_per_s.unwrap_or(0.0))
                .max(r.errors as f64)
        })
        .fold(1.0, f64::max)
        * 1.15;

    let root = BitMapBackend::new(out, (style.width, style.height)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(&style.title, (FAMILY, 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(75)
        .right_y_label_area_size(75)
        .build_cartesian_2d(0f64..t_max, (y_lo..y_hi).log_scale())?
        .set_secondary_coord(0f64..t_max, 0f64..rate_hi);
    chart
        .configure_mesh()
        .x_desc("seconds since the start")
        .y_desc("latency (log scale)")
        .y_label_formatter(&|us| format_us(*us))
        .x_label_formatter(&|t| format!("{t:.0}"))
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 15))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc(axis.label)
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 15))
        .draw()?;

    let p50 = RGBColor(31, 119, 180);
    let p99 = RGBColor(255, 127, 14);
    let max = RGBColor(150, 150, 150);
    let rate = RGBColor(44, 160, 44);
    let errors = RGBColor(214, 39, 40);
    let series: [(&str, RGBColor, Percentile); 3] = [
        ("max", max, |r| r.max_us),
        ("p99", p99, |r| r.p99_us),
        ("p50", p50, |r| r.p50_us),
    ];
    for (name, color, value) in series {
        // Each run of seconds with deliveries is its own line: a second without
        // any leaves a gap instead of a line drawn across it.
        for segment in segments(&rated) {
            chart.draw_series(LineSeries::new(
                segment.iter().map(|r| (r.t_s, value(r).max(1) as f64)),
                color.stroke_width(2),
            ))?;
        }
        chart
            .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())?
            .label(format!("latency {name}"))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    if rows.iter().any(|r| r.target_per_s.is_some()) {
        chart
            .draw_secondary_series(DashedLineSeries::new(
                rated
                    .iter()
                    .map(|r| (r.t_s, r.target_per_s.unwrap_or(0.0)))
                    .collect::<Vec<_>>(),
                8,
                5,
                BLACK.mix(0.7).stroke_width(2),
            ))?
            .label(format!("{} target", axis.label))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.7).stroke_width(2))
            });
    }
    chart
        .draw_secondary_series(LineSeries::new(
            rated.iter().map(|r| (r.t_s, (axis.achieved)(r))),
            rate.stroke_width(2),
        ))?
        .label(format!("{} achieved", axis.label))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], rate.stroke_width(2)));
    if rows.iter().any(|r| r.errors > 0) {
        chart
            .draw_secondary_series(LineSeries::new(
                rated.iter().map(|r| (r.t_s, r.errors as f64)),
                errors.stroke_width(2),
            ))?
            .label("errors/s")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], errors));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FAMILY, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    root.present()?;
    Ok(())
}

/// The runs of consecutive rows in which messages were delivered.
fn segments(rows: &[TimelineRow]) -> impl Iterator<Item = &[TimelineRow]> {
    rows.split(|r| r.msgs_per_s <= 0.0)
        .filter(|segment| !segment.is_empty())
}

/// The rows that cover at least half a second: every one but, usually, the
/// run's last.
fn whole_seconds(rows: &[TimelineRow]) -> Vec<TimelineRow> {
    let mut previous_s = 0.0;
    rows.iter()
        .filter(|r| {
            let span = r.t_s - previous_s;
            previous_s = r.t_s;
            span >= 0.5
        })
        .copied()
        .collect()
}

fn decade_floor(v: f64) -> f64 {
    10f64.powf(v.max(1.0).log10().floor())
}

fn decade_ceil(v: f64) -> f64 {
    10f64.powf(v.max(1.0).log10().ceil())
}

/// A latency axis label: µs below a millisecond, ms below a second, else s.
fn format_us(us: f64) -> String {
    if us < 1e3 {
        format!("{us:.0} µs")
    } else if us < 1e6 {
        format!("{} ms", trim(us / 1e3))
    } else {
        format!("{} s", trim(us / 1e6))
    }
}

fn trim(v: f64) -> String {
    let text = format!("{v:.1}");
    text.strip_suffix(".0").map(str::to_owned).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_labels_carry_their_unit() {
        assert_eq!(format_us(100.0), "100 µs");
        assert_eq!(format_us(1000.0), "1 ms");
        assert_eq!(format_us(2500.0), "2.5 ms");
        assert_eq!(format_us(1e7), "10 s");
    }

    #[test]
    fn seconds_without_deliveries_split_the_latency_lines() {
        let row = |t_s, msgs_per_s| TimelineRow {
            t_s,
            msgs_per_s,
            ..TimelineRow::default()
        };
        let rows = [row(1.0, 5.0), row(2.0, 0.0), row(3.0, 4.0), row(4.0, 4.0)];
        let lengths: Vec<usize> = segments(&rows).map(<[_]>::len).collect();
        assert_eq!(lengths, [1, 2]);
        let ended = [row(1.0, 5.0), row(2.0, 5.0), row(2.01, 1.0)];
        assert_eq!(whole_seconds(&ended).len(), 2);
        assert_eq!(decade_floor(150.0), 100.0);
        assert_eq!(decade_ceil(150.0), 1000.0);
    }
}
