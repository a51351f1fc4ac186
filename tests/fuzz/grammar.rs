//! Structure-aware generators: inputs that follow each format's grammar (keys, columns,
//! features, containers) with values drawn from plausible ranges and from the extremes.

use rand::Rng;
use rand::rngs::StdRng;

/// A number as TOML/CSV/JSON text: usually plausible (in `[lo, hi]`), sometimes extreme.
pub fn num(rng: &mut StdRng, lo: f64, hi: f64) -> String {
    match rng.random_range(0..20) {
        0 => "nan".into(),
        1 => "inf".into(),
        2 => "-inf".into(),
        3 => "1e308".into(),
        4 => "-1".into(),
        5 => "0".into(),
        6 => "1e-9".into(),
        7 => format!("{}", hi * 1e6),
        _ => {
            let v = rng.random_range(lo..=hi);
            if rng.random_bool(0.5) {
                format!("{}", v.round())
            } else {
                format!("{v}")
            }
        }
    }
}

/// A number that TOML and JSON accept without `nan`/`inf` (for JSON).
pub fn json_num(rng: &mut StdRng, lo: f64, hi: f64) -> String {
    match rng.random_range(0..12) {
        0 => "1e308".into(),
        1 => "-1e308".into(),
        2 => "-1".into(),
        3 => "0".into(),
        4 => "18446744073709551615".into(),
        _ => format!("{}", rng.random_range(lo..=hi)),
    }
}

pub fn pick<'a>(rng: &mut StdRng, from: &[&'a str]) -> &'a str {
    from[rng.random_range(0..from.len())]
}

/// A string from `from`, sometimes garbage.
pub fn word(rng: &mut StdRng, from: &[&str]) -> String {
    match rng.random_range(0..10) {
        0 => String::new(),
        1 => "\u{0}é\"\\".into(),
        2 => "x".repeat(rng.random_range(1..300)),
        _ => pick(rng, from).to_string(),
    }
}

pub fn time(rng: &mut StdRng) -> String {
    match rng.random_range(0..10) {
        0 => "9999-12-31T23:59:59+07:00".into(),
        1 => "0000-01-01T00:00:00Z".into(),
        2 => "2026-02-30T25:61:00+07:00".into(),
        3 => "15/01/2026 08:00".into(),
        4 => String::new(),
        _ => format!(
            "2026-{:02}-{:02}T{:02}:{:02}:00+07:00",
            rng.random_range(1..=12),
            rng.random_range(1..=28),
            rng.random_range(0..24),
            rng.random_range(0..60)
        ),
    }
}

/// A line most of the time (a key left out otherwise).
fn maybe(rng: &mut StdRng, line: impl FnOnce(&mut StdRng) -> String) -> String {
    if rng.random_bool(0.85) {
        line(rng)
    } else {
        String::new()
    }
}

const POLLUTANTS: &[&str] = &["PM2.5", "PM10", "TSP", "SO2", "NOx", "NO2", "CO", "O3"];
const UNITS: &[&str] = &["g/s", "kg/h", "kg/day", "t/yr", "g/s/km", "kg/h/km", "ppm"];
const CLASSES: &[&str] = &["A", "B", "C", "D", "E", "F", "G"];

/// A dispersion scenario: every key of the format, values plausible or extreme. Grids are kept
/// coarse enough (250 m and above, or a small extent) that a valid draw resolves quickly.
pub fn dispersion_toml(rng: &mut StdRng) -> Vec<u8> {
    let mut t = String::new();
    t += &format!("name = \"{}\"\n", word(rng, &["fuzz", "winter"]));
    t += &maybe(rng, |rng| format!("start = \"{}\"\n", time(rng)));
    t += &maybe(rng, |rng| format!("duration_h = {}\n", num(rng, 0.5, 24.0)));
    t += &maybe(rng, |rng| {
        format!("output_interval_min = {}\n", num(rng, 5.0, 120.0))
    });
    let n = rng.random_range(0..4);
    let ps: Vec<String> = (0..n)
        .map(|_| format!("\"{}\"", word(rng, POLLUTANTS)))
        .collect();
    t += &maybe(rng, |_| format!("pollutants = [{}]\n", ps.join(", ")));
    t += &maybe(rng, |rng| {
        format!("mixing_height_m = {}\n", num(rng, 50.0, 2000.0))
    });
    if rng.random_bool(0.3) {
        t += &format!("cfl = {}\n", num(rng, 0.05, 0.5));
    }
    if rng.random_bool(0.3) {
        t += &format!("spin_up_h = {}\n", num(rng, 0.0, 6.0));
    }
    t += "[grid]\n";
    t += &maybe(rng, |rng| {
        format!("resolution_m = {}\n", num(rng, 250.0, 5000.0))
    });
    match rng.random_range(0..3) {
        0 => {
            t += &format!(
                "bbox = [{}, {}, {}, {}]\n",
                num(rng, 107.0, 107.2),
                num(rng, 20.9, 21.0),
                num(rng, 107.2, 107.5),
                num(rng, 21.0, 21.2)
            )
        }
        1 => {
            t += &format!(
                "extent_m = [{}, {}, {}, {}]\n",
                num(rng, 700_000.0, 710_000.0),
                num(rng, 2_315_000.0, 2_320_000.0),
                num(rng, 710_000.0, 730_000.0),
                num(rng, 2_320_000.0, 2_330_000.0)
            )
        }
        _ => {}
    }
    t += "[wind]\n";
    let mode = word(rng, &["uniform", "series", "stations"]);
    t += &format!("mode = \"{mode}\"\n");
    t += &maybe(rng, |rng| format!("speed_m_s = {}\n", num(rng, 0.0, 15.0)));
    t += &maybe(rng, |rng| format!("from_deg = {}\n", num(rng, 0.0, 360.0)));
    if rng.random_bool(0.6) {
        t += &format!("stability = \"{}\"\n", word(rng, CLASSES));
    } else {
        t += &format!("diffusivity_m2_s = {}\n", num(rng, 1.0, 200.0));
    }
    if rng.random_bool(0.2) {
        t += &format!("idw_power = {}\n", num(rng, 1.0, 3.0));
    }
    if rng.random_bool(0.3) {
        t += &format!("ambient_temperature_k = {}\n", num(rng, 200.0, 340.0));
    }
    if rng.random_bool(0.3) {
        t += &format!("calm_m_s = {}\n", num(rng, 0.0, 3.0));
    }
    for _ in 0..rng.random_range(0..4) {
        t += &format!(
            "[[wind.series]]\nhour = {}\nspeed_m_s = {}\nfrom_deg = {}\n",
            num(rng, 0.0, 24.0),
            num(rng, 0.0, 15.0),
            num(rng, 0.0, 360.0)
        );
        if rng.random_bool(0.4) {
            t += &format!("mixing_height_m = {}\n", num(rng, 5.0, 3000.0));
        }
        if rng.random_bool(0.4) {
            t += &format!("stability = \"{}\"\n", word(rng, CLASSES));
        }
    }
    for _ in 0..rng.random_range(0..3) {
        t += &format!(
            "[[wind.stations]]\nlon = {}\nlat = {}\nspeed_m_s = {}\nfrom_deg = {}\n",
            num(rng, 107.0, 107.5),
            num(rng, 20.9, 21.2),
            num(rng, 0.0, 15.0),
            num(rng, 0.0, 360.0)
        );
    }
    if rng.random_bool(0.3) {
        t += &format!(
            "[removal.\"{}\"]\ndecay_per_s = {}\ndeposition_m_s = {}\n",
            word(rng, POLLUTANTS),
            num(rng, 0.0, 1e-4),
            num(rng, 0.0, 0.01)
        );
    }
    t += "[sources]\n";
    t += &format!("plants = {}\n", rng.random_bool(0.5));
    t += &format!("open_pit_mines = {}\n", rng.random_bool(0.3));
    if rng.random_bool(0.3) {
        t += &format!("mine_pm10_kg_per_t = {}\n", num(rng, 0.0, 1.0));
    }
    for _ in 0..rng.random_range(0..3) {
        t += &format!(
            "[[sources.point]]\nname = \"p\"\nlon = {}\nlat = {}\nemissions = [{{ pollutant = \"{}\", rate = {}, unit = \"{}\" }}]\n",
            num(rng, 107.0, 107.4),
            num(rng, 20.9, 21.2),
            word(rng, POLLUTANTS),
            num(rng, 0.0, 500.0),
            word(rng, UNITS)
        );
        if rng.random_bool(0.5) {
            t += &format!("stack_height_m = {}\n", num(rng, 0.0, 400.0));
        }
        if rng.random_bool(0.4) {
            t += &format!(
                "stack_diameter_m = {}\nexit_velocity_m_s = {}\nexit_temperature_k = {}\n",
                num(rng, 0.1, 12.0),
                num(rng, 0.0, 40.0),
                num(rng, 250.0, 600.0)
            );
        }
    }
    for _ in 0..rng.random_range(0..2) {
        t += &format!(
            "[[sources.area]]\nname = \"a\"\nlon = {}\nlat = {}\nradius_m = {}\nemissions = [{{ pollutant = \"{}\", rate = {}, unit = \"{}\" }}]\n",
            num(rng, 107.0, 107.4),
            num(rng, 20.9, 21.2),
            num(rng, 10.0, 5000.0),
            word(rng, POLLUTANTS),
            num(rng, 0.0, 500.0),
            word(rng, UNITS)
        );
    }
    for _ in 0..rng.random_range(0..2) {
        t += &format!(
            "[[sources.line]]\nroad = \"{}\"\nemissions = [{{ pollutant = \"{}\", rate = {}, unit = \"{}\" }}]\n",
            word(rng, &["QL18", "ql18-ha-tu-cam-pha", "CT06"]),
            word(rng, POLLUTANTS),
            num(rng, 0.0, 50.0),
            word(rng, UNITS)
        );
    }
    // the near field, receptors, background, NO2 and hourly lids (tables after the sources)
    if rng.random_bool(0.5) {
        t += &format!("[near_field]\nenabled = {}\n", rng.random_bool(0.7));
        t += &maybe(rng, |rng| {
            format!("max_travel_m = {}\n", num(rng, 50.0, 50_000.0))
        });
        t += &maybe(rng, |rng| {
            format!("fade_start_fraction = {}\n", num(rng, 0.0, 1.0))
        });
    }
    for _ in 0..rng.random_range(0..3) {
        t += &format!(
            "[[receptors.point]]\nname = \"r\"\nlon = {}\nlat = {}\n",
            num(rng, 107.0, 107.4),
            num(rng, 20.9, 21.2)
        );
        t += &maybe(rng, |rng| format!("height_m = {}\n", num(rng, 0.0, 600.0)));
    }
    for _ in 0..rng.random_range(0..2) {
        let list = |rng: &mut StdRng, lo: f64, hi: f64| {
            (0..rng.random_range(0..5))
                .map(|_| num(rng, lo, hi))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (d, a) = (list(rng, 0.0, 30_000.0), list(rng, -400.0, 400.0));
        t += &format!(
            "[[receptors.polar]]\nname = \"ring\"\nlon = {}\nlat = {}\ndistances_m = [{d}]\ndirections_deg = [{a}]\n",
            num(rng, 107.0, 107.4),
            num(rng, 20.9, 21.2)
        );
    }
    if rng.random_bool(0.4) {
        t += "[background]\n";
        for _ in 0..rng.random_range(1..3) {
            let p = word(rng, POLLUTANTS);
            t += &match rng.random_range(0..4) {
                0 => format!("\"{p}\" = {{ ug_m3 = {} }}\n", num(rng, 0.0, 100.0)),
                1 => format!(
                    "\"{p}\" = {{ hourly_ug_m3 = [{}, {}] }}\n",
                    num(rng, 0.0, 100.0),
                    num(rng, 0.0, 100.0)
                ),
                2 => format!(
                    "\"{p}\" = {{ station = \"st\", observations = \"{}\" }}\n",
                    word(rng, &["missing.csv", ".", "lake"])
                ),
                _ => format!("\"{p}\" = {{ }}\n"),
            };
        }
    }
    if rng.random_bool(0.3) {
        t += &format!("[no2]\nozone_ug_m3 = {}\n", num(rng, 0.0, 200.0));
        t += &maybe(rng, |rng| {
            format!("in_stack_ratio = {}\n", num(rng, 0.0, 1.0))
        });
    }
    for _ in 0..rng.random_range(0..3) {
        t += &format!(
            "[[mixing_height]]\nhour = {}\nmixing_height_m = {}\n",
            num(rng, 0.0, 24.0),
            num(rng, 5.0, 3000.0)
        );
    }
    t.into_bytes()
}

const NODES: &[&str] = &[
    "hon-gai",
    "cam-pha",
    "bai-chay",
    "ha-tu",
    "uong-bi",
    "mine-khe-cham",
    "cam-pha-port",
    "mong-duong-tpp",
    "mine-ha-tu",
    "hon-gai-port",
    "nowhere",
];

/// A traffic scenario: every key of the format, values plausible or extreme.
pub fn traffic_toml(rng: &mut StdRng) -> Vec<u8> {
    let mut t = String::new();
    t += &format!("name = \"{}\"\n", word(rng, &["fuzz"]));
    t += &maybe(rng, |rng| format!("start = \"{}\"\n", time(rng)));
    t += &maybe(rng, |rng| format!("duration_h = {}\n", num(rng, 0.1, 3.0)));
    t += &maybe(rng, |rng| format!("dt_s = {}\n", num(rng, 1.0, 10.0)));
    t += &maybe(rng, |rng| {
        format!("output_interval_min = {}\n", num(rng, 5.0, 60.0))
    });
    t += &maybe(rng, |rng| format!("truck_pce = {}\n", num(rng, 1.0, 4.0)));
    t += &maybe(rng, |rng| {
        format!("jam_density_veh_km_lane = {}\n", num(rng, 20.0, 250.0))
    });
    t += &maybe(rng, |rng| {
        format!("demand_period_min = {}\n", num(rng, 5.0, 120.0))
    });
    for _ in 0..rng.random_range(0..4) {
        t += "[[demand]]\n";
        t += &format!("from = \"{}\"\n", word(rng, NODES));
        if rng.random_bool(0.8) {
            t += &format!("to = \"{}\"\n", word(rng, NODES));
        }
        if rng.random_bool(0.5) {
            t += &format!("class = \"{}\"\n", word(rng, &["car", "truck"]));
        }
        if rng.random_bool(0.5) {
            t += &format!("veh_h = {}\n", num(rng, 0.0, 2000.0));
        } else {
            let v: Vec<String> = (0..rng.random_range(0..5))
                .map(|_| num(rng, 0.0, 2000.0))
                .collect();
            t += &format!("veh_h = [{}]\n", v.join(", "));
        }
        if rng.random_bool(0.2) {
            t += &format!("period_min = {}\n", num(rng, 5.0, 60.0));
        }
        if rng.random_bool(0.3) {
            t += "both_ways = true\n";
        }
    }
    t += "[signals]\n";
    t += &maybe(rng, |rng| {
        format!(
            "control = \"{}\"\n",
            word(rng, &["fixed_time", "max_pressure"])
        )
    });
    t += &maybe(rng, |rng| format!("lost_s = {}\n", num(rng, 0.0, 8.0)));
    t += &maybe(rng, |rng| {
        format!("min_green_s = {}\n", num(rng, 5.0, 30.0))
    });
    for _ in 0..rng.random_range(0..3) {
        t += &format!("[[signals.node]]\nnode = \"{}\"\n", word(rng, NODES));
        t += &maybe(rng, |rng| format!("cycle_s = {}\n", num(rng, 30.0, 180.0)));
        t += &maybe(rng, |rng| format!("offset_s = {}\n", num(rng, 0.0, 60.0)));
        if rng.random_bool(0.3) {
            for _ in 0..rng.random_range(0..3) {
                t += &format!(
                    "[[signals.node.phases]]\ngreen_s = {}\napproaches = [\"{}\"]\n",
                    num(rng, 5.0, 60.0),
                    word(rng, &["ql18-ha-tu-cam-pha", "x"])
                );
            }
        }
    }
    t += "[emissions]\n";
    t += &maybe(rng, |rng| {
        format!("silt_loading_g_m2 = {}\n", num(rng, 0.0, 5.0))
    });
    if rng.random_bool(0.3) {
        t += &format!(
            "silt_loading_by_road = {{ \"{}\" = {} }}\n",
            word(rng, &["ql18-ha-tu-cam-pha", "QL18"]),
            num(rng, 0.0, 5.0)
        );
    }
    if rng.random_bool(0.3) {
        t += &format!(
            "[emissions.truck]\npm10_g_km = {}\nweight_t = {}\n",
            num(rng, 0.0, 2.0),
            num(rng, 1.0, 40.0)
        );
        t += &maybe(rng, |rng| {
            format!("idle_nox_g_h = {}\n", num(rng, -10.0, 200.0))
        });
        if rng.random_bool(0.5) {
            t += &format!(
                "nox_speed_curve = {{ alpha = {}, beta = {}, gamma = {}, delta = {}, eta = {}, v_min_km_h = {}, v_max_km_h = {} }}\n",
                num(rng, -1e-3, 1e-3),
                num(rng, -0.1, 0.1),
                num(rng, -1.0, 20.0),
                num(rng, -10.0, 100.0),
                num(rng, -1.0, 2.0),
                num(rng, 0.0, 20.0),
                num(rng, 10.0, 300.0)
            );
        }
    }
    t.into_bytes()
}

const PARAMS: &[&str] = &[
    "PM2.5",
    "PM10",
    "SO2",
    "NO2",
    "CO",
    "O3",
    "CH4",
    "O2",
    "CO_mine",
    "air_velocity",
    "pH",
    "x",
];
const OBS_UNITS: &[&str] = &[
    "µg/m³", "ug/m3", "mg/m³", "ppb", "ppm", "%", "m/s", "", "furlongs",
];
const STATUS: &[&str] = &["measuring", "calibrating", "error", "bogus"];

fn csv_cell(rng: &mut StdRng, s: String) -> String {
    match rng.random_range(0..12) {
        0 => format!("\"{}\"", s.replace('"', "\"\"")),
        1 => String::new(),
        _ => s,
    }
}

/// A long-layout observation CSV (columns sometimes shuffled or missing).
pub fn csv_long(rng: &mut StdRng) -> Vec<u8> {
    let mut cols = vec!["station_id", "parameter", "time", "value", "unit", "status"];
    if rng.random_bool(0.2) {
        let i = rng.random_range(0..cols.len());
        cols.remove(i);
    }
    if rng.random_bool(0.2) {
        let i = rng.random_range(0..cols.len());
        let j = rng.random_range(0..cols.len());
        cols.swap(i, j);
    }
    let mut t = cols.join(",") + "\n";
    for _ in 0..rng.random_range(0..40) {
        let row: Vec<String> = cols
            .iter()
            .map(|c| {
                let v = match *c {
                    "station_id" => word(rng, &["st-1", "st-2", "mine-a"]),
                    "parameter" => word(rng, PARAMS),
                    "time" => time(rng),
                    "value" => num(rng, 0.0, 500.0),
                    "unit" => word(rng, OBS_UNITS),
                    _ => word(rng, STATUS),
                };
                csv_cell(rng, v)
            })
            .collect();
        t += &row.join(",");
        t += "\n";
    }
    t.into_bytes()
}

/// A wide-layout (datalogger) observation CSV.
pub fn csv_wide(rng: &mut StdRng) -> Vec<u8> {
    let mut cols = vec!["station_id".to_string(), "time".to_string()];
    if rng.random_bool(0.5) {
        cols.push("status".into());
    }
    for _ in 0..rng.random_range(0..5) {
        cols.push(match rng.random_range(0..6) {
            0 => word(rng, PARAMS),
            1 => format!("[{}]", word(rng, OBS_UNITS)),
            _ => format!("{} [{}]", word(rng, PARAMS), word(rng, OBS_UNITS)),
        });
    }
    let mut t = cols.join(",") + "\n";
    for _ in 0..rng.random_range(0..40) {
        let row: Vec<String> = cols
            .iter()
            .map(|c| {
                let v = match c.as_str() {
                    "station_id" => word(rng, &["st-1", "st-2"]),
                    "time" => time(rng),
                    "status" => word(rng, STATUS),
                    _ => num(rng, 0.0, 500.0),
                };
                csv_cell(rng, v)
            })
            .collect();
        t += &row.join(",");
        t += "\n";
    }
    t.into_bytes()
}

/// A random JSON value of bounded depth.
pub fn json_value(rng: &mut StdRng, depth: u32) -> serde_json::Value {
    use serde_json::{Value, json};
    match rng.random_range(0..if depth == 0 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => json!(rng.random_bool(0.5)),
        2 => serde_json::from_str(&json_num(rng, -200.0, 200.0)).unwrap_or(Value::Null),
        3 => json!(word(
            rng,
            &[
                "LineString",
                "Point",
                "Polygon",
                "expressway",
                "air",
                "open_pit"
            ]
        )),
        4 => json!(""),
        5 => Value::Array(
            (0..rng.random_range(0..4))
                .map(|_| json_value(rng, depth - 1))
                .collect(),
        ),
        _ => {
            let mut m = serde_json::Map::new();
            for _ in 0..rng.random_range(0..4) {
                m.insert(
                    word(rng, &["id", "name", "type", "coordinates"]),
                    json_value(rng, depth - 1),
                );
            }
            Value::Object(m)
        }
    }
}

/// A JSON-level mutation of a GeoJSON layer: values replaced by random ones (other types,
/// extremes), keys removed, features duplicated or emptied.
pub fn mutate_json(rng: &mut StdRng, bytes: &[u8]) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return bytes.to_vec();
    };
    for _ in 0..rng.random_range(1..4) {
        // a random path down the document, as a JSON pointer
        let mut pointer = String::new();
        let mut node = &v;
        for _ in 0..rng.random_range(0..7) {
            let step = match node {
                serde_json::Value::Object(m) if !m.is_empty() => {
                    let k = m
                        .keys()
                        .nth(rng.random_range(0..m.len()))
                        .cloned()
                        .unwrap_or_default();
                    let next = &m[&k];
                    Some((k.replace('~', "~0").replace('/', "~1"), next))
                }
                serde_json::Value::Array(a) if !a.is_empty() => {
                    let i = rng.random_range(0..a.len());
                    Some((i.to_string(), &a[i]))
                }
                _ => None,
            };
            match step {
                Some((k, next)) => {
                    pointer.push('/');
                    pointer.push_str(&k);
                    node = next;
                }
                None => break,
            }
        }
        let replacement = json_value(rng, 2);
        let op = rng.random_range(0..4);
        let copies = rng.random_range(1..50);
        let Some(node) = v.pointer_mut(&pointer) else {
            continue;
        };
        match (op, node) {
            (0, n) => *n = replacement,
            (1, serde_json::Value::Object(m)) => {
                if let Some(k) = m.keys().next().cloned() {
                    m.remove(&k);
                }
            }
            (2, serde_json::Value::Array(a)) => {
                if let Some(x) = a.first().cloned() {
                    a.extend(std::iter::repeat_n(x, copies));
                }
            }
            (3, serde_json::Value::Array(a)) => a.clear(),
            _ => {}
        }
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

/// An MQTT message for the live ingester: the topic on the first line, the payload after it.
pub fn mqtt_message(rng: &mut StdRng) -> Vec<u8> {
    let site = word(rng, &["st-1", "mine-a", "nowhere", ""]);
    let param = word(rng, PARAMS);
    let topic = match rng.random_range(0..4) {
        0 => format!("qn/{site}/{param}"),
        1 => format!("qn/{site}"),
        2 => format!("v1.1/Datastreams('{site}:{param}')/Observations"),
        _ => word(
            rng,
            &["qn", "qn/a/b/c", "v1.1/Things/Observations", "/", ""],
        ),
    };
    let payload = match rng.random_range(0..4) {
        0 => format!(
            r#"{{"time": "{}", "value": {}, "unit": "{}", "status": "{}"}}"#,
            time(rng),
            num(rng, -10.0, 500.0),
            word(rng, OBS_UNITS),
            word(rng, STATUS)
        ),
        1 => format!(
            r#"{{"time": "{}", "values": {{"{} [{}]": {}, "{}": {}}}}}"#,
            time(rng),
            word(rng, PARAMS),
            word(rng, OBS_UNITS),
            num(rng, 0.0, 500.0),
            word(rng, PARAMS),
            num(rng, 0.0, 500.0)
        ),
        2 => format!(
            r#"{{"phenomenonTime": "{}", "result": {}}}"#,
            time(rng),
            num(rng, 0.0, 500.0)
        ),
        _ => word(
            rng,
            &["", "{", "[]", "null", r#"{"time": 5}"#, r#"{"values": {}}"#],
        ),
    };
    format!("{topic}\n{payload}").into_bytes()
}

/// An AirNow hourly file (US Department of State monitors).
pub fn airnow(rng: &mut StdRng) -> Vec<u8> {
    let mut t = String::from(
        "Site,Parameter,Date (LT),Year,Month,Day,Hour,NowCast Conc.,AQI,AQI Category,Raw Conc.,Conc. Unit,Duration,QC Name\n",
    );
    for _ in 0..rng.random_range(0..40) {
        t += &format!(
            "Hanoi,PM2.5 - Principal,x,{},{},{},{},{},{},Unhealthy,{},UG/M3,1 Hr,{}\n",
            word(rng, &["2016", "2017", "0", "99999", "x"]),
            num(rng, 0.0, 13.0),
            num(rng, 0.0, 32.0),
            num(rng, 0.0, 24.0),
            num(rng, -999.0, 600.0),
            num(rng, -999.0, 600.0),
            num(rng, -999.0, 600.0),
            word(rng, &["Valid", "Invalid", "Missing", ""])
        );
    }
    t.into_bytes()
}

/// A SensorThings request for `twin serve`: the path on the first line, then one
/// `name=value` query option per line (decoded), as the server hands them to the engine.
pub fn sta_request(rng: &mut StdRng) -> Vec<u8> {
    let set = word(
        rng,
        &[
            "Things",
            "Locations",
            "Sensors",
            "ObservedProperties",
            "Datastreams",
            "Observations",
            "FeaturesOfInterest",
            "HistoricalLocations",
            "Nope",
            "",
        ],
    );
    let id = word(
        rng,
        &[
            "'st-ha-long-air-01'",
            "'st-ha-long-air-01:PM2.5'",
            "'st-ha-long-air-01:PM2.5:1772326800000'",
            "'PM2.5'",
            "''",
            "'a''b'",
            "1",
            "'",
            "('x')",
        ],
    );
    let nav = word(
        rng,
        &[
            "Datastreams",
            "Observations",
            "Thing",
            "Locations",
            "FeatureOfInterest",
            "Sensor",
            "x",
            "",
        ],
    );
    let path = match rng.random_range(0..4) {
        0 => set,
        1 => format!("{set}({id})"),
        2 => format!("{set}({id})/{nav}"),
        _ => format!(
            "{set}({id})/{nav}/{}",
            word(rng, &["Observations", "Thing", "(", ")"])
        ),
    };
    let operand = |rng: &mut StdRng| -> String {
        match rng.random_range(0..6) {
            0 => word(
                rng,
                &[
                    "result",
                    "phenomenonTime",
                    "id",
                    "name",
                    "properties/medium",
                    "parameters/status",
                    "Datastream/id",
                    "location",
                ],
            ),
            1 => num(rng, -1e6, 1e6),
            2 => time(rng),
            3 => format!("'{}'", word(rng, &["a", "st-ha-long-air-01", "", "x''y"])),
            4 => format!(
                "{}({})",
                word(
                    rng,
                    &[
                        "startswith",
                        "length",
                        "tolower",
                        "year",
                        "geo.distance",
                        "nosuch",
                        "substringof"
                    ]
                ),
                word(
                    rng,
                    &[
                        "name",
                        "name, 'a'",
                        "location, geography'POINT(107 21)'",
                        "",
                        "("
                    ]
                )
            ),
            _ => word(
                rng,
                &[
                    "null",
                    "true",
                    "(",
                    ")",
                    "and",
                    "not",
                    "geography'POINT(1)'",
                    "1e999",
                ],
            ),
        }
    };
    let mut filter = String::new();
    for _ in 0..rng.random_range(1..5) {
        if !filter.is_empty() {
            filter += &format!(" {} ", word(rng, &["and", "or", "and not", ""]));
        }
        let (a, b) = (operand(rng), operand(rng));
        filter += &format!(
            "{a} {} {b}",
            word(rng, &["eq", "ne", "gt", "ge", "lt", "le", "has"])
        );
    }
    let mut q = vec![format!("$filter={filter}")];
    for (k, vals) in [
        (
            "$top",
            &[
                "0",
                "1",
                "100",
                "10000",
                "10001",
                "-1",
                "x",
                "18446744073709551616",
            ][..],
        ),
        ("$skip", &["0", "5", "18446744073709551615", "x"][..]),
        ("$count", &["true", "false", "yes"][..]),
        (
            "$orderby",
            &["phenomenonTime desc", "result,id asc", "name up", ",", ""][..],
        ),
        ("$select", &["id,result", "", ",,", "name"][..]),
        (
            "$expand",
            &[
                "Datastreams($top=1;$expand=Observations($orderby=phenomenonTime desc))",
                "Observations($filter=result gt 1)",
                "Datastreams/Observations",
                "Thing(",
                "Nope",
                "Datastreams($top=x)",
            ][..],
        ),
    ] {
        if rng.random_range(0..2) == 0 {
            q.push(format!("{k}={}", word(rng, vals)));
        }
    }
    format!("{path}\n{}", q.join("\n")).into_bytes()
}

/// A mine ventilation network file: a few junctions (some at the surface), branches between
/// random pairs with resistances or friction factors, sometimes a fan.
pub fn mine_toml(rng: &mut StdRng) -> Vec<u8> {
    let n = rng.random_range(1..7usize);
    let ids: Vec<String> = (0..n).map(|i| format!("J{i}")).collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut t = String::from("name = \"fuzz\"\n");
    t += &format!(
        "methane_class = \"{}\"\n",
        pick(rng, &["I", "II", "III", "super", "outburst", "IV"])
    );
    t += &maybe(rng, |rng| {
        format!("air_density_kg_m3 = {}\n", num(rng, 0.5, 2.0))
    });
    for id in &ids {
        t += &format!(
            "[[junctions]]\nid = \"{id}\"\nx_m = {}\ny_m = {}\nelevation_m = {}\n",
            num(rng, -500.0, 500.0),
            num(rng, -500.0, 500.0),
            num(rng, -600.0, 50.0)
        );
        t += &maybe(rng, |rng| {
            format!("temperature_c = {}\n", num(rng, 0.0, 40.0))
        });
        if rng.random_bool(0.3) {
            t += "surface = true\n";
        }
    }
    for k in 0..rng.random_range(0..9usize) {
        t += &format!(
            "[[branches]]\nid = \"B{k}\"\nfrom = \"{}\"\nto = \"{}\"\narea_m2 = {}\nkind = \"{}\"\n",
            word(rng, &id_refs),
            word(rng, &id_refs),
            num(rng, 0.5, 30.0),
            pick(
                rng,
                &[
                    "airway",
                    "shaft",
                    "face",
                    "heading",
                    "regulator",
                    "door",
                    "goaf",
                    "tunnel"
                ]
            )
        );
        if rng.random_bool(0.7) {
            t += &format!("resistance_ns2_m8 = {}\n", num(rng, 0.001, 100.0));
        } else {
            t += &format!(
                "friction_factor_kg_m3 = {}\nlength_m = {}\nperimeter_m = {}\n",
                num(rng, 0.005, 0.03),
                num(rng, 1.0, 2000.0),
                num(rng, 5.0, 20.0)
            );
        }
        t += &maybe(rng, |rng| {
            format!("persons = {}\n", rng.random_range(0..30u32))
        });
    }
    if rng.random_bool(0.6) {
        let pts: Vec<String> = (0..rng.random_range(1..6usize))
            .map(|i| format!("[{}, {}]", 10.0 * i as f64, num(rng, -100.0, 4000.0)))
            .collect();
        t += &format!(
            "[[fans]]\nid = \"F\"\nbranch = \"B{}\"\ncurve = [{}]\n",
            rng.random_range(0..4u32),
            pts.join(", ")
        );
    }
    t.into_bytes()
}
