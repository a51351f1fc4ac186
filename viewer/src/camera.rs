//! Orbit / pan / zoom camera: left-drag orbits, right- or middle-drag pans, the wheel zooms;
//! arrows or WASD pan, Q/E turn, PageUp/PageDown (or +/−) zoom, R resets. Fly-to moves the
//! focus smoothly to a feature.

use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll};
use bevy::prelude::*;

/// Orbit parameters: the camera looks at `focus` from `distance` away, turned `yaw` about the
/// vertical (0 = looking north) and tilted `pitch` below the horizon.
#[derive(Debug, Clone, Copy, PartialEq, Component)]
pub struct Orbit {
    /// Point looked at (scene units).
    pub focus: Vec3,
    /// Distance from the focus.
    pub distance: f32,
    /// Radians about +Y; 0 looks towards −Z (north).
    pub yaw: f32,
    /// Radians below the horizon.
    pub pitch: f32,
}

impl Orbit {
    /// The camera position for these parameters.
    pub fn eye(&self) -> Vec3 {
        let horizontal = self.distance * self.pitch.cos();
        // looking along (−sin yaw, ·, −cos yaw): the eye sits on the opposite side
        self.focus
            + Vec3::new(
                horizontal * self.yaw.sin(),
                self.distance * self.pitch.sin(),
                horizontal * self.yaw.cos(),
            )
    }

    /// The initial view of a scene of half-extent `extent` (x, z).
    pub fn overview(extent: [f32; 2]) -> Self {
        Self {
            focus: Vec3::new(0.0, 0.0, 8.0),
            distance: 1.45 * extent[0].max(extent[1]),
            yaw: 0.0,
            pitch: 62f32.to_radians(),
        }
    }
}

/// A pending fly-to: the orbit moves towards `target` each frame.
#[derive(Debug, Clone, Copy, Resource, Default)]
pub struct FlyTo {
    /// Where to go (focus, distance), if anywhere.
    pub target: Option<(Vec3, f32)>,
}

/// Where the camera starts, if not the overview (`--pick`): focus and distance.
#[derive(Debug, Clone, Copy, Resource, Default)]
pub struct StartView(pub Option<(Vec3, f32)>);

/// Whether the UI has the pointer this frame (set by the UI plugin).
#[derive(Debug, Clone, Copy, Resource, Default)]
pub struct PointerOverUi(pub bool);

/// Adds the camera and its controls.
pub struct CameraPlugin;

impl Plugin for CameraPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<FlyTo>()
            .init_resource::<PointerOverUi>()
            .add_systems(Startup, spawn)
            .add_systems(Update, (controls, fly, apply).chain());
    }
}

fn spawn(
    mut commands: Commands,
    twin: Res<crate::data::Twin>,
    start: Option<Res<StartView>>,
    offscreen: Option<Res<crate::headless::Offscreen>>,
) {
    let mut orbit = Orbit::overview(twin.0.extent);
    if let Some((focus, distance)) = start.and_then(|s| s.0) {
        orbit.focus = focus;
        orbit.distance = distance;
    }
    let mut camera = commands.spawn((
        Camera3d::default(),
        // data colours (AQI bands, colour maps) exactly as the legends show them
        bevy::core_pipeline::tonemapping::Tonemapping::None,
        Msaa::Off,
        Transform::from_translation(orbit.eye()).looking_at(orbit.focus, Vec3::Y),
        orbit,
    ));
    // headless: into the offscreen image (set at spawn, so egui's primary context, which
    // attaches to the first camera, draws the panels into the same image)
    if let Some(o) = offscreen {
        camera.insert(bevy::camera::RenderTarget::Image(o.image.clone().into()));
    }
}

fn controls(
    buttons: Res<ButtonInput<MouseButton>>,
    keys: Res<ButtonInput<KeyCode>>,
    motion: Res<AccumulatedMouseMotion>,
    scroll: Res<AccumulatedMouseScroll>,
    over_ui: Res<PointerOverUi>,
    time: Res<Time>,
    twin: Res<crate::data::Twin>,
    mut fly: ResMut<FlyTo>,
    mut q: Query<&mut Orbit>,
) {
    let Ok(mut o) = q.single_mut() else { return };
    let dt = time.delta_secs();
    let d = motion.delta;
    let pan_scale = o.distance * 0.0015;
    let (s, c) = o.yaw.sin_cos();
    // screen right and screen "up" projected onto the ground
    let right = Vec3::new(c, 0.0, -s);
    let forward = Vec3::new(-s, 0.0, -c);
    if !over_ui.0 {
        if buttons.pressed(MouseButton::Left) && d != Vec2::ZERO {
            o.yaw -= d.x * 0.005;
            o.pitch = (o.pitch + d.y * 0.005).clamp(8f32.to_radians(), 89f32.to_radians());
            fly.target = None;
        }
        if (buttons.pressed(MouseButton::Right) || buttons.pressed(MouseButton::Middle))
            && d != Vec2::ZERO
        {
            o.focus += (-right * d.x + forward * d.y) * pan_scale;
            fly.target = None;
        }
        if scroll.delta.y != 0.0 {
            o.distance =
                (o.distance * (1.0 - 0.1 * scroll.delta.y.clamp(-5.0, 5.0))).clamp(2.0, 600.0);
        }
    }
    let speed = o.distance * 0.8 * dt;
    let mut pan = Vec3::ZERO;
    if keys.any_pressed([KeyCode::ArrowLeft, KeyCode::KeyA]) {
        pan -= right;
    }
    if keys.any_pressed([KeyCode::ArrowRight, KeyCode::KeyD]) {
        pan += right;
    }
    if keys.any_pressed([KeyCode::ArrowUp, KeyCode::KeyW]) {
        pan += forward;
    }
    if keys.any_pressed([KeyCode::ArrowDown, KeyCode::KeyS]) {
        pan -= forward;
    }
    if pan != Vec3::ZERO {
        o.focus += pan.normalize() * speed;
        fly.target = None;
    }
    if keys.pressed(KeyCode::KeyQ) {
        o.yaw += 1.2 * dt;
    }
    if keys.pressed(KeyCode::KeyE) {
        o.yaw -= 1.2 * dt;
    }
    if keys.any_pressed([KeyCode::PageUp, KeyCode::Equal, KeyCode::NumpadAdd]) {
        o.distance = (o.distance * (1.0 - 1.5 * dt)).max(2.0);
    }
    if keys.any_pressed([KeyCode::PageDown, KeyCode::Minus, KeyCode::NumpadSubtract]) {
        o.distance = (o.distance * (1.0 + 1.5 * dt)).min(600.0);
    }
    if keys.just_pressed(KeyCode::KeyR) {
        *o = Orbit::overview(twin.0.extent);
        fly.target = None;
    }
}

fn fly(time: Res<Time>, mut fly: ResMut<FlyTo>, mut q: Query<&mut Orbit>) {
    let Some((focus, distance)) = fly.target else {
        return;
    };
    let Ok(mut o) = q.single_mut() else { return };
    // exponential approach, ~95 % in a second
    let k = 1.0 - (-3.0 * time.delta_secs()).exp();
    o.focus = o.focus.lerp(focus, k);
    o.distance += (distance - o.distance) * k;
    if o.focus.distance(focus) < 0.01 && (o.distance - distance).abs() < 0.01 {
        fly.target = None;
    }
}

fn apply(mut q: Query<(&Orbit, &mut Transform), Changed<Orbit>>) {
    for (o, mut t) in &mut q {
        *t = Transform::from_translation(o.eye()).looking_at(o.focus, Vec3::Y);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eye_is_behind_and_above_the_focus() {
        let o = Orbit {
            focus: Vec3::ZERO,
            distance: 10.0,
            yaw: 0.0,
            pitch: 30f32.to_radians(),
        };
        let e = o.eye();
        assert!((e.y - 5.0).abs() < 1e-5);
        assert!(
            e.z > 0.0 && e.x.abs() < 1e-5,
            "yaw 0 looks north (−Z): eye south of focus"
        );
        assert!((e.length() - 10.0).abs() < 1e-4);
        let turned = Orbit {
            yaw: std::f32::consts::FRAC_PI_2,
            ..o
        }
        .eye();
        assert!(turned.x > 0.0 && turned.z.abs() < 1e-4);
    }
}
