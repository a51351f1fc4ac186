// Stage `transport`: one directional sweep of advection (flux-limited, superbee) and diffusion
// (constant K) on the regular grid, in flux form, along x or y (`pass` bit 0); the second sweep
// of a step (`pass` bit 1) then applies implicit first-order removal (decay and dry deposition)
// and adds to the time integral. A step is an x sweep then a y sweep, the next step y then x
// (dimensional splitting with alternating order, Strang 1968): each sweep sees the other's
// result, which supplies the cross-derivative term uv·∂²c/∂x∂y an unsplit scheme of 1D face
// values lacks (its absence acts as a crosswind diffusion dt·u·v/2 in oblique winds).
// Boundaries: clean-air inflow, upwind outflow, no diffusive flux.
//
// Layout: fields are [pollutant][row j][column i]; u_face is [(nx + 1) * ny] (x-faces, face i is
// between cells i-1 and i), v_face is [nx * (ny + 1)] (y-faces). Velocities in m/s.
//
// Conservation: each face's transfer q = F·dt/dx is computed by both neighbouring cells from the
// same inputs with the same operations, so it leaves one cell exactly as it enters the other.
// The state is double-single (hi, lo): a step's transfers are tiny next to the concentration,
// and f32 would round them the same way every step near steady state, biasing the budget.
// `ds_add` and `ds_mul` come from common/double_single.wgsl, prepended when the stage is embedded.
// The CPU twin is `dispersion::cpu::transport`; both must stay the same arithmetic.

struct TransportParams {
    nx: u32,
    ny: u32,
    np: u32,
    // bit 0: the axis of this sweep (0 = x, 1 = y); bit 1: the step's last sweep (removal, integral)
    pass_flags: u32,
    dt: f32,
    inv_dx: f32,
    inv_dy: f32,
    kdiff: f32,
    // 1 / (1 + (decay + deposition/h) * dt) per pollutant, 8 pollutants at most
    keep: array<vec4<f32>, 2>,
}

@group(0) @binding(0) var<uniform> params: TransportParams;
@group(0) @binding(1) var<storage, read> u_face: array<f32>;
@group(0) @binding(2) var<storage, read> v_face: array<f32>;
@group(0) @binding(3) var<storage, read> state_in: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read_write> state_out: array<vec2<f32>>;
// time integral of concentration over the current output interval, µg/m³·s (mean field and
// removal budget) as (sum, Kahan compensation): an interval has hundreds of steps of nearly the
// same value, which a plain f32 sum rounds the same way each time; the host folds it into f64
// and clears it at every interval
@group(0) @binding(5) var<storage, read_write> integral: array<vec2<f32>>;
// outward transfers through each boundary face, in µg/m³ of the boundary cell: west[ny],
// east[ny], south[nx], north[nx] per pollutant; Kahan-compensated (outflow_comp) because a
// face collects thousands of steps
@group(0) @binding(6) var<storage, read_write> outflow: array<f32>;
@group(0) @binding(7) var<storage, read_write> outflow_comp: array<f32>;

fn add_outflow(k: i32, value: f32) {
    let y = value - outflow_comp[k];
    let t = outflow[k] + y;
    outflow_comp[k] = (t - outflow[k]) - y;
    outflow[k] = t;
}



// value carried through a face, from upwind cell `c_up` towards downwind `c_down`, with `c_far`
// the cell beyond the upwind one; courant = |u| dt / dx. The Lax–Wendroff slope d = c_down - c_up
// limited by Roe's (1985) superbee, phi(r) = max(min(2r, 1), min(r, 2)) with r = d1 / d and
// d1 = c_up - c_far, when d and d1 agree in sign, else 0. Superbee is the least diffusive TVD
// limiter: with the split sweeps it keeps an oblique plume's width within a few per cent of the
// physical one where van Leer's doubled it (engine/examples/oblique_wind.rs).
fn face_value(c_far: f32, c_up: f32, c_down: f32, courant: f32) -> f32 {
    let d = c_down - c_up;
    let d1 = c_up - c_far;
    var corr = 0.0;
    if (d * d1 > 0.0) {
        let r = d1 / d;
        corr = d * max(min(2.0 * r, 1.0), min(r, 2.0));
    }
    return c_up + 0.5 * (1.0 - courant) * corr;
}

// transfer q = F·dt/h through a face between cells a (west/south) and b, with aa beyond a and
// bb beyond b; `inside_a`/`inside_b` say whether a and b are grid cells
fn face_transfer(aa: f32, a: f32, b: f32, bb: f32, vel: f32, inv_h: f32, inside_a: bool, inside_b: bool) -> f32 {
    let courant = abs(vel) * params.dt * inv_h;
    var adv = 0.0;
    if (vel > 0.0) {
        if (inside_a) {
            var down = a;
            if (inside_b) {
                down = b;
            }
            adv = vel * face_value(aa, a, down, courant);
        }
    } else if (vel < 0.0) {
        if (inside_b) {
            var down = b;
            if (inside_a) {
                down = a;
            }
            adv = vel * face_value(bb, b, down, courant);
        }
    }
    var diff = 0.0;
    if (inside_a && inside_b) {
        diff = -params.kdiff * (b - a) * inv_h;
    }
    return (adv + diff) * (params.dt * inv_h);
}

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = i32(gid.x);
    let j = i32(gid.y);
    let p = gid.z;
    let nx = i32(params.nx);
    let ny = i32(params.ny);
    if (i >= nx || j >= ny || p >= params.np) {
        return;
    }
    let base = i32(p) * nx * ny;
    let row = base + j * nx;
    let x = state_in[row + i];
    let c = x.x;
    let axis = params.pass_flags & 1u;
    let last = (params.pass_flags & 2u) != 0u;
    var q_in = 0.0;
    var q_out = 0.0;
    // neighbours (hi parts) along the sweep, clamped: a clamped value is only used where the
    // cell exists or as a ghost equal to the edge cell
    if (axis == 0u) {
        let w1 = state_in[row + max(i - 1, 0)].x;
        let w2 = state_in[row + max(i - 2, 0)].x;
        let e1 = state_in[row + min(i + 1, nx - 1)].x;
        let e2 = state_in[row + min(i + 2, nx - 1)].x;
        let uw = u_face[j * (nx + 1) + i];
        let ue = u_face[j * (nx + 1) + i + 1];
        // west face: cells (i-1) | (i); east face: (i) | (i+1)
        q_in = face_transfer(w2, w1, c, e1, uw, params.inv_dx, i > 0, true);
        q_out = face_transfer(w1, c, e1, e2, ue, params.inv_dx, true, i < nx - 1);
    } else {
        let s1 = state_in[base + max(j - 1, 0) * nx + i].x;
        let s2 = state_in[base + max(j - 2, 0) * nx + i].x;
        let n1 = state_in[base + min(j + 1, ny - 1) * nx + i].x;
        let n2 = state_in[base + min(j + 2, ny - 1) * nx + i].x;
        let vs = v_face[j * nx + i];
        let vn = v_face[(j + 1) * nx + i];
        q_in = face_transfer(s2, s1, c, n1, vs, params.inv_dy, j > 0, true);
        q_out = face_transfer(s1, c, n1, n2, vn, params.inv_dy, true, j < ny - 1);
    }

    var y = ds_add(x, q_in);
    y = ds_add(y, -q_out);
    if (last) {
        let keep = params.keep[p / 4u][p % 4u];
        y = ds_mul(y, keep);
        let acc = integral[row + i];
        let add = params.dt * (y.x + y.y) - acc.y;
        let total = acc.x + add;
        integral[row + i] = vec2<f32>(total, (total - acc.x) - add);
    }
    state_out[row + i] = y;

    let nb = i32(p) * 2 * (nx + ny);
    if (axis == 0u) {
        if (i == 0) {
            add_outflow(nb + j, -q_in);
        }
        if (i == nx - 1) {
            add_outflow(nb + ny + j, q_out);
        }
    } else {
        if (j == 0) {
            add_outflow(nb + 2 * ny + i, -q_in);
        }
        if (j == ny - 1) {
            add_outflow(nb + 2 * ny + nx + i, q_out);
        }
    }
}
