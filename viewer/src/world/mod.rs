//! The scene: terrain with land and sea, district boundaries, roads, feature markers, and the
//! run overlays (dispersion raster draped over the terrain, traffic speed on the roads, station
//! colours), each following the layer switches and the clock.

use bevy::asset::RenderAssetUsages;
use bevy::mesh::{Indices, PrimitiveTopology};
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};
use twin_engine::telemetry::aqi::{AqiParameter, combine, vn_sub_index};

use crate::colormap;
use crate::data::{Kind, Raster, Run, Twin, TwinData, sample_at};
use crate::timeline::Clock;

mod flat;
mod lines;
mod markers;
mod overlay;
mod terrain;

pub use flat::{FlatMaterial, FlatMaterialPlugin, Palette};
pub use lines::{LinesPlugin, mine_segments, road_colour};
pub use markers::MarkersPlugin;
pub use overlay::OverlayPlugin;
pub use terrain::TerrainPlugin;

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
    /// Colour a mine run's network by CH₄ (else by airflow).
    pub mine_ch4: bool,
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
            mine_ch4: true,
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
            FlatMaterialPlugin,
            TerrainPlugin,
            MarkersPlugin,
            LinesPlugin,
            OverlayPlugin,
        ));
    }
}
