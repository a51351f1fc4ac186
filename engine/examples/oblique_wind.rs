//! How the grid's transport depends on the wind's angle to the grid (the grid alone, no near
//! field). Prints, for the exact constant-K point source (100 m cells, u = 2 m/s, K = 50 m²/s,
//! h = 500 m, Q = 100 g/s) with the wind at 0°, 30° and 45° to the x axis, the worst and median
//! centreline error against C = Q/(2πKh)·exp(ux/2K)·K₀(ur/2K) from 10 cells downwind; and for
//! 250 m cells, K = 10 m²/s, u = 4 m/s at 45°, the crosswind second moment at 40–80 km against
//! √(2Kx/u) (with the cells' own width, Δ²/12, added) and the crosswind integral against
//! Q/(u h).
//!
//! Run: `cargo run --release --example oblique_wind`.

use twin_engine::dispersion::analytic::steady_point_source;
use twin_engine::dispersion::{DispersionProblem, Emitter, NearField, Stability, bilinear};
use twin_engine::grid::Grid;

/// A square grid of `n` cells of `cell` m, the source at cell (`s`, `s`), the wind `u` at
/// `angle` degrees from +x, constant K, lid `h`, `hours` one-hour intervals; the final field.
#[allow(clippy::too_many_arguments)]
fn run(
    n: usize,
    cell: f64,
    s: usize,
    u: f64,
    angle: f64,
    k: f64,
    h: f64,
    q: f64,
    hours: usize,
) -> (Grid, Vec<f64>) {
    let grid = Grid {
        nx: n,
        ny: n,
        cell_m: cell,
        x0: 0.0,
        y0: 0.0,
        epsg: 32648,
    };
    let t = angle.to_radians();
    let (sx, sy) = grid.centre(s, s);
    let p = DispersionProblem::single_source(
        grid.clone(),
        Emitter::ground(sx, sy, vec![(0, q)]),
        (u * t.cos(), u * t.sin()),
        k,
        Stability::D,
        h,
        hours,
        NearField {
            enabled: false,
            ..NearField::default()
        },
    );
    let r = p.run(None).expect("cpu run");
    (grid, r.grid_final.iter().map(|v| f64::from(*v)).collect())
}

fn main() {
    let (u, k, h, q) = (2.0, 50.0, 500.0, 100.0);
    println!(
        "exact K0 case, 100 m cells, u = {u} m/s, K = {k} m²/s: centreline error from 10 cells downwind to 12 km"
    );
    for angle in [0.0f64, 30.0, 45.0] {
        let (g, c) = run(260, 100.0, 20, u, angle, k, h, q, 8);
        let t = angle.to_radians();
        let (sx, sy) = (20.0, 20.0); // source in cell coordinates
        let mut errs = Vec::new();
        let mut x = 1000.0;
        while x <= 12_000.0 {
            let (fx, fy) = (sx + x * t.cos() / 100.0, sy + x * t.sin() / 100.0);
            let num = bilinear(&g, &c, fx, fy);
            let exact = steady_point_source(q * 1e6, u, k, h, x, 0.0);
            errs.push((num - exact).abs() / exact);
            x += 100.0;
        }
        errs.sort_by(f64::total_cmp);
        println!(
            "  {angle:>4}°: worst {:.1} %, median {:.1} %",
            100.0 * errs[errs.len() - 1],
            100.0 * errs[errs.len() / 2]
        );
    }
    let (u, k) = (4.0, 10.0);
    println!("250 m cells, u = {u} m/s, K = {k} m²/s, wind at 45°: crosswind moments");
    let (g, c) = run(300, 250.0, 10, u, 45.0, k, h, q, 10);
    let s = 10.0;
    for x in [40_000.0f64, 60_000.0, 80_000.0] {
        let (cx, cy) = (s + x / 250.0 / 2f64.sqrt(), s + x / 250.0 / 2f64.sqrt());
        // sample across the wind every 25 m out to ±6 km
        let (mut m0, mut m2) = (0.0, 0.0);
        let dy = 25.0;
        let mut y = -6000.0;
        while y <= 6000.0 {
            let (fx, fy) = (cx - y / 250.0 / 2f64.sqrt(), cy + y / 250.0 / 2f64.sqrt());
            let v = bilinear(&g, &c, fx, fy);
            m0 += v * dy;
            m2 += v * y * y * dy;
            y += dy;
        }
        let sigma = (m2 / m0).sqrt();
        let phys = (2.0 * k * x / u + 250.0f64.powi(2) / 12.0).sqrt();
        let integral = m0 * 1e-6 * u * h / q;
        println!(
            "  {:>3.0} km: σ {sigma:.0} m vs {phys:.0} m ({:.2}×); crosswind integral × u·h/Q = {integral:.3}",
            x / 1000.0,
            sigma / phys
        );
    }
}
