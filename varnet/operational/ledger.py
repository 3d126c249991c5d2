"""The SQLite ledger of operations: the one source of truth for what exists.

One file, ``{paths.state}/ledger.sqlite``, records

- ``inputs``: every observation file ingest has seen, archived (``ok``), set aside
  (``quarantined``) or replaced by a later production of the same data (``superseded``), with
  its SHA-256 and the reason of a rejection;
- ``runs``: every daily, reprocess or daemon run, when it started and ended and how;
- ``products``: one row per (product day, production day) attempt, ``in-progress`` while it
  is made, then ``ok``, ``failed`` or ``final`` (the last issue of a day), with the inputs it
  was made from (JSON), the model checksum and timings (JSON);
- ``claims``: which process is making which product day right now.

Several processes (the daemon, a reprocess pool, Dask workers on the same file system) may use
the ledger at once: it runs in WAL mode with a busy timeout, every write is one short
``BEGIN IMMEDIATE`` transaction, and a product day is made by one writer at a time through
:meth:`Ledger.claim`. A claim whose owner process has died on this host is taken over.
:class:`InstanceLock` keeps a second daemon from starting.

Timestamps are UTC ISO 8601 strings with microseconds and a ``Z`` (``2024-05-01T06:30:00.000000Z``),
so that they sort as text; days are ISO dates (``2024-05-01``).

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from varnet.errors import EXIT_LEDGER, EXIT_LOCKED, VarnetError

if TYPE_CHECKING:
    from varnet.operational.config import OpsConfig

__all__ = [
    "INPUT_KINDS",
    "INPUT_STATUSES",
    "PRODUCT_STATUSES",
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
    "daemon_lock",
    "utc_now",
]

log = logging.getLogger("varnet.ops.ledger")

#: Kinds of input files (``unknown``: a name ingest did not recognise).
INPUT_KINDS = ("alongtrack", "sst", "unknown")
#: ``ok``: archived and in use; ``quarantined``: rejected; ``superseded``: replaced by a later
#: production of the same data.
INPUT_STATUSES = ("ok", "quarantined", "superseded")
#: Kinds of runs.
RUN_KINDS = ("daily", "reprocess", "daemon")
#: ``running`` until :meth:`Ledger.finish_run` says ``ok`` or ``failed``.
RUN_STATUSES = ("running", "ok", "failed")
#: ``in-progress`` (being made, or interrupted), ``ok``, ``failed``, ``final`` (the last issue
#: of its day; no re-issue will follow).
PRODUCT_STATUSES = ("in-progress", "ok", "failed", "final")
#: Connections inherited through fork: kept referenced so that the child never closes (and so
#: never checkpoints or unlocks) a connection of its parent.
_INHERITED: list[sqlite3.Connection] = []
#: Product statuses that count as a usable product.
_GOOD = ("ok", "final")

_SCHEMA_VERSION = 1
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS inputs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL,
    original_name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN {INPUT_KINDS}),
    mission TEXT,
    level TEXT,
    data_day TEXT,
    production_day TEXT,
    file_created TEXT,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    ingested_at TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN {INPUT_STATUSES}),
    reason TEXT
);
CREATE INDEX IF NOT EXISTS inputs_sha256 ON inputs (sha256);
CREATE INDEX IF NOT EXISTS inputs_day ON inputs (data_day, status);
CREATE INDEX IF NOT EXISTS inputs_name ON inputs (original_name);
CREATE INDEX IF NOT EXISTS inputs_path ON inputs (path);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN {RUN_KINDS}),
    started TEXT NOT NULL,
    finished TEXT,
    status TEXT NOT NULL CHECK (status IN {RUN_STATUSES}),
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
    status TEXT NOT NULL CHECK (status IN {PRODUCT_STATUSES}),
    inputs_used TEXT NOT NULL DEFAULT '[]',
    model_checksum TEXT,
    timings TEXT NOT NULL DEFAULT '{{}}',
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


class LedgerError(VarnetError, RuntimeError):
    """The ledger cannot be opened, or a call breaks its rules (e.g. no claim held)."""

    exit_code = EXIT_LEDGER
    what = "ledger"


class LockHeldError(VarnetError, RuntimeError):
    """Another process holds a single-instance lock.

    Attributes
    ----------
    lock_path : pathlib.Path
        The lock file.
    holder_pid : int or None
        Process id of the holder, as it recorded it (None if unreadable).
    """

    exit_code = EXIT_LOCKED

    def __init__(self, lock_path: Path, holder_pid: int | None, message: str) -> None:
        self.lock_path = lock_path
        self.holder_pid = holder_pid
        super().__init__(message)


# --------------------------------------------------------------------------------------------
# times, hosts and processes


def utc_now() -> str:
    """The current time as a ledger timestamp, e.g. ``"2024-05-01T06:30:00.000000Z"``."""
    return utc_timestamp(dt.datetime.now(dt.UTC))


def utc_timestamp(moment: dt.datetime) -> str:
    """A datetime as a ledger timestamp (UTC, microseconds, ``Z``); naive means UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> dt.datetime:
    """A ledger timestamp back to an aware UTC datetime."""
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


def _day(value: dt.date | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        value = value.date()
    return value.isoformat() if isinstance(value, dt.date) else dt.date.fromisoformat(
        value).isoformat()


def _date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def _hostname() -> str:
    return socket.gethostname()


def _process_stat(pid: int) -> list[str]:
    """Fields of ``/proc/{pid}/stat`` after the command name (state first), [] where unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        return []
    return stat.rpartition(")")[2].split()


def _process_start(pid: int, fields: list[str] | None = None) -> str | None:
    """Start time of process ``pid`` (clock ticks since boot, Linux), None where unknown."""
    fields = _process_stat(pid) if fields is None else fields
    return fields[19] if len(fields) > 19 else None


def pid_alive(pid: int, start: str | None = None) -> bool:
    """Whether process ``pid`` runs on this host (and is the one that started at ``start``).

    Parameters
    ----------
    pid : int
        Process id.
    start : str, optional
        Start time recorded for it (see :func:`_process_start`); a different start time means
        the id was reused by another process, so the recorded process is dead.

    Returns
    -------
    bool
        False if no such process exists, it is a zombie, or its start time differs.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    except OSError as exc:
        return exc.errno != errno.ESRCH
    fields = _process_stat(pid)
    if fields[:1] in (["Z"], ["X"]):
        return False
    if start is not None:
        now = _process_start(pid, fields)
        if now is not None and now != start:
            return False
    return True


# --------------------------------------------------------------------------------------------
# records


@dataclass(frozen=True)
class InputRecord:
    """One row of ``inputs``: an observation file ingest has handled.

    Attributes
    ----------
    id : int
    path : str
        Where the file lies now (archive or quarantine), absolute.
    original_name : str
        Its name in the inbox.
    kind : {"alongtrack", "sst", "unknown"}
    mission : str or None
        Along-track mission short name.
    level : str or None
        GHRSST processing level (L4, L3S, L3C, L3U).
    data_day : datetime.date or None
        Day (UTC) the data cover, from the file name.
    production_day : datetime.date or None
        Production day: from the name (along-track), else the file's ``date_created``.
    file_created : str or None
        The file's ``date_created`` attribute, as written.
    sha256 : str
        Hex SHA-256 of the file's bytes.
    size : int
        Size in bytes.
    ingested_at : str
        When ingest handled it (UTC timestamp).
    status : {"ok", "quarantined", "superseded"}
    reason : str or None
        Why it was quarantined or superseded.
    """

    id: int
    path: str
    original_name: str
    kind: str
    mission: str | None
    level: str | None
    data_day: dt.date | None
    production_day: dt.date | None
    file_created: str | None
    sha256: str
    size: int
    ingested_at: str
    status: str
    reason: str | None

    @classmethod
    def _from_row(cls, row: sqlite3.Row) -> InputRecord:
        return cls(
            id=row["id"], path=row["path"], original_name=row["original_name"],
            kind=row["kind"], mission=row["mission"], level=row["level"],
            data_day=_date(row["data_day"]), production_day=_date(row["production_day"]),
            file_created=row["file_created"], sha256=row["sha256"], size=row["size"],
            ingested_at=row["ingested_at"], status=row["status"], reason=row["reason"],
        )

    def reference(self) -> dict[str, str]:
        """The JSON form stored in a product's ``inputs_used``: name, path and sha256."""
        return {"name": self.original_name, "path": self.path, "sha256": self.sha256}


@dataclass(frozen=True)
class RunRecord:
    """One row of ``runs``. Timestamps are UTC ledger timestamps."""

    id: int
    kind: str
    started: str
    finished: str | None
    status: str
    error: str | None
    host: str
    pid: int

    @classmethod
    def _from_row(cls, row: sqlite3.Row) -> RunRecord:
        return cls(**{k: row[k] for k in row.keys()})


@dataclass(frozen=True)
class ProductRecord:
    """One row of ``products``: an attempt at the product of one day on one production day.

    Attributes
    ----------
    id : int
    product_day : datetime.date
        Day the product maps.
    production_day : datetime.date
        Day it was made (its issue).
    run_id : int or None
        The run that made it.
    path : str or None
        The product file (None until it exists).
    status : {"in-progress", "ok", "failed", "final"}
    inputs_used : tuple of dict
        The input files it was made from (``name``, ``path``, ``sha256`` each).
    model_checksum : str or None
        Checksum of the ONNX model used.
    timings : dict
        Seconds spent per stage, as the producer recorded them.
    error : str or None
        Why it failed.
    attempts : int
        How many times this (product day, production day) was started.
    started_at, updated_at : str
        UTC timestamps of the latest start and of the latest change.
    """

    id: int
    product_day: dt.date
    production_day: dt.date
    run_id: int | None
    path: str | None
    status: str
    inputs_used: tuple[dict[str, str], ...]
    model_checksum: str | None
    timings: dict[str, Any]
    error: str | None
    attempts: int
    started_at: str
    updated_at: str

    @classmethod
    def _from_row(cls, row: sqlite3.Row) -> ProductRecord:
        return cls(
            id=row["id"], product_day=dt.date.fromisoformat(row["product_day"]),
            production_day=dt.date.fromisoformat(row["production_day"]), run_id=row["run_id"],
            path=row["path"], status=row["status"],
            inputs_used=tuple(json.loads(row["inputs_used"])),
            model_checksum=row["model_checksum"], timings=json.loads(row["timings"]),
            error=row["error"], attempts=row["attempts"], started_at=row["started_at"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True)
class Claim:
    """One row of ``claims``: the process making a product day right now."""

    product_day: dt.date
    owner: str
    host: str
    pid: int
    pid_start: str | None
    claimed_at: str

    @classmethod
    def _from_row(cls, row: sqlite3.Row) -> Claim:
        return cls(product_day=dt.date.fromisoformat(row["product_day"]), owner=row["owner"],
                   host=row["host"], pid=row["pid"], pid_start=row["pid_start"],
                   claimed_at=row["claimed_at"])


# --------------------------------------------------------------------------------------------
# the ledger


class Ledger:
    """The operations ledger in one SQLite file.

    Each thread using the object gets its own SQLite connection, and after a fork (or
    unpickling in another process) the object reconnects on first use. Each object is one
    claim owner (``owner``: host, pid and a random token; a new one after a fork), so two
    ledger objects never share a claim; the threads of one object do.

    Parameters
    ----------
    path : str or os.PathLike
        The SQLite file; it and its folder are created if missing.
    busy_timeout_s : float, optional
        How long a statement waits for another writer's lock before failing, seconds.

    Raises
    ------
    LedgerError
        If the file cannot be opened or is not a varnet ledger.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path).absolute()
        self.busy_timeout_s = float(busy_timeout_s)
        self.host = _hostname()
        self._pid = os.getpid()
        self._owner = self._new_owner()
        self._local = threading.local()
        self._connect()

    @property
    def owner(self) -> str:
        """This object's claim-owner token, ``host:pid:random`` (new after a fork)."""
        self._thread_state()
        return self._owner

    @classmethod
    def for_config(cls, config: OpsConfig, **kwargs: Any) -> Ledger:
        """The ledger of a configuration, ``{paths.state}/ledger.sqlite``."""
        return cls(config.paths.ledger_file, **kwargs)

    # -- connection ---------------------------------------------------------------------------

    def _new_owner(self) -> str:
        return f"{self.host}:{os.getpid()}:{uuid.uuid4().hex[:12]}"

    def _thread_state(self) -> threading.local:
        """This thread's connection state; after a fork, a fresh owner and no connection."""
        if self._pid != os.getpid():
            inherited = getattr(self._local, "conn", None)
            if inherited is not None:  # the parent's: never use nor close it here
                _INHERITED.append(inherited)
            self._pid = os.getpid()
            self._owner = self._new_owner()  # never the parent's claims
            self._local = threading.local()
        return self._local

    def _connect(self) -> sqlite3.Connection:
        """This thread's connection (each thread of a process gets its own)."""
        local = self._thread_state()
        conn = getattr(local, "conn", None)
        if conn is not None:
            return conn
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s,
                                   isolation_level=None, check_same_thread=True)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("%s: SQLite refused WAL mode (journal_mode=%s); concurrent "
                            "writers will wait longer", self.path, mode)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            local.conn, local.depth = conn, 0
            self._init_schema()
        except sqlite3.DatabaseError as exc:
            self._drop(local)
            raise LedgerError(f"{self.path}: cannot open the ledger ({exc}); is it a varnet "
                              "ledger on a local file system?") from None
        except BaseException:
            self._drop(local)
            raise
        return conn

    @staticmethod
    def _drop(local: threading.local) -> None:
        conn = getattr(local, "conn", None)
        local.conn = None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def _init_schema(self) -> None:
        with self.transaction() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)",
                             (str(_SCHEMA_VERSION),))
            elif int(row["value"]) > _SCHEMA_VERSION:
                raise LedgerError(f"{self.path}: ledger schema version {row['value']} is newer "
                                  f"than this varnet understands ({_SCHEMA_VERSION}); upgrade")

    def close(self) -> None:
        """Close this thread's connection (the object reconnects if used again)."""
        if self._pid == os.getpid():
            self._drop(self._local)

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:  # picklable: reconnects in the other process
        return {"path": self.path, "busy_timeout_s": self.busy_timeout_s}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], busy_timeout_s=state["busy_timeout_s"])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``); nested uses join the outer one.

        Keep it short: other writers wait while it is open. Leaving the block with an
        exception rolls everything back.

        Yields
        ------
        sqlite3.Connection
            This thread's connection, to execute statements on.
        """
        conn = self._connect()
        local = self._local
        if local.depth:
            local.depth += 1
            try:
                yield conn
            finally:
                local.depth -= 1
            return
        conn.execute("BEGIN IMMEDIATE")
        local.depth = 1
        try:
            yield conn
        except BaseException:
            local.depth = 0
            conn.execute("ROLLBACK")
            raise
        local.depth = 0
        conn.execute("COMMIT")

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self._connect().execute(sql, tuple(args)).fetchall()

    # -- inputs -------------------------------------------------------------------------------

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
        kind : {"alongtrack", "sst", "unknown"}
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
        """
        if kind not in INPUT_KINDS:
            raise LedgerError(f"input kind must be one of {INPUT_KINDS}, got {kind!r}")
        if status not in INPUT_STATUSES:
            raise LedgerError(f"input status must be one of {INPUT_STATUSES}, got {status!r}")
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO inputs (path, original_name, kind, mission, level, data_day, "
                "production_day, file_created, sha256, size, ingested_at, status, reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (os.fspath(path), original_name, kind, mission, level, _day(data_day),
                 _day(production_day), file_created, sha256, int(size),
                 ingested_at or utc_now(), status, reason),
            )
            row = conn.execute("SELECT * FROM inputs WHERE id = ?", (cur.lastrowid,)).fetchone()
        return InputRecord._from_row(row)

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
                              ("data_day", _day(data_day))):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if status is not None:
            statuses = (status,) if isinstance(status, str) else tuple(status)
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            args.extend(statuses)
        sql = "SELECT * FROM inputs" + (" WHERE " + " AND ".join(where) if where else "")
        return [InputRecord._from_row(r) for r in self._query(sql + " ORDER BY id", args)]

    def inputs_for_days(
        self, first: dt.date, last: dt.date, *, kind: str | None = None,
        status: str | Sequence[str] | None = "ok",
    ) -> list[InputRecord]:
        """Inputs whose data day lies in ``[first, last]`` (inclusive).

        Parameters
        ----------
        first, last : datetime.date
            The days (UTC).
        kind : {"alongtrack", "sst"}, optional
            Only this kind.
        status : str or sequence of str or None, optional
            Only these statuses; ``"ok"`` (default) gives the files in use (one per mission
            and day for along-track, the latest production); None gives every status.

        Returns
        -------
        list of InputRecord
            Sorted by data day, kind, mission and name.
        """
        where, args = ["data_day BETWEEN ? AND ?"], [_day(first), _day(last)]
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        if status is not None:
            statuses = (status,) if isinstance(status, str) else tuple(status)
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            args.extend(statuses)
        rows = self._query("SELECT * FROM inputs WHERE " + " AND ".join(where) +
                           " ORDER BY data_day, kind, mission, original_name, id", args)
        return [InputRecord._from_row(r) for r in rows]

    # -- runs ---------------------------------------------------------------------------------

    def start_run(self, kind: str) -> int:
        """Record the start of a run.

        Parameters
        ----------
        kind : {"daily", "reprocess", "daemon"}

        Returns
        -------
        int
            The run id, for :meth:`finish_run` and :meth:`start_product`.
        """
        if kind not in RUN_KINDS:
            raise LedgerError(f"run kind must be one of {RUN_KINDS}, got {kind!r}")
        with self.transaction() as conn:
            cur = conn.execute("INSERT INTO runs (kind, started, status, host, pid) "
                               "VALUES (?, ?, 'running', ?, ?)",
                               (kind, utc_now(), self.host, os.getpid()))
        return int(cur.lastrowid)

    def finish_run(self, run_id: int, status: str = "ok", error: str | None = None) -> None:
        """Record the end of a run.

        Parameters
        ----------
        run_id : int
            From :meth:`start_run`.
        status : {"ok", "failed"}
        error : str, optional
            What went wrong.
        """
        if status not in ("ok", "failed"):
            raise LedgerError(f"a run finishes 'ok' or 'failed', got {status!r}")
        with self.transaction() as conn:
            conn.execute("UPDATE runs SET finished = ?, status = ?, error = ? WHERE id = ?",
                         (utc_now(), status, error, run_id))

    def run(self, run_id: int) -> RunRecord | None:
        """The run ``run_id``, or None."""
        rows = self._query("SELECT * FROM runs WHERE id = ?", (run_id,))
        return RunRecord._from_row(rows[0]) if rows else None

    def recent_runs(self, limit: int = 20) -> list[RunRecord]:
        """The latest ``limit`` runs, newest first."""
        rows = self._query("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (int(limit),))
        return [RunRecord._from_row(r) for r in rows]

    # -- claims -------------------------------------------------------------------------------

    def claim(self, product_day: dt.date, *, stale_after: dt.timedelta | None = None) -> bool:
        """Try to become the one writer of ``product_day``.

        Parameters
        ----------
        product_day : datetime.date
            The product day.
        stale_after : datetime.timedelta, optional
            A claim older than this is taken over even when its owner runs on another host
            (whose processes this host cannot see). By default such claims are never taken
            over; a claim of a dead process of this host always is.

        Returns
        -------
        bool
            True if this ledger object now holds the claim (also when it already did), False
            if a live process holds it.
        """
        day = _day(product_day)
        pid = os.getpid()
        with self.transaction() as conn:
            row = conn.execute("SELECT * FROM claims WHERE product_day = ?", (day,)).fetchone()
            if row is not None:
                held = Claim._from_row(row)
                if held.owner == self.owner:
                    return True
                if not self._claim_stale(held, stale_after):
                    return False
                log.warning("taking over the claim on %s of %s (pid %d on %s since %s): its "
                            "owner is gone", day, held.owner, held.pid, held.host,
                            held.claimed_at)
                conn.execute("DELETE FROM claims WHERE product_day = ?", (day,))
            conn.execute("INSERT INTO claims (product_day, owner, host, pid, pid_start, "
                         "claimed_at) VALUES (?, ?, ?, ?, ?, ?)",
                         (day, self.owner, self.host, pid, _process_start(pid), utc_now()))
        return True

    def _claim_stale(self, claim: Claim, stale_after: dt.timedelta | None) -> bool:
        if claim.host == self.host:
            if claim.pid == os.getpid():  # another ledger object of this process: live
                return False
            return not pid_alive(claim.pid, claim.pid_start)
        if stale_after is None:
            return False
        age = dt.datetime.now(dt.UTC) - parse_timestamp(claim.claimed_at)
        return age > stale_after

    def release(self, product_day: dt.date) -> bool:
        """Give up the claim on ``product_day`` if this ledger object holds it.

        Returns
        -------
        bool
            True if a claim was released.
        """
        with self.transaction() as conn:
            cur = conn.execute("DELETE FROM claims WHERE product_day = ? AND owner = ?",
                               (_day(product_day), self.owner))
        return cur.rowcount > 0

    @contextlib.contextmanager
    def claimed(
        self, product_day: dt.date, *, stale_after: dt.timedelta | None = None,
    ) -> Iterator[bool]:
        """Context manager: claim ``product_day``, yield whether it succeeded, release after.

        Examples
        --------
        >>> with ledger.claimed(day) as mine:  # doctest: +SKIP
        ...     if mine:
        ...         make_product(day)
        """
        mine = self.claim(product_day, stale_after=stale_after)
        try:
            yield mine
        finally:
            if mine:
                self.release(product_day)

    def holds_claim(self, product_day: dt.date) -> bool:
        """Whether this ledger object holds the claim on ``product_day``."""
        rows = self._query("SELECT 1 FROM claims WHERE product_day = ? AND owner = ?",
                           (_day(product_day), self.owner))
        return bool(rows)

    def claims(self) -> list[Claim]:
        """Every claim held now, by product day."""
        return [Claim._from_row(r)
                for r in self._query("SELECT * FROM claims ORDER BY product_day")]

    # -- products -----------------------------------------------------------------------------

    def start_product(
        self, product_day: dt.date, production_day: dt.date, *, run_id: int | None = None,
    ) -> ProductRecord:
        """Record that the product of ``product_day`` is being made on ``production_day``.

        The caller must hold the claim on ``product_day`` (:meth:`claim`). A second start of
        the same (product day, production day) resets that row and counts an attempt.

        Parameters
        ----------
        product_day, production_day : datetime.date
        run_id : int, optional
            The run making it.

        Returns
        -------
        ProductRecord
            Status ``in-progress``.

        Raises
        ------
        LedgerError
            If this ledger object does not hold the claim on ``product_day``.
        """
        day, issue, now = _day(product_day), _day(production_day), utc_now()
        with self.transaction() as conn:
            self._require_claim(conn, day)
            conn.execute(
                "INSERT INTO products (product_day, production_day, run_id, status, "
                "started_at, updated_at) VALUES (?, ?, ?, 'in-progress', ?, ?) "
                "ON CONFLICT (product_day, production_day) DO UPDATE SET "
                "run_id = excluded.run_id, status = 'in-progress', path = NULL, "
                "inputs_used = '[]', model_checksum = NULL, timings = '{}', error = NULL, "
                "attempts = attempts + 1, started_at = excluded.started_at, "
                "updated_at = excluded.updated_at",
                (day, issue, run_id, now, now),
            )
        return self._product(day, issue)

    def _require_claim(self, conn: sqlite3.Connection, day: str) -> None:
        row = conn.execute("SELECT owner FROM claims WHERE product_day = ?", (day,)).fetchone()
        if row is None or row["owner"] != self.owner:
            holder = f"it is held by {row['owner']}" if row else "nobody holds it"
            raise LedgerError(f"product day {day}: claim it first (Ledger.claim); {holder}")

    def finish_product(
        self,
        product_day: dt.date,
        production_day: dt.date,
        *,
        path: str | os.PathLike[str],
        inputs_used: Iterable[InputRecord | Mapping[str, str] | str | os.PathLike[str]],
        model_checksum: str | None = None,
        timings: Mapping[str, float] | None = None,
        final: bool = False,
    ) -> ProductRecord:
        """Record that a product was written.

        Parameters
        ----------
        product_day, production_day : datetime.date
            As given to :meth:`start_product`.
        path : str or os.PathLike
            The product file.
        inputs_used : iterable
            The input files it was made from: :class:`InputRecord` objects, mappings with
            ``sha256`` and/or ``path`` (and ``name``), or paths (looked up in ``inputs``).
        model_checksum : str, optional
            Checksum of the ONNX model.
        timings : mapping of str to float, optional
            Seconds per stage.
        final : bool, optional
            Mark it ``final``: the last issue of its day (see :meth:`finalize`).

        Returns
        -------
        ProductRecord
            Status ``ok`` or ``final``.

        Raises
        ------
        LedgerError
            If the product was not started or the claim is not held.
        """
        return self._end_product(
            product_day, production_day, status="final" if final else "ok",
            path=os.fspath(path), inputs_used=self._references(inputs_used),
            model_checksum=model_checksum, timings=timings, error=None,
        )

    def fail_product(
        self, product_day: dt.date, production_day: dt.date, error: str, *,
        timings: Mapping[str, float] | None = None,
    ) -> ProductRecord:
        """Record that making a product failed, with the error a person reads.

        Returns
        -------
        ProductRecord
            Status ``failed``.
        """
        return self._end_product(product_day, production_day, status="failed", path=None,
                                 inputs_used=None, model_checksum=None, timings=timings,
                                 error=error)

    def _end_product(
        self, product_day: dt.date, production_day: dt.date, *, status: str,
        path: str | None, inputs_used: list[dict[str, str]] | None,
        model_checksum: str | None, timings: Mapping[str, float] | None, error: str | None,
    ) -> ProductRecord:
        day, issue = _day(product_day), _day(production_day)
        with self.transaction() as conn:
            self._require_claim(conn, day)
            cur = conn.execute(
                "UPDATE products SET status = ?, path = COALESCE(?, path), "
                "inputs_used = COALESCE(?, inputs_used), model_checksum = ?, timings = ?, "
                "error = ?, updated_at = ? WHERE product_day = ? AND production_day = ?",
                (status, path, None if inputs_used is None else json.dumps(inputs_used),
                 model_checksum, json.dumps(dict(timings or {})), error, utc_now(), day, issue),
            )
            if cur.rowcount == 0:
                raise LedgerError(f"product {day} (production {issue}) was never started; "
                                  "call Ledger.start_product first")
        return self._product(day, issue)

    def _references(
        self, items: Iterable[InputRecord | Mapping[str, str] | str | os.PathLike[str]],
    ) -> list[dict[str, str]]:
        refs: dict[str, dict[str, str]] = {}
        for item in items:
            if isinstance(item, InputRecord):
                ref = item.reference()
            elif isinstance(item, Mapping):
                ref = {k: str(v) for k, v in item.items() if k in ("name", "path", "sha256")}
                if "sha256" not in ref and "path" in ref:
                    ref = self._reference_of_path(ref["path"]) or ref
            else:
                ref = self._reference_of_path(os.fspath(item)) or {
                    "name": Path(item).name, "path": os.fspath(item)}
            refs[ref.get("sha256") or ref.get("path", "")] = ref
        return sorted(refs.values(), key=lambda r: (r.get("name", ""), r.get("path", "")))

    def _reference_of_path(self, path: str) -> dict[str, str] | None:
        found = self.find_inputs(path=path) or self.find_inputs(path=os.path.abspath(path))
        return found[-1].reference() if found else None

    def finalize(self, product_day: dt.date) -> ProductRecord | None:
        """Mark the latest ``ok`` issue of ``product_day`` as ``final``.

        Returns
        -------
        ProductRecord or None
            The final product, or None if the day has no usable product.
        """
        latest = self.latest_product(product_day)
        if latest is None:
            return None
        if latest.status != "final":
            with self.transaction() as conn:
                conn.execute("UPDATE products SET status = 'final', updated_at = ? WHERE id = ?",
                             (utc_now(), latest.id))
        return self._product(_day(product_day), _day(latest.production_day))

    def _product(self, day: str | None, issue: str | None) -> ProductRecord:
        rows = self._query("SELECT * FROM products WHERE product_day = ? AND production_day = ?",
                           (day, issue))
        return ProductRecord._from_row(rows[0])

    def product(self, product_day: dt.date, production_day: dt.date) -> ProductRecord | None:
        """The attempt at ``product_day`` made on ``production_day``, or None."""
        rows = self._query("SELECT * FROM products WHERE product_day = ? AND production_day = ?",
                           (_day(product_day), _day(production_day)))
        return ProductRecord._from_row(rows[0]) if rows else None

    def product_history(self, product_day: dt.date) -> list[ProductRecord]:
        """Every attempt at ``product_day``, by production day."""
        rows = self._query("SELECT * FROM products WHERE product_day = ? "
                           "ORDER BY production_day", (_day(product_day),))
        return [ProductRecord._from_row(r) for r in rows]

    def latest_product(self, product_day: dt.date) -> ProductRecord | None:
        """The usable (``ok`` or ``final``) product of ``product_day`` of the latest production
        day, or None."""
        day = dt.date.fromisoformat(_day(product_day) or "")
        return self.latest_products(day, day).get(day)

    def latest_products(self, first: dt.date, last: dt.date) -> dict[dt.date, ProductRecord]:
        """For each product day in ``[first, last]`` that has one, its latest usable product.

        Returns
        -------
        dict of datetime.date to ProductRecord
            Status ``ok`` or ``final``, latest production day; days without one are absent.
        """
        rows = self._query(
            "SELECT * FROM products p WHERE product_day BETWEEN ? AND ? AND status IN "
            "('ok', 'final') AND production_day = (SELECT MAX(production_day) FROM products q "
            "WHERE q.product_day = p.product_day AND q.status IN ('ok', 'final')) "
            "ORDER BY product_day", (_day(first), _day(last)))
        records = [ProductRecord._from_row(r) for r in rows]
        return {r.product_day: r for r in records}

    def missing_days(self, first: dt.date, last: dt.date) -> list[dt.date]:
        """Days of ``[first, last]`` without a usable (``ok`` or ``final``) product, in order."""
        have = self.latest_products(first, last)
        n = (last - first).days + 1
        days = (first + dt.timedelta(days=i) for i in range(max(n, 0)))
        return [d for d in days if d not in have]

    def inputs_changed(
        self, product_day: dt.date, first: dt.date, last: dt.date,
    ) -> bool:
        """Whether the inputs of a product's window changed since its latest usable issue.

        Parameters
        ----------
        product_day : datetime.date
            The product day.
        first, last : datetime.date
            The data days its window reads (e.g. ``product_day`` -+ 3 days for a 7-day
            window).

        Returns
        -------
        bool
            True if the day has no usable product, if an ``ok`` input of the window was
            ingested after that product was started, or if an input it was made from is no
            longer ``ok`` (superseded); False otherwise.
        """
        latest = self.latest_product(product_day)
        if latest is None:
            return True
        rows = self._query(
            "SELECT sha256, ingested_at FROM inputs WHERE status = 'ok' AND data_day BETWEEN "
            "? AND ?", (_day(first), _day(last)))
        if any(r["ingested_at"] > latest.started_at for r in rows):
            return True
        used = {ref["sha256"] for ref in latest.inputs_used if ref.get("sha256")}
        if not used:
            return False
        placeholders = ", ".join("?" * len(used))
        ok = {r["sha256"] for r in self._query(
            f"SELECT sha256 FROM inputs WHERE status = 'ok' AND sha256 IN ({placeholders})",
            sorted(used))}
        return bool(used - ok)

    def interrupted_products(self) -> list[ProductRecord]:
        """``in-progress`` products whose day nobody claims: their maker died."""
        rows = self._query(
            "SELECT * FROM products WHERE status = 'in-progress' AND product_day NOT IN "
            "(SELECT product_day FROM claims) ORDER BY product_day, production_day")
        return [ProductRecord._from_row(r) for r in rows]

    def mark_interrupted(self) -> int:
        """Mark every :meth:`interrupted_products` row ``failed`` ("interrupted").

        Returns
        -------
        int
            How many rows changed.
        """
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE products SET status = 'failed', error = 'interrupted: its maker stopped "
                "before finishing', updated_at = ? WHERE status = 'in-progress' AND product_day "
                "NOT IN (SELECT product_day FROM claims)", (utc_now(),))
        return cur.rowcount


# --------------------------------------------------------------------------------------------
# single-instance locks


class InstanceLock:
    """An exclusive lock on a file (``fcntl.flock``), e.g. one daemon per state folder.

    The lock belongs to the open file, so it vanishes when the holder exits, even killed; the
    file itself stays (deleting lock files invites races) and records the holder's pid, host
    and start time for the error message of the next contender.

    Parameters
    ----------
    path : str or os.PathLike
        The lock file; its folder is created if missing.
    purpose : str, optional
        What the lock protects, for messages ("varnet-ops daemon").
    """

    def __init__(self, path: str | os.PathLike[str], purpose: str = "varnet-ops daemon") -> None:
        self.path = Path(path)
        self.purpose = purpose
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self, timeout_s: float = 0.0) -> None:
        """Take the lock, waiting up to ``timeout_s`` seconds for its holder to let go.

        Raises
        ------
        LockHeldError
            If another process (or another lock object) still holds it; the message names
            the lock file and the holder's pid.
        """
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + max(timeout_s, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd)
                    os.close(fd)
                    pid = holder.get("pid") if isinstance(holder.get("pid"), int) else None
                    who = (f"pid {pid} on {holder.get('host', '?')}, since "
                           f"{holder.get('since', '?')}") if pid else "an unknown process"
                    raise LockHeldError(
                        self.path, pid,
                        f"{self.path}: another {self.purpose} is running ({who}); stop it "
                        "first, or use another state folder") from None
                time.sleep(0.05)
        info = {"pid": os.getpid(), "host": _hostname(), "since": utc_now(),
                "purpose": self.purpose}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        with contextlib.suppress(OSError):
            os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        """Let go of the lock (nothing happens if it is not held)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def holder(self) -> dict[str, Any]:
        """What the lock file says about its holder (empty if nothing readable)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return {}
        try:
            return _read_holder(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", errors="replace")
        info = json.loads(text) if text.strip() else {}
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def daemon_lock(state_dir: str | os.PathLike[str]) -> InstanceLock:
    """The daemon's single-instance lock, ``{state_dir}/daemon.lock`` (not yet acquired).

    Examples
    --------
    >>> with daemon_lock(config.paths.state):  # doctest: +SKIP
    ...     run_daemon(config)
    """
    return InstanceLock(Path(state_dir) / "daemon.lock", "varnet-ops daemon")
