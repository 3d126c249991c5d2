"""Version 1 -> 2: products per region, one final per region and day, interrupted work.

``products``: a ``region`` (:func:`varnet.operational.ledger.region_key`) on every row and in
the uniqueness of (region, product day, production day), so that a changed region never
reuses the finals of another; at most one ``final`` row per region and product day (a unique
partial index: version 1 let a second final of a day be recorded); the statuses
``interrupted`` (its maker stopped before finishing) and ``replaced`` (a final issue replaced
by a forced re-make); ``finished_at``, the data days ``window_first``/``window_last`` whose
files can change the product (to find stale finals), ``flags`` (JSON list of sentences a
person reads); ``remake_started_at`` and ``remake_run_id`` (a re-make of a usable issue in
progress: the row keeps the old product until the new file has replaced it, so a killed
re-make loses nothing), ``replaces_id`` (the final row a forced re-make will replace).
``runs``: the status ``interrupted``, the kind ``rebuild``, ``pid_start`` (to tell a reused
pid from the process that started the run).

The SQL here is frozen as version 2 had it: later versions change tables in later
migrations, never here.

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import json
import sqlite3

from varnet.operational.ledger.schema import split_statements

__all__ = ["m0002_product_regions"]

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


def m0002_product_regions(conn: sqlite3.Connection) -> None:
    """Take a ledger of version 1 to version 2 (module docstring), in the caller's
    transaction.

    Products get the region ``""`` (unknown: made before regions were recorded; a ledger
    opened for a configuration assigns them the region of their files), failures whose error
    says "interrupted" become ``interrupted``, usable rows get ``finished_at`` (their last
    change) and the window of the data days of the inputs they used. Where version 1 let two
    finals of one day be recorded, the one of the latest production day stays final and the
    others become ``replaced``.

    Parameters
    ----------
    conn : sqlite3.Connection
        Connection in a write transaction, foreign keys off.
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
    for statement in split_statements(_PRODUCT_INDEXES_V2):
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
