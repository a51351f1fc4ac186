//! A GeoTIFF writer for multi-band Float32 rasters on a projected grid: baseline TIFF, one strip
//! per band row block, planar (band-separate) layout, ModelPixelScale + ModelTiepoint + GeoKeys
//! naming the EPSG code, and GDAL metadata with each band's description and unit, so `gdalinfo`
//! shows the corner coordinates, the CRS and what every band holds.

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
#[derive(Debug, Clone, Copy)]
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

/// Writes a little-endian, uncompressed GeoTIFF with one Float32 band per entry of `bands`.
/// `metadata` items are written as dataset-level GDAL metadata.
pub fn write_geotiff(
    path: &Path,
    width: usize,
    height: usize,
    geo: &GeoReference,
    bands: &[Band<'_>],
    metadata: &[(&str, String)],
) -> std::io::Result<()> {
    let n = width * height;
    if bands.is_empty() || bands.iter().any(|b| b.values.len() != n) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "every band needs width*height values",
        ));
    }
    let nb = bands.len();
    // data first (after the 8-byte header), one strip per band
    let header_len = 8u32;
    let band_bytes = (n * 4) as u32;
    let strip_offsets: Vec<u32> = (0..nb)
        .map(|b| header_len + b as u32 * band_bytes)
        .collect();
    let ifd_offset = header_len + nb as u32 * band_bytes;

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
    let mut tags: Vec<(u16, TagValue)> = vec![
        (256, TagValue::Long(vec![width as u32])),
        (257, TagValue::Long(vec![height as u32])),
        (258, TagValue::Short(vec![32; nb])),
        (259, TagValue::Short(vec![1])),
        (262, TagValue::Short(vec![1])),
        (273, TagValue::Long(strip_offsets)),
        (277, TagValue::Short(vec![nb as u16])),
        (278, TagValue::Long(vec![height as u32])),
        (279, TagValue::Long(vec![band_bytes; nb])),
        (284, TagValue::Short(vec![2])),
        (339, TagValue::Short(vec![3; nb])),
        (33550, TagValue::Double(vec![geo.pixel, geo.pixel, 0.0])),
        (
            33922,
            TagValue::Double(vec![0.0, 0.0, 0.0, geo.min_x, geo.max_y, 0.0]),
        ),
        (34735, TagValue::Short(geokeys)),
        (42112, TagValue::Ascii(gdal)),
    ];
    if nb > 1 {
        tags.push((338, TagValue::Short(vec![0; nb - 1])));
    }
    tags.sort_by_key(|t| t.0);

    // IFD: count, entries, next-IFD offset, then out-of-line values
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
            let off = ifd_offset + entries_len + extra.len() as u32;
            ifd.extend(off.to_le_bytes());
            extra.extend(&bytes);
            if extra.len() % 2 == 1 {
                extra.push(0); // word alignment
            }
        }
    }
    ifd.extend(0u32.to_le_bytes());

    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    f.write_all(b"II")?;
    f.write_all(&42u16.to_le_bytes())?;
    f.write_all(&ifd_offset.to_le_bytes())?;
    for b in bands {
        let bytes: &[u8] = bytemuck::cast_slice(b.values);
        f.write_all(bytes)?;
    }
    f.write_all(&ifd)?;
    f.write_all(&extra)?;
    f.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::terrain::Terrain;

    #[test]
    fn round_trip_through_the_terrain_reader() {
        let dir = std::env::temp_dir().join(format!("qn-twin-geotiff-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("one.tif");
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
        std::fs::remove_dir_all(&dir).ok();
    }
}
