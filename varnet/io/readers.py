"""The one reader of observation files, used by training and by operations alike.

:func:`read_alongtrack` reads a CMEMS L3 along-track SSH file (varnet's or a real
SEALEVEL_GLO_PHY_L3 file) and :func:`read_sst` a GHRSST L4 or L3 gridded SST file. Both decode
CF packing themselves (``scale_factor``, ``add_offset``, ``_FillValue``/``missing_value``,
``_Unsigned``, time ``units``) so that every value is checked before it is used, and every
problem raises :class:`InputFileError` naming the file, the variable and what is wrong.

Missing values (fill values, NaN) are not errors: along-track points without a value are
dropped and SST pixels become NaN. ``valid_min``/``valid_max``/``valid_range`` attributes are
not used for masking; the physical limits given to the readers are checked instead, and a value
outside them is an error rather than silently discarded.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import netCDF4
import numpy as np
import xarray as xr

from varnet.errors import EXIT_CONFIG, VarnetError
from varnet.io import ghrsst_mask
from varnet.io.missions import mission_from_platform
from varnet.io.names import (
    parse_alongtrack_extraction,
    parse_alongtrack_filename,
    parse_ghrsst_filename,
)

__all__ = [
    "AlongTrack",
    "AlongTrackIdentity",
    "InputFileError",
    "SstField",
    "concat_alongtrack",
    "identify_alongtrack",
    "read_alongtrack",
    "read_sst",
    "read_truth",
]

#: Length units of sea level variables and their factor to metres.
_LENGTH_TO_M = {
    **dict.fromkeys(("m", "meter", "meters", "metre", "metres"), 1.0),
    **dict.fromkeys(("cm", "centimeter", "centimeters", "centimetre", "centimetres"), 0.01),
    **dict.fromkeys(("mm", "millimeter", "millimeters", "millimetre", "millimetres"), 0.001),
}
_KELVIN = {"k", "kelvin", "degk", "deg_k", "degree_kelvin", "degrees_kelvin"}
_CELSIUS = {
    "celsius", "degc", "deg_c", "degree_c", "degrees_c", "degree_celsius", "degrees_celsius",
}
_CALENDARS = {"standard", "gregorian", "proleptic_gregorian"}
_TIME_UNITS_US = {
    "days": 86_400_000_000, "day": 86_400_000_000, "d": 86_400_000_000,
    "hours": 3_600_000_000, "hour": 3_600_000_000, "hr": 3_600_000_000, "h": 3_600_000_000,
    "minutes": 60_000_000, "minute": 60_000_000, "min": 60_000_000,
    "seconds": 1_000_000, "second": 1_000_000, "sec": 1_000_000, "s": 1_000_000,
}
_TIME_UNITS_RE = re.compile(r"^\s*([A-Za-z]+)\s+since\s+(.+?)\s*$")
_ONE_DAY = np.timedelta64(1, "D")


class InputFileError(VarnetError, ValueError):
    """An input file cannot be used; the message says which file and why.

    Parameters
    ----------
    path : str or os.PathLike
        The offending file.
    problem : str
        What is wrong, naming the variable and the values, in words a person can act on.
    """

    exit_code = EXIT_CONFIG

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


@dataclass(frozen=True, eq=False)
class AlongTrack:
    """Along-track sea level anomaly points, from one file or concatenated from several.

    ``mission`` is always a per-point array (every point carries its mission), so that a
    concatenation of several missions keeps that information; a single file's points all share
    one value. An empty pass therefore has an empty ``mission`` array.

    Attributes
    ----------
    mission : numpy.ndarray of str, shape (n,)
        Mission short name of each point (``"j3"``, ``"s3a"``, or ``"unknown"``).
    time : numpy.ndarray of datetime64[ns], shape (n,)
        Measurement times (UTC).
    longitude : numpy.ndarray of float64, shape (n,)
        Longitudes in degrees east, in [-180, 180).
    latitude : numpy.ndarray of float64, shape (n,)
        Latitudes in degrees north, in [-90, 90].
    sla : numpy.ndarray of float64, shape (n,)
        Sea level anomaly in m; never NaN (missing points are dropped).
    mdt : numpy.ndarray of float64, shape (n,), or None
        Mean dynamic topography in m (NaN where the file had none), or None when the file has
        no ``mdt`` variable.
    source : str
        The file read; for a concatenation, the files joined by ``"; "``.
    """

    mission: np.ndarray
    time: np.ndarray
    longitude: np.ndarray
    latitude: np.ndarray
    sla: np.ndarray
    mdt: np.ndarray | None
    source: str

    def __post_init__(self) -> None:
        n = self.time.shape[0]
        columns = [self.mission, self.longitude, self.latitude, self.sla]
        if self.mdt is not None:
            columns.append(self.mdt)
        if any(c.shape != (n,) for c in columns):
            raise ValueError("AlongTrack columns must all have the shape of time, (n,)")

    def __len__(self) -> int:
        return int(self.time.shape[0])


@dataclass(frozen=True, eq=False)
class SstField:
    """One day of gridded SST.

    Attributes
    ----------
    day : datetime.date
        Day (UTC) of the field.
    lat : numpy.ndarray of float64, shape (ny,)
        Latitudes in degrees north, strictly ascending.
    lon : numpy.ndarray of float64, shape (nx,)
        Longitudes in degrees east, strictly ascending, in [-180, 180).
    sst_k : numpy.ndarray of float64, shape (ny, nx)
        SST in kelvin; NaN where there is no valid value (land, cloud, low quality, fill).
    level : str
        ``"L4"`` (``analysed_sst``) or ``"L3"`` (``sea_surface_temperature``).
    source : str
        The file read.
    """

    day: dt.date
    lat: np.ndarray
    lon: np.ndarray
    sst_k: np.ndarray
    level: str
    source: str

    def __post_init__(self) -> None:
        if self.sst_k.shape != (self.lat.size, self.lon.size):
            raise ValueError("SstField.sst_k must have shape (lat.size, lon.size)")


def concat_alongtrack(tracks: Sequence[AlongTrack]) -> AlongTrack:
    """Concatenate along-track data sets, sorted by time (stable, so ties keep their order).

    Parameters
    ----------
    tracks : sequence of AlongTrack
        Data sets, e.g. one per mission and day.

    Returns
    -------
    AlongTrack
        All points. ``mdt`` is None only if it is None in every input; inputs without it
        contribute NaN. ``source`` joins the inputs' sources with ``"; "``.
    """
    if not tracks:
        empty = np.empty(0, dtype=np.float64)
        return AlongTrack(np.empty(0, dtype=str), np.empty(0, dtype="datetime64[ns]"), empty,
                          empty.copy(), empty.copy(), None, "")
    time = np.concatenate([t.time for t in tracks])
    order = np.argsort(time, kind="stable")
    mdt = None
    if any(t.mdt is not None for t in tracks):
        mdt = np.concatenate(
            [t.mdt if t.mdt is not None else np.full(len(t), np.nan) for t in tracks]
        )[order]
    sources = [t.source for t in tracks if t.source]
    return AlongTrack(
        mission=np.concatenate([t.mission for t in tracks])[order],
        time=time[order],
        longitude=np.concatenate([t.longitude for t in tracks])[order],
        latitude=np.concatenate([t.latitude for t in tracks])[order],
        sla=np.concatenate([t.sla for t in tracks])[order],
        mdt=mdt,
        source="; ".join(dict.fromkeys(sources)),
    )


# --------------------------------------------------------------------------------------------
# NetCDF access and CF decoding


@contextlib.contextmanager
def _open(path: Path) -> Iterator[netCDF4.Dataset]:
    if not path.exists():
        raise InputFileError(path, "file does not exist")
    if not path.is_file():
        raise InputFileError(path, "is not a regular file")
    try:
        ds = netCDF4.Dataset(path, "r")
    except (OSError, RuntimeError, ValueError) as exc:
        raise InputFileError(
            path,
            f"cannot be opened as NetCDF ({_reason(exc)}); the file is truncated, corrupt or "
            "not NetCDF - fetch it again",
        ) from None
    try:
        ds.set_auto_maskandscale(False)
        yield ds
    except InputFileError:
        raise
    except (OSError, RuntimeError, AttributeError, KeyError, IndexError, TypeError,
            ValueError) as exc:
        raise InputFileError(
            path,
            f"cannot be read ({type(exc).__name__}: {_reason(exc)}); the file is corrupt or "
            "not in the expected layout - fetch it again",
        ) from exc
    finally:
        with contextlib.suppress(RuntimeError, OSError):
            ds.close()


def _reason(exc: BaseException) -> str:
    """The library's message without the file name it repeats."""
    return str(getattr(exc, "strerror", None) or exc)


def _variable(ds: netCDF4.Dataset, path: Path, name: str) -> netCDF4.Variable:
    if name not in ds.variables:
        present = ", ".join(sorted(ds.variables)) or "none"
        raise InputFileError(
            path, f"variable {name!r} not found; the file has variables: {present}"
        )
    return ds.variables[name]


def _raw(path: Path, var: netCDF4.Variable) -> np.ndarray:
    """The stored values of ``var``, unscaled and unmasked."""
    try:
        data = var[...]
    except (OSError, RuntimeError, IndexError, ValueError) as exc:
        raise InputFileError(
            path,
            f"variable {var.name!r} cannot be read ({_reason(exc)}); the file is truncated or "
            "corrupt - fetch it again",
        ) from None
    data = np.ma.getdata(data)
    if data.dtype.kind == "i" and str(getattr(var, "_Unsigned", "false")).lower() == "true":
        data = data.view(data.dtype.str.replace("i", "u"))
    return np.asarray(data)


def _attr(var: netCDF4.Variable, name: str) -> object | None:
    return var.getncattr(name) if name in var.ncattrs() else None


def _decode(path: Path, var: netCDF4.Variable) -> np.ndarray:
    """CF-decode ``var`` to float64: fill/missing values and NaN become NaN."""
    raw = _raw(path, var)
    missing = np.zeros(raw.shape, dtype=bool)
    for attr in ("_FillValue", "missing_value"):
        value = _attr(var, attr)
        if value is not None:
            for v in np.atleast_1d(np.asarray(value)).ravel():
                missing |= raw == np.asarray(v).astype(raw.dtype)
    values = raw.astype(np.float64)
    scale = _attr(var, "scale_factor")
    offset = _attr(var, "add_offset")
    try:
        if scale is not None:
            values = values * float(np.asarray(scale).ravel()[0])
        if offset is not None:
            values = values + float(np.asarray(offset).ravel()[0])
    except (TypeError, ValueError, IndexError):
        raise InputFileError(
            path, f"variable {var.name!r} has a non-numeric scale_factor or add_offset"
        ) from None
    values[missing] = np.nan
    return values


def _decode_time(path: Path, var: netCDF4.Variable) -> np.ndarray:
    """Decode a CF time variable to datetime64[ns] (resolution 1 microsecond)."""
    units = _attr(var, "units")
    calendar = str(_attr(var, "calendar") or "standard").strip().lower()
    if calendar not in _CALENDARS:
        raise InputFileError(
            path, f"variable {var.name!r} has calendar {calendar!r}; expected one of "
            f"{sorted(_CALENDARS)}"
        )
    m = _TIME_UNITS_RE.match(str(units)) if units is not None else None
    step = _TIME_UNITS_US.get(m.group(1).lower()) if m else None
    epoch = None
    if m and step:
        with contextlib.suppress(ValueError):
            ref = np.datetime64(_strip_utc(m.group(2)), "us")
            epoch = None if np.isnat(ref) else ref
    if epoch is None:
        raise InputFileError(
            path, f"variable {var.name!r} has units {units!r}; expected '<days|hours|minutes|"
            "seconds> since YYYY-MM-DD[ hh:mm:ss]', e.g. 'days since 1950-01-01 00:00:00'"
        )
    values = _decode(path, var)
    if not np.isfinite(values).all():
        raise InputFileError(
            path, f"variable {var.name!r} has "
            f"{_count(~np.isfinite(values), 'missing or non-finite time')}; every point needs "
            "a time"
        )
    raw = _raw(path, var)
    if raw.dtype.kind in "iu" and _attr(var, "scale_factor") is None and \
            _attr(var, "add_offset") is None:
        micro = raw.astype(np.int64) * step
    else:
        micro = np.rint(values * step).astype(np.int64)
    return (epoch + micro.astype("timedelta64[us]")).astype("datetime64[ns]")


def _strip_utc(text: str) -> str:
    """Reference date of CF time units as numpy understands it (``T`` separator, no zone)."""
    text = text.strip()
    text = re.sub(r"\s*(UTC|GMT|Z|[+-]00:?00)$", "", text, flags=re.IGNORECASE)
    parts = text.split()
    if len(parts) == 2:
        text = f"{parts[0]}T{parts[1]}"
    date, sep, clock = text.partition("T")
    ymd = date.split("-")
    if len(ymd) == 3:  # CF allows unpadded fields, e.g. 1950-1-1 0:0:0
        date = "-".join([ymd[0].zfill(4), ymd[1].zfill(2), ymd[2].zfill(2)])
    if clock:
        clock = ":".join(p.zfill(2) if i < 2 else p for i, p in enumerate(clock.split(":")))
    return date + sep + clock


def _units(path: Path, var: netCDF4.Variable) -> str:
    units = _attr(var, "units")
    if units is None:
        raise InputFileError(path, f"variable {var.name!r} has no units attribute")
    return str(units).strip()


def _count(flags: np.ndarray, noun: str) -> str:
    """``"1 value"``, ``"3 values"``: how many ``flags`` are set, with the noun."""
    n = int(np.count_nonzero(flags))
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _when(t: np.datetime64) -> str:
    """ISO time to the second, or to the microsecond when it has a fraction of a second."""
    micro = np.datetime64(t, "us")
    whole = np.datetime64(t, "s")
    return str(whole if micro == whole else micro)


def _day_of(t: np.datetime64) -> dt.date:
    return dt.date.fromisoformat(str(np.datetime64(t, "D")))


# --------------------------------------------------------------------------------------------
# Along-track


@dataclass(frozen=True)
class AlongTrackIdentity:
    """What an along-track file is: from its CMEMS name, or from its content where the name
    says nothing.

    Attributes
    ----------
    product : str
        ``"nrt"`` or ``"dt"``.
    mission : str or None
        Mission code (:mod:`varnet.io.missions`); None when neither the name nor the
        ``mission``/``platform`` attributes name a known mission.
    first_day, last_day : datetime.date or None
        Data days covered (equal for a daily file); None for an empty file identified by its
        content without time coverage attributes.
    production : datetime.date or None
        Production day (from the name, else from ``date_created``).
    area : str
        ``"global"`` or the region of an extraction.
    source : {"name", "content"}
        Where the identity comes from.
    platform : str or None
        The file's ``platform`` attribute, as written.
    """

    product: str
    mission: str | None
    first_day: dt.date | None
    last_day: dt.date | None
    production: dt.date | None
    area: str = "global"
    source: str = "name"
    platform: str | None = None

    @property
    def daily(self) -> bool:
        """Whether the file covers one data day."""
        return self.first_day is not None and self.first_day == self.last_day


def _identity_from_name(name: str) -> AlongTrackIdentity | None:
    with contextlib.suppress(ValueError):
        n = parse_alongtrack_filename(name)
        return AlongTrackIdentity(n.product, n.mission, n.day, n.day, n.production, n.area)
    with contextlib.suppress(ValueError):
        e = parse_alongtrack_extraction(name)
        return AlongTrackIdentity(e.product, e.mission, e.first_day, e.last_day, None, e.area)
    return None


_DATE_RE = re.compile(r"^\s*(\d{4})-?(\d{2})-?(\d{2})")


def _attr_day(value: object) -> dt.date | None:
    """The date an ISO attribute (``2023-01-07T10:00:00Z``, ``20230107T100000Z``) starts with."""
    m = _DATE_RE.match(str(value)) if value is not None else None
    if m is None:
        return None
    try:
        return dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


def _product_from_attributes(attrs: dict[str, object]) -> str:
    """``"dt"`` or ``"nrt"`` from ``product_type``, ``title`` or ``summary``; nrt when unsure
    (a delayed-time file under its CMEMS name then wins over it)."""
    kind = str(attrs.get("product_type", "")).strip().lower()
    if kind in ("nrt", "dt"):
        return kind
    text = f"{attrs.get('title', '')} {attrs.get('summary', '')}".lower()
    if re.search(r"delayed[- ]time|\bdt\b|\bmy\b|multi[- ]year|reprocess", text):
        return "dt"
    return "nrt"


def _identity_from_content(path: Path, ds: netCDF4.Dataset) -> AlongTrackIdentity:
    attrs = {a: ds.getncattr(a) for a in ds.ncattrs()}
    platform = attrs.get("mission") or attrs.get("platform")
    mission = mission_from_platform(str(platform)) if platform is not None else None
    first = _attr_day(attrs.get("time_coverage_start"))
    last = _attr_day(attrs.get("time_coverage_end"))
    if first is None or last is None:
        time = _decode_time(path, _variable(ds, path, "time")) if "time" in ds.variables \
            else np.empty(0, dtype="datetime64[ns]")
        first = _day_of(time.min()) if time.size else None
        last = _day_of(time.max()) if time.size else None
    return AlongTrackIdentity(
        product=_product_from_attributes(attrs), mission=mission, first_day=first,
        last_day=last, production=_attr_day(attrs.get("date_created")), source="content",
        platform=None if platform is None else str(platform),
    )


def identify_alongtrack(path: str | os.PathLike[str]) -> AlongTrackIdentity:
    """What an along-track file is: from its name, else from its content.

    A CMEMS L3 name (daily, or an extraction over a period; :mod:`varnet.io.names`) gives
    everything without opening the file. Otherwise the file is opened and identified by its
    ``mission`` or ``platform`` attribute (a mission code or a platform name such as
    ``"Jason-3"``), its ``time_coverage_start``/``time_coverage_end`` attributes (else the
    range of its times), ``date_created`` and ``product_type``/``title``.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    AlongTrackIdentity

    Raises
    ------
    InputFileError
        If the name is not a CMEMS name and the file cannot be opened, lacks ``time``,
        ``longitude``, ``latitude`` or ``sla_filtered``, or its times cannot be decoded.
    """
    path = Path(path)
    identity = _identity_from_name(path.name)
    if identity is not None:
        return identity
    with _open(path) as ds:
        missing = [n for n in ("time", "longitude", "latitude", "sla_filtered")
                   if n not in ds.variables]
        if missing:
            present = ", ".join(sorted(ds.variables)) or "none"
            raise InputFileError(
                path, f"not an L3 along-track file: no variable {', '.join(map(repr, missing))}"
                f" (the file has: {present})")
        return _identity_from_content(path, ds)


def _check_data_days(path: Path, time: np.ndarray, identity: AlongTrackIdentity) -> None:
    """Every time must fall within the data days the name (or the coverage attributes) give."""
    first, last = identity.first_day, identity.last_day
    start = np.datetime64(first.isoformat(), "ns")
    end = np.datetime64(last.isoformat(), "ns") + _ONE_DAY
    outside = (time < start) | (time >= end)
    if not outside.any():
        return
    i = int(np.argmax(outside))
    days = first.isoformat() if first == last else f"{first.isoformat()} to {last.isoformat()}"
    where = ("named in the file name" if identity.source == "name" else
             "of its time_coverage_start/time_coverage_end attributes")
    raise InputFileError(
        path, f"variable 'time' has {_count(outside, 'time')} outside the data day"
        f"{'' if first == last else 's'} {days} {where} (first {_when(time[i])}, index {i})"
    )


def read_alongtrack(
    path: str | os.PathLike[str],
    variable: str = "sla_filtered",
    max_abs_sla_m: float = 5.0,
) -> AlongTrack:
    """Read one CMEMS L3 along-track SSH file (SEALEVEL_GLO_PHY_L3 layout).

    Points where the SLA, longitude or latitude is missing (fill value or NaN) are dropped.

    Parameters
    ----------
    path : str or os.PathLike
        The file. Its identity comes from :func:`identify_alongtrack`: the CMEMS name in any
        of its forms (daily, or an extraction over a period), else the file's ``platform``
        and time coverage attributes; every time must fall within the data day(s) so found.
    variable : str, optional
        SLA variable to read, ``"sla_filtered"`` (default) or ``"sla_unfiltered"``. There is no
        fallback: a missing variable is an error.
    max_abs_sla_m : float, optional
        Largest plausible |SLA| (and |MDT|) in m; larger values are an error.

    Returns
    -------
    AlongTrack
        Times in datetime64[ns] (decoded to the microsecond), longitudes in [-180, 180),
        SLA and MDT in m. The mission code comes from the file name, else from the
        ``mission`` or ``platform`` global attribute (a code or a platform name such as
        ``"Jason-3"``), else ``"unknown"``.

    Raises
    ------
    InputFileError
        If the file is missing, corrupt or not NetCDF; a variable is missing, not 1-D along
        ``time``, or has units other than a length (m, cm or mm, converted to metres); a
        value is infinite, |SLA| or |MDT| exceeds ``max_abs_sla_m``, a latitude lies outside
        [-90, 90]; times are missing, repeated, decreasing, or outside the data day(s) of
        the name or of the time coverage attributes.
    """
    path = Path(path)
    identity = _identity_from_name(path.name)
    with _open(path) as ds:
        if identity is None:
            identity = _identity_from_content(path, ds)
        tvar = _variable(ds, path, "time")
        names = ["longitude", "latitude", variable]
        if "mdt" in ds.variables and variable != "mdt":
            names.append("mdt")
        variables = {n: _variable(ds, path, n) for n in names}
        for var in (tvar, *variables.values()):
            if var.dimensions != tvar.dimensions or len(var.dimensions) != 1:
                raise InputFileError(
                    path, f"variable {var.name!r} has dimensions {var.dimensions}; expected "
                    f"the single dimension of 'time' {tvar.dimensions}"
                )
        to_metres = {}
        for n in names[2:]:
            units = _units(path, variables[n])
            if units.lower() not in _LENGTH_TO_M:
                raise InputFileError(
                    path, f"variable {n!r} has units {units!r}; expected a length: metres "
                    "('m'), centimetres ('cm') or millimetres ('mm')"
                )
            to_metres[n] = _LENGTH_TO_M[units.lower()]
        time = _decode_time(path, tvar)
        values = {n: _decode(path, v) * to_metres.get(n, 1.0) for n, v in variables.items()}

    for n, v in values.items():
        bad = np.isinf(v)
        if bad.any():
            i = int(np.argmax(bad))
            raise InputFileError(
                path, f"variable {n!r} has {_count(bad, 'infinite value')} (first at index "
                f"{i}, time {_when(time[i])})"
            )
    lat = values["latitude"]
    bad = np.abs(lat) > 90.0
    if bad.any():
        i = int(np.argmax(bad))
        raise InputFileError(
            path, f"variable 'latitude' has {_count(bad, 'value')} outside [-90, 90] degrees "
            f"(first {lat[i]:g} at index {i})"
        )
    for n in names[2:]:
        v = values[n]
        bad = np.abs(v) > max_abs_sla_m
        if bad.any():
            i = int(np.nanargmax(np.abs(v)))
            raise InputFileError(
                path, f"variable {n!r} has {_count(bad, 'value')} with |value| above the "
                f"limit {max_abs_sla_m:g} m (largest {v[i]:g} m at time {_when(time[i])}); "
                "check the units and the product, or raise max_abs_sla_m"
            )
    step = np.diff(time)
    if (step == np.timedelta64(0, "ns")).any():
        i = int(np.argmax(step == np.timedelta64(0, "ns")))
        raise InputFileError(
            path, f"variable 'time' has {_count(step == np.timedelta64(0), 'duplicate time')} "
            f"(first {_when(time[i])} at indices {i} and {i + 1})"
        )
    if (step < np.timedelta64(0, "ns")).any():
        i = int(np.argmax(step < np.timedelta64(0, "ns")))
        raise InputFileError(
            path, f"variable 'time' is not in increasing order: the time at index {i + 1} "
            f"({_when(time[i + 1])}) is earlier than at index {i} ({_when(time[i])})"
        )
    if identity.first_day is not None and time.size:
        _check_data_days(path, time, identity)

    sla = values[variable]
    keep = np.isfinite(sla) & np.isfinite(values["longitude"]) & np.isfinite(lat)
    lon = values["longitude"][keep]
    lon = np.mod(lon + 180.0, 360.0) - 180.0
    lon[lon >= 180.0] -= 360.0
    return AlongTrack(
        mission=np.full(int(keep.sum()), identity.mission or "unknown"),
        time=time[keep],
        longitude=lon,
        latitude=lat[keep],
        sla=sla[keep],
        mdt=values["mdt"][keep] if "mdt" in values and variable != "mdt" else None,
        source=str(path),
    )


# --------------------------------------------------------------------------------------------
# SST


def _coordinate(ds: netCDF4.Dataset, path: Path, names: tuple[str, ...]) -> netCDF4.Variable:
    for n in names:
        if n in ds.variables:
            var = ds.variables[n]
            if var.ndim != 1:
                raise InputFileError(
                    path, f"variable {n!r} has dimensions {var.dimensions}; only regular grids "
                    "with 1-D latitude and longitude are supported"
                )
            return var
    present = ", ".join(sorted(ds.variables)) or "none"
    raise InputFileError(
        path, f"no coordinate variable {' or '.join(map(repr, names))}; the file has "
        f"variables: {present}"
    )


def _grid_values(
    path: Path, var: netCDF4.Variable, dims: tuple[str, str], time_dim: str | None,
    raw: bool = False,
) -> np.ndarray:
    """Values of ``var`` as a (lat, lon) array; a time dimension must have length 1."""
    extra = [d for d in var.dimensions if d not in dims and d != time_dim]
    if extra or not set(dims) <= set(var.dimensions):
        raise InputFileError(
            path, f"variable {var.name!r} has dimensions {var.dimensions}; expected "
            f"({time_dim or 'time'}, {dims[0]}, {dims[1]})"
        )
    data = _raw(path, var) if raw else _decode(path, var)
    if time_dim in var.dimensions:
        axis = var.dimensions.index(time_dim)
        if data.shape[axis] != 1:
            raise InputFileError(
                path, f"variable {var.name!r} has {data.shape[axis]} times along "
                f"{time_dim!r}; expected one day per file (length 1)"
            )
        data = np.take(data, 0, axis=axis)
    order = [d for d in var.dimensions if d != time_dim]
    return np.transpose(data, [order.index(dims[0]), order.index(dims[1])])


def _decode_coordinate(path: Path, var: netCDF4.Variable) -> np.ndarray:
    """Decode a 1-D coordinate; float32 values become the float64 of their shortest decimal
    form (float32 0.1 becomes 0.1, not 0.10000000149), so grids compare equal to config grids.
    """
    values = _decode(path, var)
    if var.dtype == np.float32 and _attr(var, "scale_factor") is None:
        values = values.astype(np.float32).astype(str).astype(np.float64)
    return values


def _sses_bias(
    path: Path, var: netCDF4.Variable, dims: tuple[str, str], time_dim: str | None,
) -> np.ndarray:
    """The SSES bias to subtract from the SST, kelvin; 0 where it is missing."""
    units = _units(path, var)
    if units.lower() not in _KELVIN and units.lower().replace(" ", "_") not in _CELSIUS:
        raise InputFileError(
            path, f"variable {var.name!r} has units {units!r}; expected kelvin or Celsius "
            "(a temperature difference)"
        )
    bias = _grid_values(path, var, dims, time_dim)
    return np.where(np.isnan(bias), 0.0, bias)


def _open_sea(
    path: Path, var: netCDF4.Variable, dims: tuple[str, str], time_dim: str | None,
) -> np.ndarray:
    """Where the GHRSST ``mask`` ``var`` says open sea or nothing (fill), as (lat, lon)."""
    raw = _grid_values(path, var, dims, time_dim, raw=True)
    try:
        return ghrsst_mask.open_sea(
            raw, name=var.name,
            fill_values=[v for a in ("_FillValue", "missing_value")
                         if (v := _attr(var, a)) is not None],
            flag_masks=_attr(var, "flag_masks"), flag_values=_attr(var, "flag_values"),
            flag_meanings=_attr(var, "flag_meanings"),
        )
    except ghrsst_mask.MaskError as exc:
        raise InputFileError(path, str(exc)) from None


def read_sst(
    path: str | os.PathLike[str],
    min_k: float = 265.0,
    max_k: float = 315.0,
    min_quality_level: int = 4,
) -> SstField:
    """Read one day of gridded SST from a GHRSST L4 or L3 file (varnet's or a real one).

    Parameters
    ----------
    path : str or os.PathLike
        The file. If its name parses as a GHRSST GDS 2.0 name, the day comes from it (and the
        file's time must lie within 24 h of 12:00 that day); otherwise from ``time``.
    min_k, max_k : float, optional
        Plausible SST range in kelvin; valid values (bias removed) outside it are an error.
    min_quality_level : int, optional
        Where a ``quality_level`` variable exists (L2P/L3: 0 no data, 1 bad, 2 worst, 3 low,
        4 acceptable, 5 best), pixels below this level become NaN. Default 4, as
        ``production.sst_min_quality_level``.

    Returns
    -------
    SstField
        Latitudes ascending, longitudes ascending in [-180, 180), SST in kelvin (float64) with
        NaN where there is no valid value. Where an ``sses_bias`` variable exists (GDS 2.0
        L2P/L3 sensor-specific bias, kelvin), it is subtracted from
        ``sea_surface_temperature`` as the GDS 2.0 user guide recommends; a pixel whose bias is
        missing keeps its SST. The ``mask`` variable, where present, keeps only open-sea
        pixels (not land, lake, river nor ice) read by the meanings of its flags, and pixels
        where it is a fill value (:mod:`varnet.io.ghrsst_mask`; a mask that is fill
        everywhere is ignored).

    Raises
    ------
    InputFileError
        If the file is missing, corrupt or not NetCDF; neither ``analysed_sst`` nor
        ``sea_surface_temperature`` exists; units (of the SST or of ``sses_bias``) are
        neither kelvin nor Celsius; the ``mask`` flags cannot say which pixels are open sea
        (missing or inconsistent flag attributes, no meaning that is open sea); a value is
        infinite or outside [min_k, max_k]; coordinates are missing, 2-D, non-finite, not
        monotonic or repeated, or latitudes lie outside [-90, 90]; there is not exactly one
        time; or the file's time and its name disagree on the day.
    """
    path = Path(path)
    try:
        name = parse_ghrsst_filename(path.name)
    except ValueError:
        name = None
    with _open(path) as ds:
        if "analysed_sst" in ds.variables:
            var, level = ds.variables["analysed_sst"], "L4"
        elif "sea_surface_temperature" in ds.variables:
            var, level = ds.variables["sea_surface_temperature"], "L3"
        else:
            present = ", ".join(sorted(ds.variables)) or "none"
            raise InputFileError(
                path, "variable 'analysed_sst' (L4) or 'sea_surface_temperature' (L3) not "
                f"found; the file has variables: {present}"
            )
        sst_name = var.name
        units = _units(path, var)
        if units.lower() in _KELVIN:
            offset = 0.0
        elif units.lower().replace(" ", "_") in _CELSIUS:
            offset = 273.15
        else:
            raise InputFileError(
                path, f"variable {var.name!r} has units {units!r}; expected kelvin ('kelvin', "
                "'K') or Celsius ('celsius', 'degC', 'degree_Celsius')"
            )
        lat_var = _coordinate(ds, path, ("lat", "latitude"))
        lon_var = _coordinate(ds, path, ("lon", "longitude"))
        dims = (lat_var.dimensions[0], lon_var.dimensions[0])
        tvar = ds.variables.get("time")
        time_dim = "time" if "time" in ds.dimensions else None
        if tvar is not None and tvar.ndim == 1:
            time_dim = tvar.dimensions[0]
        sst = _grid_values(path, var, dims, time_dim) + offset
        if level == "L3" and "sses_bias" in ds.variables:
            sst = sst - _sses_bias(path, ds.variables["sses_bias"], dims, time_dim)
        valid = ~np.isnan(sst)  # infinities stay, to be reported below
        if "mask" in ds.variables:
            valid &= _open_sea(path, ds.variables["mask"], dims, time_dim)
        if "quality_level" in ds.variables:
            qvar = ds.variables["quality_level"]
            quality = _grid_values(path, qvar, dims, time_dim)
            valid &= np.nan_to_num(quality, nan=-1.0) >= min_quality_level
        lat = _decode_coordinate(path, lat_var)
        lon = _decode_coordinate(path, lon_var)
        times = _decode_time(path, tvar).ravel() if tvar is not None else None

    if times is not None and times.size != 1:
        raise InputFileError(
            path, f"variable 'time' has {times.size} values; expected one day per file (1)"
        )
    if name is not None:
        day = name.day
        if times is not None:
            noon = np.datetime64(day.isoformat(), "ns") + np.timedelta64(12, "h")
            if abs(times[0] - noon) > _ONE_DAY:
                raise InputFileError(
                    path, f"variable 'time' is {_when(times[0])}, more than a day away from "
                    f"the day {day.isoformat()} named in the file name"
                )
    elif times is not None:
        day = _day_of(times[0])
    else:
        raise InputFileError(
            path, "no 'time' variable and the file name is not a GHRSST name, so the day is "
            "unknown"
        )

    for n, c in (("lat", lat), ("lon", lon)):
        if not np.isfinite(c).all():
            raise InputFileError(path, f"coordinate {n!r} has missing or non-finite values")
    if np.abs(lat).max(initial=0.0) > 90.0:
        raise InputFileError(
            path, f"coordinate 'lat' has values outside [-90, 90] degrees "
            f"(range {lat.min():g} to {lat.max():g})"
        )
    if lat.size > 1 and not ((np.diff(lat) > 0).all() or (np.diff(lat) < 0).all()):
        raise InputFileError(path, "coordinate 'lat' is not strictly monotonic")
    if lon.size > 1 and not ((np.diff(lon) > 0).all() or (np.diff(lon) < 0).all()):
        raise InputFileError(path, "coordinate 'lon' is not strictly monotonic")

    values = sst[valid]
    if np.isinf(values).any():
        raise InputFileError(
            path, f"variable {sst_name!r} has {_count(np.isinf(values), 'infinite value')}"
        )
    bad = (values < min_k) | (values > max_k)
    if bad.any():
        raise InputFileError(
            path, f"variable {sst_name!r} has {_count(bad, 'value')} outside the plausible "
            f"range [{min_k:g}, {max_k:g}] K (min {values.min():g} K, max {values.max():g} K); "
            "check the units and the product, or widen min_k/max_k"
        )
    sst = np.where(valid, sst, np.nan)

    if lat.size > 1 and lat[1] < lat[0]:
        lat, sst = lat[::-1], sst[::-1, :]
    lon = np.mod(lon + 180.0, 360.0) - 180.0
    lon[lon >= 180.0] -= 360.0
    order = np.argsort(lon, kind="stable")
    lon, sst = lon[order], sst[:, order]
    if lon.size > 1 and not (np.diff(lon) > 0).all():
        raise InputFileError(
            path, "coordinate 'lon' repeats a longitude once converted to [-180, 180) "
            "(e.g. both 0 and 360); the grid must not wrap onto itself"
        )
    return SstField(
        day=day,
        lat=np.ascontiguousarray(lat),
        lon=np.ascontiguousarray(lon),
        sst_k=np.ascontiguousarray(sst),
        level=level,
        source=str(path),
    )


#: Variables of a truth file and their units (see varnet.osse.truth_file).
TRUTH_VARIABLES = {"ssh": "m", "sla": "m", "mdt": "m", "u": "m s-1", "v": "m s-1",
                   "ugos": "m s-1", "vgos": "m s-1", "sst": "K"}


def read_truth(path: str | os.PathLike[str]) -> xr.Dataset:
    """Open a truth file (daily SSH, currents, SST on the product grid) lazily.

    Parameters
    ----------
    path : str or os.PathLike
        A ``truth.nc`` written by the synthetic ocean.

    Returns
    -------
    xarray.Dataset
        Dimensions (time, lat, lon); times decoded to datetime64 (12:00 UTC of each day).

    Raises
    ------
    InputFileError
        If the file cannot be opened, lacks a variable, has other units, or its time axis
        is not strictly increasing.
    """
    path = Path(path)
    try:
        ds = xr.open_dataset(path)
    except (OSError, ValueError) as exc:
        raise InputFileError(path, f"cannot be opened as a NetCDF truth file ({exc})") from None
    missing = [name for name in TRUTH_VARIABLES if name not in ds.variables]
    if missing:
        ds.close()
        raise InputFileError(path, f"missing truth variable(s) {', '.join(missing)}; "
                             f"found {', '.join(sorted(map(str, ds.data_vars)))}")
    for name, units in TRUTH_VARIABLES.items():
        found = ds[name].attrs.get("units")
        if found != units:
            ds.close()
            raise InputFileError(path, f"variable '{name}' has units {found!r}, "
                                 f"expected {units!r}")
    times = ds["time"].values
    if times.size > 1 and not np.all(np.diff(times) > np.timedelta64(0, "ns")):
        ds.close()
        raise InputFileError(path, "time axis is not strictly increasing")
    return ds
