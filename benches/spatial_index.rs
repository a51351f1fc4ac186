//! R-tree benchmark over 1,000,000 generated features (seeded): bulk-load time, k-NN and bbox
//! query throughput, each measured in the same run against a linear scan over the same shapes.
//!
//! Run with `cargo bench -p twin-engine --bench spatial_index`. After criterion's own report it
//! prints the R-tree / linear-scan ratio of every query, computed from the very iterations
//! criterion timed (`iter_custom` records them).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput};
use geo::{Coord, Geometry, LineString, Point, Polygon};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rstar::{Envelope, RTreeObject};
use twin_engine::geodesy::{LonLatBounds, Utm};
use twin_engine::model::{FeatureHandle, FeatureKind};
use twin_engine::spatial::{IndexedShape, SpatialIndex, lonlat_box_region};

const FEATURES: usize = 1_000_000;
const SEED: u64 = 20_191_112;
/// Queries per timed iteration (same batch for the R-tree and the scan).
const BATCH: usize = 32;
const K: usize = 10;

/// UTM 48N extent of the province box (lon 106.4–108.1, lat 20.7–21.7), metres.
const X_RANGE: (f64, f64) = (646_000.0, 820_000.0);
const Y_RANGE: (f64, f64) = (2_290_000.0, 2_402_000.0);

/// 70 % points (stations, mines, plants, ports), 25 % road polylines of 2–6 vertices and
/// 100–2,000 m, 5 % small square areas (districts, pits) of 200–3,000 m.
fn generate(n: usize, seed: u64) -> Vec<IndexedShape> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut counters: BTreeMap<FeatureKind, usize> = BTreeMap::new();
    let mut handle = |kind: FeatureKind| {
        let c = counters.entry(kind).or_default();
        *c += 1;
        FeatureHandle {
            kind,
            index: *c - 1,
        }
    };
    (0..n)
        .filter_map(|_| {
            let x = rng.random_range(X_RANGE.0..X_RANGE.1);
            let y = rng.random_range(Y_RANGE.0..Y_RANGE.1);
            let roll: f64 = rng.random();
            let (kind, g): (FeatureKind, Geometry<f64>) = if roll < 0.70 {
                let kinds = [
                    FeatureKind::Station,
                    FeatureKind::Mine,
                    FeatureKind::Plant,
                    FeatureKind::Port,
                ];
                (kinds[rng.random_range(0..4)], Point::new(x, y).into())
            } else if roll < 0.95 {
                let vertices = rng.random_range(2..=6);
                let step = rng.random_range(100.0..2000.0) / (vertices - 1) as f64;
                let mut heading: f64 = rng.random_range(0.0..std::f64::consts::TAU);
                let mut c = Coord { x, y };
                let mut pts = vec![c];
                for _ in 1..vertices {
                    heading += rng.random_range(-0.5..0.5);
                    c = Coord {
                        x: c.x + step * heading.cos(),
                        y: c.y + step * heading.sin(),
                    };
                    pts.push(c);
                }
                (FeatureKind::Road, LineString::new(pts).into())
            } else {
                let s = rng.random_range(200.0..3000.0);
                let ring = vec![
                    Coord { x, y },
                    Coord { x: x + s, y },
                    Coord { x: x + s, y: y + s },
                    Coord { x, y: y + s },
                    Coord { x, y },
                ];
                (
                    FeatureKind::District,
                    Polygon::new(LineString::new(ring), vec![]).into(),
                )
            };
            IndexedShape::new(handle(kind), g)
        })
        .collect()
}

fn query_points(n: usize, seed: u64) -> Vec<(f64, f64)> {
    let utm = Utm::zone_48n();
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            utm.inverse(
                rng.random_range(X_RANGE.0..X_RANGE.1),
                rng.random_range(Y_RANGE.0..Y_RANGE.1),
            )
        })
        .collect()
}

/// Linear k-NN: every shape's distance, then a partial selection of the k smallest.
fn linear_knn(
    shapes: &[IndexedShape],
    utm: &Utm,
    lon: f64,
    lat: f64,
    k: usize,
) -> Vec<(f64, FeatureHandle)> {
    let (x, y) = utm.forward(lon, lat);
    let mut d: Vec<(f64, FeatureHandle)> = shapes
        .iter()
        .map(|s| (s.distance_to([x, y]), s.handle()))
        .collect();
    let cmp = |a: &(f64, FeatureHandle), b: &(f64, FeatureHandle)| {
        a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
    };
    if d.len() > k {
        d.select_nth_unstable_by(k, cmp);
        d.truncate(k);
    }
    d.sort_by(cmp);
    d
}

/// Linear bbox: envelope test of every shape, then the same exact test the index uses.
fn linear_bbox(shapes: &[IndexedShape], utm: &Utm, b: &LonLatBounds) -> usize {
    let region = lonlat_box_region(utm, b);
    let env = {
        use geo::BoundingRect;
        let r = region.bounding_rect().expect("non-empty");
        rstar::AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y])
    };
    shapes
        .iter()
        .filter(|s| s.envelope().intersects(&env) && s.is_within_region(&region))
        .count()
}

/// Bboxes of about 2 km × 2 km around the query points.
fn boxes(points: &[(f64, f64)]) -> Vec<LonLatBounds> {
    points
        .iter()
        .map(|&(lon, lat)| LonLatBounds {
            min_lon: lon - 0.0096,
            max_lon: lon + 0.0096,
            min_lat: lat - 0.009,
            max_lat: lat + 0.009,
        })
        .collect()
}

thread_local! {
    /// Total (iterations, time) of every timed benchmark, for the ratios printed at the end.
    static TIMINGS: RefCell<BTreeMap<&'static str, (u64, Duration)>> = const { RefCell::new(BTreeMap::new()) };
}

fn timed<F: FnMut()>(name: &'static str, mut f: F) -> impl FnMut(u64) -> Duration {
    move |iters| {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        let e = t.elapsed();
        TIMINGS.with(|m| {
            let mut m = m.borrow_mut();
            let entry = m.entry(name).or_default();
            entry.0 += iters;
            entry.1 += e;
        });
        e
    }
}

fn per_iter(name: &str) -> Option<f64> {
    TIMINGS.with(|m| {
        m.borrow()
            .get(name)
            .map(|(n, d)| d.as_secs_f64() / *n as f64)
    })
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let utm = Utm::zone_48n();
    let t = Instant::now();
    let shapes = generate(FEATURES, SEED);
    eprintln!("generated {} features in {:.2?}", shapes.len(), t.elapsed());
    let points = query_points(BATCH, SEED + 1);
    let bboxes = boxes(&points);
    let index = SpatialIndex::bulk_load(utm.clone(), shapes.clone());

    // sanity: the R-tree and the scan agree on what they are timed for
    for &(lon, lat) in &points[..4] {
        let a: Vec<FeatureHandle> = index
            .nearest(lon, lat, K, None)
            .iter()
            .map(|h| h.handle)
            .collect();
        let b: Vec<FeatureHandle> = linear_knn(&shapes, &utm, lon, lat, K)
            .iter()
            .map(|x| x.1)
            .collect();
        assert_eq!(a, b, "k-NN disagrees with the linear scan");
    }
    for b in &bboxes[..4] {
        assert_eq!(
            index.within_bbox(b, None).len(),
            linear_bbox(&shapes, &utm, b),
            "bbox disagrees"
        );
    }

    {
        let mut g = c.benchmark_group("bulk_load_1M");
        g.sample_size(10);
        g.throughput(Throughput::Elements(shapes.len() as u64));
        g.bench_function("rtree", |b| {
            b.iter_batched(
                || shapes.clone(),
                |s| black_box(SpatialIndex::bulk_load(utm.clone(), s)),
                BatchSize::PerIteration,
            )
        });
        g.finish();
    }
    {
        let mut g = c.benchmark_group("knn_k10_1M");
        g.sample_size(10);
        g.throughput(Throughput::Elements(BATCH as u64));
        g.bench_function("rtree", |b| {
            b.iter_custom(timed("knn/rtree", || {
                for &(lon, lat) in &points {
                    black_box(index.nearest(lon, lat, K, None));
                }
            }))
        });
        g.bench_function("linear_scan", |b| {
            b.iter_custom(timed("knn/linear", || {
                for &(lon, lat) in &points {
                    black_box(linear_knn(&shapes, &utm, lon, lat, K));
                }
            }))
        });
        g.finish();
    }
    {
        let mut g = c.benchmark_group("bbox_2km_1M");
        g.sample_size(10);
        g.throughput(Throughput::Elements(BATCH as u64));
        g.bench_function("rtree", |b| {
            b.iter_custom(timed("bbox/rtree", || {
                for bb in &bboxes {
                    black_box(index.within_bbox(bb, None));
                }
            }))
        });
        g.bench_function("linear_scan", |b| {
            b.iter_custom(timed("bbox/linear", || {
                for bb in &bboxes {
                    black_box(linear_bbox(&shapes, &utm, bb));
                }
            }))
        });
        g.finish();
    }
    c.final_summary();

    println!(
        "\nR-tree vs linear scan over {} features ({} queries per iteration):",
        shapes.len(),
        BATCH
    );
    for q in ["knn", "bbox"] {
        if let (Some(r), Some(l)) = (
            per_iter(&format!("{q}/rtree")),
            per_iter(&format!("{q}/linear")),
        ) {
            println!(
                "  {q:<4}  rtree {:>12.0} queries/s   linear {:>10.1} queries/s   ratio {:>8.0}x",
                BATCH as f64 / r,
                BATCH as f64 / l,
                l / r
            );
        }
    }
}
