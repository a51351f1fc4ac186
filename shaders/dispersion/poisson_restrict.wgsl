// Kernel `poisson_restrict` of stage `poisson` (see poisson_common.wgsl): one invocation per
// coarse cell; its right-hand side is the sum of its (up to four) children's residuals
// b − Aψ, and its ψ starts at 0. CPU twin: `dispersion::cpu::poisson_restrict`.

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ci = gid.x;
    let cj = gid.y;
    if (ci >= params.nx_c || cj >= params.ny_c) {
        return;
    }
    var sum = vec2<u32>(0u, 0u);
    for (var dj = 0u; dj < 2u; dj++) {
        for (var di = 0u; di < 2u; di++) {
            let i = 2u * ci + di;
            let j = 2u * cj + dj;
            if (i < params.nx && j < params.ny) {
                sum = i64_add(sum, residual(i32(i), i32(j)));
            }
        }
    }
    let kc = params.off_c + cj * params.nx_c + ci;
    rhs[kc] = sum;
    psi[kc] = vec2<u32>(0u, 0u);
}
