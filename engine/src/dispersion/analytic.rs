//! Closed-form solutions the dispersion model is validated against.
//!
//! For a depth-averaged layer of depth h, constant diffusivity K and uniform wind u along +x, a
//! point source Q has the exact steady solution (domain reference §4)
//! `C(x, y) = Q / (2π K h) · exp(u x / 2K) · K₀(u r / 2K)`, r = √(x² + y²), and the cross-wind
//! integrated flux downwind equals Q / (u h).

/// e^z · K₀(z), the exponentially scaled modified Bessel function of the second kind, order 0,
/// for z > 0 (Abramowitz & Stegun 9.8.5 and 9.8.6; relative error below 2e-7).
pub fn k0_scaled(z: f64) -> f64 {
    assert!(z > 0.0, "K0 is defined for z > 0");
    if z <= 2.0 {
        let t2 = (z / 2.0) * (z / 2.0);
        let k0 = -(z / 2.0).ln() * i0(z)
            + (-0.577_215_66
                + t2 * (0.422_784_20
                    + t2 * (0.230_697_56
                        + t2 * (0.034_885_90
                            + t2 * (0.002_626_98 + t2 * (0.000_107_50 + t2 * 0.000_007_40))))));
        k0 * z.exp()
    } else {
        let s = 2.0 / z;
        (1.253_314_14
            + s * (-0.078_323_58
                + s * (0.021_895_68
                    + s * (-0.010_624_46
                        + s * (0.005_878_72 + s * (-0.002_515_40 + s * 0.000_532_08))))))
            / z.sqrt()
    }
}

/// K₀(z) for z > 0.
pub fn k0(z: f64) -> f64 {
    k0_scaled(z) * (-z).exp()
}

/// Modified Bessel function of the first kind, order 0, for |x| ≤ 3.75 (A&S 9.8.1).
fn i0(x: f64) -> f64 {
    let u2 = (x / 3.75) * (x / 3.75);
    1.0 + u2
        * (3.515_622_9
            + u2 * (3.089_942_4
                + u2 * (1.206_749_2 + u2 * (0.265_973_2 + u2 * (0.036_076_8 + u2 * 0.004_581_3)))))
}

/// Steady depth-averaged concentration (same unit as `q` per m³, e.g. µg/m³ for µg/s) at
/// (x, y) metres from a point source `q`, in wind `u` (m/s, along +x), diffusivity `k` (m²/s),
/// layer depth `h` (m). Infinite at the source.
pub fn steady_point_source(q: f64, u: f64, k: f64, h: f64, x: f64, y: f64) -> f64 {
    let r = x.hypot(y);
    if r == 0.0 {
        return f64::INFINITY;
    }
    let a = u / (2.0 * k);
    // exp(a x) K0(a r) = exp(a (x - r)) · [e^{a r} K0(a r)], stable for large a r
    q / (2.0 * std::f64::consts::PI * k * h) * (a * (x - r)).exp() * k0_scaled(a * r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k0_matches_tabulated_values() {
        // A&S table 9.8 / standard values
        for (z, v) in [
            (0.1, 2.427_069_0),
            (0.5, 0.924_419_1),
            (1.0, 0.421_024_4),
            (2.0, 0.113_893_9),
            (5.0, 0.003_691_1),
        ] {
            let got = k0(z);
            assert!(
                ((got - v) / v).abs() < 2e-6,
                "K0({z}) = {got}, expected {v}"
            );
        }
    }

    #[test]
    fn steady_solution_integrates_to_q_over_uh_downwind() {
        let (q, u, k, h) = (1.0, 3.0, 40.0, 500.0);
        let x = 5000.0;
        let dy = 1.0;
        let total: f64 = (-20000..=20000)
            .map(|i| steady_point_source(q, u, k, h, x, i as f64 * dy) * dy)
            .sum();
        // longitudinal diffusion adds a small correction K/(u x) to the pure advective flux
        let expected = q / (u * h);
        assert!(
            ((total - expected) / expected).abs() < 0.01,
            "{total} vs {expected}"
        );
    }
}
