"""Realism diagnostics of the synthetic ocean, accumulated day by day in bounded memory.

Reported (all over the whole calendar and the box's sea cells):

* ``sla_rms_m``: rms of the sea-level anomaly (SSH minus MDT), m;
* ``speed_rms_m_s``: rms of the total surface current speed, m s-1;
* ``rossby_rms``: rms of relative vorticity over |f| of the total current;
* ``ssh_spectral_slope_50_250km``: least-squares slope of log PSD(SLA) against log wavenumber
  over wavelengths 50-250 km, from the isotropic 2-D spectrum (mean plane removed, 2-D Hann
  window, distances at the box's central latitude), averaged over sampled days;
* ``kinetic_energy_spectral_slope_50_250km``: the same slope for the kinetic-energy spectrum
  (the sum of the isotropic spectra of u and v);
* ``kinetic_energy_peak_wavelength_km``: wavelength of the maximum of the geostrophic kinetic
  energy spectrum, k^2 PSD(SLA); eddy diameters are about half of it;
* ``geostrophic_variance_explained``: 1 - sum |u - u_g|^2 / sum |u - mean(u)|^2 (both current
  components), the share of current variance that geostrophy of the true SSH explains;
* ``cyclogeostrophic_rms_m_s``, ``ageostrophic_divergent_rms_m_s``: rms of those parts;
* ``divergence_to_vorticity_rms``: rms(divergence) / rms(vorticity) of the total current;
* ``sst_anomaly_rms_k``: rms of SST minus its background;
* ``observed_cell_fraction_per_day``: mean over days of the share of sea cells holding at
  least one along-track sample (all missions), plus the same per mission.

With land, the spectra are taken over the largest all-sea rectangle of the box
(:func:`largest_sea_rectangle`), since the periodogram needs a gap-free map.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from varnet.kernels.finite_differences import (
    EARTH_RADIUS_M,
    coriolis_parameter,
    divergence,
    relative_vorticity,
)
from varnet.osse.truth import TruthDay
from varnet.scores import isotropic_psd


def isotropic_spectrum(field: np.ndarray, dx_km: float, dy_km: float
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Ring-integrated (1-D isotropic) wavenumber spectrum of one map.

    Uses the scores' estimator (:func:`varnet.scores.isotropic_psd`: plane removed, Hann
    windows, rings one fundamental wavenumber wide) and integrates each ring,
    E(k) = 2 pi k PSD(k), so that a QG SSH field shows its k^-5 regime.

    Parameters
    ----------
    field : ndarray, shape (ny, nx)
        The map (units X).
    dx_km, dy_km : float
        Grid spacing, km.

    Returns
    -------
    k : ndarray
        Wavenumbers, cycles per km.
    spectrum : ndarray
        X^2 per (cycle/km).
    """
    psd, k = isotropic_psd(field[np.newaxis].astype(np.float64), dy_km, dx_km)
    return k, 2.0 * np.pi * k * psd


def spectral_slope(k: np.ndarray, psd: np.ndarray, min_wavelength_km: float,
                   max_wavelength_km: float) -> float:
    """Least-squares slope of log(psd) against log(k) for wavelengths in the given band."""
    band = (k >= 1.0 / max_wavelength_km) & (k <= 1.0 / min_wavelength_km) & (psd > 0)
    if band.sum() < 3:
        return float("nan")
    slope, _ = np.polyfit(np.log(k[band]), np.log(psd[band]), 1)
    return float(slope)


def _largest_under_histogram(heights: NDArray[np.int64]) -> tuple[int, int, int, int]:
    """(area, first column, end column, height) of the largest rectangle under the bars."""
    best = (0, 0, 0, 0)
    stack: list[tuple[int, int]] = []  # (first column, height), heights increasing
    for i, h in enumerate([*heights.tolist(), 0]):
        start = i
        while stack and stack[-1][1] >= h:
            start, top = stack.pop()
            if top * (i - start) > best[0]:
                best = (top * (i - start), start, i, top)
        stack.append((start, h))
    return best


def largest_sea_rectangle(sea: ArrayLike) -> tuple[slice, slice]:
    """The largest (by area) rectangle of True cells; the first found among equals.

    Parameters
    ----------
    sea : array_like of bool, shape (ny, nx)
        True on usable cells.

    Returns
    -------
    rows, cols : slice
        Empty slices when no cell is True.
    """
    mask = np.asarray(sea, dtype=bool)
    heights = np.zeros(mask.shape[1], dtype=np.int64)
    best = (0, slice(0, 0), slice(0, 0))
    for j, row in enumerate(mask):
        heights = np.where(row, heights + 1, 0)
        area, first, end, height = _largest_under_histogram(heights)
        if area > best[0]:
            best = (area, slice(j - height + 1, j + 1), slice(first, end))
    return best[1], best[2]


class OsseDiagnostics:
    """Accumulates the realism diagnostics (module docstring) one day at a time.

    Parameters
    ----------
    lat_deg, lon_deg : ndarray
        Grid cell centres, degrees.
    sst_background : ndarray, shape (nlat, nlon)
        Background SST field, K.
    spectrum_every : int
        Compute the SSH spectrum on every n-th day (it is the costliest diagnostic).
    ocean : ndarray of bool, shape (nlat, nlon), optional
        Sea cells (all sea if omitted); the fields are NaN elsewhere.
    """

    def __init__(self, lat_deg: np.ndarray, lon_deg: np.ndarray, sst_background: np.ndarray,
                 spectrum_every: int = 5, ocean: np.ndarray | None = None) -> None:
        self.lat = lat_deg
        self.lon = lon_deg
        self.f = np.abs(coriolis_parameter(lat_deg))[:, None]
        self.sst_background = sst_background
        self.spectrum_every = spectrum_every
        lat_c = np.deg2rad(np.mean(lat_deg))
        self.dy_km = EARTH_RADIUS_M * np.deg2rad(lat_deg[1] - lat_deg[0]) / 1e3
        self.dx_km = EARTH_RADIUS_M * np.cos(lat_c) * np.deg2rad(lon_deg[1] - lon_deg[0]) / 1e3
        self.ocean = (np.ones(sst_background.shape, dtype=bool) if ocean is None
                      else np.asarray(ocean, bool))
        self.spectrum_box = largest_sea_rectangle(self.ocean)
        self.sums: dict[str, float] = {}
        self.ndays = 0
        self.cells = 0
        self.psd_sum: np.ndarray | None = None
        self.ke_sum: np.ndarray | None = None
        self.k: np.ndarray | None = None
        self.nspec = 0
        self.obs_fraction: dict[str, list[float]] = {}

    def _add(self, name: str, value: float) -> None:
        self.sums[name] = self.sums.get(name, 0.0) + float(value)

    def add_day(self, fields: TruthDay) -> None:
        """Accumulate one day of truth."""
        zeta = relative_vorticity(fields.u, fields.v, self.lat, self.lon)
        div = divergence(fields.u, fields.v, self.lat, self.lon)
        sea = self.ocean

        def total(values: np.ndarray) -> float:
            return float(np.sum(values[sea]))

        self._add("sla2", total(fields.sla**2))
        self._add("speed2", total(fields.u**2 + fields.v**2))
        self._add("ro2", np.nansum((zeta / self.f) ** 2))
        self._add("zeta2", np.nansum(zeta**2))
        self._add("div2", np.nansum(div**2))
        self._add("res2", total((fields.u - fields.ugos) ** 2 + (fields.v - fields.vgos) ** 2))
        self._add("u", total(fields.u))
        self._add("v", total(fields.v))
        self._add("cg2", total(fields.ucg**2 + fields.vcg**2))
        self._add("ag2", total(fields.uag**2 + fields.vag**2))
        self._add("sst2", total((fields.sst - self.sst_background) ** 2))
        if self.ndays % self.spectrum_every == 0:
            box = self.spectrum_box
            k, psd = isotropic_spectrum(fields.sla[box], self.dx_km, self.dy_km)
            ke = (isotropic_spectrum(fields.u[box], self.dx_km, self.dy_km)[1]
                  + isotropic_spectrum(fields.v[box], self.dx_km, self.dy_km)[1])
            self.k = k
            self.psd_sum = psd if self.psd_sum is None else self.psd_sum + psd
            self.ke_sum = ke if self.ke_sum is None else self.ke_sum + ke
            self.nspec += 1
        self.ndays += 1
        self.cells += int(np.count_nonzero(sea))

    def add_observed_fraction(self, mission: str, fraction: float) -> None:
        """Record the share of grid cells observed by ``mission`` (or ``"all"``) on one day."""
        self.obs_fraction.setdefault(mission, []).append(float(fraction))

    def mean_spectrum(self) -> tuple[np.ndarray, np.ndarray]:
        """Wavenumber (cycles/km) and day-averaged SLA PSD (m^2 per cycle/km)."""
        if self.psd_sum is None or self.k is None:
            raise RuntimeError("no day was accumulated")
        return self.k, self.psd_sum / self.nspec

    def summary(self) -> dict[str, float | dict[str, float]]:
        """The diagnostics as a JSON-friendly dictionary."""
        n = self.cells
        s = self.sums
        mean_u, mean_v = s["u"] / n, s["v"] / n
        var_u = s["speed2"] / n - mean_u**2 - mean_v**2
        k, psd = self.mean_spectrum()
        fractions = {m: float(np.mean(v)) for m, v in self.obs_fraction.items()}
        return {
            "days": self.ndays,
            "sla_rms_m": float(np.sqrt(s["sla2"] / n)),
            "speed_rms_m_s": float(np.sqrt(s["speed2"] / n)),
            "rossby_rms": float(np.sqrt(s["ro2"] / n)),
            "ssh_spectral_slope_50_250km": spectral_slope(k, psd, 50.0, 250.0),
            "kinetic_energy_spectral_slope_50_250km": spectral_slope(
                k, self.ke_sum / self.nspec, 50.0, 250.0),
            "kinetic_energy_peak_wavelength_km": float(1.0 / k[np.nanargmax(k**2 * psd)]),
            "geostrophic_variance_explained": float(1.0 - (s["res2"] / n) / var_u),
            "cyclogeostrophic_rms_m_s": float(np.sqrt(s["cg2"] / n)),
            "ageostrophic_divergent_rms_m_s": float(np.sqrt(s["ag2"] / n)),
            "divergence_to_vorticity_rms": float(np.sqrt(s["div2"] / s["zeta2"])),
            "sst_anomaly_rms_k": float(np.sqrt(s["sst2"] / n)),
            "observed_cell_fraction_per_day": fractions.pop("all", float("nan")),
            "observed_cell_fraction_per_day_by_mission": fractions,
        }
