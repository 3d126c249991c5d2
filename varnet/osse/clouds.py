"""Cloud masks for L3 (gappy) SST.

Clouds are the exceedances of a Gaussian random field: white noise filtered in space by a
Gaussian kernel of ``scale_km`` and AR(1) in time with decorrelation ``decorrelation_days``
(so cloud systems persist and drift from day to day). Each day the field is thresholded at its
own quantile, so that the cloudy fraction of the box follows a seasonal cycle
``fraction + amplitude * cos(2 pi (day_of_year - 15) / 365.25)`` (cloudiest in mid-January, as
over the North Atlantic). The field is generated on a grid padded by three kernel widths so
that the FFT filter's periodicity does not wrap clouds across the box edges.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from scipy import fft as sfft

from varnet.kernels.finite_differences import EARTH_RADIUS_M


class CloudSimulator:
    """Daily cloud masks on a lon/lat grid.

    Parameters
    ----------
    lat_deg, lon_deg : ndarray
        Grid cell centres, degrees.
    fraction, seasonal_amplitude : float
        Mean cloud fraction of the box and the amplitude of its seasonal cycle.
    scale_km : float
        Spatial scale (Gaussian kernel standard deviation) of cloud systems, km.
    decorrelation_days : float
        e-folding time of the AR(1) evolution, days.
    rng : numpy.random.Generator
        Random source (advanced day by day).
    """

    def __init__(self, lat_deg: np.ndarray, lon_deg: np.ndarray, fraction: float,
                 seasonal_amplitude: float, scale_km: float, decorrelation_days: float,
                 rng: np.random.Generator) -> None:
        self.fraction = fraction
        self.amplitude = seasonal_amplitude
        self.rng = rng
        self.rho = float(np.exp(-1.0 / decorrelation_days))
        dlat_km = np.deg2rad(abs(lat_deg[1] - lat_deg[0])) * EARTH_RADIUS_M / 1e3
        dlon_km = dlat_km * np.cos(np.deg2rad(np.mean(lat_deg))) * abs(
            (lon_deg[1] - lon_deg[0]) / (lat_deg[1] - lat_deg[0]))
        pad = int(np.ceil(3 * scale_km / min(dlat_km, dlon_km)))
        self.shape = (lat_deg.size, lon_deg.size)
        self.pad = pad
        ny, nx = lat_deg.size + 2 * pad, lon_deg.size + 2 * pad
        ky = 2 * np.pi * sfft.fftfreq(ny, d=dlat_km)[:, None]
        kx = 2 * np.pi * sfft.rfftfreq(nx, d=dlon_km)[None, :]
        self.transfer = np.exp(-0.5 * (kx**2 + ky**2) * scale_km**2)
        self.padded = (ny, nx)
        self.field = self._fresh()

    def _fresh(self) -> np.ndarray:
        noise = self.rng.standard_normal(self.padded)
        field = sfft.irfft2(sfft.rfft2(noise, workers=1) * self.transfer, s=self.padded,
                            workers=1)
        return field / field.std()

    def fraction_on(self, day: dt.date) -> float:
        """Target cloud fraction of the box on ``day``."""
        doy = day.timetuple().tm_yday
        value = self.fraction + self.amplitude * np.cos(2 * np.pi * (doy - 15) / 365.25)
        return float(np.clip(value, 0.0, 0.98))

    def next_day(self, day: dt.date) -> np.ndarray:
        """Advance the clouds by one day and return the mask for ``day`` (True: cloudy)."""
        self.field = self.rho * self.field + np.sqrt(1 - self.rho**2) * self._fresh()
        p = self.pad
        inner = self.field[p:p + self.shape[0], p:p + self.shape[1]]
        frac = self.fraction_on(day)
        if frac <= 0:
            return np.zeros(self.shape, dtype=bool)
        threshold = np.quantile(inner, 1.0 - frac)
        return inner > threshold
