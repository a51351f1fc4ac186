//! Headless runs: render N frames (and on until every render pipeline is compiled), save a
//! screenshot, print the mean and 95th-percentile frame time, exit.
//!
//! Offscreen: there is no window and no event loop (the app runs on Bevy's schedule runner,
//! not winit), the camera renders into an image ([`Offscreen`]) and the screenshot is taken of
//! that image, so it runs on a GPU server without a display or an X server.
//!
//! Next to `FILE.png` it writes `FILE.png.json`: the image size, the frame times, and probes —
//! the pixel where a known land point, sea point, road and the overlay's maximum fall — so a
//! test can check that the render shows them where the projection puts them.

use std::path::PathBuf;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bevy::prelude::*;
use bevy::render::render_resource::{PipelineCache, TextureFormat, TextureUsages};
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};
use bevy::render::{Render, RenderApp};

use crate::data::Twin;
use crate::ui::Covered;

/// Settings of a headless run.
pub struct HeadlessPlugin {
    /// Screenshot file.
    pub path: PathBuf,
    /// Frames before the screenshot.
    pub frames: u32,
    /// Image size, pixels.
    pub size: (u32, u32),
}

/// The image the camera renders into in a headless run, and its size.
#[derive(Debug, Clone, Resource)]
pub struct Offscreen {
    /// The render target.
    pub image: Handle<Image>,
    /// Width and height, pixels.
    pub size: (u32, u32),
}

#[derive(Debug, Resource)]
struct State {
    path: PathBuf,
    frames: u32,
    frame: u32,
    /// Seconds per frame once every pipeline is compiled (and after the first 3 frames).
    times: Vec<f32>,
    requested_at: Option<u32>,
    saved: bool,
    /// Consecutive frames with no render pipeline still compiling.
    settled: u32,
    /// With `--live`: the frame the first alarm event arrived at (the screenshot waits for it).
    live_since: Option<u32>,
}

/// Render pipelines still compiling, as the render world last saw them (lavapipe compiles
/// shaders for a while; a screenshot before they are ready would miss whole layers).
#[derive(Debug, Clone, Resource, Default)]
struct Pending(Arc<AtomicUsize>);

fn count_pending(cache: Res<PipelineCache>, pending: Res<Pending>) {
    pending
        .0
        .store(cache.waiting_pipelines().count(), Ordering::Relaxed);
}

impl Plugin for HeadlessPlugin {
    fn build(&self, app: &mut App) {
        // sRGB like a window's swapchain, so the PNG has the colours the window shows
        let (w, h) = self.size;
        let mut image = Image::new_target_texture(w, h, TextureFormat::Rgba8UnormSrgb, None);
        image.texture_descriptor.usage |= TextureUsages::COPY_SRC;
        let image = app.world_mut().resource_mut::<Assets<Image>>().add(image);
        app.insert_resource(Offscreen {
            image,
            size: self.size,
        });
        app.insert_resource(State {
            path: self.path.clone(),
            frames: self.frames.max(1),
            frame: 0,
            times: Vec::new(),
            requested_at: None,
            saved: false,
            settled: 0,
            live_since: None,
        })
        .add_systems(Last, step);
        let pending = Pending::default();
        app.insert_resource(pending.clone());
        if let Some(render) = app.get_sub_app_mut(RenderApp) {
            render
                .insert_resource(pending)
                .add_systems(Render, count_pending);
        }
    }
}

/// A point to check in the screenshot.
#[derive(Debug, Clone, serde::Serialize)]
struct Probe {
    name: String,
    x: f32,
    y: f32,
}

fn probes(
    twin: &Twin,
    camera: &Camera,
    gt: &GlobalTransform,
    size: (f32, f32),
    covered: &Covered,
    live: Option<&crate::live::Live>,
    sel: &crate::ui::Selection,
    now: Option<i64>,
) -> Vec<Probe> {
    let t = &twin.0;
    let h = &t.terrain;
    // where a scene point lands on screen, if outside the panels (10 px margin)
    let screen = |p: Vec3| -> Option<Vec2> {
        let v = camera.world_to_viewport(gt, p).ok()?;
        let under_window = covered.window_px.is_some_and(|[x0, y0, x1, y1]| {
            v.x > x0 - 10.0 && v.x < x1 + 10.0 && v.y > y0 - 10.0 && v.y < y1 + 10.0
        });
        (v.x > covered.left_px + 10.0
            && v.x < size.0 - 10.0
            && v.y > 10.0
            && v.y < size.1 - covered.bottom_px - 10.0
            && !under_window)
            .then_some(v)
    };
    let mut out = Vec::new();
    let mut push = |name: &str, v: Vec2| {
        out.push(Probe {
            name: name.to_string(),
            x: v.x,
            y: v.y,
        })
    };
    let vertex = |k: usize| {
        let (i, j) = (k % h.nx, k / h.nx);
        let (x, z) = (h.x0 + i as f32 * h.cell, h.z0 + j as f32 * h.cell);
        Vec3::new(x, h.height_at(x, z), z)
    };
    // land and sea: vertices deep inside each (all 8 neighbours 3 cells away alike), nearest
    // to the scene centre among those on screen
    let inside = |k: usize, want: bool| {
        let (i, j) = ((k % h.nx) as i64, (k / h.nx) as i64);
        [-3i64, 0, 3].iter().all(|di| {
            [-3i64, 0, 3].iter().all(|dj| {
                let (a, b) = (i + di, j + dj);
                a >= 0
                    && b >= 0
                    && (a as usize) < h.nx
                    && (b as usize) < h.nz
                    && h.land[b as usize * h.nx + a as usize] == want
            })
        })
    };
    for (name, want) in [("land", true), ("sea", false)] {
        let mut ks: Vec<usize> = (0..h.land.len()).filter(|&k| inside(k, want)).collect();
        ks.sort_by(|&a, &b| vertex(a).length().total_cmp(&vertex(b).length()));
        if let Some(v) = ks.iter().find_map(|&k| screen(vertex(k))) {
            push(name, v);
        }
    }
    // the middle vertex of the longest road on screen
    let mut roads: Vec<&crate::data::Road> = t.roads.iter().collect();
    roads.sort_by_key(|r| std::cmp::Reverse(r.points.len()));
    if let Some(v) = roads
        .iter()
        .find_map(|r| screen(Vec3::from(r.points[r.points.len() / 2]) + Vec3::Y * 0.15))
    {
        push("road", v);
    }
    // mines with an active live alarm (`alarm:<id>`), at their marker's centre
    for site in live.iter().flat_map(|l| l.active.keys()) {
        if let Some(f) = t.features.iter().find(|f| &f.id == site)
            && let Some(v) = screen(Vec3::from(f.pos) + Vec3::Y * 0.8)
        {
            push(&format!("alarm:{site}"), v);
        }
    }
    // a picked mine's network (a mine run): a visible point on a working place at or above
    // 1.5 % CH₄ at the clock's time (`mine_hot`), and one on a branch below 0.5 % (`mine_clean`)
    if let (Some(view), Some(crate::ui::Picked::Feature(i)), Some(now)) = (
        t.run.as_ref().and_then(|r| r.mine.as_ref()),
        sel.picked,
        now,
    ) && t.features[i].id == view.mine_id
    {
        let segs = crate::world::mine_segments(view, t.features[i].pos, t.projection.exaggeration);
        for (name, want) in [("mine_hot", true), ("mine_clean", false)] {
            let found = segs.iter().enumerate().find_map(|(b, (a, z))| {
                let ch4 = view.state_at(b, now)?.1;
                let fits = if want {
                    view.working[b] && ch4 >= 1.5
                } else {
                    ch4 < 0.5
                };
                if !fits {
                    return None;
                }
                // inner points only: the ends meet other branches' colours
                (2..=8).find_map(|k| screen(a.lerp(*z, k as f32 / 10.0)))
            });
            if let Some(v) = found {
                push(name, v);
            }
        }
    }
    // the overlay's maximum
    if let Some(r) = t.run.as_ref().and_then(|r| r.rasters.first())
        && let Some((k, _)) = r
            .values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .max_by(|a, b| a.1.total_cmp(b.1))
    {
        let (i, j) = (k % r.nx, k / r.nx);
        let x = r.min_x + (i as f64 + 0.5) * r.cell_m;
        let y = r.max_y - (j as f64 + 0.5) * r.cell_m;
        let s = t.projection.projected_to_scene(x, y, 0.0);
        if let Some(v) = screen(Vec3::new(
            s[0],
            t.terrain.height_at(s[0], s[2]) + 0.24,
            s[2],
        )) {
            push("overlay_max", v);
        }
    }
    out
}

fn step(
    mut commands: Commands,
    mut state: ResMut<State>,
    // real time: virtual time clamps each frame to 250 ms
    time: Res<Time<Real>>,
    twin: Res<Twin>,
    offscreen: Res<Offscreen>,
    cam: Query<(&Camera, &GlobalTransform)>,
    covered: Res<Covered>,
    pending: Res<Pending>,
    live: Option<Res<crate::live::Live>>,
    sel: Res<crate::ui::Selection>,
    clock: Res<crate::timeline::Clock>,
    mut exit: MessageWriter<AppExit>,
) {
    state.frame += 1;
    if state.live_since.is_none() && live.as_ref().is_some_and(|l| l.alarm_events > 0) {
        state.live_since = Some(state.frame);
    }
    // with --live, three frames after the first alarm event (the flash is drawn)
    let live_ready = live.is_none() || state.live_since.is_some_and(|f| state.frame >= f + 3);
    if pending.0.load(Ordering::Relaxed) == 0 {
        state.settled += 1;
    } else {
        state.settled = 0;
    }
    if state.frame > 3 && state.settled > 0 && state.requested_at.is_none() {
        state.times.push(time.delta_secs());
    }
    // at least `frames` frames, and 5 in a row with every pipeline compiled
    if state.frame >= state.frames
        && state.settled >= 5
        && live_ready
        && state.requested_at.is_none()
    {
        let path = state.path.clone();
        commands
            .spawn(Screenshot::image(offscreen.image.clone()))
            .observe(save_to_disk(path))
            .observe(|_: On<ScreenshotCaptured>, mut s: ResMut<State>| s.saved = true);
        state.requested_at = Some(state.frame);
    }
    if state.saved {
        let n = state.times.len().max(1);
        let mean_ms = 1000.0 * state.times.iter().sum::<f32>() / n as f32;
        let p95_ms = 1000.0 * percentile(&state.times, 0.95);
        let (w, h) = offscreen.size;
        let probes = cam
            .single()
            .map(|(c, g)| {
                probes(
                    &twin,
                    c,
                    g,
                    (w as f32, h as f32),
                    &covered,
                    live.as_deref(),
                    &sel,
                    clock.now(),
                )
            })
            .unwrap_or_default();
        let info = serde_json::json!({
            "width": w,
            "height": h,
            "frames": state.frame,
            "mean_frame_ms": mean_ms,
            "p95_frame_ms": p95_ms,
            "probes": probes,
        });
        let sidecar = PathBuf::from(format!("{}.json", state.path.display()));
        if let Err(e) = std::fs::write(&sidecar, info.to_string()) {
            eprintln!("twin-viewer: {}: {e}", sidecar.display());
            exit.write(AppExit::error());
            return;
        }
        println!(
            "rendered {} frames at {w}x{h} offscreen: mean frame time {mean_ms:.2} ms ({:.1} fps), 95th percentile {p95_ms:.2} ms, over {} frames",
            state.frame,
            1000.0 / mean_ms.max(1e-6),
            state.times.len()
        );
        println!("wrote    {}", state.path.display());
        exit.write(AppExit::Success);
        return;
    }
    if let Some(at) = state.requested_at
        && state.frame > at + 600
    {
        eprintln!("twin-viewer: the screenshot was not captured within 600 frames");
        exit.write(AppExit::error());
    }
    if state.requested_at.is_none() && state.frame > state.frames + 20_000 {
        eprintln!("twin-viewer: render pipelines still compiling after 20,000 frames");
        exit.write(AppExit::error());
    }
}

/// The `q` quantile of frame times (nearest rank: the smallest time at least a share `q` of the
/// frames do not exceed); 0 for none.
fn percentile(times: &[f32], q: f64) -> f32 {
    let mut t = times.to_vec();
    t.sort_by(f32::total_cmp);
    let rank = ((q * t.len() as f64).ceil() as usize).clamp(1, t.len().max(1));
    t.get(rank - 1).copied().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn the_95th_percentile_is_the_nearest_rank() {
        let t: Vec<f32> = (1..=20).map(|x| x as f32).collect();
        assert_eq!(percentile(&t, 0.95), 19.0);
        assert_eq!(percentile(&t, 1.0), 20.0);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 0.5), 2.0);
        assert_eq!(percentile(&[], 0.95), 0.0);
    }
}
