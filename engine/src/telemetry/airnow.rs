//! AirNow hourly files of the US Department of State's monitors (e.g. the US Embassy in Hanoi):
//! columns `Site`, `Parameter`, `Date (LT)`, `Year`, `Month`, `Day`, `Hour`, `NowCast Conc.`,
//! `AQI`, `AQI Category`, `Raw Conc.`, `Conc. Unit`, `Duration`, `QC Name`; −999 marks a missing
//! value. `NowCast Conc.` and `AQI` are the publisher's own computation with the US EPA NowCast
//! and the breakpoints in force at the time (the 2012 table before May 2024).
//!
//! **Hour labels.** AirNow labels an hourly average by the hour it begins in, in local time
//! (`Hour` 1 = 01:00–02:00). The twin stamps a reading at the *end* of its averaging period and
//! labels hours by their end, so a row's reading is stamped `Date (LT)` + 1 h, converted from
//! local time at `utc_offset_h` (Vietnam: +7). (The comparison below does not depend on this
//! choice: it shifts the labels of both sides alike.)
//!
//! [`read_rows`] parses a file (errors name the file, the data row and the column);
//! [`observations`] turns its rows into the twin's observation schema (`QC Name` other than
//! `Valid` → status `error`, so QA and the indices skip it; −999 → no reading); and [`compare`]
//! proves the US pipeline against the publisher: the published NowCast looked up in the 2012
//! table, and the twin's own hourly AQI from the raw column, hour by hour.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use polars::prelude::*;

use super::ObservationError;
use super::aqi::{AqiParameter, UsEdition, us_aqi_edition, us_nowcast};
use super::time::HOUR_MS;

/// One row of an AirNow file.
#[derive(Debug, Clone, PartialEq)]
pub struct AirNowRow {
    /// 1-based data row (the header is row 0).
    pub row: u64,
    /// `Site`.
    pub site: String,
    /// `Parameter` as written (e.g. `PM2.5 - Principal`).
    pub parameter: String,
    /// End of the row's hour, ms since the epoch (UTC).
    pub hour_end_ms: i64,
    /// `Raw Conc.`, `None` when −999.
    pub raw: Option<f64>,
    /// `NowCast Conc.`, `None` when −999.
    pub nowcast: Option<f64>,
    /// `AQI`, `None` when −999.
    pub aqi: Option<i64>,
    /// `Conc. Unit`.
    pub unit: String,
    /// `QC Name` is `Valid`.
    pub valid: bool,
}

/// The columns an AirNow file has (enough to tell one from the twin's own layouts).
pub const COLUMNS: [&str; 8] = [
    "Site",
    "Parameter",
    "Year",
    "Month",
    "Day",
    "Hour",
    "Raw Conc.",
    "QC Name",
];

/// Whether a CSV header line is an AirNow file's.
pub fn is_airnow_header(header: &[&str]) -> bool {
    COLUMNS
        .iter()
        .all(|c| header.iter().any(|h| h.trim() == *c))
}

fn row_err(path: &Path, row: u64, column: &str, message: String) -> ObservationError {
    ObservationError::Row {
        path: path.to_path_buf(),
        row,
        column: column.to_string(),
        message,
    }
}

/// Reads an AirNow file whose local time is UTC + `utc_offset_h`.
pub fn read_rows(path: &Path, utc_offset_h: i32) -> Result<Vec<AirNowRow>, ObservationError> {
    let text = std::fs::read_to_string(path).map_err(|e| ObservationError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = |name: &str| header.iter().position(|h| h.trim() == name);
    let need = |name: &str| {
        col(name).ok_or_else(|| ObservationError::Read {
            path: path.to_path_buf(),
            message: format!("no column `{name}`: not an AirNow hourly file"),
        })
    };
    let [site, param, year, month, day, hour, raw, qc] = [
        need("Site")?,
        need("Parameter")?,
        need("Year")?,
        need("Month")?,
        need("Day")?,
        need("Hour")?,
        need("Raw Conc.")?,
        need("QC Name")?,
    ];
    let (nowcast, aqi, unit) = (col("NowCast Conc."), col("AQI"), col("Conc. Unit"));
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        let row = i as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let get = |k: usize, name: &str| {
            f.get(k).copied().ok_or_else(|| {
                row_err(
                    path,
                    row,
                    name,
                    format!("missing: the row has {} fields", f.len()),
                )
            })
        };
        let int = |k: usize, name: &str, lo: i64, hi: i64| -> Result<i64, ObservationError> {
            let s = get(k, name)?;
            match s.parse::<i64>() {
                Ok(v) if (lo..=hi).contains(&v) => Ok(v),
                _ => Err(row_err(
                    path,
                    row,
                    name,
                    format!("{s:?} is not a whole number in {lo}–{hi}"),
                )),
            }
        };
        // −999 (or any negative value) is AirNow's "missing"
        let num = |k: Option<usize>, name: &str| -> Result<Option<f64>, ObservationError> {
            let Some(k) = k else { return Ok(None) };
            let s = get(k, name)?;
            match s.parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 => Ok(Some(v)),
                Ok(v) if v.is_finite() => Ok(None),
                _ => Err(row_err(path, row, name, format!("{s:?} is not a number"))),
            }
        };
        let (y, mo, d) = (
            int(year, "Year", 1970, 9999)?,
            int(month, "Month", 1, 12)?,
            int(day, "Day", 1, 31)?,
        );
        let h = int(hour, "Hour", 0, 23)?;
        let date = chrono::NaiveDate::from_ymd_opt(y as i32, mo as u32, d as u32)
            .ok_or_else(|| row_err(path, row, "Day", format!("{y}-{mo}-{d} is not a date")))?;
        let start_local = date
            .and_hms_opt(h as u32, 0, 0)
            .ok_or_else(|| row_err(path, row, "Hour", format!("{h} is not an hour")))?;
        let start_ms = start_local.and_utc().timestamp_millis() - i64::from(utc_offset_h) * HOUR_MS;
        rows.push(AirNowRow {
            row,
            site: get(site, "Site")?.to_string(),
            parameter: get(param, "Parameter")?.to_string(),
            hour_end_ms: start_ms + HOUR_MS,
            raw: num(Some(raw), "Raw Conc.")?,
            nowcast: num(nowcast, "NowCast Conc.")?,
            aqi: num(aqi, "AQI")?.map(|v| v.round() as i64),
            unit: unit
                .and_then(|k| f.get(k))
                .map_or("UG/M3", |u| *u)
                .to_string(),
            valid: get(qc, "QC Name")? == "Valid",
        });
    }
    Ok(rows)
}

/// The rows' raw concentrations as twin observations (before [`super::observations::normalise`]):
/// `station_id` = the site, `parameter` = the part of `Parameter` before " - " (`PM2.5`), `time`
/// = the hour's end (RFC 3339, UTC), `value`, `unit`, `status` (`measuring` when `QC Name` is
/// `Valid`, else `error`); rows without a raw value are left out. `_row` keeps each source row.
pub fn raw_frame(rows: &[AirNowRow]) -> PolarsResult<DataFrame> {
    let kept: Vec<&AirNowRow> = rows.iter().filter(|r| r.raw.is_some()).collect();
    let time = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default()
    };
    let unit = |u: &str| {
        if u.eq_ignore_ascii_case("UG/M3") {
            "µg/m³".to_string()
        } else {
            u.to_string()
        }
    };
    DataFrame::new_infer_height(vec![
        Column::new(
            "station_id".into(),
            kept.iter().map(|r| r.site.clone()).collect::<Vec<_>>(),
        ),
        Column::new(
            "parameter".into(),
            kept.iter()
                .map(|r| {
                    r.parameter
                        .split(" - ")
                        .next()
                        .unwrap_or_default()
                        .trim()
                        .to_string()
                })
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "time".into(),
            kept.iter().map(|r| time(r.hour_end_ms)).collect::<Vec<_>>(),
        ),
        Column::new(
            "value".into(),
            kept.iter()
                .map(|r| r.raw.map(|v| v.to_string()))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "unit".into(),
            kept.iter().map(|r| unit(&r.unit)).collect::<Vec<_>>(),
        ),
        Column::new(
            "status".into(),
            kept.iter()
                .map(|r| if r.valid { "measuring" } else { "error" })
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "_row".into(),
            kept.iter().map(|r| r.row).collect::<Vec<_>>(),
        ),
    ])
}

/// Reads an AirNow file into the twin's observation schema ([`observations_of`]).
pub fn observations(path: &Path, utc_offset_h: i32) -> Result<DataFrame, ObservationError> {
    observations_of(path, &read_rows(path, utc_offset_h)?)
}

/// The rows of the AirNow file at `path` in the twin's observation schema ([`raw_frame`],
/// then the same unit normalisation as every other reader).
pub fn observations_of(path: &Path, rows: &[AirNowRow]) -> Result<DataFrame, ObservationError> {
    let raw = raw_frame(rows).map_err(|e| ObservationError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    super::observations::normalise(path, raw)
}

/// The most two roundings to 0.1 µg/m³ can separate the twin's NowCast from the published
/// one (plus float slack).
pub const PRECISION_UG_M3: f64 = 0.1 + 1e-6;

/// How the twin's US AQI compares with the publisher's, hour by hour.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Comparison {
    /// Rows with a published AQI and NowCast.
    pub published: usize,
    /// Of those, where the published NowCast looked up in the 2012 table gives the published AQI.
    pub lookup_agree: usize,
    /// Published hours the twin's pipeline also has an AQI for.
    pub both: usize,
    /// Of those, where the two AQIs are equal.
    pub pipeline_agree: usize,
    /// Published hours without a twin AQI: fewer than two of the three most recent hours are
    /// valid in the file (the publisher had values the file marks missing or invalid).
    pub twin_missing: usize,
    /// Disagreements where the NowCast recomputed from the file's raw column is within
    /// 0.1 µg/m³ of the published one — what rounding explains: the file's raw values and its
    /// NowCast are each rounded to 0.1 µg/m³ (±0.05 each), the publisher computes from the
    /// unrounded values, and the lookup truncates to 0.1, so a difference that small can still
    /// cross a step of the table.
    pub precision: usize,
    /// Disagreements with a larger NowCast difference and a missing or invalid hour in the
    /// 12-hour window: the publisher's window held hours the file does not.
    pub window: usize,
    /// Other disagreements.
    pub other: usize,
    /// Hour labels that appear more than once in the file (the later rows are ignored).
    pub duplicated_hours: usize,
    /// Largest |twin AQI − published AQI|.
    pub max_abs_diff: i64,
}

/// Compares the publisher's columns with the twin: `twin_aqi` maps hour-end ms to the twin's
/// hourly US AQI (2012 table) computed from the file's raw column.
pub fn compare(rows: &[AirNowRow], twin_aqi: &HashMap<i64, i64>) -> Comparison {
    let mut c = Comparison::default();
    // the file's valid raw values by hour (the first row of a duplicated hour)
    let mut raw: BTreeMap<i64, Option<f64>> = BTreeMap::new();
    for r in rows {
        if raw.contains_key(&r.hour_end_ms) {
            c.duplicated_hours += 1;
            continue;
        }
        raw.insert(r.hour_end_ms, r.raw.filter(|_| r.valid));
    }
    let window = |end: i64| -> [Option<f64>; 12] {
        std::array::from_fn(|i| raw.get(&(end - i as i64 * HOUR_MS)).copied().flatten())
    };
    let mut seen = std::collections::HashSet::new();
    for r in rows {
        let (Some(aqi), Some(nc)) = (r.aqi, r.nowcast) else {
            continue;
        };
        if !seen.insert(r.hour_end_ms) {
            continue;
        }
        c.published += 1;
        if us_aqi_edition(AqiParameter::Pm25, nc, UsEdition::Y2012) == Some(aqi) {
            c.lookup_agree += 1;
        }
        let Some(&twin) = twin_aqi.get(&r.hour_end_ms) else {
            c.twin_missing += 1;
            continue;
        };
        c.both += 1;
        if twin == aqi {
            c.pipeline_agree += 1;
            continue;
        }
        c.max_abs_diff = c
            .max_abs_diff
            .max(twin.saturating_sub(aqi).saturating_abs());
        let w = window(r.hour_end_ms);
        let ours = us_nowcast(&w);
        if ours.is_some_and(|v| (v - nc).abs() <= PRECISION_UG_M3) {
            c.precision += 1;
        } else if w.iter().any(Option::is_none) {
            c.window += 1;
        } else {
            c.other += 1;
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "Site,Parameter,Date (LT),Year,Month,Day,Hour,NowCast Conc.,AQI,AQI Category,Raw Conc.,Conc. Unit,Duration,QC Name";

    fn file(rows: &[&str]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = dir.path().join("airnow.csv");
        let mut text = String::from(HEADER);
        for r in rows {
            text.push('\n');
            text.push_str(r);
        }
        std::fs::write(&p, text).expect("write");
        (dir, p)
    }

    #[test]
    fn rows_are_stamped_at_the_end_of_their_local_hour() {
        let (_d, p) = file(&[
            "Hanoi,PM2.5 - Principal,2016-01-01 01:00 AM,2016,01,01,01,81.0,164,Unhealthy,94.7,UG/M3,1 Hr,Valid",
            "Hanoi,PM2.5 - Principal,2016-01-01 02:00 AM,2016,01,01,02,-999,-999,,-999,UG/M3,1 Hr,Missing",
        ]);
        let rows = read_rows(&p, 7).expect("reads");
        // 01:00–02:00 local (UTC+7) ends at 2015-12-31T19:00Z
        let end = chrono::DateTime::parse_from_rfc3339("2015-12-31T19:00:00Z")
            .expect("time")
            .timestamp_millis();
        assert_eq!(rows[0].hour_end_ms, end);
        assert_eq!(
            (rows[0].raw, rows[0].nowcast, rows[0].aqi),
            (Some(94.7), Some(81.0), Some(164))
        );
        assert!(rows[0].valid && !rows[1].valid);
        assert_eq!((rows[1].raw, rows[1].aqi), (None, None));
        let obs = observations(&p, 7).expect("observations");
        assert_eq!(obs.height(), 1, "the missing hour is no reading");
    }

    #[test]
    fn a_bad_field_names_the_row_and_column() {
        let (_d, p) = file(&[
            "Hanoi,PM2.5 - Principal,x,2016,01,01,01,81.0,164,Unhealthy,94.7,UG/M3,1 Hr,Valid",
            "Hanoi,PM2.5 - Principal,x,2016,01,01,25,81.0,164,Unhealthy,94.7,UG/M3,1 Hr,Valid",
        ]);
        let e = read_rows(&p, 7).expect_err("hour 25").to_string();
        assert!(e.contains("row 2") && e.contains("`Hour`"), "{e}");
        let (_d, p) = file(&[
            "Hanoi,PM2.5 - Principal,x,2016,02,30,01,81.0,164,Unhealthy,94.7,UG/M3,1 Hr,Valid",
        ]);
        let e = read_rows(&p, 7).expect_err("30 February").to_string();
        assert!(e.contains("row 1") && e.contains("not a date"), "{e}");
        let (_d, p) = file(&[
            "Hanoi,PM2.5 - Principal,x,2016,01,01,01,81.0,164,Unhealthy,abc,UG/M3,1 Hr,Valid",
        ]);
        let e = read_rows(&p, 7).expect_err("raw").to_string();
        assert!(e.contains("`Raw Conc.`"), "{e}");
    }

    /// The case the reviewers found: a published NowCast of 55.44 µg/m³ is taken to 55.4 before
    /// the lookup, so the published AQI is 150, not 151; the comparison counts it as agreeing,
    /// and sorts the twin's disagreements by cause.
    #[test]
    fn comparison_counts_and_classifies() {
        let t0 = 1_000 * HOUR_MS;
        let row = |k: i64, raw: Option<f64>, nc: f64, aqi: i64| AirNowRow {
            row: k as u64 + 1,
            site: "s".into(),
            parameter: "PM2.5".into(),
            hour_end_ms: t0 + k * HOUR_MS,
            raw,
            nowcast: Some(nc),
            aqi: Some(aqi),
            unit: "UG/M3".into(),
            valid: true,
        };
        let rows = vec![
            row(0, Some(55.4), 55.44, 150),
            row(1, Some(55.5), 55.46, 150),
            row(2, None, 80.0, 164),
            row(3, Some(30.0), 90.0, 169),
        ];
        let mut twin = HashMap::new();
        twin.insert(t0, 150);
        twin.insert(t0 + HOUR_MS, 151); // raw precision: ours 55.45 → 55.4 … or 55.5
        twin.insert(t0 + 3 * HOUR_MS, 120); // hour 2 missing in the file
        let c = compare(&rows, &twin);
        assert_eq!(c.published, 4);
        assert_eq!(
            c.lookup_agree, 4,
            "55.44 → 150, 55.46 → 150, 80 → 164, 90 → 169"
        );
        assert_eq!((c.both, c.pipeline_agree, c.twin_missing), (3, 1, 1));
        assert_eq!((c.precision, c.window, c.other), (1, 1, 0));
        assert_eq!(c.max_abs_diff, 49);
    }
}
