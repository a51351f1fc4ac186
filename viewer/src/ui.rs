//! Panels (bevy_egui): layers and legend, search with fly-to, the time slider, the picked
//! feature's properties and series; on the 3D view: district names, north arrow, scale bar.
//! Picking: a click casts the cursor ray onto the terrain and takes the nearest feature.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};

use crate::camera::{FlyTo, Orbit, PointerOverUi};
use crate::colormap;
use crate::data::Twin;
use crate::data::{Kind, sample_at};
use crate::pick;
use crate::scene::scale_bar_km;
use crate::timeline::{Clock, local_label};
use crate::world::{Layers, OverlayLegend, StationAqi};

/// What the user picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Picked {
    /// A point feature (index into `TwinData::features`).
    Feature(usize),
    /// A road (index into `TwinData::roads`).
    Road(usize),
}

/// The current selection.
#[derive(Debug, Clone, Resource, Default)]
pub struct Selection {
    /// What is selected.
    pub picked: Option<Picked>,
    /// Search box text.
    pub search: String,
}

/// Mean frame time over the last second, ms (shown in a corner).
#[derive(Debug, Clone, Resource, Default)]
pub struct FrameStats {
    times: std::collections::VecDeque<f32>,
}

/// The screen area the panels cover, physical pixels (the headless probes avoid it).
#[derive(Debug, Clone, Copy, Resource, Default)]
pub struct Covered {
    /// Width of the left panel.
    pub left_px: f32,
    /// Height of the bottom panel.
    pub bottom_px: f32,
    /// The inspector window (min x, min y, max x, max y), when open.
    pub window_px: Option<[f32; 4]>,
}

/// The panel systems, in the order they run in each egui pass: the left panel first (what it
/// covers bounds the rest), then the time panel, the inspector window, and the view overlay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, SystemSet)]
pub enum UiSet {
    /// Layers, legend, search (left).
    Layers,
    /// Time slider (bottom).
    Time,
    /// The picked feature's window.
    Inspector,
    /// District labels, north arrow, scale bar on the view.
    Hud,
}

/// Adds the panels and picking.
pub struct UiPlugin;

impl Plugin for UiPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Selection>()
            .init_resource::<FrameStats>()
            .init_resource::<Covered>()
            .configure_sets(
                EguiPrimaryContextPass,
                (UiSet::Layers, UiSet::Time, UiSet::Inspector, UiSet::Hud).chain(),
            )
            .add_systems(
                EguiPrimaryContextPass,
                (
                    layers_panel.in_set(UiSet::Layers),
                    time_panel.in_set(UiSet::Time),
                    inspector.in_set(UiSet::Inspector),
                    hud.in_set(UiSet::Hud),
                ),
            )
            .add_systems(Update, picking);
    }
}

fn rgb(c: [f32; 3]) -> egui::Color32 {
    egui::Color32::from_rgb(
        (c[0] * 255.0) as u8,
        (c[1] * 255.0) as u8,
        (c[2] * 255.0) as u8,
    )
}

fn swatch(ui: &mut egui::Ui, c: [f32; 3], label: &str) {
    ui.horizontal(|ui| {
        let (r, _) = ui.allocate_exact_size(egui::vec2(14.0, 14.0), egui::Sense::hover());
        ui.painter().rect_filled(r, 2.0, rgb(c));
        ui.label(label);
    });
}

/// The left panel: dataset, layer switches, legend, search with fly-to. It runs first: it sets
/// the fonts once, and what it covers bounds the other panels.
#[allow(clippy::too_many_arguments)]
fn layers_panel(
    mut contexts: EguiContexts,
    twin: Res<Twin>,
    mut layers: ResMut<Layers>,
    mut sel: ResMut<Selection>,
    legend: Res<OverlayLegend>,
    mut fly: ResMut<FlyTo>,
    mut covered: ResMut<Covered>,
    mut fonts_set: Local<bool>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    if !*fonts_set {
        set_fonts(ctx);
        *fonts_set = true;
    }
    let t = &twin.0;
    // panels live in a root Ui over the viewport (egui 0.36)
    let mut root = egui::Ui::new(
        ctx.clone(),
        "viewport-left".into(),
        egui::UiBuilder::new()
            .layer_id(egui::LayerId::background())
            .max_rect(ctx.viewport_rect()),
    );
    let left = egui::Panel::left("layers")
        .default_size(250.0)
        .show(&mut root, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                ui.heading(&t.province);
                ui.small(format!("dataset {}", t.dataset_dir.display()));
                if t.terrain.synthetic {
                    ui.colored_label(
                        egui::Color32::from_rgb(255, 200, 80),
                        "Terrain: SYNTHETIC DEM (illustrative)",
                    );
                }
                ui.small(format!("terrain: {}", t.terrain.source));
                ui.separator();
                ui.strong("Layers");
                let mut l = layers.clone();
                ui.checkbox(&mut l.terrain, "Terrain, land and sea");
                ui.checkbox(&mut l.districts, "Districts");
                ui.checkbox(&mut l.roads, "Roads");
                ui.checkbox(&mut l.mines, "Mines");
                ui.checkbox(&mut l.plants, "Power plants");
                ui.checkbox(&mut l.ports, "Ports");
                ui.checkbox(&mut l.stations, "Stations");
                if let Some(run) = &t.run {
                    ui.separator();
                    ui.strong(format!("Run: {}", run.name));
                    ui.small(run.dir.display().to_string());
                    if !run.links.is_empty() {
                        ui.checkbox(&mut l.traffic, "Roads coloured by traffic speed");
                    }
                    if let Some(m) = &run.mine {
                        ui.small(format!("mine network under {} (pick it)", m.mine_id));
                        if !m.series.is_empty() {
                            ui.checkbox(
                                &mut l.mine_ch4,
                                "Mine network coloured by CH₄ (else airflow)",
                            );
                        }
                    }
                    if !run.rasters.is_empty() {
                        ui.checkbox(&mut l.overlay, "Dispersion overlay");
                        ui.add(egui::Slider::new(&mut l.opacity, 0.0..=1.0).text("opacity"));
                        egui::ComboBox::from_label("pollutant")
                            .selected_text(
                                run.rasters
                                    .get(l.pollutant)
                                    .map(|r| r.pollutant.clone())
                                    .unwrap_or_default(),
                            )
                            .show_ui(ui, |ui| {
                                for (i, r) in run.rasters.iter().enumerate() {
                                    ui.selectable_value(&mut l.pollutant, i, &r.pollutant);
                                }
                            });
                        if let Some(c) = &t.compare {
                            ui.checkbox(&mut l.difference, format!("difference with {}", c.name));
                        }
                    }
                }
                if l.terrain != layers.terrain
                    || l.districts != layers.districts
                    || l.roads != layers.roads
                    || l.traffic != layers.traffic
                    || l.mines != layers.mines
                    || l.plants != layers.plants
                    || l.ports != layers.ports
                    || l.stations != layers.stations
                    || l.overlay != layers.overlay
                    || l.opacity != layers.opacity
                    || l.pollutant != layers.pollutant
                    || l.difference != layers.difference
                    || l.mine_ch4 != layers.mine_ch4
                {
                    *layers = l;
                }
                ui.separator();
                ui.strong("Legend");
                ui.label(match (&t.telemetry, &t.run) {
                    (Some(_), _) => "Stations: latest observed VN_AQI (Decision 1459)",
                    (None, Some(_)) => "Stations: VN_AQI of simulated concentrations",
                    (None, None) => "Stations: VN_AQI (no data loaded)",
                });
                if let Some(o) = &t.telemetry {
                    ui.small(format!("telemetry {}", o.source.display()));
                }
                for (a, name) in [
                    (25, "0–50 Tốt"),
                    (75, "51–100 Trung bình"),
                    (125, "101–150 Kém"),
                    (175, "151–200 Xấu"),
                    (250, "201–300 Rất xấu"),
                    (400, "301+ Nguy hại"),
                ] {
                    swatch(ui, colormap::aqi(Some(a)), name);
                }
                swatch(ui, colormap::aqi(None), "no data");
                if legend.key.is_some() && layers.overlay {
                    ui.label(&legend.title);
                    let (rect, _) =
                        ui.allocate_exact_size(egui::vec2(200.0, 14.0), egui::Sense::hover());
                    for k in 0..50 {
                        let f = k as f32 / 49.0;
                        let c = if legend.log {
                            colormap::sequential(f)
                        } else {
                            colormap::diverging(2.0 * f - 1.0)
                        };
                        let x0 = rect.left() + f * (rect.width() - 4.0);
                        ui.painter().rect_filled(
                            egui::Rect::from_min_size(
                                egui::pos2(x0, rect.top()),
                                egui::vec2(4.0, 14.0),
                            ),
                            0.0,
                            rgb(c),
                        );
                    }
                    ui.label(format!(
                        "{:.3} … {:.3} µg/m³{}",
                        legend.range.0,
                        legend.range.1,
                        if legend.log { " (log)" } else { "" }
                    ));
                }
                if t.run.as_ref().is_some_and(|r| !r.links.is_empty()) && layers.traffic {
                    ui.label("Road speed / free-flow speed");
                    for (name, c) in colormap::SPEED_LEGEND {
                        swatch(ui, c, name);
                    }
                } else {
                    ui.label("Roads by class");
                    for c in ["trunk", "primary", "secondary", "other"] {
                        swatch(ui, crate::world::road_colour(c), c);
                    }
                }
                ui.separator();
                ui.strong("Find");
                ui.text_edit_singleline(&mut sel.search);
                let q = sel.search.to_lowercase();
                if q.len() >= 2 {
                    let mut shown = 0;
                    for (i, f) in t.features.iter().enumerate() {
                        if shown >= 12 {
                            break;
                        }
                        if f.name.to_lowercase().contains(&q) || f.id.to_lowercase().contains(&q) {
                            shown += 1;
                            if ui
                                .link(format!("{} ({})", f.name, f.kind.label()))
                                .clicked()
                            {
                                sel.picked = Some(Picked::Feature(i));
                                fly.target = Some((Vec3::from(f.pos), 25.0));
                            }
                        }
                    }
                    for (i, r) in t.roads.iter().enumerate() {
                        if shown >= 12 {
                            break;
                        }
                        if r.name.to_lowercase().contains(&q) || r.id.to_lowercase().contains(&q) {
                            shown += 1;
                            if ui.link(format!("{} (road)", r.name)).clicked() {
                                sel.picked = Some(Picked::Road(i));
                                let mid = r.points[r.points.len() / 2];
                                fly.target = Some((Vec3::from(mid), 30.0));
                            }
                        }
                    }
                }
                ui.label("Drag: orbit · right-drag: pan · wheel: zoom · R: reset");
            });
        });
    covered.left_px = left.response.rect.width() * ctx.pixels_per_point();
    Ok(())
}

/// The bottom panel: play/pause, the time slider, speed, the clock, the frame time; right of
/// the left panel.
fn time_panel(
    mut contexts: EguiContexts,
    mut clock: ResMut<Clock>,
    mut stats: ResMut<FrameStats>,
    mut covered: ResMut<Covered>,
    // real time: virtual time clamps each frame to 250 ms
    time: Res<Time<Real>>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    stats.times.push_back(time.delta_secs());
    while stats.times.len() > 60 {
        stats.times.pop_front();
    }
    let mut rect = ctx.viewport_rect();
    rect.min.x += covered.left_px / ctx.pixels_per_point();
    let mut root = egui::Ui::new(
        ctx.clone(),
        "viewport-bottom".into(),
        egui::UiBuilder::new()
            .layer_id(egui::LayerId::background())
            .max_rect(rect),
    );
    let bottom = egui::Panel::bottom("time").show(&mut root, |ui| {
        ui.horizontal(|ui| {
            if clock.times.is_empty() {
                ui.label("No time steps (pass --run DIR with a traffic or dispersion run).");
            } else {
                let label = if clock.playing {
                    "⏸ pause"
                } else {
                    "▶ play"
                };
                if ui.button(label).clicked() {
                    clock.playing = !clock.playing;
                }
                let n = clock.times.len();
                let mut i = clock.index;
                ui.add(egui::Slider::new(&mut i, 0..=n - 1).show_value(false));
                if i != clock.index {
                    clock.index = i;
                }
                let mut s = clock.steps_per_s;
                ui.add(
                    egui::Slider::new(&mut s, 0.25..=20.0)
                        .logarithmic(true)
                        .text("steps/s"),
                );
                if s != clock.steps_per_s {
                    clock.steps_per_s = s;
                }
                if let Some(now) = clock.now() {
                    ui.label(local_label(now));
                }
            }
            let mean = stats.times.iter().sum::<f32>() / stats.times.len().max(1) as f32;
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                ui.label(format!("{:.1} ms/frame", mean * 1000.0));
            });
        });
    });
    covered.bottom_px = bottom.response.rect.height() * ctx.pixels_per_point();
    Ok(())
}

/// The picked feature's window: properties, observed and simulated series, alarms.
fn inspector(
    mut contexts: EguiContexts,
    twin: Res<Twin>,
    mut sel: ResMut<Selection>,
    clock: Res<Clock>,
    station_aqi: Res<StationAqi>,
    mut covered: ResMut<Covered>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    let t = &twin.0;
    covered.window_px = None;
    if let Some(p) = sel.picked {
        let mut open = true;
        let shown = egui::Window::new("Selected").open(&mut open).max_width(380.0).pivot(egui::Align2::RIGHT_TOP).default_pos(egui::pos2(ctx.content_rect().right() - 10.0, 40.0)).show(ctx, |ui| {
            match p {
                Picked::Feature(i) => {
                    let f = &t.features[i];
                    ui.heading(&f.name);
                    ui.label(format!("{} · {}", f.kind.label(), f.id));
                    let (lon, lat) = t.projection.to_lon_lat(f.pos[0], f.pos[2]);
                    ui.label(format!("{lat:.5}° N, {lon:.5}° E"));
                    egui::Grid::new("props").striped(true).show(ui, |ui| {
                        for (k, v) in &f.properties {
                            ui.label(k);
                            // long values (sources, notes) truncated; the full text on hover
                            ui.add(egui::Label::new(v).truncate()).on_hover_text(v);
                            ui.end_row();
                        }
                    });
                    let observed = t.telemetry.as_ref().and_then(|o| o.series.get(&f.id));
                    if let Some((time, a, dominant)) =
                        t.telemetry.as_ref().and_then(|o| o.latest_aqi.get(&f.id))
                    {
                        swatch(
                            ui,
                            colormap::aqi(Some(*a)),
                            &format!("observed VN_AQI {a} ({dominant}), hour ending {}", local_label(*time)),
                        );
                    }
                    if let Some(series) = observed {
                        ui.label("Observed hourly means (after QA):");
                        for (p, s) in series {
                            if matches!(
                                p.as_str(),
                                "PM2.5" | "PM10" | "SO2" | "NO2" | "CO" | "O3" | "CH4" | "CO_mine" | "O2" | "air_velocity"
                            ) {
                                sparkline(ui, p, s, None);
                            }
                        }
                    }
                    if let Some(events) = t.telemetry.as_ref().and_then(|o| o.alarms.get(&f.id)) {
                        ui.label(format!("{} gas alarm events (latest first):", events.len()));
                        for (name, start, end, peak) in events.iter().rev().take(8) {
                            ui.label(format!(
                                "{name}: {} for {} min, peak {peak:.2}",
                                local_label(*start),
                                (end - start) / 60_000 + 1
                            ));
                        }
                    }
                    if f.kind == Kind::Station && t.run.is_some() {
                        let aqi = station_aqi.0.get(&i).copied().flatten();
                        match aqi {
                            Some(a) => {
                                swatch(ui, colormap::aqi(Some(a)), &format!("VN_AQI {a} (simulated, at the slider time)"));
                            }
                            None => {
                                ui.label("No AQI: the run has no PM series for this station.");
                            }
                        }
                        if let Some(series) = t.run.as_ref().and_then(|r| r.stations.get(&f.id)) {
                            for (pollutant, s) in series {
                                sparkline(ui, pollutant, s, clock.now());
                            }
                        }
                    }
                    if let Some(m) = t.run.as_ref().and_then(|r| r.mine.as_ref()).filter(|m| m.mine_id == f.id) {
                        let now = clock.now();
                        let worst = (0..m.branches.len())
                            .filter(|&b| m.working[b])
                            .filter_map(|b| Some((b, m.state_at(b, now?)?.1)))
                            .max_by(|a, b| a.1.total_cmp(&b.1));
                        ui.label(format!(
                            "Ventilation network drawn beneath: {} branches, steady main flow {:.1} m³/s",
                            m.branches.len(),
                            m.max_flow()
                        ));
                        if let Some((b, c)) = worst {
                            ui.label(format!("highest CH₄ at a working place now: {c:.2} % in {}", m.branches[b].0));
                        }
                    }
                    if matches!(f.kind, Kind::UndergroundMine | Kind::OpenPit) && observed.is_none() {
                        ui.label("No gas readings: pass --telemetry PATH (e.g. a lake from `twin telemetry generate`).");
                    }
                }
                Picked::Road(i) => {
                    let r = &t.roads[i];
                    ui.heading(&r.name);
                    ui.label(format!("road · {} · {} · free flow {} km/h", r.id, r.class, r.free_flow_kmh));
                    if let (Some(run), Some(now)) = (t.run.as_ref(), clock.now())
                        && let Some(s) = run.links.get(&r.id)
                    {
                        if let Some(l) = sample_at(s, now) {
                            ui.label(format!(
                                "speed {:.1} km/h, density {:.1} veh/km, flow {:.0} veh/h (both directions)",
                                l.speed_kmh, l.density_veh_km, l.flow_veh_h
                            ));
                        }
                        let series = |f: fn(&crate::data::LinkState) -> f64| -> Vec<(i64, f64)> {
                            s.iter().map(|x| (x.0, f(&x.1))).collect()
                        };
                        sparkline(ui, "speed km/h", &series(|l| l.speed_kmh), Some(now));
                        sparkline(ui, "flow veh/h", &series(|l| l.flow_veh_h), Some(now));
                    }
                }
            }
        });
        if let Some(r) = shown.map(|s| s.response.rect) {
            let k = ctx.pixels_per_point();
            covered.window_px = Some([r.min.x * k, r.min.y * k, r.max.x * k, r.max.y * k]);
        }
        if !open {
            sel.picked = None;
        }
    }
    Ok(())
}

/// On the 3D view, inside what the panels leave: district names, the north arrow, the scale
/// bar; and whether the pointer is over any panel (the camera and picking then ignore it).
fn hud(
    mut contexts: EguiContexts,
    twin: Res<Twin>,
    layers: Res<Layers>,
    covered: Res<Covered>,
    mut over_ui: ResMut<PointerOverUi>,
    cam: Query<(&Camera, &GlobalTransform, &Orbit)>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    let t = &twin.0;
    if let Ok((camera, gt, orbit)) = cam.single() {
        let scale = ctx.pixels_per_point();
        let mut view = ctx.content_rect();
        view.min.x += covered.left_px / scale;
        view.max.y -= covered.bottom_px / scale;
        let painter = ctx
            .layer_painter(egui::LayerId::new(
                egui::Order::Background,
                egui::Id::new("labels"),
            ))
            .with_clip_rect(view);
        if layers.districts {
            for f in t.features.iter().filter(|f| f.kind == Kind::District) {
                if let Ok(p) = camera.world_to_viewport(gt, Vec3::from(f.pos)) {
                    painter.text(
                        egui::pos2(p.x / scale, p.y / scale),
                        egui::Align2::CENTER_CENTER,
                        &f.name,
                        egui::FontId::proportional(13.0),
                        egui::Color32::from_rgba_unmultiplied(255, 255, 255, 210),
                    );
                }
            }
        }
        let rect = view;
        // north arrow: north is −Z, seen turned by the camera's yaw
        let c = egui::pos2(rect.right() - 45.0, rect.top() + 50.0);
        let a = orbit.yaw;
        let tip = c + egui::vec2(-(a.sin()) * 22.0, -(a.cos()) * 22.0);
        let tail = c - (tip - c);
        painter.circle_stroke(c, 26.0, egui::Stroke::new(1.5, egui::Color32::WHITE));
        painter.arrow(
            tail,
            tip - tail,
            egui::Stroke::new(3.0, egui::Color32::from_rgb(230, 60, 60)),
        );
        painter.text(
            tip + (tip - c) * 0.45,
            egui::Align2::CENTER_CENTER,
            "N",
            egui::FontId::proportional(14.0),
            egui::Color32::WHITE,
        );
        // scale bar at the focus
        let right = Vec3::new(a.cos(), 0.0, -a.sin());
        if let (Ok(p0), Ok(p1)) = (
            camera.world_to_viewport(gt, orbit.focus),
            camera.world_to_viewport(gt, orbit.focus + right),
        ) {
            let px_per_km = (p1 - p0).length() / scale;
            if px_per_km > 0.0 {
                let (km, label) = scale_bar_km(160.0 / f64::from(px_per_km));
                let len = (km as f32) * px_per_km;
                let y = rect.bottom() - 60.0;
                let x0 = rect.right() - 40.0 - len;
                let stroke = egui::Stroke::new(3.0, egui::Color32::WHITE);
                painter.line_segment([egui::pos2(x0, y), egui::pos2(x0 + len, y)], stroke);
                painter.line_segment([egui::pos2(x0, y - 6.0), egui::pos2(x0, y + 6.0)], stroke);
                painter.line_segment(
                    [egui::pos2(x0 + len, y - 6.0), egui::pos2(x0 + len, y + 6.0)],
                    stroke,
                );
                painter.text(
                    egui::pos2(x0 + len / 2.0, y - 12.0),
                    egui::Align2::CENTER_CENTER,
                    label,
                    egui::FontId::proportional(13.0),
                    egui::Color32::WHITE,
                );
            }
        }
    }
    over_ui.0 = ctx.egui_wants_pointer_input() || ctx.is_pointer_over_egui();
    Ok(())
}

/// Vietnamese names need glyphs egui's default fonts lack: DejaVu Sans from the system
/// (`fonts-dejavu-core`) goes first when present.
fn set_fonts(ctx: &egui::Context) {
    for path in [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    ] {
        if let Ok(bytes) = std::fs::read(path) {
            let mut fonts = egui::FontDefinitions::default();
            fonts.font_data.insert(
                "system".into(),
                std::sync::Arc::new(egui::FontData::from_owned(bytes)),
            );
            for family in [egui::FontFamily::Proportional, egui::FontFamily::Monospace] {
                fonts
                    .families
                    .entry(family)
                    .or_default()
                    .insert(0, "system".into());
            }
            ctx.set_fonts(fonts);
            return;
        }
    }
}

/// A small line chart of a series with a marker at `now`.
fn sparkline(ui: &mut egui::Ui, label: &str, s: &[(i64, f64)], now: Option<i64>) {
    if s.len() < 2 {
        return;
    }
    let (rect, _) = ui.allocate_exact_size(egui::vec2(300.0, 46.0), egui::Sense::hover());
    let (t0, t1) = (s[0].0, s[s.len() - 1].0);
    let vmax = s
        .iter()
        .map(|p| p.1)
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
        .max(1e-9);
    let x = |t: i64| rect.left() + (t - t0) as f32 / (t1 - t0).max(1) as f32 * rect.width();
    let y = |v: f64| rect.bottom() - (v / vmax) as f32 * (rect.height() - 12.0);
    let pts: Vec<egui::Pos2> = s
        .iter()
        .filter(|p| p.1.is_finite())
        .map(|p| egui::pos2(x(p.0), y(p.1)))
        .collect();
    let painter = ui.painter();
    painter.rect_stroke(
        rect,
        2.0,
        egui::Stroke::new(1.0, egui::Color32::DARK_GRAY),
        egui::StrokeKind::Inside,
    );
    painter.add(egui::Shape::line(
        pts,
        egui::Stroke::new(1.5, egui::Color32::LIGHT_BLUE),
    ));
    if let Some(n) = now {
        let xn = x(n.clamp(t0, t1));
        painter.line_segment(
            [egui::pos2(xn, rect.top()), egui::pos2(xn, rect.bottom())],
            egui::Stroke::new(1.0, egui::Color32::YELLOW),
        );
    }
    painter.text(
        rect.left_top() + egui::vec2(4.0, 2.0),
        egui::Align2::LEFT_TOP,
        format!("{label} (max {vmax:.1})"),
        egui::FontId::proportional(11.0),
        egui::Color32::WHITE,
    );
}

fn picking(
    buttons: Res<ButtonInput<MouseButton>>,
    windows: Query<&Window>,
    cam: Query<(&Camera, &GlobalTransform, &Orbit)>,
    over_ui: Res<PointerOverUi>,
    twin: Res<Twin>,
    layers: Res<Layers>,
    mut sel: ResMut<Selection>,
    mut press: Local<Option<Vec2>>,
) {
    let Ok(window) = windows.single() else { return };
    let Some(cursor) = window.cursor_position() else {
        return;
    };
    if buttons.just_pressed(MouseButton::Left) && !over_ui.0 {
        *press = Some(cursor);
    }
    if !buttons.just_released(MouseButton::Left) {
        return;
    }
    // a click, not the end of an orbit drag
    let Some(start) = press.take() else { return };
    if start.distance(cursor) > 4.0 {
        return;
    }
    let Ok((camera, gt, orbit)) = cam.single() else {
        return;
    };
    let Ok(ray) = camera.viewport_to_world(gt, cursor) else {
        return;
    };
    let t = &twin.0;
    let o = ray.origin.to_array();
    let d = ray.direction.as_vec3().to_array();
    let hit = pick::ray_heightfield(o, d, 4.0 * orbit.distance + 200.0, 0.25, |x, z| {
        t.terrain.height_at(x, z)
    })
    .or_else(|| pick::ray_plane_y(o, d, 0.0));
    let Some(hit) = hit else { return };
    let p = [hit[0], hit[2]];
    // tolerance grows with the view distance: ~12 px at the centre of a 1080-px view
    let tol = orbit.distance * 0.012;
    let visible = |k: Kind| match k {
        Kind::Station => layers.stations,
        Kind::UndergroundMine | Kind::OpenPit => layers.mines,
        Kind::Plant => layers.plants,
        Kind::Port => layers.ports,
        Kind::District => false,
    };
    let features: Vec<usize> = (0..t.features.len())
        .filter(|&i| visible(t.features[i].kind))
        .collect();
    let f = pick::nearest(&features, tol, |&i| {
        let q = t.features[i].pos;
        ((q[0] - p[0]).powi(2) + (q[2] - p[1]).powi(2)).sqrt()
    });
    sel.picked = if let Some(k) = f {
        Some(Picked::Feature(features[k]))
    } else if layers.roads {
        let lines: Vec<Vec<[f32; 2]>> = t
            .roads
            .iter()
            .map(|r| r.points.iter().map(|q| [q[0], q[2]]).collect())
            .collect();
        pick::nearest(&lines, tol * 0.6, |l| pick::distance_to_polyline(p, l)).map(Picked::Road)
    } else {
        None
    };
}
