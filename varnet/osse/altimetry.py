"""Simulated along-track altimetry: sampling the truth, instrument errors, along-track filter.

Each 1 Hz sample takes the truth sea-level anomaly by trilinear interpolation in (time, lat,
lon) between the daily truth snapshots (12:00 UTC; samples before the first or after the last
snapshot take the nearest one). Errors added:

* white noise of standard deviation ``noise_m`` (2 cm by default, the usual 1 Hz level);
* optionally an along-track correlated error, an AR(1) process along the orbit with
  correlation length ``correlated_length_km`` and standard deviation ``correlated_noise_m``
  (a proxy of orbit and roll errors).

``sla_unfiltered`` is truth + errors; ``sla_filtered`` is that signal low-pass filtered along
track, as in DUACS L3 products, with a Gaussian kernel whose half-power wavelength is
``filter_cutoff_km`` (65 km by default), applied to each contiguous pass segment with the kernel
renormalised at the segment ends.

Random numbers are drawn from a generator seeded by (seed, mission, day), so any day can be
regenerated alone and the result does not depend on the processing order.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d, map_coordinates
from scipy.signal import lfilter

from varnet.kernels.finite_differences import EARTH_RADIUS_M
from varnet.osse.config import AltimetryConfig
from varnet.osse.orbits import DAY_S, EPOCH, MISSIONS, Mission, daily_passes, seconds_since_epoch


@dataclass(frozen=True)
class TrackDay:
    """One mission-day of simulated observations (1-D arrays of equal length).

    Attributes
    ----------
    mission : Mission
    time : datetime64[ns] sample times
    longitude, latitude : degrees
    sla_true : truth sea-level anomaly at the samples, m
    sla_unfiltered : truth + errors, m
    sla_filtered : along-track low-passed ``sla_unfiltered``, m
    mdt : mean dynamic topography at the samples, m
    """

    mission: Mission
    time: np.ndarray
    longitude: np.ndarray
    latitude: np.ndarray
    sla_true: np.ndarray
    sla_unfiltered: np.ndarray
    sla_filtered: np.ndarray
    mdt: np.ndarray


class GriddedTruth:
    """Daily truth on a regular grid, interpolated at arbitrary (time, lat, lon) points.

    Parameters
    ----------
    first_day : datetime.date
        Day of the first snapshot (taken at 12:00 UTC).
    lat_deg, lon_deg : ndarray
        Regular, ascending grid cell centres, degrees.
    sla : ndarray, shape (ndays, nlat, nlon)
        Daily sea-level anomaly, m.
    mdt : ndarray, shape (nlat, nlon)
        Mean dynamic topography, m.
    """

    def __init__(self, first_day: dt.date, lat_deg: np.ndarray, lon_deg: np.ndarray,
                 sla: np.ndarray, mdt: np.ndarray) -> None:
        self.t0 = seconds_since_epoch(first_day) + 0.5 * DAY_S
        self.lat = np.asarray(lat_deg, float)
        self.lon = np.asarray(lon_deg, float)
        self.sla = sla
        self.mdt = mdt

    def _index(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ilat = (lat - self.lat[0]) / (self.lat[1] - self.lat[0])
        ilon = (lon - self.lon[0]) / (self.lon[1] - self.lon[0])
        return ilat, ilon

    def sample_sla(self, t_s: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Truth SLA (m) at times (s since 1950-01-01) and positions (degrees)."""
        it = np.clip((t_s - self.t0) / DAY_S, 0.0, self.sla.shape[0] - 1)
        ilat, ilon = self._index(lat, lon)
        return map_coordinates(self.sla, np.vstack([it, ilat, ilon]), order=1, mode="nearest")

    def sample_mdt(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """MDT (m) at positions (degrees)."""
        ilat, ilon = self._index(lat, lon)
        return map_coordinates(self.mdt, np.vstack([ilat, ilon]), order=1, mode="nearest")

    @property
    def lon_bounds(self) -> tuple[float, float]:
        half = 0.5 * (self.lon[1] - self.lon[0])
        return float(self.lon[0] - half), float(self.lon[-1] + half)

    @property
    def lat_bounds(self) -> tuple[float, float]:
        half = 0.5 * (self.lat[1] - self.lat[0])
        return float(self.lat[0] - half), float(self.lat[-1] + half)


def along_track_distance_km(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Haversine distance (km) between consecutive samples; length ``len(lat) - 1``."""
    p1, p2 = np.deg2rad(lat[:-1]), np.deg2rad(lat[1:])
    dlon = np.deg2rad(lon[1:] - lon[:-1])
    a = np.sin(0.5 * (p2 - p1)) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(0.5 * dlon) ** 2
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))) / 1e3


def segments(t_s: np.ndarray, max_gap_s: float = 1.5) -> list[slice]:
    """Slices of contiguous samples (no gap longer than ``max_gap_s`` seconds)."""
    if t_s.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(t_s) > max_gap_s) + 1
    edges = np.concatenate([[0], breaks, [t_s.size]])
    return [slice(a, b) for a, b in itertools.pairwise(edges)]


def along_track_filter(values: np.ndarray, t_s: np.ndarray, lat: np.ndarray, lon: np.ndarray,
                       cutoff_km: float) -> np.ndarray:
    """Gaussian low-pass along track with half-power wavelength ``cutoff_km`` (0: no filter).

    Each contiguous segment is filtered separately; near segment ends the kernel is
    renormalised over the available samples (normalised convolution).
    """
    out = values.astype(float).copy()
    if cutoff_km <= 0:
        return out
    # Gaussian transfer exp(-(2 pi / L)^2 s^2 / 2) = 1/2 at L = cutoff.
    sigma_km = cutoff_km * np.sqrt(2.0 * np.log(2.0)) / (2.0 * np.pi)
    for seg in segments(t_s):
        n = seg.stop - seg.start
        if n < 3:
            continue
        spacing = float(np.mean(along_track_distance_km(lat[seg], lon[seg])))
        sigma = sigma_km / max(spacing, 1e-6)
        num = gaussian_filter1d(values[seg], sigma, mode="constant", cval=0.0)
        den = gaussian_filter1d(np.ones(n), sigma, mode="constant", cval=0.0)
        out[seg] = num / den
    return out


def _rng(seed: int, mission: Mission, day: dt.date) -> np.random.Generator:
    mission_id = sorted(MISSIONS).index(mission.short_name)
    return np.random.default_rng([seed, mission_id, day.toordinal()])


def simulate_track_day(truth: GriddedTruth, mission: Mission, day: dt.date,
                       config: AltimetryConfig, seed: int) -> TrackDay:
    """Observations of one mission over one UTC day inside the truth's box.

    Parameters
    ----------
    truth : GriddedTruth
        The truth SLA and MDT.
    mission : Mission
        Which satellite.
    day : datetime.date
        UTC day.
    config : AltimetryConfig
        Noise and filter settings.
    seed : int
        The OSSE seed.
    """
    rng = _rng(seed, mission, day)
    t0 = seconds_since_epoch(day)
    # Draw the whole day's errors (1 Hz over 24 h) so the error at a sample does not depend on
    # the box, then keep the samples inside it.
    n_day = int(DAY_S)
    white = config.noise_m * rng.standard_normal(n_day)
    error = white
    if config.correlated_noise_m > 0:
        spacing_km = 2 * np.pi * EARTH_RADIUS_M / 1e3 / mission.nodal_period_s
        rho = float(np.exp(-spacing_km / config.correlated_length_km))
        drive = rng.standard_normal(n_day) * np.sqrt(1.0 - rho**2)
        drive[0] = rng.standard_normal()
        error = error + config.correlated_noise_m * lfilter([1.0], [1.0, -rho], drive)
    t_s, lon, lat = daily_passes(mission, day, truth.lon_bounds, truth.lat_bounds)
    sla_true = truth.sample_sla(t_s, lat, lon)
    over_sea = np.isfinite(sla_true)
    if not over_sea.all():  # the altimeter stops at the coast (NaN truth on land)
        t_s, lon, lat, sla_true = t_s[over_sea], lon[over_sea], lat[over_sea], sla_true[over_sea]
    idx = np.round(t_s - t0).astype(np.int64)
    sla_obs = sla_true + error[idx]
    time = (np.datetime64(EPOCH, "ns")
            + np.round(t_s * 1e9).astype(np.int64).astype("timedelta64[ns]"))
    return TrackDay(
        mission=mission, time=time, longitude=lon, latitude=lat, sla_true=sla_true,
        sla_unfiltered=sla_obs,
        sla_filtered=along_track_filter(sla_obs, t_s, lat, lon, config.filter_cutoff_km),
        mdt=truth.sample_mdt(lat, lon),
    )
