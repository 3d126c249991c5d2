"""What migrations share: rebuilding a table SQLite cannot alter in place.

SQLite's ``ALTER TABLE`` cannot drop or change a constraint (a ``CHECK``, a primary key), so
a migration creates the new table under a temporary name, copies the rows (ids kept), drops
the old table and renames the new one (SQLite's documented procedure; the old table is never
renamed, so the foreign keys of other tables keep naming it). Indexes go with the dropped
table: the migration creates them again.

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

__all__ = ["rebuild_table"]


def rebuild_table(conn: sqlite3.Connection, name: str, create: str, columns: str,
                  select: str, args: Sequence[Any] = ()) -> None:
    """Replace table ``name`` by a new definition, keeping its rows, in the caller's
    transaction.

    An ``AUTOINCREMENT`` table keeps its sequence too, so that a new row never reuses the id
    of a deleted one.

    Parameters
    ----------
    conn : sqlite3.Connection
        Connection in a write transaction, foreign keys off.
    name : str
        The table.
    create : str
        Its new ``CREATE TABLE {name} (...)`` statement, with ``{name}`` where the name goes.
    columns : str
        The new table's columns to fill, comma-separated.
    select : str
        The expressions giving them from the old table (its columns, ``?`` for ``args``).
    args : sequence, optional
        Values of the ``?`` in ``select``.
    """
    new = f"{name}_new"
    sequence = _sequence(conn, name)
    conn.execute(create.format(name=new))
    conn.execute(f"INSERT INTO {new} ({columns}) SELECT {select} FROM {name}", tuple(args))
    conn.execute(f"DROP TABLE {name}")
    conn.execute(f"ALTER TABLE {new} RENAME TO {name}")
    if sequence is not None:
        conn.execute("DELETE FROM sqlite_sequence WHERE name = ?", (name,))
        conn.execute(f"INSERT INTO sqlite_sequence (name, seq) SELECT ?, MAX(?, "
                     f"COALESCE(MAX(rowid), 0)) FROM {name}", (name, sequence))


def _sequence(conn: sqlite3.Connection, name: str) -> int | None:
    """The ``AUTOINCREMENT`` sequence of table ``name`` (0 if unused), None if it has none."""
    has_sequences = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                 "name = 'sqlite_sequence'").fetchone()
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                       (name,)).fetchone()
    if not has_sequences or sql is None or "AUTOINCREMENT" not in str(sql[0]).upper():
        return None
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (name,)).fetchone()
    return int(row[0]) if row else 0
