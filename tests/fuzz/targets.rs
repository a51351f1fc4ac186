//! The fuzz targets: what each reads, its seeds, and its structure-aware mutation.

use std::path::Path;
use std::sync::Arc;

use rand::Rng;
use rand::rngs::StdRng;

use super::{DICT, Target, grammar, mutate, repo};
use twin_engine::dataset::Dataset;

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(repo(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn bundled() -> Arc<Dataset> {
    Arc::new(Dataset::load(&repo("datasets/quang-ninh")).expect("the bundled dataset loads"))
}

/// A `key = value` line of a TOML file with its value replaced by an extreme or a token.
fn mutate_toml_value(rng: &mut StdRng, bytes: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let keyed: Vec<usize> = (0..lines.len())
        .filter(|i| lines[*i].contains(" = ") && !lines[*i].trim_start().starts_with('#'))
        .collect();
    for _ in 0..rng.random_range(1..4) {
        if keyed.is_empty() {
            break;
        }
        let i = keyed[rng.random_range(0..keyed.len())];
        if let Some((k, _)) = lines[i].split_once(" = ") {
            let v = match rng.random_range(0..4) {
                0 => grammar::num(rng, -1e3, 1e6),
                1 => format!(
                    "\"{}\"",
                    DICT[rng.random_range(0..DICT.len())].replace('"', "")
                ),
                2 => "[]".into(),
                _ => DICT[rng.random_range(0..14)].to_string(),
            };
            lines[i] = format!("{k} = {v}");
        }
    }
    (lines.join("\n") + "\n").into_bytes()
}

pub fn dispersion_scenario() -> Target {
    let ds = bundled();
    Target {
        name: "dispersion",
        ext: "toml",
        seeds: vec![
            read("datasets/quang-ninh/scenarios/winter-ne-monsoon.toml"),
            read("datasets/quang-ninh/scenarios/analytic-point-source.toml"),
        ],
        generate: grammar::dispersion_toml,
        structural: mutate_toml_value,
        run: Box::new(move |p: &Path| {
            let s =
                twin_engine::dispersion::scenario::Scenario::read(p).map_err(|e| e.to_string())?;
            let r = s.resolve(p, (*ds).clone()).map_err(|e| e.to_string())?;
            // a small problem also runs (plume rise, near field, hand-over, lid changes, the
            // budget) on the CPU twin: every number it was given must run or be refused
            let pr = &r.problem;
            if pr.grid.cells() * pr.intervals.len() <= 100_000 && pr.emitters.len() <= 5_000 {
                let run = pr.run(None).map_err(|e| e.to_string())?;
                // a budget that does not close is a finding, not a refusal
                assert!(
                    run.budget.iter().all(|b| b.relative_error <= 1e-3),
                    "budget does not close: {:?}",
                    run.budget
                );
            }
            Ok(())
        }),
    }
}

pub fn traffic_scenario() -> Target {
    let ds = bundled();
    Target {
        name: "traffic",
        ext: "toml",
        seeds: vec![
            read("datasets/quang-ninh/scenarios/morning-peak-coal-trucks.toml"),
            read("datasets/quang-ninh/scenarios/morning-peak-road-dust.toml"),
        ],
        generate: grammar::traffic_toml,
        structural: mutate_toml_value,
        run: Box::new(move |p: &Path| {
            let s = twin_engine::traffic::scenario::TrafficScenario::read(p)
                .map_err(|e| e.to_string())?;
            let r = s.resolve(p, (*ds).clone()).map_err(|e| e.to_string())?;
            r.setup.compile().map(|_| ()).map_err(|e| e.to_string())
        }),
    }
}

/// Mine ventilation networks: read; when they read, the steady airflow by both solvers and, on
/// networks the bundled fan-stop scenario fits, a short gas run (an `Err` is fine: a solver that
/// does not converge says so; a panic is a finding).
pub fn mine_network() -> Target {
    Target {
        name: "mine",
        ext: "toml",
        seeds: vec![read("datasets/quang-ninh/mines/mong-duong.toml")],
        generate: grammar::mine_toml,
        structural: mutate_toml_value,
        run: Box::new(|p: &Path| {
            use twin_engine::mine::{self, MineNetwork, MineScenario, Operating};
            let net = MineNetwork::read(p).map_err(|e| e.to_string())?;
            let s = mine::steady(&net, &Operating::design(&net)).map_err(|e| e.to_string())?;
            let scenario = repo("datasets/quang-ninh/mines/mong-duong-fan-stop.toml");
            if let Ok(mut sc) = MineScenario::read(&scenario, &net) {
                sc.duration_min = 5.0;
                if mine::gas::work(&net, &sc, &s.newton.flows) < 1e7 {
                    let run = mine::gas::run(&net, &sc).map_err(|e| e.to_string())?;
                    assert!(
                        run.mass_error.iter().all(|e| *e < 1e-6),
                        "gas not conserved: {:?}",
                        run.mass_error
                    );
                }
            }
            Ok(())
        }),
    }
}

/// Observation CSVs: read, and when they read, appended to a lake and read back.
fn observations(p: &Path) -> Result<(), String> {
    let df = twin_engine::telemetry::observations::read(p).map_err(|e| e.to_string())?;
    if df.height() > 0 {
        let lake = p.with_extension("lake");
        let _ = std::fs::remove_dir_all(&lake);
        twin_engine::telemetry::lake::append(&lake, &df).map_err(|e| e.to_string())?;
        let back = twin_engine::telemetry::lake::read(&lake).map_err(|e| e.to_string())?;
        assert!(back.skipped.is_empty(), "a part just written is unreadable");
    }
    Ok(())
}

/// A CSV line duplicated, dropped, or a cell replaced by a token.
fn mutate_csv(rng: &mut StdRng, bytes: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    if lines.is_empty() {
        return bytes.to_vec();
    }
    for _ in 0..rng.random_range(1..4) {
        let i = rng.random_range(0..lines.len());
        match rng.random_range(0..3) {
            0 => {
                let l = lines[i].clone();
                lines.insert(i, l);
            }
            1 if lines.len() > 1 => {
                lines.remove(i);
            }
            _ => {
                let mut cells: Vec<String> = lines[i].split(',').map(String::from).collect();
                let c = rng.random_range(0..cells.len());
                cells[c] = DICT[rng.random_range(0..DICT.len())].to_string();
                lines[i] = cells.join(",");
            }
        }
    }
    (lines.join("\n") + "\n").into_bytes()
}

pub fn csv_long() -> Target {
    let mut seed = String::from("station_id,parameter,time,value,unit,status\n");
    seed += "st-1,SO2,2026-01-15T08:00:00+07:00,100,ppb,measuring\n";
    seed += "st-1,CO,2026-01-15T08:00:00+07:00,2.5,mg/m3,measuring\n";
    seed += "st-1,PM2.5,2026-01-15T01:00:00Z,42,µg/m³,calibrating\n";
    seed += "mine-a,CH4,2026-01-15T09:00:00+07:00,0.8,%,measuring\n";
    Target {
        name: "csv-long",
        ext: "csv",
        seeds: vec![seed.into_bytes()],
        generate: grammar::csv_long,
        structural: mutate_csv,
        run: Box::new(observations),
    }
}

pub fn csv_wide() -> Target {
    let mut seed = String::from("station_id,time,status,PM2.5 [µg/m³],SO2 [ppb],CO [mg/m³]\n");
    seed += "st-1,2026-01-15T08:00:00+07:00,measuring,35,12,1.1\n";
    seed += "st-1,2026-01-15T09:00:00+07:00,measuring,,14,1.3\n";
    seed += "st-2,2026-01-15T09:00:00+07:00,calibrating,40,9,\n";
    Target {
        name: "csv-wide",
        ext: "csv",
        seeds: vec![seed.into_bytes()],
        generate: grammar::csv_wide,
        structural: mutate_csv,
        run: Box::new(observations),
    }
}

const LAYERS: [&str; 6] = ["districts", "stations", "mines", "plants", "ports", "roads"];

pub fn geojson() -> Target {
    // a copy of the mini dataset; each input replaces one of its layers (chosen by the
    // input's hash, so that a replay is the same case)
    let dir = tempfile::Builder::new()
        .prefix("qn-twin-fuzz-geojson-")
        .tempdir()
        .expect("tmp");
    for f in std::fs::read_dir(repo("tests/data/mini"))
        .expect("mini")
        .flatten()
    {
        std::fs::copy(f.path(), dir.path().join(f.file_name())).expect("copy");
    }
    let mut seeds: Vec<Vec<u8>> = LAYERS
        .iter()
        .map(|l| read(&format!("tests/data/mini/{l}.geojson")))
        .collect();
    seeds.push(read("datasets/quang-ninh/stations.geojson"));
    seeds.push(read("datasets/quang-ninh/mines.geojson"));
    Target {
        name: "geojson",
        ext: "geojson",
        seeds,
        generate: |rng| {
            let v = serde_json::json!({
                "type": "FeatureCollection",
                "features": (0..rng.random_range(0..5)).map(|_| serde_json::json!({
                    "type": "Feature",
                    "properties": grammar::json_value(rng, 2),
                    "geometry": grammar::json_value(rng, 3),
                })).collect::<Vec<_>>(),
            });
            serde_json::to_vec(&v).unwrap_or_default()
        },
        structural: grammar::mutate_json,
        run: Box::new(move |p: &Path| {
            let bytes = std::fs::read(p).map_err(|e| e.to_string())?;
            let layer = LAYERS[(super::hash(&bytes) % LAYERS.len() as u64) as usize];
            let target = dir.path().join(format!("{layer}.geojson"));
            std::fs::write(&target, &bytes).map_err(|e| e.to_string())?;
            let r = Dataset::load(dir.path())
                .map(|_| ())
                .map_err(|e| e.to_string());
            std::fs::copy(repo(&format!("tests/data/mini/{layer}.geojson")), &target)
                .map_err(|e| e.to_string())?;
            r
        }),
    }
}

/// A TIFF IFD entry's type, count or value set to an extreme.
fn mutate_tiff(rng: &mut StdRng, bytes: &[u8]) -> Vec<u8> {
    let mut d = bytes.to_vec();
    if d.len() < 16 {
        return mutate(rng, bytes);
    }
    let le = &d[0..2] == b"II";
    let u32_at = |d: &[u8], i: usize| -> usize {
        let b = [d[i], d[i + 1], d[i + 2], d[i + 3]];
        (if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }) as usize
    };
    let ifd = u32_at(&d, 4);
    if ifd + 2 > d.len() {
        return mutate(rng, bytes);
    }
    let n = if le {
        u16::from_le_bytes([d[ifd], d[ifd + 1]])
    } else {
        u16::from_be_bytes([d[ifd], d[ifd + 1]])
    } as usize;
    if n == 0 {
        return mutate(rng, bytes);
    }
    let e = ifd + 2 + 12 * rng.random_range(0..n);
    if e + 12 > d.len() {
        return mutate(rng, bytes);
    }
    let field = [2usize, 4, 8][rng.random_range(0..3)];
    let v: u32 =
        [0, 1, 3, 0xffff, 0x7fff_ffff, 0xffff_ffff, d.len() as u32][rng.random_range(0..7)];
    let width = if field == 2 { 2 } else { 4 };
    let b = if le { v.to_le_bytes() } else { v.to_be_bytes() };
    let b = if le { &b[..width] } else { &b[4 - width..] };
    d[e + field..e + field + width].copy_from_slice(b);
    d
}

pub fn geotiff() -> Target {
    let mut seeds: Vec<Vec<u8>> = [
        "tests/data/dem/srtm-like-4326.tif",
        "tests/data/dem/srtm-like-4326-point.tif",
        "tests/data/dem/utm48n-float32.tif",
        "tests/data/dem/vn2000-unsupported.tif",
    ]
    .iter()
    .map(|f| read(f))
    .collect();
    // a run's COG as the engine writes it (two bands, overviews)
    let dir = tempfile::tempdir().expect("tmp");
    let cog = dir.path().join("cog.tif");
    let (w, h) = (300usize, 260usize);
    let a: Vec<f32> = (0..w * h).map(|i| (i % 97) as f32).collect();
    let b: Vec<f32> = (0..w * h).map(|i| (i / w) as f32).collect();
    let geo = twin_engine::output::geotiff::GeoReference {
        epsg: 32648,
        min_x: 700_000.0,
        max_y: 2_330_000.0,
        pixel: 100.0,
    };
    twin_engine::output::geotiff::write_geotiff(
        &cog,
        w,
        h,
        &geo,
        &[
            twin_engine::output::geotiff::Band {
                values: &a,
                description: "a".into(),
                unit: "µg/m³".into(),
            },
            twin_engine::output::geotiff::Band {
                values: &b,
                description: "b".into(),
                unit: "µg/m³".into(),
            },
        ],
        &[("MODEL", "fuzz".into())],
    )
    .expect("cog");
    seeds.push(std::fs::read(&cog).expect("cog"));
    Target {
        name: "geotiff",
        ext: "tif",
        seeds,
        generate: |rng| {
            let mut d = b"II*\x00\x08\x00\x00\x00".to_vec();
            for _ in 0..rng.random_range(0..200) {
                d.push(rng.random());
            }
            d
        },
        structural: mutate_tiff,
        run: Box::new(|p: &Path| {
            let t = twin_engine::terrain::Terrain::read_geotiff(p).map(|_| ());
            let b = twin_engine::output::geotiff::read_bands(p).map(|_| ());
            match (t, b) {
                (Ok(()), _) | (_, Ok(())) => Ok(()),
                (Err(e), Err(f)) => Err(format!("{e}; {f}")),
            }
        }),
    }
}

pub fn osm() -> Target {
    Target {
        name: "osm",
        ext: "osm.pbf",
        seeds: vec![
            read("tests/data/osm/cam-pha-mini.osm.pbf"),
            read("tests/data/osm/clipped.osm.pbf"),
        ],
        generate: |rng| {
            (0..rng.random_range(0..300))
                .map(|_| rng.random())
                .collect()
        },
        structural: |rng, bytes| {
            // the first frame's header length, big-endian, set to an extreme
            let mut d = bytes.to_vec();
            if d.len() >= 4 {
                let v: u32 = [0, 1, 13, 0xffff, 0x0400_0000, 0xffff_ffff][rng.random_range(0..6)];
                d[0..4].copy_from_slice(&v.to_be_bytes());
            }
            d
        },
        run: Box::new(|p: &Path| {
            let bbox = twin_engine::geodesy::LonLatBounds {
                min_lon: 107.2,
                min_lat: 20.9,
                max_lon: 107.4,
                max_lat: 21.1,
            };
            twin_engine::traffic::osm::import_pbf(p, None).map_err(|e| e.to_string())?;
            twin_engine::traffic::osm::import_pbf(p, Some(bbox))
                .map(|_| ())
                .map_err(|e| e.to_string())
        }),
    }
}

pub fn lake_part() -> Target {
    // a real part: one partition of a small batch
    let dir = tempfile::tempdir().expect("tmp");
    let seed_lake = dir.path().join("seed");
    let csv = dir.path().join("b.csv");
    let mut text = String::from("station_id,parameter,time,value,unit,status\n");
    for h in 0..12 {
        text += &format!(
            "st-{},PM2.5,2026-01-15T{h:02}:10:00+07:00,{},µg/m³,measuring\n",
            h % 3,
            10 + h
        );
    }
    std::fs::write(&csv, text).expect("csv");
    let df = twin_engine::telemetry::observations::read(&csv).expect("seed csv");
    let r = twin_engine::telemetry::lake::append(&seed_lake, &df).expect("seed lake");
    let seeds = vec![std::fs::read(&r.files[0]).expect("part")];
    let lake = dir.path().join("lake");
    let partition = lake.join("parameter=PM2.5/date=2026-01-15");
    std::fs::create_dir_all(&partition).expect("partition");
    Target {
        name: "lake-part",
        ext: "parquet",
        seeds,
        generate: |rng| {
            let mut d = b"PAR1".to_vec();
            for _ in 0..rng.random_range(0..200) {
                d.push(rng.random());
            }
            d.extend_from_slice(&(rng.random_range(0u32..300)).to_le_bytes());
            d.extend_from_slice(b"PAR1");
            d
        },
        structural: |rng, bytes| {
            // the footer: its length field set to an extreme, or a byte inside it changed
            let mut d = bytes.to_vec();
            let n = d.len();
            if n < 12 {
                return d;
            }
            if rng.random_bool(0.3) {
                let v: u32 = [0, 1, 0x7fff_ffff, 0xffff_ffff, n as u32][rng.random_range(0..5)];
                d[n - 8..n - 4].copy_from_slice(&v.to_le_bytes());
            } else {
                let footer = u32::from_le_bytes([d[n - 8], d[n - 7], d[n - 6], d[n - 5]]) as usize;
                let start = n.saturating_sub(8 + footer.min(n - 8));
                let i = rng.random_range(start..n - 8);
                d[i] = rng.random();
            }
            d
        },
        run: Box::new(move |p: &Path| {
            let _keep = &dir;
            // as a part of a lake: read skips it by name, check lists it
            let part = partition.join("part-fuzz.parquet");
            std::fs::copy(p, &part).map_err(|e| e.to_string())?;
            let read = twin_engine::telemetry::lake::read(&lake).map_err(|e| e.to_string())?;
            let check = twin_engine::telemetry::lake::check(&lake).map_err(|e| e.to_string())?;
            assert_eq!(
                read.skipped.len(),
                check.bad.len(),
                "read and check disagree"
            );
            // and as a Parquet observations file (it lacks `parameter`: always an error, but
            // the file is decoded first)
            let _ = twin_engine::telemetry::observations::read(p);
            match read.skipped.first() {
                None => Ok(()),
                Some(b) => Err(b.reason.clone()),
            }
        }),
    }
}

/// MQTT messages (topic line, payload): parsed as the live ingester does; what parses goes
/// through the write-ahead log into a lake and is read back.
pub fn mqtt() -> Target {
    let seed = "qn/st-1/SO2\n{\"time\": \"2026-03-01T08:00:00+07:00\", \"value\": 12.5, \"unit\": \"ppb\"}";
    let batch = "qn/st-1\n{\"time\": \"2026-03-01T08:00:00+07:00\", \"values\": {\"PM2.5 [µg/m³]\": 12.1, \"NO2 [ppb]\": 20}}";
    let sta = "v1.1/Datastreams('mine-a:CH4')/Observations\n{\"phenomenonTime\": \"2026-03-01T01:00:00Z\", \"result\": 0.8}";
    Target {
        name: "mqtt",
        ext: "msg",
        seeds: vec![seed.into(), batch.into(), sta.into()],
        generate: grammar::mqtt_message,
        structural: mutate_csv,
        run: Box::new(|p: &Path| {
            use twin_engine::telemetry::live::{Wal, parse_message};
            let bytes = std::fs::read(p).map_err(|e| e.to_string())?;
            let (topic, payload) = match bytes.iter().position(|b| *b == b'\n') {
                Some(i) => (&bytes[..i], &bytes[i + 1..]),
                None => (&bytes[..], &[][..]),
            };
            let topic = String::from_utf8_lossy(topic);
            let sites = ["st-1", "mine-a"].iter().map(|s| s.to_string()).collect();
            let readings = parse_message(&topic, payload, &sites)?;
            let lake = p.with_extension("lake");
            let _ = std::fs::remove_dir_all(&lake);
            // what the ingester accepted (and acknowledged) must reach the lake: a flush that
            // fails here would stop the live ingester on every restart
            let (mut wal, _) = Wal::open(&lake).map_err(|e| e.to_string())?;
            wal.append(readings.clone()).map_err(|e| e.to_string())?;
            wal.sync().map_err(|e| e.to_string())?;
            if let Err(e) = wal.flush_to_lake(&lake) {
                panic!("accepted readings do not reach the lake: {e}");
            }
            let back = twin_engine::telemetry::lake::read(&lake).map_err(|e| e.to_string())?;
            let mut keys: Vec<(&str, &str, i64)> = readings
                .iter()
                .map(|r| {
                    let ms = chrono::DateTime::parse_from_rfc3339(r.time.trim())
                        .map_or(i64::MIN, |t| t.timestamp_millis());
                    (r.station_id.as_str(), r.parameter.as_str(), ms)
                })
                .collect();
            keys.sort();
            keys.dedup();
            assert_eq!(back.frame.height(), keys.len(), "readings lost or doubled");
            Ok(())
        }),
    }
}

/// AirNow hourly files through the ordinary observation reader.
pub fn airnow() -> Target {
    let mut seed = String::from(
        "Site,Parameter,Date (LT),Year,Month,Day,Hour,NowCast Conc.,AQI,AQI Category,Raw Conc.,Conc. Unit,Duration,QC Name\n",
    );
    seed += "Hanoi,PM2.5 - Principal,2016-01-01 01:00 AM,2016,01,01,01,81.0,164,Unhealthy,94.7,UG/M3,1 Hr,Valid\n";
    seed += "Hanoi,PM2.5 - Principal,2016-01-01 02:00 AM,2016,01,01,02,84.9,166,Unhealthy,88.7,UG/M3,1 Hr,Valid\n";
    seed += "Hanoi,PM2.5 - Principal,2016-01-01 03:00 AM,2016,01,01,03,-999,-999,,-999,UG/M3,1 Hr,Missing\n";
    Target {
        name: "airnow",
        ext: "csv",
        seeds: vec![seed.into_bytes()],
        generate: grammar::airnow,
        structural: mutate_csv,
        run: Box::new(observations),
    }
}

/// SensorThings requests (path, then `name=value` lines) against the API over a small lake:
/// an answer with a status, never a panic; a 200 is JSON with `value` or `@iot.id`.
pub fn sta() -> Target {
    use std::sync::OnceLock;
    use twin_engine::sta::Api;
    static API: OnceLock<Api> = OnceLock::new();
    let seed = "Datastreams('st-ha-long-air-01:PM2.5')/Observations\n$filter=phenomenonTime ge 2026-03-01T00:00:00Z and result gt 3\n$top=2\n$count=true";
    let expand = "Things('st-ha-long-air-01')\n$expand=Datastreams($expand=Observations($top=1;$orderby=phenomenonTime desc))\n$select=id,name";
    Target {
        name: "sta",
        ext: "req",
        seeds: vec![seed.into(), expand.into()],
        generate: grammar::sta_request,
        structural: mutate_csv,
        run: Box::new(|p: &Path| {
            let api = API.get_or_init(|| {
                // one bundled station with three PM2.5 readings
                let dir =
                    std::env::temp_dir().join(format!("qn-twin-fuzz-sta-{}", std::process::id()));
                let _ = std::fs::remove_dir_all(&dir);
                let df = polars::prelude::df!(
                    "station_id" => ["st-ha-long-air-01", "st-ha-long-air-01", "st-ha-long-air-01"],
                    "parameter" => ["PM2.5", "PM2.5", "PM2.5"],
                    "time_ms" => [1_772_326_800_000i64, 1_772_330_400_000, 1_772_334_000_000],
                    "value" => [12.5, 30.0, 4.0],
                    "unit" => ["µg/m³", "µg/m³", "µg/m³"],
                    "status" => ["measuring", "measuring", "calibrating"],
                )
                .expect("frame");
                twin_engine::telemetry::lake::append(&dir.join("lake"), &df).expect("lake");
                let mut store = twin_engine::sta::store::Store::new(&dir.join("lake"));
                store.refresh().expect("store");
                Api::new(&bundled(), store)
            });
            let text =
                String::from_utf8_lossy(&std::fs::read(p).map_err(|e| e.to_string())?).into_owned();
            let mut lines = text.lines();
            let path = lines.next().unwrap_or_default();
            let query: Vec<(String, String)> = lines
                .map(|l| match l.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (l.to_string(), String::new()),
                })
                .collect();
            let r = api.get(path, &query, "http://fuzz/v1.1");
            assert!([200, 400, 404].contains(&r.status), "status {}", r.status);
            if r.status == 200 {
                assert!(r.body.is_object(), "{}", r.body);
                // a next link moves on (a client following it must not loop)
                if let Some(next) = r.body["@iot.nextLink"].as_str() {
                    let skip = |s: &str| -> u128 {
                        s.split("%24skip=")
                            .nth(1)
                            .and_then(|x| x.split('&').next())
                            .and_then(|x| x.parse().ok())
                            .unwrap_or(0)
                    };
                    let asked: u128 = query
                        .iter()
                        .filter(|(k, _)| k == "$skip")
                        .filter_map(|(_, v)| v.trim().parse().ok())
                        .next_back()
                        .unwrap_or(0);
                    assert!(skip(next) > asked, "{next} after $skip={asked}");
                }
                Ok(())
            } else {
                Err(r.body["message"].as_str().unwrap_or_default().to_string())
            }
        }),
    }
}
