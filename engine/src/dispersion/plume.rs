//! The steady Gaussian plume of the near field: Pasquill–Gifford stability classes, Briggs (1973)
//! open-country dispersion coefficients, the rural wind-profile power law (Irwin 1979), Briggs
//! (1969, 1975) plume rise in the form ISC3 uses (EPA-454/B-95-003b), and the vertical term with
//! ground and lid reflections (image sources, Turner 1970).
//!
//! Everything here is f64 host arithmetic; the per-receptor evaluation that runs on the GPU and
//! its CPU twin live in [`super::near`] and `shaders/dispersion/near_field.wgsl`.

use serde::{Deserialize, Serialize};

/// Standard gravity as ISC3 uses it, m/s².
pub const G: f64 = 9.80616;

/// Pasquill–Gifford stability class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Stability {
    /// Very unstable.
    A,
    /// Unstable.
    B,
    /// Slightly unstable.
    C,
    /// Neutral.
    D,
    /// Slightly stable.
    E,
    /// Stable.
    F,
}

impl Stability {
    /// Every class in order.
    pub const ALL: [Stability; 6] = [
        Stability::A,
        Stability::B,
        Stability::C,
        Stability::D,
        Stability::E,
        Stability::F,
    ];

    /// `A`…`F` (case-sensitive, as written in scenarios).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "A" => Self::A,
            "B" => Self::B,
            "C" => Self::C,
            "D" => Self::D,
            "E" => Self::E,
            "F" => Self::F,
            _ => return None,
        })
    }

    /// The class letter.
    pub fn as_str(self) -> &'static str {
        ["A", "B", "C", "D", "E", "F"][self.index()]
    }

    /// 0 for A … 5 for F.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether the class is stable (E, F): Briggs' stable rise applies.
    pub fn is_stable(self) -> bool {
        matches!(self, Self::E | Self::F)
    }

    /// Rural wind-profile exponent p in u(z) = u₁₀·(z/10)^p (Irwin 1979, as ISC3 uses).
    pub fn wind_exponent(self) -> f64 {
        [0.07, 0.07, 0.10, 0.15, 0.35, 0.55][self.index()]
    }

    /// Potential-temperature gradient ISC3 assumes for stable classes, K/m (0 otherwise).
    pub fn dtheta_dz(self) -> f64 {
        match self {
            Self::E => 0.020,
            Self::F => 0.035,
            _ => 0.0,
        }
    }

    /// Briggs (1973) open-country σy at downwind distance x (m).
    pub fn sigma_y(self, x: f64) -> f64 {
        let a = [0.22, 0.16, 0.11, 0.08, 0.06, 0.04][self.index()];
        a * x / (1.0 + 0.0001 * x).sqrt()
    }

    /// Briggs (1973) open-country σz at downwind distance x (m).
    pub fn sigma_z(self, x: f64) -> f64 {
        match self {
            Self::A => 0.20 * x,
            Self::B => 0.12 * x,
            Self::C => 0.08 * x / (1.0 + 0.0002 * x).sqrt(),
            Self::D => 0.06 * x / (1.0 + 0.0015 * x).sqrt(),
            Self::E => 0.03 * x / (1.0 + 0.0003 * x),
            Self::F => 0.016 * x / (1.0 + 0.0003 * x),
        }
    }

    /// Downwind distance (m) at which σz first reaches `target`, or `None` when it never does
    /// within `limit` m (Briggs σz grows monotonically; bisection).
    pub fn x_where_sigma_z(self, target: f64, limit: f64) -> Option<f64> {
        if self.sigma_z(limit) < target {
            return None;
        }
        let (mut lo, mut hi) = (0.0, limit);
        for _ in 0..80 {
            let mid = 0.5 * (lo + hi);
            if self.sigma_z(mid) < target {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(hi)
    }
}

/// Wind speed at height `z` (m) from the speed at 10 m by the rural power law; heights below
/// 10 m take the 10 m speed, as ISC3 does.
pub fn wind_at_height(u10: f64, z: f64, class: Stability) -> f64 {
    u10 * (z.max(10.0) / 10.0).powf(class.wind_exponent())
}

/// Height whose wind carries a plume: its centre `he`, or for a plume near the ground its mean
/// height σz·√(2/π) (a ground-reflected Gaussian), at least 2 m. The wind there dilutes it
/// (AERMOD likewise takes the wind at the plume's height, not at 10 m, for near-surface plumes).
pub fn transport_height(he: f64, sigma_z: f64) -> f64 {
    he.max(sigma_z * (2.0 / std::f64::consts::PI).sqrt())
        .max(2.0)
}

/// The transport wind at a plume's [`transport_height`] from the 10 m wind by the class's power
/// law (used below 10 m too, down to 2 m).
pub fn transport_wind(u10: f64, he: f64, sigma_z: f64, class: Stability) -> f64 {
    u10 * (transport_height(he, sigma_z) / 10.0).powf(class.wind_exponent())
}

/// A stack's exit conditions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StackExit {
    /// Inner diameter at the top, m.
    pub diameter_m: f64,
    /// Exit velocity, m/s.
    pub velocity_m_s: f64,
    /// Exit temperature, K.
    pub temperature_k: f64,
}

impl StackExit {
    /// Briggs buoyancy flux F = g·v_s·d²·(T_s − T_a)/(4·T_s), m⁴/s³ (0 when the gas is not
    /// warmer than the air).
    pub fn buoyancy_flux(&self, ambient_k: f64) -> f64 {
        let dt = (self.temperature_k - ambient_k).max(0.0);
        G * self.velocity_m_s * self.diameter_m * self.diameter_m * dt / (4.0 * self.temperature_k)
    }
}

/// Briggs buoyant plume rise for one stack in one hour's weather.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PlumeRise {
    /// Buoyancy flux, m⁴/s³.
    pub buoyancy_flux: f64,
    /// Wind at stack top, m/s.
    pub wind_m_s: f64,
    /// Final rise, m.
    pub final_m: f64,
    /// Distance to final rise, m.
    pub x_final_m: f64,
}

impl PlumeRise {
    /// No rise (no exit conditions, or no buoyancy).
    pub fn none(wind_m_s: f64) -> Self {
        Self {
            buoyancy_flux: 0.0,
            wind_m_s,
            final_m: 0.0,
            x_final_m: 0.0,
        }
    }

    /// Briggs (1975) final rise as ISC3 computes it: classes A–D Δh = 21.425·F^¾/u_s (F < 55) or
    /// 38.71·F^⅗/u_s (F ≥ 55), x_f = 49·F^⅝ or 119·F^⅖; classes E–F with s = (g/T_a)·dθ/dz,
    /// Δh = 2.6·(F/(u_s·s))^⅓, x_f = 2.0715·u_s/√s. `wind_m_s` is the wind at stack top.
    pub fn briggs(flux: f64, wind_m_s: f64, class: Stability, ambient_k: f64) -> Self {
        let u = wind_m_s.max(0.1);
        if flux <= 0.0 {
            return Self::none(wind_m_s);
        }
        let (final_m, x_final_m) = if class.is_stable() {
            let s = G / ambient_k * class.dtheta_dz();
            (2.6 * (flux / (u * s)).cbrt(), 2.0715 * u / s.sqrt())
        } else if flux < 55.0 {
            (21.425 * flux.powf(0.75) / u, 49.0 * flux.powf(0.625))
        } else {
            (38.71 * flux.powf(0.6) / u, 119.0 * flux.powf(0.4))
        };
        Self {
            buoyancy_flux: flux,
            wind_m_s,
            final_m,
            x_final_m,
        }
    }

    /// Rise at downwind distance x: Briggs' two-thirds law 1.6·F^⅓·x^⅔/u_s, capped at the final
    /// rise (Briggs 1972's transitional rise, as ISC3's gradual-rise option).
    pub fn at(&self, x: f64) -> f64 {
        if self.final_m <= 0.0 || x <= 0.0 {
            return 0.0;
        }
        let gradual = 1.6 * self.buoyancy_flux.cbrt() * x.powf(2.0 / 3.0) / self.wind_m_s.max(0.1);
        gradual.min(self.final_m)
    }

    /// The factor 1.6·F^⅓/u_s of the gradual rise (what the near-field kernel carries).
    pub fn gradual_factor(&self) -> f64 {
        if self.final_m <= 0.0 {
            0.0
        } else {
            1.6 * self.buoyancy_flux.cbrt() / self.wind_m_s.max(0.1)
        }
    }
}

/// The vertical term of the Gaussian plume with reflections at the ground and at the lid `h`:
/// Σₙ exp(−(z − H + 2nh)²/2σz²) + exp(−(z + H + 2nh)²/2σz²) over image sources n = −N…N, with N
/// large enough that the omitted images are below 1e-12 of the sum (Turner 1970's multiple
/// reflections). Without a lid (`h` infinite) only the ground image is kept.
pub fn vertical_term(z: f64, he: f64, sigma_z: f64, h: f64) -> f64 {
    let g = |d: f64| (-d * d / (2.0 * sigma_z * sigma_z)).exp();
    if !h.is_finite() {
        return g(z - he) + g(z + he);
    }
    let n_max = ((7.5 * sigma_z) / (2.0 * h)).ceil() as i64 + 1;
    let mut s = 0.0;
    for n in -n_max..=n_max {
        let shift = 2.0 * n as f64 * h;
        s += g(z - he + shift) + g(z + he + shift);
    }
    s
}

/// Concentration (µg/m³) of a steady Gaussian plume of `q_g_s` g/s at downwind `x`, crosswind
/// `y`, height `z`, with effective height `he`, σ from `class` plus initial `sigma0 = (σy₀, σz₀)`
/// in quadrature, reflected at the ground and the lid `h`, carried by the [`transport_wind`] of
/// the 10 m wind `u10`.
#[allow(clippy::too_many_arguments)]
pub fn gaussian_plume(
    q_g_s: f64,
    u10: f64,
    x: f64,
    y: f64,
    z: f64,
    he: f64,
    class: Stability,
    sigma0: (f64, f64),
    h: f64,
) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    let sy = (class.sigma_y(x).powi(2) + sigma0.0 * sigma0.0).sqrt();
    let sz = (class.sigma_z(x).powi(2) + sigma0.1 * sigma0.1).sqrt();
    let u = transport_wind(u10, he, sz, class);
    q_g_s * 1e6 / (2.0 * std::f64::consts::PI * u * sy * sz)
        * (-y * y / (2.0 * sy * sy)).exp()
        * vertical_term(z, he, sz, h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs()
    }

    #[test]
    fn buoyancy_flux_and_rise_match_the_briggs_reference_numbers() {
        // ../shared/data/validation/briggs-plume-rise-examples.md (b): d = 1 m, T_a = 288.15 K,
        // u = 4 m/s, T_s = 400 K
        let exit = |v: f64| StackExit {
            diameter_m: 1.0,
            velocity_m_s: v,
            temperature_k: 400.0,
        };
        let f50 = exit(72.938_196_996_726_69).buoyancy_flux(288.15);
        assert!(close(f50, 50.0, 1e-9), "{f50}");
        let r = PlumeRise::briggs(f50, 4.0, Stability::A, 288.15);
        assert!(close(r.x_final_m, 565.005_054_149_184_6, 1e-9));
        assert!(close(r.final_m, 100.713_651_586_72, 1e-9));
        assert!(close(r.at(50.0), 20.0, 1e-9), "{}", r.at(50.0));
        let f60 = exit(87.525_836_396_072_02).buoyancy_flux(288.15);
        let r = PlumeRise::briggs(f60, 4.0, Stability::A, 288.15);
        assert!(close(r.x_final_m, 612.078_974_813_85, 1e-9));
        assert!(close(r.final_m, 112.889_598_962_314_3, 1e-9));
        let r = PlumeRise::briggs(f50, 4.0, Stability::E, 288.15);
        assert!(close(r.x_final_m, 317.606_773_247_690_46, 1e-9));
        assert!(close(r.final_m, 68.597_228_590_122_12, 1e-9));
        let r = PlumeRise::briggs(f50, 4.0, Stability::F, 288.15);
        assert!(close(r.x_final_m, 240.088_153_349_448_9, 1e-9));
        assert!(close(r.final_m, 56.923_800_399_472_88, 1e-9));
        // (a) Farrell's stable class F example: d = 2 m, T_s = 450 K, T_a = 298.15 K
        let f = StackExit {
            diameter_m: 2.0,
            velocity_m_s: 14.8472,
            temperature_k: 450.0,
        }
        .buoyancy_flux(298.15);
        assert!(close(f, 49.129_937_639_4, 1e-5), "{f}");
        let r = PlumeRise::briggs(f, 1.5, Stability::F, 298.15);
        assert!(close(r.x_final_m, 91.581_993_73, 1e-5));
        assert!(close(r.final_m, 79.374, 1e-4), "{}", r.final_m);
    }

    #[test]
    fn three_stacks_by_hand() {
        // hand-computed (calculator, ISC3 equations): 200 m, 6 m, 20 m/s, 420 K, T_a 288.15 K
        let exit = StackExit {
            diameter_m: 6.0,
            velocity_m_s: 20.0,
            temperature_k: 420.0,
        };
        let f = exit.buoyancy_flux(288.15);
        // 9.80616·20·36·131.85/(4·420) = 554.118 m⁴/s³
        assert!(close(f, 554.118_084, 1e-8), "{f}");
        // unstable (B), u10 = 3 m/s: u_s = 3·20^0.07 = 3.69993 m/s; Δh = 38.71·F^0.6/u_s
        // = 463.224 m at x_f = 119·F^0.4 = 1489.32 m
        let us = wind_at_height(3.0, 200.0, Stability::B);
        assert!(close(us, 3.699_929, 1e-6), "{us}");
        let r = PlumeRise::briggs(f, us, Stability::B, 288.15);
        assert!(close(r.final_m, 463.224, 1e-3), "{}", r.final_m);
        assert!(close(r.x_final_m, 1489.32, 1e-3), "{}", r.x_final_m);
        // neutral (D), u10 = 5 m/s: u_s = 5·20^0.15 = 7.83654 m/s; Δh = 218.706 m
        let us = wind_at_height(5.0, 200.0, Stability::D);
        assert!(close(us, 7.836_54, 1e-5), "{us}");
        let r = PlumeRise::briggs(f, us, Stability::D, 288.15);
        assert!(close(r.final_m, 218.706, 1e-3), "{}", r.final_m);
        // stable (F), u10 = 2 m/s: u_s = 2·20^0.55 = 10.3895 m/s; s = 9.80616/288.15·0.035
        // = 1.19110e-3 s⁻²; Δh = 2.6·(F/(u_s·s))^⅓ = 92.326 m at x_f = 2.0715·u_s/√s = 623.60 m
        let us = wind_at_height(2.0, 200.0, Stability::F);
        assert!(close(us, 10.389_54, 1e-5), "{us}");
        let r = PlumeRise::briggs(f, us, Stability::F, 288.15);
        assert!(close(r.final_m, 92.326, 1e-3), "{}", r.final_m);
        assert!(close(r.x_final_m, 623.60, 1e-3), "{}", r.x_final_m);
    }

    #[test]
    fn many_reflections_tend_to_the_well_mixed_layer() {
        // σz ≫ h: the vertical term is √(2π)·σz/h (uniform over the layer)
        let h = 400.0;
        for z in [1.5, 200.0, 399.0] {
            let v = vertical_term(z, 150.0, 2000.0, h);
            let well_mixed = (2.0 * std::f64::consts::PI).sqrt() * 2000.0 / h;
            assert!(close(v, well_mixed, 1e-9), "{z}: {v} vs {well_mixed}");
        }
        // at σz = 1.6 h the ground value is within 1 % of the well-mixed one
        let v = vertical_term(0.0, 200.0, 1.6 * h, h);
        let well_mixed = (2.0 * std::f64::consts::PI).sqrt() * 1.6 * h / h;
        assert!(close(v, well_mixed, 0.01), "{v} vs {well_mixed}");
        // no lid: only the ground image
        let v = vertical_term(0.0, 0.0, 10.0, f64::INFINITY);
        assert!(close(v, 2.0, 1e-12));
    }

    #[test]
    fn briggs_sigma_z_levels_off_for_stable_classes() {
        assert!(Stability::F.x_where_sigma_z(100.0, 200_000.0).is_none());
        let x = Stability::D
            .x_where_sigma_z(640.0, 500_000.0)
            .expect("D reaches 640 m");
        assert!(x > 100_000.0, "{x}");
        assert!(close(Stability::D.sigma_z(x), 640.0, 1e-9));
    }
}
