//! Plume-in-grid dispersion: steady Gaussian plumes near every source ([`near`], [`plume`]) whose
//! mass is handed to an Eulerian model of a depth-averaged mixed layer on a regular grid in the
//! projected CRS, on the GPU (WGSL stages in `shaders/dispersion/`) or on the CPU twin.
//!
//! The grid solves ∂c/∂t + ∇·(u c) = ∇·(K ∇c) + S/h − (λ + v_d/h) c for each pollutant, c in
//! µg/m³ averaged over the mixing height h. Each time step runs `emit` (the hand-over adds dt·S
//! to its cells) and two directional sweeps of `transport` (x then y, the next step y then x:
//! dimensional splitting, Strang 1968; flux-form advection with Roe's superbee limiter, explicit
//! central diffusion; implicit first-order removal after the second sweep). Time steps are
//! CFL-adaptive sub-steps of each output interval. Mass is conserved exactly up to f32 rounding:
//! every face flux leaves one cell and enters its neighbour, boundary outflow is accumulated per
//! face, and removal is accumulated through the time integral of concentration, so the budget
//! (emitted = in grid + boundary + decayed + deposited + above the lid + residual layer + in
//! near-field transit + handed over outside) is checked, not derived.
//!
//! This module touches no file: scenarios are read by [`scenario`], outputs written by
//! `crate::output`.

pub mod analytic;
pub mod cpu;
mod engine;
pub mod gpu_batch;
pub mod near;
pub mod plume;
pub mod projection;
pub mod scenario;

use bytemuck::{Pod, Zeroable};
use serde::Serialize;

use crate::gpu::{AdapterReport, GpuContext, GpuError};
use crate::grid::Grid;
use crate::model::Pollutant;

pub use engine::{CpuEngine, StepEngine};
pub use gpu_batch::{Batcher, GpuBatch, GpuEngine};
pub use near::{Emitter, NearField};
pub use plume::{Stability, StackExit};

/// At most this many pollutants in one run (a member's control words hold 8 removal factors).
pub const MAX_POLLUTANTS: usize = 8;

/// Most output intervals a run may have (a year at 6-minute intervals): station series and
/// per-interval winds are sized by it.
pub const MAX_INTERVALS: f64 = 100_000.0;
/// Most explicit sub-steps a run may take (checked from the stable step before the run).
pub const MAX_STEPS: f64 = 1e8;
/// Most cell-updates (sub-steps × cells × pollutants) a run may ask for: about 14 hours of the
/// CPU twin on this project's 2-core machine, minutes on a data-centre GPU.
pub const MAX_CELL_UPDATES: f64 = 1e13;
/// Most bytes of distinct wind fields a run may hold (series and station modes).
pub const MAX_WIND_BYTES: f64 = 4.0 * 1024.0 * 1024.0 * 1024.0;

/// Device limits the dispersion stages need (`transport` binds 7 storage buffers, within
/// WebGPU's default of 8; its downlevel default is 4).
pub const GPU_LIMITS: crate::gpu::shaders::StageLimits = crate::gpu::shaders::StageLimits {
    max_storage_buffers_per_shader_stage: 7,
    max_uniform_buffers_per_shader_stage: 1,
};

/// Units of the fixed-point concentration state per µg/m³ (the state is `i64`, value · 2^-32
/// µg/m³: integer arithmetic gives the same bits on every device, see
/// `shaders/dispersion/transport.wgsl`). The range is ±2^31 µg/m³.
pub const STATE_ONE: f64 = 4_294_967_296.0;
/// Units of a fixed-point fraction (Courant, diffusion and removal numbers) per 1.
pub const FRAC_ONE: f64 = 1_073_741_824.0;
/// Units of the time integral (sum over steps of the state, rounded to 2^-24 µg/m³) per µg/m³.
pub const INTEGRAL_ONE: f64 = 16_777_216.0;
/// Most concentration a cell may reach in a run, µg/m³ (a quarter of the fixed-point range:
/// the limiter doubles differences). Checked from the emission before the run.
pub const MAX_CONCENTRATION_UG_M3: f64 = 5e8;

/// A concentration in µg/m³ as fixed point (rounded to nearest).
pub fn to_fixed(ug_m3: f64) -> i64 {
    (ug_m3 * STATE_ONE).round() as i64
}

/// A fixed-point concentration in µg/m³.
pub fn from_fixed(x: i64) -> f64 {
    x as f64 / STATE_ONE
}

/// A fraction in [0, 1] as fixed point (units of 2^-30, rounded to nearest).
pub fn frac_fixed(f: f64) -> u32 {
    (f.clamp(0.0, 1.0) * FRAC_ONE).round() as u32
}

/// Parameters of one `transport` sweep as the CPU twin takes them; on the GPU a member's K and
/// removal numbers go into the batch's control words and the sweep's axis into its round flags.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct TransportParams {
    /// Columns.
    pub nx: u32,
    /// Rows.
    pub ny: u32,
    /// Pollutants (planes).
    pub np: u32,
    /// Bit 0: this sweep's axis (0 = x, 1 = y); bit 1: the step's last sweep (removal and the
    /// time integral). Set per sweep by the engines ([`TransportParams::sweeps`]).
    pub pass_flags: u32,
    /// K·dt/dx², units of 2^-30.
    pub kappa_x: u32,
    /// K·dt/dy², units of 2^-30.
    pub kappa_y: u32,
    /// Padding.
    pub _pad: [u32; 2],
    /// Removal fraction per step (λ + v_d/h)·dt / (1 + (λ + v_d/h)·dt) per pollutant, units of
    /// 2^-30: implicit first-order removal, c ← c − c·r = c / (1 + (λ + v_d/h)·dt).
    pub removal: [u32; MAX_POLLUTANTS],
}

impl TransportParams {
    /// The two sweeps of step number `step`: x then y on even steps, y then x on odd ones
    /// (alternating order keeps the splitting second order in time).
    pub fn sweeps(&self, step: u64) -> [TransportParams; 2] {
        let (first, second) = if step.is_multiple_of(2) {
            (0, 1)
        } else {
            (1, 0)
        };
        [
            TransportParams {
                pass_flags: first,
                ..*self
            },
            TransportParams {
                pass_flags: second | 2,
                ..*self
            },
        ]
    }

    /// The removal rate the fixed-point fraction of pollutant `p` actually applies, 1/s: with
    /// r the fraction, c·r = c_after·r/(1 − r), so the rate on the time integral of the state
    /// after removal is r / ((1 − r)·dt).
    pub fn applied_removal_per_s(&self, p: usize, dt: f64) -> f64 {
        let r = f64::from(self.removal[p]) / FRAC_ONE;
        if r >= 1.0 {
            f64::INFINITY
        } else {
            r / ((1.0 - r) * dt)
        }
    }
}

/// Uniform of stages `emit` and `transport` (`shaders/dispersion/batch_common.wgsl`): the batch's
/// shape and which round slot and sweep a dispatch is. Written once per batch.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct BatchStep {
    /// Columns.
    pub nx: u32,
    /// Rows.
    pub ny: u32,
    /// Pollutants per member.
    pub np: u32,
    /// Member slots.
    pub members: u32,
    /// Round slot within a submission.
    pub round: u32,
    /// 0: a step's first sweep; 1: its last.
    pub sweep: u32,
    /// Where the round flags start in the control words.
    pub flags_at: u32,
    /// Padding.
    pub _pad: u32,
}

/// Control words before the first member's (`batch_common.wgsl`: `[0]` the emitting cells).
pub const CONTROL_HEAD: usize = 4;
/// Control words per member: K·dt/dx², K·dt/dy², two unused, 8 removal fractions.
pub const MEMBER_WORDS: usize = 12;

/// Parameters of the CPU twin's stage `emit`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct EmitParams {
    /// Columns.
    pub nx: u32,
    /// Rows.
    pub ny: u32,
    /// Pollutants.
    pub np: u32,
    /// Number of source cells.
    pub n_sources: u32,
}

/// One emitting cell of one pollutant, as a rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SourceCell {
    /// Linear cell index, `j * nx + i`.
    pub cell: u32,
    /// Pollutant plane.
    pub pollutant: u32,
    /// Concentration rate in the cell, µg/m³/s (emission ÷ cell volume).
    pub rate: f64,
}

/// One emitting cell as stage `emit` adds it: the amount of one step in fixed point. Layout
/// matches `Source` in `emit.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct EmitCell {
    /// Linear cell index, `j * nx + i`.
    pub cell: u32,
    /// Pollutant plane.
    pub pollutant: u32,
    /// Amount added per step, units of 2^-32 µg/m³, as (lo, hi) of an `i64`.
    pub amount: [u32; 2],
}

/// The fixed-point step amounts of `sources` for a step of `dt` seconds (both engines use this
/// one function, so the device adds exactly what the twin adds).
pub fn emit_cells(sources: &[SourceCell], dt: f64) -> Vec<EmitCell> {
    sources
        .iter()
        .map(|s| EmitCell {
            cell: s.cell,
            pollutant: s.pollutant,
            amount: split_i64(to_fixed(s.rate * dt)),
        })
        .collect()
}

/// An `i64` as the (lo, hi) `u32` pair the shaders hold.
pub fn split_i64(x: i64) -> [u32; 2] {
    let u = x as u64;
    [u as u32, (u >> 32) as u32]
}

/// The `i64` of a (lo, hi) `u32` pair.
pub fn join_i64(x: [u32; 2]) -> i64 {
    ((u64::from(x[1]) << 32) | u64::from(x[0])) as i64
}

/// Signed face Courant numbers u·dt/dx (x-faces) and v·dt/dy (y-faces) in units of 2^-30, the
/// only form in which stage `transport` sees the wind (one host function for both engines).
pub fn face_courant(grid: &Grid, wind: &FaceWind, dt: f64) -> (Vec<i32>, Vec<i32>) {
    let s = dt / grid.cell_m * FRAC_ONE;
    let c = |w: &[f32]| -> Vec<i32> {
        w.iter()
            .map(|u| (f64::from(*u) * s).round().clamp(-FRAC_ONE, FRAC_ONE) as i32)
            .collect()
    };
    (c(&wind.u), c(&wind.v))
}

/// A station's position in continuous cell coordinates (cell (i, j) centre at (i, j)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StationPoint {
    /// Column coordinate.
    pub fx: f32,
    /// Row coordinate.
    pub fy: f32,
}

/// Wind on the grid's faces for one interval.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceWind {
    /// x-velocity on x-faces, `(nx + 1) * ny`, m/s.
    pub u: Vec<f32>,
    /// y-velocity on y-faces, `nx * (ny + 1)`, m/s.
    pub v: Vec<f32>,
    /// Interpolated, not yet mass-consistent: the run removes its divergence (stage `poisson`,
    /// [`projection`]) on its own backend before the first step.
    pub divergent: bool,
}

impl FaceWind {
    /// The same wind everywhere.
    pub fn uniform(grid: &Grid, u: f64, v: f64) -> Self {
        Self {
            u: vec![u as f32; (grid.nx + 1) * grid.ny],
            v: vec![v as f32; grid.nx * (grid.ny + 1)],
            divergent: false,
        }
    }

    /// Face winds from cell-centred components (`nx * ny` each): the mean of the two cells on
    /// either side of a face, or the edge cell's value on the boundary.
    pub fn from_cells(grid: &Grid, uc: &[f64], vc: &[f64]) -> Self {
        let (nx, ny) = (grid.nx, grid.ny);
        let mut u = vec![0.0f32; (nx + 1) * ny];
        let mut v = vec![0.0f32; nx * (ny + 1)];
        for j in 0..ny {
            for f in 0..=nx {
                let a = uc[j * nx + f.saturating_sub(1).min(nx - 1)];
                let b = uc[j * nx + f.min(nx - 1)];
                u[j * (nx + 1) + f] = (0.5 * (a + b)) as f32;
            }
        }
        for f in 0..=ny {
            for i in 0..nx {
                let a = vc[f.saturating_sub(1).min(ny - 1) * nx + i];
                let b = vc[f.min(ny - 1) * nx + i];
                v[f * nx + i] = (0.5 * (a + b)) as f32;
            }
        }
        Self {
            u,
            v,
            divergent: false,
        }
    }

    /// Largest |u| and |v| on any face.
    pub fn max_speeds(&self) -> (f64, f64) {
        let m = |x: &[f32]| x.iter().fold(0.0f64, |a, b| a.max(f64::from(b.abs())));
        (m(&self.u), m(&self.v))
    }
}

/// One output interval: its length, wind, diffusivity, stability and mixing height.
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    /// Length, seconds.
    pub duration_s: f64,
    /// Wind on the faces (shared between intervals with the same wind).
    pub wind: std::sync::Arc<FaceWind>,
    /// Horizontal diffusivity, m²/s.
    pub kdiff: f64,
    /// Pasquill–Gifford class of the near field (required when the near field is on).
    pub stability: Option<Stability>,
    /// Mixing height (the lid), m.
    pub mixing_height_m: f64,
    /// Whether the observed wind was below the calm threshold (and raised to it).
    pub calm: bool,
}

/// A named receptor point in the grid's projected CRS.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceptorPoint {
    /// Name (a receptor, or `name/distance/direction` for a polar one).
    pub name: String,
    /// Easting, m.
    pub x_m: f64,
    /// Northing, m.
    pub y_m: f64,
    /// Height above ground, m.
    pub z_m: f64,
}

/// Everything a dispersion run needs, already on the grid (no files, no dataset).
#[derive(Debug, Clone)]
pub struct DispersionProblem {
    /// The grid.
    pub grid: Grid,
    /// Pollutants, one plane each (at most [`MAX_POLLUTANTS`]).
    pub pollutants: Vec<Pollutant>,
    /// First-order decay rate per pollutant, 1/s.
    pub decay_per_s: Vec<f64>,
    /// Dry deposition velocity per pollutant, m/s.
    pub deposition_m_s: Vec<f64>,
    /// Emitters (stacks, pieces of areas and roads), g/s.
    pub emitters: Vec<Emitter>,
    /// The near field (plume-in-grid) set-up.
    pub near_field: NearField,
    /// Air stations (sampled at their exact position, near field included, interval means).
    pub stations: Vec<(String, StationPoint)>,
    /// Receptors (the same).
    pub receptors: Vec<ReceptorPoint>,
    /// Output intervals, in order.
    pub intervals: Vec<Interval>,
    /// Seconds from the start excluded from time means (the field spinning up from zero).
    pub spin_up_s: f64,
    /// Safety factor on each sweep's explicit stability limit (≤ 0.5 keeps the limited scheme
    /// positive).
    pub cfl: f64,
}

/// Mass budget of one pollutant over the run, kg.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct MassBudget {
    /// Emitted by all sources.
    pub emitted_kg: f64,
    /// In the grid at the end.
    pub in_grid_kg: f64,
    /// Carried out through the domain boundary.
    pub left_boundary_kg: f64,
    /// Removed by first-order decay.
    pub decayed_kg: f64,
    /// Removed by dry deposition.
    pub deposited_kg: f64,
    /// Emitted into plumes at or above the lid (never in the mixed layer).
    #[serde(default)]
    pub above_mixed_layer_kg: f64,
    /// Left in the residual layer when the lid fell (not re-entrained).
    #[serde(default)]
    pub residual_layer_kg: f64,
    /// Emitted but not yet handed to the grid at the end (in near-field plumes).
    #[serde(default)]
    pub near_field_transit_kg: f64,
    /// Handed over at points outside the grid (sources near or outside its edge).
    #[serde(default)]
    pub handed_over_outside_kg: f64,
    /// |emitted − (every other term)| / emitted.
    pub relative_error: f64,
}

/// What a run produced. Every field of concentration is ground level (near field + grid) unless
/// named `grid_`.
#[derive(Debug, Clone)]
pub struct DispersionRun {
    /// Ground-level concentration at the end, `[pollutant][row][col]`, µg/m³: the grid's final
    /// state plus the last interval's near field at the cell centres.
    pub final_conc: Vec<f32>,
    /// Ground-level time-mean after the spin-up, µg/m³.
    pub mean_conc: Vec<f32>,
    /// The grid's own time-mean after the spin-up (no near field), µg/m³.
    pub grid_mean: Vec<f32>,
    /// The grid's own final state, µg/m³.
    pub grid_final: Vec<f32>,
    /// Station interval means, `[interval][station][pollutant]`, µg/m³.
    pub samples: Vec<f32>,
    /// Receptor interval means, `[interval][receptor][pollutant]`, µg/m³.
    pub receptor_samples: Vec<f32>,
    /// Budget per pollutant.
    pub budget: Vec<MassBudget>,
    /// Per emitter, the largest plume rise of the run, m.
    pub max_rise_m: Vec<f64>,
    /// Time steps taken.
    pub steps: u64,
    /// steps × cells × pollutants.
    pub cell_updates: u64,
    /// Near-field evaluations (receptors × plumes listed for them).
    pub near_evaluations: u64,
    /// Wall time of the stepping (upload to readback), s.
    pub wall_s: f64,
    /// Wall time of the near field within it, s.
    pub near_wall_s: f64,
    /// `None` for the CPU twin.
    pub adapter: Option<AdapterReport>,
    /// What stage `poisson` did to each distinct interpolated wind (stations mode), in order
    /// of first use.
    pub wind_projections: Vec<projection::MassConsistency>,
}

impl DispersionProblem {
    /// The shape of every validation case: one pollutant (SO₂) from one emitter, `hours`
    /// one-hour intervals of the same uniform wind (`u`, `v`), diffusivity, class and lid, no
    /// removal, no stations or receptors, no spin-up, `cfl` 0.5.
    #[allow(clippy::too_many_arguments)]
    pub fn single_source(
        grid: Grid,
        emitter: Emitter,
        (u, v): (f64, f64),
        kdiff: f64,
        stability: Stability,
        mixing_height_m: f64,
        hours: usize,
        near_field: NearField,
    ) -> Self {
        let wind = std::sync::Arc::new(FaceWind::uniform(&grid, u, v));
        Self {
            grid,
            pollutants: vec![Pollutant::So2],
            decay_per_s: vec![0.0],
            deposition_m_s: vec![0.0],
            emitters: vec![emitter],
            near_field,
            stations: vec![],
            receptors: vec![],
            intervals: (0..hours)
                .map(|_| Interval {
                    duration_s: 3600.0,
                    wind: wind.clone(),
                    kdiff,
                    stability: Some(stability),
                    mixing_height_m,
                    calm: false,
                })
                .collect(),
            spin_up_s: 0.0,
            cfl: 0.5,
        }
    }

    /// For each interval, whether it ends after the spin-up (counts in time means and tables).
    pub fn after_spin_up(&self) -> Vec<bool> {
        let mut t = 0.0;
        self.intervals
            .iter()
            .map(|iv| {
                t += iv.duration_s;
                t > self.spin_up_s + 1e-9
            })
            .collect()
    }

    /// Number of sub-steps and their length for an interval: the explicit limit of each
    /// directional sweep, dt·(max(|u|/dx, |v|/dy) + 2K/dx²) ≤ cfl.
    pub fn substeps(&self, interval: &Interval) -> (u64, f64) {
        let h = self.grid.cell_m;
        let (umax, vmax) = interval.wind.max_speeds();
        let rate = umax.max(vmax) / h + 2.0 * interval.kdiff / (h * h);
        let dt_max = if rate > 0.0 {
            self.cfl / rate
        } else {
            interval.duration_s
        };
        let n = (interval.duration_s / dt_max).ceil().max(1.0) as u64;
        (n, interval.duration_s / n as f64)
    }

    /// Number of sub-steps of an interval, their length (s) and the uniforms of its `transport`
    /// and `emit` stages (`n_sources` source cells).
    pub fn step_params(
        &self,
        interval: &Interval,
        n_sources: usize,
    ) -> (u64, f64, TransportParams, EmitParams) {
        let g = &self.grid;
        let np = self.pollutants.len() as u32;
        let (n, dt) = self.substeps(interval);
        let mut removal = [0u32; MAX_POLLUTANTS];
        for (k, r) in removal.iter_mut().zip(self.removal_per_s(interval)) {
            *k = frac_fixed(r * dt / (1.0 + r * dt));
        }
        let kappa = frac_fixed(interval.kdiff * dt / (g.cell_m * g.cell_m));
        let tp = TransportParams {
            nx: g.nx as u32,
            ny: g.ny as u32,
            np,
            pass_flags: 0,
            kappa_x: kappa,
            kappa_y: kappa,
            _pad: [0; 2],
            removal,
        };
        let ep = EmitParams {
            nx: tp.nx,
            ny: tp.ny,
            np,
            n_sources: n_sources as u32,
        };
        (n, dt, tp, ep)
    }

    /// Removal rate λ + v_d/h per pollutant in an interval, 1/s.
    pub fn removal_per_s(&self, interval: &Interval) -> Vec<f64> {
        self.decay_per_s
            .iter()
            .zip(&self.deposition_m_s)
            .map(|(l, vd)| l + vd / interval.mixing_height_m)
            .collect()
    }

    pub(crate) fn check(&self) -> Result<(), GpuError> {
        if self.pollutants.is_empty() || self.pollutants.len() > MAX_POLLUTANTS {
            return Err(GpuError::TooLarge(format!(
                "a run takes 1 to {MAX_POLLUTANTS} pollutants, not {}",
                self.pollutants.len()
            )));
        }
        if let Some(i) = self
            .intervals
            .iter()
            .position(|i| !(i.mixing_height_m.is_finite() && i.mixing_height_m > 0.0))
        {
            return Err(GpuError::TooLarge(format!(
                "interval {i}: the mixing height must be a positive number"
            )));
        }
        Ok(())
    }

    /// Runs the problem on the GPU context given, or on the CPU twin when `None`.
    pub fn run(&self, gpu: Option<&GpuContext>) -> Result<DispersionRun, GpuError> {
        self.run_with_progress(gpu, &mut |_, _| {})
    }

    /// Like [`DispersionProblem::run`], calling `progress(intervals done, intervals)` after each
    /// output interval.
    pub fn run_with_progress(
        &self,
        gpu: Option<&GpuContext>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<DispersionRun, GpuError> {
        self.check()?;
        match gpu {
            Some(ctx) => {
                let engine = GpuEngine::new(ctx, self)?;
                self.run_with(engine, Some(ctx.report.clone()), progress)
            }
            None => self.run_with(CpuEngine::new(self), None, progress),
        }
    }

    /// Runs the problem as one member of a GPU batch ([`GpuBatch`]: members of one grid shape
    /// stepped together), waiting for a free slot when all are taken.
    pub fn run_in(
        &self,
        batch: &std::sync::Arc<GpuBatch<'_>>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<DispersionRun, GpuError> {
        self.check()?;
        let engine = batch.slot(self, None)?;
        let adapter = engine.batch().adapter();
        self.run_with(engine, Some(adapter), progress)
    }

    /// The grid's source cells for one interval (µg/m³/s in a layer of `lid` m) and what of each
    /// pollutant's emission went elsewhere: books into `book`. With the near field off every
    /// emitter's mass enters its own cell.
    fn interval_sources(
        &self,
        interval: &Interval,
        plumes: Option<&near::IntervalPlumes>,
        transit: &mut [Vec<f64>],
        book: &mut Book,
    ) -> Vec<SourceCell> {
        let g = &self.grid;
        let d = interval.duration_s;
        let volume = g.cell_m * g.cell_m * interval.mixing_height_m;
        let mut cells: std::collections::BTreeMap<(u32, u32), f64> = Default::default();
        for (ei, e) in self.emitters.iter().enumerate() {
            for &(plane, g_s) in &e.rates {
                let p = plane as usize;
                let q = g_s * 1e6; // µg/s
                book.emitted[p] += q * d;
                let Some(ip) = plumes else {
                    match g.cell_of(e.x_m, e.y_m) {
                        Some((i, j)) => {
                            *cells.entry((plane, (j * g.nx + i) as u32)).or_default() += q;
                        }
                        None => book.outside[p] += q * d,
                    }
                    continue;
                };
                // a plume at or above the lid stays there; what an earlier interval's plume
                // still carries waits for the next plume below the lid
                if ip.above_lid[ei] {
                    book.above[p] += q * d;
                    continue;
                }
                // the emitter's reservoir follows its plume's travel time to the hand-over
                let level = transit[ei][p] + q * d;
                let out = (level - q * ip.travel_s[ei]).max(0.0);
                transit[ei][p] = level - out;
                if out > 0.0 {
                    book.outside[p] += out * ip.outside[ei];
                    for &(cell, frac) in &ip.handover[ei] {
                        *cells.entry((plane, cell)).or_default() += out * frac / d;
                    }
                }
            }
        }
        cells
            .into_iter()
            .filter(|(_, r)| *r > 0.0)
            .map(|((pollutant, cell), ug_s)| SourceCell {
                cell,
                pollutant,
                rate: ug_s / volume,
            })
            .collect()
    }

    fn run_with<E: StepEngine>(
        &self,
        mut engine: E,
        adapter: Option<AdapterReport>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<DispersionRun, GpuError> {
        let g = &self.grid;
        let np = self.pollutants.len();
        let start = std::time::Instant::now();
        let plane = g.cells();
        let area = g.cell_m * g.cell_m;
        let mut steps = 0u64;
        let mut book = Book::new(np);
        let mut transit = vec![vec![0.0f64; np]; self.emitters.len()];
        let mut interval_int = vec![0.0f64; plane * np];
        let mut grid_int = vec![0.0f64; plane * np];
        let mut near_int = vec![0.0f64; plane * np];
        let mut near_last = vec![0.0f32; plane * np];
        let mut outflow = vec![0.0f64; np];
        let mut max_rise = vec![0.0f64; self.emitters.len()];
        let mut near_evals = 0u64;
        let mut near_wall = 0.0f64;
        let ns = self.stations.len();
        let nr = self.receptors.len();
        let mut samples = vec![0.0f32; self.intervals.len() * ns * np];
        let mut receptor_samples = vec![0.0f32; self.intervals.len() * nr * np];
        // the near-field receptors: cell centres, then stations, then receptors
        let points = self.point_receptors();
        let grid_rec = if self.near_field.enabled {
            near::grid_receptors(g, self.near_field.raster_height_m)
        } else {
            Vec::new()
        };
        let mut near_cells = vec![0.0f32; plane * np];
        let mut near_points = vec![0.0f32; points.len() * np];
        let mut counted_s = 0.0;
        let counted = self.after_spin_up();
        let cells_of_points = self.point_cells();
        // interpolated winds become mass-consistent on this run's backend, each distinct field
        // once (intervals share fields)
        let mut wind_projections = Vec::new();
        let mut projected: Vec<(*const FaceWind, std::sync::Arc<FaceWind>)> = Vec::new();
        let mut intervals = self.intervals.clone();
        for iv in intervals.iter_mut().filter(|iv| iv.wind.divergent) {
            let key = std::sync::Arc::as_ptr(&iv.wind);
            if let Some((_, w)) = projected.iter().find(|(k, _)| *k == key) {
                iv.wind = w.clone();
                continue;
            }
            let ops = projection::v_cycle(g.nx, g.ny);
            let (w, m) =
                projection::project(g, &iv.wind, |psi, rhs, n| engine.poisson(&ops, psi, rhs, n))?;
            wind_projections.push(m);
            let w = std::sync::Arc::new(w);
            projected.push((key, w.clone()));
            iv.wind = w;
        }
        let mut prev_lid = intervals.first().map_or(1.0, |i| i.mixing_height_m);
        for (slot, interval) in intervals.iter().enumerate() {
            let lid = interval.mixing_height_m;
            let volume = area * lid;
            // the lid moves: a rising lid dilutes the layer (mass kept), a falling one leaves
            // what is above it in the residual layer
            if lid != prev_lid {
                let factor = if lid > prev_lid { prev_lid / lid } else { 1.0 };
                let sums = engine.rescale(factor as f32)?;
                if lid < prev_lid {
                    for (r, sum) in book.residual.iter_mut().zip(&sums) {
                        *r += sum * area * (prev_lid - lid);
                    }
                }
                prev_lid = lid;
            }
            let plumes = if self.near_field.enabled {
                let t = std::time::Instant::now();
                let ip = near::interval_plumes(g, &self.near_field, &self.emitters, interval, np);
                for (m, r) in max_rise.iter_mut().zip(&ip.rise) {
                    *m = m.max(r.final_m);
                }
                near_evals += engine.near_field(
                    &ip,
                    &grid_rec,
                    &points,
                    &mut near_cells,
                    &mut near_points,
                )?;
                near_wall += t.elapsed().as_secs_f64();
                Some(ip)
            } else {
                None
            };
            let sources = self.interval_sources(interval, plumes.as_ref(), &mut transit, &mut book);
            let (n, dt, tp, ep) = self.step_params(interval, sources.len());
            // what one interval adds to a cell must stay well inside the fixed-point range
            if let Some(s) = sources.iter().find(|s| {
                (s.rate * interval.duration_s).is_nan()
                    || s.rate * interval.duration_s > MAX_CONCENTRATION_UG_M3
            }) {
                return Err(GpuError::TooLarge(format!(
                    "output interval {}: the {} emission into cell ({}, {}) adds {:.3e} µg/m³, \
                     beyond the {MAX_CONCENTRATION_UG_M3:e} µg/m³ the model's fixed-point state \
                     holds; check the emission rates",
                    slot + 1,
                    self.pollutants[s.pollutant as usize].as_str(),
                    s.cell as usize % g.nx,
                    s.cell as usize / g.nx,
                    s.rate * interval.duration_s
                )));
            }
            engine.set_interval(&interval.wind, dt, &tp, &ep, &sources)?;
            engine.steps(n)?;
            interval_int.fill(0.0);
            engine.take_integral(&mut interval_int)?;
            // the fixed-point state holds ±2^31 µg/m³: a mean beyond MAX_CONCENTRATION_UG_M3
            // (0.5 kg/m³, no physical air) means an emission far outside any real one, and the
            // state may have wrapped; stop rather than write wrapped numbers
            let limit = MAX_CONCENTRATION_UG_M3 * interval.duration_s;
            if let Some(k) = interval_int
                .iter()
                .position(|x| x.is_nan() || x.abs() > limit)
            {
                let p = k / plane;
                return Err(GpuError::TooLarge(format!(
                    "output interval {}: the {} mean concentration in cell ({}, {}) reached {:.3e} \
                     µg/m³, beyond the {MAX_CONCENTRATION_UG_M3:e} µg/m³ the model's fixed-point \
                     state holds; check the emission rates",
                    slot + 1,
                    self.pollutants[p].as_str(),
                    (k % plane) % g.nx,
                    (k % plane) / g.nx,
                    interval_int[k] / interval.duration_s
                )));
            }
            engine.take_outflow(&mut outflow)?;
            let removal = self.removal_per_s(interval);
            for p in 0..np {
                let total: f64 = interval_int[p * plane..(p + 1) * plane].iter().sum();
                // what the fixed-point removal fraction actually took from the time integral
                let rate = tp.applied_removal_per_s(p, dt);
                let removed = rate * total * volume;
                let (lam, dep) = (self.decay_per_s[p], removal[p] - self.decay_per_s[p]);
                if lam + dep > 0.0 {
                    book.decayed[p] += removed * lam / (lam + dep);
                    book.deposited[p] += removed * dep / (lam + dep);
                }
                // outflow holds transfers in µg/m³ of the boundary cell
                book.left[p] += outflow[p] * volume;
                outflow[p] = 0.0;
            }
            steps += n;
            let d = interval.duration_s;
            // interval means at stations and receptors: the grid's mean there plus the plume
            if counted[slot] {
                counted_s += d;
                for (a, b) in grid_int.iter_mut().zip(&interval_int) {
                    *a += b;
                }
                if plumes.is_some() {
                    for (a, b) in near_int.iter_mut().zip(&near_cells) {
                        *a += f64::from(*b) * d;
                    }
                }
            }
            for (k, &(fx, fy)) in cells_of_points.iter().enumerate() {
                for p in 0..np {
                    let gm = bilinear(g, &interval_int[p * plane..(p + 1) * plane], fx, fy) / d;
                    let nf = if plumes.is_some() {
                        f64::from(near_points[k * np + p])
                    } else {
                        0.0
                    };
                    let v = (gm + nf) as f32;
                    if k < ns {
                        samples[(slot * ns + k) * np + p] = v;
                    } else {
                        receptor_samples[(slot * nr + k - ns) * np + p] = v;
                    }
                }
            }
            if slot + 1 == self.intervals.len() && plumes.is_some() {
                near_last.copy_from_slice(&near_cells);
            }
            progress(slot + 1, self.intervals.len());
        }
        let raw = engine.finish()?;
        let wall_s = start.elapsed().as_secs_f64();
        let last_volume = area * prev_lid;
        let budget = (0..np)
            .map(|p| {
                let in_grid = raw.state[p * plane..(p + 1) * plane]
                    .iter()
                    .map(|x| *x as i128)
                    .sum::<i128>() as f64
                    / STATE_ONE
                    * last_volume;
                let in_transit: f64 = transit.iter().map(|t| t[p]).sum();
                let emitted = book.emitted[p];
                let accounted = in_grid
                    + book.left[p]
                    + book.decayed[p]
                    + book.deposited[p]
                    + book.above[p]
                    + book.residual[p]
                    + in_transit
                    + book.outside[p];
                let err = if emitted > 0.0 {
                    (emitted - accounted).abs() / emitted
                } else {
                    0.0
                };
                MassBudget {
                    emitted_kg: emitted * 1e-9,
                    in_grid_kg: in_grid * 1e-9,
                    left_boundary_kg: book.left[p] * 1e-9,
                    decayed_kg: book.decayed[p] * 1e-9,
                    deposited_kg: book.deposited[p] * 1e-9,
                    above_mixed_layer_kg: book.above[p] * 1e-9,
                    residual_layer_kg: book.residual[p] * 1e-9,
                    near_field_transit_kg: in_transit * 1e-9,
                    handed_over_outside_kg: book.outside[p] * 1e-9,
                    relative_error: err,
                }
            })
            .collect();
        let mean = |v: &f64| {
            if counted_s > 0.0 {
                (v / counted_s) as f32
            } else {
                0.0
            }
        };
        let grid_mean: Vec<f32> = grid_int.iter().map(mean).collect();
        let mean_conc = grid_mean
            .iter()
            .zip(&near_int)
            .map(|(a, b)| a + mean(b))
            .collect();
        let grid_final: Vec<f32> = raw.state.iter().map(|x| from_fixed(*x) as f32).collect();
        let final_conc = grid_final
            .iter()
            .zip(&near_last)
            .map(|(a, b)| a + b)
            .collect();
        Ok(DispersionRun {
            final_conc,
            mean_conc,
            grid_mean,
            grid_final,
            samples,
            receptor_samples,
            budget,
            max_rise_m: max_rise,
            steps,
            cell_updates: steps * (plane * np) as u64,
            near_evaluations: near_evals,
            wall_s,
            near_wall_s: near_wall,
            wind_projections,
            adapter,
        })
    }

    /// Stations then receptors, as near-field receptors relative to the grid's corner.
    fn point_receptors(&self) -> Vec<near::NearReceptor> {
        let g = &self.grid;
        let st = self.stations.iter().map(|(_, s)| near::NearReceptor {
            x: ((f64::from(s.fx) + 0.5) * g.cell_m) as f32,
            y: ((f64::from(s.fy) + 0.5) * g.cell_m) as f32,
            z: self.near_field.raster_height_m as f32,
            tile: 0,
        });
        let rc = self.receptors.iter().map(|r| near::NearReceptor {
            x: (r.x_m - g.x0) as f32,
            y: (r.y_m - g.y0) as f32,
            z: r.z_m as f32,
            tile: 0,
        });
        st.chain(rc).collect()
    }

    /// Stations then receptors in continuous cell coordinates.
    fn point_cells(&self) -> Vec<(f64, f64)> {
        let st = self
            .stations
            .iter()
            .map(|(_, s)| (f64::from(s.fx), f64::from(s.fy)));
        let rc = self
            .receptors
            .iter()
            .map(|r| self.grid.cell_coords(r.x_m, r.y_m));
        st.chain(rc).collect()
    }
}

/// What a run books per pollutant, µg.
struct Book {
    emitted: Vec<f64>,
    left: Vec<f64>,
    decayed: Vec<f64>,
    deposited: Vec<f64>,
    above: Vec<f64>,
    residual: Vec<f64>,
    outside: Vec<f64>,
}

impl Book {
    fn new(np: usize) -> Self {
        Self {
            emitted: vec![0.0; np],
            left: vec![0.0; np],
            decayed: vec![0.0; np],
            deposited: vec![0.0; np],
            above: vec![0.0; np],
            residual: vec![0.0; np],
            outside: vec![0.0; np],
        }
    }
}

/// Bilinear interpolation of a cell-centred plane at continuous cell coordinates (clamped to
/// the outer cell centres).
pub fn bilinear(grid: &Grid, plane: &[f64], fx: f64, fy: f64) -> f64 {
    let (nx, ny) = (grid.nx, grid.ny);
    let fx = fx.clamp(0.0, (nx - 1) as f64);
    let fy = fy.clamp(0.0, (ny - 1) as f64);
    let (i0, j0) = (fx.floor() as usize, fy.floor() as usize);
    let (i1, j1) = ((i0 + 1).min(nx - 1), (j0 + 1).min(ny - 1));
    let (tx, ty) = (fx - i0 as f64, fy - j0 as f64);
    let v = |i: usize, j: usize| plane[j * nx + i];
    let bottom = v(i0, j0) * (1.0 - tx) + v(i1, j0) * tx;
    let top = v(i0, j1) * (1.0 - tx) + v(i1, j1) * tx;
    bottom * (1.0 - ty) + top * ty
}

/// Raw buffers at the end of a run.
#[derive(Debug, Clone)]
pub struct RawState {
    /// Fixed-point concentration state, value · 2^-32 µg/m³ ([`from_fixed`]).
    pub state: Vec<i64>,
}

/// FNV-1a 64-bit hash of f32 bit patterns: the golden hash of a deterministic field.
pub fn field_hash(values: &[f32]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for v in values {
        for b in v.to_bits().to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}
