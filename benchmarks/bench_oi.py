"""Speed of the block-local optimal interpolation (OI) baseline, against the issue's budget.

Run from the repository root::

    .venv/bin/python benchmarks/bench_oi.py            # about 2 minutes
    .venv/bin/python benchmarks/bench_oi.py --quick    # skips the run without super-obs

Everything runs on one core (the script re-executes itself with ``OPENBLAS_NUM_THREADS=1``
and friends unless they are already set), except the row with 2 threads (blocks solved on
two threads, BLAS single-threaded in each, as operations run it). Prints, in one run:

* one OI day (a single output time, the middle of the window) on the 2020a evaluation grid,
  200 x 200 cells at 1/20 degree (lat 33-43, lon -65..-55), from 30 days of four-nadir 1 Hz
  observations (tpn, j1, en, g2 from :func:`varnet.osse.orbits.daily_passes`) of a smooth
  synthetic SLA plus 3 cm white noise: wall time and its ratio to the 5 s budget, with the
  default configuration, without the error variance (what operations compute), the same on
  2 threads, and (unless ``--quick``) without super-observations; the rms error
  against the true field is printed as a sanity check;
* the cost against the grid size (50^2 to 400^2 cells at 1/20 degree, observation density
  held fixed by simulating the same four missions over the grid plus a margin of
  ``cutoff`` space scales, so every block sees the same data density), with the time per
  cell, which stays flat when the cost is linear in the area.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import sys
import time

import numpy as np

from varnet.kernels.finite_differences import EARTH_RADIUS_M
from varnet.kernels.oi import OIConfig, optimal_interpolation
from varnet.osse.orbits import MISSIONS, daily_passes, seconds_since_epoch

THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
BUDGET_S = 5.0
START = dt.date(2012, 10, 1)
NDAYS = 30
STEP = 0.05
R_KM = EARTH_RADIUS_M / 1000.0


def true_sla(t_days, lat, lon):
    """Smooth propagating synthetic SLA, m: a dozen waves of 250-600 km, about 0.1 m rms."""
    rng = np.random.default_rng(7)
    x = np.deg2rad(lon) * R_KM * np.cos(np.deg2rad(38.0))
    y = np.deg2rad(lat) * R_KM
    out = np.zeros(np.broadcast(t_days, lat, lon).shape)
    for _ in range(12):
        k = 2.0 * np.pi / rng.uniform(250.0, 600.0)
        angle = rng.uniform(0.0, 2.0 * np.pi)
        speed = rng.uniform(-5.0, 5.0)  # km per day
        phase = rng.uniform(0.0, 2.0 * np.pi)
        out += 0.04 * np.cos(k * (np.cos(angle) * x + np.sin(angle) * y - speed * t_days) + phase)
    return out


def four_nadir_obs(lat_bounds, lon_bounds, seed=0):
    """30 days of tpn, j1, en and g2 1 Hz samples in a box; SLA + 3 cm noise."""
    parts = []
    for name in ("tpn", "j1", "en", "g2"):
        for d in range(NDAYS):
            t_s, lon, lat = daily_passes(
                MISSIONS[name], START + dt.timedelta(days=d), lon_bounds, lat_bounds
            )
            parts.append(((t_s - seconds_since_epoch(START)) / 86400.0, lat, lon))
    t, lat, lon = (np.concatenate(c) for c in zip(*parts, strict=True))
    noise = np.random.default_rng(seed).normal(0.0, 0.03, t.size)
    return t, lat, lon, true_sla(t, lat, lon) + noise


def grid(n, lat0, lon0):
    """n x n cell centres at 1/20 degree from the south-west corner (lat0, lon0)."""
    return lat0 + STEP * (np.arange(n) + 0.5), lon0 + STEP * (np.arange(n) + 0.5)


def timed_oi(obs, grid_lat, grid_lon, cfg, **options):
    t_out = np.array([NDAYS / 2.0])
    started = time.perf_counter()
    est, var = optimal_interpolation(*obs, grid_lat, grid_lon, t_out, cfg, **options)
    return time.perf_counter() - started, est[0], (np.full(1, np.nan) if var is None else var[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="skip the (slow) run without super-observations"
    )
    args = parser.parse_args()
    if any(os.environ.get(v) != "1" for v in THREAD_VARS):
        os.environ.update(dict.fromkeys(THREAD_VARS, "1"))
        os.execv(sys.executable, [sys.executable, *sys.argv])

    cfg = OIConfig()
    print(f"OI configuration: {cfg}")
    print("one core (BLAS and numba single-threaded) except where 2 threads are named\n")

    # warm-up: numba compilation or cache load, outside the timings
    optimal_interpolation([0.5], [38.0], [-60.0], [0.1], [38.0, 38.05], [-60.0, -59.95], [0.5], cfg)

    glat, glon = grid(200, 33.0, -65.0)
    obs = four_nadir_obs((33.0, 43.0), (-65.0, -55.0))
    gy, gx = np.meshgrid(glat, glon, indexing="ij")
    truth = true_sla(NDAYS / 2.0, gy, gx)
    print(
        f"1. one OI day, 200 x 200 cells at 1/20 degree (lat 33-43, lon -65..-55), "
        f"{obs[0].size:,} observations (30 days, tpn j1 en g2, 1 Hz, 3 cm noise)"
    )
    print(
        f"   {'configuration':<40}{'time (s)':>10}{'ratio to 5 s':>14}"
        f"{'rms error (m)':>15}{'mean err var (m2)':>19}"
    )
    runs = [
        ("default", cfg, {}),
        ("default, estimate only", cfg, {"error_variance": False}),
        ("default, estimate only, 2 threads", cfg, {"error_variance": False, "threads": 2}),
    ]
    if not args.quick:
        runs.append(
            ("no super-observations (superob_km=0)", dataclasses.replace(cfg, superob_km=0.0),
             {})
        )
    for name, c, options in runs:
        elapsed, est, var = timed_oi(obs, glat, glon, c, **options)
        rms = float(np.sqrt(np.mean((est - truth) ** 2)))
        print(
            f"   {name:<40}{elapsed:>10.2f}{elapsed / BUDGET_S:>14.2f}{rms:>15.4f}"
            f"{float(var.mean()):>19.2e}"
        )
    print(
        f"   (true field rms {float(np.sqrt(np.mean(truth**2))):.4f} m; a ratio <= 1 meets "
        f"the budget)\n"
    )

    margin_lat = np.rad2deg(cfg.cutoff * cfg.space_scale_km / R_KM)
    print(
        f"2. cost vs grid size at 1/20 degree, fixed observation density (observations "
        f"over the grid plus a {margin_lat:.1f} degree latitude margin)"
    )
    print(f"   {'grid':>9}{'cells':>9}{'obs':>9}{'time (s)':>10}{'us / cell':>11}{'vs 200^2':>10}")
    rows = []
    for n in (50, 100, 200, 400):
        side = n * STEP
        lat0, lon0 = 38.0 - side / 2.0, -60.0 - side / 2.0
        glat_n, glon_n = grid(n, lat0, lon0)
        margin_lon = margin_lat / np.cos(np.deg2rad(lat0 + side + margin_lat))
        obs_n = four_nadir_obs(
            (lat0 - margin_lat, lat0 + side + margin_lat),
            (lon0 - margin_lon, lon0 + side + margin_lon),
            seed=n,
        )
        elapsed, _, _ = timed_oi(obs_n, glat_n, glon_n, cfg)
        rows.append((n, obs_n[0].size, elapsed))
    per_cell_200 = next(e / n**2 for n, _, e in rows if n == 200)
    for n, nobs, elapsed in rows:
        per_cell = elapsed / n**2
        print(
            f"   {f'{n}^2':>9}{n * n:>9,}{nobs:>9,}{elapsed:>10.2f}{per_cell * 1e6:>11.1f}"
            f"{per_cell / per_cell_200:>10.2f}"
        )


if __name__ == "__main__":
    main()
