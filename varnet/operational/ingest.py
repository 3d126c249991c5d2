"""Ingest: move new observation files from the inbox into the archive, or into quarantine.

The configured folders must exist when ingest starts (``paths.inbox``, ``paths.archive``...:
a missing one is a :class:`~varnet.config.ConfigError` naming its key, so that a typo in a
path never leaves files undelivered; ``varnet-ops init`` or ``paths.create_missing = true``
create them); only folders inside them are created as needed.

For every file under the inbox (searched recursively, links never followed),
:func:`ingest`

0. checks its size from :func:`os.lstat`, before anything is read: a file larger than
   ``production.max_input_mb`` (default 2000 MB), or a sparse one (over 1 MiB, fewer
   allocated blocks than half its length, and a hole), is never read, hashed nor copied: it
   is moved to the quarantine with :func:`os.rename` where the quarantine is on the same
   file system, with a note giving its size and the limit and the key to raise it, and
   recorded in the ledger (``sha256`` :data:`UNREAD`); where the quarantine is on another
   file system it stays in the inbox and is reported as an ``error`` on every run;
1. recognises it, looping over the observation kinds of the registry
   (:mod:`varnet.datamodel.kinds`, in their order): by name first (a CMEMS L3 along-track
   file in any of its forms, a GHRSST file...), then by content for the kinds that can (an
   along-track file under another name by its ``platform`` and time coverage attributes,
   archived under its CMEMS name); a file over several data days (a data challenge's
   along-track extraction ``dt_{area}_{mission}_phy_l3_{first}-{last}_...nc``, or such
   content) is split by its kind into one daily file per day, each filed as below; anything
   else is quarantined as an unrecognised file (kind ``unknown``);
2. checks the name against the configuration: data day not in the future nor before
   ``production.first_day``, production day not before the data day, then the kind's own
   filters (along-track mission in ``production.missions`` if set, GHRSST level in
   ``production.sst_levels``);
3. opens it and checks it as its kind does (:meth:`~varnet.datamodel.kinds.ObservationKind.
   content_problem`), with the one reader of training and operations
   (:func:`~varnet.io.readers.read_alongtrack`, :func:`~varnet.io.readers.read_sst`, which
   check variables, units, CF decoding, times, value ranges and coordinates) and in addition
   that it holds at least one valid value (an along-track file without any point, an empty
   pass, is valid; one whose points all lack a value is not), that an SST file's time lies
   within the day its name gives and its variable matches the level in its name, and that its
   grid overlaps the region;
4. deduplicates: a file whose bytes are already archived is removed from the inbox (a no-op);
   a file with the same data as an archived one (the same slot of its kind, along-track: same
   mission and data day; SST: same name) replaces it only if it is a later production (its
   kind's production order, along-track: later production day, delayed-time over
   near-real-time, later ``date_created``; SST: later ``date_created``), and is quarantined
   as a duplicate otherwise;
5. moves a good file atomically (copy to a hidden temporary file in the destination folder,
   checked against the SHA-256 of the original, then :func:`os.replace`, then removal from
   the inbox) to its kind's folder, ``archive/{kind}/YYYY/MM/`` (``archive/alongtrack/``,
   ``archive/sst/``; data day), and a bad one to ``quarantine/YYYYMMDD/`` (ingest day, UTC)
   next to ``NAME.reason.txt``, a note a person can read. Every file is recorded in the
   ledger with its SHA-256 and its kind's name. Hashing a file over 100 MB is announced by a
   log line first (``hashing NAME (1.5 GB)...``).

Copies keep the delivered file's read permissions, in the archive and in the quarantine
alike: read and write for the owner (the service, which must read what it archived), read
for group and others only where the delivered file gave it (a 0600 file stays 0600, a 0640
one 0640; the service's umask may narrow them further); write for group or others, execute
and set-id bits are never copied. Entries moved rather than copied keep their mode.

A file replaced by a later production of the same name is kept in the quarantine with a note
(status ``superseded`` in the ledger); one replaced by a later production under another name
stays in the archive, where :func:`varnet.datamodel.files.find_input_files` also prefers the
later one.
Entries whose names mark a transfer in progress (a leading dot, ``.tmp``, ``.part``...) are
left in the inbox. Sub-folders of the inbox are searched, except a folder whose name is that
of an observation file (``nrt_global_j3_phy_l3_20230101_20230102.nc/``), which is moved to
the quarantine whole, unread, with a note saying so; links and special files are moved there
too, never followed nor opened.

Only a file's base name is ever used to build a destination, and names with path separators,
``..`` or control characters are quarantined under a sanitised name, so no inbox name can put
a file outside the archive or the quarantine. One bad file never stops the others; a file that
cannot be handled at all stays in the inbox for the next run, nothing half-written left
behind. A full disk (or quota) is said as such: "no space left on device in FOLDER"
(:class:`~varnet.io.atomic.NoSpaceError`), also where the NetCDF library or SQLite call it
something else. Each file gets one log line on the ``varnet.ops.ingest`` logger.

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import hashlib
import logging
import os
import re
import secrets
import socket
import sqlite3
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from varnet.datamodel import kinds as observation_kinds
from varnet.datamodel.kinds import (
    UNKNOWN,
    Identity,
    KindOptions,
    ObservationFile,
    ObservationKind,
)
from varnet.io.atomic import (
    NO_SPACE_ERRNOS,
    NoSpaceError,
    atomic_path,
    fsync_directory,
    no_space_error,
)
from varnet.io.readers import InputFileError
from varnet.operational.config import (
    SST_LEVELS,
    OpsConfig,
    RegionConfig,
    require_folder,
    require_folders,
)
from varnet.operational.ledger import InstanceLock, Ledger, utc_now, utc_timestamp

__all__ = [
    "ACTIONS",
    "DEFAULT_MAX_INPUT_BYTES",
    "UNREAD",
    "FileOutcome",
    "IngestReport",
    "IngestSettings",
    "ingest",
]

log = logging.getLogger("varnet.ops.ingest")

#: What ingest did with a file: ``archived`` (new), ``replaced`` (archived, superseding an
#: earlier production of the same data), ``duplicate`` (identical file already archived;
#: removed from the inbox), ``quarantined``, ``skipped`` (left in the inbox for a later run:
#: still arriving), ``error`` (could not be handled; left in the inbox).
ACTIONS = ("archived", "replaced", "duplicate", "quarantined", "skipped", "error")

#: Name endings of files still being transferred; they are left alone.
_IN_PROGRESS_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".filepart", ".crdownload",
                         ".download", ".lock")
_CHUNK = 1 << 20
#: Default of :attr:`IngestSettings.max_input_bytes` (``production.max_input_mb`` = 2000).
DEFAULT_MAX_INPUT_BYTES = 2_000 * 10**6
#: Files longer than this whose allocated blocks cover less than half their length, and
#: which have a hole, are sparse: never an observation file.
_SPARSE_MIN_BYTES = 1 << 20
#: Hashing a file longer than this is announced by a log line first.
_HASH_LOG_BYTES = 100 * 10**6
#: The ledger's ``sha256`` of an entry quarantined without being read (not a checksum).
UNREAD = "unread"


# --------------------------------------------------------------------------------------------
# settings and report


@dataclass(frozen=True)
class IngestSettings:
    """Where ingest reads and writes, and what it accepts.

    Attributes
    ----------
    inbox, archive, quarantine : pathlib.Path
        The folders; they must exist when ingest starts (``paths.inbox``...), unless
        ``create_missing``. Folders inside them are created as needed.
    missions : tuple of str
        Accepted along-track missions; empty accepts all.
    sst_levels : tuple of str
        Accepted GHRSST levels.
    first_day : datetime.date or None
        Earliest accepted data day (None: no limit).
    region : RegionConfig or None
        The product region; SST grids must overlap it (None: not checked).
    sst_min_quality_level : int
        L3 pixels whose ``quality_level`` is below this are missing (0..5); a file with no
        pixel left is quarantined.
    min_age_s : float
        Files modified less than this many seconds ago are left for the next run (they may
        still be arriving), seconds.
    max_input_bytes : int
        Larger files are quarantined without being read (``production.max_input_mb``).
    create_missing : bool
        Create missing ``inbox``, ``archive`` and ``quarantine`` folders instead of refusing
        to start (``paths.create_missing``).
    """

    inbox: Path
    archive: Path
    quarantine: Path
    missions: tuple[str, ...] = ()
    sst_levels: tuple[str, ...] = SST_LEVELS
    first_day: dt.date | None = None
    region: RegionConfig | None = None
    sst_min_quality_level: int = 4
    min_age_s: float = 0.0
    max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES
    create_missing: bool = False

    def __post_init__(self) -> None:
        for name in ("inbox", "archive", "quarantine"):
            object.__setattr__(self, name, Path(os.path.abspath(getattr(self, name))))
        object.__setattr__(self, "missions", tuple(self.missions))
        object.__setattr__(self, "sst_levels", tuple(self.sst_levels))

    @property
    def kind_options(self) -> KindOptions:
        """What the observation kinds read of these settings (missions, levels, region)."""
        return KindOptions(missions=self.missions, sst_levels=self.sst_levels,
                           sst_min_quality_level=self.sst_min_quality_level,
                           region=self.region)

    @classmethod
    def from_config(cls, config: OpsConfig, *, min_age_s: float = 0.0) -> IngestSettings:
        """The settings of an operations configuration (paths, filters and region)."""
        return cls(
            inbox=Path(config.paths.inbox), archive=Path(config.paths.archive),
            quarantine=Path(config.paths.quarantine), missions=config.production.missions,
            sst_levels=config.production.sst_levels, first_day=config.production.first_day,
            region=config.region,
            sst_min_quality_level=config.production.sst_min_quality_level, min_age_s=min_age_s,
            max_input_bytes=config.production.max_input_mb * 10**6,
            create_missing=config.paths.create_missing,
        )


@dataclass(frozen=True)
class FileOutcome:
    """What ingest did with one inbox file.

    Attributes
    ----------
    source : pathlib.Path
        The file in the inbox.
    action : str
        One of :data:`ACTIONS`.
    kind : str
        The name of its observation kind (:mod:`varnet.datamodel.kinds`: ``"alongtrack"``,
        ``"sst"``...), ``"unknown"`` where it was not recognised.
    destination : pathlib.Path or None
        Where it went (archive or quarantine), or the archived file it duplicates.
    reason : str or None
        Why it was quarantined, skipped or not handled; what it duplicates or replaced.
    data_day : datetime.date or None
        Data day from the name.
    mission, level : str or None
        Along-track mission, GHRSST level.
    sha256 : str or None
        SHA-256 of its bytes (None where it was not read).
    """

    source: Path
    action: str
    kind: str = UNKNOWN
    destination: Path | None = None
    reason: str | None = None
    data_day: dt.date | None = None
    mission: str | None = None
    level: str | None = None
    sha256: str | None = None

    @property
    def name(self) -> str:
        """The file's name in the inbox."""
        return self.source.name


@dataclass(frozen=True)
class IngestReport:
    """Everything one :func:`ingest` call did: one outcome per inbox entry (sorted by path), one
    per data day for an extraction split into daily files.

    Attributes
    ----------
    outcomes : tuple of FileOutcome
    started_at, finished_at : str
        UTC timestamps.
    """

    outcomes: tuple[FileOutcome, ...]
    started_at: str
    finished_at: str

    def _where(self, *actions: str) -> tuple[FileOutcome, ...]:
        return tuple(o for o in self.outcomes if o.action in actions)

    @property
    def archived(self) -> tuple[FileOutcome, ...]:
        """Files archived (``archived`` and ``replaced``)."""
        return self._where("archived", "replaced")

    @property
    def quarantined(self) -> tuple[FileOutcome, ...]:
        """Files quarantined."""
        return self._where("quarantined")

    @property
    def duplicates(self) -> tuple[FileOutcome, ...]:
        """Files identical to archived ones, removed from the inbox."""
        return self._where("duplicate")

    @property
    def skipped(self) -> tuple[FileOutcome, ...]:
        """Files left in the inbox for a later run."""
        return self._where("skipped")

    @property
    def errors(self) -> tuple[FileOutcome, ...]:
        """Files that could not be handled (left in the inbox)."""
        return self._where("error")

    @property
    def days_changed(self) -> tuple[dt.date, ...]:
        """Data days that received archived files, sorted: products reading them may need a
        re-issue."""
        return tuple(sorted({o.data_day for o in self.archived if o.data_day is not None}))

    def summary(self) -> str:
        """One line, e.g. ``"5 files: 3 archived, 1 quarantined, 1 duplicate"`` (files counted
        once, outcomes per day of an extraction)."""
        counts = [(a, sum(o.action == a for o in self.outcomes)) for a in ACTIONS]
        parts = [f"{n} {a}" for a, n in counts if n]
        total = len({o.source for o in self.outcomes})
        return f"{total} file{'s' if total != 1 else ''}" + (": " + ", ".join(parts)
                                                            if parts else "")


# --------------------------------------------------------------------------------------------
# the entry point


def ingest(
    source: OpsConfig | IngestSettings,
    ledger: Ledger | None = None,
    *,
    today: dt.date | None = None,
    lock_timeout_s: float = 600.0,
    progress: bool = False,
) -> IngestReport:
    """Ingest every file of the inbox: archive the good ones, quarantine the bad ones.

    Parameters
    ----------
    source : OpsConfig or IngestSettings
        The configuration (as from :func:`varnet.operational.config.load_ops_config`), or
        explicit folders and filters.
    ledger : Ledger, optional
        The ledger to record files in; by default the configuration's
        (``{paths.state}/ledger.sqlite``), which requires ``source`` to be an ``OpsConfig``.
    today : datetime.date, optional
        The ingest day (UTC): files of later data or production days are quarantined, and the
        quarantine folder is named after it. Defaults to the current UTC day.
    lock_timeout_s : float, optional
        How long to wait for another ingest of the same ledger to finish, seconds
        (``{ledger folder}/ingest.lock``).
    progress : bool, optional
        Show a progress bar (tqdm).

    Returns
    -------
    IngestReport
        One outcome per inbox entry (per day for an extraction).

    Raises
    ------
    TypeError
        If no ledger is given and ``source`` is not an ``OpsConfig``.
    varnet.config.ConfigError
        If a configured folder is missing (``paths.inbox``...; all five for an ``OpsConfig``,
        :func:`~varnet.operational.config.require_folders`), before anything is done.
    varnet.operational.ledger.LockHeldError
        If another ingest still runs after ``lock_timeout_s``.
    """
    if isinstance(source, OpsConfig):
        settings = IngestSettings.from_config(source)
        require_folders(source)
    else:
        settings = source
        for key in ("inbox", "archive", "quarantine"):
            require_folder(key, getattr(settings, key), create=settings.create_missing)
    own_ledger = ledger is None
    if ledger is None:
        if not isinstance(source, OpsConfig):
            raise TypeError("ingest: pass a Ledger when source is not an OpsConfig")
        ledger = Ledger.for_config(source)
    today = today or dt.datetime.now(dt.UTC).date()
    started = utc_now()
    lock = InstanceLock(ledger.path.parent / "ingest.lock", "varnet-ops ingest")
    lock.acquire(timeout_s=lock_timeout_s)
    try:
        _remove_killed_copies(settings.archive, settings.quarantine)
        ctx = _Context(settings, ledger, today)
        entries = sorted(_inbox_entries(settings.inbox))
        if progress:
            from tqdm import tqdm

            entries = tqdm(entries, desc="ingest", unit="file")
        outcomes = tuple(o for path in entries for o in _ingest_entry(path, ctx))
    finally:
        lock.release()
        if own_ledger:
            ledger.close()
    report = IngestReport(outcomes, started, utc_now())
    if outcomes:
        log.info("ingest of %s done: %s", settings.inbox, report.summary())
    return report


@dataclass
class _Context:
    settings: IngestSettings
    ledger: Ledger
    today: dt.date
    stamp: str = field(default_factory=utc_now)

    @property
    def options(self) -> KindOptions:
        return self.settings.kind_options

    @property
    def quarantine_dir(self) -> Path:
        return self.settings.quarantine / f"{self.today:%Y%m%d}"

    def quarantine_folder(self) -> Path:
        """:attr:`quarantine_dir`, created if needed (``paths.quarantine`` must exist)."""
        return _subfolder(self.quarantine_dir, self.settings.quarantine)


def _inbox_entries(inbox: Path) -> Iterator[Path]:
    """Every file and link under ``inbox``, not following links to folders; a folder whose
    name is that of an observation file is an entry (quarantined whole), not searched."""
    for folder, dirnames, filenames in os.walk(inbox, followlinks=False):
        base = Path(folder)
        searched = []
        for name in dirnames:
            if (base / name).is_symlink() or _observation_name(name):
                yield base / name
            else:
                searched.append(name)
        dirnames[:] = searched
        for name in filenames:
            yield base / name


def _observation_name(name: str) -> bool:
    """Whether ``name`` is that of an observation file of a registered kind (along-track,
    extraction, GHRSST...)."""
    return observation_kinds.identify_name(name) is not None


def _ingest_entry(path: Path, ctx: _Context) -> tuple[FileOutcome, ...]:
    """Handle one inbox entry (an extraction gives one outcome per day); anything unexpected
    leaves it in the inbox as an error."""
    try:
        result = _ingest_file(path, ctx)
        return result if isinstance(result, tuple) else (result,)
    except Exception as exc:  # one file must never stop the others
        exc = _no_space(exc, ctx) or exc
        reason = f"{type(exc).__name__}: {exc}"
        log.error("could not ingest %s (left in the inbox for the next run): %s",
                  _show(path.name), reason)
        return (FileOutcome(source=path, action="error", reason=reason),)


def _no_space(exc: BaseException, ctx: _Context) -> NoSpaceError | None:
    """The :class:`NoSpaceError` of a full disk under another name, here or in the errors
    that caused ``exc``: an OSError ENOSPC or EDQUOT naming a file (e.g. a folder being
    created), SQLite's "database or disk is full" (also wrapped in a ``LedgerError``)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, NoSpaceError):
            return None  # says where itself
        if isinstance(exc, OSError) and exc.errno in NO_SPACE_ERRNOS and exc.filename:
            return NoSpaceError(Path(os.fsdecode(exc.filename)).parent, err=exc.errno)
        if isinstance(exc, sqlite3.OperationalError) and (
                getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
                or "disk is full" in str(exc)):
            return NoSpaceError(ctx.ledger.path.parent,
                                f"writing the ledger {ctx.ledger.path.name}")
        exc = exc.__cause__ or exc.__context__
    return None


# --------------------------------------------------------------------------------------------
# one file


def _ingest_file(path: Path, ctx: _Context) -> FileOutcome | tuple[FileOutcome, ...]:
    name = path.name
    unsafe = _unsafe_name(name)
    if unsafe is not None:
        return _quarantine_entry(path, ctx, f"unsafe file name: {unsafe}; only plain names "
                                 "are accepted")
    if _in_progress(name):
        return _skip(path, "temporary name of a file still arriving")
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        target = os.readlink(path)
        return _quarantine_entry(path, ctx, f"symbolic link to {target!r}; links are never "
                                 "followed (one could point anywhere) - put the file itself "
                                 "in the inbox")
    if stat.S_ISDIR(info.st_mode):
        return _quarantine_entry(path, ctx, "a directory named like an observation file; "
                                 "observation files are regular files. It was moved here whole, "
                                 "its content not read: put the files it holds in the inbox")
    if not stat.S_ISREG(info.st_mode):
        return _quarantine_entry(path, ctx, "not a regular file")
    age = time.time() - info.st_mtime
    if ctx.settings.min_age_s > 0 and age < ctx.settings.min_age_s:
        return _skip(path, f"modified {age:.0f} s ago, less than {ctx.settings.min_age_s:g} s: "
                     "it may still be arriving")
    too_big = _size_problem(path, info, ctx.settings)
    if too_big is not None:  # before anything is read
        return _quarantine_entry(path, ctx, too_big, read=False)

    sha, size = _sha256(path)
    for rec in ctx.ledger.find_inputs(sha256=sha, status="ok"):
        if Path(rec.path).is_file():
            path.unlink()
            log.info("duplicate %s: identical to %s archived %s; removed from the inbox",
                     _show(name), rec.path, rec.ingested_at)
            return FileOutcome(source=path, action="duplicate", kind=rec.kind,
                               destination=Path(rec.path), reason=f"identical to {rec.path}",
                               data_day=rec.data_day, mission=rec.mission, level=rec.level,
                               sha256=sha)
        ctx.ledger.set_input_status(rec.id, "superseded", reason="archived file missing; "
                                    f"re-ingested from {name} on {ctx.stamp}")
        log.warning("%s: archived file %s is missing; archiving this copy again", _show(name),
                    rec.path)

    found = _recognise(path, ctx.today)
    if isinstance(found, str):
        return _quarantine(path, ctx, sha, size, None, None, found)
    if not found.daily:
        return _ingest_split(path, ctx, sha, size, found)
    return _check_and_file(path, ctx, sha, size, found)


def _check_and_file(path: Path, ctx: _Context, sha: str, size: int,
                    ident: Identity) -> FileOutcome:
    """Check a recognised file against the configuration and its content, then archive or
    quarantine it."""
    problem = _name_problem(ident, ctx)
    created = None
    if problem is None:
        problem, created = _content_problem(path, ident, ctx)
    if problem is not None:
        return _quarantine(path, ctx, sha, size, ident, created, problem)
    return _archive(path, ctx, sha, size, ident, created)


def _skip(path: Path, reason: str) -> FileOutcome:
    log.info("skipped %s: %s", _show(path.name), reason)
    return FileOutcome(source=path, action="skipped", reason=reason)


def _recognise(path: Path, today: dt.date) -> Identity | str:
    """What a file is: by name, asking every kind of the registry in its order; else by
    content, asking the kinds that can.

    Returns the identity (of a daily file, or of a file covering several data days, split by
    :func:`_ingest_split`), or, for a file no kind recognises, the reason.
    """
    identity = observation_kinds.identify_name(path.name)
    if identity is not None:
        return identity
    unrecognised = f"unrecognised file name; expected {observation_kinds.expected_names()}"
    clauses = []
    for kind in observation_kinds.kinds():
        found = kind.identify_content(path, today)
        if isinstance(found, Identity):
            return found
        if found is not None:
            clauses.append(found)
    return unrecognised + "".join(clauses)


def _ingest_split(path: Path, ctx: _Context, sha: str, size: int,
                  identity: Identity) -> tuple[FileOutcome, ...]:
    """Split a file covering several data days into daily files of its kind
    (:meth:`~varnet.datamodel.kinds.ObservationKind.split`; along-track: one CMEMS L3 daily
    file per day with points, :func:`varnet.io.writers.write_alongtrack`, the same packing
    as CMEMS), each checked and archived like a delivered daily file; the file leaves the
    inbox once every day is filed."""
    name = path.name
    kind = observation_kinds.get(identity.kind)
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="varnet-split-") as tmp:
        try:
            days = kind.split(path, identity, Path(tmp),
                              source=f"split by varnet-ops ingest from {name} (sha256 {sha})",
                              production=lambda: _day_of(_created(kind, path)) or ctx.today)
        except InputFileError as exc:
            return (_quarantine(path, ctx, sha, size, None, None, exc.problem),)
        for daily, ident in days:
            os.chmod(daily, stat.S_IMODE(path.stat().st_mode))  # its copies: the same mode
            daily_sha, daily_size = _sha256(daily)
            known = [r for r in ctx.ledger.find_inputs(sha256=daily_sha, status="ok")
                     if Path(r.path).is_file()]
            if known:
                outcomes.append(FileOutcome(source=path, action="duplicate", kind=ident.kind,
                                            destination=Path(known[0].path),
                                            reason=f"identical to {known[0].path}",
                                            data_day=ident.data_day, mission=ident.mission,
                                            level=ident.level, sha256=daily_sha))
                continue
            outcome = _check_and_file(daily, ctx, daily_sha, daily_size, ident)
            outcomes.append(dataclasses.replace(outcome, source=path))
    path.unlink()
    counts = {a: sum(o.action == a for o in outcomes) for a in ACTIONS}
    log.info("split %s (%s, %s to %s) into %d daily files: %s", _show(name), identity.mission,
             identity.data_day, identity.last_day, len(outcomes),
             ", ".join(f"{n} {a}" for a, n in counts.items() if n))
    return tuple(outcomes)


def _name_problem(ident: Identity, ctx: _Context) -> str | None:
    """What is wrong with a recognised name given the configuration and the day, if anything:
    the days, then the kind's own filters (mission, level...)."""
    s, today = ctx.settings, ctx.today
    if ident.production_day is not None and ident.production_day < ident.data_day:
        return (f"out of window: production day {ident.production_day} in the file name is "
                f"before its data day {ident.data_day}")
    if ident.data_day > today:
        return (f"out of window: data day {ident.data_day} is in the future (ingest day "
                f"{today} UTC)")
    if ident.production_day is not None and ident.production_day > today:
        return (f"out of window: production day {ident.production_day} is in the future "
                f"(ingest day {today} UTC)")
    if s.first_day is not None and ident.data_day < s.first_day:
        return (f"out of window: data day {ident.data_day} is before production.first_day "
                f"{s.first_day}")
    return observation_kinds.get(ident.kind).name_problem(ident, ctx.options)


def _content_problem(path: Path, ident: Identity, ctx: _Context) -> tuple[str | None, str | None]:
    """Open and check the file as its kind does. Returns (problem or None, ``date_created``
    as a UTC timestamp or None)."""
    kind = observation_kinds.get(ident.kind)
    try:
        problem = kind.content_problem(path, ident, ctx.options)
        created = None if problem else _created(kind, path)
    except InputFileError as exc:
        return exc.problem, None
    except Exception as exc:  # netCDF4/HDF5 raise many types on damaged files
        return (f"cannot be read ({type(exc).__name__}: {exc}); the file is truncated, corrupt "
                "or not NetCDF - fetch it again"), None
    return problem, created


def _created(kind: ObservationKind, path: Path) -> str | None:
    """The file's creation date as its kind reads it, as a ledger timestamp (None if absent
    or unreadable as a date)."""
    return _timestamp(kind.date_created(path))


def _timestamp(text: str | None) -> str | None:
    """An ISO date and time as a ledger timestamp (UTC); None for None or a non-date."""
    if not text:
        return None
    try:
        return utc_timestamp(dt.datetime.fromisoformat(text.strip()))
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------
# archive


def _archive(
    path: Path, ctx: _Context, sha: str, size: int, ident: Identity, created: str | None,
) -> FileOutcome:
    name = ident.archive_name or path.name
    original = ident.original_name or path.name
    ledger = ctx.ledger
    kind = observation_kinds.get(ident.kind)
    mine = ident.file(name, created=created)
    slot = kind.slot(mine)
    same = [r for r in ledger.find_inputs(kind=kind.name, data_day=ident.data_day, status="ok")
            if kind.slot(ObservationFile.from_record(r)) == slot]
    order = kind.production_order(mine)
    newer = [r for r in same
             if kind.production_order(ObservationFile.from_record(r)) >= order]
    if newer:
        rec = newer[-1]
        return _quarantine(path, ctx, sha, size, ident, created, (
            f"duplicate: {rec.original_name} (sha256 {rec.sha256[:12]}..., archived "
            f"{rec.ingested_at}) holds the same data ({ident.describe()}) from the same or a "
            "later production; this file is not newer"))

    dest_dir = ctx.settings.archive / kind.archive_folder(ident)
    dest = _inside(dest_dir / name, ctx.settings.archive)
    production = ident.production_day or _day_of(created)
    fields = dict(original_name=original, kind=ident.kind, sha256=sha, size=size,
                  mission=ident.mission, level=ident.level, data_day=ident.data_day,
                  production_day=production, file_created=created)

    orphan = dest.exists() and not any(Path(r.path) == dest for r in same)
    if orphan and _sha256(dest)[0] == sha:  # left by an interrupted ingest: just record it
        ledger.record_input(path=dest, status="ok", **fields)
        path.unlink()
        log.info("archived %s -> %s (already there from an interrupted ingest)", _show(name),
                 dest.parent)
        return _outcome(path, "archived", ident, dest, None, sha)
    # an older file of the same name (or one the ledger does not know) is set aside
    displaced = dest if dest.exists() else None

    _subfolder(dest_dir, ctx.settings.archive)
    tmp = _copy_to_temp(path, dest_dir, name, sha)
    kept: Path | None = None
    kept_tmp = None
    try:
        if displaced is not None:
            kept_tmp = _copy_to_temp(displaced, ctx.quarantine_folder(), name, None)
        with ledger.transaction():
            if kept_tmp is not None:
                kept = _unique(ctx.quarantine_dir, _safe_name(name))
                os.replace(kept_tmp, kept)
                kept_tmp = None
            for rec in same:
                why = f"superseded by {name} (later production), ingested {ctx.stamp}"
                moved = kept if Path(rec.path) == dest else None
                ledger.set_input_status(rec.id, "superseded", reason=why, path=moved)
                if moved is not None:
                    _write_reason(moved, ctx, original=rec.original_name, source=dest,
                                  problem=f"superseded by a later production of the same "
                                  f"name, now archived at {dest}; kept for reference",
                                  describe=ident.describe(), sha=rec.sha256, size=rec.size)
            if orphan and kept is not None:
                _write_reason(kept, ctx, original=name, source=dest, problem="found in the "
                              "archive without a ledger record; replaced by the ingested file "
                              "of the same name", describe=ident.describe(), sha=None, size=None)
            ledger.record_input(path=dest, status="ok", **fields)
            os.replace(tmp, dest)
    finally:
        for leftover in (tmp, kept_tmp):
            if leftover is not None:
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()
    fsync_directory(dest_dir)
    path.unlink()
    action = "replaced" if same else "archived"
    note = None
    if same:
        note = "replaces " + ", ".join(r.original_name for r in same)
    log.info("%s %s -> %s (%s, %s)%s", action, _show(name), dest.parent, ident.describe(),
             _size(size), f"; {note}" if note else "")
    return _outcome(path, action, ident, dest, note, sha)


def _outcome(path: Path, action: str, ident: Identity, dest: Path, reason: str | None,
             sha: str) -> FileOutcome:
    return FileOutcome(source=path, action=action, kind=ident.kind, destination=dest,
                       reason=reason, data_day=ident.data_day, mission=ident.mission,
                       level=ident.level, sha256=sha)


def _day_of(created: str | None) -> dt.date | None:
    return dt.date.fromisoformat(created[:10]) if created else None


# --------------------------------------------------------------------------------------------
# quarantine


def _quarantine_entry(path: Path, ctx: _Context, problem: str, *,
                      read: bool = True) -> FileOutcome:
    """Quarantine something that must not be read: an unsafe name, a link, a special file, a
    directory, a file too large or sparse (``read=False``).

    Such an entry is moved as it is (``os.rename``, never followed, opened nor copied), with
    a note, and recorded in the ledger with ``sha256`` :data:`UNREAD` (a link: the SHA-256 of
    its target's name). Where the quarantine is on another file system it cannot be moved
    without a copy: it is left in the inbox and reported (``error``). A regular file with
    an unsafe name (``read=True``) is hashed and copied like any quarantined file, unless it
    is too large or sparse.
    """
    info = path.lstat()
    regular = stat.S_ISREG(info.st_mode)
    if regular and read:
        too_big = _size_problem(path, info, ctx.settings)
        if too_big is None:
            sha, size = _sha256(path)
            return _quarantine(path, ctx, sha, size, None, None, problem)
        problem = f"{problem}; {too_big}"
    qdir = ctx.quarantine_folder()
    if os.stat(qdir).st_dev != info.st_dev:
        return _left_in_inbox(path, qdir, problem)
    dest = _unique(qdir, _safe_name(path.name))
    link = stat.S_ISLNK(info.st_mode)
    token = os.readlink(path).encode("utf-8", "surrogateescape") if link else b""
    sha = hashlib.sha256(token).hexdigest() if link else UNREAD
    size = info.st_size if regular else len(token)
    note = _write_reason(dest, ctx, original=path.name, source=path, problem=problem,
                         describe="unknown (not read)" if regular else "unknown",
                         sha=None, size=size if regular else None)
    try:
        with ctx.ledger.transaction():
            ctx.ledger.record_input(path=dest, original_name=path.name, kind=UNKNOWN,
                                    sha256=sha, size=size, status="quarantined",
                                    reason=problem)
            os.rename(path, dest)  # the entry itself, never a copy
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            note.unlink()
        if isinstance(exc, OSError) and exc.errno == errno.EXDEV:  # e.g. a bind mount
            return _left_in_inbox(path, qdir, problem)
        raise
    fsync_directory(qdir)
    log.warning("quarantined %s -> %s: %s", _show(path.name), qdir, problem)
    return FileOutcome(source=path, action="quarantined", destination=dest, reason=problem,
                       sha256=sha if link else None)


def _left_in_inbox(path: Path, qdir: Path, problem: str) -> FileOutcome:
    """An entry to quarantine unread that cannot be moved there without copying it."""
    reason = (f"{problem}; the quarantine ({qdir}) is on another file system than the inbox, "
              "so it cannot be moved there without a copy: left in the inbox - remove it or "
              "move it away by hand")
    log.error("could not quarantine %s (left in the inbox): %s", _show(path.name), reason)
    return FileOutcome(source=path, action="error", reason=reason)


def _size_problem(path: Path, info: os.stat_result, settings: IngestSettings) -> str | None:
    """Why an inbox file must not be read for its size (from its ``lstat``), or None."""
    size, limit = info.st_size, settings.max_input_bytes
    if size > limit:
        return (f"too large: {size} bytes ({_size(size)}), above the limit of {limit} bytes "
                f"({_size(limit)}, production.max_input_mb = {limit / 1e6:g}); not read nor "
                "copied. If it is a genuine observation file, raise production.max_input_mb "
                "in the configuration and ingest it again")
    if _is_sparse(path, info):
        on_disk = info.st_blocks * 512
        return (f"sparse file: {size} bytes long ({_size(size)}) but only {on_disk} bytes "
                f"({_size(on_disk)}) on disk, the rest holes; observation files are never "
                "sparse (an interrupted or pre-allocated download?); not read nor copied. "
                "Fetch it again")
    return None


def _is_sparse(path: Path, info: os.stat_result) -> bool:
    """Whether a regular file longer than 1 MiB has under half its length allocated and a
    hole (``SEEK_HOLE``, which reads nothing): a file system that compresses, or has not yet
    allocated blocks of new data, shows few blocks but no hole."""
    if info.st_size <= _SPARSE_MIN_BYTES or info.st_blocks * 512 >= info.st_size // 2:
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False  # reading it will fail, and say why
    try:
        return os.lseek(fd, 0, os.SEEK_HOLE) < info.st_size
    except (OSError, AttributeError):  # no SEEK_HOLE here: the blocks alone tell
        return True
    finally:
        os.close(fd)


def _quarantine(
    path: Path, ctx: _Context, sha: str, size: int, ident: Identity | None,
    created: str | None, problem: str,
) -> FileOutcome:
    """Move a regular file to ``quarantine/YYYYMMDD/`` with its reason file."""
    name = path.name
    kind = ident.kind if ident else UNKNOWN
    for rec in ctx.ledger.find_inputs(sha256=sha, original_name=name, status="quarantined"):
        if Path(rec.path).is_file():  # re-ingest of a file already set aside: a no-op
            path.unlink()
            log.warning("quarantined %s: %s (identical to %s, quarantined %s; removed from "
                        "the inbox)", _show(name), problem, rec.path, rec.ingested_at)
            return _bad(path, ident, Path(rec.path), problem, sha)
    qdir = ctx.quarantine_folder()
    tmp = _copy_to_temp(path, qdir, _safe_name(name), sha)
    try:
        with ctx.ledger.transaction():
            dest = _unique(qdir, _safe_name(name))
            _write_reason(dest, ctx, original=name, source=path, problem=problem,
                          describe=ident.describe() if ident else kind, sha=sha, size=size)
            ctx.ledger.record_input(
                path=dest, original_name=name, kind=kind, sha256=sha, size=size,
                status="quarantined", reason=problem,
                mission=ident.mission if ident else None, level=ident.level if ident else None,
                data_day=ident.data_day if ident else None,
                production_day=(ident.production_day or _day_of(created)) if ident else None,
                file_created=created)
            os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    fsync_directory(qdir)
    path.unlink()
    log.warning("quarantined %s -> %s: %s", _show(name), qdir, problem)
    return _bad(path, ident, dest, problem, sha)


def _bad(path: Path, ident: Identity | None, dest: Path, problem: str, sha: str) -> FileOutcome:
    return FileOutcome(source=path, action="quarantined", kind=ident.kind if ident else UNKNOWN,
                       destination=dest, reason=problem,
                       data_day=ident.data_day if ident else None,
                       mission=ident.mission if ident else None,
                       level=ident.level if ident else None, sha256=sha)


def _write_reason(
    dest: Path, ctx: _Context, *, original: str, source: Path, problem: str, describe: str,
    sha: str | None, size: int | None,
) -> Path:
    """Write ``{dest}.reason.txt``, the note a person reads (atomically)."""
    note = dest.with_name(dest.name + ".reason.txt")
    lines = [
        f"file: {_show(original)}",
        f"received as: {_show(str(source))}",
        f"problem: {problem}",
        f"identified as: {describe}",
        f"size: {size} bytes" if size is not None else None,
        f"sha256: {sha}" if sha else None,
        f"quarantined: {utc_now()} by varnet-ops ingest on {socket.gethostname()} "
        f"(pid {os.getpid()})",
        f"kept as: {dest.name}",
        "what to do: fix the file or fetch it again, then put it back in the inbox; it will "
        "be checked again.",
    ]
    text = "\n".join(line for line in lines if line is not None) + "\n"
    with atomic_path(note) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return note


# --------------------------------------------------------------------------------------------
# names and files


def _unsafe_name(name: str) -> str | None:
    """Why a base name is unsafe to use as a destination name, or None."""
    if name in ("", ".", ".."):
        return f"{name!r} is not a file name"
    if "/" in name or "\\" in name:
        return f"{_show(name)} contains a path separator"
    if ".." in name:
        return f"{_show(name)} contains '..'"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return f"{_show(name)} contains control characters"
    if len(name.encode("utf-8", "surrogateescape")) > 240:
        return f"the name is {len(name)} characters long"
    return None


def _in_progress(name: str) -> bool:
    return name.startswith(".") or name.lower().endswith(_IN_PROGRESS_SUFFIXES)


def _safe_name(name: str) -> str:
    """A name made of ``[A-Za-z0-9._-]`` only, without ``..`` or a leading dot or dash."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    safe = re.sub(r"\.{2,}", "_", safe)
    safe = re.sub(r"^[.-]+", "_", safe)[:200]
    return safe or "unnamed"


def _show(name: str) -> str:
    """``name`` as it can be printed on one line (repr if it holds odd characters)."""
    return name if name.isprintable() and "\\" not in name else repr(name)


def _inside(path: Path, root: Path) -> Path:
    """``path`` (absolute, normalised), checked to lie inside ``root``."""
    full = Path(os.path.normpath(path))
    base = Path(os.path.normpath(root))
    if full == base or base not in full.parents:
        raise ValueError(f"refusing to write {full}: outside {base}")
    return full


def _unique(folder: Path, name: str) -> Path:
    """``folder/name``, or ``folder/name.N`` for the first free N (never a reason file's)."""
    dest = _inside(folder / name, folder)
    n = 1
    while dest.exists() or dest.is_symlink() or dest.with_name(
            dest.name + ".reason.txt").exists():
        n += 1
        dest = _inside(folder / f"{name}.{n}", folder)
    return dest


def _sha256(path: Path) -> tuple[str, int]:
    """Hex SHA-256 and size in bytes of a file's contents."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        length = os.fstat(fh.fileno()).st_size
        if length > _HASH_LOG_BYTES:  # a long hash is never silent
            log.info("hashing %s (%s)...", _show(path.name), _size(length))
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _copy_mode(mode: int) -> int:
    """Permission bits of a copy (archive or quarantine) of a file of mode ``mode``: read and
    write for the owner (the service), read for group and others only where the delivered
    file gave it; never write for others, execute or set-id bits (and the umask applies)."""
    return 0o600 | (stat.S_IMODE(mode) & 0o044)


def _subfolder(folder: Path, root: Path) -> Path:
    """Create ``folder`` and its parents up to ``root`` (which must exist: a configured
    folder is never created here)."""
    folder = _inside(folder, root)
    if not folder.is_dir():
        for part in reversed([folder, *folder.parents][: len(folder.relative_to(root).parts)]):
            with contextlib.suppress(FileExistsError):
                part.mkdir()
    return folder


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


#: Names of the hidden temporary copies :func:`_copy_to_temp` makes.
_TEMP_COPY = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp$")


def _remove_killed_copies(*folders: Path) -> None:
    """Delete the temporary copies an ingest killed mid-copy left in ``folders`` (walked
    whole). Runs under the ingest lock: no other ingest is copying."""
    for folder in folders:
        for root, _dirs, files in os.walk(folder):
            for name in files:
                if _TEMP_COPY.match(name):
                    path = Path(root) / name
                    log.warning("removing %s, left by an ingest that was stopped while "
                                "copying", path)
                    path.unlink(missing_ok=True)


def _copy_to_temp(src: Path, folder: Path, name: str, sha: str | None) -> Path:
    """Copy ``src`` to a hidden temporary file in ``folder`` (which exists), flushed to disk,
    with ``src``'s times and its read permissions (:func:`_copy_mode`).

    Raises
    ------
    NoSpaceError
        If ``folder`` is full (or over quota); the temporary file is removed.
    OSError
        If ``src`` changed since its SHA-256 ``sha`` was taken (it is still being written);
        the temporary file is removed.
    """
    tmp = _inside(folder / f".{name}.{secrets.token_hex(6)}.tmp", folder)
    digest = hashlib.sha256()
    length = None
    try:
        with open(src, "rb") as fin:
            info = os.fstat(fin.fileno())
            length = info.st_size
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                         _copy_mode(info.st_mode))
            try:
                while chunk := fin.read(_CHUNK):
                    digest.update(chunk)
                    _write_all(fd, chunk)
                os.fsync(fd)
            finally:
                os.close(fd)
        os.utime(tmp, ns=(info.st_atime_ns, info.st_mtime_ns))
        if sha is not None and digest.hexdigest() != sha:
            raise OSError(f"{src} changed while it was being ingested; it is probably still "
                          "being written")
    except BaseException as exc:
        full = no_space_error(exc, folder, f"copying {_show(src.name)}" + (
            f", {_size(length)}" if length is not None else "")) if isinstance(
            exc, OSError) else None
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if full is not None:
            raise full from exc
        raise
    return tmp


def _size(n: int) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.1f} GB"
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"
