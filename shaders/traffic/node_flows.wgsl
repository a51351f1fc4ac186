// Traffic stage 2, per node: signal state, origin demand, then the node model: every incoming
// row (links, and the origin queue as the last row) sends what it can (nothing on red); the
// Tampère et al. (2011) generic node model with capacity-proportional priorities gives each row
// the fraction that crosses — the most restrictive outgoing link holds the rows feeding it
// unless their whole demand fits, and supply left over goes to the others (flow-maximising,
// invariant); each row moves that fraction to every column it feeds (FIFO), each commodity
// (class × destination) by its share of the row's sending flow and its own turning fraction of
// the current routing slice. The sink column takes everything. Entered and exited vehicles
// are counted exactly in 64-bit fixed point (integer adds survive any compiler). CPU twin:
// traffic::cpu::node_flows.

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> links: array<Link>;
@group(0) @binding(2) var<storage, read> nodes: array<Node>;
@group(0) @binding(3) var<storage, read> in_links: array<u32>;
@group(0) @binding(4) var<storage, read> out_links: array<u32>;
@group(0) @binding(5) var<storage, read> turns: array<f32>;
@group(0) @binding(6) var<storage, read> demand: array<f32>;
@group(0) @binding(7) var<storage, read> signals: array<Signal>;
@group(0) @binding(8) var<storage, read> phases: array<Phase>;
@group(0) @binding(9) var<storage, read> sr: array<vec2<f32>>;
@group(0) @binding(10) var<storage, read> state: array<f32>;
@group(0) @binding(11) var<storage, read_write> out_flow: array<f32>;
@group(0) @binding(12) var<storage, read_write> in_flow: array<f32>;
@group(0) @binding(13) var<storage, read_write> queue: array<f32>;
@group(0) @binding(14) var<storage, read_write> counters: array<vec4<u32>>;
@group(0) @binding(15) var<storage, read_write> signal_state: array<vec2<u32>>;
@group(0) @binding(16) var<storage, read> clock: array<u32>;

fn cell_pce(c: u32) -> f32 {
    var t = 0.0;
    for (var k = 0u; k < P.n_comm; k = k + 1u) {
        t = t + comm_pce(P, k) * state[c * P.n_comm + k];
    }
    return max(t, 0.0);
}

fn occupancy(li: u32) -> f32 {
    let l = links[li];
    var x = 0.0;
    for (var c = l.first_cell; c < l.first_cell + l.n_cells; c = c + 1u) {
        x = x + cell_pce(c);
    }
    return x;
}

fn storage_of(l: Link) -> f32 {
    return max(l.jam_cell * f32(l.n_cells), 1e-6);
}

// Σ_k r_k·pce_k·max(n_k, 0) of cell c of link l (traffic::cpu::send_potential)
fn cell_total(l: Link, c: u32) -> f32 {
    var t = 0.0;
    for (var k = 0u; k < P.n_comm; k = k + 1u) {
        t = t + class_ratio(P, l, k) * comm_pce(P, k) * max(state[c * P.n_comm + k], 0.0);
    }
    return t;
}

// PCE turning fraction of a link row (its last cell c, total t) to table entry e
fn cell_beta(l: Link, c: u32, t: f32, e: u32) -> f32 {
    var b = 0.0;
    for (var k = 0u; k < P.n_comm; k = k + 1u) {
        var s = 0.0;
        if (t > 0.0) {
            s = class_ratio(P, l, k) * max(state[c * P.n_comm + k], 0.0) / t;
        }
        if (s > 0.0) {
            b = b + s * comm_pce(P, k) * turns[e * P.n_comm + k];
        }
    }
    return b;
}

// Σ over the phase's approaches a of Q_a·(x_a/N_a − Σ_j β_aj x_j/N_j) (storage-normalised);
// an approach served for some movements only: Q_a·(g_a·x_a/N_a − Σ_{j green} β_aj x_j/N_j)
fn pressure(node: Node, pi: u32, turn0: u32) -> f32 {
    let cols = node.n_out + 1u;
    let full = full_cols(node.n_out);
    let mask = phases[pi].mask;
    var total = 0.0;
    for (var a = 0u; a < node.n_in; a = a + 1u) {
        if ((mask & (1u << a)) == 0u) {
            continue;
        }
        let allowed = phases[pi].cols[a];
        let li = in_links[node.in_off + a];
        let l = links[li];
        let last = l.first_cell + l.n_cells - 1u;
        let t = cell_total(l, last);
        var down = 0.0;
        for (var j = 0u; j < node.n_out; j = j + 1u) {
            let beta = cell_beta(l, last, t, turn0 + node.turn_off + a * cols + j);
            if (beta > 0.0 && (allowed & (1u << j)) != 0u) {
                let lj = out_links[node.out_off + j];
                down = down + beta * occupancy(lj) / storage_of(links[lj]);
            }
        }
        let up = occupancy(li) / storage_of(l);
        if ((allowed & full) == full) {
            total = total + l.q_step * (up - down);
        } else {
            var g = 0.0;
            for (var j = 0u; j < cols; j = j + 1u) {
                if ((allowed & (1u << j)) != 0u) {
                    g = g + cell_beta(l, last, t, turn0 + node.turn_off + a * cols + j);
                }
            }
            total = total + l.q_step * (g * up - down);
        }
    }
    return total;
}

// approaches with green this step and the phase giving it (NONE: unsignalised or between
// phases); advances the signal state
fn signal_mask(n: u32, node: Node, t_clock: u32, turn0: u32) -> vec2<u32> {
    if (node.signal == NONE) {
        return vec2<u32>(0xffffffffu, NONE);
    }
    let sig = signals[node.signal];
    if (sig.kind == 0u) {
        let t = (t_clock + sig.offset) % max(sig.cycle, 1u);
        var acc = 0u;
        for (var p = 0u; p < sig.n_phases; p = p + 1u) {
            let green = phases[sig.phase_off + p].green;
            if (t < acc + green) {
                return vec2<u32>(phases[sig.phase_off + p].mask, sig.phase_off + p);
            }
            acc = acc + green + sig.lost;
            if (t < acc) {
                return vec2<u32>(0u, NONE);
            }
        }
        return vec2<u32>(0u, NONE);
    }
    var st = signal_state[n];
    if (st.y >= sig.lost + sig.min_green) {
        var best = st.x;
        var best_p = pressure(node, sig.phase_off + st.x, turn0);
        for (var p = 0u; p < sig.n_phases; p = p + 1u) {
            let pr = pressure(node, sig.phase_off + p, turn0);
            if (pr > best_p) {
                best = p;
                best_p = pr;
            }
        }
        if (best != st.x) {
            st = vec2<u32>(best, 0u);
        }
    }
    var out = vec2<u32>(0u, NONE);
    if (st.y >= sig.lost) {
        out = vec2<u32>(phases[sig.phase_off + st.x].mask, sig.phase_off + st.x);
    }
    if (st.y < 0xffffffffu) {
        st.y = st.y + 1u;
    }
    signal_state[n] = st;
    return out;
}

// the columns row a has green for (all unless the phase serves single movements of it)
fn allowed_cols(phase: u32, a: u32, n_in: u32) -> u32 {
    if (phase == NONE || a >= n_in) {
        return 0xffffffffu;
    }
    return phases[phase].cols[a];
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
    let n = flat_index(gid, groups);
    if (n >= P.n_nodes) {
        return;
    }
    let kk = P.n_comm;
    let node = nodes[n];
    let n_in = node.n_in;
    let n_out = node.n_out;
    let cols = n_out + 1u;
    let slice = min(clock[0] / max(P.steps_per_slice, 1u), max(P.n_slices, 1u) - 1u);
    let turn0 = slice * P.n_turn_entries;
    let sm = signal_mask(n, node, clock[0], turn0);
    let mask = sm.x;
    let phase = sm.y;
    let full = full_cols(n_out);

    // origin queue (with this step's demand) in private memory
    var q0: array<f32, MAX_COMM>;
    let qb = n * kk;
    for (var k = 0u; k < kk; k = k + 1u) {
        q0[k] = queue[qb + k];
    }
    if (node.origin != NONE) {
        let period = clock[0] / max(P.steps_per_period, 1u);
        if (period < P.n_periods) {
            let d0 = (node.origin * P.n_periods + period) * kk;
            for (var k = 0u; k < kk; k = k + 1u) {
                q0[k] = q0[k] + demand[d0 + k];
            }
        }
    }
    var q_pce = 0.0;
    for (var k = 0u; k < kk; k = k + 1u) {
        q_pce = q_pce + comm_pce(P, k) * q0[k];
    }
    q_pce = max(q_pce, 0.0);

    var send: array<f32, MAX_DEG>;
    var total: array<f32, MAX_DEG>;
    for (var a = 0u; a < n_in; a = a + 1u) {
        let l = links[in_links[node.in_off + a]];
        let last = l.first_cell + l.n_cells - 1u;
        if ((mask & (1u << a)) != 0u) {
            send[a] = sr[last].x;
        } else {
            send[a] = 0.0;
        }
    }
    var cap = 0.0;
    for (var j = 0u; j < n_out; j = j + 1u) {
        cap = max(cap, links[out_links[node.out_off + j]].q_step);
    }
    send[n_in] = min(q_pce, cap);

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
        if (a < n_in) {
            let l = links[in_links[node.in_off + a]];
            let last = l.first_cell + l.n_cells - 1u;
            total[a] = cell_total(l, last);
            for (var j = 0u; j < cols; j = j + 1u) {
                beta[a][j] = cell_beta(l, last, total[a], turn0 + node.turn_off + a * cols + j);
            }
            prio[a] = l.q_step;
            if ((node.minor_mask & (1u << a)) != 0u) {
                prio[a] = l.q_step * MINOR_PRIORITY;
            }
        } else {
            total[a] = q_pce;
            for (var j = 0u; j < cols; j = j + 1u) {
                let e = turn0 + node.turn_off + a * cols + j;
                var b = 0.0;
                for (var k = 0u; k < kk; k = k + 1u) {
                    var s = 0.0;
                    if (q_pce > 0.0) {
                        s = max(q0[k], 0.0) / q_pce;
                    }
                    if (s > 0.0) {
                        b = b + s * comm_pce(P, k) * turns[e * kk + k];
                    }
                }
                beta[a][j] = b;
            }
            prio[a] = cap;
        }
        phi_of[a] = 1.0;
        fixed[a] = send[a] <= 0.0;
    }
    for (var j = 0u; j < n_out; j = j + 1u) {
        left_s[j] = sr[links[out_links[node.out_off + j]].first_cell].y;
        done[j] = false;
    }
    // a row with green for some movements only (a protected turn): the red movements wait in
    // the last cell (a turn pocket) without taking the others' discharge; the row offers
    // min(g·T, Q), T its send potential, g the PCE share of it bound for green columns
    var whole: array<f32, MAX_DEG>;
    for (var a = 0u; a < n_rows; a = a + 1u) {
        whole[a] = 0.0;
    }
    for (var a = 0u; a < n_in; a = a + 1u) {
        let al = allowed_cols(phase, a, n_in);
        if ((al & full) != full && send[a] > 0.0) {
            var g = 0.0;
            for (var j = 0u; j < cols; j = j + 1u) {
                if ((al & (1u << j)) != 0u) {
                    g = g + beta[a][j];
                }
            }
            let offered = min(g * total[a], links[in_links[node.in_off + a]].q_step);
            whole[a] = 0.0;
            if (g > 0.0) {
                whole[a] = offered / g;
            }
            for (var j = 0u; j < cols; j = j + 1u) {
                if ((al & (1u << j)) != 0u && g > 0.0) {
                    beta[a][j] = beta[a][j] / g;
                } else {
                    beta[a][j] = 0.0;
                }
            }
            send[a] = offered;
        }
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
    for (var j = 0u; j < n_out; j = j + 1u) {
        for (var k = 0u; k < kk; k = k + 1u) {
            in_flow[(node.out_off + j) * kk + k] = 0.0;
        }
    }
    // FIFO per row: the same fraction to every column it feeds, each commodity by its share
    var entered = vec2<f32>(0.0, 0.0);
    var exited = vec2<f32>(0.0, 0.0);
    for (var a = 0u; a <= n_in; a = a + 1u) {
        let restricted = whole[a] > 0.0;
        var y = phi_of[a] * send[a];
        if (restricted) {
            y = phi_of[a] * whole[a];
        }
        let al = allowed_cols(phase, a, n_in);
        var l: Link;
        var last = 0u;
        if (a < n_in) {
            l = links[in_links[node.in_off + a]];
            last = l.first_cell + l.n_cells - 1u;
        }
        for (var k = 0u; k < kk; k = k + 1u) {
            var sh = 0.0;
            if (total[a] > 0.0) {
                if (a < n_in) {
                    sh = class_ratio(P, l, k) * max(state[last * kk + k], 0.0) / total[a];
                } else {
                    sh = max(q0[k], 0.0) / total[a];
                }
            }
            var left = 0.0;
            for (var j = 0u; j < cols; j = j + 1u) {
                var b = 0.0;
                if (!restricted || (al & (1u << j)) != 0u) {
                    b = turns[(turn0 + node.turn_off + a * cols + j) * kk + k];
                }
                let m = y * sh * b;
                if (j < n_out) {
                    let at = (node.out_off + j) * kk + k;
                    in_flow[at] = in_flow[at] + m;
                } else {
                    exited[class_of(P, k)] = exited[class_of(P, k)] + m;
                }
                left = left + m;
            }
            if (a < n_in) {
                out_flow[(node.in_off + a) * kk + k] = left;
            } else {
                entered[class_of(P, k)] = entered[class_of(P, k)] + left;
                queue[qb + k] = q0[k] - left;
            }
        }
    }
    let e = counters[2u * n];
    counters[2u * n] = vec4<u32>(count(e.xy, entered.x), count(e.zw, entered.y));
    let x = counters[2u * n + 1u];
    counters[2u * n + 1u] = vec4<u32>(count(x.xy, exited.x), count(x.zw, exited.y));
}
