//! CPU twins of the dispersion stages, one function per WGSL file with the same name, over the
//! same `#[repr(C)]` structs and buffer layouts, with the same integer arithmetic: the state is
//! fixed point (`i64`, value · 2^-32 µg/m³), so the twin and every GPU give the same bits (see
//! `shaders/dispersion/transport.wgsl`). Native `i64`/`u128` here stand for the shaders'
//! `common/fixed64.wgsl`; overflow wraps in both. Multi-threaded with rayon over grid rows; each
//! cell is computed by exactly one task, boundary sums are applied sequentially.

use rayon::prelude::*;

use super::projection::{PoissonOp, PoissonParams};
use super::{EmitCell, EmitParams, TransportParams, join_i64};

/// a · f / 2^30 for a fraction f ≤ 2^30, the magnitude rounded half up and the sign kept (as
/// `i64_mul_frac` in `common/fixed64.wgsl`).
#[inline]
pub fn mul_frac(a: i64, f: u32) -> i64 {
    let m = u128::from(a.unsigned_abs()) * u128::from(f) + (1u128 << 29);
    let r = (m >> 30) as u64 as i64;
    if a < 0 { r.wrapping_neg() } else { r }
}

/// Stage `emit` (`shaders/dispersion/emit.wgsl`).
pub fn emit(params: &EmitParams, sources: &[EmitCell], state: &mut [i64]) {
    let plane = (params.nx * params.ny) as usize;
    for s in sources.iter().take(params.n_sources as usize) {
        let idx = s.pollutant as usize * plane + s.cell as usize;
        state[idx] = state[idx].wrapping_add(join_i64(s.amount));
    }
}

/// Value carried through a face (as `face_value` in the shader): the Lax–Wendroff slope limited
/// by Roe's (1985) superbee, d·φ(r) = sign(d)·max(min(2|d1|, |d|), min(|d1|, 2|d|)) when d and
/// d1 agree in sign.
#[inline]
fn face_value(c_far: i64, c_up: i64, c_down: i64, courant: u32) -> i64 {
    let d = c_down.wrapping_sub(c_up);
    let d1 = c_up.wrapping_sub(c_far);
    if !((d > 0 && d1 > 0) || (d < 0 && d1 < 0)) {
        return c_up;
    }
    let (ad, ad1) = (d.unsigned_abs(), d1.unsigned_abs());
    let lim = (ad1.wrapping_shl(1).min(ad)).max(ad1.min(ad.wrapping_shl(1))) as i64;
    let corr = if d < 0 { lim.wrapping_neg() } else { lim };
    let w = ((1u32 << 30) - courant) >> 1;
    c_up.wrapping_add(mul_frac(corr, w))
}

/// Transfer q = F·dt/h through one face (as `face_transfer` in the shader).
#[allow(clippy::too_many_arguments)]
#[inline]
fn face_transfer(
    aa: i64,
    a: i64,
    b: i64,
    bb: i64,
    cour: i32,
    kappa: u32,
    inside_a: bool,
    inside_b: bool,
) -> i64 {
    let mut q = 0i64;
    if cour > 0 {
        if inside_a {
            let c = cour as u32;
            q = mul_frac(face_value(aa, a, if inside_b { b } else { a }, c), c);
        }
    } else if cour < 0 && inside_b {
        let c = cour.unsigned_abs();
        q = mul_frac(face_value(bb, b, if inside_a { a } else { b }, c), c).wrapping_neg();
    }
    if inside_a && inside_b {
        q = q.wrapping_sub(mul_frac(b.wrapping_sub(a), kappa));
    }
    q
}

/// Stage `transport` (`shaders/dispersion/transport.wgsl`): one sweep along the axis in
/// `p.pass_flags` (bit 0), with removal and the time integral on the step's last sweep (bit 1).
///
/// The shader evaluates every face twice, once from each side; here each face is evaluated once
/// (same integers, same operations, so the same bits). Neighbour reads use edge-replicated
/// ghost cells, which is what the shader's clamped reads give.
#[allow(clippy::too_many_arguments)]
pub fn transport(
    p: &TransportParams,
    cour_x: &[i32],
    cour_y: &[i32],
    state_in: &[i64],
    state_out: &mut [i64],
    integral: &mut [i64],
    outflow: &mut [i64],
) {
    let (nx, ny) = (p.nx as usize, p.ny as usize);
    let plane = nx * ny;
    let axis_y = p.pass_flags & 1 == 1;
    let last = p.pass_flags & 2 == 2;
    let mut qy = if axis_y {
        vec![0i64; nx * (ny + 1)]
    } else {
        Vec::new()
    };
    for pol in 0..p.np as usize {
        let r_removal = p.removal[pol];
        let sin = &state_in[pol * plane..(pol + 1) * plane];
        let at = |j: usize, i: usize| sin[j * nx + i];
        if axis_y {
            // y-face f lies between rows f-1 and f
            qy.par_chunks_mut(nx).enumerate().for_each(|(f, out)| {
                let r = |j: isize| j.clamp(0, ny as isize - 1) as usize;
                let fi = f as isize;
                let (r_aa, r_a, r_b, r_bb) = (r(fi - 2), r(fi - 1), r(fi), r(fi + 1));
                for (i, q) in out.iter_mut().enumerate() {
                    *q = face_transfer(
                        at(r_aa, i),
                        at(r_a, i),
                        at(r_b, i),
                        at(r_bb, i),
                        cour_y[f * nx + i],
                        p.kappa_y,
                        f > 0,
                        f < ny,
                    );
                }
            });
        }
        let qy = &qy;
        let rows: Vec<(i64, i64)> = state_out[pol * plane..(pol + 1) * plane]
            .par_chunks_mut(nx)
            .zip(integral[pol * plane..(pol + 1) * plane].par_chunks_mut(nx))
            .enumerate()
            .map(|(j, (out_row, int_row))| {
                // the transfers into and out of each cell of the row along the sweep
                let qx: Vec<i64>;
                let (q_in, q_out): (&[i64], &[i64]) = if axis_y {
                    (&qy[j * nx..(j + 1) * nx], &qy[(j + 1) * nx..(j + 2) * nx])
                } else {
                    let mut ghost = Vec::with_capacity(nx + 4);
                    ghost.push(at(j, 0));
                    ghost.push(at(j, 0));
                    ghost.extend((0..nx).map(|i| at(j, i)));
                    ghost.push(at(j, nx - 1));
                    ghost.push(at(j, nx - 1));
                    // x-face f lies between cells f-1 and f; ghost[k] holds cell k-2
                    qx = (0..=nx)
                        .map(|f| {
                            face_transfer(
                                ghost[f],
                                ghost[f + 1],
                                ghost[f + 2],
                                ghost[f + 3],
                                cour_x[j * (nx + 1) + f],
                                p.kappa_x,
                                f > 0,
                                f < nx,
                            )
                        })
                        .collect();
                    (&qx[..nx], &qx[1..])
                };
                for i in 0..nx {
                    let mut y = sin[j * nx + i].wrapping_add(q_in[i]).wrapping_sub(q_out[i]);
                    if last {
                        y = y.wrapping_sub(mul_frac(y, r_removal));
                        int_row[i] = int_row[i].wrapping_add(y.wrapping_add(128) >> 8);
                    }
                    out_row[i] = y;
                }
                (q_in[0].wrapping_neg(), q_out[nx - 1])
            })
            .collect();
        let nb = pol * 2 * (nx + ny);
        if axis_y {
            for (i, q) in qy[..nx].iter().enumerate() {
                let k = nb + 2 * ny + i;
                outflow[k] = outflow[k].wrapping_sub(*q);
            }
            for (i, q) in qy[ny * nx..].iter().enumerate() {
                let k = nb + 2 * ny + nx + i;
                outflow[k] = outflow[k].wrapping_add(*q);
            }
        } else {
            for (j, (west, east)) in rows.iter().enumerate() {
                outflow[nb + j] = outflow[nb + j].wrapping_add(*west);
                outflow[nb + ny + j] = outflow[nb + ny + j].wrapping_add(*east);
            }
        }
    }
}

/// Kernel `poisson_smooth` (`shaders/dispersion/poisson_smooth.wgsl`): one colour of a
/// red–black Gauss–Seidel sweep on one level, ψ ← ψ + (b − Aψ)/4.
pub fn poisson_smooth(p: &PoissonParams, psi: &mut [i64], rhs: &[i64]) {
    let (nx, ny, off) = (p.nx as usize, p.ny as usize, p.off as usize);
    for j in 0..ny {
        let start = (j + p.colour as usize) % 2;
        for i in (start..nx).step_by(2) {
            let k = off + j * nx + i;
            psi[k] = psi[k].wrapping_add(level_residual(p, psi, rhs, i, j) >> 2);
        }
    }
}

/// w·ψ with w a signed weight in 2^-30 (as `weigh`).
#[inline]
fn weigh(x: i64, w: i32) -> i64 {
    let m = mul_frac(x, w.unsigned_abs());
    if w < 0 { m.wrapping_neg() } else { m }
}

/// ψ of a level's cell; outside, the nearest edge cell's ψ times the side's ghost weight, both
/// weights at a corner (as `psi_at`).
#[inline]
fn level_at(
    psi: &[i64],
    (nx, ny, off): (usize, usize, usize),
    i: isize,
    j: isize,
    ghost: [i32; 4],
) -> i64 {
    let ci = i.clamp(0, nx as isize - 1) as usize;
    let cj = j.clamp(0, ny as isize - 1) as usize;
    let mut v = psi[off + cj * nx + ci];
    if i < 0 {
        v = weigh(v, ghost[0]);
    } else if i >= nx as isize {
        v = weigh(v, ghost[1]);
    }
    if j < 0 {
        v = weigh(v, ghost[2]);
    } else if j >= ny as isize {
        v = weigh(v, ghost[3]);
    }
    v
}

/// b − Aψ at a cell of the level `p` describes (as `residual`, same order of adds).
#[inline]
fn level_residual(p: &PoissonParams, psi: &[i64], rhs: &[i64], i: usize, j: usize) -> i64 {
    let (nx, ny, off) = (p.nx as usize, p.ny as usize, p.off as usize);
    let (ii, jj) = (i as isize, j as isize);
    let at = |a, b| level_at(psi, (nx, ny, off), a, b, p.ghost);
    let nb = (at(ii - 1, jj).wrapping_add(at(ii + 1, jj)))
        .wrapping_add(at(ii, jj - 1).wrapping_add(at(ii, jj + 1)));
    let k = off + j * nx + i;
    rhs[k].wrapping_add(nb.wrapping_sub(psi[k].wrapping_shl(2)))
}

/// Kernel `poisson_restrict` (`shaders/dispersion/poisson_restrict.wgsl`).
pub fn poisson_restrict(p: &PoissonParams, psi: &mut [i64], rhs: &mut [i64]) {
    let (nx, ny) = (p.nx as usize, p.ny as usize);
    let (nxc, nyc, offc) = (p.nx_c as usize, p.ny_c as usize, p.off_c as usize);
    for cj in 0..nyc {
        for ci in 0..nxc {
            let mut sum = 0i64;
            for dj in 0..2 {
                for di in 0..2 {
                    let (i, j) = (2 * ci + di, 2 * cj + dj);
                    if i < nx && j < ny {
                        sum = sum.wrapping_add(level_residual(p, psi, rhs, i, j));
                    }
                }
            }
            let kc = offc + cj * nxc + ci;
            rhs[kc] = sum;
            psi[kc] = 0;
        }
    }
}

/// Kernel `poisson_prolong` (`shaders/dispersion/poisson_prolong.wgsl`).
pub fn poisson_prolong(p: &PoissonParams, psi: &mut [i64]) {
    let (nx, ny, off) = (p.nx as usize, p.ny as usize, p.off as usize);
    let (nxc, nyc, offc) = (p.nx_c as usize, p.ny_c as usize, p.off_c as usize);
    for j in 0..ny {
        for i in 0..nx {
            // an odd last row or column has no parent: no correction
            if i / 2 >= nxc || j / 2 >= nyc {
                continue;
            }
            let (ci, cj) = ((i / 2) as isize, (j / 2) as isize);
            let si = if i & 1 == 1 { 1 } else { -1 };
            let sj = if j & 1 == 1 { 1 } else { -1 };
            let at = |a, b| level_at(psi, (nxc, nyc, offc), a, b, p.ghost_c);
            let (a, b, c, d) = (
                at(ci, cj),
                at(ci + si, cj),
                at(ci, cj + sj),
                at(ci + si, cj + sj),
            );
            let nine_a = a.wrapping_shl(3).wrapping_add(a);
            let bc = b.wrapping_add(c);
            let three_bc = bc.wrapping_shl(1).wrapping_add(bc);
            let total = nine_a.wrapping_add(three_bc).wrapping_add(d);
            let k = off + j * nx + i;
            psi[k] = psi[k].wrapping_add(total >> 4);
        }
    }
}

/// `cycles` V-cycles of stage `poisson` (the dispatches `ops`, from
/// [`super::projection::v_cycle`]) over level buffers `psi_all`/`rhs_all`, starting from the
/// fine level's `psi` and `rhs` and writing the fine ψ back.
pub fn poisson_cycles(
    ops: &[PoissonOp],
    psi_all: &mut [i64],
    rhs_all: &mut [i64],
    psi: &mut [i64],
    rhs: &[i64],
    cycles: usize,
) {
    let n = psi.len();
    psi_all[..n].copy_from_slice(psi);
    rhs_all[..n].copy_from_slice(rhs);
    for _ in 0..cycles {
        for op in ops {
            match op {
                PoissonOp::Smooth(p) => poisson_smooth(p, psi_all, rhs_all),
                PoissonOp::Restrict(p) => poisson_restrict(p, psi_all, rhs_all),
                PoissonOp::Prolong(p) => poisson_prolong(p, psi_all),
            }
        }
    }
    psi.copy_from_slice(&psi_all[..n]);
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
    fn mul_frac_rounds_the_magnitude_half_up_and_keeps_the_sign() {
        let half = 1u32 << 29;
        assert_eq!(mul_frac(10, half), 5);
        assert_eq!(mul_frac(-10, half), -5);
        // 3 · 0.5 = 1.5 → 2, −1.5 → −2 (symmetric)
        assert_eq!(mul_frac(3, half), 2);
        assert_eq!(mul_frac(-3, half), -2);
        assert_eq!(mul_frac(i64::MAX, 1 << 30), i64::MAX);
        assert_eq!(mul_frac(1 << 40, 1), 1 << 10);
        // a large value times a fraction: exact to the rounding of the last unit
        let a = 123_456_789_012_345i64;
        let f = 987_654_321u32;
        let exact = a as f64 * f64::from(f) / (1u64 << 30) as f64;
        assert!((mul_frac(a, f) as f64 - exact).abs() <= 1.0);
    }

    #[test]
    fn a_face_transfer_leaves_one_cell_as_it_enters_the_other() {
        // four cells, uniform wind: each interior face's transfer is one integer, applied with
        // opposite signs, so the sum over cells changes only by the boundary transfers
        let p = TransportParams {
            nx: 4,
            ny: 1,
            np: 1,
            pass_flags: 0,
            kappa_x: 1 << 26,
            kappa_y: 1 << 26,
            _pad: [0; 2],
            removal: [0; 8],
        };
        let state: Vec<i64> = vec![7 << 32, 3 << 32, 11 << 32, 5];
        let cour_x = vec![300_000_000i32; 5];
        let mut out = vec![0i64; 4];
        let mut integral = vec![0i64; 4];
        let mut outflow = vec![0i64; 2 * (4 + 1)];
        transport(
            &p,
            &cour_x,
            &[0; 4],
            &state,
            &mut out,
            &mut integral,
            &mut outflow,
        );
        let before: i64 = state.iter().sum();
        let after: i64 = out.iter().sum();
        let left: i64 = outflow.iter().sum();
        assert_eq!(before, after + left);
        assert!(out.iter().all(|x| *x >= 0));
    }
}
