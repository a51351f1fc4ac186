//! Emission sources of a dispersion scenario as near-field emitters: the dataset's plants and
//! open-pit mines, and the scenario's point, area, line and traffic-run sources. A stack is one
//! emitter with its exit conditions; an area is split into at most [`MAX_AREA_PIECES`] pieces,
//! each a volume source with σy₀ = side/4.3, and a road into pieces of [`ROAD_PIECE_M`], each a
//! volume source with σy₀ = length/2.15 and the vehicle wake σz₀ = [`ROAD_SIGMA_Z0_M`] (the
//! US EPA's guidance for modelling areas and haul roads as volume sources, AERMOD User's Guide
//! 2004 §3.3.2 and Haul Road Workgroup 2012). Emitters outside the grid are kept (their plumes
//! still reach receptors inside it) and listed.

use std::path::Path;

use geo::{Area, Contains, Coord, Geometry, Point};

use super::spec::{EmissionSpec, SourcesSpec};
use crate::dataset::Dataset;
use crate::dispersion::{Emitter, StackExit};
use crate::grid::Grid;
use crate::model::{EMISSION_UNITS, FeatureKind, MineGeometry, Pollutant};
use crate::output::run::RunDir;
use crate::scenario::{ScenarioError, check_range, invalid, relative_to};
use crate::spatial::project;

/// Most pieces an area source is split into.
pub const MAX_AREA_PIECES: usize = 64;
/// Length of a road piece, m.
pub const ROAD_PIECE_M: f64 = 50.0;
/// Initial vertical spread of road emissions (vehicle wake), m.
pub const ROAD_SIGMA_Z0_M: f64 = 1.7;
/// Initial vertical spread of open-pit and stockpile dust, m (a 10 m release depth / 2.15).
pub const AREA_SIGMA_Z0_M: f64 = 4.65;
/// Side of the nominal pit a mine given as a point stands for, m.
pub const POINT_MINE_SIDE_M: f64 = 500.0;

/// PM10 emitted per tonne of coal mined at open pits, kg/t: the one value the dispersion model
/// and the telemetry generator share.
pub const MINE_PM10_KG_PER_T: f64 = 0.2;
/// PM2.5 as a fraction of open-pit PM10.
pub const MINE_PM25_FRACTION: f64 = 0.15;

/// The sources of a scenario as emitters.
#[derive(Debug, Clone, Default)]
pub(super) struct SourceBook {
    /// Emitters, g/s.
    pub emitters: Vec<Emitter>,
    /// Every emitting source by name, kind and position (NaN for lines).
    pub source_list: Vec<(String, FeatureKind, f64, f64)>,
    /// What lies outside the grid (kept for the near field) or was left out, with why.
    pub outside: Vec<String>,
}

/// Collects every source of `spec` as emitters for `pollutants` (in band order).
pub(super) fn collect_sources(
    spec: &SourcesSpec,
    path: &Path,
    dataset: &Dataset,
    grid: &Grid,
    pollutants: &[Pollutant],
) -> Result<SourceBook, ScenarioError> {
    let bad = |m: String| invalid(path, m);
    let utm = &dataset.projection;
    let mut book = SourceBook::default();
    let plane_of = |p: Pollutant| pollutants.iter().position(|q| *q == p);
    let p = &dataset.province;
    for (id, f) in &spec.scale {
        let key = format!("sources.scale.{id}");
        check_range(&key, *f, 0.0, 1000.0, "").map_err(&bad)?;
        let plant = p.plants.iter().any(|x| &x.meta.id == id);
        let mine = p.mines.iter().any(|x| &x.meta.id == id);
        if !plant && !mine {
            return Err(bad(format!(
                "key `{key}`: no plant or mine with id {id:?} in the dataset"
            )));
        }
        if (plant && !spec.plants) || (mine && !spec.open_pit_mines) {
            return Err(bad(format!(
                "key `{key}`: {id:?} does not emit in this scenario (sources.{} = false)",
                if plant { "plants" } else { "open_pit_mines" }
            )));
        }
    }
    let scale = |id: &str| spec.scale.get(id).copied().unwrap_or(1.0);
    let note_outside = |book: &mut SourceBook, what: String, x: f64, y: f64| {
        if grid.cell_of(x, y).is_none() {
            book.outside
                .push(format!("{what} (outside the grid: near field only)"));
        }
    };
    if spec.plants {
        for plant in &p.plants {
            let (x, y) = utm.forward(plant.location.x(), plant.location.y());
            let rates: Vec<(u32, f64)> = plant
                .emissions
                .iter()
                .filter_map(|e| {
                    plane_of(e.pollutant)
                        .map(|k| (k as u32, e.grams_per_second * scale(&plant.meta.id)))
                })
                .filter(|(_, r)| *r > 0.0)
                .collect();
            if rates.is_empty() {
                continue;
            }
            note_outside(&mut book, format!("plant {}", plant.meta.id), x, y);
            let exit = match (plant.exit_velocity_m_s, plant.exit_temperature_k) {
                (Some(v), Some(t)) => Some(StackExit {
                    diameter_m: plant.stack_diameter_m,
                    velocity_m_s: v,
                    temperature_k: t,
                }),
                _ => None,
            };
            book.emitters.push(Emitter {
                x_m: x,
                y_m: y,
                height_m: plant.stack_height_m,
                exit,
                sigma_y0_m: 0.0,
                sigma_z0_m: 0.0,
                rates,
                source: book.source_list.len(),
            });
            book.source_list.push((
                plant.meta.id.clone(),
                FeatureKind::Plant,
                plant.location.x(),
                plant.location.y(),
            ));
        }
    }
    if spec.open_pit_mines {
        let pm10_kg_t = spec.mine_pm10_kg_per_t.unwrap_or(MINE_PM10_KG_PER_T);
        let pm25_frac = spec.mine_pm25_fraction.unwrap_or(MINE_PM25_FRACTION);
        // surface workings of operating mines ("underground and surface" mines count)
        for mine in p
            .mines
            .iter()
            .filter(|m| m.operating() && m.method.surface())
        {
            let pm10_g_s = mine.output_t_per_year * pm10_kg_t * 1000.0 / (365.0 * 86400.0)
                * scale(&mine.meta.id);
            let rates: Vec<(u32, f64)> = [
                (Pollutant::Pm10, pm10_g_s),
                (Pollutant::Pm25, pm25_frac * pm10_g_s),
            ]
            .into_iter()
            .filter_map(|(pol, r)| plane_of(pol).map(|k| (k as u32, r)))
            .filter(|(_, r)| *r > 0.0)
            .collect();
            if rates.is_empty() {
                continue;
            }
            let geom: Geometry<f64> = match &mine.geometry {
                MineGeometry::Point(pt) => (*pt).into(),
                MineGeometry::Area(a) => a.clone().into(),
            };
            let projected = project(utm, &geom);
            let c = geo::Centroid::centroid(&geom).unwrap_or(Point::new(0.0, 0.0));
            let (cx, cy) = utm.forward(c.x(), c.y());
            note_outside(&mut book, format!("mine {}", mine.meta.id), cx, cy);
            let source = book.source_list.len();
            book.emitters
                .extend(area_emitters(&projected, &rates, AREA_SIGMA_Z0_M, source));
            book.source_list
                .push((mine.meta.id.clone(), FeatureKind::Mine, c.x(), c.y()));
        }
    }
    for (n, s) in spec.point.iter().enumerate() {
        let key = format!("sources.point[{n}]");
        let rates = planes(
            emission_rates(&s.emissions, &key, false).map_err(&bad)?,
            &key,
            &plane_of,
        )
        .map_err(&bad)?;
        let (x, y) = utm.forward(s.lon, s.lat);
        note_outside(&mut book, format!("source {:?}", s.name), x, y);
        let exit = match (
            s.stack_diameter_m,
            s.exit_velocity_m_s,
            s.exit_temperature_k,
        ) {
            (Some(d), Some(v), Some(t)) => Some(StackExit {
                diameter_m: d,
                velocity_m_s: v,
                temperature_k: t,
            }),
            (None, None, None) => None,
            _ => {
                return Err(bad(format!(
                    "key `{key}`: buoyant rise needs all of `stack_diameter_m`, `exit_velocity_m_s` and `exit_temperature_k` (or none)"
                )));
            }
        };
        book.emitters.push(Emitter {
            x_m: x,
            y_m: y,
            height_m: s.stack_height_m.unwrap_or(0.0),
            exit,
            sigma_y0_m: 0.0,
            sigma_z0_m: 0.0,
            rates,
            source: book.source_list.len(),
        });
        book.source_list
            .push((s.name.clone(), FeatureKind::Plant, s.lon, s.lat));
    }
    for (n, s) in spec.area.iter().enumerate() {
        let key = format!("sources.area[{n}]");
        let rates = planes(
            emission_rates(&s.emissions, &key, false).map_err(&bad)?,
            &key,
            &plane_of,
        )
        .map_err(&bad)?;
        let (x, y) = utm.forward(s.lon, s.lat);
        note_outside(&mut book, format!("area {:?}", s.name), x, y);
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
        let source = book.source_list.len();
        book.emitters
            .extend(area_emitters(&disc, &rates, AREA_SIGMA_Z0_M, source));
        book.source_list
            .push((s.name.clone(), FeatureKind::Mine, s.lon, s.lat));
    }
    for (n, s) in spec.line.iter().enumerate() {
        let key = format!("sources.line[{n}]");
        let rates = planes(
            emission_rates(&s.emissions, &key, true).map_err(&bad)?,
            &key,
            &plane_of,
        )
        .map_err(&bad)?;
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
        let source = book.source_list.len();
        for l in links {
            let line = project(
                utm,
                &p.geometry(crate::model::FeatureHandle {
                    kind: FeatureKind::Road,
                    index: l,
                }),
            );
            if let Geometry::LineString(ls) = line {
                book.emitters.extend(line_emitters(&ls, &rates, source));
            }
        }
        book.source_list.push((
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
        let source = book.source_list.len();
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
            let mut per_km = Vec::new();
            for (pol, g_s) in rates {
                match plane_of(*pol) {
                    Some(k) => per_km.push((k as u32, g_s / km)),
                    None => {
                        skipped.insert(pol.as_str());
                    }
                }
            }
            used += 1;
            book.emitters.extend(line_emitters(&ls, &per_km, source));
        }
        for pol in skipped {
            book.outside
                .push(format!("traffic {pol} (not carried by this run)"));
        }
        book.source_list.push((
            format!("traffic {} ({used} roads)", t.emissions.display()),
            FeatureKind::Road,
            f64::NAN,
            f64::NAN,
        ));
    }
    Ok(book)
}

/// Rates by pollutant to rates by plane, refusing a pollutant the run does not carry.
fn planes(
    rates: Vec<(Pollutant, f64)>,
    key: &str,
    plane_of: &dyn Fn(Pollutant) -> Option<usize>,
) -> Result<Vec<(u32, f64)>, String> {
    rates
        .into_iter()
        .map(|(pol, r)| {
            plane_of(pol).map(|k| (k as u32, r)).ok_or_else(|| {
                format!(
                    "key `{key}.emissions`: {} is not one of this run's pollutants",
                    pol.as_str()
                )
            })
        })
        .collect()
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

/// An area (projected) as at most [`MAX_AREA_PIECES`] volume emitters on a square lattice of
/// side s (σy₀ = s/4.3), sharing `rates` (g/s) equally; a point stands for a nominal square of
/// [`POINT_MINE_SIDE_M`].
fn area_emitters(
    g: &Geometry<f64>,
    rates: &[(u32, f64)],
    sigma_z0: f64,
    source: usize,
) -> Vec<Emitter> {
    use geo::BoundingRect;
    let one = |x: f64, y: f64, side: f64| Emitter {
        x_m: x,
        y_m: y,
        height_m: 0.0,
        exit: None,
        sigma_y0_m: side / 4.3,
        sigma_z0_m: sigma_z0,
        rates: rates.to_vec(),
        source,
    };
    let area = g.unsigned_area();
    let (Some(r), true) = (g.bounding_rect(), area > 0.0) else {
        let c = geo::Centroid::centroid(g).unwrap_or(Point::new(0.0, 0.0));
        return vec![one(c.x(), c.y(), POINT_MINE_SIDE_M)];
    };
    // the lattice spacing that puts about MAX_AREA_PIECES·0.75 points inside; shrink until
    // at least one lies inside
    let mut side = (area / (0.75 * MAX_AREA_PIECES as f64)).sqrt();
    let mut pts = Vec::new();
    for _ in 0..8 {
        pts.clear();
        let nx = ((r.width() / side).ceil() as usize).max(1);
        let ny = ((r.height() / side).ceil() as usize).max(1);
        for j in 0..ny {
            for i in 0..nx {
                let (x, y) = (
                    r.min().x + (i as f64 + 0.5) * side,
                    r.min().y + (j as f64 + 0.5) * side,
                );
                if g.contains(&Point::new(x, y)) {
                    pts.push((x, y));
                }
            }
        }
        if pts.len() > MAX_AREA_PIECES {
            side *= 1.25;
        } else if pts.is_empty() {
            side *= 0.5;
        } else {
            break;
        }
    }
    if pts.is_empty() || pts.len() > MAX_AREA_PIECES {
        let c = geo::Centroid::centroid(g).unwrap_or(Point::new(0.0, 0.0));
        return vec![one(c.x(), c.y(), area.sqrt())];
    }
    let share = 1.0 / pts.len() as f64;
    pts.into_iter()
        .map(|(x, y)| {
            let mut e = one(x, y, side);
            for r in &mut e.rates {
                r.1 *= share;
            }
            e
        })
        .collect()
}

/// A projected line as volume emitters of about [`ROAD_PIECE_M`] each, at their midpoints, with
/// per-km rates (g/s/km) turned into each piece's g/s.
fn line_emitters(ls: &geo::LineString<f64>, per_km: &[(u32, f64)], source: usize) -> Vec<Emitter> {
    let mut out = Vec::new();
    for seg in ls.lines() {
        let len = seg.dx().hypot(seg.dy());
        if len <= 0.0 {
            continue;
        }
        let n = (len / ROAD_PIECE_M).ceil().max(1.0) as usize;
        let piece = len / n as f64;
        for k in 0..n {
            let t = (k as f64 + 0.5) / n as f64;
            out.push(Emitter {
                x_m: seg.start.x + t * seg.dx(),
                y_m: seg.start.y + t * seg.dy(),
                height_m: 0.0,
                exit: None,
                sigma_y0_m: piece / 2.15,
                sigma_z0_m: ROAD_SIGMA_Z0_M,
                rates: per_km
                    .iter()
                    .map(|(p, r)| (*p, r * piece / 1000.0))
                    .collect(),
                source,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_line_keeps_its_whole_rate_in_pieces() {
        let line = geo::LineString::from(vec![(50.0, 50.0), (850.0, 650.0)]); // 1 km long
        let e = line_emitters(&line, &[(0, 2.0)], 3);
        let total: f64 = e.iter().map(|e| e.rates[0].1).sum();
        assert!(
            (total - 2.0).abs() < 1e-12,
            "{total} g/s for 1 km at 2 g/s/km"
        );
        assert_eq!(e.len(), 20, "50 m pieces");
        assert!(
            e.iter()
                .all(|e| e.source == 3 && e.sigma_z0_m == ROAD_SIGMA_Z0_M)
        );
        assert!((e[0].sigma_y0_m - 50.0 / 2.15).abs() < 1e-9);
    }

    #[test]
    fn an_area_is_split_into_pieces_inside_it_that_keep_its_rate() {
        let square: Geometry<f64> = geo::Rect::new((100.0, 100.0), (1100.0, 900.0))
            .to_polygon()
            .into();
        let e = area_emitters(&square, &[(1, 8.0)], 4.0, 0);
        assert!(!e.is_empty() && e.len() <= MAX_AREA_PIECES, "{}", e.len());
        let total: f64 = e.iter().map(|e| e.rates[0].1).sum();
        assert!((total - 8.0).abs() < 1e-12);
        assert!(e.iter().all(|e| square.contains(&Point::new(e.x_m, e.y_m))));
        // a point: one emitter for the nominal pit
        let pt: Geometry<f64> = Point::new(5.0, 6.0).into();
        let e = area_emitters(&pt, &[(0, 1.0)], 4.0, 0);
        assert_eq!(e.len(), 1);
        assert!((e[0].sigma_y0_m - POINT_MINE_SIDE_M / 4.3).abs() < 1e-9);
    }
}
