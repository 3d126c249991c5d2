"""Typed configuration of the synthetic ocean (OSSE), read from TOML.

Two oceans share the paper's box of 12 x 12 degrees at 1/20 degree (240 x 240 cells, cell
centres 32.025-43.975 N, 65.975-54.025 W), its calendar (2012-10-01 to 2013-09-30 with the
train / validation / test periods), the four nadir altimeters of the 2020a SSH-mapping data
challenge, and gap-free plus cloudy SST:

* the **Gulf Stream** (:func:`gulf_stream`, ``configs/osse-default.toml``, the project's
  default ocean): a jet crossing the box from the south-west with its SST front, and a coast
  with a shelf in the north-west corner ([jet], [coast], ``sst.front_k``);
* the **quiet open ocean** (the dataclass defaults, ``configs/osse-open.toml``): eddies on a
  uniform shear, no jet, no land; ``configs/osse-tiny.toml``, the seconds-long ocean of the
  tests, is a small piece of it.
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
    """Two-layer QG truth ocean (see :mod:`varnet.osse.qg`).

    ``initial_state`` names a committed spun-up state (``"open"`` or ``"gulfstream"``, see
    :mod:`varnet.osse.spinup`) or is the path of one written by ``varnet-osse spinup``.
    """

    nx: int = 256
    domain_km: float = 1400.0
    deformation_radius_km: float = 15.0
    upper_layer_depth_m: float = 500.0
    lower_layer_depth_m: float = 2000.0
    mean_flow_m_s: float = 0.05
    bottom_drag_days: float = 20.0
    time_step_s: float = 1200.0
    initial_state: str = "open"

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
    """SST tracer and the GHRSST-like files made from it.

    ``front_k`` is the SST drop (K, warm to the south) across the jet of [jet], a ``tanh``
    front of half-width ``front_width_km`` on the jet's axis; 0 without a jet.
    """

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
    front_k: float = 0.0
    front_width_km: float = 30.0

    def validate(self) -> None:
        require(0.0 <= self.front_k <= 20.0, "front_k",
                f"must be within 0-20 K (the SST drop across the jet), got {self.front_k}")
        require(self.front_width_km > 0, "front_width_km", "must be positive")
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
class JetConfig:
    """A Gulf-Stream-like eastward jet (see :mod:`varnet.osse.jet`).

    Attributes
    ----------
    speed_m_s : float
        Peak upper-layer speed of the jet's background profile, m s-1.
    half_width_km : float
        Half-width L of its ``sech^2((y - y_j) / L)`` profile, km (full width at half
        maximum 1.76 L).
    latitude : float
        Latitude where the jet's axis crosses the box's central meridian, degrees north.
    direction_deg : float
        Direction the jet flows to, degrees north of east; the model plane is turned by it.
    relaxation_days : float
        Time over which the jet is rebuilt after eddies move or erode it, days.
    """

    speed_m_s: float = 1.1
    half_width_km: float = 40.0
    latitude: float = 38.5
    direction_deg: float = 19.0
    relaxation_days: float = 20.0

    def validate(self) -> None:
        require(0.0 < self.speed_m_s <= 3.0, "speed_m_s",
                f"must be within 0-3 m/s, got {self.speed_m_s}")
        require(5.0 <= self.half_width_km <= 300.0, "half_width_km",
                f"must be within 5-300 km, got {self.half_width_km}")
        require(-80.0 <= self.latitude <= 80.0, "latitude", "must be a latitude in degrees")
        require(-45.0 <= self.direction_deg <= 45.0, "direction_deg",
                f"must be within -45..45 degrees of east, got {self.direction_deg}")
        require(self.relaxation_days > 0, "relaxation_days", "must be positive")


@dataclass(frozen=True)
class CoastConfig:
    """Land, a shelf and the penalisation that keeps the flow off land (see
    :mod:`varnet.osse.coast`).

    Attributes
    ----------
    land : tuple of (lon, lat) pairs
        Vertices of the land polygon, degrees; the polygon may reach beyond the box (land
        outside the box is part of the model's periodic plane but of no product).
    shelf_width_km : float
        Width of the shelf along the coast, km.
    coast_depth_m, shelf_break_depth_m : float
        Depth of the shelf at the coast and at its outer edge, m (linear in between).
    shelf_friction_m_s : float
        Bottom-friction velocity c_d |u| of the shelf; the damping rate of a water column of
        depth h is ``shelf_friction_m_s / h``, s-1.
    land_damping_hours : float
        Damping time of any flow on land, hours (Brinkman penalisation; short enough that
        no flow crosses land, longer than two model time steps).
    """

    land: tuple[tuple[float, float], ...] = (
        (-66.8, 41.3), (-65.0, 41.9), (-63.0, 42.7), (-61.0, 43.5), (-59.8, 44.4),
        (-66.8, 44.4))
    shelf_width_km: float = 90.0
    coast_depth_m: float = 30.0
    shelf_break_depth_m: float = 200.0
    shelf_friction_m_s: float = 5e-4
    land_damping_hours: float = 1.0

    def validate(self) -> None:
        require(len(self.land) >= 3, "land", "a polygon needs at least 3 (lon, lat) vertices")
        for i, (lon, lat) in enumerate(self.land):
            require(-180.0 <= lon <= 360.0 and -90.0 <= lat <= 90.0, f"land[{i}]",
                    f"({lon}, {lat}) is not a (longitude, latitude) pair in degrees")
        require(self.shelf_width_km >= 0, "shelf_width_km", "must be >= 0")
        require(0 < self.coast_depth_m <= self.shelf_break_depth_m, "coast_depth_m",
                "must be positive and not deeper than shelf_break_depth_m")
        require(self.shelf_friction_m_s >= 0, "shelf_friction_m_s", "must be >= 0")
        require(self.land_damping_hours > 0, "land_damping_hours", "must be positive")


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
    jet: JetConfig | None = None
    coast: CoastConfig | None = None

    @property
    def plane_rotation_deg(self) -> float:
        """How far the model plane's x axis is turned north of east (the jet's direction)."""
        return 0.0 if self.jet is None else self.jet.direction_deg

    def validate(self) -> None:
        require(self.seed >= 0, "seed", f"must be a non-negative integer, got {self.seed}")
        if self.jet is not None and self.jet.direction_deg:
            require(self.ocean.mean_flow_m_s == 0.0, "ocean.mean_flow_m_s",
                    "must be 0 with a jet whose direction is not 0 (the uniform flow would "
                    "run along the turned plane, not eastward)")
        if self.sst.front_k:
            require(self.jet is not None, "sst.front_k", "an SST front needs a [jet]")
        # The lon/lat box, mapped onto the plane, must fit inside the periodic domain.
        from varnet.osse.geometry import PlaneMapping

        mapping = PlaneMapping.for_config(self)
        extent_x, extent_y = mapping.box_extent_m(self.grid)
        need = max(extent_x, extent_y) / 1e3
        if need > self.ocean.domain_km:
            raise ConfigError("ocean.domain_km",
                              f"{self.ocean.domain_km} km is smaller than the grid box mapped "
                              f"onto the model plane ({math.ceil(need)} km); enlarge it or "
                              "shrink [grid]")


def gulf_stream() -> OsseConfig:
    """The project's default ocean: the Gulf Stream box (``configs/osse-default.toml``).

    A jet of 1.1 m s-1 entering the box from the south-west at 19 degrees north of east, its
    SST front (6 K, warm to the south), and a Nova-Scotia-like coast with a 90 km shelf in the
    north-west corner, on a 1700 km periodic plane (a margin around the turned box). The coast
    lies 1.2 degrees south of the real one, so that the paper's scored box (1 degree in from
    every side) holds a coast and its 20 km band (5 % of the box is land).
    """
    return OsseConfig(
        ocean=OceanConfig(nx=256, domain_km=1700.0, deformation_radius_km=30.0,
                          upper_layer_depth_m=600.0, lower_layer_depth_m=3400.0,
                          mean_flow_m_s=0.0, bottom_drag_days=10.0, time_step_s=900.0,
                          initial_state="gulfstream"),
        sst=SstConfig(reference_k=291.15, gradient_k_per_100km=0.5, restoring_days=30.0,
                      front_k=6.0, front_width_km=30.0),
        jet=JetConfig(), coast=CoastConfig())
