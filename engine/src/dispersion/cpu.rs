//! CPU twins of the dispersion stages, one function per WGSL file (`transport_step` runs both of
//! a step's `transport` sweeps), over the same `#[repr(C)]` structs and buffer layouts, with the
//! same integer arithmetic: the state is fixed point (`i64`, value · 2^-32 µg/m³), so the twin
//! and every GPU give the same bits (see `shaders/dispersion/transport.wgsl`). Native `i64`
//! here stands for the shaders' `common/fixed64.wgsl`; overflow wraps in both. Multi-threaded
//! with rayon over blocks of grid rows; each cell is computed by exactly one task, boundary sums
//! are applied sequentially. The transport rows are written branch-free so that they vectorise
//! (AVX2 chosen at run time).

use rayon::prelude::*;

use super::projection::{PoissonOp, PoissonParams};
use super::{EmitCell, EmitParams, TransportParams, join_i64};

/// a · f / 2^30 for a fraction f ≤ 2^30, the magnitude rounded half up and the sign kept (as
/// `i64_mul_frac` in `common/fixed64.wgsl`).
///
/// The magnitude is split into 32-bit halves so that both products are 32 × 32 → 64 bits (one
/// `pmuludq` lane each when a row is vectorised): |a|·f = hi·f·2^32 + lo·f, and since hi·f·2^32
/// is a multiple of 2^30, ⌊(|a|·f + 2^29) / 2^30⌋ = 4·hi·f + ⌊(lo·f + 2^29) / 2^30⌋ exactly —
/// the same integer as the 128-bit product, modulo 2^64 like the shader's wrapping arithmetic.
#[inline(always)]
pub fn mul_frac(a: i64, f: u32) -> i64 {
    // sign mask arithmetic rather than selects: a select lets the compiler multiply both
    // a and −a and pick one, twice the work in a vectorised row
    let s = a >> 63;
    let r = mul_frac_magnitude((a ^ s).wrapping_sub(s) as u64, f) as i64;
    (r ^ s).wrapping_sub(s)
}

/// m · f / 2^30 rounded half up, for a magnitude m ≤ 2^63 (wrapping like the shader).
#[inline(always)]
fn mul_frac_magnitude(m: u64, f: u32) -> u64 {
    let f = u64::from(f);
    let lo = (m & 0xffff_ffff) * f;
    let hi = (m >> 32) * f;
    (hi << 2).wrapping_add((lo + (1 << 29)) >> 30)
}

/// −x where `neg`, x elsewhere (wrapping), as mask arithmetic so that it vectorises.
#[inline(always)]
fn negate_if(x: i64, neg: bool) -> i64 {
    let s = -i64::from(neg);
    (x ^ s).wrapping_sub(s)
}

/// Stage `emit` (`shaders/dispersion/emit.wgsl`).
pub fn emit(params: &EmitParams, sources: &[EmitCell], state: &mut [i64]) {
    let plane = (params.nx * params.ny) as usize;
    for s in sources.iter().take(params.n_sources as usize) {
        let idx = s.pollutant as usize * plane + s.cell as usize;
        state[idx] = state[idx].wrapping_add(join_i64(s.amount));
    }
}

/// Transfer q = F·dt/h through a face with real cells on both sides (as `face_transfer` in the
/// shader): cells `aa`, `a` | `b`, `bb` along the sweep, the face between `a` and `b`.
///
/// Advection carries the upwind value plus the Lax–Wendroff slope limited by Roe's (1985)
/// superbee, d·φ(r) = sign(d)·max(min(2|d1|, |d|), min(|d1|, 2|d|)) when the downwind
/// difference d and the upwind one d1 agree in sign (the upwind value alone otherwise); then
/// diffusion, κ·(b − a). Written without a data-dependent branch (every `if` is a select), so
/// that a row of faces vectorises; a Courant number of 0 gives no advective transfer because
/// `mul_frac(_, 0)` is 0.
#[inline(always)]
fn flux(aa: i64, a: i64, b: i64, bb: i64, cour: i32, kappa: u32) -> i64 {
    let pos = cour > 0;
    let far = if pos { aa } else { bb };
    let up = if pos { a } else { b };
    let down = if pos { b } else { a };
    let c = cour.unsigned_abs();
    let d = down.wrapping_sub(up);
    let d1 = up.wrapping_sub(far);
    let (ad, ad1) = (d.unsigned_abs(), d1.unsigned_abs());
    // superbee's max(min(2|d1|, |d|), min(|d1|, 2|d|)) is min(2·small, large) of the two
    // magnitudes, exactly, also where one is 2^63 and doubling it wraps to 0
    let lim = ad.min(ad1).wrapping_shl(1).min(ad.max(ad1));
    // the slope only where d and d1 agree in sign (where either is 0, `lim` is 0 already)
    let lim = if (d ^ d1) >= 0 { lim } else { 0 };
    // the shader's correction is ±lim with d's sign, as an i64; its magnitude is lim, and it
    // is negative exactly where d < 0 (lim is 2^63, i64::MIN, only where d or d1 is i64::MIN,
    // and then both are negative)
    let w = (1u32 << 30).wrapping_sub(c) >> 1;
    let slope = negate_if(mul_frac_magnitude(lim, w) as i64, d < 0);
    let value = up.wrapping_add(slope);
    // mul_frac(value, c), negated against the wind: the two sign changes in one
    let m = mul_frac_magnitude(value.unsigned_abs(), c) as i64;
    let adv = negate_if(m, (value < 0) == pos);
    adv.wrapping_sub(mul_frac(b.wrapping_sub(a), kappa))
}

/// Transfer through any face, `inside_a`/`inside_b` saying whether the cell on each side is in
/// the grid. On the grid's edge only outflow is carried (the missing cell contributes no
/// inflow and no slope) and there is no diffusion.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn face(
    aa: i64,
    a: i64,
    b: i64,
    bb: i64,
    cour: i32,
    kappa: u32,
    inside_a: bool,
    inside_b: bool,
) -> i64 {
    match (inside_a, inside_b) {
        (true, true) => flux(aa, a, b, bb, cour, kappa),
        (true, false) => flux(aa, a, a, a, cour.max(0), 0),
        (false, true) => flux(b, b, b, bb, cour.min(0), 0),
        (false, false) => 0,
    }
}

/// Transfer through x-face `f` of one row (between cells f-1 and f), any face: reads outside
/// the row take the edge cell (the shader's clamped reads).
#[inline(always)]
fn x_face(row: &[i64], cour: &[i32], kappa: u32, f: usize) -> i64 {
    let nx = row.len();
    let at = |k: isize| row[k.clamp(0, nx as isize - 1) as usize];
    let fi = f as isize;
    let (ia, ib) = (f > 0, f < nx);
    face(
        at(fi - 2),
        at(fi - 1),
        at(fi),
        at(fi + 1),
        cour[f],
        kappa,
        ia,
        ib,
    )
}

/// Transfers through x-faces 0..=nx of one row into `q` (length nx + 1). Faces 2..=nx-2 have
/// all four cells in the row and run vectorised; the two at each end go through [`x_face`].
#[inline(always)]
fn x_faces(row: &[i64], cour: &[i32], kappa: u32, q: &mut [i64]) {
    let nx = row.len();
    if nx < 4 {
        for (f, q) in q.iter_mut().enumerate() {
            *q = x_face(row, cour, kappa, f);
        }
        return;
    }
    for f in [0, 1, nx - 1, nx] {
        q[f] = x_face(row, cour, kappa, f);
    }
    let n = nx - 3;
    let (aa, a, b, bb) = (&row[..n], &row[1..n + 1], &row[2..n + 2], &row[3..n + 3]);
    let (c, q) = (&cour[2..n + 2], &mut q[2..n + 2]);
    for i in 0..n {
        q[i] = flux(aa[i], a[i], b[i], bb[i], c[i], kappa);
    }
}

/// Transfers through one row of y-faces into `q`, from the rows two below to one above the
/// face (`rows`, edge-replicated outside the grid) and whether the cells on each side are in
/// the grid.
#[inline(always)]
fn y_faces(rows: [&[i64]; 4], cour: &[i32], kappa: u32, inside: (bool, bool), q: &mut [i64]) {
    let n = q.len();
    let [aa, a, b, bb] = rows.map(|r| &r[..n]);
    let c = &cour[..n];
    if inside == (true, true) {
        for i in 0..n {
            q[i] = flux(aa[i], a[i], b[i], bb[i], c[i], kappa);
        }
    } else {
        for i in 0..n {
            q[i] = face(aa[i], a[i], b[i], bb[i], c[i], kappa, inside.0, inside.1);
        }
    }
}

/// One sweep's update of a row: each cell's value plus what enters through its lower face
/// minus what leaves through its upper one; on the step's last sweep (`removal` given),
/// removal and the time integral (in 2^-24 units, rounded half up).
#[inline(always)]
fn update(
    s: &[i64],
    q_in: &[i64],
    q_out: &[i64],
    out: &mut [i64],
    last: Option<(u32, &mut [i64])>,
) {
    let n = out.len();
    let (s, q_in, q_out) = (&s[..n], &q_in[..n], &q_out[..n]);
    if let Some((removal, int)) = last {
        let int = &mut int[..n];
        for i in 0..n {
            let mut y = s[i].wrapping_add(q_in[i]).wrapping_sub(q_out[i]);
            y = y.wrapping_sub(mul_frac(y, removal));
            int[i] = int[i].wrapping_add(y.wrapping_add(128) >> 8);
            out[i] = y;
        }
    } else {
        for i in 0..n {
            out[i] = s[i].wrapping_add(q_in[i]).wrapping_sub(q_out[i]);
        }
    }
}

/// One time step's two sweeps over one pollutant's plane: what every task reads.
struct Step<'a> {
    state: &'a [i64],
    cour_x: &'a [i32],
    cour_y: &'a [i32],
    nx: usize,
    ny: usize,
    kappa_x: u32,
    kappa_y: u32,
    x_first: bool,
    removal: u32,
}

/// What a block's second sweep carried through the grid's edges, summed into the outflow
/// after the parallel part: per row the west and east x-faces, or the south and north y-face
/// rows where the block holds the first or last grid row.
enum Edges {
    Rows(Vec<(i64, i64)>),
    Faces(Option<Vec<i64>>, Option<Vec<i64>>),
}

impl Step<'_> {
    fn row(&self, j: usize) -> &[i64] {
        &self.state[j * self.nx..(j + 1) * self.nx]
    }

    fn x_cour(&self, j: usize) -> &[i32] {
        &self.cour_x[j * (self.nx + 1)..(j + 1) * (self.nx + 1)]
    }

    fn y_cour(&self, f: usize) -> &[i32] {
        &self.cour_y[f * self.nx..(f + 1) * self.nx]
    }

    /// Rows f-2..=f+1 of y-face `f` clamped to the grid, and whether each side is inside.
    fn y_stencil(&self, f: usize) -> ([usize; 4], (bool, bool)) {
        let r = |k: isize| k.clamp(0, self.ny as isize - 1) as usize;
        let fi = f as isize;
        (
            [r(fi - 2), r(fi - 1), r(fi), r(fi + 1)],
            (f > 0, f < self.ny),
        )
    }

    /// Transfers through y-face row `f` into `q`, reading the rows it needs through `row`
    /// (the state's or the x-swept ring's).
    #[inline(always)]
    fn y_row<'r>(&self, f: usize, row: impl Fn(usize) -> &'r [i64], q: &mut [i64]) {
        let (k, inside) = self.y_stencil(f);
        let rows = [row(k[0]), row(k[1]), row(k[2]), row(k[3])];
        y_faces(rows, self.y_cour(f), self.kappa_y, inside, q);
    }

    /// The first sweep (x) of grid rows `*next..=k` (within the grid) into the ring, slot by
    /// row mod 4.
    #[inline(always)]
    fn x_sweep_to(&self, k: usize, next: &mut usize, q: &mut [i64], ring: &mut [i64]) {
        let nx = self.nx;
        while *next <= k.min(self.ny - 1) {
            let j = *next;
            x_faces(self.row(j), self.x_cour(j), self.kappa_x, q);
            let slot = (j % 4) * nx;
            update(self.row(j), q, &q[1..], &mut ring[slot..slot + nx], None);
            *next += 1;
        }
    }

    /// Rows `j0..` of the step's result (as many as `out` holds). The first sweep's rows stay
    /// in buffers of the task: y then x needs only the row itself; x then y keeps the four
    /// x-swept rows a y-face reads in a ring. Within the block each face is evaluated once.
    /// `#[inline(always)]` (and no closures, which would not inherit the target feature) so
    /// that the AVX2 entry point compiles all of it with AVX2.
    #[inline(always)]
    fn block(&self, j0: usize, out: &mut [i64], int: &mut [i64]) -> Edges {
        let nx = self.nx;
        let rows = out.len() / nx;
        let (mut lower, mut upper) = (vec![0i64; nx], vec![0i64; nx]);
        let mut q = vec![0i64; nx + 1];
        if !self.x_first {
            let mut mid = vec![0i64; nx];
            let mut edges = Vec::with_capacity(rows);
            self.y_row(j0, |k| self.row(k), &mut lower);
            for r in 0..rows {
                let j = j0 + r;
                self.y_row(j + 1, |k| self.row(k), &mut upper);
                update(self.row(j), &lower, &upper, &mut mid, None);
                x_faces(&mid, self.x_cour(j), self.kappa_x, &mut q);
                edges.push((q[0], q[nx]));
                let span = r * nx..(r + 1) * nx;
                let last = Some((self.removal, &mut int[span.clone()]));
                update(&mid, &q, &q[1..], &mut out[span], last);
                std::mem::swap(&mut lower, &mut upper);
            }
            Edges::Rows(edges)
        } else {
            let mut ring = vec![0i64; 4 * nx];
            let mut next = j0.saturating_sub(2);
            self.x_sweep_to(j0 + 1, &mut next, &mut q, &mut ring);
            {
                let ring = &ring;
                self.y_row(j0, |k| &ring[(k % 4) * nx..(k % 4 + 1) * nx], &mut lower);
            }
            let south = (j0 == 0).then(|| lower.clone());
            for r in 0..rows {
                let j = j0 + r;
                self.x_sweep_to(j + 2, &mut next, &mut q, &mut ring);
                let ring = &ring;
                let at = |k: usize| &ring[(k % 4) * nx..(k % 4 + 1) * nx];
                self.y_row(j + 1, at, &mut upper);
                let span = r * nx..(r + 1) * nx;
                let last = Some((self.removal, &mut int[span.clone()]));
                update(at(j), &lower, &upper, &mut out[span], last);
                std::mem::swap(&mut lower, &mut upper);
            }
            let north = (j0 + rows == self.ny).then(|| lower.clone());
            Edges::Faces(south, north)
        }
    }

    /// [`Step::block`] compiled for AVX2 (4 × i64 lanes, `pmuludq` for `mul_frac`).
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[allow(unsafe_code)]
    unsafe fn block_avx2(&self, j0: usize, out: &mut [i64], int: &mut [i64]) -> Edges {
        self.block(j0, out, int)
    }

    /// [`Step::block`] with the widest instruction set this CPU has.
    #[allow(unsafe_code)]
    fn block_best(&self, j0: usize, out: &mut [i64], int: &mut [i64]) -> Edges {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 was detected on this CPU just above.
            return unsafe { self.block_avx2(j0, out, int) };
        }
        self.block(j0, out, int)
    }
}

/// Stage `transport` (`shaders/dispersion/transport.wgsl`) for both sweeps of step number
/// `step` (the order of [`TransportParams::sweeps`]: x then y on even steps, y then x on odd
/// ones), with removal and the time integral after the second: `state` → `out`.
///
/// The shader runs one dispatch per sweep and evaluates every face twice, once from each
/// side. Here a task of a block of rows evaluates each face once into a row buffer, and the
/// first sweep's rows never leave the task's cache (same integers, same operations, so the
/// same bits as two separate sweeps), which saves the intermediate field's write and read.
/// Rows are vectorised, AVX2 when the CPU has it (chosen at run time). Neighbour reads use
/// edge-replicated ghost cells, which is what the shader's clamped reads give.
#[allow(clippy::too_many_arguments)]
pub fn transport_step(
    p: &TransportParams,
    step: u64,
    cour_x: &[i32],
    cour_y: &[i32],
    state: &[i64],
    out: &mut [i64],
    integral: &mut [i64],
    outflow: &mut [i64],
) {
    let (nx, ny) = (p.nx as usize, p.ny as usize);
    let plane = nx * ny;
    if plane == 0 {
        return;
    }
    let x_first = p.sweeps(step)[0].pass_flags & 1 == 0;
    // a few blocks per thread: work spread evenly, and few block edges (an x-then-y block
    // sweeps the three rows below and the row above its own along x a second time)
    let block_rows = ny.div_ceil(4 * rayon::current_num_threads()).max(16);
    for pol in 0..p.np as usize {
        let planes = pol * plane..(pol + 1) * plane;
        let s = Step {
            state: &state[planes.clone()],
            cour_x,
            cour_y,
            nx,
            ny,
            kappa_x: p.kappa_x,
            kappa_y: p.kappa_y,
            x_first,
            removal: p.removal[pol],
        };
        let edges: Vec<Edges> = out[planes.clone()]
            .par_chunks_mut(block_rows * nx)
            .zip(integral[planes].par_chunks_mut(block_rows * nx))
            .enumerate()
            .map(|(b, (out, int))| s.block_best(b * block_rows, out, int))
            .collect();
        // what each sweep carried through the grid's edges: the first sweep's from the state
        // (the edge faces again, cheap and the same bits), the second's from the blocks
        let nb = pol * 2 * (nx + ny);
        let (west, east, south, north) = (nb, nb + ny, nb + 2 * ny, nb + 2 * ny + nx);
        let sub = |o: &mut [i64], k: usize, q: i64| o[k] = o[k].wrapping_sub(q);
        let add = |o: &mut [i64], k: usize, q: i64| o[k] = o[k].wrapping_add(q);
        if x_first {
            for j in 0..ny {
                sub(
                    outflow,
                    west + j,
                    x_face(s.row(j), s.x_cour(j), p.kappa_x, 0),
                );
                add(
                    outflow,
                    east + j,
                    x_face(s.row(j), s.x_cour(j), p.kappa_x, nx),
                );
            }
        } else {
            let (mut q_s, mut q_n) = (vec![0i64; nx], vec![0i64; nx]);
            s.y_row(0, |k| s.row(k), &mut q_s);
            s.y_row(ny, |k| s.row(k), &mut q_n);
            for i in 0..nx {
                sub(outflow, south + i, q_s[i]);
                add(outflow, north + i, q_n[i]);
            }
        }
        for (b, e) in edges.into_iter().enumerate() {
            match e {
                Edges::Rows(rows) => {
                    for (r, (w, e)) in rows.into_iter().enumerate() {
                        sub(outflow, west + b * block_rows + r, w);
                        add(outflow, east + b * block_rows + r, e);
                    }
                }
                Edges::Faces(s_row, n_row) => {
                    for (i, q) in s_row.iter().flatten().enumerate() {
                        sub(outflow, south + i, *q);
                    }
                    for (i, q) in n_row.iter().flatten().enumerate() {
                        add(outflow, north + i, *q);
                    }
                }
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

    /// The transport stage as first written, face by face with branches and a 128-bit product:
    /// the specification the vectorised rows must match bit for bit.
    mod reference {
        use crate::dispersion::TransportParams;

        fn mul_frac(a: i64, f: u32) -> i64 {
            let m = u128::from(a.unsigned_abs()) * u128::from(f) + (1u128 << 29);
            let r = (m >> 30) as u64 as i64;
            if a < 0 { r.wrapping_neg() } else { r }
        }

        pub fn mul_frac_128(a: i64, f: u32) -> i64 {
            mul_frac(a, f)
        }

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

        #[allow(clippy::too_many_arguments)]
        pub fn face_transfer(
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
            let (ni, nj) = (nx as isize, ny as isize);
            let plane = nx * ny;
            let axis_y = p.pass_flags & 1 == 1;
            let last = p.pass_flags & 2 == 2;
            for pol in 0..p.np as usize {
                let s = &state_in[pol * plane..(pol + 1) * plane];
                let at = |i: isize, j: isize| {
                    s[j.clamp(0, nj - 1) as usize * nx + i.clamp(0, ni - 1) as usize]
                };
                // transfer through the face on the low side of cell (i, j) along the sweep
                let q = |i: isize, j: isize| {
                    if axis_y {
                        let c = cour_y[j as usize * nx + i as usize];
                        face_transfer(
                            at(i, j - 2),
                            at(i, j - 1),
                            at(i, j),
                            at(i, j + 1),
                            c,
                            p.kappa_y,
                            j > 0,
                            j < nj,
                        )
                    } else {
                        let c = cour_x[j as usize * (nx + 1) + i as usize];
                        face_transfer(
                            at(i - 2, j),
                            at(i - 1, j),
                            at(i, j),
                            at(i + 1, j),
                            c,
                            p.kappa_x,
                            i > 0,
                            i < ni,
                        )
                    }
                };
                for j in 0..nj {
                    for i in 0..ni {
                        let (q_in, q_out) = if axis_y {
                            (q(i, j), q(i, j + 1))
                        } else {
                            (q(i, j), q(i + 1, j))
                        };
                        let k = pol * plane + j as usize * nx + i as usize;
                        let mut y = s[j as usize * nx + i as usize]
                            .wrapping_add(q_in)
                            .wrapping_sub(q_out);
                        if last {
                            y = y.wrapping_sub(mul_frac(y, p.removal[pol]));
                            integral[k] = integral[k].wrapping_add(y.wrapping_add(128) >> 8);
                        }
                        state_out[k] = y;
                    }
                }
                let nb = pol * 2 * (nx + ny);
                if axis_y {
                    for i in 0..ni {
                        let k = nb + 2 * ny + i as usize;
                        outflow[k] = outflow[k].wrapping_sub(q(i, 0));
                        outflow[k + nx] = outflow[k + nx].wrapping_add(q(i, nj));
                    }
                } else {
                    for j in 0..nj {
                        let k = nb + j as usize;
                        outflow[k] = outflow[k].wrapping_sub(q(0, j));
                        outflow[k + ny] = outflow[k + ny].wrapping_add(q(ni, j));
                    }
                }
            }
        }
    }

    #[test]
    fn mul_frac_equals_the_128_bit_product() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let edges = [
            0,
            1,
            -1,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
            1 << 32,
            -(1 << 32),
        ];
        for a in edges {
            for f in [0, 1, 1 << 29, (1 << 30) - 1, 1 << 30, u32::MAX] {
                assert_eq!(mul_frac(a, f), reference::mul_frac_128(a, f), "{a} · {f}");
            }
        }
        for _ in 0..100_000 {
            let a: i64 = rng.random::<i64>() >> rng.random_range(0..64);
            let f: u32 = rng.random_range(0..=1 << 30);
            assert_eq!(mul_frac(a, f), reference::mul_frac_128(a, f), "{a} · {f}");
        }
    }

    #[test]
    fn a_face_equals_the_reference_at_the_ends_of_the_i64_range() {
        // differences of i64::MIN (magnitude 2^63, which doubles to 0) and wraps everywhere
        let values = [
            0,
            1,
            -1,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
            1 << 62,
            -(1 << 62),
            (1 << 62) + 3,
        ];
        let courants = [
            0,
            1,
            -1,
            1 << 29,
            -(1 << 29),
            1 << 30,
            -(1 << 30),
            12_345_678,
        ];
        for &aa in &values {
            for &a in &values {
                for &b in &values {
                    for &bb in &values {
                        for &c in &courants {
                            for kappa in [0, 1 << 27] {
                                for (ia, ib) in [(true, true), (true, false), (false, true)] {
                                    assert_eq!(
                                        face(aa, a, b, bb, c, kappa, ia, ib),
                                        reference::face_transfer(aa, a, b, bb, c, kappa, ia, ib),
                                        "{aa} {a} | {b} {bb}, courant {c}, κ {kappa}, {ia} {ib}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_fused_vectorised_step_equals_two_face_by_face_reference_sweeps_bit_for_bit() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        // sizes around the 4-cell stencil, the 64-row blocks and the 4-lane vectors
        let sizes = [
            (1, 1),
            (2, 3),
            (3, 5),
            (4, 4),
            (5, 33),
            (7, 65),
            (37, 31),
            (64, 70),
        ];
        for (case, &(nx, ny)) in sizes.iter().enumerate() {
            let np = 1 + case % 2;
            let n = nx * ny * np;
            // smooth fields, rough ones, sign changes and values near the i64 range, so
            // every limiter branch and every wrap is reached
            let state: Vec<i64> = (0..n)
                .map(|k| match rng.random_range(0..4) {
                    0 => (k as i64 % 17) << 32,
                    1 => rng.random::<i64>() >> 8,
                    2 => rng.random::<i64>(),
                    _ => 0,
                })
                .collect();
            let courant = |rng: &mut rand::rngs::StdRng| match rng.random_range(0..5) {
                0 => 0,
                1 => 1 << 30,
                2 => -(1 << 30),
                _ => rng.random_range(-(1 << 30)..=1 << 30),
            };
            let cour_x: Vec<i32> = (0..(nx + 1) * ny).map(|_| courant(&mut rng)).collect();
            let cour_y: Vec<i32> = (0..nx * (ny + 1)).map(|_| courant(&mut rng)).collect();
            for step in 0..2u64 {
                let mut p = TransportParams {
                    nx: nx as u32,
                    ny: ny as u32,
                    np: np as u32,
                    pass_flags: 0,
                    kappa_x: rng.random_range(0..1 << 28),
                    kappa_y: rng.random_range(0..1 << 28),
                    _pad: [0; 2],
                    removal: [0; 8],
                };
                for r in p.removal.iter_mut() {
                    *r = rng.random_range(0..1 << 30);
                }
                let integral0: Vec<i64> = (0..n).map(|_| rng.random::<i64>() >> 4).collect();
                let outflow0: Vec<i64> = (0..2 * (nx + ny) * np)
                    .map(|_| rng.random::<i64>() >> 4)
                    .collect();
                let (cx, cy) = (&cour_x, &cour_y);
                let (mut int, mut of, mut out) = (integral0.clone(), outflow0.clone(), vec![0; n]);
                transport_step(&p, step, cx, cy, &state, &mut out, &mut int, &mut of);
                let fused = (out, int, of);
                let (mut int, mut of, mut out) = (integral0, outflow0, vec![0; n]);
                let mut mid = vec![0; n];
                let [first, second] = p.sweeps(step);
                reference::transport(&first, cx, cy, &state, &mut mid, &mut int, &mut of);
                reference::transport(&second, cx, cy, &mid, &mut out, &mut int, &mut of);
                assert!(
                    fused == (out, int, of),
                    "{nx}x{ny}, {np} pollutant(s), step {step}"
                );
            }
        }
    }

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
        transport_step(
            &p,
            0,
            &cour_x,
            &[0; 8],
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
