//! Roads (by class, or by speed from a traffic run at the clock's time), district boundaries,
//! and a mine run's ventilation network beneath its picked mine, drawn as gizmo lines.

use super::*;
use crate::data::MineView;
use crate::ui::{Picked, Selection};

/// Roads (by class or by traffic speed), district boundaries, a picked mine's network.
pub struct LinesPlugin;

/// Gizmos drawn through the terrain (a mine's network lies under it).
#[derive(Debug, Default, Reflect, GizmoConfigGroup)]
pub struct UndergroundGizmos;

impl Plugin for LinesPlugin {
    fn build(&self, app: &mut App) {
        app.insert_gizmo_config(
            UndergroundGizmos,
            GizmoConfig {
                // -1: in front of everything, so the terrain does not hide it
                depth_bias: -1.0,
                line: GizmoLineConfig {
                    width: 3.0,
                    ..default()
                },
                ..default()
            },
        )
        .add_systems(Update, (draw_lines, draw_mine_network));
    }
}

/// A branch's colour: by CH₄ (%) against the methane rules (below 0.5 green, to 1.0 amber, to
/// 1.5 orange, above red), else by |flow| over the largest flow.
pub fn mine_branch_colour(ch4_pct: Option<f64>, flow_ratio: f64) -> [f32; 3] {
    match ch4_pct {
        Some(c) if c >= 1.5 => [0.9, 0.1, 0.1],
        Some(c) if c >= 1.0 => [1.0, 0.5, 0.1],
        Some(c) if c >= 0.5 => [1.0, 0.85, 0.2],
        Some(_) => [0.2, 0.8, 0.3],
        None => colormap::sequential(flow_ratio.clamp(0.0, 1.0) as f32),
    }
}

/// Scene endpoints of each branch of `view` under the marker at `pos` (plan centred on it,
/// elevations with the terrain's exaggeration).
pub fn mine_segments(view: &MineView, pos: [f32; 3], exaggeration: f64) -> Vec<(Vec3, Vec3)> {
    let at = |j: usize| {
        let [e, n, z] = view.junctions[j];
        Vec3::new(
            pos[0] + (e / crate::scene::M_PER_UNIT) as f32,
            (z * exaggeration / crate::scene::M_PER_UNIT) as f32,
            pos[2] - (n / crate::scene::M_PER_UNIT) as f32,
        )
    };
    view.branches
        .iter()
        .map(|&(_, a, b)| (at(a), at(b)))
        .collect()
}

fn draw_mine_network(
    mut gizmos: Gizmos<UndergroundGizmos>,
    twin: Res<Twin>,
    layers: Res<Layers>,
    clock: Res<Clock>,
    sel: Res<Selection>,
) {
    let t = &twin.0;
    let Some(view) = t.run.as_ref().and_then(|r| r.mine.as_ref()) else {
        return;
    };
    let Some(Picked::Feature(i)) = sel.picked else {
        return;
    };
    let f = &t.features[i];
    if !layers.mines || f.id != view.mine_id {
        return;
    }
    let max_q = view.max_flow().max(1e-9);
    for (b, (a, z)) in mine_segments(view, f.pos, t.projection.exaggeration)
        .into_iter()
        .enumerate()
    {
        let state = clock.now().and_then(|now| view.state_at(b, now));
        let c = match state {
            Some((q, ch4)) if layers.mine_ch4 => mine_branch_colour(Some(ch4), q.abs() / max_q),
            Some((q, _)) => mine_branch_colour(None, q.abs() / max_q),
            None => mine_branch_colour(None, view.steady_flow[b].abs() / max_q),
        };
        gizmos.line(a, z, Color::srgb(c[0], c[1], c[2]));
    }
    // a shaft of light from the marker down to the network's top, so it reads as "beneath"
    if let Some(top) = view.junctions.iter().map(|j| j[2]).reduce(f64::max) {
        let y = (top * t.projection.exaggeration / crate::scene::M_PER_UNIT) as f32;
        gizmos.line(
            Vec3::from(f.pos),
            Vec3::new(f.pos[0], y, f.pos[2]),
            Color::srgba(0.9, 0.9, 0.9, 0.6),
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_colours_follow_the_methane_rules_then_flow() {
        assert_eq!(mine_branch_colour(Some(1.6), 0.0), [0.9, 0.1, 0.1]);
        assert_eq!(mine_branch_colour(Some(1.5), 0.0), [0.9, 0.1, 0.1]);
        assert_eq!(mine_branch_colour(Some(1.2), 0.0), [1.0, 0.5, 0.1]);
        assert_eq!(mine_branch_colour(Some(0.7), 0.0), [1.0, 0.85, 0.2]);
        assert_eq!(mine_branch_colour(Some(0.1), 1.0), [0.2, 0.8, 0.3]);
        assert_eq!(
            mine_branch_colour(None, 2.0),
            colormap::sequential(1.0),
            "flow ratio clamped"
        );
    }

    #[test]
    fn segments_sit_under_the_marker_at_their_exaggerated_depth() {
        let view = MineView {
            mine_id: "m".into(),
            junctions: vec![[-500.0, 0.0, 20.0], [500.0, 1000.0, -300.0]],
            branches: vec![("b".into(), 0, 1)],
            working: vec![false],
            steady_flow: vec![10.0],
            series: Vec::new(),
        };
        let s = mine_segments(&view, [10.0, 0.2, -4.0], 3.0);
        assert_eq!(s.len(), 1);
        let (a, b) = s[0];
        assert!((a - Vec3::new(9.5, 0.06, -4.0)).length() < 1e-5, "{a}");
        // north is −Z; −300 m × 3 = −0.9 scene units
        assert!((b - Vec3::new(10.5, -0.9, -5.0)).length() < 1e-5, "{b}");
    }
}
