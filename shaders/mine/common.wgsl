// Mine ensemble gas transport: what every stage shares. State layout (f32): gas g of member m in
// cell c at g·M·C + m·C + c; per member and branch arrays at m·B + b. CPU twin:
// mine::ensemble (the same operations in the same order).

struct Params {
    n_members: u32,
    n_branches: u32,
    n_cells: u32,
    n_places: u32,
    dt: f32,
    out_idx: u32,
    atmosphere: u32,
    n_nodes: u32,
};

struct Branch {
    first_cell: u32,
    n_cells: u32,
    from_node: u32,
    to_node: u32,
};

// flat thread index of a 1-D dispatch folded into a second dimension (gpu::groups_2d)
fn flat_index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.y * groups.x * 64u + gid.x;
}
