// Mine ensemble stage 2, per member and branch: full mixing at the branch's upstream junction —
// the gas arriving there this step (from `outflux` of the branches flowing into it) enters the
// branch's first cell in proportion to its share of the junction's outgoing airflow. Gas
// arriving at the atmosphere leaves the mine. CPU twin: mine::ensemble::mix.

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> branches: array<Branch>;
@group(0) @binding(2) var<storage, read> flows: array<f32>;
@group(0) @binding(3) var<storage, read> outflux: array<f32>;
@group(0) @binding(4) var<storage, read> node_start: array<u32>;
@group(0) @binding(5) var<storage, read> node_branch: array<u32>;
@group(0) @binding(6) var<storage, read_write> state: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat_index(gid, groups);
    if (i >= P.n_members * P.n_branches) {
        return;
    }
    let m = i / P.n_branches;
    let b = i % P.n_branches;
    let q = flows[i];
    if (q == 0.0) {
        return;
    }
    let br = branches[b];
    var u = br.to_node;
    if (q > 0.0) {
        u = br.from_node;
    }
    if (u == P.atmosphere) {
        return;
    }
    let mb = P.n_members * P.n_branches;
    var arrive0 = 0.0;
    var arrive1 = 0.0;
    var out_sum = 0.0;
    for (var k = node_start[u]; k < node_start[u + 1u]; k = k + 1u) {
        let j = node_branch[k];
        let qj = flows[m * P.n_branches + j];
        let bj = branches[j];
        let inflow = (qj > 0.0 && bj.to_node == u) || (qj < 0.0 && bj.from_node == u);
        let outflow = (qj > 0.0 && bj.from_node == u) || (qj < 0.0 && bj.to_node == u);
        if (inflow) {
            arrive0 = arrive0 + outflux[m * P.n_branches + j];
            arrive1 = arrive1 + outflux[mb + m * P.n_branches + j];
        }
        if (outflow) {
            out_sum = out_sum + abs(qj);
        }
    }
    let share = abs(q) / out_sum;
    var head = m * P.n_cells + br.first_cell;
    if (q < 0.0) {
        head = head + br.n_cells - 1u;
    }
    state[head] = state[head] + arrive0 * share;
    let g1 = P.n_members * P.n_cells + head;
    state[g1] = state[g1] + arrive1 * share;
}
