//! Wind and mixing of a dispersion scenario: wind components from speed and direction,
//! diffusivity from a stability class (Briggs 1973 open-country σy), and the wind field of each
//! output interval (uniform, an hourly series, or interpolated from stations).

use super::spec::Scenario;
use crate::dispersion::{FaceWind, Interval, Stability};
use crate::geodesy::Utm;
use crate::grid::Grid;

/// Briggs open-country σy coefficient `a` (σy = a·x/√(1 + 0.0001 x)) per stability class.
fn briggs_a(class: &str) -> Option<f64> {
    Some(match class {
        "A" => 0.22,
        "B" => 0.16,
        "C" => 0.11,
        "D" => 0.08,
        "E" => 0.06,
        "F" => 0.04,
        _ => return None,
    })
}

/// Horizontal eddy diffusivity for a stability class and wind speed: K = u·σy(x₀)²/(2x₀), the K
/// for which a constant-K plume has Briggs' σy at x₀ = 1 km, at least 1 m²/s.
pub fn diffusivity_from_stability(class: &str, speed_m_s: f64) -> Option<f64> {
    let x0 = 1000.0;
    let sigma = briggs_a(class)? * x0 / (1.0 + 0.0001 * x0).sqrt();
    Some((speed_m_s * sigma * sigma / (2.0 * x0)).max(1.0))
}

/// Components (u east, v north) of a wind blowing *from* `from_deg`.
pub fn wind_components(speed: f64, from_deg: f64) -> (f64, f64) {
    let t = from_deg.to_radians();
    (-speed * t.sin(), -speed * t.cos())
}

impl Scenario {
    pub(super) fn build_intervals(&self, grid: &Grid, utm: &Utm) -> Result<Vec<Interval>, String> {
        let w = &self.wind;
        let interval_s = self.output_interval_min * 60.0;
        let total_s = self.duration_h * 3600.0;
        let n = (total_s / interval_s).round().max(1.0) as usize;
        if ((n as f64) * interval_s - total_s).abs() > 1e-6 * total_s {
            return Err(format!(
                "keys `duration_h` and `output_interval_min`: {} h is not a whole number of {}-minute intervals",
                self.duration_h, self.output_interval_min
            ));
        }
        let k_of = |class: Option<&String>, speed: f64, key: &str| -> Result<f64, String> {
            match (w.diffusivity_m2_s, class.or(w.stability.as_ref())) {
                (Some(k), _) if k > 0.0 => Ok(k),
                (Some(k), _) => Err(format!("key `wind.diffusivity_m2_s`: {k} must be > 0")),
                (None, Some(c)) => diffusivity_from_stability(c, speed).ok_or_else(|| {
                    format!(
                        "key `{key}`: unknown stability class {c:?}; expected A, B, C, D, E or F"
                    )
                }),
                (None, None) => {
                    Err("key `wind`: give `stability` (A–F) or `diffusivity_m2_s`".into())
                }
            }
        };
        let class_of = |class: Option<&String>| {
            class
                .or(w.stability.as_ref())
                .and_then(|c| Stability::parse(c))
        };
        let calm = w.calm_m_s.unwrap_or(0.5);
        // the lid of each interval: a series entry's, else [[mixing_height]]'s, else the scenario's
        // (the hours are checked to increase below, before any interval asks)
        let lid_at = |t_h: f64, entry: Option<f64>| {
            entry.unwrap_or_else(|| {
                match self.mixing_height.partition_point(|m| m.hour <= t_h + 1e-9) {
                    0 => self.mixing_height_m,
                    k => self.mixing_height[k - 1].mixing_height_m,
                }
            })
        };
        for (i, m) in self.mixing_height.iter().enumerate() {
            if i > 0 && m.hour <= self.mixing_height[i - 1].hour {
                return Err(format!(
                    "key `mixing_height[{i}].hour`: hours must increase"
                ));
            }
        }
        // every speed, direction and diffusivity was range-checked by `Scenario::check_values`
        let mut out = Vec::with_capacity(n);
        match w.mode.as_str() {
            "uniform" => {
                let speed = w
                    .speed_m_s
                    .ok_or("key `wind.speed_m_s`: missing for mode \"uniform\"")?;
                let from = w
                    .from_deg
                    .ok_or("key `wind.from_deg`: missing for mode \"uniform\"")?;
                let is_calm = speed < calm;
                let speed = speed.max(calm);
                let (u, v) = wind_components(speed, from);
                let k = k_of(None, speed, "wind.stability")?;
                let wind = std::sync::Arc::new(FaceWind::uniform(grid, u, v));
                out.extend((0..n).map(|k_i| Interval {
                    duration_s: interval_s,
                    wind: wind.clone(),
                    kdiff: k,
                    stability: class_of(None),
                    mixing_height_m: lid_at(k_i as f64 * interval_s / 3600.0, None),
                    calm: is_calm,
                }));
            }
            "series" => {
                if w.series.is_empty() {
                    return Err("key `wind.series`: mode \"series\" needs at least one [[wind.series]] entry".into());
                }
                for (i, s) in w.series.iter().enumerate() {
                    if i > 0 && s.hour <= w.series[i - 1].hour {
                        return Err(format!("key `wind.series[{i}].hour`: hours must increase"));
                    }
                }
                if w.series[0].hour > 0.0 {
                    return Err("key `wind.series[0].hour`: the series must start at hour 0".into());
                }
                // one wind field per series entry, shared by the intervals it covers
                let field_bytes = (((grid.nx + 1) * grid.ny + grid.nx * (grid.ny + 1)) * 4) as f64;
                let distinct = w.series.len().min(n) as f64;
                if distinct * field_bytes > crate::dispersion::MAX_WIND_BYTES {
                    return Err(format!(
                        "key `wind.series`: {distinct:.0} wind fields of {:.1} MB each exceed {:.0} GB; use fewer series entries or a coarser grid",
                        field_bytes / 1e6,
                        crate::dispersion::MAX_WIND_BYTES / 1e9
                    ));
                }
                let mut fields: std::collections::HashMap<usize, std::sync::Arc<FaceWind>> =
                    std::collections::HashMap::new();
                for k in 0..n {
                    let t_h = k as f64 * interval_s / 3600.0;
                    let (idx, s) = w
                        .series
                        .iter()
                        .enumerate()
                        .rev()
                        .find(|(_, s)| s.hour <= t_h + 1e-9)
                        .unwrap_or((0, &w.series[0]));
                    let speed = s.speed_m_s.max(calm);
                    let (u, v) = wind_components(speed, s.from_deg);
                    let kd = k_of(
                        s.stability.as_ref(),
                        speed,
                        &format!("wind.series[{idx}].stability"),
                    )?;
                    let wind = fields
                        .entry(idx)
                        .or_insert_with(|| std::sync::Arc::new(FaceWind::uniform(grid, u, v)))
                        .clone();
                    out.push(Interval {
                        duration_s: interval_s,
                        wind,
                        kdiff: kd,
                        stability: class_of(s.stability.as_ref()),
                        mixing_height_m: lid_at(t_h, s.mixing_height_m),
                        calm: s.speed_m_s < calm,
                    });
                }
            }
            "stations" => {
                if w.stations.is_empty() {
                    return Err("key `wind.stations`: mode \"stations\" needs at least one [[wind.stations]] entry".into());
                }
                let power = w.idw_power.unwrap_or(2.0);
                let obs: Vec<(f64, f64, f64, f64)> = w
                    .stations
                    .iter()
                    .map(|s| {
                        let (x, y) = utm.forward(s.lon, s.lat);
                        let (u, v) = wind_components(s.speed_m_s.max(calm), s.from_deg);
                        (x, y, u, v)
                    })
                    .collect();
                let mut uc = vec![0.0; grid.cells()];
                let mut vc = vec![0.0; grid.cells()];
                for j in 0..grid.ny {
                    for i in 0..grid.nx {
                        let (x, y) = grid.centre(i, j);
                        let (mut su, mut sv, mut sw) = (0.0, 0.0, 0.0);
                        for (ox, oy, u, v) in &obs {
                            let d = (x - ox).hypot(y - oy).max(1.0);
                            let wgt = d.powf(-power);
                            su += wgt * u;
                            sv += wgt * v;
                            sw += wgt;
                        }
                        uc[j * grid.nx + i] = su / sw;
                        vc[j * grid.nx + i] = sv / sw;
                    }
                }
                let mean_speed = w
                    .stations
                    .iter()
                    .map(|s| s.speed_m_s.max(calm))
                    .sum::<f64>()
                    / w.stations.len() as f64;
                let is_calm = w.stations.iter().any(|s| s.speed_m_s < calm);
                let k = k_of(None, mean_speed, "wind.stability")?;
                let mut field = FaceWind::from_cells(grid, &uc, &vc);
                // inverse-distance weights are not mass-consistent: where they converge, a
                // flux-form scheme piles mass up; the run removes the divergence first (stage
                // `poisson`, dispersion::projection)
                field.divergent = true;
                let wind = std::sync::Arc::new(field);
                out.extend((0..n).map(|k_i| Interval {
                    duration_s: interval_s,
                    wind: wind.clone(),
                    kdiff: k,
                    stability: class_of(None),
                    mixing_height_m: lid_at(k_i as f64 * interval_s / 3600.0, None),
                    calm: is_calm,
                }));
            }
            other => {
                return Err(format!(
                    "key `wind.mode`: unknown mode {other:?}; expected uniform, series or stations"
                ));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wind_from_a_direction_blows_away_from_it() {
        let (u, v) = wind_components(2.0, 270.0); // from the west
        assert!((u - 2.0).abs() < 1e-12 && v.abs() < 1e-12);
        let (u, v) = wind_components(3.0, 0.0); // from the north
        assert!(u.abs() < 1e-12 && (v + 3.0).abs() < 1e-12);
        let (u, v) = wind_components(1.0, 45.0); // north-east monsoon
        assert!((u + 0.5f64.sqrt()).abs() < 1e-12 && (v + 0.5f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn diffusivity_matches_briggs_sigma_at_one_kilometre() {
        // class D: σy(1 km) = 0.08 · 1000 / √1.1 = 76.28 m; K = u σ² / 2x
        let k = diffusivity_from_stability("D", 4.0).expect("class D");
        let sigma = 0.08 * 1000.0 / 1.1f64.sqrt();
        assert!((k - 4.0 * sigma * sigma / 2000.0).abs() < 1e-9, "{k}");
        assert!(diffusivity_from_stability("A", 2.0) > diffusivity_from_stability("F", 2.0));
        assert_eq!(
            diffusivity_from_stability("F", 0.01),
            Some(1.0),
            "at least 1 m²/s"
        );
        assert_eq!(diffusivity_from_stability("G", 2.0), None);
    }

    #[test]
    fn converging_station_winds_become_divergence_free() {
        let grid = Grid {
            nx: 60,
            ny: 40,
            cell_m: 250.0,
            x0: 0.0,
            y0: 0.0,
            epsg: 32648,
        };
        // a convergence line: winds blowing towards the middle column from both sides
        let mut uc = vec![0.0; grid.cells()];
        let mut vc = vec![0.0; grid.cells()];
        for j in 0..grid.ny {
            for i in 0..grid.nx {
                uc[j * grid.nx + i] = if i < 30 { 3.0 } else { -3.0 };
                vc[j * grid.nx + i] = 0.5 * (j as f64 / 40.0);
            }
        }
        let w = FaceWind::from_cells(&grid, &uc, &vc);
        let (_, m) = crate::dispersion::projection::make_mass_consistent(&grid, &w);
        assert!(m.before_m_s > 2.9, "{m:?}");
        assert!(m.after_m_s < 1e-5, "{m:?}");
    }
}
