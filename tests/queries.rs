//! Spatial queries agree with brute force: exactly with a planar scan in the same CRS, and
//! within the UTM scale factor and sphere-vs-ellipsoid difference (1 %) with haversine.

use geo::{Contains, Distance, Euclidean, Geometry, Point};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use twin_engine::dataset::Dataset;
use twin_engine::geodesy::{LonLatBounds, haversine_m};
use twin_engine::model::{FeatureHandle, FeatureKind, Province};
use twin_engine::spatial::{Hit, IndexedShape, SpatialIndex, project};

/// Haversine and UTM grid distances differ by at most ~0.6 % in the province (UTM scale
/// 0.9996–1.0009, sphere vs ellipsoid up to 0.5 %); 1 % plus 1 m is the stated tolerance.
const TOL_REL: f64 = 0.01;
const TOL_ABS_M: f64 = 1.0;

fn setup() -> (Dataset, SpatialIndex) {
    let d = Dataset::load(&crate::bundled()).expect("bundled dataset");
    let index = SpatialIndex::build(&d.province, d.projection.clone());
    (d, index)
}

fn random_points(n: usize, seed: u64) -> Vec<(f64, f64)> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            (
                rng.random_range(106.45..108.05),
                rng.random_range(20.75..21.65),
            )
        })
        .collect()
}

fn point_of(p: &Province, h: FeatureHandle) -> (f64, f64) {
    match p.geometry(h) {
        Geometry::Point(pt) => (pt.x(), pt.y()),
        other => panic!("{h:?} is not a point: {other:?}"),
    }
}

fn ids(p: &Province, hits: &[Hit]) -> Vec<String> {
    hits.iter().map(|h| p.meta(h.handle).id.clone()).collect()
}

/// Planar brute force over every feature: (distance, handle), sorted like the index sorts.
fn planar_scan(
    d: &Dataset,
    lon: f64,
    lat: f64,
    kind: Option<FeatureKind>,
) -> Vec<(f64, FeatureHandle)> {
    let (x, y) = d.projection.forward(lon, lat);
    let mut all: Vec<(f64, FeatureHandle)> = d
        .province
        .handles()
        .filter(|h| kind.is_none_or(|k| h.kind == k))
        .map(|h| {
            let shape = IndexedShape::new(h, project(&d.projection, &d.province.geometry(h)))
                .expect("non-empty");
            (shape.distance_to([x, y]), h)
        })
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    all
}

#[test]
fn knn_matches_a_planar_brute_force_exactly_for_every_kind() {
    let (d, index) = setup();
    for (lon, lat) in random_points(200, 1) {
        for kind in [
            None,
            Some(FeatureKind::Station),
            Some(FeatureKind::Road),
            Some(FeatureKind::District),
            Some(FeatureKind::Mine),
        ] {
            let hits = index.nearest(lon, lat, 7, kind);
            let scan = planar_scan(&d, lon, lat, kind);
            let expected: Vec<FeatureHandle> = scan.iter().take(7).map(|x| x.1).collect();
            let got: Vec<FeatureHandle> = hits.iter().map(|h| h.handle).collect();
            assert_eq!(got, expected, "k-NN at ({lon}, {lat}) kind {kind:?}");
            for (h, s) in hits.iter().zip(&scan) {
                assert!((h.distance_m.expect("distance") - s.0).abs() < 1e-6);
            }
        }
    }
}

#[test]
fn knn_of_point_features_agrees_with_haversine() {
    let (d, index) = setup();
    let p = &d.province;
    for kind in [FeatureKind::Station, FeatureKind::Plant, FeatureKind::Port] {
        let all: Vec<FeatureHandle> = p.handles().filter(|h| h.kind == kind).collect();
        let k = 5.min(all.len());
        for (lon, lat) in random_points(300, 2) {
            let hits = index.nearest(lon, lat, k, Some(kind));
            assert_eq!(hits.len(), k);
            let mut truth: Vec<(f64, FeatureHandle)> = all
                .iter()
                .map(|&h| {
                    let (x, y) = point_of(p, h);
                    (haversine_m(lon, lat, x, y), h)
                })
                .collect();
            truth.sort_by(|a, b| a.0.total_cmp(&b.0));
            let kth = truth[k - 1].0;
            for h in &hits {
                let (x, y) = point_of(p, h.handle);
                let hv = haversine_m(lon, lat, x, y);
                let dist = h.distance_m.expect("distance");
                assert!(
                    (dist - hv).abs() <= TOL_REL * hv + TOL_ABS_M,
                    "{dist} vs haversine {hv}"
                );
                assert!(
                    hv <= kth * (1.0 + TOL_REL) + TOL_ABS_M,
                    "{} is not among the {k} nearest",
                    p.meta(h.handle).id
                );
            }
            // everything clearly nearer than the k-th by haversine must be returned
            for (hv, h) in &truth {
                if *hv < kth * (1.0 - TOL_REL) - TOL_ABS_M {
                    assert!(
                        hits.iter().any(|x| x.handle == *h),
                        "missed {}",
                        p.meta(*h).id
                    );
                }
            }
            // ascending by distance
            assert!(hits.windows(2).all(|w| w[0].distance_m <= w[1].distance_m));
        }
    }
}

#[test]
fn within_radius_agrees_with_haversine_and_planar_scan() {
    let (d, index) = setup();
    let p = &d.province;
    let mut rng = StdRng::seed_from_u64(3);
    for (lon, lat) in random_points(200, 4) {
        let r = rng.random_range(500.0..20_000.0);
        let hits = index.within_radius(lon, lat, r, Some(FeatureKind::Station));
        // planar: exact
        let expected: Vec<FeatureHandle> = planar_scan(&d, lon, lat, Some(FeatureKind::Station))
            .into_iter()
            .filter(|x| x.0 <= r)
            .map(|x| x.1)
            .collect();
        assert_eq!(hits.iter().map(|h| h.handle).collect::<Vec<_>>(), expected);
        // haversine: within tolerance
        for h in p.handles().filter(|h| h.kind == FeatureKind::Station) {
            let (x, y) = point_of(p, h);
            let hv = haversine_m(lon, lat, x, y);
            let found = hits.iter().any(|x| x.handle == h);
            if hv <= r * (1.0 - TOL_REL) - TOL_ABS_M {
                assert!(found, "station {} at {hv} m not within {r} m", p.meta(h).id);
            }
            if found {
                assert!(hv <= r * (1.0 + TOL_REL) + TOL_ABS_M);
            }
        }
    }
}

#[test]
fn within_bbox_returns_the_points_inside_the_lonlat_box() {
    let (d, index) = setup();
    let p = &d.province;
    let mut rng = StdRng::seed_from_u64(5);
    for _ in 0..100 {
        let (a, b): (f64, f64) = (
            rng.random_range(106.4..108.1),
            rng.random_range(106.4..108.1),
        );
        let (c, e): (f64, f64) = (rng.random_range(20.7..21.7), rng.random_range(20.7..21.7));
        let bbox = LonLatBounds {
            min_lon: a.min(b),
            max_lon: a.max(b),
            min_lat: c.min(e),
            max_lat: c.max(e),
        };
        let hits = index.within_bbox(&bbox, Some(FeatureKind::Station));
        assert!(
            hits.windows(2).all(|w| w[0].handle < w[1].handle),
            "sorted by handle"
        );
        for h in p.handles().filter(|h| h.kind == FeatureKind::Station) {
            let (x, y) = point_of(p, h);
            let margin = 1e-4; // a densified edge may cut a point within ~10 m of the box edge
            let inside = bbox.contains(x, y);
            let near_edge = (x - bbox.min_lon).abs() < margin
                || (x - bbox.max_lon).abs() < margin
                || (y - bbox.min_lat).abs() < margin
                || (y - bbox.max_lat).abs() < margin;
            if !near_edge {
                assert_eq!(
                    hits.iter().any(|x| x.handle == h),
                    inside,
                    "station {}",
                    p.meta(h).id
                );
            }
        }
    }
}

#[test]
fn within_district_matches_polygon_containment() {
    let (d, index) = setup();
    let p = &d.province;
    let mut total = 0;
    for (i, district) in p.districts.iter().enumerate() {
        let hits = index
            .within_district(p, &district.meta.id, Some(FeatureKind::Station))
            .expect("known district");
        for h in p.handles().filter(|h| h.kind == FeatureKind::Station) {
            let (x, y) = point_of(p, h);
            let inside = district.geometry.contains(&Point::new(x, y));
            assert_eq!(
                hits.iter().any(|x| x.handle == h),
                inside,
                "station {} in district #{i}",
                p.meta(h).id
            );
        }
        total += hits.len();
        // a district is not within itself; neighbours that only touch are not within it
        let districts = index
            .within_district(p, &district.meta.id, Some(FeatureKind::District))
            .expect("known");
        assert!(
            districts.is_empty(),
            "{} contains districts {:?}",
            district.meta.id,
            ids(p, &districts)
        );
    }
    // land stations are in exactly one district; coastal water stations may be in none
    assert!(total > 60 && total <= 105, "{total}");
    assert!(index.within_district(p, "no-such-district", None).is_err());
}

#[test]
fn snap_finds_the_nearest_link_and_a_consistent_offset() {
    let (d, index) = setup();
    let p = &d.province;
    for (lon, lat) in random_points(200, 6) {
        let s = index.snap(lon, lat).expect("the province has roads");
        let scan = planar_scan(&d, lon, lat, Some(FeatureKind::Road));
        assert_eq!(s.link, scan[0].1);
        assert!((s.distance_m - scan[0].0).abs() < 1e-6);
        assert!(s.offset_m >= -1e-9 && s.offset_m <= s.link_length_m + 1e-6);
        // the snapped point lies on the link
        let line = project(&d.projection, &p.geometry(s.link));
        let (x, y) = d.projection.forward(s.lon, s.lat);
        assert!(Euclidean.distance(&line, &Point::new(x, y)) < 1e-3);
    }
}

#[test]
fn corridor_of_a_road_matches_a_brute_force_scan() {
    let (d, index) = setup();
    let p = &d.province;
    let hits = index
        .road_corridor(p, "QL18", 2000.0, None)
        .expect("QL18 exists");
    let links: Vec<Geometry<f64>> = p
        .handles()
        .filter(|h| {
            h.kind == FeatureKind::Road && p.road_links[h.index].road_ref.as_deref() == Some("QL18")
        })
        .map(|h| project(&d.projection, &p.geometry(h)))
        .collect();
    let mut expected: Vec<(f64, FeatureHandle)> = p
        .handles()
        .filter(|h| {
            !(h.kind == FeatureKind::Road
                && p.road_links[h.index].road_ref.as_deref() == Some("QL18"))
        })
        .filter_map(|h| {
            let g = project(&d.projection, &p.geometry(h));
            let dist = links
                .iter()
                .map(|l| Euclidean.distance(l, &g))
                .fold(f64::INFINITY, f64::min);
            (dist <= 1000.0).then_some((dist, h))
        })
        .collect();
    expected.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    assert_eq!(
        hits.iter().map(|h| h.handle).collect::<Vec<_>>(),
        expected.iter().map(|x| x.1).collect::<Vec<_>>()
    );
    assert!(hits.iter().any(|h| h.handle.kind == FeatureKind::Station));
    assert!(index.road_corridor(p, "QL999", 100.0, None).is_err());
}

#[test]
fn results_do_not_depend_on_insertion_order() {
    let (d, index) = setup();
    let mut shapes: Vec<IndexedShape> = d
        .province
        .handles()
        .filter_map(|h| IndexedShape::new(h, project(&d.projection, &d.province.geometry(h))))
        .collect();
    shapes.shuffle(&mut StdRng::seed_from_u64(7));
    let shuffled = SpatialIndex::bulk_load(d.projection.clone(), shapes);
    for (lon, lat) in random_points(100, 8) {
        assert_eq!(
            index.nearest(lon, lat, 10, None),
            shuffled.nearest(lon, lat, 10, None)
        );
        assert_eq!(
            index.within_radius(lon, lat, 15_000.0, None),
            shuffled.within_radius(lon, lat, 15_000.0, None)
        );
    }
}

/// Random lines and squares around a point, projected (metres), for the region tests.
fn shapes_around(x: f64, y: f64, n: usize, rng: &mut StdRng) -> Vec<IndexedShape> {
    use geo::{Coord, LineString, Polygon};
    (0..n)
        .filter_map(|index| {
            let (cx, cy) = (
                x + rng.random_range(-1500.0..1500.0),
                y + rng.random_range(-1500.0..1500.0),
            );
            let g: Geometry<f64> = match index % 3 {
                0 => Point::new(cx, cy).into(),
                1 => {
                    let pts: Vec<Coord<f64>> = (0..rng.random_range(2..6))
                        .map(|_| Coord {
                            x: cx + rng.random_range(-800.0..800.0),
                            y: cy + rng.random_range(-800.0..800.0),
                        })
                        .collect();
                    LineString::new(pts).into()
                }
                _ => {
                    let s = rng.random_range(50.0..2500.0);
                    Polygon::new(
                        LineString::from(vec![
                            (cx, cy),
                            (cx + s, cy + 0.1 * s),
                            (cx + 0.9 * s, cy + s),
                            (cx - 0.1 * s, cy + 0.9 * s),
                            (cx, cy),
                        ]),
                        vec![],
                    )
                    .into()
                }
            };
            IndexedShape::new(
                FeatureHandle {
                    kind: [
                        FeatureKind::Station,
                        FeatureKind::Road,
                        FeatureKind::District,
                    ][index % 3],
                    index,
                },
                g,
            )
        })
        .collect()
}

/// The bbox path settles most candidates without the exact test (an inner rectangle proven to
/// lie inside the projected box, and quick tests of lines and areas against it): on the
/// bundled dataset and on dense random points, lines and areas around small boxes, its answer
/// is exactly the exact test's on every shape.
#[test]
fn bbox_shortcuts_give_exactly_the_exact_tests_answer() {
    let (d, index) = setup();
    let all: Vec<IndexedShape> = d
        .province
        .handles()
        .filter_map(|h| IndexedShape::new(h, project(&d.projection, &d.province.geometry(h))))
        .collect();
    let mut rng = StdRng::seed_from_u64(11);
    let mut settled = 0;
    for i in 0..300 {
        let (lon, lat) = (rng.random_range(106.5..108.0), rng.random_range(20.8..21.6));
        let half = [0.002, 0.01, 0.05, 0.3][i % 4];
        let b = LonLatBounds {
            min_lon: lon - half,
            max_lon: lon + half * rng.random_range(0.5..2.0),
            min_lat: lat - half,
            max_lat: lat + half * rng.random_range(0.5..2.0),
        };
        let region = twin_engine::spatial::lonlat_box_region(&d.projection, &b);
        let exact = |shapes: &[IndexedShape]| {
            let mut v: Vec<FeatureHandle> = shapes
                .iter()
                .filter(|s| s.is_within_region(&region))
                .map(|s| s.handle())
                .collect();
            v.sort();
            v
        };
        let got: Vec<FeatureHandle> = index
            .within_bbox(&b, None)
            .iter()
            .map(|h| h.handle)
            .collect();
        assert_eq!(got, exact(&all), "bundled dataset, box {b:?}");
        // dense random shapes around the box, many crossing its edges
        let (x, y) = d.projection.forward(lon, lat);
        let local = shapes_around(x, y, 600, &mut rng);
        let local_index = SpatialIndex::bulk_load(d.projection.clone(), local.clone());
        let got: Vec<FeatureHandle> = local_index
            .within_region(&region, None, None)
            .iter()
            .map(|h| h.handle)
            .collect();
        let want = exact(&local);
        settled += want.len();
        assert_eq!(got, want, "random shapes, box {b:?}");
    }
    assert!(settled > 10_000, "the boxes hold shapes: {settled}");
}
