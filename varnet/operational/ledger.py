"""The SQLite ledger of operations: the one source of truth for what exists.

One file, ``{paths.state}/ledger.sqlite``, records

- ``inputs``: every observation file ingest has seen, archived (``ok``), set aside
  (``quarantined``) or replaced by a later production of the same data (``superseded``), with
  its SHA-256 and the reason of a rejection;
- ``runs``: every daily, reprocess, daemon or rebuild run, when it started and ended and how
  (``interrupted`` when its process died while it ran);
- ``products``: one row per (region, product day, production day) attempt, ``in-progress``
  while it is made, then ``ok``, ``failed``, ``interrupted`` or ``final`` (the last issue of a
  day; at most one per region and day), with the inputs it was made from (JSON), the data
  days whose files can change it, the model checksum and timings (JSON);
- ``claims``: which process is making which product day right now.

Several processes (the daemon, a reprocess pool, Dask workers on the same file system) may use
the ledger at once: it runs in WAL mode with a busy timeout, every write is one short
``BEGIN IMMEDIATE`` transaction, and a product day is made by one writer at a time through
:meth:`Ledger.claim`. A claim whose owner process has died on this host is taken over.
:class:`InstanceLock` keeps a second daemon from starting.

**The ledger is guarded.** Opening it checks what the file is before SQLite may touch it: a
missing file is created (atomically, so two processes starting at once share one) only where
the state is new (:meth:`Ledger.for_config` refuses when the archive or the products folder
already hold files); an empty file, a file that is not SQLite, an SQLite database without
varnet's tables, or one that fails SQLite's ``PRAGMA quick_check`` is refused with a
:class:`LedgerError` saying what it is and how to rebuild the ledger from the archive and the
products (``varnet-ops ledger rebuild``, :mod:`varnet.operational.rebuild`). Its schema
version (``PRAGMA user_version``) is brought to the newest by the numbered migrations of
:mod:`varnet.operational.ledger_schema`, in one transaction. Any later SQLite failure is a
:class:`LedgerError` too, never a bare ``sqlite3`` error.

**Products belong to a region** (:func:`region_key`: the product name, grid origin,
resolution and shape): every product query of a :class:`Ledger` sees only its region's rows,
so a changed region never reuses the finals of another.

**Finals stay true.** Re-making a usable issue (a ``--force`` re-make of a final day) keeps its
row, file path and inputs until the new file has replaced it: a re-make killed midway leaves
the old product recorded (:meth:`Ledger.start_product`). A final of another production day is
replaced only when the re-make said so (``replace_final``); otherwise a second final of a day
is refused. A final whose window received a file after it was made, or one of whose inputs was
superseded, is *stale* (:meth:`Ledger.stale_finals`).

Timestamps are UTC ISO 8601 strings with microseconds and a ``Z`` (``2024-05-01T06:30:00.000000Z``),
so that they sort as text; days are ISO dates (``2024-05-01``).

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import socket
import sqlite3
import stat
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from varnet.errors import CONFIG_PLACEHOLDER, EXIT_LEDGER, EXIT_LOCKED, VarnetError
from varnet.operational.ledger_schema import (
    INPUT_KINDS,
    INPUT_STATUSES,
    LATEST_VERSION,
    PRODUCT_STATUSES,
    RUN_KINDS,
    RUN_STATUSES,
    TABLES,
    create_schema,
    migrate,
)

if TYPE_CHECKING:
    from varnet.operational.config import OpsConfig

__all__ = [
    "INPUT_KINDS",
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
    "product_file_region",
    "region_key",
    "utc_now",
]

log = logging.getLogger("varnet.ops.ledger")

#: Connections inherited through fork: kept referenced so that the child never closes (and so
#: never checkpoints or unlocks) a connection of its parent.
_INHERITED: list[sqlite3.Connection] = []
#: Product statuses that count as a usable product.
_GOOD = ("ok", "final")
#: The first bytes of every SQLite 3 database file.
_SQLITE_MAGIC = b"SQLite format 3\x00"
#: What to run when the ledger is lost or damaged.
REBUILD_HINT = ("rebuild it from the archive and the products: varnet-ops ledger rebuild "
                f"--config {CONFIG_PLACEHOLDER}")
_INTERRUPTED = "interrupted: its maker stopped before finishing"


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
# regions


def _number(value: float) -> str:
    return f"{float(value) + 0.0:.6f}"  # + 0.0: -0.0 reads as 0.0


def region_key(name: str, lat_min: float, lon_min: float, resolution_deg: float, nlat: int,
               nlon: int) -> str:
    """The short hash naming a product region in the ledger.

    Parameters
    ----------
    name : str
        Product name (``OpsConfig.name``, the first part of product file names).
    lat_min, lon_min : float
        Centre of the first cell, degrees (rounded to 1e-6 degree).
    resolution_deg : float
        Cell size, degrees (rounded to 1e-6 degree).
    nlat, nlon : int
        Grid shape.

    Returns
    -------
    str
        16 hexadecimal digits: the start of the SHA-256 of
        ``"name=...;lat0=...;lon0=...;res=...;shape=NLATxNLON"``.
    """
    canonical = (f"name={name};lat0={_number(lat_min)};lon0={_number(lon_min)};"
                 f"res={_number(resolution_deg)};shape={int(nlat)}x{int(nlon)}")
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def config_region_key(config: OpsConfig) -> str:
    """:func:`region_key` of a configuration's ``name`` and ``[region]``."""
    region = config.region
    return region_key(config.name, region.lat_min, region.lon_min, region.resolution_deg,
                      region.nlat, region.nlon)


_PRODUCT_NAME_RE = re.compile(r"^(?P<name>.+)_varnet_phy_l4_\d{8}_\d{8}\.nc$")


def product_file_region(path: str | os.PathLike[str]) -> str:
    """:func:`region_key` of a product file, from its name and grid (data not loaded).

    Parameters
    ----------
    path : str or os.PathLike
        A product file (:func:`varnet.operational.products.write_product`).

    Returns
    -------
    str
        The region key.

    Raises
    ------
    OSError
        If the file cannot be opened as NetCDF.
    ValueError
        If it has no product name or no latitude / longitude axis.
    """
    import netCDF4  # only here: opening a ledger needs no NetCDF library

    with netCDF4.Dataset(path) as ds:
        name = str(ds.getncattr("product_name")) if "product_name" in ds.ncattrs() else None
        if name is None:
            match = _PRODUCT_NAME_RE.match(Path(path).name)
            if match is None:
                raise ValueError(f"{path}: no product_name attribute and not a product name")
            name = match["name"]
        axes = []
        for names in (("latitude", "lat"), ("longitude", "lon")):
            found = next((ds.variables[n] for n in names if n in ds.variables), None)
            if found is None or found.size < 2:
                raise ValueError(f"{path}: no {names[0]} axis")
            values = found[:]
            axes.append((float(values[0]), float(values[-1]), int(found.size)))
    (lat0, lat1, nlat), (lon0, _, nlon) = axes
    resolution = round((lat1 - lat0) / (nlat - 1), 12)
    return region_key(name, lat0, lon0, resolution, nlat, nlon)


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
    """One row of ``runs``. Timestamps are UTC ledger timestamps.

    Attributes
    ----------
    id : int
    kind : {"daily", "reprocess", "daemon", "rebuild"}
    started, finished : str, str or None
        When it started and ended (None while it runs, or if it was interrupted).
    status : {"running", "ok", "failed", "interrupted"}
    error : str or None
        What went wrong.
    host : str
        Host name of its process.
    pid : int
        Its process id.
    pid_start : str or None
        Start time of that process (to tell a reused pid), where known.
    """

    id: int
    kind: str
    started: str
    finished: str | None
    status: str
    error: str | None
    host: str
    pid: int
    pid_start: str | None = None

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
    status : {"in-progress", "ok", "failed", "final", "interrupted", "replaced"}
    inputs_used : tuple of dict
        The input files it was made from (``name``, ``path``, ``sha256`` each).
    model_checksum : str or None
        Checksum of the ONNX model used.
    timings : dict
        Seconds spent per stage, as the producer recorded them.
    error : str or None
        Why it failed; on a usable row, why a re-make of it did not replace it.
    attempts : int
        How many times this (product day, production day) was started.
    started_at, updated_at : str
        UTC timestamps of the start of the product recorded (or of the latest attempt) and
        of the latest change.
    region : str
        :func:`region_key` of its region (``""``: unknown, recorded before regions were).
    finished_at : str or None
        When its file was recorded.
    window : tuple of datetime.date or None
        First and last data day whose files can change it.
    flags : tuple of str
        What its maker flagged for a person to look at (sentences).
    remake_started_at : str or None
        A re-make of this usable row is in progress since then: the row still describes the
        product made before, until the new file replaces it.
    replaces_id : int or None
        The final row (another production day) this attempt replaces when it finishes final.
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
    region: str = ""
    finished_at: str | None = None
    window: tuple[dt.date, dt.date] | None = None
    flags: tuple[str, ...] = ()
    remake_started_at: str | None = None
    replaces_id: int | None = None

    @property
    def usable(self) -> bool:
        """Whether it is a product to serve (``ok`` or ``final``)."""
        return self.status in _GOOD

    @classmethod
    def _from_row(cls, row: sqlite3.Row) -> ProductRecord:
        first, last = _date(row["window_first"]), _date(row["window_last"])
        return cls(
            id=row["id"], product_day=dt.date.fromisoformat(row["product_day"]),
            production_day=dt.date.fromisoformat(row["production_day"]), run_id=row["run_id"],
            path=row["path"], status=row["status"],
            inputs_used=tuple(json.loads(row["inputs_used"])),
            model_checksum=row["model_checksum"], timings=json.loads(row["timings"]),
            error=row["error"], attempts=row["attempts"], started_at=row["started_at"],
            updated_at=row["updated_at"], region=row["region"],
            finished_at=row["finished_at"],
            window=(first, last) if first and last else None,
            flags=tuple(json.loads(row["flags"])),
            remake_started_at=row["remake_started_at"], replaces_id=row["replaces_id"],
        )


@dataclass(frozen=True)
class StaleFinal:
    """A final product whose inputs changed after it was made (:meth:`Ledger.stale_finals`).

    Attributes
    ----------
    product : ProductRecord
        The final product.
    reason : str
        For a person: ``"inputs changed after the final product (file X archived at T)"``.
    inputs : tuple of InputRecord
        The files that arrived after it (status ``ok``), or the superseded files it used.
    """

    product: ProductRecord
    reason: str
    inputs: tuple[InputRecord, ...]

    @property
    def day(self) -> dt.date:
        """The product day."""
        return self.product.product_day


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
# what a file is


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


def _state_files(config: OpsConfig) -> Path | None:
    """A file of the configuration's archive or products folder, None if both hold none."""
    for folder in (config.paths.archive, config.paths.products):
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            if files:
                return Path(root) / sorted(files)[0]
    return None


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --------------------------------------------------------------------------------------------
# the ledger


class Ledger:
    """The operations ledger in one SQLite file.

    Each thread using the object gets its own SQLite connection, and after a fork (or
    unpickling in another process) the object reconnects on first use. Each object is one
    claim owner (``owner``: host, pid and a random token; a new one after a fork), so two
    ledger objects never share a claim; the threads of one object do.

    Opening checks the file (module docstring): a missing one is created when ``create``
    (atomically); an empty one, one that is not SQLite or not a varnet ledger, or one that
    fails ``PRAGMA quick_check`` is refused; an older schema is migrated.

    Parameters
    ----------
    path : str or os.PathLike
        The SQLite file; it and its folder are created if missing (and ``create``).
    busy_timeout_s : float, optional
        How long a statement waits for another writer's lock before failing, seconds.
    region : str, optional
        :func:`region_key` of the products this object records and sees. Default: the
        region the ledger's configuration last opened it with (:meth:`for_config`), ``""``
        for a ledger never opened through a configuration.
    create : bool, default True
        Create the file when it does not exist; when False a missing file is an error.

    Raises
    ------
    LedgerError
        If the file is missing (and not ``create``), empty, not a varnet ledger, damaged, of
        a newer schema than this varnet knows, or cannot be opened; the message says what to
        do.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_s: float = 30.0,
                 region: str | None = None, create: bool = True) -> None:
        self.path = Path(path).absolute()
        self.busy_timeout_s = float(busy_timeout_s)
        self.host = _hostname()
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

    @classmethod
    def for_config(cls, config: OpsConfig, **kwargs: Any) -> Ledger:
        """The ledger of a configuration, ``{paths.state}/ledger.sqlite``, for its region.

        A missing ledger is created only for a new state: if the archive or the products
        folder already hold files, the ledger was lost and a new empty one would forget
        them, so this refuses and says how to rebuild it. The configuration's region
        (:func:`config_region_key`) becomes the region of the object and the ledger's current
        one; products recorded before regions were (schema version 1) get the region of
        their files (:func:`product_file_region`).

        Parameters
        ----------
        config : OpsConfig
            The configuration.
        **kwargs
            ``busy_timeout_s``.

        Raises
        ------
        LedgerError
            As :class:`Ledger`, and if the ledger is missing while the state holds files.
        """
        path = config.paths.ledger_file
        if not os.path.lexists(path):
            found = _state_files(config)
            if found is not None:
                raise LedgerError(
                    f"{path} does not exist, but this state already holds files (e.g. "
                    f"{found}): its ledger was lost, and a new empty one would forget every "
                    f"input and product; {REBUILD_HINT}")
        kwargs.pop("create", None)
        ledger = cls(path, region=config_region_key(config), **kwargs)
        ledger.set_current_region()
        return ledger

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

    def __enter__(self) -> Ledger:
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

    def set_current_region(self) -> None:
        """Make this object's region the ledger's current one (:meth:`stored_region`, what a
        ``Ledger(path)`` without a region uses), and give the products recorded before
        regions were (region ``""``) the region of their files (:func:`product_file_region`;
        ``"?"`` where the file is gone, this object's region where there is no file).

        :meth:`for_config` does this on every open.
        """
        stored = self._query("SELECT value FROM meta WHERE key = 'region'")
        if not stored or stored[0]["value"] != self.region:  # written only when it changes
            with self.transaction() as conn:
                row = conn.execute("SELECT value FROM meta WHERE key = 'region'").fetchone()
                conn.execute("INSERT INTO meta (key, value) VALUES ('region', ?) ON CONFLICT "
                             "(key) DO UPDATE SET value = excluded.value", (self.region,))
            if row is not None and row["value"] not in ("", self.region):
                log.warning("%s: the product region changed (%s -> %s): the products of the "
                            "former region are not reused", self.path, row["value"],
                            self.region)
        legacy = self._query("SELECT id, path FROM products WHERE region = ''")
        if legacy:
            self._assign_legacy_regions(legacy)

    def _assign_legacy_regions(self, rows: Sequence[sqlite3.Row]) -> None:
        regions = {}
        for row in rows:  # read outside the transaction: files may be slow to open
            if row["path"] is None:
                regions[row["id"]] = self.region
                continue
            try:
                regions[row["id"]] = product_file_region(row["path"])
            except (OSError, ValueError, KeyError, IndexError):
                regions[row["id"]] = "?"  # its file is gone or unreadable: no region's
        mine = 0
        with self.transaction() as conn:
            for product_id, region in regions.items():
                try:
                    conn.execute("UPDATE products SET region = ? WHERE id = ? AND region = ''",
                                 (region, product_id))
                except sqlite3.IntegrityError:  # its region already has that issue or final
                    conn.execute("UPDATE products SET region = '?' WHERE id = ?", (product_id,))
                    region = "?"
                mine += region == self.region
        log.info("%s: %d product row(s) recorded before regions were assigned a region from "
                 "their files (%d of this configuration's)", self.path, len(regions), mine)

    # -- maintenance --------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Rows per table: ``inputs``, ``runs``, ``products`` (every region), ``claims``."""
        tables = ("inputs", "runs", "products", "claims")
        row = self._query("SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {t})" for t in tables))
        return dict(zip(tables, (int(n) for n in row[0]), strict=True))

    def other_regions(self, name: str) -> dict[str, int]:
        """Product rows of regions other than this object's whose files bear the product
        ``name`` (``{name}_varnet_phy_l4_...``), by region key."""
        rows = self._query(
            "SELECT region, COUNT(*) AS n FROM products WHERE region != ? AND "
            "(path LIKE ? OR path LIKE ?) GROUP BY region ORDER BY region",
            (self.region, f"%/{name}_varnet_phy_l4_%", f"{name}_varnet_phy_l4_%"))
        return {r["region"]: int(r["n"]) for r in rows}

    def checkpoint(self) -> None:
        """Write the WAL into the ledger file and empty it (e.g. before copying the file)."""
        self._query("PRAGMA wal_checkpoint(TRUNCATE)")

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
        """Record the start of a run (by this process).

        Parameters
        ----------
        kind : {"daily", "reprocess", "daemon", "rebuild"}

        Returns
        -------
        int
            The run id, for :meth:`finish_run` and :meth:`start_product`.
        """
        if kind not in RUN_KINDS:
            raise LedgerError(f"run kind must be one of {RUN_KINDS}, got {kind!r}")
        pid = os.getpid()
        with self.transaction() as conn:
            cur = conn.execute("INSERT INTO runs (kind, started, status, host, pid, pid_start) "
                               "VALUES (?, ?, 'running', ?, ?, ?)",
                               (kind, utc_now(), self.host, pid, _process_start(pid)))
        return int(cur.lastrowid)

    def finish_run(self, run_id: int, status: str = "ok", error: str | None = None) -> None:
        """Record the end of a run.

        Parameters
        ----------
        run_id : int
            From :meth:`start_run`.
        status : {"ok", "failed", "interrupted"}
            ``interrupted``: asked to stop before its last day.
        error : str, optional
            What went wrong.
        """
        if status not in ("ok", "failed", "interrupted"):
            raise LedgerError(f"a run finishes 'ok', 'failed' or 'interrupted', got {status!r}")
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

    def mark_interrupted_runs(self) -> int:
        """Mark ``interrupted`` the ``running`` runs of this host whose process is dead.

        Runs of other hosts are left alone: this host cannot see their processes.

        Returns
        -------
        int
            How many runs changed.
        """
        rows = self._query("SELECT * FROM runs WHERE status = 'running' AND host = ?",
                           (self.host,))
        dead = [RunRecord._from_row(r) for r in rows]
        dead = [r for r in dead if r.pid != os.getpid() and not pid_alive(r.pid, r.pid_start)]
        if not dead:
            return 0
        now = utc_now()
        with self.transaction() as conn:
            for run in dead:
                conn.execute(
                    "UPDATE runs SET status = 'interrupted', error = ? WHERE id = ? AND "
                    "status = 'running'",
                    (f"interrupted: its process (pid {run.pid} on {run.host}) stopped before "
                     f"the run ended (noticed {now})", run.id))
        for run in dead:
            log.warning("run #%d (%s, pid %d, started %s) was interrupted: its process is gone",
                        run.id, run.kind, run.pid, run.started)
        return len(dead)

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


    def clear_dead_claims(self) -> int:
        """Remove the claims of processes of this host that died holding them.

        Claims of live processes, of this process and of other hosts are left alone.

        Returns
        -------
        int
            How many claims were removed.
        """
        dead = [c for c in self.claims() if c.host == self.host and c.owner != self.owner
                and c.pid != os.getpid() and not pid_alive(c.pid, c.pid_start)]
        if not dead:
            return 0
        with self.transaction() as conn:
            for held in dead:
                conn.execute("DELETE FROM claims WHERE product_day = ? AND owner = ?",
                             (held.product_day.isoformat(), held.owner))
        for held in dead:
            log.warning("cleared the claim on %s of %s (pid %d on %s since %s): its owner is "
                        "gone", held.product_day, held.owner, held.pid, held.host,
                        held.claimed_at)
        return len(dead)

    # -- products -----------------------------------------------------------------------------

    def _row(self, conn: sqlite3.Connection, day: str | None,
             issue: str | None) -> sqlite3.Row | None:
        return conn.execute("SELECT * FROM products WHERE region = ? AND product_day = ? AND "
                            "production_day = ?", (self.region, day, issue)).fetchone()

    def _final_row(self, conn: sqlite3.Connection, day: str | None) -> sqlite3.Row | None:
        return conn.execute("SELECT * FROM products WHERE region = ? AND product_day = ? AND "
                            "status = 'final'", (self.region, day)).fetchone()

    def start_product(
        self, product_day: dt.date, production_day: dt.date, *, run_id: int | None = None,
        replace_final: bool = False,
    ) -> ProductRecord:
        """Record that the product of ``product_day`` is being made on ``production_day``.

        The caller must hold the claim on ``product_day`` (:meth:`claim`). What the row
        becomes depends on what the ledger holds for that (product day, production day):

        - nothing: a new ``in-progress`` row;
        - a usable product (``ok`` or ``final``; e.g. a ``--force`` re-make of a final day on
          the same production day): the row keeps its status, file path and inputs until
          :meth:`finish_product` records the new file, so a re-make killed midway leaves
          the product made before recorded; ``remake_started_at`` says a re-make runs;
        - a failed, interrupted or in-progress attempt: it is reset to ``in-progress``.

        Each start counts an attempt.

        Parameters
        ----------
        product_day, production_day : datetime.date
        run_id : int, optional
            The run making it.
        replace_final : bool, default False
            Allow this attempt, when it finishes ``final``, to replace the final product of
            another production day of ``product_day`` (a forced re-make): that one becomes
            ``replaced`` then, and only then. Without it a second final is refused.

        Returns
        -------
        ProductRecord
            Status ``in-progress``, or the usable row being re-made.

        Raises
        ------
        LedgerError
            If this ledger object does not hold the claim on ``product_day``.
        """
        day, issue, now = _day(product_day), _day(production_day), utc_now()
        with self.transaction() as conn:
            self._require_claim(conn, day)
            row = self._row(conn, day, issue)
            final = self._final_row(conn, day)
            replaces = (final["id"] if replace_final and final is not None
                        and (row is None or final["id"] != row["id"]) else None)
            if row is None:
                conn.execute(
                    "INSERT INTO products (region, product_day, production_day, run_id, status, "
                    "started_at, updated_at, replaces_id) "
                    "VALUES (?, ?, ?, ?, 'in-progress', ?, ?, ?)",
                    (self.region, day, issue, run_id, now, now, replaces))
            elif row["status"] in _GOOD:
                conn.execute(
                    "UPDATE products SET remake_started_at = ?, remake_run_id = ?, "
                    "replaces_id = ?, attempts = attempts + 1, updated_at = ? WHERE id = ?",
                    (now, run_id, replaces, now, row["id"]))
            else:
                conn.execute(
                    "UPDATE products SET run_id = ?, status = 'in-progress', path = NULL, "
                    "inputs_used = '[]', model_checksum = NULL, timings = '{}', error = NULL, "
                    "attempts = attempts + 1, started_at = ?, updated_at = ?, "
                    "finished_at = NULL, window_first = NULL, window_last = NULL, "
                    "flags = '[]', remake_started_at = NULL, remake_run_id = NULL, "
                    "replaces_id = ? WHERE id = ?",
                    (run_id, now, now, replaces, row["id"]))
        return self._product(day, issue)

    def _require_claim(self, conn: sqlite3.Connection, day: str | None) -> None:
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
        window: tuple[dt.date, dt.date] | None = None,
        flags: Iterable[str] = (),
    ) -> ProductRecord:
        """Record that a product was written (its file is in place).

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
        window : tuple of datetime.date, optional
            First and last data day whose files can change this product (its window and the
            OI's reach around it), for :meth:`stale_finals`. Default: the first and last
            data day of ``inputs_used``.
        flags : iterable of str, optional
            Sentences a person should read about this product (``varnet-ops status`` shows
            its day as flagged).

        Returns
        -------
        ProductRecord
            Status ``ok`` or ``final``.

        Raises
        ------
        LedgerError
            If the product was not started or the claim is not held; if ``final`` and the day
            already has a final product of another production day that this attempt was not
            started to replace (``start_product(..., replace_final=True)``): a day has one
            final product.
        """
        return self._end_product(
            product_day, production_day, status="final" if final else "ok",
            path=os.fspath(path), inputs_used=self._references(inputs_used),
            model_checksum=model_checksum, timings=timings, error=None, window=window,
            flags=tuple(flags),
        )

    def fail_product(
        self, product_day: dt.date, production_day: dt.date, error: str, *,
        timings: Mapping[str, float] | None = None,
    ) -> ProductRecord:
        """Record that making a product failed, with the error a person reads.

        A failed re-make of a usable product leaves that product as it was (its ``error``
        says the re-make failed).

        Returns
        -------
        ProductRecord
            Status ``failed``, or the usable product kept.
        """
        return self._end_product(product_day, production_day, status="failed", path=None,
                                 inputs_used=None, model_checksum=None, timings=timings,
                                 error=error)

    def _end_product(
        self, product_day: dt.date, production_day: dt.date, *, status: str,
        path: str | None, inputs_used: list[dict[str, str]] | None,
        model_checksum: str | None, timings: Mapping[str, float] | None, error: str | None,
        window: tuple[dt.date, dt.date] | None = None, flags: tuple[str, ...] = (),
    ) -> ProductRecord:
        day, issue, now = _day(product_day), _day(production_day), utc_now()
        with self.transaction() as conn:
            self._require_claim(conn, day)
            row = self._row(conn, day, issue)
            if row is None:
                raise LedgerError(f"product {day} (production {issue}) was never started; "
                                  "call Ledger.start_product first")
            if status == "failed":
                self._record_failure(conn, row, error or "failed", timings, now)
            else:
                if status == "final":
                    self._make_room_for_final(conn, row, now)
                first, last = ((_day(window[0]), _day(window[1])) if window
                               else self._window_of(conn, inputs_used or []))
                conn.execute(
                    "UPDATE products SET status = ?, path = COALESCE(?, path), "
                    "inputs_used = ?, model_checksum = ?, timings = ?, error = NULL, "
                    "updated_at = ?, finished_at = ?, "
                    "started_at = COALESCE(remake_started_at, started_at), "
                    "run_id = CASE WHEN remake_started_at IS NULL THEN run_id "
                    "ELSE remake_run_id END, window_first = ?, window_last = ?, flags = ?, "
                    "remake_started_at = NULL, remake_run_id = NULL WHERE id = ?",
                    (status, path, json.dumps(inputs_used or []), model_checksum,
                     json.dumps(dict(timings or {})), now, now, first, last,
                     json.dumps(list(flags)), row["id"]))
        return self._product(day, issue)

    @staticmethod
    def _record_failure(conn: sqlite3.Connection, row: sqlite3.Row, error: str,
                        timings: Mapping[str, float] | None, now: str) -> None:
        if row["status"] in _GOOD and row["remake_started_at"] is not None:
            kept = row["finished_at"] or row["updated_at"]
            conn.execute(
                "UPDATE products SET error = ?, updated_at = ?, remake_started_at = NULL, "
                "remake_run_id = NULL, replaces_id = NULL WHERE id = ?",
                (f"a re-make started {row['remake_started_at']} failed ({error}); the issue "
                 f"made {kept} is kept", now, row["id"]))
            return
        conn.execute("UPDATE products SET status = 'failed', model_checksum = NULL, "
                     "timings = ?, error = ?, updated_at = ? WHERE id = ?",
                     (json.dumps(dict(timings or {})), error, now, row["id"]))

    def _make_room_for_final(self, conn: sqlite3.Connection, row: sqlite3.Row,
                             now: str) -> None:
        """Mark ``replaced`` the final this attempt was started to replace; refuse any other
        final of the day."""
        other = conn.execute("SELECT * FROM products WHERE region = ? AND product_day = ? AND "
                             "status = 'final' AND id != ?",
                             (self.region, row["product_day"], row["id"])).fetchone()
        if other is None:
            return
        if row["replaces_id"] != other["id"]:
            raise LedgerError(
                f"product day {row['product_day']}: a final product already exists (issue "
                f"{other['production_day']}, {other['path']}); a day has one final product, "
                "so this one is not recorded final - re-make the day with --force to replace "
                "it")
        conn.execute("UPDATE products SET status = 'replaced', error = ?, updated_at = ? "
                     "WHERE id = ?",
                     (f"replaced by the final issue of {row['production_day']} (a forced "
                      f"re-make) at {now}", now, other["id"]))
        log.info("product %s: the final issue of %s is replaced by that of %s",
                 row["product_day"], other["production_day"], row["production_day"])

    @staticmethod
    def _window_of(conn: sqlite3.Connection,
                   refs: Sequence[Mapping[str, str]]) -> tuple[str | None, str | None]:
        """First and last data day of the recorded inputs among ``refs`` (None if none)."""
        shas = sorted({r["sha256"] for r in refs if r.get("sha256")})
        if not shas:
            return None, None
        row = conn.execute(
            f"SELECT MIN(data_day), MAX(data_day) FROM inputs WHERE sha256 IN "
            f"({', '.join('?' * len(shas))})", shas).fetchone()
        return row[0], row[1]

    def record_product(
        self,
        product_day: dt.date,
        production_day: dt.date,
        *,
        path: str | os.PathLike[str],
        status: str,
        inputs_used: Iterable[InputRecord | Mapping[str, str] | str | os.PathLike[str]],
        made_at: str,
        model_checksum: str | None = None,
        region: str | None = None,
        window: tuple[dt.date, dt.date] | None = None,
        run_id: int | None = None,
        error: str | None = None,
    ) -> ProductRecord:
        """Record a product file that exists, without making it (``varnet-ops ledger
        rebuild``); no claim is needed.

        Parameters
        ----------
        product_day, production_day : datetime.date
        path : str or os.PathLike
            The product file.
        status : {"ok", "final", "replaced"}
        inputs_used : iterable
            As :meth:`finish_product`.
        made_at : str
            When it was made (UTC ledger timestamp): its start, end and last change.
        model_checksum : str, optional
        region : str, optional
            Its region (default this object's).
        window : tuple of datetime.date, optional
            As :meth:`finish_product`.
        run_id : int, optional
            The run recording it.
        error : str, optional
            A note (e.g. why it is ``replaced``).

        Returns
        -------
        ProductRecord

        Raises
        ------
        LedgerError
            If the status is not one of those, if the (region, product day, production day)
            is already recorded, or if a second final of a day is recorded.
        """
        if status not in ("ok", "final", "replaced"):
            raise LedgerError(f"a recorded product is 'ok', 'final' or 'replaced', got "
                              f"{status!r}")
        day, issue = _day(product_day), _day(production_day)
        refs = self._references(inputs_used)
        region = self.region if region is None else region
        with self.transaction() as conn:
            clash = conn.execute(
                "SELECT production_day, status, path FROM products WHERE region = ? AND "
                "product_day = ? AND (production_day = ? OR (status = 'final' AND ? = 'final'))",
                (region, day, issue, status)).fetchone()
            if clash is not None:
                raise LedgerError(f"product day {day}: already recorded (issue "
                                  f"{clash['production_day']}, {clash['status']}, "
                                  f"{clash['path']})")
            first, last = ((_day(window[0]), _day(window[1])) if window
                           else self._window_of(conn, refs))
            conn.execute(
                "INSERT INTO products (region, product_day, production_day, run_id, path, "
                "status, inputs_used, model_checksum, error, started_at, updated_at, "
                "finished_at, window_first, window_last) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (region, day, issue, run_id, os.fspath(path), status, json.dumps(refs),
                 model_checksum, error, made_at, made_at, made_at, first, last))
            row = conn.execute("SELECT * FROM products WHERE region = ? AND product_day = ? "
                               "AND production_day = ?", (region, day, issue)).fetchone()
        return ProductRecord._from_row(row)

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

    def set_product_path(self, product_id: int, path: str | os.PathLike[str]) -> None:
        """Record that the file of product row ``product_id`` (this region's) moved to
        ``path``, e.g. a replaced final set aside (:mod:`varnet.operational.pipeline`)."""
        with self.transaction() as conn:
            conn.execute("UPDATE products SET path = ?, updated_at = ? WHERE id = ? AND "
                         "region = ?", (os.fspath(path), utc_now(), product_id, self.region))

    def finalize(self, product_day: dt.date) -> ProductRecord | None:
        """Mark the latest ``ok`` issue of ``product_day`` as ``final`` (if none is final).

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
        return ProductRecord._from_row(self._row(self._connect(), day, issue))

    def product(self, product_day: dt.date, production_day: dt.date) -> ProductRecord | None:
        """The attempt at ``product_day`` made on ``production_day`` (this region's), or
        None."""
        rows = self._query("SELECT * FROM products WHERE region = ? AND product_day = ? AND "
                           "production_day = ?",
                           (self.region, _day(product_day), _day(production_day)))
        return ProductRecord._from_row(rows[0]) if rows else None

    def product_history(self, product_day: dt.date) -> list[ProductRecord]:
        """Every attempt at ``product_day`` (this region's), by production day."""
        rows = self._query("SELECT * FROM products WHERE region = ? AND product_day = ? "
                           "ORDER BY production_day", (self.region, _day(product_day)))
        return [ProductRecord._from_row(r) for r in rows]

    def products_with_status(self, *statuses: str) -> list[ProductRecord]:
        """Every product row of this region whose status is one of ``statuses``, by product
        and production day."""
        rows = self._query(f"SELECT * FROM products WHERE region = ? AND status IN "
                           f"({', '.join('?' * len(statuses))}) ORDER BY product_day, "
                           "production_day", (self.region, *statuses))
        return [ProductRecord._from_row(r) for r in rows]

    def latest_product(self, product_day: dt.date) -> ProductRecord | None:
        """The product to serve for ``product_day``: its ``final`` one, else its ``ok`` one
        of the latest production day, else None."""
        day = dt.date.fromisoformat(_day(product_day) or "")
        return self.latest_products(day, day).get(day)

    def latest_products(self, first: dt.date, last: dt.date) -> dict[dt.date, ProductRecord]:
        """For each product day in ``[first, last]`` that has one, the product to serve.

        Returns
        -------
        dict of datetime.date to ProductRecord
            The day's ``final`` product, else its ``ok`` one of the latest production day;
            days without a usable product are absent.
        """
        rows = self._query(
            "SELECT * FROM products WHERE region = ? AND product_day BETWEEN ? AND ? AND "
            "status IN ('ok', 'final') ORDER BY product_day, status = 'final', production_day",
            (self.region, _day(first), _day(last)))
        best: dict[dt.date, ProductRecord] = {}
        for row in rows:  # the last of each day wins: a final, else the latest issue
            record = ProductRecord._from_row(row)
            best[record.product_day] = record
        return best

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
        return bool(self._gone_inputs(latest))

    def _gone_inputs(self, product: ProductRecord) -> list[InputRecord]:
        """Recorded inputs ``product`` used that are no longer ``ok`` (superseded)."""
        used = {ref["sha256"] for ref in product.inputs_used if ref.get("sha256")}
        if not used:
            return []
        placeholders = ", ".join("?" * len(used))
        rows = self._query(f"SELECT * FROM inputs WHERE sha256 IN ({placeholders}) ORDER BY id",
                           sorted(used))
        records = [InputRecord._from_row(r) for r in rows]
        ok = {r.sha256 for r in records if r.status == "ok"}
        return [r for r in records if r.sha256 not in ok]

    def stale_finals(self, first_day: dt.date, last_day: dt.date) -> list[StaleFinal]:
        """Final products of ``[first_day, last_day]`` whose inputs changed after they were
        made.

        A final is stale if an ``ok`` input whose data day lies in its window
        (``ProductRecord.window``, else the data days of its inputs) was archived after the
        product was started and is not one it used, or if an input it used was superseded.

        Returns
        -------
        list of StaleFinal
            By product day, each with the reason a person reads, e.g. ``"inputs changed
            after the final product (file X archived at T)"``.
        """
        rows = self._query("SELECT * FROM products WHERE region = ? AND status = 'final' AND "
                           "product_day BETWEEN ? AND ? ORDER BY product_day",
                           (self.region, _day(first_day), _day(last_day)))
        stale = []
        for row in rows:
            found = self._staleness(ProductRecord._from_row(row))
            if found is not None:
                stale.append(found)
        return stale

    def _staleness(self, final: ProductRecord) -> StaleFinal | None:
        if final.window is not None:
            first, last = (d.isoformat() for d in final.window)
        else:
            first, last = self._window_of(self._connect(), final.inputs_used)
        used = {ref.get("sha256") for ref in final.inputs_used}
        if first is not None and last is not None:
            rows = self._query(
                "SELECT * FROM inputs WHERE status = 'ok' AND data_day BETWEEN ? AND ? AND "
                "ingested_at > ? ORDER BY ingested_at, id", (first, last, final.started_at))
            new = [InputRecord._from_row(r) for r in rows if r["sha256"] not in used]
            if new:
                more = f", and {len(new) - 1} more" if len(new) > 1 else ""
                return StaleFinal(final, f"inputs changed after the final product (file "
                                  f"{new[0].original_name} archived at {new[0].ingested_at}"
                                  f"{more})", tuple(new))
        gone = self._gone_inputs(final)
        if gone:
            why = f": {gone[0].reason}" if gone[0].reason else ""
            return StaleFinal(final, f"inputs changed after the final product (file "
                              f"{gone[0].original_name} it used is {gone[0].status}{why})",
                              tuple(gone))
        return None

    def interrupted_products(self) -> list[ProductRecord]:
        """Attempts whose maker died: ``in-progress`` rows, and re-makes of usable rows,
        whose day nobody claims (any region)."""
        rows = self._query(
            "SELECT * FROM products WHERE (status = 'in-progress' OR remake_started_at IS NOT "
            "NULL) AND product_day NOT IN (SELECT product_day FROM claims) "
            "ORDER BY product_day, production_day")
        return [ProductRecord._from_row(r) for r in rows]

    def mark_interrupted(self) -> int:
        """Record what died: clear the claims of dead processes of this host
        (:meth:`clear_dead_claims`), mark their runs ``interrupted``
        (:meth:`mark_interrupted_runs`), and settle every :meth:`interrupted_products` row:
        an ``in-progress`` one becomes ``interrupted``; an interrupted re-make of a usable
        product leaves that product as it was (its ``error`` says so).

        Returns
        -------
        int
            How many product rows changed.
        """
        self.clear_dead_claims()
        self.mark_interrupted_runs()
        now = utc_now()
        unclaimed = "product_day NOT IN (SELECT product_day FROM claims)"
        with self.transaction() as conn:
            lost = conn.execute(
                f"UPDATE products SET status = 'interrupted', error = ? || ' (started ' || "
                f"started_at || ')', updated_at = ? WHERE status = 'in-progress' AND {unclaimed}",
                (_INTERRUPTED, now)).rowcount
            kept = conn.execute(
                "UPDATE products SET error = 'a re-make started ' || remake_started_at || ' was "
                "interrupted before it finished; the issue made ' || COALESCE(finished_at, "
                "updated_at) || ' is kept', remake_started_at = NULL, remake_run_id = NULL, "
                f"replaces_id = NULL, updated_at = ? WHERE remake_started_at IS NOT NULL AND "
                f"{unclaimed}", (now,)).rowcount
        return lost + kept


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
