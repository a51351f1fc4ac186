//! Time in telemetry: milliseconds since the Unix epoch, UTC, everywhere inside the engine; the
//! province's local time (Indochina Time, UTC+7, no daylight saving) only where a rule says
//! "local day" or a person reads a label. One place for the constants and the local-day
//! arithmetic.

/// One hour, ms.
pub const HOUR_MS: i64 = 3_600_000;
/// One day, ms.
pub const DAY_MS: i64 = 24 * HOUR_MS;
/// Quảng Ninh's offset from UTC (UTC+7), ms.
pub const LOCAL_OFFSET_MS: i64 = 7 * HOUR_MS;

/// The local day (days since 1970-01-01 local) holding the instant `t_ms`.
pub fn local_day(t_ms: i64) -> i64 {
    (t_ms + LOCAL_OFFSET_MS).div_euclid(DAY_MS)
}

/// The UTC instant (ms) at which local day `day` starts (local midnight).
pub fn local_day_start(day: i64) -> i64 {
    day * DAY_MS - LOCAL_OFFSET_MS
}

/// The local time (UTC+7) of the instant `t_ms`, to the minute (`2026-01-15 07:00`), for labels
/// people read; empty for an instant chrono cannot represent.
pub fn local_minute(t_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(t_ms.saturating_add(LOCAL_OFFSET_MS))
        .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// The instant `t_ms` as RFC 3339 in UTC with milliseconds (`2026-03-01T01:02:00.000Z`), as the
/// live alerts and the SensorThings API write it; empty for an instant chrono cannot represent.
pub fn rfc3339_ms(t_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(t_ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_midnight_is_17_utc_the_day_before() {
        // 2026-01-15T00:00+07:00 = 2026-01-14T17:00Z
        let t = 1_768_410_000_000;
        let day = local_day(t);
        assert_eq!(local_day_start(day), t);
        assert_eq!(local_day(t - 1), day - 1);
        assert_eq!(local_day(t + DAY_MS - 1), day);
        assert_eq!(local_minute(t), "2026-01-15 00:00");
    }
}
