//! Real-time QA and mine-gas alarms for the live ingester: every arriving reading goes through
//! its series' [`SeriesQa`] and [`AlarmTracker`]s — the same rules, thresholds and code as
//! `twin telemetry qa` and `twin telemetry alarms` — and what starts or ends becomes an
//! [`Alert`], published on `qn/alerts/<site>/<parameter>`.
//!
//! - **Alarms** (mine gas, air velocity) look at each `measuring` reading at once: an alert
//!   starts with the first reading beyond a level and ends with the first one back within it.
//!   They do not wait for QA (a spike verdict needs the next reading; a safety alarm must not).
//! - **QA** alerts (`range`, `spike`, `stuck`) follow the verdicts: a range fault is known with
//!   its reading, a spike with the next reading, a stuck sensor when the run reaches
//!   `stuck_run` identical readings. An alert starts with the first reading given the reason
//!   and ends with the next accepted one. Status faults (`calibrating`, `error`) are the
//!   station's own report and raise no alert.
//! - A reading not later than its series' last one (a broker redelivery, a late datalogger) is
//!   stored but not monitored, so a redelivered message never repeats an alert.
//! - State is in memory: after a restart an alarm still beyond its level starts again (alerts
//!   are at least once, like the broker's delivery).

use std::collections::{HashMap, VecDeque};

use serde::Serialize;

use super::alarms::{AlarmChange, AlarmLevel, AlarmTracker, default_levels};
use super::live::Reading;
use super::observations::to_canonical;
use super::qa::{QaConfig, SeriesQa, reason};
use super::time::rfc3339_ms as rfc3339;

/// One alert: an alarm or a QA fault starting or ending on one series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// `alarm` (a mine-gas level) or `qa` (a sensor fault).
    pub kind: &'static str,
    /// `start` or `end`.
    pub event: &'static str,
    /// Station or mine id.
    pub site: String,
    /// Parameter.
    pub parameter: String,
    /// The alarm's name (`CH4 >= 1.0 %`) or the QA reason (`range`, `spike`, `stuck`).
    pub level: String,
    /// The rule it comes from.
    pub rule: String,
    /// The reading that started or ended it, in the parameter's canonical unit.
    pub value: f64,
    /// Its time (RFC 3339, UTC).
    pub time: String,
    /// At an end: when the event started (RFC 3339, UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    /// At an alarm's end: its peak value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak: Option<f64>,
}

impl Alert {
    /// The MQTT topic it is published on.
    pub fn topic(&self) -> String {
        format!("qn/alerts/{}/{}", self.site, self.parameter)
    }
}

/// What QA rule a reason stands for, for the alert.
fn qa_rule(check: u8, cfg: &QaConfig, parameter: &str) -> String {
    let l = cfg.limits(parameter);
    match check {
        3 => format!(
            "QA: outside the plausible range [{}, {}]",
            l.lo.map_or("-inf".into(), |v| v.to_string()),
            l.hi.map_or("inf".into(), |v| v.to_string())
        ),
        4 => format!(
            "QA: spike, over {}x the neighbours' mean and over {} from the nearer one",
            cfg.spike_factor,
            l.spike_min_jump.unwrap_or(0.0)
        ),
        5 => format!("QA: stuck, {} or more identical readings", cfg.stuck_run),
        _ => String::new(),
    }
}

/// One series being watched.
struct Watched {
    last_ms: i64,
    qa: SeriesQa,
    /// Readings whose QA verdict is not yet out: (seq, time, value).
    window: VecDeque<(u64, i64, f64)>,
    /// The QA fault in progress (check code) and when it started.
    qa_open: Option<(u8, i64)>,
    /// The newest reading whose verdict has been turned into alerts.
    qa_seen: Option<u64>,
    alarms: Vec<AlarmTracker>,
}

/// The live monitor: per series QA and alarms, alerts out.
pub struct Monitor {
    qa: QaConfig,
    levels: Vec<AlarmLevel>,
    /// Site → parameter → series (looked up by `&str`: nothing allocated per reading).
    series: HashMap<String, HashMap<String, Watched>>,
    verdicts: Vec<(u64, u8)>,
    /// Readings not monitored because they were not later than their series' last one.
    pub late: u64,
}

impl Default for Monitor {
    fn default() -> Self {
        Self::new(QaConfig::default(), default_levels())
    }
}

impl Monitor {
    /// A monitor with these QA settings and alarm levels (the batch commands' defaults:
    /// [`Monitor::default`]).
    pub fn new(qa: QaConfig, levels: Vec<AlarmLevel>) -> Self {
        Self {
            qa,
            levels,
            series: HashMap::new(),
            verdicts: Vec::new(),
            late: 0,
        }
    }

    /// Takes one reading (as parsed by [`super::live::parse_message`]: a known unit, an
    /// RFC 3339 time); appends the alerts it raised or ended to `out`.
    pub fn push(&mut self, r: &Reading, out: &mut Vec<Alert>) {
        let (Some((factor, _)), Ok(t)) = (
            to_canonical(&r.parameter, &r.unit),
            chrono::DateTime::parse_from_rfc3339(r.time.trim()),
        ) else {
            return;
        };
        let t_ms = t.timestamp_millis();
        let value = r.value * factor;
        if !self
            .series
            .get(&r.station_id)
            .is_some_and(|p| p.contains_key(&r.parameter))
        {
            let w = Watched {
                last_ms: i64::MIN,
                qa: SeriesQa::new(self.qa.limits(&r.parameter), &self.qa),
                window: VecDeque::new(),
                qa_open: None,
                qa_seen: None,
                alarms: self
                    .levels
                    .iter()
                    .filter(|l| l.parameter == r.parameter)
                    .cloned()
                    .map(AlarmTracker::new)
                    .collect(),
            };
            self.series
                .entry(r.station_id.clone())
                .or_default()
                .insert(r.parameter.clone(), w);
        }
        let Some(w) = self
            .series
            .get_mut(&r.station_id)
            .and_then(|p| p.get_mut(&r.parameter))
        else {
            return;
        };
        if t_ms <= w.last_ms {
            self.late += 1;
            return;
        }
        w.last_ms = t_ms;
        let alert = |kind, event, level: &str, rule: &str, value, time_ms| Alert {
            kind,
            event,
            site: r.station_id.clone(),
            parameter: r.parameter.clone(),
            level: level.to_string(),
            rule: rule.to_string(),
            value,
            time: rfc3339(time_ms),
            started: None,
            peak: None,
        };
        if r.status == "measuring" {
            for tr in &mut w.alarms {
                match tr.push(t_ms, value) {
                    Some(AlarmChange::Started) => out.push(alert(
                        "alarm",
                        "start",
                        &tr.level().name,
                        &tr.level().rule,
                        value,
                        t_ms,
                    )),
                    Some(AlarmChange::Ended(e)) => out.push(Alert {
                        started: Some(rfc3339(e.start_ms)),
                        peak: Some(e.peak),
                        ..alert(
                            "alarm",
                            "end",
                            &tr.level().name,
                            &tr.level().rule,
                            value,
                            t_ms,
                        )
                    }),
                    None => {}
                }
            }
        }
        let seq =
            w.qa.push(Some(value), Some(r.status.as_str()), &mut self.verdicts);
        w.window.push_back((seq, t_ms, value));
        self.verdicts.sort_unstable_by_key(|v| v.0);
        for (s, check) in self.verdicts.drain(..) {
            // verdicts come out of order only within a run of equal values; alerts follow
            // the newest reading judged
            if w.qa_seen.is_some_and(|seen| s <= seen) {
                continue;
            }
            w.qa_seen = Some(s);
            let Some(&(_, time_ms, v)) = w.window.iter().find(|x| x.0 == s) else {
                continue;
            };
            if matches!(check, 1 | 2) {
                continue; // the station's own status: no alert, no change
            }
            if let Some((open, since)) = w.qa_open
                && open != check
            {
                w.qa_open = None;
                let why = reason(open).unwrap_or_default();
                out.push(Alert {
                    started: Some(rfc3339(since)),
                    ..alert(
                        "qa",
                        "end",
                        why,
                        &qa_rule(open, &self.qa, &r.parameter),
                        v,
                        time_ms,
                    )
                });
            }
            if check != 0 && w.qa_open.is_none() {
                w.qa_open = Some((check, time_ms));
                let why = reason(check).unwrap_or_default();
                out.push(alert(
                    "qa",
                    "start",
                    why,
                    &qa_rule(check, &self.qa, &r.parameter),
                    v,
                    time_ms,
                ));
            }
        }
        let keep_from = w.qa.oldest_pending().unwrap_or(seq + 1);
        while w.window.front().is_some_and(|x| x.0 < keep_from) {
            w.window.pop_front();
        }
    }

    /// Series watched.
    pub fn series(&self) -> usize {
        self.series.values().map(HashMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(site: &str, p: &str, minute: u32, v: f64, unit: &str) -> Reading {
        Reading {
            station_id: site.into(),
            parameter: p.into(),
            time: format!(
                "2026-03-01T{:02}:{:02}:00+07:00",
                8 + minute / 60,
                minute % 60
            ),
            value: v,
            unit: unit.into(),
            status: "measuring".into(),
        }
    }

    #[test]
    fn methane_alarm_starts_with_its_reading_and_ends_with_the_first_back_below() {
        let mut m = Monitor::default();
        let mut out = Vec::new();
        for (i, v) in [0.4, 0.6, 1.1, 1.6, 1.2, 0.8, 0.5].into_iter().enumerate() {
            m.push(&reading("mine-1", "CH4", i as u32, v, "%"), &mut out);
        }
        let got: Vec<(&str, &str, &str, f64)> = out
            .iter()
            .map(|a| (a.kind, a.event, a.level.as_str(), a.value))
            .collect();
        assert_eq!(
            got,
            vec![
                ("alarm", "start", "CH4 >= 1.0 %", 1.1),
                ("alarm", "start", "CH4 >= 1.5 %", 1.6),
                ("alarm", "end", "CH4 >= 1.5 %", 1.2),
                ("alarm", "end", "CH4 >= 1.0 %", 0.8),
            ]
        );
        assert_eq!(out[0].time, "2026-03-01T01:02:00.000Z");
        assert_eq!(out[0].topic(), "qn/alerts/mine-1/CH4");
        assert_eq!(out[3].peak, Some(1.6));
        assert_eq!(out[3].started.as_deref(), Some("2026-03-01T01:02:00.000Z"));
        assert!(out[0].rule.contains("75.323"));
    }

    #[test]
    fn redelivered_and_late_readings_raise_nothing_twice() {
        let mut m = Monitor::default();
        let mut out = Vec::new();
        m.push(&reading("mine-1", "CH4", 0, 0.4, "%"), &mut out);
        m.push(&reading("mine-1", "CH4", 1, 1.2, "%"), &mut out);
        m.push(&reading("mine-1", "CH4", 1, 1.2, "%"), &mut out);
        m.push(&reading("mine-1", "CH4", 0, 0.4, "%"), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(m.late, 2);
    }

    #[test]
    fn qa_alerts_follow_the_batch_rules() {
        let mut m = Monitor::default();
        let mut out = Vec::new();
        // PM2.5 in µg/m³: varying, then out of range, then a spike, then stuck
        let mut minute = 0u32;
        let mut push = |v: f64, out: &mut Vec<Alert>| {
            m.push(&reading("st-1", "PM2.5", minute, v, "µg/m³"), out);
            minute += 1;
        };
        for i in 0..5 {
            push(30.0 + f64::from(i), &mut out);
        }
        push(-5.0, &mut out); // range: known at once
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].kind, out[0].level.as_str()), ("qa", "range"));
        push(31.0, &mut out); // accepted... but its verdict waits for the next reading
        push(30.0, &mut out);
        assert_eq!(out.last().map(|a| a.event), Some("end"));
        push(400.0, &mut out); // a spike is known with the next reading
        assert_eq!(out.len(), 2);
        push(32.0, &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!((out[2].level.as_str(), out[2].value), ("spike", 400.0));
        for _ in 0..29 {
            push(33.3, &mut out);
        }
        // 29 identical readings: not yet stuck (the spike's end came with the first of them
        // only if that one is accepted, which waits for the run)
        assert!(out.iter().all(|a| a.level != "stuck"));
        push(33.3, &mut out);
        let stuck: Vec<&Alert> = out.iter().filter(|a| a.level == "stuck").collect();
        assert_eq!(stuck.len(), 1, "{out:?}");
        // the stuck run is dated from its first reading
        assert_eq!(stuck[0].time, out[2].time.replace("01:08", "01:10"));
        push(35.0, &mut out);
        push(36.0, &mut out);
        push(34.0, &mut out);
        assert_eq!(
            out.last().map(|a| (a.event, a.level.as_str())),
            Some(("end", "stuck"))
        );
    }
}
