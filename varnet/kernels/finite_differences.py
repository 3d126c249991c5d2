r"""Finite differences on a regular longitude/latitude grid on the sphere.

Grid and metric
---------------
Fields have shape ``(..., ny, nx)``: any number of leading axes (time, ensemble member, ...)
followed by latitude and longitude. ``lat_deg`` (``ny``) and ``lon_deg`` (``nx``) are 1-D,
strictly increasing and regularly spaced, in degrees. With :math:`\Delta\phi` and
:math:`\Delta\lambda` the latitude and longitude steps in radians and :math:`R` the Earth
radius, the local grid spacings in metres are

.. math::

    \delta x(\phi) = R\cos\phi\,\Delta\lambda, \qquad \delta y = R\,\Delta\phi,

and :math:`\partial/\partial x = (R\cos\phi)^{-1}\partial/\partial\lambda`,
:math:`\partial/\partial y = R^{-1}\partial/\partial\phi`. The longitude axis is not treated
as periodic: the first and last columns are domain edges. At a pole (:math:`\cos\phi = 0`)
the zonal derivative is NaN.

Stencils and boundary policy
----------------------------
Each derivative is taken along one axis, point by point, with the most accurate of these
stencils that the valid (finite) neighbours allow, :math:`\Delta` being the grid spacing:

* both neighbours valid: second-order centred :math:`(f_{i+1} - f_{i-1}) / (2\Delta)`;
* neighbours valid on one side only (domain edge, or next to a NaN: land, data gap):
  second-order one-sided :math:`(-3f_i + 4f_{i+1} - f_{i+2}) / (2\Delta)` (mirrored,
  :math:`(3f_i - 4f_{i-1} + f_{i-2}) / (2\Delta)`, on the other side) when the two
  neighbours on that side are valid, else first-order :math:`(f_{i+1} - f_i)/\Delta`
  (mirrored :math:`(f_i - f_{i-1})/\Delta`);
* no valid neighbour along the axis, or the point itself missing: NaN.

NaN therefore never spreads further than this rule: a single missing cell leaves every other
cell finite. Non-finite values (NaN, ±inf) are all treated as missing. Computation is in
float64 and every result is float64.

Diagnostics
-----------
With :math:`u` eastward and :math:`v` northward velocity (m s-1), :math:`\eta` the sea-surface
height (m), :math:`f = 2\Omega\sin\phi` and :math:`g` gravity, the functions compute

.. math::

    u_g = -\frac{g}{f}\frac{\partial\eta}{\partial y}, \qquad
    v_g = \frac{g}{f}\frac{\partial\eta}{\partial x},

    \zeta = \frac{\partial v}{\partial x} - \frac{\partial u}{\partial y}
        + \frac{u\tan\phi}{R}, \qquad
    D = \frac{\partial u}{\partial x} + \frac{\partial v}{\partial y} - \frac{v\tan\phi}{R},

    \sigma_n = \frac{\partial u}{\partial x} - \frac{\partial v}{\partial y}
        - \frac{v\tan\phi}{R}, \qquad
    \sigma_s = \frac{\partial v}{\partial x} + \frac{\partial u}{\partial y}
        + \frac{u\tan\phi}{R}, \qquad
    \sigma = \sqrt{\sigma_n^2 + \sigma_s^2},

    W = \sigma_n^2 + \sigma_s^2 - \zeta^2,

    A_x = u\frac{\partial u}{\partial x} + v\frac{\partial u}{\partial y}
        - \frac{uv\tan\phi}{R}, \qquad
    A_y = u\frac{\partial v}{\partial x} + v\frac{\partial v}{\partial y}
        + \frac{u^2\tan\phi}{R}.

The metric terms in :math:`\tan\phi/R` are those of the rate-of-strain and rotation tensors in
spherical coordinates: with them a rigid rotation of the sphere has zero divergence and zero
strain, vorticity :math:`2\,\boldsymbol\omega\cdot\hat{\mathbf r}` and advection equal to the
tangential part of the centripetal acceleration (the tests check exactly this).

Equator mask
------------
Geostrophic balance degenerates where :math:`f \to 0`: :func:`geostrophic_velocity` returns NaN
wherever :math:`|\phi|` is below ``equator_mask_deg`` (5° by default), and wherever :math:`f`
is exactly zero.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "EARTH_RADIUS_M",
    "GRAVITY_M_S2",
    "OMEGA_RAD_S",
    "advection",
    "coriolis_parameter",
    "divergence",
    "geostrophic_velocity",
    "gradient",
    "okubo_weiss",
    "relative_vorticity",
    "strain_rate",
]

#: Mean Earth radius, m.
EARTH_RADIUS_M = 6371000.0
#: Earth's rotation rate (sidereal day), rad s-1.
OMEGA_RAD_S = 7.2921159e-5
#: Standard gravity, m s-2.
GRAVITY_M_S2 = 9.80665

# Tolerance on the regularity of coordinate spacing: relative to the mean step, plus an
# absolute term (degrees) that accepts coordinates stored as float32.
_SPACING_RTOL = 1e-3
_SPACING_ATOL_DEG = 1e-4

FloatArray = NDArray[np.float64]


# --------------------------------------------------------------------------------------------
# numba kernel
# --------------------------------------------------------------------------------------------


@njit(cache=True)
def _diff_rows(f, spacing, out):  # pragma: no cover - compiled
    """Derivative along the last axis of a 2-D array, row ``r`` having grid step ``spacing[r]``.

    ``f`` and ``out`` are C-contiguous float64 arrays of shape ``(m, n)``; ``spacing`` is
    float64 of shape ``(m,)``. Implements the stencil policy of the module docstring.
    """
    m, n = f.shape
    for r in range(m):
        h = spacing[r]
        for i in range(n):
            f0 = f[r, i]
            if not math.isfinite(f0):
                out[r, i] = np.nan
                continue
            left1 = i >= 1 and math.isfinite(f[r, i - 1])
            right1 = i + 1 < n and math.isfinite(f[r, i + 1])
            if left1 and right1:
                out[r, i] = (f[r, i + 1] - f[r, i - 1]) / (2.0 * h)
            elif right1:
                if i + 2 < n and math.isfinite(f[r, i + 2]):
                    out[r, i] = (-3.0 * f0 + 4.0 * f[r, i + 1] - f[r, i + 2]) / (2.0 * h)
                else:
                    out[r, i] = (f[r, i + 1] - f0) / h
            elif left1:
                if i >= 2 and math.isfinite(f[r, i - 2]):
                    out[r, i] = (3.0 * f0 - 4.0 * f[r, i - 1] + f[r, i - 2]) / (2.0 * h)
                else:
                    out[r, i] = (f0 - f[r, i - 1]) / h
            else:
                out[r, i] = np.nan


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------


def _coordinate(values: ArrayLike, name: str, n: int) -> FloatArray:
    """Validate a 1-D regular, strictly increasing coordinate of length ``n``; return float64."""
    c = np.asarray(values, dtype=np.float64)
    if c.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {c.shape}")
    if c.size != n:
        raise ValueError(f"{name} has length {c.size} but the field's axis has length {n}")
    if n < 2:
        raise ValueError(f"{name} needs at least 2 points to define a grid step, got {n}")
    if not np.all(np.isfinite(c)):
        raise ValueError(f"{name} contains non-finite values")
    steps = np.diff(c)
    if not np.all(steps > 0):
        raise ValueError(f"{name} must be strictly increasing")
    step = (c[-1] - c[0]) / (n - 1)
    if np.max(np.abs(steps - step)) > _SPACING_RTOL * step + _SPACING_ATOL_DEG:
        raise ValueError(
            f"{name} must be regularly spaced (steps range from {steps.min():g} to "
            f"{steps.max():g} degrees)"
        )
    return c


def _grid(
    shape: tuple[int, ...], lat_deg: ArrayLike, lon_deg: ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Validate the grid against a field shape; return (lat, lon) in float64 degrees."""
    if len(shape) < 2:
        raise ValueError(f"field must have shape (..., ny, nx), got shape {shape}")
    lat = _coordinate(lat_deg, "lat_deg", shape[-2])
    lon = _coordinate(lon_deg, "lon_deg", shape[-1])
    if lat[0] < -90.0 or lat[-1] > 90.0:
        raise ValueError("lat_deg must lie within [-90, 90] degrees")
    return lat, lon


def _as_field(values: ArrayLike, name: str) -> FloatArray:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim < 2:
        raise ValueError(f"{name} must have shape (..., ny, nx), got shape {a.shape}")
    return a


def _same_shape(u: FloatArray, v: FloatArray) -> None:
    if u.shape != v.shape:
        raise ValueError(f"u and v must have the same shape, got {u.shape} and {v.shape}")


# --------------------------------------------------------------------------------------------
# derivatives
# --------------------------------------------------------------------------------------------


def _grad(field: FloatArray, lat: FloatArray, lon: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Gradient of a validated float64 field; see :func:`gradient`."""
    ny, nx = field.shape[-2:]
    lead = int(np.prod(field.shape[:-2], dtype=np.int64))
    phi = np.deg2rad(lat)
    dlam = np.deg2rad((lon[-1] - lon[0]) / (nx - 1))
    dphi = np.deg2rad((lat[-1] - lat[0]) / (ny - 1))

    cos_phi = np.cos(phi)
    dx = EARTH_RADIUS_M * cos_phi * dlam
    dx[np.abs(lat) >= 90.0] = np.nan  # poles: zonal derivative undefined
    fx_in = np.ascontiguousarray(field).reshape(lead * ny, nx)
    dfdx = np.empty_like(fx_in)
    _diff_rows(fx_in, np.tile(dx, lead), dfdx)

    fy_in = np.ascontiguousarray(np.swapaxes(field, -1, -2)).reshape(lead * nx, ny)
    dfdy = np.empty_like(fy_in)
    _diff_rows(fy_in, np.full(lead * nx, EARTH_RADIUS_M * dphi), dfdy)
    dfdy = np.swapaxes(dfdy.reshape((*field.shape[:-2], nx, ny)), -1, -2)
    return dfdx.reshape(field.shape), np.ascontiguousarray(dfdy)


def _metric(lat: FloatArray) -> FloatArray:
    """tan(lat)/R as a column, m-1, broadcasting against (..., ny, nx)."""
    return (np.tan(np.deg2rad(lat)) / EARTH_RADIUS_M)[:, None]


def _velocity_gradients(
    u: ArrayLike, v: ArrayLike, lat_deg: ArrayLike, lon_deg: ArrayLike
) -> tuple[FloatArray, ...]:
    """Return u, v, du/dx, du/dy, dv/dx, dv/dy and tan(lat)/R after validation."""
    ua = _as_field(u, "u")
    va = _as_field(v, "v")
    _same_shape(ua, va)
    lat, lon = _grid(ua.shape, lat_deg, lon_deg)
    ux, uy = _grad(ua, lat, lon)
    vx, vy = _grad(va, lat, lon)
    return ua, va, ux, uy, vx, vy, _metric(lat)


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


def coriolis_parameter(lat_deg: ArrayLike) -> FloatArray:
    r"""Coriolis parameter :math:`f = 2\Omega\sin\phi`.

    Parameters
    ----------
    lat_deg : array_like
        Latitude, degrees north (any shape).

    Returns
    -------
    numpy.ndarray
        :math:`f`, s-1, float64, same shape as ``lat_deg``.
    """
    return 2.0 * OMEGA_RAD_S * np.sin(np.deg2rad(np.asarray(lat_deg, dtype=np.float64)))


def gradient(
    field: ArrayLike, lat_deg: ArrayLike, lon_deg: ArrayLike
) -> tuple[FloatArray, FloatArray]:
    r"""Horizontal gradient :math:`(\partial f/\partial x, \partial f/\partial y)` on the sphere.

    Parameters
    ----------
    field : array_like
        Field of shape ``(..., ny, nx)``, any units; NaN marks missing values (land, gaps).
    lat_deg : array_like
        Latitudes, degrees north, shape ``(ny,)``, strictly increasing and regularly spaced.
    lon_deg : array_like
        Longitudes, degrees east, shape ``(nx,)``, strictly increasing and regularly spaced.

    Returns
    -------
    dfdx, dfdy : numpy.ndarray
        Eastward and northward derivatives, field units per metre, float64, shape of
        ``field``. :math:`\delta x = R\cos\phi\,\Delta\lambda`, :math:`\delta y = R\Delta\phi`.
        Centred second-order in the interior, one-sided second- (or first-) order at the
        domain edge and next to NaN, NaN where no neighbour along that axis is valid (see the
        module docstring).

    Raises
    ------
    ValueError
        If ``lat_deg`` or ``lon_deg`` is not 1-D, does not match the field's shape, is not
        strictly increasing or not regularly spaced, or if ``field`` has fewer than 2 axes.
    """
    f = _as_field(field, "field")
    lat, lon = _grid(f.shape, lat_deg, lon_deg)
    return _grad(f, lat, lon)


def geostrophic_velocity(
    ssh: ArrayLike, lat_deg: ArrayLike, lon_deg: ArrayLike, equator_mask_deg: float = 5.0
) -> tuple[FloatArray, FloatArray]:
    r"""Surface geostrophic velocity from sea-surface height.

    :math:`u_g = -(g/f)\,\partial\eta/\partial y`, :math:`v_g = (g/f)\,\partial\eta/\partial x`.

    Parameters
    ----------
    ssh : array_like
        Sea-surface height :math:`\eta`, m, shape ``(..., ny, nx)``; NaN where missing.
    lat_deg, lon_deg : array_like
        Grid coordinates, degrees, as in :func:`gradient`.
    equator_mask_deg : float, default 5.0
        Half-width of the equatorial band, degrees, where the result is set to NaN: :math:`f`
        vanishes at the equator and the geostrophic velocity is ill-conditioned (it is NaN also
        wherever :math:`f` is exactly zero, whatever this value). Must be finite and >= 0.

    Returns
    -------
    u_g, v_g : numpy.ndarray
        Eastward and northward geostrophic velocity, m s-1, float64, shape of ``ssh``.
    """
    mask = float(equator_mask_deg)
    if not (math.isfinite(mask) and mask >= 0.0):
        raise ValueError(f"equator_mask_deg must be finite and >= 0, got {equator_mask_deg!r}")
    eta = _as_field(ssh, "ssh")
    lat, lon = _grid(eta.shape, lat_deg, lon_deg)
    detadx, detady = _grad(eta, lat, lon)
    f = coriolis_parameter(lat)
    with np.errstate(divide="ignore", invalid="ignore"):
        g_over_f = np.where((np.abs(lat) < mask) | (f == 0.0), np.nan, GRAVITY_M_S2 / f)
    g_over_f = g_over_f[:, None]
    return -g_over_f * detady, g_over_f * detadx


def relative_vorticity(
    u: ArrayLike, v: ArrayLike, lat_deg: ArrayLike, lon_deg: ArrayLike
) -> FloatArray:
    r"""Relative vorticity :math:`\zeta = \partial_x v - \partial_y u + u\tan\phi/R`.

    Parameters
    ----------
    u, v : array_like
        Eastward and northward velocity, m s-1, same shape ``(..., ny, nx)``.
    lat_deg, lon_deg : array_like
        Grid coordinates, degrees, as in :func:`gradient`.

    Returns
    -------
    numpy.ndarray
        :math:`\zeta`, s-1, float64.
    """
    ua, _, _, uy, vx, _, t = _velocity_gradients(u, v, lat_deg, lon_deg)
    return vx - uy + ua * t


def divergence(u: ArrayLike, v: ArrayLike, lat_deg: ArrayLike, lon_deg: ArrayLike) -> FloatArray:
    r"""Horizontal divergence :math:`D = \partial_x u + \partial_y v - v\tan\phi/R`.

    Parameters
    ----------
    u, v : array_like
        Eastward and northward velocity, m s-1, same shape ``(..., ny, nx)``.
    lat_deg, lon_deg : array_like
        Grid coordinates, degrees, as in :func:`gradient`.

    Returns
    -------
    numpy.ndarray
        :math:`D`, s-1, float64.
    """
    _, va, ux, _, _, vy, t = _velocity_gradients(u, v, lat_deg, lon_deg)
    return ux + vy - va * t


def _strain_components(
    ua: FloatArray,
    va: FloatArray,
    ux: FloatArray,
    uy: FloatArray,
    vx: FloatArray,
    vy: FloatArray,
    t: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    normal = ux - vy - va * t
    shear = vx + uy + ua * t
    return normal, shear


def strain_rate(u: ArrayLike, v: ArrayLike, lat_deg: ArrayLike, lon_deg: ArrayLike) -> FloatArray:
    r"""Total strain rate :math:`\sigma = \sqrt{\sigma_n^2 + \sigma_s^2}`.

    Normal and shear strain in spherical coordinates:

    .. math::

        \sigma_n = \partial_x u - \partial_y v - v\tan\phi/R, \qquad
        \sigma_s = \partial_x v + \partial_y u + u\tan\phi/R,

    i.e. :math:`e_{\lambda\lambda} - e_{\phi\phi}` and :math:`2e_{\lambda\phi}` of the
    rate-of-strain tensor, so that a rigid rotation of the sphere has zero strain.

    Parameters
    ----------
    u, v : array_like
        Eastward and northward velocity, m s-1, same shape ``(..., ny, nx)``.
    lat_deg, lon_deg : array_like
        Grid coordinates, degrees, as in :func:`gradient`.

    Returns
    -------
    numpy.ndarray
        :math:`\sigma`, s-1, float64, >= 0.
    """
    normal, shear = _strain_components(*_velocity_gradients(u, v, lat_deg, lon_deg))
    return np.hypot(normal, shear)


def okubo_weiss(u: ArrayLike, v: ArrayLike, lat_deg: ArrayLike, lon_deg: ArrayLike) -> FloatArray:
    r"""Okubo-Weiss parameter :math:`W = \sigma_n^2 + \sigma_s^2 - \zeta^2`.

    Negative where rotation dominates (eddy cores), positive where strain dominates.
    :math:`\sigma_n`, :math:`\sigma_s` as in :func:`strain_rate`, :math:`\zeta` as in
    :func:`relative_vorticity`.

    Parameters
    ----------
    u, v : array_like
        Eastward and northward velocity, m s-1, same shape ``(..., ny, nx)``.
    lat_deg, lon_deg : array_like
        Grid coordinates, degrees, as in :func:`gradient`.

    Returns
    -------
    numpy.ndarray
        :math:`W`, s-2, float64.
    """
    ua, va, ux, uy, vx, vy, t = _velocity_gradients(u, v, lat_deg, lon_deg)
    normal, shear = _strain_components(ua, va, ux, uy, vx, vy, t)
    zeta = vx - uy + ua * t
    return normal**2 + shear**2 - zeta**2


def advection(
    u: ArrayLike, v: ArrayLike, lat_deg: ArrayLike, lon_deg: ArrayLike
) -> tuple[FloatArray, FloatArray]:
    r"""Self-advection of momentum :math:`(\mathbf u\cdot\nabla)\mathbf u` on the sphere.

    .. math::

        A_x = u\,\partial_x u + v\,\partial_y u - uv\tan\phi/R, \qquad
        A_y = u\,\partial_x v + v\,\partial_y v + u^2\tan\phi/R.

    Parameters
    ----------
    u, v : array_like
        Eastward and northward velocity, m s-1, same shape ``(..., ny, nx)``.
    lat_deg, lon_deg : array_like
        Grid coordinates, degrees, as in :func:`gradient`.

    Returns
    -------
    a_x, a_y : numpy.ndarray
        Eastward and northward components, m s-2, float64.
    """
    ua, va, ux, uy, vx, vy, t = _velocity_gradients(u, v, lat_deg, lon_deg)
    a_x = ua * ux + va * uy - ua * va * t
    a_y = ua * vx + va * vy + ua * ua * t
    return a_x, a_y
