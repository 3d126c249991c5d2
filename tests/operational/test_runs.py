"""Reprocessing (once, resumable, the same bytes however it runs) and the daily runs (issue,
re-issue, catch-up)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner
from test_pipeline import (
    PRODUCTION,
    Ops,
    alongtrack_files,
    days,
    exported_model,
    make_ops,
    share_archive,
    sst_files,
)

from varnet.operational.cli import main
from varnet.operational.ingest import ingest
from varnet.operational.products import product_digest
from varnet.operational.runs import RunSummary, daily_run, reprocess
from varnet.operational.status import status_report

FIRST, LAST = dt.date(2012, 10, 14), dt.date(2012, 10, 16)


def varnet_ops() -> str:
    """The ``varnet-ops`` script of this environment."""
    script = Path(sys.executable).with_name("varnet-ops")
    return str(script) if script.is_file() else shutil.which("varnet-ops") or "varnet-ops"


def sha256(path: Path) -> str:
    """The product's content digest: every variable and attribute but the time of writing."""
    return product_digest(path)


def check_consistent(ops: Ops, product_days: list[dt.date], production_day: dt.date) -> None:
    """Each day has one final issue of ``production_day`` whose file opens; no claim, no
    in-progress row and no temporary file is left."""
    with ops.ledger() as ledger:
        for day in product_days:
            history = ledger.product_history(day)
            assert all(r.status != "in-progress" for r in history), history
            (record,) = [r for r in history if r.production_day == production_day]
            assert record.status == "final", record
            assert record.path == str(ops.product_path(day, production_day))
            with xr.open_dataset(record.path) as ds:
                assert ds["time"].values[0] == np.datetime64(day.isoformat(), "ns")
                assert ds.attrs["processing_status"] == "final"
            assert ops.latest_link(day).resolve() == Path(record.path).resolve()
        assert ledger.claims() == []
        assert ledger.interrupted_products() == []
    assert ops.temporaries() == []


@pytest.fixture(scope="module")
def model(tmp_path_factory, tiny_ocean):
    return exported_model(tmp_path_factory, tiny_ocean.out_dir)


@pytest.fixture(scope="module")
def archived(tmp_path_factory, tiny_ocean, model) -> Ops:
    """An archive and ledger holding every input of the product days 2012-10-10 to 16."""
    ocean = tiny_ocean.out_dir
    ops = make_ops(tmp_path_factory.mktemp("archived"), model)
    ops.deliver(alongtrack_files(ocean, dt.date(2012, 10, 2), dt.date(2012, 10, 24))
                + sst_files(ocean, dt.date(2012, 10, 9), dt.date(2012, 10, 17)))
    report = ingest(ops.config)
    assert not report.quarantined and not report.errors
    return ops


@pytest.fixture(scope="module")
def sequential(tmp_path_factory, archived, model) -> tuple[Ops, object, dict[str, str]]:
    """A sequential reprocess of FIRST..LAST: the set-up, its summary, sha256 by file name."""
    ops = share_archive(archived, tmp_path_factory.mktemp("sequential"), model)
    summary = reprocess(ops.config, FIRST, LAST, production_day=PRODUCTION, progress=False)
    return ops, summary, {p.name: sha256(p) for p in ops.product_files()}


# --------------------------------------------------------------------------------------------
# reprocessing


def test_reprocess_makes_each_day_once_then_skips_it_and_force_remakes_it(sequential):
    ops, summary, shas = sequential
    assert [(r.day, r.status) for r in summary.results] == [(d, "final")
                                                            for d in days(FIRST, LAST)]
    assert summary.skipped == [] and not summary.failed
    assert sorted(shas) == [ops.product_path(d, PRODUCTION).name for d in days(FIRST, LAST)]
    check_consistent(ops, days(FIRST, LAST), PRODUCTION)

    again = reprocess(ops.config, FIRST, LAST, production_day=PRODUCTION, progress=False)
    assert again.results == [] and again.skipped == days(FIRST, LAST)
    later = reprocess(ops.config, FIRST, LAST, production_day=PRODUCTION + dt.timedelta(1),
                      progress=False)
    assert later.results == []  # final days are final, whatever the production day

    forced = reprocess(ops.config, FIRST, LAST, force=True, production_day=PRODUCTION,
                       progress=False)
    assert [(r.day, r.status) for r in forced.results] == [(d, "final")
                                                           for d in days(FIRST, LAST)]
    with ops.ledger() as ledger:
        for day in days(FIRST, LAST):
            (record,) = ledger.product_history(day)
            assert record.attempts == 2 and record.run_id == forced.run_id
        assert [r.kind for r in ledger.recent_runs(4)] == ["reprocess"] * 4
    assert {p.name: sha256(p) for p in ops.product_files()} == shas  # the same bytes again
    check_consistent(ops, days(FIRST, LAST), PRODUCTION)


@pytest.mark.parametrize("how", ["processes", "dask"])
def test_parallel_reprocess_writes_the_same_bytes_as_a_sequential_one(how, sequential, archived,
                                                                     model, tmp_path):
    if how == "dask":
        pytest.importorskip("dask.distributed")
    _, _, expected = sequential
    ops = share_archive(archived, tmp_path, model)
    summary = reprocess(ops.config, FIRST, LAST, workers=2,
                        dask="local" if how == "dask" else None, production_day=PRODUCTION,
                        progress=False)
    assert [(r.day, r.status) for r in summary.results] == [(d, "final")
                                                            for d in days(FIRST, LAST)]
    assert {p.name: sha256(p) for p in ops.product_files()} == expected
    check_consistent(ops, days(FIRST, LAST), PRODUCTION)


def test_a_killed_reprocess_resumes_without_duplicates_or_leftovers(archived, model, tmp_path):
    ops = share_archive(archived, tmp_path, model)
    first, last = dt.date(2012, 10, 10), dt.date(2012, 10, 15)
    command = [varnet_ops(), "reprocess", "--config", str(ops.toml), "--start", str(first),
               "--end", str(last), "--production-day", str(PRODUCTION), "--quiet"]
    with open(tmp_path / "killed.log", "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while not ops.product_files():
                assert process.poll() is None, (tmp_path / "killed.log").read_text()
                assert time.monotonic() < deadline, "no product after 120 s"
                time.sleep(0.01)
            process.send_signal(signal.SIGKILL)
        finally:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    with ops.ledger() as ledger:
        done = [d for d in days(first, last)
                if (p := ledger.latest_product(d)) is not None and p.status == "final"]
    assert len(done) < 6

    summary = reprocess(ops.config, first, last, production_day=PRODUCTION, progress=False)
    assert not summary.failed
    assert sorted([r.day for r in summary.results] + summary.skipped) == days(first, last)
    assert summary.skipped == done
    check_consistent(ops, days(first, last), PRODUCTION)
    assert len(ops.product_files()) == 6


_DIE_HOLDING_CLAIMS = textwrap.dedent("""
    import datetime, os, sys
    from varnet.operational.ledger import Ledger
    ledger = Ledger(sys.argv[1])
    issue = datetime.date.fromisoformat(sys.argv[2])
    for text in sys.argv[3:]:
        day = datetime.date.fromisoformat(text)
        assert ledger.claim(day)
        if ledger.latest_product(day) is None:
            ledger.start_product(day, issue)
    os._exit(0)  # killed: no release, no status
""")


def test_claims_of_a_dead_maker_are_cleared_by_the_next_run(sequential, archived, model,
                                                          tmp_path):
    """A maker killed after finishing a day but before releasing its claim, and one killed
    while making a day: the next reprocess leaves no claim and no in-progress row."""
    ops = share_archive(sequential[0], tmp_path, model)  # FIRST..LAST final already
    started = FIRST - dt.timedelta(1)
    subprocess.run([sys.executable, "-c", _DIE_HOLDING_CLAIMS, str(ops.config.paths.ledger_file),
                    str(PRODUCTION), str(started), str(LAST)], check=True)
    with ops.ledger() as ledger:
        assert [c.product_day for c in ledger.claims()] == [started, LAST]
        assert ledger.product(started, PRODUCTION).status == "in-progress"
    summary = reprocess(ops.config, started, LAST, production_day=PRODUCTION, progress=False)
    assert [r.day for r in summary.results] == [started]
    assert summary.skipped == days(FIRST, LAST)
    with ops.ledger() as ledger:
        assert ledger.claims() == [] and ledger.interrupted_products() == []
        for day in days(started, LAST):
            (record,) = ledger.product_history(day)
            assert record.status == "final" and Path(record.path).is_file()


_HOLD_A_CLAIM = textwrap.dedent("""
    import datetime, sys, time
    from varnet.operational.ledger import Ledger
    ledger = Ledger(sys.argv[1])
    assert ledger.claim(datetime.date.fromisoformat(sys.argv[2]))
    print("held", flush=True)
    time.sleep(600)
""")


def test_a_day_held_by_another_process_is_accounted_for_and_fails_the_run(archived, model,
                                                                          tmp_path):
    """Daemon and reprocess on one state: the day the other holds is named with its holder,
    and the run exits non-zero instead of reporting success."""
    ops = share_archive(archived, tmp_path, model)
    held = FIRST + dt.timedelta(days=1)
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_A_CLAIM,
                               str(ops.config.paths.ledger_file), str(held)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        result = CliRunner().invoke(main, ["reprocess", "--config", str(ops.toml), "--start",
                                           str(FIRST), "--end", str(LAST), "--production-day",
                                           str(PRODUCTION), "--quiet"])
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 1, result.output
    line = result.output.strip().splitlines()[-1]
    assert "3 day(s) asked, 2 made, 0 up to date, 0 failed, 1 held by another process" in line
    assert f"{held} (held by pid {holder.pid} on " in line
    with ops.ledger() as ledger:
        assert ledger.latest_product(held) is None
        (run,) = ledger.recent_runs(1)
        assert run.status == "failed" and f"{held}: busy" in run.error


def test_a_day_made_final_meanwhile_is_not_made_twice(sequential, model, tmp_path):
    """The claim is won after the day was made final by another process: it is read again
    and left alone (forced, it is made again)."""
    from varnet.operational.pipeline import Producer

    ops = share_archive(sequential[0], tmp_path, model)  # FIRST..LAST final already
    producer = Producer(ops.config)
    later = PRODUCTION + dt.timedelta(days=1)
    result = producer.make(FIRST, later, final=True)
    assert result.status == "up-to-date"
    assert result.path.name == ops.product_path(FIRST, PRODUCTION).name
    assert not ops.product_path(FIRST, later).exists()
    forced = producer.make(FIRST, later, final=True, force=True)
    assert forced.status == "final" and ops.product_path(FIRST, later).is_file()


def _children(pid: int) -> list[int]:
    """Worker processes (multiprocessing's spawn_main) whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and b"spawn_main" in command:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_the_workers_of_a_killed_reprocess_die_with_it(archived, model, tmp_path):
    ops = share_archive(archived, tmp_path, model)
    command = [varnet_ops(), "reprocess", "--config", str(ops.toml), "--start",
               "2012-10-10", "--end", "2012-10-16", "--production-day", str(PRODUCTION),
               "--workers", "2", "--quiet"]
    with open(tmp_path / "killed.log", "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while len(workers := _children(process.pid)) < 2:
                assert process.poll() is None, (tmp_path / "killed.log").read_text()
                assert time.monotonic() < deadline, "no worker after 120 s"
                time.sleep(0.05)
            process.send_signal(signal.SIGKILL)
            process.wait()
        finally:
            process.kill()
            process.wait()
    deadline = time.monotonic() + 15
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers), "worker processes outlived their parent"


def test_reprocess_refuses_an_inverted_range(archived):
    with pytest.raises(ValueError, match="before --start"):
        reprocess(archived.config, LAST, FIRST, production_day=PRODUCTION, progress=False)


@pytest.mark.parametrize(("given", "used"), [([], 3), (["--workers", "2"], 2)])
def test_reprocess_takes_its_workers_from_the_configuration_unless_given(
        given, used, tmp_path, model, monkeypatch):
    ops = make_ops(tmp_path, model, workers=3)
    seen = {}

    def recording(config, start, end, **options):
        seen.update(options)
        return RunSummary(1, PRODUCTION)

    monkeypatch.setattr("varnet.operational.runs.reprocess", recording)
    result = CliRunner().invoke(main, ["reprocess", "--config", str(ops.toml), "--start",
                                       str(FIRST), "--end", str(LAST), "--quiet", *given])
    assert result.exit_code == 0, result.output
    assert seen["workers"] == used


# --------------------------------------------------------------------------------------------
# daily runs


def test_daily_runs_issue_reissue_and_catch_up(tmp_path, tiny_ocean, model):
    """Lag 1 day, re-issue 3 days; altimetry of day D arrives on D + 1, as in near real time."""
    ocean = tiny_ocean.out_dir
    ops = make_ops(tmp_path, model)
    one = dt.timedelta(days=1)
    p = dt.date(2012, 10, 20)
    ops.deliver(alongtrack_files(ocean, p - 11 * one, p - one) + sst_files(ocean, p - 7 * one, p))

    first = daily_run(ops.config, production_day=p)
    assert [(r.day, r.status) for r in first.results] == [
        (p - 3 * one, "final"), (p - 2 * one, "ok"), (p - one, "ok")]
    assert not first.failed and first.skipped == []
    assert len(first.ingest.archived) == 11 * 4 + 8 and not first.ingest.quarantined
    for result in first.results:
        assert result.path == ops.product_path(result.day, p)
        assert ops.latest_link(result.day).resolve() == result.path.resolve()
    with xr.open_dataset(ops.product_path(p - one, p)) as ds:
        assert ds.attrs["processing_status"] == "preliminary"
        assert ds.attrs["days_without_observations"] == str(p)  # not delivered yet

    # the next morning yesterday's altimetry has arrived: the days it reaches are re-issued
    q = p + one
    ops.deliver(alongtrack_files(ocean, p, p) + sst_files(ocean, q, q))
    second = daily_run(ops.config, production_day=q)
    assert [(r.day, r.status) for r in second.results] == [
        (p - 2 * one, "final"), (p - one, "ok"), (p, "ok")]
    assert all(r.path == ops.product_path(r.day, q) for r in second.results)
    with ops.ledger() as ledger:
        for day in (p - 2 * one, p - one):
            assert [r.production_day for r in ledger.product_history(day)] == [p, q]
            assert ledger.latest_product(day).production_day == q
            assert ops.latest_link(day).resolve() == ops.product_path(day, q).resolve()
            assert ops.product_path(day, p).is_file()  # earlier issues are kept
        (final,) = ledger.product_history(p - 3 * one)  # out of the window: left final
        assert final.status == "final" and final.production_day == p
    with xr.open_dataset(ops.product_path(p - one, q)) as ds:
        assert ds.attrs["days_without_observations"] == ""

    # nothing new arrived: nothing is re-issued
    third = daily_run(ops.config, production_day=q)
    assert third.results == [] and third.skipped == [p - 2 * one, p - one, p]

    # the daemon is down for three days (no run on q + 1 .. q + 3); on q + 4 the days of the
    # re-issue window are all made, the oldest final
    r = q + 4 * one
    ops.deliver(alongtrack_files(ocean, q, r - one) + sst_files(ocean, q + one, r))
    caught_up = daily_run(ops.config, production_day=r)
    assert [(x.day, x.status) for x in caught_up.results] == [
        (p - one, "final"), (p, "final"),  # left preliminary by the runs that never came
        (q + one, "final"), (q + 2 * one, "ok"), (q + 3 * one, "ok")]
    with ops.ledger() as ledger:
        report = status_report(ops.config, ledger, today=r)
        assert report["missing"] == []
        assert [run.status for run in ledger.recent_runs(10)] == ["ok"] * 4
        assert ledger.claims() == [] and ledger.interrupted_products() == []
    assert ops.temporaries() == []
    assert all(f.name.endswith(".nc") for f in ops.product_files())
    assert os.path.isdir(ops.products / "latest")


def test_a_day_left_preliminary_by_a_stopped_daemon_is_issued_final_by_the_next_run(
        tmp_path, tiny_ocean, model):
    """The run that should have issued a day final never came (daemon stopped for days): the
    next run, whose re-issue window has moved on, issues it final all the same."""
    ocean = tiny_ocean.out_dir
    ops = make_ops(tmp_path, model)
    one = dt.timedelta(days=1)
    p = dt.date(2012, 10, 16)
    ops.deliver(alongtrack_files(ocean, p - 11 * one, p - one) + sst_files(ocean, p - 7 * one, p))
    first = daily_run(ops.config, production_day=p)
    assert [(r.day, r.status) for r in first.results] == [
        (p - 3 * one, "final"), (p - 2 * one, "ok"), (p - one, "ok")]
    later = p + 5 * one  # window later - 3 .. later - 1: p + 2 .. p + 4
    ops.deliver(alongtrack_files(ocean, p, later - one) + sst_files(ocean, p + one, later))
    second = daily_run(ops.config, production_day=later)
    assert [(r.day, r.status) for r in second.results] == [
        (p - 2 * one, "final"), (p - one, "final"), (p + 2 * one, "final"),
        (p + 3 * one, "ok"), (p + 4 * one, "ok")]
    assert not second.unmade
    with ops.ledger() as ledger:
        for day in (p - 2 * one, p - one):
            assert ledger.latest_product(day).status == "final"


def test_a_stopped_run_counts_the_days_it_left_and_exits_non_zero(tmp_path, tiny_ocean, model):
    import threading

    ocean = tiny_ocean.out_dir
    ops = make_ops(tmp_path, model)
    p = dt.date(2012, 10, 16)
    ops.deliver(alongtrack_files(ocean, p - dt.timedelta(days=11), p))
    stop = threading.Event()
    stop.set()  # asked to stop before its first day
    summary = daily_run(ops.config, production_day=p, stop=stop)
    assert [r.status for r in summary.results] == ["stopped"] * 3
    assert len(summary.unmade) == 3
    assert "stopped before 3 day(s)" in summary.line()
    with ops.ledger() as ledger:
        assert ledger.recent_runs(1)[0].status == "interrupted"


# --------------------------------------------------------------------------------------------
# finals whose inputs change after they were made


def _perturbed_copy(path: Path, folder: Path) -> Path:
    """A later production of an along-track file: the same name, its SLA raised by 5 cm,
    created a day later."""
    import netCDF4

    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / path.name
    shutil.copy(path, copy)
    with netCDF4.Dataset(copy, "a") as ds:
        ds["sla_filtered"][:] = ds["sla_filtered"][:] + 0.05
        created = dt.datetime.fromisoformat(ds.date_created.replace("Z", "+00:00"))
        ds.date_created = f"{created + dt.timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}"
    return copy


def test_a_late_or_replaced_input_makes_a_final_stale_and_remakes_it_only_if_configured(
        tmp_path, tiny_ocean, model, caplog):
    """A final is never changed silently: a late input of its window is logged with the command
    that re-issues the day and ``status`` lists the day as stale; with
    ``production.remake_stale_finals`` the next run makes it again (one final, the new file,
    ``latest/`` on it); so does a replaced input."""
    ocean = tiny_ocean.out_dir
    one = dt.timedelta(days=1)
    p = dt.date(2012, 10, 16)
    day = p - 3 * one  # issued final on p
    late_day = day + 2 * one  # a data day of its window, held back
    ops = make_ops(tmp_path, model)
    ops.deliver(alongtrack_files(ocean, p - 11 * one, p - one, skip=(late_day,))
                + sst_files(ocean, p - 7 * one, p))
    first = daily_run(ops.config, production_day=p)
    assert (day, "final") in [(r.day, r.status) for r in first.results]
    with ops.ledger() as ledger:
        old = ledger.latest_product(day)

    ops.deliver(alongtrack_files(ocean, late_day, late_day))
    caplog.clear()
    with caplog.at_level("WARNING", logger="varnet.ops.run"):
        quiet = daily_run(ops.config, production_day=p + one)
    assert day not in [r.day for r in quiet.results] and not quiet.unmade
    (warning,) = [r.getMessage() for r in caplog.records if "stale" in r.getMessage()]
    assert warning.startswith(f"the final product of {day} is stale: inputs changed after the "
                              "final product (file ")
    assert warning.endswith(f"varnet-ops reprocess --force --start {day} --end {day}, or set "
                            "production.remake_stale_finals = true")
    with ops.ledger() as ledger:
        report = status_report(ops.config, ledger, today=p + one)
        assert report["stale"] == [str(day)] and report["attention"]
        assert ledger.latest_product(day).id == old.id

    ops = make_ops(tmp_path, model, remake_stale_finals=True)  # the same state, allowed now
    remade = daily_run(ops.config, production_day=p + one)
    assert (day, "final") in [(r.day, r.status) for r in remade.results]
    assert not remade.unmade

    def check_one_final(issue: dt.date) -> None:
        with ops.ledger() as ledger:
            finals = [r for r in ledger.product_history(day) if r.status == "final"]
            assert [r.production_day for r in finals] == [issue]
            assert status_report(ops.config, ledger, today=issue)["stale"] == []
        assert ops.latest_link(day).resolve() == ops.product_path(day, issue).resolve()
        assert [f for f in ops.product_files() if f.name.startswith(
            ops.product_path(day, issue).name[:-12])] == [ops.product_path(day, issue)]

    check_one_final(p + one)
    with ops.ledger() as ledger:  # the old final is set aside, not deleted
        replaced = ledger.product(day, p)
    aside = ops.products / "replaced" / ops.product_path(day, p).name
    assert replaced.status == "replaced" and Path(replaced.path) == aside and aside.is_file()
    assert aside.with_suffix(".png").is_file()
    digest = product_digest(ops.product_path(day, p + one))

    # a replaced file (same name, later production) of the window: stale, made again
    used = max(alongtrack_files(ocean, day, day), key=lambda f: f.stat().st_size)
    ops.deliver([_perturbed_copy(used, tmp_path / "replacement")])
    again = daily_run(ops.config, production_day=p + 2 * one)
    assert [o.action for o in again.ingest.outcomes] == ["replaced"]
    assert (day, "final") in [(r.day, r.status) for r in again.results]
    check_one_final(p + 2 * one)
    assert product_digest(ops.product_path(day, p + 2 * one)) != digest


_FORCE_KILLED_AFTER_WRITING = textwrap.dedent("""
    import datetime, os, signal, sys
    from varnet.operational.config import load_ops_config
    from varnet.operational.ledger import Ledger
    from varnet.operational.pipeline import Producer

    def die(*args, **kwargs):  # the file and its quicklook are written: killed now
        os.kill(os.getpid(), signal.SIGKILL)

    Ledger.finish_product = die
    day, issue = (datetime.date.fromisoformat(a) for a in sys.argv[2:4])
    Producer(load_ops_config(sys.argv[1])).make(day, issue, final=True, force=True)
""")


def test_a_forced_remake_killed_before_recording_its_file_keeps_the_old_final(
        sequential, model, tmp_path):
    """``--force`` killed between its new file and the ledger: the old final stays the day's
    final and ``latest/`` stays on it (it moves only once the ledger has the new one), and the
    next run (which makes nothing of that day) removes the unrecorded file."""
    ops = share_archive(sequential[0], tmp_path, model)
    for path in sequential[0].products.glob("*.nc"):  # the finals' files, as recorded
        shutil.copy(path, ops.products / path.name)
    with ops.ledger() as ledger, ledger.transaction() as conn:
        conn.execute("UPDATE products SET path = replace(path, ?, ?)",
                     (str(sequential[0].products), str(ops.products)))
    for day in days(FIRST, LAST):
        ops.latest_link(day).parent.mkdir(exist_ok=True)
        ops.latest_link(day).symlink_to(f"../{ops.product_path(day, PRODUCTION).name}")
    later = PRODUCTION + dt.timedelta(days=5)
    killed = subprocess.run([sys.executable, "-c", _FORCE_KILLED_AFTER_WRITING, str(ops.toml),
                             str(FIRST), str(later)])
    assert killed.returncode == -signal.SIGKILL
    orphan, old = ops.product_path(FIRST, later), ops.product_path(FIRST, PRODUCTION)
    assert orphan.is_file() and orphan.with_suffix(".png").is_file()
    assert ops.latest_link(FIRST).resolve() == old.resolve()

    summary = reprocess(ops.config, FIRST, LAST, production_day=later, progress=False)
    assert summary.results == [] and summary.skipped == days(FIRST, LAST)  # all final
    assert not orphan.exists() and not orphan.with_suffix(".png").exists()
    assert ops.latest_link(FIRST).resolve() == old.resolve()
    with ops.ledger() as ledger:
        assert [(r.production_day, r.status) for r in ledger.product_history(FIRST)] == [
            (PRODUCTION, "final"), (later, "interrupted")]
        assert ledger.latest_product(FIRST).path == str(old)
    assert ops.temporaries() == []


def test_a_link_left_behind_by_a_maker_killed_after_recording_is_put_right_by_the_next_run(
        sequential, model, tmp_path, caplog):
    """A maker killed between recording its product and moving ``latest/`` leaves the link
    on an older issue (or none, for a day's first product); the next run, which makes
    nothing of those days, links them to their recorded products (found by the 60-day
    soak)."""
    ops = share_archive(sequential[0], tmp_path, model)
    for path in sequential[0].products.glob("*.nc"):
        shutil.copy(path, ops.products / path.name)
    with ops.ledger() as ledger, ledger.transaction() as conn:
        conn.execute("UPDATE products SET path = replace(path, ?, ?)",
                     (str(sequential[0].products), str(ops.products)))
    second = FIRST + dt.timedelta(days=1)
    earlier = ops.product_path(second, PRODUCTION - dt.timedelta(days=1))
    shutil.copy(ops.product_path(second, PRODUCTION), earlier)  # an older issue's file
    for day in days(FIRST, LAST):
        ops.latest_link(day).parent.mkdir(exist_ok=True)
        if day == second:
            ops.latest_link(day).symlink_to(f"../{earlier.name}")
        elif day != FIRST:  # FIRST: no link at all
            ops.latest_link(day).symlink_to(f"../{ops.product_path(day, PRODUCTION).name}")
    with caplog.at_level(logging.WARNING, logger="varnet.ops.product"):
        summary = reprocess(ops.config, FIRST, LAST, production_day=PRODUCTION,
                            progress=False)
    assert summary.results == [] and summary.skipped == days(FIRST, LAST)
    for day in days(FIRST, LAST):
        assert ops.latest_link(day).resolve() == ops.product_path(day, PRODUCTION).resolve()
    assert caplog.text.count("linked again") == 2
