// Stage `emit`: adds each source's emission for one time step to its cell, in place.
// One invocation per (source cell, pollutant) of every member of the batch (batch_common.wgsl)
// that steps in this round. The dispatch folds beyond 65,535 workgroups into
// a second dimension (gpu::groups_2d): the flat index is gid.y · groups.x · 64 + gid.x.
//
// The concentration state is fixed point, value · 2^-32 µg/m³ (see transport.wgsl); the host
// rounds each source's step amount to that unit once per interval, so the add is exact.
// `i64_add` comes from common/fixed64.wgsl and `BatchStep` from dispersion/batch_common.wgsl,
// prepended when the stage is embedded.
// The CPU twin is `dispersion::cpu::emit`.

struct Source {
    // linear cell index (j * nx + i)
    cell: u32,
    // plane: member · np + pollutant
    pollutant: u32,
    // amount added per step, units of 2^-32 µg/m³, (lo, hi)
    amount: vec2<u32>,
}

@group(0) @binding(0) var<uniform> params: BatchStep;
// batch_common.wgsl: [0] the number of emitting cells, the round flags
@group(0) @binding(1) var<storage, read> control: array<u32>;
@group(0) @binding(2) var<storage, read> sources: array<Source>;
@group(0) @binding(3) var<storage, read_write> state: array<vec2<u32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
    let k = gid.y * groups.x * 64u + gid.x;
    if (k >= control[0]) {
        return;
    }
    let s = sources[k];
    let m = s.pollutant / params.np;
    if ((control[params.flags_at + params.round * params.members + m] & 1u) == 0u) {
        return;
    }
    let idx = s.pollutant * params.nx * params.ny + s.cell;
    state[idx] = i64_add(state[idx], s.amount);
}
