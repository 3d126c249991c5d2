r"""DUACS-like optimal interpolation (OI) of along-track anomalies, solved block by block.

Statistical model
-----------------
The field is a zero-mean Gaussian process (the inputs are anomalies, e.g. SLA) with the
space-time covariance

.. math::

    C(\Delta) = \sigma^2 \exp\left(-\frac{\Delta x^2}{L^2} - \frac{\Delta y^2}{L^2}
                - \frac{\Delta t^2}{L_t^2}\right),
    \qquad \Delta x = R\cos\bar\varphi\,\Delta\lambda, \quad \Delta y = R\,\Delta\varphi,

in the local (great-circle-free) approximation, :math:`\bar\varphi` being the mean latitude of
the two points, :math:`\Delta\lambda` the longitude difference wrapped into
:math:`[-\pi, \pi)` (so any longitude convention works, across the antimeridian too) and
:math:`R` the Earth radius. :math:`L` is the same along parallels and meridians
(``space_scale_km``), :math:`L_t` is ``time_scale_days``, :math:`\sigma` is
``signal_std_m``. Observations carry white noise of variance :math:`\varepsilon^2`
(``noise_std_m`` squared). The OI estimate at a cell :math:`g` and its error variance are

.. math::

    \hat\eta_g = C_{go} (C_{oo} + \varepsilon^2 I)^{-1} y, \qquad
    e_g = \sigma^2 - C_{go} (C_{oo} + \varepsilon^2 I)^{-1} C_{og}.

Local solution: blocks and cutoff
---------------------------------
The grid of each output time is split into blocks of ``block_cells`` x ``block_cells`` cells
(the last row and column of blocks may be smaller). A block uses every observation whose
normalised distance :math:`\sqrt{\Delta x^2/L^2 + \Delta y^2/L^2 + \Delta t^2/L_t^2}` to the
block is at most ``cutoff``; the distance is a lower bound over the block's cells (latitude
and longitude distances to the block's lat/lon rectangle, and the largest
:math:`\cos\bar\varphi` over the block), so every observation within ``cutoff`` of at least
one cell of the block is used, and only a few slightly farther ones besides. The block
factors :math:`C_{oo} + \varepsilon^2 I` once (Cholesky) and gives the estimate and error
variance of all its cells. Cost therefore grows linearly with the area and the number of
output times, and as the cube of the number of observations per block.

To find a block's observations without scanning all of them, observations are indexed in a
k-d tree (:class:`scipy.spatial.cKDTree`) in the normalised 4-D space
:math:`(R\,\mathbf{u}/L, t/L_t)`, :math:`\mathbf{u}` being the unit vector of the position on
the sphere. Since the chord between two points never exceeds the local distance above, a
ball around the block centre of radius ``cutoff`` plus the block's own radius holds all the
observations the block needs; the lat/lon rectangle test then keeps the right ones.

Approximation error. With a cutoff large enough to hold all observations, the result equals
the dense (global) OI to round-off. With a finite cutoff, an observation left out has a
correlation below :math:`\exp(-\mathrm{cutoff}^2)` with every cell of the block (0.2 % for
the default 2.5), but its weight in the dense solution is not zero: the dense weights are
those of the inverse covariance, which for dense data decay fast beyond one scale (screening)
and more slowly where data are sparse. On 30 days of four-nadir sampling of a 5 x 5 degree box
the default cutoff departs from the dense OI by at most 2 % of :math:`\sigma` (0.4 % rms),
and a cutoff of 2 by at most 5 % (1 % rms). Blocks of the same output time are solved
independently, so the estimate may show steps of that size between blocks. The cost grows
roughly as the sixth power of the cutoff (the cube of the number of observations per block).

Super-observations
------------------
1 Hz along-track data (about 6-7 km apart) sample the field far more densely than the
100 km scale of the OI, and the cost grows as the cube of the number of observations. As in
DUACS (which maps filtered, subsampled along-track data), observations may first be averaged
into super-observations: all observations in the same bin of about ``superob_km`` x
``superob_km`` (latitude bands of ``superob_km`` and, in each band, longitude bins of that
width at the band's central latitude) and ``superob_days`` in time are replaced by one
observation at their mean position and time, with their mean value and noise variance
:math:`\varepsilon^2/n`. This assumes the noise of neighbouring points is independent (true
for the white noise of the model; real along-track errors are partly correlated, for which
this overweights the super-observation) and the field nearly linear within a bin: the error is
of order :math:`\sigma (d/L)^2` for a bin of size :math:`d`. In the setting above, the
default 20 km bins (about 3 points each along a track: a third of the observations and
about a tenth of the time) change the estimate by at most 5 % of :math:`\sigma` (2 % rms)
against the OI of all points, while its error against the true field stays the same (about
8 % of :math:`\sigma`, set by the noise and the sampling). ``superob_km = 0`` uses every
observation as is.

Error variance is clipped to :math:`[0, \sigma^2]` (round-off can step outside by about
:math:`10^{-16}\sigma^2`). A block with no observation gives estimate 0 and error variance
:math:`\sigma^2`.
"""

from __future__ import annotations

import ctypes
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numba import njit
from numba.extending import get_cython_function_address
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

from varnet.config import positive_int, require
from varnet.kernels.finite_differences import EARTH_RADIUS_M

__all__ = ["OIConfig", "optimal_interpolation"]

FloatArray = NDArray[np.float64]

_R_KM = EARTH_RADIUS_M / 1000.0


@dataclass(frozen=True)
class OIConfig:
    """Parameters of the optimal interpolation.

    Attributes
    ----------
    space_scale_km : float
        Gaussian covariance scale :math:`L` along parallels and meridians, km (100 km, about
        one degree, like the baseline OI of the 2020a data challenge).
    time_scale_days : float
        Gaussian covariance scale :math:`L_t`, days.
    signal_std_m : float
        Prior standard deviation :math:`\\sigma` of the anomaly, m.
    noise_std_m : float
        Standard deviation :math:`\\varepsilon` of the white observation noise, m; must be
        positive (it also keeps the local systems well conditioned).
    block_cells : int
        Side of the square blocks of grid cells solved together. About one space scale across
        is cheapest (20 cells at 1/20 degree for 100 km); much larger blocks gather many more
        observations per Cholesky factorisation, much smaller ones factor nearly the same
        observations many times.
    cutoff : float
        Observations farther than this many scales (normalised space-time distance) from a
        block are not used for it.
    superob_km : float
        Size of the super-observation bins, km; 0 uses every observation as is.
    superob_days : float
        Duration of the super-observation bins, days.
    """

    space_scale_km: float = 100.0
    time_scale_days: float = 7.0
    signal_std_m: float = 0.1
    noise_std_m: float = 0.03
    block_cells: int = 20
    cutoff: float = 2.5
    superob_km: float = 20.0
    superob_days: float = 1.0

    def validate(self) -> None:
        """Raise :class:`~varnet.config.ConfigError` naming the first invalid field."""
        for key in (
            "space_scale_km",
            "time_scale_days",
            "signal_std_m",
            "noise_std_m",
            "cutoff",
            "superob_days",
        ):
            value = getattr(self, key)
            require(
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and math.isfinite(value)
                and value > 0,
                key,
                f"must be a positive number, got {value!r}",
            )
        require(
            isinstance(self.superob_km, int | float)
            and not isinstance(self.superob_km, bool)
            and math.isfinite(self.superob_km)
            and self.superob_km >= 0,
            "superob_km",
            f"must be a number >= 0 (0: no super-observations), got {self.superob_km!r}",
        )
        require(
            isinstance(self.block_cells, int)
            and not isinstance(self.block_cells, bool)
            and self.block_cells >= 1,
            "block_cells",
            f"must be a positive integer, got {self.block_cells!r}",
        )


# --------------------------------------------------------------------------------------------
# numba kernels: covariance matrices
# --------------------------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _neg_log_corr(
    phi_a, lam_a, t_a, cha, sha, phi_b, lam_b, t_b, chb, shb, kxy, kt
):  # pragma: no cover - compiled
    """Normalised squared space-time distance between two points.

    Latitudes ``phi`` and longitudes ``lam`` in radians (longitudes in [-pi, pi)), times in
    days; ``ch``/``sh`` are the cosine and sine of half the latitude, so that the cosine of the
    mean latitude is ``cha * chb - sha * shb``; ``kxy = (R/L)**2``, ``kt = 1/Lt**2``.
    """
    dl = lam_a - lam_b
    if dl >= math.pi:
        dl -= 2.0 * math.pi
    elif dl < -math.pi:
        dl += 2.0 * math.pi
    dx = (cha * chb - sha * shb) * dl
    dy = phi_a - phi_b
    dt = t_a - t_b
    return kxy * (dx * dx + dy * dy) + kt * dt * dt


@njit(cache=True, nogil=True)
def _cov_obs_obs(phi, lam, t, ch, sh, noise_var, kxy, kt, sig2, out):  # pragma: no cover
    """Lower triangle and diagonal of ``C_oo + diag(noise_var)`` into C-ordered ``out`` (m, m)."""
    for i in range(phi.size):
        for j in range(i):
            q = _neg_log_corr(
                phi[i], lam[i], t[i], ch[i], sh[i], phi[j], lam[j], t[j], ch[j], sh[j], kxy, kt
            )
            out[i, j] = sig2 * math.exp(-q)
        out[i, i] = sig2 + noise_var[i]


@njit(cache=True, nogil=True)
def _cov_cells_obs(
    cphi, clam, cch, csh, t_cell, phi, lam, t, ch, sh, kxy, kt, sig2, out
):  # pragma: no cover - compiled
    """``C_go`` into C-ordered ``out`` (ncells, m): cells at time ``t_cell`` against obs."""
    for g in range(cphi.size):
        for i in range(phi.size):
            q = _neg_log_corr(
                cphi[g],
                clam[g],
                t_cell,
                cch[g],
                csh[g],
                phi[i],
                lam[i],
                t[i],
                ch[i],
                sh[i],
                kxy,
                kt,
            )
            out[g, i] = sig2 * math.exp(-q)


# --------------------------------------------------------------------------------------------
# LAPACK without the GIL
# --------------------------------------------------------------------------------------------
# SciPy's own LAPACK (what scipy.linalg.cho_factor, cho_solve and solve_triangular call, so the
# results are theirs bit for bit), called from numba kernels that release the GIL: SciPy's
# Python wrappers hold it, which serialises threads. The functions are passed to the kernels
# as arguments, not read as globals, so the kernels stay cacheable.


def _cython_lapack(name: str, nargs: int) -> ctypes._CFuncPtr:
    address = get_cython_function_address("scipy.linalg.cython_lapack", name)
    return ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * nargs))(address)


#: (uplo, n, a, lda, info)
_DPOTRF = _cython_lapack("dpotrf", 5)
#: (uplo, n, nrhs, a, lda, b, ldb, info)
_DPOTRS = _cython_lapack("dpotrs", 8)
#: (uplo, trans, diag, n, nrhs, a, lda, b, ldb, info)
_DTRTRS = _cython_lapack("dtrtrs", 10)
_UPPER, _TRANSPOSE, _NON_UNIT = ord("U"), ord("T"), ord("N")


@njit(cache=True, nogil=True)
def _cholesky_solve(potrf, potrs, a, y):  # pragma: no cover - compiled
    """Cholesky-factor the C-ordered ``a`` (its lower triangle: the Fortran upper one) in
    place and overwrite ``y`` with the solution; LAPACK's ``info``."""
    upper = np.array([_UPPER], dtype=np.uint8)
    n = np.array([a.shape[0]], dtype=np.int32)
    one = np.array([1], dtype=np.int32)
    info = np.zeros(1, dtype=np.int32)
    potrf(upper.ctypes, n.ctypes, a.ctypes, n.ctypes, info.ctypes)
    if info[0] == 0:
        potrs(upper.ctypes, n.ctypes, one.ctypes, a.ctypes, n.ctypes, y.ctypes, n.ctypes,
              info.ctypes)
    return info[0]


@njit(cache=True, nogil=True)
def _triangular_solve_transposed(trtrs, u, b):  # pragma: no cover - compiled
    """Overwrite the rows of C-ordered ``b`` (k, m) with ``U^-T`` times them, ``U`` the
    Fortran upper factor held by ``u`` (from :func:`_cholesky_solve`); LAPACK's ``info``."""
    upper = np.array([_UPPER], dtype=np.uint8)
    transpose = np.array([_TRANSPOSE], dtype=np.uint8)
    non_unit = np.array([_NON_UNIT], dtype=np.uint8)
    n = np.array([u.shape[0]], dtype=np.int32)
    nrhs = np.array([b.shape[0]], dtype=np.int32)
    info = np.zeros(1, dtype=np.int32)
    trtrs(upper.ctypes, transpose.ctypes, non_unit.ctypes, n.ctypes, nrhs.ctypes, u.ctypes,
          n.ctypes, b.ctypes, n.ctypes, info.ctypes)
    return info[0]


def _raise_for_info(routine: str, info: int) -> None:
    if info > 0:
        raise np.linalg.LinAlgError(
            f"{routine}: the OI covariance of a block is singular or not positive definite "
            f"(LAPACK info {info}); is noise_std_m far too small?")
    if info < 0:
        raise ValueError(f"{routine}: LAPACK rejected argument {-info}")


# --------------------------------------------------------------------------------------------
# preparation
# --------------------------------------------------------------------------------------------


def _vector(values: ArrayLike, name: str, n: int | None = None) -> FloatArray:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != 1 or (n is not None and a.size != n):
        expected = "a 1-D array" if n is None else f"a 1-D array of length {n}"
        raise ValueError(f"{name}: expected {expected}, got shape {a.shape}")
    return a


def _axis(values: ArrayLike, name: str) -> FloatArray:
    a = _vector(values, name)
    if a.size < 1 or not np.all(np.isfinite(a)) or not np.all(np.diff(a) > 0):
        raise ValueError(f"{name}: expected finite, strictly ascending values")
    return a


def _wrap_deg(lon: FloatArray) -> FloatArray:
    return (lon + 180.0) % 360.0 - 180.0


def _superobs(
    t: FloatArray,
    lat: FloatArray,
    lon: FloatArray,
    y: FloatArray,
    noise_var: float,
    config: OIConfig,
) -> tuple[FloatArray, ...]:
    """Average observations into super-observation bins (see the module docstring)."""
    band_deg = math.degrees(config.superob_km / _R_KM)
    band = np.floor(lat / band_deg)
    width = band_deg / np.maximum(np.cos(np.deg2rad((band + 0.5) * band_deg)), 1e-6)
    keys = np.stack(
        [np.floor(t / config.superob_days), band, np.floor((lon + 180.0) / width)]
    ).astype(np.int64)
    _, inverse, counts = np.unique(keys, axis=1, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()

    def mean(v: FloatArray) -> FloatArray:
        return np.bincount(inverse, v) / counts

    # Longitudes are in [-180, 180) and bins start at -180, so no bin straddles the
    # antimeridian and a plain mean of the members' longitudes is right.
    return mean(t), mean(lat), mean(lon), mean(y), noise_var / counts


def _unit_vectors(lat: FloatArray, lon: FloatArray) -> FloatArray:
    phi = np.deg2rad(lat)
    lam = np.deg2rad(lon)
    return np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], -1)


def _solve_block(
    phi, lam, t, ch, sh, y, nvar, cphi, clam, cch, csh, t_out, kxy, kt, sig2, with_variance
) -> tuple[FloatArray, FloatArray | None]:
    """Estimate (and error variance, if ``with_variance``) of one block's cells.

    ``y`` is overwritten. Everything but the final products runs without the GIL, so blocks
    solve concurrently on threads.
    """
    m = phi.size
    a = np.empty((m, m))
    _cov_obs_obs(phi, lam, t, ch, sh, nvar, kxy, kt, sig2, a)
    # a holds A in its lower triangle (C order), i.e. the upper one in Fortran order:
    # A = U^T U in place, then y <- A^-1 y
    _raise_for_info("dpotrf", _cholesky_solve(_DPOTRF, _DPOTRS, a, y))
    c_go = np.empty((cphi.size, m))
    _cov_cells_obs(cphi, clam, cch, csh, t_out, phi, lam, t, ch, sh, kxy, kt, sig2, c_go)
    estimate = c_go @ y
    if not with_variance:
        return estimate, None
    # diag(C_go A^-1 C_og) = column norms of U^-T C_og (c_go's rows, in place)
    _raise_for_info("dtrtrs", _triangular_solve_transposed(_DTRTRS, a, c_go))
    return estimate, np.clip(sig2 - np.einsum("ij,ij->i", c_go, c_go), 0.0, sig2)


@dataclass(frozen=True)
class _Block:
    """One block of grid cells: where it lies in the grid and its cells' coordinates."""

    rows: slice
    cols: slice
    lat: FloatArray  # the block's row latitudes, degrees
    lon_mid: float  # longitude of the block centre, degrees in [-180, 180)
    half_width: float  # largest longitude distance of a cell from lon_mid, degrees
    centre: FloatArray  # unit vector of the block centre
    radius: float  # largest normalised chord from the centre to a cell
    cphi: FloatArray  # cell latitudes, radians, row-major over the block
    clam: FloatArray  # cell longitudes, radians in [-pi, pi)
    cch: FloatArray
    csh: FloatArray


def _blocks(glat: FloatArray, glon: FloatArray, size: int, scale: float) -> list[_Block]:
    """The grid cut into ``size`` x ``size`` blocks (smaller at the last row and column)."""
    blocks = []
    for iy0 in range(0, glat.size, size):
        rows = slice(iy0, min(iy0 + size, glat.size))
        blat = glat[rows]
        for ix0 in range(0, glon.size, size):
            cols = slice(ix0, min(ix0 + size, glon.size))
            blon = _wrap_deg(glon[cols])
            cell_lat = np.repeat(blat, blon.size)
            cell_lon = np.tile(blon, blat.size)
            # block centre on the sphere and the block's radius around it (normalised chord)
            xyz = _unit_vectors(cell_lat, cell_lon)
            centre = xyz.mean(axis=0)
            centre /= np.linalg.norm(centre)
            lon_mid = math.degrees(math.atan2(centre[1], centre[0]))
            cphi = np.deg2rad(cell_lat)
            blocks.append(_Block(
                rows=rows, cols=cols, lat=blat, lon_mid=lon_mid,
                half_width=float(np.max(np.abs(_wrap_deg(blon - lon_mid)))),
                centre=centre, radius=scale * float(np.max(np.linalg.norm(xyz - centre, axis=1))),
                cphi=cphi, clam=np.deg2rad(cell_lon), cch=np.cos(0.5 * cphi),
                csh=np.sin(0.5 * cphi),
            ))
    return blocks


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


def optimal_interpolation(
    obs_time_days: ArrayLike,
    obs_lat: ArrayLike,
    obs_lon: ArrayLike,
    obs_values: ArrayLike,
    grid_lat: ArrayLike,
    grid_lon: ArrayLike,
    times_days: ArrayLike,
    config: OIConfig | None = None,
    *,
    error_variance: bool = True,
    threads: int = 1,
    ocean: ArrayLike | None = None,
) -> tuple[FloatArray, FloatArray | None]:
    """Map along-track anomalies onto a lon/lat grid by block-local optimal interpolation.

    Parameters
    ----------
    obs_time_days : array of float, shape (n,)
        Observation times, days from any origin (the same as ``times_days``).
    obs_lat, obs_lon : array of float, shape (n,)
        Observation positions, degrees (any longitude convention).
    obs_values : array of float, shape (n,)
        Observed anomalies, m. Observations with any non-finite field are ignored.
    grid_lat, grid_lon : array of float, shape (ny,) and (nx,)
        Output cell centres, degrees, strictly ascending (need not be regular).
    times_days : array of float, shape (ntimes,)
        Output times, days from the origin of ``obs_time_days``.
    config : OIConfig, optional
        Covariance, noise and block parameters (defaults: ``OIConfig()``).
    error_variance : bool, default True
        Whether to compute the error variance (about 30 % of the cost); the estimate is the
        same bit for bit either way.
    threads : int, default 1
        Threads solving blocks concurrently (the covariance kernels and LAPACK release the
        GIL). Every block is solved the same way whatever the count, so the result is the same
        bit for bit. BLAS threads are left as they are: callers running several threads
        usually limit BLAS to one (:func:`threadpoolctl.threadpool_limits`).
    ocean : array of bool, shape (ny, nx), optional
        True on sea cells: no estimate is made on land (NaN there), and a block of land cells
        only is not solved. The estimate on sea cells is the same bit for bit as without a
        mask (covariances are not blocked by land). All sea when None.

    Returns
    -------
    estimate : ndarray of float64, shape (ntimes, ny, nx)
        OI anomaly, m; NaN on land.
    error_variance : ndarray of float64, shape (ntimes, ny, nx), or None
        Posterior error variance, m², in :math:`[0, \\sigma^2]` (NaN on land); None when
        ``error_variance`` is False.

    Raises
    ------
    ValueError
        If an argument has the wrong shape, or a grid axis or the times are not finite and
        strictly ascending, or ``threads`` is not a positive integer; the message names the
        argument.
    varnet.config.ConfigError
        If ``config`` is invalid.
    """
    config = OIConfig() if config is None else config
    config.validate()
    positive_int(threads, "threads")
    t = _vector(obs_time_days, "obs_time_days")
    n = t.size
    lat = _vector(obs_lat, "obs_lat", n)
    lon = _vector(obs_lon, "obs_lon", n)
    y = _vector(obs_values, "obs_values", n)
    glat = _axis(grid_lat, "grid_lat")
    glon = _axis(grid_lon, "grid_lon")
    times = _axis(times_days, "times_days")
    if glat[0] < -90.0 or glat[-1] > 90.0:
        raise ValueError("grid_lat: latitudes must lie within [-90, 90] degrees")
    land = None
    if ocean is not None:
        sea = np.asarray(ocean)
        if sea.shape != (glat.size, glon.size) or sea.dtype != np.bool_:
            raise ValueError(f"ocean: expected a boolean mask of shape {(glat.size, glon.size)}"
                             f", got {sea.dtype} {sea.shape}")
        land = None if sea.all() else ~sea

    ok = (
        np.isfinite(t)
        & np.isfinite(lat)
        & np.isfinite(lon)
        & np.isfinite(y)
        & (np.abs(lat) <= 90.0)
    )
    t, lat, lon, y = t[ok], lat[ok], _wrap_deg(lon[ok]), y[ok]
    sig2 = config.signal_std_m**2
    noise_var = config.noise_std_m**2
    if config.superob_km > 0 and t.size:
        t, lat, lon, y, nvar = _superobs(t, lat, lon, y, noise_var, config)
    else:
        nvar = np.full(t.size, noise_var)

    shape = (times.size, glat.size, glon.size)
    estimate = np.zeros(shape)
    variance = np.full(shape, sig2) if error_variance else None
    if t.size == 0:
        return _masked(estimate, land), _masked(variance, land)

    scale = _R_KM / config.space_scale_km
    kxy = scale**2  # multiplies squared angular distances (radians)
    kt = 1.0 / config.time_scale_days**2
    phi, lam = np.deg2rad(lat), np.deg2rad(lon)
    ch, sh = np.cos(0.5 * phi), np.sin(0.5 * phi)
    tree = cKDTree(np.column_stack([scale * _unit_vectors(lat, lon), t / config.time_scale_days]))
    cut2 = config.cutoff**2

    def solve(block: _Block) -> None:
        """Every output time of ``block``, into its own cells of the outputs."""
        blat = block.lat
        for it, t_out in enumerate(times):
            ball = tree.query_ball_point(
                np.append(scale * block.centre, t_out / config.time_scale_days),
                config.cutoff + block.radius + 1e-9,
            )
            cand = np.sort(np.asarray(ball, dtype=np.int64))
            # lower bound of the normalised distance to the block's lat/lon rectangle
            clat = lat[cand]
            dphi = np.maximum(0.0, np.maximum(blat[0] - clat, clat - blat[-1]))
            dlam = np.maximum(
                0.0, np.abs(_wrap_deg(lon[cand] - block.lon_mid)) - block.half_width
            )
            cos_max = np.cos(
                np.deg2rad(np.clip(0.0, 0.5 * (clat + blat[0]), 0.5 * (clat + blat[-1])))
            )
            dist2 = (
                kxy * np.deg2rad(np.hypot(cos_max * dlam, dphi)) ** 2
                + kt * (t[cand] - t_out) ** 2
            )
            sel = cand[dist2 <= cut2]
            if sel.size == 0:
                continue
            est, var = _solve_block(
                phi[sel], lam[sel], t[sel], ch[sel], sh[sel], y[sel], nvar[sel],
                block.cphi, block.clam, block.cch, block.csh, t_out, kxy, kt, sig2,
                error_variance,
            )
            cells = (it, block.rows, block.cols)
            estimate[cells] = est.reshape(blat.size, -1)
            if variance is not None:
                variance[cells] = var.reshape(blat.size, -1)

    blocks = _blocks(glat, glon, config.block_cells, scale)
    if land is not None:
        blocks = [b for b in blocks if not land[b.rows, b.cols].all()]
    if threads == 1:
        for block in blocks:
            solve(block)
    else:
        # blocks write disjoint cells; list() re-raises the first error of any block
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(solve, blocks))
    return _masked(estimate, land), _masked(variance, land)


def _masked(field: FloatArray | None, land: NDArray[np.bool_] | None) -> FloatArray | None:
    """``field`` (ntimes, ny, nx) with NaN on ``land`` cells (in place; None passes)."""
    if field is not None and land is not None:
        field[:, land] = np.nan
    return field
