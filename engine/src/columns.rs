//! Columns of a polars `DataFrame` as plain vectors, for code that walks rows (reports, the
//! viewer, tests). Each casts first, so any numeric or string column type reads.

use polars::prelude::*;

/// A column as strings; nulls become empty strings.
pub fn strings(df: &DataFrame, c: &str) -> PolarsResult<Vec<String>> {
    Ok(df
        .column(c)?
        .cast(&DataType::String)?
        .str()?
        .iter()
        .map(|v| v.unwrap_or("").to_string())
        .collect())
}

/// A column as 64-bit integers (a datetime gives its raw count in its own unit).
pub fn i64s(df: &DataFrame, c: &str) -> PolarsResult<Vec<Option<i64>>> {
    Ok(df
        .column(c)?
        .cast(&DataType::Int64)?
        .i64()?
        .iter()
        .collect())
}

/// A column as 64-bit floats.
pub fn f64s(df: &DataFrame, c: &str) -> PolarsResult<Vec<Option<f64>>> {
    Ok(df
        .column(c)?
        .cast(&DataType::Float64)?
        .f64()?
        .iter()
        .collect())
}

/// A datetime column as milliseconds since the Unix epoch, whatever its unit (an integer
/// column is taken as milliseconds already).
pub fn times_ms(df: &DataFrame, c: &str) -> PolarsResult<Vec<Option<i64>>> {
    let per_ms = match df.column(c)?.dtype() {
        DataType::Datetime(TimeUnit::Microseconds, _) => 1_000,
        DataType::Datetime(TimeUnit::Nanoseconds, _) => 1_000_000,
        _ => 1,
    };
    Ok(i64s(df, c)?
        .into_iter()
        .map(|v| v.map(|v| v.div_euclid(per_ms)))
        .collect())
}
