//! Projection from the dataset's coordinates to scene coordinates, in plain functions.
//!
//! Scene axes (Bevy's right-handed, Y up): +X east, +Y up, −Z north. Lengths are kilometres
//! (the province is ~180 km across, so the scene stays within ±100 units), elevations are
//! multiplied by a vertical exaggeration. The origin is a projected point chosen by the caller
//! (the dataset's centre), so positions keep f32 precision.

use twin_engine::geodesy::Utm;

/// Projected coordinates (UTM, metres) → scene, and back.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneProjection {
    /// UTM zone of the dataset.
    pub utm: Utm,
    /// Projected easting/northing of the scene origin, m.
    pub origin: (f64, f64),
    /// Vertical exaggeration of elevations.
    pub exaggeration: f64,
}

/// Metres per scene unit.
pub const M_PER_UNIT: f64 = 1000.0;

impl SceneProjection {
    /// A projection centred on the middle of a lon/lat box.
    pub fn centred(utm: Utm, lon: (f64, f64), lat: (f64, f64), exaggeration: f64) -> Self {
        let origin = utm.forward(0.5 * (lon.0 + lon.1), 0.5 * (lat.0 + lat.1));
        Self {
            utm,
            origin,
            exaggeration,
        }
    }

    /// Projected (x, y) metres and elevation metres → scene [x, y, z].
    pub fn projected_to_scene(&self, x: f64, y: f64, elevation_m: f64) -> [f32; 3] {
        [
            ((x - self.origin.0) / M_PER_UNIT) as f32,
            (elevation_m * self.exaggeration / M_PER_UNIT) as f32,
            (-(y - self.origin.1) / M_PER_UNIT) as f32,
        ]
    }

    /// Longitude/latitude (degrees) and elevation → scene [x, y, z].
    pub fn lon_lat_to_scene(&self, lon: f64, lat: f64, elevation_m: f64) -> [f32; 3] {
        let (x, y) = self.utm.forward(lon, lat);
        self.projected_to_scene(x, y, elevation_m)
    }

    /// Scene x, z → projected (x, y) metres.
    pub fn to_projected(&self, sx: f32, sz: f32) -> (f64, f64) {
        (
            f64::from(sx) * M_PER_UNIT + self.origin.0,
            -f64::from(sz) * M_PER_UNIT + self.origin.1,
        )
    }

    /// Scene x, z → longitude, latitude (degrees).
    pub fn to_lon_lat(&self, sx: f32, sz: f32) -> (f64, f64) {
        let (x, y) = self.to_projected(sx, sz);
        self.utm.inverse(x, y)
    }
}

/// The length of a scale bar that is a round number (1, 2 or 5 × 10ⁿ km) no longer than
/// `max_km`, and its label.
pub fn scale_bar_km(max_km: f64) -> (f64, String) {
    if !(max_km.is_finite() && max_km > 0.0) {
        return (0.0, String::new());
    }
    let p = 10f64.powf(max_km.log10().floor());
    let m = [5.0, 2.0, 1.0]
        .into_iter()
        .find(|m| m * p <= max_km)
        .unwrap_or(1.0);
    let km = m * p;
    let label = if km >= 1.0 {
        format!("{km:.0} km")
    } else {
        format!("{:.0} m", km * 1000.0)
    };
    (km, label)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proj() -> SceneProjection {
        SceneProjection::centred(Utm::zone_48n(), (106.5, 108.0), (20.7, 21.7), 3.0)
    }

    #[test]
    fn origin_is_the_centre_and_north_is_minus_z() {
        let p = proj();
        let c = p.lon_lat_to_scene(107.25, 21.2, 0.0);
        assert!(c[0].abs() < 1e-4 && c[2].abs() < 1e-4, "{c:?}");
        let north = p.lon_lat_to_scene(107.25, 21.3, 0.0);
        assert!(
            north[2] < -10.0 && north[2] > -12.0,
            "0.1° north is ~11 km: {north:?}"
        );
        let east = p.lon_lat_to_scene(107.35, 21.2, 0.0);
        assert!(
            east[0] > 10.0 && east[0] < 11.0,
            "0.1° east is ~10.4 km: {east:?}"
        );
    }

    #[test]
    fn elevation_is_exaggerated_kilometres() {
        let p = proj();
        assert!((p.lon_lat_to_scene(107.25, 21.2, 1000.0)[1] - 3.0).abs() < 1e-6);
    }

    #[test]
    fn round_trip() {
        let p = proj();
        let s = p.lon_lat_to_scene(107.05, 20.95, 0.0);
        let (lon, lat) = p.to_lon_lat(s[0], s[2]);
        assert!((lon - 107.05).abs() < 1e-6 && (lat - 20.95).abs() < 1e-6);
    }

    #[test]
    fn scale_bars_are_round() {
        assert_eq!(scale_bar_km(7.3).0, 5.0);
        assert_eq!(scale_bar_km(19.0).0, 10.0);
        assert_eq!(scale_bar_km(0.3), (0.2, "200 m".to_string()));
        assert_eq!(scale_bar_km(25.0).1, "20 km");
    }
}

/// Scanline fill of polygons (rings of projected points, even-odd rule) into a `nx` × `ny`
/// mask of cell centres: cell (i, j) has centre (x0 + (i + ½)·dx, y0 + (j + ½)·dy), row j = 0
/// at y0. Used for land/sea from the coastline.
pub fn scanline_mask(
    rings: &[Vec<[f64; 2]>],
    (x0, y0): (f64, f64),
    (dx, dy): (f64, f64),
    (nx, ny): (usize, usize),
) -> Vec<bool> {
    let mut mask = vec![false; nx * ny];
    let mut xs: Vec<f64> = Vec::new();
    for j in 0..ny {
        let y = y0 + (j as f64 + 0.5) * dy;
        xs.clear();
        for ring in rings {
            let n = ring.len();
            for k in 0..n {
                let a = ring[k];
                let b = ring[(k + 1) % n];
                if (a[1] <= y) != (b[1] <= y) {
                    xs.push(a[0] + (y - a[1]) / (b[1] - a[1]) * (b[0] - a[0]));
                }
            }
        }
        xs.sort_by(f64::total_cmp);
        for pair in xs.chunks_exact(2) {
            let i0 = ((pair[0] - x0) / dx - 0.5).ceil().max(0.0) as usize;
            let i1 = ((pair[1] - x0) / dx - 0.5).floor();
            if i1 < 0.0 {
                continue;
            }
            let i1 = (i1 as usize).min(nx.saturating_sub(1));
            for i in i0..=i1.min(nx.saturating_sub(1)) {
                // crossings of all rings sorted together: pairs bound the inside (even-odd)
                mask[j * nx + i] = true;
            }
        }
    }
    mask
}

#[cfg(test)]
mod mask_tests {
    use super::scanline_mask;

    #[test]
    fn square_with_a_hole() {
        let outer = vec![[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]];
        let hole = vec![[4.0, 4.0], [6.0, 4.0], [6.0, 6.0], [4.0, 6.0]];
        let m = scanline_mask(&[outer, hole], (-2.0, -2.0), (1.0, 1.0), (14, 14));
        let at = |x: f64, y: f64| m[((y + 2.0) as usize) * 14 + (x + 2.0) as usize];
        assert!(at(1.0, 1.0));
        assert!(at(8.0, 2.0));
        assert!(!at(5.0, 5.0), "hole");
        assert!(!at(-1.0, 5.0) && !at(11.0, 5.0), "outside");
        let count = m.iter().filter(|b| **b).count();
        assert_eq!(count, 100 - 4);
    }
}
