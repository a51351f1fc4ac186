//! The dispersion field draped over the terrain as a texture (or a run − compare
//! difference), following the layer switches, the pollutant choice and the clock.

use super::*;

/// The dispersion field draped over the terrain (or a difference of two runs).
pub struct OverlayPlugin;

impl Plugin for OverlayPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<OverlayLegend>()
            .add_systems(Startup, spawn_overlay)
            .add_systems(Update, update_overlay);
    }
}

/// The texture of an overlay: RGBA8 per cell (row 0 north); transparent below the low end.
/// Longest texture side the overlay uploads: WebGPU's default `max_texture_dimension_2d`, which
/// every adapter supports. A wider raster is shown block-averaged (clicks still sample the full
/// raster).
pub const MAX_TEXTURE_SIDE: usize = 8192;

/// The block size that fits an `nx` × `ny` raster into [`MAX_TEXTURE_SIDE`], and the texture's
/// size.
pub fn texture_fit(nx: usize, ny: usize) -> (usize, usize, usize) {
    let f = nx.max(ny).div_ceil(MAX_TEXTURE_SIDE).max(1);
    (f, nx.div_ceil(f).max(1), ny.div_ceil(f).max(1))
}

/// Means of `f` × `f` blocks of a row-major `nx` × `ny` field (non-finite cells left out; a
/// block with none is NaN, drawn transparent).
pub fn block_mean(values: &[f32], nx: usize, ny: usize, f: usize) -> Vec<f32> {
    if f <= 1 {
        return values.to_vec();
    }
    let (tw, th) = (nx.div_ceil(f), ny.div_ceil(f));
    let mut sum = vec![0.0f64; tw * th];
    let mut n = vec![0u32; tw * th];
    for j in 0..ny {
        for i in 0..nx {
            let v = values.get(j * nx + i).copied().unwrap_or(f32::NAN);
            if v.is_finite() {
                let k = (j / f) * tw + i / f;
                sum[k] += f64::from(v);
                n[k] += 1;
            }
        }
    }
    sum.iter()
        .zip(&n)
        .map(|(s, c)| {
            if *c > 0 {
                (*s / f64::from(*c)) as f32
            } else {
                f32::NAN
            }
        })
        .collect()
}

pub fn overlay_pixels(values: &[f32], diff: bool, range: (f64, f64)) -> Vec<u8> {
    let mut px = Vec::with_capacity(values.len() * 4);
    for &v in values {
        let v = f64::from(v);
        let (c, a) = if diff {
            let t = (v / range.1.max(1e-12)) as f32;
            let a = (t.abs() * 4.0).min(1.0);
            (colormap::diverging(t), if v.is_finite() { a } else { 0.0 })
        } else if v.is_finite() && v > range.0 {
            // fade in over the lowest third of the scale so the faint edges do not hide the map
            let t = colormap::log_position(v, range.0, range.1);
            (colormap::sequential(t), (3.0 * t).min(1.0))
        } else {
            ([0.0; 3], 0.0)
        };
        // colour maps are given in sRGB
        px.extend_from_slice(&[
            (c[0] * 255.0).round() as u8,
            (c[1] * 255.0).round() as u8,
            (c[2] * 255.0).round() as u8,
            (a * 255.0).round() as u8,
        ]);
    }
    px
}

/// The display range of a concentration field: the 99.5th percentile of the positive values
/// as the top, two decades below it as the bottom.
pub fn concentration_range(values: &[f32]) -> (f64, f64) {
    let mut v: Vec<f32> = values
        .iter()
        .copied()
        .filter(|x| x.is_finite() && *x > 0.0)
        .collect();
    if v.is_empty() {
        return (1e-3, 1.0);
    }
    v.sort_by(f32::total_cmp);
    let hi = f64::from(v[((v.len() - 1) as f64 * 0.995) as usize]).max(1e-9);
    (hi * 1e-2, hi)
}

/// The display range of a difference field: symmetric about zero, ± the 99.5th percentile of
/// the absolute differences (so one extreme cell does not wash the map out).
pub fn difference_range(values: &[f32]) -> (f64, f64) {
    let mut a: Vec<f32> = values
        .iter()
        .map(|v| v.abs())
        .filter(|v| v.is_finite())
        .collect();
    a.sort_by(f32::total_cmp);
    let top = a
        .get(((a.len().max(1) - 1) as f64 * 0.995) as usize)
        .copied()
        .unwrap_or(1.0);
    (-f64::from(top), f64::from(top).max(1e-9))
}

/// The field to show: the run's raster, or its difference with the comparison's.
fn overlay_field(t: &TwinData, layers: &Layers) -> Option<(Raster, bool)> {
    let run = t.run.as_ref()?;
    let r = run
        .rasters
        .get(layers.pollutant)
        .or_else(|| run.rasters.first())?;
    let other = t.compare.as_ref().and_then(|c| {
        c.rasters.iter().find(|o| {
            o.pollutant == r.pollutant
                && o.nx == r.nx
                && o.ny == r.ny
                && o.min_x == r.min_x
                && o.max_y == r.max_y
        })
    });
    match other {
        Some(o) if layers.difference => {
            let mut d = r.clone();
            d.values = r.values.iter().zip(&o.values).map(|(a, b)| a - b).collect();
            d.description = format!(
                "{} difference ({} − {})",
                r.pollutant,
                run.name,
                t.compare.as_ref().map(|c| c.name.as_str()).unwrap_or("")
            );
            Some((d, true))
        }
        _ => Some((r.clone(), false)),
    }
}

/// Triangles of a regular grid of `nu` × `nv` cells whose `(nu + 1) × (nv + 1)` vertices
/// (row-major, `heights[j * (nu + 1) + i]`) lie on a plan grid with linear UVs: cells in a row
/// whose four corners are at one height (over the sea, over flat ground) merged into one quad,
/// so a flat run costs two triangles, not two per cell — a software rasteriser pays per
/// triangle. Merging a flat run changes nothing drawn: positions and UVs are linear along it.
/// Counter-clockwise seen from above (+Y), as the plan grid runs east along `i` and south
/// along `j`.
pub fn grid_triangles(nu: usize, nv: usize, heights: &[f32]) -> Vec<u32> {
    let w = nu + 1;
    let at = |i: usize, j: usize| heights[j * w + i];
    let flat = |i: usize, j: usize| {
        let h = at(i, j);
        at(i + 1, j) == h && at(i, j + 1) == h && at(i + 1, j + 1) == h
    };
    let mut idx = Vec::new();
    for j in 0..nv {
        let mut i = 0;
        while i < nu {
            // the run [i, e) of flat cells at one height (a single cell when not flat)
            let mut e = i + 1;
            if flat(i, j) {
                while e < nu && flat(e, j) && at(e, j) == at(i, j) {
                    e += 1;
                }
            }
            let a = (j * w + i) as u32;
            let b = (j * w + e) as u32;
            let c = a + w as u32;
            let d = b + w as u32;
            idx.extend_from_slice(&[a, c, b, b, c, d]);
            i = e;
        }
    }
    idx
}

fn spawn_overlay(
    mut commands: Commands,
    twin: Res<Twin>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<FlatMaterial>>,
    mut images: ResMut<Assets<Image>>,
) {
    let t = &twin.0;
    let Some((r, _)) = overlay_field(t, &Layers::default()) else {
        return;
    };
    // a mesh over the raster's extent that follows the terrain, 80 m above it
    let n = 160usize;
    let (w_m, h_m) = (r.nx as f64 * r.cell_m, r.ny as f64 * r.cell_m);
    let (nu, nv) = if w_m >= h_m {
        (n, ((n as f64 * h_m / w_m).ceil() as usize).max(2))
    } else {
        (((n as f64 * w_m / h_m).ceil() as usize).max(2), n)
    };
    let mut pos = Vec::new();
    let mut uv = Vec::new();
    for j in 0..=nv {
        for i in 0..=nu {
            let (u, v) = (i as f64 / nu as f64, j as f64 / nv as f64);
            let x = r.min_x + u * w_m;
            let y = r.max_y - v * h_m;
            let s = t.projection.projected_to_scene(x, y, 0.0);
            let hgt = t.terrain.height_at(s[0], s[2]) + 0.24;
            pos.push([s[0], hgt, s[2]]);
            uv.push([u as f32, v as f32]);
        }
    }
    let heights: Vec<f32> = pos.iter().map(|p| p[1]).collect();
    let idx = grid_triangles(nu, nv, &heights);
    // no normals: the flat material is not lit
    let mesh = Mesh::new(
        PrimitiveTopology::TriangleList,
        RenderAssetUsages::default(),
    )
    .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, pos)
    .with_inserted_attribute(Mesh::ATTRIBUTE_UV_0, uv)
    .with_inserted_indices(Indices::U32(idx));
    let (_, tw, th) = texture_fit(r.nx, r.ny);
    let image = Image::new(
        Extent3d {
            width: tw as u32,
            height: th as u32,
            depth_or_array_layers: 1,
        },
        TextureDimension::D2,
        vec![0; tw * th * 4],
        TextureFormat::Rgba8UnormSrgb,
        RenderAssetUsages::default(),
    );
    let material = materials.add(FlatMaterial {
        colour: Color::srgba(1.0, 1.0, 1.0, 0.75).into(),
        texture: Some(images.add(image)),
        alpha_mode: AlphaMode::Blend,
    });
    commands.spawn((
        Mesh3d(meshes.add(mesh)),
        MeshMaterial3d(material),
        OverlayMesh,
    ));
}

fn update_overlay(
    twin: Res<Twin>,
    layers: Res<Layers>,
    mut legend: ResMut<OverlayLegend>,
    mut q: Query<(&MeshMaterial3d<FlatMaterial>, &mut Visibility), With<OverlayMesh>>,
    mut materials: ResMut<Assets<FlatMaterial>>,
    mut images: ResMut<Assets<Image>>,
) {
    if !layers.is_changed() {
        return;
    }
    let Ok((mat, mut vis)) = q.single_mut() else {
        return;
    };
    *vis = if layers.overlay {
        Visibility::Inherited
    } else {
        Visibility::Hidden
    };
    let Some(mut m) = materials.get_mut(&mat.0) else {
        return;
    };
    m.colour = Color::srgba(1.0, 1.0, 1.0, layers.opacity).into();
    let key = (layers.pollutant, layers.difference);
    if legend.key == Some(key) {
        return;
    }
    let Some((r, diff)) = overlay_field(&twin.0, &layers) else {
        return;
    };
    let range = if diff {
        difference_range(&r.values)
    } else {
        concentration_range(&r.values)
    };
    if let Some(mut tex) = m.texture.as_ref().and_then(|h| images.get_mut(h)) {
        let (f, _, _) = texture_fit(r.nx, r.ny);
        let shown = block_mean(&r.values, r.nx, r.ny, f);
        tex.data = Some(overlay_pixels(&shown, diff, range));
    }
    *legend = OverlayLegend {
        title: r.description.clone(),
        range,
        log: !diff,
        key: Some(key),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raster_wider_than_the_texture_limit_is_block_averaged_to_fit() {
        // 20,000 × 3 cells: wider than any texture an adapter must support
        let (nx, ny) = (20_000, 3);
        assert_eq!(texture_fit(nx, ny), (3, 6667, 1));
        assert_eq!(texture_fit(713, 454), (1, 713, 454));
        let v: Vec<f32> = (0..nx * ny).map(|i| (i % nx) as f32).collect();
        let m = block_mean(&v, nx, ny, 3);
        assert_eq!(m.len(), 6667);
        assert_eq!(m[0], 1.0); // mean of columns 0, 1, 2 over three rows
        assert_eq!(
            m[6666], 19_998.5,
            "the last, partial block: columns 19998 and 19999"
        );
        let with_nan = block_mean(&[f32::NAN, 2.0, f32::NAN, f32::NAN], 2, 2, 2);
        assert_eq!(with_nan, vec![2.0]);
    }

    #[test]
    fn flat_runs_of_a_grid_row_are_one_quad() {
        // 4 × 2 cells; row 0 flat at 1.0 except the last cell, row 1 flat at 1.0 then 2.0
        let h = [
            1.0, 1.0, 1.0, 1.0, 5.0, //
            1.0, 1.0, 1.0, 1.0, 1.0, //
            1.0, 1.0, 1.0, 2.0, 2.0,
        ];
        let idx = grid_triangles(4, 2, &h);
        let quads: Vec<&[u32]> = idx.chunks(6).collect();
        // row 0: cells 0..3 merged, cell 3 alone; row 1: cells 0..2 merged, cell 2 (1 → 2)
        // alone, cell 3 — corners 1, 1, 2, 2 — alone
        assert_eq!(quads.len(), 5);
        assert_eq!(quads[0], &[0, 5, 3, 3, 5, 8]);
        assert_eq!(quads[1], &[3, 8, 4, 4, 8, 9]);
        assert_eq!(quads[2], &[5, 10, 7, 7, 10, 12]);
        assert_eq!(quads[3], &[7, 12, 8, 8, 12, 13]);
        assert_eq!(quads[4], &[8, 13, 9, 9, 13, 14]);
        // a grid with no flat cell keeps every cell
        let rough: Vec<f32> = (0..15).map(|k| k as f32).collect();
        assert_eq!(grid_triangles(4, 2, &rough).len(), 6 * 8);
        // and the covered area is the whole grid either way: plan areas (unit cells) add up
        for idx in [grid_triangles(4, 2, &h), grid_triangles(4, 2, &rough)] {
            let area: f32 = idx
                .chunks(3)
                .map(|t| {
                    // plan positions: x east along i, z south along j; the y component of
                    // (b − a) × (c − a) is twice the area, positive counter-clockwise from +Y
                    let p = |k: u32| Vec3::new((k % 5) as f32, 0.0, (k / 5) as f32);
                    let (a, b, c) = (p(t[0]), p(t[1]), p(t[2]));
                    0.5 * (b - a).cross(c - a).y
                })
                .sum();
            assert_eq!(area, 8.0);
        }
    }

    #[test]
    fn overlay_pixels_are_transparent_below_the_range() {
        let px = overlay_pixels(&[0.0, 0.5, 10.0, f32::NAN], false, (1.0, 10.0));
        assert_eq!(px[3], 0);
        assert_eq!(px[7], 0);
        assert_eq!(&px[8..12], &[253, 231, 37, 255]);
        let faint = overlay_pixels(&[1.2], false, (1.0, 10.0));
        assert!(faint[3] > 0 && faint[3] < 255, "faint values fade in");
        assert_eq!(px[15], 0);
    }

    #[test]
    fn difference_pixels_are_signed() {
        let px = overlay_pixels(&[-2.0, 0.0, 2.0], true, (-2.0, 2.0));
        assert!(px[2] > px[0], "negative is blue");
        assert_eq!(px[7], 0, "no difference is transparent");
        assert!(px[8] > px[10], "positive is red");
    }

    #[test]
    fn a_difference_range_is_symmetric_and_ignores_the_extreme_half_percent() {
        let mut v: Vec<f32> = (-1000..=1000).map(|i| i as f32).collect();
        v.push(1e9);
        v.push(f32::NAN);
        let (lo, hi) = difference_range(&v);
        assert_eq!(lo, -hi);
        assert!(hi > 990.0 && hi <= 1000.0, "{hi}");
        assert_eq!(difference_range(&[0.0, 0.0]), (0.0, 1e-9));
    }

    #[test]
    fn the_display_range_is_the_99_5th_percentile_and_two_decades() {
        let v: Vec<f32> = (1..=1000).map(|i| i as f32).collect();
        let (lo, hi) = concentration_range(&v);
        assert!((hi - 995.0).abs() < 1.0 && (lo - hi * 1e-2).abs() < 1e-9);
    }
}
