//! R-tree benchmark over 1,000,000 generated features (seeded): bulk-load time, k-NN and bbox
//! query throughput, each measured in the same run against a linear scan over the same shapes.
//!
//! Run with `cargo bench -p twin-engine --bench spatial_index`. After criterion's own report it
//! prints the R-tree / linear-scan ratio of every query, computed from the very iterations
//! criterion timed (`iter_custom` records them).
//!
//! `-- --compare DIR` runs the side-by-side with GEOS instead (`benches/rtree_compare.py` calls
//! it): it writes two feature sets (1 M points; 1 M mixed points, lines and squares), 20,000
//! projected query points and 20,000 projected ~1 km lon/lat boxes to Parquet in DIR, times the
//! index on them single-threaded (bulk load, k = 1 nearest, bbox with the exact test) and writes
//! its timings and answers next to them for the script to compare.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput};
use geo::{Coord, Geometry, LineString, Point, Polygon};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rstar::Envelope;
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
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--compare") {
        let Some(dir) = args.get(i + 1) else {
            eprintln!("--compare needs a directory");
            std::process::exit(2);
        };
        compare::run(std::path::Path::new(dir));
        return;
    }
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

/// The data and the twin's side of `benches/rtree_compare.py`.
mod compare {
    use std::collections::HashMap;
    use std::hint::black_box;
    use std::path::Path;
    use std::time::Instant;

    use geo::{Geometry, LineString};
    use polars::prelude::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use twin_engine::geodesy::{LonLatBounds, Utm};
    use twin_engine::model::{FeatureHandle, FeatureKind};
    use twin_engine::spatial::{IndexedShape, SpatialIndex, lonlat_box_region};

    use super::{FEATURES, SEED, X_RANGE, Y_RANGE};

    const QUERIES: usize = 20_000;
    /// Timed repetitions of every measurement; the median is reported.
    const REPEATS: usize = 5;

    fn wkb_ring(b: &mut Vec<u8>, ring: &LineString<f64>) {
        b.extend((ring.0.len() as u32).to_le_bytes());
        for c in &ring.0 {
            b.extend(c.x.to_le_bytes());
            b.extend(c.y.to_le_bytes());
        }
    }

    /// ISO WKB (little endian) of the generated shapes: points, line strings, polygons.
    fn wkb(g: &Geometry<f64>) -> Vec<u8> {
        let mut b = vec![1u8];
        match g {
            Geometry::Point(p) => {
                b.extend(1u32.to_le_bytes());
                b.extend(p.x().to_le_bytes());
                b.extend(p.y().to_le_bytes());
            }
            Geometry::LineString(l) => {
                b.extend(2u32.to_le_bytes());
                wkb_ring(&mut b, l);
            }
            Geometry::Polygon(p) => {
                b.extend(3u32.to_le_bytes());
                b.extend((1 + p.interiors().len() as u32).to_le_bytes());
                wkb_ring(&mut b, p.exterior());
                for r in p.interiors() {
                    wkb_ring(&mut b, r);
                }
            }
            other => panic!("the bench generates no {other:?}"),
        }
        b
    }

    fn write(path: &Path, mut df: DataFrame) {
        let f = std::fs::File::create(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        ParquetWriter::new(f)
            .finish(&mut df)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }

    /// Times `f` REPEATS times (after one warm-up run), median seconds.
    fn time<T>(mut f: impl FnMut() -> T) -> f64 {
        black_box(f());
        median(
            (0..REPEATS)
                .map(|_| {
                    let t = Instant::now();
                    black_box(f());
                    t.elapsed().as_secs_f64()
                })
                .collect(),
        )
    }

    fn points_only(n: usize, seed: u64) -> Vec<IndexedShape> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n)
            .filter_map(|index| {
                let x = rng.random_range(X_RANGE.0..X_RANGE.1);
                let y = rng.random_range(Y_RANGE.0..Y_RANGE.1);
                IndexedShape::new(
                    FeatureHandle {
                        kind: FeatureKind::Station,
                        index,
                    },
                    geo::Point::new(x, y).into(),
                )
            })
            .collect()
    }

    /// One feature set: written, indexed, queried; returns the JSON of the twin's side.
    fn one_set(
        dir: &Path,
        name: &str,
        shapes: Vec<IndexedShape>,
        geometries: Vec<Geometry<f64>>,
        queries: &[[f64; 2]],
        regions: &[Geometry<f64>],
    ) -> serde_json::Value {
        let utm = Utm::zone_48n();
        let row: HashMap<FeatureHandle, u32> = shapes
            .iter()
            .enumerate()
            .map(|(i, s)| (s.handle(), i as u32))
            .collect();
        write(
            &dir.join(format!("{name}.parquet")),
            df!("wkb" => geometries.iter().map(wkb).collect::<Vec<_>>()).expect("frame"),
        );
        let build_s = {
            let mut v = Vec::new();
            for _ in 0..REPEATS {
                let s = shapes.clone();
                let t = Instant::now();
                let index = SpatialIndex::bulk_load(utm.clone(), s);
                v.push(t.elapsed().as_secs_f64());
                drop(black_box(index));
            }
            median(v)
        };
        let index = SpatialIndex::bulk_load(utm.clone(), shapes);
        let knn_s = time(|| {
            for &q in queries {
                black_box(index.nearest_xy(q, 1, None));
            }
        });
        let bbox_s = time(|| {
            for r in regions {
                black_box(index.within_region(r, None, None));
            }
        });
        // the answers, for the script's equality check
        let (mut nn_row, mut nn_d) = (Vec::new(), Vec::new());
        for &q in queries {
            let h = index.nearest_xy(q, 1, None)[0];
            nn_row.push(row[&h.handle]);
            nn_d.push(h.distance_m.expect("k-NN hits have a distance"));
        }
        let hits: Vec<u32> = regions
            .iter()
            .map(|r| index.within_region(r, None, None).len() as u32)
            .collect();
        write(
            &dir.join(format!("{name}_answers.parquet")),
            df!("nearest_row" => nn_row, "nearest_m" => nn_d).expect("frame"),
        );
        write(
            &dir.join(format!("{name}_bbox_hits.parquet")),
            df!("hits" => hits.clone()).expect("frame"),
        );
        let out = serde_json::json!({
            "features": index.len(),
            "build_s": build_s,
            "knn_qps": queries.len() as f64 / knn_s,
            "bbox_qps": regions.len() as f64 / bbox_s,
            "bbox_hits": hits.iter().map(|&h| h as u64).sum::<u64>(),
        });
        eprintln!(
            "{name}: {} features, build {:.3} s, k=1 nearest {:.0} queries/s, bbox {:.0} queries/s ({} hits)",
            index.len(),
            build_s,
            out["knn_qps"].as_f64().unwrap_or(0.0),
            out["bbox_qps"].as_f64().unwrap_or(0.0),
            out["bbox_hits"]
        );
        out
    }

    pub fn run(dir: &Path) {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let utm = Utm::zone_48n();
        let mut rng = StdRng::seed_from_u64(SEED + 7);
        let queries: Vec<[f64; 2]> = (0..QUERIES)
            .map(|_| {
                [
                    rng.random_range(X_RANGE.0..X_RANGE.1),
                    rng.random_range(Y_RANGE.0..Y_RANGE.1),
                ]
            })
            .collect();
        // ~1 km × 1 km lon/lat boxes centred on the query points, as the index projects them
        let regions: Vec<Geometry<f64>> = queries
            .iter()
            .map(|q| {
                let (lon, lat) = utm.inverse(q[0], q[1]);
                lonlat_box_region(
                    &utm,
                    &LonLatBounds {
                        min_lon: lon - 0.0048,
                        max_lon: lon + 0.0048,
                        min_lat: lat - 0.0045,
                        max_lat: lat + 0.0045,
                    },
                )
            })
            .collect();
        write(
            &dir.join("queries.parquet"),
            df!(
                "x" => queries.iter().map(|q| q[0]).collect::<Vec<_>>(),
                "y" => queries.iter().map(|q| q[1]).collect::<Vec<_>>()
            )
            .expect("frame"),
        );
        write(
            &dir.join("boxes.parquet"),
            df!("wkb" => regions.iter().map(wkb).collect::<Vec<_>>()).expect("frame"),
        );
        let geometry = |s: &IndexedShape| -> Geometry<f64> { s.geometry() };
        let points = points_only(FEATURES, SEED);
        let point_geometries = points.iter().map(geometry).collect();
        let p = one_set(dir, "points", points, point_geometries, &queries, &regions);
        let mixed = super::generate(FEATURES, SEED);
        let mixed_geometries = mixed.iter().map(geometry).collect();
        let m = one_set(dir, "mixed", mixed, mixed_geometries, &queries, &regions);
        let out = serde_json::json!({
            "queries": QUERIES,
            "repeats": REPEATS,
            "points": p,
            "mixed": m,
        });
        let path = dir.join("twin.json");
        std::fs::write(&path, serde_json::to_string_pretty(&out).expect("json"))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        eprintln!("wrote {}", dir.display());
    }
}
