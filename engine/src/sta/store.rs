//! The observations the API serves: every series of the lake in memory, sorted by time
//! (17 bytes a reading: 10 M readings ≈ 170 MB), loaded part by part and refreshed by reading
//! only the parts the lake gained since (the ingester commits whole parts; parts are never
//! rewritten, and the lake's "first accepted wins" key means no reading is in two parts).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::telemetry::ObservationError;
use crate::telemetry::lake::{BadPart, Snapshot, load_part};

/// Status codes kept per reading.
pub const STATUSES: [&str; 3] = ["measuring", "calibrating", "error"];

/// One series: times (ms, ascending, distinct), values (canonical unit), status codes
/// (index into [`STATUSES`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// Times, ms since the epoch, ascending.
    pub t: Vec<i64>,
    /// Values.
    pub v: Vec<f64>,
    /// Status (index into [`STATUSES`]).
    pub status: Vec<u8>,
    /// The unit of the values.
    pub unit: String,
}

impl Series {
    /// The index range of readings with `lo ≤ t ≤ hi`.
    pub fn range(&self, lo: i64, hi: i64) -> std::ops::Range<usize> {
        let a = self.t.partition_point(|&x| x < lo);
        let b = self.t.partition_point(|&x| x <= hi);
        a..b.max(a)
    }

    fn add(&mut self, t: &[i64], v: &[f64], s: &[u8]) {
        let in_order = self
            .t
            .last()
            .is_none_or(|&last| t.first().is_none_or(|&f| f > last))
            && t.windows(2).all(|w| w[0] < w[1]);
        self.t.extend_from_slice(t);
        self.v.extend_from_slice(v);
        self.status.extend_from_slice(s);
        if !in_order {
            // a late part: re-sort (stable, so the earlier reading of a duplicate time stays first)
            let mut idx: Vec<usize> = (0..self.t.len()).collect();
            idx.sort_by_key(|&i| self.t[i]);
            self.t = idx.iter().map(|&i| self.t[i]).collect();
            self.v = idx.iter().map(|&i| self.v[i]).collect();
            self.status = idx.iter().map(|&i| self.status[i]).collect();
        }
    }
}

/// Every series of a lake, keyed by (site, parameter).
#[derive(Debug, Default)]
pub struct Store {
    lake: PathBuf,
    /// (site, parameter) → series.
    pub series: BTreeMap<(String, String), Series>,
    seen: HashSet<PathBuf>,
    /// Parts that could not be read (skipped, as the batch readers do).
    pub skipped: Vec<BadPart>,
}

/// What a refresh added.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Added {
    /// Parts read.
    pub parts: usize,
    /// Readings added.
    pub readings: usize,
    /// The newest reading added per series: (site, parameter, time ms, value, status).
    pub latest: Vec<(String, String, i64, f64, u8)>,
}

impl Store {
    /// An empty store over the lake at `lake` (call [`Store::refresh`] to load it).
    pub fn new(lake: &Path) -> Self {
        Self {
            lake: lake.to_path_buf(),
            ..Default::default()
        }
    }

    /// Readings held.
    pub fn readings(&self) -> usize {
        self.series.values().map(|s| s.t.len()).sum()
    }

    /// Reads the parts not read yet (all of them the first time).
    pub fn refresh(&mut self) -> Result<Added, ObservationError> {
        let mut added = Added::default();
        if !self.lake.is_dir() {
            return Ok(added);
        }
        let snap = Snapshot::take(&self.lake)?;
        let mut latest: BTreeMap<(String, String), (i64, f64, u8)> = BTreeMap::new();
        let fresh: Vec<(String, PathBuf)> = snap
            .part_files()
            .filter(|(_, f)| !self.seen.contains(*f))
            .map(|(p, f)| (p.to_string(), f.to_path_buf()))
            .collect();
        for (param, file) in fresh {
            self.seen.insert(file.clone());
            let df = match load_part(&param, &file) {
                Ok(df) => df,
                Err(reason) => {
                    self.skipped.push(BadPart { path: file, reason });
                    continue;
                }
            };
            let n =
                self.add_frame(&param, &df, &mut latest)
                    .map_err(|e| ObservationError::Read {
                        path: file.clone(),
                        message: e.to_string(),
                    })?;
            added.parts += 1;
            added.readings += n;
        }
        added.latest = latest
            .into_iter()
            .map(|((s, p), (t, v, st))| (s, p, t, v, st))
            .collect();
        Ok(added)
    }

    fn add_frame(
        &mut self,
        param: &str,
        df: &DataFrame,
        latest: &mut BTreeMap<(String, String), (i64, f64, u8)>,
    ) -> PolarsResult<usize> {
        let sorted = df
            .clone()
            .lazy()
            .sort(
                ["station_id", "time_ms"],
                SortMultipleOptions::default().with_maintain_order(true),
            )
            .collect()?;
        let get = |n: &str| -> PolarsResult<Series0> {
            Ok(sorted.column(n)?.as_materialized_series().rechunk())
        };
        type Series0 = polars::prelude::Series;
        let (st, t, v, u, status) = (
            get("station_id")?,
            get("time_ms")?,
            get("value")?,
            get("unit")?,
            get("status")?,
        );
        let (st, t, v, u, status) = (st.str()?, t.i64()?, v.f64()?, u.str()?, status.str()?);
        let n = sorted.height();
        let mut i = 0;
        let mut count = 0;
        while i < n {
            let site = st.get(i);
            let mut j = i;
            while j < n && st.get(j) == site {
                j += 1;
            }
            let Some(site) = site else {
                i = j;
                continue;
            };
            let (mut tt, mut vv, mut ss) = (Vec::new(), Vec::new(), Vec::new());
            for k in i..j {
                if let (Some(tk), Some(vk)) = (t.get(k), v.get(k)) {
                    tt.push(tk);
                    vv.push(vk);
                    let code = status
                        .get(k)
                        .and_then(|s| STATUSES.iter().position(|x| *x == s))
                        .unwrap_or(2);
                    ss.push(code as u8);
                }
            }
            if let (Some(&lt), Some(&lv), Some(&ls)) = (tt.last(), vv.last(), ss.last()) {
                let e = latest
                    .entry((site.to_string(), param.to_string()))
                    .or_insert((lt, lv, ls));
                if lt >= e.0 {
                    *e = (lt, lv, ls);
                }
            }
            count += tt.len();
            let s = self
                .series
                .entry((site.to_string(), param.to_string()))
                .or_default();
            if s.unit.is_empty() {
                s.unit = u.get(i).unwrap_or_default().to_string();
            }
            s.add(&tt, &vv, &ss);
            i = j;
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_parts_merge_in_time_order() {
        let mut s = Series::default();
        s.add(&[10, 20, 30], &[1.0, 2.0, 3.0], &[0, 0, 0]);
        s.add(&[40], &[4.0], &[1]);
        s.add(&[5, 25], &[0.5, 2.5], &[0, 2]);
        assert_eq!(s.t, vec![5, 10, 20, 25, 30, 40]);
        assert_eq!(s.v, vec![0.5, 1.0, 2.0, 2.5, 3.0, 4.0]);
        assert_eq!(s.status, vec![0, 0, 0, 2, 0, 1]);
        assert_eq!(s.range(10, 30), 1..5);
        assert_eq!(s.range(11, 19), 2..2);
        assert_eq!(s.range(50, 60), 6..6);
    }
}
