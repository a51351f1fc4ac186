// Kernel `poisson_prolong` of stage `poisson` (see poisson_common.wgsl): one invocation per fine
// cell; adds the coarse correction interpolated bilinearly between the cell's parent and the
// three coarse cells nearest it (weights 9, 3, 3, 1 over 16; beyond the coarse level's edge its
// ghost values).
// CPU twin: `dispersion::cpu::poisson_prolong`.

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let j = gid.y;
    if (i >= params.nx || j >= params.ny) {
        return;
    }
    // an odd last row or column has no parent (the coarse level is rounded down): no correction
    if (i / 2u >= params.nx_c || j / 2u >= params.ny_c) {
        return;
    }
    let ci = i32(i / 2u);
    let cj = i32(j / 2u);
    // the neighbouring coarse cell on this child's side
    let si = select(-1, 1, (i & 1u) == 1u);
    let sj = select(-1, 1, (j & 1u) == 1u);
    let a = psi_at(ci, cj, params.nx_c, params.ny_c, params.off_c, params.ghost_c);
    let b = psi_at(ci + si, cj, params.nx_c, params.ny_c, params.off_c, params.ghost_c);
    let c = psi_at(ci, cj + sj, params.nx_c, params.ny_c, params.off_c, params.ghost_c);
    let d = psi_at(ci + si, cj + sj, params.nx_c, params.ny_c, params.off_c, params.ghost_c);
    // 9a + 3b + 3c + d
    let nine_a = i64_add(i64_shl(a, 3u), a);
    let bc = i64_add(b, c);
    let three_bc = i64_add(i64_shl(bc, 1u), bc);
    let total = i64_add(i64_add(nine_a, three_bc), d);
    let k = params.off + j * params.nx + i;
    psi[k] = i64_add(psi[k], i64_shr(total, 4u));
}
