// Stage `poisson` (three kernels: poisson_smooth, poisson_restrict, poisson_prolong): the
// multigrid solve that makes station-interpolated winds mass-consistent (Sherman 1978's
// variational adjustment): A ψ = b on the cells with A ψ = 4ψ − Σ neighbours (ψ = 0 outside
// the grid), b = −(∇·u)·h, then u −= ∂ψ on every face (the host applies that). Multigrid V-cycles
// (Brandt 1977) on cell-centred levels, each half the size of the one above (rounded up):
// red–black Gauss–Seidel smoothing, restriction by the sum of the four children's residuals
// (the coarse operator at spacing 2h is 4× the fine one), bilinear prolongation (weights 9, 3, 3,
// 1 over 16). All levels live in one buffer at per-level offsets. The fine level's ψ = 0 holds
// at the centre of the ghost cell, half a fine cell beyond the edge; on the coarse levels the
// ghost is −ψ of the edge cell, which puts ψ = 0 at that same line (half a coarse cell beyond
// the edge centre is a whole fine cell), so every level sees the same boundary. Smoothing is
// ψ ← ψ + (b − Aψ)/4: Gauss–Seidel inside, over-relaxed by 5/4 on coarse edge cells (whose
// diagonal is 5), which keeps the division a shift.
//
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
    // 1 on the coarse levels: the ghost cell is −ψ of the edge cell (else 0)
    mirror: u32,
}

@group(0) @binding(0) var<uniform> params: PoissonParams;
@group(0) @binding(1) var<storage, read_write> psi: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read_write> rhs: array<vec2<u32>>;

fn i64_shl(a: vec2<u32>, s: u32) -> vec2<u32> {
    return vec2<u32>(a.x << s, (a.y << s) | (a.x >> (32u - s)));
}

// ψ of cell (i, j) of the level at `off` with size (nx, ny); outside, 0 or (`mirror`) −ψ of the
// nearest edge cell
fn psi_at(i: i32, j: i32, nx: u32, ny: u32, off: u32, mirror: bool) -> vec2<u32> {
    let inside = i >= 0 && j >= 0 && i < i32(nx) && j < i32(ny);
    if (inside) {
        return psi[off + u32(j) * nx + u32(i)];
    }
    if (!mirror) {
        return vec2<u32>(0u, 0u);
    }
    let ci = u32(clamp(i, 0, i32(nx) - 1));
    let cj = u32(clamp(j, 0, i32(ny) - 1));
    return i64_neg(psi[off + cj * nx + ci]);
}

// b − Aψ at (i, j) of this level, with Aψ = 4ψ − Σ neighbours
fn residual(i: i32, j: i32) -> vec2<u32> {
    let m = params.mirror == 1u;
    let w = psi_at(i - 1, j, params.nx, params.ny, params.off, m);
    let e = psi_at(i + 1, j, params.nx, params.ny, params.off, m);
    let s = psi_at(i, j - 1, params.nx, params.ny, params.off, m);
    let n = psi_at(i, j + 1, params.nx, params.ny, params.off, m);
    let k = params.off + u32(j) * params.nx + u32(i);
    let nb = i64_add(i64_add(w, e), i64_add(s, n));
    return i64_add(rhs[k], i64_sub(nb, i64_shl(psi[k], 2u)));
}
