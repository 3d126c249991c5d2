"""Version 1: the schema of the first operational releases (before numbered migrations).

Tables ``inputs``, ``runs``, ``products`` (one row per product day and production day),
``claims`` (one row per product day) and ``meta``. Such a file carries no version
(``PRAGMA user_version`` 0): a file holding varnet's tables but no version is of version 1.

Kept to test the migrations on a ledger of that version; no code creates it any more.

No torch here: operations hosts import this module.
"""

from __future__ import annotations

__all__ = ["SCHEMA_V1"]

#: The schema of version 1, as the first operational releases created it.
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
