//! Checks the bundled dataset's coal-fired power plants against the WRI Global Power Plant
//! Database (CC BY 4.0; `../shared/data/real/wri-gppd-quang-ninh-area-plants.csv`, read in
//! place, never committed): for each dataset plant, the WRI units within 5 km (their summed
//! capacity against the dataset's, and the distance of each), and the WRI plants that match no
//! dataset plant. Prints a table; exits 1 when a dataset plant has no WRI unit within 5 km or
//! its capacity differs by more than 15 %.
//!
//! Run: `cargo run --release --example check_plants [-- PATH/wri-gppd-quang-ninh-area-plants.csv]`.

use twin_engine::dataset::Dataset;
use twin_engine::geodesy::haversine_m;
use twin_engine::model::PlantType;

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/data/real/wri-gppd-quang-ninh-area-plants.csv".into());
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("check_plants: {path}: {e}");
            std::process::exit(2);
        }
    };
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n);
    let (Some(c_name), Some(c_mw), Some(c_lat), Some(c_lon), Some(c_fuel)) = (
        col("name"),
        col("capacity_mw"),
        col("latitude"),
        col("longitude"),
        col("fuel1"),
    ) else {
        eprintln!(
            "check_plants: {path}: missing one of name, capacity_mw, latitude, longitude, fuel1"
        );
        std::process::exit(2);
    };
    let mut wri = Vec::new();
    for (k, line) in lines.enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        let num = |c: usize| f.get(c).and_then(|v| v.parse::<f64>().ok());
        match (num(c_mw), num(c_lat), num(c_lon)) {
            (Some(mw), Some(lat), Some(lon)) => wri.push((
                f[c_name].to_string(),
                f.get(c_fuel).copied().unwrap_or("").to_string(),
                mw,
                lon,
                lat,
            )),
            _ => eprintln!(
                "{path}: row {}: capacity or position missing, skipped",
                k + 2
            ),
        }
    }
    let ds = match twin_engine::dataset::resolve_dir(None, None).and_then(|d| Dataset::load(&d)) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("check_plants: {e}");
            std::process::exit(2);
        }
    };
    let mut used = vec![false; wri.len()];
    let mut bad = 0;
    println!(
        "dataset plant          MW     WRI units within 5 km (MW, km)                      WRI MW   diff"
    );
    for p in ds
        .province
        .plants
        .iter()
        .filter(|p| p.plant_type == PlantType::ThermalPower)
    {
        let (lon, lat) = (p.location.x(), p.location.y());
        let mut total = 0.0;
        let mut names = Vec::new();
        for (k, (name, _, mw, wlon, wlat)) in wri.iter().enumerate() {
            let d = haversine_m(lon, lat, *wlon, *wlat);
            if d <= 5000.0 {
                used[k] = true;
                total += mw;
                names.push(format!("{name} ({mw:.0}, {:.1})", d / 1000.0));
            }
        }
        let diff = if total > 0.0 {
            (p.capacity - total) / total
        } else {
            f64::NAN
        };
        if diff.is_nan() || diff.abs() > 0.15 {
            bad += 1;
        }
        println!(
            "{:<20} {:>6.0}   {:<50} {:>6.0}  {:>+5.0} %",
            p.meta.id,
            p.capacity,
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join("; ")
            },
            total,
            100.0 * diff
        );
    }
    for (k, (name, fuel, mw, lon, lat)) in wri.iter().enumerate() {
        if !used[k] {
            println!("WRI only: {name} ({fuel}, {mw:.0} MW) at {lon:.4}, {lat:.4}");
        }
    }
    if bad > 0 {
        println!("{bad} dataset plant(s) without a WRI match within 5 km and 15 %");
        std::process::exit(1);
    }
}
