"""Observations onto a :class:`~varnet.datamodel.grid.Grid`: the gridding shared by training and
operations, which the observation kinds (:mod:`varnet.datamodel.kinds`) call.

- :func:`sea_points` drops the along-track points in land cells;
- :func:`gridded_ssh_observations` bins along-track SLA into daily cell means;
- :func:`oi_first_guess` maps the along-track SLA by optimal interpolation (the DUACS-like
  baseline and first guess), in parallel over days; :func:`cached_oi_first_guess` keeps the
  days it mapped;
- :func:`sst_on_grid` moves one day of SST onto the model grid (cell mean of the finer
  source pixels, or bilinear interpolation of a coarser source).

Cell rule. Every source point or pixel belongs to the model cell whose centre is nearest along
each axis, cells being half-open towards the north and east (the rule of
:mod:`varnet.kernels.binning`). Times are UTC; a day's output time is 12:00 UTC.

Land. The grid's ocean mask (:attr:`Grid.ocean`) decides what is sea. An along-track point in
a land cell is not used (altimetry over land is land contamination): it is neither gridded nor
given to the OI (:func:`sea_points`); points outside the grid are kept, as the OI uses the
observations around the region. Every gridded output is NaN on land: observations, SST and the
OI, which makes no estimate there. On an open-ocean grid nothing changes.

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import itertools
import math
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.interpolate import RegularGridInterpolator
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from varnet.config import positive_int
from varnet.datamodel.grid import Grid
from varnet.io.atomic import atomic_path
from varnet.io.readers import AlongTrack, SstField
from varnet.kernels.binning import cell_indices, grid_alongtrack, grid_daily
from varnet.kernels.oi import OIConfig, optimal_interpolation

__all__ = [
    "OI_EPOCH",
    "cached_oi_first_guess",
    "gridded_ssh_observations",
    "oi_first_guess",
    "sea_points",
    "sst_on_grid",
]

#: Origin of the float day counts given to the OI (the CF time origin of the products). A fixed
#: origin makes the OI's super-observation day bins UTC days, whatever the requested period.
OI_EPOCH = dt.date(1950, 1, 1)

#: Largest number of days one OI task maps (more tasks than workers: finer progress, better
#: load balance; each task receives only the observations of its own time window).
_OI_TASK_DAYS = 8
_DAY_NS = 86_400 * 10**9
_NOON = np.timedelta64(12, "h")


# --------------------------------------------------------------------------------------------
# gridding
# --------------------------------------------------------------------------------------------


def _check_grid(grid: Grid) -> None:
    if not isinstance(grid, Grid):
        raise TypeError(f"grid: expected a Grid, got {type(grid).__name__}")


def sea_points(track: AlongTrack, grid: Grid) -> AlongTrack:
    """The along-track points that are not in a land cell of ``grid``.

    Parameters
    ----------
    track : AlongTrack
        Along-track points (SLA in m).
    grid : Grid
        The grid and its ocean mask; points outside its cells are kept.

    Returns
    -------
    AlongTrack
        ``track`` itself on an open-ocean grid, else the points outside land cells, in order.
    """
    _check_grid(grid)
    if grid.open_ocean or len(track) == 0:
        return track
    rows, cols = cell_indices(track.latitude, track.longitude, grid.lat, grid.lon)
    inside = rows >= 0
    keep = np.ones(len(track), dtype=bool)
    keep[inside] = grid.ocean[rows[inside], cols[inside]]
    return dataclasses.replace(
        track, mission=track.mission[keep], time=track.time[keep],
        longitude=track.longitude[keep], latitude=track.latitude[keep], sla=track.sla[keep],
        mdt=None if track.mdt is None else track.mdt[keep])


def gridded_ssh_observations(
    track: AlongTrack,
    grid: Grid,
    start: dt.date,
    ndays: int,
    missions: Sequence[str] | None = None,
) -> NDArray[np.float32]:
    """Daily cell means of along-track SLA on the model grid.

    Parameters
    ----------
    track : AlongTrack
        Along-track points (SLA in m).
    grid : Grid
        The model grid.
    start : datetime.date
        First day (UTC); day ``d`` of the output covers ``[start + d, start + d + 1)``.
    ndays : int
        Number of days, at least 1.
    missions : sequence of str, optional
        Keep only the points of these missions (all when None).

    Returns
    -------
    numpy.ndarray of float32, shape (ndays, ny, nx)
        Mean SLA of the points in each cell and day, m; NaN where a cell has no point and on
        land (:func:`sea_points`).

    Raises
    ------
    ValueError
        If ``start`` is not a date, ``ndays`` is not a positive integer or ``missions`` is a
        string.
    """
    track = sea_points(track, grid)
    mean, _ = grid_alongtrack(track, grid.lat, grid.lon, start, ndays, missions=missions)
    return mean.astype(np.float32)


def _step(axis: NDArray[np.float64]) -> float:
    return float(np.median(np.diff(axis))) if axis.size > 1 else math.inf


def sst_on_grid(field: SstField, grid: Grid) -> NDArray[np.float32]:
    """One day of SST on the model grid.

    Where the source grid is finer than or as fine as the model grid along both axes (its
    median spacing at most the model's, to 1e-6 relative), each model cell gets the mean of
    the valid source pixels whose centres fall in it (the cell rule of the module docstring),
    and NaN when it has none; a model grid that is the 2x coarsening of the source grid thus
    gets the exact 2 x 2 block means. Otherwise the source is interpolated bilinearly at the
    model cell centres (:class:`scipy.interpolate.RegularGridInterpolator`): NaN outside the
    source grid and wherever one of the four surrounding pixels is NaN.

    Parameters
    ----------
    field : SstField
        The source field (SST in kelvin, NaN where invalid, ascending lat/lon in degrees).
    grid : Grid
        The model grid (any longitude convention; longitudes are matched modulo 360).

    Returns
    -------
    numpy.ndarray of float32, shape (ny, nx)
        SST, K; NaN where there is no valid value and on land.
    """
    _check_grid(grid)
    model_lat, model_lon = grid.resolution_deg
    finer = (_step(field.lat) <= model_lat * (1 + 1e-6)
             and _step(field.lon) <= model_lon * (1 + 1e-6))
    if finer:
        lon2, lat2 = np.meshgrid(field.lon, field.lat)
        n = lat2.size
        time = np.full(n, np.datetime64(field.day, "ns") + _NOON)
        mean, _ = grid_daily(time, lat2.ravel(), lon2.ravel(), field.sst_k.ravel(), grid.lat,
                             grid.lon, field.day, 1)
        return grid.mask_land(mean[0].astype(np.float32))
    west = field.lon[0]
    lon = west + np.mod(grid.lon - west, 360.0)
    interp = RegularGridInterpolator((field.lat, field.lon), field.sst_k, method="linear",
                                     bounds_error=False, fill_value=np.nan)
    lat2, lon2 = np.meshgrid(grid.lat, lon, indexing="ij")
    return grid.mask_land(interp(np.stack([lat2, lon2], axis=-1)).astype(np.float32))


# --------------------------------------------------------------------------------------------
# optimal interpolation
# --------------------------------------------------------------------------------------------


def _days_since_epoch(time: NDArray[np.datetime64]) -> NDArray[np.float64]:
    """Float days since :data:`OI_EPOCH` (00:00 UTC) of datetime64 times."""
    epoch_ns = np.datetime64(OI_EPOCH, "ns").astype(np.int64)
    return (time.astype("datetime64[ns]").astype(np.int64) - epoch_ns) / _DAY_NS


def oi_first_guess(
    track: AlongTrack,
    grid: Grid,
    days: Sequence[dt.date],
    config: OIConfig,
    workers: int = 1,
    progress: bool = False,
    *,
    error_variance: bool = True,
    threads: int = 1,
) -> tuple[NDArray[np.float32], NDArray[np.float32] | None]:
    """Optimal interpolation of the along-track SLA at 12:00 UTC of each day.

    Runs :func:`varnet.kernels.oi.optimal_interpolation` on contiguous runs of at most a few
    days, over ``workers`` processes. Each run receives only the observations of its time
    window: its first and last output times widened by ``config.cutoff *
    config.time_scale_days`` days, then to whole super-observation bins of
    ``config.superob_days`` (counted from :data:`OI_EPOCH`). Every observation the OI would
    use for those days is in the window and every super-observation is complete, so the
    result does not depend on ``workers`` (bit for bit) nor on the other days requested.

    BLAS (the Cholesky factorisations, most of the cost) runs on one thread in every task:
    parallelism comes from ``workers``, which scales better over independent days, and
    several multi-threaded BLAS sharing few cores can be ten times slower (measured). A fixed
    thread count also keeps the round-off, hence the result, independent of ``workers``.

    Parameters
    ----------
    track : AlongTrack
        Along-track points (SLA in m); points outside all windows are never sent to workers.
    grid : Grid
        The model grid.
    days : sequence of datetime.date
        Output days (UTC), strictly increasing, at least one.
    config : OIConfig
        Covariance, noise, block and super-observation parameters.
    workers : int, optional
        Processes to use (:class:`concurrent.futures.ProcessPoolExecutor`); 1 computes in this
        process.
    progress : bool, optional
        Show a tqdm progress bar (days mapped).
    error_variance : bool, default True
        Whether to compute the error variance; the estimate is the same bit for bit either way.
    threads : int, default 1
        Threads solving the OI's blocks in each worker (BLAS stays on one thread each); the
        result is the same bit for bit whatever the count. Useful when there are fewer days
        than cores (one product day in operations).

    Returns
    -------
    estimate : numpy.ndarray of float32, shape (ndays, ny, nx)
        OI SLA, m (0 far from any observation); NaN on land, where no estimate is made from
        the sea points (:func:`sea_points`) only.
    error_variance : numpy.ndarray of float32, shape (ndays, ny, nx), or None
        Posterior error variance, m², in ``[0, config.signal_std_m ** 2]`` (NaN on land);
        None when ``error_variance`` is False.

    Raises
    ------
    ValueError
        If ``days`` is empty, holds something other than dates or is not strictly increasing,
        or ``workers`` or ``threads`` is not a positive integer.
    varnet.config.ConfigError
        If ``config`` is invalid.
    """
    _check_grid(grid)
    config.validate()
    positive_int(workers, "workers")
    positive_int(threads, "threads")
    days = list(days)
    if not days:
        raise ValueError("days: expected at least one day")
    if any(type(d) is not dt.date for d in days):
        raise ValueError("days: expected datetime.date values (UTC days)")
    if any(b <= a for a, b in itertools.pairwise(days)):
        raise ValueError("days: expected strictly increasing days")

    track = sea_points(track, grid)
    t_out = np.array([(d - OI_EPOCH).days + 0.5 for d in days])
    t_obs = _days_since_epoch(track.time)
    obs_bin = np.floor(t_obs / config.superob_days)
    reach = config.cutoff * config.time_scale_days
    ny, nx = grid.shape
    estimate = np.empty((len(days), ny, nx), dtype=np.float32)
    variance = np.empty((len(days), ny, nx), dtype=np.float32) if error_variance else None
    options = {"error_variance": error_variance, "threads": threads,
               "ocean": None if grid.open_ocean else grid.ocean}

    size = max(1, min(_OI_TASK_DAYS, math.ceil(len(days) / workers)))
    tasks = []
    for i0 in range(0, len(days), size):
        times = t_out[i0:i0 + size]
        lo = math.floor((times[0] - reach) / config.superob_days)
        hi = math.floor((times[-1] + reach) / config.superob_days)
        keep = (obs_bin >= lo) & (obs_bin <= hi)
        args = (t_obs[keep], track.latitude[keep], track.longitude[keep], track.sla[keep],
                grid.lat, grid.lon, times, config)
        tasks.append((slice(i0, i0 + times.size), args))

    with tqdm(total=len(days), desc="optimal interpolation", unit="day",
              disable=not progress) as bar:
        if workers == 1:
            for where, args in tasks:
                _store(where, _oi_task(*args, **options), estimate, variance)
                bar.update(where.stop - where.start)
        else:
            with ProcessPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
                futures = {pool.submit(_oi_task, *args, **options): where
                           for where, args in tasks}
                for future in as_completed(futures):
                    where = futures[future]
                    _store(where, future.result(), estimate, variance)
                    bar.update(where.stop - where.start)
    return estimate, variance


def _oi_task(*args: object, error_variance: bool, threads: int,
             ocean: NDArray[np.bool_] | None
             ) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    """:func:`~varnet.kernels.oi.optimal_interpolation` with BLAS limited to one thread."""
    with threadpool_limits(limits=1, user_api="blas"):
        return optimal_interpolation(*args, error_variance=error_variance, threads=threads,
                                     ocean=ocean)


def _store(where: slice, result: tuple[NDArray[np.float64], NDArray[np.float64] | None],
           estimate: NDArray[np.float32], variance: NDArray[np.float32] | None) -> None:
    estimate[where] = result[0]
    if variance is not None:
        variance[where] = result[1]


def _oi_day_keys(track: AlongTrack, grid: Grid, days: Sequence[dt.date],
                 config: OIConfig) -> list[str]:
    """For each day, a hash of everything its OI depends on: the sea points within its reach
    (the super-observation bins :func:`oi_first_guess` gives a one-day task), the grid and its
    mask, the OI parameters and the format of this cache."""
    track = sea_points(track, grid)
    obs_bin = np.floor(_days_since_epoch(track.time) / config.superob_days)
    reach = config.cutoff * config.time_scale_days
    keys = []
    for day in days:
        t_out = (day - OI_EPOCH).days + 0.5
        keep = ((obs_bin >= math.floor((t_out - reach) / config.superob_days))
                & (obs_bin <= math.floor((t_out + reach) / config.superob_days)))
        digest = hashlib.sha256(f"oi-v2 {day} {config!r}".encode())
        for array in (grid.lat, grid.lon, np.packbits(grid.ocean), track.time[keep],
                      track.latitude[keep], track.longitude[keep], track.sla[keep]):
            digest.update(np.ascontiguousarray(array).tobytes())
        keys.append(digest.hexdigest()[:20])
    return keys


def cached_oi_first_guess(track: AlongTrack, grid: Grid, days: Sequence[dt.date],
                          config: OIConfig, cache: Path, threads: int = 1
                          ) -> NDArray[np.float32]:
    """The OI first guess of ``days`` (:func:`oi_first_guess`), mapping only the days not
    already in ``cache``.

    The OI of one day depends only on the observations within its reach (and the grid and
    the parameters), not on the other days mapped with it, so it is stored per day under a key
    hashing those observations' values: the product days whose windows share a day map it
    once, and any new or changed observation within its reach maps it again. The estimate is
    the same bit for bit as :func:`oi_first_guess`'s.

    Parameters
    ----------
    track : AlongTrack
        Along-track points (SLA in m).
    grid : Grid
        The model grid and its ocean mask.
    days : sequence of datetime.date
        Output days (UTC), strictly increasing.
    config : OIConfig
        The OI's parameters.
    cache : pathlib.Path
        The cache folder (created when needed); an unreadable entry is mapped again.
    threads : int, default 1
        Threads solving the OI's blocks (the result does not depend on it).

    Returns
    -------
    numpy.ndarray of float32, shape (len(days), ny, nx)
        OI SLA, m; NaN on land.
    """
    days = list(days)
    out = np.empty((len(days), *grid.shape), dtype=np.float32)
    paths = [cache / f"oi_{d:%Y%m%d}_{key}.npy"
             for d, key in zip(days, _oi_day_keys(track, grid, days, config), strict=True)]
    todo = []
    for k, path in enumerate(paths):
        try:
            out[k] = np.load(path)
        except (OSError, ValueError):  # absent, or a damaged entry: map it again
            todo.append(k)
    if todo:
        mapped, _ = oi_first_guess(track, grid, [days[k] for k in todo], config,
                                   error_variance=False, threads=threads)
        cache.mkdir(parents=True, exist_ok=True)
        for k, field in zip(todo, mapped, strict=True):
            out[k] = field
            with atomic_path(paths[k]) as tmp, open(tmp, "wb") as handle:
                np.save(handle, field)
    return out
