// Mine ensemble output, per member and working place: CH4 (%) at the place's outlet cell into
// `samples` at output `P.out_idx`: 100·r/(1 + r), r = gas volume / cell volume. CPU twin:
// mine::ensemble::sample.

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> branches: array<Branch>;
@group(0) @binding(2) var<storage, read> volume: array<f32>;
@group(0) @binding(3) var<storage, read> flows: array<f32>;
@group(0) @binding(4) var<storage, read> places: array<u32>;
@group(0) @binding(5) var<storage, read> state: array<f32>;
@group(0) @binding(6) var<storage, read_write> samples: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat_index(gid, groups);
    if (i >= P.n_members * P.n_places) {
        return;
    }
    let m = i / P.n_places;
    let p = i % P.n_places;
    let b = places[p];
    let br = branches[b];
    var cell = br.first_cell;
    if (flows[m * P.n_branches + b] >= 0.0) {
        cell = br.first_cell + br.n_cells - 1u;
    }
    let r = state[m * P.n_cells + cell] / volume[b];
    samples[(P.out_idx * P.n_members + m) * P.n_places + p] = 100.0 * r / (1.0 + r);
}
