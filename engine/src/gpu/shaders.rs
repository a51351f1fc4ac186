//! Every WGSL shader of the project, embedded at compile time from `shaders/<model>/<stage>.wgsl`.
//! A test parses and validates each one with naga, so a broken shader fails `cargo test` on any
//! machine, GPU or not.

/// One embedded WGSL compute stage (entry point `main`).
#[derive(Debug, Clone, Copy)]
pub struct Shader {
    /// `<model>/<stage>`, the path under `shaders/` without `.wgsl`.
    pub name: &'static str,
    /// The WGSL source.
    pub source: &'static str,
}

macro_rules! shader {
    ($name:literal) => {
        Shader {
            name: $name,
            source: include_str!(concat!("../../../shaders/", $name, ".wgsl")),
        }
    };
    // a stage that uses library files: they are prepended in order (WGSL has no includes)
    ($name:literal, uses $($lib:literal),+) => {
        Shader {
            name: $name,
            source: concat!(
                $(include_str!(concat!("../../../shaders/", $lib, ".wgsl")), "\n",)+
                include_str!(concat!("../../../shaders/", $name, ".wgsl"))
            ),
        }
    };
}

/// Library files: functions only, prepended to the stages that use them.
pub const LIBRARIES: &[Shader] = &[
    shader!("common/fixed64"),
    // validated with what it uses prepended
    shader!("dispersion/poisson_common", uses "common/fixed64"),
    shader!("dispersion/batch_common"),
    shader!("traffic/common"),
    shader!("mine/common"),
];

/// Dispersion: add source emissions for one step.
pub const DISPERSION_EMIT: Shader = shader!(
    "dispersion/emit",
    uses "common/fixed64",
    "dispersion/batch_common"
);
/// Dispersion: advection, diffusion and removal for one step.
pub const DISPERSION_TRANSPORT: Shader = shader!(
    "dispersion/transport",
    uses "common/fixed64",
    "dispersion/batch_common"
);
/// Dispersion: near-field Gaussian plumes at receptors.
pub const DISPERSION_NEAR_FIELD: Shader = shader!("dispersion/near_field");
/// Dispersion: multigrid Poisson solve for mass-consistent winds, Gauss–Seidel half-sweep.
pub const DISPERSION_POISSON_SMOOTH: Shader = shader!(
    "dispersion/poisson_smooth",
    uses "common/fixed64",
    "dispersion/poisson_common"
);
/// Dispersion: multigrid Poisson solve, residual restriction.
pub const DISPERSION_POISSON_RESTRICT: Shader = shader!(
    "dispersion/poisson_restrict",
    uses "common/fixed64",
    "dispersion/poisson_common"
);
/// Dispersion: multigrid Poisson solve, bilinear prolongation.
pub const DISPERSION_POISSON_PROLONG: Shader = shader!(
    "dispersion/poisson_prolong",
    uses "common/fixed64",
    "dispersion/poisson_common"
);
/// Common: a straight copy, for measuring memory bandwidth.
pub const COMMON_COPY: Shader = shader!("common/copy");

/// Traffic: sending and receiving capacity of every cell.
pub const TRAFFIC_SENDING_RECEIVING: Shader =
    shader!("traffic/sending_receiving", uses "traffic/common");
/// Traffic: signals, origins, merges and diverges at every node.
pub const TRAFFIC_NODE_FLOWS: Shader = shader!("traffic/node_flows", uses "traffic/common");
/// Traffic: cell update and link statistics.
pub const TRAFFIC_UPDATE_CELLS: Shader = shader!("traffic/update_cells", uses "traffic/common");

/// Mine ensemble: sources and upwind transport along every member's branches.
pub const MINE_ADVECT: Shader = shader!("mine/advect", uses "mine/common");
/// Mine ensemble: full mixing at junctions.
pub const MINE_MIX: Shader = shader!("mine/mix", uses "mine/common");
/// Mine ensemble: CH4 at the working places for one output.
pub const MINE_SAMPLE: Shader = shader!("mine/sample", uses "mine/common");

/// The device limits a model's stages need beyond WebGPU's downlevel defaults. Each model
/// declares its own (`dispersion::GPU_LIMITS`, `traffic::GPU_LIMITS`); a test reflects every
/// stage with naga and checks it stays within what its model declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageLimits {
    /// Storage buffers bound by one stage.
    pub max_storage_buffers_per_shader_stage: u32,
    /// Uniform buffers bound by one stage.
    pub max_uniform_buffers_per_shader_stage: u32,
}

/// What the bandwidth probe (`common/copy`) needs.
pub const COPY_LIMITS: StageLimits = StageLimits {
    max_storage_buffers_per_shader_stage: 2,
    max_uniform_buffers_per_shader_stage: 1,
};

/// Every stage with the limits its model declares.
pub const STAGE_LIMITS: &[(Shader, StageLimits)] = &[
    (DISPERSION_EMIT, crate::dispersion::GPU_LIMITS),
    (DISPERSION_TRANSPORT, crate::dispersion::GPU_LIMITS),
    (DISPERSION_NEAR_FIELD, crate::dispersion::GPU_LIMITS),
    (DISPERSION_POISSON_SMOOTH, crate::dispersion::GPU_LIMITS),
    (DISPERSION_POISSON_RESTRICT, crate::dispersion::GPU_LIMITS),
    (DISPERSION_POISSON_PROLONG, crate::dispersion::GPU_LIMITS),
    (COMMON_COPY, COPY_LIMITS),
    (TRAFFIC_SENDING_RECEIVING, crate::traffic::GPU_LIMITS),
    (TRAFFIC_NODE_FLOWS, crate::traffic::GPU_LIMITS),
    (TRAFFIC_UPDATE_CELLS, crate::traffic::GPU_LIMITS),
    (MINE_ADVECT, crate::mine::ensemble::GPU_LIMITS),
    (MINE_MIX, crate::mine::ensemble::GPU_LIMITS),
    (MINE_SAMPLE, crate::mine::ensemble::GPU_LIMITS),
];

/// Every shader, for validation.
pub const ALL: &[Shader] = &[
    DISPERSION_EMIT,
    DISPERSION_TRANSPORT,
    DISPERSION_NEAR_FIELD,
    DISPERSION_POISSON_SMOOTH,
    DISPERSION_POISSON_RESTRICT,
    DISPERSION_POISSON_PROLONG,
    COMMON_COPY,
    TRAFFIC_SENDING_RECEIVING,
    TRAFFIC_NODE_FLOWS,
    TRAFFIC_UPDATE_CELLS,
    MINE_ADVECT,
    MINE_MIX,
    MINE_SAMPLE,
];

/// Parses and validates a WGSL stage with naga, and checks it has the entry point `main`; the
/// error names the shader.
pub fn validate(shader: &Shader) -> Result<(), String> {
    validate_module(shader)?;
    let module = naga::front::wgsl::parse_str(shader.source).map_err(|e| e.to_string())?;
    if !module.entry_points.iter().any(|e| e.name == "main") {
        return Err(format!("{}: no entry point `main`", shader.name));
    }
    Ok(())
}

/// Parses and validates any WGSL module (a stage or a library) with naga.
pub fn validate_module(shader: &Shader) -> Result<(), String> {
    let module = naga::front::wgsl::parse_str(shader.source)
        .map_err(|e| format!("{}: {}", shader.name, e.emit_to_string(shader.source)))?;
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::empty(),
    )
    .validate(&module)
    .map_err(|e| format!("{}: {}", shader.name, e.emit_to_string(shader.source)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shader_validates_with_naga() {
        for s in ALL {
            if let Err(e) = validate(s) {
                panic!("{e}");
            }
        }
        for s in LIBRARIES {
            if let Err(e) = validate_module(s) {
                panic!("{e}");
            }
        }
    }

    #[test]
    fn every_wgsl_file_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shaders");
        let mut on_disk = Vec::new();
        for model in std::fs::read_dir(&dir).expect("shaders/ exists") {
            let model = model.expect("entry").path();
            if !model.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(&model).expect("model dir") {
                let f = f.expect("entry").path();
                if f.extension().is_some_and(|e| e == "wgsl") {
                    let m = model
                        .file_name()
                        .and_then(|s| s.to_str())
                        .unwrap_or_default();
                    let s = f.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
                    on_disk.push(format!("{m}/{s}"));
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = ALL
            .iter()
            .chain(LIBRARIES)
            .map(|s| s.name.to_string())
            .collect();
        embedded.sort();
        assert_eq!(
            on_disk, embedded,
            "a WGSL file is not listed in gpu::shaders::ALL"
        );
    }

    #[test]
    fn a_broken_shader_is_reported_by_name() {
        let bad = Shader {
            name: "test/bad",
            source: "@compute @workgroup_size(1) fn main() { let x: f32 = 1u; }",
        };
        let e = validate(&bad).expect_err("type error");
        assert!(e.starts_with("test/bad"), "{e}");
    }

    /// Size and member offsets of a WGSL struct as naga lays it out (WGSL's host-shareable
    /// layout rules), or why it cannot be found.
    fn wgsl_layout(shader: &Shader, name: &str) -> (u32, Vec<(String, u32)>) {
        let module = naga::front::wgsl::parse_str(shader.source).expect("parses");
        let ty = module
            .types
            .iter()
            .find(|(_, t)| t.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("{}: no struct {name}", shader.name))
            .1;
        match &ty.inner {
            naga::TypeInner::Struct { members, span } => (
                *span,
                members
                    .iter()
                    .map(|m| (m.name.clone().unwrap_or_default(), m.offset))
                    .collect(),
            ),
            other => panic!("{}: {name} is not a struct: {other:?}", shader.name),
        }
    }

    /// Checks a `#[repr(C)]` Rust twin against its WGSL struct: the same size, and every named
    /// (non-padding) Rust field at the offset of the WGSL member of the same name.
    fn check(shader: &Shader, wgsl: &str, rust: &str, size: usize, fields: &[(&str, usize)]) {
        let (span, members) = wgsl_layout(shader, wgsl);
        assert_eq!(
            span as usize, size,
            "{}: WGSL {wgsl} is {span} bytes, Rust {rust} is {size}",
            shader.name
        );
        for (name, offset) in fields {
            let member = members.iter().find(|(m, _)| m == name).unwrap_or_else(|| {
                panic!(
                    "{}: WGSL {wgsl} has no member `{name}` (Rust {rust})",
                    shader.name
                )
            });
            assert_eq!(
                member.1 as usize, *offset,
                "{}: `{name}` is at {} in WGSL {wgsl} but at {offset} in Rust {rust} (field order?)",
                shader.name, member.1
            );
        }
        // every WGSL member that is not padding has a Rust field
        for (m, _) in &members {
            assert!(
                m.starts_with('_') || m.starts_with("pad") || fields.iter().any(|(f, _)| f == m),
                "{}: WGSL {wgsl}.{m} has no Rust twin field in {rust}",
                shader.name
            );
        }
    }

    macro_rules! twin {
        ($shader:expr, $wgsl:literal, $rust:ty, [$($field:ident),+ $(,)?]) => {
            check(
                &$shader,
                $wgsl,
                stringify!($rust),
                std::mem::size_of::<$rust>(),
                &[$((stringify!($field), std::mem::offset_of!($rust, $field))),+],
            )
        };
    }

    #[test]
    fn batch_control_layout_matches_its_rust_twin() {
        use crate::dispersion::{CONTROL_HEAD, MEMBER_WORDS};
        for shader in [DISPERSION_EMIT, DISPERSION_TRANSPORT] {
            for (name, value) in [
                ("CONTROL_HEAD", CONTROL_HEAD),
                ("MEMBER_WORDS", MEMBER_WORDS),
            ] {
                let line = format!("const {name}: u32 = {value}u;");
                assert!(
                    shader.source.contains(&line),
                    "{}: `{line}` expected (dispersion::{name})",
                    shader.name
                );
            }
        }
    }

    #[test]
    fn every_wgsl_struct_matches_its_rust_twin() {
        use crate::dispersion::near::{NearParams, NearPlume, NearReceptor};
        use crate::dispersion::{BatchStep, EmitCell};
        use crate::traffic::{LinkData, NodeData, PhaseData, SignalData, StepParams};
        twin!(
            DISPERSION_TRANSPORT,
            "BatchStep",
            BatchStep,
            [nx, ny, np, members, round, sweep, flags_at]
        );
        twin!(
            DISPERSION_EMIT,
            "Source",
            EmitCell,
            [cell, pollutant, amount]
        );
        twin!(
            DISPERSION_NEAR_FIELD,
            "NearParams",
            NearParams,
            [n_receptors, np, tiles_x, n_plumes]
        );
        twin!(
            DISPERSION_NEAR_FIELD,
            "NearPlume",
            NearPlume,
            [
                x, y, cx, cy, u10, hs, rise_k, rise_max, sy0, sz0, lid, x_fade, x_end, ky, stab,
                rate0, p, fr
            ]
        );
        twin!(
            DISPERSION_POISSON_SMOOTH,
            "PoissonParams",
            crate::dispersion::projection::PoissonParams,
            [nx, ny, off, colour, nx_c, ny_c, off_c, ghost, ghost_c]
        );
        twin!(
            DISPERSION_NEAR_FIELD,
            "NearReceptor",
            NearReceptor,
            [x, y, z, tile]
        );
        for stage in [
            TRAFFIC_SENDING_RECEIVING,
            TRAFFIC_NODE_FLOWS,
            TRAFFIC_UPDATE_CELLS,
        ] {
            twin!(
                stage,
                "Params",
                StepParams,
                [
                    n_cells,
                    n_nodes,
                    n_periods,
                    steps_per_period,
                    truck_pce,
                    dt,
                    n_comm,
                    truck_mask,
                    n_slices,
                    steps_per_slice,
                    n_turn_entries
                ]
            );
            twin!(
                stage,
                "Link",
                LinkData,
                [
                    first_cell,
                    n_cells,
                    from_node,
                    to_node,
                    send_ratio,
                    recv_ratio,
                    q_step,
                    jam_cell,
                    cell_len,
                    in_slot,
                    out_slot,
                    truck_send_ratio
                ]
            );
            twin!(
                stage,
                "Node",
                NodeData,
                [
                    in_off, n_in, out_off, n_out, turn_off, origin, signal, minor_mask
                ]
            );
            twin!(
                stage,
                "Signal",
                SignalData,
                [kind, cycle, offset, n_phases, phase_off, min_green, lost]
            );
            twin!(stage, "Phase", PhaseData, [green, mask, cols]);
        }
    }

    #[test]
    fn a_reordered_rust_field_is_caught() {
        // the same fields as TransportParams with `kappa_x` and `kappa_y` swapped
        #[repr(C)]
        #[allow(dead_code)]
        struct Swapped {
            nx: u32,
            ny: u32,
            np: u32,
            pass_flags: u32,
            kappa_y: u32,
            kappa_x: u32,
            _pad: [u32; 2],
            removal: [u32; crate::dispersion::MAX_POLLUTANTS],
        }
        let caught = std::panic::catch_unwind(|| {
            twin!(
                DISPERSION_TRANSPORT,
                "TransportParams",
                Swapped,
                [nx, ny, np, pass_flags, kappa_x, kappa_y, removal]
            );
        });
        assert!(caught.is_err(), "a swapped field went unnoticed");
    }

    #[test]
    fn every_stage_fits_its_declared_limits() {
        for (shader, limits) in STAGE_LIMITS {
            let module = naga::front::wgsl::parse_str(shader.source).expect("parses");
            let storage = module
                .global_variables
                .iter()
                .filter(|(_, g)| matches!(g.space, naga::AddressSpace::Storage { .. }))
                .count() as u32;
            let uniform = module
                .global_variables
                .iter()
                .filter(|(_, g)| g.space == naga::AddressSpace::Uniform)
                .count() as u32;
            assert!(
                storage <= limits.max_storage_buffers_per_shader_stage,
                "{}: binds {storage} storage buffers, declares {}",
                shader.name,
                limits.max_storage_buffers_per_shader_stage
            );
            assert!(
                uniform <= limits.max_uniform_buffers_per_shader_stage,
                "{}: binds {uniform} uniform buffers, declares {}",
                shader.name,
                limits.max_uniform_buffers_per_shader_stage
            );
        }
        // every stage is declared
        for s in ALL {
            assert!(
                STAGE_LIMITS.iter().any(|(d, _)| d.name == s.name),
                "{}: no declared limits",
                s.name
            );
        }
    }
}
