"""The ledger's current SQL schema, its version, and the statuses its rows take.

A new ledger gets :data:`SCHEMA` and the version :data:`LATEST_VERSION`; an older ledger is
brought to it by the numbered migrations of :mod:`varnet.operational.ledger.migrations`
(whose docstring says what each version changed). The version is stored in SQLite's
``PRAGMA user_version`` and, for varnet releases before version 2 that read it there, in
``meta.schema_version`` (so that such a release refuses a newer ledger instead of writing
rows it no longer understands).

Observation kinds (``inputs.kind``) are free text: the kinds come from the observation
registry in Python, so a new kind needs no schema change. Statuses and run kinds are the
ledger's own vocabulary and stay checked by SQL.

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import sqlite3

__all__ = [
    "INPUT_STATUSES",
    "LATEST_VERSION",
    "PRODUCT_STATUSES",
    "RUN_KINDS",
    "RUN_STATUSES",
    "SCHEMA",
    "TABLES",
    "USABLE_STATUSES",
    "create_schema",
    "split_statements",
    "stamp",
]

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
#: Product statuses that count as a usable product (one to serve).
USABLE_STATUSES = ("ok", "final")

#: The newest schema version, the one new ledgers get.
LATEST_VERSION = 3
#: Tables every ledger has (of any version).
TABLES = ("meta", "inputs", "runs", "products", "claims")

#: The schema of version :data:`LATEST_VERSION`, as a new ledger gets it. (The migrations
#: build the same tables from older versions; a test checks that both agree.)
SCHEMA = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE inputs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL,
    original_name TEXT NOT NULL,
    kind TEXT NOT NULL,
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
CREATE INDEX inputs_sha256 ON inputs (sha256);
CREATE INDEX inputs_day ON inputs (data_day, status);
CREATE INDEX inputs_name ON inputs (original_name);
CREATE INDEX inputs_path ON inputs (path);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    region TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL CHECK (kind IN ('daily', 'reprocess', 'daemon', 'rebuild')),
    started TEXT NOT NULL,
    finished TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'interrupted')),
    error TEXT,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    pid_start TEXT
);
CREATE INDEX runs_region ON runs (region, id);
CREATE TABLE products (
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
    timings TEXT NOT NULL DEFAULT '{}',
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
);
CREATE UNIQUE INDEX products_one_final ON products (region, product_day)
    WHERE status = 'final';
CREATE INDEX products_status ON products (status, product_day);
CREATE TABLE claims (
    region TEXT NOT NULL DEFAULT '',
    product_day TEXT NOT NULL,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    pid_start TEXT,
    claimed_at TEXT NOT NULL,
    PRIMARY KEY (region, product_day)
);
"""


def split_statements(script: str) -> list[str]:
    """The statements of an SQL script without triggers (split at ``;``), stripped."""
    return [s.strip() for s in script.split(";") if s.strip()]


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the newest schema in an empty database (inside the caller's transaction) and
    stamp its version.

    Parameters
    ----------
    conn : sqlite3.Connection
        A connection to an empty database, in a transaction.
    """
    for statement in split_statements(SCHEMA):
        conn.execute(statement)
    stamp(conn, LATEST_VERSION)


def stamp(conn: sqlite3.Connection, version: int) -> None:
    """Record ``version`` as the ledger's schema version (``PRAGMA user_version`` and
    ``meta.schema_version``), inside the caller's transaction.

    Parameters
    ----------
    conn : sqlite3.Connection
        Connection in a write transaction.
    version : int
        The schema version the ledger now has.
    """
    conn.execute(f"PRAGMA user_version = {int(version)}")
    conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) "
                 "DO UPDATE SET value = excluded.value", (str(version),))
