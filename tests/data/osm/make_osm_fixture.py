"""Writes cam-pha-mini.osm.pbf, the OSM importer's test fixture (pyosmium: pip install osmium).

A few made-up ways near Cẩm Phả exercising the importer's rules: a two-way trunk crossed by a
residential street at a shared node, a oneway primary, a footway (dropped), a motorway link with
an unusable maxspeed (implied oneway), a secondary with oneway=-1, a tertiary leaving the
test's bounding box, and a closed roundabout (implied oneway, split half way round). Run from this directory; the output is committed.
"""
import osmium

LON0, LAT0 = 107.30, 21.02
D = 0.004  # about 400 m


def node(i, x, y):
    return osmium.osm.mutable.Node(id=i, location=(LON0 + x * D, LAT0 + y * D), version=1)


def way(i, refs, **tags):
    return osmium.osm.mutable.Way(id=i, nodes=refs, tags=tags, version=1)


nodes = [
    node(1, 0, 0), node(2, 1, 0.1), node(3, 2, 0), node(4, 3, 0), node(5, 4, 0),
    node(10, 2, -1), node(11, 2, 1),
    node(20, 5, 0.5), node(21, 6, 1),
    node(30, 1, 1), node(31, 1, 2),
    node(40, 7, 2), node(41, 8, 3),
    node(50, 3, 40),  # far north: outside the test's bbox
    node(60, 0, -2), node(61, 1, -2.5), node(62, 0.5, -3),
]
ways = [
    way(100, [1, 2, 3, 4, 5], highway="trunk", name="Quốc lộ 18", ref="QL18", lanes="4", maxspeed="70"),
    way(101, [10, 3, 11], highway="residential", name="Phố Tô Hiệu"),
    way(102, [5, 20, 21], highway="primary", oneway="yes", name="Đường Bái Tử Long"),
    way(103, [30, 31], highway="footway"),
    way(104, [21, 40], highway="motorway_link", maxspeed="signals"),
    way(105, [40, 41], highway="secondary", oneway="-1", name="Đường 326"),
    way(106, [4, 50], highway="tertiary", name="Đường lên mỏ"),
    way(107, [60, 61, 62, 60], highway="tertiary", junction="roundabout"),
]

w = osmium.SimpleWriter("cam-pha-mini.osm.pbf", overwrite=True)
for n in nodes:
    w.add_node(n)
for x in ways:
    w.add_way(x)
w.close()

# clipped.osm.pbf: what `osmium extract --strategy simple` or an old extract gives — ways that
# reference nodes the file does not hold (node 3 and 99 are absent) — plus tags beyond the road
# layer's range (150 mph, 20 lanes one way). The importer cuts the ways at the missing nodes,
# clamps the tags, and the result loads.
nodes = [
    node(1, 0, 0), node(2, 1, 0.1), node(4, 3, 0), node(5, 4, 0),
    node(20, 5, 0.5), node(21, 6, 1), node(40, 7, 2),
]
ways = [
    way(200, [1, 2, 3, 4, 5], highway="trunk", name="Quốc lộ 18", ref="QL18"),
    way(201, [99, 20], highway="residential"),
    way(202, [5, 20, 21], highway="motorway", maxspeed="150 mph", lanes="20", oneway="yes"),
    way(203, [21, 40], highway="primary", maxspeed="-5"),
]
w = osmium.SimpleWriter("clipped.osm.pbf", overwrite=True)
for n in nodes:
    w.add_node(n)
for x in ways:
    w.add_way(x)
w.close()
