//! Roads (by class, or by speed from a traffic run at the clock's time) and district
//! boundaries, drawn as gizmo lines.

use super::*;

/// Roads (by class or by traffic speed) and district boundaries.
pub struct LinesPlugin;

impl Plugin for LinesPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Update, draw_lines);
    }
}

/// Road colour by class.
pub fn road_colour(class: &str) -> [f32; 3] {
    match class {
        "motorway" => [0.9, 0.3, 0.6],
        "trunk" => [1.0, 0.55, 0.2],
        "primary" => [1.0, 0.85, 0.3],
        "secondary" => [0.95, 0.95, 0.95],
        _ => [0.75, 0.75, 0.75],
    }
}

/// The traffic run (if any) whose links colour the roads.
fn traffic_run(t: &TwinData) -> Option<&Run> {
    t.run.iter().find(|r| !r.links.is_empty())
}

fn draw_lines(mut gizmos: Gizmos, twin: Res<Twin>, layers: Res<Layers>, clock: Res<Clock>) {
    let t = &twin.0;
    if layers.districts {
        for ring in &t.district_rings {
            gizmos.linestrip(
                ring.iter().map(|p| Vec3::from(*p)),
                Color::srgba(0.95, 0.95, 0.95, 0.55),
            );
        }
    }
    if layers.roads {
        let traffic = traffic_run(t).filter(|_| layers.traffic);
        for r in &t.roads {
            let c = match (traffic, clock.now()) {
                (Some(run), Some(now)) => run
                    .links
                    .get(&r.id)
                    .and_then(|s| sample_at(s, now))
                    .map(|l| colormap::speed_ratio(l.speed_kmh / r.free_flow_kmh))
                    .unwrap_or_else(|| road_colour(&r.class)),
                _ => road_colour(&r.class),
            };
            gizmos.linestrip(
                r.points.iter().map(|p| Vec3::from(*p) + Vec3::Y * 0.15),
                Color::srgb(c[0], c[1], c[2]),
            );
        }
    }
}
