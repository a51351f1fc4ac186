//! The telemetry report: Markdown and HTML tables with PNG plots drawn by `plotters`.
//!
//! - `aqi_calendar.png`: a calendar per station (weeks across, Monday–Sunday down), each local
//!   day coloured by its daily VN_AQI band (grey: not enough hours).
//! - `series_<station>.png`: hourly means of PM2.5, PM10 (µg/m³) against the 24-h limits of
//!   the limit table, and the hourly VN_AQI against the band edges, for the stations with the
//!   worst days.
//! - `alarms.png`: a mine-gas alarm timeline, one row per mine, one bar per event, coloured by
//!   alarm level.
//!
//! Text is drawn with a TrueType font found on the system (DejaVu Sans or Liberation Sans;
//! Debian `fonts-dejavu-core`); without one the report says so and leaves the plots out.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::columns::{f64s, i64s, strings};
use plotters::prelude::*;
use polars::prelude::*;

use super::alarms::{alarms, default_levels};
use super::aqi::Band;
use super::daily::daily_aqi;
use super::exceedance::{LimitTable, Period, exceedances};
use super::hourly::{Standard, hourly_aqi, hourly_means};
use super::qa::{QaConfig, qa};

use super::time::{DAY_MS, LOCAL_OFFSET_MS, local_day_start, local_minute};

/// Errors writing a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A computation failed.
    #[error("{0}")]
    Polars(#[from] PolarsError),
    /// A file could not be written.
    #[error("{}: {message}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

/// What a report holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportSummary {
    /// Files written (Markdown, HTML, PNGs).
    pub files: Vec<PathBuf>,
    /// Readings in, accepted, rejected.
    pub readings: (usize, usize, usize),
    /// Station-days with a daily AQI.
    pub station_days: usize,
    /// Alarm events.
    pub alarm_events: usize,
    /// Why plots were left out, if they were.
    pub plots_skipped: Option<String>,
}

fn write_err(path: &Path, e: impl std::fmt::Debug) -> ReportError {
    ReportError::Write {
        path: path.to_path_buf(),
        message: format!("{e:?}"),
    }
}

/// Registers the system font ([`crate::output::text::font_bytes`], the maps' font) as
/// plotters' `sans-serif` once; the reason when there is none.
fn ensure_font() -> Result<(), String> {
    use crate::output::text::{FONT_PATHS, font_bytes};
    static FONT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    FONT.get_or_init(|| match font_bytes() {
        Some(bytes) => plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
            .map_err(|_| "the system font is not a usable TrueType font".to_string()),
        None => Err(format!(
            "no TrueType font found (tried {}); install fonts-dejavu-core for the plots",
            FONT_PATHS.join(", ")
        )),
    })
    .clone()
}

fn date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms + LOCAL_OFFSET_MS)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn band_color(aqi: Option<i64>) -> RGBColor {
    match aqi {
        Some(a) => {
            let [r, g, b] = Band::of(a).rgb();
            RGBColor(r, g, b)
        }
        None => RGBColor(200, 200, 200),
    }
}

/// A file-name-safe form of an id.
fn safe(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Daily AQI per station: station → [(local day start ms, aqi)].
type Calendar = BTreeMap<String, Vec<(i64, Option<i64>)>>;

/// Weeks one calendar panel shows at most (about three years): older days are left out and
/// the title says so. Readings far apart in time (2026 and 9999) would otherwise size the
/// bitmap by their span.
pub const CALENDAR_MAX_WEEKS: i64 = 157;
/// Pixels the calendar bitmap may hold at most; stations beyond it are left out, and named.
pub const CALENDAR_MAX_PIXELS: u64 = 40_000_000;

/// Draws the calendar; returns what was left out, if anything.
fn calendar_png(path: &Path, cal: &Calendar) -> Result<Option<String>, ReportError> {
    let mut notes = Vec::new();
    let last = cal.values().flatten().map(|d| d.0).max().unwrap_or(0);
    // Monday-based weeks of the local calendar (1970-01-05 was a Monday)
    let week_of = |ms: i64| ((ms + LOCAL_OFFSET_MS) / DAY_MS - 4).div_euclid(7);
    let dow = |ms: i64| ((ms + LOCAL_OFFSET_MS) / DAY_MS - 4).rem_euclid(7);
    let oldest_week = week_of(last) - (CALENDAR_MAX_WEEKS - 1);
    let first = cal
        .values()
        .flatten()
        .map(|d| d.0)
        .filter(|d| week_of(*d) >= oldest_week)
        .min()
        .unwrap_or(0);
    if cal.values().flatten().any(|d| week_of(d.0) < oldest_week) {
        notes.push(format!(
            "days before {} left out (the calendar shows the last {CALENDAR_MAX_WEEKS} weeks)",
            date(first)
        ));
    }
    let weeks = (week_of(last) - week_of(first) + 1).clamp(1, CALENDAR_MAX_WEEKS) as u32;
    let cell = 14u32;
    // wide enough for the station id under the 11-px font (ids longer than 60 characters are
    // cut in the label)
    let label_w = cal
        .keys()
        .map(|k| k.chars().count().min(60) as u32 * 7 + 10)
        .max()
        .unwrap_or(0);
    let panel_w = (weeks * cell + 20).max(label_w);
    let panel_h = 7 * cell + 30;
    let cols = ((1400 / panel_w).max(1)).min(cal.len().max(1) as u32);
    let legend_h = 40u32;
    let w = cols * panel_w + 20;
    let max_rows = ((CALENDAR_MAX_PIXELS / u64::from(w)).saturating_sub(50 + u64::from(legend_h))
        / u64::from(panel_h))
    .max(1);
    let shown = (cal.len() as u64).min(max_rows * u64::from(cols)) as usize;
    if shown < cal.len() {
        notes.push(format!(
            "{} station(s) left out of the calendar (bitmap limit {CALENDAR_MAX_PIXELS} pixels)",
            cal.len() - shown
        ));
    }
    let rows = (shown as u32).div_ceil(cols).max(1);
    let h = rows * panel_h + 50 + legend_h;
    let root = BitMapBackend::new(path, (w, h)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| write_err(path, e))?;
    let title = ("sans-serif", 18).into_font();
    root.draw(&Text::new(
        format!(
            "Daily VN_AQI per station, {} to {}",
            date(first),
            date(last)
        ),
        (10, 10),
        title,
    ))
    .map_err(|e| write_err(path, e))?;
    let label = ("sans-serif", 11).into_font();
    for (i, (station, days)) in cal.iter().take(shown).enumerate() {
        let (c, r) = (i as u32 % cols, i as u32 / cols);
        let x0 = 10 + (c * panel_w) as i32;
        let y0 = 40 + (r * panel_h) as i32;
        let name: String = station.chars().take(60).collect();
        root.draw(&Text::new(name, (x0, y0), label.clone()))
            .map_err(|e| write_err(path, e))?;
        for (day, aqi) in days.iter().filter(|d| week_of(d.0) >= oldest_week) {
            let x = x0 + ((week_of(*day) - week_of(first)) as i32) * cell as i32;
            let y = y0 + 14 + dow(*day) as i32 * cell as i32;
            root.draw(&Rectangle::new(
                [(x, y), (x + cell as i32 - 2, y + cell as i32 - 2)],
                band_color(*aqi).filled(),
            ))
            .map_err(|e| write_err(path, e))?;
        }
    }
    // legend
    let ly = (h - legend_h + 10) as i32;
    let mut lx = 10;
    for (band, edge) in [
        (Band::Good, 0),
        (Band::Moderate, 51),
        (Band::Poor, 101),
        (Band::Bad, 151),
        (Band::VeryBad, 201),
        (Band::Hazardous, 301),
    ] {
        root.draw(&Rectangle::new(
            [(lx, ly), (lx + 14, ly + 14)],
            band_color(Some(edge)).filled(),
        ))
        .map_err(|e| write_err(path, e))?;
        let name = format!("{} ({edge}+)", band.name_vi());
        root.draw(&Text::new(name.clone(), (lx + 18, ly + 1), label.clone()))
            .map_err(|e| write_err(path, e))?;
        lx += 30 + 7 * name.chars().count() as i32;
    }
    root.present().map_err(|e| write_err(path, e))?;
    Ok((!notes.is_empty()).then(|| notes.join("; ")))
}

/// One station's hourly means (µg/m³) of PM2.5 and PM10, and hourly AQI, against limits.
struct StationSeries {
    station: String,
    pm25: Vec<(f64, f64)>,
    pm10: Vec<(f64, f64)>,
    aqi: Vec<(f64, f64)>,
}

fn series_png(
    path: &Path,
    s: &StationSeries,
    t0: i64,
    limits: &[(String, f64)],
) -> Result<(), ReportError> {
    let root = BitMapBackend::new(path, (1100, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| write_err(path, e))?;
    let (top, bottom) = root.split_vertically(380);
    let x_max = s
        .pm25
        .iter()
        .chain(&s.pm10)
        .chain(&s.aqi)
        .map(|p| p.0)
        .fold(1.0f64, f64::max);
    let y_max = s
        .pm25
        .iter()
        .chain(&s.pm10)
        .map(|p| p.1)
        .chain(limits.iter().map(|l| l.1))
        .fold(10.0f64, f64::max)
        * 1.1;
    let x_fmt = |x: &f64| date(t0 + (*x * DAY_MS as f64) as i64);
    let mut chart = ChartBuilder::on(&top)
        .caption(
            format!("{}: hourly means and 24-h limits", s.station),
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(|e| write_err(path, e))?;
    chart
        .configure_mesh()
        .x_labels(8)
        .x_label_formatter(&x_fmt)
        .y_desc("µg/m³")
        .draw()
        .map_err(|e| write_err(path, e))?;
    let colors = [RGBColor(31, 119, 180), RGBColor(214, 39, 40)];
    for ((name, pts), color) in [("PM2.5", &s.pm25), ("PM10", &s.pm10)]
        .into_iter()
        .zip(colors)
    {
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color))
            .map_err(|e| write_err(path, e))?
            .label(format!("{name} hourly mean"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        if let Some((_, l)) = limits.iter().find(|(p, _)| p == name) {
            let l = *l;
            chart
                .draw_series(LineSeries::new(
                    [(0.0, l), (x_max, l)],
                    color.mix(0.6).stroke_width(2),
                ))
                .map_err(|e| write_err(path, e))?
                .label(format!("{name} 24-h limit {l} µg/m³"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.mix(0.6)));
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| write_err(path, e))?;
    let a_max = s.aqi.iter().map(|p| p.1).fold(100.0f64, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(&bottom)
        .caption("hourly VN_AQI and band edges", ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..x_max, 0.0..a_max)
        .map_err(|e| write_err(path, e))?;
    chart
        .configure_mesh()
        .x_labels(8)
        .x_label_formatter(&x_fmt)
        .y_desc("AQI")
        .draw()
        .map_err(|e| write_err(path, e))?;
    for (lo, hi) in [
        (0.0, 50.0),
        (50.0, 100.0),
        (100.0, 150.0),
        (150.0, 200.0),
        (200.0, 300.0),
        (300.0, 500.0),
    ] {
        if lo >= a_max {
            break;
        }
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(0.0, lo), (x_max, f64::min(hi, a_max))],
                band_color(Some(lo as i64 + 1)).mix(0.25).filled(),
            )))
            .map_err(|e| write_err(path, e))?;
    }
    chart
        .draw_series(LineSeries::new(s.aqi.iter().copied(), BLACK))
        .map_err(|e| write_err(path, e))?;
    root.present().map_err(|e| write_err(path, e))
}

/// (mine, alarm, start ms, end ms).
type Event = (String, String, i64, i64);

fn alarms_png(path: &Path, events: &[Event], t0: i64, t1: i64) -> Result<(), ReportError> {
    let mines: Vec<String> = {
        let mut m: Vec<String> = events.iter().map(|e| e.0.clone()).collect();
        m.sort();
        m.dedup();
        m
    };
    let names: Vec<String> = {
        let mut m: Vec<String> = events.iter().map(|e| e.1.clone()).collect();
        m.sort();
        m.dedup();
        m
    };
    let palette = [
        RGBColor(255, 127, 14),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(31, 119, 180),
        RGBColor(44, 160, 44),
        RGBColor(140, 86, 75),
    ];
    let h = (120 + 28 * mines.len() as u32).max(200);
    let root = BitMapBackend::new(path, (1100, h)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| write_err(path, e))?;
    let days = ((t1 - t0) as f64 / DAY_MS as f64).max(1.0 / 24.0);
    let mut chart = ChartBuilder::on(&root)
        .caption("Mine-gas alarm events", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(160)
        .build_cartesian_2d(0.0..days, 0.0..mines.len().max(1) as f64)
        .map_err(|e| write_err(path, e))?;
    let y_fmt = |y: &f64| {
        let i = y.floor() as usize;
        if (y - y.floor() - 0.5).abs() < 1e-6 {
            mines.get(i).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    let x_fmt = |x: &f64| date(t0 + (*x * DAY_MS as f64) as i64);
    chart
        .configure_mesh()
        .x_labels(8)
        .x_label_formatter(&x_fmt)
        .y_labels(mines.len() * 2 + 1)
        .y_label_formatter(&y_fmt)
        .disable_y_mesh()
        .draw()
        .map_err(|e| write_err(path, e))?;
    for (k, name) in names.iter().enumerate() {
        let color = palette[k % palette.len()];
        let rects: Vec<Rectangle<(f64, f64)>> = events
            .iter()
            .filter(|e| &e.1 == name)
            .filter_map(|e| {
                let i = mines.iter().position(|m| m == &e.0)? as f64;
                let x0 = (e.2 - t0) as f64 / DAY_MS as f64;
                // at least 10 minutes wide so that short events show
                let x1 = ((e.3 - t0) as f64 / DAY_MS as f64).max(x0 + 10.0 / 1440.0);
                Some(Rectangle::new(
                    [(x0, i + 0.2), (x1, i + 0.8)],
                    color.filled(),
                ))
            })
            .collect();
        chart
            .draw_series(rects)
            .map_err(|e| write_err(path, e))?
            .label(name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| write_err(path, e))?;
    root.present().map_err(|e| write_err(path, e))
}

/// A Markdown table.
fn md_table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = format!(
        "| {} |\n|{}\n",
        head.join(" | "),
        " --- |".repeat(head.len())
    );
    for r in rows {
        let _ = writeln!(s, "| {} |", r.join(" | "));
    }
    s
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The same content as HTML: headings, tables, images, paragraphs.
fn markdown_to_html(md: &str) -> String {
    let mut html = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>QN Twin telemetry report</title>\n<style>body{font-family:sans-serif;max-width:1200px;margin:auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}td:first-child{text-align:left}img{max-width:100%}</style></head><body>\n",
    );
    let mut in_table = false;
    for line in md.lines() {
        let t = line.trim();
        if t.starts_with('|') {
            let cells: Vec<&str> = t.trim_matches('|').split('|').map(str::trim).collect();
            if cells
                .iter()
                .all(|c| c.chars().all(|ch| ch == '-') && !c.is_empty())
            {
                continue;
            }
            if !in_table {
                html.push_str("<table>\n<tr>");
                for c in &cells {
                    let _ = write!(html, "<th>{}</th>", html_escape(c));
                }
                html.push_str("</tr>\n");
                in_table = true;
                continue;
            }
            html.push_str("<tr>");
            for c in &cells {
                let _ = write!(html, "<td>{}</td>", html_escape(c));
            }
            html.push_str("</tr>\n");
            continue;
        }
        if in_table {
            html.push_str("</table>\n");
            in_table = false;
        }
        if let Some(h) = t.strip_prefix("### ") {
            let _ = writeln!(html, "<h3>{}</h3>", html_escape(h));
        } else if let Some(h) = t.strip_prefix("## ") {
            let _ = writeln!(html, "<h2>{}</h2>", html_escape(h));
        } else if let Some(h) = t.strip_prefix("# ") {
            let _ = writeln!(html, "<h1>{}</h1>", html_escape(h));
        } else if let Some(rest) = t.strip_prefix("![") {
            if let Some((alt, src)) = rest.split_once("](") {
                let _ = writeln!(
                    html,
                    "<p><img alt=\"{}\" src=\"{}\"></p>",
                    html_escape(alt),
                    html_escape(src.trim_end_matches(')'))
                );
            }
        } else if !t.is_empty() {
            let _ = writeln!(html, "<p>{}</p>", html_escape(t));
        }
    }
    if in_table {
        html.push_str("</table>\n");
    }
    html.push_str("</body></html>\n");
    html
}

/// Writes the report of normalised observations into `dir`.
pub fn write_report(
    obs: DataFrame,
    dir: &Path,
    max_series: usize,
    source: &str,
) -> Result<ReportSummary, ReportError> {
    std::fs::create_dir_all(dir).map_err(|e| write_err(dir, e))?;
    let mut summary = ReportSummary::default();
    let n_in = obs.height();
    let r = qa(obs.lazy(), &QaConfig::default())?;
    let accepted = r.accepted.collect()?;
    let rejected = r.rejected.collect()?;
    let gaps = r.gaps.collect()?;
    summary.readings = (n_in, accepted.height(), rejected.height());
    let t0 = i64s(&accepted, "time_ms")?
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(0);
    let t1 = i64s(&accepted, "time_ms")?
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0);
    let day0 = local_day_start(super::time::local_day(t0));

    let mut md = String::new();
    let _ = writeln!(md, "# QN Twin telemetry report\n");
    let _ = writeln!(
        md,
        "Source: `{source}`. Local time (UTC+7). Readings from {} to {}. Computed after QA: only accepted readings count.\n",
        local_minute(t0),
        local_minute(t1)
    );
    // QA
    let _ = writeln!(md, "## Quality assurance\n");
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for r in strings(&rejected, "reason")? {
        *reasons.entry(r).or_default() += 1;
    }
    let mut rows = vec![
        vec!["readings".to_string(), n_in.to_string()],
        vec!["accepted".to_string(), accepted.height().to_string()],
    ];
    for (k, v) in &reasons {
        rows.push(vec![format!("rejected: {k}"), v.to_string()]);
    }
    rows.push(vec!["gaps".to_string(), gaps.height().to_string()]);
    md.push_str(&md_table(&["", "count"], &rows));
    md.push('\n');

    // daily AQI
    let daily = daily_aqi(accepted.clone().lazy(), Standard::Vn).collect()?;
    let ids = strings(&daily, "station_id")?;
    let days = i64s(&daily, "time")?;
    let aqis = i64s(&daily, "aqi")?;
    let doms = strings(&daily, "dominant")?;
    let mut cal: Calendar = BTreeMap::new();
    let mut per_station: BTreeMap<String, (usize, i64, i64, String, [usize; 6])> = BTreeMap::new();
    for i in 0..daily.height() {
        let Some(day) = days[i] else { continue };
        cal.entry(ids[i].clone()).or_default().push((day, aqis[i]));
        if let Some(a) = aqis[i] {
            summary.station_days += 1;
            let e = per_station.entry(ids[i].clone()).or_insert((
                0,
                0,
                i64::MIN,
                String::new(),
                [0; 6],
            ));
            e.0 += 1;
            e.1 += a;
            if a > e.2 {
                e.2 = a;
                e.3 = format!("{} ({})", date(day), doms[i]);
            }
            e.4[Band::of(a) as usize] += 1;
        }
    }
    // stations that never have an AQI (water stations, mines) stay out of the calendar
    cal.retain(|_, days| days.iter().any(|d| d.1.is_some()));
    let _ = writeln!(md, "## Daily VN_AQI (Decision 1459/QĐ-TCMT)\n");
    let mut rows = Vec::new();
    for (s, (n, sum, worst, when, bands)) in &per_station {
        let mut r = vec![
            s.clone(),
            n.to_string(),
            format!("{:.0}", *sum as f64 / *n as f64),
            worst.to_string(),
            when.clone(),
        ];
        r.extend(bands.iter().map(|b| b.to_string()));
        rows.push(r);
    }
    md.push_str(&md_table(
        &[
            "station",
            "days",
            "mean AQI",
            "worst",
            "worst day (dominant)",
            "Tốt",
            "Trung bình",
            "Kém",
            "Xấu",
            "Rất xấu",
            "Nguy hại",
        ],
        &rows,
    ));
    md.push('\n');

    // exceedances
    let table = LimitTable::default();
    let ex = exceedances(accepted.clone().lazy(), &table)?.collect()?;
    let _ = writeln!(md, "## Exceedances of {}\n", table.edition);
    let exs = strings(&ex, "station_id")?;
    let exp = strings(&ex, "parameter")?;
    let exper = strings(&ex, "period")?;
    let exl = f64s(&ex, "limit_ug_m3")?;
    let exn = i64s(&ex, "periods")?;
    let exk = i64s(&ex, "exceedances")?;
    let exm = f64s(&ex, "max_ug_m3")?;
    let rows: Vec<Vec<String>> = (0..ex.height())
        .filter(|&i| exk[i].unwrap_or(0) > 0)
        .map(|i| {
            vec![
                exs[i].clone(),
                exp[i].clone(),
                exper[i].clone(),
                format!("{}", exl[i].unwrap_or(f64::NAN)),
                exn[i].unwrap_or(0).to_string(),
                exk[i].unwrap_or(0).to_string(),
                format!("{:.1}", exm[i].unwrap_or(f64::NAN)),
            ]
        })
        .collect();
    if rows.is_empty() {
        let _ = writeln!(md, "No exceedances in {} evaluated series.\n", ex.height());
    } else {
        md.push_str(&md_table(
            &[
                "station",
                "parameter",
                "period",
                "limit µg/m³",
                "periods",
                "exceedances",
                "max µg/m³",
            ],
            &rows,
        ));
        md.push('\n');
    }

    // alarms
    let al = alarms(accepted.clone().lazy(), &default_levels(), 60.0)?;
    let ev = al.events.collect()?;
    summary.alarm_events = ev.height();
    let _ = writeln!(md, "## Mine-gas alarms\n");
    let evs = strings(&ev, "station_id")?;
    let eva = strings(&ev, "alarm")?;
    let evr = strings(&ev, "rule")?;
    let ev0 = i64s(&ev, "start_ms")?;
    let ev1 = i64s(&ev, "end_ms")?;
    let events: Vec<Event> = (0..ev.height())
        .filter_map(|i| Some((evs[i].clone(), eva[i].clone(), ev0[i]?, ev1[i]? + 60_000)))
        .collect();
    let mut per_mine: BTreeMap<(String, String), (usize, f64, String)> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        let x = per_mine.entry((e.0.clone(), e.1.clone())).or_insert((
            0,
            0.0,
            evr.get(i).cloned().unwrap_or_default(),
        ));
        x.0 += 1;
        x.1 += (e.3 - e.2) as f64 / 60_000.0;
    }
    if per_mine.is_empty() {
        let _ = writeln!(md, "No alarm events.\n");
    } else {
        let rows: Vec<Vec<String>> = per_mine
            .iter()
            .map(|((m, a), (n, min, rule))| {
                vec![
                    m.clone(),
                    a.clone(),
                    n.to_string(),
                    format!("{min:.0}"),
                    rule.clone(),
                ]
            })
            .collect();
        md.push_str(&md_table(
            &["mine", "alarm", "events", "minutes", "rule"],
            &rows,
        ));
        md.push('\n');
    }

    // plots
    let files = &mut summary.files;
    match ensure_font() {
        Err(why) => {
            let _ = writeln!(md, "Plots left out: {why}.\n");
            summary.plots_skipped = Some(why);
        }
        Ok(()) => {
            let _ = writeln!(md, "## Plots\n");
            if !cal.is_empty() {
                let p = dir.join("aqi_calendar.png");
                let note = calendar_png(&p, &cal)?;
                let _ = writeln!(md, "![Daily VN_AQI calendar](aqi_calendar.png)\n");
                if let Some(note) = note {
                    let _ = writeln!(md, "Calendar: {note}.\n");
                }
                files.push(p);
            }
            // series for the stations with the worst days
            let mut worst: Vec<(&String, i64)> =
                per_station.iter().map(|(s, v)| (s, v.2)).collect();
            worst.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            let chosen: Vec<String> = worst
                .iter()
                .take(max_series)
                .map(|(s, _)| (*s).clone())
                .collect();
            if !chosen.is_empty() {
                let keys = DataFrame::new_infer_height(vec![Column::new(
                    "station_id".into(),
                    chosen.clone(),
                )])?;
                let sel = accepted.clone().lazy().join(
                    keys.lazy(),
                    [col("station_id")],
                    [col("station_id")],
                    JoinArgs::new(JoinType::Inner),
                );
                let means = hourly_means(sel.clone()).collect()?;
                let hourly = hourly_aqi(sel, Standard::Vn).collect()?;
                let ms = strings(&means, "station_id")?;
                let mp = strings(&means, "parameter")?;
                let mh = i64s(&means, "hour_ms")?;
                let mv = f64s(&means, "mean")?;
                let hs = strings(&hourly, "station_id")?;
                let ht = i64s(&hourly, "time")?;
                let ha = i64s(&hourly, "aqi")?;
                let x = |ms: i64| (ms - day0) as f64 / DAY_MS as f64;
                let limits: Vec<(String, f64)> = table
                    .limits
                    .iter()
                    .filter(|(p, per, _)| *per == Period::Day && (p == "PM2.5" || p == "PM10"))
                    .map(|(p, _, l)| (p.clone(), *l))
                    .collect();
                for station in &chosen {
                    let mut s = StationSeries {
                        station: station.clone(),
                        pm25: Vec::new(),
                        pm10: Vec::new(),
                        aqi: Vec::new(),
                    };
                    for i in 0..means.height() {
                        if &ms[i] != station {
                            continue;
                        }
                        let (Some(h), Some(v)) = (mh[i], mv[i]) else {
                            continue;
                        };
                        match mp[i].as_str() {
                            "PM2.5" => s.pm25.push((x(h), v)),
                            "PM10" => s.pm10.push((x(h), v)),
                            _ => {}
                        }
                    }
                    for i in 0..hourly.height() {
                        if &hs[i] == station
                            && let (Some(t), Some(a)) = (ht[i], ha[i])
                        {
                            s.aqi.push((x(t), a as f64));
                        }
                    }
                    for v in [&mut s.pm25, &mut s.pm10, &mut s.aqi] {
                        v.sort_by(|a, b| a.0.total_cmp(&b.0));
                    }
                    let name = format!("series_{}.png", safe(station));
                    let p = dir.join(&name);
                    series_png(&p, &s, day0, &limits)?;
                    let _ = writeln!(md, "![{station}: hourly means and AQI]({name})\n");
                    files.push(p);
                }
            }
            if !events.is_empty() {
                let p = dir.join("alarms.png");
                alarms_png(&p, &events, day0, t1.max(day0 + DAY_MS))?;
                let _ = writeln!(md, "![Mine-gas alarm timeline](alarms.png)\n");
                files.push(p);
            }
        }
    }
    let md_path = dir.join("report.md");
    std::fs::write(&md_path, &md).map_err(|e| write_err(&md_path, e))?;
    let html_path = dir.join("report.html");
    std::fs::write(&html_path, markdown_to_html(&md)).map_err(|e| write_err(&html_path, e))?;
    summary.files.insert(0, html_path);
    summary.files.insert(0, md_path);
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_tables_become_html_tables() {
        let md = "# T\n\n| a | b |\n| --- | --- |\n| 1 | <2> |\n\n![x](p.png)\n";
        let html = markdown_to_html(md);
        assert!(html.contains("<h1>T</h1>"));
        assert!(html.contains("<th>a</th><th>b</th>"));
        assert!(html.contains("<td>1</td><td>&lt;2&gt;</td>"));
        assert!(html.contains("<img alt=\"x\" src=\"p.png\">"));
        assert!(!html.contains("---"));
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(safe("QN-AIR/01 x"), "QN-AIR_01_x");
    }
}
