//! Validation of the node model against the published 4-in/4-out example of Tampère,
//! Corthout, Cattrysse & Immers (2011), "A generic class of first order node models for dynamic
//! macroscopic simulation of traffic flows" (TR-B 45), as encoded (with PLANit's acceptance
//! factors and dyntapy's turn flows) in `../shared/data/validation/node-model/`, never from a
//! committed copy; and PLANit's simple two-in case in the same file.
//!
//! The engine's `traffic::cpu::node_model` (the CPU twin of the GPU's `node_flows` stage) gets
//! the file's sending flows, capacities as priorities, turning fractions and receiving flows;
//! printed: each in-link's acceptance factor and each turn flow against the published ones and
//! the largest relative difference. Exits 1 if any differs by more than 1e-4 (f32 arithmetic).
//!
//! Run: `cargo run --release --example tampere_node [-- PATH/tampere2011_example.json]`.

use serde_json::Value;
use twin_engine::traffic::cpu::{MAX_ROWS, node_model};

fn numbers(v: &Value, key: &str) -> Vec<f64> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key}: not an array"))
        .iter()
        .map(|x| x.as_f64().unwrap_or_else(|| panic!("{key}: not a number")))
        .collect()
}

fn matrix(v: &Value, key: &str) -> Vec<Vec<f64>> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key}: not an array"))
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap_or_else(|| panic!("{key}: not a matrix"))
                .iter()
                .map(|x| x.as_f64().unwrap_or_else(|| panic!("{key}: not a number")))
                .collect()
        })
        .collect()
}

/// Acceptance factors for turn sending flows `s_ij`, priorities `prio`, supplies `r`.
fn accept(s_ij: &[Vec<f64>], prio: &[f64], r: &[f64]) -> Vec<f64> {
    let (n_in, n_out) = (s_ij.len(), r.len());
    assert!(n_in <= MAX_ROWS && n_out <= MAX_ROWS);
    let mut send = [0.0f32; MAX_ROWS];
    let mut p = [0.0f32; MAX_ROWS];
    let mut beta = [[0.0f32; MAX_ROWS]; MAX_ROWS];
    let mut supply = [0.0f32; MAX_ROWS];
    for (a, row) in s_ij.iter().enumerate() {
        let total: f64 = row.iter().sum();
        send[a] = total as f32;
        p[a] = prio[a] as f32;
        for (j, x) in row.iter().enumerate() {
            beta[a][j] = if total > 0.0 { (x / total) as f32 } else { 0.0 };
        }
    }
    for (j, x) in r.iter().enumerate() {
        supply[j] = *x as f32;
    }
    node_model(n_in, n_out, &send, &p, &beta, &supply)[..n_in]
        .iter()
        .map(|x| f64::from(*x))
        .collect()
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1.0)
}

fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/data/validation/node-model/tampere2011_example.json"
        )
        .to_string()
    });
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: {e} (pass the file's path)");
            std::process::exit(2);
        }
    };
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut worst: f64 = 0.0;

    // the main example: S_i split by f_ij (the file's S_ij are the same flows)
    let s_ij = matrix(&v, "turn_sending_flows_S_ij");
    let phi = accept(
        &s_ij,
        &numbers(&v, "in_link_capacity_C_i"),
        &numbers(&v, "receiving_flow_R_j"),
    );
    let want = numbers(&v, "expected_in_link_acceptance_factors_PLANit");
    println!("Tampère et al. (2011) 4-in/4-out: acceptance factor, computed vs PLANit");
    for (a, (p, w)) in phi.iter().zip(&want).enumerate() {
        println!("  in-link {}: {p:.8} vs {w:.8}", a + 1);
        worst = worst.max(rel(*p, *w));
    }
    let flows = matrix(&v, "recomputed_here_turn_flows");
    let published = matrix(&v, "expected_turn_flows_dyntapy_rounded_0.1");
    println!("  turn flows (veh/h), computed | published (dyntapy, 0.1):");
    let mut worst_turn: f64 = 0.0;
    for (a, row) in s_ij.iter().enumerate() {
        let got: Vec<f64> = row.iter().map(|s| s * phi[a]).collect();
        println!(
            "    from {}: {:?} | {:?}",
            a + 1,
            got.iter()
                .map(|x| (x * 1000.0).round() / 1000.0)
                .collect::<Vec<_>>(),
            published[a]
        );
        for (j, g) in got.iter().enumerate() {
            worst = worst.max(rel(*g, flows[a][j]));
            worst_turn = worst_turn.max((g - published[a][j]).abs());
        }
    }
    println!(
        "  largest |computed − published turn flow|: {worst_turn:.3} veh/h (published to 0.1)"
    );

    // PLANit's simple case, then with in-link 2 also sending to out-link 3
    let extra = &v["extra_case_PLANit_TamperNodeModelSimpleTest"];
    let mut s_ij = matrix(extra, "S_ij");
    let cap = numbers(extra, "in_capacity");
    let r = numbers(extra, "out_receiving");
    let phi = accept(&s_ij, &cap, &r);
    let want = numbers(extra, "expected_acceptance");
    println!("PLANit simple case: {phi:.6?} vs {want:.6?}");
    for (p, w) in phi.iter().zip(&want) {
        worst = worst.max(rel(*p, *w));
    }
    s_ij[1][2] = 100.0;
    let phi = accept(&s_ij, &cap, &r);
    let want = numbers(extra, "then_set_S_ij[1][2]=100_expected_acceptance_in0_in1");
    println!(
        "  with S_ij[1][2] = 100: in-links 1, 2 {:.6?} vs {want:.6?}",
        &phi[..2]
    );
    for (p, w) in phi.iter().zip(&want) {
        worst = worst.max(rel(*p, *w));
    }
    println!("largest relative difference: {worst:.2e}");
    if worst > 1e-4 {
        std::process::exit(1);
    }
}
