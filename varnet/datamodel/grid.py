"""The grid every stage works on: cell centres, the ocean mask, a name.

A :class:`Grid` is built once (from the operations configuration's ``[region]``, from a
synthetic ocean's truth file, from a model's metadata) and handed to every stage: observation
gridding, the optimal interpolation, the model's inputs, the stitcher, the derived fields, the
scores and the product writer. It replaces the separate notions of a grid the code had (the
synthetic ocean's box, the operations region, the inputs' model grid, the model metadata's
grid dictionary, the checkpoint's grid).

Conventions
-----------
- Cell centres in degrees, regular and strictly ascending along each axis; latitudes within
  [-90, 90]; longitudes in any convention, spanning less than 360 degrees.
- ``ocean`` is True on sea cells. A cell is land or sea as a whole: stages never estimate,
  score or write a value on land (products hold their ``_FillValue`` there). A grid without
  land (``Grid.open_ocean``) behaves exactly as the code did before land existed.
- A *lattice* is the infinite regular grid through a grid's cells (origin, step): a model
  trained on one region runs on any region of its lattice (:meth:`Grid.on_lattice`).

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

from varnet.config import positive_int
from varnet.kernels.binning import regular_centres
from varnet.kernels.finite_differences import EARTH_RADIUS_M

__all__ = ["LATTICE_TOLERANCE_DEG", "Grid", "block_mean"]

#: Relative tolerance on the regularity of an axis: every centre lies within this fraction of
#: a step of the regular lattice through the first and last centres.
_REGULAR_TOL = 1e-3
#: Tolerance on comparisons of lattices (origins, steps), degrees.
LATTICE_TOLERANCE_DEG = 1e-6


def _axis(values: ArrayLike, name: str) -> NDArray[np.float64]:
    """Validate one axis of cell centres (1-D, finite, >= 2, ascending, regular); return a
    read-only copy, so that the grid owns its arrays."""
    a = np.array(regular_centres(values, name, tolerance=_REGULAR_TOL))
    a.flags.writeable = False
    return a


def _ocean(values: ArrayLike | None, shape: tuple[int, int]) -> NDArray[np.bool_]:
    if values is None:
        mask = np.ones(shape, dtype=bool)
    else:
        raw = np.asarray(values)
        if raw.shape != shape:
            raise ValueError(f"ocean: expected a mask of shape {shape} (lat, lon), got "
                             f"{raw.shape}")
        if raw.dtype != np.bool_:
            raise ValueError(f"ocean: expected a boolean mask (True on sea), got dtype "
                             f"{raw.dtype}")
        mask = raw.copy()
    mask.flags.writeable = False
    return mask


def _unit_vectors(lat_deg: NDArray[np.float64], lon_deg: NDArray[np.float64]
                  ) -> NDArray[np.float64]:
    """Points on the unit sphere, shape ``(..., 3)``, of latitudes and longitudes in degrees
    (same shape)."""
    phi, lam = np.deg2rad(lat_deg), np.deg2rad(lon_deg)
    return np.stack((np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)),
                    axis=-1)


def _positive_km(value: object, name: str) -> float:
    """``value`` as a positive, finite distance in km, or a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, Real) or not 0.0 < value < math.inf:
        raise ValueError(f"{name}: must be a positive, finite distance in km, got {value!r}")
    return float(value)


@dataclass(frozen=True, eq=False)
class Grid:
    """A regular lon/lat grid of cell centres with its ocean mask.

    Parameters
    ----------
    lat : array_like of float, shape (ny,)
        Latitudes of the cell centres, degrees north, regular and strictly ascending, within
        [-90, 90], at least 2.
    lon : array_like of float, shape (nx,)
        Longitudes of the cell centres, degrees east (any convention), regular and strictly
        ascending, spanning less than 360 degrees, at least 2.
    ocean : array_like of bool, shape (ny, nx), optional
        True on sea cells; all sea when None.
    name : str, default "grid"
        What the grid is, for messages and products (e.g. the operations configuration's
        name).

    Attributes
    ----------
    lat, lon : numpy.ndarray of float64
        Read-only copies of the centres, degrees.
    ocean : numpy.ndarray of bool, shape (ny, nx)
        Read-only copy of the mask, True on sea.
    name : str

    Raises
    ------
    ValueError
        If an axis is not 1-D, has fewer than 2 centres, is not finite, ascending and regular,
        or the latitudes leave [-90, 90] or the longitudes span 360 degrees or more (the
        message names the axis); or the mask is not boolean of shape (ny, nx), or has no sea.
    """

    lat: NDArray[np.float64]
    lon: NDArray[np.float64]
    ocean: NDArray[np.bool_] | None = None
    name: str = "grid"

    def __post_init__(self) -> None:
        lat = _axis(self.lat, "lat")
        lon = _axis(self.lon, "lon")
        if lat[0] < -90.0 or lat[-1] > 90.0:
            raise ValueError(f"lat: cell centres must lie within [-90, 90] degrees, got "
                             f"{lat[0]:g} to {lat[-1]:g}")
        if (lon[-1] - lon[0]) * lon.size / (lon.size - 1) > 360.0 + 1e-9:
            raise ValueError("lon: the grid's cells span more than 360 degrees of longitude")
        ocean = _ocean(self.ocean, (lat.size, lon.size))
        if not ocean.any():
            raise ValueError(f"ocean: the mask of grid '{self.name}' has no sea cell")
        object.__setattr__(self, "lat", lat)
        object.__setattr__(self, "lon", lon)
        object.__setattr__(self, "ocean", ocean)

    # --- construction ---------------------------------------------------------------------

    @classmethod
    def regular(cls, lat0: float, lon0: float, resolution_deg: float, shape: tuple[int, int],
                *, ocean: ArrayLike | None = None, name: str = "grid") -> Grid:
        """The grid of ``shape`` cells of ``resolution_deg`` from the centre (lat0, lon0).

        Parameters
        ----------
        lat0, lon0 : float
            Centre of the south-west cell, degrees north and east.
        resolution_deg : float
            Cell size along both axes, degrees, positive.
        shape : tuple of int
            ``(ny, nx)``, each at least 2.
        ocean : array_like of bool, shape (ny, nx), optional
            True on sea cells; all sea when None.
        name : str, default "grid"

        Returns
        -------
        Grid
        """
        if not (isinstance(resolution_deg, int | float) and resolution_deg > 0):
            raise ValueError(f"resolution_deg: must be a positive number of degrees, got "
                             f"{resolution_deg!r}")
        ny, nx = (positive_int(n, f"shape[{i}]") for i, n in enumerate(shape))
        lat = lat0 + resolution_deg * np.arange(ny, dtype=np.float64)
        lon = lon0 + resolution_deg * np.arange(nx, dtype=np.float64)
        return cls(lat, lon, ocean, name)

    def coarsened(self, factor: int) -> Grid:
        """The grid whose cells are ``factor x factor`` blocks of this grid's cells.

        A coarse cell is sea where at least half of its fine cells are sea.

        Parameters
        ----------
        factor : int
            Cells of this grid per coarse cell along each axis, at least 1; ``ny`` and ``nx``
            must be multiples of it.

        Returns
        -------
        Grid
            Shape ``(ny // factor, nx // factor)``; each centre is the mean of the centres of
            its block (so the coarse cells tile the fine ones exactly); same name.

        Raises
        ------
        ValueError
            If ``factor`` is not a positive integer or a size is not divisible by it (the
            message names the axis).
        """
        factor = positive_int(factor, "factor")
        centres = []
        for name, fine in (("lat", self.lat), ("lon", self.lon)):
            if fine.size % factor:
                raise ValueError(f"{name}: {fine.size} cells are not divisible by the "
                                 f"coarsening factor {factor}")
            centres.append(fine.reshape(-1, factor).mean(axis=1))
        sea = block_mean(self.ocean.astype(np.float64), factor) >= 0.5
        return Grid(centres[0], centres[1], sea, self.name)

    def with_ocean(self, ocean: ArrayLike | None) -> Grid:
        """The same cells with another ocean mask (all sea when None)."""
        return Grid(self.lat, self.lon, ocean, self.name)

    # --- what it is ----------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, int]:
        """Number of cells ``(ny, nx)``."""
        return (self.lat.size, self.lon.size)

    @property
    def resolution_deg(self) -> tuple[float, float]:
        """Cell size ``(latitude step, longitude step)``, degrees."""
        return (float((self.lat[-1] - self.lat[0]) / (self.lat.size - 1)),
                float((self.lon[-1] - self.lon[0]) / (self.lon.size - 1)))

    @property
    def land(self) -> NDArray[np.bool_]:
        """True on land cells, shape (ny, nx) (a new array)."""
        return ~self.ocean

    @property
    def open_ocean(self) -> bool:
        """Whether every cell is sea (no land: stages behave as before land existed)."""
        return bool(self.ocean.all())

    @property
    def sea_fraction(self) -> float:
        """Fraction of the cells that are sea, in (0, 1]."""
        return float(self.ocean.mean())

    def distance_to_land_km(self) -> NDArray[np.float64]:
        """Great-circle distance from each cell centre to the nearest land cell centre, km.

        Distances are between cell centres on a sphere of radius
        :data:`~varnet.kernels.finite_differences.EARTH_RADIUS_M`: a sea cell next to land
        along a row is about ``R cos(lat) dlon`` away (4.4 km on a 0.05 degree grid at 38 N),
        along a column ``R dlat``. They are found with a k-d tree
        (:class:`scipy.spatial.cKDTree`) on the centres' 3-D unit vectors: the nearest land
        centre by chord is the nearest by arc, and the chord ``c`` gives the arc
        ``2 R asin(c / 2)`` exactly, at any latitude, in any longitude convention and across
        the antimeridian. (A Euclidean distance transform with one ``sampling`` per axis
        would take one cell width for every row, while ``cos(lat)`` changes by 15 % over
        a 12 degree box at 38 N.)

        Returns
        -------
        numpy.ndarray of float64, shape (ny, nx)
            Distance in km: 0 on land, ``inf`` everywhere on a grid without land.
        """
        if self.open_ocean:
            return np.full(self.shape, np.inf)
        lat, lon = np.meshgrid(self.lat, self.lon, indexing="ij")
        points = _unit_vectors(lat, lon)
        chord, _ = cKDTree(points[self.land]).query(points[self.ocean])
        distance = np.zeros(self.shape)
        distance[self.ocean] = (2.0e-3 * EARTH_RADIUS_M
                                * np.arcsin(np.minimum(0.5 * chord, 1.0)))
        return distance

    def coastal_band(self, band_km: float) -> NDArray[np.bool_]:
        """The sea cells whose centre is within ``band_km`` of a land cell centre.

        Parameters
        ----------
        band_km : float
            Width of the band, km, positive and finite. A cell at exactly ``band_km`` from
            land is in the band.

        Returns
        -------
        numpy.ndarray of bool, shape (ny, nx)
            True on the sea cells of the band (a new array); all False on a grid without
            land. ``grid.ocean & ~grid.coastal_band(band_km)`` is the sea beyond the band.

        Raises
        ------
        ValueError
            If ``band_km`` is not a positive, finite number (the message names the value).

        See Also
        --------
        distance_to_land_km : how distances are measured.
        """
        band_km = _positive_km(band_km, "band_km")
        return self.ocean & (self.distance_to_land_km() <= band_km)

    def extent(self) -> str:
        """The cell-centre extent in words, for messages."""
        return (f"{self.lat[0]:g} to {self.lat[-1]:g} N, {self.lon[0]:g} to {self.lon[-1]:g} "
                "E, cell centres")

    def mask_land(self, values: ArrayLike, fill: float = np.nan) -> NDArray[np.floating]:
        """A copy of ``values`` with ``fill`` on land.

        Parameters
        ----------
        values : array_like of float, shape (..., ny, nx)
            Gridded values in any unit.
        fill : float, default NaN
            Value written on land cells, in the unit of ``values``.

        Returns
        -------
        numpy.ndarray
            Same shape and floating dtype as ``values`` (float64 for integer input).
        """
        a = np.asarray(values)
        if a.shape[-2:] != self.shape:
            raise ValueError(f"values: expected trailing dimensions {self.shape} (lat, lon), "
                             f"got shape {a.shape}")
        out = np.array(a, dtype=a.dtype if np.issubdtype(a.dtype, np.floating) else np.float64)
        if not self.open_ocean:
            out[..., ~self.ocean] = fill
        return out

    # --- lattices ------------------------------------------------------------------------

    def lattice(self) -> dict[str, Any]:
        """The grid's lattice and size as plain values (model metadata, checkpoints).

        Returns
        -------
        dict
            ``lat0``, ``lon0`` (centre of the south-west cell, degrees), ``resolution_deg``
            (the step between the first two latitudes, degrees) and ``shape`` ``[ny, nx]``.
        """
        return {"lat0": float(self.lat[0]), "lon0": float(self.lon[0]),
                "resolution_deg": float(self.lat[1] - self.lat[0]), "shape": list(self.shape)}

    @classmethod
    def from_lattice(cls, lattice: dict[str, Any], *, ocean: ArrayLike | None = None,
                     name: str = "grid") -> Grid:
        """The grid described by :meth:`lattice`'s values (all sea unless ``ocean``)."""
        return cls.regular(float(lattice["lat0"]), float(lattice["lon0"]),
                           float(lattice["resolution_deg"]), tuple(lattice["shape"]),
                           ocean=ocean, name=name)

    def on_lattice(self, lat0: float, lon0: float, resolution_deg: float,
                   tolerance_deg: float = LATTICE_TOLERANCE_DEG) -> str | None:
        """Why this grid's cells are not on the lattice ``(lat0, lon0) + k x resolution_deg``.

        Parameters
        ----------
        lat0, lon0 : float
            A cell centre of the lattice, degrees.
        resolution_deg : float
            The lattice's step along both axes, degrees.
        tolerance_deg : float, optional
            Tolerance on positions and steps, degrees.

        Returns
        -------
        str or None
            None when every cell of this grid is a cell of the lattice, else the reason
            (naming ``resolution_deg``, ``lat0`` or ``lon0``).
        """
        for axis, step in zip(("lat", "lon"), self.resolution_deg, strict=True):
            if not math.isclose(step, resolution_deg, abs_tol=tolerance_deg):
                return (f"resolution_deg: the grid's {axis} step is {step:g} degree, the "
                        f"lattice's {resolution_deg:g} degree")
        for name, value, origin in (("lat0", self.lat[0], lat0), ("lon0", self.lon[0], lon0)):
            offset = (float(value) - float(origin)) / resolution_deg
            if abs(offset - round(offset)) * resolution_deg > tolerance_deg:
                return (f"{name}: cell centre {float(value):g} is not on the lattice "
                        f"({origin} + k x {resolution_deg} degree)")
        return None

    # --- comparison ----------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Grid):
            return NotImplemented
        return bool(np.array_equal(self.lat, other.lat) and np.array_equal(self.lon, other.lon)
                    and np.array_equal(self.ocean, other.ocean))

    __hash__ = None  # numpy fields: equality by value, no hashing

    def __repr__(self) -> str:
        land = "" if self.open_ocean else f", {100 * (1 - self.sea_fraction):.1f}% land"
        return (f"Grid('{self.name}', {self.shape[0]} x {self.shape[1]} cells of "
                f"{self.resolution_deg[0]:g} degree from ({self.lat[0]:g} N, "
                f"{self.lon[0]:g} E){land})")


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
