//! `twin info`, `validate` and `query`: JSON shapes, exit codes, one-line errors.

use crate::*;

#[test]
fn info_json_reports_the_province() {
    let v = json_of(&["info", "--format", "json"]);
    assert_eq!(v["districts"], 14);
    assert_eq!(v["stations"], 105);
    assert!(v["mines"].as_u64().expect("count") >= 14);
    assert!(v["plants"].as_u64().expect("count") >= 5);
    assert!(v["ports"].as_u64().expect("count") >= 2);
    assert!(v["road_links"].as_u64().expect("count") > 0);
    assert_eq!(v["projected_crs"], "EPSG:32648");
    assert_eq!(v["terrain"]["synthetic"], true);
    let table = twin(&["info"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("SYNTHETIC"));
}

#[test]
fn info_accepts_a_real_dem_in_place_of_the_synthetic_one() {
    let dem = data("dem/srtm-like-4326.tif");
    let v = json_of(&["info", "--format", "json", "--terrain", p(&dem)]);
    assert_eq!(v["terrain"]["synthetic"], false);
    assert_eq!(v["terrain"]["crs"], "EPSG:4326");
}

#[test]
fn nearest_json_is_an_ascending_array_of_id_name_kind_distance() {
    let v = json_of(&[
        "query",
        "nearest",
        "--lon",
        "107.07336",
        "--lat",
        "20.95045",
        "-k",
        "4",
        "--kind",
        "station",
        "--format",
        "json",
    ]);
    let a = v.as_array().expect("array");
    assert_eq!(a.len(), 4);
    for x in a {
        assert_eq!(x["kind"], "station");
        assert!(x["id"].is_string() && x["name"].is_string());
    }
    let d: Vec<f64> = a
        .iter()
        .map(|x| x["distance_m"].as_f64().expect("number"))
        .collect();
    assert!(d.windows(2).all(|w| w[0] <= w[1]), "{d:?}");
}

#[test]
fn within_district_and_bbox_and_radius_work_from_the_command_line() {
    let v = json_of(&[
        "query",
        "within",
        "--district",
        "cam-pha",
        "--kind",
        "mine",
        "--format",
        "json",
    ]);
    let names: Vec<&str> = v
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|x| x["name"].as_str())
        .collect();
    assert!(names.iter().any(|n| n.contains("Cọc Sáu")), "{names:?}");
    let v = json_of(&[
        "query",
        "within",
        "--bbox",
        "107.0,20.9,107.2,21.0",
        "--format",
        "geojson",
    ]);
    assert_eq!(v["type"], "FeatureCollection");
    assert!(!v["features"].as_array().expect("features").is_empty());
    let v = json_of(&[
        "query",
        "within",
        "--radius-m",
        "5000",
        "--lon",
        "107.27",
        "--lat",
        "21.01",
        "--format",
        "json",
    ]);
    assert!(
        v.as_array()
            .expect("array")
            .iter()
            .all(|x| x["distance_m"].as_f64().expect("d") <= 5000.0)
    );
}

#[test]
fn snap_and_corridor() {
    let v = json_of(&[
        "query", "snap", "--lon", "107.2", "--lat", "21.0", "--format", "json",
    ]);
    assert!(v["link_id"].as_str().expect("id").starts_with("ql18"));
    assert!(
        v["offset_m"].as_f64().expect("offset") <= v["link_length_m"].as_f64().expect("length")
    );
    let v = json_of(&[
        "query",
        "corridor",
        "--road",
        "QL18",
        "--width-m",
        "1000",
        "--kind",
        "station",
        "--format",
        "json",
    ]);
    assert!(
        v.as_array()
            .expect("array")
            .iter()
            .all(|x| x["distance_m"].as_f64().expect("d") <= 500.0)
    );
}

#[test]
fn errors_are_one_clear_line() {
    let e = one_line_error(&["info", "--dataset", p(&data("bad/missing-field"))]);
    assert!(
        e.contains("stations.geojson") && e.contains("st-2") && e.contains("properties.medium"),
        "{e}"
    );
    let e = one_line_error(&[
        "query", "nearest", "--lon", "107", "--lat", "21", "--kind", "volcano",
    ]);
    assert!(e.contains("volcano"), "{e}");
    let e = one_line_error(&["query", "within", "--district", "atlantis"]);
    assert!(e.contains("atlantis"), "{e}");
    let e = one_line_error(&["query", "within", "--bbox", "108,21,107,22"]);
    assert!(e.contains("MINLON < MAXLON"), "{e}");
    let e = one_line_error(&["query", "nearest", "--lon", "200", "--lat", "21"]);
    assert!(e.contains("--lon 200"), "{e}");
    let e = one_line_error(&["info", "--dataset", "/nonexistent/dataset"]);
    assert!(e.contains("/nonexistent/dataset"), "{e}");
}

#[test]
fn validate_lists_every_problem() {
    let out = twin(&["validate", "--dataset", p(&data("bad/many-problems"))]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.lines()
            .filter(|l| l.contains("stations.geojson: feature #"))
            .count(),
        3,
        "{err}"
    );
    let ok = twin(&["validate"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}
