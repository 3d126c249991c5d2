"""Version 2 -> 3: observation kinds as free text; runs and claims per region.

``inputs.kind`` loses its ``CHECK (kind IN ('alongtrack', 'sst', 'unknown'))``: the kinds of
observation files come from the observation registry in Python, so a new kind (``swot``,
``drifter``) is recorded without a schema change. The checks of the statuses stay (they are
the ledger's own vocabulary).

``claims`` get a ``region`` (:func:`varnet.operational.ledger.region_key`) and the primary key
(region, product day): several regions sharing one state folder each claim their own product
days. ``runs`` get a ``region`` too (the region whose products the run made), so that a
region's status shows its own last run. Existing claims and runs get the ledger's current
region (``meta.region``, the region of the configuration that opened it last: before version
3 a state folder served one region at a time), ``""`` where the ledger never had one.
``inputs`` stay without a region: one archived observation file serves every region whose
window reads it.

The SQL here is frozen as version 3 has it: later versions change tables in later
migrations, never here.

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import sqlite3

from varnet.operational.ledger.migrations.tables import rebuild_table

__all__ = ["m0003_free_kinds_and_regions"]

_INPUTS_V3 = """
CREATE TABLE {name} (
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
)"""

_INPUT_COLUMNS = ("id, path, original_name, kind, mission, level, data_day, production_day, "
                  "file_created, sha256, size, ingested_at, status, reason")

_INPUT_INDEXES_V3 = (
    "CREATE INDEX inputs_sha256 ON inputs (sha256)",
    "CREATE INDEX inputs_day ON inputs (data_day, status)",
    "CREATE INDEX inputs_name ON inputs (original_name)",
    "CREATE INDEX inputs_path ON inputs (path)",
)

_RUNS_V3 = """
CREATE TABLE {name} (
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
)"""

_RUN_COLUMNS = "id, kind, started, finished, status, error, host, pid, pid_start"

_CLAIMS_V3 = """
CREATE TABLE {name} (
    region TEXT NOT NULL DEFAULT '',
    product_day TEXT NOT NULL,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    pid_start TEXT,
    claimed_at TEXT NOT NULL,
    PRIMARY KEY (region, product_day)
)"""

_CLAIM_COLUMNS = "product_day, owner, host, pid, pid_start, claimed_at"


def m0003_free_kinds_and_regions(conn: sqlite3.Connection) -> None:
    """Take a ledger of version 2 to version 3 (module docstring), in the caller's
    transaction.

    Every row and id is kept; ``inputs`` and ``runs`` keep their id sequences.

    Parameters
    ----------
    conn : sqlite3.Connection
        Connection in a write transaction, foreign keys off.
    """
    row = conn.execute("SELECT value FROM meta WHERE key = 'region'").fetchone()
    region = str(row[0]) if row else ""
    rebuild_table(conn, "inputs", _INPUTS_V3, _INPUT_COLUMNS, _INPUT_COLUMNS)
    for statement in _INPUT_INDEXES_V3:
        conn.execute(statement)
    rebuild_table(conn, "runs", _RUNS_V3, f"region, {_RUN_COLUMNS}", f"?, {_RUN_COLUMNS}",
                  (region,))
    conn.execute("CREATE INDEX runs_region ON runs (region, id)")
    rebuild_table(conn, "claims", _CLAIMS_V3, f"region, {_CLAIM_COLUMNS}",
                  f"?, {_CLAIM_COLUMNS}", (region,))
