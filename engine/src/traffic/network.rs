//! The directed road graph the traffic model runs on, built from road links (the dataset's layer,
//! a GeoJSON file, or an OSM import): nodes where links meet, one directed link per travel
//! direction, lengths in metres on the projected CRS, and the triangular fundamental diagram of
//! each link. Topology problems are collected and reported, never silently fixed.

use std::collections::HashMap;
use std::fmt;

use crate::geodesy::Utm;
use crate::model::{RoadClass, RoadLink};

/// Endpoints closer than this (m) are the same node when links carry no node ids.
pub const SNAP_M: f64 = 0.5;
/// A dangling end closer than this (m) to another node is reported as a probable missed join.
pub const NEAR_MISS_M: f64 = 25.0;
/// Links shorter than this (m) are zero-length.
pub const MIN_LENGTH_M: f64 = 0.5;
/// At most this many links enter (or leave) one node; the node kernel keeps per-movement
/// arrays of this size.
pub const MAX_DEGREE: usize = 16;
/// Two endpoints given the same node id must lie within this distance (m).
pub const NODE_ID_TOLERANCE_M: f64 = 50.0;

/// Default jam density, vehicles (PCE) per km per lane (domain reference §5: about 150).
pub const DEFAULT_JAM_VEH_KM_LANE: f64 = 150.0;

/// How serious a topology problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The network is still usable; the problem is reported in the run summary.
    Warning,
    /// The network cannot be simulated until it is fixed.
    Error,
}

/// One topology problem: which link or node, and what is wrong.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TopologyProblem {
    /// Warning or error.
    pub severity: Severity,
    /// The road link (its id in the source layer), when the problem is on one.
    pub link: Option<String>,
    /// The node id, when the problem is at a node.
    pub node: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for TopologyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{sev}")?;
        if let Some(l) = &self.link {
            write!(f, ": link {l:?}")?;
        }
        if let Some(n) = &self.node {
            write!(
                f,
                "{} node {n:?}",
                if self.link.is_some() { "" } else { ":" }
            )?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A node of the network.
#[derive(Debug, Clone, PartialEq)]
pub struct NetNode {
    /// Id: the links' `from_node`/`to_node`, or `n<index>` when the links carry none.
    pub id: String,
    /// Projected position, m.
    pub xy: (f64, f64),
    /// Longitude, latitude, degrees.
    pub lonlat: (f64, f64),
}

/// One travel direction of a road link.
#[derive(Debug, Clone, PartialEq)]
pub struct NetLink {
    /// `<road id>` for the digitised direction, `<road id>~rev` for the opposite one.
    pub id: String,
    /// Id of the road link in its source layer.
    pub road_id: String,
    /// Route reference of the road (`QL18`), if any.
    pub road_ref: Option<String>,
    /// Functional class.
    pub class: RoadClass,
    /// Whether this is the direction opposite to the digitised one.
    pub reverse: bool,
    /// Upstream node index.
    pub from: usize,
    /// Downstream node index.
    pub to: usize,
    /// Length along the projected polyline, m.
    pub length_m: f64,
    /// Lanes in this direction.
    pub lanes: u32,
    /// Free-flow speed, m/s.
    pub free_flow_m_s: f64,
    /// Capacity of all lanes, vehicles (PCE) per hour.
    pub capacity_veh_h: f64,
    /// Jam density of all lanes, vehicles (PCE) per km.
    pub jam_veh_km: f64,
    /// Projected polyline in travel order, m.
    pub xy: Vec<(f64, f64)>,
}

impl NetLink {
    /// Backward (congestion) wave speed of the triangular diagram, m/s:
    /// w = Q / (k_j − Q/v_f).
    pub fn wave_speed_m_s(&self) -> f64 {
        let q = self.capacity_veh_h / 3600.0;
        let kj = self.jam_veh_km / 1000.0;
        q / (kj - q / self.free_flow_m_s)
    }

    /// Critical density Q/v_f, vehicles per km.
    pub fn critical_veh_km(&self) -> f64 {
        self.capacity_veh_h / (self.free_flow_m_s * 3.6)
    }
}

/// The directed road graph.
#[derive(Debug, Clone)]
pub struct RoadNetwork {
    /// Nodes.
    pub nodes: Vec<NetNode>,
    /// Directed links.
    pub links: Vec<NetLink>,
    /// Problems found while building it (warnings only when [`RoadNetwork::build`] succeeded).
    pub problems: Vec<TopologyProblem>,
    /// Incoming link indices per node, in link order.
    pub incoming: Vec<Vec<usize>>,
    /// Outgoing link indices per node, in link order.
    pub outgoing: Vec<Vec<usize>>,
    /// The projection used for lengths.
    pub projection: Utm,
    node_ids: HashMap<String, usize>,
}

/// The network could not be built: every error found, and the warnings beside them.
#[derive(Debug, Clone)]
pub struct TopologyErrors {
    /// Every problem found, errors and warnings.
    pub problems: Vec<TopologyProblem>,
}

impl fmt::Display for TopologyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors();
        write!(
            f,
            "{n} topology error{} in the road network; first: {}",
            if n == 1 { "" } else { "s" },
            self.first()
        )
    }
}

impl std::error::Error for TopologyErrors {}

impl TopologyErrors {
    fn errors(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count()
    }
    fn first(&self) -> String {
        self.problems
            .iter()
            .find(|p| p.severity == Severity::Error)
            .map(ToString::to_string)
            .unwrap_or_default()
    }
}

fn node_property(link: &RoadLink, key: &str) -> Option<String> {
    link.meta
        .extra
        .get(key)
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

fn dist(a: (f64, f64), b: (f64, f64)) -> f64 {
    (a.0 - b.0).hypot(a.1 - b.1)
}

impl RoadNetwork {
    /// Builds the directed graph. Links name their end nodes with `from_node`/`to_node`
    /// properties when they have them (the bundled dataset does); otherwise endpoints within
    /// [`SNAP_M`] are joined. Errors (zero-length links, no lanes, a node id used at two places,
    /// a node with more than [`MAX_DEGREE`] links in or out) fail the build and are all listed;
    /// warnings (dangling ends close to another node, disconnected parts) are kept in
    /// [`RoadNetwork::problems`].
    pub fn build(
        roads: &[RoadLink],
        projection: Utm,
        jam_veh_km_lane: f64,
    ) -> Result<Self, TopologyErrors> {
        let mut problems = Vec::new();
        let mut nodes: Vec<NetNode> = Vec::new();
        let mut node_ids: HashMap<String, usize> = HashMap::new();
        let mut by_cell: HashMap<(i64, i64), Vec<usize>> = HashMap::new();
        let mut links = Vec::new();

        let mut node_for = |id: Option<String>,
                            lonlat: (f64, f64),
                            xy: (f64, f64),
                            road: &str,
                            problems: &mut Vec<TopologyProblem>|
         -> usize {
            if let Some(id) = id {
                if let Some(&n) = node_ids.get(&id) {
                    let d = dist(nodes[n].xy, xy);
                    if d > NODE_ID_TOLERANCE_M {
                        problems.push(TopologyProblem {
                            severity: Severity::Error,
                            link: Some(road.to_string()),
                            node: Some(id),
                            message: format!(
                                "the link ends {d:.0} m from where other links put this node \
                                 (tolerance {NODE_ID_TOLERANCE_M} m)"
                            ),
                        });
                    }
                    return n;
                }
                let n = nodes.len();
                nodes.push(NetNode {
                    id: id.clone(),
                    xy,
                    lonlat,
                });
                node_ids.insert(id, n);
                return n;
            }
            let key = (
                (xy.0 / SNAP_M).floor() as i64,
                (xy.1 / SNAP_M).floor() as i64,
            );
            for dx in -1..=1 {
                for dy in -1..=1 {
                    if let Some(list) = by_cell.get(&(key.0 + dx, key.1 + dy)) {
                        for &n in list {
                            if dist(nodes[n].xy, xy) <= SNAP_M {
                                return n;
                            }
                        }
                    }
                }
            }
            let n = nodes.len();
            let id = format!("n{n}");
            nodes.push(NetNode {
                id: id.clone(),
                xy,
                lonlat,
            });
            node_ids.insert(id, n);
            by_cell.entry(key).or_default().push(n);
            n
        };

        for road in roads {
            let rid = road.meta.id.clone();
            let coords: Vec<(f64, f64)> = road.geometry.0.iter().map(|c| (c.x, c.y)).collect();
            if coords.len() < 2 {
                problems.push(TopologyProblem {
                    severity: Severity::Error,
                    link: Some(rid),
                    node: None,
                    message: "fewer than two vertices".into(),
                });
                continue;
            }
            let xy: Vec<(f64, f64)> = coords
                .iter()
                .map(|&(lon, lat)| projection.forward(lon, lat))
                .collect();
            let length: f64 = xy.windows(2).map(|w| dist(w[0], w[1])).sum();
            let from = node_for(
                node_property(road, "from_node"),
                coords[0],
                xy[0],
                &rid,
                &mut problems,
            );
            let to = node_for(
                node_property(road, "to_node"),
                *coords.last().unwrap_or(&coords[0]),
                *xy.last().unwrap_or(&xy[0]),
                &rid,
                &mut problems,
            );
            let mut bad = false;
            if length < MIN_LENGTH_M || from == to {
                problems.push(TopologyProblem {
                    severity: Severity::Error,
                    link: Some(rid.clone()),
                    node: None,
                    message: if from == to {
                        format!("starts and ends at the same node (length {length:.1} m)")
                    } else {
                        format!("zero length ({length:.2} m < {MIN_LENGTH_M} m)")
                    },
                });
                bad = true;
            }
            if road.lanes == 0 {
                problems.push(TopologyProblem {
                    severity: Severity::Error,
                    link: Some(rid.clone()),
                    node: None,
                    message: "no lanes".into(),
                });
                bad = true;
            }
            if bad {
                continue;
            }
            let lanes = road.lanes;
            let base = NetLink {
                id: rid.clone(),
                road_id: rid.clone(),
                road_ref: road.road_ref.clone(),
                class: road.class,
                reverse: false,
                from,
                to,
                length_m: length,
                lanes,
                free_flow_m_s: road.free_flow_speed_kmh / 3.6,
                capacity_veh_h: road.capacity_veh_h_lane * f64::from(lanes),
                jam_veh_km: jam_veh_km_lane * f64::from(lanes),
                xy: xy.clone(),
            };
            if !road.oneway {
                let mut rev = base.clone();
                rev.id = format!("{rid}~rev");
                rev.reverse = true;
                rev.from = to;
                rev.to = from;
                rev.xy.reverse();
                links.push(base);
                links.push(rev);
            } else {
                links.push(base);
            }
        }

        let mut incoming = vec![Vec::new(); nodes.len()];
        let mut outgoing = vec![Vec::new(); nodes.len()];
        for (i, l) in links.iter().enumerate() {
            outgoing[l.from].push(i);
            incoming[l.to].push(i);
        }
        for (n, node) in nodes.iter().enumerate() {
            for (dir, list) in [("enter", &incoming[n]), ("leave", &outgoing[n])] {
                if list.len() > MAX_DEGREE {
                    problems.push(TopologyProblem {
                        severity: Severity::Error,
                        link: None,
                        node: Some(node.id.clone()),
                        message: format!(
                            "{} links {dir} the node; at most {MAX_DEGREE} are supported",
                            list.len()
                        ),
                    });
                }
            }
        }
        // dangling ends: a node touched by one road only, close to another node
        let degree: Vec<usize> = (0..nodes.len())
            .map(|n| {
                let mut roads: Vec<&str> = incoming[n]
                    .iter()
                    .chain(&outgoing[n])
                    .map(|&l| links[l].road_id.as_str())
                    .collect();
                roads.sort_unstable();
                roads.dedup();
                roads.len()
            })
            .collect();
        let mut grid: HashMap<(i64, i64), Vec<usize>> = HashMap::new();
        let cell = |p: (f64, f64)| {
            (
                (p.0 / NEAR_MISS_M).floor() as i64,
                (p.1 / NEAR_MISS_M).floor() as i64,
            )
        };
        for (n, node) in nodes.iter().enumerate() {
            grid.entry(cell(node.xy)).or_default().push(n);
        }
        for (n, node) in nodes.iter().enumerate() {
            if degree[n] != 1 {
                continue;
            }
            let c = cell(node.xy);
            let mut best: Option<(f64, usize)> = None;
            for dx in -1..=1 {
                for dy in -1..=1 {
                    for &m in grid.get(&(c.0 + dx, c.1 + dy)).into_iter().flatten() {
                        let d = dist(node.xy, nodes[m].xy);
                        if m != n && d <= NEAR_MISS_M && best.is_none_or(|(bd, _)| d < bd) {
                            best = Some((d, m));
                        }
                    }
                }
            }
            if let Some((d, m)) = best {
                let road = incoming[n]
                    .iter()
                    .chain(&outgoing[n])
                    .map(|&l| links[l].road_id.clone())
                    .next();
                problems.push(TopologyProblem {
                    severity: Severity::Warning,
                    link: road,
                    node: Some(node.id.clone()),
                    message: format!(
                        "dangling end {d:.1} m from node {:?}: should they connect?",
                        nodes[m].id
                    ),
                });
            }
        }
        let errors = problems.iter().any(|p| p.severity == Severity::Error);
        if errors {
            return Err(TopologyErrors { problems });
        }
        let mut net = RoadNetwork {
            nodes,
            links,
            problems,
            incoming,
            outgoing,
            projection,
            node_ids,
        };
        let parts = net.components();
        if parts > 1 {
            net.problems.push(TopologyProblem {
                severity: Severity::Warning,
                link: None,
                node: None,
                message: format!("the network has {parts} disconnected parts"),
            });
        }
        Ok(net)
    }

    /// Node index by id.
    pub fn node(&self, id: &str) -> Option<usize> {
        self.node_ids.get(id).copied()
    }

    /// Nearest node to a projected point, and its distance (m).
    pub fn nearest_node(&self, xy: (f64, f64)) -> Option<(usize, f64)> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (i, dist(n.xy, xy)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// Number of weakly connected parts.
    pub fn components(&self) -> usize {
        let mut parent: Vec<usize> = (0..self.nodes.len()).collect();
        fn find(p: &mut [usize], mut x: usize) -> usize {
            while p[x] != x {
                p[x] = p[p[x]];
                x = p[x];
            }
            x
        }
        for l in &self.links {
            let (a, b) = (find(&mut parent, l.from), find(&mut parent, l.to));
            if a != b {
                parent[a] = b;
            }
        }
        (0..self.nodes.len())
            .filter(|&n| find(&mut parent, n) == n)
            .count()
    }

    /// Whether link `j` turns straight back onto the road link `i` came in on.
    pub fn is_u_turn(&self, i: usize, j: usize) -> bool {
        let (a, b) = (&self.links[i], &self.links[j]);
        a.road_id == b.road_id && a.reverse != b.reverse
    }

    /// Free-flow shortest paths (Dijkstra on travel time) from `origin`: for every node, the
    /// link that reaches it on the fastest path (`None` for the origin and unreachable nodes).
    pub fn shortest_path_tree(&self, origin: usize) -> Vec<Option<usize>> {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        let mut best = vec![f64::INFINITY; self.nodes.len()];
        let mut via = vec![None; self.nodes.len()];
        let mut heap = BinaryHeap::new();
        best[origin] = 0.0;
        heap.push((Reverse(OrdF64(0.0)), origin));
        while let Some((Reverse(OrdF64(t)), n)) = heap.pop() {
            if t > best[n] {
                continue;
            }
            for &l in &self.outgoing[n] {
                let link = &self.links[l];
                let nt = t + link.length_m / link.free_flow_m_s;
                if nt < best[link.to] {
                    best[link.to] = nt;
                    via[link.to] = Some(l);
                    heap.push((Reverse(OrdF64(nt)), link.to));
                }
            }
        }
        via
    }

    /// The links of the fastest path from `origin` to `dest` in a tree from
    /// [`RoadNetwork::shortest_path_tree`], in travel order; `None` when unreachable.
    pub fn path_to(
        &self,
        tree: &[Option<usize>],
        origin: usize,
        dest: usize,
    ) -> Option<Vec<usize>> {
        let mut path = Vec::new();
        let mut n = dest;
        while n != origin {
            let l = tree[n]?;
            path.push(l);
            n = self.links[l].from;
        }
        path.reverse();
        Some(path)
    }
}

pub(crate) struct OrdF64(pub(crate) f64);
impl PartialEq for OrdF64 {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}
impl Eq for OrdF64 {}
impl PartialOrd for OrdF64 {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OrdF64 {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}
