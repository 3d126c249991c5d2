"""The observation-kind registry: each kind of observation file owns recognising, checking,
reading, ordering and gridding its files; ingest, the ledger and the model's inputs loop over
the registry.

The built-in kinds, in the order ingest tries them:

- ``"alongtrack"``: CMEMS L3 along-track SSH (:class:`~varnet.datamodel.kinds.alongtrack.
  AlongTrackKind`), model inputs ``obs`` and ``oi``;
- ``"sst"``: GHRSST GDS 2.0 L4/L3 SST (:class:`~varnet.datamodel.kinds.ghrsst.GhrsstKind`),
  model input ``sst``.

Adding a kind is one module (a subclass of :class:`ObservationKind`) and one line in
:data:`BUILTIN_KINDS` below, ``"module:Class"``; the ledger stores its
:attr:`~ObservationKind.name` and the archive keeps its files under
``{archive}/{name}/YYYY/MM/``. A kind defined elsewhere (a test, a plug-in) is added with
:func:`register`.

No torch here: operations hosts import this package.
"""

from __future__ import annotations

import importlib

from varnet.datamodel.kinds.base import (
    Choice,
    GriddingOptions,
    Identity,
    KindOptions,
    ObservationFile,
    ObservationKind,
    RecordLike,
    RegionBox,
    choose,
    netcdf_date_created,
)
from varnet.datamodel.kinds.registry import (
    UNKNOWN,
    UnknownKindError,
    expected_names,
    get,
    identify_name,
    kinds,
    names,
    register,
    unregister,
)

__all__ = [
    "BUILTIN_KINDS",
    "UNKNOWN",
    "Choice",
    "GriddingOptions",
    "Identity",
    "KindOptions",
    "ObservationFile",
    "ObservationKind",
    "RecordLike",
    "RegionBox",
    "UnknownKindError",
    "choose",
    "expected_names",
    "get",
    "identify_name",
    "kinds",
    "names",
    "netcdf_date_created",
    "register",
    "unregister",
]

#: The built-in kinds, registered in this order: one line per kind, ``"module:Class"`` (a
#: module of this package, or a full module path, and the kind's class in it).
BUILTIN_KINDS: tuple[str, ...] = (
    "alongtrack:AlongTrackKind",
    "ghrsst:GhrsstKind",
)


def _load(entry: str) -> ObservationKind:
    """An instance of the kind class an entry of :data:`BUILTIN_KINDS` names."""
    module, _, cls = entry.partition(":")
    return getattr(importlib.import_module(module if "." in module else f"{__name__}.{module}"),
                   cls)()


for _entry in BUILTIN_KINDS:
    register(_load(_entry))
del _entry
