"""Writers for the observation file formats real users have.

:func:`write_alongtrack` writes one CMEMS SEALEVEL_GLO_PHY_L3-style along-track file and
:func:`write_sst` one GHRSST GDS 2.0-style L4 or L3S SST file. The synthetic ocean uses them to
produce its observations, and the tests use them to craft bad files: a writer checks only what
it needs to encode the values (finite numbers within the packed range, matching shapes), and
leaves every judgement on content (latitude range, time order, plausible values) to
:mod:`varnet.io.readers`.

Every write is atomic (a temporary file in the destination directory, flushed to disk, then
:func:`os.replace`) and deterministic: identical arguments give byte-identical files, because
no attribute holds a wall-clock time (``date_created`` comes from the arguments).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Literal

import netCDF4
import numpy as np
from numpy.typing import ArrayLike

from varnet.io.atomic import atomic_dataset as _atomic_dataset
from varnet.io.missions import platform_name

__all__ = ["write_alongtrack", "write_sst"]

_ZLIB = {"zlib": True, "complevel": 4, "shuffle": True, "fletcher32": True}  # checksummed
_EPOCH_1950 = np.datetime64("1950-01-01T00:00:00", "us")
_EPOCH_1981 = dt.datetime(1981, 1, 1)
_US_PER_DAY = 86_400_000_000
_SLA_SCALE = 0.001
_SLA_FILL = np.int16(32767)
_COORD_SCALE = 1e-6
_COORD_FILL = np.int32(2147483647)
_SST_SCALE = 0.01
_SST_OFFSET = 273.15
_SST_FILL = np.int16(-32768)
_BYTE_FILL = np.int8(-128)


def _pack(
    values: np.ndarray, name: str, scale: float, offset: float, fill: np.integer
) -> np.ndarray:
    """Pack physical ``values`` into the integer type of ``fill``; NaN becomes ``fill``."""
    values = np.asarray(values, dtype=np.float64)
    if np.isinf(values).any():
        raise ValueError(f"{name}: infinite values cannot be written")
    info = np.iinfo(fill.dtype)
    missing = np.isnan(values)
    packed = np.rint((np.where(missing, offset, values) - offset) / scale)
    reserved = (packed == fill) if fill == info.max or fill == info.min else False
    if (packed < info.min).any() or (packed > info.max).any() or np.any(reserved & ~missing):
        lo = offset + scale * (info.min + (fill == info.min))
        hi = offset + scale * (info.max - (fill == info.max))
        raise ValueError(
            f"{name}: values must lie within [{lo:g}, {hi:g}] to be packed as {fill.dtype} "
            f"with scale_factor {scale:g} and add_offset {offset:g}; got "
            f"[{np.nanmin(values):g}, {np.nanmax(values):g}]"
        )
    return np.where(missing, fill, packed).astype(fill.dtype)


def _iso(moment: dt.datetime | np.datetime64) -> str:
    """ISO 8601 UTC string to the second, e.g. ``2020-01-01T00:00:00Z``."""
    return str(np.datetime64(moment, "s")) + "Z"


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day)


def _as_1d(name: str, values: ArrayLike, dtype: type = np.float64) -> np.ndarray:
    arr = np.asarray(values, dtype=dtype)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def write_alongtrack(
    path: str | os.PathLike[str],
    *,
    time: ArrayLike,
    longitude: ArrayLike,
    latitude: ArrayLike,
    sla_unfiltered: ArrayLike | None,
    sla_filtered: ArrayLike,
    mdt: ArrayLike | None,
    mission: str,
    product: str,
    production_day: dt.date,
    source: str = "varnet synthetic ocean (OSSE)",
) -> Path:
    """Write one day of one mission's along-track SSH in the CMEMS L3 layout.

    The layout follows SEALEVEL_GLO_PHY_L3: one dimension ``time``; ``time`` as float64
    ``days since 1950-01-01 00:00:00``; ``longitude``/``latitude`` as int32 micro-degrees;
    ``sla_filtered``, ``sla_unfiltered`` and ``mdt`` as int16 millimetres (``scale_factor``
    0.001, ``_FillValue`` 32767). A pass with zero points is a valid file whose ``time``
    dimension has length 0 (NetCDF-4 can only express that as an unlimited dimension).

    Parameters
    ----------
    path : str or os.PathLike
        Destination; normally named by :func:`varnet.io.names.alongtrack_filename`.
    time : array_like of datetime64
        Measurement times (UTC), shape (n,). Stored to the microsecond.
    longitude : array_like of float
        Longitudes in degrees east, any convention; written in [0, 360) like CMEMS files.
    latitude : array_like of float
        Latitudes in degrees north, shape (n,).
    sla_unfiltered : array_like of float or None
        Unfiltered sea level anomaly in m, shape (n,); NaN is written as ``_FillValue``.
        ``None`` leaves the variable out.
    sla_filtered : array_like of float
        Filtered sea level anomaly in m, shape (n,); NaN is written as ``_FillValue``.
    mdt : array_like of float or None
        Mean dynamic topography in m at the measurement points, shape (n,); ``None`` leaves
        the variable out.
    mission : str
        Mission code (``"j3"``, ``"s6a_hr"``); written as the ``mission`` attribute, its
        platform name (:func:`varnet.io.missions.platform_name`) as ``platform``.
    product : {"nrt", "dt"}
        Near-real-time or delayed-time product.
    production_day : datetime.date
        Production day, written as ``date_created``.
    source : str, optional
        The ``source`` global attribute.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If shapes differ, a time is NaT, a coordinate is not finite, or a value does not fit
        the packed type (|sla| and |mdt| must stay below 32.767 m).
    """
    path = Path(path)
    if product not in ("nrt", "dt"):
        raise ValueError(f"product must be 'nrt' or 'dt', got {product!r}")
    times = np.asarray(time)
    if times.ndim != 1 or not np.issubdtype(times.dtype, np.datetime64):
        raise ValueError(f"time must be a 1-D datetime64 array, got {times.dtype} {times.shape}")
    if np.isnat(times).any():
        raise ValueError("time contains NaT")
    lon = _as_1d("longitude", longitude)
    lat = _as_1d("latitude", latitude)
    columns = {"sla_filtered": _as_1d("sla_filtered", sla_filtered)}
    if sla_unfiltered is not None:
        columns["sla_unfiltered"] = _as_1d("sla_unfiltered", sla_unfiltered)
    if mdt is not None:
        columns["mdt"] = _as_1d("mdt", mdt)
    n = times.size
    for name, arr in {"longitude": lon, "latitude": lat, **columns}.items():
        if arr.size != n:
            raise ValueError(f"{name} has {arr.size} points but time has {n}")
    for name, arr in (("longitude", lon), ("latitude", lat)):
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} must be finite")

    micro = (times.astype("datetime64[us]") - _EPOCH_1950).astype(np.int64)
    days = micro / _US_PER_DAY  # exact integers / exact constant: one correctly rounded division
    lon_micro = np.mod(np.rint(lon * 1e6), 360_000_000)  # [0, 360) after rounding, as CMEMS
    lat_micro = np.rint(lat * 1e6)
    if np.abs(lat_micro).max(initial=0) >= _COORD_FILL:
        raise ValueError("latitude is too large to be packed as int32 micro-degrees")

    with _atomic_dataset(path) as ds:
        ds.createDimension("time", n if n > 0 else None)
        chunks = (min(max(n, 1), 65536),) if n > 0 else (4096,)
        tvar = ds.createVariable("time", "f8", ("time",), chunksizes=chunks, **_ZLIB)
        tvar.setncatts({
            "standard_name": "time",
            "long_name": "Time of measurement",
            "units": "days since 1950-01-01 00:00:00",
            "calendar": "standard",
            "units_metadata": "leap_seconds: none",
            "axis": "T",
        })
        if n > 0:
            tvar[:] = days
        for name, packed, std, units, long_name in (
            ("longitude", lon_micro, "longitude", "degrees_east", "Longitude of measurement"),
            ("latitude", lat_micro, "latitude", "degrees_north", "Latitude of measurement"),
        ):
            var = ds.createVariable(
                name, "i4", ("time",), fill_value=_COORD_FILL, chunksizes=chunks, **_ZLIB
            )
            var.set_auto_maskandscale(False)
            var.setncatts({
                "standard_name": std,
                "long_name": long_name,
                "units": units,
                "scale_factor": np.float64(_COORD_SCALE),
                "add_offset": np.float64(0.0),
            })
            if n > 0:
                var[:] = packed.astype(np.int32)
        described = {
            "sla_filtered": (
                "sea_surface_height_above_sea_level",
                "Sea level anomaly filtered not-subsampled with dac, ocean_tide and lwe "
                "correction applied",
            ),
            "sla_unfiltered": (
                "sea_surface_height_above_sea_level",
                "Sea level anomaly not-filtered not-subsampled with dac, ocean_tide and lwe "
                "correction applied",
            ),
            "mdt": ("sea_surface_height_above_geoid", "Mean dynamic topography"),
        }
        for name in ("sla_filtered", "sla_unfiltered", "mdt"):
            if name not in columns:
                continue
            packed = _pack(columns[name], name, _SLA_SCALE, 0.0, _SLA_FILL)
            var = ds.createVariable(
                name, "i2", ("time",), fill_value=_SLA_FILL, chunksizes=chunks, **_ZLIB
            )
            var.set_auto_maskandscale(False)
            std, long_name = described[name]
            var.setncatts({
                "standard_name": std,
                "long_name": long_name,
                "units": "m",
                "scale_factor": np.float64(_SLA_SCALE),
                "add_offset": np.float64(0.0),
                "coordinates": "longitude latitude",
            })
            if n > 0:
                var[:] = packed

        attrs: dict[str, object] = {
            "Conventions": "CF-1.8",
            "title": f"{product.upper()} {mission} along-track sea level anomaly, L3 "
            "(SEALEVEL_GLO_PHY_L3 layout)",
            "platform": platform_name(mission),
            "mission": mission,
            "institution": "varnet",
            "source": source,
            "product_type": product,
            "processing_level": "L3",
            "cdm_data_type": "Swath",
            "date_created": _iso(_day_start(production_day)),
            "history": f"{_iso(_day_start(production_day))} written by varnet.io.writers",
        }
        if n > 0:
            attrs.update({
                "time_coverage_start": _iso(times.min()),
                "time_coverage_end": _iso(times.max()),
                "geospatial_lat_min": float(lat_micro.min() * _COORD_SCALE),
                "geospatial_lat_max": float(lat_micro.max() * _COORD_SCALE),
                "geospatial_lat_units": "degrees_north",
                "geospatial_lon_min": float(lon_micro.min() * _COORD_SCALE),
                "geospatial_lon_max": float(lon_micro.max() * _COORD_SCALE),
                "geospatial_lon_units": "degrees_east",
            })
        ds.setncatts(attrs)
    return path


_SST_META = {
    "L4": {
        "variable": "analysed_sst",
        "standard_name": "sea_surface_foundation_temperature",
        "long_name": "analysed sea surface temperature",
        "error": "analysis_error",
        "error_long_name": "estimated error standard deviation of analysed_sst",
        "title": "VARNET OSSE L4 foundation sea surface temperature analysis",
        "summary": "Gap-free daily foundation SST on a regular grid, GHRSST GDS 2.0 L4 "
        "layout, produced by the varnet synthetic ocean.",
    },
    "L3S": {
        "variable": "sea_surface_temperature",
        "standard_name": "sea_surface_subskin_temperature",
        "long_name": "sea surface subskin temperature",
        "error": "sses_standard_deviation",
        "error_long_name": "SSES standard deviation",
        "title": "VARNET OSSE L3S sub-skin sea surface temperature",
        "summary": "Daily super-collated sub-skin SST with cloud gaps on a regular grid, "
        "GHRSST GDS 2.0 L3S layout, produced by the varnet synthetic ocean.",
    },
}


def write_sst(
    path: str | os.PathLike[str],
    *,
    day: dt.date,
    lat: ArrayLike,
    lon: ArrayLike,
    sst_k: ArrayLike,
    level: Literal["L4", "L3S"],
    mask: ArrayLike | None = None,
    error_k: ArrayLike | None = None,
    quality_level: ArrayLike | None = None,
    source: str = "varnet synthetic ocean (OSSE)",
) -> Path:
    """Write one day of gridded SST in the GHRSST GDS 2.0 L4 or L3S layout.

    Dimensions are ``time`` (1), ``lat``, ``lon``; ``time`` is int32
    ``seconds since 1981-01-01 00:00:00`` at 12:00 UTC of ``day``. The SST is int16 with
    ``scale_factor`` 0.01 and ``add_offset`` 273.15 (kelvin), NaN written as ``_FillValue``.
    L4 files hold ``analysed_sst``, optional ``analysis_error`` and a ``mask`` (1 water, 2
    land); L3S files hold ``sea_surface_temperature``, ``quality_level`` (0 no data, 5 best),
    and optionally ``sses_standard_deviation`` and ``mask``.

    Parameters
    ----------
    path : str or os.PathLike
        Destination; normally named by :func:`varnet.io.names.ghrsst_filename`.
    day : datetime.date
        Day (UTC) of the field; also written as ``date_created`` so output is deterministic.
    lat : array_like of float
        Latitudes in degrees north, shape (ny,), written as given (float32).
    lon : array_like of float
        Longitudes in degrees east, shape (nx,), written as given (float32).
    sst_k : array_like of float
        SST in kelvin, shape (ny, nx); NaN where there is no value (land, cloud).
    level : {"L4", "L3S"}
        GHRSST processing level.
    mask : array_like of bool, optional
        True over water, shape (ny, nx). For L4 it defaults to where ``sst_k`` is finite;
        for L3S the ``mask`` variable is written only when given. SST over land is written
        as ``_FillValue``.
    error_k : array_like of float, optional
        Error standard deviation in kelvin, shape (ny, nx) (``analysis_error`` for L4,
        ``sses_standard_deviation`` for L3S).
    quality_level : array_like of int, optional
        L3S only: GHRSST quality level 0..5 per pixel; defaults to 5 where ``sst_k`` is
        finite and 0 elsewhere.
    source : str, optional
        The ``source`` global attribute.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If ``level`` is unknown, shapes disagree, or values do not fit the packed types
        (SST within about [-54.5, 600.8] K; error within [0, 327.6] K).
    """
    path = Path(path)
    if level not in _SST_META:
        raise ValueError(f"level must be 'L4' or 'L3S', got {level!r}")
    meta = _SST_META[level]
    lat_a = _as_1d("lat", lat)
    lon_a = _as_1d("lon", lon)
    sst = np.asarray(sst_k, dtype=np.float64)
    shape = (lat_a.size, lon_a.size)
    if sst.shape != shape:
        raise ValueError(f"sst_k has shape {sst.shape}, expected (lat, lon) = {shape}")
    water = np.isfinite(sst) if mask is None else np.asarray(mask, dtype=bool)
    if water.shape != shape:
        raise ValueError(f"mask has shape {water.shape}, expected {shape}")
    packed_sst = _pack(np.where(water, sst, np.nan), meta["variable"], _SST_SCALE, _SST_OFFSET,
                       _SST_FILL)
    packed_err = None
    if error_k is not None:
        err = np.asarray(error_k, dtype=np.float64)
        if err.shape != shape:
            raise ValueError(f"error_k has shape {err.shape}, expected {shape}")
        packed_err = _pack(err, meta["error"], _SST_SCALE, 0.0, _SST_FILL)
    ql = None
    if level == "L3S":
        if quality_level is None:
            ql = np.where(packed_sst != _SST_FILL, 5, 0).astype(np.int8)
        else:
            ql_in = np.asarray(quality_level)
            if ql_in.shape != shape or ql_in.min(initial=0) < 0 or ql_in.max(initial=0) > 5:
                raise ValueError(f"quality_level must be integers 0..5 of shape {shape}")
            ql = ql_in.astype(np.int8)
    elif quality_level is not None:
        raise ValueError("quality_level is only written for level 'L3S'")

    start = _day_start(day)
    seconds = int((start - _EPOCH_1981).total_seconds()) + 43_200
    dims = ("time", "lat", "lon")
    with _atomic_dataset(path) as ds:
        ds.createDimension("time", 1)
        ds.createDimension("lat", shape[0])
        ds.createDimension("lon", shape[1])
        tvar = ds.createVariable("time", "i4", ("time",))
        tvar.setncatts({
            "standard_name": "time",
            "long_name": "reference time of sst file",
            "units": "seconds since 1981-01-01 00:00:00",
            "calendar": "standard",
            "units_metadata": "leap_seconds: none",
            "axis": "T",
        })
        tvar[:] = np.array([seconds], dtype=np.int32)
        for name, values, std, units, axis in (
            ("lat", lat_a, "latitude", "degrees_north", "Y"),
            ("lon", lon_a, "longitude", "degrees_east", "X"),
        ):
            var = ds.createVariable(name, "f4", (name,), **_ZLIB)
            var.setncatts({"standard_name": std, "long_name": std, "units": units, "axis": axis})
            var[:] = values.astype(np.float32)

        def packed_var(name: str, dtype: str, fill: np.integer, attrs: dict) -> netCDF4.Variable:
            var = ds.createVariable(name, dtype, dims, fill_value=fill, **_ZLIB)
            var.set_auto_maskandscale(False)
            var.setncatts(attrs)
            return var

        packed_var(meta["variable"], "i2", _SST_FILL, {
            "standard_name": meta["standard_name"],
            "long_name": meta["long_name"],
            "units": "kelvin",
            "units_metadata": "temperature: on_scale",
            "scale_factor": np.float64(_SST_SCALE),
            "add_offset": np.float64(_SST_OFFSET),
        })[:] = packed_sst[None]
        if packed_err is not None:
            packed_var(meta["error"], "i2", _SST_FILL, {
                "standard_name": f"{meta['standard_name']} standard_error",
                "long_name": meta["error_long_name"],
                "units": "kelvin",
                "units_metadata": "temperature: difference",
                "scale_factor": np.float64(_SST_SCALE),
                "add_offset": np.float64(0.0),
            })[:] = packed_err[None]
        if level == "L4" or mask is not None:
            packed_var("mask", "i1", _BYTE_FILL, {
                "long_name": "sea/land field composite mask",
                "flag_masks": np.array([1, 2, 4, 8], dtype=np.int8),
                "flag_meanings": "water land optional_lake_surface sea_ice",
                "comment": "bit 1 set where the SST is valid open water",
            })[:] = np.where(water, 1, 2).astype(np.int8)[None]
        if ql is not None:
            packed_var("quality_level", "i1", _BYTE_FILL, {
                "long_name": "quality level of SST pixel",
                "flag_values": np.arange(6, dtype=np.int8),
                "flag_meanings": "no_data bad_data worst_quality low_quality acceptable_quality "
                "best_quality",
                "comment": "use only pixels with quality_level >= 4; 0 where there is no SST",
            })[:] = ql[None]

        stop = start + dt.timedelta(days=1)
        ds.setncatts({
            "Conventions": "CF-1.8, ACDD-1.3",
            "title": meta["title"],
            "summary": meta["summary"],
            "gds_version_id": "2.0",
            "processing_level": level,
            "institution": "varnet",
            "source": source,
            "cdm_data_type": "grid",
            "start_time": f"{start:%Y%m%dT%H%M%SZ}",
            "stop_time": f"{stop:%Y%m%dT%H%M%SZ}",
            "time_coverage_start": _iso(start),
            "time_coverage_end": _iso(stop),
            "geospatial_lat_min": float(np.min(lat_a.astype(np.float32))) if lat_a.size else 0.0,
            "geospatial_lat_max": float(np.max(lat_a.astype(np.float32))) if lat_a.size else 0.0,
            "geospatial_lat_units": "degrees_north",
            "geospatial_lon_min": float(np.min(lon_a.astype(np.float32))) if lon_a.size else 0.0,
            "geospatial_lon_max": float(np.max(lon_a.astype(np.float32))) if lon_a.size else 0.0,
            "geospatial_lon_units": "degrees_east",
            "date_created": _iso(start),
            "history": f"{_iso(start)} written by varnet.io.writers",
        })
    return path
