#!/usr/bin/env python3
"""QN Twin's traffic model against SUMO on the same generated grid and the same demand.

Builds an N×N grid of 200 m one-lane streets (speeds within ±10 % of 50 km/h, seeded) with SUMO's netgenerate (traffic lights
at every interior junction, 60 s cycle, 4 s yellow), converts it to a road-link GeoJSON for
`twin` (same junction ids, directed edges, same lanes and speeds), draws seeded OD pairs between
boundary junctions (SUMO: flows along the fastest paths computed here; twin: the same pairs as
`[[demand]]`, routed by its own fastest paths, which are the same), and runs for one hour:
  - SUMO microscopic (`sumo`) and mesoscopic (`sumo --mesosim --meso-junction-control`),
  - `twin simulate traffic` on the CPU twin (and `--backend gpu` when asked).
Prints simulated vehicle-seconds per wall-second of each (the whole process, loading included,
and twin's stepping alone), the ratios, mean link travel times side by side, and the hourly link
flows compared by the GEH statistic (GEH = sqrt(2(M − C)²/(M + C)), M the model's and C SUMO
micro's vehicles per hour; the usual acceptance is GEH < 5 on 85 % of links — UK DMRB). Both
follow the same free-flow fastest paths (twin with `equilibrium_iterations = 0`), so the
comparison is of the network loading, not of route choice.

Needs: pip install eclipse-sumo pyproj duckdb; a built `twin` (default: target/release/twin or
$CARGO_TARGET_DIR/release/twin). Usage:
    python3 benches/sumo_compare.py [--n 20] [--pairs 200] [--veh-h 60] [--seed 1] [--gpu]
"""
import argparse
import heapq
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import duckdb
import pyproj
import sumo

ROOT = Path(__file__).resolve().parent.parent
X0, Y0 = 700_000.0, 2_320_000.0  # grid origin in UTM 48N (near Hạ Long)


def run(cmd, **kw):
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p, wall


def twin_binary():
    target = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    b = Path(target) / "release" / "twin"
    if not b.exists():
        sys.exit(f"{b} not found: build with `cargo build --release` first")
    return str(b)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20, help="junctions per side")
    ap.add_argument("--pairs", type=int, default=200, help="OD pairs")
    ap.add_argument("--veh-h", type=float, default=60.0, help="vehicles per hour per pair")
    ap.add_argument("--dests", type=int, default=30,
                    help="destinations (boundary junctions) the pairs are drawn to: twin carries "
                         "up to 32 commodities, more destinations share mean turning fractions")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--gpu", action="store_true", help="also run twin on the GPU backend")
    ap.add_argument("--keep", help="keep the work files in this directory")
    a = ap.parse_args()

    bin_dir = Path(sumo.SUMO_HOME) / "bin"
    work = Path(a.keep or tempfile.mkdtemp(prefix="qn-twin-sumo-"))
    work.mkdir(parents=True, exist_ok=True)

    # 1. the grid, then traffic lights at the interior junctions only
    common = [
        str(bin_dir / "netgenerate"), "--grid", f"--grid.number={a.n}", "--grid.length=200",
        "--default.lanenumber=1", "--default.speed=13.89", "--no-turnarounds=true",
    ]
    run(common + ["-o", str(work / "plain.net.xml")])
    junctions = {
        j.get("id"): (float(j.get("x")), float(j.get("y")))
        for j in ET.parse(work / "plain.net.xml").getroot().iter("junction")
        if j.get("type") != "internal"
    }
    xs = [p[0] for p in junctions.values()]
    ys = [p[1] for p in junctions.values()]
    boundary = sorted(
        j for j, (x, y) in junctions.items()
        if x in (min(xs), max(xs)) or y in (min(ys), max(ys))
    )
    interior = sorted(set(junctions) - set(boundary))
    run(common + [
        f"--tls.set={','.join(interior)}", "--tls.cycle.time=60", "--tls.yellow.time=4",
        "--tls.left-green.time=0", "-o", str(work / "grid.net.xml"),
    ])
    # every edge's speed drawn within ±10 % of 50 km/h (seeded), written into SUMO's network and
    # used for twin's: on a regular grid many routes tie, and the two routers would break the
    # ties differently; with distinct speeds both find the same fastest routes, so the link
    # flows compare the network loading, not the tie-breaking
    tree = ET.parse(work / "grid.net.xml")
    net = tree.getroot()
    rng_speed = random.Random(a.seed + 1000)
    for e in net.iter("edge"):
        if e.get("function") == "internal":
            continue
        v = round(13.89 * (1.0 + 0.2 * (rng_speed.random() - 0.5)), 3)
        for lane in e.findall("lane"):
            lane.set("speed", str(v))
    tree.write(work / "grid.net.xml")

    # 2. the same network for twin: directed edges between junctions, lon/lat via UTM
    utm = pyproj.Transformer.from_crs("EPSG:32648", "EPSG:4326", always_xy=True)
    def lonlat(j):
        x, y = junctions[j]
        return list(utm.transform(X0 + x, Y0 + y))
    features = []
    for e in net.iter("edge"):
        if e.get("function") == "internal":
            continue
        lanes = e.findall("lane")
        features.append({
            "type": "Feature",
            "properties": {
                "id": e.get("id"), "name": e.get("id"), "class": "residential",
                "lanes": len(lanes), "oneway": True,
                "free_flow_speed_kmh": round(float(lanes[0].get("speed")) * 3.6, 3),
                "capacity_veh_h_lane": 1800, "from_node": e.get("from"), "to_node": e.get("to"),
            },
            "geometry": {"type": "LineString", "coordinates": [lonlat(e.get("from")), lonlat(e.get("to"))]},
        })
    (work / "grid.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}))

    # 3. the demand: seeded pairs of boundary junctions
    rng = random.Random(a.seed)
    dests = rng.sample(boundary, min(a.dests, len(boundary)))
    pairs = []
    while len(pairs) < a.pairs:
        o, d = rng.choice(boundary), rng.choice(dests)
        if o != d:
            pairs.append((o, d))
    # the routes: fastest paths by junction-to-junction length / speed (Dijkstra), written out
    # edge by edge for SUMO, so both models load the same routes and the link flows compare the
    # network loading (duarouter's own routes disagreed with an independent Dijkstra on ~30 % of
    # links even with these costs as its weights; twin's agree with it on every link)
    adj = {}
    for ft in features:
        p = ft["properties"]
        adj.setdefault(p["from_node"], []).append(
            (p["to_node"], p["id"], 200.0 / (p["free_flow_speed_kmh"] / 3.6)))
    def fastest(o, d):
        dist, prev, heap = {o: 0.0}, {}, [(0.0, o)]
        while heap:
            t, n = heapq.heappop(heap)
            if t > dist.get(n, float("inf")):
                continue
            for m, e, c in adj.get(n, []):
                if t + c < dist.get(m, float("inf")):
                    dist[m], prev[m] = t + c, (n, e)
                    heapq.heappush(heap, (t + c, m))
        edges, n = [], d
        while n != o:
            n, e = prev[n]
            edges.append(e)
        return edges[::-1]
    with open(work / "routes.xml", "w") as f:
        f.write("<routes>\n")
        for k, (o, d) in enumerate(pairs):
            f.write(f'  <route id="r{k}" edges="{" ".join(fastest(o, d))}"/>\n')
            f.write(f'  <flow id="f{k}" route="r{k}" begin="0" end="3600" '
                    f'vehsPerHour="{a.veh_h}" departLane="best" departSpeed="max"/>\n')
        f.write("</routes>\n")
    (work / "edgedata.add.xml").write_text(
        '<additional><edgeData id="all" file="edgedata.xml" period="3600"/></additional>\n')

    scenario = [
        'name = "sumo-grid"', f'dataset = "{ROOT / "datasets/quang-ninh"}"', 'roads = "grid.geojson"',
        'start = "2026-03-10T07:00:00+07:00"', "duration_h = 1", "dt_s = 2", "output_interval_min = 60",
        "[routing]", "equilibrium_iterations = 0",
        "[signals]", 'control = "fixed_time"', "lost_s = 4",
    ]
    for j in interior:
        scenario += ["[[signals.node]]", f'node = "{j}"', "cycle_s = 60"]
    for o, d in pairs:
        scenario += ["[[demand]]", f'from = "{o}"', f'to = "{d}"', f"veh_h = {a.veh_h}"]
    (work / "twin.toml").write_text("\n".join(scenario) + "\n")

    print(f"grid {a.n}x{a.n}: {len(features)} directed links, {len(interior)} signals, "
          f"{a.pairs} OD pairs x {a.veh_h:g} veh/h, 1 h; work files in {work}")
    rows = []

    # 4. SUMO, micro and meso
    for label, extra in [("sumo micro", []), ("sumo meso", ["--mesosim", "true", "--meso-junction-control", "true"])]:
        out = work / label.replace(" ", "-")
        out.mkdir(exist_ok=True)
        (out / "edgedata.add.xml").write_text((work / "edgedata.add.xml").read_text())
        _, wall = run([str(bin_dir / "sumo"), "-n", str(work / "grid.net.xml"), "-r", str(work / "routes.xml"),
                       "-a", str(out / "edgedata.add.xml"), "--begin", "0", "--end", "3600",
                       "--no-step-log", "--no-warnings", "--time-to-teleport", "-1"] + extra)
        vs, tt, flow = 0.0, {}, {}
        for e in ET.parse(out / "edgedata.xml").getroot().iter("edge"):
            s = float(e.get("sampledSeconds", 0))
            vs += s
            flow[e.get("id")] = float(e.get("entered", 0))
            if s > 0 and e.get("traveltime"):
                tt[e.get("id")] = float(e.get("traveltime"))
        rows.append((label, wall, None, vs, tt, flow))

    # 5. twin
    twin = twin_binary()
    for backend in ["cpu"] + (["gpu"] if a.gpu else []):
        out = work / f"twin-{backend}"
        _, wall = run([twin, "simulate", "traffic", "--scenario", str(work / "twin.toml"),
                       "--backend", backend, "--out", str(out)])
        s = json.loads((out / "summary.json").read_text())
        vs = sum(s["vehicles"]["vehicle_seconds"])
        tt = dict(duckdb.sql(
            f"select link_id, travel_time_s from '{out / 'links.parquet'}' "
            "where class = 'all' and flow_veh_h > 0").fetchall())
        flow = dict(duckdb.sql(
            f"select link_id, flow_veh_h from '{out / 'links.parquet'}' "
            "where class = 'all'").fetchall())
        rows.append((f"twin {backend}", wall, s["wall_s"], vs, tt, flow))

    # 6. report
    base = rows[0]
    print(f"\n{'model':<11} {'wall s':>8} {'veh-s simulated':>16} {'veh-s / wall-s':>15} {'vs sumo micro':>13}"
          f" {'stepping only':>14}")
    for label, wall, step_wall, vs, *_ in rows:
        rate = vs / wall
        extra = f"{vs / step_wall:>14.3e}" if step_wall else ""
        print(f"{label:<11} {wall:>8.2f} {vs:>16.0f} {rate:>15.3e} {rate / (base[3] / base[1]):>12.1f}x {extra}")
    common_links = set.intersection(*(set(r[4]) for r in rows))
    print(f"\nmean link travel time over the {len(common_links)} links used in every run (s):")
    for label, _, _, _, tt, _ in rows:
        m = sum(tt[k] for k in common_links) / max(len(common_links), 1)
        print(f"  {label:<11} {m:8.1f}")
    sample = sorted(common_links)[:8]
    print("\nsample links (s): " + "  ".join(f"{k}" for k in sample))
    for label, _, _, _, tt, _ in rows:
        print(f"  {label:<11} " + "  ".join(f"{tt[k]:6.1f}" for k in sample))
    # hourly link flows against SUMO micro, by GEH
    ref = rows[0][5]
    links = sorted(ref)
    print(f"\nhourly link flows against sumo micro, GEH over {len(links)} links:")
    for label, _, _, _, _, flow in rows[1:]:
        geh = []
        for k in links:
            m, c = flow.get(k, 0.0), ref[k]
            geh.append(0.0 if m + c == 0 else (2 * (m - c) ** 2 / (m + c)) ** 0.5)
        under = sum(g < 5 for g in geh) / len(geh)
        total_m = sum(flow.get(k, 0.0) for k in links)
        total_c = sum(ref[k] for k in links)
        print(f"  {label:<11} GEH < 5 on {100 * under:5.1f} % of links, mean GEH {sum(geh) / len(geh):5.2f}, "
              f"max {max(geh):5.1f}; total veh entering links {total_m:.0f} vs {total_c:.0f}")
    print("\nnote: SUMO's lane lengths are shorter than the junction-to-junction 200 m twin uses "
          "(junction areas), and SUMO models lane changes, turning conflicts and start-up delays "
          "that a CTM does not.")


if __name__ == "__main__":
    main()
