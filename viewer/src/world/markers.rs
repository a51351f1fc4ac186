//! Feature markers (stations, mines, plants, ports), their visibility, and the stations'
//! colours from simulated or observed VN_AQI.

use super::*;

/// Stations, mines, plants and ports, their visibility and the station colours.
pub struct MarkersPlugin;

impl Plugin for MarkersPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<StationAqi>()
            .add_systems(Startup, spawn_markers)
            .add_systems(Update, (visibility, colour_stations));
    }
}

fn spawn_markers(
    mut commands: Commands,
    twin: Res<Twin>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<FlatMaterial>>,
    mut palette: ResMut<Palette>,
) {
    // no lights in the scene: flat colours, true to the legend; one shared material per
    // colour, so markers of one kind (and stations of one AQI colour) are one instanced draw
    let mut mat = |c: Color| palette.get(&mut materials, c);
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
                commands.spawn((
                    Mesh3d(station_mesh.clone()),
                    MeshMaterial3d(palette.aqi(&mut materials, observed)),
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

/// VN_AQI of simulated concentrations at a station (each pollutant's value taken as its 1-h
/// concentration; PM as given, without NowCast).
pub fn simulated_aqi(values: &[(String, f64)]) -> Option<i64> {
    let sub: Vec<(AqiParameter, f64)> = values
        .iter()
        .filter_map(|(p, c)| {
            let p = AqiParameter::for_pollutant(p)?;
            vn_sub_index(p, *c).map(|s| (p, s))
        })
        .collect();
    combine(sub).map(|a| a.aqi)
}

fn colour_stations(
    twin: Res<Twin>,
    clock: Res<Clock>,
    mut aqi: ResMut<StationAqi>,
    mut q: Query<(&Marker, &mut MeshMaterial3d<FlatMaterial>)>,
    mut materials: ResMut<Assets<FlatMaterial>>,
    mut palette: ResMut<Palette>,
) {
    if !clock.is_changed() {
        return;
    }
    let t = &twin.0;
    let Some(run) = t.run.as_ref().filter(|r| !r.stations.is_empty()) else {
        return;
    };
    let now = clock.now().unwrap_or(i64::MAX);
    for (m, mut mat) in &mut q {
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
        mat.set_if_neq(MeshMaterial3d(palette.aqi(&mut materials, value)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_aqi_needs_pm() {
        assert_eq!(simulated_aqi(&[("PM2.5".into(), 25.0)]), Some(50));
        assert_eq!(
            simulated_aqi(&[("SO2".into(), 125.0)]),
            None,
            "no PM, no AQI"
        );
    }
}
