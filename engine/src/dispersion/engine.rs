//! The step-engine interface behind [`super::DispersionProblem::run`] and its CPU twin; the GPU
//! engine (a member slot of a batch) is in [`super::gpu_batch`]. Both hold the same buffers and run
//! the same stages; only where they run differs.

use std::sync::Arc;

use super::projection::{self, PoissonOp};
use super::{
    DispersionProblem, EmitCell, EmitParams, FaceWind, INTEGRAL_ONE, RawState, STATE_ONE,
    SourceCell, TransportParams, cpu, emit_cells, face_courant, near, to_fixed,
};
use crate::gpu::GpuError;

/// A backend that advances the dispersion state.
pub trait StepEngine {
    /// Sets the wind, step length (s), parameters and source cells for the next steps.
    fn set_interval(
        &mut self,
        wind: &Arc<FaceWind>,
        dt: f64,
        tp: &TransportParams,
        ep: &EmitParams,
        sources: &[SourceCell],
    ) -> Result<(), GpuError>;
    /// Runs `n` steps of `emit` + `transport`.
    fn steps(&mut self, n: u64) -> Result<(), GpuError>;
    /// Adds the time integral accumulated since the last call into `into` (f64) and restarts it.
    fn take_integral(&mut self, into: &mut [f64]) -> Result<(), GpuError>;
    /// Adds each pollutant's boundary outflow since the last call (µg/m³ of the boundary cells)
    /// into `into` and restarts it.
    fn take_outflow(&mut self, into: &mut [f64]) -> Result<(), GpuError>;
    /// Multiplies the state by `factor` (the lid rose) and returns each pollutant's sum of
    /// concentration before it, µg/m³ over cells.
    fn rescale(&mut self, factor: f32) -> Result<Vec<f64>, GpuError>;
    /// Stage `near_field` for one interval: the plumes at the grid receptors (`cells`, in
    /// `[pollutant][cell]` order) and at the point receptors (`points`, `[receptor][pollutant]`).
    /// Returns the number of receptor-plume evaluations.
    fn near_field(
        &mut self,
        plumes: &near::IntervalPlumes,
        grid_receptors: &[near::NearReceptor],
        point_receptors: &[near::NearReceptor],
        cells: &mut [f32],
        points: &mut [f32],
    ) -> Result<u64, GpuError>;
    /// `cycles` multigrid V-cycles of stage `poisson` (the dispatches `ops`) from the fine
    /// level's ψ (in/out) and right-hand side `rhs` ([`super::projection`]).
    fn poisson(
        &mut self,
        ops: &[PoissonOp],
        psi: &mut [i64],
        rhs: &[i64],
        cycles: usize,
    ) -> Result<(), GpuError>;
    /// Reads the final state back.
    fn finish(self) -> Result<RawState, GpuError>;
}

/// The inputs of one `near_field` dispatch, built once for both engines.
pub(super) struct NearInputs {
    pub tile_start: Vec<u32>,
    pub tile_plumes: Vec<u32>,
    pub tiles_x: usize,
    pub evaluations: u64,
}

pub(super) fn near_inputs(
    grid: &crate::grid::Grid,
    ip: &near::IntervalPlumes,
    n_points: usize,
) -> NearInputs {
    let (tile_start, tile_plumes, tiles_x) = near::tile_lists(grid, &ip.plumes);
    // receptor-plume pairs: each tile's list for each of its cells, every plume for each point
    let mut evaluations = (n_points * ip.plumes.len()) as u64;
    let ty = grid.ny.div_ceil(near::TILE);
    for tj in 0..ty {
        for ti in 0..tiles_x {
            let t = tj * tiles_x + ti;
            let w = (grid.nx - ti * near::TILE).min(near::TILE);
            let h = (grid.ny - tj * near::TILE).min(near::TILE);
            evaluations += u64::from(tile_start[t + 1] - tile_start[t]) * (w * h) as u64;
        }
    }
    NearInputs {
        tile_start,
        tile_plumes,
        tiles_x,
        evaluations,
    }
}

/// `[cell][pollutant]` (the stage's receptor order) to `[pollutant][cell]`.
pub(super) fn to_planes(by_cell: &[f32], np: usize, cells: &mut [f32]) {
    let plane = cells.len() / np.max(1);
    for (c, v) in by_cell.chunks(np).enumerate() {
        for (p, x) in v.iter().enumerate() {
            cells[p * plane + c] = *x;
        }
    }
}

/// The CPU twin: plain vectors, stages from [`cpu`].
pub struct CpuEngine {
    state: Vec<i64>,
    next: Vec<i64>,
    integral: Vec<i64>,
    outflow: Vec<i64>,
    sources: Vec<EmitCell>,
    cour_x: Vec<i32>,
    cour_y: Vec<i32>,
    dt: f64,
    tp: Option<TransportParams>,
    ep: Option<EmitParams>,
    grid: crate::grid::Grid,
    np: usize,
    step: u64,
}

impl CpuEngine {
    /// Zeroed state for a problem.
    pub fn new(problem: &DispersionProblem) -> Self {
        let g = &problem.grid;
        let n = g.cells() * problem.pollutants.len();
        Self {
            state: vec![0; n],
            next: vec![0; n],
            integral: vec![0; n],
            outflow: vec![0; 2 * (g.nx + g.ny) * problem.pollutants.len()],
            sources: Vec::new(),
            cour_x: Vec::new(),
            cour_y: Vec::new(),
            dt: 0.0,
            tp: None,
            ep: None,
            grid: g.clone(),
            np: problem.pollutants.len(),
            step: 0,
        }
    }

    /// Starts from a given concentration field (for parity tests).
    pub fn with_initial(mut self, conc: &[f32]) -> Self {
        for (s, c) in self.state.iter_mut().zip(conc) {
            *s = to_fixed(f64::from(*c));
        }
        self
    }
}

impl StepEngine for CpuEngine {
    fn set_interval(
        &mut self,
        wind: &Arc<FaceWind>,
        dt: f64,
        tp: &TransportParams,
        ep: &EmitParams,
        sources: &[SourceCell],
    ) -> Result<(), GpuError> {
        (self.cour_x, self.cour_y) = face_courant(&self.grid, wind, dt);
        self.dt = dt;
        self.tp = Some(*tp);
        self.ep = Some(*ep);
        self.sources = emit_cells(sources, dt);
        Ok(())
    }

    fn steps(&mut self, n: u64) -> Result<(), GpuError> {
        let (Some(tp), Some(ep)) = (self.tp, self.ep) else {
            return Err(GpuError::Readback("steps before set_interval".into()));
        };
        for _ in 0..n {
            cpu::emit(&ep, &self.sources, &mut self.state);
            cpu::transport_step(
                &tp,
                self.step,
                &self.cour_x,
                &self.cour_y,
                &self.state,
                &mut self.next,
                &mut self.integral,
                &mut self.outflow,
            );
            std::mem::swap(&mut self.state, &mut self.next);
            self.step += 1;
        }
        Ok(())
    }

    fn take_integral(&mut self, into: &mut [f64]) -> Result<(), GpuError> {
        let scale = self.dt / INTEGRAL_ONE;
        for (acc, v) in into.iter_mut().zip(self.integral.iter_mut()) {
            *acc += *v as f64 * scale;
            *v = 0;
        }
        Ok(())
    }

    fn take_outflow(&mut self, into: &mut [f64]) -> Result<(), GpuError> {
        let faces = 2 * (self.grid.nx + self.grid.ny);
        for (p, acc) in into.iter_mut().enumerate() {
            *acc += outflow_sum(&self.outflow[p * faces..(p + 1) * faces]);
        }
        self.outflow.fill(0);
        Ok(())
    }

    fn rescale(&mut self, factor: f32) -> Result<Vec<f64>, GpuError> {
        Ok(rescale_state(&mut self.state, self.np, factor))
    }

    fn near_field(
        &mut self,
        plumes: &near::IntervalPlumes,
        grid_receptors: &[near::NearReceptor],
        point_receptors: &[near::NearReceptor],
        cells: &mut [f32],
        points: &mut [f32],
    ) -> Result<u64, GpuError> {
        let inputs = near_inputs(&self.grid, plumes, point_receptors.len());
        let np = self.np as u32;
        let mut by_cell = vec![0.0f32; grid_receptors.len() * self.np];
        let params = near::NearParams {
            n_receptors: grid_receptors.len() as u32,
            np,
            tiles_x: inputs.tiles_x as u32,
            n_plumes: plumes.plumes.len() as u32,
        };
        near::near_field(
            &params,
            grid_receptors,
            &plumes.plumes,
            &plumes.rates,
            &inputs.tile_start,
            &inputs.tile_plumes,
            &mut by_cell,
        );
        to_planes(&by_cell, self.np, cells);
        let params = near::NearParams {
            n_receptors: point_receptors.len() as u32,
            tiles_x: 0,
            ..params
        };
        near::near_field(
            &params,
            point_receptors,
            &plumes.plumes,
            &plumes.rates,
            &inputs.tile_start,
            &inputs.tile_plumes,
            points,
        );
        Ok(inputs.evaluations)
    }

    fn poisson(
        &mut self,
        ops: &[PoissonOp],
        psi: &mut [i64],
        rhs: &[i64],
        cycles: usize,
    ) -> Result<(), GpuError> {
        let n = projection::level_cells(self.grid.nx, self.grid.ny);
        let (mut psi_all, mut rhs_all) = (vec![0i64; n], vec![0i64; n]);
        cpu::poisson_cycles(ops, &mut psi_all, &mut rhs_all, psi, rhs, cycles);
        Ok(())
    }

    fn finish(self) -> Result<RawState, GpuError> {
        Ok(RawState { state: self.state })
    }
}

/// Each pollutant's sum of the state (µg/m³ over cells), then the state times `factor` (the lid
/// rose), rounded to the fixed-point unit. Both engines use this one function (the GPU's state
/// makes the round trip through the host), so the result does not depend on the device.
pub(super) fn rescale_state(state: &mut [i64], np: usize, factor: f32) -> Vec<f64> {
    let plane = state.len() / np.max(1);
    let mut sums = vec![0.0f64; np];
    for (p, sum) in sums.iter_mut().enumerate() {
        let mut total = 0i128;
        for x in &mut state[p * plane..(p + 1) * plane] {
            total += i128::from(*x);
            if factor != 1.0 {
                *x = (*x as f64 * f64::from(factor)).round() as i64;
            }
        }
        *sum = total as f64 / STATE_ONE;
    }
    sums
}

/// The boundary transfers of one pollutant in µg/m³ of the boundary cells.
pub(super) fn outflow_sum(faces: &[i64]) -> f64 {
    faces.iter().map(|x| i128::from(*x)).sum::<i128>() as f64 / STATE_ONE
}
