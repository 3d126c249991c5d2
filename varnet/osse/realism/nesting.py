"""A fine grid's cells nested in a coarse product's cells: :func:`nest` checks that they nest
(the same whole number of fine cells per coarse cell along both axes, edges on coarse edges)
and gives the :class:`Nesting`, whose :meth:`Nesting.apply` takes block means over each coarse
cell's fine sea cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from varnet.datamodel.grid import Grid, block_mean
from varnet.errors import InputError

__all__ = ["NEST_TOL_DEG", "Nesting", "nest"]

#: Tolerance on the nesting of cell edges and on cell-size ratios, degrees.
NEST_TOL_DEG = 1e-6


@dataclass(frozen=True)
class Nesting:
    """How the cells of a fine grid nest in coarse cells (made by :func:`nest`).

    Attributes
    ----------
    fine : Grid
        The fine grid, with its sea mask.
    grid : Grid
        The coarse cells wholly covered by the fine grid; sea where at least half of their
        fine cells are sea.
    factor : int
        Fine cells per coarse cell along each axis.
    rows, cols : slice
        The fine rows and columns inside ``grid``'s cells.
    """

    fine: Grid
    grid: Grid
    factor: int
    rows: slice
    cols: slice

    def apply(self, values: ArrayLike) -> NDArray[np.float64]:
        """Block means of ``values`` over each coarse cell's fine sea cells.

        Parameters
        ----------
        values : array_like, shape (..., ny, nx)
            A field on the fine grid, any unit; NaN values are left out of the means.

        Returns
        -------
        numpy.ndarray of float64, shape (..., *grid.shape)
            In the unit of ``values``; NaN on coarse land cells.
        """
        fine = self.fine.mask_land(np.asarray(values, dtype=np.float64))
        return self.grid.mask_land(block_mean(fine[..., self.rows, self.cols], self.factor))


def _factor(fine: Grid, coarse: Grid) -> int:
    """Fine cells per coarse cell, the same integer along both axes, or InputError."""
    factors = []
    for f, c in zip(fine.resolution_deg, coarse.resolution_deg, strict=True):
        ratio = c / f
        k = round(ratio)
        if k < 1 or abs(ratio - k) * f > NEST_TOL_DEG:
            factors.append(None)
        else:
            factors.append(k)
    if factors[0] is None or factors[0] != factors[1]:
        raise InputError(f"the cells of {fine!r} do not nest in those of {coarse!r}: the "
                         "coarse cell size must be the same whole number of fine cells along "
                         "both axes")
    return int(factors[0])


def _covered(fine: NDArray[np.float64], coarse: NDArray[np.float64], factor: int,
             period: float | None) -> tuple[slice, str | None]:
    """The fine cells (along one axis) inside the coarse cells that they cover wholly, or
    why the edges do not nest; ``period`` (360 for longitudes) aligns the conventions."""
    step = (fine[-1] - fine[0]) / (fine.size - 1)
    fine_edge = fine[0] - step / 2
    coarse_edge = coarse[0] - step * factor / 2
    if period is not None:
        coarse_edge += period * round((fine_edge - coarse_edge) / period)
    offset = (fine_edge - coarse_edge) / step
    if abs(offset - round(offset)) * step > NEST_TOL_DEG:
        return slice(0, 0), (f"edge {fine_edge:g} lies {abs(offset - round(offset)):.3g} fine "
                             "cells off the coarse edges")
    start = (-round(offset)) % factor
    count = (fine.size - start) // factor
    if count < 2:
        return slice(0, 0), "fewer than 2 coarse cells lie wholly inside the fine cells"
    return slice(start, start + count * factor), None


def nest(fine: Grid, coarse: Grid) -> Nesting:
    """How ``fine``'s cells nest in the cells of ``coarse``'s lattice.

    Parameters
    ----------
    fine : Grid
        The fine grid (the truth's), with its sea mask.
    coarse : Grid
        Any cells of the coarse lattice (the real product's); only their size and position
        count, its mask is not used. Longitudes may differ from ``fine``'s by 360 degrees.

    Returns
    -------
    Nesting
        Over every coarse cell of the lattice that the fine cells cover wholly.

    Raises
    ------
    InputError
        If the coarse cells are not the same whole number of fine cells along both axes, the
        fine cell edges do not fall on coarse edges, or fewer than 2 x 2 coarse cells are
        covered (the message names both grids).
    """
    factor = _factor(fine, coarse)
    rows, why_lat = _covered(fine.lat, coarse.lat, factor, None)
    cols, why_lon = _covered(fine.lon, coarse.lon, factor, 360.0)
    for axis, why in (("lat", why_lat), ("lon", why_lon)):
        if why is not None:
            raise InputError(f"the cells of {fine!r} do not nest in those of {coarse!r}: "
                             f"{axis}: {why}")
    covered = Grid(fine.lat[rows], fine.lon[cols], fine.ocean[rows, cols], fine.name)
    return Nesting(fine, covered.coarsened(factor), factor, rows, cols)
