//! Eulerian dispersion of pollutants in a depth-averaged mixed layer, on a regular grid in the
//! projected CRS, on the GPU (WGSL stages in `shaders/dispersion/`) or on the CPU twin.
//!
//! The model solves ∂c/∂t + ∇·(u c) = ∇·(K ∇c) + S/h − (λ + v_d/h) c for each pollutant, c in
//! µg/m³ averaged over the mixing height h. Each time step runs two stages:
//! `emit` (sources add dt·S to their cells) and `transport` (flux-form advection with a van Leer
//! flux limiter, explicit central diffusion, then implicit first-order removal). Time steps are
//! CFL-adaptive sub-steps of each output interval. Mass is conserved exactly up to f32 rounding:
//! every face flux leaves one cell and enters its neighbour, boundary outflow is accumulated per
//! face, and removal is accumulated through the time integral of concentration, so the budget
//! `emitted = in grid + left through boundaries + decayed + deposited` is checked, not derived.
//!
//! This module touches no file: scenarios are read by [`scenario`], outputs written by
//! `crate::output`.

pub mod analytic;
pub mod cpu;
mod engine;
pub mod scenario;

use bytemuck::{Pod, Zeroable};
use serde::Serialize;

use crate::gpu::{AdapterReport, GpuContext, GpuError};
use crate::grid::Grid;
use crate::model::Pollutant;

pub use engine::{CpuEngine, GpuEngine, StepEngine};

/// At most this many pollutants in one run (the transport uniform holds 8 removal factors).
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

/// Device limits the dispersion stages need (`transport` binds 7 storage buffers; WebGPU's
/// downlevel default is 4).
pub const GPU_LIMITS: crate::gpu::shaders::StageLimits = crate::gpu::shaders::StageLimits {
    max_storage_buffers_per_shader_stage: 7,
    max_uniform_buffers_per_shader_stage: 1,
};

/// Uniform of stage `transport`. Layout matches `TransportParams` in `transport.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct TransportParams {
    /// Columns.
    pub nx: u32,
    /// Rows.
    pub ny: u32,
    /// Pollutants (planes).
    pub np: u32,
    /// Padding.
    pub _pad0: u32,
    /// Time step, s.
    pub dt: f32,
    /// 1 / cell width, 1/m.
    pub inv_dx: f32,
    /// 1 / cell height, 1/m.
    pub inv_dy: f32,
    /// Horizontal eddy diffusivity, m²/s.
    pub kdiff: f32,
    /// 1 / (1 + (λ + v_d/h)·dt) per pollutant: implicit first-order removal.
    pub keep: [f32; MAX_POLLUTANTS],
}

/// Uniform of stage `emit`.
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
    /// Time step, s.
    pub dt: f32,
    /// Padding.
    pub _pad: [f32; 3],
}

/// One emitting cell of one pollutant.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct SourceCell {
    /// Linear cell index, `j * nx + i`.
    pub cell: u32,
    /// Pollutant plane.
    pub pollutant: u32,
    /// Concentration rate in the cell, µg/m³/s (emission ÷ cell volume).
    pub rate: f32,
    /// Padding.
    pub _pad: f32,
}

/// Uniform of stage `sample_stations`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct SampleParams {
    /// Columns.
    pub nx: u32,
    /// Rows.
    pub ny: u32,
    /// Pollutants.
    pub np: u32,
    /// Stations.
    pub n_stations: u32,
    /// Output time index the samples are written to.
    pub slot: u32,
    /// Padding.
    pub _pad: [u32; 3],
}

/// A station's position in continuous cell coordinates (cell (i, j) centre at (i, j)).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct StationPoint {
    /// Column coordinate.
    pub fx: f32,
    /// Row coordinate.
    pub fy: f32,
    /// Padding.
    pub _pad: [f32; 2],
}

/// Wind on the grid's faces for one interval.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceWind {
    /// x-velocity on x-faces, `(nx + 1) * ny`, m/s.
    pub u: Vec<f32>,
    /// y-velocity on y-faces, `nx * (ny + 1)`, m/s.
    pub v: Vec<f32>,
}

impl FaceWind {
    /// The same wind everywhere.
    pub fn uniform(grid: &Grid, u: f64, v: f64) -> Self {
        Self {
            u: vec![u as f32; (grid.nx + 1) * grid.ny],
            v: vec![v as f32; grid.nx * (grid.ny + 1)],
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
        Self { u, v }
    }

    /// Largest |u| and |v| on any face.
    pub fn max_speeds(&self) -> (f64, f64) {
        let m = |x: &[f32]| x.iter().fold(0.0f64, |a, b| a.max(f64::from(b.abs())));
        (m(&self.u), m(&self.v))
    }
}

/// One output interval: its length, wind and diffusivity.
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    /// Length, seconds.
    pub duration_s: f64,
    /// Wind on the faces (shared between intervals with the same wind).
    pub wind: std::sync::Arc<FaceWind>,
    /// Horizontal diffusivity, m²/s.
    pub kdiff: f64,
}

/// Everything a dispersion run needs, already on the grid (no files, no dataset).
#[derive(Debug, Clone)]
pub struct DispersionProblem {
    /// The grid.
    pub grid: Grid,
    /// Pollutants, one plane each (at most [`MAX_POLLUTANTS`]).
    pub pollutants: Vec<Pollutant>,
    /// Mixing height, m.
    pub mixing_height_m: f64,
    /// First-order decay rate per pollutant, 1/s.
    pub decay_per_s: Vec<f64>,
    /// Dry deposition velocity per pollutant, m/s.
    pub deposition_m_s: Vec<f64>,
    /// Emitting cells.
    pub sources: Vec<SourceCell>,
    /// Station ids and positions.
    pub stations: Vec<(String, StationPoint)>,
    /// Output intervals, in order; stations are sampled at the end of each.
    pub intervals: Vec<Interval>,
    /// Safety factor on the explicit stability limit (≤ 0.5 keeps the 2D limited scheme positive).
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
    /// |emitted − (in grid + left + decayed + deposited)| / emitted.
    pub relative_error: f64,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct DispersionRun {
    /// Concentration at the end, `[pollutant][row][col]`, µg/m³.
    pub final_conc: Vec<f32>,
    /// Time-mean concentration over the run (every step), µg/m³.
    pub mean_conc: Vec<f32>,
    /// Station samples, `[interval][station][pollutant]`, µg/m³, at each interval's end.
    pub samples: Vec<f32>,
    /// Budget per pollutant.
    pub budget: Vec<MassBudget>,
    /// Time steps taken.
    pub steps: u64,
    /// steps × cells × pollutants.
    pub cell_updates: u64,
    /// Wall time of the stepping (upload to readback), s.
    pub wall_s: f64,
    /// `None` for the CPU twin.
    pub adapter: Option<AdapterReport>,
}

impl DispersionProblem {
    /// Number of sub-steps and their length for an interval: the explicit limit
    /// dt·(|u|/dx + |v|/dy + 2K/dx² + 2K/dy²) ≤ cfl.
    pub fn substeps(&self, interval: &Interval) -> (u64, f64) {
        let h = self.grid.cell_m;
        let (umax, vmax) = interval.wind.max_speeds();
        let rate = umax / h + vmax / h + 4.0 * interval.kdiff / (h * h);
        let dt_max = if rate > 0.0 {
            self.cfl / rate
        } else {
            interval.duration_s
        };
        let n = (interval.duration_s / dt_max).ceil().max(1.0) as u64;
        (n, interval.duration_s / n as f64)
    }

    /// Number of sub-steps of an interval and the uniforms of its `transport` and `emit` stages.
    pub fn step_params(&self, interval: &Interval) -> (u64, TransportParams, EmitParams) {
        let g = &self.grid;
        let np = self.pollutants.len() as u32;
        let (n, dt) = self.substeps(interval);
        let mut keep = [1.0f32; MAX_POLLUTANTS];
        for (k, r) in keep.iter_mut().zip(self.removal_per_s()) {
            *k = (1.0 / (1.0 + r * dt)) as f32;
        }
        let tp = TransportParams {
            nx: g.nx as u32,
            ny: g.ny as u32,
            np,
            _pad0: 0,
            dt: dt as f32,
            inv_dx: (1.0 / g.cell_m) as f32,
            inv_dy: (1.0 / g.cell_m) as f32,
            kdiff: interval.kdiff as f32,
            keep,
        };
        let ep = EmitParams {
            nx: tp.nx,
            ny: tp.ny,
            np,
            n_sources: self.sources.len() as u32,
            dt: tp.dt,
            _pad: [0.0; 3],
        };
        (n, tp, ep)
    }

    /// Removal rate λ + v_d/h per pollutant, 1/s.
    pub fn removal_per_s(&self) -> Vec<f64> {
        self.decay_per_s
            .iter()
            .zip(&self.deposition_m_s)
            .map(|(l, vd)| l + vd / self.mixing_height_m)
            .collect()
    }

    fn check(&self) -> Result<(), GpuError> {
        if self.pollutants.is_empty() || self.pollutants.len() > MAX_POLLUTANTS {
            return Err(GpuError::TooLarge(format!(
                "a run takes 1 to {MAX_POLLUTANTS} pollutants, not {}",
                self.pollutants.len()
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

    fn run_with<E: StepEngine>(
        &self,
        mut engine: E,
        adapter: Option<AdapterReport>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<DispersionRun, GpuError> {
        let g = &self.grid;
        let np = self.pollutants.len();
        let start = std::time::Instant::now();
        let mut steps = 0u64;
        let mut emitted_ug = vec![0.0f64; np];
        let volume = g.cell_m * g.cell_m * self.mixing_height_m;
        let plane = g.cells();
        let mut integral = vec![0.0f64; plane * np];
        let mut plane_sums = vec![0.0f64; np];
        // mass removed per pollutant, µg: what the f32 removal factor `keep` actually took,
        // 1/keep − 1 of each step's result, i.e. (1/keep − 1)/dt times the time integral
        let mut removed_ug = vec![0.0f64; np];
        for (slot, interval) in self.intervals.iter().enumerate() {
            let (n, tp, ep) = self.step_params(interval);
            engine.set_interval(&interval.wind, &tp, &ep)?;
            engine.steps(n)?;
            engine.sample(slot as u32)?;
            engine.take_integral(&mut integral)?;
            for p in 0..np {
                let total: f64 = integral[p * plane..(p + 1) * plane].iter().sum();
                let rate = (1.0 / f64::from(tp.keep[p]) - 1.0) / f64::from(tp.dt);
                removed_ug[p] += rate * (total - plane_sums[p]) * volume;
                plane_sums[p] = total;
            }
            steps += n;
            progress(slot + 1, self.intervals.len());
            // what the emit stage adds, in the f32 it adds it with
            for s in &self.sources {
                emitted_ug[s.pollutant as usize] += n as f64 * f64::from(ep.dt * s.rate) * volume;
            }
        }
        let raw = engine.finish()?;
        let wall_s = start.elapsed().as_secs_f64();
        let total_s: f64 = self.intervals.iter().map(|i| i.duration_s).sum();
        let faces = 2 * (g.nx + g.ny);
        let h = self.mixing_height_m;
        let budget = (0..np)
            .map(|p| {
                let in_grid = raw.state[p * plane..(p + 1) * plane]
                    .iter()
                    .map(|x| f64::from(x[0]) + f64::from(x[1]))
                    .sum::<f64>()
                    * volume;
                // outflow holds transfers in µg/m³ of the boundary cell
                let left: f64 = raw.outflow[p * faces..(p + 1) * faces]
                    .iter()
                    .map(|x| f64::from(*x))
                    .sum::<f64>()
                    * volume;
                // split what was removed in proportion to the two rates
                let (lam, dep) = (self.decay_per_s[p], self.deposition_m_s[p] / h);
                let (decayed, deposited) = if lam + dep > 0.0 {
                    (
                        removed_ug[p] * lam / (lam + dep),
                        removed_ug[p] * dep / (lam + dep),
                    )
                } else {
                    (0.0, 0.0)
                };
                let emitted = emitted_ug[p];
                let err = if emitted > 0.0 {
                    (emitted - (in_grid + left + decayed + deposited)).abs() / emitted
                } else {
                    0.0
                };
                MassBudget {
                    emitted_kg: emitted * 1e-9,
                    in_grid_kg: in_grid * 1e-9,
                    left_boundary_kg: left * 1e-9,
                    decayed_kg: decayed * 1e-9,
                    deposited_kg: deposited * 1e-9,
                    relative_error: err,
                }
            })
            .collect();
        let mean_conc = integral
            .iter()
            .map(|v| {
                if total_s > 0.0 {
                    (v / total_s) as f32
                } else {
                    0.0
                }
            })
            .collect();
        Ok(DispersionRun {
            final_conc: raw.state.iter().map(|x| x[0] + x[1]).collect(),
            mean_conc,
            samples: raw.samples,
            budget,
            steps,
            cell_updates: steps * (plane * np) as u64,
            wall_s,
            adapter,
        })
    }
}

/// Raw buffers at the end of a run.
#[derive(Debug, Clone)]
pub struct RawState {
    /// Double-single concentration state `[hi, lo]`, value hi + lo.
    pub state: Vec<[f32; 2]>,
    /// Time integral of boundary outflow per face.
    pub outflow: Vec<f32>,
    /// Station samples.
    pub samples: Vec<f32>,
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
