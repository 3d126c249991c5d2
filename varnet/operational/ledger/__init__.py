"""The SQLite ledger of operations: the one source of truth for what exists.

One file, ``{paths.state}/ledger.sqlite``, records

- ``inputs``: every observation file ingest has seen, of any observation kind (free text),
  archived (``ok``), set aside (``quarantined``) or replaced by a later production of the
  same data (``superseded``), with its SHA-256 and the reason of a rejection;
- ``runs``: every daily, reprocess, daemon or rebuild run of a region, when it started and
  ended and how (``interrupted`` when its process died while it ran);
- ``products``: one row per (region, product day, production day) attempt, ``in-progress``
  while it is made, then ``ok``, ``failed``, ``interrupted`` or ``final`` (the last issue of a
  day; at most one per region and day), with the inputs it was made from (JSON), the data
  days whose files can change it, the model checksum and timings (JSON);
- ``claims``: which process is making which product day of which region right now.

Several processes (the daemon, a reprocess pool, Dask workers on the same file system) may use
the ledger at once: it runs in WAL mode with a busy timeout, every write is one short
``BEGIN IMMEDIATE`` transaction, and a product day of a region is made by one writer at a
time through :meth:`Ledger.claim`. A claim whose owner process has died on this host is taken over.
:class:`InstanceLock` keeps a second daemon from starting.

**The ledger is guarded.** Opening it checks what the file is before SQLite may touch it: a
missing file is created (atomically, so two processes starting at once share one) only where
the state is new (:meth:`Ledger.for_config` refuses when the archive or the products folder
already hold files); an empty file, a file that is not SQLite, an SQLite database without
varnet's tables, or one that fails SQLite's ``PRAGMA quick_check`` is refused with a
:class:`LedgerError` saying what it is and how to rebuild the ledger from the archive and the
products (``varnet-ops ledger rebuild``, :mod:`varnet.operational.rebuild`). Its schema
version (``PRAGMA user_version``) is brought to the newest by the numbered migrations of
:mod:`varnet.operational.ledger.migrations`, in one transaction. Any later SQLite failure is a
:class:`LedgerError` too, never a bare ``sqlite3`` error.

**Products, runs and claims belong to a region** (:func:`region_key`: the product name, grid
origin, resolution and shape): every product query of a :class:`Ledger` sees only its
region's rows, so a changed region never reuses the finals of another, and several regions
can share one state folder (and its archive of inputs).

**Finals stay true.** Re-making a usable issue (a ``--force`` re-make of a final day) keeps its
row, file path and inputs until the new file has replaced it: a re-make killed midway leaves
the old product recorded (:meth:`Ledger.start_product`). A final of another production day is
replaced only when the re-make said so (``replace_final``); otherwise a second final of a day
is refused. A final whose window received a file after it was made, or one of whose inputs was
superseded, is *stale* (:meth:`Ledger.stale_finals`).

Timestamps are UTC ISO 8601 strings with microseconds and a ``Z``
(``2024-05-01T06:30:00.000000Z``), so that they sort as text; days are ISO dates
(``2024-05-01``).

The package, one job per module: :mod:`~varnet.operational.ledger.core` (the :class:`Ledger`,
built from :mod:`~varnet.operational.ledger.connection`, ``inputs``, ``runs``, ``claims``,
``products`` and ``freshness``), :mod:`~varnet.operational.ledger.records` (the rows as
dataclasses), :mod:`~varnet.operational.ledger.schema` (the current SQL schema and
vocabularies), :mod:`~varnet.operational.ledger.migrations` (the numbered migrations),
:mod:`~varnet.operational.ledger.regions`, :mod:`~varnet.operational.ledger.locks`,
:mod:`~varnet.operational.ledger.processes`, :mod:`~varnet.operational.ledger.times` and
:mod:`~varnet.operational.ledger.errors`. This module gathers the public names.

No torch here: operations hosts import this package.
"""

from __future__ import annotations

from varnet.operational.ledger.core import Ledger
from varnet.operational.ledger.errors import REBUILD_HINT, LedgerError, LockHeldError
from varnet.operational.ledger.locks import InstanceLock, daemon_lock
from varnet.operational.ledger.processes import pid_alive
from varnet.operational.ledger.records import (
    Claim,
    InputRecord,
    ProductRecord,
    RunRecord,
    StaleFinal,
)
from varnet.operational.ledger.regions import (
    config_region_key,
    product_file_region,
    region_key,
)
from varnet.operational.ledger.schema import (
    INPUT_STATUSES,
    PRODUCT_STATUSES,
    RUN_KINDS,
    RUN_STATUSES,
)
from varnet.operational.ledger.times import parse_timestamp, utc_now, utc_timestamp

__all__ = [
    "INPUT_STATUSES",
    "PRODUCT_STATUSES",
    "REBUILD_HINT",
    "RUN_KINDS",
    "RUN_STATUSES",
    "Claim",
    "InputRecord",
    "InstanceLock",
    "Ledger",
    "LedgerError",
    "LockHeldError",
    "ProductRecord",
    "RunRecord",
    "StaleFinal",
    "config_region_key",
    "daemon_lock",
    "parse_timestamp",
    "pid_alive",
    "product_file_region",
    "region_key",
    "utc_now",
    "utc_timestamp",
]
