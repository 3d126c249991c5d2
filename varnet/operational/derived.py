r"""Derived fields of one day's reconstruction: geostrophy, vorticity, divergence, strain.

The 4DVarNet reconstructs, for each day, the sea level anomaly :math:`\eta'` (SLA, m: the
height above a mean sea surface) and the total surface current :math:`(u_o, v_o)` (m s-1) on a
regular longitude / latitude grid. :func:`derive_fields` computes from them, and from a mean
dynamic topography (MDT, m) where one is known, what the daily product holds besides those
three fields, under the names of the DUACS L4 products:

* ``ugosa``, ``vgosa``: the surface geostrophic velocity *anomaly*, geostrophy of the SLA,
  :math:`u_g' = -(g/f)\,\partial_y\eta'`, :math:`v_g' = (g/f)\,\partial_x\eta'` (m s-1);
* with an MDT only: ``adt`` = SLA + MDT, the absolute dynamic topography :math:`\eta` (m), and
  ``ugos``, ``vgos``, the *absolute* surface geostrophic velocity, geostrophy of the ADT
  (never of the anomaly);
* ``vorticity``, ``divergence``, ``strain``: relative vorticity :math:`\zeta`, horizontal
  divergence :math:`D` and total strain rate :math:`\sigma` of the reconstructed total
  current :math:`(u_o, v_o)` (s-1), with the metric terms of the sphere;
* ``vorticity_f``, ``divergence_f``, ``strain_f``: the same divided by :math:`|f|`
  (dimensionless; :math:`\zeta/|f|` is the local Rossby number, its sign is that of
  :math:`\zeta`, positive anticlockwise seen from above in both hemispheres).

Everything is computed by the numba kernels of :mod:`varnet.kernels.finite_differences`, whose
module docstring gives the exact formulas. Geostrophy is linear, so
``ugos - ugosa`` is the geostrophy of the MDT (where the MDT is defined wherever the SLA is,
the stencils are the same and the two agree to round-off).

Boundaries, land and missing values
-----------------------------------
NaN (any non-finite value) marks cells outside the domain, land and gaps. Derivatives are
centred second-order differences in the interior; at the edges of the grid and next to a NaN
cell they fall back to one-sided second-order differences (first-order when only one
neighbour is valid along that axis), so a field is NaN only where its input is NaN or where a
cell has no valid neighbour at all along one axis. NaN never spreads further: coastal cells
keep finite (one-sided) derivatives. The longitude axis is not periodic. ``ugosa``/``vgosa``
follow the NaN of the SLA, ``adt``/``ugos``/``vgos`` those of SLA + MDT; the current
diagnostics follow the NaN of ``uo`` or ``vo``.

A land mask makes the land explicit: with ``ocean`` (boolean, ``(nlat, nlon)``, True on sea
cells) every input field (SLA, ``uo``, ``vo``, MDT) is set to NaN on land *before* it is
differentiated, whatever it held there, so that derivatives at the coast are the one-sided
differences of the sea cells alone: no value on land (a model's output over land, a fill
value, an extrapolated MDT) ever reaches a sea cell. Every returned field is NaN on land.
Without ``ocean`` (None: all sea) nothing is masked and the results are exactly those of a
field that is NaN where it is missing.

Near the equator :math:`f \to 0` and neither geostrophy nor a division by :math:`|f|` is
meaningful: ``ugosa``, ``vgosa``, ``ugos``, ``vgos`` and the three ``*_f`` fields are NaN
wherever :math:`|\phi|` < ``equator_mask_deg`` (and wherever :math:`f = 0`); ``vorticity``,
``divergence`` and ``strain`` are defined everywhere.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from varnet.kernels.finite_differences import (
    coriolis_parameter,
    divergence,
    geostrophic_velocity,
    relative_vorticity,
    strain_rate,
)

__all__ = ["as_ocean_mask", "derive_fields"]



def _field(values: ArrayLike, name: str, shape: tuple[int, int]) -> NDArray[np.floating]:
    a = np.asarray(values)
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    if a.shape != shape:
        raise ValueError(f"{name} has shape {a.shape}, expected (lat, lon) = {shape}")
    return a


def as_ocean_mask(
    ocean: ArrayLike | None, shape: tuple[int, int]
) -> NDArray[np.bool_] | None:
    """Check a land / sea mask against a grid's shape.

    Parameters
    ----------
    ocean : array_like of bool, shape (nlat, nlon), optional
        True on sea cells, False on land. None means all sea.
    shape : tuple of int
        The grid's ``(nlat, nlon)``.

    Returns
    -------
    numpy.ndarray of bool or None
        ``ocean`` as a boolean array of shape ``shape`` (not copied when it is one already),
        or None when ``ocean`` is None.

    Raises
    ------
    TypeError
        If ``ocean`` is not boolean (a 0/100 sea-area fraction, for instance, is refused
        rather than guessed at).
    ValueError
        If its shape is not ``shape``.
    """
    if ocean is None:
        return None
    mask = np.asarray(ocean)
    if mask.dtype != np.bool_:
        raise TypeError(f"ocean must be a boolean array (True on sea cells), got dtype "
                        f"{mask.dtype}")
    if mask.shape != tuple(shape):
        raise ValueError(f"ocean has shape {mask.shape}, expected (lat, lon) = {tuple(shape)}")
    return mask


def _on_sea(a: NDArray[np.floating], land: NDArray[np.bool_]) -> NDArray[np.floating]:
    """A copy of ``a`` (same dtype) with NaN on land."""
    out = a.copy()
    out[land] = np.nan
    return out


def derive_fields(
    sla: ArrayLike,
    uo: ArrayLike,
    vo: ArrayLike,
    lat: ArrayLike,
    lon: ArrayLike,
    *,
    mdt: ArrayLike | None = None,
    equator_mask_deg: float = 5.0,
    ocean: ArrayLike | None = None,
) -> dict[str, NDArray[np.float64]]:
    r"""Geostrophic currents of the SLA (and ADT) and the kinematics of the total current.

    Parameters
    ----------
    sla : array_like
        Reconstructed sea level anomaly, m, shape ``(nlat, nlon)``; NaN outside the domain
        and over land.
    uo, vo : array_like
        Reconstructed total surface current, eastward and northward, m s-1, shape
        ``(nlat, nlon)``; NaN outside the domain and over land.
    lat : array_like
        Latitudes of the cell centres, degrees north, shape ``(nlat,)``, strictly increasing
        and regularly spaced.
    lon : array_like
        Longitudes of the cell centres, degrees east, shape ``(nlon,)``, strictly increasing
        and regularly spaced (not treated as periodic).
    mdt : array_like, optional
        Mean dynamic topography on the same grid, m, NaN where unknown. When given, the
        absolute dynamic topography ``adt = sla + mdt`` and its geostrophic current ``ugos``,
        ``vgos`` are returned too.
    equator_mask_deg : float, default 5.0
        Half-width, degrees, of the equatorial band where the geostrophic currents and the
        ``*_f`` fields are NaN (see the module docstring). Must be finite and >= 0.
    ocean : numpy.ndarray of bool, shape (nlat, nlon), optional
        Land / sea mask, True on sea cells. The SLA, ``uo``, ``vo`` and the MDT are set to
        NaN on land before they are differentiated (derivatives at the coast are one-sided,
        from sea cells only; no land value reaches a sea cell), and every returned field is
        NaN on land. None (default) means all sea: nothing is masked, results are exactly
        those without the argument.

    Returns
    -------
    dict of str to numpy.ndarray
        Float64 arrays of shape ``(nlat, nlon)``, keys
        :data:`~varnet.datamodel.variables.DERIVED_VARIABLES` (and
        :data:`~varnet.datamodel.variables.ABSOLUTE_VARIABLES` with ``mdt``): ``ugosa``,
        ``vgosa`` (m s-1, geostrophy of the SLA), ``vorticity``, ``divergence``, ``strain``
        (s-1), ``vorticity_f``, ``divergence_f``, ``strain_f`` (dimensionless, divided by
        :math:`|f|`, :math:`f = 2\Omega\sin\phi`); with ``mdt``: ``adt`` (m), ``ugos``, ``vgos``
        (m s-1, geostrophy of the ADT). Boundaries and NaN are handled as the module
        docstring says: one-sided differences at edges and coasts, NaN only where the input
        is NaN or has no valid neighbour along an axis; NaN on land with ``ocean``.

    Raises
    ------
    ValueError
        If a field or ``ocean`` is not 2-D of shape ``(nlat, nlon)``, if ``lat`` or ``lon``
        is not a strictly increasing, regularly spaced 1-D coordinate (at least 2 points),
        or if ``equator_mask_deg`` is negative or not finite.
    TypeError
        If ``ocean`` is not boolean.
    """
    lat_a = np.asarray(lat, dtype=np.float64)
    lon_a = np.asarray(lon, dtype=np.float64)
    if lat_a.ndim != 1 or lon_a.ndim != 1:
        raise ValueError(
            f"lat and lon must be 1-D, got shapes {lat_a.shape} and {lon_a.shape}"
        )
    shape = (lat_a.size, lon_a.size)
    eta = _field(sla, "sla", shape)
    u = _field(uo, "uo", shape)
    v = _field(vo, "vo", shape)
    mask = float(equator_mask_deg)
    if not (math.isfinite(mask) and mask >= 0.0):
        raise ValueError(f"equator_mask_deg must be finite and >= 0, got {equator_mask_deg!r}")
    sea = as_ocean_mask(ocean, shape)
    land = None if sea is None or sea.all() else ~sea
    mdt_a = None if mdt is None else _field(mdt, "mdt", shape)
    if land is not None:  # land values are gone before any stencil can read them
        eta, u, v = _on_sea(eta, land), _on_sea(u, land), _on_sea(v, land)
        if mdt_a is not None:
            mdt_a = _on_sea(mdt_a, land)

    out: dict[str, NDArray[np.float64]] = {}
    if mdt_a is not None:  # checked first: a wrong MDT is refused before any work
        adt = eta.astype(np.float64) + mdt_a.astype(np.float64)
    # the anomaly's current never depends on whether an MDT is known
    ugosa, vgosa = geostrophic_velocity(eta, lat_a, lon_a, equator_mask_deg=mask)
    if mdt is not None:
        ugos, vgos = geostrophic_velocity(adt, lat_a, lon_a, equator_mask_deg=mask)
        out.update(adt=adt, ugos=ugos, vgos=vgos)
    zeta = relative_vorticity(u, v, lat_a, lon_a)
    div = divergence(u, v, lat_a, lon_a)
    sigma = strain_rate(u, v, lat_a, lon_a)

    abs_f = np.abs(coriolis_parameter(lat_a))
    with np.errstate(divide="ignore"):
        inv_abs_f = np.where((np.abs(lat_a) < mask) | (abs_f == 0.0), np.nan, 1.0 / abs_f)
    inv_abs_f = inv_abs_f[:, None]
    result = {
        "ugosa": ugosa,
        "vgosa": vgosa,
        "vorticity": zeta,
        "divergence": div,
        "strain": sigma,
        "vorticity_f": zeta * inv_abs_f,
        "divergence_f": div * inv_abs_f,
        "strain_f": sigma * inv_abs_f,
        **out,
    }
    if land is not None:  # NaN already (the kernels give NaN at a NaN point): made certain
        for value in result.values():
            value[land] = np.nan
    return result
