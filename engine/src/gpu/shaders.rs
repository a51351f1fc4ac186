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
pub const LIBRARIES: &[Shader] = &[shader!("common/double_single"), shader!("traffic/common")];

/// Dispersion: add source emissions for one step.
pub const DISPERSION_EMIT: Shader = shader!("dispersion/emit", uses "common/double_single");
/// Dispersion: advection, diffusion and removal for one step.
pub const DISPERSION_TRANSPORT: Shader =
    shader!("dispersion/transport", uses "common/double_single");
/// Dispersion: bilinear samples at stations.
pub const DISPERSION_SAMPLE_STATIONS: Shader = shader!("dispersion/sample_stations");
/// Common: a straight copy, for measuring memory bandwidth.
pub const COMMON_COPY: Shader = shader!("common/copy");

/// Traffic: sending and receiving capacity of every cell.
pub const TRAFFIC_SENDING_RECEIVING: Shader =
    shader!("traffic/sending_receiving", uses "traffic/common");
/// Traffic: signals, origins, merges and diverges at every node.
pub const TRAFFIC_NODE_FLOWS: Shader = shader!("traffic/node_flows", uses "traffic/common");
/// Traffic: cell update and link statistics.
pub const TRAFFIC_UPDATE_CELLS: Shader = shader!("traffic/update_cells", uses "traffic/common");

/// Every shader, for validation.
pub const ALL: &[Shader] = &[
    DISPERSION_EMIT,
    DISPERSION_TRANSPORT,
    DISPERSION_SAMPLE_STATIONS,
    COMMON_COPY,
    TRAFFIC_SENDING_RECEIVING,
    TRAFFIC_NODE_FLOWS,
    TRAFFIC_UPDATE_CELLS,
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
}
