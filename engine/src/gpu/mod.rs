//! The GPU core: one place that acquires a wgpu adapter and device, and the wrappers every model
//! uses for kernels, buffers, dispatch and readback. Models declare their stages and buffers;
//! they never build raw wgpu descriptors at call sites.
//!
//! Backend choice (`--backend`): `gpu` demands any wgpu adapter (a hardware GPU, or Mesa's
//! lavapipe on machines without one) and fails clearly without one; `cpu` runs the models' CPU
//! twins; `auto` uses a hardware GPU when one is present and the CPU twin otherwise.

pub mod shaders;

use std::borrow::Cow;
use std::sync::mpsc;

use bytemuck::Pod;
use serde::Serialize;
use wgpu::util::DeviceExt;

/// Which compute backend to run a model on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// A hardware GPU if present, else the CPU twin.
    Auto,
    /// Any wgpu adapter (hardware or software); an error without one.
    Gpu,
    /// The CPU twin.
    Cpu,
}

impl BackendChoice {
    /// Parses `auto`, `gpu` or `cpu`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Self::Auto),
            "gpu" => Some(Self::Gpu),
            "cpu" => Some(Self::Cpu),
            _ => None,
        }
    }
}

/// What adapter a run got, for summaries and logs.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct AdapterReport {
    /// Adapter name (e.g. "NVIDIA H100", "llvmpipe (LLVM 15.0.6, 256 bits)").
    pub name: String,
    /// Graphics API backend (Vulkan, Metal, …).
    pub backend: String,
    /// Discrete GPU, integrated GPU, CPU (software), …
    pub device_type: String,
    /// Driver name and version, as reported.
    pub driver: String,
}

/// Errors from the GPU core.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// `--backend gpu` was asked for and no adapter exists.
    #[error(
        "no GPU adapter found (wgpu: {0}); install a Vulkan driver (on Debian: apt-get install mesa-vulkan-drivers libvulkan1) or use --backend cpu"
    )]
    NoAdapter(String),
    /// The adapter refused to create a device.
    #[error("the GPU adapter {adapter} could not create a device: {message}")]
    Device {
        /// Adapter name.
        adapter: String,
        /// wgpu's message.
        message: String,
    },
    /// A readback failed.
    #[error("reading a GPU buffer back failed: {0}")]
    Readback(String),
    /// A problem is larger than the device allows.
    #[error("{0}")]
    TooLarge(String),
    /// The adapter cannot meet a limit the model's stages need.
    #[error(
        "the GPU adapter {adapter} offers {have} for `{limit}` but the {model} model needs {need}; use --backend cpu"
    )]
    Limit {
        /// Adapter name.
        adapter: String,
        /// The model.
        model: String,
        /// The wgpu limit's name.
        limit: &'static str,
        /// What the model needs.
        need: u32,
        /// What the adapter offers.
        have: u32,
    },
}

/// A wgpu device and queue, with a report of the adapter behind them.
pub struct GpuContext {
    /// The device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// What adapter this is.
    pub report: AdapterReport,
    /// Whether it is a hardware GPU (not a software rasteriser such as lavapipe).
    pub is_hardware: bool,
    /// The device's limits.
    pub limits: wgpu::Limits,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext")
            .field("report", &self.report)
            .finish()
    }
}

impl GpuContext {
    /// Acquires the highest-performance adapter wgpu can find, or explains why not.
    pub fn acquire() -> Result<Self, GpuError> {
        // Compute needs no window: only the native compute APIs (Vulkan, Metal, DX12). Leaving
        // GL out matters — the viewer's Bevy enables wgpu's GL backend in the same build, and
        // probing EGL for a Wayland display makes libwayland print "error: XDG_RUNTIME_DIR is
        // invalid or not set" on headless machines, which is not an error of ours.
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = wgpu::Backends::PRIMARY;
        let instance = wgpu::Instance::new(desc);
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            force_fallback_adapter: false,
            compatible_surface: None,
        }))
        .map_err(|e| GpuError::NoAdapter(e.to_string()))?;
        let info = adapter.get_info();
        let report = AdapterReport {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: format!("{} {}", info.driver, info.driver_info)
                .trim()
                .to_string(),
        };
        let is_hardware = matches!(
            info.device_type,
            wgpu::DeviceType::DiscreteGpu | wgpu::DeviceType::IntegratedGpu
        );
        // ask for as much as the adapter offers for storage buffers: province grids are big
        let adapter_limits = adapter.limits();
        let limits = wgpu::Limits {
            max_storage_buffer_binding_size: adapter_limits.max_storage_buffer_binding_size,
            max_buffer_size: adapter_limits.max_buffer_size,
            max_storage_buffers_per_shader_stage: adapter_limits
                .max_storage_buffers_per_shader_stage,
            ..wgpu::Limits::downlevel_defaults()
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("qn-twin"),
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| GpuError::Device {
            adapter: report.name.clone(),
            message: e.to_string(),
        })?;
        Ok(Self {
            device,
            queue,
            report,
            is_hardware,
            limits,
        })
    }

    /// Resolves a backend choice: `Some(context)` to run on the GPU, `None` for the CPU twin.
    pub fn for_choice(choice: BackendChoice) -> Result<Option<Self>, GpuError> {
        match choice {
            BackendChoice::Cpu => Ok(None),
            BackendChoice::Gpu => Self::acquire().map(Some),
            BackendChoice::Auto => Ok(Self::acquire().ok().filter(|c| c.is_hardware)),
        }
    }

    /// Resolves a backend choice for a model that declares `needs`: `gpu` fails with
    /// [`GpuError::Limit`] naming the first limit the adapter cannot meet; `auto` then falls
    /// back to the CPU twin. Returns the context (if any) and, when `auto` chose the CPU twin,
    /// why.
    pub fn for_model(
        choice: BackendChoice,
        model: &str,
        needs: shaders::StageLimits,
    ) -> Result<(Option<Self>, Option<String>), GpuError> {
        match choice {
            BackendChoice::Cpu => Ok((None, None)),
            BackendChoice::Gpu => {
                let ctx = Self::acquire()?;
                ctx.meets(model, needs)?;
                Ok((Some(ctx), None))
            }
            BackendChoice::Auto => match Self::acquire() {
                Err(e) => Ok((None, Some(format!("no GPU adapter: {e}")))),
                Ok(ctx) if !ctx.is_hardware => Ok((
                    None,
                    Some(format!("{} is a software adapter", ctx.report.name)),
                )),
                Ok(ctx) => match ctx.meets(model, needs) {
                    Ok(()) => Ok((Some(ctx), None)),
                    Err(e) => Ok((None, Some(e.to_string()))),
                },
            },
        }
    }

    /// Checks the device's limits against what a model's stages need.
    pub fn meets(&self, model: &str, needs: shaders::StageLimits) -> Result<(), GpuError> {
        for (limit, need, have) in [
            (
                "max_storage_buffers_per_shader_stage",
                needs.max_storage_buffers_per_shader_stage,
                self.limits.max_storage_buffers_per_shader_stage,
            ),
            (
                "max_uniform_buffers_per_shader_stage",
                needs.max_uniform_buffers_per_shader_stage,
                self.limits.max_uniform_buffers_per_shader_stage,
            ),
        ] {
            if have < need {
                return Err(GpuError::Limit {
                    adapter: self.report.name.clone(),
                    model: model.into(),
                    limit,
                    need,
                    have,
                });
            }
        }
        Ok(())
    }

    /// Compiles one WGSL stage into a compute kernel (entry point `main`).
    pub fn kernel(&self, shader: &shaders::Shader) -> Kernel {
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(shader.name),
                source: wgpu::ShaderSource::Wgsl(Cow::Borrowed(shader.source)),
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(shader.name),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            });
        Kernel {
            name: shader.name,
            layout: pipeline.get_bind_group_layout(0),
            pipeline,
        }
    }

    /// A storage buffer initialised with `data`, readable back with [`GpuContext::read`].
    pub fn storage<T: Pod>(&self, label: &str, data: &[T]) -> wgpu::Buffer {
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytemuck::cast_slice(data),
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
            })
    }

    /// A zero-filled storage buffer of `len` elements of `T`.
    pub fn storage_zeroed<T: Pod>(&self, label: &str, len: usize) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: (len.max(1) * std::mem::size_of::<T>()) as u64,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// A uniform buffer holding `value`, rewritable with [`GpuContext::write`].
    pub fn uniform<T: Pod>(&self, label: &str, value: &T) -> wgpu::Buffer {
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytemuck::bytes_of(value),
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            })
    }

    /// Overwrites a buffer from the start; ordered before the next submission.
    pub fn write<T: Pod>(&self, buffer: &wgpu::Buffer, data: &[T]) {
        self.queue
            .write_buffer(buffer, 0, bytemuck::cast_slice(data));
    }

    /// Overwrites part of a buffer from byte `offset` (a multiple of 4); ordered before the next
    /// submission.
    pub fn write_at<T: Pod>(&self, buffer: &wgpu::Buffer, offset: u64, data: &[T]) {
        if !data.is_empty() {
            self.queue
                .write_buffer(buffer, offset, bytemuck::cast_slice(data));
        }
    }

    /// Binds buffers to a kernel's group 0, in binding order.
    pub fn bind(&self, kernel: &Kernel, buffers: &[&wgpu::Buffer]) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry<'_>> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
        self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(kernel.name),
            layout: &kernel.layout,
            entries: &entries,
        })
    }

    /// A command encoder for a batch of dispatches.
    pub fn encoder(&self) -> wgpu::CommandEncoder {
        self.device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None })
    }

    /// Submits a batch without waiting for it.
    pub fn submit(&self, encoder: wgpu::CommandEncoder) {
        self.queue.submit([encoder.finish()]);
    }

    /// Submits a batch and waits for the device to finish it (and everything before it).
    pub fn submit_and_wait(&self, encoder: wgpu::CommandEncoder) -> Result<(), GpuError> {
        let index = self.queue.submit([encoder.finish()]);
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: None,
            })
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        Ok(())
    }

    /// Copies a storage buffer back to the host.
    pub fn read<T: Pod>(&self, buffer: &wgpu::Buffer) -> Result<Vec<T>, GpuError> {
        self.read_range(buffer, 0, buffer.size())
    }

    /// Copies `size` bytes of a storage buffer from byte `offset` back to the host (both
    /// multiples of 4).
    pub fn read_range<T: Pod>(
        &self,
        buffer: &wgpu::Buffer,
        offset: u64,
        size: u64,
    ) -> Result<Vec<T>, GpuError> {
        if size == 0 {
            return Ok(Vec::new());
        }
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self.encoder();
        enc.copy_buffer_to_buffer(buffer, offset, &staging, 0, size);
        self.submit_and_wait(enc)?;
        let (tx, rx) = mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        rx.recv()
            .map_err(|e| GpuError::Readback(e.to_string()))?
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        let out = bytemuck::cast_slice::<u8, T>(&staging.get_mapped_range(..)).to_vec();
        staging.unmap();
        Ok(out)
    }
}

/// A compiled compute stage.
pub struct Kernel {
    /// The stage name (`dispersion/transport`).
    pub name: &'static str,
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
}

impl Kernel {
    /// Records one dispatch of this kernel in its own compute pass (so that wgpu orders it
    /// after everything recorded before, whatever buffers the two share).
    pub fn dispatch(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        bind_group: &wgpu::BindGroup,
        workgroups: [u32; 3],
    ) {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(self.name),
            timestamp_writes: None,
        });
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, bind_group, &[]);
        pass.dispatch_workgroups(workgroups[0], workgroups[1], workgroups[2]);
    }
}

/// Workgroups needed to cover `n` items with groups of `size`.
pub fn groups(n: usize, size: u32) -> u32 {
    (n as u32).div_ceil(size)
}

/// A dispatch covering `n` items with 1-D groups of `size` threads, folded into a second
/// dimension beyond the 65,535-group limit; shaders recover the flat index as
/// `gid.y · groups.x · size + gid.x`.
pub fn groups_2d(n: usize, size: u32) -> [u32; 3] {
    let g = groups(n, size).max(1);
    let x = g.min(65_535);
    [x, g.div_ceil(x), 1]
}
