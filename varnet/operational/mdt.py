r"""The mean dynamic topography (MDT) of a product: from a configured file, or from the inputs.

A product holds the absolute dynamic topography ``adt = sla + mdt`` and its absolute
geostrophic current ``ugos``/``vgos`` only where an MDT is known. It comes from, in order:

1. **a configured MDT file** (``production.mdt`` of the operations configuration): a NetCDF
   file with a variable ``mdt`` in metres on a regular latitude / longitude grid, as the
   CNES-CLS MDT files (``mdt(time, latitude, longitude)`` with one time, or
   ``mdt(lat, lon)``, either axis order, either latitude direction, any longitude convention;
   a grid spanning 360 degrees is taken as periodic). :func:`read_mdt_file` interpolates it
   bilinearly onto the product grid, once, when the producer starts; a file that cannot be
   read, lacks ``mdt``, has other units or does not cover the region is refused with a
   :class:`varnet.config.ConfigError` naming the key and the file.
2. **the along-track inputs**: CMEMS L3 files carry the MDT at every point (``mdt``; read as
   :attr:`varnet.io.readers.AlongTrack.mdt`). The points a product reads anyway (its window
   and the OI's reach around it) are binned on the product grid extended by a margin
   (:func:`track_mdt_cells`: for every cell, the mean of its points' MDT *placed at the mean
   position of those points*, which removes the first-order error of assigning the mean to
   the cell centre), then :func:`mdt_from_cells` interpolates linearly between those cells
   (Delaunay triangulation in the plane :math:`(\lambda\cos\phi_0, \phi)`, so that triangles
   are not stretched east-west) and takes the nearest cell outside their convex hull.
   On the tiny synthetic ocean (0.2 degree grid, 17 days of 4 nadirs: what a product of the
   test model reads) this estimate is within 0.7 mm RMS of the true MDT, whose range is
   0.32 m; at most 12.6 mm, in the domain's corners outside the tracks' convex hull, and
   0.4 mm two cells in from the edges (``tests/operational/test_mdt.py`` measures it). The
   estimate is remade every product day from that day's inputs, so it changes a little from
   day to day; a configured MDT file does not.
3. otherwise **none**: the product has no ``adt``, ``ugos``, ``vgos`` and says why in its
   ``mdt_source`` attribute (:data:`NO_MDT`).

Every product says where its MDT came from in the global attribute ``mdt_source``
(:attr:`Mdt.source`): the file's name and SHA-256, or how the along-track estimate was made.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import netCDF4
import numpy as np
from numpy.typing import ArrayLike, NDArray
from threadpoolctl import threadpool_limits

from varnet.config import ConfigError
from varnet.io.readers import AlongTrack

__all__ = [
    "MDT_KEY",
    "NO_MDT",
    "Mdt",
    "TrackMdtCells",
    "mdt_from_cells",
    "read_mdt_file",
    "track_mdt_cells",
]

#: The configuration key of the MDT file.
MDT_KEY = "production.mdt"
#: ``mdt_source`` of a product made without any MDT.
NO_MDT = ("none: no MDT file configured (production.mdt) and no mdt in the along-track "
          "inputs; adt, ugos and vgos are not written")
#: Units accepted for the MDT variable of a file.
_METRES = {"m", "meter", "meters", "metre", "metres"}
#: Margin, degrees, around the product grid whose along-track points also enter the estimate
#: (they extend the convex hull of the observed cells beyond the grid's edges).
MARGIN_DEG = 1.0
#: Fewest observed cells an along-track estimate is made from.
MIN_CELLS = 3


@dataclass(frozen=True, eq=False)
class Mdt:
    """A mean dynamic topography on the product grid.

    Attributes
    ----------
    values : numpy.ndarray
        float64 (nlat, nlon), m; NaN where unknown (the product's ``adt`` is NaN there).
    source : str
        Where it came from, written as the product's ``mdt_source``.
    """

    values: NDArray[np.float64]
    source: str


# --------------------------------------------------------------------------------------------
# a configured file
# --------------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    from varnet.operational.products import file_sha256

    return file_sha256(path)


def _refuse(path: Path, problem: str, key: str) -> ConfigError:
    return ConfigError(key, f"MDT file {path}: {problem}")


def _axis_name(ds: netCDF4.Dataset, dim: str) -> str | None:
    """``"lat"`` or ``"lon"`` for a dimension whose coordinate variable is one, else None."""
    var = ds.variables.get(dim)
    names = {dim.lower()}
    if var is not None:
        names |= {str(getattr(var, a, "")).lower() for a in ("standard_name", "units", "axis")}
    if names & {"latitude", "lat", "nblatitudes", "degrees_north", "degree_north", "y"}:
        return "lat"
    if names & {"longitude", "lon", "nblongitudes", "degrees_east", "degree_east", "x"}:
        return "lon"
    return None


def read_mdt_file(path: str | os.PathLike[str], lat: ArrayLike, lon: ArrayLike,
                  key: str = MDT_KEY) -> Mdt:
    """An MDT file's ``mdt``, bilinearly interpolated onto the product grid.

    Parameters
    ----------
    path : str or os.PathLike
        NetCDF file with a variable ``mdt`` (m) of dimensions (latitude, longitude) in either
        order, optionally with leading dimensions of length 1 (``time``); each of the two
        dimensions has a 1-D coordinate variable of the same name (degrees), strictly
        monotonic. Fill values and NaN are missing values.
    lat, lon : array_like
        Cell centres of the product grid, degrees, increasing.
    key : str
        Configuration key named in errors.

    Returns
    -------
    Mdt
        ``values`` on the grid: bilinear interpolation between the file's four surrounding
        cell centres, the weights of missing ones left out (NaN only where all four are
        missing); ``source`` names the file and its SHA-256.

    Raises
    ------
    varnet.config.ConfigError
        Naming ``key`` and the file: it cannot be opened, has no ``mdt``, ``mdt`` is not in
        metres or not on a latitude / longitude grid, the grid does not cover every product
        cell centre, or it holds no value over the region.
    """
    path = Path(path)
    lat_p = np.asarray(lat, dtype=np.float64)
    lon_p = np.asarray(lon, dtype=np.float64)
    if not path.is_file():
        raise _refuse(path, "does not exist or is not a file", key)
    try:
        ds = netCDF4.Dataset(path)
    except OSError as exc:
        raise _refuse(path, f"cannot be opened as NetCDF ({exc})", key) from None
    with ds:
        if "mdt" not in ds.variables:
            raise _refuse(path, "has no variable 'mdt' (found: "
                          f"{', '.join(sorted(ds.variables)) or 'none'})", key)
        var = ds.variables["mdt"]
        units = str(getattr(var, "units", "")).strip()
        if units.lower() not in _METRES:
            raise _refuse(path, f"variable 'mdt' has units {units or '(none)'!r}; expected "
                          "metres ('m')", key)
        dims = var.dimensions
        axes = [_axis_name(ds, d) for d in dims]
        extra = [d for d, a in zip(dims, axes, strict=True) if a is None]
        if sorted(a for a in axes if a) != ["lat", "lon"] or any(
                ds.dimensions[d].size != 1 for d in extra):
            raise _refuse(path, f"variable 'mdt' has dimensions {dims}; expected latitude and "
                          "longitude (and leading dimensions of length 1)", key)
        lat_dim = dims[axes.index("lat")]
        lon_dim = dims[axes.index("lon")]
        if lat_dim not in ds.variables or lon_dim not in ds.variables:
            raise _refuse(path, f"no coordinate variable for dimension "
                          f"{lat_dim if lat_dim not in ds.variables else lon_dim!r}", key)
        lat_f = np.asarray(ds.variables[lat_dim][:], dtype=np.float64)
        lon_f = np.asarray(ds.variables[lon_dim][:], dtype=np.float64)
        index = tuple(0 if d in extra else slice(None) for d in dims)
        var.set_auto_maskandscale(True)
        raw = np.ma.filled(np.ma.asarray(var[index]).astype(np.float64), np.nan)
    if axes.index("lat") > axes.index("lon"):
        raw = raw.T
    for name, axis in (("latitude", lat_f), ("longitude", lon_f)):
        steps = np.diff(axis)
        if axis.size < 2 or not np.isfinite(axis).all() or not (
                (steps > 0).all() or (steps < 0).all()):
            raise _refuse(path, f"its {name} axis is not finite and strictly monotonic", key)
    if lat_f[0] > lat_f[-1]:
        lat_f, raw = lat_f[::-1], raw[::-1]
    if lon_f[0] > lon_f[-1]:
        lon_f, raw = lon_f[::-1], raw[:, ::-1]
    raw = np.where(np.isfinite(raw), raw, np.nan)
    # longitudes of the product in the file's convention; a file spanning 360 degrees wraps
    eps = 1e-9
    lon_q = lon_f[0] - eps + np.mod(lon_p - lon_f[0] + eps, 360.0)
    step = (lon_f[-1] - lon_f[0]) / (lon_f.size - 1)
    if (lon_f[-1] - lon_f[0]) + step >= 360.0 - 1e-6:
        lon_f = np.append(lon_f, lon_f[0] + 360.0)
        raw = np.concatenate([raw, raw[:, :1]], axis=1)
    outside_lat = (lat_p < lat_f[0] - eps) | (lat_p > lat_f[-1] + eps)
    outside_lon = lon_q > lon_f[-1] + eps
    if outside_lat.any() or outside_lon.any():
        raise _refuse(
            path, f"does not cover the product region: its grid spans {lat_f[0]:g} to "
            f"{lat_f[-1]:g} N, {lon_f[0]:g} to {lon_f[-1]:g} E; the product's cell centres "
            f"span {lat_p[0]:g} to {lat_p[-1]:g} N, {lon_p[0]:g} to {lon_p[-1]:g} E "
            f"({int(outside_lat.sum())} rows, {int(outside_lon.sum())} columns outside)", key)
    values = _bilinear(lat_f, lon_f, raw, lat_p, np.clip(lon_q, lon_f[0], lon_f[-1]))
    if not np.isfinite(values).any():
        raise _refuse(path, "'mdt' holds no value over the product region", key)
    sha = _sha256(path)
    return Mdt(values, f"file {path.name} (sha256 {sha}), variable mdt interpolated "
                       "bilinearly onto the product grid")


def _bilinear(y: np.ndarray, x: np.ndarray, z: np.ndarray, yq: np.ndarray,
              xq: np.ndarray) -> NDArray[np.float64]:
    """Bilinear interpolation of ``z(y, x)`` at the grid ``yq`` x ``xq`` (all within range),
    missing corners left out of the weights."""
    def locate(axis: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        i = np.clip(np.searchsorted(axis, q, side="right") - 1, 0, axis.size - 2)
        w = np.clip((q - axis[i]) / (axis[i + 1] - axis[i]), 0.0, 1.0)
        return i, w

    j, wy = locate(y, yq)
    i, wx = locate(x, xq)
    total = np.zeros((yq.size, xq.size))
    weight = np.zeros_like(total)
    for dj, fy in ((0, 1.0 - wy), (1, wy)):
        for di, fx in ((0, 1.0 - wx), (1, wx)):
            corner = z[np.ix_(j + dj, i + di)]
            w = fy[:, None] * fx[None, :] * np.isfinite(corner)
            total += w * np.nan_to_num(corner)
            weight += w
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 0, total / np.where(weight > 0, weight, 1.0), np.nan)


# --------------------------------------------------------------------------------------------
# from the along-track inputs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TrackMdtCells:
    """The along-track MDT of a product's inputs, binned on its grid (with a margin).

    Attributes
    ----------
    lat, lon : numpy.ndarray
        float64 (n,): mean position of the points of each observed cell, degrees (longitude
        in the product grid's convention).
    mdt : numpy.ndarray
        float64 (n,): mean MDT of those points, m.
    points : int
        Points with an MDT that entered the cells.
    """

    lat: NDArray[np.float64]
    lon: NDArray[np.float64]
    mdt: NDArray[np.float64]
    points: int

    def __len__(self) -> int:
        return int(self.mdt.size)


def _regular_step(axis: np.ndarray) -> float:
    return float((axis[-1] - axis[0]) / (axis.size - 1))


def track_mdt_cells(track: AlongTrack, lat: ArrayLike, lon: ArrayLike,
                    margin_deg: float = MARGIN_DEG) -> TrackMdtCells | None:
    """Cell means of the along-track MDT on the product grid extended by ``margin_deg``.

    Parameters
    ----------
    track : AlongTrack
        The points read for the product (any number of days and missions).
    lat, lon : array_like
        Regular cell centres of the product grid, degrees, increasing.
    margin_deg : float
        Points up to this far outside the grid are binned too, on the grid's extension.

    Returns
    -------
    TrackMdtCells or None
        None when the points carry no MDT (``track.mdt`` is None, or NaN at every point of the
        extended grid).
    """
    if track.mdt is None or len(track) == 0:
        return None
    lat_a = np.asarray(lat, dtype=np.float64)
    lon_a = np.asarray(lon, dtype=np.float64)
    dy, dx = _regular_step(lat_a), _regular_step(lon_a)
    my, mx = math.ceil(margin_deg / dy), math.ceil(margin_deg / dx)
    ny, nx = lat_a.size + 2 * my, lon_a.size + 2 * mx
    y0 = lat_a[0] - (my + 0.5) * dy  # south edge of the extended grid
    x0 = lon_a[0] - (mx + 0.5) * dx  # west edge
    plon = x0 + np.mod(track.longitude - x0, 360.0)
    j = np.floor((track.latitude - y0) / dy).astype(np.int64)
    i = np.floor((plon - x0) / dx).astype(np.int64)
    keep = np.isfinite(track.mdt) & (j >= 0) & (j < ny) & (i >= 0) & (i < nx)
    if not keep.any():
        return None
    cell = j[keep] * nx + i[keep]
    count = np.bincount(cell, minlength=ny * nx)
    seen = np.flatnonzero(count)
    n = count[seen]

    def mean(values: np.ndarray) -> np.ndarray:
        return np.bincount(cell, weights=values[keep], minlength=ny * nx)[seen] / n

    return TrackMdtCells(lat=mean(track.latitude), lon=mean(plon), mdt=mean(track.mdt),
                         points=int(keep.sum()))


def mdt_from_cells(cells: TrackMdtCells | None, lat: ArrayLike, lon: ArrayLike,
                   what: str = "the along-track input files") -> Mdt | None:
    """The MDT on the product grid from the along-track cell means.

    Linear interpolation on the Delaunay triangulation of the cells (in the plane
    :math:`x = (\\lambda - \\lambda_0)\\cos\\phi_0`, :math:`y = \\phi`, :math:`\\phi_0` the grid's
    central latitude), the nearest cell's value outside their convex hull.

    Parameters
    ----------
    cells : TrackMdtCells or None
        From :func:`track_mdt_cells`.
    lat, lon : array_like
        Cell centres of the product grid, degrees.
    what : str
        The inputs, as ``mdt_source`` names them.

    Returns
    -------
    Mdt or None
        None without cells, with fewer than :data:`MIN_CELLS`, or when they all lie on one
        line (nothing to interpolate between).
    """
    from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator
    from scipy.spatial import QhullError

    if cells is None or len(cells) < MIN_CELLS:
        return None
    lat_a = np.asarray(lat, dtype=np.float64)
    lon_a = np.asarray(lon, dtype=np.float64)
    lat0 = 0.5 * (lat_a[0] + lat_a[-1])
    lon0 = 0.5 * (lon_a[0] + lon_a[-1])
    scale = math.cos(math.radians(lat0))
    points = np.column_stack([(cells.lon - lon0) * scale, cells.lat])
    qx, qy = np.meshgrid((lon_a - lon0) * scale, lat_a)
    query = np.column_stack([qx.ravel(), qy.ravel()])
    try:
        # one BLAS thread: on a busy machine the threaded BLAS of Qhull's small solves took
        # 23 s instead of 8 ms (measured), for the same values
        with threadpool_limits(limits=1, user_api="blas"):
            values = LinearNDInterpolator(points, cells.mdt)(query)
    except QhullError:
        return None
    outside = ~np.isfinite(values)
    if outside.any():
        values[outside] = NearestNDInterpolator(points, cells.mdt)(query[outside])
    inside = lat_a.size * lon_a.size - int(outside.sum())
    source = (f"along-track mdt of {what}: {cells.points} points, averaged in "
              f"{len(cells)} cells of the product grid (extended by {MARGIN_DEG:g} degree) at "
              f"their points' mean position, then interpolated linearly between cells "
              f"(Delaunay, longitude scaled by cos {lat0:.2f} N); {inside} of "
              f"{values.size} product cells inside the observed cells' convex hull, the "
              f"others take the nearest cell's value")
    return Mdt(values.reshape(lat_a.size, lon_a.size), source)
