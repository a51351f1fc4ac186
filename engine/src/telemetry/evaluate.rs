//! Model evaluation: simulated station series (a dispersion run's `stations.parquet`) against
//! observed hourly means, per station and pollutant, with the statistics of Chang & Hanna
//! (2004): FB, NMSE, FAC2, MG, VG and R. Pairs match on station, pollutant name and hour-ending
//! time (the dispersion run's output times are the ends of its intervals, so hourly output
//! intervals pair one to one). MG and VG use only pairs where both values are positive.
//!
//! Co = observed, Cp = predicted:
//! FB = (C̄o − C̄p) / (½(C̄o + C̄p)); NMSE = mean((Co − Cp)²) / (C̄o·C̄p);
//! FAC2 = share of pairs with ½ ≤ Cp/Co ≤ 2; MG = exp(mean(ln Co) − mean(ln Cp));
//! VG = exp(mean((ln Co − ln Cp)²)); R = Pearson correlation. A commonly quoted acceptance for a
//! good model: |FB| < 0.3, NMSE < 4 (1.5 for research grade), FAC2 > 0.5.

use polars::prelude::*;

use super::hourly::hourly_means;

/// Pairs `station_id`, `pollutant`, `hour_ms`, `obs`, `sim` from observations and a simulated
/// table (`station_id`, `time` as UTC datetime, `pollutant`, `concentration_ug_m3`).
pub fn pairs(obs: LazyFrame, sim: LazyFrame) -> LazyFrame {
    let o = hourly_means(obs).select([
        col("station_id"),
        col("parameter").alias("pollutant"),
        col("hour_ms"),
        col("mean").alias("obs"),
    ]);
    let s = sim.select([
        col("station_id"),
        col("pollutant"),
        col("time")
            .cast(DataType::Datetime(
                TimeUnit::Milliseconds,
                Some(TimeZone::UTC),
            ))
            .cast(DataType::Int64)
            .alias("hour_ms"),
        col("concentration_ug_m3")
            .cast(DataType::Float64)
            .alias("sim"),
    ]);
    let on = [col("station_id"), col("pollutant"), col("hour_ms")];
    o.join(s, on.clone(), on, JoinArgs::new(JoinType::Inner))
        .filter(col("obs").is_not_null().and(col("sim").is_not_null()))
}

/// Statistics per station and pollutant: `pairs`, `mean_obs`, `mean_sim`, `fb`, `nmse`, `fac2`,
/// `mg`, `vg`, `r`.
pub fn statistics(pairs: LazyFrame) -> LazyFrame {
    let (o, p) = (col("obs"), col("sim"));
    let pos = o.clone().gt(lit(0.0)).and(p.clone().gt(lit(0.0)));
    let ln_ratio = when(pos.clone())
        .then(o.clone().log(lit(std::f64::consts::E)) - p.clone().log(lit(std::f64::consts::E)))
        .otherwise(lit(NULL).cast(DataType::Float64));
    let in_fac2 = when(o.clone().gt(lit(0.0)))
        .then(
            (p.clone() / o.clone())
                .gt_eq(lit(0.5))
                .and((p.clone() / o.clone()).lt_eq(lit(2.0))),
        )
        .otherwise(p.clone().eq(lit(0.0)));
    pairs
        .with_columns([ln_ratio.alias("_lnr"), in_fac2.alias("_fac2")])
        .group_by([col("station_id"), col("pollutant")])
        .agg([
            o.clone().count().alias("pairs"),
            o.clone().mean().alias("mean_obs"),
            p.clone().mean().alias("mean_sim"),
            ((o.clone() - p.clone()) * (o.clone() - p.clone()))
                .mean()
                .alias("_mse"),
            col("_fac2").cast(DataType::Float64).mean().alias("fac2"),
            col("_lnr").mean().alias("_mlnr"),
            (col("_lnr") * col("_lnr")).mean().alias("_mlnr2"),
            (o.clone() * p.clone()).mean().alias("_mop"),
            (o.clone() * o.clone()).mean().alias("_moo"),
            (p.clone() * p.clone()).mean().alias("_mpp"),
        ])
        .with_columns([
            ((col("mean_obs") - col("mean_sim"))
                / (lit(0.5) * (col("mean_obs") + col("mean_sim"))))
            .alias("fb"),
            (col("_mse") / (col("mean_obs") * col("mean_sim"))).alias("nmse"),
            col("_mlnr").exp().alias("mg"),
            col("_mlnr2").exp().alias("vg"),
            ((col("_mop") - col("mean_obs") * col("mean_sim"))
                / ((col("_moo") - col("mean_obs") * col("mean_obs"))
                    * (col("_mpp") - col("mean_sim") * col("mean_sim")))
                .sqrt())
            .alias("r"),
        ])
        .select([
            col("station_id"),
            col("pollutant"),
            col("pairs"),
            col("mean_obs"),
            col("mean_sim"),
            col("fb"),
            col("nmse"),
            col("fac2"),
            col("mg"),
            col("vg"),
            col("r"),
        ])
        .sort(["station_id", "pollutant"], Default::default())
}
