//! GeoTIFF DEMs written by GDAL (EPSG:4326 and UTM, Int16 and Float32, area and point
//! registration, nodata) load and sample correctly; unsupported CRSs are clear errors.

use twin_engine::terrain::{Terrain, TerrainError};

use crate::data;

/// Fixture value at (row, col): 10·row + col (see tests/data/make_dem_fixtures.py).
fn expected(row: f64, col: f64) -> f64 {
    10.0 * row + col
}

#[test]
fn geographic_int16_dem_samples_bilinearly() {
    let t = Terrain::read_geotiff(&data("dem/srtm-like-4326.tif")).expect("readable");
    assert_eq!((t.width, t.height, t.epsg), (40, 30, 4326));
    assert_eq!(t.nodata, Some(-32768.0));
    assert!(!t.synthetic);
    assert!((t.origin_x - 107.0).abs() < 1e-12 && (t.origin_y - 21.1).abs() < 1e-12);
    // the centre of pixel (row 10, col 20), then half-way to the next column and row
    let lon = |c: f64| 107.0 + (c + 0.5) * 0.005;
    let lat = |r: f64| 21.1 - (r + 0.5) * 0.005;
    for (r, c) in [
        (10.0, 20.0),
        (10.0, 20.5),
        (10.25, 20.75),
        (0.0, 0.0),
        (29.0, 39.0),
    ] {
        let z = t.elevation_at(lon(c), lat(r)).expect("inside");
        assert!((z - expected(r, c)).abs() < 1e-6, "({r}, {c}): {z}");
    }
    // next to the nodata cell at (5, 7): no value rather than a wrong one
    assert_eq!(t.elevation_at(lon(7.3), lat(5.2)), None);
    assert_eq!(t.elevation_at(106.9, 21.0), None, "outside the raster");
    assert_eq!(t.min_max(), Some((0.0, 329.0)));
}

#[test]
fn pixel_is_point_registration_gives_the_same_grid() {
    let area = Terrain::read_geotiff(&data("dem/srtm-like-4326.tif")).expect("readable");
    let point = Terrain::read_geotiff(&data("dem/srtm-like-4326-point.tif")).expect("readable");
    assert!(
        (area.origin_x - point.origin_x).abs() < 1e-9,
        "{} vs {}",
        area.origin_x,
        point.origin_x
    );
    assert!((area.origin_y - point.origin_y).abs() < 1e-9);
    assert_eq!(
        area.elevation_at(107.1, 21.05),
        point.elevation_at(107.1, 21.05)
    );
}

#[test]
fn projected_float32_tiled_dem_samples_through_the_projection() {
    let t = Terrain::read_geotiff(&data("dem/utm48n-float32.tif")).expect("readable");
    assert_eq!((t.width, t.height, t.epsg), (40, 30, 32648));
    assert!((t.resolution_m() - 500.0).abs() < 1e-9);
    let utm = twin_engine::geodesy::Utm::zone_48n();
    let (lon, lat) = utm.inverse(700_000.0 + 12.5 * 500.0, 2_330_000.0 - 3.5 * 500.0);
    let z = t.elevation_at(lon, lat).expect("inside");
    assert!((z - expected(3.0, 12.0)).abs() < 1e-6, "{z}");
}

#[test]
fn unsupported_crs_and_missing_files_are_clear_errors() {
    let e = Terrain::read_geotiff(&data("dem/vn2000-unsupported.tif")).expect_err("VN-2000");
    assert!(matches!(e, TerrainError::Unsupported { .. }));
    let msg = e.to_string();
    assert!(
        msg.contains("vn2000-unsupported.tif") && msg.contains("EPSG:3405"),
        "{msg}"
    );
    let e = Terrain::read_geotiff(&data("dem/none.tif")).expect_err("missing");
    assert!(matches!(e, TerrainError::Io { .. }));
    let e = Terrain::read_geotiff(&data("mini/dataset.toml")).expect_err("not a tiff");
    assert!(matches!(e, TerrainError::Tiff { .. }), "{e}");
}

#[test]
fn the_terrain_crosses_the_api_as_an_ndarray() {
    let t = Terrain::read_geotiff(&crate::bundled().join("terrain.tif")).expect("bundled DEM");
    let e = t.elevations().expect("height × width values");
    assert_eq!(e.dim(), (t.height, t.width));
    // row from north, column: the same cell as the row-major data
    let (r, c) = (t.height / 3, t.width / 2);
    assert_eq!(e[[r, c]], t.data[r * t.width + c]);
}

/// A DEM larger than the TIFF decoder's default 256 MiB whole-image buffer (8200 × 8200
/// Float32 = 269 MB decoded) loads: it is decoded strip by strip into the elevation grid.
/// The file is deflate-compressed (a few MB on disk).
#[test]
fn a_dem_beyond_the_decoders_default_buffer_loads_strip_by_strip() {
    use tiff::encoder::{Compression, TiffEncoder, colortype::Gray32Float};
    use tiff::tags::Tag;
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("big-dem.tif");
    let (w, h) = (8200u32, 8200u32);
    assert!(u64::from(w) * u64::from(h) * 4 > 256 << 20);
    // a plane rising 1 m per column and 2 m per row, 30 m pixels in UTM 48N
    let data: Vec<f32> = (0..h)
        .flat_map(|r| (0..w).map(move |c| (c + 2 * r) as f32))
        .collect();
    {
        let f = std::fs::File::create(&path).expect("create");
        let mut enc = TiffEncoder::new(std::io::BufWriter::new(f))
            .expect("encoder")
            .with_compression(Compression::Deflate(Default::default()));
        let mut img = enc.new_image::<Gray32Float>(w, h).expect("image");
        img.rows_per_strip(64).expect("strips");
        let d = img.encoder();
        d.write_tag(Tag::Unknown(33550), &[30.0f64, 30.0, 0.0][..])
            .expect("scale");
        d.write_tag(
            Tag::Unknown(33922),
            &[0.0f64, 0.0, 0.0, 600_000.0, 2_400_000.0, 0.0][..],
        )
        .expect("tiepoint");
        // GeoKeyDirectory: version 1.1.0, 2 keys: model type projected, EPSG 32648
        d.write_tag(
            Tag::Unknown(34735),
            &[1u16, 1, 0, 2, 1024, 0, 1, 1, 3072, 0, 1, 32648][..],
        )
        .expect("geokeys");
        img.write_data(&data).expect("data");
    }
    drop(data);
    let t = Terrain::read_geotiff(&path).expect("a large DEM loads");
    let e = t.elevations().expect("one grid");
    assert_eq!(e.dim(), (8200, 8200));
    assert_eq!(e[[0, 0]], 0.0);
    assert_eq!(e[[8199, 8199]], 8199.0 + 2.0 * 8199.0);
    assert_eq!(e[[4000, 17]], 17.0 + 8000.0);
}
