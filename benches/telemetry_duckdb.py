#!/usr/bin/env python3
"""The twin's telemetry QA + hourly VN_AQI side by side with DuckDB, on the same lake.

    python3 benches/telemetry_duckdb.py LAKE [--twin PATH] [--runs N] [--threads N]

Needs the Python `duckdb` package (`pip install duckdb`). LAKE is a lake written by
`twin telemetry generate` or the telemetry_scale bench (`cargo bench -p twin-engine --bench
telemetry_scale -- --readings 10M` leaves one in the temp dir). The script times
`twin telemetry stream --input LAKE --out DIR` (a child process: wall time and peak RSS) and the
same computation as SQL in DuckDB (in this process: wall time and peak RSS), alternating the
runs, and checks that both found the same rejected readings, the same gaps and the same AQI on
every station-hour.

The SQL is what a DuckDB user would write for the twin's rules (engine/src/telemetry/qa.rs,
hourly.rs, the defaults of `twin telemetry qa`):
- QA, per series (station, parameter) in time order: status `calibrating`/`error`, the
  parameter's plausible range, a spike (the reading more than 4x the mean of its two neighbours
  and more than the parameter's jump above the larger of them, or below a quarter of the mean
  and more than the jump below the smaller), a stuck run (30 or more identical consecutive
  readings) — with window functions (lag, lead, a running sum for the run ids, a count over
  each run); gaps: a step longer than 1.5x the series' median step and at least 90 s.
- hourly means of the accepted readings of the AQI parameters, hour-ending (the hour ending at
  H holds the readings stamped in (H - 1 h, H]);
- the NowCast of PM2.5 and PM10 over the last 12 hours (weight factor min/max, at least 0.5,
  at least two of the last three hours present — so also for an hour without means of its
  own), gases on their 1-hour means, Decision 1459 breakpoints, the station-hour's VN_AQI the
  largest sub-index (rounded half up), where a PM sub-index exists; a row for every
  station-hour with a mean or a NowCast.
"""
import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import duckdb

from telemetry_rules import BP, INDEX, JUMPS, RANGES, SPIKE_FACTOR, STUCK_RUN

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOUR = 3_600_000


def setup(con):
    con.execute("CREATE OR REPLACE TEMP TABLE rules (parameter VARCHAR, lo DOUBLE, hi DOUBLE, jump DOUBLE)")
    con.executemany("INSERT INTO rules VALUES (?, ?, ?, ?)",
                    [(p, lo, hi, JUMPS.get(p)) for p, (lo, hi) in RANGES.items()])
    con.execute("CREATE OR REPLACE TEMP TABLE bp (parameter VARCHAR, c0 DOUBLE, c1 DOUBLE, i0 DOUBLE, i1 DOUBLE, top DOUBLE)")
    con.executemany("INSERT INTO bp VALUES (?, ?, ?, ?, ?, ?)",
                    [(p, b[i], b[i + 1], INDEX[i], INDEX[i + 1], b[-1])
                     for p, b in BP.items() for i in range(len(b) - 1)])


def query(lake):
    src = f"read_parquet('{lake}/**/*.parquet', hive_partitioning = true)"
    pm_only = "('PM2.5', 'PM10')"
    aqi_params = "(" + ", ".join(f"'{p}'" for p in BP) + ")"
    return f"""
    WITH r AS (
        SELECT station_id, parameter, epoch_ms(time) AS t, value, status FROM {src}
    ), w AS (
        SELECT r.*, rules.lo, rules.hi, rules.jump,
               lag(value) OVER s AS prev, lead(value) OVER s AS nxt, t - lag(t) OVER s AS dt
        FROM r LEFT JOIN rules USING (parameter)
        WINDOW s AS (PARTITION BY station_id, parameter ORDER BY t)
    ), runs AS (
        SELECT *, sum(CASE WHEN prev IS NULL OR value <> prev THEN 1 ELSE 0 END)
                    OVER (PARTITION BY station_id, parameter ORDER BY t ROWS UNBOUNDED PRECEDING) AS run_id,
                  median(dt) OVER (PARTITION BY station_id, parameter) AS typical
        FROM w
    ), qa AS (
        SELECT *, CASE
            WHEN status = 'calibrating' THEN 'status calibrating'
            WHEN status = 'error' THEN 'status error'
            WHEN value < lo OR value > hi THEN 'range'
            WHEN jump IS NOT NULL AND (
                 (value > {SPIKE_FACTOR} * (prev + nxt) / 2 AND value - greatest(prev, nxt) > jump)
              OR (value < (prev + nxt) / 2 / {SPIKE_FACTOR} AND least(prev, nxt) - value > jump)) THEN 'spike'
            WHEN count(*) OVER (PARTITION BY station_id, parameter, run_id) >= {STUCK_RUN} THEN 'stuck'
          END AS reason
        FROM runs
    ), qa_counts AS (
        SELECT count(*) AS readings, count(reason) AS rejected,
               count(*) FILTER (WHERE dt > greatest(1.5 * typical, 90000)) AS gaps
        FROM qa
    ), means AS (
        SELECT station_id, parameter, (t - 1) - (t - 1) % {HOUR} + {HOUR} AS hour, avg(value) AS v
        FROM qa WHERE reason IS NULL AND parameter IN {aqi_params}
        GROUP BY ALL
    ), pm_hours AS (   -- a NowCast needs a PM mean in one of its last three hours
        SELECT DISTINCT station_id, hour + k * {HOUR} AS hour
        FROM means, range(3) AS r(k) WHERE parameter IN {pm_only}
    ), lags AS (   -- the last 12 hourly PM means behind every such station-hour
        SELECT h.station_id, h.hour, m.parameter, (h.hour - m.hour) // {HOUR} AS k, m.v
        FROM pm_hours h JOIN means m
          ON m.station_id = h.station_id AND m.parameter IN {pm_only}
         AND m.hour BETWEEN h.hour - 11 * {HOUR} AND h.hour
    ), spread AS (
        SELECT station_id, hour, parameter,
               CASE WHEN max(v) > 0 THEN greatest(min(v) / max(v), 0.5) ELSE 1 END AS wf,
               CASE WHEN min(v) / nullif(max(v), 0) <= 0.5 THEN true ELSE false END AS halves,
               count(*) FILTER (WHERE k <= 2) AS recent
        FROM lags GROUP BY ALL
    ), nowcast AS (
        SELECT l.station_id, l.hour, l.parameter,
               CASE WHEN s.halves THEN sum(power(0.5, l.k + 1) * l.v)
                    ELSE sum(power(s.wf, l.k) * l.v) / sum(power(s.wf, l.k)) END AS c
        FROM lags l JOIN spread s USING (station_id, hour, parameter)
        WHERE s.recent >= 2
        GROUP BY l.station_id, l.hour, l.parameter, s.halves, s.wf
    ), concentrations AS (
        SELECT station_id, hour, parameter, v AS c FROM means WHERE parameter NOT IN {pm_only}
        UNION ALL SELECT * FROM nowcast
    ), subs AS (
        SELECT c.station_id, c.hour, c.parameter,
               CASE WHEN c.c >= any_value(b.top) THEN 500
                    ELSE any_value(b.i0 + (c.c - b.c0) * (b.i1 - b.i0) / (b.c1 - b.c0)) END AS sub
        FROM concentrations c JOIN bp b
          ON b.parameter = c.parameter AND ((c.c >= b.c0 AND c.c < b.c1) OR c.c >= b.top)
        WHERE c.c >= 0
        GROUP BY c.station_id, c.hour, c.parameter, c.c
    ), station_hours AS (   -- an hour with any mean, or with a NowCast
        SELECT station_id, hour FROM means UNION SELECT station_id, hour FROM nowcast
    ), aqi AS (
        SELECT h.station_id, h.hour,
               CASE WHEN bool_or(s.parameter IN {pm_only}) THEN floor(max(s.sub) + 0.5) END AS aqi
        FROM station_hours h LEFT JOIN subs s USING (station_id, hour)
        GROUP BY ALL
    )
    SELECT (SELECT readings FROM qa_counts) AS readings, (SELECT rejected FROM qa_counts) AS rejected,
           (SELECT gaps FROM qa_counts) AS gaps, count(*) AS rows, count(aqi) AS with_aqi,
           sum(aqi) AS aqi_sum, list({{'s': station_id, 'h': hour, 'a': aqi}}) FILTER (WHERE aqi IS NOT NULL) AS per_hour
    FROM aqi
    """


def run_duckdb(lake, threads):
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {threads}")
    setup(con)
    t = time.perf_counter()
    row = con.execute(query(lake)).fetchone()
    wall = time.perf_counter() - t
    con.close()
    readings, rejected, gaps, rows, with_aqi, aqi_sum, per_hour = row
    aqi = {(d["s"], d["h"]): d["a"] for d in per_hour or []}
    return wall, dict(readings=readings, rejected=rejected, gaps=gaps, rows=rows,
                      with_aqi=with_aqi, aqi_sum=aqi_sum), aqi


def run_twin(twin, lake, out):
    """Runs the twin; wall time and its peak RSS (VmHWM of its own address space, polled while
    it runs: a child's rusage would count this process's memory, which it had before exec)."""
    t = time.perf_counter()
    p = subprocess.Popen([twin, "telemetry", "stream", "--input", lake, "--out", out, "--overwrite"],
                         stdout=subprocess.DEVNULL)
    hwm = 0
    while p.poll() is None:
        try:
            with open(f"/proc/{p.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        hwm = max(hwm, int(line.split()[1]) // 1024)
        except OSError:
            pass
        time.sleep(0.02)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"twin telemetry stream failed ({p.returncode})")
    con = duckdb.connect()
    rejected = con.execute(f"SELECT count(*) FROM '{out}/rejected.parquet'").fetchone()[0]
    gaps = con.execute(f"SELECT count(*) FROM '{out}/gaps.parquet'").fetchone()[0]
    hour = "epoch_ms(time)"
    rows, with_aqi, aqi_sum = con.execute(
        f"SELECT count(*), count(aqi), sum(aqi) FROM '{out}/aqi_hourly.parquet'").fetchone()
    aqi = {(s, h): a for s, h, a in con.execute(
        f"SELECT station_id, {hour}, aqi FROM '{out}/aqi_hourly.parquet' WHERE aqi IS NOT NULL").fetchall()}
    con.close()
    return wall, hwm, dict(rejected=rejected, gaps=gaps, rows=rows, with_aqi=with_aqi,
                           aqi_sum=aqi_sum), aqi


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("lake")
    ap.add_argument("--twin", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "twin"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="DuckDB threads (default: all cores)")
    args = ap.parse_args()
    lake = os.path.abspath(args.lake)
    if not os.path.exists(args.twin):
        sys.exit(f"{args.twin}: no twin binary (cargo build --release, or pass --twin)")
    out = tempfile.mkdtemp(prefix="twin-stream-")
    twin_t, duck_t, twin_rss = [], [], 0
    try:
        for _ in range(args.runs):
            w, hwm, twin, twin_aqi = run_twin(args.twin, lake, out)
            twin_t.append(w)
            twin_rss = max(twin_rss, hwm)
            w, duck, duck_aqi = run_duckdb(lake, args.threads)
            duck_t.append(w)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    duck_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n = duck["readings"]
    tm, dm = statistics.median(twin_t), statistics.median(duck_t)
    print(f"lake {lake}: {n:,} readings; {os.cpu_count()} CPUs; duckdb {duckdb.__version__}; "
          f"median of {args.runs} alternated runs")
    print(f"  twin telemetry stream : {tm:7.2f} s ({', '.join(f'{x:.2f}' for x in twin_t)}), "
          f"{n / tm:.3e} readings/s, peak RSS {twin_rss:,.0f} MiB")
    print(f"  DuckDB SQL            : {dm:7.2f} s ({', '.join(f'{x:.2f}' for x in duck_t)}), "
          f"{n / dm:.3e} readings/s, peak RSS {duck_rss:,.0f} MiB (this process)")
    same = True
    for key in ("rejected", "gaps", "rows", "with_aqi", "aqi_sum"):
        eq = float(twin[key] or 0) == float(duck[key] or 0)
        same &= eq
        print(f"  {key:9} twin {twin[key]!s:>12}  duckdb {duck[key]!s:>12}  {'same' if eq else 'DIFFERENT'}")
    differ = [k for k in set(twin_aqi) | set(duck_aqi) if twin_aqi.get(k) != duck_aqi.get(k)]
    same &= not differ
    print(f"  AQI per station-hour: {len(twin_aqi):,} vs {len(duck_aqi):,}, {len(differ)} differ"
          + (f" (first: {sorted(differ)[:3]})" if differ else ""))
    print(f"twin/duckdb: {dm / tm:.2f} (DuckDB time / twin time; above 1: the twin is faster)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
