// Traffic stage 1, per cell: what it can send, min(Σ_k v_k·Δt/ℓ · pce_k·n_k, Q·Δt) (each
// class at its own free-flow speed), and receive, min(Q·Δt, w·Δt/ℓ · (N − n)), in PCE.
// CPU twin: traffic::cpu::sending_receiving.

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> links: array<Link>;
@group(0) @binding(2) var<storage, read> cell_link: array<u32>;
@group(0) @binding(3) var<storage, read> state: array<f32>;
@group(0) @binding(4) var<storage, read_write> sr: array<vec2<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
    let c = flat_index(gid, groups);
    if (c >= P.n_cells) {
        return;
    }
    let l = links[cell_link[c]];
    let base = c * P.n_comm;
    var n = 0.0;
    var pot = 0.0;
    for (var k = 0u; k < P.n_comm; k = k + 1u) {
        let v = state[base + k];
        n = n + comm_pce(P, k) * v;
        pot = pot + class_ratio(P, l, k) * comm_pce(P, k) * max(v, 0.0);
    }
    n = max(n, 0.0);
    let s = min(pot, l.q_step);
    let r = min(l.q_step, l.recv_ratio * max(l.jam_cell - n, 0.0));
    sr[c] = vec2<f32>(s, r);
}
