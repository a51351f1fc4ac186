//! Link emissions from simulated traffic, per vehicle class:
//!
//! - **hot exhaust that sees congestion**: a factor in g/km evaluated at the link's space-mean
//!   speed of the class in each interval, in the EMEP/EEA Guidebook's Tier 3 average-speed form
//!   (Ntziachristos & Samaras, EMEP/EEA air pollutant emission inventory guidebook, 1.A.3.b.i–iv;
//!   the unified 2019 form EF = (αV² + βV + γ + δ/V) / (εV² + ζV + η) · (1 − RF)) — the bundled
//!   car curve is petrol passenger cars Euro 4 (Guidebook 2013, update Sept 2014, Table 3-41:
//!   EF = (a + cV + eV²)/(1 + bV + dV²), valid 10–130 km/h); a class without a curve keeps a
//!   constant g/km;
//! - **idling** of queued and stopped vehicles, in g/h: where a class's mean speed on a link is
//!   below the curve's lowest speed (10 km/h without a curve), its distance is driven at that
//!   speed and the rest of its time idles; vehicles waiting at origins idle all the time. The
//!   bundled truck idle rates are the means measured on twelve heavy-duty diesel trucks by
//!   McCormick, Graboski, Alleman & Yanowitz (2000, J. Air & Waste Manage. Assoc. 50:1992):
//!   1.416 g/min NOx, 0.030 g/min PM;
//! - **wear** (tyre, brake, road surface) as constant g/km;
//! - **resuspended road dust** from the US EPA AP-42 paved-road equation (§13.2.1, 2011):
//!   E = k · sL^0.91 · W^1.02 g per vehicle-km, with sL the silt loading (g/m²) and W the mean
//!   vehicle weight (short tons) of the traffic on the link.
//!
//! The constant factors are rounded fleet-average values of the kind given by the EMEP/EEA
//! guidebook (Tier 1, road transport) for a Euro 2–3 era fleet; they are assumptions to be
//! replaced by local measurements, and every scenario can override them (`[emissions]`),
//! including a truck NOx speed curve copied from the Guidebook's annex for the segment at hand.
//! All PM from exhaust is taken as PM2.5 (and hence also PM10).

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
    /// NOx as a function of speed; `None`: the constant `nox_g_km`.
    #[serde(default)]
    pub nox_curve: Option<SpeedCurve>,
    /// NOx while idling, g per vehicle-hour.
    #[serde(default)]
    pub idle_nox_g_h: f64,
    /// Exhaust PM while idling (PM2.5, hence also PM10), g per vehicle-hour.
    #[serde(default)]
    pub idle_pm_g_h: f64,
}

/// Below this mean speed a class without a speed curve is taken to crawl and idle, km/h (the
/// lowest speed of most of the Guidebook's Tier 3 curves).
pub const CRAWL_KM_H: f64 = 10.0;

/// A hot-exhaust factor against average speed in the EMEP/EEA Guidebook's unified Tier 3 form:
/// EF(V) = (αV² + βV + γ + δ/V) / (εV² + ζV + η) · (1 − RF/100) g/km, V in km/h, clamped to
/// [`v_min_km_h`, `v_max_km_h`] (the curve's validity range).
///
/// [`v_min_km_h`]: SpeedCurve::v_min_km_h
/// [`v_max_km_h`]: SpeedCurve::v_max_km_h
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeedCurve {
    /// α (of V²).
    #[serde(default)]
    pub alpha: f64,
    /// β (of V).
    #[serde(default)]
    pub beta: f64,
    /// γ (constant).
    #[serde(default)]
    pub gamma: f64,
    /// δ (of 1/V).
    #[serde(default)]
    pub delta: f64,
    /// ε (of V² in the denominator).
    #[serde(default)]
    pub epsilon: f64,
    /// ζ (of V in the denominator).
    #[serde(default)]
    pub zeta: f64,
    /// η (constant of the denominator).
    #[serde(default)]
    pub eta: f64,
    /// Reduction factor RF, %.
    #[serde(default)]
    pub reduction_pct: f64,
    /// Lowest valid speed, km/h.
    pub v_min_km_h: f64,
    /// Highest valid speed, km/h.
    pub v_max_km_h: f64,
}

/// Petrol passenger cars, Euro 4, NOx: EMEP/EEA Guidebook 2013 (update Sept 2014), 1.A.3.b,
/// Table 3-41, EF = (a + cV + eV²)/(1 + bV + dV²) with a = 1.06e-1, b = 0, c = −1.58e-3, d = 0,
/// e = 7.1e-6, valid 10–130 km/h — in the unified form α = e, β = c, γ = a, ε = d, ζ = b, η = 1.
pub const PETROL_CAR_EURO4_NOX: SpeedCurve = SpeedCurve {
    alpha: 7.1e-6,
    beta: -1.58e-3,
    gamma: 1.06e-1,
    delta: 0.0,
    epsilon: 0.0,
    zeta: 0.0,
    eta: 1.0,
    reduction_pct: 0.0,
    v_min_km_h: 10.0,
    v_max_km_h: 130.0,
};

impl SpeedCurve {
    /// The factor at `v_km_h` (clamped to the valid range), g/km.
    pub fn g_km(&self, v_km_h: f64) -> f64 {
        let v = v_km_h.clamp(self.v_min_km_h, self.v_max_km_h);
        let num = self.alpha * v * v + self.beta * v + self.gamma + self.delta / v;
        let den = self.epsilon * v * v + self.zeta * v + self.eta;
        num / den * (1.0 - self.reduction_pct / 100.0)
    }

    /// Checks the curve: finite coefficients, 0 < v_min < v_max ≤ 250 km/h, RF in [0, 100], and a
    /// positive denominator and a finite factor in [0, 10 kg/km] at every 0.5 km/h of the range.
    pub fn check(&self) -> Result<(), String> {
        let c = [
            ("alpha", self.alpha),
            ("beta", self.beta),
            ("gamma", self.gamma),
            ("delta", self.delta),
            ("epsilon", self.epsilon),
            ("zeta", self.zeta),
            ("eta", self.eta),
            ("reduction_pct", self.reduction_pct),
            ("v_min_km_h", self.v_min_km_h),
            ("v_max_km_h", self.v_max_km_h),
        ];
        if let Some((k, v)) = c.iter().find(|(_, v)| !v.is_finite()) {
            return Err(format!("{k} = {v} is not a finite number"));
        }
        if !(self.v_min_km_h > 0.0 && self.v_min_km_h < self.v_max_km_h && self.v_max_km_h <= 250.0)
        {
            return Err(format!(
                "the speed range {}–{} km/h must satisfy 0 < v_min_km_h < v_max_km_h ≤ 250",
                self.v_min_km_h, self.v_max_km_h
            ));
        }
        if !(0.0..=100.0).contains(&self.reduction_pct) {
            return Err(format!(
                "reduction_pct = {} is outside 0–100 %",
                self.reduction_pct
            ));
        }
        let mut v = self.v_min_km_h;
        while v <= self.v_max_km_h {
            let den = self.epsilon * v * v + self.zeta * v + self.eta;
            let ef = self.g_km(v);
            if den <= 0.0 || !ef.is_finite() || !(0.0..=10_000.0).contains(&ef) {
                return Err(format!(
                    "the factor at {v} km/h is {ef} g/km (denominator {den}); it must be finite \
                     and within 0–10,000 g/km over the whole speed range"
                ));
            }
            v += 0.5;
        }
        Ok(())
    }
}

/// The exhaust, wear and idling of one class on one link over an interval (road dust apart).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ClassEmission {
    /// NOx, g.
    pub nox_g: f64,
    /// PM10 from exhaust and wear, g.
    pub pm10_g: f64,
    /// PM2.5 from exhaust and wear, g.
    pub pm25_g: f64,
    /// Vehicle-hours spent idling.
    pub idle_h: f64,
    /// NOx while idling, g (part of `nox_g`).
    pub idle_nox_g: f64,
    /// PM while idling, g (part of `pm10_g` and of `pm25_g`).
    pub idle_pm_g: f64,
}

impl ClassFactors {
    /// Emissions of `vkm` vehicle-km driven in `vehicle_h` vehicle-hours on a link, plus
    /// `queued_h` vehicle-hours waiting at an origin. The space-mean speed vkm / vehicle_h sets
    /// the hot factor; below the curve's lowest speed (or [`CRAWL_KM_H`]) the distance is taken
    /// as driven at that speed and the remaining time as idling.
    pub fn emission(&self, vkm: f64, vehicle_h: f64, queued_h: f64) -> ClassEmission {
        let vkm = vkm.max(0.0);
        let vehicle_h = vehicle_h.max(0.0);
        let floor = self.nox_curve.map_or(CRAWL_KM_H, |c| c.v_min_km_h);
        let speed = if vehicle_h > 0.0 {
            vkm / vehicle_h
        } else {
            f64::INFINITY
        };
        let (moving_h, v) = if speed >= floor {
            (vehicle_h, speed)
        } else {
            (vkm / floor, floor)
        };
        let idle_h = (vehicle_h - moving_h).max(0.0) + queued_h.max(0.0);
        let hot_nox = match self.nox_curve {
            Some(c) if vkm > 0.0 => c.g_km(v) * vkm,
            Some(_) => 0.0,
            None => self.nox_g_km * vkm,
        };
        let idle_nox_g = idle_h * self.idle_nox_g_h;
        let idle_pm_g = idle_h * self.idle_pm_g_h;
        ClassEmission {
            nox_g: hot_nox + idle_nox_g,
            pm10_g: self.pm10_g_km * vkm + idle_pm_g,
            pm25_g: self.pm25_g_km * vkm + idle_pm_g,
            idle_h,
            idle_nox_g,
            idle_pm_g,
        }
    }
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
                // speed-dependent NOx of Euro 4 petrol cars (Vietnam's standard for new cars
                // 2017–2021); no published idle rate is bundled for cars
                nox_curve: Some(PETROL_CAR_EURO4_NOX),
                idle_nox_g_h: 0.0,
                idle_pm_g_h: 0.0,
            },
            // heavy diesel trucks: exhaust PM ≈ 0.25, wear PM10 ≈ 0.12 / PM2.5 ≈ 0.06; NOx ≈ 7
            truck: ClassFactors {
                pm10_g_km: 0.37,
                pm25_g_km: 0.31,
                nox_g_km: 7.0,
                weight_t: 20.0,
                nox_curve: None,
                // McCormick et al. (2000): 1.416 g/min NOx, 0.030 g/min PM at idle
                idle_nox_g_h: 1.416 * 60.0,
                idle_pm_g_h: 0.030 * 60.0,
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

    /// Emission rates (PM10, PM2.5, NOx) in g/s on a link over an interval of `seconds`, from
    /// the vehicle-km and vehicle-hours driven per class (car, truck) and the vehicle-hours
    /// queued at an origin charged to the link; also the grams of each emitted while idling.
    pub fn rates_g_s(
        &self,
        vkm: [f64; 2],
        vehicle_h: [f64; 2],
        queued_h: [f64; 2],
        seconds: f64,
        silt_g_m2: f64,
    ) -> ([f64; 3], [f64; 3]) {
        if seconds <= 0.0 {
            return ([0.0; 3], [0.0; 3]);
        }
        let car = self.car.emission(vkm[0], vehicle_h[0], queued_h[0]);
        let truck = self.truck.emission(vkm[1], vehicle_h[1], queued_h[1]);
        let total = vkm[0].max(0.0) + vkm[1].max(0.0);
        let (dust10, dust25) = if total > 0.0 {
            let w = (vkm[0].max(0.0) * self.car.weight_t + vkm[1].max(0.0) * self.truck.weight_t)
                / total;
            Self::road_dust_g_km(silt_g_m2, w)
        } else {
            (0.0, 0.0)
        };
        let idle_pm = car.idle_pm_g + truck.idle_pm_g;
        (
            [
                (car.pm10_g + truck.pm10_g + total * dust10) / seconds,
                (car.pm25_g + truck.pm25_g + total * dust25) / seconds,
                (car.nox_g + truck.nox_g) / seconds,
            ],
            [idle_pm, idle_pm, car.idle_nox_g + truck.idle_nox_g],
        )
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
        // 1000 and 2000 veh-km at the same speed (50 km/h)
        let a = m
            .rates_g_s([1000.0, 0.0], [20.0, 0.0], [0.0; 2], 3600.0, 0.6)
            .0;
        let b = m
            .rates_g_s([2000.0, 0.0], [40.0, 0.0], [0.0; 2], 3600.0, 0.6)
            .0;
        for k in 0..3 {
            assert!((b[k] / a[k] - 2.0).abs() < 1e-12);
        }
        // trucks raise the fleet weight and hence the dust per vehicle-km
        let c = m
            .rates_g_s([1000.0, 1000.0], [20.0, 20.0], [0.0; 2], 3600.0, 0.6)
            .0;
        assert!(c[0] > 2.0 * a[0]);
        assert_eq!(
            m.rates_g_s([0.0; 2], [0.0; 2], [0.0; 2], 3600.0, 0.6),
            ([0.0; 3], [0.0; 3])
        );
    }

    /// The Guidebook's Table 3-41 curve for Euro 4 petrol cars, NOx, evaluated by hand from the
    /// published coefficients (0.106 − 1.58e-3·V + 7.1e-6·V²): 0.07724 g/km at 20 km/h,
    /// 0.04475 at 50, 0.0190 at 100; clamped to its 10–130 km/h range outside it.
    #[test]
    fn petrol_euro4_nox_reproduces_the_guidebook_at_three_speeds() {
        let c = PETROL_CAR_EURO4_NOX;
        for (v, want) in [(20.0, 0.07724), (50.0, 0.04475), (100.0, 0.0190)] {
            assert!((c.g_km(v) - want).abs() < 1e-9, "{v} km/h: {}", c.g_km(v));
        }
        assert_eq!(c.g_km(3.0), c.g_km(10.0));
        assert_eq!(c.g_km(150.0), c.g_km(130.0));
        assert!(c.check().is_ok());
    }

    #[test]
    fn a_curve_that_goes_negative_or_divides_by_zero_is_refused() {
        let mut c = PETROL_CAR_EURO4_NOX;
        c.gamma = -1.0;
        assert!(c.check().expect_err("refused").contains("g/km"));
        let mut c = PETROL_CAR_EURO4_NOX;
        c.eta = 0.0;
        c.zeta = -0.01;
        assert!(c.check().expect_err("refused").contains("denominator"));
        let mut c = PETROL_CAR_EURO4_NOX;
        c.v_min_km_h = 0.0;
        assert!(c.check().expect_err("refused").contains("v_min_km_h"));
        let mut c = PETROL_CAR_EURO4_NOX;
        c.reduction_pct = 120.0;
        assert!(c.check().expect_err("refused").contains("reduction_pct"));
    }

    /// A truck stuck for an hour moving 3 km: 3 km driven at 10 km/h (0.3 h) and 0.7 h idling at
    /// McCormick et al.'s 1.416 g/min; one waiting at an origin for an hour idles the whole hour.
    #[test]
    fn stopped_and_queued_vehicles_idle() {
        let t = EmissionModel::default().truck;
        let e = t.emission(3.0, 1.0, 0.0);
        assert!((e.idle_h - 0.7).abs() < 1e-12);
        assert!((e.nox_g - (3.0 * 7.0 + 0.7 * 84.96)).abs() < 1e-9);
        assert!((e.pm25_g - (3.0 * 0.31 + 0.7 * 1.8)).abs() < 1e-9);
        let q = t.emission(0.0, 0.0, 1.0);
        assert!((q.nox_g - 84.96).abs() < 1e-9 && (q.idle_h - 1.0).abs() < 1e-12);
        // free flow: no idling
        let f = t.emission(60.0, 1.0, 0.0);
        assert_eq!(f.idle_h, 0.0);
        assert!((f.nox_g - 420.0).abs() < 1e-9);
    }

    /// The complaint this replaces: a jammed network and a free-flowing one emitted the same
    /// NOx per vehicle-km. Now a car's NOx per km doubles from 50 km/h to a 5 km/h crawl, and a
    /// truck's grows from 7 to (5 · 7 + 0.5 h · 84.96) / 5 = 15.5 g/km.
    #[test]
    fn congestion_raises_emissions_per_vehicle_km() {
        let m = EmissionModel::default();
        let per_km = |vkm: [f64; 2], h: [f64; 2]| {
            let r = m.rates_g_s(vkm, h, [0.0; 2], 3600.0, 0.0).0;
            r[2] * 3600.0 / (vkm[0] + vkm[1])
        };
        let free = per_km([50.0, 0.0], [1.0, 0.0]);
        let jam = per_km([5.0, 0.0], [1.0, 0.0]);
        assert!((free - 0.04475).abs() < 1e-9);
        assert!((jam - PETROL_CAR_EURO4_NOX.g_km(10.0)).abs() < 1e-9);
        assert!(jam / free > 2.0);
        let free = per_km([0.0, 50.0], [0.0, 1.0]);
        let jam = per_km([0.0, 5.0], [0.0, 1.0]);
        assert!((free - 7.0).abs() < 1e-9);
        assert!((jam - 15.496).abs() < 1e-9, "{jam} vs {free}");
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
