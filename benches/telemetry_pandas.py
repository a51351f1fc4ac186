#!/usr/bin/env python3
"""The telemetry_scale computation in pandas, for the side-by-side ratio.

QA (status, range, spike, stuck; the same defaults as engine/src/telemetry/qa.rs) and hourly
VN_AQI (NowCast PM over 12 hours, 1-h gases, Decision 1459 breakpoints) over a lake written by
`twin telemetry generate` (or the telemetry_scale bench). Pandas holds the whole lake in memory:
that is how it is used; run it on the 10 M lake (100 M does not fit a 24 GiB machine).

    python3 benches/telemetry_pandas.py /tmp/telemetry-seed1-9d

Prints readings, seconds, readings/s and peak RSS, and the hourly AQI row count and sum for a
cross-check with `twin telemetry stream` on the same lake.
"""
import resource
import sys
import time

import numpy as np
import pandas as pd
import pyarrow.dataset as ds

from telemetry_rules import BP, JUMPS, RANGES, SPIKE_FACTOR, STUCK_RUN
from telemetry_rules import INDEX as VN_INDEX

INDEX = np.array(VN_INDEX, dtype=float)
HOUR = 3_600_000


def sub_index(c, p):
    bp = np.array(BP[p], dtype=float)
    out = np.interp(c, bp, INDEX)
    out = np.where(c > bp[-1], 500.0, out)
    return np.where(np.isfinite(c) & (c >= 0), out, np.nan)


def nowcast(m):  # m: (n, 12), column 0 = current hour, NaN = missing
    ok = (~np.isnan(m[:, :3])).sum(axis=1) >= 2
    with np.errstate(invalid="ignore", divide="ignore", all="ignore"):
        mn, mx = np.nanmin(m, axis=1), np.nanmax(m, axis=1)
        ratio = np.where(mx > 0, mn / mx, 1.0)
        i = np.arange(12)
        half = np.nansum(0.5 ** (i + 1) * m, axis=1)
        w = ratio[:, None] ** i
        w = np.where(np.isnan(m), 0.0, w)
        full = np.nansum(w * np.nan_to_num(m), axis=1) / w.sum(axis=1)
    return np.where(ok, np.where(ratio <= 0.5, half, full), np.nan)


def main(lake):
    t0 = time.perf_counter()
    df = ds.dataset(lake, format="parquet", partitioning="hive").to_table(
        columns=["station_id", "time", "value", "status", "parameter"]).to_pandas()
    df["time_ms"] = df["time"].astype("int64") // 1_000_000 if df["time"].dtype.str.endswith("ns]") \
        else df["time"].astype("int64")
    n = len(df)
    # ---- QA
    df = df.sort_values(["station_id", "parameter", "time_ms"], kind="stable", ignore_index=True)
    g = df.groupby(["station_id", "parameter"], sort=False, observed=True)["value"]
    prev, nxt = g.shift(1), g.shift(-1)
    lo = df["parameter"].map({k: v[0] for k, v in RANGES.items()}).astype(float)
    hi = df["parameter"].map({k: v[1] for k, v in RANGES.items()}).astype(float)
    jump = df["parameter"].map(JUMPS).astype(float)
    v = df["value"]
    mean_nb = (prev + nxt) / 2
    up = np.where(prev > nxt, prev, nxt)
    down = np.where(prev < nxt, prev, nxt)
    spike = jump.notna() & (((v > SPIKE_FACTOR * mean_nb) & ((v - up) > jump))
                            | ((v < mean_nb / SPIKE_FACTOR) & ((down - v) > jump)))
    new_run = (prev.isna() | (v != prev)).astype(np.int64)
    run = new_run.groupby([df["station_id"], df["parameter"]], sort=False, observed=True).cumsum()
    run_len = df.groupby([df["station_id"], df["parameter"], run], sort=False, observed=True)["value"] \
        .transform("size")
    reason = np.select(
        [df["status"] == "calibrating", df["status"] == "error", (v < lo) | (v > hi), spike,
         run_len >= STUCK_RUN],
        ["status calibrating", "status error", "range", "spike", "stuck"], default="")
    t = df["time_ms"]
    dt = (t - t.groupby([df["station_id"], df["parameter"]], sort=False, observed=True).shift(1)).astype(float)
    typical = dt.groupby([df["station_id"], df["parameter"]], sort=False, observed=True).transform("median")
    gaps = int((dt > np.maximum(1.5 * typical, 90_000.0)).sum())
    acc = df[reason == ""]
    rejected = int((reason != "").sum())
    # ---- hourly means of the AQI parameters, wide
    acc = acc[acc["parameter"].isin(list(BP))]
    before = acc["time_ms"] - 1  # hour-ending: the hour ending at H holds (H - 1 h, H]
    hour = before - before % HOUR + HOUR
    means = acc.groupby([acc["station_id"], hour.rename("hour"), acc["parameter"]], observed=True)[
        "value"].mean().unstack("parameter")
    # ---- NowCast over a continuous hourly index per station
    out = []
    for sid, m in means.groupby(level=0, sort=True):
        m = m.droplevel(0)
        # one hour past the last mean: its NowCast still has two of its last three hours
        full = m.reindex(np.arange(m.index.min(), m.index.max() + 2 * HOUR, HOUR))
        subs = {}
        for p in ("O3", "CO", "SO2", "NO2"):
            if p in full:
                subs[p] = sub_index(full[p].to_numpy(), p)
        for p in ("PM10", "PM2.5"):
            if p in full:
                x = full[p].to_numpy()
                lag = np.stack([np.concatenate([np.full(k, np.nan), x[:len(x) - k]]) for k in range(12)],
                               axis=1)
                subs[p] = sub_index(nowcast(lag), p)
        s = pd.DataFrame(subs, index=full.index)
        pm = s[[c for c in ("PM10", "PM2.5") if c in s]].notna().any(axis=1)
        # a row for every hour with a mean or a NowCast (as the twin writes them)
        s = s[full.notna().any(axis=1).to_numpy() | pm.to_numpy()]
        pm = pm.loc[s.index]
        aqi = np.floor(s.max(axis=1) + 0.5).where(pm)
        out.append(pd.DataFrame({"station_id": sid, "hour": s.index, "aqi": aqi.to_numpy(),
                                 "dominant": s.idxmax(axis=1).where(pm).to_numpy()}))
    aqi = pd.concat(out, ignore_index=True)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"pandas {pd.__version__}: QA + hourly VN_AQI, {n} readings ({rejected} rejected, {gaps} gaps): "
          f"{wall:.1f} s, {n / wall:.3e} readings/s, peak RSS {peak:.0f} MiB")
    print(f"hourly AQI rows with any mean: {len(aqi)}, with an AQI: {int(aqi['aqi'].notna().sum())}, "
          f"AQI sum {aqi['aqi'].sum():.0f}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
