//! The two step engines behind [`super::DispersionProblem::run`]: the CPU twin and the GPU.
//! Both hold the same buffers and run the same stages; only where they run differs.

use std::sync::Arc;

use super::{
    DispersionProblem, EmitParams, FaceWind, RawState, SampleParams, SourceCell, StationPoint,
    TransportParams, cpu,
};
use crate::gpu::{self, GpuContext, GpuError, Kernel};

/// A backend that advances the dispersion state.
pub trait StepEngine {
    /// Sets the wind and parameters for the next steps.
    fn set_interval(
        &mut self,
        wind: &Arc<FaceWind>,
        tp: &TransportParams,
        ep: &EmitParams,
    ) -> Result<(), GpuError>;
    /// Runs `n` steps of `emit` + `transport`.
    fn steps(&mut self, n: u64) -> Result<(), GpuError>;
    /// Samples every station into output row `slot`.
    fn sample(&mut self, slot: u32) -> Result<(), GpuError>;
    /// Adds the time integral accumulated since the last call into `into` (f64) and restarts it.
    fn take_integral(&mut self, into: &mut [f64]) -> Result<(), GpuError>;
    /// Reads the final state back.
    fn finish(self) -> Result<RawState, GpuError>;
}

fn station_points(problem: &DispersionProblem) -> Vec<StationPoint> {
    let mut v: Vec<StationPoint> = problem.stations.iter().map(|(_, s)| *s).collect();
    if v.is_empty() {
        v.push(StationPoint {
            fx: 0.0,
            fy: 0.0,
            _pad: [0.0; 2],
        });
    }
    v
}

fn sample_params(problem: &DispersionProblem, slot: u32) -> SampleParams {
    SampleParams {
        nx: problem.grid.nx as u32,
        ny: problem.grid.ny as u32,
        np: problem.pollutants.len() as u32,
        n_stations: problem.stations.len() as u32,
        slot,
        _pad: [0; 3],
    }
}

/// The CPU twin: plain vectors, stages from [`cpu`].
pub struct CpuEngine {
    state: Vec<[f32; 2]>,
    next: Vec<[f32; 2]>,
    integral: Vec<[f32; 2]>,
    outflow: Vec<f32>,
    outflow_comp: Vec<f32>,
    samples: Vec<f32>,
    sources: Vec<SourceCell>,
    stations: Vec<StationPoint>,
    wind: Arc<FaceWind>,
    tp: Option<TransportParams>,
    ep: Option<EmitParams>,
    sp: SampleParams,
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
            samples: vec![
                0.0;
                problem.intervals.len()
                    * problem.stations.len()
                    * problem.pollutants.len()
            ],
            sources: problem.sources.clone(),
            stations: station_points(problem),
            wind: Arc::new(FaceWind {
                u: Vec::new(),
                v: Vec::new(),
            }),
            tp: None,
            ep: None,
            sp: sample_params(problem, 0),
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
    ) -> Result<(), GpuError> {
        self.wind = Arc::clone(wind);
        self.tp = Some(*tp);
        self.ep = Some(*ep);
        Ok(())
    }

    fn steps(&mut self, n: u64) -> Result<(), GpuError> {
        let (Some(tp), Some(ep)) = (self.tp, self.ep) else {
            return Err(GpuError::Readback("steps before set_interval".into()));
        };
        for _ in 0..n {
            cpu::emit(&ep, &self.sources, &mut self.state);
            cpu::transport(
                &tp,
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
        Ok(())
    }

    fn sample(&mut self, slot: u32) -> Result<(), GpuError> {
        if self.sp.n_stations > 0 {
            let sp = SampleParams { slot, ..self.sp };
            cpu::sample_stations(&sp, &self.stations, &self.state, &mut self.samples);
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

    fn finish(self) -> Result<RawState, GpuError> {
        Ok(RawState {
            state: self.state,
            outflow: self.outflow,
            samples: self.samples,
        })
    }
}

/// Steps per submission: enough to amortise submission, few enough to keep command buffers small.
const STEPS_PER_SUBMIT: u64 = 128;

/// The GPU engine: the same buffers on the device, ping-ponged between two concentration fields.
pub struct GpuEngine<'a> {
    ctx: &'a GpuContext,
    emit: Kernel,
    transport: Kernel,
    sample: Kernel,
    conc: [wgpu::Buffer; 2],
    integral: wgpu::Buffer,
    outflow: wgpu::Buffer,
    samples: wgpu::Buffer,
    u_face: wgpu::Buffer,
    v_face: wgpu::Buffer,
    tp_buf: wgpu::Buffer,
    ep_buf: wgpu::Buffer,
    sp_buf: wgpu::Buffer,
    emit_bg: [wgpu::BindGroup; 2],
    transport_bg: [wgpu::BindGroup; 2],
    sample_bg: [wgpu::BindGroup; 2],
    current: usize,
    sp: SampleParams,
    n_sources: usize,
    dims: [u32; 3],
}

impl<'a> GpuEngine<'a> {
    /// Uploads a problem's zeroed state, sources and stations.
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
        let source_bytes =
            (problem.sources.len() * std::mem::size_of::<super::SourceCell>()) as u64;
        if source_bytes > ctx.limits.max_storage_buffer_binding_size {
            return Err(GpuError::TooLarge(format!(
                "{} source cells need {source_bytes} bytes; the adapter binds at most {}",
                problem.sources.len(),
                ctx.limits.max_storage_buffer_binding_size
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
        let samples = ctx.storage_zeroed::<f32>(
            "samples",
            problem.intervals.len() * problem.stations.len() * np,
        );
        let u_face = ctx.storage_zeroed::<f32>("u-face", (g.nx + 1) * g.ny);
        let v_face = ctx.storage_zeroed::<f32>("v-face", g.nx * (g.ny + 1));
        let mut sources = problem.sources.clone();
        if sources.is_empty() {
            sources.push(SourceCell {
                cell: 0,
                pollutant: 0,
                rate: 0.0,
                _pad: 0.0,
            });
        }
        let sources_buf = ctx.storage("sources", &sources);
        let stations_buf = ctx.storage("stations", &station_points(problem));
        let tp_buf = ctx.uniform(
            "transport-params",
            &<TransportParams as bytemuck::Zeroable>::zeroed(),
        );
        let ep_buf = ctx.uniform("emit-params", &<EmitParams as bytemuck::Zeroable>::zeroed());
        let sp = sample_params(problem, 0);
        let sp_buf = ctx.uniform("sample-params", &sp);
        let emit = ctx.kernel(&gpu::shaders::DISPERSION_EMIT);
        let transport = ctx.kernel(&gpu::shaders::DISPERSION_TRANSPORT);
        let sample = ctx.kernel(&gpu::shaders::DISPERSION_SAMPLE_STATIONS);
        let emit_bg = [0, 1].map(|k| ctx.bind(&emit, &[&ep_buf, &sources_buf, &conc[k]]));
        let transport_bg = [0, 1].map(|k| {
            ctx.bind(
                &transport,
                &[
                    &tp_buf,
                    &u_face,
                    &v_face,
                    &conc[k],
                    &conc[1 - k],
                    &integral,
                    &outflow,
                    &outflow_comp,
                ],
            )
        });
        let sample_bg =
            [0, 1].map(|k| ctx.bind(&sample, &[&sp_buf, &stations_buf, &conc[k], &samples]));
        Ok(Self {
            ctx,
            emit,
            transport,
            sample,
            conc,
            integral,
            outflow,
            samples,
            u_face,
            v_face,
            tp_buf,
            ep_buf,
            sp_buf,
            emit_bg,
            transport_bg,
            sample_bg,
            current: 0,
            sp,
            n_sources: problem.sources.len(),
            dims: [g.nx as u32, g.ny as u32, np as u32],
        })
    }
}

impl StepEngine for GpuEngine<'_> {
    fn set_interval(
        &mut self,
        wind: &Arc<FaceWind>,
        tp: &TransportParams,
        ep: &EmitParams,
    ) -> Result<(), GpuError> {
        self.ctx.write(&self.u_face, &wind.u);
        self.ctx.write(&self.v_face, &wind.v);
        self.ctx.write(&self.tp_buf, std::slice::from_ref(tp));
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
                self.transport.dispatch(
                    &mut enc,
                    &self.transport_bg[k],
                    [nx.div_ceil(16), ny.div_ceil(16), np],
                );
                self.current = 1 - k;
            }
            self.ctx.submit(enc);
            left -= batch;
        }
        Ok(())
    }

    fn sample(&mut self, slot: u32) -> Result<(), GpuError> {
        if self.sp.n_stations == 0 {
            return Ok(());
        }
        self.ctx.write(
            &self.sp_buf,
            std::slice::from_ref(&SampleParams { slot, ..self.sp }),
        );
        let mut enc = self.ctx.encoder();
        self.sample.dispatch(
            &mut enc,
            &self.sample_bg[self.current],
            [gpu::groups(self.sp.n_stations as usize, 64), self.sp.np, 1],
        );
        self.ctx.submit_and_wait(enc)
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

    fn finish(self) -> Result<RawState, GpuError> {
        let state = self.ctx.read::<[f32; 2]>(&self.conc[self.current])?;
        let outflow = self.ctx.read::<f32>(&self.outflow)?;
        let mut samples = self.ctx.read::<f32>(&self.samples)?;
        let expected = self.sp.n_stations as usize * self.sp.np as usize;
        if expected == 0 {
            samples.clear();
        }
        Ok(RawState {
            state,
            outflow,
            samples,
        })
    }
}
