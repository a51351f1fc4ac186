//! Terrain: a single-band elevation raster read from a GeoTIFF, sampled by lon/lat.
//!
//! The bundled Quảng Ninh terrain is synthetic (see `datasets/quang-ninh/SOURCES.md`); a real
//! DEM loads in its place as long as it is a single-band GeoTIFF in EPSG:4326 (SRTM, Copernicus
//! GLO-30, ASTER GDEM as distributed) or in a WGS84 UTM zone (EPSG:326NN/327NN), georeferenced
//! with ModelPixelScale + ModelTiepoint (what GDAL writes for north-up rasters).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use tiff::decoder::{ChunkType, Decoder, DecodingResult, Limits};
use tiff::tags::Tag;

use crate::geodesy::{EPSG_WGS84, Utm};

/// Most pixels a terrain raster may have: 2^28 (a 1 GiB Float32 grid, e.g. 16,384²), checked
/// before anything is decoded.
pub const MAX_CELLS: u64 = 1 << 28;
/// Largest single strip or tile the decoder may expand, bytes.
const MAX_CHUNK_BYTES: usize = 64 << 20;

enum ChunkError {
    Tiff(tiff::TiffError),
    Unsupported(String),
}

fn to_f32(r: DecodingResult) -> Result<Vec<f32>, ChunkError> {
    Ok(match r {
        DecodingResult::F32(v) => v,
        DecodingResult::F64(v) => v.into_iter().map(|x| x as f32).collect(),
        DecodingResult::I16(v) => v.into_iter().map(f32::from).collect(),
        DecodingResult::U16(v) => v.into_iter().map(f32::from).collect(),
        DecodingResult::I32(v) => v.into_iter().map(|x| x as f32).collect(),
        DecodingResult::U8(v) => v.into_iter().map(f32::from).collect(),
        DecodingResult::I8(v) => v.into_iter().map(f32::from).collect(),
        _ => {
            return Err(ChunkError::Unsupported(
                "sample format not supported for elevation (use Int16, UInt16, Int32, Float32 or Float64)".into(),
            ));
        }
    })
}

/// Decodes a one-band image chunk by chunk (strips or tiles) into a row-major `w` × `h` grid.
fn read_chunks<R: std::io::Read + std::io::Seek>(
    dec: &mut Decoder<R>,
    w: usize,
    h: usize,
) -> Result<Vec<f32>, ChunkError> {
    let n = match dec.get_chunk_type() {
        ChunkType::Strip => dec.strip_count(),
        ChunkType::Tile => dec.tile_count(),
    }
    .map_err(ChunkError::Tiff)?;
    let (cw, ch) = dec.chunk_dimensions();
    let (cw, ch) = (cw as usize, ch as usize);
    if cw == 0 || ch == 0 {
        return Err(ChunkError::Unsupported(
            "a strip or tile of zero size".into(),
        ));
    }
    let across = w.div_ceil(cw).max(1);
    let down = h.div_ceil(ch).max(1);
    if n as usize != across * down {
        return Err(ChunkError::Unsupported(format!(
            "{n} strips/tiles for a {w}x{h} raster of {cw}x{ch} chunks (planar or multi-band?)"
        )));
    }
    let mut out = vec![f32::NAN; w * h];
    for i in 0..n {
        let (dw, dh) = dec.chunk_data_dimensions(i);
        let (dw, dh) = (dw as usize, dh as usize);
        let vals = to_f32(dec.read_chunk(i).map_err(ChunkError::Tiff)?)?;
        if vals.len() < dw * dh {
            return Err(ChunkError::Unsupported(format!(
                "chunk {i} decoded {} samples for {dw}x{dh}",
                vals.len()
            )));
        }
        let (x0, y0) = ((i as usize % across) * cw, (i as usize / across) * ch);
        for r in 0..dh.min(h.saturating_sub(y0)) {
            let cols = dw.min(w.saturating_sub(x0));
            let dst = (y0 + r) * w + x0;
            out[dst..dst + cols].copy_from_slice(&vals[r * dw..r * dw + cols]);
        }
    }
    Ok(out)
}

/// Errors from reading a terrain raster.
#[derive(Debug, thiserror::Error)]
pub enum TerrainError {
    /// The file could not be opened.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The raster file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not a TIFF the decoder understands.
    #[error("{}: not a readable TIFF: {source}", path.display())]
    Tiff {
        /// The raster file.
        path: PathBuf,
        /// The decoder's error.
        source: tiff::TiffError,
    },
    /// The TIFF lacks or has unusable georeferencing or layout.
    #[error("{}: {message}", path.display())]
    Unsupported {
        /// The raster file.
        path: PathBuf,
        /// What is missing or unsupported, naming the tag.
        message: String,
    },
}

/// A north-up elevation raster.
#[derive(Debug, Clone, PartialEq)]
pub struct Terrain {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// EPSG code of the raster's CRS (4326 or a WGS84 UTM zone).
    pub epsg: u32,
    /// x (easting or longitude) of the outer edge of the first column.
    pub origin_x: f64,
    /// y (northing or latitude) of the outer edge of the first row (top).
    pub origin_y: f64,
    /// Pixel width in CRS units.
    pub pixel_width: f64,
    /// Pixel height in CRS units (positive; rows go south).
    pub pixel_height: f64,
    /// Elevations in metres, row-major from the top row.
    pub data: Vec<f32>,
    /// Value marking a missing cell, if the file declares one.
    pub nodata: Option<f32>,
    /// Whether the file declares itself synthetic (GDAL metadata item `SYNTHETIC=yes`).
    pub synthetic: bool,
    /// The band description, if any.
    pub description: Option<String>,
    projection: Option<Utm>,
}

// GeoTIFF tags and keys (GeoTIFF 1.1, OGC 19-008r4).
const TAG_PIXEL_SCALE: u16 = 33550;
const TAG_TIEPOINT: u16 = 33922;
const TAG_GEOKEYS: u16 = 34735;
const TAG_GDAL_METADATA: u16 = 42112;
const TAG_GDAL_NODATA: u16 = 42113;
const KEY_RASTER_TYPE: u16 = 1025;
const KEY_GEOGRAPHIC_TYPE: u16 = 2048;
const KEY_PROJECTED_TYPE: u16 = 3072;
const RASTER_PIXEL_IS_POINT: u16 = 2;

impl Terrain {
    /// Reads a single-band GeoTIFF.
    pub fn read_geotiff(path: &Path) -> Result<Self, TerrainError> {
        let file = File::open(path).map_err(|source| TerrainError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let tiff_err = |source| TerrainError::Tiff {
            path: path.to_path_buf(),
            source,
        };
        let unsupported = |message: String| TerrainError::Unsupported {
            path: path.to_path_buf(),
            message,
        };
        let mut dec = Decoder::new(BufReader::new(file))
            .map_err(tiff_err)?
            .with_limits({
                let mut l = Limits::default();
                l.decoding_buffer_size = MAX_CHUNK_BYTES;
                l
            });
        let (w, h) = dec.dimensions().map_err(tiff_err)?;
        let samples = dec
            .find_tag_unsigned::<u16>(Tag::SamplesPerPixel)
            .map_err(tiff_err)?
            .unwrap_or(1);
        if samples != 1 {
            return Err(unsupported(format!(
                "SamplesPerPixel is {samples}; a terrain raster must have one band"
            )));
        }
        let scale = dec
            .find_tag(Tag::Unknown(TAG_PIXEL_SCALE))
            .map_err(tiff_err)?
            .map(|v| v.into_f64_vec())
            .transpose()
            .map_err(tiff_err)?
            .filter(|v| v.len() >= 2 && v[0] > 0.0 && v[1] > 0.0)
            .ok_or_else(|| {
                unsupported(
                    "ModelPixelScaleTag (33550) missing or invalid: not a north-up GeoTIFF".into(),
                )
            })?;
        let tie = dec
            .find_tag(Tag::Unknown(TAG_TIEPOINT))
            .map_err(tiff_err)?
            .map(|v| v.into_f64_vec())
            .transpose()
            .map_err(tiff_err)?
            .filter(|v| v.len() >= 6)
            .ok_or_else(|| unsupported("ModelTiepointTag (33922) missing or invalid".into()))?;
        let keys = dec
            .find_tag(Tag::Unknown(TAG_GEOKEYS))
            .map_err(tiff_err)?
            .map(|v| v.into_u16_vec())
            .transpose()
            .map_err(tiff_err)?
            .ok_or_else(|| unsupported("GeoKeyDirectoryTag (34735) missing: no CRS".into()))?;
        let geokey = |id: u16| -> Option<u16> {
            // header of 4 shorts, then entries (key, location, count, value); location 0 = inline
            keys.get(4..)?
                .chunks_exact(4)
                .find(|e| e[0] == id && e[1] == 0)
                .map(|e| e[3])
        };
        let epsg = match (geokey(KEY_PROJECTED_TYPE), geokey(KEY_GEOGRAPHIC_TYPE)) {
            (Some(p), _) if p != 32767 => u32::from(p),
            (_, Some(g)) if g != 32767 => u32::from(g),
            _ => {
                return Err(unsupported(
                    "GeoKeys name no EPSG code (user-defined CRS is not supported)".into(),
                ));
            }
        };
        let projection = if epsg == EPSG_WGS84 {
            None
        } else {
            Some(Utm::from_epsg(epsg).ok_or_else(|| {
                unsupported(format!(
                    "CRS EPSG:{epsg} is not supported (use EPSG:4326 or a WGS84 UTM zone, EPSG:326NN/327NN)"
                ))
            })?)
        };
        // tie point: raster (i, j) ↔ model (x, y); PixelIsPoint shifts by half a pixel
        let half = if geokey(KEY_RASTER_TYPE) == Some(RASTER_PIXEL_IS_POINT) {
            0.5
        } else {
            0.0
        };
        let origin_x = tie[3] - (tie[0] + half) * scale[0];
        let origin_y = tie[4] + (tie[1] + half) * scale[1];

        let nodata = match dec
            .find_tag(Tag::Unknown(TAG_GDAL_NODATA))
            .map_err(tiff_err)?
        {
            Some(v) => {
                let s = v.into_string().map_err(tiff_err)?;
                let s = s.trim_matches(char::from(0)).trim();
                Some(s.parse::<f32>().map_err(|_| {
                    unsupported(format!("GDAL_NODATA (42113) {s:?} is not a number"))
                })?)
            }
            None => None,
        };
        let metadata = dec
            .find_tag(Tag::Unknown(TAG_GDAL_METADATA))
            .map_err(tiff_err)?
            .map(|v| v.into_string())
            .transpose()
            .map_err(tiff_err)?
            .unwrap_or_default();
        let synthetic = gdal_item(&metadata, "SYNTHETIC", None)
            .is_some_and(|v| v.eq_ignore_ascii_case("yes") || v.eq_ignore_ascii_case("true"));
        let description = gdal_item(&metadata, "DESCRIPTION", Some("description"));

        // decoded strip by strip (or tile by tile) into one f32 raster: the size limit is this
        // module's, stated, not the decoder's 256 MiB default for a whole-image buffer
        let cells = u64::from(w) * u64::from(h);
        if cells > MAX_CELLS {
            return Err(unsupported(format!(
                "{w}x{h} pixels is more than {MAX_CELLS} (a {} GiB elevation grid); crop or resample the DEM",
                (MAX_CELLS * 4) >> 30
            )));
        }
        let data = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            read_chunks(&mut dec, w as usize, h as usize)
        }))
        .map_err(|_| unsupported("the TIFF decoder failed on this file's layout".into()))?
        .map_err(|e| match e {
            ChunkError::Tiff(source) => TerrainError::Tiff {
                path: path.to_path_buf(),
                source,
            },
            ChunkError::Unsupported(m) => unsupported(m),
        })?;
        let (width, height) = (w as usize, h as usize);
        if data.len() != width * height {
            return Err(unsupported(format!(
                "decoded {} samples for a {width}x{height} raster",
                data.len()
            )));
        }
        Ok(Self {
            width,
            height,
            epsg,
            origin_x,
            origin_y,
            pixel_width: scale[0],
            pixel_height: scale[1],
            data,
            nodata,
            synthetic,
            description,
            projection,
        })
    }

    /// Whether `v` is a real elevation (not nodata, not NaN).
    fn valid(&self, v: f32) -> bool {
        !v.is_nan() && self.nodata.is_none_or(|nd| v != nd)
    }

    /// Elevation in metres at a lon/lat point, bilinear between pixel centres; `None` outside
    /// the raster or where a contributing cell is nodata.
    pub fn elevation_at(&self, lon: f64, lat: f64) -> Option<f64> {
        let (x, y) = match &self.projection {
            Some(p) => p.forward(lon, lat),
            None => (lon, lat),
        };
        // continuous pixel coordinates with pixel centres at integers
        let fx = (x - self.origin_x) / self.pixel_width - 0.5;
        let fy = (self.origin_y - y) / self.pixel_height - 0.5;
        let (maxx, maxy) = ((self.width - 1) as f64, (self.height - 1) as f64);
        if !(-0.5..=maxx + 0.5).contains(&fx) || !(-0.5..=maxy + 0.5).contains(&fy) {
            return None;
        }
        let (fx, fy) = (fx.clamp(0.0, maxx), fy.clamp(0.0, maxy));
        let (i0, j0) = (fx.floor() as usize, fy.floor() as usize);
        let (i1, j1) = ((i0 + 1).min(self.width - 1), (j0 + 1).min(self.height - 1));
        let (tx, ty) = (fx - i0 as f64, fy - j0 as f64);
        let at = |i: usize, j: usize| self.data[j * self.width + i];
        let c = [at(i0, j0), at(i1, j0), at(i0, j1), at(i1, j1)];
        if !c.iter().all(|v| self.valid(*v)) {
            return None;
        }
        let c = c.map(f64::from);
        let top = c[0] * (1.0 - tx) + c[1] * tx;
        let bottom = c[2] * (1.0 - tx) + c[3] * tx;
        Some(top * (1.0 - ty) + bottom * ty)
    }

    /// The elevations as an `ndarray` view indexed (row from north, column), m, cells equal to
    /// `nodata` as in the file; `None` only if `data` does not hold `height × width` values
    /// (the reader guarantees it does).
    pub fn elevations(&self) -> Option<ndarray::ArrayView2<'_, f32>> {
        ndarray::ArrayView2::from_shape((self.height, self.width), &self.data).ok()
    }

    /// Smallest and largest valid elevation, or `None` if every cell is nodata.
    pub fn min_max(&self) -> Option<(f32, f32)> {
        self.data
            .iter()
            .filter(|v| self.valid(**v))
            .fold(None, |acc, &v| match acc {
                None => Some((v, v)),
                Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
            })
    }

    /// Approximate ground resolution in metres (pixel width; for EPSG:4326, at the centre).
    pub fn resolution_m(&self) -> f64 {
        match self.projection {
            Some(_) => self.pixel_width,
            None => {
                let lat = self.origin_y - self.pixel_height * self.height as f64 / 2.0;
                self.pixel_width * 111_320.0 * lat.to_radians().cos()
            }
        }
    }
}

/// Value of a GDAL metadata item (`<Item name="NAME" ...>value</Item>`), dataset-level or, with
/// `role`, the band item of that role.
fn gdal_item(xml: &str, name: &str, role: Option<&str>) -> Option<String> {
    let mut rest = xml;
    while let Some(start) = rest.find("<Item ") {
        rest = &rest[start..];
        let open_end = rest.find('>')?;
        let attrs = &rest[..open_end];
        let close = rest.find("</Item>")?;
        let value = &rest[open_end + 1..close];
        let name_ok = attrs.contains(&format!("name=\"{name}\""));
        let role_ok = match role {
            Some(r) => attrs.contains(&format!("role=\"{r}\"")),
            None => !attrs.contains("role="),
        };
        if name_ok && role_ok {
            return Some(xml_unescape(value));
        }
        rest = &rest[close + 7..];
    }
    None
}

pub(crate) fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gdal_metadata_items() {
        let xml = r#"<GDALMetadata>
  <Item name="SYNTHETIC">yes</Item>
  <Item name="DESCRIPTION" sample="0" role="description">elevation_m &amp; more</Item>
</GDALMetadata>"#;
        assert_eq!(gdal_item(xml, "SYNTHETIC", None).as_deref(), Some("yes"));
        assert_eq!(
            gdal_item(xml, "DESCRIPTION", Some("description")).as_deref(),
            Some("elevation_m & more")
        );
        assert_eq!(gdal_item(xml, "DESCRIPTION", None), None);
    }
}
