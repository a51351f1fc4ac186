//! Picking maths: where a camera ray meets the ground, and which feature is nearest, in plain
//! functions (the picking plugin feeds them Bevy's ray through the cursor).

/// Where a ray (origin, unit direction) meets the horizontal plane y = `h`; `None` when the
/// ray is parallel to it or points away.
pub fn ray_plane_y(origin: [f32; 3], dir: [f32; 3], h: f32) -> Option<[f32; 3]> {
    if dir[1].abs() < 1e-9 {
        return None;
    }
    let t = (h - origin[1]) / dir[1];
    (t >= 0.0).then(|| [origin[0] + t * dir[0], h, origin[2] + t * dir[2]])
}

/// Marches a ray over a height field (`height(x, z)` in scene units) and returns the first
/// point under the surface, refined by bisection; `None` if it leaves `max_t` first.
pub fn ray_heightfield(
    origin: [f32; 3],
    dir: [f32; 3],
    max_t: f32,
    step: f32,
    height: impl Fn(f32, f32) -> f32,
) -> Option<[f32; 3]> {
    let at = |t: f32| {
        [
            origin[0] + t * dir[0],
            origin[1] + t * dir[1],
            origin[2] + t * dir[2],
        ]
    };
    let above = |p: [f32; 3]| p[1] > height(p[0], p[2]);
    if !above(at(0.0)) {
        return Some(at(0.0));
    }
    let mut t0 = 0.0;
    let mut t = step;
    while t <= max_t {
        if !above(at(t)) {
            let (mut lo, mut hi) = (t0, t);
            for _ in 0..24 {
                let mid = 0.5 * (lo + hi);
                if above(at(mid)) {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            return Some(at(hi));
        }
        t0 = t;
        t += step;
    }
    None
}

/// Distance in the XZ plane from point `p` to the segment `a`–`b`.
pub fn distance_to_segment(p: [f32; 2], a: [f32; 2], b: [f32; 2]) -> f32 {
    let (abx, abz) = (b[0] - a[0], b[1] - a[1]);
    let len2 = abx * abx + abz * abz;
    let t = if len2 > 0.0 {
        (((p[0] - a[0]) * abx + (p[1] - a[1]) * abz) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (cx, cz) = (a[0] + t * abx, a[1] + t * abz);
    ((p[0] - cx).powi(2) + (p[1] - cz).powi(2)).sqrt()
}

/// Distance in the XZ plane from `p` to a polyline.
pub fn distance_to_polyline(p: [f32; 2], line: &[[f32; 2]]) -> f32 {
    match line {
        [] => f32::INFINITY,
        [a] => distance_to_segment(p, *a, *a),
        _ => line
            .windows(2)
            .map(|w| distance_to_segment(p, w[0], w[1]))
            .fold(f32::INFINITY, f32::min),
    }
}

/// The index of the nearest candidate within `tolerance`, by the given distance; points win
/// ties over lines because they are listed first by the caller.
pub fn nearest<T>(candidates: &[T], tolerance: f32, distance: impl Fn(&T) -> f32) -> Option<usize> {
    candidates
        .iter()
        .enumerate()
        .map(|(i, c)| (i, distance(c)))
        .filter(|(_, d)| *d <= tolerance)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ray_hits_the_ground_below() {
        let p = ray_plane_y([0.0, 10.0, 0.0], [0.0, -1.0, 0.0], 0.0);
        assert_eq!(p, Some([0.0, 0.0, 0.0]));
        let d = [0.6f32, -0.8, 0.0];
        let p = ray_plane_y([0.0, 8.0, 0.0], d, 0.0).expect("hits");
        assert!((p[0] - 6.0).abs() < 1e-5);
        assert_eq!(ray_plane_y([0.0, 8.0, 0.0], [0.0, 1.0, 0.0], 0.0), None);
        assert_eq!(ray_plane_y([0.0, 8.0, 0.0], [1.0, 0.0, 0.0], 0.0), None);
    }

    #[test]
    fn ray_stops_on_a_hill() {
        // a ridge of height 2 for x > 5: the ray at height 1 going +x hits it at x = 5
        let h = |x: f32, _z: f32| if x > 5.0 { 2.0 } else { 0.0 };
        let p = ray_heightfield([0.0, 1.0, 0.0], [1.0, 0.0, 0.0], 100.0, 0.5, h).expect("hits");
        assert!((p[0] - 5.0).abs() < 1e-3, "{p:?}");
        assert_eq!(
            ray_heightfield([0.0, 3.0, 0.0], [1.0, 0.0, 0.0], 100.0, 0.5, h),
            None
        );
    }

    #[test]
    fn segment_distances() {
        assert_eq!(
            distance_to_segment([0.0, 1.0], [-1.0, 0.0], [1.0, 0.0]),
            1.0
        );
        assert_eq!(distance_to_segment([3.0, 4.0], [0.0, 0.0], [0.0, 0.0]), 5.0);
        assert_eq!(
            distance_to_segment([2.0, 0.0], [-1.0, 0.0], [1.0, 0.0]),
            1.0
        );
        let line = [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]];
        assert_eq!(distance_to_polyline([12.0, 5.0], &line), 2.0);
    }

    #[test]
    fn nearest_within_tolerance() {
        let pts = [3.0f32, 0.5, 0.7, 9.0];
        assert_eq!(nearest(&pts, 1.0, |d| *d), Some(1));
        assert_eq!(nearest(&pts, 0.1, |d| *d), None);
    }
}
