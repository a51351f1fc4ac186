//! The terrain: a mesh from the height field, land coloured by elevation with a baked
//! north-west hillshade, the sea flat; and the gizmo line width.

use super::*;
use crate::data::HeightField;

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

/// How far below sea level the sea plane lies, scene units (10 m): under the coast cells'
/// sea corners (at 0), so the two never fight over depth.
pub const SEA_DROP: f32 = 0.01;

/// The terrain's triangles: every grid cell with a land corner, from the height field
/// (vertex colours by elevation with the baked hillshade; sea corners flat at 0 in the sea
/// colour), and then one quad of sea under the whole grid instead of a cell pair per sea cell.
/// Level of detail where it costs nothing to the picture: open sea is flat and of one colour,
/// and most of the province's bounding box is sea. Returns positions, linear RGBA colours and
/// counter-clockwise (seen from above) triangle indices.
pub fn terrain_triangles(h: &HeightField) -> (Vec<[f32; 3]>, Vec<[f32; 4]>, Vec<u32>) {
    let exaggeration = crate::data::EXAGGERATION as f32;
    let elevation = |i: usize, j: usize| h.drawn_elevation_m(i, j);
    let mut pos = Vec::new();
    let mut colour = Vec::new();
    // grid vertex → index in `pos`, made on first use by a land cell
    let mut slot = vec![u32::MAX; h.nx * h.nz];
    let mut vertex = |i: usize, j: usize, pos: &mut Vec<[f32; 3]>, colour: &mut Vec<[f32; 4]>| {
        let k = j * h.nx + i;
        if slot[k] == u32::MAX {
            slot[k] = pos.len() as u32;
            let e = elevation(i, j);
            let x = h.x0 + i as f32 * h.cell;
            let z = h.z0 + j as f32 * h.cell;
            pos.push([x, e * exaggeration / 1000.0, z]);
            let c = if h.land[k] {
                // hillshade from the elevation differences to the neighbours (grid edges use
                // one-sided differences)
                let dx =
                    (elevation((i + 1).min(h.nx - 1), j) - elevation(i.saturating_sub(1), j)) / 2.0;
                let dz =
                    (elevation(i, (j + 1).min(h.nz - 1)) - elevation(i, j.saturating_sub(1))) / 2.0;
                let cell_m = h.cell * 1000.0;
                let s = hillshade(dx * exaggeration / cell_m, dz * exaggeration / cell_m);
                land_colour(e).map(|v| v * s)
            } else {
                SEA
            };
            // vertex colours are linear; the palette is sRGB
            let lin = Color::srgb(c[0], c[1], c[2]).to_linear();
            colour.push([lin.red, lin.green, lin.blue, 1.0]);
        }
        slot[k]
    };
    let mut idx = Vec::new();
    for j in 0..h.nz.saturating_sub(1) {
        for i in 0..h.nx.saturating_sub(1) {
            let corners = [(i, j), (i + 1, j), (i, j + 1), (i + 1, j + 1)];
            if !corners.iter().any(|&(i, j)| h.land[j * h.nx + i]) {
                continue;
            }
            let [a, b, c, d] = corners.map(|(i, j)| vertex(i, j, &mut pos, &mut colour));
            // counter-clockwise seen from above (+Y)
            idx.extend_from_slice(&[a, c, b, b, c, d]);
        }
    }
    if h.nx >= 2 && h.nz >= 2 {
        let (x1, z1) = (
            h.x0 + (h.nx - 1) as f32 * h.cell,
            h.z0 + (h.nz - 1) as f32 * h.cell,
        );
        let a = pos.len() as u32;
        let lin = Color::srgb(SEA[0], SEA[1], SEA[2]).to_linear();
        for (x, z) in [(h.x0, h.z0), (x1, h.z0), (h.x0, z1), (x1, z1)] {
            pos.push([x, -SEA_DROP, z]);
            colour.push([lin.red, lin.green, lin.blue, 1.0]);
        }
        idx.extend_from_slice(&[a, a + 2, a + 1, a + 1, a + 2, a + 3]);
    }
    (pos, colour, idx)
}

fn spawn_terrain(
    mut commands: Commands,
    twin: Res<Twin>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<FlatMaterial>>,
) {
    let (pos, colour, idx) = terrain_triangles(&twin.0.terrain);
    // no normals: nothing is lit (the flat material uses the vertex colours)
    let mesh = Mesh::new(
        PrimitiveTopology::TriangleList,
        RenderAssetUsages::default(),
    )
    .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, pos)
    .with_inserted_attribute(Mesh::ATTRIBUTE_COLOR, colour)
    .with_inserted_indices(Indices::U32(idx));
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

    fn field(nx: usize, nz: usize, land: &[(usize, usize)]) -> HeightField {
        let mut mask = vec![false; nx * nz];
        for &(i, j) in land {
            mask[j * nx + i] = true;
        }
        HeightField {
            x0: -1.0,
            z0: -2.0,
            cell: 0.5,
            nx,
            nz,
            elevation_m: (0..nx * nz).map(|k| k as f32 * 10.0).collect(),
            land: mask,
            synthetic: true,
            source: "test".into(),
        }
    }

    #[test]
    fn land_cells_are_meshed_and_open_sea_is_one_quad_beneath() {
        // 6 × 5 vertices (5 × 4 cells); one land vertex at (2, 1): the four cells around it
        let h = field(6, 5, &[(2, 1)]);
        let (pos, colour, idx) = terrain_triangles(&h);
        assert_eq!(idx.len(), 6 * (4 + 1), "four land cells and the sea quad");
        // 3 × 3 grid vertices used by the land cells, then the sea quad's four corners
        assert_eq!((pos.len(), colour.len()), (9 + 4, 13));
        let land = pos
            .iter()
            .position(|p| (p[0], p[2]) == (0.0, -1.5))
            .expect("the land vertex");
        let e = 8.0 * 10.0 * crate::data::EXAGGERATION as f32 / 1000.0;
        assert!((pos[land][1] - e).abs() < 1e-6, "{:?}", pos[land]);
        let sea = Color::srgb(SEA[0], SEA[1], SEA[2]).to_linear();
        let sea = [sea.red, sea.green, sea.blue, 1.0];
        for (k, p) in pos.iter().enumerate().filter(|&(k, _)| k != land) {
            assert_eq!(colour[k], sea, "sea corners are sea-coloured");
            assert!(p[1] <= 0.0, "sea at or below 0");
        }
        assert_ne!(colour[land], sea);
        // the sea quad spans the grid just below sea level
        let quad = &pos[9..];
        assert!(quad.iter().all(|p| p[1] == -SEA_DROP));
        assert_eq!((quad[0][0], quad[0][2]), (-1.0, -2.0));
        assert_eq!((quad[3][0], quad[3][2]), (1.5, 0.0));
        // every triangle faces up (counter-clockwise seen from +Y)
        for t in idx.chunks(3) {
            let [a, b, c] = [t[0], t[1], t[2]].map(|k| Vec3::from(pos[k as usize]));
            assert!((b - a).cross(c - a).y > 0.0, "{t:?}");
        }
    }

    #[test]
    fn all_land_meshes_every_cell_and_no_land_only_the_sea() {
        let all: Vec<(usize, usize)> = (0..4).flat_map(|j| (0..3).map(move |i| (i, j))).collect();
        let (pos, _, idx) = terrain_triangles(&field(3, 4, &all));
        assert_eq!((pos.len(), idx.len()), (12 + 4, 6 * (6 + 1)));
        let (pos, _, idx) = terrain_triangles(&field(3, 4, &[]));
        assert_eq!((pos.len(), idx.len()), (4, 6));
        let (pos, _, idx) = terrain_triangles(&field(1, 1, &[(0, 0)]));
        assert!(pos.is_empty() && idx.is_empty(), "no cells, no sea quad");
    }

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
