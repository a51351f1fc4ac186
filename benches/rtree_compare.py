#!/usr/bin/env python3
"""The twin's spatial index side by side with GEOS (shapely's STRtree), single thread.

    python3 benches/rtree_compare.py [--data DIR] [--reuse]

Needs shapely >= 2 and pyarrow (`pip install shapely pyarrow`). It runs
`cargo bench -p twin-engine --bench spatial_index -- --compare DIR`, which writes two feature
sets (1 M uniformly placed points; 1 M mixed features: 70 % points, 25 % road polylines, 5 %
squares — the criterion bench's set) in UTM 48N metres, 20,000 query points and 20,000 ~1 km
lon/lat boxes (each the 64-vertex projected polygon the index queries with) to Parquet, and
times the twin's index on them: bulk load, k = 1 nearest, bbox with the exact test. This
script answers the same queries with shapely's STRtree — vectorised, GEOS's own loops — and
prints both throughputs, the ratios, and whether both found the same answers.

Timing rules, the same on both sides: the median of five runs after a warm-up; building
excludes reading the files and creating the geometries (GEOS's tree is built lazily, so its
build time includes one tiny query that forces it); queries get the projected points and box
polygons as they are. The last line reads
`rtree/geos: knn X.XX, bbox Y.YY, build Z.ZZ` for the 1 M points: queries per second of the
twin over GEOS's, and GEOS's build time over the twin's (above 1: the twin is faster).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow.parquet as pq
import shapely
from shapely import STRtree

REPEATS = 5
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def median_time(f):
    f()
    runs = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        f()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def geometries(path):
    return shapely.from_wkb(pq.read_table(path).column("wkb").to_numpy(zero_copy_only=False))


def one_set(data, name, twin, points, boxes):
    geoms = geometries(os.path.join(data, f"{name}.parquet"))
    probe = shapely.points([[0.0, 0.0]])

    def build():
        tree = STRtree(geoms)
        tree.query(probe)  # GEOS builds the tree on the first query
        return tree

    build_s = median_time(build)
    tree = build()
    knn_s = median_time(lambda: tree.query_nearest(points, all_matches=False))
    bbox_s = median_time(lambda: tree.query(boxes, predicate="intersects"))

    # the same answers? nearest: the same distance (ties may pick another feature);
    # bbox: the same number of features in every box
    nn = tree.query_nearest(points, all_matches=False)
    order = np.argsort(nn[0])
    geos_d = shapely.distance(points[nn[0][order]], geoms[nn[1][order]])
    ours = pq.read_table(os.path.join(data, f"{name}_answers.parquet"))
    our_d = ours.column("nearest_m").to_numpy()
    our_row = ours.column("nearest_row").to_numpy()
    d_diff = np.abs(geos_d - our_d)
    knn_same_distance = int((d_diff <= 1e-6).sum())
    knn_same_feature = int((nn[1][order] == our_row).sum())
    pairs = tree.query(boxes, predicate="intersects")
    geos_hits = np.bincount(pairs[0], minlength=len(boxes))
    our_hits = pq.read_table(os.path.join(data, f"{name}_bbox_hits.parquet")).column("hits").to_numpy()
    bbox_same = int((geos_hits == our_hits).sum())

    n, q = len(geoms), len(points)
    geos = {"build_s": build_s, "knn_qps": q / knn_s, "bbox_qps": q / bbox_s}
    print(f"\n{name}: {n:,} features, {q:,} queries each, single thread, median of {REPEATS}")
    print(f"  {'':18}{'twin (rstar)':>16}{'GEOS STRtree':>16}{'ratio':>9}")
    ratios = {}
    for key, label, unit in [
        ("knn_qps", "k=1 nearest", "queries/s"),
        ("bbox_qps", "~1 km bbox, exact", "queries/s"),
    ]:
        ratios[key] = twin[key] / geos[key]
        print(f"  {label:18}{twin[key]:>16,.0f}{geos[key]:>16,.0f}{ratios[key]:>8.2f}x   {unit}")
    ratios["build"] = geos["build_s"] / twin["build_s"]
    print(f"  {'bulk load':18}{twin['build_s']:>15.3f}s{geos['build_s']:>15.3f}s{ratios['build']:>8.2f}x   (GEOS time / twin time)")
    print(f"  answers: nearest at the same distance {knn_same_distance:,}/{q:,} "
          f"(same feature {knn_same_feature:,}, max distance difference {d_diff.max():.2e} m); "
          f"bbox same count {bbox_same:,}/{q:,} ({int(our_hits.sum()):,} vs {int(geos_hits.sum()):,} hits)")
    agree = knn_same_distance == q and bbox_same == q
    return ratios, agree


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", help="directory for the Parquet files (default: a temporary one)")
    ap.add_argument("--reuse", action="store_true",
                    help="use the files and twin timings already in --data; do not run cargo")
    args = ap.parse_args()
    data = args.data or tempfile.mkdtemp(prefix="rtree-compare-")
    if not args.reuse:
        cmd = ["cargo", "bench", "-p", "twin-engine", "--bench", "spatial_index", "--",
               "--compare", os.path.abspath(data)]
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, cwd=ROOT, check=True)
    with open(os.path.join(data, "twin.json")) as f:
        twin = json.load(f)
    q = pq.read_table(os.path.join(data, "queries.parquet"))
    points = shapely.points(q.column("x").to_numpy(), q.column("y").to_numpy())
    boxes = geometries(os.path.join(data, "boxes.parquet"))
    print(f"shapely {shapely.__version__}, GEOS {shapely.geos_version_string}, "
          f"{os.cpu_count()} CPUs (both sides single-threaded)")
    mixed, mixed_ok = one_set(data, "mixed", twin["mixed"], points, boxes)
    pts, pts_ok = one_set(data, "points", twin["points"], points, boxes)
    print(f"\nrtree/geos mixed: knn {mixed['knn_qps']:.2f}, bbox {mixed['bbox_qps']:.2f}, "
          f"build {mixed['build']:.2f}")
    if not (mixed_ok and pts_ok):
        print("the twin and GEOS disagree on some answers (see above)", file=sys.stderr)
    print(f"rtree/geos: knn {pts['knn_qps']:.2f}, bbox {pts['bbox_qps']:.2f}, build {pts['build']:.2f}")
    return 0 if (mixed_ok and pts_ok) else 1


if __name__ == "__main__":
    sys.exit(main())
