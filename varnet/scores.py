r"""The paper's scores of SSH and surface-current reconstructions (no torch).

Definitions follow Fablet et al. (JAMES 2024) and its evaluation code, digested in
``shared/reference/paper.md`` (sections 5 and 6) and ``shared/reference/anchors.md``
(section 2):

* :func:`psd_space_time_score`: the effective space-time resolution
  :math:`(\lambda_x, \lambda_t)` from the 0.5 level set of the spectral score
  :math:`S = 1 - \mathrm{PSD}_{err}/\mathrm{PSD}_{ref}` over (longitude, time);
* :func:`isotropic_resolution_km`: the isotropic spatial resolution (km);
* :func:`tau_uv`, :func:`tau_field`, :func:`tau_vort`, :func:`tau_div`, :func:`tau_strain`:
  explained-variance scores :math:`\tau` (%), with a 3-pixel border crop;
* :func:`nrmse_scores`: the normalised-RMSE score :math:`(\mu, \sigma)`;
* :func:`score_table`, :func:`table_markdown`, :func:`plot_psd_scores`: the paper's results
  table for several reconstructions and a figure of the spectral scores.

Fields are arrays of shape ``(time, lat, lon)`` (NumPy arrays, or xarray DataArrays whose
dimensions are named ``time``, ``lat`` and ``lon``, in any order) on a regular grid, with 1-D
coordinates: time in days (float, or ``datetime64``), latitude and longitude in degrees.
Spectral scores need complete fields (a ``ValueError`` names the argument that has NaN);
:math:`\tau` and :math:`\mu` use the points where every input is finite.

**Land.** Every score takes ``ocean``, a boolean array of shape ``(lat, lon)``, True on sea
cells. ``None`` (or an all-True mask) means all sea, and the computation is then exactly the
unmasked one, bit for bit. Land values never enter a score, whatever they hold (NaN, zeros or
garbage), and the rules differ by family:

* pointwise scores (:func:`tau_uv`, :func:`tau_field`, :func:`nrmse_scores`) count sea cells
  only: land leaves the sums as NaN does, the mask being cropped with the fields;
* derivative scores (:func:`tau_vort_div_strain` and the geostrophic currents of
  :func:`score_table`): the Gaussian pre-smoothing becomes a normalised convolution over sea
  cells, :math:`G*(m f) / G*m` with :math:`m` the mask, and the paper's 3-point stencil is
  never applied across the coast: a sea cell whose stencil reaches a land cell (a land cell
  among its 4 neighbours) gets NaN and leaves the score. No one-sided stencil replaces it:
  where the paper's derivative is defined it is the paper's, elsewhere there is none;
* spectral scores (:func:`psd_space_time_score`, :func:`isotropic_resolution_km`) need
  complete fields: land is filled with zero anomaly after removing the mean over sea (the
  same mask on reconstruction and reference, so the error is 0 there as well: the two spectra
  cover the same sea and compare like with like), then the unmasked computation runs. A
  :math:`\lambda` on a masked domain compares with other reconstructions on the same mask,
  not with open-ocean values (the coastline's edge adds some small-scale power to both
  spectra); a ``ValueError`` is raised below :data:`MIN_SEA_FRACTION` of sea.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage
from scipy.signal.windows import hann

from varnet.kernels.paper_derivatives import (
    PAPER_EARTH_RADIUS_M,
    paper_div_curl_strain,
    paper_geostrophy,
)

__all__ = [
    "MIN_SEA_FRACTION",
    "SCORE_COLUMNS",
    "Fields",
    "IsotropicScore",
    "SpaceTimeScore",
    "isotropic_resolution_km",
    "nrmse_scores",
    "plot_psd_scores",
    "psd_space_time_score",
    "score_table",
    "scored_currents",
    "table_markdown",
    "tau_div",
    "tau_field",
    "tau_strain",
    "tau_uv",
    "tau_vort",
    "tau_vort_div_strain",
]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
Sigma = float | Sequence[float]

#: Level of the spectral score that defines the effective resolution.
LEVEL = 0.5
#: Border (pixels, in lat and lon) removed before the explained-variance scores.
CROP = 3
#: Columns of :func:`score_table`, in order: degrees, degrees, days, days, %, %, %, %, -, °.
SCORE_COLUMNS = (
    "lambda_x_u",
    "lambda_x_v",
    "lambda_t_u",
    "lambda_t_v",
    "tau_uv",
    "tau_vort",
    "tau_div",
    "tau_strain",
    "mu_ssh",
    "lambda_x_ssh",
)
# Relative tolerance on regular coordinate spacing (xrft's spacing_tol).
_SPACING_RTOL = 1e-3
# Lower limit of the score axis of the figure (scores can be very negative).
_PLOT_SCORE_MIN = -0.25
# Largest number of samples per FFT block (bounds the temporary complex arrays).
_BLOCK_SAMPLES = 4_000_000
#: Smallest fraction of the (lat, lon) cells that must be sea (and scored) for a spectral
#: score with a land mask: below it, the zero-filled land and its coastline weigh too much
#: in the spectra.
MIN_SEA_FRACTION = 0.5


# --------------------------------------------------------------------------------------------
# input validation
# --------------------------------------------------------------------------------------------


def _cube(values: ArrayLike, name: str) -> FloatArray:
    """(time, lat, lon) float64 array; a DataArray with those dimension names is transposed."""
    dims = getattr(values, "dims", None)
    if dims is not None and set(dims) == {"time", "lat", "lon"}:
        values = values.transpose("time", "lat", "lon")
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != 3:
        raise ValueError(f"{name} must have shape (time, lat, lon), got {a.shape}")
    return a


def _complete(a: FloatArray, name: str) -> FloatArray:
    bad = int(np.count_nonzero(~np.isfinite(a)))
    if bad:
        raise ValueError(
            f"{name} has {bad} non-finite values; spectral scores need complete fields "
            "(crop or fill them first)"
        )
    return a


def _same_shapes(**arrays: FloatArray) -> None:
    shapes = {name: a.shape for name, a in arrays.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"shapes differ: {shapes}")


def _sea(ocean: ArrayLike | None, shape: tuple[int, ...]) -> BoolArray | None:
    """The validated sea mask of fields of ``shape`` ``(..., lat, lon)``.

    ``None`` when ``ocean`` is None or all True: the scores then take their unmasked code
    path, so that open-ocean results stay the same bit for bit.
    """
    if ocean is None:
        return None
    mask = np.asarray(ocean)
    if mask.dtype != np.bool_:
        raise ValueError(f"ocean must be a boolean array (True on sea), got dtype {mask.dtype}")
    if len(shape) < 2 or mask.shape != tuple(shape[-2:]):
        raise ValueError(
            f"ocean must have the (lat, lon) shape of the fields {tuple(shape)}, got {mask.shape}"
        )
    if mask.all():
        return None
    if not mask.any():
        raise ValueError("ocean has no sea cell: there is nothing to score")
    return mask


def _sea_filled(a: FloatArray, sea: BoolArray) -> FloatArray:
    """``a`` with 0 on land (whatever the land held, NaN and inf included)."""
    return np.where(sea, a, 0.0)


def _enough_sea(sea: BoolArray, min_sea_fraction: float) -> None:
    if not 0.0 < min_sea_fraction <= 1.0:
        raise ValueError(f"min_sea_fraction must be in (0, 1], got {min_sea_fraction!r}")
    fraction = float(np.mean(sea))
    if fraction < min_sea_fraction:
        raise ValueError(
            f"only {100.0 * fraction:.1f} % of the (lat, lon) cells are sea (and scored), "
            f"below the {100.0 * min_sea_fraction:.0f} % a spectral score needs "
            "(min_sea_fraction): score a more oceanic box"
        )


def _step(values: ArrayLike, name: str, n: int) -> float:
    """Step of a regular, strictly increasing 1-D coordinate of length ``n`` (days if time)."""
    c = np.asarray(values)
    if np.issubdtype(c.dtype, np.datetime64):
        c = (c - c.flat[0]) / np.timedelta64(1, "D")
    c = np.asarray(c, dtype=np.float64)
    if c.ndim != 1 or c.size != n:
        raise ValueError(f"{name} must be 1-D of length {n} (the field's axis), got {c.shape}")
    if n < 2 or not np.all(np.isfinite(c)):
        raise ValueError(f"{name} must hold at least 2 finite values")
    steps = np.diff(c)
    step = (c[-1] - c[0]) / (n - 1)
    if not np.all(steps > 0) or np.max(np.abs(steps - step)) > _SPACING_RTOL * step:
        raise ValueError(f"{name} must be strictly increasing and regularly spaced")
    return float(step)


# --------------------------------------------------------------------------------------------
# space-time spectral score (lambda_x, lambda_t)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SpaceTimeScore:
    r"""Spectral score over (longitude, time) and the effective resolution it gives.

    Attributes
    ----------
    lambda_x_deg : float
        :math:`\lambda_x`, degrees of longitude: the smallest wavelength on the 0.5 level set
        (NaN if the score never exceeds 0.5).
    lambda_t_days : float
        :math:`\lambda_t`, days: the smallest period on the same level set (NaN likewise).
    freq_lon : numpy.ndarray
        Positive longitudinal frequencies, cycles per degree, shape ``(nk,)``, increasing.
    freq_time : numpy.ndarray
        Positive temporal frequencies, cycles per day, shape ``(nw,)``, increasing.
    score : numpy.ndarray
        :math:`S = 1 - \mathrm{PSD}_{err}/\mathrm{PSD}_{ref}`, shape ``(nw, nk)``.
    psd_err, psd_ref : numpy.ndarray
        Latitude-averaged power spectral densities of the error and of the reference,
        field units squared per (cycle/day x cycle/degree), shape ``(nw, nk)``.
    level_set : numpy.ndarray
        Points of the 0.5 level set used, shape ``(m, 2)``: (wavelength in degrees, period in
        days) of each grid-edge crossing (empty if none).
    resolved_everywhere : bool
        :math:`S > 0.5` at every sampled scale: the level set does not exist and the
        :math:`\lambda` are the smallest sampled wavelength and period, upper bounds.
    unresolved_everywhere : bool
        :math:`S \le 0.5` at every sampled scale: the :math:`\lambda` are NaN.
    lambda_x_is_bound, lambda_t_is_bound : bool
        The resolved region reaches the smallest sampled wavelength (period): the value is
        that sampling limit, an upper bound on the true resolution.
    """

    lambda_x_deg: float
    lambda_t_days: float
    freq_lon: FloatArray
    freq_time: FloatArray
    score: FloatArray
    psd_err: FloatArray
    psd_ref: FloatArray
    level_set: FloatArray
    resolved_everywhere: bool
    unresolved_everywhere: bool
    lambda_x_is_bound: bool
    lambda_t_is_bound: bool

    @property
    def wavelength_deg(self) -> FloatArray:
        """Wavelengths ``1 / freq_lon``, degrees, decreasing, shape ``(nk,)``."""
        return 1.0 / self.freq_lon

    @property
    def period_days(self) -> FloatArray:
        """Periods ``1 / freq_time``, days, decreasing, shape ``(nw,)``."""
        return 1.0 / self.freq_time


def _space_time_psd(x: FloatArray, dt: float, dlon: float) -> FloatArray:
    """Latitude-mean PSD over (time, lon) at positive frequencies, shape (nw, nk).

    Per latitude row: remove the mean of the (time, lon) slab, apply periodic Hann windows in
    time and longitude (``scipy.signal.windows.hann(n, sym=False)``, as xrft's
    ``window='hann'``), 2-D FFT, squared modulus, xrft's density scaling.
    """
    nt, ny, nx = x.shape
    nw, nk = (nt - 1) // 2, (nx - 1) // 2
    window = hann(nt, sym=False)[:, None, None] * hann(nx, sym=False)[None, None, :]
    total = np.zeros((nw, nk))
    block = max(1, _BLOCK_SAMPLES // (nt * nx))
    for j0 in range(0, ny, block):
        slab = x[:, j0 : j0 + block, :]
        slab = (slab - slab.mean(axis=(0, 2), keepdims=True)) * window
        spec = np.fft.rfft(slab, axis=2)[:, :, 1 : nk + 1]
        spec = np.fft.fft(spec, axis=0)[1 : nw + 1]
        total += np.sum(spec.real**2 + spec.imag**2, axis=1)
    return total * (dt * dlon / (nt * nx * ny))


def _resolved_component(above: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The connected part of ``above`` (4-connectivity) taken as the resolved region.

    The one holding the large-scale corner ``[0, 0]`` (lowest frequencies), else the largest
    (ties: the first in row-major order from that corner).
    """
    labels, count = ndimage.label(above)
    if above[0, 0]:
        keep = labels[0, 0]
    else:
        keep = 1 + int(np.argmax(np.bincount(labels.ravel(), minlength=count + 1)[1:]))
    return labels == keep


def _edge_crossings(
    score: FloatArray, inside: NDArray[np.bool_], x: FloatArray, y: FloatArray, axis: int
) -> FloatArray:
    """Level crossings on the grid edges along ``axis`` that leave the region ``inside``.

    ``score`` has shape ``(len(y), len(x))``. A neighbour of the region outside it has
    ``score <= LEVEL`` (else it would belong to the region), so each such edge holds one
    crossing, placed by linear interpolation of the score in the (x, y) coordinates, as a
    contouring routine does. Returns points as rows (x, y).
    """
    xx, yy = np.meshgrid(x, y)
    points = []
    for forward in (True, False):
        lo = [slice(None)] * 2
        hi = [slice(None)] * 2
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        a, b = (tuple(lo), tuple(hi)) if forward else (tuple(hi), tuple(lo))
        edge = inside[a] & ~inside[b]
        s_in, s_out = score[a][edge], score[b][edge]
        frac = (s_in - LEVEL) / (s_in - s_out)
        px = xx[a][edge] + frac * (xx[b][edge] - xx[a][edge])
        py = yy[a][edge] + frac * (yy[b][edge] - yy[a][edge])
        points.append(np.column_stack([px, py]))
    return np.concatenate(points)


def _sea_row_anomaly(x: FloatArray, sea: BoolArray) -> FloatArray:
    """``x`` minus the mean of its sea cells over (time, lon) in each latitude row, 0 on land.

    ``x`` is already 0 on land (rows without sea stay 0)."""
    count = sea.sum(axis=1) * x.shape[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = x.sum(axis=(0, 2)) / count
    return np.where(sea, x - mean[None, :, None], 0.0)


def _spectral_fields(rec: ArrayLike, ref: ArrayLike, ocean: ArrayLike | None,
                     min_sea_fraction: float) -> tuple[FloatArray, FloatArray,
                                                        NDArray[np.bool_] | None]:
    """The (time, lat, lon) fields of a spectral score and its sea mask (None: all sea),
    checked: same shapes, complete (on sea cells), enough sea."""
    rec_a, ref_a = _cube(rec, "rec"), _cube(ref, "ref")
    sea = _sea(ocean, ref_a.shape)
    if sea is None:
        _complete(rec_a, "rec")
        _complete(ref_a, "ref")
        _same_shapes(rec=rec_a, ref=ref_a)
    else:
        _same_shapes(rec=rec_a, ref=ref_a)
        _enough_sea(sea, min_sea_fraction)
        _complete(rec_a[:, sea], "rec on sea cells")
        _complete(ref_a[:, sea], "ref on sea cells")
    return rec_a, ref_a, sea


def psd_space_time_score(
    rec: ArrayLike,
    ref: ArrayLike,
    time_days: ArrayLike,
    lon_deg: ArrayLike,
    *,
    ocean: ArrayLike | None = None,
    min_sea_fraction: float = MIN_SEA_FRACTION,
) -> SpaceTimeScore:
    r"""Effective space-time resolution :math:`(\lambda_x, \lambda_t)` of a reconstruction.

    The paper's ``psd_based_scores`` (data-challenge 2020a style): with ``err = rec - ref``,
    for each latitude row the 2-D power spectrum over (time, longitude) is computed after
    removing the row's (time, lon) mean and applying periodic Hann windows in both dimensions
    (xrft ``detrend='constant', window='hann'``); spectra are averaged over latitude and only
    positive frequencies in both dimensions are kept (one quadrant, as the paper). The score
    is :math:`S = 1 - \mathrm{PSD}_{err}/\mathrm{PSD}_{ref}` on the axes wavelength
    (``1/freq_lon``, degrees) and period (``1/freq_time``, days).

    **Level set.** :math:`\lambda_x` and :math:`\lambda_t` are the minima of wavelength and
    period over the :math:`S = 0.5` level set. The paper takes the vertices of the *first path*
    of a Matplotlib contour, which depends on Matplotlib's internal traversal (it starts from
    the lowest-frequency corner of the array) and breaks on Matplotlib >= 3.10; here no
    contouring library is used. The resolved region is the 4-connected component of
    :math:`\{S > 0.5\}` holding the large-scale (lowest-frequency) corner of the spectrum (if
    :math:`S \le 0.5` there, the largest component): the reading of "first path" that
    isolated noisy islands at small scales cannot hijack. Its boundary crossings are found on
    every grid edge leaving the region, by linear interpolation of :math:`S` in (wavelength,
    period) coordinates, as a contour routine does. Where the region reaches the smallest
    sampled wavelength (or period) the boundary runs along the edge of the sampled spectrum:
    the value is that sampling limit and the ``*_is_bound`` flag is set.

    **No crossing.** If :math:`S > 0.5` everywhere, the field is resolved at every sampled
    scale: :math:`\lambda_x` and :math:`\lambda_t` are the smallest sampled wavelength
    (``1 / max(freq_lon)``) and period, upper bounds, with ``resolved_everywhere=True``. If
    :math:`S \le 0.5` everywhere, both are NaN with ``unresolved_everywhere=True``.

    **Land.** With ``ocean``, land is filled with zero anomaly: in each latitude row the mean
    over (time, lon) of the sea cells is removed from the error and from the reference (the
    constant detrending above, restricted to sea), land is set to 0 in both, and the
    computation above runs unchanged (its detrending then removes nothing). The error is 0 on
    land and the reference 0 anomaly there: both spectra cover the same sea.

    Parameters
    ----------
    rec, ref : array_like
        Reconstruction and reference, shape ``(time, lat, lon)``, same units, complete (no
        NaN; on sea cells only when ``ocean`` is given).
    time_days : array_like
        Times, shape ``(time,)``, days (float) or ``datetime64``; regular.
    lon_deg : array_like
        Longitudes, degrees, shape ``(lon,)``; regular.
    ocean : numpy.ndarray of bool, shape (lat, lon), optional
        True on sea cells; None means all sea (see **Land**).
    min_sea_fraction : float, default :data:`MIN_SEA_FRACTION`
        Smallest fraction of sea cells accepted with ``ocean``, dimensionless in (0, 1].

    Returns
    -------
    SpaceTimeScore
        The score, spectra and :math:`(\lambda_x, \lambda_t)` (degrees, days) with flags.

    Raises
    ------
    ValueError
        If a field has NaN/inf (on sea; the message names it), shapes differ, a coordinate is
        not regular, time or longitude has fewer than 3 samples, ``ref`` has no power at some
        frequency (the score is undefined there), ``ocean`` does not fit, or its sea fraction
        is below ``min_sea_fraction``.
    """
    rec_a, ref_a, sea = _spectral_fields(rec, ref, ocean, min_sea_fraction)
    nt, _, nx = ref_a.shape
    if nt < 3 or nx < 3:
        raise ValueError(f"need at least 3 times and 3 longitudes, got shape {ref_a.shape}")
    dt = _step(time_days, "time_days", nt)
    dlon = _step(lon_deg, "lon_deg", nx)
    if sea is None:
        err, ref_s = rec_a - ref_a, ref_a
    else:
        rec_f, ref_f = _sea_filled(rec_a, sea), _sea_filled(ref_a, sea)
        err, ref_s = _sea_row_anomaly(rec_f - ref_f, sea), _sea_row_anomaly(ref_f, sea)
    psd_err = _space_time_psd(err, dt, dlon)
    psd_ref = _space_time_psd(ref_s, dt, dlon)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = 1.0 - psd_err / psd_ref
    if not np.all(np.isfinite(score)):
        raise ValueError("ref has no power at some frequencies: the spectral score is undefined")
    freq_time = np.arange(1, psd_ref.shape[0] + 1) / (nt * dt)
    freq_lon = np.arange(1, psd_ref.shape[1] + 1) / (nx * dlon)
    wavelength, period = 1.0 / freq_lon, 1.0 / freq_time

    spectra = {
        "freq_lon": freq_lon,
        "freq_time": freq_time,
        "score": score,
        "psd_err": psd_err,
        "psd_ref": psd_ref,
    }
    above = score > LEVEL
    if not above.any():
        return SpaceTimeScore(
            lambda_x_deg=math.nan,
            lambda_t_days=math.nan,
            level_set=np.empty((0, 2)),
            resolved_everywhere=False,
            unresolved_everywhere=True,
            lambda_x_is_bound=False,
            lambda_t_is_bound=False,
            **spectra,
        )
    region = _resolved_component(above)
    points = np.concatenate(
        [
            _edge_crossings(score, region, wavelength, period, axis=1),
            _edge_crossings(score, region, wavelength, period, axis=0),
        ]
    )
    # where the region reaches the finest sampled scale, its boundary is the sampling limit
    x_bound = bool(region[:, -1].any())
    t_bound = bool(region[-1, :].any())
    lambda_x = min([*points[:, 0], *([wavelength[-1]] if x_bound else [])])
    lambda_t = min([*points[:, 1], *([period[-1]] if t_bound else [])])
    return SpaceTimeScore(
        lambda_x_deg=float(lambda_x),
        lambda_t_days=float(lambda_t),
        level_set=points,
        resolved_everywhere=bool(above.all()),
        unresolved_everywhere=False,
        lambda_x_is_bound=x_bound,
        lambda_t_is_bound=t_bound,
        **spectra,
    )


# --------------------------------------------------------------------------------------------
# isotropic spatial resolution
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class IsotropicScore:
    r"""Isotropic spectral score over (lat, lon) and the spatial resolution it gives.

    Attributes
    ----------
    resolution_km : float
        Wavelength, km, where the score falls to 0.5 (NaN if it never exceeds 0.5; the
        smallest ring wavelength, an upper bound, if it never falls to 0.5).
    wavelength_km : numpy.ndarray
        Wavelength of each ring (1 / mean wavenumber of its members), km, decreasing.
    score : numpy.ndarray
        :math:`1 - \mathrm{PSD}_{err}/\mathrm{PSD}_{ref}` per ring.
    psd_err, psd_ref : numpy.ndarray
        Time-averaged ring-mean power spectral densities, units squared per (cycle/km)^2.
    resolved_everywhere, unresolved_everywhere : bool
        The score is above 0.5 at every ring / at none.
    resolution_is_bound : bool
        The score stays above 0.5 down to the smallest ring: ``resolution_km`` is that
        sampling limit, an upper bound.
    """

    resolution_km: float
    wavelength_km: FloatArray
    score: FloatArray
    psd_err: FloatArray
    psd_ref: FloatArray
    resolved_everywhere: bool
    unresolved_everywhere: bool
    resolution_is_bound: bool


def _plane_detrended(s: FloatArray) -> FloatArray:
    """Remove the least-squares plane over the last two (index) axes of each slice."""
    ny, nx = s.shape[-2:]
    jj = (np.arange(ny) - (ny - 1) / 2.0)[:, None]
    ii = (np.arange(nx) - (nx - 1) / 2.0)[None, :]
    # jj and ii are orthogonal (and orthogonal to the constant) on the full grid
    mean = s.mean(axis=(-2, -1), keepdims=True)
    slope_j = np.sum(s * jj, axis=(-2, -1), keepdims=True) / (nx * np.sum(jj**2))
    slope_i = np.sum(s * ii, axis=(-2, -1), keepdims=True) / (ny * np.sum(ii**2))
    return s - mean - slope_j * jj - slope_i * ii


def isotropic_psd(x: FloatArray, dy_km: float, dx_km: float) -> tuple[FloatArray, FloatArray]:
    """Isotropic power spectral density of daily maps, averaged over time.

    Each map has its least-squares plane removed and is multiplied by periodic Hann windows
    in both directions before the 2-D FFT; the density is averaged over rings one fundamental
    wavenumber wide, up to the smaller Nyquist wavenumber.

    Parameters
    ----------
    x : ndarray, shape (time, lat, lon)
        Complete (NaN-free) maps, units X.
    dy_km, dx_km : float
        Grid steps, km.

    Returns
    -------
    psd : ndarray
        Ring-mean 2-D spectral density, X^2 per (cycle/km)^2; multiply by 2 pi k for the
        ring-integrated (1-D isotropic) spectrum.
    k : ndarray
        Mean wavenumber of each ring, cycles per km.
    """
    nt, ny, nx = x.shape
    window = hann(ny, sym=False)[:, None] * hann(nx, sym=False)[None, :]
    power = np.zeros((ny, nx))
    block = max(1, _BLOCK_SAMPLES // (ny * nx))
    for t0 in range(0, nt, block):
        spec = np.fft.fft2(_plane_detrended(x[t0 : t0 + block]) * window)
        power += np.sum(spec.real**2 + spec.imag**2, axis=0)
    power *= dx_km * dy_km / (nx * ny * nt)
    kr = np.hypot(np.fft.fftfreq(ny, dy_km)[:, None], np.fft.fftfreq(nx, dx_km)[None, :])
    dk = max(1.0 / (nx * dx_km), 1.0 / (ny * dy_km))
    n_rings = math.floor(min(0.5 / dx_km, 0.5 / dy_km) / dk + 1e-9)
    ring = np.rint(kr / dk).astype(np.int64).ravel()
    member = (ring >= 1) & (ring <= n_rings)
    count = np.bincount(ring[member], minlength=n_rings + 1)[1:]
    psd = np.bincount(ring[member], power.ravel()[member], n_rings + 1)[1:] / count
    k_mean = np.bincount(ring[member], kr.ravel()[member], n_rings + 1)[1:] / count
    return psd, k_mean


def _sea_plane_anomaly(x: FloatArray, sea: BoolArray) -> FloatArray:
    """Each map of ``x`` minus its least-squares plane fitted on the sea cells, 0 on land."""
    ny, nx = sea.shape
    jj, ii = np.meshgrid(
        np.arange(ny) - (ny - 1) / 2.0, np.arange(nx) - (nx - 1) / 2.0, indexing="ij"
    )
    design = np.column_stack([np.ones(int(sea.sum())), jj[sea], ii[sea]])
    values = x[:, sea].T
    coef = np.linalg.lstsq(design, values, rcond=None)[0]
    out = np.zeros_like(x)
    out[:, sea] = (values - design @ coef).T
    return out


def isotropic_resolution_km(
    rec: ArrayLike,
    ref: ArrayLike,
    lat_deg: ArrayLike,
    lon_deg: ArrayLike,
    *,
    ocean: ArrayLike | None = None,
    min_sea_fraction: float = MIN_SEA_FRACTION,
) -> IsotropicScore:
    r"""Isotropic spatial resolution (km) of a reconstruction.

    The paper's ``get_psd_score`` with distances in km: each daily map of ``err = rec - ref``
    and of ``ref`` has its least-squares plane removed (xrft ``detrend='linear'``), is
    multiplied by periodic Hann windows in lat and lon and Fourier transformed; the power is
    averaged over time and over rings of wavenumber :math:`k = \sqrt{k_x^2 + k_y^2}`. Grid
    steps are converted to km at the box's central latitude :math:`\phi_c`
    (:math:`\delta x = R\cos\phi_c\,\Delta\lambda`, :math:`\delta y = R\,\Delta\phi`,
    :math:`R` = 6371 km); the paper's code used a rough ``100/freq`` instead. Rings are one
    fundamental wavenumber wide (of the coarser axis) up to the smaller Nyquist wavenumber,
    where xrft uses ``min(n)/4`` wider bins that extend into the spectrum's corners.

    The resolution is the wavelength where the score
    :math:`1 - \mathrm{PSD}_{err}/\mathrm{PSD}_{ref}` first falls to 0.5 going from large to
    small scales, linearly interpolated in wavelength between the two rings around it. No
    crossing: if the score is above 0.5 at every ring (or from its first ring above 0.5 down
    to the last), the result is the smallest ring wavelength, an upper bound
    (``resolution_is_bound``; ``resolved_everywhere`` when it holds at every ring); if it is
    never above 0.5, NaN with ``unresolved_everywhere``.

    **Land.** With ``ocean``, each daily map of the error and of the reference has the
    least-squares plane of its sea cells removed and land set to 0 (zero anomaly, the same
    mask on both), then the computation above runs unchanged (its plane removal then removes
    nothing).

    Parameters
    ----------
    rec, ref : array_like
        Reconstruction and reference, shape ``(time, lat, lon)``, complete (no NaN; on sea
        cells only when ``ocean`` is given).
    lat_deg, lon_deg : array_like
        Regular coordinates, degrees, shapes ``(lat,)`` and ``(lon,)``.
    ocean : numpy.ndarray of bool, shape (lat, lon), optional
        True on sea cells; None means all sea (see **Land**).
    min_sea_fraction : float, default :data:`MIN_SEA_FRACTION`
        Smallest fraction of sea cells accepted with ``ocean``, dimensionless in (0, 1].

    Returns
    -------
    IsotropicScore
        Resolution (km), ring wavelengths, score, spectra and flags.

    Raises
    ------
    ValueError
        If a field has NaN/inf (on sea), shapes differ, coordinates are not regular, the
        domain has fewer than 2 rings, ``ref`` has no power in some ring, ``ocean`` does not
        fit, or its sea fraction is below ``min_sea_fraction``.
    """
    rec_a, ref_a, sea = _spectral_fields(rec, ref, ocean, min_sea_fraction)
    _, ny, nx = ref_a.shape
    dlat = _step(lat_deg, "lat_deg", ny)
    dlon = _step(lon_deg, "lon_deg", nx)
    lat = np.asarray(lat_deg, dtype=np.float64)
    radius_km = PAPER_EARTH_RADIUS_M / 1000.0
    dy_km = radius_km * math.radians(dlat)
    dx_km = radius_km * math.cos(math.radians(0.5 * (lat[0] + lat[-1]))) * math.radians(dlon)
    if sea is None:
        err, ref_s = rec_a - ref_a, ref_a
    else:
        rec_f, ref_f = _sea_filled(rec_a, sea), _sea_filled(ref_a, sea)
        err, ref_s = _sea_plane_anomaly(rec_f - ref_f, sea), _sea_plane_anomaly(ref_f, sea)
    psd_err, k_mean = isotropic_psd(err, dy_km, dx_km)
    psd_ref, _ = isotropic_psd(ref_s, dy_km, dx_km)
    if psd_ref.size < 2:
        raise ValueError(f"domain of {ny} x {nx} points is too small for an isotropic spectrum")
    with np.errstate(divide="ignore", invalid="ignore"):
        score = 1.0 - psd_err / psd_ref
    if not np.all(np.isfinite(score)):
        raise ValueError("ref has no power in some rings: the isotropic score is undefined")
    wavelength = 1.0 / k_mean
    above = score > LEVEL
    first = int(np.argmax(above))  # first ring above the level, from large scales
    drops = np.flatnonzero(~above[first:])
    if not above.any():
        resolution = math.nan
    elif drops.size == 0:
        resolution = wavelength[-1]
    else:
        m = first + int(drops[0])
        frac = (score[m - 1] - LEVEL) / (score[m - 1] - score[m])
        resolution = wavelength[m - 1] + frac * (wavelength[m] - wavelength[m - 1])
    return IsotropicScore(
        resolution_km=float(resolution),
        wavelength_km=wavelength,
        score=score,
        psd_err=psd_err,
        psd_ref=psd_ref,
        resolved_everywhere=bool(above.all()),
        unresolved_everywhere=not above.any(),
        resolution_is_bound=bool(above.any() and drops.size == 0),
    )


# --------------------------------------------------------------------------------------------
# explained-variance and RMSE scores
# --------------------------------------------------------------------------------------------


def _cropped(values: ArrayLike, name: str, crop: int) -> FloatArray:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim < 2:
        raise ValueError(f"{name} must have shape (..., lat, lon), got {a.shape}")
    if crop < 0 or min(a.shape[-2:]) <= 2 * crop:
        raise ValueError(f"cannot crop {crop} pixels from each border of {name} {a.shape}")
    ny, nx = a.shape[-2:]
    return a[..., crop : ny - crop, crop : nx - crop]


def _cropped_sea(ocean: ArrayLike | None, values: ArrayLike, crop: int) -> BoolArray | None:
    """The sea mask of ``values`` (uncropped), cropped as :func:`_cropped` crops the fields."""
    sea = _sea(ocean, np.shape(values))
    if sea is None:
        return None
    ny, nx = sea.shape
    return sea[crop : ny - crop, crop : nx - crop]


def _common_finite(sea: BoolArray | None = None, /, **arrays: FloatArray) -> BoolArray:
    """Where every array is finite (and, with ``sea``, on sea cells, broadcast over time)."""
    _same_shapes(**arrays)
    valid = np.logical_and.reduce([np.isfinite(a) for a in arrays.values()])
    if sea is not None:
        valid &= sea
    if not valid.any():
        where = " on sea cells" if sea is not None else ""
        raise ValueError(f"{', '.join(arrays)} have no finite value in common{where}")
    return valid


def tau_uv(
    u: ArrayLike,
    v: ArrayLike,
    u_ref: ArrayLike,
    v_ref: ArrayLike,
    crop: int = CROP,
    *,
    ocean: ArrayLike | None = None,
) -> float:
    r"""Explained kinetic energy :math:`\tau_{uv}`, %.

    :math:`100\,(1 - \langle (u-u_{ref})^2 + (v-v_{ref})^2\rangle /
    \langle u_{ref}^2 + v_{ref}^2\rangle)` over all times and grid points after removing
    ``crop`` pixels at each lat/lon border. The denominator is the non-centred second moment
    (twice the mean kinetic energy), as in the paper.

    Parameters
    ----------
    u, v, u_ref, v_ref : array_like
        Reconstructed and reference velocity components, m s-1, same shape ``(..., lat, lon)``.
    crop : int, default 3
        Border width removed in lat and lon, pixels.
    ocean : numpy.ndarray of bool, shape (lat, lon), optional
        True on sea cells (before the crop); land cells leave both means, as NaN does. None
        means all sea.

    Returns
    -------
    float
        :math:`\tau_{uv}`, % (100 for a perfect reconstruction, NaN if the reference is at
        rest), over the sea points where all four inputs are finite.
    """
    arrays = {
        name: _cropped(a, name, crop)
        for name, a in (("u", u), ("v", v), ("u_ref", u_ref), ("v_ref", v_ref))
    }
    valid = _common_finite(_cropped_sea(ocean, u_ref, crop), **arrays)
    uu, vv, ur, vr = (a[valid] for a in arrays.values())
    energy = np.mean(ur**2 + vr**2)
    if energy == 0.0:
        return math.nan
    return float(100.0 * (1.0 - np.mean((uu - ur) ** 2 + (vv - vr) ** 2) / energy))


def tau_field(
    q: ArrayLike, q_ref: ArrayLike, crop: int = CROP, *, ocean: ArrayLike | None = None
) -> float:
    r"""Explained variance :math:`\tau`, %, of a scalar field (vorticity, divergence, strain).

    :math:`100\,(1 - \langle (q_{ref} - q)^2\rangle / \mathrm{var}(q_{ref}))` after removing
    ``crop`` pixels at each lat/lon border, with the centred (population) variance over all
    times and points, as the paper's ``np.nanvar``.

    Parameters
    ----------
    q, q_ref : array_like
        Reconstructed and reference fields, same shape ``(..., lat, lon)``, same units.
    crop : int, default 3
        Border width removed in lat and lon, pixels.
    ocean : numpy.ndarray of bool, shape (lat, lon), optional
        True on sea cells (before the crop); land cells leave the mean and the variance, as
        NaN does. None means all sea.

    Returns
    -------
    float
        :math:`\tau`, % (100 for a perfect reconstruction, NaN if ``q_ref`` is constant), over
        the sea points where both inputs are finite.
    """
    qa, qr = _cropped(q, "q", crop), _cropped(q_ref, "q_ref", crop)
    valid = _common_finite(_cropped_sea(ocean, q_ref, crop), q=qa, q_ref=qr)
    variance = np.var(qr[valid])
    if variance == 0.0:
        return math.nan
    return float(100.0 * (1.0 - np.mean((qr[valid] - qa[valid]) ** 2) / variance))


def _sea_smoothed(field: FloatArray, sigma: Sigma, sea: BoolArray) -> FloatArray:
    """The paper's Gaussian pre-smoothing restricted to sea: a normalised convolution.

    ``G*(m f) / G*m`` with ``m`` the sea mask (broadcast over time) and ``G`` the paper's
    ``gaussian_filter`` (``sigma`` samples over every axis, truncate 4, mode reflect); land
    values never enter. NaN on land. ``sigma`` = 0 only puts NaN on land.
    """
    s = np.asarray(sigma, dtype=np.float64)
    if s.shape not in ((), (field.ndim,)) or not np.all(np.isfinite(s) & (s >= 0.0)):
        raise ValueError(
            f"sigma must be one value or one per axis ({field.ndim}), finite and >= 0, "
            f"got {sigma!r}"
        )
    sigmas = tuple(float(x) for x in np.broadcast_to(s, (field.ndim,)))
    out = _sea_filled(field, sea)
    if any(x > 0.0 for x in sigmas):
        weight = np.broadcast_to(sea, field.shape).astype(np.float64)
        num = ndimage.gaussian_filter(out, sigma=sigmas, mode="reflect", truncate=4.0)
        den = ndimage.gaussian_filter(weight, sigma=sigmas, mode="reflect", truncate=4.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = num / den
    return np.where(sea, out, np.nan)


def _sea_div_curl_strain(
    u: ArrayLike,
    v: ArrayLike,
    lat_deg: ArrayLike,
    lon_deg: ArrayLike,
    sigma: Sigma,
    sea: BoolArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The paper's divergence, curl and strain of a current on sea cells only (module rule)."""
    ua, va = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
    _same_shapes(u=ua, v=va)
    return paper_div_curl_strain(
        _sea_smoothed(ua, sigma, sea), _sea_smoothed(va, sigma, sea), lat_deg, lon_deg, 0.0
    )


def _sea_geostrophic(sea: BoolArray) -> BoolArray:
    """Sea cells where the paper's geostrophic currents of a sea-only SSH are defined.

    Those whose 4 neighbours are sea: ``u`` uses the stencil along latitude, ``v`` along
    longitude. Beyond the grid's edge the paper's stencil repeats the edge cell itself, so the
    outside counts as sea.
    """
    cross = ndimage.generate_binary_structure(2, 1)
    return ndimage.binary_erosion(sea, structure=cross, border_value=1)


def tau_vort_div_strain(
    u: ArrayLike,
    v: ArrayLike,
    u_ref: ArrayLike,
    v_ref: ArrayLike,
    lat_deg: ArrayLike,
    lon_deg: ArrayLike,
    sigma: float = 1.0,
    crop: int = CROP,
    *,
    ocean: ArrayLike | None = None,
) -> tuple[float, float, float]:
    r""":math:`\tau_{vort}`, :math:`\tau_{div}`, :math:`\tau_{strain}` (%) of a current.

    Vorticity, divergence and strain of both currents are computed as the paper does
    (:func:`~varnet.kernels.paper_derivatives.paper_div_curl_strain`, Gaussian pre-smoothing
    of ``sigma`` samples over (time, lat, lon)), then scored by :func:`tau_field`.

    **Land.** With ``ocean``, land values never enter a sea cell's derivative: the Gaussian
    pre-smoothing is a normalised convolution over sea cells,
    :math:`G*(m\,u) / G*m` (:math:`m` the mask; a sea cell near the coast is the weighted mean
    of the sea around it), land is then NaN, and the paper's 3-point stencil
    (``-0.7 f[i-1] + 0.4 f[i] + 0.3 f[i+1]``, along each axis) turns every sea cell with a
    land cell among its 4 neighbours into NaN, which leaves the scores. The cells scored are
    thus the sea cells at least one cell away from land (4-connectivity), after the crop; the
    grid's own edges keep the paper's reflect rule. (Putting NaN on land before the paper's
    smoothing instead would spread NaN over its whole kernel, 4 sigma, and drop a 5-cell
    coastal band.)

    Parameters
    ----------
    u, v, u_ref, v_ref : array_like
        Reconstructed and reference velocity, m s-1, shape ``(time, lat, lon)``.
    lat_deg, lon_deg : array_like
        Regular coordinates, degrees.
    sigma : float, default 1.0
        Pre-smoothing, samples (the paper's value).
    crop : int, default 3
        Border width removed in lat and lon, pixels.
    ocean : numpy.ndarray of bool, shape (lat, lon), optional
        True on sea cells; None means all sea (the paper's computation, unchanged).

    Returns
    -------
    tau_vort, tau_div, tau_strain : float
        Explained variances, %.
    """
    sea = _sea(ocean, np.shape(u_ref))
    if sea is None:
        rec = paper_div_curl_strain(u, v, lat_deg, lon_deg, sigma)
        ref = paper_div_curl_strain(u_ref, v_ref, lat_deg, lon_deg, sigma)
    else:
        rec = _sea_div_curl_strain(u, v, lat_deg, lon_deg, sigma, sea)
        ref = _sea_div_curl_strain(u_ref, v_ref, lat_deg, lon_deg, sigma, sea)
    div, curl, strain = (
        tau_field(q, q_ref, crop, ocean=sea) for q, q_ref in zip(rec, ref, strict=True)
    )
    return curl, div, strain


def tau_vort(
    u: ArrayLike,
    v: ArrayLike,
    u_ref: ArrayLike,
    v_ref: ArrayLike,
    lat_deg: ArrayLike,
    lon_deg: ArrayLike,
    sigma: float = 1.0,
    crop: int = CROP,
    *,
    ocean: ArrayLike | None = None,
) -> float:
    r""":math:`\tau_{vort}`, % (explained variance of the paper's curl); see
    :func:`tau_vort_div_strain` for the arguments and the land rule."""
    return tau_vort_div_strain(u, v, u_ref, v_ref, lat_deg, lon_deg, sigma, crop, ocean=ocean)[0]


def tau_div(
    u: ArrayLike,
    v: ArrayLike,
    u_ref: ArrayLike,
    v_ref: ArrayLike,
    lat_deg: ArrayLike,
    lon_deg: ArrayLike,
    sigma: float = 1.0,
    crop: int = CROP,
    *,
    ocean: ArrayLike | None = None,
) -> float:
    r""":math:`\tau_{div}`, % (explained variance of the divergence); see
    :func:`tau_vort_div_strain` for the arguments and the land rule."""
    return tau_vort_div_strain(u, v, u_ref, v_ref, lat_deg, lon_deg, sigma, crop, ocean=ocean)[1]


def tau_strain(
    u: ArrayLike,
    v: ArrayLike,
    u_ref: ArrayLike,
    v_ref: ArrayLike,
    lat_deg: ArrayLike,
    lon_deg: ArrayLike,
    sigma: float = 1.0,
    crop: int = CROP,
    *,
    ocean: ArrayLike | None = None,
) -> float:
    r""":math:`\tau_{strain}`, % (explained variance of the strain rate); see
    :func:`tau_vort_div_strain` for the arguments and the land rule."""
    return tau_vort_div_strain(u, v, u_ref, v_ref, lat_deg, lon_deg, sigma, crop, ocean=ocean)[2]


def nrmse_scores(
    rec: ArrayLike, ref: ArrayLike, *, ocean: ArrayLike | None = None
) -> tuple[float, float]:
    r"""Normalised-RMSE scores :math:`(\mu, \sigma)` of the data challenge 2020a.

    :math:`\mu = 1 - \mathrm{RMSE}/\mathrm{RMS}(ref)` over all times and points (the global
    ratio, not the mean of the daily scores), and :math:`\sigma` the standard deviation over
    time (population, ``ddof=0``) of the daily score
    :math:`1 - \mathrm{RMSE}(t)/\mathrm{RMS}(ref)(t)`. The normaliser is the RMS of the
    reference itself, not its standard deviation.

    Parameters
    ----------
    rec, ref : array_like
        Reconstruction and reference, shape ``(time, lat, lon)``, same units.
    ocean : numpy.ndarray of bool, shape (lat, lon), optional
        True on sea cells; land cells leave every sum, as NaN does. None means all sea.

    Returns
    -------
    mu, sigma : float
        Dimensionless (:math:`\mu = 1`, :math:`\sigma = 0` for a perfect reconstruction), over
        the sea points where both are finite; days without such points are left out of
        :math:`\sigma`.
    """
    rec_a, ref_a = _cube(rec, "rec"), _cube(ref, "ref")
    valid = _common_finite(_sea(ocean, ref_a.shape), rec=rec_a, ref=ref_a)
    err2 = np.where(valid, (rec_a - ref_a) ** 2, 0.0)
    ref2 = np.where(valid, ref_a**2, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = 1.0 - np.sqrt(err2.sum() / ref2.sum())
        daily = 1.0 - np.sqrt(err2.sum(axis=(1, 2)) / ref2.sum(axis=(1, 2)))
    days = valid.any(axis=(1, 2))
    return float(mu), float(np.std(daily[days]))


# --------------------------------------------------------------------------------------------
# score table
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Fields:
    """Fields of a reconstruction (or of the truth) for :func:`score_table`.

    Attributes
    ----------
    ssh : array_like or None
        Sea-surface height, m, shape ``(time, lat, lon)``.
    u, v : array_like or None
        Eastward and northward surface current, m s-1, same shape; both or neither. Without
        them, the currents scored are the paper's geostrophy of ``ssh``.
    ssh_sigma : float, default 1.0
        Gaussian smoothing (samples, over time, lat, lon) of ``ssh`` before the geostrophic
        currents whose vorticity, divergence and strain are scored, when ``u``, ``v`` are not
        given: the paper uses 1, and 4 for the OI baseline.
    """

    ssh: ArrayLike | None = None
    u: ArrayLike | None = None
    v: ArrayLike | None = None
    ssh_sigma: float = 1.0

    def __post_init__(self) -> None:
        if (self.u is None) != (self.v is None):
            raise ValueError("Fields needs both u and v, or neither")
        if not (math.isfinite(self.ssh_sigma) and self.ssh_sigma >= 0.0):
            raise ValueError(f"ssh_sigma must be finite and >= 0, got {self.ssh_sigma!r}")


def _uv(
    fields: Fields, name: str, lat: ArrayLike, lon: ArrayLike, sea: BoolArray | None
) -> tuple[FloatArray, FloatArray, BoolArray | None]:
    """(u, v) scored by tau_uv and lambda, and the sea cells where they are defined."""
    if fields.u is not None:
        return _cube(fields.u, f"{name}.u"), _cube(fields.v, f"{name}.v"), sea
    if fields.ssh is None:
        raise ValueError(f"{name} has neither currents (u, v) nor ssh")
    ssh = _cube(fields.ssh, f"{name}.ssh")
    if sea is None:
        u, v = paper_geostrophy(ssh, lat, lon, sigma=0.0)
        return u, v, None
    u, v = paper_geostrophy(np.where(sea, ssh, np.nan), lat, lon, sigma=0.0)
    return u, v, _sea_geostrophic(sea)


def _currents(
    fields: Fields, name: str, lat: ArrayLike, lon: ArrayLike, sea: BoolArray | None
) -> tuple[FloatArray, FloatArray, tuple[FloatArray, FloatArray, FloatArray], BoolArray | None]:
    """(u, v) scored by tau_uv and lambda, (div, curl, strain) scored by tau, and the sea
    cells where (u, v) are defined."""
    u, v, uv_sea = _uv(fields, name, lat, lon, sea)
    if fields.u is not None:
        if sea is None:
            return u, v, paper_div_curl_strain(u, v, lat, lon, sigma=1.0), uv_sea
        return u, v, _sea_div_curl_strain(u, v, lat, lon, 1.0, sea), uv_sea
    ssh = _cube(fields.ssh, f"{name}.ssh")
    if sea is None:
        smooth_u, smooth_v = paper_geostrophy(ssh, lat, lon, sigma=fields.ssh_sigma)
    else:
        smoothed = _sea_smoothed(ssh, fields.ssh_sigma, sea)
        smooth_u, smooth_v = paper_geostrophy(smoothed, lat, lon, sigma=0.0)
    return u, v, paper_div_curl_strain(smooth_u, smooth_v, lat, lon, sigma=0.0), uv_sea


def scored_currents(
    fields: Fields, lat_deg: ArrayLike, lon_deg: ArrayLike, *, ocean: ArrayLike | None = None
) -> tuple[FloatArray, FloatArray, BoolArray | None]:
    r"""The currents :func:`score_table` scores by :math:`\tau_{uv}` and :math:`\lambda`.

    ``fields.u`` and ``fields.v`` when given, else the paper's unsmoothed geostrophy of
    ``fields.ssh``. With ``ocean``, the geostrophy is that of the SSH with NaN on land: the
    currents are NaN on land and on the sea cells with a land cell among their 4 neighbours
    (the paper's stencil never crosses the coast).

    Parameters
    ----------
    fields : Fields
        The reconstruction (or truth).
    lat_deg, lon_deg : array_like
        Regular coordinates, degrees.
    ocean : numpy.ndarray of bool, shape (lat, lon), optional
        True on sea cells; None means all sea.

    Returns
    -------
    u, v : numpy.ndarray
        Eastward and northward current, m s-1, shape ``(time, lat, lon)``.
    sea : numpy.ndarray of bool or None
        The sea cells, shape ``(lat, lon)``, where ``u`` and ``v`` are defined (``ocean``
        itself for given currents, ``ocean`` eroded by one cell (4-connectivity) for
        geostrophic ones); pass it as ``ocean`` to :func:`psd_space_time_score`. None when
        ``ocean`` is None or all True.
    """
    ref = fields.u if fields.u is not None else fields.ssh
    sea = None if ref is None else _sea(ocean, _cube(ref, "fields").shape)
    return _uv(fields, "fields", lat_deg, lon_deg, sea)


def _table_row(
    rec: Fields,
    name: str,
    truth: tuple[
        FloatArray, FloatArray, tuple[FloatArray, ...], FloatArray | None, BoolArray | None
    ],
    lat: ArrayLike,
    lon: ArrayLike,
    time_days: ArrayLike,
    sea: BoolArray | None,
    scored: BoolArray | None,
    min_sea_fraction: float,
) -> tuple[dict[str, float], list[str]]:
    """Scores of one reconstruction against (u, v, derived fields, ssh, sea of u, v) of the
    truth, its fields derived over ``sea`` and scored over ``scored``; also the names of the
    λ columns that are upper bounds."""
    u_t, v_t, derived_t, ssh_t, uv_sea_t = truth
    u, v, derived, uv_sea = _currents(rec, name, lat, lon, sea)
    _same_shapes(truth=u_t, reconstruction=u)
    both_uv_sea = scored if sea is None else uv_sea & uv_sea_t & scored
    row = dict.fromkeys(SCORE_COLUMNS, math.nan)
    bounds = []
    for comp, rec_c, ref_c in (("u", u, u_t), ("v", v, v_t)):
        st = psd_space_time_score(
            rec_c, ref_c, time_days, lon, ocean=both_uv_sea, min_sea_fraction=min_sea_fraction
        )
        row[f"lambda_x_{comp}"], row[f"lambda_t_{comp}"] = st.lambda_x_deg, st.lambda_t_days
        if st.lambda_x_is_bound:
            bounds.append(f"lambda_x_{comp}")
        if st.lambda_t_is_bound:
            bounds.append(f"lambda_t_{comp}")
    row["tau_uv"] = tau_uv(u, v, u_t, v_t, ocean=scored)
    div, curl, strain = (
        tau_field(q, q_t, ocean=scored) for q, q_t in zip(derived, derived_t, strict=True)
    )
    row["tau_vort"], row["tau_div"], row["tau_strain"] = curl, div, strain
    if rec.ssh is not None and ssh_t is not None:
        ssh = _cube(rec.ssh, f"{name}.ssh")
        row["mu_ssh"] = nrmse_scores(ssh, ssh_t, ocean=scored)[0]
        st = psd_space_time_score(
            ssh, ssh_t, time_days, lon, ocean=scored, min_sea_fraction=min_sea_fraction
        )
        row["lambda_x_ssh"] = st.lambda_x_deg
        if st.lambda_x_is_bound:
            bounds.append("lambda_x_ssh")
    return row, bounds


def _scored_cells(scored: ArrayLike, sea: BoolArray | None, shape: tuple[int, ...]
                  ) -> BoolArray | None:
    """The validated ``scored`` mask of :func:`score_table`, sea cells only (None: all cells
    of an open ocean)."""
    cells = _sea(scored, shape)
    if cells is None:
        if sea is not None:
            raise ValueError("scored covers land cells of ocean: score sea cells only")
        return None
    if sea is not None and (cells & ~sea).any():
        raise ValueError(f"scored covers {int((cells & ~sea).sum())} land cells of ocean: "
                         "score sea cells only")
    return cells


def score_table(
    truth: Fields,
    reconstructions: Mapping[str, Fields],
    lat_deg: ArrayLike,
    lon_deg: ArrayLike,
    time_days: ArrayLike,
    *,
    ocean: ArrayLike | None = None,
    scored: ArrayLike | None = None,
    min_sea_fraction: float = MIN_SEA_FRACTION,
) -> pd.DataFrame:
    r"""The paper's results table: one row per reconstruction.

    For each reconstruction: :math:`\lambda_{x}` (degrees) and :math:`\lambda_{t}` (days) of
    u and v (:func:`psd_space_time_score`, full domain); :math:`\tau_{uv}`,
    :math:`\tau_{vort}`, :math:`\tau_{div}`, :math:`\tau_{strain}` (%, 3-pixel crop);
    :math:`\mu` of SSH and :math:`\lambda_x` of SSH (degrees) when both it and the truth have
    SSH (else NaN). As in the paper: currents' vorticity, divergence and strain are computed
    after a :math:`\sigma = 1` smoothing; a reconstruction with SSH only (e.g. "geostrophy of
    the OI") is scored through the paper's geostrophic currents of its SSH, unsmoothed for
    :math:`\tau_{uv}` and :math:`\lambda`, and from SSH smoothed by ``ssh_sigma`` for the
    derivatives. The truth's currents are ``truth.u``, ``truth.v``, or its geostrophy.

    **Land.** ``ocean`` goes to every score, with the rules of the module docstring:
    :math:`\tau_{uv}` and :math:`\mu` over sea cells; vorticity, divergence, strain and
    geostrophic currents from sea values only (normalised smoothing over sea, no stencil
    across the coast: cells next to land leave the scores); the :math:`\lambda` of SSH on
    ``ocean``, those of u and v on the sea cells where both the truth's and the
    reconstruction's currents are defined (:func:`scored_currents`: geostrophic currents lose
    the sea cells next to land).

    **Part of the sea.** ``scored`` restricts the cells scored (e.g. the sea beyond a coastal
    band) without changing the fields: currents, vorticity, divergence and strain are still
    derived from every sea cell of ``ocean``, so a scored cell next to the band keeps its
    stencil; every score, spectra included, then covers the cells of ``scored`` only (the
    rest filled with zero anomaly for the spectra, as land).

    Parameters
    ----------
    truth : Fields
        Reference fields, shape ``(time, lat, lon)``.
    reconstructions : mapping of str to Fields
        Reconstructions by name, same shape.
    lat_deg, lon_deg : array_like
        Regular coordinates, degrees.
    time_days : array_like
        Regular times, days (float or ``datetime64``).
    ocean : numpy.ndarray of bool, shape (lat, lon), optional
        True on sea cells; None (or all True) means all sea: the open-ocean table, unchanged.
    scored : numpy.ndarray of bool, shape (lat, lon), optional
        True on the cells to score, all of them sea; None: every sea cell.
    min_sea_fraction : float, default :data:`MIN_SEA_FRACTION`
        Smallest fraction of sea cells the spectral scores accept, dimensionless in (0, 1].

    Returns
    -------
    pandas.DataFrame
        Index: reconstruction names; columns :data:`SCORE_COLUMNS`. ``df.attrs["bounds"]``
        maps each name to the λ columns whose value is an upper bound (the score stays above
        0.5 down to the finest sampled scale), used by :func:`table_markdown`. Write it with
        ``df.to_csv(path)``.

    Raises
    ------
    ValueError
        If the truth or a reconstruction (named in the message) has no usable fields, shapes
        differ, a spectral score's input is incomplete (e.g. geostrophy at the equator), or
        ``ocean`` or ``scored`` does not fit the fields or leaves too little sea, or
        ``scored`` holds a land cell.
    """
    first = truth.u if truth.u is not None else truth.ssh
    shape = None if first is None else _cube(first, "truth").shape
    sea = None if shape is None else _sea(ocean, shape)
    cells = sea if scored is None or shape is None else _scored_cells(scored, sea, shape)
    u_t, v_t, derived_t, uv_sea_t = _currents(truth, "truth", lat_deg, lon_deg, sea)
    ssh_t = None if truth.ssh is None else _cube(truth.ssh, "truth.ssh")
    rows: dict[str, dict[str, float]] = {}
    bounds: dict[str, list[str]] = {}
    for name, rec in reconstructions.items():
        try:
            rows[name], bounds[name] = _table_row(
                rec,
                name,
                (u_t, v_t, derived_t, ssh_t, uv_sea_t),
                lat_deg,
                lon_deg,
                time_days,
                sea,
                cells,
                min_sea_fraction,
            )
        except ValueError as error:
            raise ValueError(f"reconstruction {name!r}: {error}") from error
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(SCORE_COLUMNS))
    table.index.name = "method"
    table.attrs["bounds"] = bounds
    return table


_HEADERS = {
    "lambda_x_u": ("λx,u (°)", 2),
    "lambda_x_v": ("λx,v (°)", 2),
    "lambda_t_u": ("λt,u (d)", 1),
    "lambda_t_v": ("λt,v (d)", 1),
    "tau_uv": ("τuv (%)", 1),
    "tau_vort": ("τvort (%)", 1),
    "tau_div": ("τdiv (%)", 1),
    "tau_strain": ("τstrain (%)", 1),
    "mu_ssh": ("µ SSH", 3),
    "lambda_x_ssh": ("λx,SSH (°)", 2),
}


def table_markdown(table: pd.DataFrame) -> str:
    """A score table as GitHub Markdown, rounded for reading.

    Wavelengths get 2 decimals (degrees), periods and τ 1 decimal, µ 3 decimals, other columns
    3 significant digits. A λ that is an upper bound (see :func:`score_table`) is written
    ``≤value``; a missing or undefined score ``n/a``. Footnotes explain both when present.

    Parameters
    ----------
    table : pandas.DataFrame
        As returned by :func:`score_table` (or any numeric frame).

    Returns
    -------
    str
        The Markdown table, newline-terminated.
    """
    bounds = table.attrs.get("bounds", {})
    columns = list(table.columns)
    header = [table.index.name or "method"] + [_HEADERS.get(c, (c, None))[0] for c in columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    notes = set()
    for name, row in table.iterrows():
        cells = [str(name)]
        for col in columns:
            value = row[col]
            if not np.isfinite(value):
                cells.append("n/a")
                notes.add("n/a")
                continue
            decimals = _HEADERS.get(col, (col, None))[1]
            text = f"{value:.{decimals}f}" if decimals is not None else f"{value:.3g}"
            if col in bounds.get(name, ()):
                text = "≤" + text
                notes.add("≤")
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    if "≤" in notes:
        lines.append("")
        lines.append(
            "≤: the score stays above 0.5 down to the finest sampled scale; "
            "the value is that sampling limit, an upper bound."
        )
    if "n/a" in notes:
        lines.append("")
        lines.append("n/a: field not available, or the score never exceeds 0.5.")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# figure
# --------------------------------------------------------------------------------------------


def plot_psd_scores(results: Mapping[str, SpaceTimeScore], path: str | os.PathLike) -> Path:
    r"""PNG of space-time spectral scores: 1-D curves and one score map per result.

    Top row: the 1-D scores :math:`1 - \sum\mathrm{PSD}_{err}/\sum\mathrm{PSD}_{ref}` of the
    spectra summed over periods (against wavelength) and over wavelengths (against period),
    shown from -0.25 to 1, one curve per result, with the 0.5 level and each result's
    :math:`\lambda_x` / :math:`\lambda_t` (dotted; they come from the 2-D level set, so they
    need not sit where a 1-D curve crosses 0.5). Below: each 2-D score map on (wavelength,
    period) axes with the level-set points used (black) and the two :math:`\lambda`.
    Drawn with Matplotlib's Agg canvas, without pyplot; the file is written atomically
    (temporary file in the same directory, then renamed).

    Parameters
    ----------
    results : mapping of str to SpaceTimeScore
        Scores by name (e.g. from :func:`psd_space_time_score` for u of each method).
    path : str or os.PathLike
        Output PNG path; its directory must exist.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    if not results:
        raise ValueError("results is empty: nothing to plot")
    path = Path(path)
    ncols = min(len(results), 3)
    nmaps = math.ceil(len(results) / ncols)
    fig = Figure(figsize=(4.2 * max(ncols, 2), 3.6 * (1 + nmaps)), layout="constrained")
    grid = fig.add_gridspec(1 + nmaps, 2 * ncols)
    ax_x = fig.add_subplot(grid[0, :ncols])
    ax_t = fig.add_subplot(grid[0, ncols:])
    axes = [ax_x, ax_t]
    colors = [f"C{i % 10}" for i in range(len(results))]
    for (name, res), color in zip(results.items(), colors, strict=True):
        for ax, coord, axis in ((ax_x, res.wavelength_deg, 0), (ax_t, res.period_days, 1)):
            marginal = 1.0 - res.psd_err.sum(axis=axis) / res.psd_ref.sum(axis=axis)
            ax.plot(coord, marginal, color=color, label=name)
        if np.isfinite(res.lambda_x_deg):
            ax_x.axvline(res.lambda_x_deg, color=color, ls=":", lw=1.2)
            ax_t.axvline(res.lambda_t_days, color=color, ls=":", lw=1.2)
    for ax, label, title in (
        (ax_x, "wavelength (° longitude)", "score of the spectra summed over periods"),
        (ax_t, "period (days)", "score of the spectra summed over wavelengths"),
    ):
        ax.axhline(LEVEL, color="k", ls="--", lw=0.8)
        ax.set(xscale="log", xlabel=label, ylabel="1 − PSD(err)/PSD(ref)", title=title)
        ax.set_ylim(_PLOT_SCORE_MIN, 1.05)  # scores can be hugely negative: clip the view
        ax.grid(True, which="both", alpha=0.3)
    ax_x.legend(fontsize="small", loc="best")
    for n, ((name, res), color) in enumerate(zip(results.items(), colors, strict=True)):
        ax = fig.add_subplot(grid[1 + n // ncols, 2 * (n % ncols) : 2 * (n % ncols) + 2])
        mesh = ax.pcolormesh(
            res.wavelength_deg,
            res.period_days,
            res.score,
            shading="nearest",
            cmap="RdBu",
            vmin=0.0,
            vmax=1.0,
        )
        if res.level_set.size:
            ax.plot(res.level_set[:, 0], res.level_set[:, 1], "k.", ms=2.5)
        text = "never resolved"
        if np.isfinite(res.lambda_x_deg):
            ax.axvline(res.lambda_x_deg, color=color, lw=1.5)
            ax.axhline(res.lambda_t_days, color=color, lw=1.5)
            bx = "≤" if res.lambda_x_is_bound else ""
            bt = "≤" if res.lambda_t_is_bound else ""
            text = f"λx {bx}{res.lambda_x_deg:.2f}°, λt {bt}{res.lambda_t_days:.1f} d"
        ax.set(xscale="log", yscale="log", xlabel="wavelength (°)", ylabel="period (days)")
        ax.set_title(f"{name}: {text}", fontsize="medium")
        fig.colorbar(mesh, ax=ax, label="score")
        axes.append(ax)
    for ax in axes:
        for axis in (ax.xaxis, ax.yaxis) if ax.get_yscale() == "log" else (ax.xaxis,):
            axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(FormatStrFormatter("%g"))
            axis.set_minor_formatter(NullFormatter())
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as stream:
            fig.savefig(stream, format="png", dpi=110)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
