//! Bad dataset files get clear errors naming the file, the feature and the field.

use twin_engine::dataset::{Dataset, DatasetError, DatasetProblem, Location};

use crate::data;

fn problems(case: &str) -> Vec<DatasetProblem> {
    match Dataset::load(&data(&format!("bad/{case}"))) {
        Err(DatasetError::Invalid { problems }) => problems,
        Err(other) => panic!("{case}: expected feature problems, got {other}"),
        Ok(_) => panic!("{case}: loaded although invalid"),
    }
}

fn only(case: &str) -> DatasetProblem {
    let mut p = problems(case);
    assert_eq!(p.len(), 1, "{case}: {p:?}");
    p.remove(0)
}

fn at(index: usize, id: &str) -> Location {
    Location::Feature {
        index,
        id: Some(id.to_string()),
    }
}

#[test]
fn the_mini_dataset_is_valid() {
    let d = Dataset::load(&data("mini")).expect("mini is valid");
    assert_eq!(d.province.stations.len(), 3);
    let plant = &d.province.plants[0];
    // 720 kg/h is 200 g/s
    assert!((plant.emissions[0].grams_per_second - 200.0).abs() < 1e-9);
    assert_eq!(d.province.districts[1].meta.extra["source"], "test");
}

#[test]
fn missing_field_names_file_feature_and_field() {
    let p = only("missing-field");
    assert!(p.path.ends_with("stations.geojson"));
    assert_eq!(p.location, at(1, "st-2"));
    assert_eq!(p.field.as_deref(), Some("properties.medium"));
    assert!(p.message.contains("missing"));
    let line = p.to_string();
    assert!(
        line.contains(
            "stations.geojson: feature #1 (id \"st-2\"): field `properties.medium`: missing"
        ),
        "{line}"
    );
}

#[test]
fn unknown_kind_lists_what_is_accepted() {
    let p = only("unknown-kind");
    assert_eq!(p.location, at(0, "mine-x"));
    assert_eq!(p.field.as_deref(), Some("properties.mining_method"));
    assert!(
        p.message.contains("\"strip\"") && p.message.contains("open_pit"),
        "{}",
        p.message
    );
}

#[test]
fn coordinate_outside_bounds_is_reported() {
    let p = only("out-of-bounds");
    assert_eq!(p.location, at(1, "port-far"));
    assert_eq!(p.field.as_deref(), Some("geometry.coordinates"));
    assert!(
        p.message.contains("outside the dataset bounds"),
        "{}",
        p.message
    );
}

#[test]
fn self_intersecting_and_unclosed_polygons_are_reported() {
    let p = problems("invalid-polygon");
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!(p[0].location, at(1, "bowtie"));
    assert!(
        p[0].message.contains("self-intersection"),
        "{}",
        p[0].message
    );
    assert_eq!(p[1].location, at(2, "open"));
    assert!(p[1].message.contains("not closed"), "{}", p[1].message);
}

#[test]
fn duplicate_id_across_layers_points_at_the_first_one() {
    let p = only("duplicate-id");
    assert!(p.path.ends_with("ports.geojson"));
    assert_eq!(p.location, at(1, "st-2"));
    assert!(
        p.message.contains("duplicate id") && p.message.contains("stations.geojson"),
        "{}",
        p.message
    );
}

#[test]
fn unknown_emission_unit_names_the_key() {
    let p = only("bad-units");
    assert_eq!(p.field.as_deref(), Some("properties.emissions[0].unit"));
    assert!(p.message.contains("lb/h"));
}

#[test]
fn broken_json_names_the_file() {
    let p = only("not-json");
    assert!(p.path.ends_with("roads.geojson"));
    assert_eq!(p.location, Location::File);
    assert!(
        p.message.contains("not valid JSON") && p.message.contains("line"),
        "{}",
        p.message
    );
}

#[test]
fn every_problem_of_a_file_is_listed_not_just_the_first() {
    let p = problems("many-problems");
    let fields: Vec<(Location, Option<&str>)> = p
        .iter()
        .map(|x| (x.location.clone(), x.field.as_deref()))
        .collect();
    assert_eq!(
        fields,
        vec![
            (
                Location::Feature { index: 1, id: None },
                Some("properties.id")
            ),
            (at(2, "bad-medium"), Some("properties.medium")),
            (at(3, "bad-geom"), Some("geometry.type")),
        ]
    );
    // the summary is one line naming the first problem and the count of the rest
    let e = Dataset::load(&data("bad/many-problems")).expect_err("invalid");
    let msg = e.to_string();
    assert!(
        !msg.contains('\n') && msg.contains("and 2 more problems"),
        "{msg}"
    );
}

#[test]
fn manifest_errors_name_the_key() {
    let e = Dataset::load(&data("bad/bad-manifest")).expect_err("unknown key");
    let msg = e.to_string();
    assert!(matches!(e, DatasetError::Manifest { .. }));
    assert!(
        msg.contains("dataset.toml") && msg.contains("colour"),
        "{msg}"
    );
    assert!(!msg.contains('\n'), "{msg}");
    let e = Dataset::load(&data("bad/unsupported-crs")).expect_err("bad crs");
    let msg = e.to_string();
    assert!(
        msg.contains("projected_crs") && msg.contains("EPSG:3405"),
        "{msg}"
    );
}

#[test]
fn a_missing_dataset_directory_is_an_io_error() {
    let e = Dataset::load(&data("no-such-dataset")).expect_err("missing");
    assert!(matches!(e, DatasetError::Io { .. }));
    assert!(e.to_string().contains("dataset.toml"));
}
