//! Ensemble statistics of a dispersion sweep: per-cell mean, percentiles and the probability
//! of exceeding a limit, over the members' time-mean fields, as GeoTIFF bands.
//!
//! Exact, tile by tile: the grid's rows are cut into tiles small enough that every member's
//! values of one tile fit in [`MEMORY_BUDGET_BYTES`]; each member's raster is read once per
//! tile (an `ndarray` field), only the tile's rows kept, and each cell's values sorted.
//! Percentiles interpolate linearly between the closest ranks (Hyndman and Fan 1996, type 7,
//! numpy's default); the exceedance probability is the share of members above the limit.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::run::{finished, member_dir};
use super::sweep::{Sweep, member_id};
use crate::output::geotiff::{Band, GeoReference, write_geotiff};
use crate::output::run::{Field, RunDir};

/// Most bytes of member values held at once.
pub const MEMORY_BUDGET_BYTES: usize = 256 << 20;

/// The `[statistics]` table of a sweep file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StatisticsSpec {
    /// The band (pollutant) of the members' time-mean concentration rasters.
    pub pollutant: String,
    /// Percentiles, 0–100 (default 50 and 90).
    #[serde(default = "default_percentiles")]
    pub percentiles: Vec<f64>,
    /// A limit value, µg/m³: the probability a member's time mean exceeds it.
    pub limit_ug_m3: Option<f64>,
    /// The limit's averaging period, h: every member's averaged period (duration minus
    /// spin-up) must be this long, so its time mean is that average.
    pub averaging_h: Option<f64>,
    /// What the limit is (e.g. "QCVN 05:2013 24-h PM2.5"), for the band description.
    pub limit_name: Option<String>,
}

fn default_percentiles() -> Vec<f64> {
    vec![50.0, 90.0]
}

impl StatisticsSpec {
    /// Checks the values (the sweep reader calls it; messages start with the key).
    pub fn check(&self) -> Result<(), String> {
        if self.pollutant.trim().is_empty() {
            return Err("statistics.pollutant: empty".into());
        }
        if self.percentiles.len() > 99 {
            return Err("statistics.percentiles: at most 99".into());
        }
        for (i, p) in self.percentiles.iter().enumerate() {
            if !(0.0..=100.0).contains(p) {
                return Err(format!("statistics.percentiles[{i}]: {p} is not in 0–100"));
            }
        }
        if let Some(l) = self.limit_ug_m3
            && !(l.is_finite() && l >= 0.0)
        {
            return Err(format!("statistics.limit_ug_m3: {l} (must be ≥ 0)"));
        }
        if let Some(h) = self.averaging_h
            && !(h.is_finite() && h > 0.0)
        {
            return Err(format!("statistics.averaging_h: {h} (must be > 0)"));
        }
        if self.averaging_h.is_some() && self.limit_ug_m3.is_none() {
            return Err("statistics.averaging_h: needs limit_ug_m3".into());
        }
        Ok(())
    }
}

/// What `statistics.json` says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatisticsReport {
    /// The spec.
    pub spec: StatisticsSpec,
    /// Members used (finished ones).
    pub members: usize,
    /// Members left out (failed).
    pub failed: usize,
    /// Band descriptions, in order.
    pub bands: Vec<String>,
    /// Rows per tile.
    pub tile_rows: usize,
    /// Tiles.
    pub tiles: usize,
    /// The GeoTIFF.
    pub file: String,
}

/// The `p`-th percentile (0–100) of sorted `v` (Hyndman and Fan type 7).
pub fn percentile(sorted: &[f32], p: f64) -> f32 {
    let n = sorted.len();
    if n == 0 {
        return f32::NAN;
    }
    let h = (n - 1) as f64 * p / 100.0;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    let w = (h - lo as f64) as f32;
    sorted[lo] + w * (sorted[hi] - sorted[lo])
}

/// Writes `statistics.tif` and `statistics.json` under `out` from every finished member's
/// time-mean raster; errors name the member and what differs (grid, band, averaging period).
pub fn write_statistics(
    sweep: &Sweep,
    spec: &StatisticsSpec,
    out: &Path,
) -> Result<StatisticsReport, String> {
    write_statistics_within(sweep, spec, out, MEMORY_BUDGET_BYTES)
}

/// [`write_statistics`] holding at most `budget_bytes` of member values at once (at least one
/// row of every member).
pub fn write_statistics_within(
    sweep: &Sweep,
    spec: &StatisticsSpec,
    out: &Path,
    budget_bytes: usize,
) -> Result<StatisticsReport, String> {
    let ids: Vec<String> = (0..sweep.len())
        .map(member_id)
        .filter(|id| finished(out, id).is_some())
        .collect();
    if ids.is_empty() {
        return Err("statistics: no finished member".into());
    }
    let open = |id: &str| -> Result<(RunDir, usize), String> {
        let rd = RunDir::open(&member_dir(out, id)).map_err(|e| format!("member {id}: {e}"))?;
        let s = rd.dispersion().map_err(|e| format!("member {id}: {e}"))?;
        let band = s
            .pollutants
            .iter()
            .position(|p| p == &spec.pollutant)
            .ok_or_else(|| {
                format!(
                    "member {id}: statistics.pollutant {:?} is not a band of its run ({})",
                    spec.pollutant,
                    s.pollutants.join(", ")
                )
            })?;
        if let Some(h) = spec.averaging_h {
            let avg = s.duration_h - s.spin_up_h;
            if (avg - h).abs() > 1e-6 {
                return Err(format!(
                    "member {id}: its time mean covers {avg} h, the limit's averaging period (statistics.averaging_h) is {h} h"
                ));
            }
        }
        Ok((rd, band))
    };
    let (first, _) = open(&ids[0])?;
    let grid = first.dispersion().map_err(|e| e.to_string())?.grid.clone();
    let (nx, ny) = (grid.nx, grid.ny);
    let n = ids.len();
    let tile_rows = (budget_bytes / (4 * n * nx).max(1)).clamp(1, ny);
    let tiles = ny.div_ceil(tile_rows);
    let k = spec.percentiles.len();
    let mut mean = vec![0f32; nx * ny];
    let mut pct = vec![vec![0f32; nx * ny]; k];
    let mut exceed = vec![0f32; nx * ny];
    let mut vals: Vec<f32> = Vec::new();
    for t in 0..tiles {
        let (r0, r1) = (t * tile_rows, ((t + 1) * tile_rows).min(ny));
        let cells = (r1 - r0) * nx;
        // member-major: member m's tile at vals[m * cells ..]
        vals.clear();
        vals.reserve(n * cells);
        for id in &ids {
            let (rd, band) = open(id)?;
            let g = &rd.dispersion().map_err(|e| e.to_string())?.grid;
            if (g.nx, g.ny, g.x0, g.y0, g.cell_m) != (nx, ny, grid.x0, grid.y0, grid.cell_m) {
                return Err(format!(
                    "member {id}: its grid differs from member {}'s (statistics need one grid)",
                    ids[0]
                ));
            }
            let f = rd
                .concentration(Field::Mean)
                .map_err(|e| format!("member {id}: {e}"))?;
            let b = f.values.index_axis(ndarray::Axis(0), band);
            vals.extend(b.slice(ndarray::s![r0..r1, ..]).iter().copied());
        }
        let mut cell = vec![0f32; n];
        for c in 0..cells {
            for (m, x) in cell.iter_mut().enumerate() {
                *x = vals[m * cells + c];
            }
            cell.sort_by(f32::total_cmp);
            let at = r0 * nx + c;
            mean[at] = (cell.iter().map(|&x| f64::from(x)).sum::<f64>() / n as f64) as f32;
            for (j, p) in spec.percentiles.iter().enumerate() {
                pct[j][at] = percentile(&cell, *p);
            }
            if let Some(l) = spec.limit_ug_m3 {
                exceed[at] = cell.iter().filter(|&&x| f64::from(x) > l).count() as f32 / n as f32;
            }
        }
    }
    let unit = "µg/m³".to_string();
    let mut bands = vec![Band {
        description: format!("{} member mean of time-mean", spec.pollutant),
        unit: unit.clone(),
        values: &mean,
    }];
    for (j, p) in spec.percentiles.iter().enumerate() {
        bands.push(Band {
            description: format!("{} p{p} of members' time-mean", spec.pollutant),
            unit: unit.clone(),
            values: &pct[j],
        });
    }
    if let Some(l) = spec.limit_ug_m3 {
        bands.push(Band {
            description: format!(
                "{} P(time-mean > {l} µg/m³){}",
                spec.pollutant,
                spec.limit_name
                    .as_ref()
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default()
            ),
            unit: "probability".into(),
            values: &exceed,
        });
    }
    let geo = GeoReference {
        epsg: grid.epsg,
        min_x: grid.x0,
        max_y: grid.y0 + grid.ny as f64 * grid.cell_m,
        pixel: grid.cell_m,
    };
    let path: PathBuf = out.join("statistics.tif");
    write_geotiff(&path, nx, ny, &geo, &bands, &[("MEMBERS", n.to_string())])
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let report = StatisticsReport {
        spec: spec.clone(),
        members: n,
        failed: sweep.len() - n,
        bands: bands.iter().map(|b| b.description.clone()).collect(),
        tile_rows,
        tiles,
        file: "statistics.tif".into(),
    };
    let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    std::fs::write(out.join("statistics.json"), json)
        .map_err(|e| format!("{}: {e}", out.join("statistics.json").display()))?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_between_ranks_like_numpy() {
        let v = [1.0f32, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 100.0), 4.0);
        assert!((percentile(&v, 50.0) - 2.5).abs() < 1e-6);
        // numpy.percentile([1, 2, 3, 4], 90) = 3.7
        assert!((percentile(&v, 90.0) - 3.7).abs() < 1e-6);
        assert_eq!(percentile(&[5.0], 37.0), 5.0);
        assert!(percentile(&[], 50.0).is_nan());
    }
}
