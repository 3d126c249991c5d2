"""The SQLite ledger: records, queries, one writer per product day, and the daemon lock."""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import os
import pickle
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from varnet.operational.ledger import (
    InstanceLock,
    Ledger,
    LedgerError,
    LockHeldError,
    daemon_lock,
    parse_timestamp,
    utc_now,
)

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
    with pytest.raises(LedgerError, match="cannot open the ledger"):
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
    assert ledger.product(D, _day(1)).status == "failed"
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


def test_claims_of_other_hosts_and_reused_pids(ledger, caplog):
    old = "2000-01-01T00:00:00.000000Z"
    with ledger.transaction() as conn:
        conn.execute("INSERT INTO claims VALUES (?, 'elsewhere:1:x', 'elsewhere', 1, NULL, ?)",
                     (D.isoformat(), old))
        conn.execute("INSERT INTO claims VALUES (?, 'me:1:y', ?, 1, NULL, ?)",
                     (_day(1).isoformat(), ledger.host, old))
        conn.execute("INSERT INTO claims VALUES (?, 'me:1:z', ?, 1, 'not-its-start', ?)",
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
