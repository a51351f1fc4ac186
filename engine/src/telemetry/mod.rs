//! Telemetry analytics: air quality indices first (this module grows into the observations
//! lake, QA, alarms and model evaluation).

pub mod alarms;
pub mod aqi;
pub mod daily;
pub mod exceedance;
pub mod hourly;
pub mod observations;
pub mod qa;
