"""The sea a score table covers: all of it, or the sea beyond a coastal band.

Mapping skill degrades near coasts. Where the ocean has land, ``varnet-train evaluate`` and
``varnet-ops score`` give the paper's table twice: over every sea cell of the scored domain,
and over the sea beyond a coastal band (:data:`DEFAULT_COASTAL_BAND_KM` by default): the sea
cells whose centre is farther than the band from every land cell centre
(:meth:`varnet.datamodel.grid.Grid.coastal_band`, great-circle distances). The band is found
on the whole grid and then cropped to the scored domain, so land just outside the domain
still makes a coast. The band is sea, not land: the currents' derivatives at a cell beside
it keep their stencil (``scored`` of :func:`varnet.scores.score_table`); only the cells
scored change. On the open ocean there is one table, as before land existed.

No torch here: operations hosts import this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from varnet.datamodel.grid import Grid
from varnet.errors import InputError
from varnet.scores import MIN_SEA_FRACTION

__all__ = ["DEFAULT_COASTAL_BAND_KM", "ScoredSea", "scored_seas"]

#: Width of the coastal band left out of the second table, km.
DEFAULT_COASTAL_BAND_KM = 20.0


@dataclass(frozen=True, eq=False)
class ScoredSea:
    """The cells one score table covers.

    Attributes
    ----------
    sea : numpy.ndarray of bool, shape (lat, lon) of the scored domain, or None
        True on every sea cell, those the fields are derived from (``ocean`` of
        :func:`varnet.scores.score_table`); None on the open ocean (every cell: the table
        as before land existed).
    ocean : numpy.ndarray of bool, shape (lat, lon) of the scored domain, or None
        True on the sea cells scored (``scored`` of :func:`varnet.scores.score_table`): all
        of ``sea``, or those beyond the coastal band; None on the open ocean.
    suffix : str
        Added to the table's file names: ``""`` for all the sea, ``"_offshore_20km"`` for the
        sea beyond a coastal band of 20 km.
    coverage : str
        One sentence for the table's header saying which cells it scores (their number, the
        band); ``""`` on the open ocean.
    """

    sea: NDArray[np.bool_] | None
    ocean: NDArray[np.bool_] | None
    suffix: str
    coverage: str


def _all_sea(sea: NDArray[np.bool_]) -> ScoredSea:
    n_sea, n_cells = int(sea.sum()), sea.size
    return ScoredSea(sea, sea, "", f"Scored over all {n_sea} sea cells of the cropped domain "
                              f"({n_cells - n_sea} of its {n_cells} cells are land).")


def _offshore(sea: NDArray[np.bool_], band: NDArray[np.bool_], band_km: float) -> ScoredSea:
    """The sea of ``sea`` beyond the coastal ``band`` (both on the scored domain)."""
    offshore = sea & ~band
    fraction = float(offshore.mean())
    if fraction < MIN_SEA_FRACTION:
        raise InputError(
            f"coastal band {band_km:g} km: only {100.0 * fraction:.1f} % of the "
            f"{offshore.size} cells of the cropped domain are sea beyond it, below the "
            f"{100.0 * MIN_SEA_FRACTION:.0f} % the spectral scores need: give a narrower "
            "--coastal-band-km, or 0 to leave the offshore table out")
    return ScoredSea(sea, offshore, f"_offshore_{band_km:g}km",
                     f"Scored over the {int(offshore.sum())} sea cells of the cropped domain "
                     f"farther than {band_km:g} km from land (the {int((sea & band).sum())} "
                     f"sea cells of the {band_km:g} km coastal band left out of the scores, "
                     "not of the currents' derivatives).")


def scored_seas(grid: Grid, crop: int, coastal_band_km: float = DEFAULT_COASTAL_BAND_KM
                ) -> list[ScoredSea]:
    """The cells of each score table: all the sea, then the sea beyond the coastal band.

    Parameters
    ----------
    grid : Grid
        The grid the fields are scored on (the truth's), with its ocean mask.
    crop : int
        Cells left out of the scores on every side, at least 0: the scored domain is
        ``grid.ocean[crop:ny - crop, crop:nx - crop]``.
    coastal_band_km : float, default :data:`DEFAULT_COASTAL_BAND_KM`
        Width of the coastal band, km, at least 0; 0: no table beyond a band.

    Returns
    -------
    list of ScoredSea
        On a grid without land, one entry with ``ocean`` None. With land, all the sea of the
        scored domain; then, unless ``coastal_band_km`` is 0, the sea beyond the band.

    Raises
    ------
    varnet.errors.InputError
        If less than :data:`varnet.scores.MIN_SEA_FRACTION` of the scored domain is sea
        beyond the band (too little for the spectral scores; a :class:`ValueError` too).
    ValueError
        If ``coastal_band_km`` is negative or not finite (the message names the value).
    """
    if grid.open_ocean:
        return [ScoredSea(None, None, "", "")]
    ny, nx = grid.shape
    inner = (slice(crop, ny - crop), slice(crop, nx - crop))
    sea = grid.ocean[inner]
    seas = [_all_sea(sea)]
    if coastal_band_km != 0:
        seas.append(_offshore(sea, grid.coastal_band(coastal_band_km)[inner], coastal_band_km))
    return seas
