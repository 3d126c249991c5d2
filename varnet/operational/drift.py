r"""Lagrangian skill of the products: particles drifted with OpenDrift in three current fields.

Search-and-rescue and oil-spill services judge a current product by where it carries floating
objects. ``varnet-ops drift`` (:func:`assess_drift`) seeds particles on a regular lattice over
the product region (sea cells only: where the product has values) at 12:00 UTC of a start day
and drifts them for 1 to 5 days with OpenDrift's ``OceanDrift`` (surface, no wind, no
diffusion, fourth-order Runge-Kutta, 1 h time step, positions every hour) in three fields:

* **the varnet products**: ``uo``, ``vo`` of the newest issue of each day,
  ``{products}/latest/{name}_varnet_phy_l4_{YYYYMMDD}.nc``, concatenated over time into one
  dataset that OpenDrift's generic CF reader (``reader_netCDF_CF_generic``) maps by standard
  name (``eastward_sea_water_velocity``, ``northward_sea_water_velocity``);
* **the truth**: ``u``, ``v`` (total current) of the synthetic ocean's ``truth.nc``;
* **the OI's geostrophy**: the geostrophic current of the DUACS-like optimal interpolation
  the operations compute for the same days (the model's own OI parameters, the archived
  along-track files, the shared OI cache of
  :func:`varnet.datamodel.gridding.cached_oi_first_guess`),
  plus the truth's mean dynamic topography, as ``varnet-train evaluate`` scores it
  (a perfect MDT: the baseline is favoured, not handicapped). Standard names
  ``surface_geostrophic_{eastward,northward}_sea_water_velocity``.

Only the two velocity components of each field are handed to OpenDrift: product and truth
files also hold geostrophic velocities whose standard names OpenDrift maps to the same
``x_sea_water_velocity``, and it would take whichever comes first in the file.

Times: a product maps one day (``time`` is 00:00 UTC, the coverage the whole day) and is
trained against the truth of 12:00 UTC of that day, so its fields are placed at the centre
of their coverage, 12:00 UTC, as the truth's and the OI's are; OpenDrift interpolates
linearly in time between the daily fields and bilinearly in space. Particles leaving a field's
region are deactivated (no fallback current); where the product has no value at the start
(land, outside the domain) the three runs share a land mask and particles strand on it.

Skill (:func:`lagrangian_skill`), against the truth trajectory of the same particle: the mean
separation distance (km, geodesic on the WGS84 ellipsoid, on which OpenDrift moves particles)
after 1, 3 and 5 days, and the skill score of Liu and Weisberg (2011),

.. math::

    c = \frac{\sum_{i=1}^{N} d_i}{\sum_{i=1}^{N} l_i}, \qquad
    s = \max\left(0, 1 - \frac{c}{n}\right),

with :math:`d_i` the separation at output time :math:`i` (hourly, up to the horizon),
:math:`l_i` the length of the truth trajectory from the release to time :math:`i`, and the
tolerance :math:`n = 1`; :math:`s = 1` is a perfect forecast, :math:`s = 0` one whose
separation grows as fast as the truth travels. Scores are averaged over the particles that
stay in all three fields up to the horizon.

Reference: Liu, Y., and R. H. Weisberg (2011), Evaluation of trajectory modeling in different
dynamic regions using normalized cumulative Lagrangian separation, J. Geophys. Res., 116,
C09013, doi:10.1029/2010JC006837.

OpenDrift is an optional dependency (``pip install 'varnet[drift]'``), imported only when a
drift runs (:func:`require_opendrift`).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import math
import os
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr
from numpy.typing import ArrayLike, NDArray

from varnet.errors import EXIT_CONFIG, VarnetError
from varnet.io.atomic import atomic_path
from varnet.io.readers import read_truth
from varnet.kernels.finite_differences import geostrophic_velocity
from varnet.operational.products import latest_filename, read_product

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from varnet.operational.config import OpsConfig

log = logging.getLogger("varnet.ops.drift")

__all__ = [
    "INSTALL_HINT",
    "LIU_WEISBERG_2011",
    "DriftError",
    "DriftReport",
    "OpenDriftMissing",
    "Trajectories",
    "assess_drift",
    "cumulative_path_km",
    "current_dataset",
    "drift_particles",
    "lagrangian_skill",
    "liu_weisberg_skill",
    "oi_geostrophic_currents",
    "plot_trajectories",
    "product_currents",
    "require_opendrift",
    "seed_positions",
    "separation_km",
    "trajectory_figure",
    "truth_currents",
]

INSTALL_HINT = "pip install 'varnet[drift]'"
LIU_WEISBERG_2011 = (
    "Liu, Y., and R. H. Weisberg (2011), Evaluation of trajectory modeling in different "
    "dynamic regions using normalized cumulative Lagrangian separation, J. Geophys. Res., "
    "116, C09013, doi:10.1029/2010JC006837"
)
#: Row names of the skill table, in order.
PRODUCTS_ROW = "varnet products"
OI_ROW = "OI geostrophy"
TRUTH_RUN = "truth"
#: Mean Earth radius, m (only to lay out the seeding lattice; distances are geodesic).
_EARTH_RADIUS_M = 6_371_000.0
_HORIZONS_DAYS = (1, 3, 5)
_SEED_HOUR = 12
_COLOURS = {TRUTH_RUN: "black", PRODUCTS_ROW: "#1f77b4", OI_ROW: "#e8720c"}
_NO_DATA_COLOUR = "0.75"
#: About how many particles the PNG draws.
_DRAWN = 42


class DriftError(VarnetError, RuntimeError):
    """A drift cannot be assessed: missing products, truth days, observations, sea cells."""


class OpenDriftMissing(DriftError):
    """OpenDrift is not installed (it is the optional extra ``varnet[drift]``)."""

    exit_code = EXIT_CONFIG


def require_opendrift() -> ModuleType:
    """Import OpenDrift, or say how to install it.

    Returns
    -------
    module
        The ``opendrift`` package.

    Raises
    ------
    OpenDriftMissing
        If it cannot be imported; the message is one line ending with :data:`INSTALL_HINT`.
    """
    import matplotlib

    try:
        # importing OpenDrift sets matplotlib's figure.autolayout for the whole process, which
        # breaks the hand-made layouts of our other figures: keep the settings as they were
        with matplotlib.rc_context():
            import opendrift
            from opendrift.models.oceandrift import OceanDrift  # noqa: F401
            from opendrift.readers import reader_netCDF_CF_generic  # noqa: F401
    except ImportError as exc:
        raise OpenDriftMissing(f"varnet-ops drift needs OpenDrift, which is not installed "
                               f"({exc}): {INSTALL_HINT}") from None
    return opendrift


def _opendrift_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("opendrift")
    except PackageNotFoundError:  # pragma: no cover - an unpackaged checkout
        return str(getattr(require_opendrift(), "__version__", "unknown"))


# --------------------------------------------------------------------------------------------
# current fields as CF datasets OpenDrift's generic reader maps by standard name
# --------------------------------------------------------------------------------------------


def _field_times(start: dt.date, days: int) -> NDArray[np.datetime64]:
    """12:00 UTC of ``start`` to ``start + days``: the daily fields a drift of ``days`` uses."""
    first = np.datetime64(start.isoformat(), "ns") + np.timedelta64(_SEED_HOUR, "h")
    return first + np.arange(days + 1) * np.timedelta64(1, "D")


def current_dataset(u: ArrayLike, v: ArrayLike, times: ArrayLike, lat: ArrayLike,
                    lon: ArrayLike, *, geostrophic: bool = False,
                    title: str = "") -> xr.Dataset:
    """A CF dataset of a surface current that OpenDrift's generic reader understands.

    Parameters
    ----------
    u, v : array_like
        Eastward and northward current, m s-1, shape (time, nlat, nlon); NaN where unknown.
    times : array_like of datetime64
        Times the fields are valid at (UTC), increasing.
    lat, lon : array_like
        Cell centres, degrees north and east, increasing and regular.
    geostrophic : bool, default False
        Use the standard names of surface geostrophic velocity instead of
        ``eastward_sea_water_velocity`` / ``northward_sea_water_velocity``.
    title : str
        ``title`` attribute.

    Returns
    -------
    xarray.Dataset
        ``uo``, ``vo`` float32 (time, latitude, longitude) with ``standard_name`` and
        ``units``; CF coordinates ``time``, ``latitude``, ``longitude``.
    """
    names = (("surface_geostrophic_eastward_sea_water_velocity",
              "surface_geostrophic_northward_sea_water_velocity") if geostrophic else
             ("eastward_sea_water_velocity", "northward_sea_water_velocity"))
    dims = ("time", "latitude", "longitude")
    return xr.Dataset(
        {key: (dims, np.asarray(values, dtype=np.float32),
               {"standard_name": std, "units": "m s-1"})
         for key, values, std in (("uo", u, names[0]), ("vo", v, names[1]))},
        coords={
            "time": ("time", np.asarray(times, dtype="datetime64[ns]"),
                     {"standard_name": "time"}),
            "latitude": ("latitude", np.asarray(lat, dtype=np.float64),
                         {"standard_name": "latitude", "units": "degrees_north"}),
            "longitude": ("longitude", np.asarray(lon, dtype=np.float64),
                          {"standard_name": "longitude", "units": "degrees_east"}),
        },
        attrs={"Conventions": "CF-1.8", "title": title},
    )


def _product_paths(products_dir: str | os.PathLike[str], name: str,
                   days: Sequence[dt.date]) -> list[Path]:
    latest = Path(products_dir) / "latest"
    paths = [latest / latest_filename(name, day) for day in days]
    missing = [day for day, path in zip(days, paths, strict=True) if not path.is_file()]
    if missing:
        raise DriftError(f"{latest}: no product for {len(missing)} of the {len(days)} days "
                         f"the drift needs ({days[0]} to {days[-1]}): "
                         f"{', '.join(map(str, missing))}")
    return paths


def product_currents(products_dir: str | os.PathLike[str], name: str, start: dt.date,
                     days: int) -> tuple[xr.Dataset, list[Path]]:
    """The products' current of ``start`` to ``start + days`` as one dataset for OpenDrift.

    Parameters
    ----------
    products_dir : str or os.PathLike
        The product folder (its ``latest/`` links are read).
    name : str
        Product name.
    start : datetime.date
        Release day.
    days : int
        Drift duration, days; products of ``days + 1`` days are read.

    Returns
    -------
    xarray.Dataset
        ``uo``, ``vo`` as the files hold them (units, standard names), one time
        per day at 12:00 UTC, the centre of each product's coverage.
    list of pathlib.Path
        The files read (their ``latest/`` links).

    Raises
    ------
    DriftError
        If a day has no product, or ``uo``/``vo`` lack their standard names.
    """
    day_list = [start + dt.timedelta(days=k) for k in range(days + 1)]
    paths = _product_paths(products_dir, name, day_list)
    parts = []
    for path in paths:
        try:
            ds = read_product(path)
        except (OSError, ValueError) as exc:
            raise DriftError(f"{path}: cannot be read as a product ({exc})") from None
        expected = {"uo": "eastward_sea_water_velocity", "vo": "northward_sea_water_velocity"}
        for key, std in expected.items():
            if key not in ds or ds[key].attrs.get("standard_name") != std:
                raise DriftError(f"{path}: variable {key!r} with standard_name {std!r} "
                                 "not found")
        parts.append(ds[["uo", "vo"]])
    currents = xr.concat(parts, dim="time", combine_attrs="override")
    # a product is the day it maps (00:00 UTC, covering the whole day), made against the
    # truth of 12:00 UTC: it is placed at the centre of its coverage
    currents = currents.assign_coords(
        time=currents["time"].values + np.timedelta64(_SEED_HOUR, "h"))
    currents["time"].attrs.update({"standard_name": "time",
                                   "comment": "centre of the product's daily coverage"})
    currents.attrs["title"] = f"varnet products {name}"
    return currents, paths


def truth_currents(truth_path: str | os.PathLike[str], start: dt.date,
                   days: int) -> xr.Dataset:
    """The truth's total current of ``start`` to ``start + days`` for OpenDrift.

    Parameters
    ----------
    truth_path : str or os.PathLike
        The synthetic ocean's ``truth.nc`` (read with :func:`varnet.io.readers.read_truth`).
    start : datetime.date
        Release day.
    days : int
        Drift duration, days.

    Returns
    -------
    xarray.Dataset
        See :func:`current_dataset`: ``u``, ``v`` of the truth, daily at 12:00 UTC, with the
        standard names of the total current.

    Raises
    ------
    DriftError
        If the truth lacks one of the days.
    """
    times = _field_times(start, days)
    with read_truth(truth_path) as truth:
        missing = [str(t)[:10] for t in times if t not in truth["time"].values]
        if missing:
            raise DriftError(f"{truth_path}: no truth at 12:00 UTC of {', '.join(missing)}")
        sub = truth[["u", "v"]].sel(time=times).load()
    return current_dataset(sub["u"].values, sub["v"].values, times, sub["lat"].values,
                           sub["lon"].values, title=f"truth {truth_path}")


def _truth_mdt(truth_path: str | os.PathLike[str], lat: NDArray[np.float64],
               lon: NDArray[np.float64]) -> NDArray[np.float64]:
    """The truth's mean dynamic topography (m) interpolated linearly to a grid."""
    with read_truth(truth_path) as truth:
        if "mdt" not in truth:
            raise DriftError(f"{truth_path}: no 'mdt' (mean dynamic topography) to add to the "
                             "OI's sea level anomaly")
        mdt = truth["mdt"]
        if "time" in mdt.dims:
            mdt = mdt.isel(time=0)
        return np.asarray(mdt.load().interp(lat=lat, lon=lon).values, dtype=np.float64)


def _oi_sla(config: OpsConfig, days: Sequence[dt.date]) -> tuple[NDArray[np.float32], dict]:
    """The operations' OI sea level anomaly (m) of ``days`` on the product grid.

    The same OI as the products' first guess: the model's OI parameters, the archived
    along-track files within the OI's reach, the OI cache of the state folder.
    """
    from varnet.config import to_mapping
    from varnet.datamodel.gridding import cached_oi_first_guess
    from varnet.operational.ledger import Ledger
    from varnet.operational.pipeline import AlongTrackReader, model_oi_config, oi_reach_days
    from varnet.runtime.metadata import read_metadata

    oi_config = model_oi_config(read_metadata(config.model.path))
    ledger_file = Path(config.paths.ledger_file)
    if not ledger_file.is_file():
        raise DriftError(f"{ledger_file}: no ledger, so no archived observation for the OI; "
                         "run varnet-ops ingest first")
    reach = dt.timedelta(days=oi_reach_days(oi_config))
    missions = config.production.missions
    with Ledger.for_config(config) as ledger:
        records = [r for r in ledger.inputs_for_days(days[0] - reach, days[-1] + reach,
                                                     kind="alongtrack")
                   if not missions or r.mission in missions]
    blind = [d for d in days if not any(abs(r.data_day - d) <= reach for r in records)]
    if blind:
        raise DriftError(f"no archived along-track file within the OI's reach ({reach.days} "
                         f"days) of {', '.join(map(str, blind))}: the OI cannot be mapped")
    track = AlongTrackReader().read(records)
    grid = config.grid()
    sla = cached_oi_first_guess(track, grid, list(days), oi_config,
                                Path(config.paths.state) / "oi-cache",
                                threads=config.model.threads)
    return sla, {"parameters": to_mapping(oi_config), "alongtrack_files": len(records)}


def oi_geostrophic_currents(config: OpsConfig, truth_path: str | os.PathLike[str],
                            start: dt.date, days: int) -> tuple[xr.Dataset, dict]:
    """Geostrophic current of the operations' OI (plus the truth's MDT) for OpenDrift.

    Parameters
    ----------
    config : OpsConfig
        The operations configuration (model, ledger, archive, grid, OI cache).
    truth_path : str or os.PathLike
        The truth, for its mean dynamic topography.
    start : datetime.date
        Release day.
    days : int
        Drift duration, days.

    Returns
    -------
    xarray.Dataset
        :func:`current_dataset` with geostrophic standard names: :math:`u_g`, :math:`v_g`
        (m s-1) of the OI SLA + MDT (computed by
        :func:`varnet.kernels.finite_differences.geostrophic_velocity`), daily at 12:00 UTC,
        on the product grid.
    dict
        What was used: OI parameters and the number of along-track files.

    Raises
    ------
    DriftError
        If there is no ledger or no archived along-track file near a day.
    varnet.runtime.metadata.ModelMismatch
        If the model (which holds the OI parameters) cannot be read.
    """
    day_list = [start + dt.timedelta(days=k) for k in range(days + 1)]
    sla, info = _oi_sla(config, day_list)
    lat, lon = config.region.centres()
    adt = sla.astype(np.float64) + _truth_mdt(truth_path, lat, lon)
    ug, vg = geostrophic_velocity(adt, lat, lon)
    return (current_dataset(ug, vg, _field_times(start, days), lat, lon, geostrophic=True,
                            title="geostrophy of the OI SLA + truth MDT"), info)


# --------------------------------------------------------------------------------------------
# seeding and drifting
# --------------------------------------------------------------------------------------------


def seed_positions(lat: ArrayLike, lon: ArrayLike, sea: ArrayLike, *,
                   spacing_km: float | None = None, particles: int | None = None
                   ) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """A regular lattice of release points over a grid's sea cells.

    The lattice is centred in the grid's extent (half a spacing or more from the edges), with
    ``spacing_km`` between neighbours along both axes (the longitude step widened by
    :math:`1/\\cos` of the mean latitude); points whose nearest cell is not sea are dropped.

    Parameters
    ----------
    lat, lon : array_like
        Cell centres, degrees north and east, increasing.
    sea : array_like of bool
        (nlat, nlon), True where the field has values.
    spacing_km : float, optional
        Distance between neighbouring points, km.
    particles : int, optional
        Instead of ``spacing_km``: about this many points (the spacing is the square root of
        the sea area per point).

    Returns
    -------
    lon, lat : numpy.ndarray
        Release points, degrees, row by row (south to north, west to east).
    float
        The spacing used, km.

    Raises
    ------
    ValueError
        Unless exactly one of ``spacing_km`` and ``particles`` is given and positive.
    DriftError
        If no point falls on a sea cell.
    """
    lat_a = np.asarray(lat, dtype=np.float64)
    lon_a = np.asarray(lon, dtype=np.float64)
    sea_a = np.asarray(sea, dtype=bool)
    if (spacing_km is None) == (particles is None):
        raise ValueError("give one of spacing_km and particles")
    km_per_deg = math.radians(1.0) * _EARTH_RADIUS_M / 1000.0
    coslat = math.cos(math.radians(float(lat_a.mean())))
    if particles is not None:
        if particles < 1:
            raise ValueError(f"particles must be at least 1, got {particles}")
        dlat, dlon = float(np.diff(lat_a).mean()), float(np.diff(lon_a).mean())
        area = sea_a.sum() * dlat * dlon * km_per_deg ** 2 * coslat
        spacing_km = math.sqrt(area / particles)
    if not spacing_km > 0:
        raise ValueError(f"spacing_km must be positive, got {spacing_km}")

    def axis(values: NDArray[np.float64], step: float) -> NDArray[np.float64]:
        span = float(values[-1] - values[0])
        count = max(1, math.floor(span / step))
        return values[0] + (span - (count - 1) * step) / 2 + step * np.arange(count)

    seed_lat = axis(lat_a, spacing_km / km_per_deg)
    seed_lon = axis(lon_a, spacing_km / (km_per_deg * coslat))
    grid_lat, grid_lon = np.meshgrid(seed_lat, seed_lon, indexing="ij")
    j = np.abs(lat_a[:, None] - seed_lat[None]).argmin(axis=0)
    i = np.abs(lon_a[:, None] - seed_lon[None]).argmin(axis=0)
    keep = sea_a[np.ix_(j, i)]
    if not keep.any():
        raise DriftError("no release point falls on a cell where the product has values")
    return grid_lon[keep], grid_lat[keep], float(spacing_km)


@dataclass(frozen=True)
class Trajectories:
    """Positions of drifted particles.

    Attributes
    ----------
    times : numpy.ndarray of datetime64[s]
        Output times (UTC), shape (K + 1,), the release first.
    lon, lat : numpy.ndarray of float64
        Degrees, shape (particles, K + 1); NaN once a particle is deactivated (it left the
        field's region or stranded on the no-data mask).
    """

    times: NDArray[np.datetime64]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]


#: OceanDrift settings: surface, no wind, no diffusion, no Stokes drift, RK4, and a particle
#: leaving the field is deactivated instead of stopping with a fallback current of 0.
_OCEANDRIFT_CONFIG: dict[str, Any] = {
    "general:use_auto_landmask": False,
    "seed:ocean_only": False,
    "drift:advection_scheme": "runge-kutta4",
    "drift:current_uncertainty": 0.0,
    "drift:wind_uncertainty": 0.0,
    "drift:vertical_mixing": False,
    "environment:fallback:x_sea_water_velocity": None,
    "environment:fallback:y_sea_water_velocity": None,
    "environment:fallback:x_wind": 0.0,
    "environment:fallback:y_wind": 0.0,
    "environment:fallback:sea_surface_wave_stokes_drift_x_velocity": 0.0,
    "environment:fallback:sea_surface_wave_stokes_drift_y_velocity": 0.0,
    "environment:fallback:horizontal_diffusivity": 0.0,
}


def _no_data_mask(lat: ArrayLike, lon: ArrayLike, sea: ArrayLike) -> xr.Dataset:
    dims = ("latitude", "longitude")
    return xr.Dataset(
        {"land_binary_mask": (dims, (~np.asarray(sea, dtype=bool)).astype(np.float32),
                              {"standard_name": "land_binary_mask", "units": "1"})},
        coords={"latitude": ("latitude", np.asarray(lat, dtype=np.float64),
                             {"standard_name": "latitude", "units": "degrees_north"}),
                "longitude": ("longitude", np.asarray(lon, dtype=np.float64),
                              {"standard_name": "longitude", "units": "degrees_east"})})


def drift_particles(currents: xr.Dataset, lon: ArrayLike, lat: ArrayLike,
                    start: dt.datetime, hours: int, *, no_data: xr.Dataset | None = None,
                    time_step_s: int = 3600, output_step_s: int = 3600,
                    name: str = "currents") -> Trajectories:
    """Drift surface particles with OpenDrift's ``OceanDrift`` in one current field.

    Parameters
    ----------
    currents : xarray.Dataset
        The current, read by ``reader_netCDF_CF_generic`` through its standard names (e.g.
        :func:`current_dataset`); it must cover the whole drift in time.
    lon, lat : array_like
        Release points, degrees.
    start : datetime.datetime
        Release time (UTC, naive).
    hours : int
        Drift duration, hours.
    no_data : xarray.Dataset, optional
        A ``land_binary_mask`` field (1 where there is no data): particles strand on it.
        Without it nothing is land.
    time_step_s, output_step_s : int
        Integration and output time steps, s (the output step a multiple of the other).
    name : str
        The reader's name (OpenDrift's logs).

    Returns
    -------
    Trajectories
        Positions every ``output_step_s`` from ``start`` to ``start + hours``.
    """
    require_opendrift()
    from opendrift.models.oceandrift import OceanDrift
    from opendrift.readers.reader_netCDF_CF_generic import Reader

    # OpenDrift installs a coloured handler on the root logger unless given its own; errors
    # only, to a sink: what matters is reported by the caller
    model = OceanDrift(loglevel=logging.ERROR, logfile=[logging.StreamHandler(io.StringIO())])
    for key, value in _OCEANDRIFT_CONFIG.items():
        model.set_config(key, value)
    readers = [Reader(currents, name=name)]
    if no_data is not None:
        readers.append(Reader(no_data, name="no-data mask"))
        model.set_config("general:coastline_action", "stranding")
    else:
        model.set_config("environment:fallback:land_binary_mask", 0)
        model.set_config("general:coastline_action", "none")
    model.add_reader(readers)
    lon_a = np.atleast_1d(np.asarray(lon, dtype=np.float64))
    lat_a = np.atleast_1d(np.asarray(lat, dtype=np.float64))
    model.seed_elements(lon=lon_a, lat=lat_a, z=0.0, time=start)
    model.run(duration=dt.timedelta(hours=hours), time_step=time_step_s,
              time_step_output=output_step_s)
    result = model.result
    steps = hours * 3600 // output_step_s
    times = (np.datetime64(start, "s") + np.arange(steps + 1)
             * np.timedelta64(output_step_s, "s"))
    out_lon = np.full((lon_a.size, steps + 1), np.nan)
    out_lat = np.full_like(out_lon, np.nan)
    found = result["time"].values.astype("datetime64[s]")
    columns = np.searchsorted(times, found)
    ok = (columns < times.size) & (times[np.minimum(columns, times.size - 1)] == found)
    ids = np.asarray(result["trajectory"].values, dtype=int)
    out_lon[np.ix_(ids, columns[ok])] = result["lon"].values[:, ok]
    out_lat[np.ix_(ids, columns[ok])] = result["lat"].values[:, ok]
    return Trajectories(times, out_lon, out_lat)


# --------------------------------------------------------------------------------------------
# skill
# --------------------------------------------------------------------------------------------


def separation_km(lon_a: ArrayLike, lat_a: ArrayLike, lon_b: ArrayLike,
                  lat_b: ArrayLike) -> NDArray[np.float64]:
    """Geodesic distance between positions on the WGS84 ellipsoid, km.

    Parameters
    ----------
    lon_a, lat_a, lon_b, lat_b : array_like
        Degrees, broadcast together; NaN marks a missing position.

    Returns
    -------
    numpy.ndarray
        km, NaN where a position is missing.
    """
    import pyproj

    arrays = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64)
                                   for a in (lon_a, lat_a, lon_b, lat_b)))
    finite = np.logical_and.reduce([np.isfinite(a) for a in arrays])
    out = np.full(arrays[0].shape, np.nan)
    if finite.any():
        _, _, metres = pyproj.Geod(ellps="WGS84").inv(*(a[finite] for a in arrays))
        out[finite] = np.asarray(metres) / 1000.0
    return out


def cumulative_path_km(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.float64]:
    """Length travelled since the first position, km, along the last axis.

    Parameters
    ----------
    lon, lat : array_like
        Degrees, shape (..., times).

    Returns
    -------
    numpy.ndarray
        Same shape, 0 at the first time, NaN from the first missing position on.
    """
    lon_a = np.asarray(lon, dtype=np.float64)
    lat_a = np.asarray(lat, dtype=np.float64)
    legs = separation_km(lon_a[..., :-1], lat_a[..., :-1], lon_a[..., 1:], lat_a[..., 1:])
    zero = np.zeros((*lon_a.shape[:-1], 1))
    return np.concatenate([zero, np.cumsum(legs, axis=-1)], axis=-1)


def liu_weisberg_skill(separation: ArrayLike, path: ArrayLike,
                       tolerance: float = 1.0) -> NDArray[np.float64]:
    r"""Skill score of Liu and Weisberg (2011) of each trajectory.

    :math:`s = \max(0, 1 - c/n)`, :math:`c = \sum_i d_i / \sum_i l_i` (Liu, Y., and R. H.
    Weisberg (2011), J. Geophys. Res., 116, C09013, doi:10.1029/2010JC006837).

    Parameters
    ----------
    separation : array_like
        :math:`d_i`, separation from the reference trajectory at times 1 to N (not the
        release), km (any length unit), shape (..., N).
    path : array_like
        :math:`l_i`, length of the reference trajectory from the release to the same times,
        same unit and shape.
    tolerance : float, default 1
        :math:`n`; must be positive.

    Returns
    -------
    numpy.ndarray
        Shape (...): in [0, 1], 1 a perfect trajectory; NaN where a value is missing or the
        reference did not move.
    """
    if not tolerance > 0:
        raise ValueError(f"tolerance must be positive, got {tolerance}")
    d = np.asarray(separation, dtype=np.float64)
    length = np.asarray(path, dtype=np.float64)
    total = length.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(total > 0, d.sum(axis=-1) / total, np.nan)
    return np.where(np.isfinite(c), np.maximum(0.0, 1.0 - c / tolerance), np.nan)


def _horizons(days: int) -> list[int]:
    return sorted({h for h in _HORIZONS_DAYS if h <= days} | {days})


def lagrangian_skill(truth: Trajectories, runs: Mapping[str, Trajectories],
                     horizons_days: Sequence[int], tolerance: float = 1.0) -> pd.DataFrame:
    """Mean separation from the truth and Liu-Weisberg skill of each run, at each horizon.

    A particle counts at a horizon if its truth trajectory and every run's stay active up to
    it, so every row averages the same particles.

    Parameters
    ----------
    truth : Trajectories
        The reference trajectories.
    runs : mapping of str to Trajectories
        Trajectories of the same particles and times in other fields, by row name.
    horizons_days : sequence of int
        Horizons, days; each a whole number of output steps.
    tolerance : float, default 1
        :math:`n` of :func:`liu_weisberg_skill`.

    Returns
    -------
    pandas.DataFrame
        One row per run; for each horizon ``h``: ``separation_{h}d_km`` (mean, km),
        ``skill_{h}d`` (mean :math:`s`) and ``particles_{h}d`` (how many particles count).
    """
    step_s = (truth.times[1] - truth.times[0]) / np.timedelta64(1, "s")
    every = [truth, *runs.values()]
    finite = np.logical_and.reduce([np.isfinite(t.lon) & np.isfinite(t.lat) for t in every])
    path = cumulative_path_km(truth.lon, truth.lat)
    rows = {}
    for name, run in runs.items():
        separation = separation_km(run.lon, run.lat, truth.lon, truth.lat)
        row: dict[str, float] = {}
        for h in horizons_days:
            k = round(h * 86400 / step_s)
            if k >= truth.times.size:
                raise ValueError(f"horizon {h} days is beyond the trajectories")
            alive = finite[:, : k + 1].all(axis=1)
            skill = liu_weisberg_skill(separation[alive, 1: k + 1], path[alive, 1: k + 1],
                                       tolerance)
            row[f"separation_{h}d_km"] = (float(separation[alive, k].mean()) if alive.any()
                                          else math.nan)
            row[f"skill_{h}d"] = (float(np.nanmean(skill)) if np.isfinite(skill).any()
                                  else math.nan)
            row[f"particles_{h}d"] = int(alive.sum())
        rows[name] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "current"
    return table


# --------------------------------------------------------------------------------------------
# outputs
# --------------------------------------------------------------------------------------------


def _subset(lon0: NDArray[np.float64], lat0: NDArray[np.float64],
            most: int) -> NDArray[np.int64]:
    """Indices of release points on a coarser sub-lattice: at most about ``most`` of them."""
    stride = max(1, math.ceil(math.sqrt(lon0.size / most)))
    rows, columns = np.unique(lat0), np.unique(lon0)
    ilat = np.searchsorted(rows, lat0)
    ilon = np.searchsorted(columns, lon0)

    def offset(count: int) -> int:
        # the sub-lattice farthest from both edges: particles released near an edge soon leave
        return max(range(min(stride, count)),
                   key=lambda o: (min(o, (count - 1 - o) % stride), -o))

    chosen = np.flatnonzero((ilat % stride == offset(rows.size))
                            & (ilon % stride == offset(columns.size)))
    return chosen if chosen.size else np.arange(min(most, lon0.size))


def trajectory_figure(truth: Trajectories, runs: Mapping[str, Trajectories],
                      lat: ArrayLike, lon: ArrayLike, sea: ArrayLike, *, title: str,
                      most: int = 36) -> Figure:
    """Map of a subset of the truth's and the runs' trajectories.

    Parameters
    ----------
    truth : Trajectories
        Reference trajectories (black).
    runs : mapping of str to Trajectories
        Other fields' trajectories, by name (coloured).
    lat, lon : array_like
        Cell centres of the product grid, degrees.
    sea : array_like of bool
        (nlat, nlon), False where the product has no value (drawn grey).
    title : str
        Figure title.
    most : int
        About how many particles to draw (a coarser sub-lattice of the release points).

    Returns
    -------
    matplotlib.figure.Figure
        On an Agg canvas, not registered with pyplot.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    lat_a = np.asarray(lat, dtype=np.float64)
    lon_a = np.asarray(lon, dtype=np.float64)
    aspect = 1.0 / max(math.cos(math.radians(float(lat_a.mean()))), 0.05)
    ratio = (lat_a[-1] - lat_a[0]) * aspect / max(lon_a[-1] - lon_a[0], 1e-9)
    width = 7.0
    height = min(max(width * ratio * 0.76 + 1.4, 4.0), 11.0)
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.pcolormesh(lon_a, lat_a, np.asarray(sea, dtype=float), shading="nearest",
                  cmap=ListedColormap([_NO_DATA_COLOUR, "white"]), vmin=0, vmax=1,
                  rasterized=True)
    chosen = _subset(truth.lon[:, 0], truth.lat[:, 0], most)
    drawn = {TRUTH_RUN: truth, **runs}
    for name, run in drawn.items():
        colour = _COLOURS.get(name, "tab:green")
        width_pt = 1.8 if name == TRUTH_RUN else 1.2
        for p in chosen:
            ax.plot(run.lon[p], run.lat[p], color=colour, lw=width_pt, alpha=0.9,
                    solid_capstyle="round", zorder=3 if name == TRUTH_RUN else 4)
            last = np.flatnonzero(np.isfinite(run.lon[p]))
            if last.size:
                ax.plot(run.lon[p, last[-1]], run.lat[p, last[-1]], "o", ms=3.2,
                        color=colour, zorder=5)
    ax.plot(truth.lon[chosen, 0], truth.lat[chosen, 0], "o", ms=4.5, mfc="white", mec="black",
            mew=1.0, zorder=6)
    handles = [Line2D([], [], color=_COLOURS.get(n, "tab:green"), lw=2.0, label=n)
               for n in drawn]
    handles.append(Line2D([], [], ls="", marker="o", ms=5, mfc="white", mec="black",
                          label="release"))
    if not np.asarray(sea, dtype=bool).all():
        handles.append(Line2D([], [], ls="", marker="s", ms=8, color=_NO_DATA_COLOUR,
                              label="land / no data"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=5,
              fontsize=9, frameon=False, handlelength=1.6, columnspacing=1.2)
    ax.set_aspect(aspect)
    ax.set_xlim(lon_a[0], lon_a[-1])
    ax.set_ylim(lat_a[0], lat_a[-1])
    ax.set_xlabel("longitude (degrees east)")
    ax.set_ylabel("latitude (degrees north)")
    fig.suptitle(title, x=0.02, ha="left", fontsize=10)
    fig.tight_layout()
    return fig


def plot_trajectories(path: str | os.PathLike[str], truth: Trajectories,
                      runs: Mapping[str, Trajectories], lat: ArrayLike, lon: ArrayLike,
                      sea: ArrayLike, *, title: str, most: int = 36) -> Path:
    """Write :func:`trajectory_figure` as a PNG, atomically; returns ``path``."""
    fig = trajectory_figure(truth, runs, lat, lon, sea, title=title, most=most)
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=120)
    finally:
        fig.clear()
    return path


def _trajectory_dataset(truth: Trajectories, runs: Mapping[str, Trajectories]) -> xr.Dataset:
    names = [TRUTH_RUN, *runs]
    every = [truth, *runs.values()]
    dims = ("current", "trajectory", "time")
    return xr.Dataset(
        {"lon": (dims, np.stack([t.lon for t in every]),
                 {"standard_name": "longitude", "units": "degrees_east"}),
         "lat": (dims, np.stack([t.lat for t in every]),
                 {"standard_name": "latitude", "units": "degrees_north"})},
        coords={"current": ("current", names), "time": ("time", truth.times),
                "trajectory": ("trajectory", np.arange(truth.lon.shape[0]))},
        attrs={"title": "varnet-ops drift: particle positions (NaN once deactivated)",
               "featureType": "trajectory"})


def _json_value(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return None if not math.isfinite(value) else round(float(value), 6)
    if isinstance(value, np.integer):
        return int(value)
    return value


@dataclass
class DriftReport:
    """What :func:`assess_drift` did and found.

    Attributes
    ----------
    table : pandas.DataFrame
        :func:`lagrangian_skill` of the products and the OI's geostrophy.
    horizons_days : list of int
        The horizons of the table.
    particles : int
        Particles released.
    spacing_km : float
        Spacing of the release lattice, km.
    start : datetime.datetime
        Release time (UTC).
    days : int
        Drift duration, days.
    files : dict of str to pathlib.Path
        ``csv``, ``json``, ``png``, ``trajectories`` (NetCDF).
    details : dict
        Everything else written to the JSON file.
    """

    table: pd.DataFrame
    horizons_days: list[int]
    particles: int
    spacing_km: float
    start: dt.datetime
    days: int
    files: dict[str, Path] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """The printed summary: a header, the table (Markdown), notes and the files."""
        hs = self.horizons_days
        header = (["current"] + [f"separation {h} d (km)" for h in hs]
                  + [f"skill {h} d" for h in hs])
        out = [f"Lagrangian skill against the truth: {self.particles} particles released "
               f"{self.start:%Y-%m-%d %H:%M} UTC every {self.spacing_km:.3g} km, drifted "
               f"{self.days} day{'s' if self.days > 1 else ''} "
               f"(OpenDrift {self.details.get('opendrift_version', '?')} OceanDrift, RK4, "
               f"{self.details.get('time_step_s', 3600) / 3600:g} h step)", "",
               "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for name, row in self.table.iterrows():
            cells = [str(name)]
            cells += [_format(row[f"separation_{h}d_km"], 2) for h in hs]
            cells += [_format(row[f"skill_{h}d"], 3) for h in hs]
            out.append("| " + " | ".join(cells) + " |")
        first = self.table.iloc[0]
        out += ["", "particles inside every field up to the horizon: "
                + ", ".join(f"{h} d {int(first[f'particles_{h}d'])}" for h in hs),
                "skill: Liu & Weisberg (2011) s = max(0, 1 - c/n), n = 1, c = sum of "
                "separations / sum of truth path lengths (hourly); 1 is perfect "
                "(doi:10.1029/2010JC006837)"]
        if self.files:
            folder = self.files["csv"].parent
            out.append(f"wrote {', '.join(p.name for p in self.files.values())} in {folder}")
        return out


def _format(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}" if math.isfinite(value) else "n/a"


def _write_outputs(report: DriftReport, out_dir: Path, truth: Trajectories,
                   runs: Mapping[str, Trajectories], lat: NDArray[np.float64],
                   lon: NDArray[np.float64], sea: NDArray[np.bool_]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"csv": out_dir / "drift_skill.csv", "json": out_dir / "drift_skill.json",
             "png": out_dir / "drift_trajectories.png",
             "trajectories": out_dir / "drift_trajectories.nc"}
    with atomic_path(files["csv"]) as tmp:
        report.table.to_csv(tmp, float_format="%.6g")
    document = {
        **report.details,
        "start": f"{report.start:%Y-%m-%dT%H:%M:%S}Z",
        "days": report.days,
        "particles": report.particles,
        "spacing_km": _json_value(report.spacing_km),
        "horizons_days": report.horizons_days,
        "skill": {name: {key: _json_value(value) for key, value in row.items()}
                  for name, row in report.table.to_dict(orient="index").items()},
        "skill_score": "Liu and Weisberg (2011): s = max(0, 1 - c/n), n = 1, c = sum over "
                       "output times of the separation / sum of the truth path length "
                       "from the release; averaged over the particles counted",
        "reference": LIU_WEISBERG_2011,
    }
    with atomic_path(files["json"]) as tmp:
        tmp.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")
    last = report.horizons_days[-1]
    separations = ", ".join(f"{name} {row[f'separation_{last}d_km']:.1f} km"
                            for name, row in report.table.iterrows())
    drawn = _subset(truth.lon[:, 0], truth.lat[:, 0], _DRAWN).size
    title = (f"Drift from {report.start:%Y-%m-%d %H:%M} UTC for {report.days} "
             f"day{'s' if report.days > 1 else ''} ({drawn} of {report.particles} particles "
             f"drawn)\n" + textwrap.fill(f"mean separation from the truth after {last} d: "
                                         f"{separations}", 92))
    plot_trajectories(files["png"], truth, runs, lat, lon, sea, title=title,
                      most=_DRAWN)
    positions = _trajectory_dataset(truth, runs)
    with atomic_path(files["trajectories"]) as tmp:
        positions.to_netcdf(tmp, encoding={k: {"dtype": "float32", "zlib": True}
                                           for k in ("lon", "lat")})
    report.files = files


def assess_drift(config: OpsConfig, truth_path: str | os.PathLike[str], start: dt.date,
                 days: int = 5, *, spacing_km: float | None = None,
                 particles: int | None = None, out_dir: str | os.PathLike[str] | None = None,
                 time_step_s: int = 3600, output_step_s: int = 3600) -> DriftReport:
    """Drift particles in the products, the truth and the OI's geostrophy; score and draw.

    Parameters
    ----------
    config : OpsConfig
        The operations configuration: product folder and name, grid, model (OI
        parameters), ledger and archive (OI observations).
    truth_path : str or os.PathLike
        The synthetic ocean's ``truth.nc``.
    start : datetime.date
        Release day; particles are released at 12:00 UTC.
    days : int, default 5
        Drift duration, 1 to 5 days; products of ``start`` to ``start + days`` are needed.
    spacing_km : float, optional
        Spacing of the release lattice, km (default 25 km unless ``particles`` is given).
    particles : int, optional
        About this many particles instead.
    out_dir : str or os.PathLike, optional
        Where to write ``drift_skill.csv``, ``drift_skill.json``,
        ``drift_trajectories.png`` and ``drift_trajectories.nc``; nothing is written when
        None.
    time_step_s, output_step_s : int
        OpenDrift's time step and output step, s.

    Returns
    -------
    DriftReport

    Raises
    ------
    OpenDriftMissing
        If OpenDrift is not installed.
    DriftError
        If a product or truth day, or the OI's observations, are missing.
    varnet.runtime.metadata.ModelMismatch
        If the model file (OI parameters) cannot be read.
    """
    if not 1 <= days <= 5:
        raise ValueError(f"days must be 1 to 5, got {days}")
    if spacing_km is None and particles is None:
        spacing_km = 25.0
    require_opendrift()
    release = dt.datetime(start.year, start.month, start.day, _SEED_HOUR)
    products, paths = product_currents(config.paths.products, config.name, start, days)
    truth = truth_currents(truth_path, start, days)
    oi, oi_info = oi_geostrophic_currents(config, truth_path, start, days)
    lat = products["latitude"].values
    lon = products["longitude"].values
    first = products.isel(time=0)
    sea = np.isfinite(first["uo"].values) & np.isfinite(first["vo"].values)
    seed_lon, seed_lat, spacing = seed_positions(lat, lon, sea, spacing_km=spacing_km,
                                                 particles=particles)
    no_data = None if sea.all() else _no_data_mask(lat, lon, sea)
    fields = {TRUTH_RUN: truth, PRODUCTS_ROW: products, OI_ROW: oi}
    trajectories = {}
    for name, currents in fields.items():
        log.info("drifting %d particles for %d days in the %s", seed_lon.size, days, name)
        trajectories[name] = drift_particles(currents, seed_lon, seed_lat, release, 24 * days,
                                             no_data=no_data, time_step_s=time_step_s,
                                             output_step_s=output_step_s, name=name)
    reference = trajectories.pop(TRUTH_RUN)
    horizons = _horizons(days)
    table = lagrangian_skill(reference, trajectories, horizons)
    report = DriftReport(
        table=table, horizons_days=horizons, particles=int(seed_lon.size), spacing_km=spacing,
        start=release, days=days,
        details={"opendrift_version": _opendrift_version(), "model": "OceanDrift",
                 "advection_scheme": "runge-kutta4", "time_step_s": time_step_s,
                 "output_step_s": output_step_s, "truth": str(truth_path),
                 "products": [str(p.resolve()) for p in paths], "oi": oi_info,
                 "oi_mdt": "the truth's mean dynamic topography, interpolated to the grid",
                 "product_time": "the centre of each product's day, 12:00 UTC"})
    if out_dir is not None:
        _write_outputs(report, Path(out_dir), reference, trajectories, lat, lon, sea)
    return report
