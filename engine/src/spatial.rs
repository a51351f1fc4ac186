//! The spatial index: one bulk-loaded `rstar` R-tree over every indexed feature, in metres.
//!
//! Geometries are projected once into the dataset's metric CRS (UTM 48N for Quảng Ninh) and
//! every distance this module reports is a planar distance in that CRS, in metres. Within the
//! province this differs from the ellipsoidal distance by the UTM scale factor, 0.9996–1.0009.
//!
//! Ordering invariant: results are sorted by distance, ties (and region queries, which have no
//! distance) by [`FeatureHandle`] — kind, then position in the layer file — so the same dataset
//! and query always give the same list.

use geo::coordinate_position::{CoordPos, CoordinatePosition};
use geo::{
    Closest, ClosestPoint, Coord, CoordsIter, Distance, Euclidean, Geometry, Intersects, Length,
    LineString, MapCoords, Point, Polygon, Relate,
};
use rstar::{AABB, PointDistance, RTree, RTreeObject};

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

    /// Planar distance in metres from a projected point (0 inside an area).
    pub fn distance_to(&self, p: [f64; 2]) -> f64 {
        match &self.shape {
            Shape::Point(c) => ((c[0] - p[0]).powi(2) + (c[1] - p[1]).powi(2)).sqrt(),
            Shape::Other(g) => Euclidean.distance(g, &Point::new(p[0], p[1])),
        }
    }

    /// Planar distance in metres to a projected geometry (0 where they meet).
    fn distance_to_geometry(&self, g: &Geometry<f64>) -> f64 {
        match &self.shape {
            Shape::Point(c) => Euclidean.distance(g, &Point::new(c[0], c[1])),
            Shape::Other(s) => Euclidean.distance(g, s),
        }
    }

    fn geometry(&self) -> Geometry<f64> {
        match &self.shape {
            Shape::Point(c) => Point::new(c[0], c[1]).into(),
            Shape::Other(g) => g.clone(),
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

impl RTreeObject for IndexedShape {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        self.envelope
    }
}

impl PointDistance for IndexedShape {
    fn distance_2(&self, p: &[f64; 2]) -> f64 {
        match &self.shape {
            Shape::Point(c) => (c[0] - p[0]).powi(2) + (c[1] - p[1]).powi(2),
            Shape::Other(_) => self.distance_to(*p).powi(2),
        }
    }
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
    tree: RTree<IndexedShape>,
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

    /// Bulk-loads shapes that are already projected into `projection`.
    pub fn bulk_load(projection: Utm, shapes: Vec<IndexedShape>) -> Self {
        Self {
            tree: RTree::bulk_load(shapes),
            projection,
        }
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
        if k == 0 {
            return Vec::new();
        }
        let p = self.to_xy(lon, lat);
        // never more than the index holds, whatever `k` asks for
        let mut found: Vec<(f64, FeatureHandle)> = Vec::with_capacity(k.min(self.tree.size()));
        for (s, d2) in self.tree.nearest_neighbor_iter_with_distance_2(&p) {
            if kind.is_some_and(|k| s.handle.kind != k) {
                continue;
            }
            if found.len() >= k && found.last().is_some_and(|l| d2 > l.0) {
                break;
            }
            found.push((d2, s.handle));
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
        let found = self
            .tree
            .locate_within_distance(p, radius_m * radius_m)
            .filter(|s| kind.is_none_or(|k| s.handle.kind == k))
            .map(|s| (s.distance_2(&p), s.handle))
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
        use geo::BoundingRect;
        let Some(r) = region.bounding_rect() else {
            return Vec::new();
        };
        let env = AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]);
        let mut hits: Vec<Hit> = self
            .tree
            .locate_in_envelope_intersecting(&env)
            .filter(|s| kind.is_none_or(|k| s.handle.kind == k))
            .filter(|s| Some(s.handle) != exclude)
            .filter(|s| s.is_within_region(region))
            .map(|s| Hit {
                handle: s.handle,
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
            for s in self.tree.locate_in_envelope_intersecting(&env) {
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
        // the nearest road link; links meeting at a node tie there, and the smallest handle wins
        let mut roads = self
            .tree
            .nearest_neighbor_iter_with_distance_2(&p)
            .filter(|(s, _)| s.handle.kind == FeatureKind::Road);
        let (mut shape, d2_min) = roads.next()?;
        for (s, d2) in roads {
            if d2 > d2_min {
                break;
            }
            if s.handle < shape.handle {
                shape = s;
            }
        }
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
