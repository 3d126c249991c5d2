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
float64 and every result is float64; float32 fields are read as they are, without a float64
copy.

Each function is one compiled pass over the grid that reads its inputs and writes its outputs
once (``benchmarks/bench_derivatives.py`` compares it with the memory-bandwidth floor).

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
from numba import njit, prange
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
# numba kernels
# --------------------------------------------------------------------------------------------
#
# One pass over the grid computes every derivative a diagnostic needs and combines them, so
# that a diagnostic reads its inputs and writes its outputs once: no transposed copies, no
# intermediate derivative arrays. Each interior row is first filled with centred differences
# by a branch-free loop; the row (still in cache) is then scanned for non-finite values, and
# only those points, and the domain edges, are recomputed by the general stencil rule
# (``_dx_at``/``_dy_at``). Both paths give the same value wherever the centred stencil
# applies: a centred result is finite exactly when every sample it used is finite.
# Rows are independent, so both kernels spread them over threads (numba ``prange``;
# ``NUMBA_NUM_THREADS`` caps the count); results do not depend on the number of threads.

# Velocity diagnostics computed by _uv_kernel.
_VORTICITY, _DIVERGENCE, _STRAIN, _OKUBO_WEISS, _ADVECTION = 0, 1, 2, 3, 4


@njit(cache=True, inline="always")
def _dx_at(f, k, j, i, half, inv):  # pragma: no cover - compiled
    """d/dx at (k, j, i) by the stencil policy; ``inv`` = 1/dx, ``half`` = 0.5/dx."""
    nx = f.shape[2]
    f0 = np.float64(f[k, j, i])
    if not math.isfinite(f0):
        return np.nan
    left1 = i >= 1 and math.isfinite(f[k, j, i - 1])
    right1 = i + 1 < nx and math.isfinite(f[k, j, i + 1])
    if left1 and right1:
        return (np.float64(f[k, j, i + 1]) - np.float64(f[k, j, i - 1])) * half
    if right1:
        if i + 2 < nx and math.isfinite(f[k, j, i + 2]):
            return (
                -3.0 * f0 + 4.0 * np.float64(f[k, j, i + 1]) - np.float64(f[k, j, i + 2])
            ) * half
        return (np.float64(f[k, j, i + 1]) - f0) * inv
    if left1:
        if i >= 2 and math.isfinite(f[k, j, i - 2]):
            return (3.0 * f0 - 4.0 * np.float64(f[k, j, i - 1]) + np.float64(f[k, j, i - 2])) * half
        return (f0 - np.float64(f[k, j, i - 1])) * inv
    return np.nan


@njit(cache=True, inline="always")
def _dy_at(f, k, j, i, half, inv):  # pragma: no cover - compiled
    """d/dy at (k, j, i) by the stencil policy; ``inv`` = 1/dy, ``half`` = 0.5/dy."""
    ny = f.shape[1]
    f0 = np.float64(f[k, j, i])
    if not math.isfinite(f0):
        return np.nan
    left1 = j >= 1 and math.isfinite(f[k, j - 1, i])
    right1 = j + 1 < ny and math.isfinite(f[k, j + 1, i])
    if left1 and right1:
        return (np.float64(f[k, j + 1, i]) - np.float64(f[k, j - 1, i])) * half
    if right1:
        if j + 2 < ny and math.isfinite(f[k, j + 2, i]):
            return (
                -3.0 * f0 + 4.0 * np.float64(f[k, j + 1, i]) - np.float64(f[k, j + 2, i])
            ) * half
        return (np.float64(f[k, j + 1, i]) - f0) * inv
    if left1:
        if j >= 2 and math.isfinite(f[k, j - 2, i]):
            return (3.0 * f0 - 4.0 * np.float64(f[k, j - 1, i]) + np.float64(f[k, j - 2, i])) * half
        return (f0 - np.float64(f[k, j - 1, i])) * inv
    return np.nan


@njit(cache=True, inline="always")
def _count_nonfinite(row, stop):  # pragma: no cover - compiled
    """Number of non-finite values in ``row[1:stop]`` (x - x is 0 only for finite x)."""
    count = 0
    for i in range(1, stop):
        x = row[i]
        count += (x - x) != 0.0
    return count


@njit(cache=True, parallel=True)
def _gradient_kernel(f, cx, cy, out_x, out_y):  # pragma: no cover - compiled
    """``out_x = cx[j] * df/di``, ``out_y = cy[j] * df/dj`` (per grid step), stencil policy.

    ``f``: C-contiguous float32 or float64, shape ``(n, ny, nx)``; ``cx``, ``cy``: float64
    ``(ny,)`` (1/dx and 1/dy for a gradient, times g/f for geostrophy); outputs float64.
    """
    n, ny, nx = f.shape
    for kj in prange(n * ny):  # rows are independent: one task per (k, j)
        k, j = kj // ny, kj % ny
        ax, ay = cx[j], cy[j]
        hx, hy = 0.5 * ax, 0.5 * ay
        row_x, row_y = out_x[k, j], out_y[k, j]
        interior = 0 < j < ny - 1
        clean = False
        if interior:
            south, here, north = f[k, j - 1], f[k, j], f[k, j + 1]
            # ``bad`` becomes True at the first non-finite value (x - x is 0 only for finite
            # x); an OR reduction vectorises, unlike a branch per point.
            bad = False
            for i in range(1, nx - 1):
                missing = 0.0 * np.float64(here[i])  # NaN where the point itself is missing
                dx = (np.float64(here[i + 1]) - np.float64(here[i - 1])) * hx + missing
                dy = (np.float64(north[i]) - np.float64(south[i])) * hy + missing
                row_x[i] = dx
                row_y[i] = dy
                s = dx + dy
                bad |= (s - s) != 0.0
            clean = not bad
        # a clean interior row needs only its two edge columns (nx >= 2)
        for i in range(0, nx, nx - 1 if clean else 1):
            edge = not interior or i == 0 or i == nx - 1
            if edge or not math.isfinite(row_x[i]):
                row_x[i] = _dx_at(f, k, j, i, hx, ax)
            if edge or not math.isfinite(row_y[i]):
                row_y[i] = _dy_at(f, k, j, i, hy, ay)


@njit(cache=True, inline="always")
def _combine(kind, u0, v0, ux, uy, vx, vy, t):  # pragma: no cover - compiled
    """Diagnostic ``kind`` (and a second component for advection, else 0) at one point.

    ``t`` = tan(lat)/R. The ``0 * (u0 + v0)`` term is exact for finite velocities and makes
    the result NaN where either velocity component is missing, as the stencil policy says.
    """
    missing = 0.0 * (u0 + v0)
    if kind == _VORTICITY:
        return vx - uy + u0 * t + missing, 0.0
    if kind == _DIVERGENCE:
        return ux + vy - v0 * t + missing, 0.0
    normal = ux - vy - v0 * t
    shear = vx + uy + u0 * t
    if kind == _STRAIN:
        return math.sqrt(normal * normal + shear * shear) + missing, 0.0
    if kind == _OKUBO_WEISS:
        zeta = vx - uy + u0 * t
        return normal * normal + shear * shear - zeta * zeta + missing, 0.0
    return (
        u0 * ux + v0 * uy - u0 * v0 * t + missing,
        u0 * vx + v0 * vy + u0 * u0 * t + missing,
    )


@njit(cache=True, inline="always")
def _uv_centred_row(u, v, k, j, hx, hy, t, kind, row_a, row_b):  # pragma: no cover - compiled
    """Fill ``row_a[1:-1]`` (and ``row_b``) with centred differences, no finiteness checks.

    Called with a literal ``kind`` so that the compiler drops the unused derivatives and
    vectorises the loop.
    """
    for i in range(1, u.shape[2] - 1):
        ux = (np.float64(u[k, j, i + 1]) - np.float64(u[k, j, i - 1])) * hx
        uy = (np.float64(u[k, j + 1, i]) - np.float64(u[k, j - 1, i])) * hy
        vx = (np.float64(v[k, j, i + 1]) - np.float64(v[k, j, i - 1])) * hx
        vy = (np.float64(v[k, j + 1, i]) - np.float64(v[k, j - 1, i])) * hy
        a, b = _combine(kind, np.float64(u[k, j, i]), np.float64(v[k, j, i]), ux, uy, vx, vy, t)
        row_a[i] = a
        if kind == _ADVECTION:
            row_b[i] = b


@njit(cache=True, parallel=True)
def _uv_kernel(u, v, cx, cy, t, kind, out_a, out_b):  # pragma: no cover - compiled
    """Velocity diagnostic ``kind`` in one pass; ``out_b`` is used only for advection.

    ``u``, ``v``: C-contiguous float32 or float64, shape ``(n, ny, nx)``; ``cx``, ``cy``,
    ``t``: float64 ``(ny,)`` holding 1/dx, 1/dy and tan(lat)/R; outputs float64.
    """
    n, ny, nx = u.shape
    two = kind == _ADVECTION
    for kj in prange(n * ny):  # rows are independent: one task per (k, j)
        k, j = kj // ny, kj % ny
        ax, ay, tj = cx[j], cy[j], t[j]
        hx, hy = 0.5 * ax, 0.5 * ay
        row_a = out_a[k, j]
        row_b = out_b[k, j] if two else row_a
        interior = 0 < j < ny - 1
        clean = False
        if interior:
            if kind == _VORTICITY:
                _uv_centred_row(u, v, k, j, hx, hy, tj, _VORTICITY, row_a, row_b)
            elif kind == _DIVERGENCE:
                _uv_centred_row(u, v, k, j, hx, hy, tj, _DIVERGENCE, row_a, row_b)
            elif kind == _STRAIN:
                _uv_centred_row(u, v, k, j, hx, hy, tj, _STRAIN, row_a, row_b)
            elif kind == _OKUBO_WEISS:
                _uv_centred_row(u, v, k, j, hx, hy, tj, _OKUBO_WEISS, row_a, row_b)
            else:
                _uv_centred_row(u, v, k, j, hx, hy, tj, _ADVECTION, row_a, row_b)
            bad = _count_nonfinite(row_a, nx - 1)
            if two:
                bad += _count_nonfinite(row_b, nx - 1)
            clean = bad == 0
        # a clean interior row needs only its two edge columns (nx >= 2)
        for i in range(0, nx, nx - 1 if clean else 1):
            edge = not interior or i == 0 or i == nx - 1
            if not edge and math.isfinite(row_a[i]) and (not two or math.isfinite(row_b[i])):
                continue  # centred value, valid
            a, b = _combine(
                kind,
                np.float64(u[k, j, i]),
                np.float64(v[k, j, i]),
                _dx_at(u, k, j, i, hx, ax),
                _dy_at(u, k, j, i, hy, ay),
                _dx_at(v, k, j, i, hx, ax),
                _dy_at(v, k, j, i, hy, ay),
                tj,
            )
            row_a[i] = a
            if two:
                row_b[i] = b


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


def _as_field(values: ArrayLike, name: str) -> NDArray[np.floating]:
    """Field as a float32 or float64 array (other types are converted to float64)."""
    a = np.asarray(values)
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    if a.ndim < 2:
        raise ValueError(f"{name} must have shape (..., ny, nx), got shape {a.shape}")
    return a


def _same_shape(u: FloatArray, v: FloatArray) -> None:
    if u.shape != v.shape:
        raise ValueError(f"u and v must have the same shape, got {u.shape} and {v.shape}")


# --------------------------------------------------------------------------------------------
# derivatives
# --------------------------------------------------------------------------------------------


def _inverse_steps(lat: FloatArray, lon: FloatArray) -> tuple[FloatArray, FloatArray]:
    """1/dx and 1/dy per latitude row, m-1, shape (ny,); 1/dx is NaN at the poles."""
    ny, nx = lat.size, lon.size
    dlam = np.deg2rad((lon[-1] - lon[0]) / (nx - 1))
    dphi = np.deg2rad((lat[-1] - lat[0]) / (ny - 1))
    dx = EARTH_RADIUS_M * np.cos(np.deg2rad(lat)) * dlam
    dx[np.abs(lat) >= 90.0] = np.nan  # poles: zonal derivative undefined
    return 1.0 / dx, np.full(ny, 1.0 / (EARTH_RADIUS_M * dphi))


def _as_3d(a: NDArray[np.floating]) -> NDArray[np.floating]:
    """C-contiguous view (or copy) of shape (lead, ny, nx)."""
    return np.ascontiguousarray(a).reshape(-1, *a.shape[-2:])


def _scaled_gradient(
    field: NDArray[np.floating], cx: FloatArray, cy: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """(cx * df/di, cy * df/dj) per grid step, float64, shape of ``field``."""
    f3 = _as_3d(field)
    out_x = np.empty(f3.shape)
    out_y = np.empty(f3.shape)
    _gradient_kernel(f3, cx, cy, out_x, out_y)
    return out_x.reshape(field.shape), out_y.reshape(field.shape)


def _velocity_diagnostic(
    u: ArrayLike, v: ArrayLike, lat_deg: ArrayLike, lon_deg: ArrayLike, kind: int
) -> tuple[FloatArray, FloatArray]:
    """Validate (u, v) and the grid, then run ``_uv_kernel`` for ``kind``."""
    ua = _as_field(u, "u")
    va = _as_field(v, "v")
    _same_shape(ua, va)
    lat, lon = _grid(ua.shape, lat_deg, lon_deg)
    inv_dx, inv_dy = _inverse_steps(lat, lon)
    tan_over_r = np.tan(np.deg2rad(lat)) / EARTH_RADIUS_M
    u3, v3 = _as_3d(ua), _as_3d(va)
    out_a = np.empty(u3.shape)
    out_b = np.empty(u3.shape if kind == _ADVECTION else (0, 0, 0))
    _uv_kernel(u3, v3, inv_dx, inv_dy, tan_over_r, kind, out_a, out_b)
    return out_a.reshape(ua.shape), out_b.reshape(ua.shape if kind == _ADVECTION else (0,))


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
    inv_dx, inv_dy = _inverse_steps(lat, lon)
    return _scaled_gradient(f, inv_dx, inv_dy)


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
    f = coriolis_parameter(lat)
    with np.errstate(divide="ignore", invalid="ignore"):
        g_over_f = np.where((np.abs(lat) < mask) | (f == 0.0), np.nan, GRAVITY_M_S2 / f)
    inv_dx, inv_dy = _inverse_steps(lat, lon)
    v_g, u_g = _scaled_gradient(eta, g_over_f * inv_dx, -g_over_f * inv_dy)
    return u_g, v_g


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
    return _velocity_diagnostic(u, v, lat_deg, lon_deg, _VORTICITY)[0]


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
    return _velocity_diagnostic(u, v, lat_deg, lon_deg, _DIVERGENCE)[0]


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
    return _velocity_diagnostic(u, v, lat_deg, lon_deg, _STRAIN)[0]


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
    return _velocity_diagnostic(u, v, lat_deg, lon_deg, _OKUBO_WEISS)[0]


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
    return _velocity_diagnostic(u, v, lat_deg, lon_deg, _ADVECTION)
