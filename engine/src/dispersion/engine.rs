//! The two step engines behind [`super::DispersionProblem::run`]: the CPU twin and the GPU.
//! Both hold the same buffers and run the same stages; only where they run differs.

use std::sync::Arc;

use super::projection::{self, PoissonOp, PoissonParams};
use super::{
    DispersionProblem, EmitCell, EmitParams, FaceWind, INTEGRAL_ONE, RawState, STATE_ONE,
    SourceCell, TransportParams, cpu, emit_cells, face_courant, join_i64, near, split_i64,
    to_fixed,
};
use crate::gpu::{self, GpuContext, GpuError, Kernel};

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
struct NearInputs {
    tile_start: Vec<u32>,
    tile_plumes: Vec<u32>,
    tiles_x: usize,
    evaluations: u64,
}

fn near_inputs(grid: &crate::grid::Grid, ip: &near::IntervalPlumes, n_points: usize) -> NearInputs {
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
fn to_planes(by_cell: &[f32], np: usize, cells: &mut [f32]) {
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
            for sweep in tp.sweeps(self.step) {
                cpu::transport(
                    &sweep,
                    &self.cour_x,
                    &self.cour_y,
                    &self.state,
                    &mut self.next,
                    &mut self.integral,
                    &mut self.outflow,
                );
                std::mem::swap(&mut self.state, &mut self.next);
            }
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
fn rescale_state(state: &mut [i64], np: usize, factor: f32) -> Vec<f64> {
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
fn outflow_sum(faces: &[i64]) -> f64 {
    faces.iter().map(|x| i128::from(*x)).sum::<i128>() as f64 / STATE_ONE
}

/// Steps per submission: enough to amortise submission, few enough to keep command buffers small.
const STEPS_PER_SUBMIT: u64 = 128;

/// The GPU engine: the same buffers on the device, ping-ponged between two concentration fields.
pub struct GpuEngine<'a> {
    ctx: &'a GpuContext,
    emit: Kernel,
    transport: Kernel,
    near: Kernel,
    conc: [wgpu::Buffer; 2],
    integral: wgpu::Buffer,
    outflow: wgpu::Buffer,
    cour_x: wgpu::Buffer,
    cour_y: wgpu::Buffer,
    dt: f64,
    tp_buf: [wgpu::Buffer; 4],
    ep_buf: wgpu::Buffer,
    sources_buf: wgpu::Buffer,
    sources_cap: usize,
    emit_bg: [wgpu::BindGroup; 2],
    transport_bg: [[wgpu::BindGroup; 2]; 4],
    grid_receptors: Option<wgpu::Buffer>,
    /// Stage `poisson`'s three kernels, compiled at first use.
    poisson_kernels: Option<[Kernel; 3]>,
    current: usize,
    step: u64,
    n_sources: usize,
    dims: [u32; 3],
    grid: crate::grid::Grid,
}

impl<'a> GpuEngine<'a> {
    /// Uploads a problem's zeroed state.
    pub fn new(ctx: &'a GpuContext, problem: &DispersionProblem) -> Result<Self, GpuError> {
        Self::with_initial(ctx, problem, None)
    }

    /// Like [`GpuEngine::new`], starting from a given concentration field.
    pub fn with_initial(
        ctx: &'a GpuContext,
        problem: &DispersionProblem,
        initial: Option<&[f32]>,
    ) -> Result<Self, GpuError> {
        let g = &problem.grid;
        let np = problem.pollutants.len();
        let n = g.cells() * np;
        let bytes = (n * 8) as u64;
        if bytes > ctx.limits.max_storage_buffer_binding_size {
            return Err(GpuError::TooLarge(format!(
                "a {}x{}x{np} grid needs {bytes} bytes per field; the adapter binds at most {}",
                g.nx, g.ny, ctx.limits.max_storage_buffer_binding_size
            )));
        }
        // the transport dispatch is 16×16 tiles per pollutant: each dimension within the
        // 65,535 workgroups every adapter allows
        let tiles = [g.nx.div_ceil(16), g.ny.div_ceil(16), np];
        if tiles.iter().any(|t| *t > 65_535) {
            return Err(GpuError::TooLarge(format!(
                "a {}x{}x{np} grid needs {tiles:?} workgroups; at most 65535 along each dimension",
                g.nx, g.ny
            )));
        }
        let init: Vec<[u32; 2]> = match initial {
            Some(c) => c
                .iter()
                .map(|v| split_i64(to_fixed(f64::from(*v))))
                .collect(),
            None => vec![[0; 2]; n],
        };
        let conc = [
            ctx.storage("state-a", &init),
            ctx.storage_zeroed::<[u32; 2]>("state-b", n),
        ];
        let integral = ctx.storage_zeroed::<[u32; 2]>("integral", n);
        let outflow = ctx.storage_zeroed::<[u32; 2]>("outflow", 2 * (g.nx + g.ny) * np);
        let cour_x = ctx.storage_zeroed::<i32>("courant-x", (g.nx + 1) * g.ny);
        let cour_y = ctx.storage_zeroed::<i32>("courant-y", g.nx * (g.ny + 1));
        let sources_cap = 1024;
        let sources_buf = ctx.storage_zeroed::<EmitCell>("sources", sources_cap);
        // one uniform per sweep kind (`pass_flags` 0..=3: axis, last sweep of the step)
        let tp_buf = [0, 1, 2, 3].map(|_| {
            ctx.uniform(
                "transport-params",
                &<TransportParams as bytemuck::Zeroable>::zeroed(),
            )
        });
        let ep_buf = ctx.uniform("emit-params", &<EmitParams as bytemuck::Zeroable>::zeroed());
        let emit = ctx.kernel(&gpu::shaders::DISPERSION_EMIT);
        let transport = ctx.kernel(&gpu::shaders::DISPERSION_TRANSPORT);
        let near = ctx.kernel(&gpu::shaders::DISPERSION_NEAR_FIELD);
        let emit_bg = [0, 1].map(|k| ctx.bind(&emit, &[&ep_buf, &sources_buf, &conc[k]]));
        let transport_bg = [0, 1, 2, 3].map(|kind| {
            [0, 1].map(|k| {
                ctx.bind(
                    &transport,
                    &[
                        &tp_buf[kind],
                        &cour_x,
                        &cour_y,
                        &conc[k],
                        &conc[1 - k],
                        &integral,
                        &outflow,
                    ],
                )
            })
        });
        Ok(Self {
            ctx,
            emit,
            transport,
            near,
            conc,
            integral,
            outflow,
            cour_x,
            cour_y,
            dt: 0.0,
            tp_buf,
            ep_buf,
            sources_buf,
            sources_cap,
            emit_bg,
            transport_bg,
            grid_receptors: None,
            poisson_kernels: None,
            current: 0,
            step: 0,
            n_sources: 0,
            dims: [g.nx as u32, g.ny as u32, np as u32],
            grid: g.clone(),
        })
    }

    /// Runs `near_field` over `receptors` and reads back `[receptor][pollutant]`.
    #[allow(clippy::too_many_arguments)]
    fn dispatch_near(
        &self,
        receptors: &wgpu::Buffer,
        n_receptors: usize,
        tiles_x: u32,
        plumes: &wgpu::Buffer,
        rates: &wgpu::Buffer,
        tile_start: &wgpu::Buffer,
        tile_plumes: &wgpu::Buffer,
        n_plumes: usize,
    ) -> Result<Vec<f32>, GpuError> {
        let np = self.dims[2];
        let params = near::NearParams {
            n_receptors: n_receptors as u32,
            np,
            tiles_x,
            n_plumes: n_plumes as u32,
        };
        let p_buf = self.ctx.uniform("near-params", &params);
        let out = self
            .ctx
            .storage_zeroed::<f32>("near-out", (n_receptors * np as usize).max(1));
        let bg = self.ctx.bind(
            &self.near,
            &[
                &p_buf,
                receptors,
                plumes,
                rates,
                tile_start,
                tile_plumes,
                &out,
            ],
        );
        let mut enc = self.ctx.encoder();
        self.near
            .dispatch(&mut enc, &bg, gpu::groups_2d(n_receptors, 64));
        self.ctx.submit_and_wait(enc)?;
        let mut v = self.ctx.read::<f32>(&out)?;
        v.truncate(n_receptors * np as usize);
        Ok(v)
    }
}

/// A storage buffer of `data`, or of one zeroed element when `data` is empty (WebGPU binds no
/// empty buffer).
fn storage_or_one<T: bytemuck::Pod + bytemuck::Zeroable>(
    ctx: &GpuContext,
    label: &str,
    data: &[T],
) -> wgpu::Buffer {
    if data.is_empty() {
        ctx.storage(label, &[T::zeroed()])
    } else {
        ctx.storage(label, data)
    }
}

impl StepEngine for GpuEngine<'_> {
    fn set_interval(
        &mut self,
        wind: &Arc<FaceWind>,
        dt: f64,
        tp: &TransportParams,
        ep: &EmitParams,
        sources: &[SourceCell],
    ) -> Result<(), GpuError> {
        let sources = emit_cells(sources, dt);
        let sources = sources.as_slice();
        let bytes = std::mem::size_of_val(sources) as u64;
        if bytes > self.ctx.limits.max_storage_buffer_binding_size {
            return Err(GpuError::TooLarge(format!(
                "{} source cells need {bytes} bytes; the adapter binds at most {}",
                sources.len(),
                self.ctx.limits.max_storage_buffer_binding_size
            )));
        }
        if sources.len() > self.sources_cap {
            self.sources_cap = sources.len().next_power_of_two();
            self.sources_buf = self
                .ctx
                .storage_zeroed::<EmitCell>("sources", self.sources_cap);
            let (ctx, emit, ep_buf, sources_buf) =
                (self.ctx, &self.emit, &self.ep_buf, &self.sources_buf);
            self.emit_bg = [0, 1].map(|k| ctx.bind(emit, &[ep_buf, sources_buf, &self.conc[k]]));
        }
        if !sources.is_empty() {
            self.ctx.write(&self.sources_buf, sources);
        }
        self.n_sources = sources.len();
        let (cx, cy) = face_courant(&self.grid, wind, dt);
        self.ctx.write(&self.cour_x, &cx);
        self.ctx.write(&self.cour_y, &cy);
        self.dt = dt;
        for kind in 0..4u32 {
            let sweep = TransportParams {
                pass_flags: kind,
                ..*tp
            };
            self.ctx
                .write(&self.tp_buf[kind as usize], std::slice::from_ref(&sweep));
        }
        self.ctx.write(&self.ep_buf, std::slice::from_ref(ep));
        Ok(())
    }

    fn steps(&mut self, n: u64) -> Result<(), GpuError> {
        let [nx, ny, np] = self.dims;
        let mut left = n;
        while left > 0 {
            let batch = left.min(STEPS_PER_SUBMIT);
            let mut enc = self.ctx.encoder();
            for _ in 0..batch {
                let k = self.current;
                if self.n_sources > 0 {
                    self.emit.dispatch(
                        &mut enc,
                        &self.emit_bg[k],
                        gpu::groups_2d(self.n_sources, 64),
                    );
                }
                // x then y on even steps, y then x on odd ones (`TransportParams::sweeps`);
                // two sweeps bring the state back to buffer k
                let (first, second) = if self.step.is_multiple_of(2) {
                    (0, 3)
                } else {
                    (1, 2)
                };
                for (kind, from) in [(first, k), (second, 1 - k)] {
                    self.transport.dispatch(
                        &mut enc,
                        &self.transport_bg[kind][from],
                        [nx.div_ceil(16), ny.div_ceil(16), np],
                    );
                }
                self.step += 1;
            }
            self.ctx.submit(enc);
            left -= batch;
        }
        Ok(())
    }

    fn take_integral(&mut self, into: &mut [f64]) -> Result<(), GpuError> {
        let v = self.ctx.read::<[u32; 2]>(&self.integral)?;
        let scale = self.dt / INTEGRAL_ONE;
        for (acc, x) in into.iter_mut().zip(&v) {
            *acc += join_i64(*x) as f64 * scale;
        }
        let mut enc = self.ctx.encoder();
        enc.clear_buffer(&self.integral, 0, None);
        self.ctx.submit(enc);
        Ok(())
    }

    fn take_outflow(&mut self, into: &mut [f64]) -> Result<(), GpuError> {
        let v: Vec<i64> = self
            .ctx
            .read::<[u32; 2]>(&self.outflow)?
            .into_iter()
            .map(join_i64)
            .collect();
        let faces = 2 * (self.grid.nx + self.grid.ny);
        for (p, acc) in into.iter_mut().enumerate() {
            *acc += outflow_sum(&v[p * faces..(p + 1) * faces]);
        }
        let mut enc = self.ctx.encoder();
        enc.clear_buffer(&self.outflow, 0, None);
        self.ctx.submit(enc);
        Ok(())
    }

    fn rescale(&mut self, factor: f32) -> Result<Vec<f64>, GpuError> {
        let mut state: Vec<i64> = self
            .ctx
            .read::<[u32; 2]>(&self.conc[self.current])?
            .into_iter()
            .map(join_i64)
            .collect();
        let sums = rescale_state(&mut state, self.dims[2] as usize, factor);
        if factor != 1.0 {
            let back: Vec<[u32; 2]> = state.into_iter().map(split_i64).collect();
            self.ctx.write(&self.conc[self.current], &back);
        }
        Ok(sums)
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
        let plume_buf = storage_or_one(self.ctx, "near-plumes", &plumes.plumes);
        let rate_buf = storage_or_one(self.ctx, "near-rates", &plumes.rates);
        let start_buf = storage_or_one(self.ctx, "tile-start", &inputs.tile_start);
        let list_buf = storage_or_one(self.ctx, "tile-plumes", &inputs.tile_plumes);
        if !grid_receptors.is_empty() {
            if self.grid_receptors.is_none() {
                self.grid_receptors = Some(self.ctx.storage("grid-receptors", grid_receptors));
            }
            if let Some(rec) = &self.grid_receptors {
                let by_cell = self.dispatch_near(
                    rec,
                    grid_receptors.len(),
                    inputs.tiles_x as u32,
                    &plume_buf,
                    &rate_buf,
                    &start_buf,
                    &list_buf,
                    plumes.plumes.len(),
                )?;
                to_planes(&by_cell, self.dims[2] as usize, cells);
            }
        }
        if !point_receptors.is_empty() {
            let rec = self.ctx.storage("point-receptors", point_receptors);
            let v = self.dispatch_near(
                &rec,
                point_receptors.len(),
                0,
                &plume_buf,
                &rate_buf,
                &start_buf,
                &list_buf,
                plumes.plumes.len(),
            )?;
            points.copy_from_slice(&v);
        }
        Ok(inputs.evaluations)
    }

    fn poisson(
        &mut self,
        ops: &[PoissonOp],
        psi: &mut [i64],
        rhs: &[i64],
        cycles: usize,
    ) -> Result<(), GpuError> {
        let ctx = self.ctx;
        let n = projection::level_cells(self.grid.nx, self.grid.ny);
        let bytes = (n * 8) as u64;
        if bytes > ctx.limits.max_storage_buffer_binding_size {
            return Err(GpuError::TooLarge(format!(
                "the wind's multigrid levels on a {}x{} grid need {bytes} bytes; the adapter binds at most {}",
                self.grid.nx, self.grid.ny, ctx.limits.max_storage_buffer_binding_size
            )));
        }
        let fixed = |v: &[i64]| -> Vec<[u32; 2]> {
            let mut out: Vec<[u32; 2]> = v.iter().map(|x| split_i64(*x)).collect();
            out.resize(n, [0; 2]);
            out
        };
        let psi_buf = ctx.storage("poisson-psi", &fixed(psi));
        let rhs_buf = ctx.storage("poisson-rhs", &fixed(rhs));
        let kernels = self.poisson_kernels.get_or_insert_with(|| {
            [
                ctx.kernel(&gpu::shaders::DISPERSION_POISSON_SMOOTH),
                ctx.kernel(&gpu::shaders::DISPERSION_POISSON_RESTRICT),
                ctx.kernel(&gpu::shaders::DISPERSION_POISSON_PROLONG),
            ]
        });
        // one uniform and bind group per dispatch of the cycle, reused by every cycle
        let steps: Vec<(usize, wgpu::BindGroup, [u32; 3])> = ops
            .iter()
            .map(|op| {
                let p: &PoissonParams = op.params();
                let (k, dims) = match op {
                    PoissonOp::Smooth(_) | PoissonOp::Prolong(_) => (
                        if matches!(op, PoissonOp::Smooth(_)) {
                            0
                        } else {
                            2
                        },
                        [p.nx, p.ny],
                    ),
                    PoissonOp::Restrict(_) => (1, [p.nx_c, p.ny_c]),
                };
                let u = ctx.uniform("poisson-params", p);
                // prolongation reads no right-hand side (the layout is inferred from use)
                let bg = if k == 2 {
                    ctx.bind(&kernels[k], &[&u, &psi_buf])
                } else {
                    ctx.bind(&kernels[k], &[&u, &psi_buf, &rhs_buf])
                };
                (k, bg, [dims[0].div_ceil(16), dims[1].div_ceil(16), 1])
            })
            .collect();
        for _ in 0..cycles {
            let mut enc = ctx.encoder();
            for (k, bg, groups) in &steps {
                kernels[*k].dispatch(&mut enc, bg, *groups);
            }
            ctx.submit(enc);
        }
        let out = ctx.read::<[u32; 2]>(&psi_buf)?;
        for (p, x) in psi.iter_mut().zip(out) {
            *p = join_i64(x);
        }
        Ok(())
    }

    fn finish(self) -> Result<RawState, GpuError> {
        let state = self
            .ctx
            .read::<[u32; 2]>(&self.conc[self.current])?
            .into_iter()
            .map(join_i64)
            .collect();
        Ok(RawState { state })
    }
}
