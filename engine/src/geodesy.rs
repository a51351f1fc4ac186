//! Coordinate reference systems: WGS84 longitude/latitude and the UTM projections.
//!
//! Features are stored in WGS84 (EPSG:4326, longitude first). Distances, simulation grids and
//! the spatial index work in a projected metric CRS, by default UTM zone 48N (EPSG:32648), which
//! covers almost all of Quảng Ninh. The projection is the transverse Mercator in Krüger's series
//! to sixth order in the third flattening `n` (Karney 2011, "Transverse Mercator with an accuracy
//! of a few nanometres"), accurate to well under a millimetre within a zone.

use std::f64::consts::PI;

/// WGS84 semi-major axis, metres.
pub const WGS84_A: f64 = 6_378_137.0;
/// WGS84 flattening.
pub const WGS84_F: f64 = 1.0 / 298.257_223_563;
/// Mean Earth radius (IUGG R1 = (2a + b) / 3), metres, used by [`haversine_m`].
pub const MEAN_EARTH_RADIUS_M: f64 = 6_371_008.8;

/// EPSG code of WGS84 geographic coordinates.
pub const EPSG_WGS84: u32 = 4326;
/// EPSG code of UTM zone 48N on WGS84, the project's default metric CRS.
pub const EPSG_UTM_48N: u32 = 32648;

/// A transverse Mercator projection of the WGS84 ellipsoid in one UTM zone.
///
/// ```
/// use twin_engine::geodesy::Utm;
/// let utm = Utm::zone_48n();
/// let (x, y) = utm.forward(107.07336, 20.95045); // Hạ Long
/// assert!((x - 715_588.141).abs() < 0.01 && (y - 2_318_058.994).abs() < 0.01);
/// let (lon, lat) = utm.inverse(x, y);
/// assert!((lon - 107.07336).abs() < 1e-9 && (lat - 20.95045).abs() < 1e-9);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Utm {
    zone: u8,
    north: bool,
    lon0: f64,
    false_northing: f64,
    /// k0 · A, the scaled rectifying radius.
    k0_a: f64,
    e: f64,
    alpha: [f64; 6],
    beta: [f64; 6],
}

/// Scale factor on the central meridian of every UTM zone.
const UTM_K0: f64 = 0.9996;
const UTM_FALSE_EASTING: f64 = 500_000.0;

impl Utm {
    /// UTM zone `zone` (1–60), northern or southern hemisphere, on WGS84.
    /// Returns `None` for a zone number outside 1–60.
    pub fn new(zone: u8, north: bool) -> Option<Self> {
        if !(1..=60).contains(&zone) {
            return None;
        }
        let f = WGS84_F;
        let n = f / (2.0 - f);
        let (n2, n3) = (n * n, n * n * n);
        let (n4, n5, n6) = (n3 * n, n3 * n2, n3 * n3);
        let a_rect = WGS84_A / (1.0 + n) * (1.0 + n2 / 4.0 + n4 / 64.0 + n6 / 256.0);
        let alpha = [
            n / 2.0 - 2.0 * n2 / 3.0 + 5.0 * n3 / 16.0 + 41.0 * n4 / 180.0 - 127.0 * n5 / 288.0
                + 7891.0 * n6 / 37800.0,
            13.0 * n2 / 48.0 - 3.0 * n3 / 5.0 + 557.0 * n4 / 1440.0 + 281.0 * n5 / 630.0
                - 1_983_433.0 * n6 / 1_935_360.0,
            61.0 * n3 / 240.0 - 103.0 * n4 / 140.0
                + 15061.0 * n5 / 26880.0
                + 167_603.0 * n6 / 181_440.0,
            49561.0 * n4 / 161_280.0 - 179.0 * n5 / 168.0 + 6_601_661.0 * n6 / 7_257_600.0,
            34729.0 * n5 / 80640.0 - 3_418_889.0 * n6 / 1_995_840.0,
            212_378_941.0 * n6 / 319_334_400.0,
        ];
        let beta = [
            n / 2.0 - 2.0 * n2 / 3.0 + 37.0 * n3 / 96.0 - n4 / 360.0 - 81.0 * n5 / 512.0
                + 96199.0 * n6 / 604_800.0,
            n2 / 48.0 + n3 / 15.0 - 437.0 * n4 / 1440.0 + 46.0 * n5 / 105.0
                - 1_118_711.0 * n6 / 3_870_720.0,
            17.0 * n3 / 480.0 - 37.0 * n4 / 840.0 - 209.0 * n5 / 4480.0 + 5569.0 * n6 / 90720.0,
            4397.0 * n4 / 161_280.0 - 11.0 * n5 / 504.0 - 830_251.0 * n6 / 7_257_600.0,
            4583.0 * n5 / 161_280.0 - 108_847.0 * n6 / 3_991_680.0,
            20_648_693.0 * n6 / 638_668_800.0,
        ];
        Some(Self {
            zone,
            north,
            lon0: (f64::from(zone) * 6.0 - 183.0).to_radians(),
            false_northing: if north { 0.0 } else { 10_000_000.0 },
            k0_a: UTM_K0 * a_rect,
            e: (f * (2.0 - f)).sqrt(),
            alpha,
            beta,
        })
    }

    /// UTM zone 48N (EPSG:32648), the project's default metric CRS.
    pub fn zone_48n() -> Self {
        Self::new(48, true).expect("48 is a valid UTM zone")
    }

    /// The projection for an EPSG code of the WGS84 UTM family (326NN north, 327NN south).
    pub fn from_epsg(code: u32) -> Option<Self> {
        match code {
            32601..=32660 => Self::new((code - 32600) as u8, true),
            32701..=32760 => Self::new((code - 32700) as u8, false),
            _ => None,
        }
    }

    /// The EPSG code of this projection.
    pub fn epsg(&self) -> u32 {
        (if self.north { 32600 } else { 32700 }) + u32::from(self.zone)
    }

    /// Longitude/latitude in degrees to easting/northing in metres.
    pub fn forward(&self, lon_deg: f64, lat_deg: f64) -> (f64, f64) {
        let lam = wrap_pi(lon_deg.to_radians() - self.lon0);
        let phi = lat_deg.to_radians();
        let e = self.e;
        let tau = phi.tan();
        let sigma = (e * (e * tau / tau.hypot(1.0)).atanh()).sinh();
        let tau_p = tau * sigma.hypot(1.0) - sigma * tau.hypot(1.0);
        let xi_p = tau_p.atan2(lam.cos());
        let eta_p = (lam.sin() / tau_p.hypot(lam.cos())).asinh();
        let (mut xi, mut eta) = (xi_p, eta_p);
        for (j, a) in self.alpha.iter().enumerate() {
            let k = 2.0 * (j as f64 + 1.0);
            xi += a * (k * xi_p).sin() * (k * eta_p).cosh();
            eta += a * (k * xi_p).cos() * (k * eta_p).sinh();
        }
        (
            UTM_FALSE_EASTING + self.k0_a * eta,
            self.false_northing + self.k0_a * xi,
        )
    }

    /// Easting/northing in metres to longitude/latitude in degrees.
    pub fn inverse(&self, x: f64, y: f64) -> (f64, f64) {
        let xi = (y - self.false_northing) / self.k0_a;
        let eta = (x - UTM_FALSE_EASTING) / self.k0_a;
        let (mut xi_p, mut eta_p) = (xi, eta);
        for (j, b) in self.beta.iter().enumerate() {
            let k = 2.0 * (j as f64 + 1.0);
            xi_p -= b * (k * xi).sin() * (k * eta).cosh();
            eta_p -= b * (k * xi).cos() * (k * eta).sinh();
        }
        let tau_p = xi_p.sin() / eta_p.sinh().hypot(xi_p.cos());
        let lam = eta_p.sinh().atan2(xi_p.cos());
        // Newton iteration for tau from tau' (Karney 2011, eqs. 19-21); converges in 2-3 steps.
        let e = self.e;
        let e2m = 1.0 - e * e;
        let mut tau = tau_p;
        for _ in 0..5 {
            let sigma = (e * (e * tau / tau.hypot(1.0)).atanh()).sinh();
            let tau_i = tau * sigma.hypot(1.0) - sigma * tau.hypot(1.0);
            let d = (tau_p - tau_i) / tau_i.hypot(1.0) * (1.0 + e2m * tau * tau)
                / (e2m * tau.hypot(1.0));
            tau += d;
            if d.abs() < 1e-14 {
                break;
            }
        }
        (
            wrap_pi(lam + self.lon0).to_degrees(),
            tau.atan().to_degrees(),
        )
    }
}

fn wrap_pi(a: f64) -> f64 {
    let mut a = a % (2.0 * PI);
    if a > PI {
        a -= 2.0 * PI;
    } else if a < -PI {
        a += 2.0 * PI;
    }
    a
}

/// Great-circle distance in metres between two lon/lat points (degrees) on a sphere of radius
/// [`MEAN_EARTH_RADIUS_M`]. Within the province it differs from the ellipsoidal distance by up
/// to about 0.5 %; it exists as an independent check, not as the project's metric.
pub fn haversine_m(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * MEAN_EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// A lon/lat bounding box in degrees.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LonLatBounds {
    /// Western edge, degrees east.
    pub min_lon: f64,
    /// Southern edge, degrees north.
    pub min_lat: f64,
    /// Eastern edge, degrees east.
    pub max_lon: f64,
    /// Northern edge, degrees north.
    pub max_lat: f64,
}

impl LonLatBounds {
    /// Whether the point lies inside the box (edges included).
    pub fn contains(&self, lon: f64, lat: f64) -> bool {
        (self.min_lon..=self.max_lon).contains(&lon) && (self.min_lat..=self.max_lat).contains(&lat)
    }

    /// Whether the box is well formed: finite, ordered, within ±180/±90.
    pub fn is_valid(&self) -> bool {
        [self.min_lon, self.min_lat, self.max_lon, self.max_lat]
            .iter()
            .all(|v| v.is_finite())
            && self.min_lon < self.max_lon
            && self.min_lat < self.max_lat
            && self.min_lon >= -180.0
            && self.max_lon <= 180.0
            && self.min_lat >= -90.0
            && self.max_lat <= 90.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values computed with pyproj 3.7.2 (PROJ), `Transformer.from_crs("EPSG:4326",
    /// "EPSG:32648", always_xy=True)`, recorded to 0.1 mm: lon, lat, easting, northing.
    const PYPROJ_32648: &[(f64, f64, f64, f64)] = &[
        (107.07336, 20.95045, 715588.1412, 2318058.9935),
        (107.27345, 21.01004, 736307.5401, 2324940.2904),
        (106.77049, 21.03433, 683984.7028, 2326967.5695),
        (107.96619, 21.52471, 807283.3587, 2383140.6776),
        (106.4, 20.7, 645800.0412, 2289576.1247),
        (108.1, 21.7, 820767.7549, 2402832.4472),
        (105.0, 0.0, 500000.0000, 0.0000),
        (105.0, 21.0, 500000.0000, 2322147.6384),
        (102.0, 10.0, 171071.2639, 1106908.8542),
        (108.0, -5.0, 832713.7987, -553423.9869),
        (107.76578, 20.97268, 787580.1469, 2321609.7584),
        (106.59662, 21.11043, 665828.4682, 2335201.6269),
    ];

    #[test]
    fn forward_matches_pyproj_to_a_millimetre() {
        let utm = Utm::zone_48n();
        for &(lon, lat, x, y) in PYPROJ_32648 {
            let (px, py) = utm.forward(lon, lat);
            assert!(
                (px - x).abs() < 1e-3 && (py - y).abs() < 1e-3,
                "({lon}, {lat}): got ({px:.4}, {py:.4}), pyproj ({x}, {y})"
            );
        }
    }

    #[test]
    fn inverse_matches_pyproj() {
        let utm = Utm::zone_48n();
        for &(lon, lat, x, y) in PYPROJ_32648 {
            let (plon, plat) = utm.inverse(x, y);
            // 1e-8 degree is about 1 mm
            assert!(
                (plon - lon).abs() < 1e-8 && (plat - lat).abs() < 1e-8,
                "({x}, {y}): got ({plon}, {plat}), expected ({lon}, {lat})"
            );
        }
    }

    #[test]
    fn round_trip_over_the_province_box() {
        let utm = Utm::zone_48n();
        for i in 0..=20 {
            for j in 0..=20 {
                let lon = 106.4 + 1.7 * f64::from(i) / 20.0;
                let lat = 20.7 + 1.0 * f64::from(j) / 20.0;
                let (x, y) = utm.forward(lon, lat);
                let (l2, p2) = utm.inverse(x, y);
                assert!((l2 - lon).abs() < 1e-11 && (p2 - lat).abs() < 1e-11);
            }
        }
    }

    #[test]
    fn southern_zone_uses_false_northing() {
        let utm = Utm::from_epsg(32748).expect("valid code");
        let (_, y) = utm.forward(105.0, -1.0);
        assert!(y > 9_800_000.0 && y < 10_000_000.0);
        assert_eq!(utm.epsg(), 32748);
        assert!(Utm::from_epsg(4326).is_none());
        assert!(Utm::new(61, true).is_none());
    }

    #[test]
    fn haversine_known_distance() {
        // one degree of latitude on the mean sphere
        let d = haversine_m(107.0, 21.0, 107.0, 22.0);
        assert!((d - MEAN_EARTH_RADIUS_M * PI / 180.0).abs() < 1e-6);
        assert_eq!(haversine_m(107.0, 21.0, 107.0, 21.0), 0.0);
    }
}
