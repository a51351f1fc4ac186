//! Plume-in-grid: the near field of every source as a steady Gaussian plume per output interval,
//! handed to the grid at a stated distance.
//!
//! Within an interval each emitter (a stack, a piece of an area source, a piece of a road) is a
//! steady Gaussian plume (Briggs 1973 open-country σ for the interval's stability class, initial
//! σy₀/σz₀ in quadrature, Briggs plume rise, reflections at the ground and the lid; see
//! [`super::plume`]). Its mass enters the grid between `x_fade` and `x_end` downwind: `x_end` is
//! where σz reaches 1.6·h (the plume is well mixed through the layer, Turner 1970; the grid's
//! depth-averaged field is then exactly its far field) or the maximum travel distance, whichever
//! comes first; over `[x_fade, x_end]` the plume's ground contribution fades linearly to zero while
//! the same fraction of its mass is put into the grid, spread crosswind by the plume's σy there, so
//! the ground field (near field + grid) has no step where the plume is handed over — the
//! plume-in-grid treatment of CMAQ and CAMx (Gillani & Godowitch 1999; Karamchandani et al. 2011)
//! reduced to a steady plume per interval.
//!
//! A plume whose final height is at or above the lid contributes nothing at the ground; its mass
//! is booked "above the mixed layer". Mass emitted but not yet handed over at the end of the run
//! is booked "in near-field transit": each emitter keeps a reservoir whose level follows the
//! plume's travel time to the hand-over, so the budget stays exact when the wind changes.
//!
//! The per-receptor evaluation is a GPU stage (`shaders/dispersion/near_field.wgsl`) with this
//! module's [`near_field`] as its CPU twin: the same f32 arithmetic, the same summation order.

use bytemuck::{Pod, Zeroable};
use rayon::prelude::*;
use serde::Serialize;

use super::plume::{PlumeRise, Stability, StackExit, wind_at_height};
use super::{FaceWind, Interval};
use crate::grid::Grid;

/// Cells per side of a tile: the unit whose plume list the near-field stage reads.
pub const TILE: usize = 16;
/// Most near-field emitters a run may have (each plume is listed for every tile its footprint
/// touches: about 600 tiles at 50 m cells, so 100,000 emitters stay within a few hundred MB).
pub const MAX_EMITTERS: usize = 100_000;
/// Most emitter-intervals a run may ask for (each builds its plume and hand-over, up to 10⁴
/// samples, every interval).
pub const MAX_EMITTER_INTERVALS: f64 = 2e8;
/// Most image pairs the vertical term sums on either side (σz ≤ 1.6·h needs 7).
pub const MAX_IMAGES: i32 = 16;

/// How the near field is set up (scenario `[near_field]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NearField {
    /// Off: every emitter puts its mass into its own cell, as a pure grid model.
    pub enabled: bool,
    /// Longest distance a plume travels before its mass is all in the grid, m.
    pub max_travel_m: f64,
    /// The fade starts at this fraction of the hand-over distance.
    pub fade_start_fraction: f64,
    /// Height of the raster receptors (cell centres), m.
    pub raster_height_m: f64,
    /// Ambient air temperature for plume rise, K.
    pub ambient_k: f64,
    /// Take σy from the interval's constant diffusivity, σy² = 2Kx/u, instead of Briggs' curve (a
    /// scenario that gives `diffusivity_m2_s`), so the near field and the grid share one σy.
    pub sigma_y_from_k: bool,
}

impl Default for NearField {
    fn default() -> Self {
        Self {
            enabled: true,
            max_travel_m: 20_000.0,
            fade_start_fraction: 0.5,
            raster_height_m: 1.5,
            ambient_k: 288.15,
            sigma_y_from_k: false,
        }
    }
}

/// One emitter: a stack, or a piece of an area or line source, in the grid's projected CRS.
#[derive(Debug, Clone, PartialEq)]
pub struct Emitter {
    /// Easting, m.
    pub x_m: f64,
    /// Northing, m.
    pub y_m: f64,
    /// Release height above ground, m.
    pub height_m: f64,
    /// Exit conditions (buoyant rise), if known.
    pub exit: Option<StackExit>,
    /// Initial lateral spread, m.
    pub sigma_y0_m: f64,
    /// Initial vertical spread, m.
    pub sigma_z0_m: f64,
    /// (pollutant plane, g/s).
    pub rates: Vec<(u32, f64)>,
    /// Index of the named source it belongs to (reports).
    pub source: usize,
}

impl Emitter {
    /// A ground-level point emitter with no initial spread.
    pub fn ground(x_m: f64, y_m: f64, rates: Vec<(u32, f64)>) -> Self {
        Self {
            x_m,
            y_m,
            height_m: 0.0,
            exit: None,
            sigma_y0_m: 0.0,
            sigma_z0_m: 0.0,
            rates,
            source: 0,
        }
    }
}

/// One plume of one interval, as the near-field stage reads it. Layout matches `NearPlume` in
/// `near_field.wgsl`. Positions are relative to the grid's lower-left corner (f32 keeps
/// centimetres over 100 km there).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct NearPlume {
    /// Source x from the grid's west edge, m.
    pub x: f32,
    /// Source y from the grid's south edge, m.
    pub y: f32,
    /// Downwind unit vector, x.
    pub cx: f32,
    /// Downwind unit vector, y.
    pub cy: f32,
    /// Wind at 10 m, m/s (the kernel takes the transport wind at the plume's height from it).
    pub u10: f32,
    /// Release height, m.
    pub hs: f32,
    /// Gradual-rise factor 1.6·F^⅓/u_s, m^⅓.
    pub rise_k: f32,
    /// Final rise, m.
    pub rise_max: f32,
    /// Initial σy, m.
    pub sy0: f32,
    /// Initial σz, m.
    pub sz0: f32,
    /// Mixing height (lid), m.
    pub lid: f32,
    /// Fade start, m downwind.
    pub x_fade: f32,
    /// Hand-over distance, m downwind.
    pub x_end: f32,
    /// 2K/u when σy comes from a constant K (σy² = 2Kx/u), else 0 (Briggs σy).
    pub ky: f32,
    /// Stability class index, 0 = A … 5 = F.
    pub stab: u32,
    /// Offset of this plume's rates (µg/s, one per pollutant) in the rates buffer.
    pub rate0: u32,
    /// Power-law exponent of the wind profile.
    pub p: f32,
    /// Random (meander) fraction f_r, 0 in winds above about 2 m/s.
    pub fr: f32,
    /// Padding.
    pub _pad: [f32; 2],
}

/// Uniform of stage `near_field`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct NearParams {
    /// Receptors.
    pub n_receptors: u32,
    /// Pollutants.
    pub np: u32,
    /// Tiles along x (grid receptors) or 0 (every plume for every receptor).
    pub tiles_x: u32,
    /// Plumes (used when `tiles_x` is 0).
    pub n_plumes: u32,
}

/// A receptor for the stage: position relative to the grid's corner and height, plus its tile.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct NearReceptor {
    /// m from the west edge.
    pub x: f32,
    /// m from the south edge.
    pub y: f32,
    /// Height above ground, m.
    pub z: f32,
    /// Tile index (grid receptors), else 0.
    pub tile: u32,
}

/// Briggs σy (f32, as the shader computes it).
#[inline]
pub fn sigma_y32(class: u32, x: f32) -> f32 {
    let a = match class {
        0 => 0.22,
        1 => 0.16,
        2 => 0.11,
        3 => 0.08,
        4 => 0.06,
        _ => 0.04,
    };
    a * x / (1.0 + 0.0001 * x).sqrt()
}

/// Briggs σz (f32, as the shader computes it).
#[inline]
pub fn sigma_z32(class: u32, x: f32) -> f32 {
    match class {
        0 => 0.20 * x,
        1 => 0.12 * x,
        2 => 0.08 * x / (1.0 + 0.0002 * x).sqrt(),
        3 => 0.06 * x / (1.0 + 0.0015 * x).sqrt(),
        4 => 0.03 * x / (1.0 + 0.0003 * x),
        _ => 0.016 * x / (1.0 + 0.0003 * x),
    }
}

/// Lateral turbulence σv for the meander share, m/s (AERMOD's minimum).
pub const SIGMA_V_M_S: f32 = 0.2;
/// Below this random-plume fraction the meander share is left out (a wind above about 2 m/s).
pub const MIN_RANDOM_FRACTION: f64 = 0.02;

/// The part of the plume that depends on distance only, at distance `x` (as `at_distance` in
/// the shader): σz with σz₀, the risen height, the transport wind at the plume's height
/// (`plume::transport_height`), the reflected vertical term at `rz`, and the fade weight.
/// Returns (σz, u, vertical term, weight).
#[inline]
fn at_distance(p: &NearPlume, x: f32, rz: f32) -> (f32, f32, f32, f32) {
    let szb = sigma_z32(p.stab, x);
    let sz = (szb * szb + p.sz0 * p.sz0).sqrt();
    let he = p.hs + (p.rise_k * x.powf(2.0 / 3.0)).min(p.rise_max);
    let zt = he.max(0.797_884_6 * sz).max(2.0);
    let u = p.u10 * (zt / 10.0).powf(p.p);
    let n = (((7.5 * sz) / (2.0 * p.lid)).ceil() as i32 + 1).min(MAX_IMAGES);
    let inv2 = 1.0 / (2.0 * sz * sz);
    let mut v = 0.0f32;
    for k in -n..=n {
        let shift = 2.0 * k as f32 * p.lid;
        let a = rz - he + shift;
        let b = rz + he + shift;
        v += (-a * a * inv2).exp() + (-b * b * inv2).exp();
    }
    let mut w = 1.0f32;
    if x > p.x_fade {
        w = (p.x_end - x) / (p.x_end - p.x_fade);
    }
    (sz, u, v, w)
}

/// Concentration per unit emission rate (s/m³) of plume `p` at a receptor (as `plume_factor` in
/// the shader): the coherent plume, weighted 1 − f_r, plus — in light winds — AERMOD's random
/// (meander) plume spread evenly round the source, weighted f_r = 2σv²/(u² + 2σv²), carried by
/// √(u² + 2σv²) (Cimorelli et al. 2005).
#[inline]
pub fn plume_factor(p: &NearPlume, rx: f32, ry: f32, rz: f32) -> f32 {
    let dx = rx - p.x;
    let dy = ry - p.y;
    let mut f = 0.0f32;
    let xd = dx * p.cx + dy * p.cy;
    if xd > 0.0 && xd < p.x_end {
        let yc = dy * p.cx - dx * p.cy;
        let mut syb = sigma_y32(p.stab, xd);
        if p.ky > 0.0 {
            syb = (p.ky * xd).sqrt();
        }
        let sy = (syb * syb + p.sy0 * p.sy0).sqrt();
        if yc.abs() <= 5.0 * sy {
            let (sz, u, v, w) = at_distance(p, xd, rz);
            f = (1.0 - p.fr) * w * (-yc * yc / (2.0 * sy * sy)).exp() * v
                / (std::f32::consts::TAU * u * sy * sz);
        }
    }
    if p.fr > 0.0 {
        let r = (dx * dx + dy * dy).sqrt();
        if r > 1.0 && r < p.x_end {
            let (sz, u, v, w) = at_distance(p, r, rz);
            let ur = (u * u + 2.0 * SIGMA_V_M_S * SIGMA_V_M_S).sqrt();
            f +=
                p.fr * w * v / (std::f32::consts::TAU * r * ur * std::f32::consts::TAU.sqrt() * sz);
        }
    }
    f
}

/// Stage `near_field` (`shaders/dispersion/near_field.wgsl`): the near-field concentration at
/// each receptor, `out[receptor * np + pollutant]`, µg/m³. With `tiles_x > 0` a receptor sums
/// the plumes listed for its tile (`tile_start[t]..tile_start[t + 1]` in `tile_plumes`), else
/// every plume; in list order either way.
pub fn near_field(
    params: &NearParams,
    receptors: &[NearReceptor],
    plumes: &[NearPlume],
    rates: &[f32],
    tile_start: &[u32],
    tile_plumes: &[u32],
    out: &mut [f32],
) {
    let np = params.np as usize;
    out.par_chunks_mut(np)
        .zip(receptors.par_iter())
        .take(params.n_receptors as usize)
        .for_each(|(o, r)| {
            o.fill(0.0);
            let mut add = |pi: usize| {
                let p = &plumes[pi];
                let f = plume_factor(p, r.x, r.y, r.z);
                if f > 0.0 {
                    for (k, o) in o.iter_mut().enumerate() {
                        *o += f * rates[p.rate0 as usize + k];
                    }
                }
            };
            if params.tiles_x > 0 {
                let t = r.tile as usize;
                for &pi in &tile_plumes[tile_start[t] as usize..tile_start[t + 1] as usize] {
                    add(pi as usize);
                }
            } else {
                for pi in 0..params.n_plumes as usize {
                    add(pi);
                }
            }
        });
}

/// What one interval's near field is: the plumes, where their mass enters the grid, and what is
/// above the lid.
#[derive(Debug, Clone, Default)]
pub struct IntervalPlumes {
    /// Plumes that reach the ground.
    pub plumes: Vec<NearPlume>,
    /// µg/s per plume and pollutant (`rate0` indexes it).
    pub rates: Vec<f32>,
    /// Index of each plume's emitter.
    pub emitter_of: Vec<usize>,
    /// Per emitter: grid cells and the fraction of its hand-over each receives (fractions that
    /// fall outside the grid are summed into `outside`); empty when the plume is above the lid.
    pub handover: Vec<Vec<(u32, f64)>>,
    /// Per emitter: the fraction of its hand-over that lands outside the grid.
    pub outside: Vec<f64>,
    /// Per emitter: whether its plume is at or above the lid.
    pub above_lid: Vec<bool>,
    /// Per emitter: mean travel time to the hand-over, s.
    pub travel_s: Vec<f64>,
    /// Per emitter: Briggs rise of this interval.
    pub rise: Vec<PlumeRise>,
}

/// The wind at a point from the face winds (the cell-centred mean of the cell's faces), m/s.
pub fn wind_at(grid: &Grid, wind: &FaceWind, x: f64, y: f64) -> (f64, f64) {
    let (fx, fy) = grid.cell_coords(x, y);
    let i = (fx.round().max(0.0) as usize).min(grid.nx - 1);
    let j = (fy.round().max(0.0) as usize).min(grid.ny - 1);
    let nx = grid.nx;
    let u = 0.5 * (f64::from(wind.u[j * (nx + 1) + i]) + f64::from(wind.u[j * (nx + 1) + i + 1]));
    let v = 0.5 * (f64::from(wind.v[j * nx + i]) + f64::from(wind.v[(j + 1) * nx + i]));
    (u, v)
}

/// Crosswind sample offsets (in σy) and their normalised Gaussian weights for the hand-over.
fn crosswind_weights() -> Vec<(f64, f64)> {
    let t: Vec<f64> = (-12..=12).map(|k| f64::from(k) * 0.25).collect();
    let w: Vec<f64> = t.iter().map(|t| (-0.5 * t * t).exp()).collect();
    let s: f64 = w.iter().sum();
    t.into_iter().zip(w.into_iter().map(|w| w / s)).collect()
}

/// Builds one interval's plumes for every emitter.
pub fn interval_plumes(
    grid: &Grid,
    nf: &NearField,
    emitters: &[Emitter],
    interval: &Interval,
    np: usize,
) -> IntervalPlumes {
    let class = interval.stability.unwrap_or(Stability::D);
    let lid = interval.mixing_height_m;
    let cross = crosswind_weights();
    let mut out = IntervalPlumes::default();
    for (ei, e) in emitters.iter().enumerate() {
        let (u10x, u10y) = wind_at(grid, &interval.wind, e.x_m, e.y_m);
        let speed10 = u10x.hypot(u10y);
        // the grid's wind is already at least the calm threshold (scenario); a zero wind still
        // needs a direction: downwind +x
        let (cx, cy) = if speed10 > 0.0 {
            (u10x / speed10, u10y / speed10)
        } else {
            (1.0, 0.0)
        };
        let us = wind_at_height(speed10.max(0.1), e.height_m, class);
        let rise = match e.exit {
            Some(x) => PlumeRise::briggs(x.buoyancy_flux(nf.ambient_k), us, class, nf.ambient_k),
            None => PlumeRise::none(us),
        };
        out.rise.push(rise);
        if e.height_m + rise.final_m >= lid {
            out.above_lid.push(true);
            out.handover.push(Vec::new());
            out.outside.push(0.0);
            out.travel_s.push(0.0);
            continue;
        }
        out.above_lid.push(false);
        let x_mixed = {
            // σz² + σz₀² = (1.6 h)²
            let target = ((1.6 * lid).powi(2) - e.sigma_z0_m.powi(2)).max(0.0).sqrt();
            class.x_where_sigma_z(target, nf.max_travel_m)
        };
        let x_end = x_mixed.unwrap_or(nf.max_travel_m).max(2.0 * grid.cell_m);
        let x_fade = nf.fade_start_fraction * x_end;
        // AERMOD's meander share in light winds (Cimorelli et al. 2005)
        let sv2 = 2.0 * f64::from(SIGMA_V_M_S).powi(2);
        let mut fr = sv2 / (speed10 * speed10 + sv2);
        if fr < MIN_RANDOM_FRACTION {
            fr = 0.0;
        }
        let ky = if nf.sigma_y_from_k {
            2.0 * interval.kdiff / us
        } else {
            0.0
        };
        let sy_at = |x: f64| {
            let b = if ky > 0.0 {
                (ky * x).sqrt()
            } else {
                class.sigma_y(x)
            };
            (b * b + e.sigma_y0_m * e.sigma_y0_m).sqrt()
        };
        // the hand-over: slices across [x_fade, x_end] at most half a cell apart, each spread
        // crosswind by σy there
        let slices = (((x_end - x_fade) / (0.5 * grid.cell_m)).ceil() as usize).clamp(1, 400);
        let mut cells: std::collections::BTreeMap<u32, f64> = std::collections::BTreeMap::new();
        let mut outside = 0.0;
        let mut put = |px: f64, py: f64, frac: f64| match grid.cell_of(px, py) {
            Some((i, j)) => *cells.entry((j * grid.nx + i) as u32).or_default() += frac,
            None => outside += frac,
        };
        // the random share on rings, at most half a cell apart round each
        let ring_points = |r: f64| {
            ((std::f64::consts::TAU * r / (0.5 * grid.cell_m)).ceil() as usize).clamp(16, 2048)
        };
        for k in 0..slices {
            let xs = x_fade + (k as f64 + 0.5) * (x_end - x_fade) / slices as f64;
            let sy = sy_at(xs);
            for (t, w) in &cross {
                let yc = t * sy;
                put(
                    e.x_m + xs * cx - yc * cy,
                    e.y_m + xs * cy + yc * cx,
                    (1.0 - fr) * w / slices as f64,
                );
            }
            if fr > 0.0 {
                let m = ring_points(xs);
                for a in 0..m {
                    let t = std::f64::consts::TAU * (a as f64 + 0.5) / m as f64;
                    put(
                        e.x_m + xs * t.cos(),
                        e.y_m + xs * t.sin(),
                        fr / (slices * m) as f64,
                    );
                }
            }
        }
        out.handover.push(cells.into_iter().collect());
        out.outside.push(outside);
        out.travel_s.push(0.5 * (x_fade + x_end) / us);
        let rate0 = out.rates.len() as u32;
        let mut r = vec![0.0f32; np];
        for (plane, g_s) in &e.rates {
            r[*plane as usize] += (g_s * 1e6) as f32;
        }
        out.rates.extend(r);
        out.emitter_of.push(ei);
        out.plumes.push(NearPlume {
            x: (e.x_m - grid.x0) as f32,
            y: (e.y_m - grid.y0) as f32,
            cx: cx as f32,
            cy: cy as f32,
            u10: speed10.max(0.1) as f32,
            hs: e.height_m as f32,
            rise_k: rise.gradual_factor() as f32,
            rise_max: rise.final_m as f32,
            sy0: e.sigma_y0_m as f32,
            sz0: e.sigma_z0_m as f32,
            lid: lid as f32,
            x_fade: x_fade as f32,
            x_end: x_end as f32,
            ky: ky as f32,
            stab: class.index() as u32,
            rate0,
            p: class.wind_exponent() as f32,
            fr: fr as f32,
            _pad: [0.0; 2],
        });
    }
    out
}

/// Per-tile plume lists for grid receptors: `(tile_start, tile_plumes, tiles_x)`. A plume is
/// listed for every tile its footprint's bounding box (source to hand-over, ±5σy) touches.
pub fn tile_lists(grid: &Grid, plumes: &[NearPlume]) -> (Vec<u32>, Vec<u32>, usize) {
    let tx = grid.nx.div_ceil(TILE);
    let ty = grid.ny.div_ceil(TILE);
    let mut lists: Vec<Vec<u32>> = vec![Vec::new(); tx * ty];
    let tile_m = TILE as f64 * grid.cell_m;
    for (k, p) in plumes.iter().enumerate() {
        let (x, y, cx, cy) = (
            f64::from(p.x),
            f64::from(p.y),
            f64::from(p.cx),
            f64::from(p.cy),
        );
        let xe = f64::from(p.x_end);
        // the footprint's bounding box: with a meander share, the disc of the hand-over radius
        // (it reaches every direction); else the wedge from the source to the hand-over, ±5σy
        let (x0, x1, y0, y1) = if p.fr > 0.0 {
            (x - xe, x + xe, y - xe, y + xe)
        } else {
            let class = Stability::ALL[(p.stab as usize).min(5)];
            let sy_end = if p.ky > 0.0 {
                (f64::from(p.ky) * xe).sqrt()
            } else {
                class.sigma_y(xe)
            };
            let w0 = 5.0 * f64::from(p.sy0) + 1.0;
            let w1 = 5.0 * (sy_end * sy_end + f64::from(p.sy0).powi(2)).sqrt() + 1.0;
            let pts = [
                (x - w0 * cy, y + w0 * cx),
                (x + w0 * cy, y - w0 * cx),
                (x + xe * cx - w1 * cy, y + xe * cy + w1 * cx),
                (x + xe * cx + w1 * cy, y + xe * cy - w1 * cx),
            ];
            let fold = |f: fn(f64, f64) -> f64, init: f64, sel: fn(&(f64, f64)) -> f64| {
                pts.iter().map(sel).fold(init, f)
            };
            (
                fold(f64::min, f64::MAX, |p| p.0),
                fold(f64::max, f64::MIN, |p| p.0),
                fold(f64::min, f64::MAX, |p| p.1),
                fold(f64::max, f64::MIN, |p| p.1),
            )
        };
        if x1 < 0.0 || y1 < 0.0 || x0 > tx as f64 * tile_m || y0 > ty as f64 * tile_m {
            continue;
        }
        let i0 = (x0 / tile_m).floor().max(0.0) as usize;
        let i1 = ((x1 / tile_m).floor().max(0.0) as usize).min(tx - 1);
        let j0 = (y0 / tile_m).floor().max(0.0) as usize;
        let j1 = ((y1 / tile_m).floor().max(0.0) as usize).min(ty - 1);
        for tj in j0..=j1 {
            for ti in i0..=i1 {
                lists[tj * tx + ti].push(k as u32);
            }
        }
    }
    let mut start = Vec::with_capacity(lists.len() + 1);
    let mut flat = Vec::new();
    start.push(0u32);
    for l in lists {
        flat.extend(l);
        start.push(flat.len() as u32);
    }
    (start, flat, tx)
}

/// The grid's cell centres as receptors at height `z`, with their tiles.
pub fn grid_receptors(grid: &Grid, z: f64) -> Vec<NearReceptor> {
    let tx = grid.nx.div_ceil(TILE);
    let mut out = Vec::with_capacity(grid.cells());
    for j in 0..grid.ny {
        for i in 0..grid.nx {
            out.push(NearReceptor {
                x: ((i as f64 + 0.5) * grid.cell_m) as f32,
                y: ((j as f64 + 0.5) * grid.cell_m) as f32,
                z: z as f32,
                tile: ((j / TILE) * tx + i / TILE) as u32,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispersion::plume::gaussian_plume;

    #[test]
    fn the_f32_kernel_is_the_f64_plume() {
        let p = NearPlume {
            x: 1000.0,
            y: 2000.0,
            cx: 0.6,
            cy: 0.8,
            u10: 5.0,
            hs: 50.0,
            rise_k: 0.0,
            rise_max: 0.0,
            sy0: 3.0,
            sz0: 2.0,
            lid: 800.0,
            x_fade: 1e9,
            x_end: 2e9,
            ky: 0.0,
            stab: 3,
            rate0: 0,
            p: 0.15,
            fr: 0.0,
            _pad: [0.0; 2],
        };
        for (xd, yc, z) in [
            (500.0, 10.0, 1.5),
            (3000.0, -150.0, 0.0),
            (20_000.0, 400.0, 1.5),
        ] {
            let rx = 1000.0 + xd * 0.6 - yc * 0.8;
            let ry = 2000.0 + xd * 0.8 + yc * 0.6;
            let f = f64::from(plume_factor(&p, rx as f32, ry as f32, z as f32));
            let exact = gaussian_plume(1e-6, 5.0, xd, yc, z, 50.0, Stability::D, (3.0, 2.0), 800.0);
            assert!((f - exact).abs() <= 2e-4 * exact, "{xd}: {f} vs {exact}");
        }
        // upwind and beyond the hand-over: nothing
        assert_eq!(plume_factor(&p, 900.0, 1900.0, 1.5), 0.0);
    }
}
