"""The ledger's ``claims``: which process is making the product of which day of which region.

A product day of a region is made by one writer at a time: a maker claims it
(:meth:`LedgerClaims.claim`) before recording its product and releases it after. A claim
whose owner process has died on this host is taken over. Claims are per region (schema
version 3): several regions sharing one state folder each claim their own product days; a
ledger object claims, releases and lists the claims of its own region.

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import sqlite3
from collections.abc import Iterator

from varnet.operational.ledger.connection import LedgerFile
from varnet.operational.ledger.errors import LedgerError
from varnet.operational.ledger.processes import pid_alive, process_start
from varnet.operational.ledger.records import Claim
from varnet.operational.ledger.times import day_text, parse_timestamp, utc_now

__all__ = ["LedgerClaims"]

log = logging.getLogger("varnet.ops.ledger")


class LedgerClaims(LedgerFile):
    """The ledger's methods on ``claims``, part of
    :class:`~varnet.operational.ledger.Ledger`: each ledger object is one claim owner
    (``owner``), for its region (``region``)."""

    def claim(self, product_day: dt.date, *, stale_after: dt.timedelta | None = None) -> bool:
        """Try to become the one writer of ``product_day`` of this object's region.

        Parameters
        ----------
        product_day : datetime.date
            The product day.
        stale_after : datetime.timedelta, optional
            A claim older than this is taken over even when its owner runs on another host
            (whose processes this host cannot see). By default such claims are never taken
            over; a claim of a dead process of this host always is.

        Returns
        -------
        bool
            True if this ledger object now holds the claim (also when it already did), False
            if a live process holds it.
        """
        day = day_text(product_day)
        pid = os.getpid()
        with self.transaction() as conn:
            row = conn.execute("SELECT * FROM claims WHERE region = ? AND product_day = ?",
                               (self.region, day)).fetchone()
            if row is not None:
                held = Claim.from_row(row)
                if held.owner == self.owner:
                    return True
                if not self._claim_stale(held, stale_after):
                    return False
                log.warning("taking over the claim on %s of %s (pid %d on %s since %s): its "
                            "owner is gone", day, held.owner, held.pid, held.host,
                            held.claimed_at)
                conn.execute("DELETE FROM claims WHERE region = ? AND product_day = ?",
                             (self.region, day))
            conn.execute("INSERT INTO claims (region, product_day, owner, host, pid, pid_start, "
                         "claimed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (self.region, day, self.owner, self.host, pid, process_start(pid),
                          utc_now()))
        return True

    def _claim_stale(self, claim: Claim, stale_after: dt.timedelta | None) -> bool:
        if claim.host == self.host:
            if claim.pid == os.getpid():  # another ledger object of this process: live
                return False
            return not pid_alive(claim.pid, claim.pid_start)
        if stale_after is None:
            return False
        age = dt.datetime.now(dt.UTC) - parse_timestamp(claim.claimed_at)
        return age > stale_after

    def release(self, product_day: dt.date) -> bool:
        """Give up the claim on ``product_day`` (of this object's region) if this ledger
        object holds it.

        Returns
        -------
        bool
            True if a claim was released.
        """
        with self.transaction() as conn:
            cur = conn.execute("DELETE FROM claims WHERE region = ? AND product_day = ? AND "
                               "owner = ?", (self.region, day_text(product_day), self.owner))
        return cur.rowcount > 0

    @contextlib.contextmanager
    def claimed(
        self, product_day: dt.date, *, stale_after: dt.timedelta | None = None,
    ) -> Iterator[bool]:
        """Context manager: claim ``product_day``, yield whether it succeeded, release after.

        Examples
        --------
        >>> with ledger.claimed(day) as mine:  # doctest: +SKIP
        ...     if mine:
        ...         make_product(day)
        """
        mine = self.claim(product_day, stale_after=stale_after)
        try:
            yield mine
        finally:
            if mine:
                self.release(product_day)

    def holds_claim(self, product_day: dt.date) -> bool:
        """Whether this ledger object holds the claim on ``product_day`` of its region."""
        rows = self._query("SELECT 1 FROM claims WHERE region = ? AND product_day = ? AND "
                           "owner = ?", (self.region, day_text(product_day), self.owner))
        return bool(rows)

    def claims(self, *, every_region: bool = False) -> list[Claim]:
        """The claims held now, by product day.

        Parameters
        ----------
        every_region : bool, default False
            Those of every region sharing the ledger (e.g. before replacing the whole
            file), not only of this object's region.

        Returns
        -------
        list of Claim
            By product day (then region).
        """
        if every_region:
            rows = self._query("SELECT * FROM claims ORDER BY product_day, region")
        else:
            rows = self._query("SELECT * FROM claims WHERE region = ? ORDER BY product_day",
                               (self.region,))
        return [Claim.from_row(r) for r in rows]

    def clear_dead_claims(self) -> int:
        """Remove the claims (of every region) of processes of this host that died holding
        them.

        Claims of live processes, of this process and of other hosts are left alone.

        Returns
        -------
        int
            How many claims were removed.
        """
        dead = [c for c in self.claims(every_region=True) if c.host == self.host
                and c.owner != self.owner and c.pid != os.getpid()
                and not pid_alive(c.pid, c.pid_start)]
        if not dead:
            return 0
        with self.transaction() as conn:
            for held in dead:
                conn.execute("DELETE FROM claims WHERE region = ? AND product_day = ? AND "
                             "owner = ?", (held.region, held.product_day.isoformat(),
                                           held.owner))
        for held in dead:
            log.warning("cleared the claim on %s of %s (pid %d on %s since %s): its owner is "
                        "gone", held.product_day, held.owner, held.pid, held.host,
                        held.claimed_at)
        return len(dead)

    def _require_claim(self, conn: sqlite3.Connection, day: str | None) -> None:
        """Refuse (:class:`LedgerError`) unless this object holds the claim on ``day`` of its
        region."""
        row = conn.execute("SELECT owner FROM claims WHERE region = ? AND product_day = ?",
                           (self.region, day)).fetchone()
        if row is None or row["owner"] != self.owner:
            holder = f"it is held by {row['owner']}" if row else "nobody holds it"
            raise LedgerError(f"product day {day}: claim it first (Ledger.claim); {holder}")
