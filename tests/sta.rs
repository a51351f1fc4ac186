//! The SensorThings API over the bundled dataset and a small lake: entity sets, navigation,
//! query options, paging links, errors, and the extensions (latest, aggregates, AQI).

use polars::prelude::*;
use serde_json::Value;
use twin_engine::dataset::Dataset;
use twin_engine::sta::store::Store;
use twin_engine::sta::{Api, Response};

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const MIN: i64 = 60_000;
const ROOT: &str = "http://127.0.0.1:8080/v1.1";
const ST: &str = "st-ha-long-air-01";
const MINE: &str = "mine-vang-danh";

/// PM2.5 at ST every minute for 3 hours (value = 10 + minute % 7, minute 100 calibrating),
/// CH4 at MINE every 10 minutes for 3 hours.
fn lake(dir: &std::path::Path) -> std::path::PathBuf {
    let lake = dir.join("lake");
    let (mut st, mut pa, mut t, mut v, mut u, mut s) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for m in 0..180i64 {
        st.push(ST);
        pa.push("PM2.5");
        t.push(T0 + (m + 1) * MIN);
        v.push(10.0 + (m % 7) as f64);
        u.push("µg/m³");
        s.push(if m == 100 { "calibrating" } else { "measuring" });
        if m % 10 == 0 {
            st.push(MINE);
            pa.push("CH4");
            t.push(T0 + (m + 1) * MIN);
            v.push(0.1 * (m / 10) as f64);
            u.push("%");
            s.push("measuring");
        }
    }
    let df = df!("station_id" => st, "parameter" => pa, "time_ms" => t, "value" => v,
        "unit" => u, "status" => s)
    .expect("frame");
    twin_engine::telemetry::lake::append(&lake, &df).expect("append");
    lake
}

fn api(dir: &std::path::Path) -> Api {
    let ds = Dataset::load(&crate::bundled()).expect("bundled");
    let mut store = Store::new(&lake(dir));
    let added = store.refresh().expect("refresh");
    assert_eq!(added.readings, 180 + 18);
    Api::new(&ds, store)
}

fn get(api: &Api, path: &str, q: &[(&str, &str)]) -> Response {
    let q: Vec<(String, String)> = q
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    api.get(path, &q, ROOT)
}

fn ok(api: &Api, path: &str, q: &[(&str, &str)]) -> Value {
    let r = get(api, path, q);
    assert_eq!(r.status, 200, "{path} {q:?}: {}", r.body);
    r.body
}

fn values(b: &Value) -> &Vec<Value> {
    b["value"].as_array().expect("value array")
}

#[test]
fn entity_sets_navigation_and_links() {
    let dir = tempfile::tempdir().expect("tmp");
    let api = api(dir.path());
    let ds = Dataset::load(&crate::bundled()).expect("bundled");
    let sites = ds.province.stations.len() + ds.province.mines.len();
    let things = ok(&api, "Things", &[("$count", "true"), ("$top", "1000")]);
    assert_eq!(things["@iot.count"], sites);
    assert_eq!(values(&things).len(), sites);
    let t = ok(&api, &format!("Things('{ST}')"), &[]);
    assert_eq!(t["@iot.selfLink"], format!("{ROOT}/Things('{ST}')"));
    assert_eq!(
        t["Datastreams@iot.navigationLink"],
        format!("{ROOT}/Things('{ST}')/Datastreams")
    );
    // the station's declared parameters are its datastreams
    let dss = ok(&api, &format!("Things('{ST}')/Datastreams"), &[]);
    let declared = ds
        .province
        .stations
        .iter()
        .find(|s| s.meta.id == ST)
        .expect("st")
        .parameters
        .len();
    assert_eq!(values(&dss).len(), declared);
    // the mine's datastream comes from the lake
    let d = ok(
        &api,
        &format!("Datastreams('{MINE}:CH4')"),
        &[("$expand", "Thing,ObservedProperty")],
    );
    assert_eq!(d["unitOfMeasurement"]["symbol"], "%");
    assert_eq!(d["Thing"]["@iot.id"], MINE);
    assert_eq!(d["ObservedProperty"]["@iot.id"], "CH4");
    assert_eq!(
        d["phenomenonTime"],
        "2026-01-01T00:01:00.000Z/2026-01-01T02:51:00.000Z"
    );
    let loc = ok(&api, &format!("Things('{MINE}')/Locations"), &[]);
    assert_eq!(values(&loc)[0]["location"]["type"], "Point");
    // an observation by id, and its navigation
    let id = format!("{ST}:PM2.5:{}", T0 + 5 * MIN);
    let o = ok(&api, &format!("Observations('{id}')"), &[]);
    assert_eq!(o["result"], 14.0);
    assert_eq!(o["phenomenonTime"], "2026-01-01T00:05:00.000Z");
    let foi = ok(
        &api,
        &format!("Observations('{id}')/FeatureOfInterest"),
        &[],
    );
    assert_eq!(foi["@iot.id"], ST);
    let root = ok(&api, "", &[]);
    assert!(values(&root).iter().any(|e| e["name"] == "Datastreams"));
}

#[test]
fn observations_filter_order_page_and_count() {
    let dir = tempfile::tempdir().expect("tmp");
    let api = api(dir.path());
    let path = format!("Datastreams('{ST}:PM2.5')/Observations");
    // the second hour: minutes 61..=120, 60 readings; of them result ge 15: values 15, 16 →
    // minutes m with m % 7 in {5, 6} where reading m+1 … counted by hand below
    let f = "phenomenonTime gt 2026-01-01T01:00:00Z and phenomenonTime le 2026-01-01T02:00:00Z";
    let b = ok(
        &api,
        &path,
        &[("$filter", f), ("$count", "true"), ("$top", "25")],
    );
    assert_eq!(b["@iot.count"], 60);
    assert_eq!(values(&b).len(), 25);
    assert_eq!(values(&b)[0]["phenomenonTime"], "2026-01-01T01:01:00.000Z");
    let next = b["@iot.nextLink"].as_str().expect("next link");
    assert!(
        next.starts_with(&format!("{ROOT}/{path}?")) && next.contains("%24skip=25"),
        "{next}"
    );
    // follow the pages: 25 + 25 + 10, in time order, nothing repeated
    let mut all: Vec<String> = Vec::new();
    for skip in ["0", "25", "50"] {
        let b = ok(
            &api,
            &path,
            &[("$filter", f), ("$top", "25"), ("$skip", skip)],
        );
        all.extend(
            values(&b)
                .iter()
                .map(|o| o["phenomenonTime"].as_str().expect("t").to_string()),
        );
        assert_eq!(b.get("@iot.nextLink").is_some(), skip != "50");
    }
    assert_eq!(all.len(), 60);
    assert!(all.windows(2).all(|w| w[0] < w[1]));
    // results: count by hand
    let want = (60..120).filter(|m| 10 + m % 7 >= 15).count();
    let b = ok(
        &api,
        &path,
        &[
            ("$filter", &format!("{f} and result ge 15")),
            ("$count", "true"),
        ],
    );
    assert_eq!(b["@iot.count"], want);
    // newest first
    let b = ok(
        &api,
        &path,
        &[("$orderby", "phenomenonTime desc"), ("$top", "1")],
    );
    assert_eq!(values(&b)[0]["phenomenonTime"], "2026-01-01T03:00:00.000Z");
    // by result, then time
    let b = ok(
        &api,
        &path,
        &[
            ("$orderby", "result desc,phenomenonTime asc"),
            ("$top", "2"),
        ],
    );
    assert_eq!(values(&b)[0]["result"], 16.0);
    assert!(values(&b)[0]["phenomenonTime"].as_str() < values(&b)[1]["phenomenonTime"].as_str());
    // status is a parameter
    let b = ok(
        &api,
        &path,
        &[
            ("$filter", "parameters/status eq 'calibrating'"),
            ("$count", "true"),
        ],
    );
    assert_eq!(b["@iot.count"], 1);
    // $select
    let b = ok(&api, &path, &[("$select", "result"), ("$top", "1")]);
    let keys: Vec<&String> = values(&b)[0].as_object().expect("obj").keys().collect();
    assert_eq!(keys, vec!["result"]);
    // expand with nested options
    let b = ok(
        &api,
        &format!("Things('{MINE}')"),
        &[(
            "$expand",
            "Datastreams($expand=Observations($top=2;$orderby=phenomenonTime desc;$count=true))",
        )],
    );
    let ds = &b["Datastreams"][0];
    assert_eq!(ds["Observations@iot.count"], 18);
    assert_eq!(ds["Observations"].as_array().expect("obs").len(), 2);
    assert!((ds["Observations"][0]["result"].as_f64().expect("x") - 1.7).abs() < 1e-9);
    // `$top=0`: the count only, and no next link that would not move on
    let b = ok(&api, &path, &[("$top", "0"), ("$count", "true")]);
    assert_eq!((b["@iot.count"].as_u64(), values(&b).len()), (Some(180), 0));
    assert!(b.get("@iot.nextLink").is_none());
    // all Observations across datastreams
    let b = ok(&api, "Observations", &[("$count", "true"), ("$top", "5")]);
    assert_eq!(b["@iot.count"], 198);
}

#[test]
fn errors_name_what_is_wrong() {
    let dir = tempfile::tempdir().expect("tmp");
    let api = api(dir.path());
    for (path, q, status, text) in [
        ("Things('nope')", vec![], 404, "nope"),
        ("Thingz", vec![], 404, "Thingz"),
        ("Things", vec![("$top", "x")], 400, "$top"),
        ("Things", vec![("$filter", "name eq")], 400, "$filter"),
        ("Things", vec![("$expand", "Nothing")], 400, "Nothing"),
        (&format!("Things('{ST}')/Nope") as &str, vec![], 404, "Nope"),
        ("Things/Datastreams", vec![], 400, "collection"),
    ] {
        let r = get(&api, path, &q);
        assert_eq!(r.status, status, "{path}: {}", r.body);
        assert!(
            r.body["message"]
                .as_str()
                .unwrap_or_default()
                .contains(text),
            "{}",
            r.body
        );
    }
}

#[test]
fn extensions_latest_aggregates_and_aqi() {
    use twin_engine::sta::ext;
    let dir = tempfile::tempdir().expect("tmp");
    let api = api(dir.path());
    let q = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    let l = ext::get(&api, "latest", &q(&[]), ROOT);
    assert_eq!(l.status, 200);
    let v = values(&l.body);
    assert_eq!(v.len(), 2);
    let pm = v
        .iter()
        .find(|x| x["Datastream@iot.id"] == format!("{ST}:PM2.5"))
        .expect("pm");
    assert_eq!(pm["phenomenonTime"], "2026-01-01T03:00:00.000Z");
    assert_eq!(pm["result"], 10.0 + (179 % 7) as f64);
    // hourly aggregates: the hour ending 01:00 holds minutes 1..=60 (readings m = 0..=59)
    let a = ext::get(
        &api,
        &format!("Datastreams('{ST}:PM2.5')/aggregate"),
        &q(&[
            ("interval", "hour"),
            ("from", "2026-01-01T00:00:00Z"),
            ("to", "2026-01-01T03:00:00Z"),
        ]),
        ROOT,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let rows = values(&a.body);
    assert_eq!(rows.len(), 3);
    let first: Vec<f64> = (0..60).map(|m| 10.0 + (m % 7) as f64).collect();
    assert_eq!(rows[0]["start"], "2026-01-01T00:00:00.000Z");
    assert_eq!(rows[0]["end"], "2026-01-01T01:00:00.000Z");
    assert_eq!(rows[0]["count"], 60);
    assert!(
        (rows[0]["mean"].as_f64().expect("mean") - first.iter().sum::<f64>() / 60.0).abs() < 1e-12
    );
    assert_eq!(rows[0]["max"], 16.0);
    // the calibrating reading (m = 100, second hour) is left out
    assert_eq!(rows[1]["count"], 59);
    // hourly VN_AQI: the same numbers as `twin telemetry aqi` computes
    let h = ext::get(
        &api,
        &format!("Things('{ST}')/aqi"),
        &q(&[
            ("interval", "hour"),
            ("from", "2026-01-01T00:00:00Z"),
            ("to", "2026-01-01T03:00:00Z"),
        ]),
        ROOT,
    );
    assert_eq!(h.status, 200, "{}", h.body);
    let rows = values(&h.body);
    assert_eq!(rows.len(), 3);
    let obs = twin_engine::telemetry::lake::read(&dir.path().join("lake"))
        .expect("lake")
        .frame;
    let direct = twin_engine::telemetry::hourly::vn_hourly_aqi(
        obs.lazy().filter(col("station_id").eq(lit(ST))),
    )
    // the window ends at 03:00 (the pipeline also gives 04:00, a NowCast without a reading)
    .filter(col("time").cast(DataType::Int64).lt_eq(lit(T0 + 180 * MIN)))
    .sort(["time"], Default::default())
    .collect()
    .expect("aqi");
    let want: Vec<Option<i64>> = direct
        .column("aqi")
        .expect("aqi")
        .i64()
        .expect("i64")
        .iter()
        .collect();
    let got: Vec<Option<i64>> = rows.iter().map(|r| r["aqi"].as_i64()).collect();
    assert_eq!(got, want);
    for (path, qq, status) in [
        (
            format!("Things('{ST}')/aqi"),
            q(&[("interval", "week")]),
            400,
        ),
        (
            format!("Things('{ST}')/aqi"),
            q(&[("from", "yesterday")]),
            400,
        ),
        (
            format!("Things('{ST}')/aqi"),
            q(&[("from", "2020-01-01T00:00:00Z")]),
            400,
        ),
        ("Things('nope')/aqi".to_string(), q(&[]), 404),
        ("nothing".to_string(), q(&[]), 404),
    ] {
        assert_eq!(
            ext::get(&api, &path, &qq, ROOT).status,
            status,
            "{path} {qq:?}"
        );
    }
}
