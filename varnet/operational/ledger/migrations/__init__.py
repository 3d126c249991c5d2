"""The numbered migrations of the ledger's schema, applied when a ledger is opened.

The schema version of a ledger file is stored in SQLite's ``PRAGMA user_version`` (and in
``meta.schema_version``, :func:`varnet.operational.ledger.schema.stamp`). A file holding
varnet's tables but no version (``user_version`` 0) is of version 1. Opening a ledger of an
older version brings it to :data:`~varnet.operational.ledger.schema.LATEST_VERSION` with
:func:`migrate`: every step of :data:`MIGRATIONS` in order, all in one transaction, so a
ledger is either fully migrated or left as it was. A ledger of a newer version than this
varnet knows is refused, never touched.

Versions (one module each, ``mNNNN_*``, whose docstring says more):

1. :mod:`~varnet.operational.ledger.migrations.m0001_initial`: the first operational
   releases. ``inputs``, ``runs``, ``products`` (one row per product day and production
   day), ``claims`` (one per product day), ``meta``.
2. :mod:`~varnet.operational.ledger.migrations.m0002_product_regions`: products per region
   (``products.region``, unique per region, product day and production day), at most one
   final per region and day, the statuses ``interrupted`` and ``replaced``, the window of
   data days that can change a product, flags, and re-makes that keep the old product until
   the new file replaces it; runs get ``interrupted``, ``rebuild`` and ``pid_start``. Why: a
   changed region must not reuse another region's finals, a killed re-make must not lose a
   final, and a final whose inputs changed must be found.
3. :mod:`~varnet.operational.ledger.migrations.m0003_free_kinds_and_regions`:
   ``inputs.kind`` is free text (no ``CHECK``); ``claims`` and ``runs`` get a ``region``,
   claims keyed by (region, product day). Why: observation kinds come from a registry in
   Python (a new kind needs no schema change), and several regions can share one state
   folder, each claiming its own product days and seeing its own runs.

Adding a version: write ``mNNNN_<what>.py`` with one function taking the ledger from version
``NNNN - 1`` to ``NNNN`` (its SQL frozen there), register it in :data:`MIGRATIONS`, change
:data:`~varnet.operational.ledger.schema.SCHEMA` and ``LATEST_VERSION`` to match, and list
it above. The tests build a ledger of every older version and check that migrating it gives
the schema of a new ledger.

No torch here: operations hosts import this package.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from varnet.operational.ledger.migrations.m0001_initial import SCHEMA_V1
from varnet.operational.ledger.migrations.m0002_product_regions import m0002_product_regions
from varnet.operational.ledger.migrations.m0003_free_kinds_and_regions import (
    m0003_free_kinds_and_regions,
)
from varnet.operational.ledger.schema import LATEST_VERSION, stamp

__all__ = [
    "MIGRATIONS",
    "SCHEMA_V1",
    "m0002_product_regions",
    "m0003_free_kinds_and_regions",
    "migrate",
]

#: ``MIGRATIONS[n]`` takes a ledger of version ``n`` to ``n + 1``.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: m0002_product_regions,
    2: m0003_free_kinds_and_regions,
}


def migrate(conn: sqlite3.Connection, version: int) -> int:
    """Apply the migrations from ``version`` to
    :data:`~varnet.operational.ledger.schema.LATEST_VERSION` in the caller's transaction,
    stamping the new version.

    Foreign key enforcement must be off on ``conn`` (tables are rebuilt); the migrated
    tables are checked with ``PRAGMA foreign_key_check`` before the version is stamped.

    Parameters
    ----------
    conn : sqlite3.Connection
        Connection in a write transaction (``BEGIN IMMEDIATE``).
    version : int
        The ledger's version now.

    Returns
    -------
    int
        The version reached (``LATEST_VERSION``).

    Raises
    ------
    sqlite3.DatabaseError
        If a migration fails; the caller rolls back.
    """
    for step in range(version, LATEST_VERSION):
        MIGRATIONS[step](conn)
    problems = conn.execute("PRAGMA foreign_key_check").fetchall()
    if problems:
        raise sqlite3.IntegrityError(f"foreign keys broken by the migration: {problems[:3]}")
    stamp(conn, LATEST_VERSION)
    return LATEST_VERSION
