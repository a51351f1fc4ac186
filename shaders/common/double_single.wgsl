// Double-single arithmetic: a value held as (hi, lo) with value hi + lo, about 48 bits of
// significand from two f32. Prepended to the stages that use it (see gpu::shaders); the CPU
// twins are `dispersion::cpu::{ds_add, ds_mul}`.

// (hi, lo) + b, renormalised (Knuth's TwoSum, then Fast2Sum)
fn ds_add(x: vec2<f32>, b: f32) -> vec2<f32> {
    let s = x.x + b;
    let bb = s - x.x;
    let e = (x.x - (s - bb)) + (b - bb);
    let lo = e + x.y;
    let hi = s + lo;
    return vec2<f32>(hi, lo - (hi - s));
}

// (hi, lo) · k, keeping the product's rounding error (fma)
fn ds_mul(x: vec2<f32>, k: f32) -> vec2<f32> {
    let p = x.x * k;
    let e = fma(x.x, k, -p);
    let lo = e + x.y * k;
    let hi = p + lo;
    return vec2<f32>(hi, lo - (hi - p));
}
