//! [`TrafficSetup::compile`]: the demand split into commodities (class × destination), their
//! first routes (free-flow fastest paths to each destination, [`super::routing`]), links cut
//! into cells of at least v_f·Δt, signals and demand laid out as the flat `#[repr(C)]` arrays
//! the CPU twin and the WGSL stages share.

use super::*;

impl TrafficSetup {
    /// Splits the demand into commodities (class × destination; up to [`MAX_COMMODITIES`],
    /// the busiest destinations first, the rest sharing one per class routed by the mean
    /// turning fractions of their free-flow paths), routes each along its free-flow fastest
    /// paths, cuts links into cells and lays everything out for the kernels. Equilibrium
    /// routes come from [`TrafficProblem::equilibrate`].
    pub fn compile(self) -> Result<TrafficProblem, SetupError> {
        let net = self.network;
        if !(self.duration_s.is_finite()
            && self.dt_s.is_finite()
            && self.output_interval_s.is_finite()
            && self.duration_s > 0.0
            && self.dt_s > 0.0
            && self.output_interval_s > 0.0)
        {
            return Err(SetupError::Time(
                "duration, time step and output interval must be finite and positive".into(),
            ));
        }
        // every derived size is checked in floating point before it is cast or allocated
        let steps_f = (self.duration_s / self.dt_s).round().max(1.0);
        if steps_f > super::MAX_STEPS {
            return Err(SetupError::Time(format!(
                "{:.0} s at a time step of {} s is {steps_f:.3e} steps; at most {:.0e} (a longer step or a shorter run)",
                self.duration_s,
                self.dt_s,
                super::MAX_STEPS
            )));
        }
        let outputs_f = (self.duration_s / self.output_interval_s.max(self.dt_s)).ceil();
        let interval_links = outputs_f * net.links.len() as f64;
        if interval_links > super::MAX_INTERVAL_LINKS {
            return Err(SetupError::Time(format!(
                "{outputs_f:.0} output intervals × {} links is {interval_links:.3e} per-interval link statistics; at most {:.0e} (a longer output interval or a shorter run)",
                net.links.len(),
                super::MAX_INTERVAL_LINKS
            )));
        }
        let cells_f: f64 = net
            .links
            .iter()
            .map(|l| {
                (l.length_m / (l.free_flow_m_s * self.dt_s))
                    .floor()
                    .max(1.0)
            })
            .sum();
        if !cells_f.is_finite() || cells_f > super::MAX_CELLS {
            return Err(SetupError::Time(format!(
                "a time step of {} s cuts the network into {cells_f:.3e} cells; at most {:.0e} (a longer step: cells are at least v_f·Δt long)",
                self.dt_s,
                super::MAX_CELLS
            )));
        }
        if let Some(l) = net.links.iter().find(|l| {
            !(l.jam_veh_km.is_finite() && l.jam_veh_km > l.critical_veh_km() * (1.0 + 1e-6))
        }) {
            return Err(SetupError::Time(format!(
                "link {:?}: jam density {:.1} veh/km is not above its critical density Q/v_f = {:.1} veh/km, so the congested branch of the fundamental diagram has no positive wave speed; raise `jam_density_veh_km_lane`",
                l.id,
                l.jam_veh_km,
                l.critical_veh_km()
            )));
        }
        // time step as requested; a link shorter than v_f·Δt becomes one cell of length v_f·Δt
        // (storage and travel time of a full cell; a shorter cell would throttle the flow to
        // its jam storage per step), so its travel time is rounded up to one step
        if net.links.is_empty() {
            return Err(SetupError::Time("the road network has no links".into()));
        }
        if !(self.truck_speed_km_h.is_finite() && self.truck_speed_km_h > 0.0) {
            return Err(SetupError::Time(format!(
                "truck speed {} km/h must be finite and positive",
                self.truck_speed_km_h
            )));
        }
        let r = self.routing;
        if !(r.slice_s.is_finite()
            && r.slice_s > 0.0
            && r.target_gap.is_finite()
            && r.target_gap >= 0.0)
        {
            return Err(SetupError::Time(format!(
                "routing slice {} s must be positive and the target gap {} finite and ≥ 0",
                r.slice_s, r.target_gap
            )));
        }
        let dt = self.dt_s;
        let short: Vec<usize> = (0..net.links.len())
            .filter(|&i| net.links[i].length_m < net.links[i].free_flow_m_s * dt)
            .collect();
        let dt_reason = match short
            .iter()
            .min_by(|&&a, &&b| net.links[a].length_m.total_cmp(&net.links[b].length_m))
        {
            None => "as requested".to_string(),
            Some(&i) => format!(
                "as requested; {} link(s) shorter than v_f·Δt are one cell of length v_f·Δt \
                 (travel time rounded up to one step; shortest {:?}, {:.1} m)",
                short.len(),
                net.links[i].id,
                net.links[i].length_m
            ),
        };
        let steps = (self.duration_s / dt).round().max(1.0) as u64;
        let steps_per_output = ((self.output_interval_s / dt).round() as u64).clamp(1, steps);

        // cells
        let mut links = Vec::with_capacity(net.links.len());
        let mut cell_link = Vec::new();
        for (i, l) in net.links.iter().enumerate() {
            let n = ((l.length_m / (l.free_flow_m_s * dt)) * (1.0 + 1e-9))
                .floor()
                .max(1.0);
            let len = l.length_m / n;
            // storage length: at least one free-flow step (see above)
            let store = len.max(l.free_flow_m_s * dt);
            let q = l.capacity_veh_h / 3600.0;
            links.push(LinkData {
                first_cell: cell_link.len() as u32,
                n_cells: n as u32,
                from_node: l.from as u32,
                to_node: l.to as u32,
                send_ratio: (l.free_flow_m_s * dt / store).min(1.0) as f32,
                recv_ratio: (l.wave_speed_m_s() * dt / store).min(1.0) as f32,
                q_step: (q * dt) as f32,
                jam_cell: (l.jam_veh_km / 1000.0 * store) as f32,
                cell_len: len as f32,
                in_slot: 0,
                out_slot: 0,
                truck_send_ratio: (l.free_flow_m_s.min(self.truck_speed_km_h / 3.6) * dt / store)
                    .min(1.0) as f32,
            });
            cell_link.extend(std::iter::repeat_n(i as u32, n as usize));
        }

        // origins and demand table
        let mut origin_slot: HashMap<usize, usize> = HashMap::new();
        let mut origins = Vec::new();
        let mut max_period_end = 0.0f64;
        for d in &self.demand {
            max_period_end = max_period_end.max(d.period_s * d.veh_h.len() as f64);
        }
        let period_s = self
            .demand
            .iter()
            .map(|d| d.period_s)
            .fold(f64::INFINITY, f64::min);
        let period_s = if period_s.is_finite() {
            period_s
        } else {
            self.duration_s
        };
        let steps_per_period = ((period_s / dt).round() as u64).max(1);
        let n_periods = (((max_period_end / dt).round() as u64).div_ceil(steps_per_period)).max(1);
        for (k, d) in self.demand.iter().enumerate() {
            let ratio = d.period_s / period_s;
            if (ratio - ratio.round()).abs() > 1e-9 {
                return Err(SetupError::Demand {
                    index: k,
                    message: format!(
                        "period {} s is not a multiple of the shortest demand period {period_s} s",
                        d.period_s
                    ),
                });
            }
            if d.veh_h.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
                return Err(SetupError::Demand {
                    index: k,
                    message: "rates must be finite and ≥ 0".into(),
                });
            }
            if net.outgoing[d.origin].is_empty() {
                return Err(SetupError::Demand {
                    index: k,
                    message: format!(
                        "origin node {:?} has no outgoing link",
                        net.nodes[d.origin].id
                    ),
                });
            }
            origin_slot.entry(d.origin).or_insert_with(|| {
                origins.push(d.origin as u32);
                origins.len() - 1
            });
        }
        let np = n_periods as usize;

        // commodities: one per (class, destination), the busiest first when there are more
        // than MAX_COMMODITIES; the rest, and demand without a destination, share one per class
        let mut pair_total: std::collections::BTreeMap<(usize, usize), f64> = Default::default();
        let mut no_dest = [false; 2];
        for d in &self.demand {
            let vehicles: f64 = d.veh_h.iter().sum::<f64>() * d.period_s / 3600.0;
            match d.dest {
                Some(dest) => *pair_total.entry((d.class.index(), dest)).or_default() += vehicles,
                None => no_dest[d.class.index()] = true,
            }
        }
        let mut pairs: Vec<((usize, usize), f64)> = pair_total.into_iter().collect();
        pairs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut keep = pairs.len();
        let shared = loop {
            let mut shared = no_dest;
            for ((c, _), _) in &pairs[keep..] {
                shared[*c] = true;
            }
            let n_shared = shared.iter().filter(|s| **s).count();
            if keep + n_shared <= MAX_COMMODITIES {
                break shared;
            }
            keep = MAX_COMMODITIES - n_shared;
        };
        let all_dest: f64 = pairs.iter().map(|p| p.1).sum();
        let overflow: f64 = pairs[keep..].iter().map(|p| p.1).sum();
        let shared_destination_share = if all_dest > 0.0 {
            (overflow / all_dest).max(0.0)
        } else {
            0.0
        };
        let mut own: Vec<(usize, usize)> = pairs[..keep].iter().map(|p| p.0).collect();
        own.sort_unstable();
        let mut commodities: Vec<Commodity> = own
            .iter()
            .map(|&(c, d)| Commodity {
                class: VehicleClass::ALL[c],
                dest: Some(d),
            })
            .collect();
        for c in VehicleClass::ALL {
            if shared[c.index()] || (commodities.is_empty() && c == VehicleClass::Car) {
                commodities.push(Commodity {
                    class: c,
                    dest: None,
                });
            }
        }
        let kk = commodities.len();
        let comm_of = |class: VehicleClass, dest: Option<usize>| -> usize {
            dest.and_then(|d| {
                commodities
                    .iter()
                    .position(|m| m.class == class && m.dest == Some(d))
            })
            .or_else(|| {
                commodities
                    .iter()
                    .position(|m| m.class == class && m.dest.is_none())
            })
            .unwrap_or(0)
        };
        let truck_mask = commodities
            .iter()
            .enumerate()
            .filter(|(_, m)| m.class == VehicleClass::Truck)
            .fold(0u32, |acc, (k, _)| acc | (1 << k));

        // demand per origin slot, period and commodity
        let mut demand_acc = vec![0.0f64; origins.len() * np * kk];
        for d in &self.demand {
            let slot = origin_slot[&d.origin];
            let k = comm_of(d.class, d.dest);
            let ratio = (d.period_s / period_s).round() as usize;
            for (p, &v) in d.veh_h.iter().enumerate() {
                for sub in 0..ratio {
                    let period = p * ratio + sub;
                    if period < np {
                        demand_acc[(slot * np + period) * kk + k] += v / 3600.0 * dt;
                    }
                }
            }
        }
        let horizon_periods = steps.div_ceil(steps_per_period) as usize;
        let mut demand = vec![0.0f32; demand_acc.len()];
        let mut demand_total = [0.0f64; 2];
        for (i, acc) in demand_acc.iter().enumerate() {
            demand[i] = *acc as f32;
            let period = (i / kk) % np;
            if period < horizon_periods {
                let in_horizon =
                    (steps - (period as u64 * steps_per_period)).min(steps_per_period) as f64;
                demand_total[commodities[i % kk].class.index()] +=
                    f64::from(demand[i]) * in_horizon;
            }
        }

        // free-flow routing of every demand with a destination → movement volumes per node,
        // (in row, out col) → [car, truck]: for Webster's plans (all of it) and for the shared
        // commodities' mean turning fractions (what they carry)
        let n_nodes = net.nodes.len();
        let mut volumes: Vec<HashMap<(usize, usize), [f64; 2]>> = vec![HashMap::new(); n_nodes];
        let mut shared_volumes: Vec<HashMap<(usize, usize), [f64; 2]>> =
            vec![HashMap::new(); n_nodes];
        let local_in = |n: usize, l: usize| net.incoming[n].iter().position(|&x| x == l);
        let local_out = |n: usize, l: usize| net.outgoing[n].iter().position(|&x| x == l);
        let mut trees: HashMap<usize, Vec<Option<usize>>> = HashMap::new();
        for (k, d) in self.demand.iter().enumerate() {
            let Some(dest) = d.dest else { continue };
            let mean: f64 = d.veh_h.iter().sum::<f64>() / d.veh_h.len().max(1) as f64;
            let weight = mean.max(1e-9);
            let tree = trees
                .entry(d.origin)
                .or_insert_with(|| net.shortest_path_tree(d.origin));
            if dest == d.origin {
                return Err(SetupError::Demand {
                    index: k,
                    message: format!(
                        "origin and destination are the same node {:?}",
                        net.nodes[dest].id
                    ),
                });
            }
            let Some(path) = net.path_to(tree, d.origin, dest) else {
                return Err(SetupError::Demand {
                    index: k,
                    message: format!(
                        "no route from {:?} to {:?}",
                        net.nodes[d.origin].id, net.nodes[dest].id
                    ),
                });
            };
            let c = d.class.index();
            let is_shared = commodities[comm_of(d.class, d.dest)].dest.is_none();
            let mut add = |n: usize, key: (usize, usize)| {
                volumes[n].entry(key).or_insert([0.0; 2])[c] += weight;
                if is_shared {
                    shared_volumes[n].entry(key).or_insert([0.0; 2])[c] += weight;
                }
            };
            let o = d.origin;
            let row_o = net.incoming[o].len();
            let first = local_out(o, path[0]).unwrap_or(0);
            add(o, (row_o, first));
            for w in path.windows(2) {
                let n = net.links[w[0]].to;
                if let (Some(i), Some(j)) = (local_in(n, w[0]), local_out(n, w[1])) {
                    add(n, (i, j));
                }
            }
            let last = path[path.len() - 1];
            let n = net.links[last].to;
            if let Some(i) = local_in(n, last) {
                add(n, (i, net.outgoing[n].len()));
            }
        }

        // nodes, and the first slice's turning table
        let mut nodes = Vec::with_capacity(n_nodes);
        let mut in_links = Vec::new();
        let mut out_links = Vec::new();
        let mut n_entries = 0usize;
        for n in 0..n_nodes {
            let (ins, outs) = (&net.incoming[n], &net.outgoing[n]);
            nodes.push(NodeData {
                in_off: in_links.len() as u32,
                n_in: ins.len() as u32,
                out_off: out_links.len() as u32,
                n_out: outs.len() as u32,
                turn_off: n_entries as u32,
                origin: origin_slot.get(&n).map_or(NONE, |&s| s as u32),
                signal: NONE,
                minor_mask: 0,
            });
            for &l in ins {
                links[l].in_slot = in_links.len() as u32;
                in_links.push(l as u32);
            }
            for &l in outs {
                links[l].out_slot = out_links.len() as u32;
                out_links.push(l as u32);
            }
            n_entries += (ins.len() + 1) * (outs.len() + 1);
        }
        let steps_per_slice = ((r.slice_s / dt).round() as u64).clamp(1, steps);
        let n_slices = steps.div_ceil(steps_per_slice);
        let turn_values = n_slices as f64 * n_entries as f64 * kk as f64;
        if turn_values > MAX_TURN_VALUES {
            return Err(SetupError::Time(format!(
                "{n_slices} routing slices × {n_entries} movements × {kk} commodities is {turn_values:.3e} turning fractions; at most {MAX_TURN_VALUES:.0e} (a longer routing slice)"
            )));
        }
        let mut turns = vec![0.0f32; n_entries * kk];
        for (n, node_volumes) in shared_volumes.iter().enumerate() {
            let cols = net.outgoing[n].len() + 1;
            let off = nodes[n].turn_off as usize;
            for row in 0..=net.incoming[n].len() {
                let default = default_turns(&net, n, row);
                for (k, m) in commodities.iter().enumerate() {
                    if m.dest.is_some() {
                        continue;
                    }
                    let c = m.class.index();
                    let total: f64 = (0..cols)
                        .map(|j| node_volumes.get(&(row, j)).map_or(0.0, |v| v[c]))
                        .sum();
                    for j in 0..cols {
                        let f = if total > 0.0 {
                            node_volumes.get(&(row, j)).map_or(0.0, |v| v[c]) / total
                        } else {
                            default[j]
                        };
                        turns[(off + row * cols + j) * kk + k] = f as f32;
                    }
                }
            }
        }
        let turns = turns.repeat(n_slices as usize);

        // signals
        let mut signals = Vec::new();
        let mut phases = Vec::new();
        let to_steps = |s: f64| (s / dt).round().max(0.0) as u32;
        let mut webster_plans = Vec::new();
        for plan in &self.signals {
            let node_id = net.nodes[plan.node].id.clone();
            let err = |message: String| SetupError::Signal {
                node: node_id.clone(),
                message,
            };
            if plan.phases.is_empty() {
                return Err(err("no phases".into()));
            }
            let greens: Vec<f64> = match plan.timing {
                Timing::Given => plan.phases.iter().map(|p| p.green_s).collect(),
                Timing::Webster { cycle_s } => {
                    // each phase's critical flow ratio: its most loaded approach's assigned
                    // flow (PCE/h, the routed mean rates) over the approach's capacity
                    let node_volumes = &volumes[plan.node];
                    let cols = net.outgoing[plan.node].len() + 1;
                    let pce_of = |r: usize, j: usize| {
                        node_volumes
                            .get(&(r, j))
                            .map_or(0.0, |v| v[0] + self.truck_pce * v[1])
                    };
                    let row_of = |a: usize| net.incoming[plan.node].iter().position(|&x| x == a);
                    let col_of = |b: usize| net.outgoing[plan.node].iter().position(|&x| x == b);
                    let y: Vec<f64> = plan
                        .phases
                        .iter()
                        .map(|ph| {
                            let whole = ph.approaches.iter().map(|&a| {
                                let q: f64 = row_of(a)
                                    .map_or(0.0, |r| (0..cols).map(|j| pce_of(r, j)).sum());
                                q / net.links[a].capacity_veh_h.max(1e-9)
                            });
                            // a protected movement: its flow over its approach's capacity
                            let single = ph.movements.iter().map(|&(a, b)| {
                                let q = match (row_of(a), col_of(b)) {
                                    (Some(r), Some(j)) => pce_of(r, j),
                                    _ => 0.0,
                                };
                                q / net.links[a].capacity_veh_h.max(1e-9)
                            });
                            whole.chain(single).fold(0.0, f64::max)
                        })
                        .collect();
                    let w = webster::plan(&y, plan.lost_s, cycle_s);
                    let greens = w.greens_s.clone();
                    webster_plans.push((node_id.clone(), w));
                    greens
                }
            };
            if nodes[plan.node].signal != NONE {
                return Err(err("signalised twice".into()));
            }
            let phase_off = phases.len() as u32;
            let sink_bit = 1u32 << net.outgoing[plan.node].len();
            for (p, ph) in plan.phases.iter().enumerate() {
                let mut mask = 0u32;
                let mut cols = [0u32; network::MAX_DEGREE];
                let pos_in = |a: usize| {
                    net.incoming[plan.node]
                        .iter()
                        .position(|&x| x == a)
                        .ok_or_else(|| {
                            err(format!(
                                "phase {p}: link {:?} does not enter this node",
                                net.links[a].id
                            ))
                        })
                };
                for &a in &ph.approaches {
                    let pos = pos_in(a)?;
                    mask |= 1 << pos;
                    cols[pos] = u32::MAX;
                }
                for &(a, b) in &ph.movements {
                    let pos = pos_in(a)?;
                    let Some(j) = net.outgoing[plan.node].iter().position(|&x| x == b) else {
                        return Err(err(format!(
                            "phase {p}: link {:?} does not leave this node",
                            net.links[b].id
                        )));
                    };
                    mask |= 1 << pos;
                    // the movement, and vehicles whose trip ends here
                    cols[pos] |= (1 << j) | sink_bit;
                }
                let green = to_steps(greens[p]);
                if self.control == Control::FixedTime && green == 0 {
                    return Err(err(format!("phase {p}: green shorter than one time step")));
                }
                phases.push(PhaseData { green, mask, cols });
            }
            let lost = to_steps(plan.lost_s);
            let cycle: u32 = phases[phase_off as usize..]
                .iter()
                .map(|p| p.green + lost)
                .sum();
            nodes[plan.node].signal = signals.len() as u32;
            signals.push(SignalData {
                kind: match self.control {
                    Control::FixedTime => 0,
                    Control::MaxPressure => 1,
                },
                cycle,
                offset: to_steps(plan.offset_s) % cycle.max(1),
                n_phases: plan.phases.len() as u32,
                phase_off,
                min_green: to_steps(plan.min_green_s).max(1),
                lost,
                _pad: 0,
            });
        }
        // major/minor priority at unsignalised nodes: approaches of a lower road class than
        // the node's highest are minor
        for (n, node) in nodes.iter_mut().enumerate() {
            if node.signal != NONE {
                continue;
            }
            let ins = &net.incoming[n];
            if let Some(top) = ins.iter().map(|&l| net.links[l].class).min() {
                for (a, &l) in ins.iter().enumerate() {
                    if net.links[l].class > top {
                        node.minor_mask |= 1 << a;
                    }
                }
            }
        }
        let params = StepParams {
            n_cells: cell_link.len() as u32,
            n_nodes: n_nodes as u32,
            n_periods: n_periods as u32,
            steps_per_period: steps_per_period as u32,
            truck_pce: self.truck_pce as f32,
            dt: dt as f32,
            n_comm: kk as u32,
            truck_mask,
            n_slices: n_slices as u32,
            steps_per_slice: steps_per_slice as u32,
            n_turn_entries: n_entries as u32,
            _pad: 0,
        };
        let mut problem = TrafficProblem {
            webster_plans,
            network: net,
            dt_s: dt,
            dt_reason,
            steps,
            steps_per_output,
            start: self.start,
            params,
            links,
            cell_link,
            nodes,
            in_links,
            out_links,
            turns,
            origins,
            demand,
            signals,
            phases,
            control: self.control,
            emissions: self.emissions,
            demand_total,
            commodities,
            routing: self.routing,
            shared_destination_share,
            truck_speed_km_h: self.truck_speed_km_h,
            equilibrium: None,
        };
        problem.free_flow_routes();
        Ok(problem)
    }
}

/// Turning fractions for a row with no routed traffic: split by capacity among the outgoing
/// links that are not a U-turn; a node with no other way out is an exit (all to the sink).
fn default_turns(net: &RoadNetwork, n: usize, row: usize) -> Vec<f64> {
    let outs = &net.outgoing[n];
    let mut f = vec![0.0; outs.len() + 1];
    let from = net.incoming[n].get(row).copied();
    let allowed: Vec<usize> = (0..outs.len())
        .filter(|&j| from.is_none_or(|i| !net.is_u_turn(i, outs[j])))
        .collect();
    let total: f64 = allowed
        .iter()
        .map(|&j| net.links[outs[j]].capacity_veh_h)
        .sum();
    if allowed.is_empty() || total <= 0.0 {
        f[outs.len()] = 1.0;
    } else {
        for &j in &allowed {
            f[j] = net.links[outs[j]].capacity_veh_h / total;
        }
    }
    f
}
