"""Open-sea pixels of a GHRSST ``mask`` variable, read by the meanings of its flags.

GHRSST files mark land, lakes and sea ice in a ``mask`` variable with one of two CF
conventions:

* ``flag_values``: a pixel holds one of the listed values (CMEMS Black Sea L4: 1 sea, 2 land,
  3 lake, 4 ice), so 3 is a lake although its bit 1 is set;
* ``flag_masks``: a pixel is a bit field (GDS 2.0 L4: 1 water, 2 land, 4 lake surface, 8 sea
  ice, 16 river surface), so 5 is water on a lake and 9 water under ice.

When both are present, flag i is set where ``value & flag_masks[i] == flag_values[i]`` (CF).
Where that cannot hold for some i, because ``flag_values[i]`` has bits outside
``flag_masks[i]`` (MUR v4.1: masks 1, 2, 4, 8, 16 and values 1, 2, 5, 9, 13), the values are
whole values matched exactly. ``flag_meanings`` is read as CF blank-separated words or in the
``"N=meaning, N=meaning"`` form of MUR, whose numbers must repeat ``flag_values`` or
``flag_masks``; with neither attribute they are the values.

A meaning is open sea when its words include sea, water or ocean and none of land, lake, ice,
river, inland or fresh (``sea``, ``water``, ``open-sea``; not ``sea_ice`` nor ``open-lake``).
A pixel is kept when a flag meaning open sea is set and no other flag is, or when it is a fill
value (the mask says nothing there; a mask that is fill everywhere, as in the CMEMS Black Sea
L4, is thus ignored). A mask none of whose meanings is open sea, or whose flag attributes are
missing or disagree, raises :class:`MaskError` rather than dropping every pixel.

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from varnet.errors import EXIT_CONFIG, VarnetError

__all__ = ["MaskError", "open_sea"]

_SEA_WORDS = frozenset({"sea", "water", "ocean"})
_NOT_SEA_WORDS = frozenset({"land", "lake", "lakes", "ice", "river", "rivers", "inland",
                            "fresh", "freshwater"})
_NUMBERED = re.compile(r"^\s*(-?\d+)\s*=\s*(\S.*?)\s*$")


class MaskError(VarnetError, ValueError):
    """A mask whose flag attributes do not say which pixels are open sea.

    Bad input (exit status 2 of a command-line tool); the readers re-raise it as an
    :class:`~varnet.io.readers.InputFileError` naming the file. Also a :class:`ValueError`,
    for code that catches that.
    """

    exit_code = EXIT_CONFIG


def open_sea(
    raw: np.ndarray,
    *,
    name: str,
    fill_values: Sequence[object],
    flag_masks: object | None,
    flag_values: object | None,
    flag_meanings: object | None,
) -> np.ndarray:
    """Which pixels of a GHRSST mask may hold an open-sea SST.

    Parameters
    ----------
    raw : numpy.ndarray of int
        The stored mask values (unscaled), any shape.
    name : str
        The variable's name, for messages.
    fill_values : sequence
        ``_FillValue`` and ``missing_value`` of the variable (those present).
    flag_masks, flag_values, flag_meanings : object or None
        The variable's CF flag attributes (None where absent).

    Returns
    -------
    numpy.ndarray of bool
        Shape of ``raw``: True where the mask says open sea or is a fill value.

    Raises
    ------
    MaskError
        If the mask has a non-fill value and its attributes cannot say which values are open
        sea: no ``flag_meanings``, neither ``flag_masks`` nor ``flag_values``, counts that
        disagree, numbers in the meanings that repeat neither list, a non-integer mask, or no
        meaning that is open sea.
    """
    fills = [np.atleast_1d(np.asarray(v)).ravel().astype(raw.dtype) for v in fill_values]
    fill = np.isin(raw, np.concatenate(fills)) if fills else np.zeros(raw.shape, dtype=bool)
    if fill.all():
        return fill
    attrs = (f"(flag_masks={_shown(flag_masks)}, flag_values={_shown(flag_values)}, "
             f"flag_meanings={flag_meanings!r})")
    try:
        sea = _flagged_open_sea(raw, flag_masks, flag_values, flag_meanings)
    except MaskError as exc:
        raise MaskError(f"variable {name!r}: {exc} {attrs}; cannot tell open sea from land, "
                        "lake or ice pixels") from None
    return fill | sea


def _flagged_open_sea(raw: np.ndarray, flag_masks: object | None, flag_values: object | None,
                      flag_meanings: object | None) -> np.ndarray:
    """Where a flag meaning open sea is set and no other flag is (fill values not handled)."""
    if raw.dtype.kind not in "iu":
        raise MaskError(f"mask of type {raw.dtype} is not integer")
    masks = _integers(flag_masks, raw.dtype)
    values = _integers(flag_values, raw.dtype)
    numbers, meanings = _meanings(flag_meanings)
    if numbers is not None:
        if values is None and masks is None:
            values = numbers
        elif not any(numbers == other for other in (values, masks) if other is not None):
            raise MaskError("the numbers in flag_meanings repeat neither flag_values nor "
                            "flag_masks")
    if values is None and masks is None:
        raise MaskError("neither flag_masks nor flag_values is given")
    for attr, flags in (("flag_values", values), ("flag_masks", masks)):
        if flags is not None and len(flags) != len(meanings):
            raise MaskError(f"{attr} has {len(flags)} entries for {len(meanings)} meanings")
    is_sea = [_is_open_sea(m) for m in meanings]
    if not any(is_sea):
        raise MaskError("no flag meaning is open sea (sea, water or ocean without land, "
                        "lake, ice or river)")
    v = raw.astype(np.int64)
    if masks is not None and values is not None and all(
            (f & ~m) == 0 for f, m in zip(values, masks, strict=True)):
        flags_set = [(v & m) == f for m, f in zip(masks, values, strict=True)]
    elif values is not None:  # exact values (alone, or flag_values not within flag_masks)
        flags_set = [v == f for f in values]
    else:
        flags_set = [(v & m) != 0 for m in masks]
    sea = np.zeros(raw.shape, dtype=bool)
    other = np.zeros(raw.shape, dtype=bool)
    for flag_set, flag_is_sea in zip(flags_set, is_sea, strict=True):
        if flag_is_sea:
            sea |= flag_set
        else:
            other |= flag_set
    return sea & ~other


def _integers(attr: object | None, dtype: np.dtype) -> list[int] | None:
    """A flag attribute as Python ints, wrapped like the mask's own type (None if absent)."""
    if attr is None:
        return None
    try:
        return [int(x) for x in np.atleast_1d(np.asarray(attr)).astype(dtype).astype(np.int64)]
    except (TypeError, ValueError):
        raise MaskError(f"flag attribute {attr!r} is not a list of integers") from None


def _meanings(attr: object | None) -> tuple[list[int] | None, list[str]]:
    """The numbers (None for CF words) and meanings of ``flag_meanings``."""
    if attr is None or not str(attr).strip():
        raise MaskError("flag_meanings is missing")
    text = str(attr)
    if not _NUMBERED.match(text.split(",")[0]):
        return None, text.split()
    numbers, meanings = [], []
    for part in text.split(","):
        m = _NUMBERED.match(part)
        if m is None:
            raise MaskError(f"flag_meanings entry {part.strip()!r} is not of the form "
                            "N=meaning")
        numbers.append(int(m.group(1)))
        meanings.append(m.group(2))
    return numbers, meanings


def _is_open_sea(meaning: str) -> bool:
    words = set(re.findall(r"[a-z]+", meaning.lower()))
    return bool(words & _SEA_WORDS) and not words & _NOT_SEA_WORDS


def _shown(attr: object | None) -> str:
    return "absent" if attr is None else str(np.atleast_1d(np.asarray(attr)).tolist())
