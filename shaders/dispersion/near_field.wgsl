// Stage `near_field`: the ground-level (receptor-height) concentration of every near-field plume
// at every receptor, for one output interval. One invocation per receptor; it sums, in list
// order, the plumes listed for its tile (grid receptors) or every plume (stations, receptors).
//
// Each plume is a steady Gaussian plume (Briggs 1973 open-country σ for its stability class,
// initial σy0/σz0 in quadrature, Briggs' gradual rise capped at the final rise, reflections at
// the ground and the lid by image sources), fading linearly to zero between x_fade and x_end
// where its mass is handed to the grid. See engine/src/dispersion/near.rs, whose `near_field`
// and `plume_factor` are the CPU twin: the same f32 arithmetic in the same order.

struct NearParams {
    n_receptors: u32,
    np: u32,
    tiles_x: u32,
    n_plumes: u32,
}

struct NearPlume {
    x: f32,
    y: f32,
    cx: f32,
    cy: f32,
    // wind at 10 m; the transport wind at the plume's height follows from the power law
    u10: f32,
    hs: f32,
    rise_k: f32,
    rise_max: f32,
    sy0: f32,
    sz0: f32,
    lid: f32,
    x_fade: f32,
    x_end: f32,
    ky: f32,
    stab: u32,
    rate0: u32,
    p: f32,
    // random (meander) fraction, 0 in winds above about 2 m/s
    fr: f32,
    _pad0: f32,
    _pad1: f32,
}

struct NearReceptor {
    x: f32,
    y: f32,
    z: f32,
    tile: u32,
}

@group(0) @binding(0) var<uniform> params: NearParams;
@group(0) @binding(1) var<storage, read> receptors: array<NearReceptor>;
@group(0) @binding(2) var<storage, read> plumes: array<NearPlume>;
// µg/s per plume and pollutant (a plume's rates start at its rate0)
@group(0) @binding(3) var<storage, read> rates: array<f32>;
// per tile, the range of its plume list in tile_plumes (n_tiles + 1 entries)
@group(0) @binding(4) var<storage, read> tile_start: array<u32>;
@group(0) @binding(5) var<storage, read> tile_plumes: array<u32>;
// µg/m³ per receptor and pollutant
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

const MAX_IMAGES: i32 = 16;
const TAU: f32 = 6.283185307179586;

fn sigma_y(stab: u32, x: f32) -> f32 {
    var a = 0.04;
    switch stab {
        case 0u: { a = 0.22; }
        case 1u: { a = 0.16; }
        case 2u: { a = 0.11; }
        case 3u: { a = 0.08; }
        case 4u: { a = 0.06; }
        default: { a = 0.04; }
    }
    return a * x / sqrt(1.0 + 0.0001 * x);
}

fn sigma_z(stab: u32, x: f32) -> f32 {
    switch stab {
        case 0u: { return 0.20 * x; }
        case 1u: { return 0.12 * x; }
        case 2u: { return 0.08 * x / sqrt(1.0 + 0.0002 * x); }
        case 3u: { return 0.06 * x / sqrt(1.0 + 0.0015 * x); }
        case 4u: { return 0.03 * x / (1.0 + 0.0003 * x); }
        default: { return 0.016 * x / (1.0 + 0.0003 * x); }
    }
}

// lateral turbulence for the meander share, m/s (AERMOD's minimum)
const SIGMA_V: f32 = 0.2;

struct Distance {
    sz: f32,
    u: f32,
    v: f32,
    w: f32,
}

// what depends on distance only: σz with σz0, the risen height, the transport wind at the
// plume's height (its centre, or σz·√(2/π) near the ground, ≥ 2 m), the reflected vertical
// term at height rz, and the fade weight
fn at_distance(p: NearPlume, x: f32, rz: f32) -> Distance {
    let szb = sigma_z(p.stab, x);
    let sz = sqrt(szb * szb + p.sz0 * p.sz0);
    let he = p.hs + min(p.rise_k * pow(x, 2.0 / 3.0), p.rise_max);
    let zt = max(max(he, 0.7978846 * sz), 2.0);
    let u = p.u10 * pow(zt / 10.0, p.p);
    let n = min(i32(ceil((7.5 * sz) / (2.0 * p.lid))) + 1, MAX_IMAGES);
    let inv2 = 1.0 / (2.0 * sz * sz);
    var v = 0.0;
    for (var k = -n; k <= n; k++) {
        let shift = 2.0 * f32(k) * p.lid;
        let a = rz - he + shift;
        let b = rz + he + shift;
        v += exp(-a * a * inv2) + exp(-b * b * inv2);
    }
    var w = 1.0;
    if (x > p.x_fade) {
        w = (p.x_end - x) / (p.x_end - p.x_fade);
    }
    return Distance(sz, u, v, w);
}

// concentration per unit emission rate, s/m³: the coherent plume weighted 1 - fr, plus in
// light winds AERMOD's random (meander) plume spread evenly round the source, weighted fr and
// carried by sqrt(u² + 2σv²) (Cimorelli et al. 2005)
fn plume_factor(p: NearPlume, rx: f32, ry: f32, rz: f32) -> f32 {
    let dx = rx - p.x;
    let dy = ry - p.y;
    var f = 0.0;
    let xd = dx * p.cx + dy * p.cy;
    if (xd > 0.0 && xd < p.x_end) {
        let yc = dy * p.cx - dx * p.cy;
        var syb = sigma_y(p.stab, xd);
        if (p.ky > 0.0) {
            syb = sqrt(p.ky * xd);
        }
        let sy = sqrt(syb * syb + p.sy0 * p.sy0);
        if (abs(yc) <= 5.0 * sy) {
            let d = at_distance(p, xd, rz);
            f = (1.0 - p.fr) * d.w * exp(-yc * yc / (2.0 * sy * sy)) * d.v / (TAU * d.u * sy * d.sz);
        }
    }
    if (p.fr > 0.0) {
        let r = sqrt(dx * dx + dy * dy);
        if (r > 1.0 && r < p.x_end) {
            let d = at_distance(p, r, rz);
            let ur = sqrt(d.u * d.u + 2.0 * SIGMA_V * SIGMA_V);
            f += p.fr * d.w * d.v / (TAU * r * ur * sqrt(TAU) * d.sz);
        }
    }
    return f;
}

fn add_plume(r: NearReceptor, k: u32, base: u32) {
    let p = plumes[k];
    let f = plume_factor(p, r.x, r.y, r.z);
    if (f > 0.0) {
        for (var q = 0u; q < params.np; q++) {
            out[base + q] += f * rates[p.rate0 + q];
        }
    }
}

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.y * groups.x * 64u + gid.x;
    if (idx >= params.n_receptors) {
        return;
    }
    let r = receptors[idx];
    let base = idx * params.np;
    for (var q = 0u; q < params.np; q++) {
        out[base + q] = 0.0;
    }
    if (params.tiles_x > 0u) {
        for (var t = tile_start[r.tile]; t < tile_start[r.tile + 1u]; t++) {
            add_plume(r, tile_plumes[t], base);
        }
    } else {
        for (var k = 0u; k < params.n_plumes; k++) {
            add_plume(r, k, base);
        }
    }
}
