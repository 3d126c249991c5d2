"""The ledger's ``runs``: every daily, reprocess, daemon or rebuild run, and how it ended.

A run belongs to the region whose products it makes (schema version 3), so that each region
sharing a state folder sees its own last run.

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import logging
import os

from varnet.operational.ledger.connection import LedgerFile
from varnet.operational.ledger.errors import LedgerError
from varnet.operational.ledger.processes import pid_alive, process_start
from varnet.operational.ledger.records import RunRecord
from varnet.operational.ledger.schema import RUN_KINDS
from varnet.operational.ledger.times import utc_now

__all__ = ["LedgerRuns"]

log = logging.getLogger("varnet.ops.ledger")


class LedgerRuns(LedgerFile):
    """The ledger's methods on ``runs``, part of :class:`~varnet.operational.ledger.Ledger`."""

    def start_run(self, kind: str) -> int:
        """Record the start of a run (by this process, for this object's region).

        Parameters
        ----------
        kind : {"daily", "reprocess", "daemon", "rebuild"}

        Returns
        -------
        int
            The run id, for :meth:`finish_run` and
            :meth:`~varnet.operational.ledger.Ledger.start_product`.

        Raises
        ------
        LedgerError
            If ``kind`` is not one of :data:`~varnet.operational.ledger.schema.RUN_KINDS`.
        """
        if kind not in RUN_KINDS:
            raise LedgerError(f"run kind must be one of {RUN_KINDS}, got {kind!r}")
        pid = os.getpid()
        with self.transaction() as conn:
            cur = conn.execute("INSERT INTO runs (region, kind, started, status, host, pid, "
                               "pid_start) VALUES (?, ?, ?, 'running', ?, ?, ?)",
                               (self.region, kind, utc_now(), self.host, pid,
                                process_start(pid)))
        return int(cur.lastrowid)

    def finish_run(self, run_id: int, status: str = "ok", error: str | None = None) -> None:
        """Record the end of a run.

        Parameters
        ----------
        run_id : int
            From :meth:`start_run`.
        status : {"ok", "failed", "interrupted"}
            ``interrupted``: asked to stop before its last day.
        error : str, optional
            What went wrong.
        """
        if status not in ("ok", "failed", "interrupted"):
            raise LedgerError(f"a run finishes 'ok', 'failed' or 'interrupted', got {status!r}")
        with self.transaction() as conn:
            conn.execute("UPDATE runs SET finished = ?, status = ?, error = ? WHERE id = ?",
                         (utc_now(), status, error, run_id))

    def run(self, run_id: int) -> RunRecord | None:
        """The run ``run_id`` (of any region), or None."""
        rows = self._query("SELECT * FROM runs WHERE id = ?", (run_id,))
        return RunRecord.from_row(rows[0]) if rows else None

    def recent_runs(self, limit: int = 20) -> list[RunRecord]:
        """The latest ``limit`` runs of this object's region, newest first."""
        rows = self._query("SELECT * FROM runs WHERE region = ? ORDER BY id DESC LIMIT ?",
                           (self.region, int(limit)))
        return [RunRecord.from_row(r) for r in rows]

    def mark_interrupted_runs(self) -> int:
        """Mark ``interrupted`` the ``running`` runs of this host whose process is dead.

        Runs of other hosts are left alone: this host cannot see their processes. Runs of
        every region are looked at: a dead process is dead whatever it made.

        Returns
        -------
        int
            How many runs changed.
        """
        rows = self._query("SELECT * FROM runs WHERE status = 'running' AND host = ?",
                           (self.host,))
        dead = [RunRecord.from_row(r) for r in rows]
        dead = [r for r in dead if r.pid != os.getpid() and not pid_alive(r.pid, r.pid_start)]
        if not dead:
            return 0
        now = utc_now()
        with self.transaction() as conn:
            for run in dead:
                conn.execute(
                    "UPDATE runs SET status = 'interrupted', error = ? WHERE id = ? AND "
                    "status = 'running'",
                    (f"interrupted: its process (pid {run.pid} on {run.host}) stopped before "
                     f"the run ended (noticed {now})", run.id))
        for run in dead:
            log.warning("run #%d (%s, pid %d, started %s) was interrupted: its process is gone",
                        run.id, run.kind, run.pid, run.started)
        return len(dead)
