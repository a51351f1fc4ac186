//! Telemetry analytics: observations and their readers, air quality indices, QA, mine-gas
//! alarms, exceedances and model evaluation, as polars lazy plans over one observation schema.

pub mod alarms;
pub mod aqi;
pub mod daily;
pub mod evaluate;
pub mod exceedance;
pub mod hourly;
pub mod lake;
pub mod observations;
pub mod qa;
pub mod report;
pub mod stream;
pub mod synthetic;
