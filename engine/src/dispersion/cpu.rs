//! CPU twins of the dispersion stages, one function per WGSL file with the same name, over the
//! same `#[repr(C)]` structs and buffer layouts, with the same f32 arithmetic in the same order.
//! Multi-threaded with rayon over grid rows; bit-reproducible (each cell is computed by exactly
//! one task, boundary sums are applied sequentially).
//!
//! The concentration state is double-single, `[hi, lo]` with value hi + lo (see
//! `shaders/dispersion/transport.wgsl` for why).

use rayon::prelude::*;

use super::{EmitParams, SampleParams, SourceCell, StationPoint, TransportParams};

/// (hi, lo) + b, renormalised: Knuth's TwoSum, then Fast2Sum (as `ds_add` in the shaders).
#[inline]
pub fn ds_add(x: [f32; 2], b: f32) -> [f32; 2] {
    let s = x[0] + b;
    let bb = s - x[0];
    let e = (x[0] - (s - bb)) + (b - bb);
    let lo = e + x[1];
    let hi = s + lo;
    [hi, lo - (hi - s)]
}

/// (hi, lo) · k with the product's rounding error kept (as `ds_mul` in the shader).
#[inline]
pub fn ds_mul(x: [f32; 2], k: f32) -> [f32; 2] {
    let p = x[0] * k;
    let e = x[0].mul_add(k, -p);
    let lo = e + x[1] * k;
    let hi = p + lo;
    [hi, lo - (hi - p)]
}

/// Stage `emit` (`shaders/dispersion/emit.wgsl`).
pub fn emit(params: &EmitParams, sources: &[SourceCell], state: &mut [[f32; 2]]) {
    let plane = (params.nx * params.ny) as usize;
    for s in sources.iter().take(params.n_sources as usize) {
        let idx = s.pollutant as usize * plane + s.cell as usize;
        state[idx] = ds_add(state[idx], params.dt * s.rate);
    }
}

fn van_leer(r: f32) -> f32 {
    (r + r.abs()) / (1.0 + r.abs())
}

fn face_value(c_far: f32, c_up: f32, c_down: f32, courant: f32) -> f32 {
    let d = c_down - c_up;
    let mut phi = 0.0;
    if d != 0.0 {
        phi = van_leer((c_up - c_far) / d);
    }
    c_up + 0.5 * (1.0 - courant) * phi * d
}

#[allow(clippy::too_many_arguments)]
fn face_transfer(
    p: &TransportParams,
    aa: f32,
    a: f32,
    b: f32,
    bb: f32,
    vel: f32,
    inv_h: f32,
    inside_a: bool,
    inside_b: bool,
) -> f32 {
    let courant = vel.abs() * p.dt * inv_h;
    let mut adv = 0.0;
    if vel > 0.0 {
        if inside_a {
            let down = if inside_b { b } else { a };
            adv = vel * face_value(aa, a, down, courant);
        }
    } else if vel < 0.0 && inside_b {
        let down = if inside_a { a } else { b };
        adv = vel * face_value(bb, b, down, courant);
    }
    let mut diff = 0.0;
    if inside_a && inside_b {
        diff = -p.kdiff * (b - a) * inv_h;
    }
    (adv + diff) * (p.dt * inv_h)
}

/// Kahan-compensated `sum[k] += value` (as `add_outflow` in the shader).
fn add_outflow(sum: &mut [f32], comp: &mut [f32], k: usize, value: f32) {
    let y = value - comp[k];
    let t = sum[k] + y;
    comp[k] = (t - sum[k]) - y;
    sum[k] = t;
}

/// Outward transfers through the boundary faces of one row.
struct RowOutflow {
    west: f32,
    east: f32,
    /// Per column, through the south faces (row 0 only, else empty).
    south: Vec<f32>,
    /// Per column, through the north faces (last row only, else empty).
    north: Vec<f32>,
}

/// Stage `transport` (`shaders/dispersion/transport.wgsl`).
#[allow(clippy::too_many_arguments)]
pub fn transport(
    p: &TransportParams,
    u_face: &[f32],
    v_face: &[f32],
    state_in: &[[f32; 2]],
    state_out: &mut [[f32; 2]],
    integral: &mut [f32],
    outflow: &mut [f32],
    outflow_comp: &mut [f32],
) {
    let (nx, ny) = (p.nx as usize, p.ny as usize);
    let plane = nx * ny;
    for pol in 0..p.np as usize {
        let keep = p.keep[pol];
        let sin = &state_in[pol * plane..(pol + 1) * plane];
        let rows: Vec<RowOutflow> = state_out[pol * plane..(pol + 1) * plane]
            .par_chunks_mut(nx)
            .zip(integral[pol * plane..(pol + 1) * plane].par_chunks_mut(nx))
            .enumerate()
            .map(|(j, (out_row, int_row))| {
                let at = |jj: usize, ii: usize| sin[jj * nx + ii][0];
                let mut row_out = RowOutflow {
                    west: 0.0,
                    east: 0.0,
                    south: vec![0.0; if j == 0 { nx } else { 0 }],
                    north: vec![0.0; if j == ny - 1 { nx } else { 0 }],
                };
                for i in 0..nx {
                    let x = sin[j * nx + i];
                    let c = x[0];
                    let w1 = at(j, i.saturating_sub(1));
                    let w2 = at(j, i.saturating_sub(2));
                    let e1 = at(j, (i + 1).min(nx - 1));
                    let e2 = at(j, (i + 2).min(nx - 1));
                    let s1 = at(j.saturating_sub(1), i);
                    let s2 = at(j.saturating_sub(2), i);
                    let n1 = at((j + 1).min(ny - 1), i);
                    let n2 = at((j + 2).min(ny - 1), i);
                    let uw = u_face[j * (nx + 1) + i];
                    let ue = u_face[j * (nx + 1) + i + 1];
                    let vs = v_face[j * nx + i];
                    let vn = v_face[(j + 1) * nx + i];
                    let qw = face_transfer(p, w2, w1, c, e1, uw, p.inv_dx, i > 0, true);
                    let qe = face_transfer(p, w1, c, e1, e2, ue, p.inv_dx, true, i < nx - 1);
                    let qs = face_transfer(p, s2, s1, c, n1, vs, p.inv_dy, j > 0, true);
                    let qn = face_transfer(p, s1, c, n1, n2, vn, p.inv_dy, true, j < ny - 1);
                    let mut y = ds_add(x, qw);
                    y = ds_add(y, -qe);
                    y = ds_add(y, qs);
                    y = ds_add(y, -qn);
                    y = ds_mul(y, keep);
                    out_row[i] = y;
                    int_row[i] += p.dt * (y[0] + y[1]);
                    if i == 0 {
                        row_out.west = -qw;
                    }
                    if i == nx - 1 {
                        row_out.east = qe;
                    }
                    if j == 0 {
                        row_out.south[i] = -qs;
                    }
                    if j == ny - 1 {
                        row_out.north[i] = qn;
                    }
                }
                row_out
            })
            .collect();
        let nb = pol * 2 * (nx + ny);
        for (j, r) in rows.iter().enumerate() {
            add_outflow(outflow, outflow_comp, nb + j, r.west);
            add_outflow(outflow, outflow_comp, nb + ny + j, r.east);
            for (i, f) in r.south.iter().enumerate() {
                add_outflow(outflow, outflow_comp, nb + 2 * ny + i, *f);
            }
            for (i, f) in r.north.iter().enumerate() {
                add_outflow(outflow, outflow_comp, nb + 2 * ny + nx + i, *f);
            }
        }
    }
}

/// Stage `sample_stations` (`shaders/dispersion/sample_stations.wgsl`).
pub fn sample_stations(
    p: &SampleParams,
    stations: &[StationPoint],
    state: &[[f32; 2]],
    samples: &mut [f32],
) {
    let (nx, ny, np) = (p.nx as usize, p.ny as usize, p.np as usize);
    for (s, st) in stations.iter().enumerate().take(p.n_stations as usize) {
        let fx = st.fx.clamp(0.0, (nx - 1) as f32);
        let fy = st.fy.clamp(0.0, (ny - 1) as f32);
        let (i0, j0) = (fx.floor() as usize, fy.floor() as usize);
        let (i1, j1) = ((i0 + 1).min(nx - 1), (j0 + 1).min(ny - 1));
        let (tx, ty) = (fx - i0 as f32, fy - j0 as f32);
        for pol in 0..np {
            let base = pol * nx * ny;
            let v = |k: usize| state[base + k][0] + state[base + k][1];
            let c00 = v(j0 * nx + i0);
            let c10 = v(j0 * nx + i1);
            let c01 = v(j1 * nx + i0);
            let c11 = v(j1 * nx + i1);
            let bottom = c00 * (1.0 - tx) + c10 * tx;
            let top = c01 * (1.0 - tx) + c11 * tx;
            samples[(p.slot as usize * p.n_stations as usize + s) * np + pol] =
                bottom * (1.0 - ty) + top * ty;
        }
    }
}

/// Stage `copy` (`shaders/common/copy.wgsl`), multi-threaded.
pub fn copy(src: &[f32], dst: &mut [f32]) {
    dst.par_chunks_mut(1 << 16)
        .zip(src.par_chunks(1 << 16))
        .for_each(|(d, s)| d.copy_from_slice(s));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn double_single_keeps_increments_f32_would_round_away() {
        // 1e-5 (below half an ulp of 1000) added 10,000 times: f32 alone loses all of it
        let mut plain = 1000.0f32;
        let mut ds = [1000.0f32, 0.0];
        for _ in 0..10_000 {
            plain += 1e-5;
            ds = ds_add(ds, 1e-5);
        }
        assert_eq!(plain, 1000.0);
        let total = f64::from(ds[0]) + f64::from(ds[1]);
        assert!((total - 1000.1).abs() < 1e-6, "{total}");
        // the product keeps what f32 rounds off: exact to ~1e-14 relative
        let k = 1.0f32 / 3.0;
        let m = ds_mul([3.0, 1e-7], k);
        let exact = (3.0 + f64::from(1e-7f32)) * f64::from(k);
        assert!((f64::from(m[0]) + f64::from(m[1]) - exact).abs() < 1e-13);
    }
}
