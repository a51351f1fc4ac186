#!/usr/bin/env python3
"""Build the bundled Quảng Ninh dataset (datasets/quang-ninh/) from public facts.

What this script does, and how exact each part is, is written down in
datasets/quang-ninh/SOURCES.md. In short:

* land.geojson      - Natural Earth 1:10m admin-0 countries (public domain, from the npm
                      package world-atlas@2.0.2), decoded from TopoJSON and clipped to the box.
* districts.geojson - schematic: Voronoi cells of hand-placed anchor points (a few per unit),
                      unioned per unit and clipped to a hand-drawn province outline on land.
* stations.geojson  - 105 stations in 8 localities; locations assumed, seeded placement.
* mines.geojson     - Global Energy Monitor's Global Coal Mine Tracker records (CC BY 4.0),
                      one feature per mine, wrong points corrected from domain.md §1.
* plants/ports/roads - positions from ../shared/reference/domain.md (approx), road
                      geometry schematic (hand-placed waypoints), attributes by road class.
* terrain.tif       - synthetic DEM in EPSG:32648 at 200 m, seeded.

Usage (needs shapely, numpy, rasterio, pyproj from PyPI and `npm pack world-atlas@2.0.2`):

    python3 datasets/tools/build_quang_ninh.py --world-atlas PATH/countries-10m.json \
        --gem ../shared/data/real/gem-coal-mines-vietnam.csv --out datasets/quang-ninh
"""

import argparse
import json
import math
import os

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.features import rasterize
from rasterio.transform import from_origin
from shapely import voronoi_polygons
from shapely.geometry import (LineString, MultiPoint, MultiPolygon, Point, Polygon,
                              box, mapping, shape)
from shapely.ops import unary_union

SEED = 20191112  # date of Decision 1459/QĐ-TCMT; any fixed number would do
BOUNDS = (106.4, 20.7, 108.1, 21.7)  # lon/lat box used for data work (domain.md §1)
ROUND = 5  # decimal degrees kept: 1e-5 deg ~ 1.1 m

# ---------------------------------------------------------------------------------------
# TopoJSON decoding (quantised arcs, delta encoded)
# ---------------------------------------------------------------------------------------


def decode_topology(path, object_name, names=None):
    topo = json.load(open(path, encoding="utf-8"))
    sx, sy = topo["transform"]["scale"]
    tx, ty = topo["transform"]["translate"]
    arcs = []
    for arc in topo["arcs"]:
        x = y = 0
        pts = []
        for dx, dy in arc:
            x += dx
            y += dy
            pts.append((x * sx + tx, y * sy + ty))
        arcs.append(pts)

    def ring(indices):
        pts = []
        for i in indices:
            a = arcs[i] if i >= 0 else list(reversed(arcs[~i]))
            pts.extend(a if not pts else a[1:])
        return pts

    out = {}
    for g in topo["objects"][object_name]["geometries"]:
        name = g.get("properties", {}).get("name")
        if names is not None and name not in names:
            continue
        if g["type"] == "Polygon":
            polys = [g["arcs"]]
        elif g["type"] == "MultiPolygon":
            polys = g["arcs"]
        else:
            continue
        parts = []
        for p in polys:
            rings = [r for r in (ring(r) for r in p) if len(r) >= 4]  # quantisation can collapse tiny rings
            if rings:
                parts.append(Polygon(rings[0], rings[1:]).buffer(0))
        out[name] = unary_union(parts)
    return out


# ---------------------------------------------------------------------------------------
# Province outline and districts (schematic)
# ---------------------------------------------------------------------------------------

# Hand-drawn envelope of the province. Its northern edge lies beyond the Vietnam-China border
# (the border itself comes from Natural Earth); its western and southern edges follow the
# boundaries with Hải Dương, Bắc Giang, Lạng Sơn and Hải Phòng approximately; at sea it keeps
# the Hạ Long Bay, Bái Tử Long, Vân Đồn and Cô Tô islands and leaves out Cát Bà (Hải Phòng).
PROVINCE_ENVELOPE = [
    (106.43, 21.05), (106.45, 21.13), (106.52, 21.17), (106.62, 21.17), (106.72, 21.19),
    (106.83, 21.20), (106.92, 21.24), (107.00, 21.30), (107.08, 21.38), (107.16, 21.44),
    (107.24, 21.47), (107.30, 21.52), (107.33, 21.60), (107.36, 21.75), (108.20, 21.75),
    (108.20, 20.85), (107.90, 20.85), (107.55, 20.75), (107.20, 20.72), (107.08, 20.80),
    (106.98, 20.86), (106.90, 20.83), (106.84, 20.80), (106.78, 20.86), (106.74, 20.93),
    (106.70, 20.98), (106.62, 21.00), (106.52, 21.01), (106.43, 21.05),
]

# 2019 census population by district-level unit (1 April 2019; province total 1,320,324;
# General Statistics Office of Viet Nam, via domain.md §1)
POPULATION_2019 = {
    "ha-long": 270054, "cam-pha": 190232, "uong-bi": 120982, "mong-cai": 108553,
    "quang-yen": 145920, "dong-trieu": 171673, "hoanh-bo": 52656, "ba-che": 22103,
    "binh-lieu": 31637, "tien-yen": 50830, "dam-ha": 41217, "hai-ha": 61566,
    "van-don": 46616, "co-to": 6285,
}
assert sum(POPULATION_2019.values()) == 1320324

# id, name, kind of unit, seat (lon, lat from GeoNames, domain.md §1), extra anchor points
DISTRICTS = [
    ("ha-long", "Hạ Long", "city", (107.07336, 20.95045),
     [(107.00, 20.97), (107.14, 20.97), (107.10, 20.90), (107.03, 20.92)]),
    ("cam-pha", "Cẩm Phả", "city", (107.27345, 21.01004),
     [(107.20, 21.02), (107.34, 21.05), (107.25, 21.08), (107.38, 21.02), (107.30, 20.95)]),
    ("uong-bi", "Uông Bí", "city", (106.77049, 21.03433),
     [(106.80, 21.10), (106.74, 21.13), (106.73, 21.05)]),
    ("mong-cai", "Móng Cái", "city", (107.96619, 21.52471),
     [(107.88, 21.52), (107.90, 21.47), (108.03, 21.50), (107.86, 21.58)]),
    ("quang-yen", "Quảng Yên", "town", (106.8027, 20.9421),
     [(106.85, 20.88), (106.88, 20.95), (106.79, 20.99)]),
    ("dong-trieu", "Đông Triều", "town", (106.59662, 21.11043),
     [(106.50, 21.07), (106.64, 21.05), (106.54, 21.13)]),
    ("hoanh-bo", "Hoành Bồ", "district", (106.99101, 21.03141),
     [(107.00, 21.12), (106.90, 21.10), (107.10, 21.10), (106.95, 21.18)]),
    ("ba-che", "Ba Chẽ", "district", (107.19298, 21.29503),
     [(107.10, 21.22), (107.28, 21.25), (107.20, 21.38), (107.15, 21.16)]),
    ("binh-lieu", "Bình Liêu", "district", (107.44047, 21.54389),
     [(107.50, 21.60), (107.38, 21.55), (107.56, 21.55)]),
    ("tien-yen", "Tiên Yên", "district", (107.37468, 21.37571),
     [(107.42, 21.30), (107.30, 21.43), (107.40, 21.45), (107.35, 21.20)]),
    ("dam-ha", "Đầm Hà", "district", (107.56175, 21.39689),
     [(107.58, 21.33), (107.55, 21.47), (107.62, 21.40)]),
    ("hai-ha", "Hải Hà", "district", (107.75592, 21.4506),
     [(107.70, 21.38), (107.72, 21.55), (107.66, 21.50), (107.78, 21.42)]),
    ("van-don", "Vân Đồn", "district", (107.50971, 21.04921),
     [(107.45, 21.00), (107.58, 21.10), (107.42, 20.93), (107.52, 20.88), (107.62, 21.02)]),
    ("co-to", "Cô Tô", "district", (107.76578, 20.97268),
     [(107.85, 21.00), (107.72, 20.95)]),
]
HOANH_BO_NOTE = ("Hoành Bồ district was merged into Hạ Long city in 2019 (Resolution "
                 "837/NQ-UBTVQH14); kept here as its own unit so that the 14 pre-2019 units "
                 "of domain.md exist. Union it with ha-long for the 13-unit variant.")


def build_land(world_atlas):
    countries = decode_topology(world_atlas, "countries", {"Vietnam", "China"})
    frame = box(*BOUNDS)
    land = []
    for name, vi_name in (("Vietnam", "Việt Nam"), ("China", "Trung Quốc")):
        g = countries[name].intersection(frame)
        if not g.is_empty:
            land.append((name.lower(), vi_name, g))
    return land, countries["Vietnam"]


def build_districts(vietnam):
    province = vietnam.intersection(Polygon(PROVINCE_ENVELOPE)).intersection(box(*BOUNDS))
    anchors, owner = [], []
    for i, (_, _, _, seat, extra) in enumerate(DISTRICTS):
        for p in [seat] + extra:
            anchors.append(p)
            owner.append(i)
    cells = voronoi_polygons(MultiPoint(anchors), extend_to=box(105, 20, 109, 22.5))
    per_district = [[] for _ in DISTRICTS]
    for cell in cells.geoms:
        # voronoi_polygons does not keep input order: find the anchor inside each cell
        for k, a in enumerate(anchors):
            if cell.contains(Point(a)):
                per_district[owner[k]].append(cell)
                break
    out = []
    for i, cells_i in enumerate(per_district):
        g = unary_union(cells_i).intersection(province)
        g = clean(g)
        out.append(g)
    return province, out


def clean(g, min_area_deg2=2e-6):
    """Round to ROUND decimals, drop slivers, and return a valid (Multi)Polygon."""
    polys = [g] if g.geom_type == "Polygon" else [p for p in getattr(g, "geoms", []) if p.geom_type == "Polygon"]
    kept = []
    for p in polys:
        if p.area < min_area_deg2:
            continue
        ext = [(round(x, ROUND), round(y, ROUND)) for x, y in p.exterior.coords]
        holes = [[(round(x, ROUND), round(y, ROUND)) for x, y in r.coords] for r in p.interiors]
        q = Polygon(ext, holes)
        if not q.is_valid:
            q = q.buffer(0)
        if q.geom_type == "Polygon" and q.area >= min_area_deg2:
            kept.append(q)
        elif q.geom_type == "MultiPolygon":
            kept.extend(x for x in q.geoms if x.area >= min_area_deg2)
    if len(kept) == 1:
        return kept[0]
    return MultiPolygon(kept)


# ---------------------------------------------------------------------------------------
# Point features
# ---------------------------------------------------------------------------------------

# Coal mines: the Global Energy Monitor Global Coal Mine Tracker records for Vietnam
# (../shared/data/real/gem-coal-mines-vietnam.csv, CC BY 4.0, "Global Energy Monitor, Global
# Coal Mine Tracker"), one feature per mine. The 14 mines of domain.md §1 keep the ids that
# scenarios, telemetry and tests use, their Vietnamese names and their earlier (assumed)
# methane classes; the other mines get new ids.
# gem id -> (feature id, Vietnamese name, methane class or None = from GEM's estimate)
GEM_MINES = {
    "M1093": ("mao-khe", "Mạo Khê", "outburst"),
    "M1285": ("vang-danh", "Vàng Danh", "II"),
    "M1394": ("nam-mau", "Nam Mẫu", "II"),
    "M1091": ("ha-lam", "Hà Lầm", "III"),
    "M1389": ("nui-beo", "Núi Béo", "I"),
    "M1382": ("ha-tu", "Hà Tu", "I"),
    "M1390": ("quang-hanh", "Quang Hanh", "II"),
    "M1090": ("duong-huy", "Dương Huy", "III"),
    "M1388": ("thong-nhat", "Thống Nhất", "II"),
    "M1089": ("deo-nai", "Đèo Nai", "I"),
    "M1087": ("coc-sau", "Cọc Sáu", "I"),
    "M1088": ("cao-son", "Cao Sơn", "I"),
    "M1092": ("khe-cham", "Khe Chàm", "super"),
    "M1094": ("mong-duong", "Mông Dương", "III"),
    "M4698": ("hong-thai", "Hồng Thái", None),
    "M3679": ("giap-khau", "Giáp Khẩu", None),
    "M7232": ("ha-rang", "Hà Ráng", None),
    "M3680": ("khe-sim", "Khe Sim", None),
    "M3677": ("khe-tam", "Khe Tam", None),
    "M3678": ("nga-hai", "Ngã Hai", None),
    "M3676": ("trang-bach", "Tràng Bạch", None),
    "M1442": ("uong-bi", "Uông Bí", None),
    "M4700": ("nui-beo-underground", "Núi Béo (hầm lò)", None),
    "M7233": ("suoi-lai", "Suối Lại", None),
    "M7234": ("tan-yen", "Tân Yên", None),
    "M1426": ("hon-gai", "Hòn Gai", None),
}
# GEM points known to be wrong (shared/data/SOURCES.md), replaced by domain.md §1 positions
GEM_CORRECTED = {
    "M1091": (107.10, 20.965, "GEM's point (15.72 N, 108.35 E) is in Quảng Nam"),
    "M1092": (107.30, 21.06, "GEM's point (21.58 N, 104.77 E) is in Yên Bái"),
    "M1094": (107.33, 21.07, "GEM's approximate point (21.25 N, 107.33 E) falls in Ba Chẽ, not Cẩm Phả"),
}
# records left out, with the reason (listed in datasets/quang-ninh/SOURCES.md)
GEM_DROPPED = {
    "M4699": "Khánh Hòa mine is in Thái Nguyên province",
    "M4327": "Khoái Châu II is a Red River basin project in Hưng Yên, not Quảng Ninh",
    "M4326": "Bình Minh (both phases): GEM's point (10.50 N, 105.04 E) is in the Mekong delta "
             "and domain.md gives no position",
    "M3675": "Khe Chàm 3: GEM's point (21.58 N, 104.77 E) is in Yên Bái; domain.md's Khe Chàm "
             "position belongs to mine-khe-cham, and a second mine on the same approximate "
             "point would not be a trustworthy position",
}
GEM_STATUS_ORDER = ["operating", "mothballed", "closed", "proposed", "cancelled", "shelved"]
GEM_METHOD = {"Underground": "underground", "Surface": "open_pit",
              "Underground & Surface": "underground_and_surface"}


def methane_class_of(rel_m3_t):
    """QCVN 01:2011/BCT class by relative methane emission (m3 per tonne mined)."""
    if rel_m3_t < 5:
        return "I"
    if rel_m3_t < 10:
        return "II"
    if rel_m3_t < 15:
        return "III"
    return "super"


def gem_num(r, key):
    v = r[key].strip()
    return float(v) if v else None


def build_mines(gem_csv):
    import csv
    rows = list(csv.DictReader(open(gem_csv, encoding="utf-8")))
    by_id = {}
    for r in rows:
        gid = r["gem_mine_id"]
        if gid in GEM_DROPPED:
            continue
        if gid not in GEM_MINES:
            raise SystemExit(f"{gem_csv}: record {gid} ({r['mine_name']}) is neither mapped nor dropped")
        by_id.setdefault(gid, []).append(r)
    feats = []
    for gid, (mid, name, cls) in GEM_MINES.items():
        phases = by_id[gid]

        def phase(r):
            prod, cap = gem_num(r, "production_mtpa"), gem_num(r, "capacity_mtpa")
            out = {"status": r["status"].lower(), "mining_method": GEM_METHOD[r["mine_type"]]}
            for key, v in [("production_t_per_year", prod), ("capacity_t_per_year", cap)]:
                if v is not None:
                    out[key] = int(round(v * 1e6))
            if r["year_of_production"]:
                out["production_year"] = int(r["year_of_production"])
            for key, col in [("depth_m", "mine_depth_m"), ("gem_cmm_mcm_per_yr", "gem_cmm_estimate_mcm_per_yr"),
                             ("methane_gas_content_m3_per_t", "methane_gas_content_m3_per_t"),
                             ("methane_emission_factor", "methane_emission_factor")]:
                v = gem_num(r, col)
                if v is not None:
                    out[key] = v
            return out

        ph = sorted((phase(r) for r in phases), key=lambda p: GEM_STATUS_ORDER.index(p["status"]))
        main = ph[0]
        r0 = phases[0]
        if gid in GEM_CORRECTED:
            lon, lat, why = GEM_CORRECTED[gid]
            loc = {"location_precision": "approx (±2–4 km)",
                   "location_source": f"domain.md §1; {why}"}
        else:
            lon, lat = float(r0["longitude"]), float(r0["latitude"])
            acc = r0["location_accuracy"].lower()
            loc = {"location_precision": "exact (GEM)" if acc == "exact" else "approx (GEM)",
                   "location_source": "Global Energy Monitor"}
        # output: production as reported; an operating mine without one runs at capacity;
        # a mine that is not operating produces nothing
        if main["status"] != "operating":
            output, out_prec = 0, f"none ({main['status']})"
        elif "production_t_per_year" in main:
            output = main["production_t_per_year"]
            out_prec = f"GEM production {main.get('production_year', '')}".strip()
        else:
            output, out_prec = main.get("capacity_t_per_year", 0), "GEM capacity (no production reported)"
        # relative methane emission, m3 per tonne: GEM's estimate over the production it is
        # based on, else gas content times emission factor (the estimate's own method)
        rel = None
        if main.get("gem_cmm_mcm_per_yr") and main.get("production_t_per_year"):
            rel = main["gem_cmm_mcm_per_yr"] * 1e6 / main["production_t_per_year"]
        elif main.get("methane_gas_content_m3_per_t") and main.get("methane_emission_factor"):
            rel = main["methane_gas_content_m3_per_t"] * main["methane_emission_factor"]
        method = main["mining_method"]
        if cls is not None:
            cls_prec = "assumed"
        elif method == "open_pit":
            cls, cls_prec = "I", "surface mine"
        else:
            cls = methane_class_of(rel)
            cls_prec = "from GEM's relative emission estimate (QCVN 01:2011/BCT thresholds)"
        if method == "open_pit":
            # schematic pit outline: an ellipse of about 2.4 x 1.4 km around the point
            kx = 1.0 / (111.32 * math.cos(math.radians(lat)))
            ky = 1.0 / 110.57
            ring = [(round(lon + 1.2 * kx * math.cos(t), ROUND), round(lat + 0.7 * ky * math.sin(t), ROUND))
                    for t in np.linspace(0, 2 * math.pi, 17)[:-1]]
            ring.append(ring[0])
            geom = Polygon(ring)
        else:
            geom = Point(round(lon, ROUND), round(lat, ROUND))
        props = {"id": f"mine-{mid}", "name": f"Mỏ than {name}", "gem_id": gid,
                 "gem_name": r0["mine_name"], "status": main["status"], "mining_method": method,
                 "methane_class": cls, "output_t_per_year": output}
        for key in ["capacity_t_per_year", "depth_m", "gem_cmm_mcm_per_yr", "methane_gas_content_m3_per_t"]:
            if key in main:
                props[key] = main[key]
        if rel is not None:
            props["relative_methane_m3_per_t"] = round(rel, 2)
        if len(ph) > 1:
            props["phases"] = ph
        props.update(loc)
        props.update({"methane_class_precision": cls_prec, "output_precision": out_prec,
                      "source": "Global Energy Monitor, Global Coal Mine Tracker (CC BY 4.0)"})
        feats.append(feature(geom, props))
    return feats

# Coal-fired power plants (domain.md §1, Global Energy Monitor, CC BY 4.0). Stack heights and
# diameters are assumed typical values for units of this size.
PLANTS = [
    ("mong-duong-tpp", "Nhiệt điện Mông Dương", "thermal_power", 107.34847, 21.07324, 2320, 210, 8.0, "approx"),
    ("cam-pha-tpp", "Nhiệt điện Cẩm Phả", "thermal_power", 107.358044, 21.006288, 680, 175, 6.0, "approx"),
    ("uong-bi-tpp", "Nhiệt điện Uông Bí", "thermal_power", 106.786, 21.039, 735, 180, 6.5, "approx"),
    ("quang-ninh-tpp", "Nhiệt điện Quảng Ninh", "thermal_power", 107.13, 21.00, 1200, 200, 7.5, "approx"),
    ("mao-khe-tpp", "Nhiệt điện Mạo Khê", "thermal_power", 106.57731, 21.09069, 440, 150, 5.5, "approx"),
]
# id, name, lon, lat, clinker capacity Mt/yr (approx), stack height m, diameter m
CEMENT = [
    ("thang-long-cement", "Xi măng Thăng Long", 107.03, 21.03, 2.3, 110, 4.0),
    ("ha-long-cement", "Xi măng Hạ Long", 107.055, 21.015, 2.0, 105, 4.0),
    ("cam-pha-cement", "Xi măng Cẩm Phả", 107.24, 21.01, 2.3, 110, 4.0),
]
PORTS = [
    # id, name, lon, lat, cargo
    ("cam-pha-port", "Cảng Cẩm Phả (Cửa Ông)", 107.375, 21.015, "coal"),
    ("hon-gai-port", "Cảng than Hòn Gai (Nam Cầu Trắng)", 107.105, 20.955, "coal"),
    ("dien-cong-port", "Cảng Điền Công", 106.79, 20.995, "coal"),
    ("cai-lan-port", "Cảng Cái Lân", 107.045, 20.965, "container"),
    ("tuan-chau-port", "Cảng tàu khách Tuần Châu", 106.99, 20.93, "passenger"),
]

# Emission estimates for plants, written down so that they can be checked and replaced:
# flue gas 3,300 Nm3 per MWh generated, capacity factor 0.70, stack concentrations at the
# QCVN 22:2009/BTNMT limits for coal-fired units (SO2 500, NOx 650, dust 200 mg/Nm3 times the
# Kp·Kv factors taken as 0.85), PM10 = 0.7 x dust, PM2.5 = 0.35 x dust (AP-42 ESP profile).
def thermal_emissions(mw):
    flue_nm3_s = mw * 0.70 * 3300.0 / 3600.0
    k = 0.85
    dust = 200.0 * k * flue_nm3_s / 1000.0  # g/s
    return {
        "SO2": round(500.0 * k * flue_nm3_s / 1000.0, 1),
        "NOx": round(650.0 * k * flue_nm3_s / 1000.0, 1),
        "PM10": round(0.7 * dust, 1),
        "PM2.5": round(0.35 * dust, 1),
    }


# Cement kilns: emission factors per tonne of clinker after control (kg/t, order of AP-42
# §11.6 with ESP): PM10 0.10, PM2.5 0.05, NOx 2.0, SO2 0.4; 330 operating days a year.
def cement_emissions(clinker_mt):
    t_per_s = clinker_mt * 1e6 / (330 * 86400.0)
    return {
        "SO2": round(0.4 * t_per_s * 1000.0, 2),
        "NOx": round(2.0 * t_per_s * 1000.0, 2),
        "PM10": round(0.10 * t_per_s * 1000.0, 2),
        "PM2.5": round(0.05 * t_per_s * 1000.0, 2),
    }


# 105 monitoring points in 8 localities (domain.md §1); counts per locality are assumed.
LOCALITIES = [
    # name, centre (lon, lat), air count, water count, spread in km
    ("Hạ Long", (107.07336, 20.95045), 18, 10, 6.0),
    ("Cẩm Phả", (107.27345, 21.01004), 15, 8, 7.0),
    ("Uông Bí", (106.77049, 21.03433), 8, 5, 5.0),
    ("Đông Triều", (106.59662, 21.08), 6, 4, 6.0),
    ("Quảng Yên", (106.8027, 20.9421), 5, 4, 4.0),
    ("Móng Cái", (107.96619, 21.52471), 6, 4, 5.0),
    ("Vân Đồn", (107.45, 21.06), 4, 4, 5.0),
    ("Tiên Yên", (107.37468, 21.35), 2, 2, 4.0),
]
AIR_PARAMS = ["PM2.5", "PM10", "SO2", "NO2", "CO", "O3", "TSP", "wind_speed", "wind_direction",
              "temperature", "relative_humidity"]
WATER_PARAMS = ["pH", "DO", "COD", "TSS", "NH4+", "temperature", "conductivity"]


def slug(s):
    table = str.maketrans("ạảãàáâậầấẩẫăắằặẳẵóòọõỏôộổỗồốơờớợởỡéèẻẹẽêếềệểễúùụủũưựữửừứíìịỉĩýỳỷỵỹđ",
                          "aaaaaaaaaaaaaaaaaoooooooooooooooooeeeeeeeeeeeuuuuuuuuuuuiiiiiyyyyyd")
    return s.lower().translate(table).replace(" ", "-")


def build_stations(province, rng):
    land = province
    sea_near = province.buffer(0.03).difference(province)  # water within ~3 km of the coast
    feats = []
    n = 0
    for name, (lon0, lat0), n_air, n_water, spread_km in LOCALITIES:
        loc = slug(name)
        deg = spread_km / 111.0
        for medium, count in (("air", n_air), ("water", n_water)):
            placed = 0
            tries = 0
            while placed < count:
                tries += 1
                if tries > 100000:
                    raise SystemExit(f"could not place {medium} stations in {name}")
                r = deg * math.sqrt(rng.random())
                a = 2 * math.pi * rng.random()
                lon, lat = lon0 + r * math.cos(a) / math.cos(math.radians(lat0)), lat0 + r * math.sin(a)
                p = Point(lon, lat)
                if medium == "air" and not land.contains(p):
                    continue
                water_body = None
                if medium == "water":
                    if sea_near.contains(p):
                        water_body = "coastal"
                    elif land.contains(p) and rng.random() < 0.5:
                        water_body = "surface"
                    else:
                        continue
                placed += 1
                n += 1
                if medium == "air":
                    kind = ["ambient", "ambient", "roadside", "industrial"][int(rng.random() * 4)]
                    params = list(AIR_PARAMS)
                    if kind == "roadside":
                        params.remove("O3")
                else:
                    kind = water_body
                    params = list(WATER_PARAMS)
                    if water_body == "coastal":
                        params.append("salinity")
                props = {
                    "id": f"st-{loc}-{medium}-{placed:02d}",
                    "name": f"Trạm {'không khí' if medium == 'air' else 'nước'} {name} {placed}",
                    "medium": medium,
                    "site_type": kind,
                    "locality": name,
                    "parameters": params,
                    "location_precision": "assumed",
                }
                feats.append(feature(Point(round(lon, ROUND), round(lat, ROUND)), props))
    assert n == 105, n
    return feats


# ---------------------------------------------------------------------------------------
# Roads (schematic geometry, attributes by class)
# ---------------------------------------------------------------------------------------

NODES = {
    "w-border-ql18": (106.44, 21.062), "dong-trieu": (106.513, 21.083), "mao-khe": (106.605, 21.058),
    "uong-bi": (106.773, 21.030), "bieu-nghi": (106.835, 21.000), "dai-yen": (106.950, 20.985),
    "bai-chay": (107.030, 20.960), "hon-gai": (107.085, 20.955), "ha-tu": (107.150, 20.972),
    "cam-pha": (107.270, 21.010), "cua-ong": (107.360, 21.030), "mong-duong": (107.335, 21.070),
    "tien-yen": (107.385, 21.330), "dam-ha": (107.560, 21.395), "hai-ha": (107.752, 21.450),
    "mong-cai": (107.960, 21.520), "quang-yen": (106.805, 20.945), "s-border-ql10": (106.745, 20.905),
    "troi": (106.990, 21.030), "nw-border-ql279": (106.900, 21.215), "w-border-ql4b": (107.230, 21.455),
    "binh-lieu": (107.440, 21.540), "hoanh-mo": (107.500, 21.620),
    "ic-ha-long": (106.980, 21.005), "ic-quang-yen": (106.860, 20.925), "s-border-ct06": (106.790, 20.860),
    "ic-cam-pha": (107.250, 21.070), "ic-van-don": (107.450, 21.095), "ic-dam-ha": (107.580, 21.365),
    "ic-hai-ha": (107.760, 21.420), "ic-mong-cai": (107.930, 21.490), "w-border-ct09": (106.450, 21.040),
    "ic-uong-bi": (106.760, 21.010),
}
NODE_NAMES = {
    "w-border-ql18": "ranh giới Hải Dương (QL18)", "dong-trieu": "Đông Triều", "mao-khe": "Mạo Khê",
    "uong-bi": "Uông Bí", "bieu-nghi": "ngã ba Biểu Nghi", "dai-yen": "Đại Yên", "bai-chay": "Bãi Cháy",
    "hon-gai": "Hòn Gai", "ha-tu": "Hà Tu", "cam-pha": "Cẩm Phả", "cua-ong": "Cửa Ông",
    "mong-duong": "Mông Dương", "tien-yen": "Tiên Yên", "dam-ha": "Đầm Hà", "hai-ha": "Quảng Hà",
    "mong-cai": "Móng Cái", "quang-yen": "Quảng Yên", "s-border-ql10": "ranh giới Hải Phòng (QL10)",
    "troi": "Trới", "nw-border-ql279": "ranh giới Bắc Giang (QL279)",
    "w-border-ql4b": "ranh giới Lạng Sơn (QL4B)", "binh-lieu": "Bình Liêu", "hoanh-mo": "Hoành Mô",
    "ic-ha-long": "nút giao Hạ Long", "ic-quang-yen": "nút giao Quảng Yên",
    "s-border-ct06": "ranh giới Hải Phòng (CT06)", "ic-cam-pha": "nút giao Cẩm Phả",
    "ic-van-don": "nút giao Vân Đồn", "ic-dam-ha": "nút giao Đầm Hà", "ic-hai-ha": "nút giao Hải Hà",
    "ic-mong-cai": "nút giao Móng Cái", "w-border-ct09": "ranh giới Hải Dương (CT09)",
    "ic-uong-bi": "nút giao Uông Bí",
}
ROUTES = [
    # ref, name, class, lanes per direction, speed km/h, capacity veh/h/lane, nodes with shape points
    ("QL18", "Quốc lộ 18", "trunk", 2, 70, 1900,
     ["w-border-ql18", (106.48, 21.075), "dong-trieu", (106.56, 21.070), "mao-khe", (106.69, 21.045),
      "uong-bi", (106.80, 21.015), "bieu-nghi", (106.90, 20.995), "dai-yen", (106.99, 20.972), "bai-chay",
      "hon-gai", (107.12, 20.962), "ha-tu", (107.21, 21.000), "cam-pha", (107.32, 21.020), "cua-ong",
      "mong-duong", (107.36, 21.15), (107.38, 21.25), "tien-yen", (107.46, 21.37), "dam-ha",
      (107.66, 21.42), "hai-ha", (107.86, 21.49), "mong-cai"]),
    ("QL10", "Quốc lộ 10", "trunk", 2, 60, 1800,
     ["bieu-nghi", (106.815, 20.975), "quang-yen", (106.775, 20.925), "s-border-ql10"]),
    ("QL279", "Quốc lộ 279", "primary", 1, 60, 1800,
     ["bai-chay", (107.005, 21.000), "troi", (106.965, 21.09), (106.93, 21.16), "nw-border-ql279"]),
    ("QL4B", "Quốc lộ 4B", "primary", 1, 60, 1800,
     ["tien-yen", (107.32, 21.38), (107.27, 21.42), "w-border-ql4b"]),
    ("QL18C", "Quốc lộ 18C", "primary", 1, 50, 1700,
     ["tien-yen", (107.40, 21.42), (107.42, 21.49), "binh-lieu", (107.47, 21.58), "hoanh-mo"]),
    ("CT06", "Cao tốc Hạ Long – Hải Phòng", "expressway", 2, 100, 2100,
     ["ic-ha-long", (106.92, 20.96), "ic-quang-yen", (106.82, 20.89), "s-border-ct06"]),
    ("CT09", "Cao tốc Hà Nội – Hạ Long (đoạn Quảng Ninh)", "expressway", 2, 100, 2100,
     ["w-border-ct09", (106.60, 21.035), "ic-uong-bi", (106.87, 21.005), "ic-ha-long"]),
    ("CT-HL-VD", "Cao tốc Hạ Long – Vân Đồn", "expressway", 2, 100, 2100,
     ["ic-ha-long", (107.08, 21.03), (107.17, 21.06), "ic-cam-pha", (107.35, 21.10), "ic-van-don"]),
    ("CT-VD-MC", "Cao tốc Vân Đồn – Móng Cái", "expressway", 2, 90, 2000,
     ["ic-van-don", (107.48, 21.20), (107.53, 21.30), "ic-dam-ha", (107.67, 21.39), "ic-hai-ha",
      (107.85, 21.46), "ic-mong-cai"]),
    ("DT-CONN", "Đường nối cao tốc", "secondary", 1, 50, 1600,
     ["ic-uong-bi", "uong-bi"]),
    ("DT-CONN", "Đường nối cao tốc", "secondary", 1, 50, 1600,
     ["ic-quang-yen", "quang-yen"]),
    ("DT-CONN", "Đường nối cao tốc", "secondary", 1, 50, 1600,
     ["ic-ha-long", "troi"]),
    ("DT-CONN", "Đường nối cao tốc", "secondary", 1, 50, 1600,
     ["ic-cam-pha", (107.26, 21.04), "cam-pha"]),
    ("DT-CONN", "Đường nối cao tốc", "secondary", 1, 50, 1600,
     ["ic-van-don", (107.42, 21.06), "cua-ong"]),
    ("DT-CONN", "Đường nối cao tốc", "secondary", 1, 50, 1600,
     ["ic-dam-ha", "dam-ha"]),
    ("DT-CONN", "Đường nối cao tốc", "secondary", 1, 50, 1600,
     ["ic-hai-ha", "hai-ha"]),
    ("DT-CONN", "Đường nối cao tốc", "secondary", 1, 50, 1600,
     ["ic-mong-cai", "mong-cai"]),
]


def build_roads():
    feats = []
    seen = {}
    for ref, name, cls, lanes, speed, cap, seq in ROUTES:
        # split the route at every named node: one link per pair of consecutive nodes
        current = []
        start = None
        for item in seq:
            if isinstance(item, str):
                pt = NODES[item]
                if start is None:
                    start, current = item, [pt]
                    continue
                current.append(pt)
                base = f"{ref.lower()}-{start}-{item}"
                k = seen.get(base, 0)
                seen[base] = k + 1
                link_id = base if k == 0 else f"{base}-{k}"
                props = {
                    "id": link_id,
                    "name": f"{name}: {NODE_NAMES[start]} – {NODE_NAMES[item]}",
                    "ref": ref,
                    "class": cls,
                    "lanes": lanes,
                    "oneway": False,
                    "free_flow_speed_kmh": speed,
                    "capacity_veh_h_lane": cap,
                    "from_node": start,
                    "to_node": item,
                    "geometry_precision": "schematic",
                }
                feats.append(feature(LineString(current), props))
                start, current = item, [pt]
            else:
                current.append(item)
    return feats


# ---------------------------------------------------------------------------------------
# Synthetic terrain (EPSG:32648, 200 m)
# ---------------------------------------------------------------------------------------


def value_noise(shape, cell, rng):
    """Bilinear value noise with lattice spacing `cell` pixels."""
    ny, nx = shape
    gy, gx = ny // cell + 2, nx // cell + 2
    lattice = rng.random((gy, gx))
    y = np.arange(ny) / cell
    x = np.arange(nx) / cell
    y0 = np.floor(y).astype(int)
    x0 = np.floor(x).astype(int)
    fy = (y - y0)[:, None]
    fx = (x - x0)[None, :]
    fy = fy * fy * (3 - 2 * fy)
    fx = fx * fx * (3 - 2 * fx)
    a = lattice[y0][:, x0]
    b = lattice[y0][:, x0 + 1]
    c = lattice[y0 + 1][:, x0]
    d = lattice[y0 + 1][:, x0 + 1]
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


def chamfer(inside):
    """City-block distance in pixels from each `inside` pixel to the nearest outside pixel."""
    ny, nx = inside.shape
    dist = np.where(inside, 1e9, 0.0)
    for _ in range(2):
        for i in range(1, ny):
            dist[i] = np.minimum(dist[i], dist[i - 1] + 1)
        for i in range(ny - 2, -1, -1):
            dist[i] = np.minimum(dist[i], dist[i + 1] + 1)
        for j in range(1, nx):
            dist[:, j] = np.minimum(dist[:, j], dist[:, j - 1] + 1)
        for j in range(nx - 2, -1, -1):
            dist[:, j] = np.minimum(dist[:, j], dist[:, j + 1] + 1)
    return dist


def build_terrain(out_path, land_geoms, rng, res=200.0):
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32648", always_xy=True)
    xs, ys = [], []
    for lon in np.linspace(BOUNDS[0], BOUNDS[2], 50):
        for lat in (BOUNDS[1], BOUNDS[3]):
            x, y = to_utm.transform(lon, lat)
            xs.append(x)
            ys.append(y)
    for lat in np.linspace(BOUNDS[1], BOUNDS[3], 50):
        for lon in (BOUNDS[0], BOUNDS[2]):
            x, y = to_utm.transform(lon, lat)
            xs.append(x)
            ys.append(y)
    x0 = math.floor(min(xs) / 1000.0) * 1000.0
    y1 = math.ceil(max(ys) / 1000.0) * 1000.0
    nx = int(math.ceil((max(xs) - x0) / res))
    ny = int(math.ceil((y1 - min(ys)) / res))
    transform = from_origin(x0, y1, res, res)

    # land mask in projected coordinates
    from shapely import transform as shp_transform
    land_utm = [shp_transform(g, lambda c: np.column_stack(to_utm.transform(c[:, 0], c[:, 1]))) for g in land_geoms]
    mask = rasterize([(g, 1) for g in land_utm], out_shape=(ny, nx), transform=transform,
                     fill=0, dtype="uint8").astype(bool)

    # coordinates of pixel centres in lon/lat for placing the relief
    to_ll = Transformer.from_crs("EPSG:32648", "EPSG:4326", always_xy=True)
    cx = x0 + (np.arange(nx) + 0.5) * res
    cy = y1 - (np.arange(ny) + 0.5) * res
    gx, gy = np.meshgrid(cx, cy)
    lon, lat = to_ll.transform(gx, gy)

    # distance to the sea in pixels, for the coastal lowland
    dist = chamfer(mask)
    dist_km = dist * res / 1000.0

    def ridge(lon_a, lat_a, lon_b, lat_b, height, width_km):
        """A mountain ridge along a segment, Gaussian across it."""
        kx = 111.32 * math.cos(math.radians(21.0))
        ax, ay, bx, by = lon_a * kx, lat_a * 110.57, lon_b * kx, lat_b * 110.57
        px, py = lon * kx, lat * 110.57
        vx, vy = bx - ax, by - ay
        t = np.clip(((px - ax) * vx + (py - ay) * vy) / (vx * vx + vy * vy), 0.0, 1.0)
        d2 = (px - ax - t * vx) ** 2 + (py - ay - t * vy) ** 2
        taper = np.sin(np.pi * (0.15 + 0.7 * t))  # lower at the ends
        return height * taper * np.exp(-d2 / (2 * width_km ** 2))

    relief = np.zeros((ny, nx))
    # Yên Tử range along the Bắc Giang border (Yên Tử peak ~1,068 m)
    relief = np.maximum(relief, ridge(106.50, 21.15, 106.95, 21.20, 1050.0, 4.0))
    # hills north of Hạ Long and Cẩm Phả, up to about 1,000 m
    relief = np.maximum(relief, ridge(107.05, 21.10, 107.40, 21.16, 950.0, 5.0))
    # the Ba Chẽ / Bình Liêu uplands along the Lạng Sơn and China borders
    relief = np.maximum(relief, ridge(107.15, 21.35, 107.60, 21.62, 1100.0, 7.0))
    relief = np.maximum(relief, ridge(107.60, 21.55, 107.95, 21.62, 700.0, 6.0))
    # the low coal hills between Hạ Long and Cẩm Phả (open pits sit on them)
    relief = np.maximum(relief, ridge(107.10, 21.00, 107.35, 21.05, 350.0, 3.0))

    rough = (0.55 * value_noise((ny, nx), 40, rng) + 0.30 * value_noise((ny, nx), 12, rng)
             + 0.15 * value_noise((ny, nx), 4, rng))
    # ridged noise carves valleys and spurs into the smooth ridges
    ridged = 1.0 - np.abs(2.0 * (0.6 * value_noise((ny, nx), 16, rng) + 0.4 * value_noise((ny, nx), 6, rng)) - 1.0)
    lowland = 4.0 + 60.0 * (1.0 - np.exp(-dist_km / 6.0))
    land_elev = lowland * (0.6 + 0.8 * rough) + relief * (0.25 + 0.55 * rough + 0.45 * ridged ** 2)

    # sea: shallow shelf deepening away from the coast
    sea_dist = chamfer(~mask)
    depth = 2.0 + 28.0 * (1.0 - np.exp(-(sea_dist * res / 1000.0) / 12.0))
    elev = np.where(mask, land_elev, -depth)

    # limestone towers of Hạ Long Bay and Bái Tử Long: steep karst, 50-200 m, footprints of a
    # few hundred metres, in water that Natural Earth 1:10m shows as sea
    bay = (lon > 107.00) & (lon < 107.55) & (lat > 20.78) & (lat < 21.02) & ~mask & (sea_dist < 60)
    iy, ix = np.nonzero(bay)
    # clustered like the real archipelago: keep candidates where a coarse noise field is high
    cluster = value_noise((ny, nx), 25, rng)[iy, ix]
    cand = np.nonzero(cluster > 0.55)[0]
    picks = cand[rng.choice(len(cand), size=min(600, len(cand)), replace=False)]
    for k in picks:
        h = 50.0 + 150.0 * rng.random()
        r = 1 + int(rng.random() * 2)
        y0, y1_, x0_, x1_ = max(iy[k] - r, 0), min(iy[k] + r + 1, ny), max(ix[k] - r, 0), min(ix[k] + r + 1, nx)
        elev[y0:y1_, x0_:x1_] = np.maximum(elev[y0:y1_, x0_:x1_], h * (0.7 + 0.3 * rng.random()))

    elev = elev.astype(np.float32)
    with rasterio.open(out_path, "w", driver="GTiff", width=nx, height=ny, count=1, dtype="float32",
                       crs="EPSG:32648", transform=transform, compress="deflate", predictor=3,
                       tiled=True, blockxsize=256, blockysize=256) as dst:
        dst.write(elev, 1)
        dst.set_band_description(1, "elevation_m (SYNTHETIC - not a real DEM)")
        dst.update_tags(SYNTHETIC="yes", DESCRIPTION="QN Twin synthetic terrain for Quảng Ninh; "
                        "not measured data; see SOURCES.md", UNITS="m", SEED=str(SEED))
    return nx, ny, float(elev.max()), float(elev.min())


# ---------------------------------------------------------------------------------------


def feature(geom, props):
    return {"type": "Feature", "properties": props, "geometry": mapping(geom)}


def fc(name, feats):
    return {"type": "FeatureCollection", "name": name, "features": feats}


def write(path, obj):
    def default(o):
        if isinstance(o, tuple):
            return list(o)
        raise TypeError(o)
    with open(path, "w", encoding="utf-8") as f:
        # tuples from shapely's mapping() become lists; one feature per line keeps diffs readable
        f.write('{"type": "FeatureCollection", "name": ' + json.dumps(obj["name"]) + ', "features": [\n')
        for i, feat in enumerate(obj["features"]):
            f.write(json.dumps(feat, ensure_ascii=False, default=default))
            f.write(",\n" if i + 1 < len(obj["features"]) else "\n")
        f.write("]}\n")


def rounded(geom):
    if geom.geom_type == "Point":
        return Point(round(geom.x, ROUND), round(geom.y, ROUND))
    return geom


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--world-atlas", required=True, help="countries-10m.json from world-atlas@2.0.2")
    ap.add_argument("--gem", required=True,
                    help="gem-coal-mines-vietnam.csv (shared/data/real/, Global Energy Monitor)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(SEED)

    land, vietnam = build_land(args.world_atlas)
    write(os.path.join(args.out, "land.geojson"), fc("land", [
        feature(clean(g, 1e-7), {"id": f"land-{cid}", "name": vi, "country": cid,
                                 "geometry_precision": "approx (Natural Earth 1:10m)"})
        for cid, vi, g in land]))

    province, districts = build_districts(vietnam)
    dfeats = []
    for (did, name, unit, seat, _), g in zip(DISTRICTS, districts):
        props = {"id": did, "name": name, "unit_type": unit,
                 "population_2019": POPULATION_2019[did], "seat": [seat[0], seat[1]],
                 "geometry_precision": "schematic"}
        if did == "hoanh-bo":
            props["note"] = HOANH_BO_NOTE
        dfeats.append(feature(g, props))
    write(os.path.join(args.out, "districts.geojson"), fc("districts", dfeats))

    write(os.path.join(args.out, "stations.geojson"), fc("stations", build_stations(province, rng)))

    mfeats = build_mines(args.gem)
    write(os.path.join(args.out, "mines.geojson"), fc("mines", mfeats))

    pfeats = []
    for pid, name, kind, lon, lat, mw, h, d, prec in PLANTS:
        em = thermal_emissions(mw)
        pfeats.append(feature(Point(lon, lat), {
            "id": pid, "name": name, "plant_type": kind,
            "capacity": {"value": mw, "unit": "MW"},
            "stack_height_m": h, "exit_velocity_m_s": 20.0, "exit_temperature_k": 420.0,
            "stack_diameter_m": d,
            "emissions": [{"pollutant": k, "rate": v, "unit": "g/s"} for k, v in em.items()],
            "location_precision": prec, "stack_precision": "assumed",
            "emissions_precision": "estimated (see SOURCES.md)"}))
    for pid, name, lon, lat, mt, h, d in CEMENT:
        em = cement_emissions(mt)
        pfeats.append(feature(Point(lon, lat), {
            "id": pid, "name": name, "plant_type": "cement",
            "capacity": {"value": mt, "unit": "Mt/yr"},
            "stack_height_m": h, "exit_velocity_m_s": 15.0, "exit_temperature_k": 400.0,
            "stack_diameter_m": d,
            "emissions": [{"pollutant": k, "rate": v, "unit": "g/s"} for k, v in em.items()],
            "location_precision": "approx", "stack_precision": "assumed",
            "emissions_precision": "estimated (see SOURCES.md)"}))
    write(os.path.join(args.out, "plants.geojson"), fc("plants", pfeats))

    write(os.path.join(args.out, "ports.geojson"), fc("ports", [
        feature(Point(lon, lat), {"id": pid, "name": name, "cargo": cargo, "location_precision": "approx"})
        for pid, name, lon, lat, cargo in PORTS]))

    write(os.path.join(args.out, "roads.geojson"), fc("roads", build_roads()))

    nx, ny, hmax, hmin = build_terrain(os.path.join(args.out, "terrain.tif"),
                                       [g for _, _, g in land], rng)
    print(f"terrain {nx}x{ny}, elevation {hmin:.0f}..{hmax:.0f} m")


if __name__ == "__main__":
    main()
