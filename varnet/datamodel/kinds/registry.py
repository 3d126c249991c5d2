"""The registry of observation kinds: ingest, the ledger and the model's inputs loop over it.

Kinds are kept in registration order, which is the order in which ingest tries to recognise a
file and names the expected forms of an unrecognised one. The built-in kinds are registered
by :mod:`varnet.datamodel.kinds` (one line each); a new kind is one module and one line there.

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import re

from varnet.datamodel.kinds.base import Identity, ObservationKind
from varnet.errors import VarnetError

__all__ = [
    "UNKNOWN",
    "UnknownKindError",
    "expected_names",
    "get",
    "identify_name",
    "kinds",
    "names",
    "register",
    "unregister",
]

#: The ledger's kind of a file no kind recognises; no kind may take this name.
UNKNOWN = "unknown"
#: What a kind's name looks like: a short lower-case name (it names a folder; the ledger
#: checks the same).
_NAME_RE = re.compile(r"[a-z][a-z0-9_-]{0,39}")

_KINDS: dict[str, ObservationKind] = {}


class UnknownKindError(VarnetError, LookupError):
    """No observation kind of that name is registered."""


def register(kind: ObservationKind, *, replace: bool = False) -> ObservationKind:
    """Add an observation kind to the registry, after those already there.

    Parameters
    ----------
    kind : ObservationKind
        An instance of a subclass of :class:`ObservationKind`.
    replace : bool, default False
        Replace a kind of the same name (keeping its place) instead of refusing it.

    Returns
    -------
    ObservationKind
        ``kind``.

    Raises
    ------
    TypeError
        If ``kind`` is not an :class:`ObservationKind`.
    ValueError
        If its name is not a short lower-case name, is ``"unknown"``, or is taken (unless
        ``replace``).
    """
    if not isinstance(kind, ObservationKind):
        raise TypeError(f"register: expected an ObservationKind, got {type(kind).__name__}")
    name = kind.name
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or name == UNKNOWN:
        raise ValueError(f"observation kind name must be a short lower-case name (letters, "
                         f"digits, '_', '-'), not {UNKNOWN!r}; got {name!r}")
    if name in _KINDS and not replace:
        raise ValueError(f"observation kind {name!r} is already registered "
                         f"({_KINDS[name]!r})")
    _KINDS[name] = kind
    return kind


def unregister(name: str) -> ObservationKind:
    """Remove the kind ``name`` from the registry (e.g. a kind a test registered).

    Returns
    -------
    ObservationKind
        The kind removed.

    Raises
    ------
    UnknownKindError
        If no kind of that name is registered.
    """
    kind = get(name)
    del _KINDS[name]
    return kind


def get(name: str) -> ObservationKind:
    """The registered kind called ``name`` (the ledger's ``kind``).

    Raises
    ------
    UnknownKindError
        If there is none; the message lists the kinds there are.
    """
    try:
        return _KINDS[name]
    except KeyError:
        raise UnknownKindError(f"no observation kind {name!r}; the kinds are "
                               f"{', '.join(_KINDS) or 'none'}") from None


def kinds() -> tuple[ObservationKind, ...]:
    """Every registered kind, in registration order."""
    return tuple(_KINDS.values())


def names() -> tuple[str, ...]:
    """The names of the registered kinds, in registration order."""
    return tuple(_KINDS)


def identify_name(name: str) -> Identity | None:
    """What a file is from its name: the identity given by the first kind that recognises
    it, or None (nothing is read)."""
    for kind in _KINDS.values():
        identity = kind.identify_name(name)
        if identity is not None:
            return identity
    return None


def expected_names() -> str:
    """The name forms of every kind, for the message on an unrecognised file: ``"A or B"``,
    ``"A, B or C"``."""
    forms = [kind.expected_name for kind in _KINDS.values()]
    if len(forms) <= 1:
        return "".join(forms)
    return ", ".join(forms[:-1]) + " or " + forms[-1]
