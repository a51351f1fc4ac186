// Traffic stage 2, per node: signal state, origin demand, then the node model: every incoming
// row (links, and the origin queue as the last row) sends what it can (nothing on red); the
// Tampère et al. (2011) generic node model with capacity-proportional priorities gives each row
// the fraction that crosses — the most restrictive outgoing link holds the rows feeding it
// unless their whole demand fits, and supply left over goes to the others (flow-maximising,
// invariant); each row moves that fraction to every column it feeds (FIFO). The sink column
// takes everything. Entered and exited vehicles
// are counted exactly in 64-bit fixed point (integer adds survive any compiler). CPU twin: traffic::cpu::node_flows.

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> links: array<Link>;
@group(0) @binding(2) var<storage, read> nodes: array<Node>;
@group(0) @binding(3) var<storage, read> in_links: array<u32>;
@group(0) @binding(4) var<storage, read> out_links: array<u32>;
@group(0) @binding(5) var<storage, read> turns: array<vec2<f32>>;
@group(0) @binding(6) var<storage, read> demand: array<vec2<f32>>;
@group(0) @binding(7) var<storage, read> signals: array<Signal>;
@group(0) @binding(8) var<storage, read> phases: array<Phase>;
@group(0) @binding(9) var<storage, read> sr: array<vec2<f32>>;
@group(0) @binding(10) var<storage, read> state: array<vec2<f32>>;
@group(0) @binding(11) var<storage, read_write> out_flow: array<vec2<f32>>;
@group(0) @binding(12) var<storage, read_write> in_flow: array<vec2<f32>>;
@group(0) @binding(13) var<storage, read_write> queue: array<vec2<f32>>;
@group(0) @binding(14) var<storage, read_write> counters: array<vec4<u32>>;
@group(0) @binding(15) var<storage, read_write> signal_state: array<vec2<u32>>;
@group(0) @binding(16) var<storage, read> clock: array<u32>;

fn occupancy(li: u32) -> f32 {
    let l = links[li];
    var x = 0.0;
    for (var c = l.first_cell; c < l.first_cell + l.n_cells; c = c + 1u) {
        x = x + pce(state[c], P.truck_pce);
    }
    return x;
}

// Σ over the phase's approaches a of Q_a·(x_a − Σ_j β_aj x_j)
fn pressure(node: Node, mask: u32) -> f32 {
    let pt = P.truck_pce;
    let cols = node.n_out + 1u;
    var total = 0.0;
    for (var a = 0u; a < node.n_in; a = a + 1u) {
        if ((mask & (1u << a)) == 0u) {
            continue;
        }
        let li = in_links[node.in_off + a];
        let l = links[li];
        let share = per_pce(state[l.first_cell + l.n_cells - 1u], pt);
        var down = 0.0;
        for (var j = 0u; j < node.n_out; j = j + 1u) {
            let b = turns[node.turn_off + a * cols + j];
            let beta = share.x * b.x + pt * share.y * b.y;
            if (beta > 0.0) {
                down = down + beta * occupancy(out_links[node.out_off + j]);
            }
        }
        total = total + l.q_step * (occupancy(li) - down);
    }
    return total;
}

// approaches with green this step; advances the signal state
fn signal_mask(n: u32, node: Node, t_clock: u32) -> u32 {
    if (node.signal == NONE) {
        return 0xffffffffu;
    }
    let sig = signals[node.signal];
    if (sig.kind == 0u) {
        let t = (t_clock + sig.offset) % max(sig.cycle, 1u);
        var acc = 0u;
        for (var p = 0u; p < sig.n_phases; p = p + 1u) {
            let ph = phases[sig.phase_off + p];
            if (t < acc + ph.green) {
                return ph.mask;
            }
            acc = acc + ph.green + sig.lost;
            if (t < acc) {
                return 0u;
            }
        }
        return 0u;
    }
    var st = signal_state[n];
    if (st.y >= sig.lost + sig.min_green) {
        var best = st.x;
        var best_p = pressure(node, phases[sig.phase_off + st.x].mask);
        for (var p = 0u; p < sig.n_phases; p = p + 1u) {
            let pr = pressure(node, phases[sig.phase_off + p].mask);
            if (pr > best_p) {
                best = p;
                best_p = pr;
            }
        }
        if (best != st.x) {
            st = vec2<u32>(best, 0u);
        }
    }
    var mask = 0u;
    if (st.y >= sig.lost) {
        mask = phases[sig.phase_off + st.x].mask;
    }
    if (st.y < 0xffffffffu) {
        st.y = st.y + 1u;
    }
    signal_state[n] = st;
    return mask;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
    let n = flat_index(gid, groups);
    if (n >= P.n_nodes) {
        return;
    }
    let pt = P.truck_pce;
    let node = nodes[n];
    let n_in = node.n_in;
    let n_out = node.n_out;
    let cols = n_out + 1u;
    let mask = signal_mask(n, node, clock[0]);

    var q = queue[n];
    if (node.origin != NONE) {
        let period = clock[0] / max(P.steps_per_period, 1u);
        if (period < P.n_periods) {
            q = q + demand[node.origin * P.n_periods + period];
        }
    }
    var send: array<f32, MAX_DEG>;
    var mix: array<vec2<f32>, MAX_DEG>;
    for (var a = 0u; a < n_in; a = a + 1u) {
        let l = links[in_links[node.in_off + a]];
        let last = l.first_cell + l.n_cells - 1u;
        mix[a] = per_pce(state[last], pt);
        if ((mask & (1u << a)) != 0u) {
            send[a] = sr[last].x;
        } else {
            send[a] = 0.0;
        }
    }
    mix[n_in] = per_pce(q, pt);
    var cap = 0.0;
    for (var j = 0u; j < n_out; j = j + 1u) {
        cap = max(cap, links[out_links[node.out_off + j]].q_step);
    }
    send[n_in] = min(pce(q, pt), cap);

    // node model (Tampère et al. 2011, capacity-proportional priorities; the CPU twin
    // `traffic::cpu::node_model` explains the algorithm): PCE turning fractions, priorities
    // (in-link capacity; the origin row the largest outgoing one), supplies
    var beta: array<array<f32, MAX_DEG>, MAX_DEG>;
    var prio: array<f32, MAX_DEG>;
    var phi_of: array<f32, MAX_DEG>;
    var fixed: array<bool, MAX_DEG>;
    var done: array<bool, MAX_DEG>;
    var left_s: array<f32, MAX_DEG>;
    let n_rows = n_in + 1u;
    for (var a = 0u; a < n_rows; a = a + 1u) {
        for (var j = 0u; j < cols; j = j + 1u) {
            let b = turns[node.turn_off + a * cols + j];
            beta[a][j] = mix[a].x * b.x + pt * mix[a].y * b.y;
        }
        if (a < n_in) {
            prio[a] = links[in_links[node.in_off + a]].q_step;
        } else {
            prio[a] = cap;
        }
        phi_of[a] = 1.0;
        fixed[a] = send[a] <= 0.0;
    }
    for (var j = 0u; j < n_out; j = j + 1u) {
        left_s[j] = sr[links[out_links[node.out_off + j]].first_cell].y;
        done[j] = false;
    }
    for (var it = 0u; it < n_rows + n_out; it = it + 1u) {
        var best = MAX_DEG;
        var best_a = 0.0;
        for (var j = 0u; j < n_out; j = j + 1u) {
            if (done[j]) {
                continue;
            }
            var w = 0.0;
            for (var a = 0u; a < n_rows; a = a + 1u) {
                if (!fixed[a]) {
                    w = w + prio[a] * beta[a][j];
                }
            }
            if (w > 0.0) {
                let r = max(left_s[j], 0.0) / w;
                if (best == MAX_DEG || r < best_a) {
                    best_a = r;
                    best = j;
                }
            }
        }
        if (best == MAX_DEG) {
            break;
        }
        var some_whole = false;
        for (var a = 0u; a < n_rows; a = a + 1u) {
            if (!fixed[a] && beta[a][best] > 0.0 && send[a] <= best_a * prio[a]) {
                fixed[a] = true;
                some_whole = true;
                for (var j = 0u; j < n_out; j = j + 1u) {
                    left_s[j] = left_s[j] - beta[a][j] * send[a];
                }
            }
        }
        if (some_whole) {
            continue;
        }
        for (var a = 0u; a < n_rows; a = a + 1u) {
            if (!fixed[a] && beta[a][best] > 0.0) {
                let qa = best_a * prio[a];
                phi_of[a] = min(qa / send[a], 1.0);
                fixed[a] = true;
                for (var j = 0u; j < n_out; j = j + 1u) {
                    left_s[j] = left_s[j] - beta[a][j] * qa;
                }
            }
        }
        done[best] = true;
    }
    var into: array<vec2<f32>, MAX_DEG>;
    for (var j = 0u; j < cols; j = j + 1u) {
        into[j] = vec2<f32>(0.0, 0.0);
    }
    // FIFO per row: the same fraction to every column it feeds
    for (var a = 0u; a <= n_in; a = a + 1u) {
        let phi = phi_of[a];
        let y = phi * send[a];
        var left = vec2<f32>(0.0, 0.0);
        for (var j = 0u; j < cols; j = j + 1u) {
            let b = turns[node.turn_off + a * cols + j];
            let m = vec2<f32>(y * mix[a].x * b.x, y * mix[a].y * b.y);
            into[j] = into[j] + m;
            left = left + m;
        }
        if (a < n_in) {
            out_flow[node.in_off + a] = left;
        } else {
            q = q - left;
            let e = counters[2u * n];
            counters[2u * n] = vec4<u32>(count(e.xy, left.x), count(e.zw, left.y));
        }
    }
    for (var j = 0u; j < n_out; j = j + 1u) {
        in_flow[node.out_off + j] = into[j];
    }
    let x = counters[2u * n + 1u];
    counters[2u * n + 1u] = vec4<u32>(count(x.xy, into[n_out].x), count(x.zw, into[n_out].y));
    queue[n] = q;
}
