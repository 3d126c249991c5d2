"""Soak test: the simulated daemon over 60 production days, killed at random and restarted,
with reprocesses running at the same time, some killed; then nothing lost, doubled or left.

The daemon (``varnet-ops daemon --simulate-from ... --feed ...``, a subprocess) runs the
production days 2012-10-08 to 2012-12-06 of the soak's ocean (``configs/osse-soak.toml``: the
tiny ocean's grid over 75 days), one every ``DAY_SECONDS``. It is killed (SIGKILL, or SIGTERM:
it stops after the current product) at random moments and restarted from the first
production day whose run did not complete. Meanwhile reprocesses (``varnet-ops reprocess``,
subprocesses, some on two worker processes) make overlapping ranges of product days final:
some are killed with SIGKILL while they make a day, some just after they wrote a product file
(before the ledger records it), the others finish; one (two on 60 days) re-makes days
already final with ``--force`` and is killed, which must leave the old finals as they were.
Then a reprocess of the whole range and a last, quiet daemon day. The kills come from a
seeded :class:`random.Random`: the seed and the schedule are printed, and
``VARNET_SOAK_SEED=N`` replays a schedule (its timings still vary with the load);
``VARNET_SOAK_DAYS=N`` (10 to 60) runs a shorter soak for a quick look.

At the end:

- every product day of the range has exactly one ``final`` row in the ledger; its file
  exists, opens with xarray, says ``processing_status = final`` and ``latest/`` links it;
- no claim, no in-progress row, no run still ``running``, no temporary file, no product file
  the ledger does not know, no worker process;
- every final product is the product a clean, uninterrupted run makes from the same inputs:
  one ``reprocess`` of the whole range on a separate state holding the same archive (the
  same files, checked by SHA-256) for the finals made from those inputs; for the finals made
  before all the files their OI reaches had arrived (a daemon's final of day D is made on
  D + 3, while the OI of D reads along-track files up to D + 8), a clean state holding the
  files arrived by then (or exactly the final's inputs, if it was made while a day's files
  were being ingested);
- every run that exited 0 made or found up to date every day it was asked, and every run's
  line accounts for every day it was asked.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import xarray as xr
from test_pipeline import Ops, days, exported_model, make_ops
from test_runs import varnet_ops
from threadpoolctl import threadpool_limits

from varnet.operational.feed import arrival_day
from varnet.operational.ingest import ingest
from varnet.operational.ledger import Ledger, ProductRecord
from varnet.operational.pipeline import Producer
from varnet.operational.products import file_sha256, product_digest
from varnet.operational.runs import reprocess

pytestmark = [pytest.mark.slow, pytest.mark.soak]

ONE = dt.timedelta(days=1)
#: Production days the daemon simulates under kills (the issue asks for 60; the soak's ocean
#: holds 60 with the windows around them).
DAYS_VARIABLE = "VARNET_SOAK_DAYS"
SOAK_DAYS = int(os.environ.get(DAYS_VARIABLE, 60))
if not 10 <= SOAK_DAYS <= 60:
    raise ValueError(f"{DAYS_VARIABLE}={SOAK_DAYS}: the soak runs 10 to 60 production days")
FIRST_DAEMON_DAY = dt.date(2012, 10, 8)
LAST_SOAK_DAY = FIRST_DAEMON_DAY + (SOAK_DAYS - 1) * ONE
LAST_DAEMON_DAY = LAST_SOAK_DAY + ONE
#: Product days that must end final: the daemon's first run looks after 10-05 to 10-07.
FIRST_PRODUCT, LAST_PRODUCT = dt.date(2012, 10, 5), LAST_SOAK_DAY
#: Production day of the final reprocess (those of the concurrent ones follow it).
FINAL_ISSUE = LAST_SOAK_DAY + 13 * ONE
DAY_SECONDS = 0.5
#: Kills of the daemon and concurrent reprocesses: 10 and 6 over 60 days.
DAEMON_KILLS = max(4, SOAK_DAYS // 6)
REPROCESSES = max(3, SOAK_DAYS // 10)
SEED_VARIABLE = "VARNET_SOAK_SEED"
DEFAULT_SEED = 20121008
#: The environment of the soak's processes. SciPy's LinearNDInterpolator (the along-track
#: MDT of every product) makes tiny OpenBLAS calls: on two BLAS threads, on this 2-core
#: machine shared with other processes, one product's MDT takes from milliseconds to 20 s.
#: One thread gives the same bytes (the OI limits itself to one already).
ONE_BLAS_THREAD = {"OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
#: Bounds of every wait (seconds).
SOAK_TIMEOUT = 20 * SOAK_DAYS
STOP_TIMEOUT = 90
RUN_TIMEOUT = 180

_SIMULATED = re.compile(r"simulated production day (\d{4}-\d\d-\d\d) \(")
_LINE = re.compile(r"run (\d+) \(issue (\d{4}-\d\d-\d\d)\): (\d+) day\(s\) asked, (\d+) made, "
                   r"(\d+) up to date, (\d+) failed, (\d+) held by another process")


@pytest.fixture(scope="module")
def model(tmp_path_factory, tiny_ocean):
    return exported_model(tmp_path_factory, tiny_ocean.out_dir)


@pytest.fixture(scope="module")
def soak_ocean(tmp_path_factory) -> Path:
    """The soak's ocean (``configs/osse-soak.toml``), generated once: its folder."""
    from varnet.config import load_toml
    from varnet.osse.config import OsseConfig
    from varnet.osse.generate import generate

    config = load_toml(OsseConfig, Path(__file__).resolve().parents[2] / "configs"
                       / "osse-soak.toml")
    assert config.calendar.end >= LAST_PRODUCT + 8 * ONE  # the last final's window and OI
    out = tmp_path_factory.mktemp("soak_ocean")
    generate(config, out, progress=False)
    return out


# --------------------------------------------------------------------------------------------
# the schedule


@dataclass(frozen=True)
class DaemonKill:
    """Send ``signum`` to the daemon ``delay`` s after it starts production day ``day``."""

    day: dt.date
    delay: float
    signum: int

    def __str__(self) -> str:
        return f"daemon {signal.Signals(self.signum).name} {self.delay:.2f} s into day {self.day}"


@dataclass(frozen=True)
class ConcurrentReprocess:
    """Start a reprocess of ``start``..``end`` (issue ``issue``) ``delay`` s after the daemon
    starts production day ``day``. ``kill``: None (left to finish), ``"making"`` (SIGKILL
    ``kill_after`` s after it, or one of its workers, is first seen holding the claim of a
    day) or ``"written"`` (SIGKILL ``kill_after`` s after its first product file appears:
    between the file and its ledger record). ``force``: ``--force``, a re-make of days
    already final (a killed one must leave the old finals as they were)."""

    day: dt.date
    delay: float
    start: dt.date
    end: dt.date
    issue: dt.date
    workers: int
    kill: str | None
    kill_after: float = 0.0
    force: bool = False

    def __str__(self) -> str:
        fate = {None: "left to finish",
                "making": f"SIGKILL {self.kill_after:.2f} s after it holds a day",
                "written": f"SIGKILL {self.kill_after:.2f} s after its first file appears",
                }[self.kill]
        return (f"reprocess {'--force ' if self.force else ''}{self.start}..{self.end} issue "
                f"{self.issue} on {self.workers} worker(s), {self.delay:.2f} s into daemon day "
                f"{self.day}, {fate}")


def soak_plan(rng: random.Random) -> tuple[list[DaemonKill], list[ConcurrentReprocess]]:
    """The kills and the concurrent reprocesses, drawn from ``rng``."""
    kill_days = sorted(rng.sample(days(FIRST_DAEMON_DAY + ONE, LAST_SOAK_DAY - ONE),
                                  DAEMON_KILLS))
    signals = ([signal.SIGKILL, signal.SIGTERM] * DAEMON_KILLS)[:DAEMON_KILLS]
    rng.shuffle(signals)
    kills = [DaemonKill(d, round(rng.uniform(0.0, 2.5), 2), s)
             for d, s in zip(kill_days, signals, strict=True)]

    base = [None, "making", "written"]
    fates = base * (REPROCESSES // 3) + [rng.choice(base) for _ in range(REPROCESSES % 3)]
    rng.shuffle(fates)
    # forced re-makes of final days, killed: between the new file and its record, and (on a
    # long soak) while making a day
    forced = {fates.index("written")} | ({fates.index("making")} if REPROCESSES >= 6
                                         else set())
    two_workers = set(rng.sample([k for k, kill in enumerate(fates) if kill],
                                 max(1, REPROCESSES // 3)))
    spread = SOAK_DAYS // REPROCESSES  # days between two starts, on average
    day = FIRST_DAEMON_DAY + rng.randint(3, 8) * ONE
    plan, previous_end = [], None
    for k, kill in enumerate(fates):
        if k in forced:  # days final for a while (the daemon issues day D final on D + 3)
            end = max(FIRST_PRODUCT + 2 * ONE, day - rng.randint(5, 8) * ONE)
            start = max(FIRST_PRODUCT, end - rng.randint(2, 4) * ONE)
        else:
            # up to the last day whose window has altimetry by now (the archive holds the
            # data of day - 2): the days the daemon is making, and before them days already
            # final; each range overlaps the one before
            end = day - ONE
            start = max(FIRST_PRODUCT, end - rng.randint(2, 4) * ONE)
            if previous_end is not None:
                start = min(start, previous_end)
            previous_end = end
        plan.append(ConcurrentReprocess(
            day, round(rng.uniform(0.0, 2.0), 2), start, end, FINAL_ISSUE + (k + 1) * ONE,
            2 if k in two_workers else 1, kill,
            round(rng.uniform(0.0, 0.5 if kill == "making" else 0.2), 2), k in forced))
        day = min(day + rng.randint(max(1, spread // 2), spread + spread // 2) * ONE,
                  LAST_SOAK_DAY - ONE)
    return kills, plan


# --------------------------------------------------------------------------------------------
# processes


def _stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/PID/stat`` after the command name (state first), or None."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _alive(pid: int, started: str) -> bool:
    """Whether process ``pid`` started at ``started`` (clock ticks) runs and is no zombie."""
    fields = _stat(pid)
    return fields is not None and fields[19] == started and fields[0] != "Z"


def _children(pid: int) -> set[tuple[int, str]]:
    """Child processes of ``pid`` (workers, multiprocessing's resource tracker): (pid, start
    time)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None and (
                fields[1] == str(pid)):
            found.add((int(entry.name), fields[19]))
    return found


def _processes_naming(text: str) -> list[str]:
    """Live processes whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = _stat(int(entry.name))
        if text.encode() in command and fields is not None and fields[0] != "Z":
            found.append(f"pid {entry.name}: " + command.replace(b"\0", b" ").decode())
    return found


@dataclass(eq=False)
class Process:
    """A ``varnet-ops`` subprocess of the soak and what became of it."""

    name: str
    argv: list[str]
    popen: subprocess.Popen
    out: Path
    log: Path
    first_day: dt.date | None = None  # a daemon's --simulate-from
    sent: int | None = None  # the signal the soak sent it
    workers: set[tuple[int, str]] = field(default_factory=set)  # its child processes

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def tail(self, lines: int = 40) -> str:
        return f"--- {self.name}: {' '.join(self.argv[1:])}\n" + "\n".join(
            self.text().splitlines()[-lines:])

    def wait(self, timeout: float, what: str) -> int:
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} did not {what} within {timeout} s\n"
                                 f"{self.tail()}") from None

    def send(self, signum: int) -> None:
        self.sent = signum
        self.popen.send_signal(signum)


class Soak:
    """The soak's processes on one operations state, and its record of events."""

    def __init__(self, ops: Ops, feed: Path, logs: Path) -> None:
        self.ops, self.feed, self.logs = ops, feed, logs
        logs.mkdir(parents=True, exist_ok=True)
        self.processes: list[Process] = []
        self.t0 = time.monotonic()
        self.events: list[str] = []
        self._ledger: Ledger | None = None
        self.env = {**os.environ, **ONE_BLAS_THREAD}

    def holds_a_claim(self, process: Process) -> bool:
        """Whether ``process`` or one of its workers holds the claim of a product day."""
        if self._ledger is None:
            self._ledger = self.ops.ledger()
        pids = {process.popen.pid} | {pid for pid, _ in process.workers}
        return any(claim.pid in pids for claim in self._ledger.claims())

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None

    def note(self, text: str) -> None:
        line = f"t={time.monotonic() - self.t0:6.1f}s  {text}"
        self.events.append(line)
        print(line, flush=True)

    def _start(self, name: str, args: list[str], **extra: object) -> Process:
        argv = [varnet_ops(), *args[:1], "--config", str(self.ops.toml), *args[1:]]
        out, log = self.logs / f"{name}.out", self.logs / f"{name}.log"
        with open(out, "wb") as stdout, open(log, "wb") as stderr:
            popen = subprocess.Popen(argv, stdout=stdout, stderr=stderr,
                                     stdin=subprocess.DEVNULL, env=self.env)
        process = Process(name, argv, popen, out, log, **extra)
        self.processes.append(process)
        self.note(f"start {name}: {' '.join(args)} (pid {popen.pid})")
        return process

    def daemon(self, first: dt.date, last: dt.date) -> Process:
        count = sum(p.name.startswith("daemon") for p in self.processes) + 1
        return self._start(f"daemon-{count}", [
            "daemon", "--simulate-from", str(first), "--simulate-days",
            str((last - first).days + 1), "--day-seconds", str(DAY_SECONDS), "--feed",
            str(self.feed)], first_day=first)

    def reprocess(self, start: dt.date, end: dt.date, issue: dt.date, workers: int,
                  force: bool = False) -> Process:
        count = sum(p.name.startswith("reprocess") for p in self.processes) + 1
        return self._start(f"reprocess-{count}", [
            "reprocess", "--start", str(start), "--end", str(end), "--production-day",
            str(issue), *(["--force"] if force else []), "--workers", str(workers)])

    def watch_workers(self) -> None:
        """Record the child processes of the processes running."""
        for process in self.processes:
            if process.returncode is None:
                process.workers |= _children(process.popen.pid)

    def kill_all(self) -> None:
        """Kill whatever of ours still runs (a failed soak), by pid."""
        for process in self.processes:
            if process.returncode is None:
                process.popen.kill()
                process.popen.wait()

    def tails(self) -> str:
        return "\n".join(p.tail(15) for p in self.processes)


def daemon_runs(text: str) -> list[tuple[dt.date, re.Match | None, bool]]:
    """The production days a daemon log started: (day, its run's summary line or None if it
    did not end, whether a stop was requested during it)."""
    runs = []
    parts = _SIMULATED.split(text)
    for day, body in zip(parts[1::2], parts[2::2], strict=True):
        line = _LINE.search(body)
        runs.append((dt.date.fromisoformat(day), line, "stop requested" in body))
    return runs


def next_daemon_day(process: Process) -> dt.date:
    """The first production day whose run did not complete: a run cut by a kill or by a stop
    (SIGTERM: "the remaining days wait for the next run") is run again."""
    following = process.first_day
    for day, line, stopped in daemon_runs(process.text()):
        if line is None or stopped:
            break
        following = day + ONE
    return following


def current_day(process: Process) -> dt.date | None:
    found = _SIMULATED.findall(process.text())
    return dt.date.fromisoformat(found[-1]) if found else None


# --------------------------------------------------------------------------------------------
# the soak


def run_soak(soak: Soak, kills: list[DaemonKill], plan: list[ConcurrentReprocess]) -> None:
    """The daemon through LAST_SOAK_DAY under ``kills``, with the reprocesses of ``plan``."""
    kills, pending = list(kills), list(plan)
    armed: dict[object, float] = {}  # event -> when its trigger day was reached
    running: dict[Process, ConcurrentReprocess] = {}
    seen: dict[Process, float] = {}  # when the moment to kill it from was seen
    deadline = time.monotonic() + SOAK_TIMEOUT
    daemon: Process | None = soak.daemon(FIRST_DAEMON_DAY, LAST_SOAK_DAY)
    while daemon is not None or running or pending:
        assert time.monotonic() < deadline, (
            f"the soak did not end within {SOAK_TIMEOUT} s\n" + "\n".join(soak.events) + "\n"
            + soak.tails())
        soak.watch_workers()
        now = time.monotonic()
        today = current_day(daemon) if daemon is not None else LAST_SOAK_DAY + ONE
        for event in [*kills[:1], *pending[:1]]:
            if event not in armed and today is not None and today >= event.day:
                armed[event] = now

        if daemon is not None and daemon.returncode is not None:
            code, text = daemon.returncode, daemon.text()
            assert code == 0 and "simulation done" in text, (
                f"{daemon.name} ended by itself with exit {code}\n{daemon.tail()}")
            assert next_daemon_day(daemon) == LAST_SOAK_DAY + ONE, daemon.tail()
            soak.note(f"{daemon.name} simulated its last day, exit 0")
            daemon = None
            for kill in kills:
                soak.note(f"{kill}: not sent, the daemon had already ended")
            kills.clear()

        if daemon is not None and kills and kills[0] in armed and (
                now - armed[kills[0]] >= kills[0].delay):
            kill = kills.pop(0)
            name = signal.Signals(kill.signum).name
            daemon.send(kill.signum)
            code = daemon.wait(STOP_TIMEOUT if kill.signum == signal.SIGTERM else 30,
                               f"stop on {name}")
            text, following = daemon.text(), next_daemon_day(daemon)
            if code == 0 and following > LAST_SOAK_DAY:  # it ended as the signal came
                soak.note(f"{kill}: {daemon.name} had simulated its last day")
                daemon = None
                continue
            if kill.signum == signal.SIGTERM:
                assert code == 0 and "daemon stopped" in text, (
                    f"{daemon.name} on SIGTERM: exit {code}\n{daemon.tail()}")
            else:
                assert code == -signal.SIGKILL, daemon.tail()
            soak.note(f"{kill}: {daemon.name} sent {name} during day {today}, exit {code}; "
                      f"next day to simulate {following}")
            daemon = (soak.daemon(following, LAST_SOAK_DAY) if following <= LAST_SOAK_DAY
                      else None)
            continue

        if pending and (daemon is None or (pending[0] in armed
                                           and now - armed[pending[0]] >= pending[0].delay)):
            event = pending.pop(0)
            running[soak.reprocess(event.start, event.end, event.issue, event.workers,
                                   event.force)] = event

        for process, event in list(running.items()):
            code = process.returncode
            if code is not None:
                ended = process.stdout().strip().splitlines() or ["(no output)"]
                soak.note(f"{process.name} ended by itself, exit {code}: {ended[-1][:160]}")
                del running[process]
            elif event.kill is not None:
                if process not in seen and (
                        soak.holds_a_claim(process) if event.kill == "making"
                        else any(soak.ops.products.glob(f"*_{event.issue:%Y%m%d}.nc"))):
                    seen[process] = now
                if process in seen and now - seen[process] >= event.kill_after:
                    process.send(signal.SIGKILL)
                    code = process.wait(30, "die on SIGKILL")
                    soak.note(f"{event}: {process.name} killed, exit {code}")
                    del running[process]
        time.sleep(0.05)


# --------------------------------------------------------------------------------------------
# what the products must be


def _variables(path: Path) -> dict[str, tuple[str, tuple[int, ...], bytes]]:
    """Every variable's stored values (no masking nor scaling), as bytes."""
    with netCDF4.Dataset(path) as ds:
        ds.set_auto_maskandscale(False)
        return {name: (str(var.dtype), var.shape, np.ascontiguousarray(var[...]).tobytes())
                for name, var in ds.variables.items()}


def _inputs(record: ProductRecord) -> frozenset[tuple[str, str]]:
    return frozenset((i["name"], i["sha256"]) for i in record.inputs_used)


def _feed(ocean: Path) -> list[tuple[dt.date, Path]]:
    """The tiny ocean's observation files by the day they arrive."""
    return sorted((day, path) for path in ocean.rglob("*.nc")
                  if (day := arrival_day(path.name)) is not None)


def _state_with(root: Path, model, files: list[Path]) -> Ops:
    """A fresh operations state whose archive holds exactly ``files``."""
    ops = make_ops(root, model)
    ops.deliver(files)
    report = ingest(ops.config)
    assert len(report.archived) == len(files) and not report.quarantined, report.summary()
    return ops


def reference_digests(finals: dict[dt.date, ProductRecord], ocean: Path, root: Path,
                      model) -> dict[dt.date, tuple[str, frozenset]]:
    """For each final, the digest and inputs of the product a clean state makes of its day
    and production day from the files arrived by the day its latest input arrived.

    One state takes the files day by day (its OI cache emptied at each step); a final made
    while some files of that day were still being ingested gets a state of its own, holding
    exactly its inputs.
    """
    feed = _feed(ocean)
    source = {path.name: path for _, path in feed}
    by_cutoff: dict[dt.date, list[ProductRecord]] = {}
    for record in finals.values():
        cutoff = max(arrival_day(name) for name, _ in _inputs(record))
        by_cutoff.setdefault(cutoff, []).append(record)
    ops, delivered, found, alone = make_ops(root / "by-arrival", model), set(), {}, []
    producer = Producer(ops.config)
    try:
        for cutoff in sorted(by_cutoff):
            new = [path for day, path in feed if day <= cutoff and path.name not in delivered]
            ops.deliver(new)
            delivered |= {path.name for path in new}
            report = ingest(ops.config, producer.ledger)
            assert len(report.archived) == len(new) and not report.quarantined, (
                report.summary())
            shutil.rmtree(Path(ops.config.paths.state) / "oi-cache", ignore_errors=True)
            for record in by_cutoff[cutoff]:
                made = producer.make(record.product_day, record.production_day, final=True)
                assert made.status == "final", made
                row = producer.ledger.product(record.product_day, record.production_day)
                if _inputs(row) == _inputs(record):
                    found[record.product_day] = (product_digest(made.path), _inputs(row))
                else:
                    alone.append(record)
    finally:
        producer.ledger.close()
    for record in alone:
        files = [source[name] for name, _ in sorted(_inputs(record))]
        assert {(p.name, file_sha256(p)) for p in files} == _inputs(record)
        own = _state_with(root / f"exactly-{record.product_day}", model, files)
        producer = Producer(own.config)
        try:
            made = producer.make(record.product_day, record.production_day, final=True)
            assert made.status == "final", made
            row = producer.ledger.product(record.product_day, record.production_day)
            found[record.product_day] = (product_digest(made.path), _inputs(row))
        finally:
            producer.ledger.close()
    return found


# --------------------------------------------------------------------------------------------
# the test


def _line_counts(line: re.Match) -> tuple[int, int, int, int, int]:
    """Days asked, made, up to date, failed and held by another process."""
    return tuple(int(x) for x in line.groups()[2:])


def _stopped(line: re.Match) -> int:
    """Days a run left because it was asked to stop (``; stopped before N day(s)``)."""
    end = line.string.find("\n", line.end())
    rest = line.string[line.end():end if end >= 0 else None]
    found = re.search(r"; stopped before (\d+) day\(s\)", rest)
    return int(found[1]) if found else 0


def check_accounts(soak: Soak, problems: list[str]) -> dict[int, tuple[str, re.Match]]:
    """Every run's line accounts for every day it was asked; a process that exited 0 made or
    found up to date every day it was asked. Returns the lines by run id."""
    lines: dict[int, tuple[str, re.Match]] = {}
    for process in soak.processes:
        text = process.text()
        for line in _LINE.finditer(text):
            lines[int(line[1])] = (process.name, line)
        if process.name.startswith("daemon"):
            for day, line, _was_stopped in daemon_runs(text):
                if line is None:
                    continue
                # lag 1 to re-issue 3 days: 3 days due, also for a run stopped by SIGTERM
                # (the days it left count as stopped); the soak runs its production day again
                asked = _line_counts(line)[0]
                if line[2] != str(day) or asked < 3:  # more: days whose final run was lost
                    problems.append(f"{process.name}, simulated day {day}: {line[0]}")
            continue
        code = process.returncode
        if code not in (0, 1):
            assert process.sent == signal.SIGKILL == -code, process.tail()
            continue
        stdout = process.stdout().strip().splitlines()
        line = _LINE.match(stdout[-1]) if stdout else None
        assert line is not None, f"{process.name} exited {code} without its line\n" + (
            process.tail())
        start, end = (dt.date.fromisoformat(process.argv[process.argv.index(o) + 1])
                      for o in ("--start", "--end"))
        asked, made, current, failed, held = _line_counts(line)
        if code == 0 and not (asked == (end - start).days + 1 == made + current):
            problems.append(f"{process.name} exited 0 with days unmade: {line[0]}")
        if code == 1 and not (failed + held > 0 and asked == (end - start).days + 1):
            problems.append(f"{process.name} exited 1: {line[0]}")
    for name, line in lines.values():
        asked, made, current, failed, held = _line_counts(line)
        if made + current + failed + held + _stopped(line) != asked or failed:
            problems.append(f"{name}: {line[0]}")
    return lines


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_daemon_killed_at_random_with_concurrent_reprocesses_loses_nothing(
        tmp_path, soak_ocean, model, monkeypatch):
    seed = int(os.environ.get(SEED_VARIABLE, DEFAULT_SEED))
    kills, plan = soak_plan(random.Random(seed))
    print(f"soak seed {seed} ({SEED_VARIABLE}={seed} replays this schedule):")
    for event in sorted([*kills, *plan], key=lambda e: (e.day, e.delay)):
        print(f"  {event}")
    ocean = soak_ocean
    ops = make_ops(tmp_path / "soak", model)
    soak = Soak(ops, ocean, tmp_path / "logs")
    try:
        run_soak(soak, kills, plan)
        final = soak.reprocess(FIRST_PRODUCT, LAST_PRODUCT, FINAL_ISSUE, workers=1)
        code = final.wait(RUN_TIMEOUT, "finish")
        soak.note(f"{final.name} exit {code}: {final.stdout().strip()}")
        assert code == 0, final.tail()
        last = soak.daemon(LAST_DAEMON_DAY, LAST_DAEMON_DAY)
        code = last.wait(RUN_TIMEOUT, "simulate its one day")
        soak.note(f"{last.name} exit {code}")
        assert code == 0, last.tail()
    finally:
        soak.close()
        soak.kill_all()
    problems: list[str] = []  # every broken promise, reported together
    soak.note("checks")

    # ---- every run accounted for every day it was asked ---------------------------------
    lines = check_accounts(soak, problems)
    (last_run,) = [line for name, line in lines.values() if name == last.name]
    if _line_counts(last_run) != (3, 0, 3, 0, 0):  # all three days final already
        problems.append(f"the last daemon day: {last_run[0]}")

    # ---- the ledger: one final per day, nothing running or in progress ------------------
    with ops.ledger() as ledger:
        runs = ledger.recent_runs(10_000)
        for run in runs:
            if run.id in lines:
                name, line = lines[run.id]
                unmade = _line_counts(line)[3] + _line_counts(line)[4]
                expected = "failed" if unmade else "interrupted" if _stopped(line) else "ok"
                if run.status != expected:
                    problems.append(f"run {run.id} ({name}) is {run.status} in the ledger: "
                                    f"{line[0]}")
            elif run.status != "interrupted":  # killed before its line
                problems.append(f"run {run.id} of a killed process is {run.status}: {run}")
        finals: dict[dt.date, ProductRecord] = {}
        recorded = set()
        for day in days(FIRST_PRODUCT - ONE, LAST_DAEMON_DAY + ONE):
            history = ledger.product_history(day)
            recorded |= {r.path for r in history if r.path}
            described = [(str(r.production_day), r.status) for r in history]
            if any(r.status == "in-progress" for r in history):
                problems.append(f"{day}: a row is still in progress: {described}")
            if not FIRST_PRODUCT <= day <= LAST_PRODUCT:
                continue
            rows = [r for r in history if r.status == "final"]
            if len(rows) != 1:
                problems.append(f"{day}: {len(rows)} final rows: {described}")
            else:
                finals[day] = rows[0]
        if ledger.claims():
            problems.append(f"claims left: {ledger.claims()}")
        if ledger.interrupted_products():
            problems.append(f"in-progress rows left: {ledger.interrupted_products()}")
        archived = ledger.inputs_for_days(dt.date(2012, 9, 1), dt.date(2012, 12, 31),
                                          status=None)

    # ---- each final's file, the latest/ links, nothing left in the folders --------------
    for day, record in finals.items():
        path = Path(record.path)
        if path != ops.product_path(day, record.production_day) or not path.is_file():
            problems.append(f"{day}: the final's file {path} is missing")
            continue
        with xr.open_dataset(path) as ds:
            if ds["time"].values[0] != np.datetime64(day.isoformat(), "ns"):
                problems.append(f"{path.name} maps {ds['time'].values[0]}")
            if ds.attrs["processing_status"] != "final":
                problems.append(f"{path.name} says {ds.attrs['processing_status']}")
        link = ops.latest_link(day)
        if link.resolve() != path.resolve():
            problems.append(f"latest/ of {day} links "
                            f"{link.resolve().name if link.is_symlink() else None}, not its "
                            f"final {path.name}")
    for path in ops.product_files():
        if str(path) not in recorded:
            with xr.open_dataset(path) as ds:
                status = ds.attrs["processing_status"]
            problems.append(f"a {status} product file the ledger does not know: {path.name}")
    if leftovers := sorted(ops.root.rglob(".*.tmp")):
        problems.append(f"temporary files left: {leftovers}")
    if inbox := sorted(ops.inbox.iterdir()):
        problems.append(f"files left in the inbox: {inbox}")

    # ---- no process left ----------------------------------------------------------------
    workers = {w for p in soak.processes for w in p.workers}
    for process in soak.processes:
        if process.sent == signal.SIGKILL and process.argv[-2:] == ["--workers", "2"]:
            assert process.workers, f"no worker of {process.name} seen before it was killed"
    deadline = time.monotonic() + 15
    while any(_alive(*w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive := [w for w in workers if _alive(*w)]:
        problems.append(f"child processes outlived their parent: {alive}")
    if stray := _processes_naming(str(ops.root)):
        problems.append(f"processes left: {stray}")

    # ---- the archive: every file arrived by the last day, once, as delivered ------------
    feed = _feed(ocean)
    arrived = {(p.name, file_sha256(p)) for day, p in feed if day <= LAST_DAEMON_DAY}
    held = [(r.original_name, r.sha256) for r in archived]
    if sorted(held) != sorted(arrived):
        problems.append(f"the archive lacks {sorted(arrived - set(held))}, holds "
                        f"{sorted(set(held) - arrived)} more, {len(held) - len(set(held))} "
                        "twice")
    if bad := [r for r in archived if r.status != "ok"]:
        problems.append(f"inputs not ok: {bad}")

    # ---- the same products as a clean run from the same inputs --------------------------
    # (made in this process, without their quicklooks: half the time of a tiny product, and
    # no part of the product file compared)
    monkeypatch.setattr("varnet.operational.pipeline.write_quicklook", lambda *a, **k: None)
    with threadpool_limits(limits=1, user_api="blas"):  # as ONE_BLAS_THREAD
        problems += compare_with_clean_runs(finals, ocean, tmp_path, model, soak)
    assert not problems, "\n".join([f"seed {seed}:", *problems, "events:", *soak.events])


def compare_with_clean_runs(finals: dict[dt.date, ProductRecord], ocean: Path, tmp_path: Path,
                            model, soak: Soak) -> list[str]:
    """What differs between the soak's finals and those clean runs make from the same files.
    """
    problems = []
    feed = _feed(ocean)
    # the final reprocess read the files arrived by LAST_SOAK_DAY (those the archive held
    # then, checked above): a clean state holding the same files reprocesses the range
    soak.note("the clean reprocess")
    clean = _state_with(tmp_path / "clean", model,
                        [p for day, p in feed if day <= LAST_SOAK_DAY])
    summary = reprocess(clean.config, FIRST_PRODUCT, LAST_PRODUCT, production_day=FINAL_ISSUE,
                        progress=False)
    assert [(r.day, r.status) for r in summary.results] == [
        (d, "final") for d in days(FIRST_PRODUCT, LAST_PRODUCT)]
    with clean.ledger() as ledger:
        clean_rows = {d: ledger.product(d, FINAL_ISSUE)
                      for d in days(FIRST_PRODUCT, LAST_PRODUCT)}
    # finals made before every file their OI reads had arrived are compared with clean
    # states holding the files arrived by then
    same_inputs = {d: r for d, r in finals.items() if _inputs(r) == _inputs(clean_rows[d])}
    earlier = {d: r for d, r in finals.items() if d not in same_inputs}
    table = []
    for day, record in same_inputs.items():
        ours, theirs = _variables(Path(record.path)), _variables(Path(clean_rows[day].path))
        if differ := sorted(k for k in ours.keys() | theirs.keys()
                            if ours.get(k) != theirs.get(k)):
            problems.append(f"final of {day} (issue {record.production_day}) differs from the "
                            f"clean run's in {differ}")
        elif (record.production_day == FINAL_ISSUE
              and product_digest(record.path) != product_digest(clean_rows[day].path)):
            problems.append(f"final of {day} differs from the clean run's in its attributes")
    soak.note(f"clean states for the {len(earlier)} finals made from other files")
    references = reference_digests(earlier, ocean, tmp_path / "reference", model)
    soak.note("compared")
    for day, record in earlier.items():
        digest, inputs = references[day]
        assert inputs == _inputs(record), day
        if product_digest(record.path) != digest:
            problems.append(f"final of {day} (issue {record.production_day}) differs from the "
                            f"product a clean state makes from the same {len(inputs)} files")
    for day, record in finals.items():
        table.append(f"  {day}: final issue {record.production_day}, "
                     f"{len(_inputs(record))} of the clean run's "
                     f"{len(_inputs(clean_rows[day]))} inputs, compared with "
                     + ("the clean run" if day in same_inputs else
                        "a clean state holding the files arrived by then"))
    print("finals:\n" + "\n".join(table))
    if not same_inputs:
        problems.append("no final was made from the clean run's inputs: nothing compared")
    return problems
