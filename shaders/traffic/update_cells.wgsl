// Traffic stage 3, per cell: n' = n + in − out. Inside a link the flow between two cells is
// min(S_up, R_down), split by the sending cell's class mix (never more of a class than
// the cell holds); at the link ends the node flows
// are used. Accumulates vehicle-seconds and vehicle-metres per class for Edie's measures.
// Thread 0 advances the clock read by node_flows. CPU twin: traffic::cpu::update_cells.

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> links: array<Link>;
@group(0) @binding(2) var<storage, read> cell_link: array<u32>;
@group(0) @binding(3) var<storage, read> sr: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read> out_flow: array<vec2<f32>>;
@group(0) @binding(5) var<storage, read> in_flow: array<vec2<f32>>;
@group(0) @binding(6) var<storage, read> state: array<vec2<f32>>;
@group(0) @binding(7) var<storage, read_write> next: array<vec2<f32>>;
@group(0) @binding(8) var<storage, read_write> stats: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read_write> clock: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
    let c = flat_index(gid, groups);
    if (c == 0u) {
        clock[0] = clock[0] + 1u;
    }
    if (c >= P.n_cells) {
        return;
    }
    let pt = P.truck_pce;
    let l = links[cell_link[c]];
    let k = c - l.first_cell;
    let n = state[c];
    var inflow: vec2<f32>;
    if (k == 0u) {
        inflow = in_flow[l.out_slot];
    } else {
        let up = state[c - 1u];
        let y = min(sr[c - 1u].x, sr[c].y);
        let m = per_pce(up, pt);
        inflow = vec2<f32>(min(y * m.x, up.x), min(y * m.y, up.y));
    }
    var outflow: vec2<f32>;
    if (k + 1u == l.n_cells) {
        outflow = out_flow[l.in_slot];
    } else {
        let y = min(sr[c].x, sr[c + 1u].y);
        let m = per_pce(n, pt);
        outflow = vec2<f32>(min(y * m.x, n.x), min(y * m.y, n.y));
    }
    // no clamp at zero: it would create vehicles from rounding residues
    let v = vec2<f32>(n.x + inflow.x - outflow.x, n.y + inflow.y - outflow.y);
    next[c] = v;
    var acc = stats[c];
    acc.x = acc.x + v.x * P.dt;
    acc.y = acc.y + v.y * P.dt;
    acc.z = acc.z + outflow.x * l.cell_len;
    acc.w = acc.w + outflow.y * l.cell_len;
    stats[c] = acc;
}
