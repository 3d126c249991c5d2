"""The latitude/longitude box measured: :class:`Box`, parsed from ``--box``, with the rows and
columns of a grid whose centres lie in it, longitudes brought to its convention, and whether a
grid's cells cover it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from varnet.datamodel.grid import Grid
from varnet.errors import InputError
from varnet.osse.realism.nesting import NEST_TOL_DEG

__all__ = ["Box"]


@dataclass(frozen=True)
class Box:
    """A latitude/longitude box; a grid cell belongs to it when its centre lies inside.

    Parameters
    ----------
    lat_min, lat_max : float
        Southern and northern limits, degrees north.
    lon_min, lon_max : float
        Western and eastern limits, degrees east, in the convention the results use (the
        real product's longitudes are brought to it).

    Raises
    ------
    InputError
        If a limit is not finite, the latitudes leave [-90, 90], or a minimum is not below
        its maximum, or the box spans 360 degrees of longitude or more.
    """

    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float

    def __post_init__(self) -> None:
        if not all(math.isfinite(x) for x in (self.lat_min, self.lat_max, self.lon_min,
                                               self.lon_max)):
            raise InputError(f"box {self}: limits must be finite numbers")
        if not -90.0 <= self.lat_min < self.lat_max <= 90.0:
            raise InputError(f"box {self}: expected -90 <= lat_min < lat_max <= 90")
        if not 0.0 < self.lon_max - self.lon_min < 360.0:
            raise InputError(f"box {self}: expected lon_min < lon_max < lon_min + 360")

    @classmethod
    def parse(cls, text: str) -> Box:
        """The box of ``"lat_min,lat_max,lon_min,lon_max"`` (degrees, e.g. ``33,43,-65,-55``).

        Raises
        ------
        InputError
            If ``text`` is not four comma-separated numbers, or they make no box.
        """
        parts = text.split(",")
        try:
            values = [float(p) for p in parts]
        except ValueError:
            values = []
        if len(values) != 4:
            raise InputError(f"--box {text!r}: expected four numbers lat_min,lat_max,lon_min,"
                             "lon_max in degrees, e.g. 33,43,-65,-55")
        return cls(*values)

    def longitudes(self, lon: ArrayLike) -> NDArray[np.float64]:
        """``lon`` (degrees east, any convention) within 180 degrees of the box's centre, so
        that the box's own longitudes are unchanged."""
        centre = 0.5 * (self.lon_min + self.lon_max)
        return centre + np.mod(np.asarray(lon, dtype=np.float64) - centre + 180.0, 360.0) - 180.0

    def cells(self, grid: Grid) -> tuple[slice, slice]:
        """The rows and columns of ``grid`` whose centres lie in the box (possibly empty).

        Raises
        ------
        InputError
            If the box's columns are not contiguous in ``grid`` (the box straddles the
            grid's longitude seam).
        """
        lon = self.longitudes(grid.lon)
        rows = np.flatnonzero((grid.lat >= self.lat_min) & (grid.lat <= self.lat_max))
        cols = np.flatnonzero((lon >= self.lon_min) & (lon <= self.lon_max))
        if cols.size and cols[-1] - cols[0] + 1 != cols.size:
            raise InputError(f"the box {self} straddles the longitude seam of {grid!r}")
        return (slice(int(rows[0]), int(rows[-1]) + 1) if rows.size else slice(0, 0),
                slice(int(cols[0]), int(cols[-1]) + 1) if cols.size else slice(0, 0))

    def outside(self, grid: Grid) -> str | None:
        """Why ``grid``'s cells do not cover the box (None when they do, edges included)."""
        dlat, dlon = grid.resolution_deg
        west = float(self.longitudes(grid.lon[0] - dlon / 2))
        east = west + grid.lon.size * dlon
        if grid.lat[0] - dlat / 2 > self.lat_min + NEST_TOL_DEG or \
                grid.lat[-1] + dlat / 2 < self.lat_max - NEST_TOL_DEG or \
                west > self.lon_min + NEST_TOL_DEG or east < self.lon_max - NEST_TOL_DEG:
            return f"the box {self} is not inside its cells ({grid.extent()})"
        return None

    def __str__(self) -> str:
        return (f"{_span(self.lat_min, self.lat_max, ('S', 'N'))}, "
                f"{_span(_signed_lon(self.lon_min), _signed_lon(self.lon_max), ('W', 'E'))}")


def _signed_lon(lon: float) -> float:
    """``lon`` in [-180, 180), degrees east."""
    return (lon + 180.0) % 360.0 - 180.0


def _span(low: float, high: float, hemispheres: tuple[str, str]) -> str:
    """``"33-43 N"``, ``"65-55 W"`` or ``"5 W-10 E"`` for degrees north or east."""
    def word(x: float) -> str:
        return hemispheres[x >= 0]

    if word(low) == word(high):
        return f"{abs(low):g}-{abs(high):g} {word(low)}"
    return f"{abs(low):g} {word(low)}-{abs(high):g} {word(high)}"
