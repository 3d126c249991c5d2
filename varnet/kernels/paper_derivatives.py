r"""The paper's finite differences, used only to compute its scores exactly as it does.

Fablet et al. (4DVarNet surface currents, JAMES 2024) score vorticity, divergence, strain and
geostrophic currents with SciPy code (``compute_div_curl_strain_with_lat_lon`` and
``compute_uv_geo_with_coriolis`` in the paper's ``lit_model_uv.py``; see
``shared/reference/paper.md`` section 5.4). This module reproduces that code, choices and quirks
included, so that our score tables can be compared with the paper's. For physically accurate
derivatives use :mod:`varnet.kernels.finite_differences` instead.

Steps, for fields of shape ``(time, lat, lon)`` (or ``(lat, lon)``):

1. Optional pre-smoothing ``scipy.ndimage.gaussian_filter(field, sigma)`` on the whole array:
   with the paper's ``sigma = 1`` it smooths by one sample along **every** axis, time
   included (truncate 4, mode ``'reflect'``, i.e. half-sample symmetric extension).
   ``sigma = 0`` skips it.
2. The non-centred three-point stencil, in units per grid step,

   .. math:: \partial_i f \approx -0.7 f_{i-1} + 0.4 f_i + 0.3 f_{i+1},

   along latitude (axis -2) or longitude (axis -1). It is
   ``scipy.ndimage.convolve1d(f, weights=[0.3, 0.4, -0.7])`` (a convolution flips the
   weights) with SciPy's default ``mode='reflect'``: the sample beyond each edge repeats the
   edge sample, so the first and last points along the axis get :math:`0.3(f_1 - f_0)` and
   :math:`0.7(f_{n-1} - f_{n-2})`. The stencil is exact for linear fields away from the
   edges; its truncation error is :math:`-0.2\,h^2 f''` per step (first order), i.e. it is
   the centred derivative taken 0.2 grid step upstream.
3. Division by the haversine length of one grid step (:math:`R = 6.371\times10^6` m):
   :math:`\delta y = 2R\,\mathrm{atan2}(\sqrt a, \sqrt{1-a})` with
   :math:`a = \sin^2(\Delta\phi/2)`, and :math:`\delta x` with
   :math:`a = \cos^2\phi\,\sin^2(\Delta\lambda/2)` at each latitude row, where
   :math:`\Delta\phi`, :math:`\Delta\lambda` are the first coordinate steps in radians.

Diagnostics (no metric terms, no normalisation by :math:`f`):
divergence :math:`\partial_x u + \partial_y v`; the paper's "curl"
:math:`\partial_y u - \partial_x v`, **the opposite sign of the usual relative vorticity**
(irrelevant for its explained-variance score :math:`\tau`, which is sign-symmetric); strain
:math:`\sqrt{(\partial_x v + \partial_y u)^2 + (\partial_x u - \partial_y v)^2}`; geostrophic
currents :math:`u_g = -(g/f)\partial_y\eta`, :math:`v_g = (g/f)\partial_x\eta` with the
paper's :math:`g = 9.81` m s-2 and :math:`f = 2\Omega\sin\phi`,
:math:`\Omega = 7.2921\times10^{-5}` rad s-1.

NaN is not special-cased (the paper's fields are complete): a NaN spreads over the Gaussian
kernel's support (``4 sigma`` samples each way) and over the stencil's neighbours. Results are
float64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from varnet.kernels.finite_differences import _grid

__all__ = [
    "PAPER_EARTH_RADIUS_M",
    "PAPER_GRAVITY_M_S2",
    "PAPER_OMEGA_RAD_S",
    "PAPER_STENCIL_WEIGHTS",
    "paper_div_curl_strain",
    "paper_geostrophy",
    "paper_gradient",
    "paper_grid_steps",
]

#: Earth radius used by the paper's haversine metric, m.
PAPER_EARTH_RADIUS_M = 6.371e6
#: Gravity used by the paper's geostrophy, m s-2.
PAPER_GRAVITY_M_S2 = 9.81
#: Earth's rotation rate used by the paper's Coriolis parameter, rad s-1.
PAPER_OMEGA_RAD_S = 7.2921e-5
#: Weights passed to ``scipy.ndimage.convolve1d`` by the paper (a convolution: the derivative
#: at ``i`` is ``-0.7 f[i-1] + 0.4 f[i] + 0.3 f[i+1]``).
PAPER_STENCIL_WEIGHTS = (0.3, 0.4, -0.7)

FloatArray = NDArray[np.float64]
Sigma = float | Sequence[float]


def _field(values: ArrayLike, name: str) -> FloatArray:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim not in (2, 3):
        raise ValueError(f"{name} must have shape (time, lat, lon) or (lat, lon), got {a.shape}")
    return a


def _smooth(field: FloatArray, sigma: Sigma) -> FloatArray:
    """The paper's pre-smoothing: ``gaussian_filter`` over every axis, or nothing if all 0."""
    s = np.asarray(sigma, dtype=np.float64)
    if s.shape not in ((), (field.ndim,)) or not np.all(np.isfinite(s) & (s >= 0.0)):
        raise ValueError(
            f"sigma must be one value or one per axis ({field.ndim}), finite and >= 0, "
            f"got {sigma!r}"
        )
    s = np.broadcast_to(s, (field.ndim,))
    if not np.any(s > 0.0):
        return field
    return ndimage.gaussian_filter(field, sigma=tuple(s), mode="reflect", truncate=4.0)


def _stencil(field: FloatArray, axis: int) -> FloatArray:
    """The paper's non-centred derivative per grid step along ``axis`` (reflect boundary)."""
    return ndimage.convolve1d(field, weights=PAPER_STENCIL_WEIGHTS, axis=axis, mode="reflect")


def paper_grid_steps(lat_deg: ArrayLike, lon_deg: ArrayLike) -> tuple[FloatArray, float]:
    r"""Haversine lengths of one grid step, as in the paper.

    Parameters
    ----------
    lat_deg : array_like
        Latitudes, degrees north, shape ``(ny,)``, strictly increasing and regularly spaced.
    lon_deg : array_like
        Longitudes, degrees east, shape ``(nx,)``, strictly increasing and regularly spaced.

    Returns
    -------
    dx : numpy.ndarray
        Zonal step at each latitude, m, shape ``(ny,)``:
        :math:`2R\,\mathrm{atan2}(\sqrt a, \sqrt{1-a})` with
        :math:`a = \cos^2\phi\,\sin^2(\Delta\lambda/2)`.
    dy : float
        Meridional step, m: the same with :math:`a = \sin^2(\Delta\phi/2)`.
    """
    lat = np.asarray(lat_deg, dtype=np.float64)
    lon = np.asarray(lon_deg, dtype=np.float64)
    lat, lon = _grid((lat.size, lon.size), lat, lon)
    dphi = math.radians(lat[1] - lat[0])
    dlam = math.radians(lon[1] - lon[0])
    a_x = np.cos(np.deg2rad(lat)) ** 2 * math.sin(dlam / 2.0) ** 2
    dx = 2.0 * PAPER_EARTH_RADIUS_M * np.arctan2(np.sqrt(a_x), np.sqrt(1.0 - a_x))
    a_y = math.sin(dphi / 2.0) ** 2
    dy = 2.0 * PAPER_EARTH_RADIUS_M * math.atan2(math.sqrt(a_y), math.sqrt(1.0 - a_y))
    return dx, dy


def _metric(
    shape: tuple[int, ...], lat_deg: ArrayLike, lon_deg: ArrayLike
) -> tuple[FloatArray, FloatArray, float]:
    """Validated latitudes (degrees), dx as a column (m, shape (ny, 1)) and dy (m)."""
    lat, lon = _grid(shape, lat_deg, lon_deg)
    dx, dy = paper_grid_steps(lat, lon)
    return lat, dx[:, None], dy


def paper_gradient(
    field: ArrayLike, lat_deg: ArrayLike, lon_deg: ArrayLike, sigma: Sigma = 1.0
) -> tuple[FloatArray, FloatArray]:
    r"""Gradient :math:`(\partial_x f, \partial_y f)` computed as the paper's scores do.

    Parameters
    ----------
    field : array_like
        Field of shape ``(time, lat, lon)`` or ``(lat, lon)``, any units.
    lat_deg, lon_deg : array_like
        Latitudes ``(ny,)`` and longitudes ``(nx,)``, degrees, strictly increasing and
        regularly spaced.
    sigma : float or sequence of float, default 1.0
        Standard deviation, in samples, of the Gaussian pre-smoothing over every axis (the
        paper's ``sig_filter_div_diag``); 0 skips it.

    Returns
    -------
    dfdx, dfdy : numpy.ndarray
        Eastward and northward derivatives, field units per metre, float64, shape of
        ``field``; edges follow the stencil's reflect rule (see the module docstring).

    Raises
    ------
    ValueError
        If the field is not 2-D or 3-D, the coordinates do not fit it, or ``sigma`` < 0.
    """
    f = _smooth(_field(field, "field"), sigma)
    _, dx, dy = _metric(f.shape, lat_deg, lon_deg)
    return _stencil(f, -1) / dx, _stencil(f, -2) / dy


def paper_geostrophy(
    ssh: ArrayLike, lat_deg: ArrayLike, lon_deg: ArrayLike, sigma: Sigma = 0.0
) -> tuple[FloatArray, FloatArray]:
    r"""Geostrophic currents as the paper computes them.

    :math:`u_g = -(g/f)\,\partial_y\eta`, :math:`v_g = (g/f)\,\partial_x\eta`.

    Parameters
    ----------
    ssh : array_like
        Sea-surface height :math:`\eta`, m, shape ``(time, lat, lon)`` or ``(lat, lon)``.
    lat_deg, lon_deg : array_like
        Grid coordinates, degrees, as in :func:`paper_gradient`.
    sigma : float or sequence of float, default 0.0
        Gaussian pre-smoothing of :math:`\eta`, samples. The paper uses 0 for the currents
        scored by :math:`\tau_{uv}` and :math:`\lambda`, and 1 (4 for the OI baseline) before
        the vorticity, divergence and strain of geostrophic currents.

    Returns
    -------
    u_g, v_g : numpy.ndarray
        Eastward and northward geostrophic velocity, m s-1, float64, shape of ``ssh``; NaN on
        rows where :math:`f = 0` (the equator), where geostrophy is undefined.
    """
    eta = _smooth(_field(ssh, "ssh"), sigma)
    lat, dx, dy = _metric(eta.shape, lat_deg, lon_deg)
    f = 2.0 * PAPER_OMEGA_RAD_S * np.sin(np.deg2rad(lat))
    with np.errstate(divide="ignore"):
        g_over_f = np.where(f == 0.0, np.nan, PAPER_GRAVITY_M_S2 / f)[:, None]
    return -g_over_f * (_stencil(eta, -2) / dy), g_over_f * (_stencil(eta, -1) / dx)


def paper_div_curl_strain(
    u: ArrayLike, v: ArrayLike, lat_deg: ArrayLike, lon_deg: ArrayLike, sigma: Sigma = 1.0
) -> tuple[FloatArray, FloatArray, FloatArray]:
    r"""Divergence, the paper's "curl" and strain of a surface current.

    Parameters
    ----------
    u, v : array_like
        Eastward and northward velocity, m s-1, same shape ``(time, lat, lon)`` or
        ``(lat, lon)``.
    lat_deg, lon_deg : array_like
        Grid coordinates, degrees, as in :func:`paper_gradient`.
    sigma : float or sequence of float, default 1.0
        Gaussian pre-smoothing of ``u`` and ``v``, samples (the paper's value is 1).

    Returns
    -------
    div : numpy.ndarray
        :math:`\partial_x u + \partial_y v`, s-1.
    curl : numpy.ndarray
        :math:`\partial_y u - \partial_x v`, s-1: minus the usual relative vorticity, the
        paper's sign convention (kept so that values compare one to one).
    strain : numpy.ndarray
        :math:`\sqrt{(\partial_x v + \partial_y u)^2 + (\partial_x u - \partial_y v)^2}`, s-1.

    All float64, shape of ``u``. No spherical metric terms and no normalisation by :math:`f`.
    """
    ua = _field(u, "u")
    va = _field(v, "v")
    if ua.shape != va.shape:
        raise ValueError(f"u and v must have the same shape, got {ua.shape} and {va.shape}")
    du_dx, du_dy = paper_gradient(ua, lat_deg, lon_deg, sigma)
    dv_dx, dv_dy = paper_gradient(va, lat_deg, lon_deg, sigma)
    div = du_dx + dv_dy
    curl = du_dy - dv_dx
    strain = np.sqrt((dv_dx + du_dy) ** 2 + (du_dx - dv_dy) ** 2)
    return div, curl, strain
