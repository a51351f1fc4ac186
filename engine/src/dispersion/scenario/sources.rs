//! Emission sources of a dispersion scenario on the grid: the dataset's plants and open-pit
//! mines, and the scenario's point, area, line and traffic-run sources, each turned into
//! (pollutant, cell) rates; what falls outside the grid is listed, never dropped silently.

use std::collections::BTreeMap;
use std::path::Path;

use geo::{Contains, Coord, Geometry, Point};

use super::spec::{EmissionSpec, SourcesSpec};
use crate::dataset::Dataset;
use crate::dispersion::SourceCell;
use crate::grid::Grid;
use crate::model::{EMISSION_UNITS, FeatureKind, MineGeometry, MiningMethod, Pollutant};
use crate::output::run::RunDir;
use crate::scenario::{ScenarioError, invalid, relative_to};
use crate::spatial::project;

/// The sources of a scenario on its grid.
#[derive(Debug, Clone, Default)]
pub(super) struct SourceBook {
    /// Cell sources, µg/m³/s into the mixed layer of their cell.
    pub sources: Vec<SourceCell>,
    /// Every emitting source by name, kind and position (NaN for lines).
    pub source_list: Vec<(String, FeatureKind, f64, f64)>,
    /// What was left out, with why.
    pub outside: Vec<String>,
}

/// Collects every source of `spec` onto `grid` for `pollutants` (in band order); rates are
/// spread through the mixed layer of depth `mixing_height_m`.
pub(super) fn collect_sources(
    spec: &SourcesSpec,
    path: &Path,
    dataset: &Dataset,
    grid: &Grid,
    pollutants: &[Pollutant],
    mixing_height_m: f64,
) -> Result<SourceBook, ScenarioError> {
    let bad = |m: String| invalid(path, m);
    let utm = &dataset.projection;
    let volume = grid.cell_m * grid.cell_m * mixing_height_m;
    let mut cells: BTreeMap<(u32, u32), f64> = BTreeMap::new(); // (pollutant, cell) → g/s
    let mut source_list = Vec::new();
    let mut outside = Vec::new();
    let plane_of = |p: Pollutant| pollutants.iter().position(|q| *q == p);
    let p = &dataset.province;
    if spec.plants {
        for plant in &p.plants {
            let (x, y) = utm.forward(plant.location.x(), plant.location.y());
            let Some((i, j)) = grid.cell_of(x, y) else {
                outside.push(format!("plant {}", plant.meta.id));
                continue;
            };
            let mut total = 0.0;
            for e in &plant.emissions {
                if let Some(k) = plane_of(e.pollutant) {
                    *cells
                        .entry((k as u32, (j * grid.nx + i) as u32))
                        .or_default() += e.grams_per_second;
                    total += e.grams_per_second;
                }
            }
            if total > 0.0 {
                source_list.push((
                    plant.meta.id.clone(),
                    FeatureKind::Plant,
                    plant.location.x(),
                    plant.location.y(),
                ));
            }
        }
    }
    if spec.open_pit_mines {
        let pm10_kg_t = spec.mine_pm10_kg_per_t.unwrap_or(0.2);
        let pm25_frac = spec.mine_pm25_fraction.unwrap_or(0.15);
        if pm10_kg_t.is_nan() || pm10_kg_t < 0.0 || !(0.0..=1.0).contains(&pm25_frac) {
            return Err(bad("key `sources.mine_pm10_kg_per_t` must be >= 0 and `sources.mine_pm25_fraction` in [0, 1]".into()));
        }
        for mine in p.mines.iter().filter(|m| m.method == MiningMethod::OpenPit) {
            let pm10_g_s = mine.output_t_per_year * pm10_kg_t * 1000.0 / (365.0 * 86400.0);
            let geom: Geometry<f64> = match &mine.geometry {
                MineGeometry::Point(pt) => (*pt).into(),
                MineGeometry::Area(a) => a.clone().into(),
            };
            let footprint = area_cells(grid, &project(utm, &geom));
            if footprint.is_empty() {
                outside.push(format!("mine {}", mine.meta.id));
                continue;
            }
            for (pol, rate) in [
                (Pollutant::Pm10, pm10_g_s),
                (Pollutant::Pm25, pm25_frac * pm10_g_s),
            ] {
                if let Some(k) = plane_of(pol) {
                    for c in &footprint {
                        *cells.entry((k as u32, *c)).or_default() += rate / footprint.len() as f64;
                    }
                }
            }
            let c = geo::Centroid::centroid(&geom).unwrap_or(Point::new(0.0, 0.0));
            source_list.push((mine.meta.id.clone(), FeatureKind::Mine, c.x(), c.y()));
        }
    }
    for (n, s) in spec.point.iter().enumerate() {
        let key = format!("sources.point[{n}]");
        let rates = emission_rates(&s.emissions, &key, false).map_err(&bad)?;
        let (x, y) = utm.forward(s.lon, s.lat);
        let Some((i, j)) = grid.cell_of(x, y) else {
            return Err(bad(format!(
                "key `{key}`: source {:?} at ({}, {}) is outside the grid",
                s.name, s.lon, s.lat
            )));
        };
        for (pol, g_s) in rates {
            let k = plane_of(pol).ok_or_else(|| {
                bad(format!(
                    "key `{key}.emissions`: {} is not one of this run's pollutants",
                    pol.as_str()
                ))
            })?;
            *cells
                .entry((k as u32, (j * grid.nx + i) as u32))
                .or_default() += g_s;
        }
        source_list.push((s.name.clone(), FeatureKind::Plant, s.lon, s.lat));
    }
    for (n, s) in spec.area.iter().enumerate() {
        let key = format!("sources.area[{n}]");
        let rates = emission_rates(&s.emissions, &key, false).map_err(&bad)?;
        if s.radius_m.is_nan() || s.radius_m <= 0.0 {
            return Err(bad(format!("key `{key}.radius_m`: must be > 0")));
        }
        let (x, y) = utm.forward(s.lon, s.lat);
        let disc: Geometry<f64> = geo::Polygon::new(
            (0..=32)
                .map(|k| {
                    let t = std::f64::consts::TAU * f64::from(k) / 32.0;
                    Coord {
                        x: x + s.radius_m * t.cos(),
                        y: y + s.radius_m * t.sin(),
                    }
                })
                .collect(),
            vec![],
        )
        .into();
        let footprint = area_cells(grid, &disc);
        if footprint.is_empty() {
            return Err(bad(format!(
                "key `{key}`: area {:?} is outside the grid",
                s.name
            )));
        }
        for (pol, g_s) in rates {
            let k = plane_of(pol).ok_or_else(|| {
                bad(format!(
                    "key `{key}.emissions`: {} is not one of this run's pollutants",
                    pol.as_str()
                ))
            })?;
            for c in &footprint {
                *cells.entry((k as u32, *c)).or_default() += g_s / footprint.len() as f64;
            }
        }
        source_list.push((s.name.clone(), FeatureKind::Mine, s.lon, s.lat));
    }
    for (n, s) in spec.line.iter().enumerate() {
        let key = format!("sources.line[{n}]");
        let rates = emission_rates(&s.emissions, &key, true).map_err(&bad)?;
        let links: Vec<usize> = (0..p.road_links.len())
            .filter(|&i| {
                p.road_links[i].meta.id == s.road
                    || p.road_links[i].road_ref.as_deref() == Some(&s.road)
            })
            .collect();
        if links.is_empty() {
            return Err(bad(format!(
                "key `{key}.road`: no road link with id or ref {:?}",
                s.road
            )));
        }
        for l in links {
            let line = project(
                utm,
                &p.geometry(crate::model::FeatureHandle {
                    kind: FeatureKind::Road,
                    index: l,
                }),
            );
            let Geometry::LineString(ls) = line else {
                continue;
            };
            let mut planes = Vec::with_capacity(rates.len());
            for (pol, g_s_km) in &rates {
                let kk = plane_of(*pol).ok_or_else(|| {
                    bad(format!(
                        "key `{key}.emissions`: {} is not one of this run's pollutants",
                        pol.as_str()
                    ))
                })?;
                planes.push((kk as u32, *g_s_km));
            }
            deposit_along(grid, &ls, &planes, &mut cells);
        }
        source_list.push((
            format!("road {}", s.road),
            FeatureKind::Road,
            f64::NAN,
            f64::NAN,
        ));
    }
    for (n, t) in spec.traffic.iter().enumerate() {
        let key = format!("sources.traffic[{n}]");
        let mut run_dir = relative_to(path, &t.emissions);
        if run_dir.is_file() {
            run_dir.pop();
        }
        let file = run_dir.join("emissions.parquet");
        let per_road = RunDir::open(&run_dir)
            .and_then(|r| r.mean_emissions_by_road())
            .map_err(|e| bad(format!("key `{key}.emissions`: {e}")))?;
        let roads = match &t.roads {
            Some(r) => {
                let rf = relative_to(path, r);
                crate::dataset::read_road_layer(&rf, dataset.manifest.bounds)
                    .map_err(|e| bad(format!("key `{key}.roads`: {e}")))?
            }
            None => p.road_links.clone(),
        };
        let mut skipped = std::collections::BTreeSet::new();
        let mut used = 0usize;
        for (road_id, rates) in &per_road {
            let Some(road) = roads.iter().find(|r| r.meta.id == *road_id) else {
                return Err(bad(format!(
                    "key `{key}`: road {road_id:?} of {} is not in the road layer{}",
                    file.display(),
                    if t.roads.is_none() {
                        " (set `roads` to the file the traffic run used)"
                    } else {
                        ""
                    }
                )));
            };
            let Geometry::LineString(ls) =
                project(utm, &Geometry::LineString(road.geometry.clone()))
            else {
                continue;
            };
            let km = ls.lines().map(|l| l.dx().hypot(l.dy())).sum::<f64>() / 1000.0;
            if km <= 0.0 {
                continue;
            }
            let mut planes = Vec::new();
            for (pol, g_s) in rates {
                match plane_of(*pol) {
                    Some(k) => planes.push((k as u32, g_s / km)),
                    None => {
                        skipped.insert(pol.as_str());
                    }
                }
            }
            used += 1;
            deposit_along(grid, &ls, &planes, &mut cells);
        }
        for pol in skipped {
            outside.push(format!("traffic {pol} (not carried by this run)"));
        }
        source_list.push((
            format!("traffic {} ({used} roads)", t.emissions.display()),
            FeatureKind::Road,
            f64::NAN,
            f64::NAN,
        ));
    }
    let sources: Vec<SourceCell> = cells
        .into_iter()
        .filter(|(_, g_s)| *g_s > 0.0)
        .map(|((pollutant, cell), g_s)| SourceCell {
            cell,
            pollutant,
            rate: (g_s * 1e6 / volume) as f32,
            _pad: 0.0,
        })
        .collect();
    Ok(SourceBook {
        sources,
        source_list,
        outside,
    })
}

pub(super) fn pollutant_names() -> String {
    Pollutant::ALL
        .iter()
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rates in g/s (per km for line sources), checking pollutant names and units.
fn emission_rates(
    list: &[EmissionSpec],
    key: &str,
    per_km: bool,
) -> Result<Vec<(Pollutant, f64)>, String> {
    let mut out = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let k = format!("{key}.emissions[{i}]");
        let p = Pollutant::parse(&e.pollutant).ok_or_else(|| {
            format!(
                "key `{k}.pollutant`: unknown pollutant {:?}; expected one of {}",
                e.pollutant,
                pollutant_names()
            )
        })?;
        let unit = if per_km {
            e.unit.strip_suffix("/km").ok_or_else(|| format!("key `{k}.unit`: {:?} is not a per-km unit (g/s/km, kg/h/km, kg/day/km, t/yr/km)", e.unit))?
        } else {
            e.unit.as_str()
        };
        let factor = EMISSION_UNITS
            .iter()
            .find(|(n, _)| *n == unit)
            .map(|(_, f)| *f)
            .ok_or_else(|| {
                let names: Vec<String> = EMISSION_UNITS
                    .iter()
                    .map(|(n, _)| {
                        if per_km {
                            format!("{n}/km")
                        } else {
                            (*n).to_string()
                        }
                    })
                    .collect();
                format!(
                    "key `{k}.unit`: unknown unit {:?}; expected one of {}",
                    e.unit,
                    names.join(", ")
                )
            })?;
        if !(e.rate >= 0.0 && e.rate.is_finite()) {
            return Err(format!("key `{k}.rate`: {} must be a number >= 0", e.rate));
        }
        out.push((p, e.rate * factor));
    }
    Ok(out)
}

/// Cells whose centres lie in a projected area (or the one cell under a point / a small area).
fn area_cells(grid: &Grid, g: &Geometry<f64>) -> Vec<u32> {
    use geo::BoundingRect;
    let Some(r) = g.bounding_rect() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let i0 = ((r.min().x - grid.x0) / grid.cell_m).floor().max(0.0) as usize;
    let j0 = ((r.min().y - grid.y0) / grid.cell_m).floor().max(0.0) as usize;
    let i1 = (((r.max().x - grid.x0) / grid.cell_m).ceil().max(0.0) as usize).min(grid.nx);
    let j1 = (((r.max().y - grid.y0) / grid.cell_m).ceil().max(0.0) as usize).min(grid.ny);
    for j in j0..j1 {
        for i in i0..i1 {
            let (x, y) = grid.centre(i, j);
            if g.contains(&Point::new(x, y)) {
                out.push((j * grid.nx + i) as u32);
            }
        }
    }
    if out.is_empty() {
        let c = geo::Centroid::centroid(g);
        if let Some((i, j)) = c.and_then(|c| grid.cell_of(c.x(), c.y())) {
            out.push((j * grid.nx + i) as u32);
        }
    }
    out
}

/// Adds per-km rates `(pollutant plane, g/s per km)` along a projected line to the grid cells it
/// crosses, walking it in steps of a quarter cell.
fn deposit_along(
    grid: &Grid,
    ls: &geo::LineString<f64>,
    planes: &[(u32, f64)],
    cells: &mut BTreeMap<(u32, u32), f64>,
) {
    for seg in ls.lines() {
        let len = seg.dx().hypot(seg.dy());
        let n_steps = ((len / (grid.cell_m / 4.0)).ceil() as usize).max(1);
        let piece_km = len / n_steps as f64 / 1000.0;
        for k in 0..n_steps {
            let t = (k as f64 + 0.5) / n_steps as f64;
            let (x, y) = (seg.start.x + t * seg.dx(), seg.start.y + t * seg.dy());
            if let Some((i, j)) = grid.cell_of(x, y) {
                for (plane, g_s_km) in planes {
                    *cells.entry((*plane, (j * grid.nx + i) as u32)).or_default() +=
                        g_s_km * piece_km;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Grid {
        Grid {
            nx: 10,
            ny: 10,
            cell_m: 100.0,
            x0: 0.0,
            y0: 0.0,
            epsg: 32648,
        }
    }

    fn spec(pollutant: &str, rate: f64, unit: &str) -> EmissionSpec {
        EmissionSpec {
            pollutant: pollutant.into(),
            rate,
            unit: unit.into(),
        }
    }

    #[test]
    fn emission_units_convert_to_grams_per_second() {
        let r = emission_rates(&[spec("SO2", 3.6, "kg/h")], "k", false).expect("valid");
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].0, Pollutant::So2);
        assert!((r[0].1 - 1.0).abs() < 1e-12);
        let r = emission_rates(&[spec("PM10", 86.4, "kg/day/km")], "k", true).expect("per km");
        assert!((r[0].1 - 1.0).abs() < 1e-12);
        let e = emission_rates(&[spec("PM10", 1.0, "g/s")], "sources.line[0]", true)
            .expect_err("a line needs a per-km unit");
        assert!(e.contains("sources.line[0].emissions[0].unit"), "{e}");
        let e = emission_rates(&[spec("SO3", 1.0, "g/s")], "k", false).expect_err("unknown");
        assert!(e.contains("SO3"), "{e}");
    }

    #[test]
    fn a_line_deposits_its_whole_rate_along_its_cells() {
        let g = grid();
        let line = geo::LineString::from(vec![(50.0, 50.0), (850.0, 650.0)]); // 1 km long
        let mut cells = BTreeMap::new();
        deposit_along(&g, &line, &[(0, 2.0)], &mut cells);
        let total: f64 = cells.values().sum();
        assert!(
            (total - 2.0).abs() < 1e-9,
            "{total} g/s for 1 km at 2 g/s/km"
        );
        // the first and last cells are the ends' cells
        assert!(cells.contains_key(&(0, 0)) && cells.contains_key(&(0, 6 * 10 + 8)));
    }

    #[test]
    fn an_area_covers_the_cells_whose_centres_it_holds() {
        let g = grid();
        let square: Geometry<f64> = geo::Rect::new((100.0, 100.0), (400.0, 300.0))
            .to_polygon()
            .into();
        let mut c = area_cells(&g, &square);
        c.sort_unstable();
        assert_eq!(c, vec![11, 12, 13, 21, 22, 23]);
        // smaller than a cell: its centroid's cell
        let tiny: Geometry<f64> = geo::Rect::new((510.0, 510.0), (520.0, 520.0))
            .to_polygon()
            .into();
        assert_eq!(area_cells(&g, &tiny), vec![55]);
    }
}
