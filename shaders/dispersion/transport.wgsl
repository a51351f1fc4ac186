// Stage `transport`: one directional sweep of advection (flux-limited, superbee) and diffusion
// (constant K) on the regular grid, in flux form, along x or y; the second sweep of a step then
// applies implicit first-order removal (decay and dry deposition) and adds to the time integral. A step is an x sweep then a y sweep, the next step y then x
// (dimensional splitting with alternating order, Strang 1968): each sweep sees the other's
// result, which supplies the cross-derivative term uv·∂²c/∂x∂y an unsplit scheme of 1D face
// values lacks (its absence acts as a crosswind diffusion dt·u·v/2 in oblique winds).
// Boundaries: clean-air inflow, upwind outflow, no diffusive flux.
//
// Layout: fields are [member][pollutant][row j][column i] (batch_common.wgsl: one dispatch steps
// every member of a batch, a single run being a batch of one); a member's Courant numbers are
// [(nx + 1) * ny] x-faces (face i is between cells i-1 and i) and [nx * (ny + 1)] y-faces.
//
// Fixed point, integer arithmetic only. The state is a 64-bit integer per cell, value · 2^-32
// µg/m³ (`fixed64.wgsl`); Courant numbers u·dt/dx, the diffusion number K·dt/dx² and the removal
// fraction are integers in units of 2^-30, computed once on the host. Every operation here is an
// integer add, shift, compare or product with a stated rounding, so the result is the same on
// every GPU, under every shader compiler and in the CPU twin, bit for bit. (The float version
// this replaces agreed with the twin to 1e-6 on lavapipe but could not be made device-independent:
// WGSL lets a compiler fuse a·b + c into an fma and rewrite float algebra, which changes the
// rounding of the limiter and silently removes double-single compensation; division is not
// correctly rounded on every GPU.) Conservation is exact: each face's transfer is computed by
// both neighbouring cells from the same integers, so it leaves one cell as it enters the other.
// The CPU twin is `dispersion::cpu::transport_step` (both sweeps of a step in one pass, each
// face once); both must stay the same arithmetic.

@group(0) @binding(0) var<uniform> params: BatchStep;
// batch_common.wgsl: emitting cells, per-member diffusion and removal numbers, round flags
@group(0) @binding(1) var<storage, read> control: array<u32>;
// per member: signed Courant numbers u·dt/dx on its x-faces and v·dt/dy on its y-faces, units
// of 2^-30 (two buffers: one member's faces of a 4096² grid alone fill 64 MiB)
@group(0) @binding(2) var<storage, read> cour_x: array<i32>;
@group(0) @binding(3) var<storage, read> cour_y: array<i32>;
@group(0) @binding(4) var<storage, read> state_in: array<vec2<u32>>;
@group(0) @binding(5) var<storage, read_write> state_out: array<vec2<u32>>;
// sum over the interval's steps of the concentration, units of 2^-24 µg/m³ (the host multiplies
// by dt): mean field and removal budget; cleared by the host at every interval
@group(0) @binding(6) var<storage, read_write> integral: array<vec2<u32>>;
// outward transfers through each boundary face, units of the state: west[ny], east[ny],
// south[nx], north[nx] per plane
@group(0) @binding(7) var<storage, read_write> outflow: array<vec2<u32>>;

// value carried through a face, from upwind cell `c_up` towards downwind `c_down`, with `c_far`
// the cell beyond the upwind one; courant = |u| dt / dx (2^-30). The Lax–Wendroff slope
// d = c_down - c_up limited by Roe's (1985) superbee, d·φ(r) with φ(r) = max(min(2r, 1), min(r, 2))
// and r = d1 / d, d1 = c_up - c_far, when d and d1 agree in sign, else 0; written without the
// division: d·φ = sign(d)·max(min(2|d1|, |d|), min(|d1|, 2|d|)). Superbee is the least diffusive
// TVD limiter: with the split sweeps it keeps an oblique plume's width within a few per cent of
// the physical one where van Leer's doubled it (engine/examples/oblique_wind.rs).
fn face_value(c_far: vec2<u32>, c_up: vec2<u32>, c_down: vec2<u32>, courant: u32) -> vec2<u32> {
    let d = i64_sub(c_down, c_up);
    let d1 = i64_sub(c_up, c_far);
    let agree = (i64_is_pos(d) && i64_is_pos(d1)) || (i64_is_neg(d) && i64_is_neg(d1));
    if (!agree) {
        return c_up;
    }
    let ad = i64_abs(d);
    let ad1 = i64_abs(d1);
    let lim = u64_max(u64_min(i64_twice(ad1), ad), u64_min(ad1, i64_twice(ad)));
    let corr = select(lim, i64_neg(lim), i64_is_neg(d));
    // 0.5·(1 − courant)
    let w = (0x40000000u - courant) >> 1u;
    return i64_add(c_up, i64_mul_frac(corr, w));
}

// transfer q = F·dt/h through a face between cells a (west/south) and b, with aa beyond a and
// bb beyond b; `inside_a`/`inside_b` say whether a and b are grid cells
fn face_transfer(aa: vec2<u32>, a: vec2<u32>, b: vec2<u32>, bb: vec2<u32>, cour: i32, kappa: u32, inside_a: bool, inside_b: bool) -> vec2<u32> {
    var q = vec2<u32>(0u, 0u);
    if (cour > 0) {
        if (inside_a) {
            let c = u32(cour);
            q = i64_mul_frac(face_value(aa, a, select(a, b, inside_b), c), c);
        }
    } else if (cour < 0) {
        if (inside_b) {
            let c = u32(-cour);
            q = i64_neg(i64_mul_frac(face_value(bb, b, select(b, a, inside_a), c), c));
        }
    }
    if (inside_a && inside_b) {
        q = i64_sub(q, i64_mul_frac(i64_sub(b, a), kappa));
    }
    return q;
}

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = i32(gid.x);
    let j = i32(gid.y);
    let plane = gid.z;
    let nx = i32(params.nx);
    let ny = i32(params.ny);
    if (i >= nx || j >= ny || plane >= params.np * params.members) {
        return;
    }
    let m = plane / params.np;
    let p = plane % params.np;
    let base = i32(plane) * nx * ny;
    let row = base + j * nx;
    let flags = control[params.flags_at + params.round * params.members + m];
    if ((flags & 1u) == 0u) {
        // this member does not step in this round: neither sweep touches it, so its state stays
        // in the first buffer (sweep 0 reads it, sweep 1 writes it back) and nothing reads the
        // second buffer's stale copy before a sweep 0 has rewritten it
        return;
    }
    let c = state_in[row + i];
    let axis = ((flags >> 1u) & 1u) ^ params.sweep;
    let last = params.sweep == 1u;
    let mw = CONTROL_HEAD + m * MEMBER_WORDS;
    let kappa_x = control[mw];
    let kappa_y = control[mw + 1u];
    let cx0 = i32(m) * (nx + 1) * ny;
    let cy0 = i32(m) * nx * (ny + 1);
    var q_in = vec2<u32>(0u, 0u);
    var q_out = vec2<u32>(0u, 0u);
    // neighbours along the sweep, clamped: a clamped value is only used where the cell exists
    // or as a ghost equal to the edge cell
    if (axis == 0u) {
        let w1 = state_in[row + max(i - 1, 0)];
        let w2 = state_in[row + max(i - 2, 0)];
        let e1 = state_in[row + min(i + 1, nx - 1)];
        let e2 = state_in[row + min(i + 2, nx - 1)];
        let cw = cour_x[cx0 + j * (nx + 1) + i];
        let ce = cour_x[cx0 + j * (nx + 1) + i + 1];
        // west face: cells (i-1) | (i); east face: (i) | (i+1)
        q_in = face_transfer(w2, w1, c, e1, cw, kappa_x, i > 0, true);
        q_out = face_transfer(w1, c, e1, e2, ce, kappa_x, true, i < nx - 1);
    } else {
        let s1 = state_in[base + max(j - 1, 0) * nx + i];
        let s2 = state_in[base + max(j - 2, 0) * nx + i];
        let n1 = state_in[base + min(j + 1, ny - 1) * nx + i];
        let n2 = state_in[base + min(j + 2, ny - 1) * nx + i];
        let cs = cour_y[cy0 + j * nx + i];
        let cn = cour_y[cy0 + (j + 1) * nx + i];
        q_in = face_transfer(s2, s1, c, n1, cs, kappa_y, j > 0, true);
        q_out = face_transfer(s1, c, n1, n2, cn, kappa_y, true, j < ny - 1);
    }

    var y = i64_sub(i64_add(c, q_in), q_out);
    if (last) {
        let r = control[mw + 4u + p];
        y = i64_sub(y, i64_mul_frac(y, r));
        // y / 2^8, rounded half up
        integral[row + i] = i64_add(integral[row + i], i64_shr(i64_add(y, vec2<u32>(128u, 0u)), 8u));
    }
    state_out[row + i] = y;

    let nb = i32(plane) * 2 * (nx + ny);
    if (axis == 0u) {
        if (i == 0) {
            outflow[nb + j] = i64_sub(outflow[nb + j], q_in);
        }
        if (i == nx - 1) {
            outflow[nb + ny + j] = i64_add(outflow[nb + ny + j], q_out);
        }
    } else {
        if (j == 0) {
            outflow[nb + 2 * ny + i] = i64_sub(outflow[nb + 2 * ny + i], q_in);
        }
        if (j == ny - 1) {
            outflow[nb + 2 * ny + nx + i] = i64_add(outflow[nb + 2 * ny + nx + i], q_out);
        }
    }
}
