//! Air quality indices: Vietnam's VN_AQI (Decision 1459/QĐ-TCMT, 12 November 2019) and the
//! US EPA AQI (PM breakpoints of 6 May 2024, and the 2012–2024 table for historical files). These
//! are the reference implementations, value by
//! value, that the decree's rules are tested against; the lake pipelines compute the same
//! formulas column-wise.
//!
//! VN_AQI in brief (see `../shared/reference/domain.md` §2): a sub-index per parameter by linear
//! interpolation between breakpoints, the station AQI the largest sub-index rounded to an
//! integer, at least one of PM10 and PM2.5 required. Hourly: 1-h means for SO₂, CO, NO₂ and O₃
//! (1-h column), NowCast of the last 12 hourly means for PM. Daily: 24-h means for PM, the day's
//! largest 1-h mean for SO₂, NO₂, CO, and for O₃ the larger of the 1-h and 8-h indices, the 8-h
//! one dropped when the 8-h mean exceeds 400 µg/m³.

use serde::Serialize;

/// Parameters of an AQI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum AqiParameter {
    /// Ozone, 1-h mean.
    O3OneHour,
    /// Ozone, 8-h mean.
    O3EightHour,
    /// Carbon monoxide.
    Co,
    /// Sulphur dioxide.
    So2,
    /// Nitrogen dioxide.
    No2,
    /// PM10.
    Pm10,
    /// PM2.5.
    Pm25,
}

impl AqiParameter {
    /// The 1-hour parameter a simulated or measured pollutant (by its engine name: `PM2.5`,
    /// `PM10`, `SO2`, `NO2`, `CO`, `O3`) is indexed by; `None` for one without a sub-index.
    pub fn for_pollutant(name: &str) -> Option<Self> {
        Some(match name {
            "PM2.5" => Self::Pm25,
            "PM10" => Self::Pm10,
            "SO2" => Self::So2,
            "NO2" => Self::No2,
            "CO" => Self::Co,
            "O3" => Self::O3OneHour,
            _ => return None,
        })
    }

    /// Every parameter, in the decree's column order.
    pub const ALL: [AqiParameter; 7] = [
        AqiParameter::O3OneHour,
        AqiParameter::O3EightHour,
        AqiParameter::Co,
        AqiParameter::So2,
        AqiParameter::No2,
        AqiParameter::Pm10,
        AqiParameter::Pm25,
    ];

    /// Name used in outputs (`O3`, `O3_8h`, `CO`, `SO2`, `NO2`, `PM10`, `PM2.5`).
    pub fn name(self) -> &'static str {
        match self {
            AqiParameter::O3OneHour => "O3",
            AqiParameter::O3EightHour => "O3_8h",
            AqiParameter::Co => "CO",
            AqiParameter::So2 => "SO2",
            AqiParameter::No2 => "NO2",
            AqiParameter::Pm10 => "PM10",
            AqiParameter::Pm25 => "PM2.5",
        }
    }
}

/// Index values at the breakpoints, I₀…I₇.
pub const VN_INDEX: [f64; 8] = [0.0, 50.0, 100.0, 150.0, 200.0, 300.0, 400.0, 500.0];

/// VN_AQI breakpoints in µg/m³ (CO too) per parameter; `None` where the decree has none (O₃ 8 h
/// above index 300).
pub fn vn_breakpoints(p: AqiParameter) -> [Option<f64>; 8] {
    let f = |v: [f64; 8]| v.map(Some);
    match p {
        AqiParameter::O3OneHour => f([0.0, 160.0, 200.0, 300.0, 400.0, 800.0, 1000.0, 1200.0]),
        AqiParameter::O3EightHour => [
            Some(0.0),
            Some(100.0),
            Some(120.0),
            Some(170.0),
            Some(210.0),
            Some(400.0),
            None,
            None,
        ],
        AqiParameter::Co => f([
            0.0, 10_000.0, 30_000.0, 45_000.0, 60_000.0, 90_000.0, 120_000.0, 150_000.0,
        ]),
        AqiParameter::So2 => f([0.0, 125.0, 350.0, 550.0, 800.0, 1600.0, 2100.0, 2630.0]),
        AqiParameter::No2 => f([0.0, 100.0, 200.0, 700.0, 1200.0, 2350.0, 3100.0, 3850.0]),
        AqiParameter::Pm10 => f([0.0, 50.0, 150.0, 250.0, 350.0, 420.0, 500.0, 600.0]),
        AqiParameter::Pm25 => f([0.0, 25.0, 50.0, 80.0, 150.0, 250.0, 350.0, 500.0]),
    }
}

/// A VN_AQI sub-index, unrounded: AQIx = (I[i+1] − I[i]) / (BP[i+1] − BP[i]) · (C − BP[i]) + I[i]
/// on the segment holding C. Concentrations above the last breakpoint give 500 (the top of the
/// scale). `None` for a negative or non-finite concentration, and for O₃ 8 h above 400 µg/m³
/// (the decree drops the 8-h index there).
pub fn vn_sub_index(p: AqiParameter, c: f64) -> Option<f64> {
    if !c.is_finite() || c < 0.0 {
        return None;
    }
    let bp = vn_breakpoints(p);
    for i in 0..7 {
        let (Some(lo), Some(hi)) = (bp[i], bp[i + 1]) else {
            // the table ends here: above its last breakpoint
            return if p == AqiParameter::O3EightHour {
                None
            } else {
                Some(500.0)
            };
        };
        if c <= hi {
            return Some((VN_INDEX[i + 1] - VN_INDEX[i]) / (hi - lo) * (c - lo) + VN_INDEX[i]);
        }
    }
    Some(500.0)
}

/// VN_AQI bands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Band {
    /// 0–50, Tốt.
    Good,
    /// 51–100, Trung bình.
    Moderate,
    /// 101–150, Kém.
    Poor,
    /// 151–200, Xấu.
    Bad,
    /// 201–300, Rất xấu.
    VeryBad,
    /// 301–500, Nguy hại.
    Hazardous,
}

impl Band {
    /// The band of a (rounded) AQI.
    pub fn of(aqi: i64) -> Band {
        match aqi {
            i64::MIN..=50 => Band::Good,
            51..=100 => Band::Moderate,
            101..=150 => Band::Poor,
            151..=200 => Band::Bad,
            201..=300 => Band::VeryBad,
            _ => Band::Hazardous,
        }
    }
    /// Vietnamese name as the decree gives it.
    pub fn name_vi(self) -> &'static str {
        match self {
            Band::Good => "Tốt",
            Band::Moderate => "Trung bình",
            Band::Poor => "Kém",
            Band::Bad => "Xấu",
            Band::VeryBad => "Rất xấu",
            Band::Hazardous => "Nguy hại",
        }
    }
    /// Colour (R, G, B) as the decree gives it.
    pub fn rgb(self) -> [u8; 3] {
        match self {
            Band::Good => [0, 228, 0],
            Band::Moderate => [255, 255, 0],
            Band::Poor => [255, 126, 0],
            Band::Bad => [255, 0, 0],
            Band::VeryBad => [143, 63, 151],
            Band::Hazardous => [126, 0, 35],
        }
    }
}

/// NowCast of the last 12 hourly means, `c[0]` the current hour: w* = Cmin/Cmax over the
/// available hours, w = ½ if w* ≤ ½ else w*; NowCast = Σ w^(i−1)·cᵢ / Σ w^(i−1) when w > ½, and
/// Σ (½)^i·cᵢ when w = ½; a missing hour weighs 0. `None` unless at least two of the three most
/// recent hours are present.
pub fn nowcast(c: &[Option<f64>; 12]) -> Option<f64> {
    if c[..3].iter().filter(|v| v.is_some()).count() < 2 {
        return None;
    }
    let present = c.iter().flatten().copied();
    let (min, max) = present.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let ratio = if max > 0.0 { min / max } else { 1.0 };
    if ratio <= 0.5 {
        Some(
            c.iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| 0.5f64.powi(i as i32 + 1) * v))
                .sum(),
        )
    } else {
        let (mut num, mut den) = (0.0, 0.0);
        for (i, v) in c.iter().enumerate() {
            if let Some(v) = v {
                let w = ratio.powi(i as i32);
                num += w * v;
                den += w;
            }
        }
        Some(num / den)
    }
}

/// US EPA NowCast of the last 12 hourly means (`c[0]` current): w = max(Cmin/Cmax, ½),
/// Σ w^(i−1)·cᵢ / Σ w^(i−1) over the available hours; `None` unless two of the three most
/// recent hours are present.
pub fn us_nowcast(c: &[Option<f64>; 12]) -> Option<f64> {
    if c[..3].iter().filter(|v| v.is_some()).count() < 2 {
        return None;
    }
    let (min, max) = c
        .iter()
        .flatten()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(*v), b.max(*v))
        });
    let w = if max > 0.0 { (min / max).max(0.5) } else { 1.0 };
    let (mut num, mut den) = (0.0, 0.0);
    for (i, v) in c.iter().enumerate() {
        if let Some(v) = v {
            num += w.powi(i as i32) * v;
            den += w.powi(i as i32);
        }
    }
    Some(num / den)
}

/// A computed station AQI.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AqiValue {
    /// The AQI, rounded to an integer.
    pub aqi: i64,
    /// The parameter with the largest sub-index (the first in decree order on ties).
    pub dominant: AqiParameter,
    /// The band.
    pub band: Band,
    /// Every sub-index computed, unrounded.
    pub sub_indices: Vec<(AqiParameter, f64)>,
}

/// The station AQI from sub-indices: the largest, rounded; `None` without a PM sub-index.
pub fn combine(sub: Vec<(AqiParameter, f64)>) -> Option<AqiValue> {
    if !sub
        .iter()
        .any(|(p, _)| matches!(p, AqiParameter::Pm10 | AqiParameter::Pm25))
    {
        return None;
    }
    let (dominant, best) =
        sub.iter()
            .copied()
            .fold(None::<(AqiParameter, f64)>, |acc, (p, v)| match acc {
                Some((_, b)) if b >= v => acc,
                _ => Some((p, v)),
            })?;
    let aqi = best.round() as i64;
    Some(AqiValue {
        aqi,
        dominant,
        band: Band::of(aqi),
        sub_indices: sub,
    })
}

/// Inputs of one station-hour, µg/m³: 1-h means of the gases, and the last 12 hourly means of
/// each PM (current hour first).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HourInputs {
    /// O₃ 1-h mean.
    pub o3: Option<f64>,
    /// CO 1-h mean.
    pub co: Option<f64>,
    /// SO₂ 1-h mean.
    pub so2: Option<f64>,
    /// NO₂ 1-h mean.
    pub no2: Option<f64>,
    /// PM10 hourly means, current first.
    pub pm10: [Option<f64>; 12],
    /// PM2.5 hourly means, current first.
    pub pm25: [Option<f64>; 12],
}

/// Hourly VN_AQI (AQIh).
pub fn vn_hourly(h: &HourInputs) -> Option<AqiValue> {
    let mut sub = Vec::new();
    let mut push = |p: AqiParameter, c: Option<f64>| {
        if let Some(v) = c.and_then(|c| vn_sub_index(p, c)) {
            sub.push((p, v));
        }
    };
    push(AqiParameter::O3OneHour, h.o3);
    push(AqiParameter::Co, h.co);
    push(AqiParameter::So2, h.so2);
    push(AqiParameter::No2, h.no2);
    push(AqiParameter::Pm10, nowcast(&h.pm10));
    push(AqiParameter::Pm25, nowcast(&h.pm25));
    combine(sub)
}

/// Inputs of one station-day, µg/m³.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DayInputs {
    /// The day's largest O₃ 1-h mean.
    pub o3_max_1h: Option<f64>,
    /// The day's largest O₃ 8-h running mean.
    pub o3_max_8h: Option<f64>,
    /// The day's largest CO 1-h mean.
    pub co_max_1h: Option<f64>,
    /// The day's largest SO₂ 1-h mean.
    pub so2_max_1h: Option<f64>,
    /// The day's largest NO₂ 1-h mean.
    pub no2_max_1h: Option<f64>,
    /// PM10 24-h mean.
    pub pm10_24h: Option<f64>,
    /// PM2.5 24-h mean.
    pub pm25_24h: Option<f64>,
}

/// Daily VN_AQI (AQId). O₃ counts once, as the larger of its 1-h and 8-h sub-indices (the 8-h
/// one dropped above 400 µg/m³).
pub fn vn_daily(d: &DayInputs) -> Option<AqiValue> {
    let mut sub = Vec::new();
    let o3_1 = d
        .o3_max_1h
        .and_then(|c| vn_sub_index(AqiParameter::O3OneHour, c));
    let o3_8 = d
        .o3_max_8h
        .and_then(|c| vn_sub_index(AqiParameter::O3EightHour, c));
    match (o3_1, o3_8) {
        (Some(a), Some(b)) if b > a => sub.push((AqiParameter::O3EightHour, b)),
        (Some(a), _) => sub.push((AqiParameter::O3OneHour, a)),
        (None, Some(b)) => sub.push((AqiParameter::O3EightHour, b)),
        (None, None) => {}
    }
    for (p, c) in [
        (AqiParameter::Co, d.co_max_1h),
        (AqiParameter::So2, d.so2_max_1h),
        (AqiParameter::No2, d.no2_max_1h),
        (AqiParameter::Pm10, d.pm10_24h),
        (AqiParameter::Pm25, d.pm25_24h),
    ] {
        if let Some(v) = c.and_then(|c| vn_sub_index(p, c)) {
            sub.push((p, v));
        }
    }
    combine(sub)
}

/// Which US EPA breakpoint table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UsEdition {
    /// PM2.5 as revised on 6 May 2024 (89 FR 16202), 301–500 one category.
    #[default]
    Y2024,
    /// The table in force from 2012 to May 2024 (78 FR 3086), the one historical AirNow files
    /// were computed with: PM2.5 0–12.0 for Good, seven rows up to 500.4 µg/m³.
    Y2012,
}

/// US EPA AQI breakpoints for 24-h PM (µg/m³) of an edition: (C_lo, C_hi, I_lo, I_hi) per
/// category.
pub fn us_pm_breakpoints(
    p: AqiParameter,
    edition: UsEdition,
) -> Option<&'static [(f64, f64, f64, f64)]> {
    const PM25_2024: [(f64, f64, f64, f64); 6] = [
        (0.0, 9.0, 0.0, 50.0),
        (9.1, 35.4, 51.0, 100.0),
        (35.5, 55.4, 101.0, 150.0),
        (55.5, 125.4, 151.0, 200.0),
        (125.5, 225.4, 201.0, 300.0),
        (225.5, 325.4, 301.0, 500.0),
    ];
    const PM10_2024: [(f64, f64, f64, f64); 6] = [
        (0.0, 54.0, 0.0, 50.0),
        (55.0, 154.0, 51.0, 100.0),
        (155.0, 254.0, 101.0, 150.0),
        (255.0, 354.0, 151.0, 200.0),
        (355.0, 424.0, 201.0, 300.0),
        (425.0, 604.0, 301.0, 500.0),
    ];
    const PM25_2012: [(f64, f64, f64, f64); 7] = [
        (0.0, 12.0, 0.0, 50.0),
        (12.1, 35.4, 51.0, 100.0),
        (35.5, 55.4, 101.0, 150.0),
        (55.5, 150.4, 151.0, 200.0),
        (150.5, 250.4, 201.0, 300.0),
        (250.5, 350.4, 301.0, 400.0),
        (350.5, 500.4, 401.0, 500.0),
    ];
    const PM10_2012: [(f64, f64, f64, f64); 7] = [
        (0.0, 54.0, 0.0, 50.0),
        (55.0, 154.0, 51.0, 100.0),
        (155.0, 254.0, 101.0, 150.0),
        (255.0, 354.0, 151.0, 200.0),
        (355.0, 424.0, 201.0, 300.0),
        (425.0, 504.0, 301.0, 400.0),
        (505.0, 604.0, 401.0, 500.0),
    ];
    match (p, edition) {
        (AqiParameter::Pm25, UsEdition::Y2024) => Some(&PM25_2024),
        (AqiParameter::Pm10, UsEdition::Y2024) => Some(&PM10_2024),
        (AqiParameter::Pm25, UsEdition::Y2012) => Some(&PM25_2012),
        (AqiParameter::Pm10, UsEdition::Y2012) => Some(&PM10_2012),
        _ => None,
    }
}

/// A PM concentration as the AQI lookup takes it: truncated (not rounded) to 0.1 µg/m³ for
/// PM2.5 and to 1 µg/m³ for PM10, so a NowCast of 55.44 is 55.4 (the 1e-9 absorbs binary
/// representation: 55.4 stays 55.4).
pub fn us_truncate(p: AqiParameter, c: f64) -> f64 {
    match p {
        AqiParameter::Pm25 => (c * 10.0 + 1e-9).floor() / 10.0,
        _ => (c + 1e-9).floor(),
    }
}

/// US EPA AQI (2024 table) of a 24-h PM concentration ([`us_aqi_edition`]).
pub fn us_aqi(p: AqiParameter, c: f64) -> Option<i64> {
    us_aqi_edition(p, c, UsEdition::Y2024)
}

/// US EPA AQI of a PM concentration by an edition's table: truncated first ([`us_truncate`]),
/// then I = (I_hi − I_lo)/(C_hi − C_lo)·(C − C_lo) + I_lo, rounded; 500 above the table.
pub fn us_aqi_edition(p: AqiParameter, c: f64, edition: UsEdition) -> Option<i64> {
    let table = us_pm_breakpoints(p, edition)?;
    if !c.is_finite() || c < 0.0 {
        return None;
    }
    let c = us_truncate(p, c);
    for &(lo, hi, ilo, ihi) in table {
        if c <= hi {
            return Some(((ihi - ilo) / (hi - lo) * (c - lo) + ilo).round() as i64);
        }
    }
    Some(500)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pollutant_names_map_to_their_hourly_parameter() {
        for p in ["PM2.5", "PM10", "SO2", "NO2", "CO", "O3"] {
            let a = AqiParameter::for_pollutant(p).expect("indexed");
            assert_eq!(a.name(), p);
        }
        assert_eq!(AqiParameter::for_pollutant("NOx"), None);
        assert_eq!(AqiParameter::for_pollutant("TSP"), None);
    }

    #[test]
    fn every_breakpoint_maps_to_its_index_and_band_edges_hold() {
        for p in AqiParameter::ALL {
            for (i, bp) in vn_breakpoints(p).iter().enumerate() {
                if let Some(c) = bp {
                    let v = vn_sub_index(p, *c).expect("in table");
                    assert!((v - VN_INDEX[i]).abs() < 1e-9, "{p:?} at {c}: {v}");
                }
            }
        }
        // PM2.5 25 → 50 (Tốt), just above → 51 after rounding? 25.4 → 50.8 → 51 (Trung bình)
        assert_eq!(Band::of(50), Band::Good);
        assert_eq!(Band::of(51), Band::Moderate);
        assert_eq!(Band::of(100), Band::Moderate);
        assert_eq!(Band::of(101), Band::Poor);
        assert_eq!(Band::of(150), Band::Poor);
        assert_eq!(Band::of(151), Band::Bad);
        assert_eq!(Band::of(200), Band::Bad);
        assert_eq!(Band::of(201), Band::VeryBad);
        assert_eq!(Band::of(300), Band::VeryBad);
        assert_eq!(Band::of(301), Band::Hazardous);
        assert_eq!(Band::of(500), Band::Hazardous);
        assert_eq!(Band::Poor.rgb(), [255, 126, 0]);
        assert_eq!(Band::VeryBad.name_vi(), "Rất xấu");
    }

    #[test]
    fn sub_index_interpolates_and_rounds_half_up() {
        // PM10 100 µg/m³: (100−50)/(150−50)·(100−50) + 50 = 75
        assert_eq!(vn_sub_index(AqiParameter::Pm10, 100.0), Some(75.0));
        // SO2 200: 50 + 50·(200−125)/225 = 66.67
        let v = vn_sub_index(AqiParameter::So2, 200.0).expect("value");
        assert!((v - 66.666_666_7).abs() < 1e-6);
        // rounding: PM2.5 25.25 → 50.5 → 51
        let h = combine(vec![(
            AqiParameter::Pm25,
            vn_sub_index(AqiParameter::Pm25, 25.25).expect("value"),
        )])
        .expect("aqi");
        assert_eq!((h.aqi, h.band), (51, Band::Moderate));
        // above the table: 500
        assert_eq!(vn_sub_index(AqiParameter::Pm25, 900.0), Some(500.0));
        assert_eq!(vn_sub_index(AqiParameter::Pm25, -1.0), None);
    }

    #[test]
    fn o3_8h_is_dropped_above_400() {
        assert_eq!(vn_sub_index(AqiParameter::O3EightHour, 400.0), Some(300.0));
        assert_eq!(vn_sub_index(AqiParameter::O3EightHour, 400.1), None);
        // daily: 8-h mean 420 dropped, the 1-h max (900 → 350) counts
        let d = DayInputs {
            o3_max_1h: Some(900.0),
            o3_max_8h: Some(420.0),
            pm25_24h: Some(20.0),
            ..Default::default()
        };
        let v = vn_daily(&d).expect("aqi");
        assert_eq!((v.aqi, v.dominant), (350, AqiParameter::O3OneHour));
        // the larger of the two O3 indices counts: 8-h 200 → 262.6 beats 1-h 250 → 162.5
        let d = DayInputs {
            o3_max_1h: Some(250.0),
            o3_max_8h: Some(200.0),
            pm10_24h: Some(30.0),
            ..Default::default()
        };
        let v = vn_daily(&d).expect("aqi");
        assert_eq!(v.dominant, AqiParameter::O3EightHour);
        assert_eq!(v.aqi, 188); // 150 + 50·(200−170)/40 = 187.5 → 188
    }

    #[test]
    fn nowcast_weights_and_missing_hours() {
        // steady series: NowCast = the value
        let c = [Some(40.0); 12];
        assert!((nowcast(&c).expect("value") - 40.0).abs() < 1e-12);
        // w* = 10/40 ≤ ½ → w = ½, NowCast = Σ ½^i cᵢ
        let mut c = [Some(10.0); 12];
        c[0] = Some(40.0);
        let expect: f64 = 0.5 * 40.0 + (2..=12).map(|i| 0.5f64.powi(i) * 10.0).sum::<f64>();
        assert!((nowcast(&c).expect("value") - expect).abs() < 1e-12);
        // w* = 30/40 > ½: weights w^(i−1); a missing hour weighs 0
        let mut c = [Some(30.0); 12];
        c[0] = Some(40.0);
        c[5] = None;
        let w = 0.75f64;
        let (mut num, mut den) = (0.0, 0.0);
        for (i, v) in c.iter().enumerate() {
            if let Some(v) = v {
                num += w.powi(i as i32) * v;
                den += w.powi(i as i32);
            }
        }
        assert!((nowcast(&c).expect("value") - num / den).abs() < 1e-12);
    }

    #[test]
    fn nowcast_needs_two_of_the_last_three_hours() {
        let mut c = [Some(20.0); 12];
        c[0] = None;
        assert!(nowcast(&c).is_some(), "c2, c3 present");
        c[1] = None;
        assert!(nowcast(&c).is_none(), "only c3 of the last three");
        let mut c = [Some(20.0); 12];
        c[2] = None;
        c[1] = None;
        assert!(nowcast(&c).is_none());
        // and an hourly AQI without PM is no AQI
        let h = HourInputs {
            so2: Some(100.0),
            pm10: c,
            ..Default::default()
        };
        assert!(vn_hourly(&h).is_none());
    }

    #[test]
    fn hourly_aqi_takes_the_largest_sub_index() {
        let h = HourInputs {
            no2: Some(250.0),       // 100 + 50·50/500 = 105
            pm25: [Some(30.0); 12], // 50 + 50·5/25 = 60
            pm10: [Some(40.0); 12], // 40
            ..Default::default()
        };
        let v = vn_hourly(&h).expect("aqi");
        assert_eq!(
            (v.aqi, v.dominant, v.band),
            (105, AqiParameter::No2, Band::Poor)
        );
        assert_eq!(v.sub_indices.len(), 3);
    }

    #[test]
    fn us_aqi_2024_pm_breakpoints_and_truncation() {
        assert_eq!(us_aqi(AqiParameter::Pm25, 9.0), Some(50));
        assert_eq!(us_aqi(AqiParameter::Pm25, 9.1), Some(51));
        assert_eq!(
            us_aqi(AqiParameter::Pm25, 9.09),
            Some(50),
            "truncated to 9.0"
        );
        assert_eq!(us_aqi(AqiParameter::Pm25, 35.4), Some(100));
        assert_eq!(us_aqi(AqiParameter::Pm25, 55.5), Some(151));
        assert_eq!(
            us_aqi(AqiParameter::Pm10, 154.9),
            Some(100),
            "truncated to 154"
        );
        assert_eq!(us_aqi(AqiParameter::Pm10, 425.0), Some(301));
        assert_eq!(us_aqi(AqiParameter::Pm10, 700.0), Some(500));
        assert_eq!(us_aqi(AqiParameter::So2, 10.0), None);
    }

    /// The 2012 table (historical AirNow files): 55.44 truncates to 55.4 → 150, not 151;
    /// 12.0 is still Good; 150.4 → 200; 350.5 → 401; PM10 505 → 401.
    #[test]
    fn us_aqi_2012_table_and_truncation_between_rows() {
        let e = UsEdition::Y2012;
        assert_eq!(us_aqi_edition(AqiParameter::Pm25, 55.44, e), Some(150));
        assert_eq!(us_aqi_edition(AqiParameter::Pm25, 55.5, e), Some(151));
        assert_eq!(us_aqi_edition(AqiParameter::Pm25, 12.0, e), Some(50));
        assert_eq!(us_aqi_edition(AqiParameter::Pm25, 12.09, e), Some(50));
        assert_eq!(us_aqi_edition(AqiParameter::Pm25, 12.1, e), Some(51));
        assert_eq!(us_aqi_edition(AqiParameter::Pm25, 150.4, e), Some(200));
        assert_eq!(us_aqi_edition(AqiParameter::Pm25, 350.5, e), Some(401));
        assert_eq!(us_aqi_edition(AqiParameter::Pm25, 600.0, e), Some(500));
        assert_eq!(us_aqi_edition(AqiParameter::Pm10, 505.0, e), Some(401));
        // the same concentrations in the 2024 table
        assert_eq!(us_aqi(AqiParameter::Pm25, 55.44), Some(150));
        assert_eq!(us_aqi(AqiParameter::Pm25, 12.0), Some(56));
    }
}
