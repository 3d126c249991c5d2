"""Speed of daily along-track binning, side by side with numpy and pandas references.

Run from the repository root::

    .venv/bin/python benchmarks/bench_binning.py [--points 5000000]

Bins a few million random, time-ordered along-track points (30 days, five missions, a 1/20
degree grid over lat 33-43, lon -65..-55, with points outside the grid and the time window, NaN
values and a four-mission filter) with :func:`varnet.kernels.binning.grid_daily`, and with
three vectorised references computing the same mean and count:

* ``numpy.add.at`` (unbuffered scatter-add) after numpy cell and day indexing;
* ``numpy.bincount`` (the fast numpy idiom) after the same indexing;
* ``pandas`` ``groupby(cell).agg(sum, count)`` after the same indexing.

Prints the best of a few repeats for each, the ratio reference / varnet, and checks that all
give the same counts and means.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import numpy as np
import pandas as pd

from varnet.kernels.binning import grid_daily

DAY_NS = 86_400 * 10**9
START = dt.date(2012, 10, 1)
NDAYS = 30
GRID_LAT = np.arange(200) * 0.05 + 33.025
GRID_LON = np.arange(200) * 0.05 - 64.975


def make_points(n: int, seed: int = 0):
    """Random points over a box slightly larger than the grid and the 30-day window.

    Times are sorted, as in along-track files and their concatenation; positions are random,
    so consecutive points scatter over the day's cells (worse locality than real tracks).
    """
    rng = np.random.default_rng(seed)
    t0 = np.datetime64(START, "ns")
    days = np.sort(rng.uniform(-1.0, NDAYS + 1.0, n))
    time_ = t0 + (days * DAY_NS).astype("timedelta64[ns]")
    lat = rng.uniform(32.5, 43.5, n)
    lon = rng.uniform(-65.5, -54.5, n)
    values = rng.normal(0.0, 0.1, n)
    values[rng.random(n) < 0.01] = np.nan
    mission = rng.choice(np.array(["tpn", "j1", "en", "g2", "s3a"]), n)
    return time_, lat, lon, values, mission


def numpy_index(time_, lat, lon, values, mission, missions):
    """Flat (day, lat, lon) cell index of the valid points, and their values (numpy)."""
    step = 0.05
    t = time_.astype("datetime64[ns]").astype(np.int64) - np.datetime64(START, "ns").astype(
        np.int64
    )
    day = np.floor_divide(t, DAY_NS)
    j = np.floor((lat - (GRID_LAT[0] - step / 2)) / step).astype(np.int64)
    i = np.floor((lon - (GRID_LON[0] - step / 2)) / step).astype(np.int64)
    ok = (
        (day >= 0)
        & (day < NDAYS)
        & (j >= 0)
        & (j < GRID_LAT.size)
        & (i >= 0)
        & (i < GRID_LON.size)
        & np.isfinite(values)
        & np.isin(mission, missions)
    )
    flat = (day[ok] * GRID_LAT.size + j[ok]) * GRID_LON.size + i[ok]
    return flat, values[ok]


def ref_add_at(*points, missions):
    flat, v = numpy_index(*points, missions)
    size = NDAYS * GRID_LAT.size * GRID_LON.size
    sums = np.zeros(size)
    counts = np.zeros(size, dtype=np.int64)
    np.add.at(sums, flat, v)
    np.add.at(counts, flat, 1)
    return sums, counts


def ref_bincount(*points, missions):
    flat, v = numpy_index(*points, missions)
    size = NDAYS * GRID_LAT.size * GRID_LON.size
    return np.bincount(flat, v, size), np.bincount(flat, minlength=size)


def ref_pandas(*points, missions):
    flat, v = numpy_index(*points, missions)
    size = NDAYS * GRID_LAT.size * GRID_LON.size
    agg = pd.Series(v).groupby(flat).agg(["sum", "count"])
    sums = np.zeros(size)
    counts = np.zeros(size, dtype=np.int64)
    sums[agg.index.to_numpy()] = agg["sum"].to_numpy()
    counts[agg.index.to_numpy()] = agg["count"].to_numpy()
    return sums, counts


def best_of(repeats: int, fn, *args, **kwargs):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn(*args, **kwargs)
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=5_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    points = make_points(args.points)
    missions = ["tpn", "j1", "en", "g2"]
    shape = (NDAYS, GRID_LAT.size, GRID_LON.size)

    def varnet_bin():
        return grid_daily(
            *points[:4], GRID_LAT, GRID_LON, START, NDAYS, mission=points[4], missions=missions
        )

    varnet_bin()  # compile (or load the numba cache) outside the timing
    t_varnet, (mean, count) = best_of(args.repeats, varnet_bin)
    print(
        f"binning {args.points:,} points into {NDAYS} days x {GRID_LAT.size} x "
        f"{GRID_LON.size} cells (mission filter, 1% NaN, points outside grid and window); "
        f"best of {args.repeats}"
    )
    print(f"  {'method':<28}{'time (s)':>10}{'ratio to varnet':>18}   agrees")
    print(f"  {'varnet grid_daily (numba)':<28}{t_varnet:>10.3f}{1.0:>18.2f}   -")
    for name, fn in (
        ("numpy.add.at", ref_add_at),
        ("numpy.bincount", ref_bincount),
        ("pandas groupby", ref_pandas),
    ):
        t_ref, (sums, counts) = best_of(args.repeats, fn, *points, missions=missions)
        with np.errstate(invalid="ignore", divide="ignore"):
            ref_mean = (sums / counts).reshape(shape)
        agrees = np.array_equal(counts.reshape(shape), count) and np.allclose(
            mean, ref_mean, rtol=1e-10, atol=1e-14, equal_nan=True
        )
        print(f"  {name:<28}{t_ref:>10.3f}{t_ref / t_varnet:>18.2f}   {agrees}")
    print(
        f"  points kept: {int(count.sum()):,}; cells with data: "
        f"{int((count > 0).sum()):,} of {count.size:,}"
    )


if __name__ == "__main__":
    main()
