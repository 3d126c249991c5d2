"""Observation files to gridded model inputs, shared by training and operations.

The 4DVarNet sees its inputs on a regular lon/lat *model grid* (:class:`ModelGrid`), often a
coarsening of the product grid. This module turns the observation files of the data contracts
(CMEMS L3 along-track SSH, GHRSST L4/L3 SST) into arrays on that grid, with one code path for
training and for daily operations, so that a model never sees at inference time a
preprocessing different from the one it was trained on:

- :func:`find_input_files` indexes a folder tree of observation files by day;
- :func:`read_alongtrack_files` reads and concatenates along-track files;
- :func:`gridded_ssh_observations` bins along-track SLA into daily cell means;
- :func:`sst_on_grid` moves one day of SST onto the model grid (cell mean of the finer
  source pixels, or bilinear interpolation of a coarser source);
- :func:`oi_first_guess` maps the along-track SLA by optimal interpolation (the DUACS-like
  baseline and first guess), in parallel over days;
- :func:`block_mean` averages gridded fields (e.g. the truth) over blocks of cells.

Cell rule. Every source point or pixel belongs to the model cell whose centre is nearest along
each axis, cells being half-open towards the north and east (the rule of
:mod:`varnet.kernels.binning`). Times are UTC; a day's output time is 12:00 UTC.

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import math
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.interpolate import RegularGridInterpolator
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from varnet.config import positive_int
from varnet.io.names import parse_alongtrack_filename, parse_ghrsst_filename
from varnet.io.readers import AlongTrack, SstField, concat_alongtrack, read_alongtrack
from varnet.kernels.binning import grid_alongtrack, grid_daily, regular_centres
from varnet.kernels.oi import OIConfig, optimal_interpolation

__all__ = [
    "OI_EPOCH",
    "InputFiles",
    "ModelGrid",
    "block_mean",
    "find_input_files",
    "gridded_ssh_observations",
    "oi_first_guess",
    "read_alongtrack_files",
    "sst_on_grid",
]

log = logging.getLogger(__name__)

#: Origin of the float day counts given to the OI (the CF time origin of the products). A fixed
#: origin makes the OI's super-observation day bins UTC days, whatever the requested period.
OI_EPOCH = dt.date(1950, 1, 1)

#: Relative tolerance on the regularity of a model grid: every centre lies within this fraction
#: of a step of the regular lattice through the first and last centres.
_REGULAR_TOL = 1e-3
#: Largest number of days one OI task maps (more tasks than workers: finer progress, better
#: load balance; each task receives only the observations of its own time window).
_OI_TASK_DAYS = 8
_DAY_NS = 86_400 * 10**9
_NOON = np.timedelta64(12, "h")


# --------------------------------------------------------------------------------------------
# the model grid
# --------------------------------------------------------------------------------------------


def _axis(values: ArrayLike, name: str) -> NDArray[np.float64]:
    """Validate one axis of cell centres (1-D, finite, >= 2, ascending, regular); return a
    read-only copy, so that the grid owns its arrays."""
    a = np.array(regular_centres(values, name, tolerance=_REGULAR_TOL))
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class ModelGrid:
    """A regular lon/lat grid of cell centres, the grid the model's inputs live on.

    Parameters
    ----------
    lat : array_like of float, shape (ny,)
        Latitudes of the cell centres, degrees north, regular and strictly ascending, within
        [-90, 90], at least 2.
    lon : array_like of float, shape (nx,)
        Longitudes of the cell centres, degrees east (any convention), regular and strictly
        ascending, spanning less than 360 degrees, at least 2.

    Attributes
    ----------
    lat, lon : numpy.ndarray of float64
        Read-only copies of the centres.

    Raises
    ------
    ValueError
        If an axis is not 1-D, has fewer than 2 centres, is not finite, ascending and regular,
        or the latitudes leave [-90, 90] or the longitudes span 360 degrees or more; the
        message names the axis.
    """

    lat: NDArray[np.float64]
    lon: NDArray[np.float64]

    def __post_init__(self) -> None:
        lat = _axis(self.lat, "lat")
        lon = _axis(self.lon, "lon")
        if lat[0] < -90.0 or lat[-1] > 90.0:
            raise ValueError(f"lat: cell centres must lie within [-90, 90] degrees, got "
                             f"{lat[0]:g} to {lat[-1]:g}")
        if (lon[-1] - lon[0]) * lon.size / (lon.size - 1) > 360.0 + 1e-9:
            raise ValueError("lon: the grid's cells span more than 360 degrees of longitude")
        object.__setattr__(self, "lat", lat)
        object.__setattr__(self, "lon", lon)

    @classmethod
    def coarsened(cls, lat: ArrayLike, lon: ArrayLike, factor: int) -> ModelGrid:
        """The grid whose cells are ``factor x factor`` blocks of cells of a fine grid.

        Parameters
        ----------
        lat, lon : array_like of float, shape (ny,) and (nx,)
            Cell centres of the fine regular grid, degrees, ascending.
        factor : int
            Cells of the fine grid per coarse cell along each axis, at least 1; ``ny`` and
            ``nx`` must be multiples of it.

        Returns
        -------
        ModelGrid
            Shape ``(ny // factor, nx // factor)``; each centre is the mean of the centres of
            its block of fine cells (so the coarse cells tile the fine ones exactly).

        Raises
        ------
        ValueError
            If ``factor`` is not a positive integer, a fine size is not divisible by it
            (the message names the axis), or an axis is invalid.
        """
        factor = positive_int(factor, "factor")
        centres = []
        for name, values in (("lat", lat), ("lon", lon)):
            fine = _axis(values, name)
            if fine.size % factor:
                raise ValueError(f"{name}: {fine.size} cells are not divisible by the "
                                 f"coarsening factor {factor}")
            centres.append(fine.reshape(-1, factor).mean(axis=1))
        return cls(centres[0], centres[1])

    @property
    def shape(self) -> tuple[int, int]:
        """Number of cells ``(ny, nx)``."""
        return (self.lat.size, self.lon.size)

    @property
    def resolution_deg(self) -> tuple[float, float]:
        """Cell size ``(latitude step, longitude step)``, degrees."""
        return (float((self.lat[-1] - self.lat[0]) / (self.lat.size - 1)),
                float((self.lon[-1] - self.lon[0]) / (self.lon.size - 1)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ModelGrid):
            return NotImplemented
        return bool(np.array_equal(self.lat, other.lat) and np.array_equal(self.lon, other.lon))

    __hash__ = None  # mutable-looking numpy fields: equality by value, no hashing


def block_mean(values: ArrayLike, factor: int) -> NDArray[np.float64]:
    """Mean over ``factor x factor`` blocks of the last two axes, ignoring NaN.

    Parameters
    ----------
    values : array_like of float, shape (..., ny, nx)
        Gridded values in any unit; ``ny`` and ``nx`` multiples of ``factor``.
    factor : int
        Block side, cells, at least 1.

    Returns
    -------
    numpy.ndarray of float64, shape (..., ny // factor, nx // factor)
        Mean of the finite values of each block, in the unit of ``values``; NaN where a block
        has none.

    Raises
    ------
    ValueError
        If ``factor`` is not a positive integer, ``values`` has fewer than 2 dimensions, or a
        size is not divisible by ``factor``.
    """
    factor = positive_int(factor, "factor")
    a = np.asarray(values, dtype=np.float64)
    if a.ndim < 2:
        raise ValueError(f"values: expected at least 2 dimensions (lat, lon), got {a.shape}")
    *lead, ny, nx = a.shape
    for name, n in (("lat", ny), ("lon", nx)):
        if n % factor:
            raise ValueError(f"values: the {name} size {n} is not divisible by the block "
                             f"size {factor}")
    blocks = a.reshape(*lead, ny // factor, factor, nx // factor, factor)
    valid = np.isfinite(blocks)
    total = np.where(valid, blocks, 0.0).sum(axis=(-3, -1))
    count = valid.sum(axis=(-3, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count


# --------------------------------------------------------------------------------------------
# finding and reading files
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputFiles:
    """The observation files of a folder tree, indexed by day.

    Attributes
    ----------
    alongtrack : dict of datetime.date to list of Path
        Along-track SSH files by data day, one per mission (the latest production of that
        mission and day), sorted by mission.
    sst : dict of datetime.date to Path
        One SST file per day, of the most preferred processing level available that day.
    """

    alongtrack: dict[dt.date, list[Path]]
    sst: dict[dt.date, Path]

    @property
    def missions(self) -> list[str]:
        """Mission short names that have at least one along-track file, sorted."""
        return sorted({parse_alongtrack_filename(p.name).mission
                       for paths in self.alongtrack.values() for p in paths})

    def alongtrack_paths(
        self, days: Iterable[dt.date], missions: Sequence[str] | None = None
    ) -> list[Path]:
        """Along-track files of some days and missions, in day then mission order.

        Parameters
        ----------
        days : iterable of datetime.date
            Data days; days without files contribute nothing.
        missions : sequence of str, optional
            Mission short names to keep (all when None).

        Returns
        -------
        list of Path
        """
        keep = None if missions is None else set(missions)
        return [p for day in days for p in self.alongtrack.get(day, [])
                if keep is None or parse_alongtrack_filename(p.name).mission in keep]


def find_input_files(
    directory: str | os.PathLike[str],
    sst_levels: Sequence[str] = ("L4", "L3S", "L3C", "L3U"),
) -> InputFiles:
    """Index the along-track and SST files under a folder, searched recursively.

    Files are recognised by name only (CMEMS L3 along-track, GHRSST GDS 2.0); other files
    (the truth, caches, notes) are ignored, and contents are not read.

    Parameters
    ----------
    directory : str or os.PathLike
        Root of the tree (e.g. a synthetic ocean's folder, with ``alongtrack/`` and
        ``sst/l4/``, ``sst/l3/``, or a real archive with year/month sub-folders).
    sst_levels : sequence of str, optional
        GHRSST processing levels to use, most preferred first (from ``"L4"``, ``"L3S"``,
        ``"L3C"``, ``"L3U"``); files of other levels are ignored. A day with files of several
        levels gets the most preferred one.

    Returns
    -------
    InputFiles
        For each (mission, data day) the file of the latest production day (a delayed-time
        ``dt`` file wins over a near-real-time ``nrt`` one of the same production day); for
        each day the SST file of the preferred level. Where two files remain equal on these
        criteria (the same name in two sub-folders, two L4 analyses of the same day), the
        first by path is kept and a warning is logged.

    Raises
    ------
    FileNotFoundError
        If ``directory`` is not a folder.
    ValueError
        If ``sst_levels`` is empty, a string, or names an unknown level.
    """
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder of observation files")
    if isinstance(sst_levels, str) or not sst_levels:
        raise ValueError(f"sst_levels: expected a non-empty sequence of levels such as "
                         f"('L4', 'L3S'), got {sst_levels!r}")
    unknown = [lv for lv in sst_levels if lv not in ("L4", "L3S", "L3C", "L3U")]
    if unknown:
        raise ValueError(f"sst_levels: unknown level(s) {unknown}; expected L4, L3S, L3C or L3U")
    rank = {level: i for i, level in enumerate(sst_levels)}

    best_track: dict[tuple[str, dt.date], tuple[tuple[dt.date, bool], Path]] = {}
    best_sst: dict[dt.date, tuple[int, Path]] = {}
    for path in sorted(root.rglob("*.nc")):
        if not path.is_file():
            continue
        try:
            name = parse_alongtrack_filename(path.name)
        except ValueError:
            pass
        else:
            key = (name.mission, name.day)
            order = (name.production, name.product == "dt")
            if key in best_track:
                kept_order, kept = best_track[key]
                if order == kept_order:
                    log.warning("two along-track files for %s on %s with the same production: "
                                "using %s, ignoring %s", name.mission, name.day, kept, path)
                if order <= kept_order:
                    continue
            best_track[key] = (order, path)
            continue
        try:
            sst = parse_ghrsst_filename(path.name)
        except ValueError:
            continue
        if sst.level not in rank:
            continue
        if sst.day in best_sst:
            kept_rank, kept = best_sst[sst.day]
            if rank[sst.level] == kept_rank:
                log.warning("two %s SST files for %s: using %s, ignoring %s", sst.level,
                            sst.day, kept, path)
            if rank[sst.level] >= kept_rank:
                continue
        best_sst[sst.day] = (rank[sst.level], path)

    alongtrack: dict[dt.date, list[Path]] = {}
    for (_, day), (_, path) in sorted(best_track.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        alongtrack.setdefault(day, []).append(path)
    return InputFiles(alongtrack=alongtrack,
                      sst={day: path for day, (_, path) in sorted(best_sst.items())})


def read_alongtrack_files(paths: Iterable[str | os.PathLike[str]]) -> AlongTrack:
    """Read along-track files and concatenate their points in time order.

    Parameters
    ----------
    paths : iterable of str or os.PathLike
        CMEMS L3 along-track files (e.g. from :meth:`InputFiles.alongtrack_paths`).

    Returns
    -------
    AlongTrack
        All points of all files, sorted by time (SLA in m from ``sla_filtered``); empty when
        ``paths`` is empty.

    Raises
    ------
    varnet.io.readers.InputFileError
        If a file cannot be used; the message names the file and the problem.
    """
    return concat_alongtrack([read_alongtrack(p) for p in paths])


# --------------------------------------------------------------------------------------------
# gridding
# --------------------------------------------------------------------------------------------


def _check_grid(grid: ModelGrid) -> None:
    if not isinstance(grid, ModelGrid):
        raise TypeError(f"grid: expected a ModelGrid, got {type(grid).__name__}")


def gridded_ssh_observations(
    track: AlongTrack,
    grid: ModelGrid,
    start: dt.date,
    ndays: int,
    missions: Sequence[str] | None = None,
) -> NDArray[np.float32]:
    """Daily cell means of along-track SLA on the model grid.

    Parameters
    ----------
    track : AlongTrack
        Along-track points (SLA in m).
    grid : ModelGrid
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
        Mean SLA of the points in each cell and day, m; NaN where a cell has no point.

    Raises
    ------
    ValueError
        If ``start`` is not a date, ``ndays`` is not a positive integer or ``missions`` is a
        string.
    """
    _check_grid(grid)
    mean, _ = grid_alongtrack(track, grid.lat, grid.lon, start, ndays, missions=missions)
    return mean.astype(np.float32)


def _step(axis: NDArray[np.float64]) -> float:
    return float(np.median(np.diff(axis))) if axis.size > 1 else math.inf


def sst_on_grid(field: SstField, grid: ModelGrid) -> NDArray[np.float32]:
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
    grid : ModelGrid
        The model grid (any longitude convention; longitudes are matched modulo 360).

    Returns
    -------
    numpy.ndarray of float32, shape (ny, nx)
        SST, K; NaN where there is no valid value.
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
        return mean[0].astype(np.float32)
    west = field.lon[0]
    lon = west + np.mod(grid.lon - west, 360.0)
    interp = RegularGridInterpolator((field.lat, field.lon), field.sst_k, method="linear",
                                     bounds_error=False, fill_value=np.nan)
    lat2, lon2 = np.meshgrid(grid.lat, lon, indexing="ij")
    return interp(np.stack([lat2, lon2], axis=-1)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# optimal interpolation
# --------------------------------------------------------------------------------------------


def _days_since_epoch(time: NDArray[np.datetime64]) -> NDArray[np.float64]:
    """Float days since :data:`OI_EPOCH` (00:00 UTC) of datetime64 times."""
    epoch_ns = np.datetime64(OI_EPOCH, "ns").astype(np.int64)
    return (time.astype("datetime64[ns]").astype(np.int64) - epoch_ns) / _DAY_NS


def oi_first_guess(
    track: AlongTrack,
    grid: ModelGrid,
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
    grid : ModelGrid
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
        OI SLA, m (0 far from any observation).
    error_variance : numpy.ndarray of float32, shape (ndays, ny, nx), or None
        Posterior error variance, m², in ``[0, config.signal_std_m ** 2]``; None when
        ``error_variance`` is False.

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

    t_out = np.array([(d - OI_EPOCH).days + 0.5 for d in days])
    t_obs = _days_since_epoch(track.time)
    obs_bin = np.floor(t_obs / config.superob_days)
    reach = config.cutoff * config.time_scale_days
    ny, nx = grid.shape
    estimate = np.empty((len(days), ny, nx), dtype=np.float32)
    variance = np.empty((len(days), ny, nx), dtype=np.float32) if error_variance else None
    options = {"error_variance": error_variance, "threads": threads}

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


def _oi_task(*args: object, error_variance: bool, threads: int
             ) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    """:func:`~varnet.kernels.oi.optimal_interpolation` with BLAS limited to one thread."""
    with threadpool_limits(limits=1, user_api="blas"):
        return optimal_interpolation(*args, error_variance=error_variance, threads=threads)


def _store(where: slice, result: tuple[NDArray[np.float64], NDArray[np.float64] | None],
           estimate: NDArray[np.float32], variance: NDArray[np.float32] | None) -> None:
    estimate[where] = result[0]
    if variance is not None:
        variance[where] = result[1]
