//! Cloud-Optimized GeoTIFF for multi-band Float32 rasters on a projected grid: 256×256 tiles,
//! planar (band-separate) layout, internal overviews, every IFD before the data (the COG
//! layout, with GDAL's structural metadata), ModelPixelScale + ModelTiepoint + GeoKeys naming
//! the EPSG code, and GDAL metadata with each band's description and unit, so `gdalinfo`
//! shows the corner coordinates, the CRS and what every band holds, and GIS clients read a
//! window or an overview without the whole file. [`read_bands`] reads them back.

use std::io::Write;
use std::path::Path;

/// One band: a description (e.g. "PM2.5 time-mean µg/m³"), its unit, and its values,
/// row-major from the **northern** row.
#[derive(Debug, Clone)]
pub struct Band<'a> {
    /// Band description shown by GIS tools.
    pub description: String,
    /// Unit of the values.
    pub unit: String,
    /// `width * height` values, top (north) row first.
    pub values: &'a [f32],
}

/// Georeferencing of a north-up raster in a projected CRS.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoReference {
    /// EPSG code of the projected CRS.
    pub epsg: u32,
    /// Easting of the western edge.
    pub min_x: f64,
    /// Northing of the northern edge.
    pub max_y: f64,
    /// Pixel size, m.
    pub pixel: f64,
}

const TYPE_SHORT: u16 = 3;
const TYPE_LONG: u16 = 4;
const TYPE_ASCII: u16 = 2;
const TYPE_DOUBLE: u16 = 12;

/// Tile edge, pixels (square tiles; the COG default).
pub const TILE: usize = 256;

/// GDAL's structural metadata ("ghost area") right after the TIFF header: every IFD comes
/// before the image data, tiles are in row-major order, and each tile is preceded by its size
/// (4 bytes) and followed by a repeat of its last 4 bytes, so a reader fetching a tile over
/// HTTP knows it got all of it. GDAL reports such a file as `LAYOUT=COG`.
const GHOST: &str = "GDAL_STRUCTURAL_METADATA_SIZE=000000 bytes\nLAYOUT=IFDS_BEFORE_DATA\nBLOCK_ORDER=ROW_MAJOR\nBLOCK_LEADER=SIZE_AS_UINT4\nBLOCK_TRAILER=LAST_4_BYTES_REPEATED\nKNOWN_INCOMPATIBLE_EDITION=NO\n";

/// Bytes a tile takes in the file: its leader (size), its data, its trailer (last 4 bytes).
const TILE_STRIDE: u32 = 4 + (TILE * TILE * 4) as u32 + 4;

#[derive(Clone)]
enum TagValue {
    Short(Vec<u16>),
    Long(Vec<u32>),
    Double(Vec<f64>),
    Ascii(String),
}

impl TagValue {
    fn kind_count_bytes(&self) -> (u16, u32, Vec<u8>) {
        match self {
            TagValue::Short(v) => (
                TYPE_SHORT,
                v.len() as u32,
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
            TagValue::Long(v) => (
                TYPE_LONG,
                v.len() as u32,
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
            TagValue::Double(v) => (
                TYPE_DOUBLE,
                v.len() as u32,
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
            TagValue::Ascii(s) => {
                let mut b = s.as_bytes().to_vec();
                b.push(0);
                (TYPE_ASCII, b.len() as u32, b)
            }
        }
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One resolution level: its size and its bands, row-major from the north.
struct Level {
    width: usize,
    height: usize,
    bands: Vec<Vec<f32>>,
}

impl Level {
    fn tiles_across(&self) -> usize {
        self.width.div_ceil(TILE)
    }
    fn tiles_down(&self) -> usize {
        self.height.div_ceil(TILE)
    }
    /// Number of tiles over all bands (band-separate planes, each tiled row-major).
    fn n_tiles(&self) -> usize {
        self.tiles_across() * self.tiles_down() * self.bands.len()
    }

    /// The next coarser level: 2×2 means of the finite values (NaN where none is).
    fn halved(&self) -> Level {
        let (w, h) = (self.width.div_ceil(2), self.height.div_ceil(2));
        let bands = self
            .bands
            .iter()
            .map(|b| {
                let mut out = Vec::with_capacity(w * h);
                for j in 0..h {
                    for i in 0..w {
                        let (mut sum, mut n) = (0.0f64, 0u32);
                        for (di, dj) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                            let (x, y) = (2 * i + di, 2 * j + dj);
                            if x < self.width && y < self.height {
                                let v = b[y * self.width + x];
                                if v.is_finite() {
                                    sum += f64::from(v);
                                    n += 1;
                                }
                            }
                        }
                        out.push(if n > 0 {
                            (sum / f64::from(n)) as f32
                        } else {
                            f32::NAN
                        });
                    }
                }
                out
            })
            .collect();
        Level {
            width: w,
            height: h,
            bands,
        }
    }

    /// The bytes of one tile of one band, padded with zeros past the raster's edge.
    fn tile_bytes(&self, band: usize, tx: usize, ty: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(TILE * TILE * 4);
        let b = &self.bands[band];
        for y in ty * TILE..(ty + 1) * TILE {
            for x in tx * TILE..(tx + 1) * TILE {
                let v = if x < self.width && y < self.height {
                    b[y * self.width + x]
                } else {
                    0.0
                };
                out.extend(v.to_le_bytes());
            }
        }
        out
    }
}

/// The IFD bytes of one level, given where it starts and where its tiles start.
fn ifd_bytes(
    level: &Level,
    ifd_at: u32,
    first_tile_at: u32,
    extra_tags: &[(u16, TagValue)],
    overview: bool,
) -> Vec<u8> {
    let nb = level.bands.len();
    let tile_len = (TILE * TILE * 4) as u32;
    let n = level.n_tiles();
    // each offset points past the tile's 4-byte leader
    let offsets: Vec<u32> = (0..n as u32)
        .map(|k| first_tile_at + k * TILE_STRIDE + 4)
        .collect();
    let mut tags: Vec<(u16, TagValue)> = vec![
        (254, TagValue::Long(vec![u32::from(overview)])),
        (256, TagValue::Long(vec![level.width as u32])),
        (257, TagValue::Long(vec![level.height as u32])),
        (258, TagValue::Short(vec![32; nb])),
        (259, TagValue::Short(vec![1])),
        (262, TagValue::Short(vec![1])),
        (277, TagValue::Short(vec![nb as u16])),
        (284, TagValue::Short(vec![2])),
        (322, TagValue::Long(vec![TILE as u32])),
        (323, TagValue::Long(vec![TILE as u32])),
        (324, TagValue::Long(offsets)),
        (325, TagValue::Long(vec![tile_len; n])),
        (339, TagValue::Short(vec![3; nb])),
    ];
    if nb > 1 {
        tags.push((338, TagValue::Short(vec![0; nb - 1])));
    }
    tags.extend(extra_tags.iter().cloned());
    tags.sort_by_key(|t| t.0);
    // count, entries, next-IFD offset (patched by the caller), then out-of-line values
    let entries_len = 2 + tags.len() as u32 * 12 + 4;
    let mut extra: Vec<u8> = Vec::new();
    let mut ifd: Vec<u8> = Vec::new();
    ifd.extend((tags.len() as u16).to_le_bytes());
    for (tag, value) in &tags {
        let (kind, count, bytes) = value.kind_count_bytes();
        ifd.extend(tag.to_le_bytes());
        ifd.extend(kind.to_le_bytes());
        ifd.extend(count.to_le_bytes());
        if bytes.len() <= 4 {
            let mut inline = bytes.clone();
            inline.resize(4, 0);
            ifd.extend(inline);
        } else {
            let off = ifd_at + entries_len + extra.len() as u32;
            ifd.extend(off.to_le_bytes());
            extra.extend(&bytes);
            if extra.len() % 2 == 1 {
                extra.push(0); // word alignment
            }
        }
    }
    ifd.extend(0u32.to_le_bytes());
    ifd.extend(extra);
    ifd
}

/// Writes a Cloud-Optimized GeoTIFF (little endian, uncompressed Float32, 256×256 tiles, one
/// plane per band, internal overviews by 2×2 means down to one tile) with one band per entry
/// of `bands`. Layout as the COG specification and GDAL's COG driver have it: the TIFF header,
/// GDAL's structural metadata, every IFD (full resolution first, then each overview), then the
/// tile data from the coarsest overview to full resolution. `metadata` items are written as
/// dataset-level GDAL metadata; band descriptions and units as band items.
pub fn write_geotiff(
    path: &Path,
    width: usize,
    height: usize,
    geo: &GeoReference,
    bands: &[Band<'_>],
    metadata: &[(&str, String)],
) -> std::io::Result<()> {
    let n = width * height;
    if n == 0 || bands.is_empty() || bands.iter().any(|b| b.values.len() != n) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "every band needs width*height values (at least one)",
        ));
    }
    let mut gdal = String::from("<GDALMetadata>\n");
    for (k, v) in metadata {
        gdal.push_str(&format!(
            "  <Item name=\"{}\">{}</Item>\n",
            xml_escape(k),
            xml_escape(v)
        ));
    }
    for (i, b) in bands.iter().enumerate() {
        gdal.push_str(&format!(
            "  <Item name=\"DESCRIPTION\" sample=\"{i}\" role=\"description\">{}</Item>\n",
            xml_escape(&b.description)
        ));
        gdal.push_str(&format!(
            "  <Item name=\"UNITTYPE\" sample=\"{i}\" role=\"unittype\">{}</Item>\n",
            xml_escape(&b.unit)
        ));
    }
    gdal.push_str("</GDALMetadata>");
    let geokeys: Vec<u16> = vec![
        1,
        1,
        0,
        3, // version 1.1.0, 3 keys
        1024,
        0,
        1,
        1, // GTModelType = projected
        1025,
        0,
        1,
        1, // GTRasterType = PixelIsArea
        3072,
        0,
        1,
        geo.epsg as u16, // ProjectedCSType
    ];
    let geo_tags = vec![
        (33550, TagValue::Double(vec![geo.pixel, geo.pixel, 0.0])),
        (
            33922,
            TagValue::Double(vec![0.0, 0.0, 0.0, geo.min_x, geo.max_y, 0.0]),
        ),
        (34735, TagValue::Short(geokeys)),
        (42112, TagValue::Ascii(gdal)),
    ];

    // full resolution, then halve until the level fits one tile
    let mut levels = vec![Level {
        width,
        height,
        bands: bands.iter().map(|b| b.values.to_vec()).collect(),
    }];
    while let Some(last) = levels.last().filter(|l| l.width > TILE || l.height > TILE) {
        let next = last.halved();
        levels.push(next);
    }

    // sizes first: IFDs do not depend on offsets for their length
    // the ghost area, padded so the first IFD starts on a word boundary
    let mut ghost = GHOST.to_string();
    if ghost.len() % 2 == 1 {
        ghost.push(' ');
    }
    let ghost = ghost.replace("000000", &format!("{:06}", ghost.len() - 43));
    let header_len = 8 + ghost.len() as u32;
    let mut ifd_at = Vec::with_capacity(levels.len());
    let mut at = header_len;
    for (k, level) in levels.iter().enumerate() {
        ifd_at.push(at);
        let extra: &[(u16, TagValue)] = if k == 0 { &geo_tags } else { &[] };
        at += ifd_bytes(level, at, 0, extra, k > 0).len() as u32;
        at += at % 2;
    }
    // tile data: coarsest overview first, full resolution last
    let mut data_at = vec![0u32; levels.len()];
    let mut end = u64::from(at);
    for k in (0..levels.len()).rev() {
        data_at[k] = u32::try_from(end).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "raster too large for a classic (32-bit offset) TIFF",
            )
        })?;
        end += levels[k].n_tiles() as u64 * u64::from(TILE_STRIDE);
    }
    if end > u64::from(u32::MAX) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "raster too large for a classic (32-bit offset) TIFF",
        ));
    }

    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    f.write_all(b"II")?;
    f.write_all(&42u16.to_le_bytes())?;
    f.write_all(&header_len.to_le_bytes())?;
    f.write_all(ghost.as_bytes())?;
    let mut written = header_len;
    for (k, level) in levels.iter().enumerate() {
        let extra: &[(u16, TagValue)] = if k == 0 { &geo_tags } else { &[] };
        let mut ifd = ifd_bytes(level, ifd_at[k], data_at[k], extra, k > 0);
        // link to the next IFD (the 4 bytes after the entries)
        let next = ifd_at.get(k + 1).copied().unwrap_or(0);
        let entries = u16::from_le_bytes([ifd[0], ifd[1]]) as usize;
        let link = 2 + entries * 12;
        ifd[link..link + 4].copy_from_slice(&next.to_le_bytes());
        if ifd.len() % 2 == 1 {
            ifd.push(0);
        }
        f.write_all(&ifd)?;
        written += ifd.len() as u32;
    }
    debug_assert_eq!(written, data_at[levels.len() - 1]);
    for level in levels.iter().rev() {
        for band in 0..level.bands.len() {
            for ty in 0..level.tiles_down() {
                for tx in 0..level.tiles_across() {
                    let tile = level.tile_bytes(band, tx, ty);
                    f.write_all(&(tile.len() as u32).to_le_bytes())?;
                    f.write_all(&tile)?;
                    f.write_all(&tile[tile.len() - 4..])?;
                }
            }
        }
    }
    f.flush()
}

/// A raster read back by [`read_bands`]: georeference, band descriptions and the values as an
/// `ndarray` array indexed (band, row from north, column).
#[derive(Debug, Clone)]
pub struct Bands {
    /// Georeferencing (north-up, projected).
    pub geo: GeoReference,
    /// Each band's description (GDAL `DESCRIPTION` item; empty when absent).
    pub descriptions: Vec<String>,
    /// Values, shape (bands, height, width).
    pub values: ndarray::Array3<f32>,
}

/// Errors from reading a GeoTIFF back.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Not a raster of the kind the engine writes (north-up Float32 in an EPSG-coded CRS).
    #[error("{}: {message}", path.display())]
    Unsupported {
        /// The file.
        path: std::path::PathBuf,
        /// What is missing or different.
        message: String,
    },
}

/// Reads every Float32 band of a north-up GeoTIFF in a projected EPSG CRS as [`write_geotiff`]
/// writes them (little endian, uncompressed, tiled or stripped, one plane per band or a single
/// band) with its georeference and band descriptions. The full-resolution image (the first IFD)
/// is read; overviews are skipped. Every offset and count is checked against the file's size
/// before it is used, so a damaged file gives an error, not a panic.
pub fn read_bands(path: &Path) -> Result<Bands, ReadError> {
    let bytes = std::fs::read(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |message: String| ReadError::Unsupported {
        path: path.to_path_buf(),
        message,
    };
    let tiff = Tiff { bytes: &bytes };
    if bytes.get(..4) != Some(b"II*\0".as_slice()) {
        return Err(bad("not a little-endian classic TIFF".into()));
    }
    let ifd = tiff
        .u32_at(4)
        .ok_or_else(|| bad("truncated header".into()))? as usize;
    let tags = tiff
        .ifd(ifd)
        .ok_or_else(|| bad(format!("IFD at {ifd} runs past the end of the file")))?;
    let one = |tag: u16| -> Result<u32, ReadError> {
        tags.get(&tag)
            .and_then(|v| v.first().copied())
            .ok_or_else(|| bad(format!("tag {tag} missing")))
    };
    let (w, h) = (one(256)? as usize, one(257)? as usize);
    let nb = tags.get(&277).and_then(|v| v.first()).copied().unwrap_or(1) as usize;
    if one(259)? != 1 {
        return Err(bad(
            "compressed; the engine's rasters are uncompressed".into()
        ));
    }
    if tags.get(&339).is_none_or(|v| v.iter().any(|&f| f != 3))
        || tags.get(&258).is_none_or(|v| v.iter().any(|&b| b != 32))
    {
        return Err(bad("samples are not Float32".into()));
    }
    if nb > 1 && tags.get(&284).and_then(|v| v.first()).copied() != Some(2) {
        return Err(bad(
            "bands are interleaved; expected one plane per band".into()
        ));
    }
    // blocks: tiles (322/323) or strips (full-width, RowsPerStrip high)
    let (bw, bh) = match (tags.get(&322), tags.get(&323)) {
        (Some(tw), Some(th)) => (
            tw.first().copied().unwrap_or(0) as usize,
            th.first().copied().unwrap_or(0) as usize,
        ),
        _ => (
            w,
            tags.get(&278)
                .map_or(h, |r| r.first().copied().unwrap_or(0) as usize),
        ),
    };
    let (offsets, counts) = match (tags.get(&324), tags.get(&325)) {
        (Some(o), Some(c)) => (o, c),
        _ => match (tags.get(&273), tags.get(&279)) {
            (Some(o), Some(c)) => (o, c),
            _ => return Err(bad("no tile or strip offsets".into())),
        },
    };
    if w == 0 || h == 0 || bw == 0 || bh == 0 {
        return Err(bad("empty raster or block".into()));
    }
    let (across, down) = (w.div_ceil(bw), h.div_ceil(bh));
    let per_band = across.saturating_mul(down);
    if Some(offsets.len()) != per_band.checked_mul(nb) || counts.len() != offsets.len() {
        return Err(bad(format!(
            "{} blocks for {nb} band(s) of {across}×{down}",
            offsets.len()
        )));
    }
    // uncompressed Float32: the file must hold at least the raster's bytes (checked before
    // the raster is allocated, so a corrupt size cannot ask for more memory than the file)
    let values = nb
        .checked_mul(w)
        .and_then(|v| v.checked_mul(h))
        .filter(|v| v.checked_mul(4).is_some_and(|b| b <= bytes.len()))
        .ok_or_else(|| {
            bad(format!(
                "{nb} band(s) of {w}×{h} Float32 do not fit in a {}-byte file",
                bytes.len()
            ))
        })?;
    let mut data = vec![0f32; values];
    for (k, (&off, &count)) in offsets.iter().zip(counts).enumerate() {
        let (band, rest) = (k / per_band, k % per_band);
        let (bx, by) = (rest % across, rest / across);
        let rows = bh.min(h - by * bh);
        let need = if tags.contains_key(&322) { bh } else { rows }
            .checked_mul(bw)
            .and_then(|n| n.checked_mul(4))
            .ok_or_else(|| bad(format!("block {k}: {bw}×{bh} is too large")))?;
        let (off, count) = (off as usize, count as usize);
        if count < need {
            return Err(bad(format!("block {k}: {count} bytes, {need} needed")));
        }
        let block = bytes
            .get(off..off.saturating_add(need))
            .ok_or_else(|| bad(format!("block {k} runs past the end of the file")))?;
        for r in 0..rows {
            let y = by * bh + r;
            let cols = bw.min(w - bx * bw);
            for c in 0..cols {
                let o = (r * bw + c) * 4;
                let v = f32::from_le_bytes([block[o], block[o + 1], block[o + 2], block[o + 3]]);
                data[(band * h + y) * w + bx * bw + c] = v;
            }
        }
    }
    let doubles = |tag: u16| tiff.doubles(ifd, tag);
    let scale = doubles(33550)
        .filter(|v| v.len() >= 2 && v[0] > 0.0 && (v[0] - v[1]).abs() < 1e-9 * v[0])
        .ok_or_else(|| bad("ModelPixelScaleTag (33550) missing or not square".into()))?;
    let tie = doubles(33922)
        .filter(|v| v.len() >= 6)
        .ok_or_else(|| bad("ModelTiepointTag (33922) missing".into()))?;
    let keys = tags
        .get(&34735)
        .ok_or_else(|| bad("GeoKeyDirectoryTag (34735) missing: no CRS".into()))?;
    let epsg = keys
        .get(4..)
        .and_then(|k| k.chunks_exact(4).find(|e| e[0] == 3072 && e[1] == 0))
        .map(|e| e[3])
        .ok_or_else(|| bad("no ProjectedCSType GeoKey: not a projected EPSG raster".into()))?;
    let metadata = tiff.ascii(ifd, 42112).unwrap_or_default();
    let descriptions = (0..nb)
        .map(|i| band_item(&metadata, i, "description").unwrap_or_default())
        .collect();
    let values =
        ndarray::Array3::from_shape_vec((nb, h, w), data).map_err(|e| bad(e.to_string()))?;
    Ok(Bands {
        geo: GeoReference {
            epsg,
            min_x: tie[3] - tie[0] * scale[0],
            max_y: tie[4] + tie[1] * scale[0],
            pixel: scale[0],
        },
        descriptions,
        values,
    })
}

/// Checked little-endian reads from a TIFF in memory.
struct Tiff<'a> {
    bytes: &'a [u8],
}

impl Tiff<'_> {
    fn u16_at(&self, o: usize) -> Option<u16> {
        Some(u16::from_le_bytes(
            self.bytes.get(o..o + 2)?.try_into().ok()?,
        ))
    }

    fn u32_at(&self, o: usize) -> Option<u32> {
        Some(u32::from_le_bytes(
            self.bytes.get(o..o + 4)?.try_into().ok()?,
        ))
    }

    /// The entry (type, count, value offset or inline position) of `tag` in the IFD at `ifd`.
    fn entry(&self, ifd: usize, tag: u16) -> Option<(u16, usize, usize)> {
        let n = self.u16_at(ifd)? as usize;
        (0..n).find_map(|e| {
            let at = ifd + 2 + 12 * e;
            (self.u16_at(at)? == tag).then_some(())?;
            let (kind, count) = (self.u16_at(at + 2)?, self.u32_at(at + 4)? as usize);
            let size = match kind {
                TYPE_SHORT => 2,
                TYPE_LONG => 4,
                TYPE_DOUBLE => 8,
                TYPE_ASCII => 1,
                _ => return None,
            };
            let base = if size * count <= 4 {
                at + 8
            } else {
                self.u32_at(at + 8)? as usize
            };
            self.bytes
                .get(base..base.checked_add(size.checked_mul(count)?)?)?;
            Some((kind, count, base))
        })
    }

    /// Every SHORT or LONG tag of the IFD at `ifd`, as u32 values.
    fn ifd(&self, ifd: usize) -> Option<std::collections::BTreeMap<u16, Vec<u32>>> {
        let n = self.u16_at(ifd)? as usize;
        self.bytes.get(ifd..ifd + 2 + 12 * n + 4)?;
        let mut tags = std::collections::BTreeMap::new();
        for e in 0..n {
            let tag = self.u16_at(ifd + 2 + 12 * e)?;
            if let Some((kind, count, base)) = self.entry(ifd, tag) {
                let v: Option<Vec<u32>> = match kind {
                    TYPE_SHORT => (0..count)
                        .map(|k| self.u16_at(base + 2 * k).map(u32::from))
                        .collect(),
                    TYPE_LONG => (0..count).map(|k| self.u32_at(base + 4 * k)).collect(),
                    _ => continue,
                };
                tags.insert(tag, v?);
            }
        }
        Some(tags)
    }

    fn doubles(&self, ifd: usize, tag: u16) -> Option<Vec<f64>> {
        let (kind, count, base) = self.entry(ifd, tag)?;
        (kind == TYPE_DOUBLE).then_some(())?;
        (0..count)
            .map(|k| {
                let b = self.bytes.get(base + 8 * k..base + 8 * k + 8)?;
                Some(f64::from_le_bytes(b.try_into().ok()?))
            })
            .collect()
    }

    fn ascii(&self, ifd: usize, tag: u16) -> Option<String> {
        let (kind, count, base) = self.entry(ifd, tag)?;
        (kind == TYPE_ASCII).then_some(())?;
        let b = self.bytes.get(base..base + count)?;
        Some(
            String::from_utf8_lossy(b)
                .trim_end_matches('\0')
                .to_string(),
        )
    }
}

/// The GDAL metadata item of band `sample` with `role` (as [`write_geotiff`] writes them).
fn band_item(xml: &str, sample: usize, role: &str) -> Option<String> {
    let want = [format!("sample=\"{sample}\""), format!("role=\"{role}\"")];
    xml.split("<Item ").skip(1).find_map(|item| {
        let (attrs, rest) = item.split_once('>')?;
        let value = rest.split_once("</Item>")?.0;
        want.iter()
            .all(|w| attrs.contains(w.as_str()))
            .then(|| crate::terrain::xml_unescape(value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::terrain::Terrain;

    #[test]
    fn round_trip_through_the_terrain_reader() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("one.tif");
        let values: Vec<f32> = (0..12).map(|v| v as f32 * 1.5).collect();
        let geo = GeoReference {
            epsg: 32648,
            min_x: 700_000.0,
            max_y: 2_330_000.0,
            pixel: 250.0,
        };
        write_geotiff(
            &path,
            4,
            3,
            &geo,
            &[Band {
                description: "PM2.5 time-mean µg/m³".into(),
                unit: "µg/m³".into(),
                values: &values,
            }],
            &[("SYNTHETIC", "no".into())],
        )
        .expect("written");
        let t = Terrain::read_geotiff(&path).expect("readable");
        assert_eq!((t.width, t.height, t.epsg), (4, 3, 32648));
        assert_eq!(t.data, values);
        assert_eq!(
            (t.origin_x, t.origin_y, t.pixel_width),
            (700_000.0, 2_330_000.0, 250.0)
        );
        assert_eq!(t.description.as_deref(), Some("PM2.5 time-mean µg/m³"));
        let b = read_bands(&path).expect("read back");
        assert_eq!(b.values.shape(), &[1, 3, 4]);
        assert_eq!(b.values.as_slice().expect("contiguous"), values.as_slice());
        assert_eq!(
            (b.geo.epsg, b.geo.min_x, b.geo.max_y, b.geo.pixel),
            (32648, 700_000.0, 2_330_000.0, 250.0)
        );
        assert_eq!(b.descriptions, ["PM2.5 time-mean µg/m³"]);
    }

    /// The COG rules (Cloud Optimized GeoTIFF specification, and what GDAL's
    /// `validate_cloud_optimized_geotiff.py` checks), read from the bytes: every IFD before any
    /// tile, the full-resolution IFD first, tiled levels halving in size marked as reduced
    /// images, tiles in increasing order within a level, coarser levels' data before finer.
    fn check_cog(bytes: &[u8]) -> Result<usize, String> {
        let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]);
        let u32_at =
            |o: usize| u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
        if &bytes[..4] != b"II*\0" {
            return Err("not a little-endian classic TIFF".into());
        }
        let ghost = std::str::from_utf8(&bytes[8..8 + 43]).map_err(|e| e.to_string())?;
        if !ghost.starts_with("GDAL_STRUCTURAL_METADATA_SIZE=") {
            return Err("no GDAL structural metadata".into());
        }
        let mut ifd = u32_at(4) as usize;
        if ifd > 300 {
            return Err(format!("first IFD at {ifd}, not at the start"));
        }
        let mut levels: Vec<(u32, u32, u32, Vec<u32>)> = Vec::new(); // (w, h, subfile, offsets)
        let mut last_ifd = 0;
        while ifd != 0 {
            last_ifd = last_ifd.max(ifd);
            let n = u16_at(ifd) as usize;
            let (mut w, mut h, mut sub, mut tw, mut offsets) = (0, 0, 0, 0, Vec::new());
            for e in 0..n {
                let at = ifd + 2 + 12 * e;
                let (tag, kind, count) = (u16_at(at), u16_at(at + 2), u32_at(at + 4) as usize);
                let value = |k: usize| -> u32 {
                    let size = if kind == TYPE_SHORT { 2 } else { 4 };
                    let base = if size * count <= 4 {
                        at + 8
                    } else {
                        u32_at(at + 8) as usize
                    };
                    if size == 2 {
                        u32::from(u16_at(base + 2 * k))
                    } else {
                        u32_at(base + 4 * k)
                    }
                };
                match tag {
                    254 => sub = value(0),
                    256 => w = value(0),
                    257 => h = value(0),
                    322 => tw = value(0),
                    324 => offsets = (0..count).map(value).collect(),
                    273 => return Err("strips, not tiles".into()),
                    _ => {}
                }
            }
            if tw == 0 {
                return Err("no TileWidth".into());
            }
            levels.push((w, h, sub, offsets));
            ifd = u32_at(ifd + 2 + 12 * n) as usize;
        }
        let first_tile = levels
            .iter()
            .flat_map(|l| l.3.iter())
            .min()
            .copied()
            .unwrap_or(0) as usize;
        if last_ifd >= first_tile {
            return Err("an IFD comes after image data".into());
        }
        for (k, l) in levels.iter().enumerate() {
            if (k == 0) != (l.2 == 0) {
                return Err(format!("level {k}: NewSubfileType {}", l.2));
            }
            if l.3.windows(2).any(|w| w[1] <= w[0]) {
                return Err(format!("level {k}: tiles out of order"));
            }
            if k > 0 {
                let prev = &levels[k - 1];
                if l.0 != prev.0.div_ceil(2) || l.1 != prev.1.div_ceil(2) {
                    return Err(format!("level {k} is not half of level {}", k - 1));
                }
                // a coarser level's data lies before the finer level's
                if l.3.iter().max() >= prev.3.iter().min() {
                    return Err(format!("level {k}'s data is not before level {}'s", k - 1));
                }
            }
        }
        let last = levels.last().ok_or("no IFD")?;
        if last.0 as usize > TILE || last.1 as usize > TILE {
            return Err("the coarsest overview is larger than one tile".into());
        }
        Ok(levels.len())
    }

    #[test]
    fn writes_a_cloud_optimized_geotiff_that_reads_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("cog.tif");
        let (w, h) = (600, 300);
        let a: Vec<f32> = (0..w * h)
            .map(|k| (k % w) as f32 + 1000.0 * (k / w) as f32)
            .collect();
        let b: Vec<f32> = a.iter().map(|v| -v).collect();
        let geo = GeoReference {
            epsg: 32648,
            min_x: 680_000.0,
            max_y: 2_360_000.0,
            pixel: 100.0,
        };
        let band = |d: &str, v| Band {
            description: d.into(),
            unit: "µg/m³".into(),
            values: v,
        };
        write_geotiff(&path, w, h, &geo, &[band("SO2", &a), band("NOx", &b)], &[])
            .expect("written");
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(check_cog(&bytes), Ok(3), "600×300 → 300×150 → 150×75");
        let r = read_bands(&path).expect("read back");
        assert_eq!(r.values.dim(), (2, h, w));
        assert_eq!(
            r.values
                .index_axis(ndarray::Axis(0), 0)
                .iter()
                .copied()
                .collect::<Vec<_>>(),
            a
        );
        assert_eq!(
            r.values
                .index_axis(ndarray::Axis(0), 1)
                .iter()
                .copied()
                .collect::<Vec<_>>(),
            b
        );
        assert_eq!(r.geo, geo);
        assert_eq!(r.descriptions, ["SO2", "NOx"]);
    }
}
