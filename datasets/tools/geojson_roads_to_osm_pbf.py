"""Turns a road GeoJSON of (Multi)LineStrings into an OSM PBF, to try `twin import osm` on real
geometry when no OSM extract is at hand (pyosmium: pip install osmium).

Vertices with equal coordinates (to 1e-7°) become one OSM node, so roads that share a vertex
meet in the import. The `highway` tag comes from a property mapping; features that map to
nothing keep their kind as another tag (`railway=rail`), so the importer's filtering is
exercised too. The default mapping reads the CTU-SematX LegoCity transport layer
(`loai_duong`: Đường chính → trunk, Đường thứ cấp → secondary, Đường sắt → railway):

    python3 datasets/tools/geojson_roads_to_osm_pbf.py ../shared/data/vn-roads-quang-ninh.geojson /tmp/vn.osm.pbf
    twin import osm /tmp/vn.osm.pbf --bbox 106.4,20.7,108.1,21.7 --out /tmp/vn-roads.geojson
"""
import json
import sys

import osmium

HIGHWAY = {"Đường chính": ("highway", "trunk"), "Đường thứ cấp": ("highway", "secondary"),
           "Đường sắt": ("railway", "rail")}


def main(src, dst, kind_key="loai_duong", name_key="ten"):
    data = json.load(open(src, encoding="utf-8"))
    node_ids = {}
    nodes, ways = [], []
    for k, f in enumerate(data["features"]):
        g = f["geometry"]
        parts = g["coordinates"] if g["type"] == "MultiLineString" else [g["coordinates"]]
        props = f.get("properties") or {}
        key, value = HIGHWAY.get(props.get(kind_key), ("highway", "unclassified"))
        for p, line in enumerate(parts):
            refs = []
            for lon, lat, *_ in line:
                c = (round(lon, 7), round(lat, 7))
                if c not in node_ids:
                    node_ids[c] = len(node_ids) + 1
                    nodes.append(osmium.osm.mutable.Node(id=node_ids[c], location=c, version=1))
                if not refs or refs[-1] != node_ids[c]:
                    refs.append(node_ids[c])
            if len(refs) >= 2:
                tags = {key: value}
                if props.get(name_key):
                    tags["name"] = str(props[name_key])
                ways.append(osmium.osm.mutable.Way(id=1000 * (k + 1) + p, nodes=refs, tags=tags, version=1))
    w = osmium.SimpleWriter(dst, overwrite=True)
    for n in nodes:
        w.add_node(n)
    for x in ways:
        w.add_way(x)
    w.close()
    print(f"{dst}: {len(nodes)} nodes, {len(ways)} ways")


if __name__ == "__main__":
    main(*sys.argv[1:3])
