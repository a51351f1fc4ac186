//! The GPU step engine, batched: one set of device buffers holds `capacity` members on one grid
//! (sweep or ensemble members, or a single run as a batch of one), and one dispatch of `emit`
//! and of each `transport` sweep steps all of them (`shaders/dispersion/batch_common.wgsl`).
//!
//! Each member is driven by its own [`super::DispersionProblem::run_in`] (usually on its own
//! thread) through a [`GpuEngine`], its slot in the batch. A slot's `steps` waits until every
//! registered slot has asked for its next steps, then one of them runs the batch for the largest
//! step count asked, members that asked for fewer being left alone in the rounds they skip;
//! so members stay in lock step without the driver knowing it, members join as others leave,
//! and every member's arithmetic is exactly what it would be alone (the fixed-point stages are
//! per member; the parity tests compare batched members with the CPU twin bit for bit).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

use super::engine::{NearInputs, StepEngine, near_inputs, outflow_sum, rescale_state, to_planes};
use super::projection::{self, PoissonOp, PoissonParams};
use super::{
    BatchStep, CONTROL_HEAD, DispersionProblem, DispersionRun, EmitCell, EmitParams, FaceWind,
    INTEGRAL_ONE, MAX_POLLUTANTS, MEMBER_WORDS, RawState, SourceCell, TransportParams, emit_cells,
    face_courant, join_i64, near, split_i64, to_fixed,
};
use crate::gpu::{self, GpuContext, GpuError, Kernel};
use crate::grid::Grid;

/// Rounds (steps) per submission: enough to amortise submission, few enough to keep command
/// buffers small. The uniforms and bind groups of each round slot are made once per batch.
const STEPS_PER_SUBMIT: usize = 128;

/// What a member asks for in its current interval (set by `set_interval`).
struct Interval {
    /// Unique within the batch (its counter at `set_interval`), so the batch uploads Courant
    /// numbers only when a slot's interval changed.
    version: u64,
    kappa: [u32; 2],
    removal: [u32; MAX_POLLUTANTS],
    /// x-faces and y-faces.
    cour_x: Vec<i32>,
    cour_y: Vec<i32>,
    /// The member's own planes (0..np).
    sources: Vec<EmitCell>,
}

/// One member's request: `n` steps from its step number `step0`.
struct Request {
    n: u64,
    step0: u64,
    interval: Arc<Interval>,
}

/// The batch's mutable side, behind its lock.
struct Slots {
    registered: Vec<bool>,
    pending: Vec<Option<Request>>,
    /// Set when a run of the batch stepped the slot (an error message if it failed).
    done: Vec<Option<Result<(), String>>>,
    /// The interval version whose Courant numbers each slot's buffer region holds.
    uploaded: Vec<Option<u64>>,
    sources_buf: wgpu::Buffer,
    sources_cap: usize,
    emit_bg: Vec<wgpu::BindGroup>,
    /// Runs of the batch and members stepped in them (for reports).
    runs: u64,
    member_runs: u64,
}

/// Device buffers and kernels for up to `capacity` members of one grid shape.
pub struct GpuBatch<'a> {
    ctx: &'a GpuContext,
    nx: usize,
    ny: usize,
    np: usize,
    capacity: usize,
    emit: Kernel,
    transport: Kernel,
    near: Kernel,
    poisson_kernels: OnceLock<[Kernel; 3]>,
    /// Grid receptors of the first member that asked, kept on the device (members of one sweep
    /// share them unless their raster height differs).
    grid_receptors: OnceLock<(Vec<near::NearReceptor>, wgpu::Buffer)>,
    conc: [wgpu::Buffer; 2],
    integral: wgpu::Buffer,
    outflow: wgpu::Buffer,
    cour_x: wgpu::Buffer,
    cour_y: wgpu::Buffer,
    control: wgpu::Buffer,
    /// Per round slot: sweep 0 (state A → B) and sweep 1 (B → A).
    transport_bg: Vec<[wgpu::BindGroup; 2]>,
    step_uniforms: Vec<[wgpu::Buffer; 2]>,
    slots: Mutex<Slots>,
    wake: Condvar,
    /// Intervals set so far by all slots (each interval's version).
    intervals: AtomicU64,
}

fn lock<'m>(m: &'m Mutex<Slots>) -> MutexGuard<'m, Slots> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<'a> GpuBatch<'a> {
    /// Buffers for up to `capacity` members of `nx` × `ny` cells and `np` pollutants; fewer when
    /// the adapter cannot bind that many (at least one, or an error saying why not).
    pub fn new(
        ctx: &'a GpuContext,
        nx: usize,
        ny: usize,
        np: usize,
        capacity: usize,
    ) -> Result<Arc<Self>, GpuError> {
        let member_bytes = (nx * ny * np * 8).max((nx + 1) * (ny + 1) * 4) as u64;
        let limit = ctx.limits.max_storage_buffer_binding_size;
        if member_bytes > limit {
            return Err(GpuError::TooLarge(format!(
                "a {nx}x{ny}x{np} grid needs {member_bytes} bytes per field; the adapter binds at most {limit}"
            )));
        }
        // the transport dispatch is 16×16 tiles per plane: each dimension within the 65,535
        // workgroups every adapter allows
        let tiles = [nx.div_ceil(16), ny.div_ceil(16), np];
        if tiles.iter().any(|t| *t > 65_535) {
            return Err(GpuError::TooLarge(format!(
                "a {nx}x{ny}x{np} grid needs {tiles:?} workgroups; at most 65535 along each dimension"
            )));
        }
        let capacity = capacity
            .max(1)
            .min((limit / member_bytes.max(1)) as usize)
            .min(65_535 / np.max(1))
            .max(1);
        let planes = capacity * np;
        let cells = nx * ny;
        let conc = [
            ctx.storage_zeroed::<[u32; 2]>("state-a", planes * cells),
            ctx.storage_zeroed::<[u32; 2]>("state-b", planes * cells),
        ];
        let integral = ctx.storage_zeroed::<[u32; 2]>("integral", planes * cells);
        let outflow = ctx.storage_zeroed::<[u32; 2]>("outflow", 2 * (nx + ny) * planes);
        let cour_x = ctx.storage_zeroed::<i32>("courant-x", (nx + 1) * ny * capacity);
        let cour_y = ctx.storage_zeroed::<i32>("courant-y", nx * (ny + 1) * capacity);
        let control_words = CONTROL_HEAD + capacity * MEMBER_WORDS + STEPS_PER_SUBMIT * capacity;
        let control = ctx.storage_zeroed::<u32>("control", control_words);
        let emit = ctx.kernel(&gpu::shaders::DISPERSION_EMIT);
        let transport = ctx.kernel(&gpu::shaders::DISPERSION_TRANSPORT);
        let near = ctx.kernel(&gpu::shaders::DISPERSION_NEAR_FIELD);
        let step = |round: usize, sweep: u32| BatchStep {
            nx: nx as u32,
            ny: ny as u32,
            np: np as u32,
            members: capacity as u32,
            round: round as u32,
            sweep,
            flags_at: (CONTROL_HEAD + capacity * MEMBER_WORDS) as u32,
            _pad: 0,
        };
        let step_uniforms: Vec<[wgpu::Buffer; 2]> = (0..STEPS_PER_SUBMIT)
            .map(|r| [0, 1].map(|sweep| ctx.uniform("batch-step", &step(r, sweep))))
            .collect();
        let transport_bg = step_uniforms
            .iter()
            .map(|u| {
                [0usize, 1].map(|sweep| {
                    ctx.bind(
                        &transport,
                        &[
                            &u[sweep],
                            &control,
                            &cour_x,
                            &cour_y,
                            &conc[sweep],
                            &conc[1 - sweep],
                            &integral,
                            &outflow,
                        ],
                    )
                })
            })
            .collect();
        let sources_cap = 1024;
        let sources_buf = ctx.storage_zeroed::<EmitCell>("sources", sources_cap);
        let emit_bg = emit_bind_groups(ctx, &emit, &step_uniforms, &control, &sources_buf, &conc);
        Ok(Arc::new(Self {
            ctx,
            nx,
            ny,
            np,
            capacity,
            emit,
            transport,
            near,
            poisson_kernels: OnceLock::new(),
            grid_receptors: OnceLock::new(),
            conc,
            integral,
            outflow,
            cour_x,
            cour_y,
            control,
            transport_bg,
            step_uniforms,
            slots: Mutex::new(Slots {
                registered: vec![false; capacity],
                pending: (0..capacity).map(|_| None).collect(),
                done: (0..capacity).map(|_| None).collect(),
                uploaded: vec![None; capacity],
                sources_buf,
                sources_cap,
                emit_bg,
                runs: 0,
                member_runs: 0,
            }),
            wake: Condvar::new(),
            intervals: AtomicU64::new(0),
        }))
    }

    /// A batch of one for `problem`.
    pub fn single(ctx: &'a GpuContext, problem: &DispersionProblem) -> Result<Arc<Self>, GpuError> {
        let g = &problem.grid;
        Self::new(ctx, g.nx, g.ny, problem.pollutants.len(), 1)
    }

    /// The adapter the batch runs on.
    pub fn adapter(&self) -> crate::gpu::AdapterReport {
        self.ctx.report.clone()
    }

    /// Members the batch holds at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether `problem` has this batch's shape (grid size and pollutant count).
    pub fn fits(&self, problem: &DispersionProblem) -> bool {
        problem.grid.nx == self.nx
            && problem.grid.ny == self.ny
            && problem.pollutants.len() == self.np
    }

    /// Runs of the batch so far and the members they stepped (members per dispatch =
    /// the ratio).
    pub fn occupancy(&self) -> (u64, u64) {
        let s = lock(&self.slots);
        (s.runs, s.member_runs)
    }

    /// Takes a free slot for `problem` (its state zero, or `initial` in µg/m³,
    /// `[pollutant][cell]`), waiting for one when all are taken.
    pub fn slot(
        self: &Arc<Self>,
        problem: &DispersionProblem,
        initial: Option<&[f32]>,
    ) -> Result<GpuEngine<'a>, GpuError> {
        if !self.fits(problem) {
            return Err(GpuError::TooLarge(format!(
                "a {}x{}x{} problem does not fit a batch of {}x{}x{} members",
                problem.grid.nx,
                problem.grid.ny,
                problem.pollutants.len(),
                self.nx,
                self.ny,
                self.np
            )));
        }
        // every slot taken: wait for a member to finish (the members holding slots do not
        // wait for this one, so they do finish)
        let mut s = lock(&self.slots);
        let index = loop {
            if let Some(i) = s.registered.iter().position(|r| !r) {
                break i;
            }
            s = self.wake.wait(s).unwrap_or_else(|p| p.into_inner());
        };
        let n = self.np * self.nx * self.ny;
        let init: Vec<[u32; 2]> = match initial {
            Some(c) => {
                let mut v: Vec<[u32; 2]> = c
                    .iter()
                    .take(n)
                    .map(|v| split_i64(to_fixed(f64::from(*v))))
                    .collect();
                v.resize(n, [0; 2]);
                v
            }
            None => vec![[0; 2]; n],
        };
        self.ctx
            .write_at(&self.conc[0], (index * n * 8) as u64, &init);
        // what an earlier member of this slot may have left: an integral or outflow it never
        // took (it failed mid-interval)
        let faces = 2 * (self.nx + self.ny) * self.np;
        let mut enc = self.ctx.encoder();
        enc.clear_buffer(&self.integral, (index * n * 8) as u64, Some((n * 8) as u64));
        enc.clear_buffer(
            &self.outflow,
            (index * faces * 8) as u64,
            Some((faces * 8) as u64),
        );
        self.ctx.submit(enc);
        s.registered[index] = true;
        s.pending[index] = None;
        s.done[index] = None;
        Ok(GpuEngine {
            batch: self.clone(),
            index,
            grid: problem.grid.clone(),
            np: self.np,
            interval: None,
            dt: 0.0,
            step: 0,
        })
    }

    /// Runs every pending member's steps (the caller holds the lock and every registered slot
    /// is pending), leaving each one's result in `done`.
    fn run(&self, s: &mut Slots) -> Result<(), GpuError> {
        let (nx, ny, np, cap) = (self.nx, self.ny, self.np, self.capacity);
        let members: Vec<usize> = (0..cap).filter(|&m| s.pending[m].is_some()).collect();
        let Some(&last) = members.last() else {
            return Ok(());
        };
        let mut rounds = 0u64;
        let mut sources: Vec<EmitCell> = Vec::new();
        let mut head = vec![0u32; CONTROL_HEAD + cap * MEMBER_WORDS];
        for &m in &members {
            let Some(r) = &s.pending[m] else { continue };
            rounds = rounds.max(r.n);
            let iv = &r.interval;
            if s.uploaded[m] != Some(iv.version) {
                self.ctx
                    .write_at(&self.cour_x, (m * (nx + 1) * ny * 4) as u64, &iv.cour_x);
                self.ctx
                    .write_at(&self.cour_y, (m * nx * (ny + 1) * 4) as u64, &iv.cour_y);
                s.uploaded[m] = Some(iv.version);
            }
            let w = CONTROL_HEAD + m * MEMBER_WORDS;
            head[w] = iv.kappa[0];
            head[w + 1] = iv.kappa[1];
            head[w + 4..w + 4 + MAX_POLLUTANTS].copy_from_slice(&iv.removal);
            sources.extend(iv.sources.iter().map(|c| EmitCell {
                pollutant: c.pollutant + (m * np) as u32,
                ..*c
            }));
        }
        let bytes = std::mem::size_of_val(sources.as_slice()) as u64;
        if bytes > self.ctx.limits.max_storage_buffer_binding_size {
            return Err(GpuError::TooLarge(format!(
                "{} source cells need {bytes} bytes; the adapter binds at most {}",
                sources.len(),
                self.ctx.limits.max_storage_buffer_binding_size
            )));
        }
        if sources.len() > s.sources_cap {
            s.sources_cap = sources.len().next_power_of_two();
            s.sources_buf = self
                .ctx
                .storage_zeroed::<EmitCell>("sources", s.sources_cap);
            s.emit_bg = emit_bind_groups(
                self.ctx,
                &self.emit,
                &self.step_uniforms,
                &self.control,
                &s.sources_buf,
                &self.conc,
            );
        }
        self.ctx.write(&s.sources_buf, &sources);
        head[0] = sources.len() as u32;
        // planes up to the last member stepped (later slots are free or idle: not touched)
        let groups = [
            nx.div_ceil(16) as u32,
            ny.div_ceil(16) as u32,
            ((last + 1) * np) as u32,
        ];
        let mut start = 0u64;
        while start < rounds {
            let batch = (rounds - start).min(STEPS_PER_SUBMIT as u64) as usize;
            let mut control = head.clone();
            control.resize(head.len() + STEPS_PER_SUBMIT * cap, 0);
            for r in 0..batch {
                let round = start + r as u64;
                for &m in &members {
                    let Some(q) = &s.pending[m] else { continue };
                    if round < q.n {
                        let odd = ((q.step0 + round) % 2) as u32;
                        control[head.len() + r * cap + m] = 1 | (odd << 1);
                    }
                }
            }
            self.ctx.write(&self.control, &control);
            let mut enc = self.ctx.encoder();
            for r in 0..batch {
                if !sources.is_empty() {
                    self.emit
                        .dispatch(&mut enc, &s.emit_bg[r], gpu::groups_2d(sources.len(), 64));
                }
                // sweep 0 reads A and writes B, sweep 1 brings the state back to A
                for bg in &self.transport_bg[r] {
                    self.transport.dispatch(&mut enc, bg, groups);
                }
            }
            self.ctx.submit(enc);
            start += batch as u64;
        }
        // each member reads (and clears) its own time integral and outflow when it takes them
        for &m in &members {
            s.pending[m] = None;
            s.done[m] = Some(Ok(()));
        }
        s.runs += 1;
        s.member_runs += members.len() as u64;
        Ok(())
    }

    /// Reads one member's region of `buffer` (`per_member` fixed-point values each).
    fn read_member(
        &self,
        buffer: &wgpu::Buffer,
        index: usize,
        per_member: usize,
    ) -> Result<Vec<i64>, GpuError> {
        let bytes = (per_member * 8) as u64;
        Ok(self
            .ctx
            .read_range::<[u32; 2]>(buffer, index as u64 * bytes, bytes)?
            .into_iter()
            .map(join_i64)
            .collect())
    }

    /// Reads one member's region of `buffer` and zeroes it.
    fn take_member(
        &self,
        buffer: &wgpu::Buffer,
        index: usize,
        per_member: usize,
    ) -> Result<Vec<i64>, GpuError> {
        let v = self.read_member(buffer, index, per_member)?;
        let bytes = (per_member * 8) as u64;
        let mut enc = self.ctx.encoder();
        enc.clear_buffer(buffer, index as u64 * bytes, Some(bytes));
        self.ctx.submit(enc);
        Ok(v)
    }
}

fn emit_bind_groups(
    ctx: &GpuContext,
    emit: &Kernel,
    uniforms: &[[wgpu::Buffer; 2]],
    control: &wgpu::Buffer,
    sources: &wgpu::Buffer,
    conc: &[wgpu::Buffer; 2],
) -> Vec<wgpu::BindGroup> {
    uniforms
        .iter()
        .map(|u| ctx.bind(emit, &[&u[0], control, sources, &conc[0]]))
        .collect()
}

/// The GPU engine: one member's slot in a [`GpuBatch`] (for a single run, a batch of one).
pub struct GpuEngine<'a> {
    batch: Arc<GpuBatch<'a>>,
    index: usize,
    grid: Grid,
    np: usize,
    interval: Option<Arc<Interval>>,
    dt: f64,
    step: u64,
}

impl<'a> GpuEngine<'a> {
    /// A batch of one holding a problem's zeroed state.
    pub fn new(ctx: &'a GpuContext, problem: &DispersionProblem) -> Result<Self, GpuError> {
        Self::with_initial(ctx, problem, None)
    }

    /// Like [`GpuEngine::new`], starting from a given concentration field.
    pub fn with_initial(
        ctx: &'a GpuContext,
        problem: &DispersionProblem,
        initial: Option<&[f32]>,
    ) -> Result<Self, GpuError> {
        GpuBatch::single(ctx, problem)?.slot(problem, initial)
    }

    /// The batch this engine is a slot of.
    pub fn batch(&self) -> &Arc<GpuBatch<'a>> {
        &self.batch
    }

    /// Runs `near_field` over `receptors` and reads back `[receptor][pollutant]`.
    fn dispatch_near(
        &self,
        receptors: &wgpu::Buffer,
        n_receptors: usize,
        tiles_x: u32,
        plumes: &NearBuffers,
        n_plumes: usize,
    ) -> Result<Vec<f32>, GpuError> {
        let ctx = self.batch.ctx;
        let np = self.np as u32;
        let params = near::NearParams {
            n_receptors: n_receptors as u32,
            np,
            tiles_x,
            n_plumes: n_plumes as u32,
        };
        let p_buf = ctx.uniform("near-params", &params);
        let out = ctx.storage_zeroed::<f32>("near-out", (n_receptors * self.np).max(1));
        let bg = ctx.bind(
            &self.batch.near,
            &[
                &p_buf,
                receptors,
                &plumes.plumes,
                &plumes.rates,
                &plumes.tile_start,
                &plumes.tile_plumes,
                &out,
            ],
        );
        let mut enc = ctx.encoder();
        self.batch
            .near
            .dispatch(&mut enc, &bg, gpu::groups_2d(n_receptors, 64));
        ctx.submit_and_wait(enc)?;
        let mut v = ctx.read::<f32>(&out)?;
        v.truncate(n_receptors * self.np);
        Ok(v)
    }
}

impl Drop for GpuEngine<'_> {
    fn drop(&mut self) {
        let mut s = lock(&self.batch.slots);
        s.registered[self.index] = false;
        s.pending[self.index] = None;
        s.done[self.index] = None;
        drop(s);
        // a slot leaving may complete the others' barrier
        self.batch.wake.notify_all();
    }
}

/// One interval's plumes on the device.
struct NearBuffers {
    plumes: wgpu::Buffer,
    rates: wgpu::Buffer,
    tile_start: wgpu::Buffer,
    tile_plumes: wgpu::Buffer,
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
        _ep: &EmitParams,
        sources: &[SourceCell],
    ) -> Result<(), GpuError> {
        let (cour_x, cour_y) = face_courant(&self.grid, wind, dt);
        self.interval = Some(Arc::new(Interval {
            version: self.batch.intervals.fetch_add(1, Ordering::Relaxed),
            kappa: [tp.kappa_x, tp.kappa_y],
            removal: tp.removal,
            cour_x,
            cour_y,
            sources: emit_cells(sources, dt),
        }));
        self.dt = dt;
        Ok(())
    }

    fn steps(&mut self, n: u64) -> Result<(), GpuError> {
        if n == 0 {
            return Ok(());
        }
        let Some(interval) = self.interval.clone() else {
            return Err(GpuError::Readback("steps before set_interval".into()));
        };
        let batch = self.batch.clone();
        let i = self.index;
        let mut s = lock(&batch.slots);
        s.pending[i] = Some(Request {
            n,
            step0: self.step,
            interval,
        });
        let done = loop {
            if let Some(d) = s.done[i].take() {
                break d;
            }
            let all = (0..batch.capacity).all(|k| !s.registered[k] || s.pending[k].is_some());
            if all {
                if let Err(e) = batch.run(&mut s) {
                    let msg = e.to_string();
                    for k in 0..batch.capacity {
                        if s.pending[k].take().is_some() {
                            s.done[k] = Some(Err(msg.clone()));
                        }
                    }
                }
                batch.wake.notify_all();
                continue;
            }
            s = batch.wake.wait(s).unwrap_or_else(|p| p.into_inner());
        };
        drop(s);
        done.map_err(GpuError::Readback)?;
        self.step += n;
        Ok(())
    }

    // the batch runs only when every registered slot is inside `steps`, so it cannot run while
    // this member reads its regions (the lock is held for form's sake)
    fn take_integral(&mut self, into: &mut [f64]) -> Result<(), GpuError> {
        let s = lock(&self.batch.slots);
        let n = self.np * self.grid.nx * self.grid.ny;
        let v = self
            .batch
            .take_member(&self.batch.integral, self.index, n)?;
        drop(s);
        let scale = self.dt / INTEGRAL_ONE;
        for (acc, x) in into.iter_mut().zip(&v) {
            *acc += *x as f64 * scale;
        }
        Ok(())
    }

    fn take_outflow(&mut self, into: &mut [f64]) -> Result<(), GpuError> {
        let s = lock(&self.batch.slots);
        let faces = 2 * (self.grid.nx + self.grid.ny);
        let v = self
            .batch
            .take_member(&self.batch.outflow, self.index, faces * self.np)?;
        drop(s);
        for (p, acc) in into.iter_mut().enumerate() {
            *acc += outflow_sum(&v[p * faces..(p + 1) * faces]);
        }
        Ok(())
    }

    fn rescale(&mut self, factor: f32) -> Result<Vec<f64>, GpuError> {
        // the lock keeps the batch from running while the state makes its round trip
        let s = lock(&self.batch.slots);
        let n = self.np * self.grid.nx * self.grid.ny;
        let mut state = self.batch.read_member(&self.batch.conc[0], self.index, n)?;
        let sums = rescale_state(&mut state, self.np, factor);
        if factor != 1.0 {
            let back: Vec<[u32; 2]> = state.into_iter().map(split_i64).collect();
            let n = back.len();
            self.batch
                .ctx
                .write_at(&self.batch.conc[0], (self.index * n * 8) as u64, &back);
        }
        drop(s);
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
        let ctx = self.batch.ctx;
        let inputs: NearInputs = near_inputs(&self.grid, plumes, point_receptors.len());
        let bufs = NearBuffers {
            plumes: storage_or_one(ctx, "near-plumes", &plumes.plumes),
            rates: storage_or_one(ctx, "near-rates", &plumes.rates),
            tile_start: storage_or_one(ctx, "tile-start", &inputs.tile_start),
            tile_plumes: storage_or_one(ctx, "tile-plumes", &inputs.tile_plumes),
        };
        if !grid_receptors.is_empty() {
            let (kept, kept_buf) = self.batch.grid_receptors.get_or_init(|| {
                (
                    grid_receptors.to_vec(),
                    ctx.storage("grid-receptors", grid_receptors),
                )
            });
            let own;
            let rec = if bytemuck::cast_slice::<_, u8>(kept.as_slice())
                == bytemuck::cast_slice::<_, u8>(grid_receptors)
            {
                kept_buf
            } else {
                own = ctx.storage("grid-receptors", grid_receptors);
                &own
            };
            let by_cell = self.dispatch_near(
                rec,
                grid_receptors.len(),
                inputs.tiles_x as u32,
                &bufs,
                plumes.plumes.len(),
            )?;
            to_planes(&by_cell, self.np, cells);
        }
        if !point_receptors.is_empty() {
            let rec = ctx.storage("point-receptors", point_receptors);
            let v =
                self.dispatch_near(&rec, point_receptors.len(), 0, &bufs, plumes.plumes.len())?;
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
        let ctx = self.batch.ctx;
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
        let kernels = self.batch.poisson_kernels.get_or_init(|| {
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
                    PoissonOp::Smooth(_) => (0, [p.nx, p.ny]),
                    PoissonOp::Prolong(_) => (2, [p.nx, p.ny]),
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
        let s = lock(&self.batch.slots);
        let n = self.np * self.grid.nx * self.grid.ny;
        let state = self.batch.read_member(&self.batch.conc[0], self.index, n)?;
        drop(s);
        Ok(RawState { state })
    }
}

/// Batches sweep members on one GPU: the batch is made for the first member's grid; members of
/// another shape run alone.
pub struct Batcher<'a> {
    ctx: &'a GpuContext,
    capacity: usize,
    batch: Mutex<Option<Arc<GpuBatch<'a>>>>,
}

impl<'a> Batcher<'a> {
    /// Up to `capacity` members per dispatch on `ctx`.
    pub fn new(ctx: &'a GpuContext, capacity: usize) -> Self {
        Self {
            ctx,
            capacity: capacity.max(1),
            batch: Mutex::new(None),
        }
    }

    /// The batch, once a member made it.
    pub fn batch(&self) -> Option<Arc<GpuBatch<'a>>> {
        self.batch.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Runs `problem` in the batch (made for it if none exists yet), or alone on the same
    /// GPU when its shape differs.
    pub fn run(
        &self,
        problem: &DispersionProblem,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<DispersionRun, GpuError> {
        let batch = {
            let mut b = self.batch.lock().unwrap_or_else(|p| p.into_inner());
            if b.is_none() {
                let g = &problem.grid;
                *b = Some(GpuBatch::new(
                    self.ctx,
                    g.nx,
                    g.ny,
                    problem.pollutants.len(),
                    self.capacity,
                )?);
            }
            b.clone()
        };
        match batch {
            Some(b) if b.fits(problem) => problem.run_in(&b, progress),
            _ => problem.run_with_progress(Some(self.ctx), progress),
        }
    }
}
