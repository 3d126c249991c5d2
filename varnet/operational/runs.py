"""Which products to make, and making them: the daily run and reprocessing.

**Daily run** on production day P (what the daemon does each morning, and on start): ingest
the inbox, then for every product day D with ``P - reissue_days <= D <= P - lag_days``
(near-real-time re-issue, as DUACS does):

* no product yet (a missed day, e.g. after the daemon was stopped) -> make it;
* inputs of its window changed since its latest issue -> re-make it;
* ``P - D == reissue_days`` -> its last issue, made with ``processing_status = final``;
* already final -> nothing, unless it is *stale* (an input of its window arrived or was
  replaced after it was made): then it is made again if ``production.remake_stale_finals``
  is true, else the run logs it with the command that re-issues it (:func:`stale_finals`).

Days before that window whose newest issue is not final (the daemon was down when they were
due) are issued final by the next run (:func:`overdue_finals`).

**Reprocess** of a date range: every day not yet final (all with ``force``; stale finals too
when ``production.remake_stale_finals``), issued final on the production day, sequentially,
over ``workers`` processes, or on a Dask cluster. Products depend only on the archived
inputs, the model and the production day, so they are the same bit for bit whichever way they
are run; a killed reprocess resumes where it stopped (final days are skipped, interrupted
ones redone).

**Only this process opens the ledger**, with worker processes and on Dask alike: it claims
each day, chooses its files and sends them as a :class:`~varnet.operational.pipeline.DayJob`
to a worker, whose :class:`~varnet.operational.pipeline.ProductMaker` writes the product file
(and quicklook) to the products folder and returns what it made, which this process records
(at most two days per worker are claimed at a time). So a Dask cluster's workers on other
hosts need the archive, the model and the products folder on shared storage, and never the
state folder (SQLite's locks do not work across hosts on a network file system). Local
worker processes share this host's OI cache (``{state}/oi-cache``); Dask workers keep one in
their host's temporary folder.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import datetime as dt
import logging
import multiprocessing
import os
import signal
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from varnet.config import ConfigError
from varnet.operational.config import OpsConfig, require_folders
from varnet.operational.ingest import IngestReport, ingest
from varnet.operational.ledger import Ledger
from varnet.operational.pipeline import (
    DayJob,
    DayResult,
    MadeProduct,
    Producer,
    ProductMaker,
    model_oi_config,
    oi_reach_days,
    window_days,
)
from varnet.operational.tidy import tidy_interrupted

log = logging.getLogger("varnet.ops.run")

__all__ = ["OVERDUE_LOOKBACK_DAYS", "RunSummary", "daily_run", "days_due", "overdue_finals",
           "reprocess", "stale_finals", "today_utc"]


def today_utc() -> dt.date:
    """Today's date in UTC."""
    return dt.datetime.now(dt.UTC).date()


def date_range(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every day from ``first`` to ``last`` inclusive."""
    return [first + dt.timedelta(days=k) for k in range((last - first).days + 1)]


def days_due(production_day: dt.date, lag_days: int, reissue_days: int) -> list[dt.date]:
    """Product days a run on ``production_day`` looks after, oldest first."""
    return date_range(production_day - dt.timedelta(days=reissue_days),
                      production_day - dt.timedelta(days=lag_days))


@dataclass
class RunSummary:
    """Outcome of a daily run or a reprocess: every day asked for, accounted for.

    Attributes
    ----------
    run_id : int
        The ledger's run.
    production_day : datetime.date
        Issue date of the products.
    results : list of DayResult
        Days the run tried to make (made, failed, held by another process, or found final
        once claimed).
    skipped : list of datetime.date
        Days up to date before any claim (final, or unchanged since their last issue).
    ingest : IngestReport or None
        The ingest that started a daily run.
    """

    run_id: int
    production_day: dt.date
    results: list[DayResult] = field(default_factory=list)
    skipped: list[dt.date] = field(default_factory=list)
    ingest: IngestReport | None = None

    def _with(self, *statuses: str) -> list[DayResult]:
        return [r for r in self.results if r.status in statuses]

    @property
    def made(self) -> list[DayResult]:
        """Days made (a new issue, or the final one)."""
        return self._with("ok", "final")

    @property
    def failed(self) -> list[DayResult]:
        """Days that failed."""
        return self._with("failed")

    @property
    def busy(self) -> list[DayResult]:
        """Days another process held: not made by this run."""
        return self._with("busy")

    @property
    def up_to_date(self) -> list[dt.date]:
        """Days that needed nothing: up to date before the run, or made final meanwhile."""
        return sorted([*self.skipped, *(r.day for r in self._with("up-to-date"))])

    @property
    def stopped(self) -> list[DayResult]:
        """Days left because the run was asked to stop (SIGTERM, Ctrl-C)."""
        return self._with("stopped")

    @property
    def unmade(self) -> list[DayResult]:
        """Days asked for and not made nor up to date (failed, held by another process, or
        left by a stopped run): a run with any ends with a non-zero exit status."""
        return sorted([*self.failed, *self.busy, *self.stopped], key=lambda r: r.day)

    @property
    def asked(self) -> int:
        """Number of days the run looked after."""
        return len(self.results) + len(self.skipped)

    def line(self) -> str:
        """One readable line: every day asked for, and what became of it."""
        text = (f"run {self.run_id} (issue {self.production_day}): {self.asked} day(s) asked, "
                f"{len(self.made)} made, {len(self.up_to_date)} up to date, "
                f"{len(self.failed)} failed, {len(self.busy)} held by another process")
        if self.failed:
            text += "; failed: " + "; ".join(f"{r.day} ({r.error})" for r in self.failed)
        if self.busy:
            text += ("; not made, held by another process: "
                     + "; ".join(f"{r.day} ({r.error})" for r in self.busy))
        if self.stopped:
            text += (f"; stopped before {len(self.stopped)} day(s): "
                     + ", ".join(str(r.day) for r in self.stopped))
        return text

    def outcome(self) -> tuple[str, str | None]:
        """The run's ledger status and note: ``failed`` when a day failed or was held by
        another process, ``interrupted`` when the run was stopped before some days."""
        if not self.unmade:
            return "ok", None
        status = "failed" if self.failed or self.busy else "interrupted"
        return status, "; ".join(f"{r.day}: {r.status}: {r.error}" for r in self.unmade)


#: How far before its re-issue window a daily run looks for days left without a final issue.
OVERDUE_LOOKBACK_DAYS = 30


def overdue_finals(ledger: Ledger, production_day: dt.date, reissue_days: int) -> list[dt.date]:
    """Days before the re-issue window whose newest issue is not final: a run that should have
    issued them final did not (the daemon was stopped or down); the run on
    ``production_day`` issues them final. Looks back :data:`OVERDUE_LOOKBACK_DAYS` days;
    days never made at all are reprocessing's (``varnet-ops reprocess``)."""
    first = production_day - dt.timedelta(days=reissue_days + OVERDUE_LOOKBACK_DAYS)
    last = production_day - dt.timedelta(days=reissue_days + 1)
    return [day for day in date_range(first, last)
            if (latest := ledger.latest_product(day)) is not None and latest.status == "ok"]


def stale_finals(config: OpsConfig, ledger: Ledger, first: dt.date,
                 last: dt.date) -> list[dt.date]:
    """Days of ``[first, last]`` whose final product is stale, to make again.

    Each stale final is logged (a warning) with why. With
    ``production.remake_stale_finals`` the days are returned, to be made again (final,
    replacing the old file once the new one is written); without it, none is returned and
    the warning names the command that re-issues the day.

    Returns
    -------
    list of datetime.date
        The days to make again (empty unless ``production.remake_stale_finals``).
    """
    stale = ledger.stale_finals(first, last)
    remake = config.production.remake_stale_finals
    for found in stale:
        day = found.product.product_day
        action = ("making it again (production.remake_stale_finals = true)" if remake else
                  f"to re-issue it: varnet-ops reprocess --force --start {day} --end {day}, "
                  "or set production.remake_stale_finals = true")
        log.warning("the final product of %s is stale: %s; %s", day, found.reason, action)
    return [found.product.product_day for found in stale] if remake else []


def _window_data_days(producer: Producer, day: dt.date) -> tuple[dt.date, dt.date]:
    """First and last data days whose files can change the product of ``day``."""
    metadata = producer.model.metadata
    reach = dt.timedelta(days=oi_reach_days(model_oi_config(metadata)))
    days = window_days(day, metadata.window_days)
    return days[0] - reach, days[-1] + reach


def daily_run(config: OpsConfig, production_day: dt.date | None = None,
              producer: Producer | None = None, do_ingest: bool = True,
              stop: threading.Event | None = None) -> RunSummary:
    """One near-real-time run (module docstring).

    Parameters
    ----------
    config : OpsConfig
        The configuration.
    production_day : datetime.date, optional
        Default: today (UTC).
    producer : Producer, optional
        Reused across runs by the daemon (the model stays loaded).
    do_ingest : bool
        Ingest the inbox first.
    stop : threading.Event, optional
        Checked between days: once set, the run ends after the current product.

    Returns
    -------
    RunSummary
    """
    production_day = production_day or today_utc()
    require_folders(config)
    producer = producer or Producer(config)
    ledger = producer.ledger
    run_id = ledger.start_run("daily")
    summary = RunSummary(run_id, production_day)
    try:
        if do_ingest:
            summary.ingest = ingest(config, ledger, today=production_day)
            log.info("ingest: %s", summary.ingest.summary())
        tidy_interrupted(config, ledger)
        reissue = config.production.reissue_days
        due = [*overdue_finals(ledger, production_day, reissue),
               *days_due(production_day, config.production.lag_days, reissue)]
        lookback = production_day - dt.timedelta(days=reissue + OVERDUE_LOOKBACK_DAYS)
        remake = stale_finals(config, ledger, lookback, due[-1] if due else production_day)
        due = sorted({*due, *remake})
        for k, day in enumerate(due):
            if stop is not None and stop.is_set():
                log.info("stop requested: the remaining days wait for the next run")
                summary.results += [DayResult(d, "stopped", error="the run was stopped before "
                                              "this day; the next run makes it")
                                    for d in due[k:]]
                break
            latest = ledger.latest_product(day)
            final = (production_day - day).days >= reissue
            if latest is not None and latest.status == "final":
                if day in remake:
                    summary.results.append(producer.make(day, production_day, final=True,
                                                         run_id=run_id, force=True))
                else:
                    summary.skipped.append(day)
                continue
            changed = ledger.inputs_changed(day, *_window_data_days(producer, day))
            if latest is not None and not changed and not final:
                summary.skipped.append(day)
                continue
            summary.results.append(producer.make(day, production_day, final=final,
                                                 run_id=run_id))
    except BaseException as exc:
        ledger.finish_run(run_id, "failed", f"{type(exc).__name__}: {exc}")
        raise
    ledger.finish_run(run_id, *summary.outcome())
    log.info(summary.line())
    return summary


# --- reprocessing ---------------------------------------------------------------------------


def die_with_parent(parent_pid: int) -> None:
    """Make this worker process end when the process that started it ends, even by SIGKILL.

    Run as the initializer of every worker process: a worker left behind by a killed
    reprocess would go on claiming days and writing products nobody accounts for. On Linux
    the kernel sends the worker SIGKILL when its parent dies (``PR_SET_PDEATHSIG``);
    elsewhere, and as a second guard, a daemon thread exits the worker once its parent is
    gone (checked every second).

    Parameters
    ----------
    parent_pid : int
        The parent's process id, as seen by the parent (``os.getpid()`` there).
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the guard was set
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>

#: The ProductMaker of this worker process, with what it was built for (the model is loaded
#: once per process).
_WORKER_MAKER: list[tuple[tuple[OpsConfig, str], ProductMaker]] = []


#: ``oi_cache`` of :func:`_worker_make` meaning the worker host's own temporary folder.
WORKER_TEMP = "worker-temp"


def _worker_make(config: OpsConfig, job: DayJob, oi_cache: str) -> MadeProduct:
    """Make one product in a worker process or on a Dask worker: no ledger is opened here
    (the process that sent ``job`` records what comes back). ``oi_cache``: the OI cache
    folder, or :data:`WORKER_TEMP` for ``{temporary folder}/varnet-oi-cache-{name}`` on the
    worker's host (its entries are keyed by the SHA-256 of the files they depend on and
    written atomically, so any folder is safe; the state folder is not the workers')."""
    key = (config, oi_cache)
    if not _WORKER_MAKER or _WORKER_MAKER[0][0] != key:
        folder = (Path(tempfile.gettempdir()) / f"varnet-oi-cache-{config.name}"
                  if oi_cache == WORKER_TEMP else Path(oi_cache))
        _WORKER_MAKER[:] = [(key, ProductMaker(config, folder))]
    return _WORKER_MAKER[0][1].make(job)


class _Bar:
    """The reprocess's progress bar, and the results as they come."""

    def __init__(self, total: int, progress: bool) -> None:
        self.results: list[DayResult] = []
        self._bar = tqdm(total=total, desc="reprocess", unit="day", disable=not progress)

    def add(self, result: DayResult) -> None:
        self.results.append(result)
        self._bar.set_postfix_str(f"{result.day} {result.status}")
        self._bar.update()

    def close(self) -> None:
        self._bar.close()


def _dispatch(producer: Producer, todo: list[dt.date], production_day: dt.date, run_id: int,
              forced: Collection[dt.date], submit: Callable[[DayJob], Any],
              wait: Callable[[list[Any]], Iterable[Any]], in_flight_max: int,
              progress: bool) -> list[DayResult]:
    """Make ``todo`` on workers: this process claims each day and chooses its files
    (:meth:`Producer.begin`), ``submit`` sends the job to a worker and returns a future,
    ``wait`` returns the futures done among those given (at least one), and this process
    records each result (:meth:`Producer.record`); at most ``in_flight_max`` days are
    claimed and sent at a time. Workers never open the ledger."""
    bar, pending = _Bar(len(todo), progress), list(todo)
    in_flight: dict[Any, DayJob] = {}
    try:
        while pending or in_flight:
            while pending and len(in_flight) < in_flight_max:
                day = pending.pop(0)
                begun = producer.begin(day, production_day, final=True, run_id=run_id,
                                       force=day in forced)
                if isinstance(begun, DayResult):
                    bar.add(begun)
                else:
                    in_flight[submit(begun)] = begun
            for future in (wait(list(in_flight)) if in_flight else ()):
                job = in_flight.pop(future)
                try:
                    made = future.result()
                except Exception as exc:  # the worker's error, recorded; the others go on
                    bar.add(producer.record_failure(job, exc, {}))
                else:
                    bar.add(producer.record(job, made))
    finally:
        bar.close()
    return bar.results


def _on_processes(config: OpsConfig, producer: Producer, todo: list[dt.date],
                  production_day: dt.date, run_id: int, forced: Collection[dt.date],
                  workers: int, progress: bool) -> list[DayResult]:
    """:func:`_dispatch` on ``workers`` local processes, which die with this one."""
    # fresh interpreters, not forks: a fork of a process that has run OpenMP code (torch)
    # aborts, and one of a threaded process (ONNX Runtime) may deadlock
    oi_cache = str(Path(config.paths.state) / "oi-cache")  # this host's state folder
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
        return _dispatch(
            producer, todo, production_day, run_id, forced,
            lambda job: pool.submit(_worker_make, config, job, oi_cache),
            lambda futures: futures_wait(futures, return_when=FIRST_COMPLETED).done,
            2 * workers, progress)


def reprocess(config: OpsConfig, start: dt.date, end: dt.date, *, force: bool = False,
              workers: int = 1, dask: str | None = None,
              production_day: dt.date | None = None, progress: bool = True,
              producer: Producer | None = None) -> RunSummary:
    """Make the final products of ``start`` to ``end`` (module docstring).

    Parameters
    ----------
    config : OpsConfig
        The configuration.
    start, end : datetime.date
        Product days, inclusive.
    force : bool
        Re-make days that are already final.
    workers : int
        Processes (1: in this process).
    dask : str, optional
        Address of a Dask scheduler (``tcp://host:8786``), or ``"local"`` for a local
        cluster of ``workers`` processes.
    production_day : datetime.date, optional
        Issue date of the products (default today, UTC).
    progress : bool
        Progress bar.
    producer : Producer, optional
        Reused for a sequential run (the model already loaded); workers load their own.

    Returns
    -------
    RunSummary
    """
    if end < start:
        raise ConfigError("--end", f"{end} is before --start {start}")
    production_day = production_day or today_utc()
    require_folders(config)
    ledger = Ledger.for_config(config)
    tidy_interrupted(config, ledger)
    days = date_range(start, end)
    stale = [] if force else stale_finals(config, ledger, start, end)
    todo = [d for d in days if force or d in stale or (p := ledger.latest_product(d)) is None
            or p.status != "final"]
    run_id = ledger.start_run("reprocess")
    summary = RunSummary(run_id, production_day, skipped=[d for d in days if d not in todo])
    log.info("reprocess %s to %s: %d day(s) to make, %d already final", start, end, len(todo),
             len(summary.skipped))
    try:
        producer = producer or Producer(config, ledger)
        forced = set(todo if force else stale)
        if dask is not None:
            summary.results = _on_dask(config, producer, todo, production_day, run_id, forced,
                                       dask, workers, progress)
        elif workers > 1:
            summary.results = _on_processes(config, producer, todo, production_day, run_id,
                                            forced, workers, progress)
        else:
            bar = _Bar(len(todo), progress)
            try:
                for day in todo:
                    bar.add(producer.make(day, production_day, final=True, run_id=run_id,
                                          force=day in forced))
            finally:
                bar.close()
            summary.results = bar.results
    except BaseException as exc:
        ledger.finish_run(run_id, "failed", f"{type(exc).__name__}: {exc}")
        raise
    summary.results.sort(key=lambda r: r.day)
    ledger.finish_run(run_id, *summary.outcome())
    log.info(summary.line())
    return summary


def _on_dask(config: OpsConfig, producer: Producer, todo: list[dt.date],
             production_day: dt.date, run_id: int, forced: Collection[dt.date], address: str,
             workers: int, progress: bool) -> list[DayResult]:
    """:func:`_dispatch` on a Dask cluster: ``address`` of its scheduler, or ``"local"`` for a
    local cluster of ``workers`` processes. The workers read the archive and the model and
    write the products folder (shared storage); they never open the state folder: their OI
    cache is in their host's temporary folder, the ledger stays here. A worker lost in the
    middle of a day has its day made again on another (Dask's own rescheduling)."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ConfigError("--dask", "needs dask.distributed: pip install 'varnet[dist]'"
                          ) from None
    cluster = None
    # set_as_default=False: dask's global scheduler setting stays as it was for the rest of
    # the process (a default client left behind sends later dask computations to it)
    if address == "local":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster, set_as_default=False)
    else:
        client = Client(address, set_as_default=False)
    try:
        size = max(1, len(client.scheduler_info().get("workers", {})))
        log.info("reprocess on the Dask cluster %s: %d worker(s)", client.scheduler.address,
                 size)
        completed = as_completed(loop=client.loop)  # this client's, not a default one

        def submit(job: DayJob) -> Any:
            future = client.submit(_worker_make, config, job, WORKER_TEMP, pure=False,
                                   key=f"varnet-{config.name}-{job.day}-{uuid.uuid4().hex}")
            completed.add(future)
            return future

        return _dispatch(producer, todo, production_day, run_id, forced, submit,
                         lambda futures: [next(completed)], 2 * size, progress)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
