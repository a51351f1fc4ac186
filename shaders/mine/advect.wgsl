// Mine ensemble stage 1, per member and branch: first-order upwind transport along its cells
// (Courant number |Q|·dt/V_cell ≤ 1, one thread owns the branch's cells), then the sources'
// gas of the step into the upstream cell; what left the last cell goes to `outflux` for the
// mixing stage. CPU twin: mine::ensemble::advect.

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> branches: array<Branch>;
@group(0) @binding(2) var<storage, read> volume: array<f32>;
@group(0) @binding(3) var<storage, read> flows: array<f32>;
@group(0) @binding(4) var<storage, read> rates: array<f32>;
@group(0) @binding(5) var<storage, read_write> state: array<f32>;
@group(0) @binding(6) var<storage, read_write> outflux: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat_index(gid, groups);
    if (i >= P.n_members * P.n_branches) {
        return;
    }
    let m = i / P.n_branches;
    let b = i % P.n_branches;
    let br = branches[b];
    let q = flows[i];
    let frac = abs(q) * P.dt / volume[b];
    let mb = P.n_members * P.n_branches;
    for (var g = 0u; g < 2u; g = g + 1u) {
        let base = g * P.n_members * P.n_cells + m * P.n_cells + br.first_cell;
        let last = base + br.n_cells - 1u;
        var leaving = 0.0;
        if (q > 0.0) {
            var carried = state[last] * frac;
            state[last] = state[last] - carried;
            leaving = carried;
            for (var k = br.n_cells - 1u; k > 0u; k = k - 1u) {
                carried = state[base + k - 1u] * frac;
                state[base + k - 1u] = state[base + k - 1u] - carried;
                state[base + k] = state[base + k] + carried;
            }
        } else if (q < 0.0) {
            var carried = state[base] * frac;
            state[base] = state[base] - carried;
            leaving = carried;
            for (var k = 1u; k < br.n_cells; k = k + 1u) {
                carried = state[base + k] * frac;
                state[base + k] = state[base + k] - carried;
                state[base + k - 1u] = state[base + k - 1u] + carried;
            }
        }
        // the sources' release over the step ends in the upstream cell
        let src = rates[i * 2u + g] * P.dt;
        if (q >= 0.0) {
            state[base] = state[base] + src;
        } else {
            state[last] = state[last] + src;
        }
        outflux[g * mb + i] = leaving;
    }
}
