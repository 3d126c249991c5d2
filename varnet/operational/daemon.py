"""``varnet-ops daemon``: the daily run on a cron schedule, one instance at a time.

On start the daemon takes the single-instance lock (``{state}/daemon.lock``), loads the model
(refusing one whose metadata does not fit the configuration), and runs once at once: that
run catches up every day of the re-issue window that is missing or whose inputs changed. Then
APScheduler runs :func:`varnet.operational.runs.daily_run` on the configured cron schedule
(UTC), coalescing missed firings into one and running late firings within the misfire grace
time. SIGTERM or Ctrl-C stops it cleanly: a product being made is finished first (products
are written atomically, so even a harder kill never leaves a partial one). After every run
the status file (``{state}/status.json``) says what was made, what is missing and why.

With a :class:`Simulation` the daemon runs simulated production days instead of today's, one
every few seconds instead of the cron schedule, each after a :class:`~varnet.operational.feed.
ReplayFeed` has delivered the files arrived by that day: the same runs, re-issues and status
as on a real feed, shown on the synthetic ocean in a minute.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from varnet.operational.config import OpsConfig, require_folders
from varnet.operational.feed import ReplayFeed
from varnet.operational.ledger import daemon_lock
from varnet.operational.pipeline import Producer
from varnet.operational.runs import RunSummary, daily_run
from varnet.operational.status import write_status

log = logging.getLogger("varnet.ops.daemon")

__all__ = ["Simulation", "run_daemon"]


@dataclass(frozen=True)
class Simulation:
    """Simulated production days, to show the daemon on a synthetic ocean.

    Attributes
    ----------
    first_day : datetime.date
        The first production day (the catch-up run at start).
    days : int
        Production days to run (consecutive); the daemon stops after the last one.
    day_seconds : float
        Seconds between two runs (a simulated day), > 0.
    feed : pathlib.Path, optional
        Folder of observation files replayed into the inbox before each run
        (:class:`~varnet.operational.feed.ReplayFeed`); none when absent.
    """

    first_day: dt.date
    days: int
    day_seconds: float
    feed: Path | None = None

    def __post_init__(self) -> None:
        if self.days < 1:
            raise ValueError(f"simulated days: expected at least 1, got {self.days}")
        if not self.day_seconds > 0:
            raise ValueError(f"seconds per simulated day: expected > 0, got {self.day_seconds}")


def run_daemon(config: OpsConfig, stop: threading.Event | None = None,
               on_run: Callable[[RunSummary], None] | None = None,
               simulation: Simulation | None = None) -> None:
    """Run until SIGTERM / SIGINT (or until ``stop`` is set, or a simulation ends).

    Parameters
    ----------
    config : OpsConfig
        The configuration.
    stop : threading.Event, optional
        Set it to stop the daemon (tests; signals set it too).
    on_run : callable, optional
        Called with each run's summary.
    simulation : Simulation, optional
        Run simulated production days instead of today's on the cron schedule.

    Raises
    ------
    varnet.operational.ledger.LockHeldError
        If another daemon holds the lock (naming the lock file and its pid).
    varnet.runtime.metadata.ModelMismatch
        If the model does not fit the configuration.
    varnet.operational.feed.FeedError
        If the simulation's feed folder is missing or holds no observation file.
    """
    from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    stop = stop or threading.Event()
    require_folders(config)
    feed = (ReplayFeed(simulation.feed, Path(config.paths.inbox))
            if simulation is not None and simulation.feed is not None else None)
    with daemon_lock(config.paths.state):
        producer = Producer(config)
        if simulation is None:
            trigger = CronTrigger.from_crontab(config.schedule.cron, timezone="UTC")
            schedule = f"schedule '{config.schedule.cron}' UTC"
        else:
            trigger = IntervalTrigger(seconds=simulation.day_seconds, timezone="UTC")
            schedule = (f"SIMULATED days {simulation.first_day} on, one every "
                        f"{simulation.day_seconds:g} s")
        log.info("daemon started: model %s on %s, %s, products in %s",
                 producer.model.metadata.model_id, producer.model.providers[0], schedule,
                 config.paths.products)
        busy = threading.Lock()
        runs_made = 0

        def job() -> None:
            nonlocal runs_made
            if stop.is_set():
                return
            with busy:
                production_day = None
                if simulation is not None:
                    production_day = simulation.first_day + dt.timedelta(days=runs_made)
                    log.info("simulated production day %s (%d of %d)", production_day,
                             runs_made + 1, simulation.days)
                    if feed is not None:
                        feed.deliver(production_day)
                runs_made += 1
                try:
                    summary = daily_run(config, production_day, producer=producer, stop=stop)
                except Exception:
                    log.exception("daily run failed; the next run will retry")
                    write_status(config, producer.ledger, production_day)
                    return
                finally:
                    if simulation is not None and runs_made >= simulation.days:
                        log.info("simulation done: %d production days", runs_made)
                        stop.set()
                write_status(config, producer.ledger, summary.production_day)
                if on_run is not None:
                    on_run(summary)

        previous = _install_signal_handlers(stop)
        scheduler = BackgroundScheduler(timezone="UTC")
        scheduler.add_job(job, trigger, id="daily", coalesce=True, max_instances=1,
                          misfire_grace_time=config.schedule.misfire_grace_minutes * 60)
        grace = config.schedule.misfire_grace_minutes
        scheduler.add_listener(lambda event: log_scheduler_event(event, grace),
                               EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        try:
            job()  # catch up at once
            scheduler.start()
            next_run = scheduler.get_job("daily").next_run_time
            log.info("next run %s", next_run)
            while not stop.wait(1.0):
                pass
        finally:
            log.info("stopping: waiting for the current product, if any")
            if scheduler.running:
                scheduler.shutdown(wait=True)
            with busy:
                pass
            _restore_signal_handlers(previous)
            log.info("daemon stopped")


def log_scheduler_event(event: object, grace_minutes: int) -> None:
    """Say in the daemon's words why a scheduled run did not start.

    APScheduler's own warnings name an internal job (``run_daemon.<locals>.job``); its
    loggers are kept to errors and these lines replace them.

    Parameters
    ----------
    event : apscheduler.events.JobSubmissionEvent or JobExecutionEvent
        A ``EVENT_JOB_MAX_INSTANCES`` or ``EVENT_JOB_MISSED`` event.
    grace_minutes : int
        ``schedule.misfire_grace_minutes`` of the configuration.
    """
    from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED

    if event.code == EVENT_JOB_MAX_INSTANCES:
        due = ", ".join(f"{t:%Y-%m-%d %H:%M} UTC" for t in event.scheduled_run_times)
        log.warning("the daily run due at %s did not start: the previous run is still making "
                    "products; the next run catches up the days it leaves", due)
    elif event.code == EVENT_JOB_MISSED:
        log.warning("the daily run due at %s was missed by more than "
                    "schedule.misfire_grace_minutes = %d (the machine was asleep or busy); "
                    "the next run catches up the days it leaves",
                    f"{event.scheduled_run_time:%Y-%m-%d %H:%M} UTC", grace_minutes)


def _install_signal_handlers(stop: threading.Event) -> dict[int, object]:
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handler(signum: int, frame: FrameType | None) -> None:
        log.info("received %s", signal.Signals(signum).name)
        stop.set()

    return {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}


def _restore_signal_handlers(previous: dict[int, object]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)
