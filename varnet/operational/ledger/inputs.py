"""The ledger's ``inputs``: every observation file ingest has seen, and what became of it.

Kinds are free text in the ledger (schema version 3): which kinds exist is the observation
registry's business, in Python; the ledger only checks that a kind is a short lower-case
name.

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Sequence

from varnet.operational.ledger.connection import LedgerFile
from varnet.operational.ledger.errors import LedgerError
from varnet.operational.ledger.records import InputRecord
from varnet.operational.ledger.schema import INPUT_STATUSES
from varnet.operational.ledger.times import day_text, utc_now

__all__ = ["LedgerInputs"]

#: What an observation kind looks like: a short lower-case name (it names a folder).
_KIND_RE = re.compile(r"[a-z][a-z0-9_-]{0,39}")


class LedgerInputs(LedgerFile):
    """The ledger's methods on ``inputs``, part of
    :class:`~varnet.operational.ledger.Ledger`."""

    def record_input(
        self,
        *,
        path: str | os.PathLike[str],
        original_name: str,
        kind: str,
        sha256: str,
        size: int,
        status: str,
        mission: str | None = None,
        level: str | None = None,
        data_day: dt.date | None = None,
        production_day: dt.date | None = None,
        file_created: str | None = None,
        reason: str | None = None,
        ingested_at: str | None = None,
    ) -> InputRecord:
        """Add one input file to ``inputs``.

        Parameters
        ----------
        path : str or os.PathLike
            Where the file lies now (archive or quarantine).
        original_name : str
            Its name in the inbox.
        kind : str
            Observation kind (``"alongtrack"``, ``"sst"``, ``"unknown"``, or any kind of
            the observation registry): a short name, lower-case letters, digits, ``_`` and
            ``-`` (it names the kind's archive folder).
        sha256 : str
            Hex SHA-256 of its bytes.
        size : int
            Size in bytes.
        status : {"ok", "quarantined", "superseded"}
        mission, level : str, optional
            Along-track mission, GHRSST level.
        data_day, production_day : datetime.date, optional
            From the file name (production day: or the file's ``date_created``).
        file_created : str, optional
            The file's ``date_created`` attribute.
        reason : str, optional
            Why it was quarantined.
        ingested_at : str, optional
            UTC timestamp; now by default.

        Returns
        -------
        InputRecord
            The new row.

        Raises
        ------
        LedgerError
            If the kind is not a short lower-case name or the status is not one of
            :data:`~varnet.operational.ledger.schema.INPUT_STATUSES`.
        """
        if not isinstance(kind, str) or not _KIND_RE.fullmatch(kind):
            raise LedgerError(f"input kind must be a short lower-case name (letters, digits, "
                              f"'_', '-'), got {kind!r}")
        if status not in INPUT_STATUSES:
            raise LedgerError(f"input status must be one of {INPUT_STATUSES}, got {status!r}")
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO inputs (path, original_name, kind, mission, level, data_day, "
                "production_day, file_created, sha256, size, ingested_at, status, reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (os.fspath(path), original_name, kind, mission, level, day_text(data_day),
                 day_text(production_day), file_created, sha256, int(size),
                 ingested_at or utc_now(), status, reason),
            )
            row = conn.execute("SELECT * FROM inputs WHERE id = ?", (cur.lastrowid,)).fetchone()
        return InputRecord.from_row(row)

    def set_input_status(
        self, input_id: int, status: str, *, reason: str | None = None,
        path: str | os.PathLike[str] | None = None,
    ) -> None:
        """Change the status (and optionally the path) of one input, e.g. to ``superseded``.

        Parameters
        ----------
        input_id : int
            ``InputRecord.id``.
        status : {"ok", "quarantined", "superseded"}
        reason : str, optional
            Why; replaces the previous reason.
        path : str or os.PathLike, optional
            The file's new place, if it moved.
        """
        if status not in INPUT_STATUSES:
            raise LedgerError(f"input status must be one of {INPUT_STATUSES}, got {status!r}")
        with self.transaction() as conn:
            conn.execute("UPDATE inputs SET status = ?, reason = ?, path = COALESCE(?, path) "
                         "WHERE id = ?",
                         (status, reason, os.fspath(path) if path else None, input_id))

    def find_inputs(
        self,
        *,
        sha256: str | None = None,
        original_name: str | None = None,
        path: str | os.PathLike[str] | None = None,
        kind: str | None = None,
        mission: str | None = None,
        data_day: dt.date | None = None,
        status: str | Sequence[str] | None = None,
    ) -> list[InputRecord]:
        """Inputs matching every given criterion, oldest first.

        Parameters
        ----------
        sha256, original_name, path, kind, mission : str, optional
            Exact values to match.
        data_day : datetime.date, optional
            Data day to match.
        status : str or sequence of str, optional
            Status or statuses to match.

        Returns
        -------
        list of InputRecord
        """
        where, args = [], []
        for column, value in (("sha256", sha256), ("original_name", original_name),
                              ("path", os.fspath(path) if path is not None else None),
                              ("kind", kind), ("mission", mission),
                              ("data_day", day_text(data_day))):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if status is not None:
            statuses = (status,) if isinstance(status, str) else tuple(status)
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            args.extend(statuses)
        sql = "SELECT * FROM inputs" + (" WHERE " + " AND ".join(where) if where else "")
        return [InputRecord.from_row(r) for r in self._query(sql + " ORDER BY id", args)]

    def inputs_for_days(
        self, first: dt.date, last: dt.date, *, kind: str | None = None,
        status: str | Sequence[str] | None = "ok",
    ) -> list[InputRecord]:
        """Inputs whose data day lies in ``[first, last]`` (inclusive).

        Parameters
        ----------
        first, last : datetime.date
            The days (UTC).
        kind : str, optional
            Only this observation kind (e.g. ``"alongtrack"``, ``"sst"``).
        status : str or sequence of str or None, optional
            Only these statuses; ``"ok"`` (default) gives the files in use (one per mission
            and day for along-track, the latest production); None gives every status.

        Returns
        -------
        list of InputRecord
            Sorted by data day, kind, mission and name.
        """
        where, args = ["data_day BETWEEN ? AND ?"], [day_text(first), day_text(last)]
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        if status is not None:
            statuses = (status,) if isinstance(status, str) else tuple(status)
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            args.extend(statuses)
        rows = self._query("SELECT * FROM inputs WHERE " + " AND ".join(where) +
                           " ORDER BY data_day, kind, mission, original_name, id", args)
        return [InputRecord.from_row(r) for r in rows]
