"""A sweep's response curve, the way a researcher would look at it.

Reads `members.parquet` of a `twin sweep` output directory with polars, groups the members by
one swept key and plots the mean and the 10-90 % range of a headline metric against it
(matplotlib), and prints the table. For example, after

    twin sweep tests/data/sweep/wind.toml --out runs/wind-sweep

run

    python examples/analysis.py runs/wind-sweep --key wind.speed_m_s \
        --metric exposure_SO2_province --out wind-response.png

Needs `pip install polars matplotlib`.
"""

import argparse
import sys

import polars as pl


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sweep_dir", help="the directory `twin sweep --out` wrote")
    ap.add_argument("--key", required=True, help="the swept key on the x axis")
    ap.add_argument("--metric", required=True, help="a column of members.parquet, e.g. exposure_SO2_province")
    ap.add_argument("--out", default="response.png", help="the plot (PNG)")
    a = ap.parse_args()

    members = pl.read_parquet(f"{a.sweep_dir}/members.parquet")
    for col in (a.key, a.metric):
        if col not in members.columns:
            sys.exit(f"{a.sweep_dir}/members.parquet has no column {col!r}; it has {members.columns}")
    done = members.filter(pl.col("status") == "done")
    curve = (
        done.group_by(a.key)
        .agg(
            pl.col(a.metric).mean().alias("mean"),
            pl.col(a.metric).quantile(0.1).alias("p10"),
            pl.col(a.metric).quantile(0.9).alias("p90"),
            pl.len().alias("members"),
        )
        .sort(a.key)
    )
    print(curve)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    x = curve[a.key].to_list()
    ax.fill_between(x, curve["p10"].to_list(), curve["p90"].to_list(), alpha=0.3, label="10–90 % of members")
    ax.plot(x, curve["mean"].to_list(), marker="o", label="mean")
    ax.set_xlabel(a.key)
    ax.set_ylabel(a.metric)
    ax.set_title(f"{len(done)} of {len(members)} members")
    ax.legend()
    fig.tight_layout()
    fig.savefig(a.out, dpi=120)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
