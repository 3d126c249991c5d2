"""Whether products are still true to their inputs: changed windows and stale finals.

A final whose window received a file after it was made, or one of whose inputs was
superseded, is *stale* (:meth:`LedgerFreshness.stale_finals`); a day whose window's inputs
changed since its latest issue is due again (:meth:`LedgerFreshness.inputs_changed`).

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import datetime as dt

from varnet.operational.ledger.products import LedgerProducts
from varnet.operational.ledger.records import InputRecord, ProductRecord, StaleFinal
from varnet.operational.ledger.times import day_text

__all__ = ["LedgerFreshness"]


class LedgerFreshness(LedgerProducts):
    """The ledger's checks of products against their inputs, part of
    :class:`~varnet.operational.ledger.Ledger`."""

    def inputs_changed(
        self, product_day: dt.date, first: dt.date, last: dt.date,
    ) -> bool:
        """Whether the inputs of a product's window changed since its latest usable issue.

        Parameters
        ----------
        product_day : datetime.date
            The product day.
        first, last : datetime.date
            The data days its window reads (e.g. ``product_day`` -+ 3 days for a 7-day
            window).

        Returns
        -------
        bool
            True if the day has no usable product, if an ``ok`` input of the window was
            ingested after that product was started, or if an input it was made from is no
            longer ``ok`` (superseded); False otherwise.
        """
        latest = self.latest_product(product_day)
        if latest is None:
            return True
        rows = self._query(
            "SELECT sha256, ingested_at FROM inputs WHERE status = 'ok' AND data_day BETWEEN "
            "? AND ?", (day_text(first), day_text(last)))
        if any(r["ingested_at"] > latest.started_at for r in rows):
            return True
        return bool(self._gone_inputs(latest))

    def _gone_inputs(self, product: ProductRecord) -> list[InputRecord]:
        """Recorded inputs ``product`` used that are no longer ``ok`` (superseded)."""
        used = {ref["sha256"] for ref in product.inputs_used if ref.get("sha256")}
        if not used:
            return []
        placeholders = ", ".join("?" * len(used))
        rows = self._query(f"SELECT * FROM inputs WHERE sha256 IN ({placeholders}) ORDER BY id",
                           sorted(used))
        records = [InputRecord.from_row(r) for r in rows]
        ok = {r.sha256 for r in records if r.status == "ok"}
        return [r for r in records if r.sha256 not in ok]

    def stale_finals(self, first_day: dt.date, last_day: dt.date) -> list[StaleFinal]:
        """Final products of ``[first_day, last_day]`` whose inputs changed after they were
        made.

        A final is stale if an ``ok`` input whose data day lies in its window
        (``ProductRecord.window``, else the data days of its inputs) was archived after the
        product was started and is not one it used, or if an input it used was superseded.

        Returns
        -------
        list of StaleFinal
            By product day, each with the reason a person reads, e.g. ``"inputs changed
            after the final product (file X archived at T)"``.
        """
        rows = self._query("SELECT * FROM products WHERE region = ? AND status = 'final' AND "
                           "product_day BETWEEN ? AND ? ORDER BY product_day",
                           (self.region, day_text(first_day), day_text(last_day)))
        stale = []
        for row in rows:
            found = self._staleness(ProductRecord.from_row(row))
            if found is not None:
                stale.append(found)
        return stale

    def _staleness(self, final: ProductRecord) -> StaleFinal | None:
        if final.window is not None:
            first, last = (d.isoformat() for d in final.window)
        else:
            first, last = self._window_of(self._connect(), final.inputs_used)
        used = {ref.get("sha256") for ref in final.inputs_used}
        if first is not None and last is not None:
            rows = self._query(
                "SELECT * FROM inputs WHERE status = 'ok' AND data_day BETWEEN ? AND ? AND "
                "ingested_at > ? ORDER BY ingested_at, id", (first, last, final.started_at))
            new = [InputRecord.from_row(r) for r in rows if r["sha256"] not in used]
            if new:
                more = f", and {len(new) - 1} more" if len(new) > 1 else ""
                return StaleFinal(final, f"inputs changed after the final product (file "
                                  f"{new[0].original_name} archived at {new[0].ingested_at}"
                                  f"{more})", tuple(new))
        gone = self._gone_inputs(final)
        if gone:
            why = f": {gone[0].reason}" if gone[0].reason else ""
            return StaleFinal(final, f"inputs changed after the final product (file "
                              f"{gone[0].original_name} it used is {gone[0].status}{why})",
                              tuple(gone))
        return None
