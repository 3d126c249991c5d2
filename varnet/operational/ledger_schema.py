"""The ledger's SQL schema, its version, and the numbered migrations between versions.

The schema version of a ledger file is stored in SQLite's ``PRAGMA user_version`` (and, for
varnet releases before version 2 that read it there, in ``meta.schema_version``, so that such
a release refuses a newer ledger instead of writing rows it no longer understands). A file
holding varnet's tables but no version (``user_version`` 0) is of version 1, the schema of
the first operational releases (:data:`SCHEMA_V1`).

Versions:

1. ``inputs``, ``runs``, ``products`` (one row per product day and production day),
   ``claims``, ``meta``.
2. ``products``: a ``region`` (:func:`varnet.operational.ledger.region_key`) on every row and
   in the uniqueness of (region, product day, production day); at most one ``final`` row per
   region and product day (a unique partial index); the statuses ``interrupted`` (its maker
   stopped before finishing) and ``replaced`` (a final issue replaced by a forced re-make);
   ``finished_at``, the data days ``window_first``/``window_last`` whose files can change the
   product, ``flags`` (JSON list of sentences a person reads); ``remake_started_at`` and
   ``remake_run_id`` (a re-make of a usable issue in progress: the row keeps the old product
   until the new file has replaced it), ``replaces_id`` (the final row a forced re-make will
   replace). ``runs``: the status ``interrupted``, the kind ``rebuild``, ``pid_start``.

:func:`migrate` applies :data:`MIGRATIONS` in order, all in one transaction, so a ledger is
either fully migrated or left as it was.

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

__all__ = [
    "INPUT_KINDS",
    "INPUT_STATUSES",
    "LATEST_VERSION",
    "MIGRATIONS",
    "PRODUCT_STATUSES",
    "RUN_KINDS",
    "RUN_STATUSES",
    "SCHEMA",
    "SCHEMA_V1",
    "TABLES",
    "create_schema",
    "migrate",
]

#: Kinds of input files (``unknown``: a name ingest did not recognise).
INPUT_KINDS = ("alongtrack", "sst", "unknown")
#: ``ok``: archived and in use; ``quarantined``: rejected; ``superseded``: replaced by a later
#: production of the same data.
INPUT_STATUSES = ("ok", "quarantined", "superseded")
#: Kinds of runs (``rebuild``: ``varnet-ops ledger rebuild``).
RUN_KINDS = ("daily", "reprocess", "daemon", "rebuild")
#: ``running`` until :meth:`~varnet.operational.ledger.Ledger.finish_run` says ``ok`` or
#: ``failed``; ``interrupted``: its process died while it ran.
RUN_STATUSES = ("running", "ok", "failed", "interrupted")
#: ``in-progress`` (being made), ``ok``, ``failed``, ``final`` (the last issue of its day; no
#: re-issue will follow), ``interrupted`` (its maker stopped before finishing), ``replaced``
#: (a final issue replaced by a forced re-make of another production day).
PRODUCT_STATUSES = ("in-progress", "ok", "failed", "final", "interrupted", "replaced")

#: The newest schema version, the one new ledgers get.
LATEST_VERSION = 2
#: Tables every ledger has (of any version).
TABLES = ("meta", "inputs", "runs", "products", "claims")

#: The schema of version 1, as the first operational releases created it (kept to test the
#: migrations on a ledger of that version).
SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS inputs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL,
    original_name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('alongtrack', 'sst', 'unknown')),
    mission TEXT,
    level TEXT,
    data_day TEXT,
    production_day TEXT,
    file_created TEXT,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    ingested_at TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'quarantined', 'superseded')),
    reason TEXT
);
CREATE INDEX IF NOT EXISTS inputs_sha256 ON inputs (sha256);
CREATE INDEX IF NOT EXISTS inputs_day ON inputs (data_day, status);
CREATE INDEX IF NOT EXISTS inputs_name ON inputs (original_name);
CREATE INDEX IF NOT EXISTS inputs_path ON inputs (path);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('daily', 'reprocess', 'daemon')),
    started TEXT NOT NULL,
    finished TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'ok', 'failed')),
    error TEXT,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS products (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    product_day TEXT NOT NULL,
    production_day TEXT NOT NULL,
    run_id INTEGER REFERENCES runs (id),
    path TEXT,
    status TEXT NOT NULL CHECK (status IN ('in-progress', 'ok', 'failed', 'final')),
    inputs_used TEXT NOT NULL DEFAULT '[]',
    model_checksum TEXT,
    timings TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 1,
    started_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (product_day, production_day)
);
CREATE TABLE IF NOT EXISTS claims (
    product_day TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    pid_start TEXT,
    claimed_at TEXT NOT NULL
);
"""

_RUNS_V2 = """
CREATE TABLE {name} (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('daily', 'reprocess', 'daemon', 'rebuild')),
    started TEXT NOT NULL,
    finished TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'interrupted')),
    error TEXT,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    pid_start TEXT
)"""

_PRODUCTS_V2 = """
CREATE TABLE {name} (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    region TEXT NOT NULL DEFAULT '',
    product_day TEXT NOT NULL,
    production_day TEXT NOT NULL,
    run_id INTEGER REFERENCES runs (id),
    path TEXT,
    status TEXT NOT NULL CHECK (status IN ('in-progress', 'ok', 'failed', 'final',
                                           'interrupted', 'replaced')),
    inputs_used TEXT NOT NULL DEFAULT '[]',
    model_checksum TEXT,
    timings TEXT NOT NULL DEFAULT '{{}}',
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 1,
    started_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    finished_at TEXT,
    window_first TEXT,
    window_last TEXT,
    flags TEXT NOT NULL DEFAULT '[]',
    remake_started_at TEXT,
    remake_run_id INTEGER REFERENCES runs (id),
    replaces_id INTEGER,
    UNIQUE (region, product_day, production_day)
)"""

#: Indexes of version 2's products: one final per region and product day.
_PRODUCT_INDEXES_V2 = """
CREATE UNIQUE INDEX products_one_final ON products (region, product_day)
    WHERE status = 'final';
CREATE INDEX products_status ON products (status, product_day)
"""

#: The newest schema (:data:`LATEST_VERSION`), as a new ledger gets it.
SCHEMA = "\n".join([
    SCHEMA_V1.split("CREATE TABLE IF NOT EXISTS runs")[0],
    _RUNS_V2.format(name="runs") + ";",
    _PRODUCTS_V2.format(name="products") + ";",
    _PRODUCT_INDEXES_V2 + ";",
    "CREATE TABLE IF NOT EXISTS claims" + SCHEMA_V1.split("CREATE TABLE IF NOT EXISTS claims")[1],
])


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the newest schema in an empty database (inside the caller's transaction) and
    stamp its version.

    Parameters
    ----------
    conn : sqlite3.Connection
        A connection to an empty database, in a transaction.
    """
    for statement in _statements(SCHEMA):
        conn.execute(statement)
    _stamp(conn, LATEST_VERSION)


def _stamp(conn: sqlite3.Connection, version: int) -> None:
    conn.execute(f"PRAGMA user_version = {int(version)}")
    conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) "
                 "DO UPDATE SET value = excluded.value", (str(version),))


# --------------------------------------------------------------------------------------------
# migrations


def _migrate_1_to_2(conn: sqlite3.Connection) -> None:
    """Version 1 -> 2 (module docstring).

    Products get the region ``""`` (unknown: made before regions were recorded; a ledger
    opened for a configuration assigns them the region of their files), failures whose error
    says "interrupted" become ``interrupted``, usable rows get ``finished_at`` (their last
    change) and the window of the data days of the inputs they used. Where version 1 let two
    finals of one day be recorded, the one of the latest production day stays final and the
    others become ``replaced``.
    """
    conn.execute(_RUNS_V2.format(name="runs_v2"))
    conn.execute("INSERT INTO runs_v2 (id, kind, started, finished, status, error, host, pid) "
                 "SELECT id, kind, started, finished, status, error, host, pid FROM runs")
    conn.execute("DROP TABLE runs")
    conn.execute("ALTER TABLE runs_v2 RENAME TO runs")

    conn.execute(_PRODUCTS_V2.format(name="products_v2"))
    conn.execute(
        "INSERT INTO products_v2 (id, region, product_day, production_day, run_id, path, "
        "status, inputs_used, model_checksum, timings, error, attempts, started_at, updated_at, "
        "finished_at) SELECT id, '', product_day, production_day, run_id, path, "
        "CASE WHEN status = 'failed' AND error LIKE 'interrupted%' THEN 'interrupted' "
        "ELSE status END, inputs_used, model_checksum, timings, error, attempts, started_at, "
        "updated_at, CASE WHEN status IN ('ok', 'final') THEN updated_at END FROM products")
    conn.execute("DROP TABLE products")
    conn.execute("ALTER TABLE products_v2 RENAME TO products")
    conn.execute(
        "UPDATE products SET status = 'replaced', error = 'replaced: a final of a later "
        "production day of the same product day exists (found by the migration to ledger "
        "schema 2)' WHERE status = 'final' AND EXISTS (SELECT 1 FROM products q WHERE "
        "q.status = 'final' AND q.product_day = products.product_day AND q.production_day > "
        "products.production_day)")
    for statement in _statements(_PRODUCT_INDEXES_V2):
        conn.execute(statement)
    _fill_windows(conn)


def _fill_windows(conn: sqlite3.Connection) -> None:
    """Set the window of usable products from the data days of the inputs they used."""
    days = {row[0]: row[1] for row in conn.execute(
        "SELECT sha256, MIN(data_day) FROM inputs WHERE data_day IS NOT NULL GROUP BY sha256")}
    rows = conn.execute("SELECT id, inputs_used FROM products WHERE status IN "
                        "('ok', 'final', 'replaced')").fetchall()
    for product_id, used in rows:
        try:
            refs = json.loads(used)
        except ValueError:
            continue
        found = sorted(days[r["sha256"]] for r in refs
                       if isinstance(r, dict) and r.get("sha256") in days)
        if found:
            conn.execute("UPDATE products SET window_first = ?, window_last = ? WHERE id = ?",
                         (found[0], found[-1], product_id))


#: ``MIGRATIONS[n]`` takes a ledger of version ``n`` to ``n + 1``.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _migrate_1_to_2}


def migrate(conn: sqlite3.Connection, version: int) -> int:
    """Apply the migrations from ``version`` to :data:`LATEST_VERSION` in the caller's
    transaction, stamping the new version.

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
        The version reached (:data:`LATEST_VERSION`).

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
    _stamp(conn, LATEST_VERSION)
    return LATEST_VERSION
