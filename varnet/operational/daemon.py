"""``varnet-ops daemon``: the daily run on a cron schedule, one instance at a time.

On start the daemon takes the single-instance lock (``{state}/daemon.lock``), loads the model
(refusing one whose metadata does not fit the configuration), and runs once at once: that
run catches up every day of the re-issue window that is missing or whose inputs changed. Then
APScheduler runs :func:`varnet.operational.runs.daily_run` on the configured cron schedule
(UTC), coalescing missed firings into one and running late firings within the misfire grace
time. SIGTERM or Ctrl-C stops it cleanly: a product being made is finished first (products
are written atomically, so even a harder kill never leaves a partial one). After every run
the status file (``{state}/status.json``) says what was made, what is missing and why.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from varnet.operational.config import OpsConfig
from varnet.operational.ledger import daemon_lock
from varnet.operational.pipeline import Producer
from varnet.operational.runs import RunSummary, daily_run
from varnet.operational.status import write_status

log = logging.getLogger("varnet.ops.daemon")

__all__ = ["run_daemon"]


def run_daemon(config: OpsConfig, stop: threading.Event | None = None,
               on_run: Callable[[RunSummary], None] | None = None) -> None:
    """Run until SIGTERM / SIGINT (or until ``stop`` is set).

    Parameters
    ----------
    config : OpsConfig
        The configuration.
    stop : threading.Event, optional
        Set it to stop the daemon (tests; signals set it too).
    on_run : callable, optional
        Called with each run's summary.

    Raises
    ------
    varnet.operational.ledger.LockHeldError
        If another daemon holds the lock (naming the lock file and its pid).
    varnet.export.metadata.ModelMismatch
        If the model does not fit the configuration.
    """
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger

    stop = stop or threading.Event()
    with daemon_lock(config.paths.state):
        producer = Producer(config)
        log.info("daemon started: model %s on %s, schedule '%s' UTC, products in %s",
                 producer.model.metadata.model_id, producer.model.providers[0],
                 config.schedule.cron, config.paths.products)
        busy = threading.Lock()

        def job() -> None:
            if stop.is_set():
                return
            with busy:
                try:
                    summary = daily_run(config, producer=producer, stop=stop)
                except Exception:
                    log.exception("daily run failed; the next run will retry")
                    write_status(config, producer.ledger)
                    return
                write_status(config, producer.ledger, summary.production_day)
                if on_run is not None:
                    on_run(summary)

        previous = _install_signal_handlers(stop)
        scheduler = BackgroundScheduler(timezone="UTC")
        scheduler.add_job(job, CronTrigger.from_crontab(config.schedule.cron, timezone="UTC"),
                          id="daily", coalesce=True, max_instances=1,
                          misfire_grace_time=config.schedule.misfire_grace_minutes * 60)
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
