//! Traffic run outputs: `links.parquet`, `emissions.parquet`, `traffic.png`, `summary.json`.

use std::path::{Path, PathBuf};

use geo::Geometry;
use polars::prelude::*;

use super::OutputError;
use super::map::{Image, land_mask, north_arrow, scale_bar};
use super::run::{
    FORMAT_VERSION, NetworkSummary, Placement, RunSummary, TrafficSummary, VehicleSummary,
    write_summary,
};
use super::text::Pen;
use crate::grid::Grid;
use crate::traffic::emissions::POLLUTANTS;
use crate::traffic::engine::{LinkMeasures, TrafficRun};
use crate::traffic::{TrafficProblem, VehicleClass};

/// What the writer needs besides the problem and the run.
#[derive(Debug, Clone, Default)]
pub struct TrafficRunInfo {
    /// Scenario name.
    pub name: String,
    /// Scenario file, for the summary.
    pub scenario: Option<PathBuf>,
    /// Projected land polygons for the map background (empty: plain background).
    pub land: Vec<Geometry<f64>>,
    /// How named features were placed on nodes: (feature id, node id, distance m).
    pub placements: Vec<(String, String, f64)>,
    /// Road ids closed for the run.
    pub closed_roads: Vec<String>,
}

impl TrafficRunInfo {
    /// What a resolved scenario tells the writer: its name, file, the dataset's land for the
    /// map, the placements and closures.
    pub fn of(resolved: &crate::traffic::scenario::ResolvedTraffic, scenario: &Path) -> Self {
        let ds = &resolved.dataset;
        Self {
            name: resolved.scenario.name.clone(),
            scenario: Some(scenario.to_path_buf()),
            land: ds
                .province
                .land
                .iter()
                .map(|l| {
                    crate::spatial::project(
                        &ds.projection,
                        &Geometry::MultiPolygon(l.geometry.clone()),
                    )
                })
                .collect(),
            placements: resolved.placements.clone(),
            closed_roads: resolved.scenario.closed_roads.clone(),
        }
    }
}

fn time_column(name: &str, ms: Vec<i64>, path: &Path) -> Result<Column, OutputError> {
    Ok(Series::new(name.into(), ms)
        .cast(&DataType::Datetime(
            TimeUnit::Milliseconds,
            Some(TimeZone::UTC),
        ))
        .map_err(|e| OutputError::encode(path, e.to_string()))?
        .into_column())
}

/// Writes the columns as GeoParquet with each row's link geometry (lon/lat line strings).
fn write_link_table(
    path: &Path,
    columns: Vec<Column>,
    geometry: Vec<Vec<u8>>,
) -> Result<(), OutputError> {
    let df = DataFrame::new_infer_height(columns)
        .map_err(|e| OutputError::encode(path, e.to_string()))?;
    super::geoparquet::write_geoparquet(path, df, "LineString", geometry)
}

/// Edie measures of a link in an interval for one class (`None`: both classes together).
pub fn measures(
    problem: &TrafficProblem,
    run: &TrafficRun,
    interval: usize,
    link: usize,
    class: Option<VehicleClass>,
) -> LinkMeasures {
    let iv = &run.intervals[interval];
    let l = &problem.network.links[link];
    let (m, s) = match class {
        Some(c) => (iv.vehicle_m[link][c.index()], iv.vehicle_s[link][c.index()]),
        None => (
            iv.vehicle_m[link][0] + iv.vehicle_m[link][1],
            iv.vehicle_s[link][0] + iv.vehicle_s[link][1],
        ),
    };
    LinkMeasures::edie(m, s, l.length_m, iv.seconds, l.free_flow_m_s)
}

/// Writes every output of a traffic run into `out` (created if missing); returns the summary.
pub fn write_traffic_run(
    out: &Path,
    problem: &TrafficProblem,
    run: &TrafficRun,
    info: &TrafficRunInfo,
) -> Result<RunSummary, OutputError> {
    std::fs::create_dir_all(out).map_err(|e| OutputError::io(out, e))?;
    let start_ms = problem.start.timestamp_millis();
    let links = &problem.network.links;
    // each directed link's geometry as WKB in lon/lat, in its direction of travel
    let utm = &problem.network.projection;
    let link_wkb: Vec<Vec<u8>> = links
        .iter()
        .map(|l| {
            let ll: Vec<(f64, f64)> = l.xy.iter().map(|&(x, y)| utm.inverse(x, y)).collect();
            super::geoparquet::wkb_line_string(&ll)
        })
        .collect();

    // links.parquet
    let lp = out.join("links.parquet");
    let mut geometry = Vec::new();
    let (mut id, mut road, mut time, mut class, mut flow, mut dens, mut speed, mut tt) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for (k, iv) in run.intervals.iter().enumerate() {
        let t = start_ms + ((iv.start_s + iv.seconds) * 1000.0).round() as i64;
        for (li, l) in links.iter().enumerate() {
            for c in [Some(VehicleClass::Car), Some(VehicleClass::Truck), None] {
                let m = measures(problem, run, k, li, c);
                geometry.push(link_wkb[li].clone());
                id.push(l.id.clone());
                road.push(l.road_id.clone());
                time.push(t);
                class.push(c.map_or("all", VehicleClass::name).to_string());
                flow.push(m.flow_veh_h);
                dens.push(m.density_veh_km);
                speed.push(m.speed_km_h);
                tt.push(m.travel_time_s);
            }
        }
    }
    write_link_table(
        &lp,
        vec![
            Column::new("link_id".into(), id),
            Column::new("road_id".into(), road),
            time_column("time", time, &lp)?,
            Column::new("class".into(), class),
            Column::new("flow_veh_h".into(), flow),
            Column::new("density_veh_km".into(), dens),
            Column::new("speed_km_h".into(), speed),
            Column::new("travel_time_s".into(), tt),
        ],
        geometry,
    )?;

    // emissions.parquet
    let ep = out.join("emissions.parquet");
    let mut geometry = Vec::new();
    let (mut id, mut road, mut time, mut pol, mut rate) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut total_kg = [0.0f64; 3];
    // each link's daily traffic for the AP-42 silt baseline: the vehicles that crossed it in
    // the run (vehicle-metres over its length), scaled from the run's hours to 24 h
    let run_h: f64 = run.intervals.iter().map(|iv| iv.seconds).sum::<f64>() / 3600.0;
    let per_day: Vec<f64> = links
        .iter()
        .enumerate()
        .map(|(li, l)| {
            let veh: f64 = run
                .intervals
                .iter()
                .map(|iv| (iv.vehicle_m[li][0] + iv.vehicle_m[li][1]) / l.length_m.max(1e-9))
                .sum();
            veh * 24.0 / run_h.max(1e-9)
        })
        .collect();
    // vehicles waiting at an origin idle on the roads leaving it: each node's queue is charged
    // to its outgoing links in equal shares
    let out_share: Vec<f64> = links
        .iter()
        .map(|l| 1.0 / problem.network.outgoing[l.from].len().max(1) as f64)
        .collect();
    let mut idle_kg = [0.0f64; 3];
    for iv in &run.intervals {
        let t = start_ms + ((iv.start_s + iv.seconds) * 1000.0).round() as i64;
        for (li, l) in links.iter().enumerate() {
            let vkm = [iv.vehicle_m[li][0] / 1000.0, iv.vehicle_m[li][1] / 1000.0];
            let veh_h = [iv.vehicle_s[li][0] / 3600.0, iv.vehicle_s[li][1] / 3600.0];
            let q = iv.queued_s.get(l.from).copied().unwrap_or_default();
            let queued_h = [q[0] * out_share[li] / 3600.0, q[1] * out_share[li] / 3600.0];
            let silt = problem
                .emissions
                .silt_for(&l.road_id, l.road_ref.as_deref(), per_day[li]);
            let (r, idle_g) = problem
                .emissions
                .rates_g_s(vkm, veh_h, queued_h, iv.seconds, silt);
            for (k, g) in idle_g.iter().enumerate() {
                idle_kg[k] += g / 1000.0;
            }
            for (p, name) in POLLUTANTS.iter().enumerate() {
                geometry.push(link_wkb[li].clone());
                id.push(l.id.clone());
                road.push(l.road_id.clone());
                time.push(t);
                pol.push((*name).to_string());
                rate.push(r[p]);
                total_kg[p] += r[p] * iv.seconds / 1000.0;
            }
        }
    }
    write_link_table(
        &ep,
        vec![
            Column::new("link_id".into(), id),
            Column::new("road_id".into(), road),
            time_column("time", time, &ep)?,
            Column::new("pollutant".into(), pol),
            Column::new("emission_g_s".into(), rate),
        ],
        geometry,
    )?;

    // traffic.png: the busiest interval (most vehicle-seconds)
    let busiest = run
        .intervals
        .iter()
        .enumerate()
        .map(|(k, iv)| (k, iv.vehicle_s.iter().map(|v| v[0] + v[1]).sum::<f64>()))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(0, |(k, _)| k);
    let png = out.join("traffic.png");
    // the busiest interval, in local time (UTC+7) for the people who read the map
    let local =
        |s: f64| crate::telemetry::time::local_minute(start_ms + (s * 1000.0).round() as i64);
    let (from_s, to_s) = run
        .intervals
        .get(busiest)
        .map_or((0.0, 0.0), |iv| (iv.start_s, iv.start_s + iv.seconds));
    let title = format!(
        "{}: speed / free-flow, busiest interval {} to {} (UTC+7)",
        info.name,
        local(from_s),
        local(to_s).get(11..).unwrap_or_default()
    );
    render_speed_map(problem, run, busiest, &info.land, &title).write_png(&png)?;

    // summary.json
    let c = &run.conservation;
    let mut vehicle_s = [0.0f64; 2];
    let mut vehicle_km = [0.0f64; 2];
    for iv in &run.intervals {
        for (s, m) in iv.vehicle_s.iter().zip(&iv.vehicle_m) {
            for k in 0..2 {
                vehicle_s[k] += s[k];
                vehicle_km[k] += m[k] / 1000.0;
            }
        }
    }
    let warnings: Vec<String> = problem
        .network
        .problems
        .iter()
        .map(ToString::to_string)
        .collect();
    let outputs = [
        (
            "links.parquet",
            "GeoParquet: link_id (`<road id>` or `<road id>~rev`), road_id, time (UTC, end of the interval), class (car | truck | all), flow_veh_h, density_veh_km, speed_km_h, travel_time_s — Edie's definitions over link × interval — and geometry (the link, lon/lat, in its direction of travel)",
        ),
        (
            "emissions.parquet",
            "GeoParquet: link_id, road_id, time (UTC, end of the interval), pollutant (PM10 | PM2.5 | NOx), emission_g_s (interval mean), geometry",
        ),
        (
            "traffic.png",
            "links coloured by speed / free-flow speed in the busiest interval",
        ),
    ];
    let summary = RunSummary::Traffic(Box::new(TrafficSummary {
        format_version: FORMAT_VERSION,
        scenario: info.name.clone(),
        scenario_file: info.scenario.as_ref().map(|p| p.display().to_string()),
        backend: if run.adapter.is_some() { "gpu" } else { "cpu" }.into(),
        adapter: run.adapter.clone(),
        start_utc: problem.start.to_rfc3339(),
        dt_s: problem.dt_s,
        dt_reason: problem.dt_reason.clone(),
        steps: run.steps,
        output_interval_s: problem.steps_per_output as f64 * problem.dt_s,
        wall_s: run.wall_s,
        cell_updates_per_s: run.cell_updates_per_s,
        network: NetworkSummary {
            nodes: problem.network.nodes.len(),
            links: links.len(),
            cells: problem.n_cells(),
            signals: problem.signals.len(),
            control: problem.control,
            warnings,
        },
        placements: info
            .placements
            .iter()
            .map(|(f, n, d)| Placement {
                feature: f.clone(),
                node: n.clone(),
                distance_m: *d,
            })
            .collect(),
        vehicles: VehicleSummary {
            classes: VehicleClass::ALL
                .iter()
                .map(|c| c.name().to_string())
                .collect(),
            demand: c.demand,
            entered: c.entered,
            exited: c.exited,
            in_network: c.in_network,
            waiting_at_origins: c.waiting,
            conservation_relative_error: c.relative_error,
            vehicle_seconds: vehicle_s,
            vehicle_km,
        },
        emissions_kg: POLLUTANTS
            .iter()
            .zip(total_kg)
            .map(|(p, kg)| ((*p).to_string(), kg))
            .collect(),
        idle_emissions_kg: POLLUTANTS
            .iter()
            .zip(idle_kg)
            .map(|(p, kg)| ((*p).to_string(), kg))
            .collect(),
        emission_model: problem.emissions.clone(),
        webster_plans: problem.webster_plans.iter().cloned().collect(),
        equilibrium: problem.equilibrium.clone(),
        closed_roads: info.closed_roads.clone(),
        commodities: problem
            .commodities
            .iter()
            .map(|c| super::run::CommoditySummary {
                class: c.class.name().to_string(),
                dest: c.dest.map(|d| problem.network.nodes[d].id.clone()),
            })
            .collect(),
        shared_destination_share: problem.shared_destination_share,
        truck_speed_km_h: problem.truck_speed_km_h,
        outputs: outputs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect(),
    }));
    write_summary(out, &summary)?;
    Ok(summary)
}

/// Speed-ratio colours: red (stopped) → orange → yellow → green (free flow).
pub fn speed_colour(ratio: f64) -> [u8; 3] {
    const STOPS: [(f64, [u8; 3]); 4] = [
        (0.0, [178, 24, 43]),
        (0.4, [244, 109, 67]),
        (0.7, [254, 224, 139]),
        (1.0, [26, 152, 80]),
    ];
    let r = ratio.clamp(0.0, 1.0);
    for w in STOPS.windows(2) {
        let ((a, ca), (b, cb)) = (w[0], w[1]);
        if r <= b {
            let f = (r - a) / (b - a);
            return [0, 1, 2].map(|k| {
                (f64::from(ca[k]) + f * (f64::from(cb[k]) - f64::from(ca[k]))).round() as u8
            });
        }
    }
    STOPS[3].1
}

fn render_speed_map(
    problem: &TrafficProblem,
    run: &TrafficRun,
    interval: usize,
    land: &[Geometry<f64>],
    title: &str,
) -> Image {
    let links = &problem.network.links;
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for l in links {
        for &(x, y) in &l.xy {
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
    }
    let pad = 0.05 * (x1 - x0).max(y1 - y0).max(1.0);
    let (x0, y0, x1, y1) = (x0 - pad, y0 - pad, x1 + pad, y1 + pad);
    let map_px = 1100.0;
    let scale = map_px / (x1 - x0).max(y1 - y0);
    let (mw, mh) = (
        ((x1 - x0) * scale).ceil() as usize,
        ((y1 - y0) * scale).ceil() as usize,
    );
    let (title_h, bar_w) = (36usize, 190usize);
    let mut img = Image::new(mw + bar_w, mh + title_h, [255, 255, 255, 255]);
    if !land.is_empty() {
        let grid = Grid {
            nx: mw,
            ny: mh,
            cell_m: 1.0 / scale,
            x0,
            y0,
            epsg: problem.network.projection.epsg(),
        };
        let mask = land_mask(&grid, land);
        for py in 0..mh {
            for px in 0..mw {
                let j = mh - 1 - py;
                let c = if mask[j * mw + px] {
                    [236, 232, 220, 255]
                } else {
                    [198, 224, 240, 255]
                };
                img.put(px as i64, (py + title_h) as i64, c);
            }
        }
    }
    let to_px = |x: f64, y: f64| ((x - x0) * scale, (y1 - y) * scale + title_h as f64);
    // draw the slower direction last so that congestion shows
    let mut order: Vec<(usize, f64)> = (0..links.len())
        .map(|li| {
            let m = if run.intervals.is_empty() {
                None
            } else {
                Some(measures(problem, run, interval, li, None))
            };
            let ratio = m.map_or(1.0, |m| m.speed_km_h / (links[li].free_flow_m_s * 3.6));
            (li, ratio)
        })
        .collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (li, ratio) in order {
        let l = &links[li];
        let c = speed_colour(ratio);
        let width = (1 + l.lanes as i64).min(5);
        // offset each direction to its right-hand side by half a width
        for w in l.xy.windows(2) {
            let (ax, ay) = to_px(w[0].0, w[0].1);
            let (bx, by) = to_px(w[1].0, w[1].1);
            let (dx, dy) = (bx - ax, by - ay);
            let len = dx.hypot(dy).max(1e-9);
            let (ox, oy) = (-dy / len * 1.5, dx / len * 1.5);
            let steps = len.ceil() as i64 + 1;
            for s in 0..=steps {
                let f = s as f64 / steps as f64;
                let (x, y) = (ax + f * dx + ox, ay + f * dy + oy);
                img.rect(
                    (x - width as f64 / 2.0).round() as i64,
                    (y - width as f64 / 2.0).round() as i64,
                    width,
                    width,
                    [c[0], c[1], c[2], 255],
                );
            }
        }
    }
    // legend
    let pen = Pen::system();
    let ink = [20, 20, 20, 255];
    let (bx, by, bw, bh) = (mw as i64 + 20, title_h as i64 + 50, 22i64, 240i64);
    pen.draw(&mut img, "speed / free-flow", bx, by - 40, 14.0, ink);
    for yy in 0..bh {
        let t = 1.0 - yy as f64 / (bh - 1) as f64;
        let c = speed_colour(t);
        img.rect(bx, by + yy, bw, 1, [c[0], c[1], c[2], 255]);
    }
    for (t, label) in [
        (1.0, "1.0 free"),
        (0.7, "0.7"),
        (0.4, "0.4"),
        (0.0, "0 stopped"),
    ] {
        let y = by + ((1.0 - t) * (bh - 1) as f64).round() as i64;
        img.rect(bx + bw, y, 5, 1, ink);
        pen.draw(&mut img, label, bx + bw + 8, y - 8, 14.0, ink);
    }
    pen.draw(&mut img, title, 10, 8, 18.0, ink);
    north_arrow(&mut img, &pen, mw as i64 - 24, title_h as i64 + 10);
    scale_bar(
        &mut img,
        &pen,
        20,
        (mh + title_h) as i64 - 20,
        1.0 / scale,
        (mw as i64 / 4).max(40),
    );
    img
}
