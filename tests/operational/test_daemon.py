"""The daemon (catch-up on start, status file, one instance, clean stop) and ``varnet-ops
status``."""

from __future__ import annotations

import datetime as dt
import json
import logging
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner
from test_pipeline import alongtrack_files, exported_model, make_ops, sst_files

from varnet.operational import runs
from varnet.operational.cli import main
from varnet.operational.daemon import Simulation, run_daemon
from varnet.operational.ledger import LockHeldError, daemon_lock

#: The production day of these tests: "today" for the daemon.
TODAY = dt.date(2012, 10, 20)
ONE = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def model(tmp_path_factory, tiny_ocean):
    return exported_model(tmp_path_factory, tiny_ocean.out_dir)


def check_products_whole(ops, reissue_days: int = 3) -> None:
    """Every product file opens and has a usable ledger row, and the other way round; no
    temporary file, claim or in-progress row is left."""
    with ops.ledger() as ledger:
        rows = [r for k in range(1, reissue_days + 1)
                for r in ledger.product_history(TODAY - k * ONE)]
        assert all(r.status != "in-progress" for r in rows), rows
        assert sorted(r.path for r in rows if r.status in ("ok", "final")) == [
            str(p) for p in ops.product_files()]
        assert ledger.claims() == []
    for path in ops.product_files():
        with xr.open_dataset(path) as ds:
            assert np.isfinite(ds["sla"].values).all()
    assert ops.temporaries() == []


def test_the_daemon_catches_up_reports_is_alone_and_stops(tmp_path, tiny_ocean, model,
                                                          monkeypatch):
    ops = make_ops(tmp_path, model)
    ocean = tiny_ocean.out_dir
    # altimetry up to TODAY - 3 only: the window of TODAY - 1 has none
    ops.deliver(alongtrack_files(ocean, TODAY - 11 * ONE, TODAY - 3 * ONE)
                + sst_files(ocean, TODAY - 7 * ONE, TODAY))
    monkeypatch.setattr(runs, "today_utc", lambda: TODAY)  # the ocean's calendar
    stop = threading.Event()
    summaries, errors = [], []

    def daemon() -> None:
        try:
            run_daemon(ops.config, stop=stop, on_run=summaries.append)
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    thread = threading.Thread(target=daemon, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while not summaries and not errors:
            assert time.monotonic() < deadline, "no run after 120 s"
            time.sleep(0.05)
        assert errors == []
        (summary,) = summaries  # the start-up run; the schedule does not fire
        assert summary.production_day == TODAY
        assert [(r.day, r.status) for r in summary.results] == [
            (TODAY - 3 * ONE, "final"), (TODAY - 2 * ONE, "ok"), (TODAY - ONE, "failed")]

        report = json.loads(ops.config.paths.status_file.read_text())
        assert report["today"] == str(TODAY)
        assert report["missing"] == [str(TODAY - ONE)]
        missing = report["days"][str(TODAY - ONE)]
        assert missing["status"] == "failed"
        assert missing["error"].startswith("NoInputError: ")
        assert report["days"][str(TODAY - 3 * ONE)]["status"] == "final"
        assert report["days"][str(TODAY - 2 * ONE)]["path"] == str(
            ops.product_path(TODAY - 2 * ONE, TODAY))
        assert report["last_run"]["kind"] == "daily"
        assert report["last_run"]["status"] == "failed"

        # a second daemon on the same state folder is refused while the first runs
        lock_file = ops.config.paths.daemon_lock_file
        with pytest.raises(LockHeldError) as caught:
            run_daemon(ops.config, stop=threading.Event())
        assert caught.value.lock_path == lock_file and str(lock_file) in str(caught.value)
        result = CliRunner().invoke(main, ["daemon", "--config", str(ops.toml), "--quiet"])
        assert result.exit_code == 3, result.output
        assert str(lock_file) in result.stderr and "another varnet-ops daemon" in result.stderr
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive(), "the daemon did not stop"
    assert errors == [] and len(summaries) == 1
    with daemon_lock(ops.config.paths.state):  # released
        pass
    check_products_whole(ops)


_DAEMON = textwrap.dedent("""
    import datetime, sys
    from varnet.operational import runs
    day = datetime.date.fromisoformat(sys.argv[1])
    runs.today_utc = lambda: day  # the tiny ocean's calendar, not the clock
    from varnet.operational.cli import main
    main(sys.argv[2:], prog_name="varnet-ops")
""")


def test_sigterm_stops_the_daemon_cleanly_after_the_current_product(tmp_path, tiny_ocean,
                                                                     model):
    ops = make_ops(tmp_path, model, reissue_days=6)  # six days to make on start
    ocean = tiny_ocean.out_dir
    ops.deliver(alongtrack_files(ocean, TODAY - 14 * ONE, TODAY - ONE)
                + sst_files(ocean, TODAY - 7 * ONE, TODAY))
    log = tmp_path / "daemon.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", _DAEMON, str(TODAY), "daemon", "--config", str(ops.toml)],
            stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while not ops.product_files():
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "no product after 120 s"
                time.sleep(0.01)
            process.send_signal(signal.SIGTERM)
            returncode = process.wait(timeout=60)
        finally:
            process.kill()
            process.wait()
    text = log.read_text()
    assert returncode == 0, text
    assert "received SIGTERM" in text and "daemon stopped" in text
    made = ops.product_files()
    assert 1 <= len(made) < 6, text  # stopped after the product it was making
    assert "stop requested: the remaining days wait for the next run" in text
    check_products_whole(ops, reissue_days=6)
    report = json.loads(ops.config.paths.status_file.read_text())
    assert report["today"] == str(TODAY)
    assert len(report["missing"]) == 6 - len(made)
    with daemon_lock(ops.config.paths.state):  # released
        pass


def test_status_prints_the_last_run_and_the_missing_days(tmp_path, tiny_ocean, model):
    ops = make_ops(tmp_path, model)
    day = TODAY - 3 * ONE
    ops.deliver(alongtrack_files(tiny_ocean.out_dir, day - ONE, day - ONE))  # one day only
    runner = CliRunner()
    run = runner.invoke(main, ["run", "--config", str(ops.toml), "--day", str(TODAY),
                               "--quiet"])
    assert run.exit_code == 1, run.output  # some days failed, the others were made
    assert "3 day(s) asked, 1 made, 0 up to date, 2 failed, 0 held by another" in run.stdout

    text = runner.invoke(main, ["status", "--config", str(ops.toml), "--day", str(TODAY)])
    assert text.exit_code == 1, text.output  # days are missing: monitoring must see it
    lines = text.stdout.splitlines()
    assert lines[0] == f"status on {TODAY}"
    assert lines[1].startswith("last run: #1 daily failed, started ")
    assert f"  {day}: final (issue {TODAY}) {ops.product_path(day, TODAY)}" in lines
    assert any(line.startswith(f"  {TODAY - ONE}: failed (issue {TODAY}) - NoInputError: ")
               for line in lines)
    assert lines[-1] == f"missing: {TODAY - 2 * ONE}, {TODAY - ONE}"

    out = runner.invoke(main, ["status", "--config", str(ops.toml), "--day", str(TODAY),
                               "--json"])
    assert out.exit_code == 1, out.output  # the same days are missing in JSON
    report = json.loads(out.stdout)
    assert report["missing"] == [str(TODAY - 2 * ONE), str(TODAY - ONE)]
    assert report["last_run"]["status"] == "failed" and report["last_run"]["id"] == 1
    assert report["days"][str(day)]["status"] == "final"
    # the run's status file reports the day it ran for, not the clock's
    assert json.loads(ops.config.paths.status_file.read_text()) == report


def test_a_simulated_daemon_on_a_replayed_feed_issues_and_reissues_day_by_day(
        tmp_path, tiny_ocean, model):
    """``--simulate-from`` with ``--feed``: each simulated day the files arrived by then reach
    the inbox, and the run makes D - 3 (final), D - 2 and D - 1, as on a real feed."""
    ops = make_ops(tmp_path, model)
    first = dt.date(2012, 10, 16)
    summaries = []
    run_daemon(ops.config, on_run=summaries.append,
               simulation=Simulation(first, days=4, day_seconds=0.2, feed=tiny_ocean.out_dir))
    assert [s.production_day for s in summaries] == [first + k * ONE for k in range(4)]
    assert all(not s.failed for s in summaries)
    last = first + 3 * ONE
    with ops.ledger() as ledger:
        # the day made first on the first run is re-made on each run until final
        history = ledger.product_history(first - ONE)
        assert [(r.production_day, r.status) for r in history] == [
            (first, "ok"), (first + ONE, "ok"), (first + 2 * ONE, "final")]
        assert ledger.latest_product(last - ONE).production_day == last
        archived = ledger.inputs_for_days(dt.date(2012, 10, 1), dt.date(2012, 10, 31))
    # nothing arrives before its time: the last simulated day has the along-track files
    # produced by then (data of the day before) and the SST analyses of the day before
    latest = {kind: max(r.data_day for r in archived if r.kind == kind)
              for kind in ("alongtrack", "sst")}
    assert latest == {"alongtrack": last - ONE, "sst": last - ONE}
    assert list(ops.inbox.iterdir()) == []  # every delivered file was ingested


def test_simulation_options_need_simulate_from_and_a_feed_with_files(tmp_path, tiny_ocean,
                                                                       model):
    ops = make_ops(tmp_path, model)
    result = CliRunner().invoke(main, ["daemon", "--config", str(ops.toml), "--feed",
                                       str(tiny_ocean.out_dir)])
    assert result.exit_code == 2
    assert "--feed only make sense with --simulate-from" in result.stderr
    empty = tmp_path / "empty-feed"
    empty.mkdir()
    result = CliRunner().invoke(main, ["daemon", "--config", str(ops.toml), "--simulate-from",
                                       "2012-10-16", "--feed", str(empty)])
    assert result.exit_code == 2
    assert f"feed folder {empty} holds no along-track or GHRSST file" in result.stderr


def test_runs_that_did_not_start_are_logged_in_the_daemons_words(caplog):
    from apscheduler.events import (
        EVENT_JOB_MAX_INSTANCES,
        EVENT_JOB_MISSED,
        JobExecutionEvent,
        JobSubmissionEvent,
    )

    from varnet.operational.daemon import log_scheduler_event

    due = dt.datetime(2012, 10, 21, 6, 30, tzinfo=dt.UTC)
    with caplog.at_level(logging.WARNING, logger="varnet.ops.daemon"):
        log_scheduler_event(JobSubmissionEvent(EVENT_JOB_MAX_INSTANCES, "daily", "default",
                                               [due]), 60)
        log_scheduler_event(JobExecutionEvent(EVENT_JOB_MISSED, "daily", "default", due), 60)
    busy, missed = (r.getMessage() for r in caplog.records)
    assert busy.startswith("the daily run due at 2012-10-21 06:30 UTC did not start: the "
                           "previous run is still making products")
    assert "schedule.misfire_grace_minutes = 60" in missed
    assert "<locals>" not in busy + missed
