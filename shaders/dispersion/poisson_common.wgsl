// Stage `poisson` (three kernels: poisson_smooth, poisson_restrict, poisson_prolong): the
// multigrid solve that makes station-interpolated winds mass-consistent (Sherman 1978's
// variational adjustment): A ψ = b on the cells with A ψ = 4ψ − Σ neighbours (ψ = 0 outside
// the grid), b = −(∇·u)·h, then u −= ∂ψ on every face (the host applies that). Multigrid V-cycles
// (Brandt 1977) on cell-centred levels, each half the size of the one above (rounded down, so
// no coarse cell overhangs: see dispersion::projection::levels):
// red–black Gauss–Seidel smoothing, restriction by the sum of the four children's residuals
// (the coarse operator at spacing 2h is 4× the fine one), bilinear prolongation (weights 9, 3, 3,
// 1 over 16). All levels live in one buffer at per-level offsets.
//
// The boundary: ψ = 0 at the centre of the fine level's ghost cells, half a fine cell beyond
// each edge. On every level the ghost value is w·ψ(edge cell), with w per side chosen on the
// host (dispersion::projection::ghost_weight) so that the linear profile from the edge cell's
// centre through the ghost's crosses zero on that same line: every level solves the same
// problem (w = 0 on the fine level, −(H − 1)/(H + 1) on the near sides of a level of spacing H
// fine cells, and what the far sides' rounded-down sizes need), which keeps the cycle's
// residual reduction near 0.2 for any grid size. Smoothing is ψ ← ψ + (b − Aψ)/4 (Gauss–Seidel
// inside; relaxed by (4 − w)/4 on edge cells), which keeps the division a shift.

// Fixed point: ψ and b are 64-bit integers in units of 2^-32 m/s (`common/fixed64.wgsl`) and
// every operation is an integer add, shift or compare, so ψ — and the corrected wind — is the
// same bits on every device and in the CPU twin (`dispersion::cpu::poisson_*`). Divisions by 4
// and 16 are arithmetic shifts (floor).

struct PoissonParams {
    // this level's size and offset into the level buffers
    nx: u32,
    ny: u32,
    off: u32,
    // smooth: the colour updated, cells with (i + j) % 2 == colour
    colour: u32,
    // restrict / prolong: the coarse level below this one
    nx_c: u32,
    ny_c: u32,
    off_c: u32,
    _pad: u32,
    // ghost weights (west, east, south, north) of this level and of the coarse level, 2^-30
    ghost: vec4<i32>,
    ghost_c: vec4<i32>,
}

@group(0) @binding(0) var<uniform> params: PoissonParams;
@group(0) @binding(1) var<storage, read_write> psi: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read_write> rhs: array<vec2<u32>>;

fn i64_shl(a: vec2<u32>, s: u32) -> vec2<u32> {
    return vec2<u32>(a.x << s, (a.y << s) | (a.x >> (32u - s)));
}

// w·ψ with w a signed weight in 2^-30, |w| ≤ 1
fn weigh(x: vec2<u32>, w: i32) -> vec2<u32> {
    let m = i64_mul_frac(x, u32(abs(w)));
    return select(m, i64_neg(m), w < 0);
}

// ψ of cell (i, j) of the level at `off` with size (nx, ny); outside, the ghost: the nearest
// edge cell's ψ times the side's weight (both weights at a corner)
fn psi_at(i: i32, j: i32, nx: u32, ny: u32, off: u32, ghost: vec4<i32>) -> vec2<u32> {
    let ci = u32(clamp(i, 0, i32(nx) - 1));
    let cj = u32(clamp(j, 0, i32(ny) - 1));
    var v = psi[off + cj * nx + ci];
    if (i < 0) {
        v = weigh(v, ghost.x);
    } else if (i >= i32(nx)) {
        v = weigh(v, ghost.y);
    }
    if (j < 0) {
        v = weigh(v, ghost.z);
    } else if (j >= i32(ny)) {
        v = weigh(v, ghost.w);
    }
    return v;
}

// b − Aψ at (i, j) of this level, with Aψ = 4ψ − Σ neighbours
fn residual(i: i32, j: i32) -> vec2<u32> {
    let g = params.ghost;
    let w = psi_at(i - 1, j, params.nx, params.ny, params.off, g);
    let e = psi_at(i + 1, j, params.nx, params.ny, params.off, g);
    let s = psi_at(i, j - 1, params.nx, params.ny, params.off, g);
    let n = psi_at(i, j + 1, params.nx, params.ny, params.off, g);
    let k = params.off + u32(j) * params.nx + u32(i);
    let nb = i64_add(i64_add(w, e), i64_add(s, n));
    return i64_add(rhs[k], i64_sub(nb, i64_shl(psi[k], 2u)));
}
