//! Link emissions from simulated traffic: exhaust and wear factors per vehicle-km and class,
//! plus resuspended road dust from the US EPA AP-42 paved-road equation (§13.2.1, 2011):
//! E = k · sL^0.91 · W^1.02 g per vehicle-km, with sL the silt loading (g/m²) and W the mean
//! vehicle weight (short tons) of the traffic on the link.
//!
//! Default factors are rounded, fleet-average values of the kind given by the EMEP/EEA air
//! pollutant emission inventory guidebook (Tier 1, road transport) for a Euro 2–3 era fleet;
//! they are assumptions to be replaced by local measurements, and every scenario can override
//! them (`[emissions]`). All PM from exhaust is taken as PM2.5 (and hence also PM10).

use serde::Serialize;

/// The pollutants reported per link.
pub const POLLUTANTS: [&str; 3] = ["PM10", "PM2.5", "NOx"];

/// AP-42 §13.2.1 paved-road particle size multipliers k, g/VKT.
pub const AP42_K_PM10: f64 = 0.62;
/// AP-42 k for PM2.5, g/VKT.
pub const AP42_K_PM25: f64 = 0.15;
/// Metric tonnes per short ton.
pub const TONNE_PER_SHORT_TON: f64 = 0.907_184_74;

/// Factors for one vehicle class, g per vehicle-km (without road dust).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct ClassFactors {
    /// PM10 from exhaust, tyre, brake and road-surface wear.
    pub pm10_g_km: f64,
    /// PM2.5 from the same.
    pub pm25_g_km: f64,
    /// NOx (as NO2).
    pub nox_g_km: f64,
    /// Mean vehicle weight, tonnes (for the road dust equation).
    pub weight_t: f64,
}

/// The emission model of a run.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct EmissionModel {
    /// General traffic.
    pub car: ClassFactors,
    /// Heavy (coal) trucks.
    pub truck: ClassFactors,
    /// Silt loading used where no override applies, g/m²; `None`: AP-42's ubiquitous
    /// baseline for each link's daily traffic ([`ap42_baseline_silt_g_m2`]).
    pub silt_loading_g_m2: Option<f64>,
    /// Silt loading overrides: (road id or route ref, g/m²).
    pub silt_overrides: Vec<(String, f64)>,
}

impl Default for EmissionModel {
    fn default() -> Self {
        Self {
            // light vehicles: exhaust PM2.5 ≈ 0.02, wear PM10 ≈ 0.03 / PM2.5 ≈ 0.015; NOx ≈ 0.5
            car: ClassFactors {
                pm10_g_km: 0.05,
                pm25_g_km: 0.035,
                nox_g_km: 0.5,
                weight_t: 1.5,
            },
            // heavy diesel trucks: exhaust PM ≈ 0.25, wear PM10 ≈ 0.12 / PM2.5 ≈ 0.06; NOx ≈ 7
            truck: ClassFactors {
                pm10_g_km: 0.37,
                pm25_g_km: 0.31,
                nox_g_km: 7.0,
                weight_t: 20.0,
            },
            // AP-42's baseline by each link's daily traffic
            silt_loading_g_m2: None,
            silt_overrides: Vec::new(),
        }
    }
}

/// AP-42 §13.2.1 (2011) Table 13.2.1-2, the ubiquitous baseline silt loading of public paved
/// roads by average daily traffic, g/m²: fewer than 500 vehicles a day 0.6; 500–5,000 0.2;
/// 5,000–10,000 0.06; more than 10,000 0.03. (Limited-access roads, 0.015, are not told apart:
/// the network has no access-control attribute.)
pub fn ap42_baseline_silt_g_m2(vehicles_per_day: f64) -> f64 {
    if vehicles_per_day < 500.0 {
        0.6
    } else if vehicles_per_day < 5000.0 {
        0.2
    } else if vehicles_per_day <= 10_000.0 {
        0.06
    } else {
        0.03
    }
}

impl EmissionModel {
    /// Silt loading on a road (by id, then by route ref; else the scenario's default; else the
    /// AP-42 baseline for `vehicles_per_day`), g/m².
    pub fn silt_for(&self, road_id: &str, road_ref: Option<&str>, vehicles_per_day: f64) -> f64 {
        self.silt_overrides
            .iter()
            .find(|(k, _)| k == road_id)
            .or_else(|| road_ref.and_then(|r| self.silt_overrides.iter().find(|(k, _)| k == r)))
            .map(|(_, v)| *v)
            .or(self.silt_loading_g_m2)
            .unwrap_or_else(|| ap42_baseline_silt_g_m2(vehicles_per_day))
    }

    /// Road dust factors (PM10, PM2.5), g/VKT, for a silt loading and mean weight in tonnes.
    pub fn road_dust_g_km(silt_g_m2: f64, mean_weight_t: f64) -> (f64, f64) {
        let w = mean_weight_t / TONNE_PER_SHORT_TON;
        let base = silt_g_m2.powf(0.91) * w.powf(1.02);
        (AP42_K_PM10 * base, AP42_K_PM25 * base)
    }

    /// Emission rates (PM10, PM2.5, NOx) in g/s from vehicle-km travelled per class over an
    /// interval of `seconds`.
    pub fn rates_g_s(&self, vkt: [f64; 2], seconds: f64, silt_g_m2: f64) -> [f64; 3] {
        let total = vkt[0] + vkt[1];
        if total <= 0.0 || seconds <= 0.0 {
            return [0.0; 3];
        }
        let w = (vkt[0] * self.car.weight_t + vkt[1] * self.truck.weight_t) / total;
        let (dust10, dust25) = Self::road_dust_g_km(silt_g_m2, w);
        let c = &self.car;
        let t = &self.truck;
        [
            (vkt[0] * c.pm10_g_km + vkt[1] * t.pm10_g_km + total * dust10) / seconds,
            (vkt[0] * c.pm25_g_km + vkt[1] * t.pm25_g_km + total * dust25) / seconds,
            (vkt[0] * c.nox_g_km + vkt[1] * t.nox_g_km) / seconds,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ap42_worked_value() {
        // sL = 1 g/m², W = 1 short ton → E = k
        let (pm10, pm25) = EmissionModel::road_dust_g_km(1.0, TONNE_PER_SHORT_TON);
        assert!((pm10 - 0.62).abs() < 1e-12 && (pm25 - 0.15).abs() < 1e-12);
        // doubling the silt loading multiplies by 2^0.91
        let (d2, _) = EmissionModel::road_dust_g_km(2.0, TONNE_PER_SHORT_TON);
        assert!((d2 / pm10 - 2f64.powf(0.91)).abs() < 1e-12);
    }

    #[test]
    fn rates_scale_with_traffic() {
        let m = EmissionModel::default();
        let a = m.rates_g_s([1000.0, 0.0], 3600.0, 0.6);
        let b = m.rates_g_s([2000.0, 0.0], 3600.0, 0.6);
        for k in 0..3 {
            assert!((b[k] / a[k] - 2.0).abs() < 1e-12);
        }
        // trucks raise the fleet weight and hence the dust per vehicle-km
        let c = m.rates_g_s([1000.0, 1000.0], 3600.0, 0.6);
        assert!(c[0] > 2.0 * a[0]);
        assert_eq!(m.rates_g_s([0.0, 0.0], 3600.0, 0.6), [0.0; 3]);
    }

    #[test]
    fn silt_follows_the_ap42_baseline_table_unless_set() {
        let m = EmissionModel::default();
        assert_eq!(m.silt_for("r", None, 300.0), 0.6);
        assert_eq!(m.silt_for("r", None, 3000.0), 0.2);
        assert_eq!(m.silt_for("r", None, 8000.0), 0.06);
        assert_eq!(m.silt_for("r", None, 30_000.0), 0.03);
        let mut set = m.clone();
        set.silt_loading_g_m2 = Some(1.0);
        set.silt_overrides.push(("QL18".into(), 3.0));
        assert_eq!(set.silt_for("r", None, 30_000.0), 1.0);
        assert_eq!(set.silt_for("r", Some("QL18"), 30_000.0), 3.0);
    }
}
