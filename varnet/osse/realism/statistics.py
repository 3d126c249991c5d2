"""The statistics of one day over a box and their summaries: the :class:`Day` of maps measured,
geostrophy computed as DUACS does (:func:`geostrophy_like_duacs`), the kinetic-energy spectrum
(:func:`ke_spectrum`), :func:`day_statistics` (the statistics of :data:`STATISTICS`, defined in
the package docstring), the truth's :func:`geostrophic_share`, :func:`summarise` over days and
the :func:`verdicts` against :data:`TARGETS`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from varnet.datamodel.grid import Grid
from varnet.kernels.finite_differences import (
    EARTH_RADIUS_M,
    GRAVITY_M_S2,
    coriolis_parameter,
    geostrophic_velocity,
)
from varnet.osse.diagnostics import isotropic_spectrum, largest_sea_rectangle, spectral_slope
from varnet.osse.realism.box import Box

__all__ = [
    "MIN_SPECTRUM_CELLS",
    "SLOPE_BAND_KM",
    "STATISTICS",
    "TARGETS",
    "Day",
    "Stats",
    "day_statistics",
    "geostrophic_share",
    "geostrophy_like_duacs",
    "ke_spectrum",
    "sea_values",
    "summarise",
    "verdicts",
]

#: Statistic -> (label, unit) for tables and titles (package docstring).
STATISTICS: dict[str, tuple[str, str]] = {
    "adt_std_m": ("ADT std", "m"),
    "speed_rms_m_s": ("geostrophic speed rms", "m/s"),
    "speed_max_m_s": ("geostrophic speed max", "m/s"),
    "sla_rms_m": ("SLA rms", "m"),
    "ke_slope_50_250km": ("KE spectrum slope 50-250 km", ""),
    "geostrophic_variance_explained": ("current variance explained by geostrophy", ""),
    "reference_speed_rms_m_s": ("reference current speed rms", "m/s"),
    "reference_speed_max_m_s": ("reference current speed max", "m/s"),
}
#: Statistic -> (lowest, highest) a Gulf-Stream-like ocean should show at 0.25 degree (None:
#: unbounded); from the real DUACS day over 33-43 N, 65-55 W and DUACS's Gulf Stream SLA.
#: The other statistics have no fixed target: they are read against the real day's.
TARGETS: dict[str, tuple[float | None, float | None]] = {
    "adt_std_m": (0.3, 0.6),
    "speed_rms_m_s": (0.35, 0.7),
    "speed_max_m_s": (1.2, None),
    "sla_rms_m": (0.15, 0.30),
}
#: Narrowest gap-free rectangle, cells along each axis, that a spectrum is computed on.
MIN_SPECTRUM_CELLS = 8
#: Wavelength band of the spectral slope, km.
SLOPE_BAND_KM = (50.0, 250.0)

Stats = dict[str, float | None]


# --- one day on one grid -------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Day:
    """One day of maps on one grid, what :func:`day_statistics` measures.

    Attributes
    ----------
    label : str
        What it is, for tables and figures (``"synthetic ocean"``, ``"DUACS L4"``).
    date : str
        The day, ISO ``YYYY-MM-DD``.
    grid : Grid
        The cells and their sea mask.
    adt : numpy.ndarray, shape grid.shape
        Absolute dynamic topography, m; NaN on land.
    sla : numpy.ndarray or None
        Sea-level anomaly, m; NaN on land; None where the source has none.
    reference : tuple of numpy.ndarray or None
        A reference current (eastward, northward), m s-1 (package docstring); None where the
        source has none.
    geostrophic_share : float or None
        The share of current variance that geostrophy of the true SSH explains, at the
        source's full resolution over the box; None where the truth is unknown.
    """

    label: str
    date: str
    grid: Grid
    adt: NDArray[np.float64]
    sla: NDArray[np.float64] | None
    reference: tuple[NDArray[np.float64], NDArray[np.float64]] | None
    geostrophic_share: float | None


# --- geostrophy, spectra, statistics -------------------------------------------------------


def _fourth_order_steps(field: NDArray[np.float64], axis: int) -> NDArray[np.float64]:
    """Fourth-order centred derivative of ``field`` along ``axis`` per grid step (field units
    per cell); NaN within two cells of the ends and wherever a stencil value is NaN."""
    f = np.moveaxis(field, axis, -1)
    out = np.full(f.shape, np.nan)
    out[..., 2:-2] = (8.0 * (f[..., 3:-1] - f[..., 1:-3]) - (f[..., 4:] - f[..., :-4])) / 12.0
    return np.moveaxis(out, -1, axis)


def geostrophy_like_duacs(adt: ArrayLike, lat: ArrayLike, lon: ArrayLike
                          ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Absolute geostrophic current of an ADT map, computed as DUACS's ``ugos``/``vgos``.

    Fourth-order centred differences over five cells where all five are valid, else the
    project's second-order differences (package docstring, "Geostrophy like DUACS").

    Parameters
    ----------
    adt : array_like, shape (..., ny, nx)
        Absolute dynamic topography, m; NaN on land.
    lat, lon : array_like
        Cell centres, degrees, regular and ascending.

    Returns
    -------
    u, v : numpy.ndarray of float64
        Eastward and northward geostrophic current, m s-1, shape of ``adt``; NaN on land, in
        the equatorial band and where no neighbour is valid.
    """
    eta = np.asarray(adt, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    u2, v2 = geostrophic_velocity(eta, lat, lon)
    g_over_f = (GRAVITY_M_S2 / coriolis_parameter(lat))[:, None]
    dy = EARTH_RADIUS_M * np.deg2rad((lat[-1] - lat[0]) / (lat.size - 1))
    dx = EARTH_RADIUS_M * np.cos(np.deg2rad(lat))[:, None] * np.deg2rad(
        (lon[-1] - lon[0]) / (lon.size - 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        u4 = -g_over_f * _fourth_order_steps(eta, -2) / dy
        v4 = g_over_f * _fourth_order_steps(eta, -1) / dx
    return (np.where(np.isfinite(u4) & np.isfinite(u2), u4, u2),
            np.where(np.isfinite(v4) & np.isfinite(v2), v4, v2))


def ke_spectrum(u: NDArray[np.float64], v: NDArray[np.float64], grid: Grid, box: Box
                ) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    """Kinetic-energy spectrum of a current over the largest gap-free rectangle of the box.

    Parameters
    ----------
    u, v : numpy.ndarray, shape grid.shape
        Current, m s-1; NaN where missing.
    grid : Grid
        Its cells and sea mask.
    box : Box
        The region; the spectrum is taken over its largest rectangle of sea cells with a
        finite current, distances at that rectangle's central latitude.

    Returns
    -------
    (k, spectrum) or None
        Wavenumbers (cycles per km) and E(k) = E_u(k) + E_v(k), ring-integrated
        (m s-1)^2 per (cycle/km); None when the rectangle is narrower than
        :data:`MIN_SPECTRUM_CELLS` along either axis.
    """
    rows, cols = box.cells(grid)
    usable = grid.ocean[rows, cols] & np.isfinite(u[rows, cols]) & np.isfinite(v[rows, cols])
    r, c = largest_sea_rectangle(usable)
    if min(r.stop - r.start, c.stop - c.start) < MIN_SPECTRUM_CELLS:
        return None
    lat = grid.lat[rows][r]
    dlat, dlon = grid.resolution_deg
    dy_km = EARTH_RADIUS_M * np.deg2rad(dlat) / 1e3
    dx_km = EARTH_RADIUS_M * math.cos(math.radians(float(lat.mean()))) * np.deg2rad(dlon) / 1e3
    k, eu = isotropic_spectrum(u[rows, cols][r, c], dx_km, dy_km)
    _, ev = isotropic_spectrum(v[rows, cols][r, c], dx_km, dy_km)
    return k, eu + ev


def sea_values(values: NDArray[np.float64], grid: Grid, box: Box) -> NDArray[np.float64]:
    """The finite values of the box's sea cells, flattened."""
    rows, cols = box.cells(grid)
    inside = values[rows, cols][grid.ocean[rows, cols]]
    return inside[np.isfinite(inside)]


def _rms(values: NDArray[np.float64]) -> float | None:
    """Root mean square, in the unit of ``values``; None for none."""
    return float(np.sqrt(np.mean(values**2))) if values.size else None


def _largest(values: NDArray[np.float64]) -> float | None:
    """Largest value, in the unit of ``values``; None for none."""
    return float(values.max()) if values.size else None


def _speed_statistics(u: NDArray[np.float64], v: NDArray[np.float64], grid: Grid, box: Box,
                      prefix: str) -> Stats:
    """``{prefix}_rms_m_s`` and ``{prefix}_max_m_s`` of the current's speed over the box's sea
    cells, m s-1."""
    speed = sea_values(np.hypot(u, v), grid, box)
    return {f"{prefix}_rms_m_s": _rms(speed), f"{prefix}_max_m_s": _largest(speed)}


def _slope(spectrum: tuple[NDArray[np.float64], NDArray[np.float64]] | None) -> float | None:
    """The spectrum's slope over :data:`SLOPE_BAND_KM`; None without a spectrum or enough
    rings in the band."""
    if spectrum is None:
        return None
    slope = spectral_slope(*spectrum, *SLOPE_BAND_KM)
    return slope if math.isfinite(slope) else None


def day_statistics(day: Day, box: Box) -> Stats:
    """The statistics of :data:`STATISTICS` for one day over the box's sea cells.

    Parameters
    ----------
    day : Day
        The maps, over the box and whatever halo they have around it.
    box : Box
        The region measured.

    Returns
    -------
    dict
        Statistic name -> value in its unit (package docstring); None where absent.
    """
    adt = sea_values(day.adt, day.grid, box)
    u, v = geostrophy_like_duacs(day.adt, day.grid.lat, day.grid.lon)
    stats: Stats = {"adt_std_m": float(np.std(adt)) if adt.size else None,
                    **_speed_statistics(u, v, day.grid, box, "speed")}
    stats["sla_rms_m"] = None if day.sla is None else _rms(sea_values(day.sla, day.grid, box))
    stats["ke_slope_50_250km"] = _slope(ke_spectrum(u, v, day.grid, box))
    stats["geostrophic_variance_explained"] = day.geostrophic_share
    if day.reference is None:
        stats.update(reference_speed_rms_m_s=None, reference_speed_max_m_s=None)
    else:
        stats.update(_speed_statistics(*day.reference, day.grid, box, "reference_speed"))
    return stats


def geostrophic_share(u: ArrayLike, v: ArrayLike, ugos: ArrayLike, vgos: ArrayLike) -> float | None:
    r"""Share of the current's variance explained by a geostrophic current.

    :math:`1 - \sum |u - u_g|^2 / \sum |u - \bar u|^2` over both components and the cells
    where all four fields are finite.

    Parameters
    ----------
    u, v : array_like
        Total current, m s-1.
    ugos, vgos : array_like
        Geostrophic current, m s-1, same shape.

    Returns
    -------
    float or None
        Dimensionless (1: all explained); None without a finite cell or variance.
    """
    u, v, ug, vg = (np.asarray(a, dtype=np.float64) for a in (u, v, ugos, vgos))
    ok = np.isfinite(u) & np.isfinite(v) & np.isfinite(ug) & np.isfinite(vg)
    u, v, ug, vg = u[ok], v[ok], ug[ok], vg[ok]
    variance = float(np.sum((u - u.mean()) ** 2 + (v - v.mean()) ** 2)) if u.size else 0.0
    if variance == 0.0:
        return None
    return 1.0 - float(np.sum((u - ug) ** 2 + (v - vg) ** 2)) / variance


def summarise(days: Sequence[Stats]) -> dict[str, dict[str, float] | None]:
    """Mean, min and max of each statistic over days (over the days where it is present).

    Parameters
    ----------
    days : sequence of dict
        :func:`day_statistics` of each day.

    Returns
    -------
    dict
        Statistic -> ``{"mean", "min", "max"}`` in its unit, or None where absent on every
        day.
    """
    out: dict[str, dict[str, float] | None] = {}
    for name in STATISTICS:
        values = np.array([d[name] for d in days if d.get(name) is not None], dtype=np.float64)
        out[name] = (None if values.size == 0 else
                     {"mean": float(values.mean()), "min": float(values.min()),
                      "max": float(values.max())})
    return out


def verdicts(values: dict[str, float | None]) -> dict[str, bool | None]:
    """Whether each statistic with a target lies in its :data:`TARGETS` range.

    Parameters
    ----------
    values : dict
        Statistic -> value (None: absent).

    Returns
    -------
    dict
        Statistic of :data:`TARGETS` -> True (in range), False, or None (absent).
    """
    out: dict[str, bool | None] = {}
    for name, (low, high) in TARGETS.items():
        value = values.get(name)
        out[name] = None if value is None else bool(
            (low is None or value >= low) and (high is None or value <= high))
    return out
