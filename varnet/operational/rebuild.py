"""``varnet-ops ledger rebuild``: a new ledger from the archive, the quarantine and the products.

When the ledger (``{state}/ledger.sqlite``) is lost, emptied or damaged, everything it must
know is still on disk: the archived input files, the quarantined ones with their notes, and
the product files, each carrying its provenance. :func:`rebuild_ledger`

1. takes the daemon's lock (``{state}/daemon.lock``) and ingest's (``{state}/ingest.lock``),
   so that it refuses to run while a daemon or an ingest does;
2. refuses a ledger that opens fine unless ``force`` (a rebuild cannot bring back runs,
   timings or failed attempts), and any ledger with a claim of a live process;
3. builds the new ledger in a temporary file beside the old one:

   - every archived file, ``archive/{kind}/YYYY/MM/*.nc`` for each observation kind of the
     registry (:mod:`varnet.datamodel.kinds`): identity from its name (the kind's
     :meth:`~varnet.datamodel.kinds.ObservationKind.index`), SHA-256, size,
     ``date_created`` (read as ingest reads it), archived at its inode change time (when
     ingest moved it there); of several productions of one slot (along-track: one mission
     and day) the newest is ``ok`` and the others ``superseded``, as ingest decides;
   - every quarantined file, ``quarantine/YYYYMMDD/*``, from its ``.reason.txt`` note:
     ``superseded`` where the note says a later production replaced it, else
     ``quarantined`` with the note's problem as the reason;
   - every product file, ``products/*_varnet_phy_l4_*_*.nc`` (not the ``latest/`` links):
     product and production day, ``processing_status`` (``final`` or preliminary, recorded
     ``ok``), ``model_sha256`` and ``input_files`` from its global attributes (the data are
     not read), the inputs resolved by SHA-256 against the records above, its region from its
     name and grid, made at its modification time. Of two final files of one day (a forced
     re-make on another production day) the later production day stays ``final`` and the
     other is ``replaced``;

4. moves the old file aside as ``ledger.sqlite.damaged-YYYYmmddTHHMMSS`` (UTC; never deleted,
   with its ``-wal`` and ``-shm`` files) and moves the new one into place.

A file that cannot be read is left where it is and listed in the report. A rebuild killed
midway leaves no partial ledger in place: the old file, or no file (which every command then
refuses, naming this rebuild).

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import logging
import os
import re
import secrets
import stat
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from varnet.datamodel import kinds as observation_kinds
from varnet.datamodel.kinds import ObservationFile, ObservationKind
from varnet.errors import EXIT_CONFIG, VarnetError
from varnet.io.readers import InputFileError
from varnet.operational.config import OpsConfig
from varnet.operational.ingest import _created, _sha256
from varnet.operational.ledger import (
    InputRecord,
    InstanceLock,
    Ledger,
    LedgerError,
    config_region_key,
    daemon_lock,
    pid_alive,
    product_file_region,
    utc_timestamp,
)

__all__ = ["RebuildRefused", "RebuildReport", "rebuild_ledger"]

log = logging.getLogger("varnet.ops.rebuild")

_ARCHIVE_GLOB = "[0-9][0-9][0-9][0-9]/[0-9][0-9]/*.nc"
_QUARANTINE_DAY = re.compile(r"^\d{8}$")
_PRODUCT_GLOB = "*_varnet_phy_l4_*_*.nc"


class RebuildRefused(VarnetError, RuntimeError):
    """The ledger is not rebuilt: it opens fine (without ``--force``) or is in use."""

    exit_code = EXIT_CONFIG
    what = "ledger rebuild"


@dataclass
class RebuildReport:
    """What a rebuild recorded.

    Attributes
    ----------
    ledger : pathlib.Path
        The rebuilt ledger.
    kept : pathlib.Path or None
        Where the former ledger file now lies (None if there was none).
    inputs : collections.Counter
        Input files recorded, by status.
    products : collections.Counter
        Product files recorded, by status (``ok`` counts the preliminary ones).
    other_regions : int
        Product files of another product name or region (recorded, not this
        configuration's).
    unresolved : int
        References of product files to input files not found by SHA-256.
    unreadable : list of (pathlib.Path, str)
        Files that could not be read, and why.
    """

    ledger: Path
    kept: Path | None = None
    inputs: Counter = field(default_factory=Counter)
    products: Counter = field(default_factory=Counter)
    other_regions: int = 0
    unresolved: int = 0
    unreadable: list[tuple[Path, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The summary a person reads."""
        lines = [f"ledger rebuilt: {self.ledger}"]
        if self.kept is not None:
            lines.append(f"  the former ledger is kept as {self.kept}")
        n_in, n_prod = sum(self.inputs.values()), sum(self.products.values())
        lines.append(f"  {n_in} inputs (" + _counts(self.inputs, ("ok", "superseded",
                                                                  "quarantined")) + ")")
        lines.append(f"  {n_prod} products ({self.products['final']} final, "
                     f"{self.products['ok']} preliminary, {self.products['replaced']} replaced"
                     + (f"; {self.other_regions} of another region or product name"
                        if self.other_regions else "") + ")")
        if self.unresolved:
            lines.append(f"  {self.unresolved} input reference(s) of products not found in the "
                         "archive or the quarantine (recorded by name and SHA-256)")
        if self.unreadable:
            lines.append(f"  could not read {len(self.unreadable)} file(s) (left where they "
                         "are):")
            lines += [f"    {path}: {why}" for path, why in self.unreadable]
        else:
            lines.append("  every file was read")
        return lines


def _counts(counter: Counter, order: tuple[str, ...]) -> str:
    return ", ".join(f"{counter[k]} {k}" for k in order)


# --------------------------------------------------------------------------------------------
# the rebuild


def rebuild_ledger(config: OpsConfig, *, force: bool = False,
                   now: dt.datetime | None = None) -> RebuildReport:
    """Rebuild the configuration's ledger from its archive, quarantine and products (module
    docstring).

    Parameters
    ----------
    config : OpsConfig
        The configuration.
    force : bool, default False
        Rebuild even if the ledger opens fine (its runs, timings and failed attempts are
        lost; the file is kept aside).
    now : datetime.datetime, optional
        The time in the name of the kept file (default now, UTC).

    Returns
    -------
    RebuildReport

    Raises
    ------
    varnet.operational.ledger.LockHeldError
        If a daemon or an ingest runs on this state.
    RebuildRefused
        If the ledger opens fine and not ``force``, or a live process holds a claim in it.
    """
    state = Path(config.paths.state)
    target = config.paths.ledger_file
    with contextlib.ExitStack() as stack:
        for lock in (daemon_lock(state), InstanceLock(state / "ingest.lock",
                                                      "varnet-ops ingest")):
            lock.acquire()
            stack.callback(lock.release)
        _check_replaceable(config, force)
        tmp = target.with_name(f".{target.name}.rebuild-{secrets.token_hex(6)}")
        try:
            report = _build(config, tmp)
            report.ledger = target
            report.kept = _move_aside(target, now or dt.datetime.now(dt.UTC))
            os.replace(tmp, target)
        finally:
            for leftover in _with_journals(tmp):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()
    log.info("ledger %s rebuilt: %d inputs, %d products", target, sum(report.inputs.values()),
             sum(report.products.values()))
    return report


def _check_replaceable(config: OpsConfig, force: bool) -> None:
    """Refuse a ledger that opens fine (unless ``force``) or that a live process uses."""
    target = config.paths.ledger_file
    if not os.path.lexists(target):
        return
    try:
        ledger = Ledger(target, create=False, busy_timeout_s=5.0)
    except LedgerError as exc:
        if "stayed locked by another writer" in str(exc):
            raise RebuildRefused(f"{target} is in use by another process; stop it first") \
                from None
        return  # damaged: that is what a rebuild is for
    with ledger:
        live = [c for c in ledger.claims(every_region=True)
                if c.host != ledger.host or pid_alive(c.pid, c.pid_start)]
        if live:
            held = live[0]
            raise RebuildRefused(f"{target}: pid {held.pid} on {held.host} is making the "
                                 f"product of {held.product_day}; stop it first")
        if not force:
            counts = ledger.counts()
            raise RebuildRefused(
                f"{target} opens fine ({counts['inputs']} inputs, {counts['products']} "
                "products): nothing to "
                "rebuild; pass --force to rebuild it anyway (its runs, timings and failed "
                "attempts are not on disk and are lost; the file is kept aside)")


def _build(config: OpsConfig, path: Path) -> RebuildReport:
    """Record the archive, the quarantine and the products in a new ledger at ``path``."""
    report = RebuildReport(ledger=path)
    ledger = Ledger(path, region=config_region_key(config))
    try:
        ledger.set_current_region()
        run_id = ledger.start_run("rebuild")
        records = _record_archive(ledger, Path(config.paths.archive), report)
        records += _record_quarantine(ledger, Path(config.paths.quarantine), report)
        _record_products(ledger, Path(config.paths.products), records, run_id, report)
        notes = None
        if report.unreadable:
            notes = f"could not read {len(report.unreadable)} file(s): " + "; ".join(
                f"{p}: {why}" for p, why in report.unreadable[:5])
        ledger.finish_run(run_id, "ok", notes)
        ledger.checkpoint()
    finally:
        ledger.close()
    return report


def _with_journals(path: Path) -> list[Path]:
    return [path, Path(f"{path}-wal"), Path(f"{path}-shm")]


def _move_aside(target: Path, now: dt.datetime) -> Path | None:
    """Rename the former ledger (and its journals) to ``{name}.damaged-YYYYmmddTHHMMSS``."""
    if not os.path.lexists(target):
        return None
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S")
    kept = target.with_name(f"{target.name}.damaged-{stamp}")
    n = 1
    while os.path.lexists(kept):
        n += 1
        kept = target.with_name(f"{target.name}.damaged-{stamp}.{n}")
    for old, new in zip(_with_journals(target), _with_journals(kept), strict=True):
        if os.path.lexists(old):
            os.rename(old, new)
    log.warning("the former ledger %s is kept as %s", target, kept)
    return kept


def _changed_at(path: Path) -> str:
    """The inode change time of ``path`` as a ledger timestamp (when it was moved in)."""
    return utc_timestamp(dt.datetime.fromtimestamp(path.lstat().st_ctime, dt.UTC))


# --------------------------------------------------------------------------------------------
# inputs


@dataclass
class _Archived:
    """An archived file, as ingest would have recorded it."""

    kind: ObservationKind
    file: ObservationFile
    sha256: str
    size: int

    @property
    def path(self) -> Path:
        return self.file.path

    @property
    def slot(self) -> tuple:
        """Its kind and the kind's slot: files of one slot hold the same data."""
        return (self.kind.name, self.kind.slot(self.file))


def _archived_files(archive: Path, report: RebuildReport) -> Iterator[_Archived]:
    for kind in observation_kinds.kinds():
        for path in sorted((archive / kind.name).glob(_ARCHIVE_GLOB)):
            if path.name.startswith("."):
                continue  # a temporary file of an interrupted ingest
            try:
                found = _read_archived(path, kind, report)
            except (OSError, ValueError) as exc:
                report.unreadable.append((path, f"{_problem(exc)} (not recorded)"))
            else:
                if found is not None:
                    yield found


def _read_archived(path: Path, kind: ObservationKind,
                   report: RebuildReport) -> _Archived | None:
    """One archived file (None for a name its kind does not recognise: reported); one whose
    content cannot be opened is recorded all the same (it is in the archive: products that
    read it will say so) and reported."""
    file = kind.index(path)
    if file is None:
        report.unreadable.append((path, f"not {kind.expected_name} (not recorded)"))
        return None
    sha, size = _sha256(path)
    try:
        created = _created(kind, path)
    except InputFileError as exc:
        created = None
        report.unreadable.append((path, f"{exc.problem} (recorded, without its date_created)"))
    production = file.production_day
    if production is None and created:  # a name without it (GHRSST): as ingest records it
        production = dt.date.fromisoformat(created[:10])
    file = dataclasses.replace(file, production_day=production, created=created)
    return _Archived(kind, file, sha, size)


def _record_archive(ledger: Ledger, archive: Path, report: RebuildReport) -> list[InputRecord]:
    """Record every archived file; of the files of one slot of a kind (along-track: one
    mission and day) the newest production is ``ok``, the others ``superseded``, as ingest
    decides (:meth:`~varnet.datamodel.kinds.ObservationKind.production_order`)."""
    files = list(_archived_files(archive, report))
    newest: dict[tuple, _Archived] = {}
    for f in files:
        kept = newest.get(f.slot)
        if kept is None or ((f.kind.production_order(f.file), f.file.name)
                            > (kept.kind.production_order(kept.file), kept.file.name)):
            newest[f.slot] = f
    records = []
    with ledger.transaction():
        for f in sorted(files, key=lambda f: (f.file.data_day, f.kind.name, f.file.name)):
            best = newest[f.slot]
            status = "ok" if best is f else "superseded"
            reason = (None if best is f else f"superseded by {best.file.name} (later "
                      "production; found by varnet-ops ledger rebuild)")
            records.append(ledger.record_input(
                path=f.path, original_name=f.file.name, kind=f.kind.name, sha256=f.sha256,
                size=f.size, status=status, mission=f.file.mission, level=f.file.level,
                data_day=f.file.data_day, production_day=f.file.production_day,
                file_created=f.file.created, reason=reason, ingested_at=_changed_at(f.path)))
            report.inputs[status] += 1
    return records


def _read_note(note: Path) -> dict[str, str]:
    """The ``key: value`` lines of a quarantine note (empty if there is none)."""
    try:
        text = note.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(": ")
        if sep and key not in fields:
            fields[key.strip()] = value.strip()
    return fields


def _entry_sha256(path: Path) -> tuple[str, int]:
    """SHA-256 and size of a quarantined entry as ingest took them (a link: its target)."""
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        token = os.readlink(path).encode("utf-8", "surrogateescape")
        return hashlib.sha256(token).hexdigest(), len(token)
    if stat.S_ISREG(info.st_mode):
        return _sha256(path)
    return hashlib.sha256(b"").hexdigest(), 0


def _identity(names: tuple[str, ...]) -> dict[str, object]:
    """What the first name a kind recognises says about a file (``kind`` unknown if none)."""
    for name in names:
        identity = observation_kinds.identify_name(name)
        if identity is not None:
            return {"kind": identity.kind, "mission": identity.mission,
                    "level": identity.level, "data_day": identity.data_day,
                    "production_day": identity.production_day}
    return {"kind": "unknown"}


def _quarantined_at(note: dict[str, str], path: Path) -> str:
    stamp = note.get("quarantined", "").split(" ", 1)[0]
    if re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp):
        return stamp
    return _changed_at(path)


def _record_quarantine(ledger: Ledger, quarantine: Path,
                       report: RebuildReport) -> list[InputRecord]:
    """Record every quarantined file from its note: ``superseded`` where a later production
    replaced it, else ``quarantined``."""
    records = []
    folders = sorted(p for p in quarantine.glob("*") if _QUARANTINE_DAY.match(p.name)
                     and p.is_dir())
    with ledger.transaction():
        for folder in folders:
            for path in sorted(folder.iterdir()):
                if path.name.endswith(".reason.txt") or path.name.startswith("."):
                    continue
                try:
                    sha, size = _entry_sha256(path)
                except OSError as exc:
                    report.unreadable.append((path, f"{_problem(exc)} (not recorded)"))
                    continue
                note = _read_note(path.with_name(path.name + ".reason.txt"))
                problem = note.get("problem") or "quarantined (its note is missing)"
                status = ("superseded" if problem.startswith("superseded by a later production")
                          else "quarantined")
                original = note.get("file", path.name)
                records.append(ledger.record_input(
                    path=path, original_name=original, sha256=sha, size=size, status=status,
                    reason=problem, ingested_at=_quarantined_at(note, path),
                    **_identity((original, path.name))))
                report.inputs[status] += 1
    return records


# --------------------------------------------------------------------------------------------
# products


@dataclass
class _ProductFile:
    """What a product file says about itself (global attributes; data not read)."""

    path: Path
    product_day: dt.date
    production_day: dt.date
    final: bool
    inputs: list[tuple[str, str]]
    model_sha256: str | None
    region: str
    made_at: str


def _read_product(path: Path) -> _ProductFile:
    import netCDF4

    from varnet.operational.products import parse_product_filename

    name = parse_product_filename(path.name)
    with netCDF4.Dataset(path) as ds:
        attrs = {k: ds.getncattr(k) for k in ds.ncattrs()}
    status = str(attrs.get("processing_status", ""))
    if status not in ("final", "preliminary"):
        raise ValueError(f"processing_status is {status!r}, not 'final' nor 'preliminary'")
    days = []
    for key, from_name in (("product_day", name.product_day),
                           ("production_day", name.production_day)):
        day = dt.date.fromisoformat(str(attrs.get(key, from_name)))
        if day != from_name:
            raise ValueError(f"its {key} attribute {day} differs from its name's {from_name}")
        days.append(day)
    inputs = []
    for line in str(attrs.get("input_files", "")).splitlines():
        sha, _, base = line.strip().partition("  ")
        if sha:
            inputs.append((sha.lower(), base.strip()))
    model = str(attrs["model_sha256"]) if "model_sha256" in attrs else None
    made_at = utc_timestamp(dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC))
    return _ProductFile(path, days[0], days[1], status == "final", inputs, model,
                        product_file_region(path), made_at)


def _resolver(records: list[InputRecord]):
    """A function from a product's ``(sha256, name)`` to the reference of the input record
    of that SHA-256 (or a prefix of it), ``ok`` ones first; None if none."""
    by_sha: dict[str, InputRecord] = {}
    for record in records:
        held = by_sha.get(record.sha256)
        if held is None or (held.status != "ok" and record.status == "ok"):
            by_sha[record.sha256] = record
    shas = sorted(by_sha)

    def resolve(sha: str) -> dict[str, str] | None:
        if sha in by_sha:
            return by_sha[sha].reference()
        matches = [s for s in shas if s.startswith(sha)] if len(sha) >= 8 else []
        return by_sha[matches[0]].reference() if len(matches) == 1 else None

    return resolve


def _record_products(ledger: Ledger, products: Path, records: list[InputRecord], run_id: int,
                     report: RebuildReport) -> None:
    """Record every product file; of two finals of one day the later production day stays
    final, the other is ``replaced``."""
    files = []
    for path in sorted(products.glob(_PRODUCT_GLOB)):
        if path.name.startswith(".") or path.is_symlink() or not path.is_file():
            continue
        try:
            files.append(_read_product(path))
        except (OSError, ValueError, KeyError) as exc:
            report.unreadable.append((path, f"{_problem(exc)} (not recorded)"))
    last_final: dict[tuple[str, dt.date], _ProductFile] = {}
    for f in files:
        key = (f.region, f.product_day)
        if f.final and (key not in last_final
                        or f.production_day > last_final[key].production_day):
            last_final[key] = f
    resolve = _resolver(records)
    with ledger.transaction():
        for f in files:
            status, note = "ok", None
            if f.final:
                kept = last_final[(f.region, f.product_day)]
                status = "final" if kept is f else "replaced"
                if kept is not f:
                    note = (f"replaced by the final issue of {kept.production_day} (found by "
                            "varnet-ops ledger rebuild)")
            refs = []
            for sha, base in f.inputs:
                ref = resolve(sha)
                if ref is None:
                    report.unresolved += 1
                    ref = {"name": base, "sha256": sha}
                refs.append(ref)
            ledger.record_product(f.product_day, f.production_day, path=f.path, status=status,
                                  inputs_used=refs, made_at=f.made_at,
                                  model_checksum=f.model_sha256, region=f.region,
                                  run_id=run_id, error=note)
            report.products[status] += 1
            report.other_regions += f.region != ledger.region


def _problem(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(f"{type(exc).__name__}: {text}".split())
