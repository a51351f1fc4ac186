//! Synthetic telemetry: minute-level readings for a dataset's stations and mines, made to
//! exercise the analytics at realistic scale (tens of millions of readings), not to stand in for
//! measurements.
//!
//! Every value is a pure function of (seed, series, time): weather, episodes and faults come from
//! hashed knots, so any day can be generated on its own, in parallel, and the same seed gives the
//! same bytes. What goes in:
//!
//! - **Weather** (province-wide): the north-east winter monsoon (wind from ~45°, cool, dry, PM
//!   high) and the south-east summer monsoon (~150°, hot, rainy, PM washed out), a sea-breeze
//!   swing by day, slow random weather, 3-day stagnation episodes in winter (light wind, PM ×
//!   2.2) and rain days in summer (PM × 0.55, TSS up).
//! - **Air stations** (every 60 s): a regional background with a night-time boundary-layer
//!   maximum, rush-hour traffic peaks (weekends lighter) for NO₂/CO/PM, photochemical O₃ by
//!   day, plus the dispersion model's steady Gaussian plume (class D; Briggs rise from each
//!   stack's exit conditions, Briggs σ, the wind at the plume's height) from every plant stack
//!   (its dataset emission rates) and every mine (coal dust from its output at the dispersion
//!   model's open-pit factor) that is upwind now.
//! - **Water stations** (every 300 s): tide, photosynthesis (pH, DO by day), rain-driven TSS
//!   and COD; coastal stations (those that report salinity) with sea-water conductivity.
//! - **Underground mines** (every 60 s, station id = mine id): CH₄ by methane class and the
//!   three-shift cutting cycle, gas-emission events (peaks 1.1–2.2 %, so alarms fire), rare fan
//!   stoppages (air velocity < 0.25 m/s, CH₄ up, O₂ down), blasting CO at shift start, dust
//!   while cutting. Open-pit mines report dust (mg/m³).
//! - **Sensor faults**, written down in `_faults.csv`: dropouts (no rows), stuck values,
//!   spikes, daily zero/span calibration of gas analysers and weekly of water and CH₄ sensors
//!   (`status = calibrating`, span values), and error periods (`status = error`).

use std::f64::consts::PI;

use geo::Centroid;
use polars::prelude::*;
use rayon::prelude::*;

use crate::dispersion::StackExit;
use crate::dispersion::plume::{PlumeRise, Stability, gaussian_plume, wind_at_height};
use crate::dispersion::scenario::{AREA_SIGMA_Z0_M, MINE_PM10_KG_PER_T, POINT_MINE_SIDE_M};
use crate::model::{Medium, MethaneClass, MineGeometry, MiningMethod, Pollutant, Province};

const MINUTE_MS: i64 = 60_000;
use super::observations::ObservationError;
use super::time::{DAY_MS, HOUR_MS, LOCAL_OFFSET_MS, local_day_start};

// ---------------------------------------------------------------- hashing and noise

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn hash3(seed: u64, key: u64, i: i64) -> u64 {
    splitmix(seed ^ splitmix(key ^ splitmix(i as u64)))
}

/// FNV-1a of a name (series keys).
fn key_of(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// Uniform in [0, 1).
fn uniform(seed: u64, key: u64, i: i64) -> f64 {
    (hash3(seed, key, i) >> 11) as f64 / (1u64 << 53) as f64
}

/// Standard normal (Box–Muller on two hashed uniforms).
fn gauss(seed: u64, key: u64, i: i64) -> f64 {
    let u1 = uniform(seed, key, i).max(1e-300);
    let u2 = uniform(seed, key ^ 0x5555_5555, i);
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

/// Smooth noise: normal values at integer knots of `t`, joined by smoothstep; about N(0, 0.7²)
/// between knots.
fn smooth(seed: u64, key: u64, t: f64) -> f64 {
    let k = t.floor();
    let f = t - k;
    let s = f * f * (3.0 - 2.0 * f);
    let k = k as i64;
    gauss(seed, key, k) * (1.0 - s) + gauss(seed, key, k + 1) * s
}

// ---------------------------------------------------------------- weather

/// Province-wide weather at one time.
#[derive(Debug, Clone, Copy)]
struct Weather {
    /// Local hour of day, 0..24.
    hour: f64,
    /// 1 in mid-January, 0 in mid-July.
    winter: f64,
    /// Direction the wind blows from, degrees.
    wind_from_deg: f64,
    /// m/s at 10 m.
    wind_speed: f64,
    /// °C.
    temperature: f64,
    /// %.
    humidity: f64,
    /// Boundary-layer accumulation factor (night-time maximum).
    mixing: f64,
    /// Traffic activity, 0.5–1.7.
    traffic: f64,
    /// PM multiplier from stagnation episodes and rain.
    episode: f64,
    /// Rain today.
    rain: bool,
}

fn weather(seed: u64, t_ms: i64) -> Weather {
    let local = t_ms + LOCAL_OFFSET_MS;
    let day = local.div_euclid(DAY_MS);
    let hour = local.rem_euclid(DAY_MS) as f64 / HOUR_MS as f64;
    let doy = (day as f64).rem_euclid(365.2425);
    let winter = 0.5 + 0.5 * (2.0 * PI * (doy - 15.0) / 365.2425).cos();
    let th = t_ms as f64 / HOUR_MS as f64;
    let diurnal = (2.0 * PI * (hour - 14.0) / 24.0).cos(); // 1 at 14:00
    let stagnation = uniform(seed, key_of("stagnation"), day.div_euclid(3)) < 0.3 * winter;
    let rain = uniform(seed, key_of("rain"), day) < 0.55 * (1.0 - winter) + 0.08;
    let mut wind_speed = 2.4 + 0.8 * winter + 1.1 * diurnal + 0.9 * smooth(seed, 11, th / 3.0);
    if stagnation {
        wind_speed *= 0.45;
    }
    let wind_from_deg = (45.0 * winter
        + 150.0 * (1.0 - winter)
        + 20.0 * diurnal
        + 45.0 * smooth(seed, 12, th / 8.0))
    .rem_euclid(360.0);
    let temperature = 22.75 + 6.25 * (1.0 - 2.0 * winter) + 3.5 * diurnal
        - if rain { 2.0 } else { 0.0 }
        + 1.2 * smooth(seed, 13, th / 12.0);
    let humidity =
        (80.0 - 10.0 * diurnal + if rain { 12.0 } else { 0.0 } + 4.0 * smooth(seed, 14, th / 6.0))
            .clamp(35.0, 100.0);
    let mixing = 1.0 + 0.35 * (2.0 * PI * (hour - 5.0) / 24.0).cos();
    let weekday = (day + 3).rem_euclid(7); // 1970-01-01 was a Thursday: 0 = Monday
    let week = match weekday {
        5 => 0.85,
        6 => 0.7,
        _ => 1.0,
    };
    let bump = |h0: f64, a: f64, s: f64| a * (-(hour - h0).powi(2) / (2.0 * s * s)).exp();
    let traffic = (0.5 + bump(7.5, 0.8, 1.2) + bump(17.5, 0.9, 1.5)) * week;
    let episode = if stagnation { 2.2 } else { 1.0 } * if rain { 0.55 } else { 1.0 };
    Weather {
        hour,
        winter,
        wind_from_deg,
        wind_speed: wind_speed.max(0.3),
        temperature,
        humidity,
        mixing,
        traffic,
        episode,
        rain,
    }
}

// ---------------------------------------------------------------- sites and sources

/// What a generated series belongs to.
#[derive(Debug, Clone, PartialEq)]
pub enum SiteKind {
    /// An air station.
    Air,
    /// A water station; coastal when it reports salinity.
    Water {
        /// Reports salinity (coastal).
        coastal: bool,
    },
    /// An underground mine's sensor set.
    UndergroundMine {
        /// Methane class.
        class: MethaneClass,
    },
    /// An open-pit mine's dust monitor.
    OpenPit,
}

/// A site that reports readings.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    /// Station or mine id.
    pub id: String,
    /// What it is.
    pub kind: SiteKind,
    /// Parameters generated, with their canonical unit.
    pub parameters: Vec<(String, &'static str)>,
    /// Longitude, latitude.
    pub lon_lat: (f64, f64),
    /// Seconds between readings.
    pub interval_s: i64,
}

/// An emitting source seen by the plume model.
#[derive(Debug, Clone, PartialEq)]
struct Source {
    lon_lat: (f64, f64),
    /// Release height, m.
    height_m: f64,
    /// Stack exit conditions (Briggs rise), if known.
    exit: Option<StackExit>,
    /// Initial σy, σz, m.
    sigma0: (f64, f64),
    /// g/s of PM (as PM10), SO₂, NOₓ.
    pm_g_s: f64,
    so2_g_s: f64,
    nox_g_s: f64,
    /// Mines work by shifts (less at night).
    mine: bool,
}

/// The canonical unit the generator writes for a parameter it knows.
fn unit_of(parameter: &str) -> Option<&'static str> {
    Some(match parameter {
        "PM2.5" | "PM10" | "TSP" | "SO2" | "NO2" | "CO" | "O3" => "µg/m³",
        "wind_speed" => "m/s",
        "wind_direction" => "deg",
        "temperature" => "°C",
        "relative_humidity" => "%",
        "pH" => "pH",
        "DO" | "COD" | "TSS" | "NH4" | "NH4+" => "mg/L",
        "conductivity" => "µS/cm",
        "salinity" => "PSU",
        _ => return None,
    })
}

/// Which sites to generate: `all`, or listed station and mine ids.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    /// Every station and every mine.
    All,
    /// These ids.
    Ids(Vec<String>),
}

/// The sites of a province: its stations (parameters the generator knows), operating mines with
/// underground workings (CH₄, CO, O₂, air velocity, dust) and operating open-pit mines (dust).
/// Unknown ids, and mines that are not operating, are an error naming them.
pub fn sites(province: &Province, selection: &Selection) -> Result<Vec<Site>, String> {
    let mut out = Vec::new();
    for s in &province.stations {
        let parameters: Vec<(String, &'static str)> = s
            .parameters
            .iter()
            .filter_map(|p| unit_of(p).map(|u| (p.clone(), u)))
            .collect();
        let (kind, interval_s) = match s.medium {
            Medium::Air => (SiteKind::Air, 60),
            Medium::Water => (
                SiteKind::Water {
                    coastal: s.parameters.iter().any(|p| p == "salinity"),
                },
                300,
            ),
        };
        out.push(Site {
            id: s.meta.id.clone(),
            kind,
            parameters,
            lon_lat: (s.location.x(), s.location.y()),
            interval_s,
        });
    }
    // only operating mines carry sensors; a mine with underground workings reports its gas
    for m in province.mines.iter().filter(|m| m.operating()) {
        let c = mine_point(&m.geometry);
        let (kind, parameters) = match m.method {
            MiningMethod::Underground | MiningMethod::UndergroundAndSurface => (
                SiteKind::UndergroundMine {
                    class: m.methane_class,
                },
                vec![
                    ("CH4".to_string(), "%"),
                    ("CO_mine".to_string(), "ppm"),
                    ("O2".to_string(), "%"),
                    ("air_velocity".to_string(), "m/s"),
                    ("dust".to_string(), "mg/m³"),
                ],
            ),
            MiningMethod::OpenPit => (SiteKind::OpenPit, vec![("dust".to_string(), "mg/m³")]),
        };
        out.push(Site {
            id: m.meta.id.clone(),
            kind,
            parameters,
            lon_lat: c,
            interval_s: 60,
        });
    }
    match selection {
        Selection::All => Ok(out),
        Selection::Ids(ids) => {
            let unknown: Vec<&String> = ids
                .iter()
                .filter(|id| !out.iter().any(|s| &s.id == *id))
                .collect();
            if let Some(m) = unknown
                .iter()
                .find_map(|id| province.mines.iter().find(|m| &m.meta.id == *id))
            {
                return Err(format!(
                    "mine {:?} is {}, not operating: it has no sensors",
                    m.meta.id,
                    m.status.as_str()
                ));
            }
            if !unknown.is_empty() {
                return Err(format!(
                    "no station or mine with id {}",
                    unknown
                        .iter()
                        .map(|s| format!("{s:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            Ok(out.into_iter().filter(|s| ids.contains(&s.id)).collect())
        }
    }
}

fn mine_point(g: &MineGeometry) -> (f64, f64) {
    match g {
        MineGeometry::Point(p) => (p.x(), p.y()),
        MineGeometry::Area(a) => a.centroid().map(|p| (p.x(), p.y())).unwrap_or((0.0, 0.0)),
    }
}

fn sources(province: &Province) -> Vec<Source> {
    let mut v = Vec::new();
    for p in &province.plants {
        let rate = |q: Pollutant| {
            p.emissions
                .iter()
                .filter(|e| e.pollutant == q)
                .map(|e| e.grams_per_second)
                .sum::<f64>()
        };
        v.push(Source {
            lon_lat: (p.location.x(), p.location.y()),
            // the stack, risen by Briggs' formula from its exit conditions (as the dispersion
            // model's near field does)
            height_m: p.stack_height_m,
            exit: match (p.exit_velocity_m_s, p.exit_temperature_k) {
                (Some(v), Some(t)) => Some(StackExit {
                    diameter_m: p.stack_diameter_m,
                    velocity_m_s: v,
                    temperature_k: t,
                }),
                _ => None,
            },
            sigma0: (0.0, 0.0),
            pm_g_s: rate(Pollutant::Pm10) + rate(Pollutant::Tsp) * 0.5 + rate(Pollutant::Pm25),
            so2_g_s: rate(Pollutant::So2),
            nox_g_s: rate(Pollutant::Nox) + rate(Pollutant::No2),
            mine: false,
        });
    }
    for m in province.mines.iter().filter(|m| m.operating()) {
        // coal dust from operating mines: the dispersion model's open-pit factor (kg PM10 per
        // tonne mined: blasting, haul roads, dumps) where the mine has surface workings, 0.01
        // kg/t from underground mines' surface handling (which the dispersion model does not
        // carry); a mine is a ground-level volume source of the dispersion model's nominal pit
        let kg_per_t = if m.method.surface() {
            MINE_PM10_KG_PER_T
        } else {
            0.01
        };
        v.push(Source {
            lon_lat: mine_point(&m.geometry),
            height_m: 0.0,
            exit: None,
            sigma0: (POINT_MINE_SIDE_M / 4.3, AREA_SIGMA_Z0_M),
            pm_g_s: m.output_t_per_year * kg_per_t * 1000.0 / (365.0 * 86_400.0),
            so2_g_s: 0.0,
            nox_g_s: 0.0,
            mine: true,
        });
    }
    v
}

/// Concentration at 1.5 m per g/s (µg/m³ per g/s) of a source's steady Gaussian plume, class D,
/// at `dx` m downwind and `dy` m crosswind: the dispersion model's plume (Briggs rise with the
/// wind at the release height, Briggs σ, ground reflection; no lid). Nothing within 100 m.
fn plume_per_g_s(s: &Source, dx: f64, dy: f64, u10: f64, ambient_k: f64) -> f64 {
    if dx < 100.0 {
        return 0.0;
    }
    let us = wind_at_height(u10, s.height_m, Stability::D);
    let rise = match s.exit {
        Some(e) => PlumeRise::briggs(e.buoyancy_flux(ambient_k), us, Stability::D, ambient_k),
        None => PlumeRise::none(us),
    };
    gaussian_plume(
        1.0,
        u10,
        dx,
        dy,
        1.5,
        s.height_m + rise.at(dx),
        Stability::D,
        s.sigma0,
        f64::INFINITY,
    )
}

/// Plume contributions (µg/m³ of PM, SO₂, NOₓ; the share of it that is mine dust) at a site.
fn plumes(srcs: &[Source], site: (f64, f64), w: &Weather) -> [f64; 4] {
    let to = (w.wind_from_deg + 180.0).to_radians();
    let (ux, uy) = (to.sin(), to.cos()); // unit vector the wind blows to (x east, y north)
    let m_per_deg_lat = 110_574.0;
    let m_per_deg_lon = 111_320.0 * site.1.to_radians().cos();
    let mut c = [0.0; 4];
    for s in srcs {
        let ex = (site.0 - s.lon_lat.0) * m_per_deg_lon;
        let ny = (site.1 - s.lon_lat.1) * m_per_deg_lat;
        let dx = ex * ux + ny * uy;
        let dy = -ex * uy + ny * ux;
        if dx > 30_000.0 {
            continue;
        }
        let k = plume_per_g_s(s, dx, dy, w.wind_speed.max(0.5), w.temperature + 273.15);
        if k == 0.0 {
            continue;
        }
        let activity = if s.mine { mine_activity(w.hour) } else { 1.0 };
        c[0] += k * s.pm_g_s * activity;
        c[1] += k * s.so2_g_s;
        c[2] += k * s.nox_g_s;
        if s.mine {
            c[3] += k * s.pm_g_s * activity;
        }
    }
    c
}

/// Mines cut coal in the middle hours of each 8-h shift (06, 14, 22 local), less at night.
fn mine_activity(hour: f64) -> f64 {
    let in_shift = (hour - 6.0).rem_euclid(8.0);
    let cutting = if (1.0..6.5).contains(&in_shift) {
        1.0
    } else {
        0.35
    };
    let night = if !(6.0..22.0).contains(&hour) {
        0.7
    } else {
        1.0
    };
    cutting * night
}

// ---------------------------------------------------------------- faults

/// A fault the generator put into a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// No readings.
    Dropout,
    /// The value frozen at its first reading.
    Stuck,
    /// One reading 6–12 times too high.
    Spike,
    /// Zero/span check: status `calibrating`, span values.
    Calibration,
    /// Status `error`.
    Error,
}

impl FaultKind {
    /// Name used in `_faults.csv`.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Dropout => "dropout",
            FaultKind::Stuck => "stuck",
            FaultKind::Spike => "spike",
            FaultKind::Calibration => "calibration",
            FaultKind::Error => "error",
        }
    }
}

/// One injected fault: [start, end) in ms UTC.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// Site id.
    pub station_id: String,
    /// Parameter.
    pub parameter: String,
    /// What.
    pub kind: FaultKind,
    /// Start, ms UTC.
    pub start_ms: i64,
    /// End (exclusive), ms UTC.
    pub end_ms: i64,
}

/// A fault window within one local day, from the series key: (start, end) in ms.
fn window(
    seed: u64,
    key: u64,
    day: i64,
    what: &str,
    p: f64,
    min_m: f64,
    max_m: f64,
) -> Option<(i64, i64)> {
    let k = key ^ key_of(what);
    if uniform(seed, k, day) >= p {
        return None;
    }
    let day_start = local_day_start(day);
    let len_min = min_m + (max_m - min_m) * uniform(seed, k ^ 1, day).powi(2);
    let len = (len_min.round() as i64).max(1) * MINUTE_MS;
    let start = day_start + ((DAY_MS - len) as f64 * uniform(seed, k ^ 2, day)) as i64;
    let start = start - start.rem_euclid(MINUTE_MS);
    Some((start, start + len))
}

/// Gas analysers and sensors that are zero/span checked, their span value and how often (days).
fn calibration_of(parameter: &str) -> Option<(f64, i64)> {
    Some(match parameter {
        "SO2" => (400.0, 1),
        "NO2" => (300.0, 1),
        "CO" => (10_000.0, 1),
        "O3" => (200.0, 1),
        "pH" => (7.0, 7),
        "DO" => (9.0, 7),
        "CH4" => (2.0, 7),
        _ => return None,
    })
}

// ---------------------------------------------------------------- values

/// What holds for a site over one local day: its key, its own level, and (underground mines)
/// the day's gas-emission event (start, end, peak %) and fan stoppage — drawn once per series,
/// not per reading.
struct SiteDay {
    seed: u64,
    key: u64,
    /// The site's own level: 0.75–1.35 of the regional one.
    factor: f64,
    gas_event: Option<(i64, i64, f64)>,
    fan_stop: Option<(i64, i64)>,
}

impl SiteDay {
    fn new(seed: u64, site: &Site, day: i64) -> Self {
        let key = key_of(&site.id);
        let (gas_event, fan_stop) = match &site.kind {
            SiteKind::UndergroundMine { class } => {
                let p_event = match class {
                    MethaneClass::I => 0.03,
                    MethaneClass::II => 0.06,
                    MethaneClass::III => 0.1,
                    MethaneClass::Super => 0.15,
                    MethaneClass::Outburst => 0.2,
                };
                (
                    window(seed, key, day, "gas event", p_event, 10.0, 90.0)
                        .map(|(s, e)| (s, e, 1.1 + 1.1 * uniform(seed, key ^ 7, day))),
                    window(seed, key, day, "fan stoppage", 0.01, 20.0, 60.0),
                )
            }
            _ => (None, None),
        };
        Self {
            seed,
            key,
            factor: 0.75 + 0.6 * uniform(seed, key, -1),
            gas_event,
            fan_stop,
        }
    }
}

/// The clean (fault-free) value of a parameter at a site, and its resolution.
fn value(
    site: &Site,
    sd: &SiteDay,
    key: u64,
    parameter: &str,
    t_ms: i64,
    w: &Weather,
    pl: &[f64; 4],
) -> (f64, f64) {
    let th = t_ms as f64 / HOUR_MS as f64;
    let minute = t_ms.div_euclid(MINUTE_MS);
    let (seed, site_factor) = (sd.seed, sd.factor);
    let slow = smooth(seed, key, th * 1.3);
    let white = gauss(seed, key, minute);
    let lognorm = |sd_slow: f64, sd_white: f64| (sd_slow * slow + sd_white * white).exp();
    let day_sun = (PI * (w.hour - 6.0) / 12.0).sin().max(0.0);
    match (&site.kind, parameter) {
        (SiteKind::Air, "PM2.5" | "PM10" | "TSP") => {
            let base = (12.0 + 18.0 * w.winter)
                * w.mixing
                * (0.6 + 0.4 * w.traffic)
                * w.episode
                * site_factor
                * lognorm(0.3, 0.08);
            let v = match parameter {
                "PM2.5" => base + 0.35 * (pl[0] - pl[3]) + 0.12 * pl[3],
                "PM10" => 1.7 * base + (pl[0] - pl[3]) + 0.8 * pl[3],
                _ => 2.4 * base + 1.3 * (pl[0] - pl[3]) + 2.0 * pl[3],
            };
            (v, 0.1)
        }
        (SiteKind::Air, "SO2") => (
            ((6.0 + 6.0 * w.winter) * w.mixing * site_factor * lognorm(0.3, 0.1)) + pl[1],
            0.1,
        ),
        (SiteKind::Air, "NO2") => (
            (10.0 + 22.0 * w.traffic) * w.mixing * site_factor * lognorm(0.25, 0.1) + 0.25 * pl[2],
            0.1,
        ),
        (SiteKind::Air, "CO") => (
            (450.0 + 850.0 * w.traffic) * w.mixing * site_factor * lognorm(0.25, 0.08),
            1.0,
        ),
        (SiteKind::Air, "O3") => {
            let photo = 25.0 + (60.0 + 40.0 * (1.0 - w.winter)) * day_sun;
            let rain = if w.rain { 0.7 } else { 1.0 };
            (
                (photo * rain * lognorm(0.2, 0.06) - 0.15 * pl[2]).max(2.0),
                0.1,
            )
        }
        (_, "wind_speed") => (
            (w.wind_speed * (1.0 + 0.15 * slow + 0.1 * white)).max(0.0),
            0.1,
        ),
        (_, "wind_direction") => (
            (w.wind_from_deg + 12.0 * slow + 8.0 * white).rem_euclid(360.0),
            1.0,
        ),
        (SiteKind::Air, "temperature") => (w.temperature + 0.6 * slow + 0.1 * white, 0.1),
        (_, "relative_humidity") => (
            (w.humidity + 3.0 * slow + 0.5 * white).clamp(20.0, 100.0),
            0.1,
        ),
        (SiteKind::Water { coastal }, p) => {
            let tide = (2.0 * PI * th / 12.42).sin();
            let photo = day_sun;
            let rain = if w.rain { 1.0 } else { 0.0 };
            let sal = if *coastal {
                26.0 + 5.0 * tide + 1.0 * slow
            } else {
                0.2
            };
            match p {
                "pH" => (
                    7.5 + if *coastal { 0.5 } else { 0.0 }
                        + 0.25 * photo
                        + 0.05 * tide
                        + 0.05 * slow
                        + 0.01 * white,
                    0.01,
                ),
                "DO" => (
                    (6.0 + 1.5 * photo - 0.06 * (w.temperature - 25.0) + 0.3 * slow + 0.05 * white)
                        .max(0.5),
                    0.01,
                ),
                "COD" => (
                    8.0 * site_factor * (1.0 + 0.6 * rain) * lognorm(0.15, 0.03),
                    0.1,
                ),
                "TSS" => (
                    22.0 * site_factor * (1.0 + 2.0 * rain) * lognorm(0.25, 0.05),
                    0.1,
                ),
                "NH4" | "NH4+" => (
                    0.25 * site_factor * (1.0 + 0.5 * rain) * lognorm(0.2, 0.05),
                    0.001,
                ),
                "temperature" => (
                    w.temperature + 1.5 - 2.0 * (w.hour - 14.0).abs() / 14.0 + 0.2 * slow,
                    0.01,
                ),
                "conductivity" => (
                    if *coastal {
                        sal * 1600.0
                    } else {
                        350.0 * site_factor
                    } * (1.0 + 0.01 * white),
                    1.0,
                ),
                "salinity" => ((sal + 0.05 * white).max(0.0), 0.01),
                _ => (0.0, 1.0),
            }
        }
        (SiteKind::UndergroundMine { class }, p) => {
            let base = match class {
                MethaneClass::I => 0.2,
                MethaneClass::II => 0.35,
                MethaneClass::III => 0.5,
                MethaneClass::Super => 0.6,
                MethaneClass::Outburst => 0.65,
            };
            // a gas-emission event: triangular rise and fall to its peak
            let event = sd
                .gas_event
                .filter(|(s, e, _)| (*s..*e).contains(&t_ms))
                .map(|(s, e, peak)| {
                    let x = (t_ms - s) as f64 / (e - s) as f64;
                    peak * (1.0 - (2.0 * x - 1.0).abs())
                })
                .unwrap_or(0.0);
            let fan_stop = sd.fan_stop.filter(|(s, e)| (*s..*e).contains(&t_ms));
            let act = mine_activity(w.hour);
            let ch4 = base * (0.6 + 0.5 * act) * (1.0 + 0.12 * slow + 0.03 * white)
                + event
                + if fan_stop.is_some() { 0.8 } else { 0.0 };
            match p {
                "CH4" => (ch4.max(0.0), 0.01),
                "CO_mine" => {
                    // blasting 30 min into each shift: CO peaks at 25–75 ppm and clears in ~20 min
                    let in_shift_min = ((w.hour - 6.0).rem_euclid(8.0) * 60.0) - 30.0;
                    let shift_no = (t_ms + LOCAL_OFFSET_MS - 6 * HOUR_MS).div_euclid(8 * HOUR_MS);
                    let blast = if in_shift_min >= 0.0 {
                        (25.0 + 50.0 * uniform(seed, sd.key ^ 9, shift_no))
                            * (-in_shift_min / 20.0).exp()
                    } else {
                        0.0
                    };
                    (
                        (4.0 + 2.0 * act + blast) * (1.0 + 0.1 * slow + 0.03 * white),
                        0.1,
                    )
                }
                "O2" => (
                    (20.85 - 0.3 * ch4 + 0.03 * slow + 0.01 * white).min(20.95),
                    0.01,
                ),
                "air_velocity" => (
                    if fan_stop.is_some() {
                        0.12
                    } else {
                        1.8 + 0.2 * slow
                    } * (1.0 + 0.04 * white),
                    0.01,
                ),
                "dust" => ((1.0 + 5.0 * act) * lognorm(0.2, 0.1), 0.01),
                _ => (0.0, 1.0),
            }
        }
        (SiteKind::OpenPit, _) => (
            (0.3 + 1.2 * mine_activity(w.hour)) * w.episode * lognorm(0.3, 0.15),
            0.01,
        ),
        _ => (0.0, 1.0),
    }
}

// ---------------------------------------------------------------- one day

/// Settings of a generator run.
#[derive(Debug, Clone, PartialEq)]
pub struct Generator {
    /// Seed: the same seed gives the same readings.
    pub seed: u64,
    /// First local day, days since 1970-01-01.
    pub first_day: i64,
    /// Sites to generate.
    pub sites: Vec<Site>,
    sources: Vec<Source>,
}

/// One local day of readings, in the normalised schema, and the faults injected in it.
pub struct Day {
    /// `station_id`, `parameter`, `time_ms`, `value`, `unit`, `status`.
    pub readings: DataFrame,
    /// Faults with windows starting this day (spikes: one row each).
    pub faults: Vec<Fault>,
}

struct SeriesOut {
    time: Vec<i64>,
    value: Vec<f64>,
    status: Vec<u8>,
    faults: Vec<Fault>,
}

impl Generator {
    /// A generator over `sites` of `province` from local day `first_day`.
    pub fn new(province: &Province, sites: Vec<Site>, first_day: i64, seed: u64) -> Self {
        Self {
            seed,
            first_day,
            sites,
            sources: sources(province),
        }
    }

    /// Readings per day (all sites, before dropouts).
    pub fn readings_per_day(&self) -> u64 {
        self.sites
            .iter()
            .map(|s| s.parameters.len() as u64 * (86_400 / s.interval_s as u64))
            .sum()
    }

    fn series(
        &self,
        site: &Site,
        pi: usize,
        day: i64,
        weather_cache: &[Weather],
        plumes_at: &[[f64; 4]],
    ) -> SeriesOut {
        let seed = self.seed;
        let (parameter, _) = &site.parameters[pi];
        let key = key_of(&site.id) ^ key_of(parameter).rotate_left(17);
        let day_start = local_day_start(day);
        let step = site.interval_s * 1000;
        let n = (DAY_MS / step) as usize;
        let mut out = SeriesOut {
            time: Vec::with_capacity(n),
            value: Vec::with_capacity(n),
            status: Vec::with_capacity(n),
            faults: Vec::new(),
        };
        let fault = |kind: FaultKind, (s, e): (i64, i64)| Fault {
            station_id: site.id.clone(),
            parameter: parameter.clone(),
            kind,
            start_ms: s,
            end_ms: e,
        };
        let dropout = window(seed, key, day, "dropout", 0.12, 10.0, 240.0);
        let stuck = window(seed, key, day, "stuck", 0.03, 60.0, 300.0);
        let error = window(seed, key, day, "error", 0.02, 5.0, 60.0);
        let calibration = calibration_of(parameter).and_then(|(span, every)| {
            let phase = (key % every as u64) as i64;
            (day.rem_euclid(every) == phase).then(|| {
                // at 01:00–04:00 local, 15 minutes (20 for span gases), on the minute
                let start = day_start
                    + HOUR_MS
                    + (uniform(seed, key ^ 3, day) * 3.0 * HOUR_MS as f64) as i64;
                let start = start - start.rem_euclid(MINUTE_MS);
                (span, (start, start + 20 * MINUTE_MS))
            })
        });
        for (w, f) in [
            (dropout, FaultKind::Dropout),
            (stuck, FaultKind::Stuck),
            (error, FaultKind::Error),
        ] {
            if let Some(w) = w {
                out.faults.push(fault(f, w));
            }
        }
        if let Some((_, w)) = calibration {
            out.faults.push(fault(FaultKind::Calibration, w));
        }
        let spiky = matches!(
            parameter.as_str(),
            "PM2.5" | "PM10" | "SO2" | "NO2" | "CO" | "O3" | "CH4" | "CO_mine"
        );
        let mut stuck_value: Option<f64> = None;
        let site_day = SiteDay::new(seed, site, day);
        let inside = |w: Option<(i64, i64)>, t: i64| w.is_some_and(|(s, e)| (s..e).contains(&t));
        for i in 0..n {
            let t = day_start + i as i64 * step;
            if inside(dropout, t) {
                continue;
            }
            let m = ((t - day_start) / MINUTE_MS) as usize;
            let (mut v, res) = value(
                site,
                &site_day,
                key,
                parameter,
                t,
                &weather_cache[m],
                &plumes_at[m],
            );
            let mut status = 0u8;
            if inside(stuck, t) {
                v = *stuck_value.get_or_insert(v);
            } else if spiky && uniform(seed, key ^ 0x5b1c, t / MINUTE_MS) < 2e-4 {
                v *= 6.0 + 6.0 * uniform(seed, key ^ 0x5b1d, t / MINUTE_MS);
                out.faults.push(fault(FaultKind::Spike, (t, t + step)));
            }
            if let Some((span, w)) = calibration
                && inside(Some(w), t)
            {
                v = span * (1.0 + 0.01 * gauss(seed, key ^ 5, t / MINUTE_MS));
                status = 1;
            }
            if inside(error, t) {
                v = 0.0;
                status = 2;
            }
            out.time.push(t);
            out.value.push((v / res).round() * res);
            out.status.push(status);
        }
        out
    }

    /// Local day `first_day + offset`.
    pub fn day(&self, offset: u32) -> PolarsResult<Day> {
        let day = self.first_day + i64::from(offset);
        let day_start = local_day_start(day);
        let weather_cache: Vec<Weather> = (0..1440)
            .map(|m| weather(self.seed, day_start + m * MINUTE_MS))
            .collect();
        let jobs: Vec<(usize, usize)> = self
            .sites
            .iter()
            .enumerate()
            .flat_map(|(si, s)| (0..s.parameters.len()).map(move |pi| (si, pi)))
            .collect();
        let plume_tables: Vec<Vec<[f64; 4]>> = self
            .sites
            .par_iter()
            .map(|s| match s.kind {
                SiteKind::Air => weather_cache
                    .iter()
                    .map(|w| plumes(&self.sources, s.lon_lat, w))
                    .collect(),
                _ => vec![[0.0; 4]; 1440],
            })
            .collect();
        let series: Vec<SeriesOut> = jobs
            .par_iter()
            .map(|&(si, pi)| {
                self.series(&self.sites[si], pi, day, &weather_cache, &plume_tables[si])
            })
            .collect();
        let total: usize = series.iter().map(|s| s.time.len()).sum();
        let mut ids: Vec<&str> = Vec::with_capacity(total);
        let mut params: Vec<&str> = Vec::with_capacity(total);
        let mut units: Vec<&str> = Vec::with_capacity(total);
        let mut time = Vec::with_capacity(total);
        let mut value = Vec::with_capacity(total);
        let mut status: Vec<&str> = Vec::with_capacity(total);
        let mut faults = Vec::new();
        for (&(si, pi), s) in jobs.iter().zip(&series) {
            let site = &self.sites[si];
            let (p, u) = &site.parameters[pi];
            ids.extend(std::iter::repeat_n(site.id.as_str(), s.time.len()));
            params.extend(std::iter::repeat_n(p.as_str(), s.time.len()));
            units.extend(std::iter::repeat_n(*u, s.time.len()));
            time.extend_from_slice(&s.time);
            value.extend_from_slice(&s.value);
            status.extend(s.status.iter().map(|c| match c {
                1 => "calibrating",
                2 => "error",
                _ => "measuring",
            }));
            faults.extend(s.faults.iter().cloned());
        }
        let readings = DataFrame::new_infer_height(vec![
            Column::new("station_id".into(), ids),
            Column::new("parameter".into(), params),
            Column::new("time_ms".into(), time),
            Column::new("value".into(), value),
            Column::new("unit".into(), units),
            Column::new("status".into(), status),
        ])?;
        Ok(Day { readings, faults })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_deterministic_and_roughly_standard() {
        let n = 20_000;
        let xs: Vec<f64> = (0..n).map(|i| gauss(7, 99, i)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "variance {var}");
        assert_eq!(gauss(7, 99, 5).to_bits(), gauss(7, 99, 5).to_bits());
        assert_ne!(gauss(7, 99, 5).to_bits(), gauss(8, 99, 5).to_bits());
    }

    #[test]
    fn plume_is_downwind_only_and_decays_off_axis() {
        let ground = Source {
            lon_lat: (0.0, 0.0),
            height_m: 0.0,
            exit: None,
            sigma0: (0.0, 0.0),
            pm_g_s: 1.0,
            so2_g_s: 0.0,
            nox_g_s: 0.0,
            mine: false,
        };
        let on = plume_per_g_s(&ground, 2000.0, 0.0, 3.0, 288.15);
        let off = plume_per_g_s(&ground, 2000.0, 300.0, 3.0, 288.15);
        assert!(on > 0.0 && off < on);
        assert_eq!(plume_per_g_s(&ground, -2000.0, 0.0, 3.0, 288.15), 0.0);
        // ground source, class D at 2 km: σy = 153.3 m, σz = 60 m → 2Q/(2π u σy σz)·e^(−z²/2σz²)
        // with u the wind at the plume's mean height σz·√(2/π) = 47.9 m: 3·4.787^0.15 m/s
        let sy = 0.08 * 2000.0 / (1.2f64).sqrt();
        let sz = 0.06 * 2000.0 / (4.0f64).sqrt();
        let u = 3.0 * (sz * (2.0 / PI).sqrt() / 10.0).powf(0.15);
        let want = 1e6 / (PI * u * sy * sz) * (-1.5f64 * 1.5 / (2.0 * sz * sz)).exp();
        assert!((on - want).abs() < 1e-9 * want, "{on} vs {want}");
        // a buoyant stack rises: less at the ground near it than the same stack without rise
        let stack = Source {
            height_m: 200.0,
            exit: Some(StackExit {
                diameter_m: 8.0,
                velocity_m_s: 20.0,
                temperature_k: 420.0,
            }),
            ..ground.clone()
        };
        let cold = Source {
            exit: None,
            ..stack.clone()
        };
        let (hot, flat) = (
            plume_per_g_s(&stack, 3000.0, 0.0, 4.0, 288.15),
            plume_per_g_s(&cold, 3000.0, 0.0, 4.0, 288.15),
        );
        assert!(hot < flat, "{hot} vs {flat}");
    }

    #[test]
    fn monsoon_turns_the_wind() {
        // mid-January vs mid-July, daily means of the direction the wind blows from
        let mean_dir = |day: i64| {
            let (s, c) = (0..24).fold((0.0, 0.0), |(s, c), h| {
                let w = weather(1, day * DAY_MS + h * HOUR_MS);
                let a = w.wind_from_deg.to_radians();
                (s + a.sin(), c + a.cos())
            });
            f64::atan2(s, c).to_degrees().rem_euclid(360.0)
        };
        let jan: f64 = (0..30)
            .map(|d| mean_dir(super::super::lake::day_of("2026-01-01").unwrap_or(0) + d))
            .sum::<f64>()
            / 30.0;
        let jul: f64 = (0..30)
            .map(|d| mean_dir(super::super::lake::day_of("2026-07-01").unwrap_or(0) + d))
            .sum::<f64>()
            / 30.0;
        assert!(jan < 100.0, "January wind from {jan}°");
        assert!(jul > 110.0, "July wind from {jul}°");
    }
}

/// What [`write_lake`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LakeReport {
    /// Readings appended.
    pub readings: usize,
    /// Readings skipped because the lake already held them (first accepted wins).
    pub duplicates_skipped: usize,
    /// Part files written.
    pub part_files: usize,
    /// Injected faults by kind.
    pub faults: std::collections::BTreeMap<String, usize>,
}

/// Generates `days` days into the lake at `lake` (created if missing), a day at a time: each
/// day's readings appended ([`super::lake::append`]), its faults listed in `LAKE/_faults.csv`
/// (`station_id,parameter,fault,start,end`, RFC 3339 UTC), and the settings and counts in
/// `LAKE/_generator.json` (`dataset` names where the sites came from). `progress(day)` after
/// each day.
pub fn write_lake(
    generator: &Generator,
    lake: &std::path::Path,
    days: u32,
    dataset: &str,
    mut progress: impl FnMut(u32),
) -> Result<LakeReport, ObservationError> {
    use std::io::Write as _;
    let io = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| ObservationError::Read {
            path: path.clone(),
            message: format!("cannot write: {e}"),
        }
    };
    std::fs::create_dir_all(lake).map_err(io(lake))?;
    let faults_path = lake.join("_faults.csv");
    // written whole at the end (an earlier list stays until then)
    let mut faults: Vec<u8> = Vec::new();
    writeln!(faults, "station_id,parameter,fault,start,end").map_err(io(&faults_path))?;
    let rfc3339 = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default()
    };
    let mut report = LakeReport::default();
    for d in 0..days {
        let day = generator.day(d).map_err(|e| ObservationError::Read {
            path: lake.to_path_buf(),
            message: format!("generating day {d}: {e}"),
        })?;
        let r = super::lake::append(lake, &day.readings)?;
        report.readings += r.rows;
        report.duplicates_skipped += r.duplicates;
        report.part_files += r.files.len();
        for f in &day.faults {
            *report.faults.entry(f.kind.name().to_string()).or_default() += 1;
            writeln!(
                faults,
                "{},{},{},{},{}",
                f.station_id,
                f.parameter,
                f.kind.name(),
                rfc3339(f.start_ms),
                rfc3339(f.end_ms)
            )
            .map_err(io(&faults_path))?;
        }
        progress(d + 1);
    }
    crate::safeio::write_atomic(&faults_path, |f| f.write_all(&faults))
        .map_err(io(&faults_path))?;
    let info = serde_json::json!({
        "generator": "twin telemetry generate (synthetic; not measurements)",
        "dataset": dataset,
        "seed": generator.seed,
        "start": super::lake::date_of(generator.first_day),
        "days": days,
        "sites": generator.sites.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        "readings": report.readings,
        "duplicates_skipped": report.duplicates_skipped,
        "faults": report.faults,
    });
    let info_path = lake.join("_generator.json");
    let text = serde_json::to_string_pretty(&info).map_err(|e| ObservationError::Read {
        path: info_path.clone(),
        message: e.to_string(),
    })?;
    let text = text + "\n";
    crate::safeio::write_atomic(&info_path, |f| f.write_all(text.as_bytes()))
        .map_err(io(&info_path))?;
    Ok(report)
}
