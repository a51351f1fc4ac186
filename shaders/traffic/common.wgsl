// Traffic (Cell Transmission Model): the structs shared by every stage, mirroring the
// #[repr(C)] structs of engine/src/traffic/mod.rs, and the class-mix helpers of
// engine/src/traffic/cpu.rs. Prepended to each traffic stage (see gpu::shaders).

const NONE: u32 = 0xffffffffu;
const MAX_DEG: u32 = 17u; // network::MAX_DEGREE + 1 (origin row / sink column)

struct Params {
    n_cells: u32,
    n_nodes: u32,
    n_periods: u32,
    steps_per_period: u32,
    truck_pce: f32,
    dt: f32,
    n_comm: u32,
    truck_mask: u32,
    n_slices: u32,
    steps_per_slice: u32,
    n_turn_entries: u32,
    pad: u32,
}

struct Link {
    first_cell: u32,
    n_cells: u32,
    from_node: u32,
    to_node: u32,
    send_ratio: f32,
    recv_ratio: f32,
    q_step: f32,
    jam_cell: f32,
    cell_len: f32,
    in_slot: u32,
    out_slot: u32,
    truck_send_ratio: f32,
}

struct Node {
    in_off: u32,
    n_in: u32,
    out_off: u32,
    n_out: u32,
    turn_off: u32,
    origin: u32,
    signal: u32,
    minor_mask: u32,
}

const MINOR_PRIORITY: f32 = 0.05; // traffic::MINOR_PRIORITY

struct Signal {
    kind: u32,
    cycle: u32,
    offset: u32,
    n_phases: u32,
    phase_off: u32,
    min_green: u32,
    lost: u32,
    pad: u32,
}

struct Phase {
    green: u32,
    mask: u32,
    cols: array<u32, 16>, // network::MAX_DEGREE
}

// the bits of every column (outgoing links and the sink) of a node (traffic::cpu::full_cols)
fn full_cols(n_out: u32) -> u32 {
    if (n_out + 1u >= 32u) {
        return 0xffffffffu;
    }
    return (1u << (n_out + 1u)) - 1u;
}

const MAX_COMM: u32 = 32u; // traffic::MAX_COMMODITIES

// PCE of commodity k (traffic::cpu::comm_pce)
fn comm_pce(p: Params, k: u32) -> f32 {
    if ((p.truck_mask & (1u << k)) != 0u) {
        return p.truck_pce;
    }
    return 1.0;
}

// send ratio of commodity k's class on link l
fn class_ratio(p: Params, l: Link, k: u32) -> f32 {
    if ((p.truck_mask & (1u << k)) != 0u) {
        return l.truck_send_ratio;
    }
    return l.send_ratio;
}

// 0 car, 1 truck
fn class_of(p: Params, k: u32) -> u32 {
    return select(0u, 1u, (p.truck_mask & (1u << k)) != 0u);
}

// adds v ≥ 0 vehicles to a (lo, hi) 64-bit counter in units of 2^-24 vehicle
// (traffic::cpu::count)
fn count(c: vec2<u32>, v: f32) -> vec2<u32> {
    let x = u32(round(max(v, 0.0) * 16777216.0));
    let lo = c.x + x;
    return vec2<u32>(lo, c.y + select(0u, 1u, lo < x));
}

// flat index of a thread in a 2-D dispatch of 64-wide groups
fn flat_index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.y * groups.x * 64u + gid.x;
}
