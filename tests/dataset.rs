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
    // Đèo Nai, Cọc Sáu, Cao Sơn, Hà Tu, and GEM's closed Núi Béo and Hòn Gai pits
    assert_eq!(open_pit.len(), 6, "{open_pit:?}");
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

/// The mines layer is Global Energy Monitor's records: one feature per mine with its GEM id,
/// status and method; both phases of Hà Ráng kept; the corrected positions where domain.md §1
/// puts them; the records left out are absent.
#[test]
fn mines_are_the_gem_records_with_corrections() {
    use twin_engine::model::{MineGeometry, MineStatus};
    let d = bundled();
    let p = &d.province;
    assert_eq!(p.mines.len(), 26);
    let mut gem: Vec<&str> = p
        .mines
        .iter()
        .map(|m| m.meta.extra["gem_id"].as_str().expect("gem_id"))
        .collect();
    gem.sort_unstable();
    gem.dedup();
    assert_eq!(gem.len(), 26, "one feature per GEM mine");
    for dropped in ["M4699", "M4327", "M4326", "M3675"] {
        assert!(!gem.contains(&dropped), "{dropped} should be left out");
    }
    let by_id = |id: &str| p.mines.iter().find(|m| m.meta.id == id).expect(id);
    let operating = p.mines.iter().filter(|m| m.operating()).count();
    assert_eq!(operating, 22);
    assert_eq!(by_id("mine-nui-beo").status, MineStatus::Closed);
    assert_eq!(
        by_id("mine-nui-beo-underground").status,
        MineStatus::Operating
    );
    assert_eq!(by_id("mine-tan-yen").status, MineStatus::Proposed);
    let ha_rang = by_id("mine-ha-rang");
    assert_eq!(ha_rang.status, MineStatus::Mothballed);
    assert_eq!(
        ha_rang.meta.extra["phases"].as_array().map(Vec::len),
        Some(2)
    );
    let mong_duong = by_id("mine-mong-duong");
    assert_eq!(mong_duong.method, MiningMethod::UndergroundAndSurface);
    assert!(mong_duong.method.surface() && mong_duong.method.underground());
    // GEM points known to be wrong are replaced by domain.md §1 positions
    for (id, lon, lat) in [
        ("mine-ha-lam", 107.10, 20.965),
        ("mine-khe-cham", 107.30, 21.06),
        ("mine-mong-duong", 107.33, 21.07),
    ] {
        let MineGeometry::Point(pt) = by_id(id).geometry else {
            panic!("{id} is a point")
        };
        assert!(
            (pt.x() - lon).abs() < 1e-9 && (pt.y() - lat).abs() < 1e-9,
            "{id} at {pt:?}"
        );
        assert!(
            by_id(id).meta.extra["location_source"]
                .as_str()
                .is_some_and(|s| s.contains("domain.md"))
        );
    }
    // not operating: nothing produced
    for m in p.mines.iter().filter(|m| !m.operating()) {
        assert_eq!(m.output_t_per_year, 0.0, "{}", m.meta.id);
    }
}

/// Only operating mines emit fugitive dust, and "underground and surface" mines count as
/// surface mines: the winter scenario's mine sources.
#[test]
fn only_operating_mines_with_surface_workings_emit_dust() {
    let path = crate::bundled().join("scenarios/winter-ne-monsoon.toml");
    let run = twin_engine::dispersion::scenario::Scenario::load(&path, Some(&crate::bundled()))
        .expect("valid scenario");
    let p = &run.dataset.province;
    // the dataset's mines among the sources (the scenario's own areas, e.g. stockpiles, aside)
    let mines: Vec<&str> = run
        .source_list
        .iter()
        .filter(|s| s.1 == FeatureKind::Mine && p.mines.iter().any(|m| m.meta.id == s.0))
        .map(|s| s.0.as_str())
        .collect();
    let expected: Vec<&str> = p
        .mines
        .iter()
        .filter(|m| m.operating() && m.method.surface())
        .map(|m| m.meta.id.as_str())
        .collect();
    assert_eq!(mines, expected);
    assert!(mines.contains(&"mine-mong-duong") && mines.contains(&"mine-ha-tu"));
    assert!(!mines.contains(&"mine-nui-beo") && !mines.contains(&"mine-hon-gai"));
}

/// A coal-truck demand from a mine that is not operating is an error naming the key and why.
#[test]
fn a_closed_mine_sends_no_trucks() {
    let path = crate::bundled().join("scenarios/morning-peak-coal-trucks.toml");
    let e = twin_engine::traffic::scenario::TrafficScenario::load_with(
        &path,
        Some(&crate::bundled()),
        |s| {
            let d = s
                .demand
                .iter_mut()
                .find(|d| d.class == "truck")
                .expect("a truck demand");
            d.from = "mine-nui-beo".into();
        },
    )
    .expect_err("closed mine");
    let msg = e.to_string();
    assert!(
        msg.contains("mine-nui-beo") && msg.contains("closed") && msg.contains(".from"),
        "{msg}"
    );
}
