// Stage `emit`: adds each source's emission for one time step to its cell, in place.
// One invocation per (source cell, pollutant). The dispatch folds beyond 65,535 workgroups into
// a second dimension (gpu::groups_2d): the flat index is gid.y · groups.x · 64 + gid.x.
//
// The concentration state is double-single: (hi, lo) with value hi + lo, so that the small
// increments of a step are not rounded away against a large concentration (see transport.wgsl).
// `ds_add` comes from common/double_single.wgsl, prepended when the stage is embedded.

struct EmitParams {
    nx: u32,
    ny: u32,
    np: u32,
    n_sources: u32,
    dt: f32,
    _pad0: f32,
    _pad1: f32,
    _pad2: f32,
}

struct Source {
    // linear cell index (j * nx + i)
    cell: u32,
    pollutant: u32,
    // concentration rate, µg/m³/s
    rate: f32,
    _pad: f32,
}

@group(0) @binding(0) var<uniform> params: EmitParams;
@group(0) @binding(1) var<storage, read> sources: array<Source>;
@group(0) @binding(2) var<storage, read_write> state: array<vec2<f32>>;


@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
    let k = gid.y * groups.x * 64u + gid.x;
    if (k >= params.n_sources) {
        return;
    }
    let s = sources[k];
    let idx = s.pollutant * params.nx * params.ny + s.cell;
    state[idx] = ds_add(state[idx], params.dt * s.rate);
}
