"""File-name conventions of the observation inputs.

Along-track SSH files follow the CMEMS SEALEVEL_GLO_PHY_L3 convention in all its forms (data
day, then production day)::

    {nrt|dt}_{area}_{mission}_phy_l3[_1hz|_5hz]_{YYYYMMDD}_{YYYYMMDD}.nc   (2019 on; _1hz 2021 on)
    {nrt|dt}_{area}_{mission}_phy_{vfec|vxxc}_l3_{YYYYMMDD}_{YYYYMMDD}.nc  (2015-2019)
    {nrt|dt}_{area}_{mission}_sla_{vfec|vxxc}_{YYYYMMDD}_{YYYYMMDD}.nc     (AVISO, before 2015)

``area`` is ``global`` or a regional extraction (``europe``, ``med``, ``gulfstream``...) and
``mission`` a code of :mod:`varnet.io.missions`, which may hold an underscore (``s6a_hr``,
``swo_hr``). Extractions over a period, as the ocean data challenges distribute them, are
``dt_{area}_{mission}_phy_l3[_1hz]_{YYYYMMDD}-{YYYYMMDD}[_{anything}].nc`` (first and last
data day; :func:`parse_alongtrack_extraction`).

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

from varnet.io.missions import is_mission_code

__all__ = [
    "ALONGTRACK_PATTERN",
    "GHRSST_LEVELS",
    "GHRSST_PATTERN",
    "AlongTrackExtraction",
    "AlongTrackName",
    "GhrsstName",
    "alongtrack_filename",
    "ghrsst_filename",
    "parse_alongtrack_extraction",
    "parse_alongtrack_filename",
    "parse_ghrsst_filename",
]

_PRODUCTS = ("nrt", "dt")
_RATES = ("1hz", "5hz")
_PREFIX = (r"^(?P<product>nrt|dt)_(?P<area>[a-z]+)_(?P<mission>[a-z0-9]+(?:_[a-z0-9]+)*?)_"
           r"(?:phy_l3(?:_(?P<rate>1hz|5hz))?|phy_(?:vfec|vxxc)_l3|sla_(?:vfec|vxxc))_")
_ALONGTRACK_RE = re.compile(_PREFIX + r"(?P<day>\d{8})_(?P<production>\d{8})\.nc$")
_EXTRACTION_RE = re.compile(
    _PREFIX + r"(?P<first>\d{8})-(?P<last>\d{8})(?:_[A-Za-z0-9_.\-]*)?\.nc$")
ALONGTRACK_PATTERN = "{nrt|dt}_{area}_{mission}_phy_l3[_1hz|_5hz]_{YYYYMMDD}_{YYYYMMDD}.nc"
_EXTRACTION_PATTERN = "{nrt|dt}_{area}_{mission}_phy_l3[_1hz]_{YYYYMMDD}-{YYYYMMDD}[_...].nc"

_GHRSST_RE = re.compile(
    r"^(?P<stamp>\d{14})-(?P<rdac>[A-Za-z0-9_]+)-(?P<level>L4|L3S|L3C|L3U)_GHRSST-"
    r"(?P<ssttype>SST[A-Za-z0-9]+)-(?P<product>[A-Za-z0-9_.\-]+)-v02\.0-fv\d{2}\.\d\.nc$"
)
GHRSST_PATTERN = (
    "YYYYMMDDHHMMSS-<RDAC>-<L4|L3S|L3C|L3U>_GHRSST-<SSTtype>-<product>-v02.0-fv<NN.N>.nc"
)
#: The GHRSST GDS 2.0 processing levels a name may carry, in varnet's default order of
#: preference (a gap-free analysis first).
GHRSST_LEVELS = ("L4", "L3S", "L3C", "L3U")
_VARNET_SST_TYPE = {"L4": "SSTfnd", "L3S": "SSTsubskin"}


@dataclass(frozen=True)
class AlongTrackName:
    """The parts of a CMEMS L3 along-track file name (one data day).

    Attributes
    ----------
    product : str
        ``"nrt"`` (near-real time) or ``"dt"`` (delayed time).
    mission : str
        Mission code (``"j3n"``, ``"s6a_hr"``; see :mod:`varnet.io.missions`).
    day : datetime.date
        Data day (UTC) the file covers.
    production : datetime.date
        Day the file was produced.
    area : str
        ``"global"`` or the region of an extraction (``"europe"``, ``"med"``...).
    rate : str or None
        ``"1hz"`` or ``"5hz"`` where the name says it.
    """

    product: str
    mission: str
    day: dt.date
    production: dt.date
    area: str = "global"
    rate: str | None = None


@dataclass(frozen=True)
class AlongTrackExtraction:
    """The parts of the name of an along-track extraction over several data days.

    Attributes
    ----------
    product : str
        ``"nrt"`` or ``"dt"``.
    mission : str
        Mission code.
    first_day, last_day : datetime.date
        First and last data day (UTC) of the period, inclusive.
    area : str
        Region of the extraction (``"gulfstream"``).
    """

    product: str
    mission: str
    first_day: dt.date
    last_day: dt.date
    area: str


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
    if not is_mission_code(mission):
        raise ValueError(
            f"mission code must be lowercase letters and digits, parts joined by '_' "
            f"(e.g. 'j3n', 's6a_hr'), got {mission!r}"
        )


def _parse_day(text: str, what: str, name: str, expected: str) -> dt.date:
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise ValueError(
            f"{name!r}: {what} {text!r} is not a valid date YYYYMMDD; expected {expected}"
        ) from None


def alongtrack_filename(product: str, mission: str, day: dt.date, production: dt.date,
                        rate: str | None = None, area: str = "global") -> str:
    """Build a CMEMS L3 along-track file name.

    Parameters
    ----------
    product : str
        ``"nrt"`` or ``"dt"``.
    mission : str
        Mission code (``"j3n"``, ``"s6a_hr"``).
    day : datetime.date
        Data day (UTC).
    production : datetime.date
        Production day.
    rate : {None, "1hz", "5hz"}, optional
        Sampling part of today's names (``_1hz``); None writes the 2019-2021 form.
    area : str, optional
        ``"global"`` (default) or a region, lowercase letters.

    Returns
    -------
    str
        ``{product}_{area}_{mission}_phy_l3[_{rate}]_{YYYYMMDD}_{YYYYMMDD}.nc``.

    Raises
    ------
    ValueError
        If ``product``, ``mission``, ``rate`` or ``area`` is not allowed.
    """
    _check_product(product)
    _check_mission(mission)
    if rate is not None and rate not in _RATES:
        raise ValueError(f"rate must be None or one of {_RATES}, got {rate!r}")
    if not re.fullmatch(r"[a-z]+", area):
        raise ValueError(f"area must be lowercase letters (e.g. 'global'), got {area!r}")
    middle = "phy_l3" if rate is None else f"phy_l3_{rate}"
    return f"{product}_{area}_{mission}_{middle}_{day:%Y%m%d}_{production:%Y%m%d}.nc"


def parse_alongtrack_filename(name: str) -> AlongTrackName:
    """Parse a CMEMS L3 along-track file name of one data day (a bare name, not a path).

    Parameters
    ----------
    name : str
        File name such as ``"nrt_global_s6a_hr_phy_l3_1hz_20230101_20230107.nc"`` (any form
        of the module docstring).

    Returns
    -------
    AlongTrackName

    Raises
    ------
    ValueError
        If the name does not match any CMEMS L3 form or a date in it is not a calendar date.
    """
    m = _ALONGTRACK_RE.match(name)
    if m is None:
        raise ValueError(
            f"{name!r} is not a CMEMS L3 along-track file name; expected {ALONGTRACK_PATTERN}"
        )
    return AlongTrackName(
        product=m["product"],
        mission=m["mission"],
        day=_parse_day(m["day"], "data day", name, ALONGTRACK_PATTERN),
        production=_parse_day(m["production"], "production day", name, ALONGTRACK_PATTERN),
        area=m["area"],
        rate=m["rate"],
    )


def parse_alongtrack_extraction(name: str) -> AlongTrackExtraction:
    """Parse the name of an along-track extraction over a period (a bare name, not a path).

    Parameters
    ----------
    name : str
        File name such as ``"dt_gulfstream_alg_phy_l3_20161201-20180131_285-315_23-53.nc"``.

    Returns
    -------
    AlongTrackExtraction

    Raises
    ------
    ValueError
        If the name is not of that form, a date is not a calendar date, or the last day is
        before the first.
    """
    m = _EXTRACTION_RE.match(name)
    if m is None:
        raise ValueError(
            f"{name!r} is not an along-track extraction name; expected {_EXTRACTION_PATTERN}"
        )
    first = _parse_day(m["first"], "first day", name, _EXTRACTION_PATTERN)
    last = _parse_day(m["last"], "last day", name, _EXTRACTION_PATTERN)
    if last < first:
        raise ValueError(f"{name!r}: last day {last} is before first day {first}")
    return AlongTrackExtraction(product=m["product"], mission=m["mission"], first_day=first,
                                last_day=last, area=m["area"])


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
        raise ValueError(f"{name!r} is not a GHRSST GDS 2.0 file name; expected {GHRSST_PATTERN}")
    try:
        stamp = dt.datetime.strptime(m["stamp"], "%Y%m%d%H%M%S")
    except ValueError:
        raise ValueError(
            f"{name!r}: time stamp {m['stamp']!r} is not a valid YYYYMMDDHHMMSS; "
            f"expected {GHRSST_PATTERN}"
        ) from None
    return GhrsstName(day=stamp.date(), level=m["level"])
