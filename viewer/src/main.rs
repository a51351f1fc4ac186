//! `twin-viewer`: a Bevy 3D twin of Quảng Ninh province for planners — terrain, coast,
//! districts, roads, mines, plants, ports and stations, with dispersion and traffic overlays
//! from run directories over time, picking, and a headless screenshot mode for CI.

// Bevy systems take their resources and queries as arguments, and queries spell out filters.
#![allow(clippy::too_many_arguments, clippy::type_complexity)]

mod camera;
mod colormap;
mod data;
mod headless;
mod live;
mod pick;
mod scene;
mod timeline;
mod ui;
mod world;

use std::path::PathBuf;
use std::process::ExitCode;

use bevy::prelude::*;
use bevy::window::WindowResolution;
use clap::Parser;

/// The QN Twin viewer.
#[derive(Debug, Parser)]
#[command(name = "twin-viewer", version, about)]
struct Cli {
    /// Dataset directory (holding dataset.toml). Default: the bundled Quảng Ninh dataset.
    #[arg(long, value_name = "DIR")]
    dataset: Option<PathBuf>,
    /// A run directory (`twin simulate dispersion|traffic --out DIR`) to overlay; give it twice
    /// to overlay a dispersion run and a traffic run together.
    #[arg(long, value_name = "DIR")]
    run: Vec<PathBuf>,
    /// A second run directory: shown as the difference run − compare where both have the same
    /// layer.
    #[arg(long, value_name = "DIR")]
    compare: Option<PathBuf>,
    /// Observations (CSV, Parquet or a lake, e.g. from `twin telemetry generate`): stations
    /// coloured by their latest observed VN_AQI, series and mine-gas alarms when picked.
    #[arg(long, value_name = "PATH")]
    telemetry: Option<PathBuf>,
    /// Follow `twin serve`'s live feed (`http://HOST:PORT/v1.1/ext/events`): stations recolour
    /// by their latest hourly VN_AQI, mine-gas alarms flash on their mine and list in the Live
    /// panel. With `--screenshot`, the screenshot waits for the first alarm event.
    #[arg(long, value_name = "URL")]
    live: Option<String>,
    /// Pick this feature at start (a dataset id, e.g. mine-mong-duong) and look at it; a mine
    /// run's network draws beneath its picked mine.
    #[arg(long, value_name = "ID")]
    pick: Option<String>,
    /// Start at this time (RFC 3339, e.g. 2026-03-10T07:30:00+07:00) instead of the first
    /// output time.
    #[arg(long, value_name = "T")]
    time: Option<String>,
    /// Render headless: save a screenshot to this PNG after `--frames` frames and exit.
    #[arg(long, value_name = "FILE.png")]
    screenshot: Option<PathBuf>,
    /// Frames rendered before the screenshot.
    #[arg(long, default_value_t = 30)]
    frames: u32,
    /// Window size, WxH.
    #[arg(long, default_value = "1600x900", value_parser = parse_size)]
    size: (u32, u32),
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("{s:?} is not WxH (e.g. 1920x1080)"))?;
    let w: u32 = w
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: width is not a number"))?;
    let h: u32 = h
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: height is not a number"))?;
    if !(64..=8192).contains(&w) || !(64..=8192).contains(&h) {
        return Err(format!("{s:?}: each side must be 64–8192 pixels"));
    }
    Ok((w, h))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let dataset = match twin_engine::dataset::resolve_dir(cli.dataset.as_deref(), None) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("twin-viewer: {e}");
            return ExitCode::FAILURE;
        }
    };
    let twin = match data::load_all(
        &dataset,
        &cli.run,
        cli.compare.as_deref(),
        cli.telemetry.as_deref(),
    ) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("twin-viewer: {}", format!("{e:#}").replace('\n', " "));
            return ExitCode::FAILURE;
        }
    };
    let start_time = match cli.time.as_deref().map(timeline::parse_time).transpose() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("twin-viewer: --time: {e}");
            return ExitCode::from(2);
        }
    };
    let picked = match cli.pick.as_deref() {
        None => None,
        Some(id) => match twin.features.iter().position(|f| f.id == id) {
            Some(i) => Some(i),
            None => {
                eprintln!("twin-viewer: --pick: no feature with id {id:?} in the dataset");
                return ExitCode::from(2);
            }
        },
    };
    // the view of a picked feature: close enough to see a mine network's branches
    let start_view = picked.map(|i| {
        let f = &twin.features[i];
        let span_km = twin
            .run
            .as_ref()
            .and_then(|r| r.mine.as_ref())
            .filter(|m| m.mine_id == f.id)
            .map(|m| {
                let (lo, hi) = m
                    .junctions
                    .iter()
                    .fold((f64::MAX, f64::MIN), |(lo, hi), j| {
                        (lo.min(j[0]).min(j[1]), hi.max(j[0]).max(j[1]))
                    });
                ((hi - lo) / 1000.0) as f32
            })
            .unwrap_or(2.0);
        // the focus a little east of the feature: the inspector window covers the right
        (
            Vec3::from(f.pos) + Vec3::X * 0.2 * span_km,
            (2.2 * span_km).max(3.0),
        )
    });
    let headless = cli.screenshot.is_some();
    let mut app = App::new();
    let window = WindowPlugin {
        // headless: no window at all (offscreen, see `headless`)
        primary_window: (!headless).then(|| Window {
            title: format!("QN Twin — {}", twin.province),
            resolution: WindowResolution::new(cli.size.0, cli.size.1)
                .with_scale_factor_override(1.0),
            present_mode: bevy::window::PresentMode::AutoVsync,
            ..default()
        }),
        exit_condition: if headless {
            bevy::window::ExitCondition::DontExit
        } else {
            bevy::window::ExitCondition::OnPrimaryClosed
        },
        ..default()
    };
    let mut plugins = DefaultPlugins.set(window).set(bevy::log::LogPlugin {
        level: bevy::log::Level::WARN,
        ..default()
    });
    if headless {
        // no event loop and no display: Bevy's own loop, frame after frame without waiting
        plugins = plugins.disable::<bevy::winit::WinitPlugin>();
    }
    app.add_plugins(plugins);
    if let Some(path) = cli.screenshot.clone() {
        // before the rest: the camera's spawn reads the offscreen target
        app.add_plugins((
            bevy::app::ScheduleRunnerPlugin::run_loop(std::time::Duration::ZERO),
            headless::HeadlessPlugin {
                path,
                frames: cli.frames,
                size: cli.size,
            },
        ));
    }
    app.add_plugins(bevy_egui::EguiPlugin::default())
        .insert_resource(ClearColor(Color::srgb(0.05, 0.07, 0.12)))
        .add_plugins(timeline::TimelinePlugin::for_runs(
            &twin
                .run
                .iter()
                .chain(twin.compare.iter())
                .collect::<Vec<_>>(),
            start_time,
        ))
        .insert_resource(data::Twin(twin))
        .insert_resource(camera::StartView(start_view))
        .insert_resource(ui::Selection {
            picked: picked.map(ui::Picked::Feature),
            ..Default::default()
        })
        .add_plugins((world::WorldPlugin, camera::CameraPlugin, ui::UiPlugin));
    if let Some(url) = cli.live.clone() {
        app.add_plugins(live::LivePlugin { url });
    }
    match app.run() {
        AppExit::Success => ExitCode::SUCCESS,
        AppExit::Error(code) => ExitCode::from(code.get()),
    }
}
