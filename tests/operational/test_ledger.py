"""The SQLite ledger: records, queries, one writer per product day, and the daemon lock."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import multiprocessing
import os
import pickle
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from varnet.operational.config import ModelConfig, OpsConfig, PathsConfig, RegionConfig
from varnet.operational.ledger import (
    InstanceLock,
    Ledger,
    LedgerError,
    LockHeldError,
    config_region_key,
    daemon_lock,
    parse_timestamp,
    region_key,
    utc_now,
)
from varnet.operational.ledger.migrations import SCHEMA_V1
from varnet.operational.ledger.schema import LATEST_VERSION

D = dt.date(2020, 1, 10)


def _day(i: int) -> dt.date:
    return D + dt.timedelta(days=i)


@pytest.fixture
def ledger(tmp_path):
    with Ledger(tmp_path / "state" / "ledger.sqlite") as led:
        yield led


def _add_input(ledger: Ledger, name: str, day: dt.date, sha: str, **kw) -> object:
    fields = dict(path=f"/archive/{name}", original_name=name, kind="alongtrack", sha256=sha,
                  size=10, status="ok", mission="j3", data_day=day, production_day=day)
    fields.update(kw)
    return ledger.record_input(**fields)


def _make(ledger: Ledger, day: dt.date, issue: dt.date, inputs=(), final=False):
    assert ledger.claim(day)
    ledger.start_product(day, issue)
    rec = ledger.finish_product(day, issue, path=f"/products/{day}_{issue}.nc",
                                inputs_used=inputs, model_checksum="abc",
                                timings={"inference": 1.5}, final=final)
    ledger.release(day)
    return rec


# --------------------------------------------------------------------------------------------
# basics


def test_wal_mode_schema_and_timestamps(ledger):
    conn = sqlite3.connect(ledger.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"inputs", "runs", "products", "claims", "meta"} <= tables
    conn.close()
    stamp = utc_now()
    assert stamp.endswith("Z") and len(stamp) == len("2020-01-01T00:00:00.000000Z")
    assert abs(parse_timestamp(stamp) - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)
    Ledger(ledger.path).close()  # reopening an existing ledger is fine


def test_not_a_ledger_is_a_clear_error(tmp_path):
    bad = tmp_path / "ledger.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(LedgerError, match="not a varnet ledger: it holds text starting "
                       "'this is not sqlite"):
        Ledger(bad)


def test_inputs_record_and_queries(ledger):
    a = _add_input(ledger, "a.nc", _day(0), "s1")
    _add_input(ledger, "b.nc", _day(1), "s2", kind="sst", mission=None, level="L4")
    _add_input(ledger, "c.nc", _day(1), "s3", status="quarantined", reason="bad units")
    _add_input(ledger, "d.nc", _day(5), "s4")
    assert a.id > 0 and a.data_day == _day(0) and a.status == "ok"
    assert [r.original_name for r in ledger.inputs_for_days(_day(0), _day(2))] == ["a.nc", "b.nc"]
    assert [r.original_name for r in ledger.inputs_for_days(_day(0), _day(2), kind="sst")] == [
        "b.nc"]
    every = ledger.inputs_for_days(_day(0), _day(9), status=None)
    assert [r.original_name for r in every] == ["a.nc", "c.nc", "b.nc", "d.nc"]  # day, kind
    assert ledger.find_inputs(sha256="s3")[0].reason == "bad units"
    ledger.set_input_status(a.id, "superseded", reason="later production", path="/q/a.nc")
    (moved,) = ledger.find_inputs(original_name="a.nc")
    assert (moved.status, moved.path) == ("superseded", "/q/a.nc")
    with pytest.raises(LedgerError, match="status"):
        _add_input(ledger, "e.nc", D, "s5", status="weird")


def test_runs(ledger):
    run = ledger.start_run("daily")
    assert ledger.run(run).status == "running"
    ledger.finish_run(run, "failed", "model missing")
    rec = ledger.run(run)
    assert (rec.status, rec.error, rec.pid) == ("failed", "model missing", os.getpid())
    assert rec.finished >= rec.started
    assert ledger.recent_runs()[0].id == run
    with pytest.raises(LedgerError):
        ledger.start_run("weekly")


# --------------------------------------------------------------------------------------------
# products


def test_product_needs_a_claim(ledger, tmp_path):
    with pytest.raises(LedgerError, match="claim it first"):
        ledger.start_product(D, _day(1))
    other = Ledger(ledger.path)
    assert other.claim(D)
    with pytest.raises(LedgerError, match="held by"):
        ledger.start_product(D, _day(1))
    other.release(D)
    assert ledger.claim(D)
    with pytest.raises(LedgerError, match="never started"):
        ledger.finish_product(D, _day(1), path="x.nc", inputs_used=[])


def test_product_lifecycle_and_latest(ledger):
    run = ledger.start_run("daily")
    assert ledger.claim(D)
    rec = ledger.start_product(D, _day(1), run_id=run)
    assert (rec.status, rec.attempts, rec.run_id) == ("in-progress", 1, run)
    assert ledger.latest_product(D) is None  # in progress is not a product yet
    ledger.fail_product(D, _day(1), "ONNX Runtime error")
    assert ledger.product(D, _day(1)).error == "ONNX Runtime error"
    again = ledger.start_product(D, _day(1), run_id=run)  # a retry on the same day
    assert (again.status, again.attempts, again.error) == ("in-progress", 2, None)
    done = ledger.finish_product(D, _day(1), path="/p/a.nc", inputs_used=[],
                                 model_checksum="sha", timings={"total": 3.0})
    assert (done.status, done.path, done.timings) == ("ok", "/p/a.nc", {"total": 3.0})
    ledger.release(D)
    _make(ledger, D, _day(2))
    assert ledger.latest_product(D).production_day == _day(2)
    assert [p.production_day for p in ledger.product_history(D)] == [_day(1), _day(2)]
    # a failed later issue does not hide the good earlier one
    assert ledger.claim(D)
    ledger.start_product(D, _day(3))
    ledger.fail_product(D, _day(3), "boom")
    ledger.release(D)
    assert ledger.latest_product(D).production_day == _day(2)
    final = ledger.finalize(D)
    assert final.status == "final" and final.production_day == _day(2)
    assert ledger.finalize(_day(-5)) is None


def test_missing_days_and_latest_products(ledger):
    _make(ledger, _day(0), _day(1))
    _make(ledger, _day(2), _day(3))
    _make(ledger, _day(2), _day(4), final=True)
    assert ledger.missing_days(_day(0), _day(3)) == [_day(1), _day(3)]
    latest = ledger.latest_products(_day(0), _day(3))
    assert sorted(latest) == [_day(0), _day(2)]
    assert latest[_day(2)].production_day == _day(4) and latest[_day(2)].status == "final"
    assert ledger.missing_days(_day(3), _day(2)) == []


def test_inputs_changed(ledger):
    first, last = _day(-3), _day(3)
    a = _add_input(ledger, "a.nc", _day(-1), "s1")
    b = _add_input(ledger, "b.nc", _day(0), "s2")
    assert ledger.inputs_changed(D, first, last)  # no product yet
    _make(ledger, D, _day(1), inputs=[a, b])
    assert not ledger.inputs_changed(D, first, last)
    _add_input(ledger, "far.nc", _day(9), "s9")  # outside the window
    assert not ledger.inputs_changed(D, first, last)
    c = _add_input(ledger, "c.nc", _day(2), "s3")  # a new observation of the window
    assert ledger.inputs_changed(D, first, last)
    _make(ledger, D, _day(2), inputs=[a, b, c])
    assert not ledger.inputs_changed(D, first, last)
    ledger.set_input_status(b.id, "superseded")  # an input it used was replaced
    assert ledger.inputs_changed(D, first, last)


def test_inputs_used_accepts_records_mappings_and_paths(ledger):
    a = _add_input(ledger, "a.nc", D, "s1")
    rec = _make(ledger, D, _day(1), inputs=[a, {"path": "/archive/a.nc"}, "/archive/a.nc",
                                             {"name": "x.nc", "sha256": "s7"}, "/else/y.nc"])
    shas = sorted(r.get("sha256", "-") for r in rec.inputs_used)
    assert shas == ["-", "s1", "s7"]  # the three references to a.nc are one
    assert {"name": "y.nc", "path": "/else/y.nc"} in rec.inputs_used


def test_interrupted_products(ledger):
    assert ledger.claim(D)
    ledger.start_product(D, _day(1))
    assert ledger.interrupted_products() == []  # still claimed: in progress
    ledger.release(D)
    assert [p.product_day for p in ledger.interrupted_products()] == [D]
    assert ledger.mark_interrupted() == 1
    assert ledger.product(D, _day(1)).status == "interrupted"
    assert "interrupted" in ledger.product(D, _day(1)).error


# --------------------------------------------------------------------------------------------
# claims


def test_claims_in_one_process(ledger):
    other = Ledger(ledger.path)
    assert ledger.claim(D) and ledger.claim(D)  # re-entrant for its owner
    assert ledger.holds_claim(D) and not other.holds_claim(D)
    assert not other.claim(D)  # another owner of the same (live) process
    assert not other.release(D)
    assert [c.product_day for c in ledger.claims()] == [D]
    assert ledger.release(D)
    with other.claimed(D) as mine:
        assert mine and not ledger.claim(D)
    assert ledger.claim(D)


def test_regions_sharing_a_ledger_claim_and_run_their_own(tmp_path):
    path = tmp_path / "state" / "ledger.sqlite"
    with Ledger(path, region="north") as north, Ledger(path, region="south") as south:
        assert north.claim(D) and south.claim(D)  # the same day, one writer per region
        assert [(c.region, c.product_day) for c in north.claims()] == [("north", D)]
        assert [c.region for c in south.claims(every_region=True)] == ["north", "south"]
        assert south.holds_claim(D) and not south.release(_day(1))
        south.start_product(D, _day(1))
        with pytest.raises(LedgerError, match="claim it first"):  # north's claim is north's
            north.start_product(_day(1), _day(1))
        north.start_product(D, _day(1))
        assert north.release(D)
        assert south.holds_claim(D) and not north.holds_claim(D)
        # north's attempt lost its maker even though south claims the same day
        assert [(p.region, p.product_day) for p in south.interrupted_products()] == [
            ("north", D)]
        assert north.mark_interrupted() == 1
        assert south.product(D, _day(1)).status == "in-progress"
        assert north.product(D, _day(1)).status == "interrupted"
        run_north, run_south = north.start_run("daily"), south.start_run("reprocess")
        assert [r.id for r in north.recent_runs()] == [run_north]
        assert [(r.id, r.region) for r in south.recent_runs()] == [(run_south, "south")]
        assert north.run(run_south).region == "south"


#: A claim row written by hand (the region defaults to the fixture ledger's, "").
_CLAIM_ROW = ("INSERT INTO claims (product_day, owner, host, pid, pid_start, claimed_at) "
              "VALUES ")


def test_claims_of_other_hosts_and_reused_pids(ledger, caplog):
    old = "2000-01-01T00:00:00.000000Z"
    with ledger.transaction() as conn:
        conn.execute(_CLAIM_ROW + "(?, 'elsewhere:1:x', 'elsewhere', 1, NULL, ?)",
                     (D.isoformat(), old))
        conn.execute(_CLAIM_ROW + "(?, 'me:1:y', ?, 1, NULL, ?)",
                     (_day(1).isoformat(), ledger.host, old))
        conn.execute(_CLAIM_ROW + "(?, 'me:1:z', ?, 1, 'not-its-start', ?)",
                     (_day(2).isoformat(), ledger.host, old))
    assert not ledger.claim(D)  # another host: cannot tell whether it lives
    with caplog.at_level(logging.WARNING, logger="varnet.ops.ledger"):
        assert ledger.claim(D, stale_after=dt.timedelta(hours=1))
    assert "taking over" in caplog.text
    if not Path("/proc/1/stat").exists():
        pytest.skip("no /proc: process start times unknown")
    assert not ledger.claim(_day(1))  # pid 1 runs here
    assert ledger.claim(_day(2))  # pid 1 runs, but is not the process that claimed


def _hold_claim(path: str, day: dt.date, ready, leave, release: bool) -> None:
    led = Ledger(path)
    assert led.claim(day)
    ready.set()
    leave.wait(30)
    if release:
        led.release(day)
    os._exit(0)  # no clean-up: a crash


def test_claim_of_a_dead_process_is_taken_over(ledger, caplog):
    ctx = multiprocessing.get_context("spawn")
    ready, leave = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold_claim, args=(str(ledger.path), D, ready, leave, False))
    proc.start()
    try:
        assert ready.wait(60)
        assert not ledger.claim(D)  # the holder lives
        (held,) = ledger.claims()
        assert held.pid == proc.pid and held.host == ledger.host
    finally:
        leave.set()
        proc.join(60)
    assert proc.exitcode == 0
    with caplog.at_level(logging.WARNING, logger="varnet.ops.ledger"):
        assert ledger.claim(D)  # its owner died without releasing
    assert f"pid {proc.pid}" in caplog.text


def _writer(path: str, days: list[dt.date], markers: str, worker: int, start, results) -> None:
    """Make every day nobody has made yet; prove exclusion with O_EXCL marker files."""
    try:
        made, refused = _write_days(Ledger(path), days, Path(markers), worker, start)
    except BaseException as exc:
        results.put((worker, -1, repr(exc)))
        raise
    results.put((worker, made, refused))


def _write_days(led: Ledger, days: list[dt.date], markers: Path, worker: int,
                start) -> tuple[int, int]:
    made = refused = 0
    start.wait(60)  # every worker begins at once
    for day in days:
        with led.claimed(day) as mine:
            if not mine:
                refused += 1
                continue
            if led.latest_product(day) is not None:
                continue
            marker = markers / f"{day}.busy"
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # fails if shared
            os.write(fd, str(worker).encode())
            os.close(fd)
            led.start_product(day, day + dt.timedelta(days=1))
            time.sleep(0.03)
            led.finish_product(day, day + dt.timedelta(days=1), path=f"/p/{day}.nc",
                               inputs_used=[], timings={"worker": worker})
            marker.unlink()
            made += 1
    led.close()
    return made, refused


def test_one_writer_per_day_across_processes(ledger, tmp_path):
    days = [_day(i) for i in range(8)]
    markers = tmp_path / "markers"
    markers.mkdir()
    ctx = multiprocessing.get_context("spawn")
    n = 4
    start, results = ctx.Barrier(n), ctx.Queue()
    orders = [days, days, days[::-1], days[4:] + days[:4]]
    procs = [ctx.Process(target=_writer, args=(str(ledger.path), orders[w], str(markers), w,
                                               start, results)) for w in range(n)]
    for proc in procs:
        proc.start()
    outcome = [results.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(60)
    errors = [o for o in outcome if o[1] < 0]
    assert not errors  # a marker clash (two writers of one day at once) raises
    assert sum(made for _, made, _ in outcome) == len(days)  # every day made exactly once
    assert sum(refused for _, _, refused in outcome) > 0  # the writers did compete
    for day in days:
        (rec,) = ledger.product_history(day)
        assert rec.status == "ok" and rec.attempts == 1
    assert ledger.claims() == []
    assert ledger.missing_days(days[0], days[-1]) == []


def test_ledger_pickles_and_reconnects(ledger):
    _add_input(ledger, "a.nc", D, "s1")
    clone = pickle.loads(pickle.dumps(ledger))
    assert clone.owner != ledger.owner
    assert [r.sha256 for r in clone.find_inputs()] == ["s1"]
    clone.close()


def test_threads_share_an_object_with_their_own_connections(ledger):
    errors: list[BaseException] = []

    def add(worker: int) -> None:
        try:
            for i in range(25):
                with ledger.transaction():  # nested transactions stay per thread
                    _add_input(ledger, f"w{worker}-{i}.nc", D, f"s{worker}-{i}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(ledger.find_inputs()) == 100
    assert ledger.claim(D)
    claims: list[bool] = []
    t = threading.Thread(target=lambda: claims.append(ledger.holds_claim(D)))
    t.start()
    t.join(60)
    assert claims == [True]  # the threads of one object are one owner


def _child_after_fork(led: Ledger, day: dt.date, results) -> None:
    results.put((led.holds_claim(day), led.claim(day), led.release(day)))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork")
def test_a_forked_child_is_another_owner(ledger):
    assert ledger.claim(D)
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    proc = ctx.Process(target=_child_after_fork, args=(ledger, D, results))
    proc.start()
    outcome = results.get(timeout=60)
    proc.join(60)
    assert outcome == (False, False, False)  # the parent's claim is not the child's
    assert ledger.holds_claim(D)
    _add_input(ledger, "after-fork.nc", D, "s1")  # the parent's connection still works


# --------------------------------------------------------------------------------------------
# the single-instance lock


def test_daemon_lock_in_one_process(tmp_path):
    lock = daemon_lock(tmp_path / "state")
    with lock:
        assert lock.held and lock.holder()["pid"] == os.getpid()
        with pytest.raises(LockHeldError) as info:
            daemon_lock(tmp_path / "state").acquire()
        assert info.value.lock_path == tmp_path / "state" / "daemon.lock"
        assert info.value.holder_pid == os.getpid()
        assert str(tmp_path / "state" / "daemon.lock") in str(info.value)
        assert f"pid {os.getpid()}" in str(info.value)
    assert not lock.held
    with daemon_lock(tmp_path / "state"):  # free again
        pass


def _hold_lock(path: str, ready, leave) -> None:
    lock = InstanceLock(path)
    lock.acquire()
    ready.set()
    leave.wait(30)
    os._exit(0)  # killed holders free the lock too: the lock belongs to the open file


def test_daemon_lock_across_processes(tmp_path):
    path = tmp_path / "daemon.lock"
    ctx = multiprocessing.get_context("spawn")
    ready, leave = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold_lock, args=(str(path), ready, leave))
    proc.start()
    try:
        assert ready.wait(60)
        with pytest.raises(LockHeldError, match=f"pid {proc.pid}") as info:
            InstanceLock(path).acquire(timeout_s=0.1)
        assert info.value.holder_pid == proc.pid
    finally:
        leave.set()
        proc.join(60)
    lock = InstanceLock(path)
    lock.acquire(timeout_s=5)
    lock.release()


# --------------------------------------------------------------------------------------------
# a guarded ledger: what is not a ledger is refused, never silently replaced


def _fill(path: Path, n: int = 1500) -> None:
    """A ledger of several hundred kB (so that damage hits data pages), closed."""
    with Ledger(path) as led:
        with led.transaction():
            for i in range(n):
                _add_input(led, f"f{i}.nc", D, f"{i:064x}")
        led.checkpoint()


def _refused(path: Path, *what: str, **kwargs) -> str:
    with pytest.raises(LedgerError) as info:
        Ledger(path, **kwargs)
    message = str(info.value)
    for text in what:
        assert text in message, message
    assert "\n" not in info.value.one_line()
    return message


def test_a_new_ledger_gets_the_newest_schema_version(tmp_path):
    path = tmp_path / "state" / "ledger.sqlite"
    Ledger(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION == 3
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
        "3",)
    conn.close()
    assert sorted(p.name for p in path.parent.iterdir()) == ["ledger.sqlite"]  # no leftovers


def test_an_empty_file_is_refused_with_the_rebuild_command(tmp_path):
    path = tmp_path / "ledger.sqlite"
    path.touch()
    _refused(path, "is empty (0 bytes)", "varnet-ops ledger rebuild --config")
    assert path.stat().st_size == 0  # SQLite never got to re-initialise it


def test_files_that_are_not_ledgers_are_refused_saying_what_they_are(tmp_path):
    netcdf = tmp_path / "netcdf.sqlite"
    netcdf.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 600)
    _refused(netcdf, "not a varnet ledger: it holds an HDF5 / NetCDF-4 file")
    zeros = tmp_path / "zeros.sqlite"
    zeros.write_bytes(b"\x00" * 8192)
    _refused(zeros, "zeros only")
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.commit()
    conn.close()
    _refused(other, "is an SQLite database but not a varnet ledger (its tables: recipes)",
             "varnet-ops ledger rebuild")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "table dropped"])
def test_a_damaged_ledger_is_a_one_line_ledger_error(tmp_path, damage):
    path = tmp_path / "ledger.sqlite"
    _fill(path)
    size = path.stat().st_size
    if damage == "truncated":
        os.truncate(path, size // 2)
    elif damage == "garbage":
        with open(path, "r+b") as fh:
            fh.seek(size // 2)
            fh.write(os.urandom(16384))
    else:
        conn = sqlite3.connect(path)
        conn.execute("DROP TABLE claims")
        conn.commit()
        conn.close()
    message = _refused(path, str(path), "varnet-ops ledger rebuild")
    assert "damaged" in message


def test_a_newer_schema_and_a_missing_file_that_must_exist_are_refused(tmp_path):
    path = tmp_path / "ledger.sqlite"
    Ledger(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    _refused(path, "schema version 99 is newer", "upgrade varnet")
    _refused(tmp_path / "gone.sqlite", "does not exist", "varnet-ops ledger rebuild",
             create=False)
    assert not (tmp_path / "gone.sqlite").exists()


def test_processes_creating_a_ledger_at_once_share_one(tmp_path):
    path = tmp_path / "state" / "ledger.sqlite"
    opened, errors = [], []

    def open_it() -> None:
        try:
            with Ledger(path) as led:
                opened.append(led.counts())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and len(opened) == 8
    assert sorted(p.name for p in path.parent.iterdir() if not p.name.endswith(
        ("-wal", "-shm"))) == ["ledger.sqlite"]


def test_sqlite_failures_after_opening_are_ledger_errors(ledger):
    with pytest.raises(LedgerError, match="no such table"), ledger.transaction() as conn:
        conn.execute("SELECT * FROM nowhere")
    _add_input(ledger, "a.nc", D, "s1")  # the connection is fine afterwards


def _ops_config(root: Path) -> OpsConfig:
    paths = {k: str(root / k) for k in ("inbox", "archive", "quarantine", "products", "state")}
    return OpsConfig(name="test", region=RegionConfig(30.0, -60.0, 0.5, 4, 6),
                     model=ModelConfig(path=str(root / "model.onnx")),
                     paths=PathsConfig(**paths))


def test_a_lost_ledger_is_recreated_only_for_a_new_state(tmp_path):
    config = _ops_config(tmp_path)
    Ledger.for_config(config).close()  # a new state: created
    assert config.paths.ledger_file.is_file()
    config.paths.ledger_file.unlink()
    archived = Path(config.paths.archive) / "alongtrack" / "2020" / "01" / "a.nc"
    archived.parent.mkdir(parents=True)
    archived.write_bytes(b"x")
    with pytest.raises(LedgerError, match="does not exist, but this state already holds files"
                       ) as info:
        Ledger.for_config(config)
    assert str(archived) in str(info.value) and "varnet-ops ledger rebuild" in str(info.value)
    assert not config.paths.ledger_file.exists()


# --------------------------------------------------------------------------------------------
# migrations


def _v1_ledger(path: Path) -> None:
    """A ledger as the version-1 releases left it, with a second final of one day (which
    version 1 allowed), an interrupted product, one in progress and a running run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_V1)
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    t = "2020-01-01T00:00:00.000000Z"
    for i in range(-3, 4):
        conn.execute("INSERT INTO inputs (path, original_name, kind, mission, data_day, "
                     "production_day, sha256, size, ingested_at, status) VALUES (?, ?, "
                     "'alongtrack', 'j3', ?, ?, ?, 10, ?, 'ok')",
                     (f"/a/{i}.nc", f"{i}.nc", str(_day(i)), str(_day(i + 1)), f"s{i}", t))
    conn.execute("INSERT INTO runs (kind, started, status, host, pid) VALUES ('daily', ?, "
                 "'running', 'elsewhere', 1)", (t,))
    used = json.dumps([{"name": f"{i}.nc", "path": f"/a/{i}.nc", "sha256": f"s{i}"}
                       for i in (-2, 0, 1)])
    rows = [(D, _day(1), "ok", None), (D, _day(3), "final", None), (_day(1), _day(3), "final",
            None), (_day(1), _day(4), "final", None), (_day(2), _day(3), "failed",
            "interrupted: its maker stopped before finishing"), (_day(2), _day(4), "failed",
            "boom"), (_day(3), _day(4), "in-progress", None)]
    for day, issue, status, error in rows:
        conn.execute("INSERT INTO products (product_day, production_day, run_id, path, status, "
                     "inputs_used, error, started_at, updated_at) VALUES (?, ?, 1, ?, ?, ?, ?, "
                     "?, ?)", (str(day), str(issue), f"/p/{day}_{issue}.nc", status, used,
                               error, t, t))
    conn.commit()
    conn.close()


def test_a_version_1_ledger_is_migrated_on_open(tmp_path):
    path = tmp_path / "state" / "ledger.sqlite"
    _v1_ledger(path)
    with Ledger(path) as led:
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
        conn.close()
        statuses = {(p.product_day, p.production_day): p.status
                    for d in range(4) for p in led.product_history(_day(d))}
        assert statuses == {
            (D, _day(1)): "ok", (D, _day(3)): "final", (_day(1), _day(3)): "replaced",
            (_day(1), _day(4)): "final", (_day(2), _day(3)): "interrupted",
            (_day(2), _day(4)): "failed", (_day(3), _day(4)): "in-progress"}
        final = led.latest_product(D)
        assert final.region == "" and final.window == (_day(-2), _day(1))
        assert final.finished_at == final.updated_at and final.flags == ()
        assert len(led.find_inputs()) == 7 and led.recent_runs()[0].pid_start is None
        # the migrated ledger takes version 2's rules at once
        assert led.claim(_day(1))
        led.start_product(_day(1), _day(5))
        with pytest.raises(LedgerError, match="a final product already exists"):
            led.finish_product(_day(1), _day(5), path="/p/x.nc", inputs_used=[], final=True)
    with Ledger(path) as again:  # opening a migrated ledger changes nothing
        assert again.latest_product(D).status == "final"


def test_a_failed_migration_leaves_the_ledger_as_it_was(tmp_path, monkeypatch):
    from varnet.operational.ledger import migrations

    path = tmp_path / "ledger.sqlite"
    _v1_ledger(path)

    def broken(conn: sqlite3.Connection) -> None:
        migrations.m0002_product_regions(conn)  # every table rebuilt, then:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setitem(migrations.MIGRATIONS, 1, broken)
    _refused(path, "cannot migrate the ledger from schema version 1 to 3", "left as it was")
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM products WHERE status = 'final'").fetchone() == (
        3,)
    assert "region" not in {r[1] for r in conn.execute("PRAGMA table_info(products)")}
    conn.close()
    monkeypatch.undo()
    Ledger(path).close()  # the real migration then succeeds


# --------------------------------------------------------------------------------------------
# one final per day, and finals that survive a killed re-make


def test_one_final_per_day(ledger):
    _make(ledger, D, _day(3), final=True)
    assert ledger.claim(D)
    ledger.start_product(D, _day(4))
    with pytest.raises(LedgerError) as info:
        ledger.finish_product(D, _day(4), path="/p/new.nc", inputs_used=[], final=True)
    message = str(info.value)
    assert f"product day {D}: a final product already exists (issue {_day(3)}, " in message
    assert f"/products/{D}_{_day(3)}.nc" in message
    assert ledger.product(D, _day(4)).status == "in-progress"  # nothing was recorded
    ledger.finish_product(D, _day(4), path="/p/new.nc", inputs_used=[])  # not final: fine
    ledger.release(D)
    assert ledger.latest_product(D).production_day == _day(3)  # the final is served
    assert ledger.finalize(D).production_day == _day(3)
    with pytest.raises(LedgerError), ledger.transaction() as conn:  # the index says so too
        conn.execute("UPDATE products SET status = 'final' WHERE production_day = ?",
                     (str(_day(4)),))


_KILLED_REMAKE = textwrap.dedent("""
    import datetime, os, sys
    from varnet.operational.ledger import Ledger
    ledger = Ledger(sys.argv[1])
    day, issue = (datetime.date.fromisoformat(a) for a in sys.argv[2:4])
    run = ledger.start_run("reprocess")
    assert ledger.claim(day)
    ledger.start_product(day, issue, run_id=run, replace_final=True)
    os._exit(0)  # killed before the new file exists: no finish, no release
""")


def _killed_remake(ledger: Ledger, day: dt.date, issue: dt.date) -> None:
    subprocess.run([sys.executable, "-c", _KILLED_REMAKE, str(ledger.path), str(day),
                    str(issue)], check=True)


@pytest.mark.parametrize("issue", [3, 5], ids=["same production day", "later production day"])
def test_a_killed_forced_remake_keeps_the_final(ledger, issue):
    old = _make(ledger, D, _day(3), inputs=[_add_input(ledger, "a.nc", D, "s1")], final=True)
    _killed_remake(ledger, D, _day(issue))
    during = ledger.latest_product(D)  # while it is (was) being re-made: still served
    assert (during.id, during.status, during.path) == (old.id, "final", old.path)
    with Ledger(ledger.path) as new_process:  # what the next run does first
        assert new_process.mark_interrupted() == 1
        assert new_process.claims() == []
        (run,) = new_process.recent_runs(1)
        assert run.status == "interrupted" and "stopped before the run ended" in run.error
    final = ledger.latest_product(D)
    assert (final.id, final.status, final.path) == (old.id, "final", old.path)
    assert final.inputs_used == old.inputs_used and final.started_at == old.started_at
    assert final.remake_started_at is None
    history = {p.production_day: p for p in ledger.product_history(D)}
    if issue == 3:
        assert list(history) == [_day(3)] and "was interrupted" in final.error
    else:
        assert history[_day(5)].status == "interrupted"
    assert ledger.interrupted_products() == []


def test_a_failed_remake_keeps_the_product_and_a_finished_one_replaces_it(ledger):
    old = _make(ledger, D, _day(3), final=True)
    assert ledger.claim(D)
    ledger.start_product(D, _day(3), replace_final=True)
    kept = ledger.fail_product(D, _day(3), "ONNX Runtime error")
    assert (kept.status, kept.path) == ("final", old.path) and "ONNX Runtime error" in kept.error
    run = ledger.start_run("reprocess")
    ledger.start_product(D, _day(6), run_id=run, replace_final=True)
    new = ledger.finish_product(D, _day(6), path="/p/new.nc", inputs_used=[], final=True)
    ledger.release(D)
    assert ledger.latest_product(D).id == new.id and new.replaces_id == old.id
    replaced = ledger.product(D, _day(3))
    assert replaced.status == "replaced" and f"final issue of {_day(6)}" in replaced.error
    # the same production day re-made: one row, the new file, this run
    assert ledger.claim(D)
    ledger.start_product(D, _day(6), run_id=run)
    again = ledger.finish_product(D, _day(6), path="/p/newer.nc", inputs_used=[], final=True)
    assert (again.id, again.attempts, again.path, again.run_id) == (new.id, 2, "/p/newer.nc",
                                                                    run)


# --------------------------------------------------------------------------------------------
# regions


def test_products_are_seen_by_their_region_only(tmp_path):
    path = tmp_path / "ledger.sqlite"
    north, south = Ledger(path, region="north"), Ledger(path, region="south")
    _make(north, D, _day(3), final=True)
    assert south.latest_product(D) is None and south.missing_days(D, D) == [D]
    _make(south, D, _day(3), final=True)  # its own final: no clash with the other region's
    assert north.latest_product(D).region == "north"
    assert south.latest_product(D).region == "south"
    assert Ledger(path).region == ""  # no configuration has opened it
    south.set_current_region()
    assert Ledger(path).region == "south"  # a plain Ledger follows the configuration's


def test_region_key_is_the_configurations(tmp_path):
    config = _ops_config(tmp_path)
    key = config_region_key(config)
    assert len(key) == 16 and int(key, 16) >= 0
    moved = dataclasses.replace(config, region=dataclasses.replace(config.region, lat_min=30.5))
    renamed = dataclasses.replace(config, name="other")
    assert len({key, config_region_key(moved), config_region_key(renamed)}) == 3
    assert region_key("test", 30.0 + 1e-9, -60.0, 0.5, 4, 6) == key  # round-off is not a change
    led = Ledger.for_config(config)
    assert led.region == key and Ledger(config.paths.ledger_file).region == key


# --------------------------------------------------------------------------------------------
# stale finals


def test_stale_finals(ledger):
    a = _add_input(ledger, "a.nc", _day(-1), "s1")
    b = _add_input(ledger, "b.nc", _day(1), "s2")
    _make(ledger, D, _day(3), inputs=[a, b], final=True)
    _make(ledger, _day(5), _day(8), inputs=[_add_input(ledger, "c.nc", _day(5), "s3")],
          final=True)
    assert ledger.latest_product(D).window == (_day(-1), _day(1))
    assert ledger.stale_finals(_day(-5), _day(9)) == []
    _add_input(ledger, "far.nc", _day(3), "s4")  # outside D's window
    assert ledger.stale_finals(D, D) == []
    late = _add_input(ledger, "late.nc", D, "s5", mission="s3a")  # arrives after the final
    (stale,) = ledger.stale_finals(_day(-5), _day(9))
    assert stale.day == D and stale.inputs == (late,)
    assert stale.reason == (f"inputs changed after the final product (file late.nc archived "
                            f"at {late.ingested_at})")
    _make(ledger, _day(5), _day(9), inputs=[], final=False)  # not final: not stale-checked
    ledger.set_input_status(_day_input(ledger, "c.nc").id, "superseded", reason="by c2.nc")
    days = {s.day: s.reason for s in ledger.stale_finals(_day(-5), _day(9))}
    assert days[_day(5)] == ("inputs changed after the final product (file c.nc it used is "
                             "superseded: by c2.nc)")


def _day_input(ledger: Ledger, name: str):
    (record,) = ledger.find_inputs(original_name=name)
    return record


def test_finish_records_the_window_it_is_given(ledger):
    assert ledger.claim(D)
    ledger.start_product(D, _day(1))
    rec = ledger.finish_product(D, _day(1), path="/p.nc", inputs_used=[],
                                window=(_day(-10), _day(10)), flags=["no SST"])
    assert rec.window == (_day(-10), _day(10)) and rec.flags == ("no SST",)
    assert rec.finished_at is not None
