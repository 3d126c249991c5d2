"""The ledger's file: opening it safely, one connection per thread, write transactions.

Opening checks what the file is before SQLite may touch it: a missing file is created
(atomically, so two processes starting at once share one); an empty file, a file that is not
SQLite, an SQLite database without varnet's tables, or one that fails SQLite's
``PRAGMA quick_check`` is refused with a :class:`LedgerError` saying what it is and how to
rebuild the ledger. An older schema version is brought to the newest by
:func:`varnet.operational.ledger.migrations.migrate`, in one transaction; a newer one is
refused. Any later SQLite failure is a :class:`LedgerError` too, never a bare ``sqlite3``
error.

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
import stat
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Self

from varnet.operational.ledger.errors import REBUILD_HINT, LedgerError
from varnet.operational.ledger.migrations import migrate
from varnet.operational.ledger.processes import hostname
from varnet.operational.ledger.schema import LATEST_VERSION, TABLES, create_schema

__all__ = ["LedgerFile"]

log = logging.getLogger("varnet.ops.ledger")

#: Connections inherited through fork: kept referenced so that the child never closes (and so
#: never checkpoints or unlocks) a connection of its parent.
_INHERITED: list[sqlite3.Connection] = []
#: The first bytes of every SQLite 3 database file.
_SQLITE_MAGIC = b"SQLite format 3\x00"


def _describe_bytes(head: bytes) -> str:
    """What a file that is not SQLite looks like, from its first bytes."""
    signatures = ((b"\x89HDF", "an HDF5 / NetCDF-4 file"), (b"CDF\x01", "a NetCDF-3 file"),
                  (b"CDF\x02", "a NetCDF-3 file"), (b"\x1f\x8b", "a gzip file"),
                  (b"PK\x03\x04", "a zip file"), (b"\x89PNG", "a PNG image"))
    for magic, what in signatures:
        if head.startswith(magic):
            return what
    if not head.strip(b"\x00"):
        return "zeros only (overwritten, or never written)"
    text = head[:40].decode("utf-8", errors="replace")
    if text.isprintable():
        return f"text starting {text!r}"
    return f"binary data starting {head[:8].hex()}"




def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class LedgerFile:
    """The ledger's SQLite file: opened, checked, created or migrated; one connection per
    thread; short write transactions. The base of
    :class:`~varnet.operational.ledger.Ledger` (whose docstring says what the parameters
    are and what opening checks).

    Parameters
    ----------
    path : str or os.PathLike
        The SQLite file.
    busy_timeout_s : float, optional
        How long a statement waits for another writer's lock before failing, seconds.
    region : str, optional
        Region key of this object (default: :meth:`stored_region`).
    create : bool, default True
        Create the file when it does not exist.

    Raises
    ------
    LedgerError
        If the file cannot be used as a ledger.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_s: float = 30.0,
                 region: str | None = None, create: bool = True) -> None:
        self.path = Path(path).absolute()
        self.busy_timeout_s = float(busy_timeout_s)
        self.host = hostname()
        self._pid = os.getpid()
        self._owner = self._new_owner()
        self._local = threading.local()
        self._create = bool(create)
        self._opened = False
        self._connect()
        self.region = self.stored_region() if region is None else str(region)

    @property
    def owner(self) -> str:
        """This object's claim-owner token, ``host:pid:random`` (new after a fork)."""
        self._thread_state()
        return self._owner

    # -- opening ------------------------------------------------------------------------------

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
            conn = self._open_first() if not self._opened else self._open_again()
        except sqlite3.DatabaseError as exc:
            raise LedgerError(f"{self.path} cannot be read as a varnet ledger ({exc}): it is "
                              f"damaged or not a ledger; {REBUILD_HINT}"
                              f"{self._kept_aside()}") from None
        local.conn, local.depth = conn, 0
        return conn

    def _open_first(self) -> sqlite3.Connection:
        """The first connection of this object: check the file, create or migrate it."""
        self._check_file()
        conn = self._new_connection()
        try:
            self._check_integrity(conn)
            self._upgrade(conn, self._version(conn))
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
            raise
        self._opened = True
        return conn

    def _open_again(self) -> sqlite3.Connection:
        """Another thread's (or a forked child's) connection to the file checked at first."""
        if not self.path.is_file() or self.path.stat().st_size == 0:
            raise LedgerError(f"{self.path} vanished or was emptied while in use; "
                              f"{REBUILD_HINT}")
        conn = self._new_connection()
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version != LATEST_VERSION:
            conn.close()
            raise LedgerError(f"{self.path} changed while in use (schema version {version}, "
                              f"not {LATEST_VERSION}); {REBUILD_HINT}")
        return conn

    def _check_file(self) -> None:
        """Refuse what SQLite would silently take for a new database; create a missing one."""
        try:
            info = self.path.stat()
        except FileNotFoundError:
            if not self._create:
                raise LedgerError(f"{self.path} does not exist; {REBUILD_HINT}") from None
            self._create_new()
            return
        except OSError as exc:
            raise LedgerError(f"{self.path}: cannot read it ({exc.strerror})") from None
        if not stat.S_ISREG(info.st_mode):
            raise LedgerError(f"{self.path} is not a file")
        if info.st_size == 0:
            raise LedgerError(
                f"{self.path} is empty (0 bytes) where a ledger was expected: it was lost or "
                "truncated, and SQLite would silently start a new one that forgets every "
                f"input and product; {REBUILD_HINT}")
        try:
            with open(self.path, "rb") as fh:
                head = fh.read(100)
        except OSError as exc:
            raise LedgerError(f"{self.path}: cannot read it ({exc.strerror})") from None
        if not head.startswith(_SQLITE_MAGIC):
            raise LedgerError(
                f"{self.path} is not a varnet ledger: it holds {_describe_bytes(head)}, not an "
                "SQLite database; if it belongs to something else move it away, else "
                f"{REBUILD_HINT}{self._kept_aside()}")

    def _create_new(self) -> None:
        """Create the newest schema in a temporary file, then link it into place: a ledger
        file is never seen half made, and of two processes creating it one wins."""
        folder = self.path.parent
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{self.path.name}.new-{uuid.uuid4().hex[:12]}"
        try:
            conn = sqlite3.connect(tmp, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("BEGIN IMMEDIATE")
                create_schema(conn)
                conn.execute("COMMIT")
            finally:
                conn.close()
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                pass  # another process created it meanwhile: that one is used
            except OSError as exc:  # a file system without hard links
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV,
                                     errno.EMLINK):
                    raise
                if not self.path.exists():
                    os.replace(tmp, self.path)
            _fsync_directory(folder)
            log.info("created a new ledger %s (schema version %d)", self.path, LATEST_VERSION)
        except sqlite3.Error as exc:
            raise LedgerError(f"{self.path}: cannot create the ledger ({exc})") from None
        except OSError as exc:
            raise LedgerError(f"{self.path}: cannot create the ledger "
                              f"({exc.strerror or exc})") from None
        finally:
            for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
                with contextlib.suppress(OSError):
                    leftover.unlink()

    def _kept_aside(self) -> str:
        return (f" (which keeps this file as {self.path.name}.damaged-YYYYmmddTHHMMSS beside "
                "it)")

    def _new_connection(self) -> sqlite3.Connection:
        """A connection to the existing file (``mode=rw``: SQLite never creates it)."""
        conn = sqlite3.connect(self.path.as_uri() + "?mode=rw", uri=True,
                               timeout=self.busy_timeout_s, isolation_level=None,
                               check_same_thread=True)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("%s: SQLite refused WAL mode (journal_mode=%s); concurrent "
                            "writers will wait longer", self.path, mode)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            conn.close()
            raise
        return conn

    def _check_integrity(self, conn: sqlite3.Connection) -> None:
        rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check").fetchall()]
        if rows == ["ok"]:
            return
        problems = [line.strip() for row in rows for line in row.splitlines()
                    if line.strip() and not line.startswith("*** in database")]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise LedgerError(f"{self.path} is damaged: SQLite's integrity check says "
                          f"{problems[0] if problems else rows[0]!r}{more}; "
                          f"{REBUILD_HINT}{self._kept_aside()}")

    def _version(self, conn: sqlite3.Connection) -> int:
        """The schema version of the open file (1 for varnet's tables without a version)."""
        tables = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if not tables & {"inputs", "products", "claims"}:
            listed = ", ".join(sorted(tables)) or "none"
            raise LedgerError(
                f"{self.path} is an SQLite database but not a varnet ledger (its tables: "
                f"{listed}); if it belongs to something else move it away, else "
                f"{REBUILD_HINT}{self._kept_aside()}")
        missing = [t for t in TABLES if t not in tables]
        if missing:
            raise LedgerError(f"{self.path} is damaged: the ledger table(s) "
                              f"{', '.join(missing)} are missing; {REBUILD_HINT}"
                              f"{self._kept_aside()}")
        version = version or 1
        if version > LATEST_VERSION:
            raise LedgerError(f"{self.path}: ledger schema version {version} is newer than "
                              f"this varnet understands ({LATEST_VERSION}); upgrade varnet")
        return version

    def _upgrade(self, conn: sqlite3.Connection, version: int) -> None:
        """Migrate the ledger to the newest schema, in one transaction."""
        if version == LATEST_VERSION:
            return
        conn.execute("PRAGMA foreign_keys = OFF")  # tables are rebuilt; checked at the end
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                now = self._version(conn)  # another process may have migrated it meanwhile
                if now < LATEST_VERSION:
                    migrate(conn, now)
                    log.warning("%s: ledger schema migrated from version %d to %d", self.path,
                                now, LATEST_VERSION)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise LedgerError(f"{self.path}: cannot migrate the ledger from schema version "
                              f"{version} to {LATEST_VERSION} ({exc}); it was left as it "
                              "was") from None
        finally:
            conn.execute("PRAGMA foreign_keys = ON")

    @staticmethod
    def _drop(local: threading.local) -> None:
        conn = getattr(local, "conn", None)
        local.conn = None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def close(self) -> None:
        """Close this thread's connection (the object reconnects if used again)."""
        if self._pid == os.getpid():
            self._drop(self._local)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:  # picklable: reconnects in the other process
        return {"path": self.path, "busy_timeout_s": self.busy_timeout_s,
                "region": self.region}

    def __setstate__(self, state: dict[str, Any]) -> None:
        # the file existed when the object was pickled: never create an empty one
        self.__init__(state["path"], busy_timeout_s=state["busy_timeout_s"],
                      region=state.get("region"), create=False)

    def _failure(self, exc: sqlite3.Error) -> LedgerError:
        """A :class:`LedgerError` for an SQLite failure after opening."""
        text = str(exc)
        if "locked" in text or "busy" in text:
            return LedgerError(f"{self.path}: the ledger stayed locked by another writer "
                               f"({text}; busy timeout {self.busy_timeout_s:g} s)")
        if "readonly" in text or "read-only" in text:
            return LedgerError(f"{self.path}: cannot write the ledger ({text}); check the "
                               "permissions of the file and its folder")
        if "disk is full" in text:
            return LedgerError(f"{self.path}: cannot write the ledger: no space left on "
                               f"device in {self.path.parent} ({text}); free space, then run "
                               "again (nothing was recorded half-way)")
        return LedgerError(f"{self.path}: the ledger failed ({text}); if it is damaged, "
                           f"{REBUILD_HINT}")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``); nested uses join the outer one.

        Keep it short: other writers wait while it is open. Leaving the block with an
        exception rolls everything back; an SQLite error becomes a :class:`LedgerError`.

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
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise self._failure(exc) from exc
        local.depth = 1
        try:
            yield conn
        except BaseException as exc:
            local.depth = 0
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.DatabaseError):
                raise self._failure(exc) from exc
            raise
        local.depth = 0
        try:
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise self._failure(exc) from exc

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        conn = self._connect()
        try:
            return conn.execute(sql, tuple(args)).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._failure(exc) from exc

    # -- regions ------------------------------------------------------------------------------

    def stored_region(self) -> str:
        """The region the ledger's configuration last opened it with (``""`` if none)."""
        rows = self._query("SELECT value FROM meta WHERE key = 'region'")
        return rows[0]["value"] if rows else ""
