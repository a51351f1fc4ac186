//! The two step engines behind [`super::DispersionProblem::run`]: the CPU twin and the GPU.
//! Both hold the same buffers and run the same stages; only where they run differs.

use std::sync::Arc;

use super::{
    DispersionProblem, EmitParams, FaceWind, RawState, SourceCell, TransportParams, cpu, near,
};
use crate::gpu::{self, GpuContext, GpuError, Kernel};

/// A backend that advances the dispersion state.
pub trait StepEngine {
    /// Sets the wind, parameters and source cells for the next steps.
    fn set_interval(
        &mut self,
        wind: &Arc<FaceWind>,
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
    state: Vec<[f32; 2]>,
    next: Vec<[f32; 2]>,
    integral: Vec<[f32; 2]>,
    outflow: Vec<f32>,
    outflow_comp: Vec<f32>,
    sources: Vec<SourceCell>,
    wind: Arc<FaceWind>,
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
            state: vec![[0.0; 2]; n],
            next: vec![[0.0; 2]; n],
            integral: vec![[0.0; 2]; n],
            outflow: vec![0.0; 2 * (g.nx + g.ny) * problem.pollutants.len()],
            outflow_comp: vec![0.0; 2 * (g.nx + g.ny) * problem.pollutants.len()],
            sources: Vec::new(),
            wind: Arc::new(FaceWind {
                u: Vec::new(),
                v: Vec::new(),
            }),
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
            *s = [*c, 0.0];
        }
        self
    }
}

impl StepEngine for CpuEngine {
    fn set_interval(
        &mut self,
        wind: &Arc<FaceWind>,
        tp: &TransportParams,
        ep: &EmitParams,
        sources: &[SourceCell],
    ) -> Result<(), GpuError> {
        self.wind = Arc::clone(wind);
        self.tp = Some(*tp);
        self.ep = Some(*ep);
        self.sources.clear();
        self.sources.extend_from_slice(sources);
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
                    &self.wind.u,
                    &self.wind.v,
                    &self.state,
                    &mut self.next,
                    &mut self.integral,
                    &mut self.outflow,
                    &mut self.outflow_comp,
                );
                std::mem::swap(&mut self.state, &mut self.next);
            }
            self.step += 1;
        }
        Ok(())
    }

    fn take_integral(&mut self, into: &mut [f64]) -> Result<(), GpuError> {
        for (acc, v) in into.iter_mut().zip(self.integral.iter_mut()) {
            *acc += f64::from(v[0]) - f64::from(v[1]);
            *v = [0.0; 2];
        }
        Ok(())
    }

    fn take_outflow(&mut self, into: &mut [f64]) -> Result<(), GpuError> {
        let faces = 2 * (self.grid.nx + self.grid.ny);
        for (p, acc) in into.iter_mut().enumerate() {
            *acc += self.outflow[p * faces..(p + 1) * faces]
                .iter()
                .map(|x| f64::from(*x))
                .sum::<f64>();
        }
        self.outflow.fill(0.0);
        self.outflow_comp.fill(0.0);
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

    fn finish(self) -> Result<RawState, GpuError> {
        Ok(RawState { state: self.state })
    }
}

/// Each pollutant's sum of the state (hi + lo, f64), then the state times `factor` (as
/// `cpu::ds_mul`): the lid rose. Both engines use this one function (the GPU's state makes the
/// round trip through the host), so the result does not depend on the device.
fn rescale_state(state: &mut [[f32; 2]], np: usize, factor: f32) -> Vec<f64> {
    let plane = state.len() / np.max(1);
    let mut sums = vec![0.0f64; np];
    for (p, sum) in sums.iter_mut().enumerate() {
        for x in &mut state[p * plane..(p + 1) * plane] {
            *sum += f64::from(x[0]) + f64::from(x[1]);
            if factor != 1.0 {
                *x = cpu::ds_mul(*x, factor);
            }
        }
    }
    sums
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
    outflow_comp: wgpu::Buffer,
    u_face: wgpu::Buffer,
    v_face: wgpu::Buffer,
    tp_buf: [wgpu::Buffer; 4],
    ep_buf: wgpu::Buffer,
    sources_buf: wgpu::Buffer,
    sources_cap: usize,
    emit_bg: [wgpu::BindGroup; 2],
    transport_bg: [[wgpu::BindGroup; 2]; 4],
    grid_receptors: Option<wgpu::Buffer>,
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
        let init: Vec<[f32; 2]> = match initial {
            Some(c) => c.iter().map(|v| [*v, 0.0]).collect(),
            None => vec![[0.0; 2]; n],
        };
        let conc = [
            ctx.storage("state-a", &init),
            ctx.storage_zeroed::<[f32; 2]>("state-b", n),
        ];
        let integral = ctx.storage_zeroed::<[f32; 2]>("integral", n);
        let outflow = ctx.storage_zeroed::<f32>("outflow", 2 * (g.nx + g.ny) * np);
        let outflow_comp = ctx.storage_zeroed::<f32>("outflow-comp", 2 * (g.nx + g.ny) * np);
        let u_face = ctx.storage_zeroed::<f32>("u-face", (g.nx + 1) * g.ny);
        let v_face = ctx.storage_zeroed::<f32>("v-face", g.nx * (g.ny + 1));
        let sources_cap = 1024;
        let sources_buf = ctx.storage_zeroed::<SourceCell>("sources", sources_cap);
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
                        &u_face,
                        &v_face,
                        &conc[k],
                        &conc[1 - k],
                        &integral,
                        &outflow,
                        &outflow_comp,
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
            outflow_comp,
            u_face,
            v_face,
            tp_buf,
            ep_buf,
            sources_buf,
            sources_cap,
            emit_bg,
            transport_bg,
            grid_receptors: None,
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
        tp: &TransportParams,
        ep: &EmitParams,
        sources: &[SourceCell],
    ) -> Result<(), GpuError> {
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
                .storage_zeroed::<SourceCell>("sources", self.sources_cap);
            let (ctx, emit, ep_buf, sources_buf) =
                (self.ctx, &self.emit, &self.ep_buf, &self.sources_buf);
            self.emit_bg = [0, 1].map(|k| ctx.bind(emit, &[ep_buf, sources_buf, &self.conc[k]]));
        }
        if !sources.is_empty() {
            self.ctx.write(&self.sources_buf, sources);
        }
        self.n_sources = sources.len();
        self.ctx.write(&self.u_face, &wind.u);
        self.ctx.write(&self.v_face, &wind.v);
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
        let v = self.ctx.read::<[f32; 2]>(&self.integral)?;
        for (acc, x) in into.iter_mut().zip(&v) {
            *acc += f64::from(x[0]) - f64::from(x[1]);
        }
        let mut enc = self.ctx.encoder();
        enc.clear_buffer(&self.integral, 0, None);
        self.ctx.submit(enc);
        Ok(())
    }

    fn take_outflow(&mut self, into: &mut [f64]) -> Result<(), GpuError> {
        let v = self.ctx.read::<f32>(&self.outflow)?;
        let faces = 2 * (self.grid.nx + self.grid.ny);
        for (p, acc) in into.iter_mut().enumerate() {
            *acc += v[p * faces..(p + 1) * faces]
                .iter()
                .map(|x| f64::from(*x))
                .sum::<f64>();
        }
        let mut enc = self.ctx.encoder();
        enc.clear_buffer(&self.outflow, 0, None);
        enc.clear_buffer(&self.outflow_comp, 0, None);
        self.ctx.submit(enc);
        Ok(())
    }

    fn rescale(&mut self, factor: f32) -> Result<Vec<f64>, GpuError> {
        let mut state = self.ctx.read::<[f32; 2]>(&self.conc[self.current])?;
        let sums = rescale_state(&mut state, self.dims[2] as usize, factor);
        if factor != 1.0 {
            self.ctx.write(&self.conc[self.current], &state);
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

    fn finish(self) -> Result<RawState, GpuError> {
        let state = self.ctx.read::<[f32; 2]>(&self.conc[self.current])?;
        Ok(RawState { state })
    }
}
