//! The terrain: a mesh from the height field, land coloured by elevation with a baked
//! north-west hillshade, the sea flat; and the gizmo line width.

use super::*;

/// Terrain, land and sea (unlit, hillshade baked in), and the line width.
pub struct TerrainPlugin;

impl Plugin for TerrainPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Startup, (spawn_terrain, gizmo_width));
    }
}

fn gizmo_width(mut gizmo_config: ResMut<GizmoConfigStore>) {
    gizmo_config
        .config_mut::<DefaultGizmoConfigGroup>()
        .0
        .line
        .width = 3.0;
}

/// Land colour by elevation (m): lowland green → hill brown → mountain grey.
pub fn land_colour(e: f32) -> [f32; 3] {
    let stops = [
        (0.0, [0.30, 0.50, 0.22]),
        (150.0, [0.36, 0.55, 0.26]),
        (500.0, [0.52, 0.46, 0.30]),
        (1000.0, [0.62, 0.60, 0.56]),
    ];
    let e = e.max(0.0);
    for w in stops.windows(2) {
        let ((e0, c0), (e1, c1)) = (w[0], w[1]);
        if e <= e1 {
            let t = (e - e0) / (e1 - e0);
            return [0, 1, 2].map(|k| c0[k] + (c1[k] - c0[k]) * t);
        }
    }
    stops[3].1
}

/// Brightness of a slope lit from the north-west, 45° up (the cartographic convention),
/// for height gradients along +X (east) and +Z (south): 0.35 in full shadow to 1.0 facing the
/// light; 0.85 on flat ground.
pub fn hillshade(dh_dx: f32, dh_dz: f32) -> f32 {
    let n = Vec3::new(-dh_dx, 1.0, -dh_dz).normalize();
    let l = Vec3::new(-1.0, std::f32::consts::SQRT_2, -1.0).normalize();
    let lambert = n.dot(l).max(0.0);
    // flat ground: lambert = √2/2 → 0.85
    (0.35 + 0.65 * lambert / std::f32::consts::FRAC_1_SQRT_2 * 0.769).clamp(0.35, 1.0)
}

/// Sea colour.
pub const SEA: [f32; 3] = [0.08, 0.27, 0.52];

fn spawn_terrain(
    mut commands: Commands,
    twin: Res<Twin>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<FlatMaterial>>,
) {
    let h = &twin.0.terrain;
    let mut pos = Vec::with_capacity(h.nx * h.nz);
    let mut colour = Vec::with_capacity(h.nx * h.nz);
    for j in 0..h.nz {
        for i in 0..h.nx {
            let k = j * h.nx + i;
            let land = h.land[k];
            let e = if land { h.elevation_m[k].max(0.0) } else { 0.0 };
            let x = h.x0 + i as f32 * h.cell;
            let z = h.z0 + j as f32 * h.cell;
            pos.push([x, e * crate::data::EXAGGERATION as f32 / 1000.0, z]);
            let c = if land {
                // hillshade from the elevation differences to the neighbours (grid edges
                // use one-sided differences)
                let at = |i: usize, j: usize| {
                    let k = j * h.nx + i;
                    if h.land[k] {
                        h.elevation_m[k].max(0.0)
                    } else {
                        0.0
                    }
                };
                let dx = (at((i + 1).min(h.nx - 1), j) - at(i.saturating_sub(1), j)) / 2.0;
                let dz = (at(i, (j + 1).min(h.nz - 1)) - at(i, j.saturating_sub(1))) / 2.0;
                let cell_m = h.cell * 1000.0;
                let s = hillshade(
                    dx * crate::data::EXAGGERATION as f32 / cell_m,
                    dz * crate::data::EXAGGERATION as f32 / cell_m,
                );
                land_colour(e).map(|v| v * s)
            } else {
                SEA
            };
            // vertex colours are linear; the palette is sRGB
            let lin = Color::srgb(c[0], c[1], c[2]).to_linear();
            colour.push([lin.red, lin.green, lin.blue, 1.0]);
        }
    }
    let mut idx = Vec::with_capacity((h.nx - 1) * (h.nz - 1) * 6);
    for j in 0..h.nz - 1 {
        for i in 0..h.nx - 1 {
            let a = (j * h.nx + i) as u32;
            let b = a + 1;
            let c = a + h.nx as u32;
            let d = c + 1;
            // counter-clockwise seen from above (+Y)
            idx.extend_from_slice(&[a, c, b, b, c, d]);
        }
    }
    let mesh = Mesh::new(
        PrimitiveTopology::TriangleList,
        RenderAssetUsages::default(),
    )
    .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, pos)
    .with_inserted_attribute(Mesh::ATTRIBUTE_COLOR, colour)
    .with_inserted_indices(Indices::U32(idx))
    .with_computed_smooth_normals();
    commands.spawn((
        Mesh3d(meshes.add(mesh)),
        // shading is baked into the vertex colours: colours stay true to the legend
        MeshMaterial3d(materials.add(FlatMaterial::colour(Color::WHITE))),
        TerrainMesh,
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn land_colours_and_hillshade() {
        assert_eq!(land_colour(-5.0), land_colour(0.0));
        assert!((hillshade(0.0, 0.0) - 0.85).abs() < 0.01);
        // ground rising to the south-east faces the north-west light, and the reverse
        assert!(hillshade(1.0, 1.0) > 0.95, "facing the light");
        assert!(
            hillshade(-0.7, -0.7) < 0.5,
            "facing away from the north-west light"
        );
    }
}
