"""The ledger's ``products``: every attempt at the product of a day, per region.

One row per (region, product day, production day): ``in-progress`` while it is made, then
``ok``, ``failed``, ``interrupted`` or ``final`` (the last issue of a day; at most one per
region and day), with the inputs it was made from, the data days whose files can change it,
the model checksum and the timings. Every query of a ledger object sees only its region's
rows.

**Finals stay true.** Re-making a usable issue (a ``--force`` re-make of a final day) keeps
its row, file path and inputs until the new file has replaced it: a re-make killed midway
leaves the old product recorded (:meth:`LedgerProducts.start_product`). A final of another
production day is replaced only when the re-make said so (``replace_final``); otherwise a
second final of a day is refused.

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from varnet.operational.ledger.claims import LedgerClaims
from varnet.operational.ledger.errors import LedgerError
from varnet.operational.ledger.inputs import LedgerInputs
from varnet.operational.ledger.records import InputRecord, ProductRecord
from varnet.operational.ledger.schema import USABLE_STATUSES
from varnet.operational.ledger.times import day_text, utc_now

__all__ = ["LedgerProducts"]

log = logging.getLogger("varnet.ops.ledger")


class LedgerProducts(LedgerClaims, LedgerInputs):
    """The ledger's methods on ``products``, part of
    :class:`~varnet.operational.ledger.Ledger`: each object records and sees the products of
    its region (``region``); recording one needs the claim on its day."""

    def _row(self, conn: sqlite3.Connection, day: str | None,
             issue: str | None) -> sqlite3.Row | None:
        return conn.execute("SELECT * FROM products WHERE region = ? AND product_day = ? AND "
                            "production_day = ?", (self.region, day, issue)).fetchone()

    def _final_row(self, conn: sqlite3.Connection, day: str | None) -> sqlite3.Row | None:
        return conn.execute("SELECT * FROM products WHERE region = ? AND product_day = ? AND "
                            "status = 'final'", (self.region, day)).fetchone()

    def start_product(
        self, product_day: dt.date, production_day: dt.date, *, run_id: int | None = None,
        replace_final: bool = False,
    ) -> ProductRecord:
        """Record that the product of ``product_day`` is being made on ``production_day``.

        The caller must hold the claim on ``product_day`` (:meth:`claim`). What the row
        becomes depends on what the ledger holds for that (product day, production day):

        - nothing: a new ``in-progress`` row;
        - a usable product (``ok`` or ``final``; e.g. a ``--force`` re-make of a final day on
          the same production day): the row keeps its status, file path and inputs until
          :meth:`finish_product` records the new file, so a re-make killed midway leaves
          the product made before recorded; ``remake_started_at`` says a re-make runs;
        - a failed, interrupted or in-progress attempt: it is reset to ``in-progress``.

        Each start counts an attempt.

        Parameters
        ----------
        product_day, production_day : datetime.date
        run_id : int, optional
            The run making it.
        replace_final : bool, default False
            Allow this attempt, when it finishes ``final``, to replace the final product of
            another production day of ``product_day`` (a forced re-make): that one becomes
            ``replaced`` then, and only then. Without it a second final is refused.

        Returns
        -------
        ProductRecord
            Status ``in-progress``, or the usable row being re-made.

        Raises
        ------
        LedgerError
            If this ledger object does not hold the claim on ``product_day``.
        """
        day, issue, now = day_text(product_day), day_text(production_day), utc_now()
        with self.transaction() as conn:
            self._require_claim(conn, day)
            row = self._row(conn, day, issue)
            final = self._final_row(conn, day)
            replaces = (final["id"] if replace_final and final is not None
                        and (row is None or final["id"] != row["id"]) else None)
            if row is None:
                conn.execute(
                    "INSERT INTO products (region, product_day, production_day, run_id, status, "
                    "started_at, updated_at, replaces_id) "
                    "VALUES (?, ?, ?, ?, 'in-progress', ?, ?, ?)",
                    (self.region, day, issue, run_id, now, now, replaces))
            elif row["status"] in USABLE_STATUSES:
                conn.execute(
                    "UPDATE products SET remake_started_at = ?, remake_run_id = ?, "
                    "replaces_id = ?, attempts = attempts + 1, updated_at = ? WHERE id = ?",
                    (now, run_id, replaces, now, row["id"]))
            else:
                conn.execute(
                    "UPDATE products SET run_id = ?, status = 'in-progress', path = NULL, "
                    "inputs_used = '[]', model_checksum = NULL, timings = '{}', error = NULL, "
                    "attempts = attempts + 1, started_at = ?, updated_at = ?, "
                    "finished_at = NULL, window_first = NULL, window_last = NULL, "
                    "flags = '[]', remake_started_at = NULL, remake_run_id = NULL, "
                    "replaces_id = ? WHERE id = ?",
                    (run_id, now, now, replaces, row["id"]))
        return self._product(day, issue)

    def finish_product(
        self,
        product_day: dt.date,
        production_day: dt.date,
        *,
        path: str | os.PathLike[str],
        inputs_used: Iterable[InputRecord | Mapping[str, str] | str | os.PathLike[str]],
        model_checksum: str | None = None,
        timings: Mapping[str, float] | None = None,
        final: bool = False,
        window: tuple[dt.date, dt.date] | None = None,
        flags: Iterable[str] = (),
    ) -> ProductRecord:
        """Record that a product was written (its file is in place).

        Parameters
        ----------
        product_day, production_day : datetime.date
            As given to :meth:`start_product`.
        path : str or os.PathLike
            The product file.
        inputs_used : iterable
            The input files it was made from: :class:`InputRecord` objects, mappings with
            ``sha256`` and/or ``path`` (and ``name``), or paths (looked up in ``inputs``).
        model_checksum : str, optional
            Checksum of the ONNX model.
        timings : mapping of str to float, optional
            Seconds per stage.
        final : bool, optional
            Mark it ``final``: the last issue of its day (see :meth:`finalize`).
        window : tuple of datetime.date, optional
            First and last data day whose files can change this product (its window and the
            OI's reach around it), for :meth:`stale_finals`. Default: the first and last
            data day of ``inputs_used``.
        flags : iterable of str, optional
            Sentences a person should read about this product (``varnet-ops status`` shows
            its day as flagged).

        Returns
        -------
        ProductRecord
            Status ``ok`` or ``final``.

        Raises
        ------
        LedgerError
            If the product was not started or the claim is not held; if ``final`` and the day
            already has a final product of another production day that this attempt was not
            started to replace (``start_product(..., replace_final=True)``): a day has one
            final product.
        """
        return self._end_product(
            product_day, production_day, status="final" if final else "ok",
            path=os.fspath(path), inputs_used=self._references(inputs_used),
            model_checksum=model_checksum, timings=timings, error=None, window=window,
            flags=tuple(flags),
        )

    def fail_product(
        self, product_day: dt.date, production_day: dt.date, error: str, *,
        timings: Mapping[str, float] | None = None,
    ) -> ProductRecord:
        """Record that making a product failed, with the error a person reads.

        A failed re-make of a usable product leaves that product as it was (its ``error``
        says the re-make failed).

        Returns
        -------
        ProductRecord
            Status ``failed``, or the usable product kept.
        """
        return self._end_product(product_day, production_day, status="failed", path=None,
                                 inputs_used=None, model_checksum=None, timings=timings,
                                 error=error)

    def _end_product(
        self, product_day: dt.date, production_day: dt.date, *, status: str,
        path: str | None, inputs_used: list[dict[str, str]] | None,
        model_checksum: str | None, timings: Mapping[str, float] | None, error: str | None,
        window: tuple[dt.date, dt.date] | None = None, flags: tuple[str, ...] = (),
    ) -> ProductRecord:
        day, issue, now = day_text(product_day), day_text(production_day), utc_now()
        with self.transaction() as conn:
            self._require_claim(conn, day)
            row = self._row(conn, day, issue)
            if row is None:
                raise LedgerError(f"product {day} (production {issue}) was never started; "
                                  "call Ledger.start_product first")
            if status == "failed":
                self._record_failure(conn, row, error or "failed", timings, now)
            else:
                if status == "final":
                    self._make_room_for_final(conn, row, now)
                first, last = ((day_text(window[0]), day_text(window[1])) if window
                               else self._window_of(conn, inputs_used or []))
                conn.execute(
                    "UPDATE products SET status = ?, path = COALESCE(?, path), "
                    "inputs_used = ?, model_checksum = ?, timings = ?, error = NULL, "
                    "updated_at = ?, finished_at = ?, "
                    "started_at = COALESCE(remake_started_at, started_at), "
                    "run_id = CASE WHEN remake_started_at IS NULL THEN run_id "
                    "ELSE remake_run_id END, window_first = ?, window_last = ?, flags = ?, "
                    "remake_started_at = NULL, remake_run_id = NULL WHERE id = ?",
                    (status, path, json.dumps(inputs_used or []), model_checksum,
                     json.dumps(dict(timings or {})), now, now, first, last,
                     json.dumps(list(flags)), row["id"]))
        return self._product(day, issue)

    @staticmethod
    def _record_failure(conn: sqlite3.Connection, row: sqlite3.Row, error: str,
                        timings: Mapping[str, float] | None, now: str) -> None:
        if row["status"] in USABLE_STATUSES and row["remake_started_at"] is not None:
            kept = row["finished_at"] or row["updated_at"]
            conn.execute(
                "UPDATE products SET error = ?, updated_at = ?, remake_started_at = NULL, "
                "remake_run_id = NULL, replaces_id = NULL WHERE id = ?",
                (f"a re-make started {row['remake_started_at']} failed ({error}); the issue "
                 f"made {kept} is kept", now, row["id"]))
            return
        conn.execute("UPDATE products SET status = 'failed', model_checksum = NULL, "
                     "timings = ?, error = ?, updated_at = ? WHERE id = ?",
                     (json.dumps(dict(timings or {})), error, now, row["id"]))

    def _make_room_for_final(self, conn: sqlite3.Connection, row: sqlite3.Row,
                             now: str) -> None:
        """Mark ``replaced`` the final this attempt was started to replace; refuse any other
        final of the day."""
        other = conn.execute("SELECT * FROM products WHERE region = ? AND product_day = ? AND "
                             "status = 'final' AND id != ?",
                             (self.region, row["product_day"], row["id"])).fetchone()
        if other is None:
            return
        if row["replaces_id"] != other["id"]:
            raise LedgerError(
                f"product day {row['product_day']}: a final product already exists (issue "
                f"{other['production_day']}, {other['path']}); a day has one final product, "
                "so this one is not recorded final - re-make the day with --force to replace "
                "it")
        conn.execute("UPDATE products SET status = 'replaced', error = ?, updated_at = ? "
                     "WHERE id = ?",
                     (f"replaced by the final issue of {row['production_day']} (a forced "
                      f"re-make) at {now}", now, other["id"]))
        log.info("product %s: the final issue of %s is replaced by that of %s",
                 row["product_day"], other["production_day"], row["production_day"])

    @staticmethod
    def _window_of(conn: sqlite3.Connection,
                   refs: Sequence[Mapping[str, str]]) -> tuple[str | None, str | None]:
        """First and last data day of the recorded inputs among ``refs`` (None if none)."""
        shas = sorted({r["sha256"] for r in refs if r.get("sha256")})
        if not shas:
            return None, None
        row = conn.execute(
            f"SELECT MIN(data_day), MAX(data_day) FROM inputs WHERE sha256 IN "
            f"({', '.join('?' * len(shas))})", shas).fetchone()
        return row[0], row[1]

    def record_product(
        self,
        product_day: dt.date,
        production_day: dt.date,
        *,
        path: str | os.PathLike[str],
        status: str,
        inputs_used: Iterable[InputRecord | Mapping[str, str] | str | os.PathLike[str]],
        made_at: str,
        model_checksum: str | None = None,
        region: str | None = None,
        window: tuple[dt.date, dt.date] | None = None,
        run_id: int | None = None,
        error: str | None = None,
    ) -> ProductRecord:
        """Record a product file that exists, without making it (``varnet-ops ledger
        rebuild``); no claim is needed.

        Parameters
        ----------
        product_day, production_day : datetime.date
        path : str or os.PathLike
            The product file.
        status : {"ok", "final", "replaced"}
        inputs_used : iterable
            As :meth:`finish_product`.
        made_at : str
            When it was made (UTC ledger timestamp): its start, end and last change.
        model_checksum : str, optional
        region : str, optional
            Its region (default this object's).
        window : tuple of datetime.date, optional
            As :meth:`finish_product`.
        run_id : int, optional
            The run recording it.
        error : str, optional
            A note (e.g. why it is ``replaced``).

        Returns
        -------
        ProductRecord

        Raises
        ------
        LedgerError
            If the status is not one of those, if the (region, product day, production day)
            is already recorded, or if a second final of a day is recorded.
        """
        if status not in ("ok", "final", "replaced"):
            raise LedgerError(f"a recorded product is 'ok', 'final' or 'replaced', got "
                              f"{status!r}")
        day, issue = day_text(product_day), day_text(production_day)
        refs = self._references(inputs_used)
        region = self.region if region is None else region
        with self.transaction() as conn:
            clash = conn.execute(
                "SELECT production_day, status, path FROM products WHERE region = ? AND "
                "product_day = ? AND (production_day = ? OR (status = 'final' AND ? = 'final'))",
                (region, day, issue, status)).fetchone()
            if clash is not None:
                raise LedgerError(f"product day {day}: already recorded (issue "
                                  f"{clash['production_day']}, {clash['status']}, "
                                  f"{clash['path']})")
            first, last = ((day_text(window[0]), day_text(window[1])) if window
                           else self._window_of(conn, refs))
            conn.execute(
                "INSERT INTO products (region, product_day, production_day, run_id, path, "
                "status, inputs_used, model_checksum, error, started_at, updated_at, "
                "finished_at, window_first, window_last) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (region, day, issue, run_id, os.fspath(path), status, json.dumps(refs),
                 model_checksum, error, made_at, made_at, made_at, first, last))
            row = conn.execute("SELECT * FROM products WHERE region = ? AND product_day = ? "
                               "AND production_day = ?", (region, day, issue)).fetchone()
        return ProductRecord.from_row(row)

    def _references(
        self, items: Iterable[InputRecord | Mapping[str, str] | str | os.PathLike[str]],
    ) -> list[dict[str, str]]:
        refs: dict[str, dict[str, str]] = {}
        for item in items:
            if isinstance(item, InputRecord):
                ref = item.reference()
            elif isinstance(item, Mapping):
                ref = {k: str(v) for k, v in item.items() if k in ("name", "path", "sha256")}
                if "sha256" not in ref and "path" in ref:
                    ref = self._reference_of_path(ref["path"]) or ref
            else:
                ref = self._reference_of_path(os.fspath(item)) or {
                    "name": Path(item).name, "path": os.fspath(item)}
            refs[ref.get("sha256") or ref.get("path", "")] = ref
        return sorted(refs.values(), key=lambda r: (r.get("name", ""), r.get("path", "")))

    def _reference_of_path(self, path: str) -> dict[str, str] | None:
        found = self.find_inputs(path=path) or self.find_inputs(path=os.path.abspath(path))
        return found[-1].reference() if found else None

    def set_product_path(self, product_id: int, path: str | os.PathLike[str]) -> None:
        """Record that the file of product row ``product_id`` (this region's) moved to
        ``path``, e.g. a replaced final set aside (:mod:`varnet.operational.pipeline`)."""
        with self.transaction() as conn:
            conn.execute("UPDATE products SET path = ?, updated_at = ? WHERE id = ? AND "
                         "region = ?", (os.fspath(path), utc_now(), product_id, self.region))

    def finalize(self, product_day: dt.date) -> ProductRecord | None:
        """Mark the latest ``ok`` issue of ``product_day`` as ``final`` (if none is final).

        Returns
        -------
        ProductRecord or None
            The final product, or None if the day has no usable product.
        """
        latest = self.latest_product(product_day)
        if latest is None:
            return None
        if latest.status != "final":
            with self.transaction() as conn:
                conn.execute("UPDATE products SET status = 'final', updated_at = ? WHERE id = ?",
                             (utc_now(), latest.id))
        return self._product(day_text(product_day), day_text(latest.production_day))

    def _product(self, day: str | None, issue: str | None) -> ProductRecord:
        return ProductRecord.from_row(self._row(self._connect(), day, issue))

    def product(self, product_day: dt.date, production_day: dt.date) -> ProductRecord | None:
        """The attempt at ``product_day`` made on ``production_day`` (this region's), or
        None."""
        rows = self._query("SELECT * FROM products WHERE region = ? AND product_day = ? AND "
                           "production_day = ?",
                           (self.region, day_text(product_day), day_text(production_day)))
        return ProductRecord.from_row(rows[0]) if rows else None

    def product_history(self, product_day: dt.date) -> list[ProductRecord]:
        """Every attempt at ``product_day`` (this region's), by production day."""
        rows = self._query("SELECT * FROM products WHERE region = ? AND product_day = ? "
                           "ORDER BY production_day", (self.region, day_text(product_day)))
        return [ProductRecord.from_row(r) for r in rows]

    def products_with_status(self, *statuses: str) -> list[ProductRecord]:
        """Every product row of this region whose status is one of ``statuses``, by product
        and production day."""
        rows = self._query(f"SELECT * FROM products WHERE region = ? AND status IN "
                           f"({', '.join('?' * len(statuses))}) ORDER BY product_day, "
                           "production_day", (self.region, *statuses))
        return [ProductRecord.from_row(r) for r in rows]

    def latest_product(self, product_day: dt.date) -> ProductRecord | None:
        """The product to serve for ``product_day``: its ``final`` one, else its ``ok`` one
        of the latest production day, else None."""
        day = dt.date.fromisoformat(day_text(product_day) or "")
        return self.latest_products(day, day).get(day)

    def latest_products(self, first: dt.date, last: dt.date) -> dict[dt.date, ProductRecord]:
        """For each product day in ``[first, last]`` that has one, the product to serve.

        Returns
        -------
        dict of datetime.date to ProductRecord
            The day's ``final`` product, else its ``ok`` one of the latest production day;
            days without a usable product are absent.
        """
        rows = self._query(
            "SELECT * FROM products WHERE region = ? AND product_day BETWEEN ? AND ? AND "
            "status IN ('ok', 'final') ORDER BY product_day, status = 'final', production_day",
            (self.region, day_text(first), day_text(last)))
        best: dict[dt.date, ProductRecord] = {}
        for row in rows:  # the last of each day wins: a final, else the latest issue
            record = ProductRecord.from_row(row)
            best[record.product_day] = record
        return best

    def missing_days(self, first: dt.date, last: dt.date) -> list[dt.date]:
        """Days of ``[first, last]`` without a usable (``ok`` or ``final``) product, in order."""
        have = self.latest_products(first, last)
        n = (last - first).days + 1
        days = (first + dt.timedelta(days=i) for i in range(max(n, 0)))
        return [d for d in days if d not in have]
