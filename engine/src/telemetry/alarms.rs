//! Mine-gas alarms, as polars lazy expressions: events where a reading stays at or beyond an
//! alarm level, with start, end, peak and the rule the level comes from, and the time spent
//! beyond each level per station and shift.
//!
//! Default levels (configurable): CH₄ ≥ 1.0 % and ≥ 1.5 % (US 30 CFR 75.323, mirrored in many
//! codes: de-energise and adjust ventilation; withdraw people and cut power), CO ≥ 50 ppm
//! (an 8-h exposure limit: OSHA PEL / MSHA), O₂ < 19.5 % (oxygen-deficient atmosphere), and air
//! velocity < 0.25 m/s at working faces (QCVN 01:2011/BCT). Shifts are the usual three 8-h
//! shifts of Vietnamese coal mines, 06:00, 14:00 and 22:00 local time (UTC+7).

use polars::prelude::*;

use super::time::HOUR_MS;

/// Which side of the level alarms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// value ≥ level.
    AtOrAbove,
    /// value < level.
    Below,
}

/// One alarm level.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmLevel {
    /// Parameter (`CH4`, `CO_mine`, `O2`, `air_velocity`).
    pub parameter: String,
    /// Level in the parameter's canonical unit.
    pub level: f64,
    /// Which side alarms.
    pub direction: Direction,
    /// Short name (`CH4 1.0 %`).
    pub name: String,
    /// The rule it comes from.
    pub rule: String,
}

/// The default levels (see the module documentation).
pub fn default_levels() -> Vec<AlarmLevel> {
    let l = |p: &str, level: f64, direction, name: &str, rule: &str| AlarmLevel {
        parameter: p.into(),
        level,
        direction,
        name: name.into(),
        rule: rule.into(),
    };
    vec![
        l(
            "CH4",
            1.0,
            Direction::AtOrAbove,
            "CH4 >= 1.0 %",
            "30 CFR 75.323(b)(1): de-energise non-permissible equipment, adjust ventilation",
        ),
        l(
            "CH4",
            1.5,
            Direction::AtOrAbove,
            "CH4 >= 1.5 %",
            "30 CFR 75.323(b)(2): withdraw persons not needed to fix it, cut power",
        ),
        l(
            "CO_mine",
            50.0,
            Direction::AtOrAbove,
            "CO >= 50 ppm",
            "8-h exposure limit 50 ppm (OSHA PEL, MSHA)",
        ),
        l(
            "O2",
            19.5,
            Direction::Below,
            "O2 < 19.5 %",
            "oxygen-deficient atmosphere below 19.5 %",
        ),
        l(
            "air_velocity",
            0.25,
            Direction::Below,
            "air velocity < 0.25 m/s",
            "QCVN 01:2011/BCT: ≥ 0.25 m/s at working faces",
        ),
    ]
}

/// Alarm events and time beyond each level per shift.
pub struct Alarms {
    /// `station_id`, `alarm`, `rule`, `start_ms`, `end_ms` (last reading beyond the level),
    /// `peak`, `peak_ms`, `readings`.
    pub events: LazyFrame,
    /// `station_id`, `alarm`, `shift_start_ms` (UTC), `minutes_beyond` (readings beyond the
    /// level × the reading interval).
    pub per_shift: LazyFrame,
}

/// Checks the interval between readings (the `--interval-s` flag): finite, positive, at most a
/// day. [`alarms`] checks it too; callers check it first to refuse before reading anything.
pub fn check_interval(interval_s: f64) -> Result<(), String> {
    if interval_s.is_finite() && interval_s > 0.0 && interval_s <= 86_400.0 {
        Ok(())
    } else {
        Err(format!(
            "--interval-s: {interval_s} is not an interval between readings (0 < s ≤ 86400)"
        ))
    }
}

impl AlarmLevel {
    /// Whether `value` is at or beyond the level (on its alarming side).
    pub fn beyond(&self, value: f64) -> bool {
        match self.direction {
            Direction::AtOrAbove => value >= self.level,
            Direction::Below => value < self.level,
        }
    }

    /// Whether `a` is further beyond the level than `b` (the peak of an event).
    fn worse(&self, a: f64, b: f64) -> bool {
        match self.direction {
            Direction::AtOrAbove => a > b,
            Direction::Below => a < b,
        }
    }
}

/// One alarm event: a run of consecutive `measuring` readings of a series beyond a level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlarmEvent {
    /// The first reading beyond the level.
    pub start_ms: i64,
    /// The last reading beyond it (so far, while the event is open).
    pub end_ms: i64,
    /// The furthest value beyond the level.
    pub peak: f64,
    /// When it was first reached.
    pub peak_ms: i64,
    /// Readings beyond the level.
    pub readings: u32,
}

/// What a reading did to an alarm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AlarmChange {
    /// The reading is beyond the level and the previous one was not: an event starts.
    Started,
    /// The reading is back within the level: the event ended with the previous reading.
    Ended(AlarmEvent),
}

/// One alarm level over one series, reading by reading in time order — the one implementation
/// behind the batch [`alarms`] and the live ingester's alerts. Feed it only `measuring`
/// readings.
#[derive(Debug, Clone)]
pub struct AlarmTracker {
    level: AlarmLevel,
    open: Option<AlarmEvent>,
}

impl AlarmTracker {
    /// A series watched for `level`.
    pub fn new(level: AlarmLevel) -> Self {
        Self { level, open: None }
    }

    /// The level watched.
    pub fn level(&self) -> &AlarmLevel {
        &self.level
    }

    /// The event in progress, if any.
    pub fn open(&self) -> Option<&AlarmEvent> {
        self.open.as_ref()
    }

    /// Takes the next reading; says whether an event started or ended.
    pub fn push(&mut self, time_ms: i64, value: f64) -> Option<AlarmChange> {
        if self.level.beyond(value) {
            match self.open.as_mut() {
                Some(e) => {
                    e.end_ms = time_ms;
                    e.readings += 1;
                    if self.level.worse(value, e.peak) {
                        e.peak = value;
                        e.peak_ms = time_ms;
                    }
                    None
                }
                None => {
                    self.open = Some(AlarmEvent {
                        start_ms: time_ms,
                        end_ms: time_ms,
                        peak: value,
                        peak_ms: time_ms,
                        readings: 1,
                    });
                    Some(AlarmChange::Started)
                }
            }
        } else {
            self.open.take().map(AlarmChange::Ended)
        }
    }

    /// The series ends: the event still open, if any (it ends with its last reading).
    pub fn finish(&mut self) -> Option<AlarmEvent> {
        self.open.take()
    }
}

/// The UTC start of the mine shift holding `t_ms`: shifts start at 06, 14 and 22 local time
/// (UTC+7), i.e. 23, 07 and 15 UTC.
pub fn shift_start_ms(t_ms: i64) -> i64 {
    let s = t_ms + HOUR_MS;
    s - s.rem_euclid(8 * HOUR_MS) - HOUR_MS
}

/// Finds alarm events in normalised observations (only `measuring` readings count): an
/// [`AlarmTracker`] per level over each station's series in time order.
pub fn alarms(obs: LazyFrame, levels: &[AlarmLevel], interval_s: f64) -> PolarsResult<Alarms> {
    check_interval(interval_s).map_err(|m| PolarsError::ComputeError(m.into()))?;
    if levels.is_empty() {
        return Err(PolarsError::ComputeError("no alarm levels".into()));
    }
    let parameters: Vec<String> = {
        let mut p: Vec<String> = levels.iter().map(|l| l.parameter.clone()).collect();
        p.sort();
        p.dedup();
        p
    };
    let wanted = parameters.iter().fold(lit(false), |acc, p| {
        acc.or(col("parameter").eq(lit(p.clone())))
    });
    let df = obs
        .filter(
            col("status")
                .eq(lit("measuring"))
                .and(col("value").is_not_null())
                .and(wanted),
        )
        .select([
            col("station_id"),
            col("parameter"),
            col("time_ms"),
            col("value"),
        ])
        .sort(
            ["parameter", "station_id", "time_ms"],
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .collect()?;
    let get =
        |n: &str| -> PolarsResult<Series> { Ok(df.column(n)?.as_materialized_series().rechunk()) };
    let (station, parameter, time, value) = (
        get("station_id")?,
        get("parameter")?,
        get("time_ms")?,
        get("value")?,
    );
    let (station, parameter, time, value) =
        (station.str()?, parameter.str()?, time.i64()?, value.f64()?);
    #[derive(Default)]
    struct Out {
        station: Vec<String>,
        alarm: Vec<String>,
        rule: Vec<String>,
        start: Vec<i64>,
        end: Vec<i64>,
        peak: Vec<f64>,
        peak_at: Vec<i64>,
        readings: Vec<u32>,
    }
    let mut ev = Out::default();
    let mut shift: std::collections::BTreeMap<(String, String, i64), u32> = Default::default();
    let close = |ev: &mut Out, st: &str, lv: &AlarmLevel, e: AlarmEvent| {
        ev.station.push(st.to_string());
        ev.alarm.push(lv.name.clone());
        ev.rule.push(lv.rule.clone());
        ev.start.push(e.start_ms);
        ev.end.push(e.end_ms);
        ev.peak.push(e.peak);
        ev.peak_at.push(e.peak_ms);
        ev.readings.push(e.readings);
    };
    let n = df.height();
    let mut i = 0;
    while i < n {
        // one series: rows i..j
        let (st, p) = (station.get(i), parameter.get(i));
        let mut j = i;
        while j < n && station.get(j) == st && parameter.get(j) == p {
            j += 1;
        }
        let st = st.unwrap_or_default();
        for lv in levels.iter().filter(|l| Some(l.parameter.as_str()) == p) {
            let mut tracker = AlarmTracker::new(lv.clone());
            for k in i..j {
                let (Some(t), Some(v)) = (time.get(k), value.get(k)) else {
                    continue;
                };
                if let Some(AlarmChange::Ended(e)) = tracker.push(t, v) {
                    close(&mut ev, st, lv, e);
                }
                if tracker.open().is_some() {
                    *shift
                        .entry((st.to_string(), lv.name.clone(), shift_start_ms(t)))
                        .or_default() += 1;
                }
            }
            if let Some(e) = tracker.finish() {
                close(&mut ev, st, lv, e);
            }
        }
        i = j;
    }
    let events = df!(
        "station_id" => ev.station,
        "alarm" => ev.alarm,
        "rule" => ev.rule,
        "start_ms" => ev.start,
        "end_ms" => ev.end,
        "peak" => ev.peak,
        "peak_ms" => ev.peak_at,
        "readings" => ev.readings,
    )?;
    let (mut s_st, mut s_al, mut s_t, mut s_min) = (vec![], vec![], vec![], vec![]);
    for ((st, al, t), count) in shift {
        s_st.push(st);
        s_al.push(al);
        s_t.push(t);
        s_min.push(f64::from(count) * (interval_s / 60.0));
    }
    let per_shift = df!(
        "station_id" => s_st,
        "alarm" => s_al,
        "shift_start_ms" => s_t,
        "minutes_beyond" => s_min,
    )?;
    Ok(Alarms {
        events: events
            .lazy()
            .sort(["station_id", "start_ms"], Default::default()),
        per_shift: per_shift.lazy().sort(
            ["station_id", "shift_start_ms", "alarm"],
            Default::default(),
        ),
    })
}
