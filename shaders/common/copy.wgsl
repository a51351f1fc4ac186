// Stage `copy`: dst = src, one vec4 per invocation. Used to measure the device's achievable
// memory bandwidth, the denominator of every kernel's roofline share.

struct CopyParams {
    n_vec4: u32,
    row_width: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: CopyParams;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let k = gid.y * params.row_width + gid.x;
    if (k < params.n_vec4) {
        dst[k] = src[k];
    }
}
