//! Map images: a concentration field colour-mapped (log scale) over land and sea, the coastline,
//! the sources and the district seats, a colour bar with a tick at every decade, a title with
//! the pollutant, period and unit, a scale bar and a north arrow, written as PNG. Text is
//! TrueType ([`super::text::Pen`]); a built-in 5×7 bitmap font is the fallback without one.

use std::path::Path;

use geo::{Geometry, LineString};

use super::OutputError;
use super::text::Pen;
use crate::grid::Grid;

/// An RGBA image.
#[derive(Debug, Clone)]
pub struct Image {
    /// Width, px.
    pub width: usize,
    /// Height, px.
    pub height: usize,
    /// RGBA bytes, row-major from the top.
    pub rgba: Vec<u8>,
}

impl Image {
    /// A filled image.
    pub fn new(width: usize, height: usize, fill: [u8; 4]) -> Self {
        Self {
            width,
            height,
            rgba: fill
                .iter()
                .copied()
                .cycle()
                .take(width * height * 4)
                .collect(),
        }
    }

    /// Sets a pixel (ignored outside).
    pub fn put(&mut self, x: i64, y: i64, c: [u8; 4]) {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            let k = (y as usize * self.width + x as usize) * 4;
            self.rgba[k..k + 4].copy_from_slice(&c);
        }
    }

    /// The colour of a pixel.
    pub fn get(&self, x: usize, y: usize) -> [u8; 4] {
        let k = (y * self.width + x) * 4;
        [
            self.rgba[k],
            self.rgba[k + 1],
            self.rgba[k + 2],
            self.rgba[k + 3],
        ]
    }

    /// Blends `c` over a pixel with opacity `alpha` in [0, 1] (ignored outside).
    pub fn blend(&mut self, x: i64, y: i64, c: [u8; 4], alpha: f32) {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            let k = (y as usize * self.width + x as usize) * 4;
            let a = alpha.clamp(0.0, 1.0);
            for (px, new) in self.rgba[k..k + 3].iter_mut().zip(c) {
                let old = f32::from(*px);
                *px = (old + a * (f32::from(new) - old)).round() as u8;
            }
            self.rgba[k + 3] = 255;
        }
    }

    /// Fills a rectangle.
    pub fn rect(&mut self, x: i64, y: i64, w: i64, h: i64, c: [u8; 4]) {
        for yy in y..y + h {
            for xx in x..x + w {
                self.put(xx, yy, c);
            }
        }
    }

    /// Copies another image in at (x, y).
    pub fn blit(&mut self, other: &Image, x: i64, y: i64) {
        for yy in 0..other.height {
            for xx in 0..other.width {
                self.put(x + xx as i64, y + yy as i64, other.get(xx, yy));
            }
        }
    }

    /// Writes the image as an 8-bit RGBA PNG.
    pub fn write_png(&self, path: &Path) -> Result<(), OutputError> {
        let file = std::fs::File::create(path).map_err(|e| OutputError::io(path, e))?;
        let mut enc = png::Encoder::new(
            std::io::BufWriter::new(file),
            self.width as u32,
            self.height as u32,
        );
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc
            .write_header()
            .map_err(|e| OutputError::encode(path, e.to_string()))?;
        w.write_image_data(&self.rgba)
            .map_err(|e| OutputError::encode(path, e.to_string()))?;
        Ok(())
    }
}

/// Viridis (matplotlib's perceptually uniform map), sampled at nine points and interpolated.
const VIRIDIS: [[u8; 3]; 9] = [
    [68, 1, 84],
    [71, 44, 122],
    [59, 82, 139],
    [44, 113, 142],
    [33, 145, 140],
    [39, 173, 129],
    [92, 200, 99],
    [170, 220, 50],
    [253, 231, 37],
];

/// Colour of t in [0, 1] on the viridis map.
pub fn viridis(t: f64) -> [u8; 3] {
    let t = t.clamp(0.0, 1.0) * (VIRIDIS.len() - 1) as f64;
    let k = (t.floor() as usize).min(VIRIDIS.len() - 2);
    let f = t - k as f64;
    let (a, b) = (VIRIDIS[k], VIRIDIS[k + 1]);
    [0, 1, 2].map(|c| (f64::from(a[c]) + f * (f64::from(b[c]) - f64::from(a[c]))).round() as u8)
}

/// A logarithmic colour scale from `min` to `max` (values below `min` are not drawn).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogScale {
    /// Lowest value drawn.
    pub min: f64,
    /// Value at the top of the scale.
    pub max: f64,
}

impl LogScale {
    /// A scale spanning `decades` decades below the maximum of `values` (rounded up to a power of 10).
    pub fn for_values(values: &[f32], decades: f64) -> Self {
        let peak = values.iter().fold(0.0f64, |a, v| a.max(f64::from(*v)));
        let max = if peak > 0.0 {
            10f64.powf(peak.log10().ceil())
        } else {
            1.0
        };
        Self {
            min: max / 10f64.powf(decades),
            max,
        }
    }

    /// Position of a value on the scale, or `None` below the minimum.
    pub fn t(&self, v: f64) -> Option<f64> {
        (v >= self.min && v > 0.0)
            .then(|| ((v / self.min).log10() / (self.max / self.min).log10()).clamp(0.0, 1.0))
    }
}

/// Land mask on the grid: cell centres inside any of the projected polygons (even–odd scanline).
pub fn land_mask(grid: &Grid, land: &[Geometry<f64>]) -> Vec<bool> {
    let mut rings: Vec<&LineString<f64>> = Vec::new();
    for g in land {
        match g {
            Geometry::Polygon(p) => {
                rings.push(p.exterior());
                rings.extend(p.interiors());
            }
            Geometry::MultiPolygon(mp) => {
                for p in mp {
                    rings.push(p.exterior());
                    rings.extend(p.interiors());
                }
            }
            _ => {}
        }
    }
    let mut mask = vec![false; grid.cells()];
    let mut xs: Vec<f64> = Vec::new();
    for j in 0..grid.ny {
        let y = grid.y0 + (j as f64 + 0.5) * grid.cell_m;
        xs.clear();
        for r in &rings {
            for l in r.lines() {
                let (a, b) = (l.start, l.end);
                if (a.y <= y) != (b.y <= y) {
                    xs.push(a.x + (y - a.y) / (b.y - a.y) * (b.x - a.x));
                }
            }
        }
        xs.sort_by(f64::total_cmp);
        for pair in xs.chunks_exact(2) {
            let i0 = ((pair[0] - grid.x0) / grid.cell_m - 0.5).ceil().max(0.0) as usize;
            let i1 = ((pair[1] - grid.x0) / grid.cell_m - 0.5).floor();
            if i1 < 0.0 {
                continue;
            }
            for i in i0..=(i1 as usize).min(grid.nx.saturating_sub(1)) {
                mask[j * grid.nx + i] = true;
            }
        }
    }
    mask
}

/// A marker to draw on a map.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Marker {
    /// A stack (filled square).
    Plant,
    /// A mine or area source (triangle).
    Mine,
    /// A station (small dot).
    Station,
}

const SEA: [u8; 3] = [198, 224, 240];
const LAND: [u8; 3] = [236, 232, 220];
const COAST: [u8; 4] = [90, 90, 90, 255];
const INK: [u8; 4] = [20, 20, 20, 255];

/// What a panel says around its map: the colour scale, the title (pollutant and quantity), a
/// subtitle (period), and the unit under the colour bar.
#[derive(Debug, Clone, Copy)]
pub struct Legend<'a> {
    /// Colour scale.
    pub scale: LogScale,
    /// Title above the map.
    pub title: &'a str,
    /// Second line (the period, the source of the field).
    pub subtitle: &'a str,
    /// Unit under the colour bar.
    pub unit: &'a str,
}

/// A round length for a scale bar of at most `max_m` metres: 1, 2 or 5 × 10ⁿ.
pub fn round_length_m(max_m: f64) -> f64 {
    let mag = 10f64.powf(max_m.max(1.0).log10().floor());
    [5.0, 2.0, 1.0]
        .iter()
        .map(|k| k * mag)
        .find(|&v| v <= max_m)
        .unwrap_or(mag)
}

/// Draws a scale bar with its left end at (x, y): a round length of at most `max_px` pixels at
/// `m_per_px`, in alternating black and white halves, labelled in km or m.
pub fn scale_bar(img: &mut Image, pen: &Pen, x: i64, y: i64, m_per_px: f64, max_px: i64) {
    let len_m = round_length_m(max_px as f64 * m_per_px);
    let px = (len_m / m_per_px).round() as i64;
    img.rect(x - 1, y - 1, px + 2, 8, INK);
    img.rect(x + px / 2, y, px - px / 2, 6, [255, 255, 255, 255]);
    let label = if len_m >= 1000.0 {
        format!("{} km", len_m / 1000.0)
    } else {
        format!("{len_m} m")
    };
    pen.draw_halo(img, "0", x - 3, y - 19, 13.0, INK);
    let w = pen.width(&label, 13.0);
    pen.draw_halo(img, &label, x + px - w / 2, y - 19, 13.0, INK);
}

/// Draws a north arrow (the maps are north-up) with its tip at (x, y).
pub fn north_arrow(img: &mut Image, pen: &Pen, x: i64, y: i64) {
    for r in 0..18 {
        let half = r / 3;
        img.rect(x - half - 1, y + r, 2 * half + 3, 1, [255, 255, 255, 255]);
        img.rect(x - half, y + r, half + 1, 1, INK);
        img.rect(x + 1, y + r, half, 1, [120, 120, 120, 255]);
    }
    let w = pen.width("N", 15.0);
    pen.draw_halo(img, "N", x - w / 2, y + 20, 15.0, INK);
}

/// Renders one field panel: the map (north up) with coastline, overlay, markers and labelled
/// places, a colour bar with ticks at every decade, the title and period, a scale bar and a
/// north arrow. `markers` and `labels` are in continuous cell coordinates; the map's longer
/// side is `max_map_px`.
#[allow(clippy::too_many_arguments)]
pub fn render_panel(
    grid: &Grid,
    field: &[f32],
    land: &[bool],
    markers: &[(Marker, f64, f64)],
    labels: &[(String, f64, f64)],
    legend: Legend<'_>,
    pen: &Pen,
    max_map_px: usize,
) -> Image {
    let Legend {
        scale,
        title,
        subtitle,
        unit,
    } = legend;
    let zoom = (max_map_px as f64 / grid.nx.max(grid.ny) as f64).max(0.1);
    let (mw, mh) = (
        ((grid.nx as f64) * zoom).round() as usize,
        ((grid.ny as f64) * zoom).round() as usize,
    );
    let bar_w = 170;
    let title_h = 58;
    let mut img = Image::new(mw + bar_w, mh + title_h, [255, 255, 255, 255]);
    let cell_at = |px: usize, py: usize| {
        let i = ((px as f64 + 0.5) / zoom) as usize;
        let j = grid.ny - 1 - (((py as f64 + 0.5) / zoom) as usize).min(grid.ny - 1);
        (i.min(grid.nx - 1), j)
    };
    for py in 0..mh {
        for px in 0..mw {
            let (i, j) = cell_at(px, py);
            let k = j * grid.nx + i;
            let base = if land[k] { LAND } else { SEA };
            let mut c = base;
            if let Some(t) = scale.t(f64::from(field[k])) {
                let v = viridis(t);
                let a = 0.8;
                c = [0, 1, 2]
                    .map(|n| (a * f64::from(v[n]) + (1.0 - a) * f64::from(base[n])).round() as u8);
            }
            // coastline: a land/sea change to the right or below
            let (ir, _) = cell_at((px + 1).min(mw - 1), py);
            let (_, jd) = cell_at(px, (py + 1).min(mh - 1));
            let coast = land[k] != land[j * grid.nx + ir] || land[k] != land[jd * grid.nx + i];
            img.put(
                px as i64,
                (py + title_h) as i64,
                if coast {
                    COAST
                } else {
                    [c[0], c[1], c[2], 255]
                },
            );
        }
    }
    let to_px = |fx: f64, fy: f64| {
        (
            ((fx + 0.5) * zoom).round() as i64,
            ((grid.ny as f64 - fy - 0.5) * zoom).round() as i64 + title_h as i64,
        )
    };
    for (m, fx, fy) in markers {
        let (x, y) = to_px(*fx, *fy);
        match m {
            Marker::Plant => {
                img.rect(x - 4, y - 4, 9, 9, [255, 255, 255, 255]);
                img.rect(x - 3, y - 3, 7, 7, [200, 0, 0, 255]);
            }
            Marker::Mine => {
                for r in 0..7 {
                    img.rect(x - r / 2 - 1, y - 3 + r, r + 2, 1, [255, 255, 255, 255]);
                    img.rect(x - r / 2, y - 3 + r, r, 1, INK);
                }
            }
            Marker::Station => img.rect(x - 1, y - 1, 3, 3, [255, 255, 255, 255]),
        }
    }
    // labelled places (district seats): a dot and the name beside it, inside the map only
    for (name, fx, fy) in labels {
        let (x, y) = to_px(*fx, *fy);
        if x < 0 || y < title_h as i64 || x >= mw as i64 || y >= (mh + title_h) as i64 {
            continue;
        }
        img.rect(x - 2, y - 2, 5, 5, [255, 255, 255, 255]);
        img.rect(x - 1, y - 1, 3, 3, INK);
        let w = pen.width(name, 13.0);
        let tx = if x + 5 + w < mw as i64 {
            x + 5
        } else {
            x - 5 - w
        };
        pen.draw_halo(&mut img, name, tx, y - 8, 13.0, INK);
    }
    // colour bar with a tick and label at every decade
    let (bx, by, bw, bh) = (
        mw as i64 + 20,
        title_h as i64 + 30,
        22i64,
        (mh as i64 - 90).max(60),
    );
    pen.draw(&mut img, unit, bx, by - 24, 15.0, INK);
    for yy in 0..bh {
        let t = 1.0 - yy as f64 / (bh - 1) as f64;
        let v = viridis(t);
        img.rect(bx, by + yy, bw, 1, [v[0], v[1], v[2], 255]);
    }
    img.rect(bx - 1, by - 1, bw + 2, 1, INK);
    img.rect(bx - 1, by + bh, bw + 2, 1, INK);
    img.rect(bx - 1, by - 1, 1, bh + 2, INK);
    img.rect(bx + bw, by - 1, 1, bh + 2, INK);
    let decades = (scale.max / scale.min).log10().round() as i32;
    for d in 0..=decades {
        let value = scale.min * 10f64.powi(d);
        let y = by + bh - 1 - ((d as f64 / decades.max(1) as f64) * (bh - 1) as f64).round() as i64;
        img.rect(bx + bw, y, 6, 1, INK);
        pen.draw(&mut img, &format_tick(value), bx + bw + 9, y - 8, 14.0, INK);
    }
    pen.draw(
        &mut img,
        &format!("below {}:", format_tick(scale.min)),
        bx,
        by + bh + 10,
        12.0,
        INK,
    );
    pen.draw(&mut img, "not coloured", bx, by + bh + 25, 12.0, INK);
    pen.draw(&mut img, title, 10, 6, 20.0, INK);
    pen.draw(&mut img, subtitle, 10, 32, 14.0, [70, 70, 70, 255]);
    // north arrow top right, scale bar bottom left of the map
    north_arrow(&mut img, pen, mw as i64 - 24, title_h as i64 + 10);
    scale_bar(
        &mut img,
        pen,
        16,
        (mh + title_h) as i64 - 20,
        grid.cell_m / zoom,
        (mw as i64 / 4).max(40),
    );
    img
}

/// Lays panels out in a grid of `cols` columns.
pub fn compose(panels: &[Image], cols: usize) -> Image {
    let cols = cols.max(1);
    let w = panels.iter().map(|p| p.width).max().unwrap_or(1);
    let h = panels.iter().map(|p| p.height).max().unwrap_or(1);
    let rows = panels.len().div_ceil(cols);
    let mut img = Image::new(w * cols, h * rows.max(1), [255, 255, 255, 255]);
    for (k, p) in panels.iter().enumerate() {
        img.blit(p, ((k % cols) * w) as i64, ((k / cols) * h) as i64);
    }
    img
}

/// A colour-bar tick label: plain decimals in the usual range, powers of ten outside it.
pub fn format_tick(v: f64) -> String {
    if (1e-2..1e5).contains(&v) {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("1e{}", v.log10().round() as i32)
    }
}

/// 5×7 glyphs, one row per entry, bit 4 = leftmost column.
fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_uppercase() {
        '0' => [14, 17, 19, 21, 25, 17, 14],
        '1' => [4, 12, 4, 4, 4, 4, 14],
        '2' => [14, 17, 1, 2, 4, 8, 31],
        '3' => [31, 2, 4, 2, 1, 17, 14],
        '4' => [2, 6, 10, 18, 31, 2, 2],
        '5' => [31, 16, 30, 1, 1, 17, 14],
        '6' => [6, 8, 16, 30, 17, 17, 14],
        '7' => [31, 1, 2, 4, 8, 8, 8],
        '8' => [14, 17, 17, 14, 17, 17, 14],
        '9' => [14, 17, 17, 15, 1, 2, 12],
        '.' => [0, 0, 0, 0, 0, 12, 12],
        '-' => [0, 0, 0, 31, 0, 0, 0],
        '+' => [0, 4, 4, 31, 4, 4, 0],
        '/' => [1, 2, 2, 4, 8, 8, 16],
        ':' => [0, 12, 12, 0, 12, 12, 0],
        '(' => [2, 4, 8, 8, 8, 4, 2],
        ')' => [8, 4, 2, 2, 2, 4, 8],
        'A' => [14, 17, 17, 31, 17, 17, 17],
        'B' => [30, 17, 17, 30, 17, 17, 30],
        'C' => [14, 17, 16, 16, 16, 17, 14],
        'D' => [28, 18, 17, 17, 17, 18, 28],
        'E' => [31, 16, 16, 30, 16, 16, 31],
        'F' => [31, 16, 16, 30, 16, 16, 16],
        'G' => [14, 17, 16, 23, 17, 17, 15],
        'H' => [17, 17, 17, 31, 17, 17, 17],
        'I' => [14, 4, 4, 4, 4, 4, 14],
        'J' => [7, 2, 2, 2, 2, 18, 12],
        'K' => [17, 18, 20, 24, 20, 18, 17],
        'L' => [16, 16, 16, 16, 16, 16, 31],
        'M' => [17, 27, 21, 21, 17, 17, 17],
        'N' => [17, 17, 25, 21, 19, 17, 17],
        'O' => [14, 17, 17, 17, 17, 17, 14],
        'P' => [30, 17, 17, 30, 16, 16, 16],
        'Q' => [14, 17, 17, 17, 21, 18, 13],
        'R' => [30, 17, 17, 30, 20, 18, 17],
        'S' => [15, 16, 16, 14, 1, 1, 30],
        'T' => [31, 4, 4, 4, 4, 4, 4],
        'U' => [17, 17, 17, 17, 17, 17, 14],
        'V' => [17, 17, 17, 17, 17, 10, 4],
        'W' => [17, 17, 17, 21, 21, 21, 10],
        'X' => [17, 17, 10, 4, 10, 17, 17],
        'Y' => [17, 17, 10, 4, 4, 4, 4],
        'Z' => [31, 1, 2, 4, 8, 16, 31],
        'µ' | 'Μ' => [0, 17, 17, 17, 19, 29, 16],
        '³' => [28, 4, 28, 4, 28, 0, 0],
        '²' => [28, 4, 28, 16, 28, 0, 0],
        _ => [0; 7],
    }
}

/// Draws text with the built-in font at `scale` pixels per font pixel.
pub fn draw_text(img: &mut Image, text: &str, x: i64, y: i64, scale: i64, colour: [u8; 4]) {
    for (n, ch) in text.chars().enumerate() {
        let g = glyph(ch);
        let ox = x + n as i64 * 6 * scale;
        for (row, bits) in g.iter().enumerate() {
            for col in 0..5 {
                if bits & (1 << (4 - col)) != 0 {
                    img.rect(
                        ox + col * scale,
                        y + row as i64 * scale,
                        scale,
                        scale,
                        colour,
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viridis_ends_and_log_scale() {
        assert_eq!(viridis(0.0), [68, 1, 84]);
        assert_eq!(viridis(1.0), [253, 231, 37]);
        let s = LogScale::for_values(&[0.0, 3.0, 42.0], 4.0);
        assert_eq!((s.min, s.max), (0.01, 100.0));
        assert_eq!(s.t(0.001), None);
        assert!((s.t(1.0).expect("in range") - 0.5).abs() < 1e-12);
        assert_eq!(format_tick(0.01), "0.01");
        assert_eq!(format_tick(1000.0), "1000");
        assert_eq!(format_tick(1e-4), "1e-4");
    }

    #[test]
    fn scanline_mask_fills_a_square_and_leaves_its_hole() {
        let grid = Grid {
            nx: 10,
            ny: 10,
            cell_m: 1.0,
            x0: 0.0,
            y0: 0.0,
            epsg: 32648,
        };
        let sq = |a: f64, b: f64| LineString::from(vec![(a, a), (b, a), (b, b), (a, b), (a, a)]);
        let poly = geo::Polygon::new(sq(2.0, 8.0), vec![sq(4.0, 6.0)]);
        let m = land_mask(&grid, &[poly.into()]);
        assert!(m[3 * 10 + 3] && !m[5 * 10 + 5] && !m[0] && !m[9 * 10 + 9]);
        assert_eq!(m.iter().filter(|b| **b).count(), 36 - 4);
    }
}
