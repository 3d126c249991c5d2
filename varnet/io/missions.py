"""Altimetry missions: the short codes of CMEMS L3 file names and the platforms they stand for.

CMEMS SEALEVEL_GLO_PHY_L3 (NRT 008_044, MY 008_062) names each file after a mission code:
lowercase letters and digits, with an underscore-separated suffix for a mode or an instrument
(``s6a_hr``: Sentinel-6A high-resolution SAR mode, ``swon`` / ``swo_hr``: SWOT's nadir
altimeter). A code may carry a phase letter: ``n`` for an interleaved or new orbit (``j3n``,
``tpn``, ``c2n``), ``g`` for a geodetic or drifting phase (``alg``, ``j2g``, ``e1g``).

:data:`MISSIONS` maps every code that CMEMS has published to the platform name that DUACS
writes in the ``platform`` attribute of its products; :func:`platform_name` gives it, and an
unknown but well-formed code (a mission launched after this list) keeps its code as its name.
"""

from __future__ import annotations

import re

__all__ = [
    "MISSIONS",
    "MISSION_CODE_RE",
    "is_mission_code",
    "mission_from_platform",
    "platform_name",
]

#: A mission code: lowercase letters and digits, optionally ``_``-separated parts.
MISSION_CODE_RE = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)*$")

#: CMEMS mission codes and their platform names (as DUACS products write them).
MISSIONS: dict[str, str] = {
    "al": "SARAL/AltiKa",
    "alg": "SARAL/AltiKa Drifting Phase",
    "c2": "CryoSat-2",
    "c2n": "CryoSat-2 New Orbit",
    "e1": "ERS-1",
    "e1g": "ERS-1 Geodetic Phase",
    "e2": "ERS-2",
    "en": "Envisat",
    "enn": "Envisat Extension Phase",
    "g2": "Geosat Follow-On",
    "h2a": "HY-2A",
    "h2ag": "HY-2A Geodetic Phase",
    "h2b": "HY-2B",
    "h2c": "HY-2C",
    "j1": "Jason-1",
    "j1g": "Jason-1 Geodetic Phase",
    "j1n": "Jason-1 Interleaved",
    "j2": "OSTM/Jason-2",
    "j2g": "OSTM/Jason-2 Long Repeat Orbit",
    "j2n": "OSTM/Jason-2 Interleaved",
    "j3": "Jason-3",
    "j3g": "Jason-3 Long Repeat Orbit",
    "j3n": "Jason-3 Interleaved",
    "s3a": "Sentinel-3A",
    "s3b": "Sentinel-3B",
    "s6a": "Sentinel-6A",
    "s6a_hr": "Sentinel-6A HR",
    "s6a_lr": "Sentinel-6A LR",
    "swon": "SWOT Nadir",
    "swonc": "SWOT Nadir Calibration Orbit",
    "swo_hr": "SWOT Nadir",
    "tp": "TOPEX/Poseidon",
    "tpn": "TOPEX/Poseidon Interleaved",
}


def is_mission_code(code: str) -> bool:
    """Whether ``code`` is a well-formed mission code (known or not).

    Parameters
    ----------
    code : str
        For example ``"j3n"`` or ``"s6a_hr"``.

    Returns
    -------
    bool
    """
    return isinstance(code, str) and MISSION_CODE_RE.match(code) is not None


def platform_name(code: str) -> str:
    """The platform name of a mission code, as DUACS writes it in ``platform``.

    Parameters
    ----------
    code : str
        Mission code from a file name (``"j3n"``).

    Returns
    -------
    str
        ``"Jason-3 Interleaved"``; an unknown code is returned unchanged.
    """
    return MISSIONS.get(code, code)


def _normal(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


_BY_PLATFORM = {_normal(name): code for code, name in reversed(MISSIONS.items())}


def mission_from_platform(platform: str) -> str | None:
    """The mission code of a ``platform`` attribute, for a file whose name says nothing.

    Parameters
    ----------
    platform : str
        A file's ``platform`` (or ``mission``) attribute: a platform name (``"Jason-3"``,
        ``"Sentinel-6A HR"``, case and punctuation ignored) or a mission code (``"j3n"``).

    Returns
    -------
    str or None
        The code, or None when the attribute names no single known mission.
    """
    text = str(platform).strip()
    if text.lower() in MISSIONS:
        return text.lower()
    return _BY_PLATFORM.get(_normal(text))
