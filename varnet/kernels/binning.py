r"""Daily binning of along-track (L3) observations onto a regular longitude/latitude grid.

This is the gridding step shared by training and operations: every along-track point goes to
one (day, latitude, longitude) cell, and each cell holds the mean of its points and their
number.

Cells and boundary policy
-------------------------
The grid is given by its cell centres ``grid_lat`` (``ny``) and ``grid_lon`` (``nx``), 1-D,
strictly ascending and regularly spaced, in degrees. A point goes to the cell whose centre is
nearest along each axis: the boundary between cells ``i`` and ``i + 1`` is the midpoint
:math:`(c_i + c_{i+1})/2`, and the outer edges lie half a step beyond the first and last
centres. Cells are half-open, :math:`[e_i, e_{i+1})`: a point exactly on the boundary
between two cells goes to the one with the larger index (north, east), and a point exactly on
the northern or eastern outer edge is outside the grid.

Longitudes are compared modulo 360 degrees: a point is shifted by a whole number of turns into
:math:`[e_0, e_0 + 360)`, :math:`e_0` being the western edge of the grid, so a grid given in
[0, 360) accepts points in [-180, 180) and the reverse; a point that is already in that range
is not shifted, so its comparison with the cell edges is exact.

Day ``d`` (``0 <= d < ndays``) covers :math:`[\mathrm{start} + d, \mathrm{start} + d + 1)`
UTC. A point is dropped when it is outside the grid or the time window, when its time is NaT,
when its latitude, longitude or value is not finite, or when it fails the mission filter.

Implementation
--------------
One numba pass over the points accumulates per-cell sums (float64) and counts; the mean is
their ratio. Time is handled as int64 nanoseconds, so day boundaries are exact.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray

from varnet.config import positive_int
from varnet.io.readers import AlongTrack

__all__ = ["cell_indices", "grid_alongtrack", "grid_daily"]

_DAY_NS = 86_400 * 1_000_000_000
# Regularity tolerance: every cell centre within this fraction of a step of a regular lattice.
_LATTICE_TOL = 0.01

FloatArray = NDArray[np.float64]


# --------------------------------------------------------------------------------------------
# numba kernel
# --------------------------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _cell(x, edges, inv_step):  # pragma: no cover - compiled
    """Index ``i`` with ``edges[i] <= x < edges[i + 1]``, or -1 outside ``[edges[0], edges[-1])``.

    The guess from the mean step is corrected once against the explicit edges, so the boundary
    rule is exact whatever the rounding of ``(x - edges[0]) * inv_step``; one correction is
    enough because :func:`_edges` accepts only grids whose centres lie within a small fraction
    of a step of a regular lattice.
    """
    n = edges.size - 1
    f = (x - edges[0]) * inv_step
    if not (f > -1.0 and f < n + 1.0):
        return -1
    i = min(int(f), n - 1)  # f > -1, so int() (truncation) gives 0 for f in (-1, 0)
    if x < edges[i]:
        i -= 1
    elif x >= edges[i + 1]:
        i += 1
    if i < 0 or i >= n:
        return -1
    return i


@njit(cache=True)
def _bin_points(
    t_ns, lat, lon, values, keep, t0_ns, t1_ns, lat_edges, lon_edges, sums, counts
):  # pragma: no cover - compiled
    """Accumulate the points into ``sums`` and ``counts`` of shape ``(ndays, ny, nx)``.

    ``t_ns`` is int64 nanoseconds (NaT, the int64 minimum, is before any window), ``keep`` a
    boolean mask (the mission filter), ``[t0_ns, t1_ns)`` the time window; edges as in
    :func:`_cell`.
    """
    inv_lat = (lat_edges.size - 1) / (lat_edges[-1] - lat_edges[0])
    inv_lon = (lon_edges.size - 1) / (lon_edges[-1] - lon_edges[0])
    west = lon_edges[0]
    day_ns = np.uint64(_DAY_NS)
    for k in range(t_ns.size):
        t = t_ns[k]
        if t < t0_ns or t >= t1_ns or not keep[k]:
            continue
        v = values[k]
        y = lat[k]
        x = lon[k]
        if not (math.isfinite(v) and math.isfinite(y) and math.isfinite(x)):
            continue
        if x < west or x >= west + 360.0:
            x -= 360.0 * math.floor((x - west) / 360.0)
        j = _cell(y, lat_edges, inv_lat)
        if j < 0:
            continue
        i = _cell(x, lon_edges, inv_lon)
        if i < 0:
            continue
        d = np.uint64(t - t0_ns) // day_ns  # unsigned: cheaper than Python floor division
        sums[d, j, i] += v
        counts[d, j, i] += 1


@njit(cache=True)
def _cells_of(lat, lon, lat_edges, lon_edges, rows, cols):  # pragma: no cover - compiled
    """Cell row and column of each point (-1 outside the grid or not finite); edges as in
    :func:`_cell`."""
    inv_lat = (lat_edges.size - 1) / (lat_edges[-1] - lat_edges[0])
    inv_lon = (lon_edges.size - 1) / (lon_edges[-1] - lon_edges[0])
    west = lon_edges[0]
    for k in range(lat.size):
        y = lat[k]
        x = lon[k]
        rows[k] = -1
        cols[k] = -1
        if not (math.isfinite(y) and math.isfinite(x)):
            continue
        if x < west or x >= west + 360.0:
            x -= 360.0 * math.floor((x - west) / 360.0)
        j = _cell(y, lat_edges, inv_lat)
        i = _cell(x, lon_edges, inv_lon)
        if j >= 0 and i >= 0:
            rows[k] = j
            cols[k] = i


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------


def regular_centres(centres: ArrayLike, name: str, tolerance: float = _LATTICE_TOL) -> FloatArray:
    """Validate 1-D regular ascending cell centres (degrees) and return them as float64.

    Parameters
    ----------
    centres : array_like
        Cell centres, degrees.
    name : str
        Name used in error messages.
    tolerance : float
        Largest distance of a centre from the regular lattice through the first and last
        centres, in grid steps.

    Raises
    ------
    ValueError
        Naming ``name``: not 1-D with at least 2 values, non-finite, not strictly ascending,
        or not regular within ``tolerance``.
    """
    c = np.asarray(centres, dtype=np.float64)
    if c.ndim != 1 or c.size < 2:
        raise ValueError(
            f"{name}: expected a 1-D array of at least 2 cell centres, got shape {c.shape}"
        )
    if not np.all(np.isfinite(c)):
        raise ValueError(f"{name}: cell centres must be finite")
    steps = np.diff(c)
    if not np.all(steps > 0):
        raise ValueError(f"{name}: cell centres must be strictly ascending")
    step = (c[-1] - c[0]) / (c.size - 1)
    off_lattice = np.max(np.abs(c - (c[0] + step * np.arange(c.size)))) / step
    if off_lattice > tolerance:
        raise ValueError(
            f"{name}: cell centres must be regularly spaced (a centre lies "
            f"{off_lattice:.3g} steps away from the regular lattice; steps range "
            f"from {steps.min():g} to {steps.max():g} degrees)"
        )
    return c


def _edges(centres: ArrayLike, name: str) -> FloatArray:
    """Validate regular cell centres (:func:`regular_centres`); return the ``n + 1`` edges."""
    c = regular_centres(centres, name)
    steps = np.diff(c)
    mid = 0.5 * (c[:-1] + c[1:])
    return np.concatenate(([c[0] - 0.5 * steps[0]], mid, [c[-1] + 0.5 * steps[-1]]))


def _column(values: ArrayLike, name: str, n: int) -> FloatArray:
    a = np.ascontiguousarray(values, dtype=np.float64)
    if a.shape != (n,):
        raise ValueError(
            f"{name}: expected a 1-D array of length {n} (the length of time), got shape {a.shape}"
        )
    return a


def _time_ns(time: ArrayLike) -> NDArray[np.int64]:
    t = np.asarray(time)
    if t.ndim != 1 or t.dtype.kind != "M":
        raise ValueError(
            f"time: expected a 1-D datetime64 array, got dtype {t.dtype} and shape {t.shape}"
        )
    return np.ascontiguousarray(t.astype("datetime64[ns]").view(np.int64))


def _mission_mask(
    mission: ArrayLike | None, missions: Sequence[str] | None, n: int
) -> NDArray[np.bool_]:
    if mission is not None:
        mission = np.asarray(mission)
        if mission.shape != (n,):
            raise ValueError(
                f"mission: expected a 1-D array of length {n} (the length of "
                f"time), got shape {mission.shape}"
            )
    if missions is None:
        return np.ones(n, dtype=np.bool_)
    if isinstance(missions, str):
        raise ValueError(
            f"missions: expected a sequence of mission names, got the string "
            f"{missions!r} (write [{missions!r}])"
        )
    if mission is None:
        raise ValueError("mission: the per-point mission array is required when missions is given")
    return np.isin(mission.astype(str), np.asarray(list(missions), dtype=str))


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


def grid_daily(
    time: ArrayLike,
    lat: ArrayLike,
    lon: ArrayLike,
    values: ArrayLike,
    grid_lat: ArrayLike,
    grid_lon: ArrayLike,
    start: dt.date,
    ndays: int,
    mission: ArrayLike | None = None,
    missions: Sequence[str] | None = None,
) -> tuple[FloatArray, NDArray[np.int32]]:
    """Daily mean and count of along-track points in the cells of a regular lon/lat grid.

    See the module docstring for the cell, day and longitude rules.

    Parameters
    ----------
    time : array of datetime64, shape (n,)
        Point times (UTC), any datetime64 unit; NaT points are dropped.
    lat, lon : array of float, shape (n,)
        Point latitudes and longitudes, degrees (any longitude convention).
    values : array of float, shape (n,)
        Values to average (e.g. SLA in m); non-finite points are dropped.
    grid_lat, grid_lon : array of float, shape (ny,) and (nx,)
        Cell centres, degrees, strictly ascending and regularly spaced, at least 2 each.
    start : datetime.date
        First day (UTC) of the output.
    ndays : int
        Number of days, at least 1.
    mission : array of str, shape (n,), optional
        Mission of each point; required when ``missions`` is given.
    missions : sequence of str, optional
        Keep only the points of these missions (all points when None).

    Returns
    -------
    mean : ndarray of float64, shape (ndays, ny, nx)
        Mean of the values in each cell and day, in the unit of ``values``; NaN where empty.
    count : ndarray of int32, shape (ndays, ny, nx)
        Number of points in each cell and day.

    Raises
    ------
    ValueError
        If an argument has the wrong shape or type, or the grid is not regular and ascending;
        the message names the argument.
    """
    t_ns = _time_ns(time)
    n = t_ns.size
    lat_a = _column(lat, "lat", n)
    lon_a = _column(lon, "lon", n)
    val_a = _column(values, "values", n)
    lat_edges = _edges(grid_lat, "grid_lat")
    lon_edges = _edges(grid_lon, "grid_lon")
    if lon_edges[-1] - lon_edges[0] > 360.0:
        raise ValueError("grid_lon: the grid spans more than 360 degrees of longitude")
    if type(start) is not dt.date:
        raise ValueError(f"start: expected a datetime.date (a UTC day), got {start!r}")
    positive_int(ndays, "ndays")
    keep = _mission_mask(mission, missions, n)

    t0_ns = int(np.datetime64(start, "D").astype("datetime64[ns]").view(np.int64))
    t1_ns = t0_ns + int(ndays) * _DAY_NS
    shape = (int(ndays), lat_edges.size - 1, lon_edges.size - 1)
    sums = np.zeros(shape, dtype=np.float64)
    counts = np.zeros(shape, dtype=np.int64)
    _bin_points(t_ns, lat_a, lon_a, val_a, keep, t0_ns, t1_ns, lat_edges, lon_edges, sums, counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / counts
    return mean, counts.astype(np.int32)


def grid_alongtrack(
    track: AlongTrack,
    grid_lat: ArrayLike,
    grid_lon: ArrayLike,
    start: dt.date,
    ndays: int,
    missions: Sequence[str] | None = None,
) -> tuple[FloatArray, NDArray[np.int32]]:
    """Daily mean and count of the SLA of an :class:`~varnet.io.readers.AlongTrack`.

    Same as :func:`grid_daily` applied to ``track.time``, ``track.latitude``,
    ``track.longitude``, ``track.sla`` and ``track.mission``.

    Parameters
    ----------
    track : AlongTrack
        Along-track points (e.g. from :func:`~varnet.io.readers.concat_alongtrack`).
    grid_lat, grid_lon : array of float, shape (ny,) and (nx,)
        Cell centres, degrees, strictly ascending and regularly spaced.
    start : datetime.date
        First day (UTC).
    ndays : int
        Number of days.
    missions : sequence of str, optional
        Keep only these missions.

    Returns
    -------
    mean : ndarray of float64, shape (ndays, ny, nx)
        Daily mean SLA, m; NaN where empty.
    count : ndarray of int32, shape (ndays, ny, nx)
        Number of points.
    """
    return grid_daily(
        track.time,
        track.latitude,
        track.longitude,
        track.sla,
        grid_lat,
        grid_lon,
        start,
        ndays,
        mission=track.mission,
        missions=missions,
    )


def cell_indices(
    lat: ArrayLike, lon: ArrayLike, grid_lat: ArrayLike, grid_lon: ArrayLike
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The grid cell of each point, by the cell rule of the module docstring.

    Parameters
    ----------
    lat, lon : array of float, shape (n,)
        Point positions, degrees (any longitude convention).
    grid_lat, grid_lon : array of float, shape (ny,) and (nx,)
        Cell centres, degrees, strictly ascending and regularly spaced.

    Returns
    -------
    rows, cols : ndarray of int64, shape (n,)
        Row (latitude) and column (longitude) index of each point's cell; -1 in both for a
        point outside the grid or with a non-finite position.

    Raises
    ------
    ValueError
        If an argument has the wrong shape or the grid is not regular and ascending; the
        message names the argument.
    """
    lat_a = np.ascontiguousarray(lat, dtype=np.float64)
    if lat_a.ndim != 1:
        raise ValueError(f"lat: expected a 1-D array, got shape {lat_a.shape}")
    lon_a = _column(lon, "lon", lat_a.size)
    lat_edges = _edges(grid_lat, "grid_lat")
    lon_edges = _edges(grid_lon, "grid_lon")
    rows = np.empty(lat_a.size, dtype=np.int64)
    cols = np.empty(lat_a.size, dtype=np.int64)
    _cells_of(lat_a, lon_a, lat_edges, lon_edges, rows, cols)
    return rows, cols
