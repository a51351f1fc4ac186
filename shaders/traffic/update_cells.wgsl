// Traffic stage 3, per cell and commodity: n' = n + in − out. Inside a link the flow between
// two cells is min(S_up, R_down), split by the sending cell's shares (r_k·n_k / Σ r·pce·n, each
// class at its own send ratio; never more of a commodity than the cell holds); at the link
// ends the node flows are used. Accumulates vehicle-seconds and vehicle-metres per class for
// Edie's measures. Thread 0 advances the clock read by node_flows. CPU twin:
// traffic::cpu::update_cells.

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> links: array<Link>;
@group(0) @binding(2) var<storage, read> cell_link: array<u32>;
@group(0) @binding(3) var<storage, read> sr: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read> out_flow: array<f32>;
@group(0) @binding(5) var<storage, read> in_flow: array<f32>;
@group(0) @binding(6) var<storage, read> state: array<f32>;
@group(0) @binding(7) var<storage, read_write> next: array<f32>;
@group(0) @binding(8) var<storage, read_write> stats: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read_write> clock: array<u32>;

// Σ_k r_k·pce_k·max(n_k, 0) of the cell starting at `base`
fn potential(l: Link, base: u32) -> f32 {
    var t = 0.0;
    for (var k = 0u; k < P.n_comm; k = k + 1u) {
        t = t + class_ratio(P, l, k) * comm_pce(P, k) * max(state[base + k], 0.0);
    }
    return t;
}

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
    let kk = P.n_comm;
    let l = links[cell_link[c]];
    let pos = c - l.first_cell;
    let base = c * kk;
    var y_in = 0.0;
    var t_up = 0.0;
    if (pos != 0u) {
        y_in = min(sr[c - 1u].x, sr[c].y);
        t_up = potential(l, base - kk);
    }
    var y_out = 0.0;
    var t_own = 0.0;
    if (pos + 1u != l.n_cells) {
        y_out = min(sr[c].x, sr[c + 1u].y);
        t_own = potential(l, base);
    }
    var acc = stats[c];
    for (var k = 0u; k < kk; k = k + 1u) {
        let nk = state[base + k];
        var inflow: f32;
        if (pos == 0u) {
            inflow = in_flow[l.out_slot * kk + k];
        } else {
            let up = max(state[base - kk + k], 0.0);
            var share = 0.0;
            if (t_up > 0.0) {
                share = class_ratio(P, l, k) * up / t_up;
            }
            inflow = min(y_in * share, up);
        }
        var outflow: f32;
        if (pos + 1u == l.n_cells) {
            outflow = out_flow[l.in_slot * kk + k];
        } else {
            var share = 0.0;
            if (t_own > 0.0) {
                share = class_ratio(P, l, k) * max(nk, 0.0) / t_own;
            }
            outflow = min(y_out * share, max(nk, 0.0));
        }
        // no clamp at zero: it would create vehicles from rounding residues
        let v = nk + inflow - outflow;
        next[base + k] = v;
        if (class_of(P, k) == 0u) {
            acc.x = acc.x + v * P.dt;
            acc.z = acc.z + outflow * l.cell_len;
        } else {
            acc.y = acc.y + v * P.dt;
            acc.w = acc.w + outflow * l.cell_len;
        }
    }
    stats[c] = acc;
}
