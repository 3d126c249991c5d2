"""File-name conventions of the observation inputs.

Along-track SSH files follow the CMEMS SEALEVEL_GLO_PHY_L3 convention
``{nrt|dt}_global_{mission}_phy_l3_{YYYYMMDD}_{YYYYMMDD}.nc`` (data day, production day).
SST files follow GHRSST GDS 2.0,
``{YYYYMMDDHHMMSS}-{RDAC}-{L4|L3S|L3C|L3U}_GHRSST-{SSTtype}-{product}-v02.0-fv{NN.N}.nc``;
varnet writes ``{YYYYMMDD}120000-VARNET-L4_GHRSST-SSTfnd-OSSE-v02.0-fv01.0.nc`` (or the L3S
``SSTsubskin`` variant).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "AlongTrackName",
    "GhrsstName",
    "alongtrack_filename",
    "ghrsst_filename",
    "parse_alongtrack_filename",
    "parse_ghrsst_filename",
]

_PRODUCTS = ("nrt", "dt")
_MISSION_RE = re.compile(r"^[a-z0-9]+$")
_ALONGTRACK_RE = re.compile(
    r"^(?P<product>nrt|dt)_global_(?P<mission>[a-z0-9]+)_phy_l3_"
    r"(?P<day>\d{8})_(?P<production>\d{8})\.nc$"
)
_ALONGTRACK_PATTERN = "{nrt|dt}_global_{mission}_phy_l3_{YYYYMMDD}_{YYYYMMDD}.nc"

_GHRSST_RE = re.compile(
    r"^(?P<stamp>\d{14})-(?P<rdac>[A-Za-z0-9_]+)-(?P<level>L4|L3S|L3C|L3U)_GHRSST-"
    r"(?P<ssttype>SST[A-Za-z0-9]+)-(?P<product>[A-Za-z0-9_.\-]+)-v02\.0-fv\d{2}\.\d\.nc$"
)
_GHRSST_PATTERN = (
    "YYYYMMDDHHMMSS-<RDAC>-<L4|L3S|L3C|L3U>_GHRSST-<SSTtype>-<product>-v02.0-fv<NN.N>.nc"
)
_VARNET_SST_TYPE = {"L4": "SSTfnd", "L3S": "SSTsubskin"}


@dataclass(frozen=True)
class AlongTrackName:
    """The parts of a CMEMS L3 along-track file name.

    Attributes
    ----------
    product : str
        ``"nrt"`` (near-real time) or ``"dt"`` (delayed time).
    mission : str
        Mission short name, lowercase alphanumerics (``"j3"``, ``"s3a"``, ``"al"``).
    day : datetime.date
        Data day (UTC) the file covers.
    production : datetime.date
        Day the file was produced.
    """

    product: str
    mission: str
    day: dt.date
    production: dt.date


@dataclass(frozen=True)
class GhrsstName:
    """The parts of a GHRSST GDS 2.0 file name that varnet uses.

    Attributes
    ----------
    day : datetime.date
        Central day (UTC) of the file, from the ``YYYYMMDD`` of its time stamp.
    level : str
        Processing level as written in the name: ``"L4"``, ``"L3S"``, ``"L3C"`` or ``"L3U"``.
    """

    day: dt.date
    level: str


def _check_product(product: str) -> None:
    if product not in _PRODUCTS:
        raise ValueError(f"product must be one of {_PRODUCTS}, got {product!r}")


def _check_mission(mission: str) -> None:
    if not _MISSION_RE.match(mission):
        raise ValueError(
            f"mission short name must be lowercase letters and digits (e.g. 'j3', 's3a'), "
            f"got {mission!r}"
        )


def _parse_day(text: str, what: str, name: str, expected: str) -> dt.date:
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise ValueError(
            f"{name!r}: {what} {text!r} is not a valid date YYYYMMDD; expected {expected}"
        ) from None


def alongtrack_filename(product: str, mission: str, day: dt.date, production: dt.date) -> str:
    """Build a CMEMS L3 along-track file name.

    Parameters
    ----------
    product : str
        ``"nrt"`` or ``"dt"``.
    mission : str
        Mission short name, lowercase alphanumerics.
    day : datetime.date
        Data day (UTC).
    production : datetime.date
        Production day.

    Returns
    -------
    str
        ``{product}_global_{mission}_phy_l3_{YYYYMMDD}_{YYYYMMDD}.nc``.

    Raises
    ------
    ValueError
        If ``product`` or ``mission`` is not allowed.
    """
    _check_product(product)
    _check_mission(mission)
    return f"{product}_global_{mission}_phy_l3_{day:%Y%m%d}_{production:%Y%m%d}.nc"


def parse_alongtrack_filename(name: str) -> AlongTrackName:
    """Parse a CMEMS L3 along-track file name (a bare name, not a path).

    Parameters
    ----------
    name : str
        File name such as ``"nrt_global_j3_phy_l3_20200101_20200103.nc"``.

    Returns
    -------
    AlongTrackName

    Raises
    ------
    ValueError
        If the name does not match ``{nrt|dt}_global_{mission}_phy_l3_{YYYYMMDD}_{YYYYMMDD}.nc``
        or a date in it is not a calendar date.
    """
    m = _ALONGTRACK_RE.match(name)
    if m is None:
        raise ValueError(
            f"{name!r} is not a CMEMS L3 along-track file name; expected {_ALONGTRACK_PATTERN}"
        )
    return AlongTrackName(
        product=m["product"],
        mission=m["mission"],
        day=_parse_day(m["day"], "data day", name, _ALONGTRACK_PATTERN),
        production=_parse_day(m["production"], "production day", name, _ALONGTRACK_PATTERN),
    )


def ghrsst_filename(day: dt.date, level: Literal["L4", "L3S"]) -> str:
    """Build the GHRSST GDS 2.0 file name varnet writes for one day of SST.

    Parameters
    ----------
    day : datetime.date
        Central day (UTC); the time stamp is 12:00:00 of that day.
    level : {"L4", "L3S"}
        ``"L4"`` for a gap-free foundation SST analysis, ``"L3S"`` for a gappy sub-skin SST.

    Returns
    -------
    str
        e.g. ``"20200101120000-VARNET-L4_GHRSST-SSTfnd-OSSE-v02.0-fv01.0.nc"``.

    Raises
    ------
    ValueError
        If ``level`` is not ``"L4"`` or ``"L3S"``.
    """
    if level not in _VARNET_SST_TYPE:
        raise ValueError(f"level must be 'L4' or 'L3S', got {level!r}")
    sst_type = _VARNET_SST_TYPE[level]
    return f"{day:%Y%m%d}120000-VARNET-{level}_GHRSST-{sst_type}-OSSE-v02.0-fv01.0.nc"


def parse_ghrsst_filename(name: str) -> GhrsstName:
    """Parse a GHRSST GDS 2.0 file name (varnet's or a real one; a bare name, not a path).

    Parameters
    ----------
    name : str
        File name such as
        ``"20200101120000-UKMO-L4_GHRSST-SSTfnd-OSTIA-GLOB-v02.0-fv02.0.nc"``.

    Returns
    -------
    GhrsstName

    Raises
    ------
    ValueError
        If the name does not match
        ``YYYYMMDDHHMMSS-<RDAC>-<L4|L3S|L3C|L3U>_GHRSST-<SSTtype>-<product>-v02.0-fv<NN.N>.nc``
        or its time stamp is not a valid date and time.
    """
    m = _GHRSST_RE.match(name)
    if m is None:
        raise ValueError(f"{name!r} is not a GHRSST GDS 2.0 file name; expected {_GHRSST_PATTERN}")
    try:
        stamp = dt.datetime.strptime(m["stamp"], "%Y%m%d%H%M%S")
    except ValueError:
        raise ValueError(
            f"{name!r}: time stamp {m['stamp']!r} is not a valid YYYYMMDDHHMMSS; "
            f"expected {_GHRSST_PATTERN}"
        ) from None
    return GhrsstName(day=stamp.date(), level=m["level"])
