//! Colour maps for overlays and legends, in plain functions.

/// sRGB (0–1) of viridis at `t` in [0, 1] (clamped; NaN as 0): dark blue → green → yellow,
/// perceptually ordered, readable for colour-blind users — the same map as the engine's PNG
/// maps (`twin_engine::output::map::viridis`).
pub fn sequential(t: f32) -> [f32; 3] {
    let t = if t.is_nan() { 0.0 } else { f64::from(t) };
    twin_engine::output::map::viridis(t).map(|c| f32::from(c) / 255.0)
}

/// Diverging ramp for differences, `t` in [−1, 1]: blue (lower) → white → red (higher).
pub fn diverging(t: f32) -> [f32; 3] {
    const A: [[f32; 3]; 3] = [
        [0.230, 0.299, 0.754],
        [0.865, 0.865, 0.865],
        [0.706, 0.016, 0.150],
    ];
    ramp(&A, 0.5 * (t.clamp(-1.0, 1.0) + 1.0))
}

fn ramp<const N: usize>(a: &[[f32; 3]; N], t: f32) -> [f32; 3] {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let x = t * (N - 1) as f32;
    let i = (x.floor() as usize).min(N - 2);
    let f = x - i as f32;
    [0, 1, 2].map(|k| a[i][k] + (a[i + 1][k] - a[i][k]) * f)
}

/// Position of a concentration on a log scale from `lo` to `hi` (both > 0), in [0, 1]; values
/// at or below `lo` map to 0.
pub fn log_position(c: f64, lo: f64, hi: f64) -> f32 {
    if c.is_nan() || c <= lo || hi <= lo {
        return 0.0;
    }
    ((c.ln() - lo.ln()) / (hi.ln() - lo.ln())).clamp(0.0, 1.0) as f32
}

/// Traffic speed colour by the ratio of speed to free-flow speed: red (jammed, < 0.25) →
/// orange → yellow → green (free flow, ≥ 0.85), as traffic maps show it.
pub fn speed_ratio(r: f64) -> [f32; 3] {
    match r {
        r if r.is_nan() => [0.5, 0.5, 0.5],
        r if r < 0.25 => [0.60, 0.0, 0.0],
        r if r < 0.5 => [0.95, 0.1, 0.05],
        r if r < 0.7 => [1.0, 0.55, 0.0],
        r if r < 0.85 => [1.0, 0.9, 0.1],
        _ => [0.1, 0.75, 0.2],
    }
}

/// The legend of [`speed_ratio`]: (label, colour).
pub const SPEED_LEGEND: [(&str, [f32; 3]); 5] = [
    ("≥ 85 % of free flow", [0.1, 0.75, 0.2]),
    ("70–85 %", [1.0, 0.9, 0.1]),
    ("50–70 %", [1.0, 0.55, 0.0]),
    ("25–50 %", [0.95, 0.1, 0.05]),
    ("< 25 % (jammed)", [0.60, 0.0, 0.0]),
];

/// sRGB bytes of a VN_AQI band colour as the decree gives it, 0–1.
pub fn aqi(aqi: Option<i64>) -> [f32; 3] {
    match aqi {
        Some(a) => twin_engine::telemetry::aqi::Band::of(a)
            .rgb()
            .map(|c| f32::from(c) / 255.0),
        None => [0.55, 0.55, 0.55],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_ends_and_clamps() {
        let close = |a: [f32; 3], b: [f32; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
        let rgb = |c: [u8; 3]| c.map(|v| f32::from(v) / 255.0);
        assert!(close(sequential(0.0), rgb([68, 1, 84])));
        assert!(close(sequential(1.0), rgb([253, 231, 37])));
        assert_eq!(sequential(-3.0), sequential(0.0));
        assert_eq!(sequential(f32::NAN), sequential(0.0));
        assert!(close(sequential(0.5), rgb([33, 145, 140])));
    }

    #[test]
    fn sequential_gets_lighter() {
        let lum = |c: [f32; 3]| 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
        let mut last = -1.0;
        for i in 0..=20 {
            let l = lum(sequential(i as f32 / 20.0));
            assert!(l > last, "luminance must increase at {i}");
            last = l;
        }
    }

    #[test]
    fn diverging_is_white_at_zero() {
        assert_eq!(diverging(0.0), [0.865, 0.865, 0.865]);
        assert!(diverging(1.0)[0] > diverging(1.0)[2]);
        assert!(diverging(-1.0)[2] > diverging(-1.0)[0]);
    }

    #[test]
    fn log_positions() {
        assert_eq!(log_position(1.0, 1.0, 100.0), 0.0);
        assert!((log_position(10.0, 1.0, 100.0) - 0.5).abs() < 1e-6);
        assert_eq!(log_position(1e6, 1.0, 100.0), 1.0);
        assert_eq!(log_position(f64::NAN, 1.0, 100.0), 0.0);
    }

    #[test]
    fn aqi_colours_follow_the_decree() {
        assert_eq!(aqi(Some(40)), [0.0, 228.0 / 255.0, 0.0]);
        assert_eq!(aqi(Some(120)), [1.0, 126.0 / 255.0, 0.0]);
        assert_eq!(aqi(None), [0.55, 0.55, 0.55]);
    }

    #[test]
    fn speed_colours() {
        assert_eq!(speed_ratio(0.1), [0.60, 0.0, 0.0]);
        assert_eq!(speed_ratio(0.95), [0.1, 0.75, 0.2]);
    }
}
