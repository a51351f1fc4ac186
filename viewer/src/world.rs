//! The scene: terrain with land and sea, district boundaries, roads, feature markers, and the
//! run overlays (dispersion raster draped over the terrain, traffic speed on the roads, station
//! colours), each following the layer switches and the clock.

use bevy::asset::RenderAssetUsages;
use bevy::mesh::{Indices, PrimitiveTopology};
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};
use twin_engine::telemetry::aqi::{AqiParameter, combine, vn_sub_index};

use crate::colormap;
use crate::data::{Kind, Raster, Run, TwinData, sample_at};
use crate::timeline::Clock;

/// The loaded twin.
#[derive(Resource)]
pub struct Twin(pub TwinData);

/// Layer switches and overlay settings.
#[derive(Debug, Clone, Resource)]
pub struct Layers {
    /// Terrain mesh.
    pub terrain: bool,
    /// District boundaries and names.
    pub districts: bool,
    /// Roads.
    pub roads: bool,
    /// Colour roads by the traffic run's speed (else by class).
    pub traffic: bool,
    /// Mines.
    pub mines: bool,
    /// Plants.
    pub plants: bool,
    /// Ports.
    pub ports: bool,
    /// Stations.
    pub stations: bool,
    /// Dispersion overlay.
    pub overlay: bool,
    /// Its opacity.
    pub opacity: f32,
    /// Which raster (index into the run's rasters).
    pub pollutant: usize,
    /// Show run − compare when both have the raster.
    pub difference: bool,
}

impl Default for Layers {
    fn default() -> Self {
        Self {
            terrain: true,
            districts: true,
            roads: true,
            traffic: true,
            mines: true,
            plants: true,
            ports: true,
            stations: true,
            overlay: true,
            opacity: 0.75,
            pollutant: 0,
            difference: true,
        }
    }
}

/// A marker of `TwinData::features[index]`.
#[derive(Debug, Clone, Copy, Component)]
pub struct Marker {
    /// Index into the features.
    pub index: usize,
    /// Its kind.
    pub kind: Kind,
}

/// The terrain entity.
#[derive(Debug, Clone, Copy, Component)]
pub struct TerrainMesh;

/// The overlay entity.
#[derive(Debug, Clone, Copy, Component)]
pub struct OverlayMesh;

/// The overlay's colour scale as shown in the legend.
#[derive(Debug, Clone, Resource, Default)]
pub struct OverlayLegend {
    /// What is shown (`PM2.5 time-mean µg/m³`, or a difference).
    pub title: String,
    /// Low and high ends of the scale.
    pub range: (f64, f64),
    /// Log scale (concentration) or linear diverging (difference).
    pub log: bool,
    /// Which (pollutant, difference) the texture holds.
    pub key: Option<(usize, bool)>,
}

/// Station colours: station index → current AQI (simulated), for the panels.
#[derive(Debug, Clone, Resource, Default)]
pub struct StationAqi(pub std::collections::HashMap<usize, Option<i64>>);

/// Adds the scene: one plugin per feature, sharing the `Layers` switches.
pub struct WorldPlugin;

impl Plugin for WorldPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Layers>().add_plugins((
            TerrainPlugin,
            MarkersPlugin,
            LinesPlugin,
            OverlayPlugin,
        ));
    }
}

/// Terrain, land and sea (unlit, hillshade baked in), and the line width.
pub struct TerrainPlugin;

impl Plugin for TerrainPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Startup, (spawn_terrain, gizmo_width));
    }
}

/// Stations, mines, plants and ports, their visibility and the station colours.
pub struct MarkersPlugin;

impl Plugin for MarkersPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<StationAqi>()
            .add_systems(Startup, spawn_markers)
            .add_systems(Update, (visibility, colour_stations));
    }
}

/// Roads (by class or by traffic speed) and district boundaries.
pub struct LinesPlugin;

impl Plugin for LinesPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Update, draw_lines);
    }
}

/// The dispersion field draped over the terrain (or a difference of two runs).
pub struct OverlayPlugin;

impl Plugin for OverlayPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<OverlayLegend>()
            .add_systems(Startup, spawn_overlay)
            .add_systems(Update, update_overlay);
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
    mut materials: ResMut<Assets<StandardMaterial>>,
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
        MeshMaterial3d(materials.add(StandardMaterial {
            base_color: Color::WHITE,
            // shading is baked into the vertex colours: colours stay true to the legend
            unlit: true,
            ..default()
        })),
        TerrainMesh,
    ));
}

fn spawn_markers(
    mut commands: Commands,
    twin: Res<Twin>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    let mut mat = |c: Color| {
        materials.add(StandardMaterial {
            base_color: c,
            // no lights in the scene: flat colours, true to the legend
            unlit: true,
            ..default()
        })
    };
    let station_mesh = meshes.add(Cylinder::new(0.7, 2.4));
    let underground = meshes.add(Cuboid::new(1.6, 1.6, 1.6));
    let pit = meshes.add(Cylinder::new(2.2, 0.4));
    let stack = meshes.add(Cylinder::new(0.45, 1.0));
    let port = meshes.add(Cuboid::new(2.4, 0.6, 2.4));
    let dark = mat(Color::srgb(0.12, 0.12, 0.12));
    let brown = mat(Color::srgb(0.45, 0.30, 0.15));
    let plant = mat(Color::srgb(0.85, 0.85, 0.88));
    let blue = mat(Color::srgb(0.2, 0.45, 0.95));
    for (index, f) in twin.0.features.iter().enumerate() {
        let p = Vec3::from(f.pos);
        let marker = Marker {
            index,
            kind: f.kind,
        };
        match f.kind {
            Kind::Station => {
                // the latest observed VN_AQI when observations are loaded
                let observed = twin
                    .0
                    .telemetry
                    .as_ref()
                    .and_then(|t| t.latest_aqi.get(&f.id))
                    .map(|l| l.1);
                let c = colormap::aqi(observed);
                let m = materials.add(StandardMaterial {
                    base_color: Color::srgb(c[0], c[1], c[2]),
                    unlit: true,
                    ..default()
                });
                commands.spawn((
                    Mesh3d(station_mesh.clone()),
                    MeshMaterial3d(m),
                    Transform::from_translation(p + Vec3::Y * 1.2),
                    marker,
                ));
            }
            Kind::UndergroundMine => {
                commands.spawn((
                    Mesh3d(underground.clone()),
                    MeshMaterial3d(dark.clone()),
                    Transform::from_translation(p + Vec3::Y * 0.8),
                    marker,
                ));
            }
            Kind::OpenPit => {
                commands.spawn((
                    Mesh3d(pit.clone()),
                    MeshMaterial3d(brown.clone()),
                    Transform::from_translation(p + Vec3::Y * 0.2),
                    marker,
                ));
            }
            Kind::Plant => {
                // stack height drawn 4× (besides the terrain's 3×) so that stacks read at
                // province scale
                let h = (f.height * 4.0).max(1.5);
                commands.spawn((
                    Mesh3d(stack.clone()),
                    MeshMaterial3d(plant.clone()),
                    Transform::from_translation(p + Vec3::Y * (h / 2.0))
                        .with_scale(Vec3::new(1.0, h, 1.0)),
                    marker,
                ));
            }
            Kind::Port => {
                commands.spawn((
                    Mesh3d(port.clone()),
                    MeshMaterial3d(blue.clone()),
                    Transform::from_translation(p + Vec3::Y * 0.3),
                    marker,
                ));
            }
            Kind::District => {}
        }
    }
}

fn visibility(
    layers: Res<Layers>,
    mut markers: Query<(&Marker, &mut Visibility), (Without<TerrainMesh>, Without<OverlayMesh>)>,
    mut terrain: Query<&mut Visibility, (With<TerrainMesh>, Without<OverlayMesh>)>,
) {
    if !layers.is_changed() {
        return;
    }
    let show = |b: bool| {
        if b {
            Visibility::Inherited
        } else {
            Visibility::Hidden
        }
    };
    for (m, mut v) in &mut markers {
        *v = show(match m.kind {
            Kind::Station => layers.stations,
            Kind::UndergroundMine | Kind::OpenPit => layers.mines,
            Kind::Plant => layers.plants,
            Kind::Port => layers.ports,
            Kind::District => true,
        });
    }
    for mut v in &mut terrain {
        *v = show(layers.terrain);
    }
}

/// Road colour by class.
pub fn road_colour(class: &str) -> [f32; 3] {
    match class {
        "motorway" => [0.9, 0.3, 0.6],
        "trunk" => [1.0, 0.55, 0.2],
        "primary" => [1.0, 0.85, 0.3],
        "secondary" => [0.95, 0.95, 0.95],
        _ => [0.75, 0.75, 0.75],
    }
}

/// The traffic run (if any) whose links colour the roads.
fn traffic_run(t: &TwinData) -> Option<&Run> {
    t.run.iter().find(|r| !r.links.is_empty())
}

fn draw_lines(mut gizmos: Gizmos, twin: Res<Twin>, layers: Res<Layers>, clock: Res<Clock>) {
    let t = &twin.0;
    if layers.districts {
        for ring in &t.district_rings {
            gizmos.linestrip(
                ring.iter().map(|p| Vec3::from(*p)),
                Color::srgba(0.95, 0.95, 0.95, 0.55),
            );
        }
    }
    if layers.roads {
        let traffic = traffic_run(t).filter(|_| layers.traffic);
        for r in &t.roads {
            let c = match (traffic, clock.now()) {
                (Some(run), Some(now)) => run
                    .links
                    .get(&r.id)
                    .and_then(|s| sample_at(s, now))
                    .map(|l| colormap::speed_ratio(l.speed_kmh / r.free_flow_kmh))
                    .unwrap_or_else(|| road_colour(&r.class)),
                _ => road_colour(&r.class),
            };
            gizmos.linestrip(
                r.points.iter().map(|p| Vec3::from(*p) + Vec3::Y * 0.15),
                Color::srgb(c[0], c[1], c[2]),
            );
        }
    }
}

/// The texture of an overlay: RGBA8 per cell (row 0 north); transparent below the low end.
pub fn overlay_pixels(values: &[f32], diff: bool, range: (f64, f64)) -> Vec<u8> {
    let mut px = Vec::with_capacity(values.len() * 4);
    for &v in values {
        let v = f64::from(v);
        let (c, a) = if diff {
            let t = (v / range.1.max(1e-12)) as f32;
            let a = (t.abs() * 4.0).min(1.0);
            (colormap::diverging(t), if v.is_finite() { a } else { 0.0 })
        } else if v.is_finite() && v > range.0 {
            // fade in over the lowest third of the scale so the faint edges do not hide the map
            let t = colormap::log_position(v, range.0, range.1);
            (colormap::sequential(t), (3.0 * t).min(1.0))
        } else {
            ([0.0; 3], 0.0)
        };
        // colour maps are given in sRGB
        px.extend_from_slice(&[
            (c[0] * 255.0).round() as u8,
            (c[1] * 255.0).round() as u8,
            (c[2] * 255.0).round() as u8,
            (a * 255.0).round() as u8,
        ]);
    }
    px
}

/// The display range of a concentration field: the 99.5th percentile of the positive values
/// as the top, two decades below it as the bottom.
pub fn concentration_range(values: &[f32]) -> (f64, f64) {
    let mut v: Vec<f32> = values
        .iter()
        .copied()
        .filter(|x| x.is_finite() && *x > 0.0)
        .collect();
    if v.is_empty() {
        return (1e-3, 1.0);
    }
    v.sort_by(f32::total_cmp);
    let hi = f64::from(v[((v.len() - 1) as f64 * 0.995) as usize]).max(1e-9);
    (hi * 1e-2, hi)
}

/// The field to show: the run's raster, or its difference with the comparison's.
fn overlay_field(t: &TwinData, layers: &Layers) -> Option<(Raster, bool)> {
    let run = t.run.as_ref()?;
    let r = run
        .rasters
        .get(layers.pollutant)
        .or_else(|| run.rasters.first())?;
    let other = t.compare.as_ref().and_then(|c| {
        c.rasters.iter().find(|o| {
            o.pollutant == r.pollutant
                && o.nx == r.nx
                && o.ny == r.ny
                && o.min_x == r.min_x
                && o.max_y == r.max_y
        })
    });
    match other {
        Some(o) if layers.difference => {
            let mut d = r.clone();
            d.values = r.values.iter().zip(&o.values).map(|(a, b)| a - b).collect();
            d.description = format!(
                "{} difference ({} − {})",
                r.pollutant,
                run.name,
                t.compare.as_ref().map(|c| c.name.as_str()).unwrap_or("")
            );
            Some((d, true))
        }
        _ => Some((r.clone(), false)),
    }
}

fn spawn_overlay(
    mut commands: Commands,
    twin: Res<Twin>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    mut images: ResMut<Assets<Image>>,
) {
    let t = &twin.0;
    let Some((r, _)) = overlay_field(t, &Layers::default()) else {
        return;
    };
    // a mesh over the raster's extent that follows the terrain, 80 m above it
    let n = 160usize;
    let (w_m, h_m) = (r.nx as f64 * r.cell_m, r.ny as f64 * r.cell_m);
    let (nu, nv) = if w_m >= h_m {
        (n, ((n as f64 * h_m / w_m).ceil() as usize).max(2))
    } else {
        (((n as f64 * w_m / h_m).ceil() as usize).max(2), n)
    };
    let mut pos = Vec::new();
    let mut uv = Vec::new();
    for j in 0..=nv {
        for i in 0..=nu {
            let (u, v) = (i as f64 / nu as f64, j as f64 / nv as f64);
            let x = r.min_x + u * w_m;
            let y = r.max_y - v * h_m;
            let s = t.projection.projected_to_scene(x, y, 0.0);
            let hgt = t.terrain.height_at(s[0], s[2]) + 0.24;
            pos.push([s[0], hgt, s[2]]);
            uv.push([u as f32, v as f32]);
        }
    }
    let mut idx = Vec::new();
    for j in 0..nv {
        for i in 0..nu {
            let a = (j * (nu + 1) + i) as u32;
            let b = a + 1;
            let c = a + (nu + 1) as u32;
            let d = c + 1;
            idx.extend_from_slice(&[a, c, b, b, c, d]);
        }
    }
    let normals = vec![[0.0f32, 1.0, 0.0]; pos.len()];
    let mesh = Mesh::new(
        PrimitiveTopology::TriangleList,
        RenderAssetUsages::default(),
    )
    .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, pos)
    .with_inserted_attribute(Mesh::ATTRIBUTE_NORMAL, normals)
    .with_inserted_attribute(Mesh::ATTRIBUTE_UV_0, uv)
    .with_inserted_indices(Indices::U32(idx));
    let image = Image::new(
        Extent3d {
            width: r.nx as u32,
            height: r.ny as u32,
            depth_or_array_layers: 1,
        },
        TextureDimension::D2,
        vec![0; r.nx * r.ny * 4],
        TextureFormat::Rgba8UnormSrgb,
        RenderAssetUsages::default(),
    );
    let material = materials.add(StandardMaterial {
        base_color: Color::srgba(1.0, 1.0, 1.0, 0.75),
        base_color_texture: Some(images.add(image)),
        unlit: true,
        alpha_mode: AlphaMode::Blend,
        double_sided: true,
        cull_mode: None,
        ..default()
    });
    commands.spawn((
        Mesh3d(meshes.add(mesh)),
        MeshMaterial3d(material),
        OverlayMesh,
    ));
}

fn update_overlay(
    twin: Res<Twin>,
    layers: Res<Layers>,
    mut legend: ResMut<OverlayLegend>,
    mut q: Query<(&MeshMaterial3d<StandardMaterial>, &mut Visibility), With<OverlayMesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    mut images: ResMut<Assets<Image>>,
) {
    if !layers.is_changed() {
        return;
    }
    let Ok((mat, mut vis)) = q.single_mut() else {
        return;
    };
    *vis = if layers.overlay {
        Visibility::Inherited
    } else {
        Visibility::Hidden
    };
    let Some(mut m) = materials.get_mut(&mat.0) else {
        return;
    };
    m.base_color = Color::srgba(1.0, 1.0, 1.0, layers.opacity);
    let key = (layers.pollutant, layers.difference);
    if legend.key == Some(key) {
        return;
    }
    let Some((r, diff)) = overlay_field(&twin.0, &layers) else {
        return;
    };
    let range = if diff {
        let mut a: Vec<f32> = r
            .values
            .iter()
            .map(|v| v.abs())
            .filter(|v| v.is_finite())
            .collect();
        a.sort_by(f32::total_cmp);
        let top = a
            .get(((a.len().max(1) - 1) as f64 * 0.995) as usize)
            .copied()
            .unwrap_or(1.0);
        (-f64::from(top), f64::from(top).max(1e-9))
    } else {
        concentration_range(&r.values)
    };
    if let Some(mut tex) = m
        .base_color_texture
        .as_ref()
        .and_then(|h| images.get_mut(h))
    {
        tex.data = Some(overlay_pixels(&r.values, diff, range));
    }
    *legend = OverlayLegend {
        title: r.description.clone(),
        range,
        log: !diff,
        key: Some(key),
    };
}

/// VN_AQI of simulated concentrations at a station (each pollutant's value taken as its 1-h
/// concentration; PM as given, without NowCast).
pub fn simulated_aqi(values: &[(String, f64)]) -> Option<i64> {
    let sub: Vec<(AqiParameter, f64)> = values
        .iter()
        .filter_map(|(p, c)| {
            let p = match p.as_str() {
                "PM2.5" => AqiParameter::Pm25,
                "PM10" => AqiParameter::Pm10,
                "SO2" => AqiParameter::So2,
                "NO2" => AqiParameter::No2,
                "CO" => AqiParameter::Co,
                _ => return None,
            };
            vn_sub_index(p, *c).map(|s| (p, s))
        })
        .collect();
    combine(sub).map(|a| a.aqi)
}

fn colour_stations(
    twin: Res<Twin>,
    clock: Res<Clock>,
    mut aqi: ResMut<StationAqi>,
    q: Query<(&Marker, &MeshMaterial3d<StandardMaterial>)>,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    if !clock.is_changed() {
        return;
    }
    let t = &twin.0;
    let Some(run) = t.run.as_ref().filter(|r| !r.stations.is_empty()) else {
        return;
    };
    let now = clock.now().unwrap_or(i64::MAX);
    for (m, mat) in &q {
        if m.kind != Kind::Station {
            continue;
        }
        let id = &t.features[m.index].id;
        // observed colours stay: the simulated ones fill in where nothing was observed
        if t.telemetry
            .as_ref()
            .is_some_and(|o| o.latest_aqi.contains_key(id))
        {
            continue;
        }
        let value = run.stations.get(id).and_then(|by_p| {
            let v: Vec<(String, f64)> = by_p
                .iter()
                .filter_map(|(p, s)| sample_at(s, now).map(|c| (p.clone(), c)))
                .collect();
            simulated_aqi(&v)
        });
        aqi.0.insert(m.index, value);
        if let Some(mut material) = materials.get_mut(&mat.0) {
            let c = colormap::aqi(value);
            material.base_color = Color::srgb(c[0], c[1], c[2]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_pixels_are_transparent_below_the_range() {
        let px = overlay_pixels(&[0.0, 0.5, 10.0, f32::NAN], false, (1.0, 10.0));
        assert_eq!(px[3], 0);
        assert_eq!(px[7], 0);
        assert_eq!(&px[8..12], &[253, 231, 37, 255]);
        let faint = overlay_pixels(&[1.2], false, (1.0, 10.0));
        assert!(faint[3] > 0 && faint[3] < 255, "faint values fade in");
        assert_eq!(px[15], 0);
    }

    #[test]
    fn difference_pixels_are_signed() {
        let px = overlay_pixels(&[-2.0, 0.0, 2.0], true, (-2.0, 2.0));
        assert!(px[2] > px[0], "negative is blue");
        assert_eq!(px[7], 0, "no difference is transparent");
        assert!(px[8] > px[10], "positive is red");
    }

    #[test]
    fn ranges_and_aqi() {
        let v: Vec<f32> = (1..=1000).map(|i| i as f32).collect();
        let (lo, hi) = concentration_range(&v);
        assert!((hi - 995.0).abs() < 1.0 && (lo - hi * 1e-2).abs() < 1e-9);
        assert_eq!(simulated_aqi(&[("PM2.5".into(), 25.0)]), Some(50));
        assert_eq!(
            simulated_aqi(&[("SO2".into(), 125.0)]),
            None,
            "no PM, no AQI"
        );
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
