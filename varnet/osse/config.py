"""Typed configuration of the synthetic ocean (OSSE), read from TOML.

The defaults are the project's embedded default ocean: a Gulf-Stream-like box of 12 x 12
degrees at 1/20 degree (240 x 240 cells, cell centres 32.025-43.975 N, 65.975-54.025 W), the
paper's calendar (2012-10-01 to 2013-09-30 with its train / validation / test periods), four
nadir altimeters of the 2020a SSH-mapping data challenge, and gap-free plus cloudy SST.
``configs/osse-default.toml`` spells them out; ``configs/osse-tiny.toml`` is the seconds-long
configuration of the tests.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from varnet.config import ConfigError, require
from varnet.datamodel.grid import Grid


@dataclass(frozen=True)
class CalendarConfig:
    """Days simulated and the named periods inside them (all dates inclusive)."""

    start: dt.date = dt.date(2012, 10, 1)
    end: dt.date = dt.date(2013, 9, 30)
    periods: dict[str, tuple[dt.date, dt.date]] = field(default_factory=lambda: {
        "test": (dt.date(2012, 10, 22), dt.date(2012, 12, 2)),
        "validation": (dt.date(2013, 1, 1), dt.date(2013, 2, 3)),
        "train": (dt.date(2013, 2, 4), dt.date(2013, 9, 30)),
    })

    def validate(self) -> None:
        require(self.end >= self.start, "end", f"{self.end} is before start {self.start}")
        spans = sorted((a, b, name) for name, (a, b) in self.periods.items())
        for a, b, name in spans:
            require(b >= a, f"periods.{name}", f"ends ({b}) before it starts ({a})")
            require(self.start <= a and b <= self.end, f"periods.{name}",
                    f"{a}..{b} is not inside the calendar {self.start}..{self.end}")
        for (_, b1, n1), (a2, _, n2) in itertools.pairwise(spans):
            require(a2 > b1, f"periods.{n2}", f"overlaps period '{n1}' (ends {b1})")

    @property
    def days(self) -> list[dt.date]:
        """Every simulated day, in order."""
        n = (self.end - self.start).days + 1
        return [self.start + dt.timedelta(days=i) for i in range(n)]


@dataclass(frozen=True)
class GridConfig:
    """The regular longitude/latitude product grid (cell centres, degrees)."""

    lon_min: float = -65.975
    lat_min: float = 32.025
    resolution_deg: float = 0.05
    nlon: int = 240
    nlat: int = 240

    def validate(self) -> None:
        require(0 < self.resolution_deg <= 1.0, "resolution_deg",
                f"must be in (0, 1] degree, got {self.resolution_deg}")
        require(self.nlon >= 8, "nlon", f"must be at least 8, got {self.nlon}")
        require(self.nlat >= 8, "nlat", f"must be at least 8, got {self.nlat}")
        require(-180.0 <= self.lon_min < 180.0, "lon_min",
                f"must be in [-180, 180), got {self.lon_min}")
        lat_max = self.lat_min + (self.nlat - 1) * self.resolution_deg
        require(self.lat_min >= -80.0 and lat_max <= 80.0, "lat_min",
                f"the box {self.lat_min}..{lat_max:.3f} N must stay within 80 S..80 N")
        require(min(abs(self.lat_min), abs(lat_max)) >= 10.0 and self.lat_min * lat_max > 0,
                "lat_min", "the quasi-geostrophic ocean needs a box away from the equator "
                f"(|lat| >= 10 degrees everywhere), got {self.lat_min}..{lat_max:.3f} N")

    @property
    def lat_max(self) -> float:
        return self.lat_min + (self.nlat - 1) * self.resolution_deg

    @property
    def lon_max(self) -> float:
        return self.lon_min + (self.nlon - 1) * self.resolution_deg

    @property
    def center_lat(self) -> float:
        return 0.5 * (self.lat_min + self.lat_max)

    @property
    def center_lon(self) -> float:
        return 0.5 * (self.lon_min + self.lon_max)

    def grid(self, name: str = "osse") -> Grid:
        """The product grid of the synthetic ocean (cell centres rounded to 1e-10 degree,
        so that they print as written in the configuration), all sea."""
        lat = np.round(self.lat_min + self.resolution_deg * np.arange(self.nlat), 10)
        lon = np.round(self.lon_min + self.resolution_deg * np.arange(self.nlon), 10)
        return Grid(lat, lon, name=name)


@dataclass(frozen=True)
class OceanConfig:
    """Two-layer QG truth ocean (see :mod:`varnet.osse.qg`)."""

    nx: int = 256
    domain_km: float = 1400.0
    deformation_radius_km: float = 15.0
    upper_layer_depth_m: float = 500.0
    lower_layer_depth_m: float = 2000.0
    mean_flow_m_s: float = 0.05
    bottom_drag_days: float = 20.0
    time_step_s: float = 1200.0
    initial_state: str = "default"

    def validate(self) -> None:
        require(self.nx >= 32 and self.nx % 2 == 0, "nx",
                f"must be an even number >= 32, got {self.nx}")
        require(100.0 <= self.domain_km <= 10000.0, "domain_km",
                f"must be within 100-10000 km, got {self.domain_km}")
        require(1.0 <= self.deformation_radius_km <= 200.0, "deformation_radius_km",
                f"must be within 1-200 km, got {self.deformation_radius_km}")
        require(self.upper_layer_depth_m > 0, "upper_layer_depth_m", "must be positive")
        require(self.lower_layer_depth_m > 0, "lower_layer_depth_m", "must be positive")
        require(abs(self.mean_flow_m_s) <= 0.5, "mean_flow_m_s",
                f"must be within +-0.5 m/s, got {self.mean_flow_m_s}")
        require(self.bottom_drag_days > 0, "bottom_drag_days", "must be positive")
        require(self.time_step_s > 0 and 43200.0 % self.time_step_s == 0, "time_step_s",
                f"must divide 12 hours exactly (e.g. 600, 900, 1200, 3600), "
                f"got {self.time_step_s}")


@dataclass(frozen=True)
class SstConfig:
    """SST tracer and the GHRSST-like files made from it."""

    reference_k: float = 291.15
    gradient_k_per_100km: float = 1.0
    restoring_days: float = 60.0
    l4_noise_k: float = 0.0
    write_l3: bool = True
    cloud_fraction: float = 0.6
    cloud_fraction_seasonal_amplitude: float = 0.2
    cloud_scale_km: float = 75.0
    cloud_decorrelation_days: float = 2.0
    l3_noise_k: float = 0.2

    def validate(self) -> None:
        require(265.0 <= self.reference_k <= 310.0, "reference_k",
                f"must be a sea temperature in kelvin (265-310), got {self.reference_k}")
        require(0.0 <= self.gradient_k_per_100km <= 5.0, "gradient_k_per_100km",
                f"must be within 0-5 K per 100 km, got {self.gradient_k_per_100km}")
        require(self.restoring_days > 0, "restoring_days", "must be positive")
        require(self.l4_noise_k >= 0, "l4_noise_k", "must be >= 0")
        require(self.l3_noise_k >= 0, "l3_noise_k", "must be >= 0")
        require(0.0 <= self.cloud_fraction < 1.0, "cloud_fraction",
                f"must be in [0, 1), got {self.cloud_fraction}")
        require(0.0 <= self.cloud_fraction_seasonal_amplitude <= 0.5,
                "cloud_fraction_seasonal_amplitude", "must be within 0-0.5")
        require(self.cloud_scale_km > 0, "cloud_scale_km", "must be positive")
        require(self.cloud_decorrelation_days > 0, "cloud_decorrelation_days",
                "must be positive")


@dataclass(frozen=True)
class AltimetryConfig:
    """Simulated nadir altimeters and their CMEMS-L3-like files."""

    missions: tuple[str, ...] = ("tpn", "j1", "en", "g2")
    noise_m: float = 0.02
    correlated_noise_m: float = 0.0
    correlated_length_km: float = 1000.0
    filter_cutoff_km: float = 65.0
    product: str = "nrt"
    latency_days: int = 1

    def validate(self) -> None:
        from varnet.osse.orbits import MISSIONS

        require(len(self.missions) > 0, "missions", "at least one mission is needed")
        for i, name in enumerate(self.missions):
            require(name in MISSIONS, f"missions[{i}]",
                    f"unknown mission '{name}'; known: {', '.join(sorted(MISSIONS))}")
        require(len(set(self.missions)) == len(self.missions), "missions",
                "a mission is listed twice")
        require(0.0 <= self.noise_m <= 0.5, "noise_m", f"must be within 0-0.5 m, got "
                f"{self.noise_m}")
        require(0.0 <= self.correlated_noise_m <= 0.5, "correlated_noise_m",
                "must be within 0-0.5 m")
        require(self.correlated_length_km > 0, "correlated_length_km", "must be positive")
        require(self.filter_cutoff_km >= 0, "filter_cutoff_km", "must be >= 0 (0: no filter)")
        require(self.product in ("nrt", "dt"), "product",
                f"must be 'nrt' or 'dt', got '{self.product}'")
        require(0 <= self.latency_days <= 365, "latency_days", "must be within 0-365 days")


@dataclass(frozen=True)
class OsseConfig:
    """The whole synthetic-ocean configuration."""

    seed: int = 20121001
    calendar: CalendarConfig = field(default_factory=CalendarConfig)
    grid: GridConfig = field(default_factory=GridConfig)
    ocean: OceanConfig = field(default_factory=OceanConfig)
    sst: SstConfig = field(default_factory=SstConfig)
    altimetry: AltimetryConfig = field(default_factory=AltimetryConfig)

    def validate(self) -> None:
        require(self.seed >= 0, "seed", f"must be a non-negative integer, got {self.seed}")
        # The lon/lat box, mapped onto the plane, must fit inside the periodic domain.
        from varnet.osse.geometry import PlaneMapping

        mapping = PlaneMapping.for_grid(self.grid, self.ocean.domain_km * 1e3)
        extent_x, extent_y = mapping.box_extent_m(self.grid)
        need = max(extent_x, extent_y) / 1e3
        if need > self.ocean.domain_km:
            raise ConfigError("ocean.domain_km",
                              f"{self.ocean.domain_km} km is smaller than the grid box mapped "
                              f"onto the model plane ({math.ceil(need)} km); enlarge it or "
                              "shrink [grid]")
