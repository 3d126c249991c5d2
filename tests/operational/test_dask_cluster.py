"""Reprocessing on a Dask cluster started as users start one: ``dask scheduler`` and two
``dask worker`` processes from their own command lines on the loopback address.

The workers run with an audit hook (``sitecustomize.py`` on their ``PYTHONPATH``) that refuses
and records every file-system access under the state folder: opening, listing, creating,
renaming or removing anything there, and connecting SQLite to it. So the test proves what
the design promises: only the process that runs ``varnet-ops reprocess`` opens the ledger;
workers read the archive and the model and write the products folder (shared storage).
The products are those of a sequential run; a worker killed in the middle of a day has its day
made again on the other, and every day ends final once, with nothing half-written left.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import test_runs
from test_pipeline import Ops, days, exported_model, share_archive
from test_runs import FIRST, LAST, PRODUCTION, check_consistent, sha256

from varnet.operational.runs import reprocess

distributed = pytest.importorskip("distributed", reason="needs the dist extra (dask)")

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(),
                                reason="needs Linux /proc")

#: Refuses (PermissionError) and records, in the file VARNET_TEST_LOG, every access of this
#: process to the folder VARNET_TEST_FORBIDDEN.
_SITECUSTOMIZE = textwrap.dedent('''
    import os, sys

    _FORBIDDEN = os.path.realpath(os.environ["VARNET_TEST_FORBIDDEN"])
    _LOG = os.environ["VARNET_TEST_LOG"]
    _EVENTS = {"open": 0, "os.listdir": 0, "os.scandir": 0, "os.mkdir": 0, "os.rename": 0,
               "os.remove": 0, "os.rmdir": 0, "os.chmod": 0, "sqlite3.connect": 0}

    def _guard(event, args):
        if event not in _EVENTS or not args or not isinstance(args[0], (str, bytes, os.PathLike)):
            return
        path = os.fsdecode(args[0])
        if os.path.realpath(path).startswith(_FORBIDDEN):
            with open(_LOG, "a") as log:  # (the log is outside the forbidden folder)
                log.write(f"pid {os.getpid()}: {event} {path}\\n")
            raise PermissionError(f"test: {event} of {path} in the state folder by a worker")

    sys.addaudithook(_guard)
''')

WORKERS = 2
START_TIMEOUT = 60

#: test_runs's fixtures: the archive of the product days 2012-10-10 to 16, and a sequential
#: reprocess of FIRST..LAST from it.
archived = test_runs.archived
sequential = test_runs.sequential


@dataclass
class Cluster:
    """A scheduler and its workers, each a subprocess started from its command line."""

    scheduler_file: Path
    processes: list[subprocess.Popen]
    violations: Path

    def client(self) -> distributed.Client:
        return distributed.Client(scheduler_file=str(self.scheduler_file), timeout=30,
                                  set_as_default=False)

    @property
    def address(self) -> str:
        return json.loads(self.scheduler_file.read_text())["address"]

    def refused(self) -> list[str]:
        """The accesses to the state folder the workers attempted."""
        return self.violations.read_text().splitlines() if self.violations.exists() else []


def _dask() -> str:
    return str(Path(sys.executable).with_name("dask"))


@pytest.fixture
def cluster(tmp_path) -> Iterator[tuple[Cluster, Path]]:
    """A cluster whose workers may not touch ``tmp_path/ops/state``; yields it and the root
    under which the test puts its operations set-up (``tmp_path/ops``)."""
    root = tmp_path / "ops"
    state = root / "state"
    state.mkdir(parents=True)
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    violations = tmp_path / "refused.log"
    scheduler_file = tmp_path / "scheduler.json"
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    worker_env = {**env, "PYTHONPATH": os.pathsep.join(
        [str(hook), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "VARNET_TEST_FORBIDDEN": str(state), "VARNET_TEST_LOG": str(violations),
        "TMPDIR": str(tmp_path)}  # their OI cache: this test's own
    processes = []

    def start(name: str, argv: list[str], environment: dict[str, str]) -> None:
        with open(logs / f"{name}.log", "wb") as log:
            processes.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                              stdin=subprocess.DEVNULL, env=environment,
                                              cwd=tmp_path))

    start("scheduler", [_dask(), "scheduler", "--host", "127.0.0.1", "--port", "0",
                        "--no-dashboard", "--scheduler-file", str(scheduler_file)], env)
    deadline = time.monotonic() + START_TIMEOUT
    while not scheduler_file.exists():
        assert time.monotonic() < deadline, (logs / "scheduler.log").read_text()
        time.sleep(0.2)
    for k in range(WORKERS):
        start(f"worker-{k}", [_dask(), "worker", "--scheduler-file", str(scheduler_file),
                              "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
                              "--local-directory", str(tmp_path / f"worker-{k}")], worker_env)
    found = Cluster(scheduler_file, processes, violations)
    try:
        with found.client() as client:
            client.wait_for_workers(WORKERS, timeout=START_TIMEOUT)
        yield found, root
    finally:
        for process in reversed(processes):
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def model(tmp_path_factory, tiny_ocean):
    return exported_model(tmp_path_factory, tiny_ocean.out_dir)


def test_workers_started_by_hand_never_touch_the_state_folder_and_match_a_sequential_run(
        cluster, archived, sequential, model):
    found, root = cluster
    ops = share_archive(archived, root, model)
    assert Path(ops.config.paths.state) == root / "state"

    # the guard works: a worker that opens the ledger is refused, and it is recorded
    with found.client() as client:
        answers = client.run(Path(ops.config.paths.ledger_file).read_bytes, on_error="return")
    assert len(answers) == WORKERS
    assert all(isinstance(a, PermissionError) for a in answers.values()), answers
    assert len(found.refused()) == WORKERS
    found.violations.unlink()

    summary = reprocess(ops.config, FIRST, LAST, dask=found.address, production_day=PRODUCTION,
                        progress=False)
    assert [(r.day, r.status) for r in summary.results] == [(d, "final")
                                                            for d in days(FIRST, LAST)]
    assert found.refused() == []  # no worker tried to touch the state folder
    assert {p.name: sha256(p) for p in ops.product_files()} == sequential[2]
    check_consistent(ops, days(FIRST, LAST), PRODUCTION)


def _kill_a_worker_in_the_middle_of_a_day(found: Cluster, killed: list[tuple[str, int]],
                                          stop: threading.Event) -> None:
    """Once a worker runs a varnet task, SIGKILL its process (its nanny starts another)."""
    with found.client() as client:
        while not stop.is_set():
            busy = [w for w, keys in client.processing().items()
                    if any(str(k).startswith("varnet-") for k in keys)]
            if busy:
                time.sleep(0.3)  # in the middle of it: reading, inferring or writing
                pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed.append((busy[0], pid))
                return
            time.sleep(0.05)


def test_a_worker_killed_in_the_middle_of_a_day_has_its_day_made_by_another(
        cluster, archived, sequential, model):
    found, root = cluster
    ops: Ops = share_archive(archived, root, model)
    killed: list[tuple[str, int]] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_a_worker_in_the_middle_of_a_day,
                              args=(found, killed, stop))
    killer.start()
    try:
        summary = reprocess(ops.config, FIRST - dt.timedelta(days=4), LAST, dask=found.address,
                            production_day=PRODUCTION, progress=False)
    finally:
        stop.set()
        killer.join()
    assert killed, "no worker was seen making a day"
    wanted = days(FIRST - dt.timedelta(days=4), LAST)
    assert [(r.day, r.status) for r in summary.results] == [(d, "final") for d in wanted]
    assert summary.outcome()[0] == "ok"
    check_consistent(ops, wanted, PRODUCTION)  # one final each, no claim, no temporary
    made = {p.name: sha256(p) for p in ops.product_files()}
    assert {k: made[k] for k in sequential[2]} == sequential[2]
    assert found.refused() == []
