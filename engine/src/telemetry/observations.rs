//! Observations: one schema for every reading, and readers that normalise units.
//!
//! Long layout (one row per reading), CSV or Parquet:
//!
//! | column | type | meaning |
//! | --- | --- | --- |
//! | `station_id` | string | station (or mine sensor) id |
//! | `parameter` | string | `PM2.5`, `PM10`, `SO2`, `NO2`, `CO`, `O3`, … |
//! | `time` | RFC 3339 with offset (CSV) or UTC datetime (Parquet) | end of the averaging period |
//! | `value` | float | the reading |
//! | `unit` | string | see [`to_canonical`] |
//! | `status` | string | `measuring`, `calibrating` or `error` (only `measuring` counts) |
//!
//! CSV files may also use the wide layout of dataloggers: `station_id`, `time`, optional
//! `status`, and one column per parameter headed `PARAMETER [unit]` (see [`read`]); errors then
//! name the data row and that column.
//!
//! After reading, values are in the parameter's canonical unit (µg/m³ for air pollutants, gases
//! converted at 25 °C and 1 atm with a molar volume of 24.45 L) and `time` is milliseconds since
//! the epoch, UTC (`time_ms`, Int64). A unit that is unknown, or that does not fit the
//! parameter, is an error naming the file, the row and the column; nothing is dropped silently.

use std::path::Path;

use polars::prelude::*;

pub use super::ObservationError;

/// Molar mass (g/mol) of the gases whose ppm/ppb readings convert to µg/m³.
pub fn molar_mass(parameter: &str) -> Option<f64> {
    Some(match parameter {
        "SO2" => 64.066,
        "NO2" => 46.0055,
        "NO" => 30.006,
        "CO" => 28.010,
        "O3" => 47.997,
        "NH3" => 17.031,
        "H2S" => 34.08,
        _ => return None,
    })
}

/// Molar volume at 25 °C and 1 atm, L/mol.
pub const MOLAR_VOLUME_L: f64 = 24.45;

/// Air pollutants whose canonical unit is µg/m³.
pub const AIR_POLLUTANTS: [&str; 9] = [
    "PM2.5", "PM10", "TSP", "SO2", "NO2", "NO", "CO", "O3", "NH3",
];

/// The factor that turns `unit` into the parameter's canonical unit, and that unit; `None` when
/// the unit is unknown or does not fit the parameter.
pub fn to_canonical(parameter: &str, unit: &str) -> Option<(f64, &'static str)> {
    let u = unit.trim();
    if AIR_POLLUTANTS.contains(&parameter) {
        let mass = match u {
            "µg/m³" | "ug/m3" | "µg/m3" | "ug/m³" => return Some((1.0, "µg/m³")),
            "mg/m³" | "mg/m3" => return Some((1000.0, "µg/m³")),
            _ => molar_mass(parameter),
        };
        let m = mass?;
        return match u {
            "ppb" => Some((m / MOLAR_VOLUME_L, "µg/m³")),
            "ppm" => Some((1000.0 * m / MOLAR_VOLUME_L, "µg/m³")),
            _ => None,
        };
    }
    match (parameter, u) {
        // mine gases: CH4 and O2 in %, CO in ppm underground (`CO_mine`)
        ("CH4" | "O2", "%") => Some((1.0, "%")),
        ("CH4" | "O2", "ppm") => Some((1e-4, "%")),
        ("CO_mine", "ppm") => Some((1.0, "ppm")),
        ("CO_mine", "%") => Some((1e4, "ppm")),
        ("air_velocity", "m/s") => Some((1.0, "m/s")),
        ("dust", "mg/m³" | "mg/m3") => Some((1.0, "mg/m³")),
        ("temperature", "°C" | "degC") => Some((1.0, "°C")),
        ("wind_speed", "m/s") => Some((1.0, "m/s")),
        ("wind_direction", "deg" | "°") => Some((1.0, "deg")),
        ("pH", "" | "-" | "pH") => Some((1.0, "pH")),
        ("relative_humidity", "%") => Some((1.0, "%")),
        ("DO" | "COD" | "BOD5" | "TSS" | "NH4" | "NH4+", "mg/L" | "mg/l") => Some((1.0, "mg/L")),
        ("conductivity", "µS/cm" | "uS/cm") => Some((1.0, "µS/cm")),
        ("conductivity", "mS/cm") => Some((1000.0, "µS/cm")),
        ("salinity", "PSU" | "psu" | "‰" | "ppt") => Some((1.0, "PSU")),
        _ => None,
    }
}

/// The canonical unit of a parameter (the unit [`to_canonical`] turns every other into), or
/// `None` for an unknown parameter.
pub fn canonical_unit(parameter: &str) -> Option<&'static str> {
    const UNITS: [&str; 12] = [
        "µg/m³", "%", "ppm", "m/s", "mg/m³", "°C", "deg", "pH", "mg/L", "µS/cm", "PSU", "",
    ];
    UNITS
        .iter()
        .find_map(|u| to_canonical(parameter, u).filter(|(f, c)| *f == 1.0 && c == u))
        .map(|(_, c)| c)
}

fn read_err(path: &Path, e: impl std::fmt::Display) -> ObservationError {
    ObservationError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The wide CSV layout: `station_id`, `time`, optional `status` (default `measuring`), and one
/// column per parameter headed `PARAMETER [unit]` (e.g. `PM2.5 [µg/m³]`, `SO2 [ppb]`); empty
/// cells are no reading. Turned into the long layout, each row keeping its source row (`_row`)
/// and column (`_col`) for error messages.
fn wide_to_long(path: &Path, wide: DataFrame) -> Result<DataFrame, ObservationError> {
    for c in ["station_id", "time"] {
        if wide.column(c).is_err() {
            return Err(read_err(
                path,
                format!(
                    "no column `{c}`: expected the long layout (station_id, parameter, time, value, \
                     unit, status) or the wide one (station_id, time, [status], `PARAMETER [unit]`…)"
                ),
            ));
        }
    }
    let enc = |e: PolarsError| read_err(path, e);
    let n = wide.height();
    let status = match wide.column("status") {
        Ok(c) => c.clone(),
        Err(_) => Column::new("status".into(), vec!["measuring"; n]),
    };
    let rows = Column::new("_row".into(), (1..=n as u64).collect::<Vec<_>>());
    let mut parts = Vec::new();
    for c in wide.columns() {
        let name = c.name().as_str();
        if matches!(name, "station_id" | "time" | "status") {
            continue;
        }
        let (param, unit) = name
            .strip_suffix(']')
            .and_then(|h| h.split_once('['))
            .map(|(p, u)| (p.trim().to_string(), u.trim().to_string()))
            .filter(|(p, _)| !p.is_empty())
            .ok_or_else(|| ObservationError::Row {
                path: path.to_path_buf(),
                row: 0,
                column: name.to_string(),
                message: "a wide-layout column must be headed `PARAMETER [unit]`".into(),
            })?;
        let part = DataFrame::new_infer_height(vec![
            wide.column("station_id").map_err(enc)?.clone(),
            Column::new("parameter".into(), vec![param; n]),
            wide.column("time").map_err(enc)?.clone(),
            c.clone().with_name("value".into()),
            Column::new("unit".into(), vec![unit; n]),
            status.clone(),
            rows.clone(),
            Column::new("_col".into(), vec![name.to_string(); n]),
        ])
        .map_err(enc)?;
        // empty cells are no reading
        let keep = part
            .column("value")
            .map_err(enc)?
            .str()
            .map_err(enc)?
            .iter()
            .map(|v| Some(v.is_some_and(|v| !v.trim().is_empty())))
            .collect::<BooleanChunked>();
        parts.push(part.filter(&keep).map_err(enc)?);
    }
    let Some(first) = parts.first().cloned() else {
        return Err(read_err(path, "no parameter columns"));
    };
    let mut long = first;
    for p in &parts[1..] {
        long.vstack_mut(p).map_err(enc)?;
    }
    Ok(long)
}

/// Reads a long-layout CSV or Parquet file (by extension) or a wide-layout CSV into a
/// normalised frame: `station_id`, `parameter`, `time_ms` (UTC), `value` (canonical unit),
/// `unit` (canonical), `status`. A directory is refused: a lake is read whole only by
/// [`super::read_any`] (explicitly unbounded) or day by day by [`super::stream`].
pub fn read(path: &Path) -> Result<DataFrame, ObservationError> {
    if path.is_dir() {
        return Err(read_err(
            path,
            "is a directory; read a lake with telemetry::read_any (whole) or telemetry::stream (day by day)",
        ));
    }
    let is_parquet = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    let raw = if is_parquet {
        // checked before decoding (crate::safeio): a corrupt file is an error naming it
        crate::safeio::read_parquet(path).map_err(|e| read_err(path, e))?
    } else {
        let all_text = CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .try_into_reader_with_file_path(Some(path.to_path_buf()))
            .map_err(|e| read_err(path, e))?
            .finish()
            .map_err(|e| read_err(path, e))?;
        if all_text.column("parameter").is_ok() {
            all_text
        } else if super::airnow::is_airnow_header(
            &all_text
                .get_column_names()
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>(),
        ) {
            // an AirNow hourly file, its local time taken as the twin's (UTC+7)
            let offset_h = (super::time::LOCAL_OFFSET_MS / super::time::HOUR_MS) as i32;
            return super::airnow::observations(path, offset_h);
        } else {
            wide_to_long(path, all_text)?
        }
    };
    normalise(path, raw)
}

/// Checks and normalises a raw frame (CSV strings or Parquet types).
pub fn normalise(path: &Path, raw: DataFrame) -> Result<DataFrame, ObservationError> {
    for c in ["station_id", "parameter", "time", "value", "unit", "status"] {
        if raw.column(c).is_err() {
            return Err(read_err(path, format!("no column `{c}`")));
        }
    }
    let enc = |e: PolarsError| read_err(path, e);
    let n = raw.height();
    // the source row and column of each row (the wide layout keeps them; the long one is 1:1)
    let src_row: Option<UInt64Chunked> = raw
        .column("_row")
        .ok()
        .and_then(|c| c.cast(&DataType::UInt64).ok())
        .and_then(|c| c.u64().ok().cloned());
    let src_col: Option<StringChunked> =
        raw.column("_col").ok().and_then(|c| c.str().ok().cloned());
    let first_bad = |mask: &BooleanChunked, column: &str, message: &dyn Fn(usize) -> String| {
        mask.iter()
            .position(|b| b == Some(true))
            .map(|i| ObservationError::Row {
                path: path.to_path_buf(),
                row: src_row
                    .as_ref()
                    .and_then(|r| r.get(i))
                    .unwrap_or(i as u64 + 1),
                column: match (&src_col, column) {
                    (Some(c), "value" | "unit") => c.get(i).unwrap_or(column).to_string(),
                    _ => column.to_string(),
                },
                message: message(i),
            })
    };
    // every reading belongs to a station and a parameter
    for c in ["station_id", "parameter"] {
        let ids = raw
            .column(c)
            .map_err(enc)?
            .cast(&DataType::String)
            .map_err(enc)?;
        let ids = ids.str().map_err(enc)?;
        let missing: BooleanChunked = ids
            .iter()
            .map(|v| Some(v.is_none_or(|v| v.trim().is_empty())))
            .collect();
        if let Some(e) = first_bad(&missing, c, &|_| {
            format!("missing `{c}`: every reading needs one")
        }) {
            return Err(e);
        }
    }
    // time → ms UTC
    let time = raw.column("time").map_err(enc)?;
    let time_ms: Int64Chunked = match time.dtype() {
        DataType::String => {
            let s = time.str().map_err(enc)?;
            s.iter()
                .map(|v| {
                    v.and_then(|t| chrono::DateTime::parse_from_rfc3339(t.trim()).ok())
                        .map(|d| d.timestamp_millis())
                })
                .collect()
        }
        DataType::Datetime(unit, _) => {
            let per_ms = match unit {
                TimeUnit::Milliseconds => 1,
                TimeUnit::Microseconds => 1_000,
                TimeUnit::Nanoseconds => 1_000_000,
            };
            let phys = time.cast(&DataType::Int64).map_err(enc)?;
            phys.i64()
                .map_err(enc)?
                .apply_values(|v| v.div_euclid(per_ms))
        }
        other => {
            return Err(read_err(
                path,
                format!("column `time` is {other}, expected RFC 3339 text or a datetime"),
            ));
        }
    };
    if let Some(e) = first_bad(&time_ms.is_null(), "time", &|i| {
        format!(
            "{:?} is not an RFC 3339 time with offset (e.g. 2026-01-15T08:00:00+07:00)",
            time.get(i).map(|v| v.to_string()).unwrap_or_default()
        )
    }) {
        return Err(e);
    }
    // value → f64
    let value_col = raw.column("value").map_err(enc)?;
    let value = value_col.cast(&DataType::Float64).map_err(enc)?;
    let value = value.f64().map_err(enc)?.clone();
    let bad_value: BooleanChunked = value
        .iter()
        .zip(value_col.as_materialized_series().iter())
        .map(|(v, raw)| Some(v.is_none_or(|v| !v.is_finite()) && !raw.is_null()))
        .collect();
    if let Some(e) = first_bad(&bad_value, "value", &|i| {
        format!(
            "{} is not a number",
            value_col.get(i).map(|v| v.to_string()).unwrap_or_default()
        )
    }) {
        return Err(e);
    }
    // units
    let params = raw
        .column("parameter")
        .map_err(enc)?
        .str()
        .map_err(enc)?
        .clone();
    let units = raw.column("unit").map_err(enc)?.str().map_err(enc)?.clone();
    let mut factor = Vec::with_capacity(n);
    let mut canon = Vec::with_capacity(n);
    for (i, (p, u)) in params.iter().zip(units.iter()).enumerate() {
        let (p, u) = (p.unwrap_or(""), u.unwrap_or(""));
        match to_canonical(p, u) {
            Some((f, c)) => {
                factor.push(f);
                canon.push(c);
            }
            None => {
                let mut mask = vec![false; n];
                mask[i] = true;
                let mask: BooleanChunked = mask.into_iter().map(Some).collect();
                let message = format!("unit {u:?} is unknown for parameter {p:?}");
                return Err(first_bad(&mask, "unit", &|_| message.clone())
                    .unwrap_or_else(|| read_err(path, message.clone())));
            }
        }
    }
    let factor = Float64Chunked::from_vec("factor".into(), factor);
    let converted = (&value * &factor).with_name("value".into());
    // finite before conversion is not enough: 1e306 ppm of SO2 is +inf µg/m³
    let overflow: BooleanChunked = converted
        .iter()
        .map(|v| Some(v.is_some_and(|v| !v.is_finite())))
        .collect();
    if let Some(e) = first_bad(&overflow, "value", &|i| {
        format!(
            "{} {} is not a finite number in {} (the value is out of range)",
            value
                .get(i)
                .map(|v| if v.abs() >= 1e6 {
                    format!("{v:e}")
                } else {
                    v.to_string()
                })
                .unwrap_or_default(),
            units.get(i).unwrap_or(""),
            canon.get(i).copied().unwrap_or("")
        )
    }) {
        return Err(e);
    }
    let value = converted;
    let status = raw
        .column("status")
        .map_err(enc)?
        .str()
        .map_err(enc)?
        .clone();
    let bad_status: BooleanChunked = status
        .iter()
        .map(|s| Some(!matches!(s, Some("measuring" | "calibrating" | "error"))))
        .collect();
    if let Some(e) = first_bad(&bad_status, "status", &|i| {
        format!(
            "{:?} is not measuring, calibrating or error",
            status.get(i).unwrap_or("")
        )
    }) {
        return Err(e);
    }
    DataFrame::new_infer_height(vec![
        raw.column("station_id")
            .map_err(enc)?
            .cast(&DataType::String)
            .map_err(enc)?,
        Column::new(
            "parameter".into(),
            raw.column("parameter")
                .map_err(enc)?
                .as_materialized_series()
                .clone(),
        ),
        Column::new("time_ms".into(), time_ms.into_series()),
        Column::new("value".into(), value.into_series()),
        Column::new("unit".into(), canon),
        Column::new("status".into(), status.into_series()),
    ])
    .map_err(enc)
}
