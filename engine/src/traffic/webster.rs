//! Fixed-time signal timing by Webster (1958), "Traffic signal settings" (Road Research
//! Technical Paper 39): the optimum cycle C₀ = (1.5·L + 5)/(1 − Y), with L the lost time per
//! cycle and Y the sum over phases of the critical flow ratios y = q/s, and effective greens in
//! proportion to the critical ratios; and Webster's uniform delay per vehicle
//! d = C·(1 − λ)²/(2·(1 − λ·x)), λ = g/C, x = q/(λ·s), the delay of a steady arrival flow at a
//! fixed-time signal (the first term of Webster's delay formula; the random term needs random
//! arrivals, which a macroscopic model does not have).

/// Shortest cycle a Webster plan gets, s: every phase keeps at least this green.
pub const MIN_GREEN_S: f64 = 5.0;
/// Shortest cycle of Webster's optimum, s: a practical floor (pedestrian clearance and driver
/// expectation; traffic manuals use 30–40 s); a junction whose approaches all run in one phase
/// would otherwise cycle every 17 s and lose a quarter of the hour to amber.
pub const MIN_CYCLE_S: f64 = 30.0;
/// Longest cycle, s: Webster's optimum grows without bound as Y → 1; 180 s is the usual
/// practical ceiling, and the cycle of an oversaturated junction (Y ≥ 1).
pub const MAX_CYCLE_S: f64 = 180.0;

/// A Webster plan: the cycle and each phase's green, s.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WebsterPlan {
    /// Cycle length, s (greens plus lost times).
    pub cycle_s: f64,
    /// Green of each phase, s.
    pub greens_s: Vec<f64>,
    /// Y, the sum of the phases' critical flow ratios.
    pub flow_ratio_sum: f64,
}

/// The plan for phases with critical flow ratios `y` (q/s of each phase's most loaded approach)
/// and `lost_s` lost time after each phase; `cycle_s` fixes the cycle (else Webster's optimum,
/// kept between MIN_CYCLE_S (or n·(lost + MIN_GREEN_S) if longer) and MAX_CYCLE_S).
pub fn plan(y: &[f64], lost_s: f64, cycle_s: Option<f64>) -> WebsterPlan {
    let n = y.len().max(1) as f64;
    let lost = n * lost_s;
    let sum: f64 = y.iter().map(|v| v.max(0.0)).sum();
    let shortest = lost + n * MIN_GREEN_S;
    let floor = shortest.max(MIN_CYCLE_S);
    let cycle = match cycle_s {
        Some(c) => c.max(shortest),
        None if sum < 1.0 => {
            ((1.5 * lost + 5.0) / (1.0 - sum)).clamp(floor, MAX_CYCLE_S.max(floor))
        }
        None => MAX_CYCLE_S.max(floor),
    };
    // greens in proportion to the critical ratios (Webster's split); a phase whose share
    // falls below MIN_GREEN_S gets that, and the cycle grows by the difference
    let effective = cycle - lost;
    let greens_s: Vec<f64> = y
        .iter()
        .map(|v| {
            let g = if sum > 0.0 {
                effective * v.max(0.0) / sum
            } else {
                effective / n
            };
            g.max(MIN_GREEN_S)
        })
        .collect();
    let cycle = lost + greens_s.iter().sum::<f64>();
    WebsterPlan {
        cycle_s: cycle,
        greens_s,
        flow_ratio_sum: sum,
    }
}

/// Webster's uniform delay per vehicle, s, for cycle `cycle_s`, effective green `green_s`,
/// arrival flow `q` and saturation flow `s` (same units); `None` when the approach is
/// oversaturated (x ≥ 1), where the uniform term does not apply.
pub fn uniform_delay_s(cycle_s: f64, green_s: f64, q: f64, s: f64) -> Option<f64> {
    let lambda = green_s / cycle_s;
    let x = q / (lambda * s);
    if x.is_nan() || x >= 1.0 {
        return None;
    }
    Some(cycle_s * (1.0 - lambda).powi(2) / (2.0 * (1.0 - lambda * x)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two phases, y = 0.3 and 0.2, 4 s lost each: L = 8 s, Y = 0.5, C₀ = (12 + 5)/0.5 = 34 s;
    /// effective green 26 s split 0.6/0.4: 15.6 s and 10.4 s.
    #[test]
    fn optimum_cycle_and_split() {
        let p = plan(&[0.3, 0.2], 4.0, None);
        assert!((p.cycle_s - 34.0).abs() < 1e-12, "{p:?}");
        assert!((p.greens_s[0] - 15.6).abs() < 1e-9 && (p.greens_s[1] - 10.4).abs() < 1e-9);
        // one phase: C₀ = 11/(1 − 0.3) = 15.7 s is raised to the 30 s floor
        assert_eq!(plan(&[0.3], 4.0, None).cycle_s, MIN_CYCLE_S);
        // a nearly idle phase keeps the minimum green and the cycle grows by the difference
        let q = plan(&[0.4, 0.01], 4.0, None);
        assert_eq!(q.greens_s[1], MIN_GREEN_S);
        assert!((q.cycle_s - (8.0 + q.greens_s[0] + MIN_GREEN_S)).abs() < 1e-12);
        // oversaturated: the ceiling; a given cycle is kept
        assert_eq!(plan(&[0.6, 0.5], 4.0, None).cycle_s, MAX_CYCLE_S);
        assert_eq!(plan(&[0.3, 0.2], 4.0, Some(90.0)).cycle_s, 90.0);
    }

    /// C = 60 s, g = 27 s, q = 600, s = 1,800 veh/h: λ = 0.45, x = 0.741,
    /// d = 60·0.55²/(2·(1 − 0.333)) = 13.61 s.
    #[test]
    fn uniform_delay_worked_value() {
        let d = uniform_delay_s(60.0, 27.0, 600.0, 1800.0).expect("undersaturated");
        assert!((d - 60.0 * 0.55f64.powi(2) / (2.0 * (1.0 - 600.0 / 1800.0))).abs() < 1e-12);
        assert!((d - 13.6125).abs() < 1e-4, "{d}");
        assert_eq!(uniform_delay_s(60.0, 10.0, 600.0, 1800.0), None);
    }
}
