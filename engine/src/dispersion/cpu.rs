//! CPU twins of the dispersion stages, one function per WGSL file with the same name, over the
//! same `#[repr(C)]` structs and buffer layouts, with the same f32 arithmetic in the same order.
//! Multi-threaded with rayon over grid rows; bit-reproducible (each cell is computed by exactly
//! one task, boundary sums are applied sequentially).
//!
//! The concentration state is double-single, `[hi, lo]` with value hi + lo (see
//! `shaders/dispersion/transport.wgsl` for why).

use rayon::prelude::*;

use super::{EmitParams, SourceCell, TransportParams};

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

/// Value carried through a face (as `face_value` in the shader): the Lax–Wendroff slope limited
/// by Roe's (1985) superbee, φ(r) = max(min(2r, 1), min(r, 2)) with r = d1/d.
#[inline]
fn face_value(c_far: f32, c_up: f32, c_down: f32, courant: f32) -> f32 {
    let d = c_down - c_up;
    let d1 = c_up - c_far;
    let mut corr = 0.0;
    if d * d1 > 0.0 {
        let r = d1 / d;
        corr = d * (2.0 * r).min(1.0).max(r.min(2.0));
    }
    c_up + 0.5 * (1.0 - courant) * corr
}

/// Transfer q = F·dt/h through one face (as `face_transfer` in the shader).
#[allow(clippy::too_many_arguments)]
#[inline]
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

/// Stage `transport` (`shaders/dispersion/transport.wgsl`): one sweep along the axis in
/// `p.pass_flags` (bit 0), with removal and the time integral on the step's last sweep (bit 1).
///
/// The shader evaluates every face twice, once from each side; here each face is evaluated once
/// (same inputs, same operations, so the same bits). Neighbour reads use edge-replicated ghost
/// cells, which is what the shader's clamped reads give.
#[allow(clippy::too_many_arguments)]
pub fn transport(
    p: &TransportParams,
    u_face: &[f32],
    v_face: &[f32],
    state_in: &[[f32; 2]],
    state_out: &mut [[f32; 2]],
    integral: &mut [[f32; 2]],
    outflow: &mut [f32],
    outflow_comp: &mut [f32],
) {
    let (nx, ny) = (p.nx as usize, p.ny as usize);
    let plane = nx * ny;
    let axis_y = p.pass_flags & 1 == 1;
    let last = p.pass_flags & 2 == 2;
    let mut qy = if axis_y {
        vec![0.0f32; nx * (ny + 1)]
    } else {
        Vec::new()
    };
    for pol in 0..p.np as usize {
        let keep = p.keep[pol];
        let sin = &state_in[pol * plane..(pol + 1) * plane];
        let hi = |j: usize, i: usize| sin[j * nx + i][0];
        if axis_y {
            // y-face f lies between rows f-1 and f
            qy.par_chunks_mut(nx).enumerate().for_each(|(f, out)| {
                let r = |j: isize| j.clamp(0, ny as isize - 1) as usize;
                let fi = f as isize;
                let (r_aa, r_a, r_b, r_bb) = (r(fi - 2), r(fi - 1), r(fi), r(fi + 1));
                for (i, q) in out.iter_mut().enumerate() {
                    *q = face_transfer(
                        p,
                        hi(r_aa, i),
                        hi(r_a, i),
                        hi(r_b, i),
                        hi(r_bb, i),
                        v_face[f * nx + i],
                        p.inv_dy,
                        f > 0,
                        f < ny,
                    );
                }
            });
        }
        let qy = &qy;
        let rows: Vec<(f32, f32)> = state_out[pol * plane..(pol + 1) * plane]
            .par_chunks_mut(nx)
            .zip(integral[pol * plane..(pol + 1) * plane].par_chunks_mut(nx))
            .enumerate()
            .map(|(j, (out_row, int_row))| {
                // the transfers into and out of each cell of the row along the sweep
                let (q_in, q_out): (Vec<f32>, Vec<f32>) = if axis_y {
                    (
                        qy[j * nx..(j + 1) * nx].to_vec(),
                        qy[(j + 1) * nx..(j + 2) * nx].to_vec(),
                    )
                } else {
                    let mut ghost = Vec::with_capacity(nx + 4);
                    ghost.push(hi(j, 0));
                    ghost.push(hi(j, 0));
                    ghost.extend((0..nx).map(|i| hi(j, i)));
                    ghost.push(hi(j, nx - 1));
                    ghost.push(hi(j, nx - 1));
                    // x-face f lies between cells f-1 and f; ghost[k] holds cell k-2
                    let qx: Vec<f32> = (0..=nx)
                        .map(|f| {
                            face_transfer(
                                p,
                                ghost[f],
                                ghost[f + 1],
                                ghost[f + 2],
                                ghost[f + 3],
                                u_face[j * (nx + 1) + f],
                                p.inv_dx,
                                f > 0,
                                f < nx,
                            )
                        })
                        .collect();
                    (qx[..nx].to_vec(), qx[1..].to_vec())
                };
                for i in 0..nx {
                    let mut y = ds_add(sin[j * nx + i], q_in[i]);
                    y = ds_add(y, -q_out[i]);
                    if last {
                        y = ds_mul(y, keep);
                        // Kahan: (sum, compensation), as in the shader
                        let acc = int_row[i];
                        let add = p.dt * (y[0] + y[1]) - acc[1];
                        let total = acc[0] + add;
                        int_row[i] = [total, (total - acc[0]) - add];
                    }
                    out_row[i] = y;
                }
                (-q_in[0], q_out[nx - 1])
            })
            .collect();
        let nb = pol * 2 * (nx + ny);
        if axis_y {
            for (i, q) in qy[..nx].iter().enumerate() {
                add_outflow(outflow, outflow_comp, nb + 2 * ny + i, -q);
            }
            for (i, q) in qy[ny * nx..].iter().enumerate() {
                add_outflow(outflow, outflow_comp, nb + 2 * ny + nx + i, *q);
            }
        } else {
            for (j, (west, east)) in rows.iter().enumerate() {
                add_outflow(outflow, outflow_comp, nb + j, *west);
                add_outflow(outflow, outflow_comp, nb + ny + j, *east);
            }
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
