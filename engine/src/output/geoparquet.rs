//! GeoParquet 1.1 (the OGC GeoParquet specification, version 1.1.0): a Parquet table whose
//! `geometry` column holds each row's geometry as ISO WKB, described by the file-level `geo`
//! key-value metadata (version, primary column, encoding, geometry types, bbox). Coordinates are
//! WGS84 longitude, latitude — the specification's default CRS (OGC:CRS84), so no `crs` member
//! is written. QGIS, GeoPandas, GDAL and DuckDB spatial draw such a table on a map as it is.

use std::path::Path;

use polars::prelude::*;

use super::OutputError;

/// ISO WKB (little endian) of a point.
pub fn wkb_point(lon: f64, lat: f64) -> Vec<u8> {
    let mut b = Vec::with_capacity(21);
    b.push(1); // little endian
    b.extend(1u32.to_le_bytes()); // Point
    b.extend(lon.to_le_bytes());
    b.extend(lat.to_le_bytes());
    b
}

/// ISO WKB (little endian) of a line string.
pub fn wkb_line_string(points: &[(f64, f64)]) -> Vec<u8> {
    let mut b = Vec::with_capacity(9 + 16 * points.len());
    b.push(1);
    b.extend(2u32.to_le_bytes()); // LineString
    b.extend((points.len() as u32).to_le_bytes());
    for (x, y) in points {
        b.extend(x.to_le_bytes());
        b.extend(y.to_le_bytes());
    }
    b
}

/// Reads back the coordinates of a little-endian WKB point or line string (for tests and
/// readers of the engine's own tables); `None` for anything else.
pub fn wkb_coords(wkb: &[u8]) -> Option<Vec<(f64, f64)>> {
    let f64_at =
        |o: usize| -> Option<f64> { Some(f64::from_le_bytes(wkb.get(o..o + 8)?.try_into().ok()?)) };
    if *wkb.first()? != 1 {
        return None;
    }
    let kind = u32::from_le_bytes(wkb.get(1..5)?.try_into().ok()?);
    match kind {
        1 => Some(vec![(f64_at(5)?, f64_at(13)?)]),
        2 => {
            let n = u32::from_le_bytes(wkb.get(5..9)?.try_into().ok()?) as usize;
            (0..n)
                .map(|i| Some((f64_at(9 + 16 * i)?, f64_at(17 + 16 * i)?)))
                .collect()
        }
        _ => None,
    }
}

/// The `geo` metadata for one WKB column named `geometry`.
fn geo_metadata(geometry_type: &str, geometries: &[Vec<u8>]) -> String {
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for (x, y) in geometries.iter().filter_map(|g| wkb_coords(g)).flatten() {
        x0 = x0.min(x);
        y0 = y0.min(y);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    let mut column = serde_json::json!({
        "encoding": "WKB",
        "geometry_types": [geometry_type],
    });
    if x0 <= x1 {
        column["bbox"] = serde_json::json!([x0, y0, x1, y1]);
    }
    serde_json::json!({
        "version": "1.1.0",
        "primary_column": "geometry",
        "columns": { "geometry": column },
    })
    .to_string()
}

/// Writes `df` plus a `geometry` column (one WKB value per row, all of `geometry_type`: `Point`
/// or `LineString`) as GeoParquet 1.1.
pub fn write_geoparquet(
    path: &Path,
    mut df: DataFrame,
    geometry_type: &str,
    geometries: Vec<Vec<u8>>,
) -> Result<(), OutputError> {
    let enc = |e: PolarsError| OutputError::encode(path, e.to_string());
    let meta = geo_metadata(geometry_type, &geometries);
    df.with_column(Column::new("geometry".into(), geometries))
        .map_err(enc)?;
    let mut df = super::utc_times(&df).map_err(enc)?;
    let file = std::fs::File::create(path).map_err(|e| OutputError::io(path, e))?;
    ParquetWriter::new(file)
        .with_key_value_metadata(Some(KeyValueMetadata::from_static(vec![(
            "geo".into(),
            meta,
        )])))
        .finish(&mut df)
        .map_err(enc)?;
    Ok(())
}

/// The `geo` metadata of a Parquet file, if it has one (GeoParquet).
pub fn read_geo_metadata(path: &Path) -> Result<Option<serde_json::Value>, OutputError> {
    let file = std::fs::File::open(path).map_err(|e| OutputError::io(path, e))?;
    let enc = |e: PolarsError| OutputError::encode(path, e.to_string());
    let mut reader = ParquetReader::new(file);
    let meta = reader.get_metadata().map_err(enc)?;
    let Some(kv) = meta.key_value_metadata() else {
        return Ok(None);
    };
    kv.iter()
        .find(|k| k.key == "geo")
        .and_then(|k| k.value.as_deref())
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| OutputError::encode(path, format!("`geo` metadata is not JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wkb_round_trips() {
        assert_eq!(
            wkb_coords(&wkb_point(107.1, 20.9)),
            Some(vec![(107.1, 20.9)])
        );
        let line = [(107.0, 21.0), (107.2, 21.1), (107.3, 20.95)];
        assert_eq!(wkb_coords(&wkb_line_string(&line)), Some(line.to_vec()));
        // the layout of ISO WKB: byte order, type, coordinates
        let p = wkb_point(1.0, 2.0);
        assert_eq!(p.len(), 21);
        assert_eq!(&p[..5], &[1, 1, 0, 0, 0]);
    }

    #[test]
    fn a_geoparquet_file_carries_its_geo_metadata() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("t.parquet");
        let df =
            DataFrame::new_infer_height(vec![Column::new("id".into(), ["a", "b"])]).expect("frame");
        let geoms = vec![
            wkb_line_string(&[(107.0, 21.0), (107.5, 21.2)]),
            wkb_line_string(&[(106.9, 20.8), (107.1, 21.0)]),
        ];
        write_geoparquet(&path, df, "LineString", geoms.clone()).expect("written");
        let geo = read_geo_metadata(&path)
            .expect("read")
            .expect("geo metadata");
        assert_eq!(geo["version"], "1.1.0");
        assert_eq!(geo["primary_column"], "geometry");
        assert_eq!(geo["columns"]["geometry"]["encoding"], "WKB");
        assert_eq!(
            geo["columns"]["geometry"]["geometry_types"][0],
            "LineString"
        );
        assert_eq!(
            geo["columns"]["geometry"]["bbox"],
            serde_json::json!([106.9, 20.8, 107.5, 21.2])
        );
        let back = ParquetReader::new(std::fs::File::open(&path).expect("open"))
            .finish()
            .expect("read");
        let col = back
            .column("geometry")
            .expect("geometry")
            .binary()
            .expect("binary")
            .clone();
        let got: Vec<Vec<u8>> = col.iter().map(|v| v.expect("value").to_vec()).collect();
        assert_eq!(got, geoms);
    }
}
