//! The clock every layer follows: the run's output times, a position between them, play /
//! pause and speed.

use bevy::prelude::*;

/// Parses an RFC 3339 time into ms UTC.
pub fn parse_time(s: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .map(|d| d.timestamp_millis())
        .map_err(|e| format!("{s:?} is not an RFC 3339 time with offset ({e})"))
}

/// Local time (UTC+7) of ms UTC, for labels.
pub fn local_label(ms: i64) -> String {
    format!("{} (UTC+7)", twin_engine::telemetry::time::local_minute(ms))
}

/// The index of the output time at or before `t` (the first one when `t` is earlier).
pub fn index_at(times: &[i64], t: i64) -> usize {
    times.partition_point(|&x| x <= t).saturating_sub(1)
}

/// The shared clock.
#[derive(Debug, Clone, Resource)]
pub struct Clock {
    /// Output times, ms UTC, ascending (empty: a static scene).
    pub times: Vec<i64>,
    /// Current index into `times`.
    pub index: usize,
    /// Playing.
    pub playing: bool,
    /// Output steps per second while playing.
    pub steps_per_s: f32,
    /// Fraction of a step accumulated.
    pub carry: f32,
}

impl Clock {
    /// The current time, if the scene has times.
    pub fn now(&self) -> Option<i64> {
        self.times.get(self.index).copied()
    }

    /// Advances by `dt` seconds while playing, looping at the end.
    pub fn advance(&mut self, dt: f32) {
        if !self.playing || self.times.len() < 2 {
            return;
        }
        self.carry += dt * self.steps_per_s;
        while self.carry >= 1.0 {
            self.carry -= 1.0;
            self.index = (self.index + 1) % self.times.len();
        }
    }
}

/// Adds the clock over the given output times (from `main`, which loaded the runs).
pub struct TimelinePlugin {
    /// Every output time, ms UTC (any order; sorted and deduplicated here).
    pub times: Vec<i64>,
    /// Where to start (ms UTC).
    pub start: Option<i64>,
}

impl TimelinePlugin {
    /// The clock over the output times of a run and its comparison.
    pub fn for_runs(runs: &[&crate::data::Run], start: Option<i64>) -> Self {
        Self {
            times: runs.iter().flat_map(|r| r.times.iter().copied()).collect(),
            start,
        }
    }
}

impl Plugin for TimelinePlugin {
    fn build(&self, app: &mut App) {
        let mut times = self.times.clone();
        times.sort_unstable();
        times.dedup();
        let index = self.start.map(|t| index_at(&times, t)).unwrap_or(0);
        app.insert_resource(Clock {
            times,
            index,
            playing: false,
            steps_per_s: 2.0,
            carry: 0.0,
        })
        .add_systems(Update, tick);
    }
}

fn tick(time: Res<Time>, mut clock: ResMut<Clock>) {
    clock.advance(time.delta_secs());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_and_index() {
        let t = parse_time("2026-03-10T07:30:00+07:00").expect("valid");
        assert_eq!(t, parse_time("2026-03-10T00:30:00Z").expect("valid"));
        assert!(parse_time("yesterday").is_err());
        let times = [10, 20, 30];
        assert_eq!(index_at(&times, 5), 0);
        assert_eq!(index_at(&times, 20), 1);
        assert_eq!(index_at(&times, 29), 1);
        assert_eq!(index_at(&times, 99), 2);
    }

    #[test]
    fn clock_plays_and_loops() {
        let mut c = Clock {
            times: vec![0, 1, 2],
            index: 0,
            playing: true,
            steps_per_s: 2.0,
            carry: 0.0,
        };
        c.advance(0.5);
        assert_eq!(c.index, 1);
        c.advance(1.0);
        assert_eq!(c.index, 0, "loops");
        c.playing = false;
        c.advance(10.0);
        assert_eq!(c.index, 0);
        assert_eq!(local_label(0), "1970-01-01 07:00 (UTC+7)");
    }
}
