//! The dispersion scenario file as written (serde structs, unknown keys rejected): every key
//! carries its unit in its name; emission rates are `{pollutant, rate, unit}` like the dataset's.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// A dispersion scenario as written in TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Dataset directory, relative to the scenario file; default: the bundled dataset.
    pub dataset: Option<PathBuf>,
    /// Start time, RFC 3339 with offset (e.g. `2026-01-15T00:00:00+07:00`).
    pub start: String,
    /// Simulated duration, hours.
    pub duration_h: f64,
    /// Output (station sampling, wind update) interval, minutes.
    #[serde(default = "default_interval")]
    pub output_interval_min: f64,
    /// Pollutants to carry, by name (`PM2.5`, `PM10`, `SO2`, `NOx`, …), at most 8.
    pub pollutants: Vec<String>,
    /// Depth of the mixed layer, m (every hour unless `[[mixing_height]]` or a wind series entry
    /// says otherwise).
    pub mixing_height_m: f64,
    /// Hourly mixing heights: each entry holds from its `hour` until the next.
    #[serde(default)]
    pub mixing_height: Vec<MixingHeightSample>,
    /// Hours from the start excluded from time means and outputs (the field spinning up from
    /// zero; default 0).
    #[serde(default)]
    pub spin_up_h: f64,
    /// Stability safety factor for the explicit scheme (default 0.5).
    pub cfl: Option<f64>,
    /// The grid.
    pub grid: GridSpec,
    /// The wind.
    pub wind: WindSpec,
    /// Decay and deposition per pollutant (absent: none).
    #[serde(default)]
    pub removal: BTreeMap<String, RemovalSpec>,
    /// Sources.
    #[serde(default)]
    pub sources: SourcesSpec,
    /// The near field (plume-in-grid).
    #[serde(default)]
    pub near_field: NearFieldSpec,
    /// Receptors.
    #[serde(default)]
    pub receptors: ReceptorsSpec,
    /// Background concentration per pollutant, added to every ground-level output.
    #[serde(default)]
    pub background: BTreeMap<String, BackgroundSpec>,
    /// NO₂ from NOx by the ozone limiting method (needs NOx among the pollutants).
    pub no2: Option<No2Spec>,
}

/// A mixing height valid from `hour` (since start) until the next entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixingHeightSample {
    /// Hours since start.
    pub hour: f64,
    /// m.
    pub mixing_height_m: f64,
}

/// `[near_field]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NearFieldSpec {
    /// On by default; off runs the grid alone (every source into its cell).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Longest travel before the plume's mass is all in the grid, m (default 20,000).
    pub max_travel_m: Option<f64>,
    /// Where the fade to the grid starts, as a fraction of the hand-over distance (default 0.5).
    pub fade_start_fraction: Option<f64>,
}

impl Default for NearFieldSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            max_travel_m: None,
            fade_start_fraction: None,
        }
    }
}

fn yes() -> bool {
    true
}

/// `[receptors]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceptorsSpec {
    /// Single points.
    #[serde(default)]
    pub point: Vec<PointReceptorSpec>,
    /// Polar grids around a centre.
    #[serde(default)]
    pub polar: Vec<PolarReceptorSpec>,
}

/// A receptor point.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointReceptorSpec {
    /// Name.
    pub name: String,
    /// Degrees east.
    pub lon: f64,
    /// Degrees north.
    pub lat: f64,
    /// Height above ground, m (default 1.5, breathing height).
    pub height_m: Option<f64>,
}

/// A polar receptor grid: every distance on every bearing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolarReceptorSpec {
    /// Name.
    pub name: String,
    /// Centre, degrees east.
    pub lon: f64,
    /// Centre, degrees north.
    pub lat: f64,
    /// Distances from the centre, m.
    pub distances_m: Vec<f64>,
    /// Compass bearings from the centre, degrees clockwise from north.
    pub directions_deg: Vec<f64>,
    /// Height above ground, m (default 1.5).
    pub height_m: Option<f64>,
}

/// Background of one pollutant: a constant, an hourly series (one value per hour from the
/// start, covering the run), or the hourly means one station observed (from a lake or an
/// observation file).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackgroundSpec {
    /// Constant, µg/m³.
    pub ug_m3: Option<f64>,
    /// Hourly values from the start, µg/m³.
    pub hourly_ug_m3: Option<Vec<f64>>,
    /// A station id whose observations of this pollutant are the background.
    pub station: Option<String>,
    /// The lake (or CSV/Parquet file) holding them, relative to the scenario file.
    pub observations: Option<PathBuf>,
}

/// `[no2]`: the ozone limiting method (Cole & Summerhays 1979).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct No2Spec {
    /// NO₂/NOx at the stack (default 0.1).
    pub in_stack_ratio: Option<f64>,
    /// Background ozone, µg/m³.
    pub ozone_ug_m3: f64,
}

fn default_interval() -> f64 {
    60.0
}

/// Grid: resolution, and the area as a lon/lat box or a projected extent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridSpec {
    /// Cell size, m.
    pub resolution_m: f64,
    /// `[min_lon, min_lat, max_lon, max_lat]`; default: the dataset's bounds.
    pub bbox: Option<[f64; 4]>,
    /// `[min_x, min_y, max_x, max_y]` in the dataset's projected CRS, metres.
    pub extent_m: Option<[f64; 4]>,
}

/// Wind: uniform, an hourly series, or interpolated from station observations.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindSpec {
    /// `uniform`, `series` or `stations`.
    pub mode: String,
    /// Speed for `uniform`, m/s.
    pub speed_m_s: Option<f64>,
    /// Direction the wind blows from, degrees clockwise from north, for `uniform`/`stations`.
    pub from_deg: Option<f64>,
    /// Pasquill–Gifford stability class A–F (sets K from the wind speed).
    pub stability: Option<String>,
    /// Constant horizontal diffusivity, m²/s (instead of `stability`).
    pub diffusivity_m2_s: Option<f64>,
    /// Hourly values for `series`.
    #[serde(default)]
    pub series: Vec<WindSample>,
    /// Observations for `stations` (inverse-distance weighted onto the grid).
    #[serde(default)]
    pub stations: Vec<WindStation>,
    /// Inverse-distance power for `stations` (default 2).
    pub idw_power: Option<f64>,
    /// Ambient air temperature for plume rise, K (default 288.15).
    pub ambient_temperature_k: Option<f64>,
    /// Winds below this are calm and raised to it, m/s (default 0.5).
    pub calm_m_s: Option<f64>,
}

/// One entry of a wind series, valid from `hour` (since start) until the next entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindSample {
    /// Hours since start.
    pub hour: f64,
    /// m/s.
    pub speed_m_s: f64,
    /// Degrees, the direction the wind blows from.
    pub from_deg: f64,
    /// Stability class for this period (default: the wind section's).
    pub stability: Option<String>,
    /// Mixing height for this period, m (default: `[[mixing_height]]`, else the scenario's).
    pub mixing_height_m: Option<f64>,
}

/// A wind observation at a point.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindStation {
    /// Degrees east.
    pub lon: f64,
    /// Degrees north.
    pub lat: f64,
    /// m/s.
    pub speed_m_s: f64,
    /// Degrees, the direction the wind blows from.
    pub from_deg: f64,
}

/// First-order removal of one pollutant.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemovalSpec {
    /// Chemical/first-order decay rate, 1/s.
    #[serde(default)]
    pub decay_per_s: f64,
    /// Dry deposition velocity, m/s.
    #[serde(default)]
    pub deposition_m_s: f64,
}

/// Which sources emit.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesSpec {
    /// Every dataset plant with emissions (stack point sources).
    #[serde(default)]
    pub plants: bool,
    /// The surface workings of every operating mine (open pits and "underground and surface"
    /// mines) as an area source of fugitive coal dust; closed, mothballed and proposed mines
    /// emit nothing.
    #[serde(default)]
    pub open_pit_mines: bool,
    /// PM10 emitted per tonne of coal mined at open pits, kg/t (default 0.2).
    pub mine_pm10_kg_per_t: Option<f64>,
    /// PM2.5 as a fraction of PM10 for mine dust (default 0.15).
    pub mine_pm25_fraction: Option<f64>,
    /// A factor on a dataset source's emissions, by plant or mine id (`{ "mong-duong-tpp" =
    /// 1.2 }`): how a sweep varies the sources that live in the dataset.
    #[serde(default)]
    pub scale: std::collections::BTreeMap<String, f64>,
    /// Extra point sources.
    #[serde(default)]
    pub point: Vec<PointSourceSpec>,
    /// Extra area sources (discs).
    #[serde(default)]
    pub area: Vec<AreaSourceSpec>,
    /// Road line sources (a link id or a route ref, emission per km).
    #[serde(default)]
    pub line: Vec<LineSourceSpec>,
    /// Road line sources from a traffic run's `emissions.parquet` (time-mean per road).
    #[serde(default)]
    pub traffic: Vec<TrafficSourceSpec>,
}

/// Line sources from a traffic run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficSourceSpec {
    /// A traffic run directory (`twin simulate traffic --out DIR`), relative to the scenario
    /// file; its `emissions.parquet` may be named instead of the directory.
    pub emissions: PathBuf,
    /// The road GeoJSON the traffic run used, relative to the scenario file, when it was not
    /// the dataset's road layer (e.g. an OSM import).
    pub roads: Option<PathBuf>,
}

/// An emission rate with its unit, as in the dataset.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmissionSpec {
    /// Pollutant name.
    pub pollutant: String,
    /// Rate.
    pub rate: f64,
    /// Unit: g/s, kg/h, kg/day, t/yr (per km for line sources: g/s/km, kg/h/km, kg/day/km, t/yr/km).
    pub unit: String,
}

/// A point source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointSourceSpec {
    /// Name, for reports.
    pub name: String,
    /// Degrees east.
    pub lon: f64,
    /// Degrees north.
    pub lat: f64,
    /// Rates.
    pub emissions: Vec<EmissionSpec>,
    /// Release height above ground, m (default: at the ground).
    pub stack_height_m: Option<f64>,
    /// Stack inner diameter, m (with exit velocity and temperature: buoyant rise).
    pub stack_diameter_m: Option<f64>,
    /// Exit velocity, m/s.
    pub exit_velocity_m_s: Option<f64>,
    /// Exit temperature, K.
    pub exit_temperature_k: Option<f64>,
}

/// A disc-shaped area source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AreaSourceSpec {
    /// Name, for reports.
    pub name: String,
    /// Centre, degrees east.
    pub lon: f64,
    /// Centre, degrees north.
    pub lat: f64,
    /// Radius, m.
    pub radius_m: f64,
    /// Total rates over the area.
    pub emissions: Vec<EmissionSpec>,
}

/// A line source along a road.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineSourceSpec {
    /// Link id or route ref (`QL18`).
    pub road: String,
    /// Rates per km of road.
    pub emissions: Vec<EmissionSpec>,
}
