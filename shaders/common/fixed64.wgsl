// 64-bit two's-complement integers as vec2<u32> (lo, hi): the dispersion state is fixed point,
// value · 2^-32 µg/m³ (see dispersion/transport.wgsl for why). Integer arithmetic has one
// result on every device and under every shader compiler, so the state is bit-identical between
// the GPU and the CPU twin (`dispersion::cpu`, native i64/u128 with the same rounding).
// Prepended to the stages that use it (see gpu::shaders). Overflow wraps, as i64::wrapping_*.

fn i64_add(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let lo = a.x + b.x;
    return vec2<u32>(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}

fn i64_neg(a: vec2<u32>) -> vec2<u32> {
    return i64_add(vec2<u32>(~a.x, ~a.y), vec2<u32>(1u, 0u));
}

fn i64_sub(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    return i64_add(a, i64_neg(b));
}

fn i64_is_neg(a: vec2<u32>) -> bool {
    return (a.y >> 31u) == 1u;
}

fn i64_is_pos(a: vec2<u32>) -> bool {
    return !i64_is_neg(a) && (a.x | a.y) != 0u;
}

fn i64_abs(a: vec2<u32>) -> vec2<u32> {
    return select(a, i64_neg(a), i64_is_neg(a));
}

// a < b, both non-negative
fn u64_lt(a: vec2<u32>, b: vec2<u32>) -> bool {
    return a.y < b.y || (a.y == b.y && a.x < b.x);
}

fn u64_min(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    return select(b, a, u64_lt(a, b));
}

fn u64_max(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    return select(a, b, u64_lt(a, b));
}

// 2·a
fn i64_twice(a: vec2<u32>) -> vec2<u32> {
    return vec2<u32>(a.x << 1u, (a.y << 1u) | (a.x >> 31u));
}

// floor(a / 2^s) for 0 < s < 32 (arithmetic shift)
fn i64_shr(a: vec2<u32>, s: u32) -> vec2<u32> {
    return vec2<u32>((a.x >> s) | (a.y << (32u - s)), bitcast<u32>(bitcast<i32>(a.y) >> s));
}

// full 64-bit product of two u32, (lo, hi), from 16-bit halves
fn mul_wide(x: u32, y: u32) -> vec2<u32> {
    let xl = x & 0xffffu;
    let xh = x >> 16u;
    let yl = y & 0xffffu;
    let yh = y >> 16u;
    let ll = xl * yl;
    let lh = xl * yh;
    let hl = xh * yl;
    let hh = xh * yh;
    let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
    return vec2<u32>((ll & 0xffffu) | (mid << 16u), hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u));
}

// a · f / 2^30 for a fraction f ≤ 2^30, the magnitude rounded half up and the sign kept
// (`dispersion::cpu::mul_frac`)
fn i64_mul_frac(a: vec2<u32>, f: u32) -> vec2<u32> {
    let m = i64_abs(a);
    let p0 = mul_wide(m.x, f);
    let p1 = mul_wide(m.y, f);
    // the 96-bit product (w0, w1, w2), plus 2^29 for rounding
    let w0 = p0.x + 0x20000000u;
    let c0 = select(0u, 1u, w0 < p0.x);
    let s1 = p0.y + p1.x;
    let c1 = select(0u, 1u, s1 < p0.y);
    let w1 = s1 + c0;
    let c2 = select(0u, 1u, w1 < s1);
    let w2 = p1.y + c1 + c2;
    let r = vec2<u32>((w0 >> 30u) | (w1 << 2u), (w1 >> 30u) | (w2 << 2u));
    return select(r, i64_neg(r), i64_is_neg(a));
}
