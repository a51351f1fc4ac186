// Stage `sample_stations`: bilinear sample of every pollutant at every station, written to row
// `slot` of the output (so many output times can be gathered before one readback).

struct SampleParams {
    nx: u32,
    ny: u32,
    np: u32,
    n_stations: u32,
    slot: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

struct StationPoint {
    // continuous cell coordinates: cell (i, j) centre is at (i, j)
    fx: f32,
    fy: f32,
    _pad0: f32,
    _pad1: f32,
}

@group(0) @binding(0) var<uniform> params: SampleParams;
@group(0) @binding(1) var<storage, read> stations: array<StationPoint>;
// double-single state (hi, lo)
@group(0) @binding(2) var<storage, read> state: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> samples: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = gid.x;
    let p = gid.y;
    if (s >= params.n_stations || p >= params.np) {
        return;
    }
    let st = stations[s];
    let nx = params.nx;
    let ny = params.ny;
    let fx = clamp(st.fx, 0.0, f32(nx - 1u));
    let fy = clamp(st.fy, 0.0, f32(ny - 1u));
    let i0 = u32(floor(fx));
    let j0 = u32(floor(fy));
    let i1 = min(i0 + 1u, nx - 1u);
    let j1 = min(j0 + 1u, ny - 1u);
    let tx = fx - f32(i0);
    let ty = fy - f32(j0);
    let base = p * nx * ny;
    let c00s = state[base + j0 * nx + i0];
    let c00 = c00s.x + c00s.y;
    let c10s = state[base + j0 * nx + i1];
    let c10 = c10s.x + c10s.y;
    let c01s = state[base + j1 * nx + i0];
    let c01 = c01s.x + c01s.y;
    let c11s = state[base + j1 * nx + i1];
    let c11 = c11s.x + c11s.y;
    let bottom = c00 * (1.0 - tx) + c10 * tx;
    let top = c01 * (1.0 - tx) + c11 * tx;
    samples[(params.slot * params.n_stations + s) * params.np + p] = bottom * (1.0 - ty) + top * ty;
}
