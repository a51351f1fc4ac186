// Kernel `poisson_smooth` of stage `poisson` (see poisson_common.wgsl): one colour of a
// red–black Gauss–Seidel sweep, ψ ← ψ + (b − Aψ) / 4, in place (a colour reads only the other
// one). CPU twin: `dispersion::cpu::poisson_smooth`.

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let j = gid.y;
    if (i >= params.nx || j >= params.ny || ((i + j) & 1u) != params.colour) {
        return;
    }
    let k = params.off + j * params.nx + i;
    psi[k] = i64_add(psi[k], i64_shr(residual(i32(i), i32(j)), 2u));
}
