r"""Ground tracks of nadir altimeters on analytic repeat orbits.

A circular repeat orbit over a spherical Earth is fixed by its inclination :math:`i`, the
number of revolutions :math:`N_{rev}` and of nodal days :math:`N_{nd}` in one repeat cycle, and
the cycle length :math:`T_{cyc}`. The nodal period is :math:`T = T_{cyc}/N_{rev}` and the Earth
turns under the orbit plane at :math:`\omega = 2\pi N_{nd}/T_{cyc}` (Earth rotation minus the
J2 nodal precession, so the track repeats exactly after one cycle). With the argument of
latitude :math:`u = 2\pi (t - t_0)/T`:

.. math::

    \varphi = \arcsin(\sin i \,\sin u), \qquad
    \lambda = \lambda_0 + \operatorname{atan2}(\cos i\,\sin u, \cos u) - \omega (t - t_0).

This holds for prograde (:math:`i < 90^\circ`) and retrograde (sun-synchronous) orbits. The
tracks cross the equator every :math:`360^\circ/N_{rev}` of longitude and reach
:math:`\max|\varphi| = \min(i, 180^\circ - i)`. Checked against SGP4 in reference/osse.md
(nodal period within 0.6 s, node shift per revolution within 0.004 degree).

Times are seconds since 1950-01-01T00:00:00 UTC (the CNES/CMEMS epoch).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

DAY_S = 86400.0
EPOCH = dt.datetime(1950, 1, 1)


@dataclass(frozen=True)
class Mission:
    """A nadir altimetry mission on an exact repeat orbit.

    Attributes
    ----------
    short_name : str
        CMEMS short name used in file names (e.g. ``j1``).
    long_name : str
        Platform name written in file attributes.
    inclination_deg : float
        Orbit inclination, degrees.
    revolutions_per_cycle : int
        Revolutions in one repeat cycle.
    nodal_days_per_cycle : int
        Nodal days in one repeat cycle.
    cycle_days : float
        Repeat-cycle length, days.
    lon0_deg : float
        Longitude of the ascending node at ``t0_s``, degrees.
    t0_s : float
        Time of that ascending-node crossing, seconds since 1950-01-01.
    """

    short_name: str
    long_name: str
    inclination_deg: float
    revolutions_per_cycle: int
    nodal_days_per_cycle: int
    cycle_days: float
    lon0_deg: float
    t0_s: float = 0.0

    @property
    def nodal_period_s(self) -> float:
        """Time between two ascending-node crossings, s."""
        return self.cycle_days * DAY_S / self.revolutions_per_cycle

    @property
    def earth_rate_rad_s(self) -> float:
        """Rotation rate of the Earth relative to the orbit plane, rad s-1."""
        return 2.0 * np.pi * self.nodal_days_per_cycle / (self.cycle_days * DAY_S)

    @property
    def equator_spacing_deg(self) -> float:
        """Longitude between neighbouring equator crossings of the same direction, degrees."""
        return 360.0 / self.revolutions_per_cycle

    def ground_track(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sub-satellite longitude (degrees, in [-180, 180)) and latitude (degrees).

        Parameters
        ----------
        t_s : ndarray
            Times, seconds since 1950-01-01T00:00:00.
        """
        dt_s = np.asarray(t_s, float) - self.t0_s
        u = 2.0 * np.pi * dt_s / self.nodal_period_s
        inc = np.deg2rad(self.inclination_deg)
        sin_u = np.sin(u)
        lat = np.rad2deg(np.arcsin(np.sin(inc) * sin_u))
        lon = (self.lon0_deg + np.rad2deg(np.arctan2(np.cos(inc) * sin_u, np.cos(u))
                                          - self.earth_rate_rad_s * dt_s))
        return (lon + 180.0) % 360.0 - 180.0, lat


_JASON_PERIOD_S = 9.9156 * DAY_S / 127

#: Missions known to the simulator. The four of the 2020a SSH-mapping data challenge are
#: ``tpn`` (TOPEX/Poseidon on its interleaved orbit), ``j1`` (Jason-1), ``en`` (Envisat) and
#: ``g2`` (Geosat Follow-On). ``tpn`` is Jason-1's orbit shifted by half a track spacing
#: (1.417 degrees) and 64 revolutions (about 5 days) in time.
MISSIONS: dict[str, Mission] = {
    m.short_name: m
    for m in (
        Mission("j1", "Jason-1", 66.04, 127, 10, 9.9156, lon0_deg=-40.0),
        Mission("tpn", "TOPEX/Poseidon interleaved", 66.04, 127, 10, 9.9156,
                lon0_deg=-40.0 + 1.417, t0_s=64 * _JASON_PERIOD_S),
        Mission("en", "Envisat", 98.55, 501, 35, 35.0, lon0_deg=-12.0, t0_s=3100.0),
        Mission("g2", "Geosat Follow-On", 108.0, 244, 17, 17.05, lon0_deg=-71.0, t0_s=1700.0),
        Mission("j2", "Jason-2", 66.04, 127, 10, 9.9156, lon0_deg=-40.0, t0_s=5 * DAY_S),
        Mission("s3a", "Sentinel-3A", 98.65, 385, 27, 27.0, lon0_deg=-55.0, t0_s=900.0),
    )
}


def seconds_since_epoch(day: dt.date) -> float:
    """Seconds from 1950-01-01T00:00:00 to 00:00 UTC of ``day``."""
    return (dt.datetime.combine(day, dt.time()) - EPOCH).total_seconds()


def daily_passes(mission: Mission, day: dt.date, lon_bounds: tuple[float, float],
                 lat_bounds: tuple[float, float], rate_hz: float = 1.0
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Samples of one day's ground track that fall inside a lon/lat box.

    Parameters
    ----------
    mission : Mission
        The mission.
    day : datetime.date
        UTC day; samples cover [00:00, 24:00).
    lon_bounds, lat_bounds : tuple of float
        Box edges, degrees (longitudes in [-180, 180)).
    rate_hz : float
        Along-track sampling rate (1 Hz: about 6-7 km between samples).

    Returns
    -------
    t_s, lon_deg, lat_deg : ndarray
        Time (seconds since 1950-01-01), longitude and latitude of the samples in the box,
        in time order.
    """
    t0 = seconds_since_epoch(day)
    t = t0 + np.arange(0.0, DAY_S, 1.0 / rate_hz)
    lon, lat = mission.ground_track(t)
    inside = ((lon >= lon_bounds[0]) & (lon <= lon_bounds[1])
              & (lat >= lat_bounds[0]) & (lat <= lat_bounds[1]))
    return t[inside], lon[inside], lat[inside]
