//! The spatial index: one bulk-loaded `rstar` R-tree over every indexed feature, in metres.
//!
//! Geometries are projected once into the dataset's metric CRS (UTM 48N for Quảng Ninh) and
//! every distance this module reports is a planar distance in that CRS, in metres. Within the
//! province this differs from the ellipsoidal distance by the UTM scale factor, 0.9996–1.0009.
//!
//! Ordering invariant: results are sorted by distance, ties (and region queries, which have no
//! distance) by [`FeatureHandle`] — kind, then position in the layer file — so the same dataset
//! and query always give the same list.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

use geo::coordinate_position::{CoordPos, CoordinatePosition};
use geo::{
    Closest, ClosestPoint, Coord, CoordsIter, Distance, Euclidean, Geometry, Intersects, Length,
    LineString, LinesIter, MapCoords, Point, Polygon, Rect, Relate,
};
use rstar::{AABB, Envelope, PointDistance, RTree, RTreeObject, RTreeParams};

use crate::geodesy::{LonLatBounds, Utm};
use crate::model::{FeatureHandle, FeatureKind, Province};

/// One indexed feature: its handle and its projected geometry.
#[derive(Debug, Clone)]
pub struct IndexedShape {
    handle: FeatureHandle,
    shape: Shape,
    envelope: AABB<[f64; 2]>,
}

/// Projected geometry, with a fast path for points.
#[derive(Debug, Clone)]
enum Shape {
    Point([f64; 2]),
    Other(Geometry<f64>),
}

impl IndexedShape {
    /// Wraps a feature whose geometry is already in the index's metric CRS.
    /// Returns `None` for an empty geometry (it has no envelope).
    pub fn new(handle: FeatureHandle, projected: Geometry<f64>) -> Option<Self> {
        use geo::BoundingRect;
        if let Geometry::Point(p) = projected {
            let c = [p.x(), p.y()];
            return Some(Self {
                handle,
                shape: Shape::Point(c),
                envelope: AABB::from_point(c),
            });
        }
        let r = projected.bounding_rect()?;
        Some(Self {
            handle,
            shape: Shape::Other(projected),
            envelope: AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
        })
    }

    /// The feature this shape belongs to.
    pub fn handle(&self) -> FeatureHandle {
        self.handle
    }

    /// The shape's bounding box in the index's CRS.
    pub fn envelope(&self) -> AABB<[f64; 2]> {
        self.envelope
    }

    /// Planar distance in metres from a projected point (0 inside an area).
    pub fn distance_to(&self, p: [f64; 2]) -> f64 {
        match &self.shape {
            Shape::Point(c) => ((c[0] - p[0]).powi(2) + (c[1] - p[1]).powi(2)).sqrt(),
            Shape::Other(g) => Euclidean.distance(g, &Point::new(p[0], p[1])),
        }
    }

    /// Squared planar distance from a projected point.
    fn distance_2(&self, p: &[f64; 2]) -> f64 {
        match &self.shape {
            Shape::Point(c) => (c[0] - p[0]).powi(2) + (c[1] - p[1]).powi(2),
            Shape::Other(_) => self.distance_to(*p).powi(2),
        }
    }

    /// Planar distance in metres to a projected geometry (0 where they meet).
    fn distance_to_geometry(&self, g: &Geometry<f64>) -> f64 {
        match &self.shape {
            Shape::Point(c) => Euclidean.distance(g, &Point::new(c[0], c[1])),
            Shape::Other(s) => Euclidean.distance(g, s),
        }
    }

    /// The projected geometry.
    pub fn geometry(&self) -> Geometry<f64> {
        match &self.shape {
            Shape::Point(c) => Point::new(c[0], c[1]).into(),
            Shape::Other(g) => g.clone(),
        }
    }

    /// A quick sufficient test for [`IndexedShape::is_within_region`], given a closed
    /// rectangle proven to lie in the region's interior: a line or an area boundary meeting the
    /// rectangle meets that interior (and an area's interior is next to every point of its
    /// boundary, so the interiors overlap); an area holding the rectangle's centre overlaps it.
    /// `false` means "not settled", not "outside".
    fn surely_within(&self, inner: &AABB<[f64; 2]>) -> bool {
        let (lo, hi) = (inner.lower(), inner.upper());
        let ring_meets = |r: &LineString<f64>| {
            r.0.windows(2)
                .any(|w| segment_meets_rect(w[0], w[1], lo, hi))
                || r.0.len() == 1 && inner.contains_point(&[r.0[0].x, r.0[0].y])
        };
        let polygon_meets =
            |p: &Polygon<f64>| ring_meets(p.exterior()) || p.interiors().iter().any(ring_meets);
        let centre_inside = |g: &Geometry<f64>| {
            let c = inner.center();
            g.coordinate_position(&Coord { x: c[0], y: c[1] }) == CoordPos::Inside
        };
        match &self.shape {
            Shape::Point(_) => inner.contains_envelope(&self.envelope),
            Shape::Other(Geometry::LineString(l)) => ring_meets(l),
            Shape::Other(Geometry::MultiLineString(m)) => m.0.iter().any(ring_meets),
            Shape::Other(g @ Geometry::Polygon(p)) => polygon_meets(p) || centre_inside(g),
            Shape::Other(g @ Geometry::MultiPolygon(m)) => {
                m.0.iter().any(polygon_meets) || centre_inside(g)
            }
            Shape::Other(g) => g.coords_iter().any(|c| inner.contains_point(&[c.x, c.y])),
        }
    }

    /// Whether this shape lies in the projected region `area`: a point on or inside it, a line
    /// meeting it, an area whose interior overlaps it (touching is not enough).
    pub fn is_within_region(&self, area: &Geometry<f64>) -> bool {
        match &self.shape {
            Shape::Point(c) => area.intersects(&Point::new(c[0], c[1])),
            Shape::Other(g @ (Geometry::Polygon(_) | Geometry::MultiPolygon(_))) => {
                // two areas count only if their interiors overlap, not if they merely touch;
                // a vertex of either strictly inside the other settles it cheaply, and only
                // the remaining cases (crossing edges, shared boundaries) need the full DE-9IM
                let inside = |a: &Geometry<f64>, b: &Geometry<f64>| {
                    a.coords_iter()
                        .any(|c| b.coordinate_position(&c) == CoordPos::Inside)
                };
                if !area.intersects(g) {
                    return false;
                }
                if inside(g, area) || inside(area, g) {
                    return true;
                }
                let m = area.relate(g);
                m.is_intersects() && !m.is_touches()
            }
            Shape::Other(g) => area.intersects(g),
        }
    }
}

/// What the R-tree holds: a shape's envelope, its handle, and its position in
/// [`SpatialIndex`]'s shape list (48 bytes, so bulk loading moves little memory; the geometry
/// stays where it was built). Its distance is the envelope's: exact for points, a lower bound
/// for anything else, so queries refine non-point candidates with the exact distance. A point
/// is answered from its entry alone: the shape list, in input order, is read only for exact
/// tests, since each read there is a cache miss.
#[derive(Debug, Clone, Copy)]
struct Entry {
    envelope: AABB<[f64; 2]>,
    shape: u32,
    /// The handle, in two fields (a `FeatureHandle` would take 16 bytes with its padding).
    index: u32,
    kind: FeatureKind,
    point: bool,
}

impl Entry {
    fn handle(&self) -> FeatureHandle {
        FeatureHandle {
            kind: self.kind,
            index: self.index as usize,
        }
    }
}

impl RTreeObject for Entry {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        self.envelope
    }
}

impl PointDistance for Entry {
    fn distance_2(&self, p: &[f64; 2]) -> f64 {
        self.envelope.distance_2(p)
    }
}

/// Node capacity of the tree: wider than rstar's default of 6 (a million features in 5 levels
/// instead of 8). With `benches/rtree_compare.py` queries measured the same at 6, 16 and 32;
/// 16 is kept for the shallower tree.
#[derive(Debug, Clone, Copy)]
struct Params;

impl RTreeParams for Params {
    const MIN_SIZE: usize = 8;
    const MAX_SIZE: usize = 16;
    const REINSERTION_COUNT: usize = 4;
    type DefaultInsertionStrategy = rstar::RStarInsertionStrategy;
}

/// How far an envelope's distance may pass the k-th exact distance before a nearest-neighbour
/// search stops. Mathematically the envelope's distance is a lower bound, but a line ending on
/// its envelope's corner (two road links meeting at a node) can have its exact distance
/// computed a unit in the last place below the envelope's, and it must still be measured for
/// the tie with its neighbour to be ordered by handle.
const BOUND_SLACK: f64 = 1.0 + 1e-9;

/// A squared distance ordered for a max-heap.
#[derive(PartialEq)]
struct D2(f64);

impl Eq for D2 {}

impl PartialOrd for D2 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for D2 {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// A query region prepared once per query: its geometry, its bounding box, and, where one can
/// be found and proven, an axis-aligned rectangle inside it. Candidates inside the inner
/// rectangle are in the region without the exact test; only those in the band between the
/// rectangles (a few per cent for a small projected lon/lat box) pay for it.
#[derive(Debug, Clone)]
pub struct Region<'a> {
    geometry: Cow<'a, Geometry<f64>>,
    outer: Option<AABB<[f64; 2]>>,
    inner: Option<AABB<[f64; 2]>>,
}

impl<'a> Region<'a> {
    /// Prepares a projected region, borrowing it.
    pub fn new(geometry: &'a Geometry<f64>) -> Self {
        Self::prepare(Cow::Borrowed(geometry))
    }

    /// Prepares a projected region, owning it.
    pub fn owned(geometry: Geometry<f64>) -> Region<'static> {
        Region::prepare(Cow::Owned(geometry))
    }

    fn prepare(geometry: Cow<'a, Geometry<f64>>) -> Self {
        use geo::BoundingRect;
        let outer = geometry
            .bounding_rect()
            .map(|r| AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]));
        let inner = outer.and_then(|o| inner_rectangle(&geometry, &o));
        Self {
            geometry,
            outer,
            inner,
        }
    }

    /// The region's projected geometry.
    pub fn geometry(&self) -> &Geometry<f64> {
        self.geometry.as_ref()
    }
}

/// Whether the segment a–b meets the closed rectangle lo–hi (Liang and Barsky, 1984: clip
/// the segment's parameter range against the two slabs). Rounding can err by a few units in
/// the last place, so callers pass a rectangle with a margin inside what they proved.
fn segment_meets_rect(a: Coord<f64>, b: Coord<f64>, lo: [f64; 2], hi: [f64; 2]) -> bool {
    let (mut t0, mut t1) = (0.0_f64, 1.0_f64);
    for (p, d, l, h) in [
        (a.x, b.x - a.x, lo[0], hi[0]),
        (a.y, b.y - a.y, lo[1], hi[1]),
    ] {
        if d == 0.0 {
            if p < l || p > h {
                return false;
            }
        } else {
            let (ta, tb) = ((l - p) / d, (h - p) / d);
            t0 = t0.max(ta.min(tb));
            t1 = t1.min(ta.max(tb));
            if t0 > t1 {
                return false;
            }
        }
    }
    true
}

/// A rectangle inside a polygonal region, or `None`. The candidate is bounded by the vertices
/// nearest the centre of the bounding box on each side (for a near-rectangle, its four edges);
/// it is kept only if it is proven inside: no edge of any ring meets it (so the boundary
/// misses the rectangle, which therefore lies wholly inside or wholly outside) and its centre
/// is in the interior. The closed rectangle then lies in the region's open interior.
fn inner_rectangle(g: &Geometry<f64>, outer: &AABB<[f64; 2]>) -> Option<AABB<[f64; 2]>> {
    if !matches!(g, Geometry::Polygon(_) | Geometry::MultiPolygon(_)) {
        return None;
    }
    let c = outer.center();
    let (mut x0, mut x1) = (outer.lower()[0], outer.upper()[0]);
    let (mut y0, mut y1) = (outer.lower()[1], outer.upper()[1]);
    let (w, h) = (x1 - x0, y1 - y0);
    for v in g.coords_iter() {
        // a vertex left of the centre bounds the rectangle on the left, and so on: a vertex
        // nearer the vertical centre line (in units of the box's size) than the horizontal
        // one bounds it vertically; one near a diagonal (a corner) bounds it both ways
        let (a, b) = ((v.x - c[0]) / w, (v.y - c[1]) / h);
        if a.abs() >= 0.95 * b.abs() {
            if a < 0.0 {
                x0 = x0.max(v.x);
            } else {
                x1 = x1.min(v.x);
            }
        }
        if b.abs() >= 0.95 * a.abs() {
            if b < 0.0 {
                y0 = y0.max(v.y);
            } else {
                y1 = y1.min(v.y);
            }
        }
    }
    // the extreme vertices lie on the boundary (a box's corners are shared by two sides):
    // step a millionth of the region's size inside them
    let margin = 1e-6 * w.max(h);
    let (x0, x1, y0, y1) = (x0 + margin, x1 - margin, y0 + margin, y1 - margin);
    if !(x1 - x0 > 2.0 * margin && y1 - y0 > 2.0 * margin) {
        return None;
    }
    let rect = Rect::new(Coord { x: x0, y: y0 }, Coord { x: x1, y: y1 });
    let crosses = match g {
        Geometry::Polygon(p) => p.lines_iter().any(|l| l.intersects(&rect)),
        Geometry::MultiPolygon(m) => m.lines_iter().any(|l| l.intersects(&rect)),
        _ => true,
    };
    let centre = Coord {
        x: 0.5 * (x0 + x1),
        y: 0.5 * (y0 + y1),
    };
    // proven; hand out the rectangle a margin further in, so that the rounding of the quick
    // segment tests cannot reach past what was proven
    (!crosses && g.coordinate_position(&centre) == CoordPos::Inside)
        .then(|| AABB::from_corners([x0 + margin, y0 + margin], [x1 - margin, y1 - margin]))
}

/// A feature found by a query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// The feature.
    pub handle: FeatureHandle,
    /// Distance in metres from the query (point, or road for corridors); `None` for region
    /// queries (bbox, district), where every hit is inside.
    pub distance_m: Option<f64>,
}

/// Where a point snaps onto the road network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snap {
    /// The road link.
    pub link: FeatureHandle,
    /// Distance along the link from its first vertex to the snapped point, metres.
    pub offset_m: f64,
    /// Length of the link, metres.
    pub link_length_m: f64,
    /// Distance from the query point to the snapped point, metres.
    pub distance_m: f64,
    /// The snapped point, lon/lat degrees.
    pub lon: f64,
    /// The snapped point, lon/lat degrees.
    pub lat: f64,
}

/// The R-tree over a province's features, in the province's metric CRS.
#[derive(Debug, Clone)]
pub struct SpatialIndex {
    tree: RTree<Entry, Params>,
    shapes: Vec<IndexedShape>,
    projection: Utm,
}

/// A lon/lat box as a projected polygon. Its edges are densified (16 points each) before
/// projection, so the region is the box as drawn on a lon/lat map to within centimetres.
pub fn lonlat_box_region(projection: &Utm, b: &LonLatBounds) -> Geometry<f64> {
    const STEPS: usize = 16;
    let corners = [
        (b.min_lon, b.min_lat),
        (b.max_lon, b.min_lat),
        (b.max_lon, b.max_lat),
        (b.min_lon, b.max_lat),
    ];
    let mut ring = Vec::with_capacity(4 * STEPS + 1);
    for i in 0..4 {
        let (a, c) = (corners[i], corners[(i + 1) % 4]);
        for s in 0..STEPS {
            let t = s as f64 / STEPS as f64;
            let (x, y) = projection.forward(a.0 + (c.0 - a.0) * t, a.1 + (c.1 - a.1) * t);
            ring.push(Coord { x, y });
        }
    }
    ring.push(ring[0]);
    Polygon::new(LineString::new(ring), vec![]).into()
}

/// Projects a WGS84 geometry into `projection`.
pub fn project(projection: &Utm, g: &Geometry<f64>) -> Geometry<f64> {
    g.map_coords(|c| {
        let (x, y) = projection.forward(c.x, c.y);
        Coord { x, y }
    })
}

impl SpatialIndex {
    /// Projects and bulk-loads every indexed feature of the province.
    pub fn build(province: &Province, projection: Utm) -> Self {
        let shapes = province
            .handles()
            .filter_map(|h| IndexedShape::new(h, project(&projection, &province.geometry(h))))
            .collect();
        Self::bulk_load(projection, shapes)
    }

    /// Bulk-loads shapes that are already projected into `projection`. The tree is built from
    /// 48-byte entries (rstar's top-down partitioning moves only those); the shapes stay in one
    /// list, unmoved, in input order.
    pub fn bulk_load(projection: Utm, shapes: Vec<IndexedShape>) -> Self {
        let entries = shapes
            .iter()
            .enumerate()
            .map(|(shape, s)| Entry {
                envelope: s.envelope,
                shape: u32::try_from(shape).expect("an index holds under 2^32 features"),
                index: u32::try_from(s.handle.index).expect("layers hold under 2^32 features"),
                kind: s.handle.kind,
                point: matches!(s.shape, Shape::Point(_)),
            })
            .collect();
        Self {
            tree: RTree::bulk_load_with_params(entries),
            shapes,
            projection,
        }
    }

    /// The shape an entry stands for.
    fn shape(&self, e: &Entry) -> &IndexedShape {
        &self.shapes[e.shape as usize]
    }

    /// Number of indexed features.
    pub fn len(&self) -> usize {
        self.tree.size()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.tree.size() == 0
    }

    /// The metric projection the index works in.
    pub fn projection(&self) -> &Utm {
        &self.projection
    }

    fn to_xy(&self, lon: f64, lat: f64) -> [f64; 2] {
        let (x, y) = self.projection.forward(lon, lat);
        [x, y]
    }

    /// The `k` features nearest to a lon/lat point, optionally of one kind, nearest first.
    ///
    /// Features at exactly the same distance as the k-th are ordered by handle before the list
    /// is cut, so the answer does not depend on the tree's internal order.
    pub fn nearest(&self, lon: f64, lat: f64, k: usize, kind: Option<FeatureKind>) -> Vec<Hit> {
        self.nearest_xy(self.to_xy(lon, lat), k, kind)
    }

    /// The `k` features nearest to a projected point (metres in the index's CRS), optionally of
    /// one kind, nearest first; see [`SpatialIndex::nearest`].
    ///
    /// The tree yields entries by envelope distance, a lower bound of the exact distance (equal
    /// for points); the search ends when that bound exceeds the k-th smallest exact distance
    /// found (by more than rounding, [`BOUND_SLACK`]), so every feature that could tie with
    /// the k-th has been measured.
    pub fn nearest_xy(&self, p: [f64; 2], k: usize, kind: Option<FeatureKind>) -> Vec<Hit> {
        if k == 0 {
            return Vec::new();
        }
        let mut found: Vec<(f64, FeatureHandle)> = Vec::with_capacity(k.min(64));
        // the k smallest exact squared distances so far; its top is the k-th
        let mut best: BinaryHeap<D2> = BinaryHeap::with_capacity(k.min(self.shapes.len()) + 1);
        for (e, bound) in self.tree.nearest_neighbor_iter_with_distance_2(&p) {
            if best.len() >= k && best.peek().is_some_and(|t| bound > t.0 * BOUND_SLACK) {
                break;
            }
            if kind.is_some_and(|k| e.kind != k) {
                continue;
            }
            let d2 = if e.point {
                bound
            } else {
                self.shape(e).distance_2(&p)
            };
            if best.len() < k {
                best.push(D2(d2));
            } else if best.peek().is_some_and(|t| d2 < t.0) {
                best.pop();
                best.push(D2(d2));
            }
            found.push((d2, e.handle()));
        }
        finish(found, k)
    }

    /// Every feature (optionally of one kind) within `radius_m` of a lon/lat point, nearest
    /// first. A line or area counts when any part of it is within the radius.
    pub fn within_radius(
        &self,
        lon: f64,
        lat: f64,
        radius_m: f64,
        kind: Option<FeatureKind>,
    ) -> Vec<Hit> {
        let p = self.to_xy(lon, lat);
        let r2 = radius_m * radius_m;
        let found = self
            .tree
            .locate_within_distance(p, r2)
            .filter(|e| kind.is_none_or(|k| e.kind == k))
            .filter_map(|e| {
                let d2 = if e.point {
                    e.envelope.distance_2(&p)
                } else {
                    self.shape(e).distance_2(&p)
                };
                (d2 <= r2).then_some((d2, e.handle()))
            })
            .collect();
        finish(found, usize::MAX)
    }

    /// Every feature (optionally of one kind) in a lon/lat box (see [`lonlat_box_region`]).
    pub fn within_bbox(&self, b: &LonLatBounds, kind: Option<FeatureKind>) -> Vec<Hit> {
        self.within_region(&lonlat_box_region(&self.projection, b), kind, None)
    }

    /// Every feature (optionally of one kind) in a projected region, except `exclude`.
    /// Points on the boundary count; areas count when their interiors overlap the region.
    pub fn within_region(
        &self,
        region: &Geometry<f64>,
        kind: Option<FeatureKind>,
        exclude: Option<FeatureHandle>,
    ) -> Vec<Hit> {
        self.within_prepared(&Region::new(region), kind, exclude)
    }

    /// [`SpatialIndex::within_region`] for a region prepared once (for repeated queries).
    pub fn within_prepared(
        &self,
        region: &Region,
        kind: Option<FeatureKind>,
        exclude: Option<FeatureHandle>,
    ) -> Vec<Hit> {
        let Some(outer) = region.outer else {
            return Vec::new();
        };
        let mut hits: Vec<Hit> = self
            .tree
            .locate_in_envelope_intersecting(&outer)
            .filter(|e| {
                if kind.is_some_and(|k| e.kind != k) || Some(e.handle()) == exclude {
                    return false;
                }
                let settled = match region.inner {
                    Some(i) if i.contains_envelope(&e.envelope) => true,
                    // a point outside the inner rectangle needs the exact test; a line or an
                    // area may be settled by the rectangle
                    Some(i) if !e.point => self.shape(e).surely_within(&i),
                    _ => false,
                };
                settled || self.shape(e).is_within_region(&region.geometry)
            })
            .map(|e| Hit {
                handle: e.handle(),
                distance_m: None,
            })
            .collect();
        hits.sort_by_key(|h| h.handle);
        hits
    }

    /// Every feature (optionally of one kind) within `half_width_m` of any of the projected
    /// `lines` (a road's links), nearest first; the features in `exclude` are left out.
    pub fn within_corridor(
        &self,
        lines: &[Geometry<f64>],
        half_width_m: f64,
        kind: Option<FeatureKind>,
        exclude: &[FeatureHandle],
    ) -> Vec<Hit> {
        use geo::BoundingRect;
        use std::collections::HashMap;
        let mut best: HashMap<FeatureHandle, f64> = HashMap::new();
        for line in lines {
            let Some(r) = line.bounding_rect() else {
                continue;
            };
            let env = AABB::from_corners(
                [r.min().x - half_width_m, r.min().y - half_width_m],
                [r.max().x + half_width_m, r.max().y + half_width_m],
            );
            for e in self.tree.locate_in_envelope_intersecting(&env) {
                let s = self.shape(e);
                if kind.is_some_and(|k| s.handle.kind != k) || exclude.contains(&s.handle) {
                    continue;
                }
                let d = s.distance_to_geometry(line);
                if d <= half_width_m {
                    let e = best.entry(s.handle).or_insert(d);
                    *e = e.min(d);
                }
            }
        }
        finish(
            best.into_iter().map(|(h, d)| (d * d, h)).collect(),
            usize::MAX,
        )
    }

    /// Snaps a lon/lat point onto the nearest road link.
    pub fn snap(&self, lon: f64, lat: f64) -> Option<Snap> {
        let p = self.to_xy(lon, lat);
        // the nearest road link; links meeting at a node tie there, and the smallest handle
        // wins. Entries come by envelope distance, a lower bound: stop once it passes the best.
        let mut best: Option<(f64, &IndexedShape)> = None;
        for (e, bound) in self.tree.nearest_neighbor_iter_with_distance_2(&p) {
            if best.is_some_and(|(d2, _)| bound > d2 * BOUND_SLACK) {
                break;
            }
            if e.kind != FeatureKind::Road {
                continue;
            }
            let s = self.shape(e);
            let d2 = s.distance_2(&p);
            let better = match best {
                None => true,
                Some((b, bs)) => d2 < b || (d2 == b && s.handle < bs.handle),
            };
            if better {
                best = Some((d2, s));
            }
        }
        let (_, shape) = best?;
        let Geometry::LineString(line) = shape.geometry() else {
            return None;
        };
        let q = Point::new(p[0], p[1]);
        let snapped = match line.closest_point(&q) {
            Closest::Intersection(c) | Closest::SinglePoint(c) => c,
            Closest::Indeterminate => return None,
        };
        // offset: length of the vertices before the segment holding the snapped point, plus
        // the part of that segment up to it
        let mut offset = 0.0;
        let mut best = (f64::INFINITY, 0.0);
        for seg in line.lines() {
            let d = Euclidean.distance(&seg, &snapped);
            if d < best.0 {
                best = (d, offset + Euclidean.distance(seg.start_point(), snapped));
            }
            offset += Euclidean.length(&seg);
        }
        let (lon_s, lat_s) = self.projection.inverse(snapped.x(), snapped.y());
        Some(Snap {
            link: shape.handle,
            offset_m: best.1,
            link_length_m: Euclidean.length(&line),
            distance_m: Euclidean.distance(&q, &snapped),
            lon: lon_s,
            lat: lat_s,
        })
    }
}

/// Sorts (squared distance, handle) pairs, keeps `k`, and turns them into hits.
fn finish(mut found: Vec<(f64, FeatureHandle)>, k: usize) -> Vec<Hit> {
    found.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    found.truncate(k);
    found
        .into_iter()
        .map(|(d2, handle)| Hit {
            handle,
            distance_m: Some(d2.sqrt()),
        })
        .collect()
}

/// Errors from queries that name a feature.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum QueryError {
    /// No district has this id.
    #[error(
        "no district with id {0:?} (`twin query within --kind district --bbox ...` lists them)"
    )]
    UnknownDistrict(String),
    /// No road link has this id or route reference.
    #[error("no road link with id or ref {0:?}")]
    UnknownRoad(String),
}

impl SpatialIndex {
    /// Every feature (optionally of one kind) in the district with this id (itself excluded).
    pub fn within_district(
        &self,
        province: &Province,
        district_id: &str,
        kind: Option<FeatureKind>,
    ) -> Result<Vec<Hit>, QueryError> {
        let h = province
            .find(district_id)
            .filter(|h| h.kind == FeatureKind::District)
            .ok_or_else(|| QueryError::UnknownDistrict(district_id.to_string()))?;
        let region = project(&self.projection, &province.geometry(h));
        Ok(self.within_region(&region, kind, Some(h)))
    }

    /// Every feature (optionally of one kind) within a corridor of total width `width_m`
    /// around a road, given as a link id or a route reference (`QL18`: all its links).
    /// The road's own links are left out.
    pub fn road_corridor(
        &self,
        province: &Province,
        road: &str,
        width_m: f64,
        kind: Option<FeatureKind>,
    ) -> Result<Vec<Hit>, QueryError> {
        let links: Vec<FeatureHandle> = (0..province.road_links.len())
            .filter(|&i| {
                let l = &province.road_links[i];
                l.meta.id == road || l.road_ref.as_deref() == Some(road)
            })
            .map(|index| FeatureHandle {
                kind: FeatureKind::Road,
                index,
            })
            .collect();
        if links.is_empty() {
            return Err(QueryError::UnknownRoad(road.to_string()));
        }
        let lines: Vec<Geometry<f64>> = links
            .iter()
            .map(|h| project(&self.projection, &province.geometry(*h)))
            .collect();
        Ok(self.within_corridor(&lines, width_m / 2.0, kind, &links))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(x0: f64, y0: f64, s: f64) -> Geometry<f64> {
        Polygon::new(
            LineString::from(vec![
                (x0, y0),
                (x0 + s, y0),
                (x0 + s, y0 + s),
                (x0, y0 + s),
                (x0, y0),
            ]),
            vec![],
        )
        .into()
    }

    #[test]
    fn a_projected_lonlat_box_gets_an_inner_rectangle_that_is_inside_it() {
        let utm = Utm::zone_48n();
        for (lon, lat, half) in [
            (107.05, 21.0, 0.0048),
            (106.45, 20.75, 0.05),
            (108.0, 21.6, 0.3),
        ] {
            let b = LonLatBounds {
                min_lon: lon - half,
                max_lon: lon + half,
                min_lat: lat - half,
                max_lat: lat + half,
            };
            let region = Region::owned(lonlat_box_region(&utm, &b));
            let (outer, inner) = (
                region.outer.expect("a box has a bounding box"),
                region.inner.expect("an inner rectangle"),
            );
            // nearly the whole box: a box turned by the grid convergence γ = (λ − 105°) sin φ
            // (zone 48's central meridian) leaves about (1 − tan γ)² / (1 + tan γ)² of its
            // bounding box inside — 0.95 at 107°E, 0.93 at 108°E
            let t = ((lon - 105.0) * lat.to_radians().sin()).to_radians().tan();
            let expected = ((1.0 - t) / (1.0 + t)).powi(2);
            assert!(
                inner.area() > 0.99 * expected * outer.area(),
                "{} of {}, expected {expected}",
                inner.area(),
                outer.area()
            );
            // every point of a grid over the inner rectangle is inside the polygon
            let (lo, hi) = (inner.lower(), inner.upper());
            for i in 0..=20 {
                for j in 0..=20 {
                    let c = Coord {
                        x: lo[0] + (hi[0] - lo[0]) * i as f64 / 20.0,
                        y: lo[1] + (hi[1] - lo[1]) * j as f64 / 20.0,
                    };
                    assert_eq!(region.geometry.coordinate_position(&c), CoordPos::Inside);
                }
            }
        }
    }

    #[test]
    fn no_inner_rectangle_is_claimed_where_none_was_proven() {
        // an L shape: the vertex-bounded candidate rectangle crosses the notch
        let l: Geometry<f64> = Polygon::new(
            LineString::from(vec![
                (0., 0.),
                (10., 0.),
                (10., 4.),
                (4., 4.),
                (4., 10.),
                (0., 10.),
                (0., 0.),
            ]),
            vec![],
        )
        .into();
        let region = Region::new(&l);
        if let Some(inner) = region.inner {
            for c in [
                inner.lower(),
                inner.upper(),
                [inner.lower()[0], inner.upper()[1]],
                [inner.upper()[0], inner.lower()[1]],
            ] {
                assert_eq!(
                    l.coordinate_position(&Coord { x: c[0], y: c[1] }),
                    CoordPos::Inside
                );
            }
        }
        // a square with a hole in the middle: the rectangle would hold the hole
        let holed: Geometry<f64> = Polygon::new(
            LineString::from(vec![(0., 0.), (10., 0.), (10., 10.), (0., 10.), (0., 0.)]),
            vec![LineString::from(vec![
                (4., 4.),
                (6., 4.),
                (6., 6.),
                (4., 6.),
                (4., 4.),
            ])],
        )
        .into();
        assert!(Region::new(&holed).inner.is_none());
        // a line is not an area
        assert!(
            Region::owned(LineString::from(vec![(0., 0.), (5., 5.)]).into())
                .inner
                .is_none()
        );
        assert!(Region::owned(square(0.0, 0.0, 10.0)).inner.is_some());
    }
}
