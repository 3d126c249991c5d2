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

__all__ = ["ABSOLUTE_VARIABLES", "DERIVED_VARIABLES", "derive_fields"]

#: Keys :func:`derive_fields` always returns, in product order.
DERIVED_VARIABLES: tuple[str, ...] = (
    "ugosa",
    "vgosa",
    "vorticity",
    "divergence",
    "strain",
    "vorticity_f",
    "divergence_f",
    "strain_f",
)

#: Keys :func:`derive_fields` returns in addition when it is given a mean dynamic topography.
ABSOLUTE_VARIABLES: tuple[str, ...] = ("adt", "ugos", "vgos")


def _field(values: ArrayLike, name: str, shape: tuple[int, int]) -> NDArray[np.floating]:
    a = np.asarray(values)
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    if a.shape != shape:
        raise ValueError(f"{name} has shape {a.shape}, expected (lat, lon) = {shape}")
    return a


def derive_fields(
    sla: ArrayLike,
    uo: ArrayLike,
    vo: ArrayLike,
    lat: ArrayLike,
    lon: ArrayLike,
    *,
    mdt: ArrayLike | None = None,
    equator_mask_deg: float = 5.0,
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

    Returns
    -------
    dict of str to numpy.ndarray
        Float64 arrays of shape ``(nlat, nlon)``, keys :data:`DERIVED_VARIABLES` (and
        :data:`ABSOLUTE_VARIABLES` with ``mdt``): ``ugosa``, ``vgosa`` (m s-1, geostrophy of
        the SLA), ``vorticity``, ``divergence``, ``strain`` (s-1), ``vorticity_f``,
        ``divergence_f``, ``strain_f`` (dimensionless, divided by :math:`|f|`,
        :math:`f = 2\Omega\sin\phi`); with ``mdt``: ``adt`` (m), ``ugos``, ``vgos``
        (m s-1, geostrophy of the ADT). Boundaries and NaN are handled as the module
        docstring says: one-sided differences at edges and coasts, NaN only where the input
        is NaN or has no valid neighbour along an axis.

    Raises
    ------
    ValueError
        If a field is not 2-D of shape ``(nlat, nlon)``, if ``lat`` or ``lon`` is not a
        strictly increasing, regularly spaced 1-D coordinate (at least 2 points), or if
        ``equator_mask_deg`` is negative or not finite.
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

    out: dict[str, NDArray[np.float64]] = {}
    if mdt is not None:  # checked first: a wrong MDT is refused before any work
        adt = eta.astype(np.float64) + _field(mdt, "mdt", shape).astype(np.float64)
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
    return {
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
