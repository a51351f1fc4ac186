// Traffic stage 1, per cell: what it can send, min(v_f·Δt/ℓ · n, Q·Δt), and receive,
// min(Q·Δt, w·Δt/ℓ · (N − n)), in PCE. CPU twin: traffic::cpu::sending_receiving.

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> links: array<Link>;
@group(0) @binding(2) var<storage, read> cell_link: array<u32>;
@group(0) @binding(3) var<storage, read> state: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read_write> sr: array<vec2<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
    let c = flat_index(gid, groups);
    if (c >= P.n_cells) {
        return;
    }
    let l = links[cell_link[c]];
    let n = pce(state[c], P.truck_pce);
    let s = min(l.send_ratio * n, l.q_step);
    let r = min(l.q_step, l.recv_ratio * max(l.jam_cell - n, 0.0));
    sr[c] = vec2<f32>(s, r);
}
