//! The bundled Quảng Ninh dataset loads, validates and holds what the project says it holds.

use twin_engine::dataset::Dataset;
use twin_engine::model::{FeatureKind, Medium, MiningMethod, PlantType};

fn bundled() -> Dataset {
    Dataset::load(&crate::bundled()).expect("the bundled dataset is valid")
}

#[test]
fn bundled_dataset_has_the_province_inventory() {
    let d = bundled();
    let p = &d.province;
    assert_eq!(p.districts.len(), 14);
    assert_eq!(p.stations.len(), 105);
    assert!(p.mines.len() >= 14);
    let thermal = p
        .plants
        .iter()
        .filter(|x| x.plant_type == PlantType::ThermalPower)
        .count();
    assert_eq!(thermal, 5);
    assert!(p.plants.iter().any(|x| x.plant_type == PlantType::Cement));
    assert!(p.ports.iter().filter(|x| x.cargo == "coal").count() >= 2);
    assert!(!p.land.is_empty());
    assert_eq!(d.projection.epsg(), 32648);
}

#[test]
fn stations_are_in_eight_localities_with_both_media() {
    let p = bundled().province;
    let mut localities: Vec<&str> = p.stations.iter().map(|s| s.locality.as_str()).collect();
    localities.sort_unstable();
    localities.dedup();
    assert_eq!(localities.len(), 8, "{localities:?}");
    assert!(p.stations.iter().any(|s| s.medium == Medium::Air));
    assert!(p.stations.iter().any(|s| s.medium == Medium::Water));
    for s in &p.stations {
        assert!(!s.parameters.is_empty(), "{} measures nothing", s.meta.id);
    }
    let air_pm = p
        .stations
        .iter()
        .filter(|s| s.medium == Medium::Air)
        .all(|s| s.parameters.iter().any(|x| x == "PM2.5" || x == "PM10"));
    assert!(air_pm, "every air station needs PM for VN_AQI");
}

#[test]
fn named_mines_and_plants_are_present() {
    let p = bundled().province;
    for name in [
        "Mạo Khê",
        "Vàng Danh",
        "Nam Mẫu",
        "Hà Lầm",
        "Núi Béo",
        "Hà Tu",
        "Quang Hanh",
        "Dương Huy",
        "Thống Nhất",
        "Đèo Nai",
        "Cọc Sáu",
        "Cao Sơn",
        "Khe Chàm",
        "Mông Dương",
    ] {
        assert!(
            p.mines.iter().any(|m| m.meta.name.ends_with(name)),
            "mine {name} missing"
        );
    }
    let open_pit: Vec<&str> = p
        .mines
        .iter()
        .filter(|m| m.method == MiningMethod::OpenPit)
        .map(|m| m.meta.name.as_str())
        .collect();
    assert_eq!(open_pit.len(), 5, "{open_pit:?}");
    let mong_duong = p
        .plants
        .iter()
        .find(|x| x.meta.id == "mong-duong-tpp")
        .expect("Mông Dương plant");
    assert_eq!(mong_duong.capacity, 2320.0);
    assert!(
        mong_duong
            .emissions
            .iter()
            .all(|e| e.grams_per_second > 0.0)
    );
}

#[test]
fn main_roads_are_there_and_links_meet_at_shared_nodes() {
    let p = bundled().province;
    for r in ["QL18", "QL10", "QL279", "QL4B", "QL18C", "CT06"] {
        assert!(
            p.road_links
                .iter()
                .any(|l| l.road_ref.as_deref() == Some(r)),
            "{r} missing"
        );
    }
    // every link end is shared with another link or is a named boundary/terminal node
    let ends: Vec<(i64, i64)> = p
        .road_links
        .iter()
        .flat_map(|l| [l.geometry.0[0], *l.geometry.0.last().expect("non-empty")])
        .map(|c| ((c.x * 1e6).round() as i64, (c.y * 1e6).round() as i64))
        .collect();
    let shared = ends
        .iter()
        .filter(|e| ends.iter().filter(|f| f == e).count() > 1)
        .count();
    assert!(
        shared * 10 >= ends.len() * 7,
        "only {shared} of {} link ends are shared",
        ends.len()
    );
}

#[test]
fn every_feature_is_found_by_id() {
    let p = bundled().province;
    for h in p.handles() {
        assert_eq!(p.find(&p.meta(h).id), Some(h));
    }
    assert!(p.find("no-such-id").is_none());
    assert_eq!(
        p.handles()
            .filter(|h| h.kind == FeatureKind::District)
            .count(),
        14
    );
}

#[test]
fn synthetic_terrain_is_labelled_and_plausible() {
    let d = bundled();
    let t = d
        .terrain()
        .expect("terrain readable")
        .expect("terrain present");
    assert!(t.synthetic, "the bundled terrain must say it is synthetic");
    assert_eq!(t.epsg, 32648);
    assert!((100.0..=250.0).contains(&t.resolution_m()));
    let (lo, hi) = t.min_max().expect("has data");
    assert!(lo < 0.0 && (900.0..=1400.0).contains(&hi), "{lo}..{hi}");
    // Yên Tử range is high, the Hạ Long waterfront is low, the open bay is sea
    let yen_tu = t.elevation_at(106.72, 21.155).expect("inside");
    let ha_long = t.elevation_at(107.07336, 20.95045).expect("inside");
    assert!(yen_tu > 300.0, "Yên Tử at {yen_tu} m");
    assert!(ha_long < 150.0, "Hạ Long at {ha_long} m");
    let gulf = t.elevation_at(107.9, 20.75).expect("inside");
    assert!(gulf < 0.0, "open sea at {gulf} m");
}
