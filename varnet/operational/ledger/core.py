"""The :class:`Ledger`: the operations ledger in one SQLite file, all its parts together.

The parts, one module each: the file and its connections
(:mod:`~varnet.operational.ledger.connection`), ``inputs``
(:mod:`~varnet.operational.ledger.inputs`), ``runs`` (:mod:`~varnet.operational.ledger.runs`),
``claims`` (:mod:`~varnet.operational.ledger.claims`), ``products``
(:mod:`~varnet.operational.ledger.products`) and their freshness
(:mod:`~varnet.operational.ledger.freshness`). Here: opening the ledger of a configuration,
the ledger's current region, counts, and recording what died.

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from varnet.operational.ledger.errors import REBUILD_HINT, LedgerError
from varnet.operational.ledger.freshness import LedgerFreshness
from varnet.operational.ledger.records import ProductRecord
from varnet.operational.ledger.regions import config_region_key, product_file_region
from varnet.operational.ledger.runs import LedgerRuns
from varnet.operational.ledger.times import utc_now

if TYPE_CHECKING:
    from varnet.operational.config import OpsConfig

__all__ = ["Ledger"]

log = logging.getLogger("varnet.ops.ledger")

_INTERRUPTED = "interrupted: its maker stopped before finishing"
#: SQL condition: a ``products`` row whose day nobody claims in its region.
_UNCLAIMED = ("NOT EXISTS (SELECT 1 FROM claims c WHERE c.region = products.region AND "
              "c.product_day = products.product_day)")


class Ledger(LedgerFreshness, LedgerRuns):
    """The operations ledger in one SQLite file.

    Each thread using the object gets its own SQLite connection, and after a fork (or
    unpickling in another process) the object reconnects on first use. Each object is one
    claim owner (``owner``: host, pid and a random token; a new one after a fork), so two
    ledger objects never share a claim; the threads of one object do.

    Opening checks the file (:mod:`varnet.operational.ledger`): a missing one is created when
    ``create`` (atomically); an empty one, one that is not SQLite or not a varnet ledger, or
    one that fails ``PRAGMA quick_check`` is refused; an older schema is migrated.

    Each object records and sees the products, runs and claims of one region (``region``);
    inputs are shared by every region.

    Parameters
    ----------
    path : str or os.PathLike
        The SQLite file; it and its folder are created if missing (and ``create``).
    busy_timeout_s : float, optional
        How long a statement waits for another writer's lock before failing, seconds.
    region : str, optional
        :func:`~varnet.operational.ledger.region_key` of the products this object records
        and sees. Default: the region the ledger's configuration last opened it with
        (:meth:`for_config`), ``""`` for a ledger never opened through a configuration.
    create : bool, default True
        Create the file when it does not exist; when False a missing file is an error.

    Raises
    ------
    LedgerError
        If the file is missing (and not ``create``), empty, not a varnet ledger, damaged, of
        a newer schema than this varnet knows, or cannot be opened; the message says what to
        do.
    """

    @classmethod
    def for_config(cls, config: OpsConfig, **kwargs: Any) -> Ledger:
        """The ledger of a configuration, ``{paths.state}/ledger.sqlite``, for its region.

        A missing ledger is created only for a new state: if the archive or the products
        folder already hold files, the ledger was lost and a new empty one would forget
        them, so this refuses and says how to rebuild it. The configuration's region
        (:func:`config_region_key`) becomes the region of the object and the ledger's current
        one; products recorded before regions were (schema version 1) get the region of
        their files (:func:`product_file_region`).

        Parameters
        ----------
        config : OpsConfig
            The configuration.
        **kwargs
            ``busy_timeout_s``.

        Raises
        ------
        LedgerError
            As :class:`Ledger`, and if the ledger is missing while the state holds files.
        """
        path = config.paths.ledger_file
        if not os.path.lexists(path):
            found = _state_files(config)
            if found is not None:
                raise LedgerError(
                    f"{path} does not exist, but this state already holds files (e.g. "
                    f"{found}): its ledger was lost, and a new empty one would forget every "
                    f"input and product; {REBUILD_HINT}")
        kwargs.pop("create", None)
        ledger = cls(path, region=config_region_key(config), **kwargs)
        ledger.set_current_region()
        return ledger

    def set_current_region(self) -> None:
        """Make this object's region the ledger's current one (:meth:`stored_region`, what a
        ``Ledger(path)`` without a region uses), and give the products recorded before
        regions were (region ``""``) the region of their files (:func:`product_file_region`;
        ``"?"`` where the file is gone, this object's region where there is no file). Runs
        recorded without a region (``""``: before schema version 3, by a ledger never opened
        through a configuration) become this region's when the current region is first set.

        :meth:`for_config` does this on every open.
        """
        stored = self._query("SELECT value FROM meta WHERE key = 'region'")
        if not stored or stored[0]["value"] != self.region:  # written only when it changes
            with self.transaction() as conn:
                row = conn.execute("SELECT value FROM meta WHERE key = 'region'").fetchone()
                conn.execute("INSERT INTO meta (key, value) VALUES ('region', ?) ON CONFLICT "
                             "(key) DO UPDATE SET value = excluded.value", (self.region,))
                conn.execute("UPDATE runs SET region = ? WHERE region = ''", (self.region,))
            if row is not None and row["value"] not in ("", self.region):
                log.warning("%s: the product region changed (%s -> %s): the products of the "
                            "former region are not reused", self.path, row["value"],
                            self.region)
        legacy = self._query("SELECT id, path FROM products WHERE region = ''")
        if legacy:
            self._assign_legacy_regions(legacy)

    def _assign_legacy_regions(self, rows: Sequence[sqlite3.Row]) -> None:
        regions = {}
        for row in rows:  # read outside the transaction: files may be slow to open
            if row["path"] is None:
                regions[row["id"]] = self.region
                continue
            try:
                regions[row["id"]] = product_file_region(row["path"])
            except (OSError, ValueError, KeyError, IndexError):
                regions[row["id"]] = "?"  # its file is gone or unreadable: no region's
        mine = 0
        with self.transaction() as conn:
            for product_id, region in regions.items():
                try:
                    conn.execute("UPDATE products SET region = ? WHERE id = ? AND region = ''",
                                 (region, product_id))
                except sqlite3.IntegrityError:  # its region already has that issue or final
                    conn.execute("UPDATE products SET region = '?' WHERE id = ?", (product_id,))
                    region = "?"
                mine += region == self.region
        log.info("%s: %d product row(s) recorded before regions were assigned a region from "
                 "their files (%d of this configuration's)", self.path, len(regions), mine)

    def counts(self) -> dict[str, int]:
        """Rows per table: ``inputs``, ``runs``, ``products`` (every region), ``claims``."""
        tables = ("inputs", "runs", "products", "claims")
        row = self._query("SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {t})" for t in tables))
        return dict(zip(tables, (int(n) for n in row[0]), strict=True))

    def other_regions(self, name: str) -> dict[str, int]:
        """Product rows of regions other than this object's whose files bear the product
        ``name`` (``{name}_varnet_phy_l4_...``), by region key."""
        rows = self._query(
            "SELECT region, COUNT(*) AS n FROM products WHERE region != ? AND "
            "(path LIKE ? OR path LIKE ?) GROUP BY region ORDER BY region",
            (self.region, f"%/{name}_varnet_phy_l4_%", f"{name}_varnet_phy_l4_%"))
        return {r["region"]: int(r["n"]) for r in rows}

    def checkpoint(self) -> None:
        """Write the WAL into the ledger file and empty it (e.g. before copying the file)."""
        self._query("PRAGMA wal_checkpoint(TRUNCATE)")

    def interrupted_products(self) -> list[ProductRecord]:
        """Attempts whose maker died (of any region): ``in-progress`` rows, and re-makes of
        usable rows, whose day nobody claims in their region."""
        rows = self._query(
            "SELECT * FROM products WHERE (status = 'in-progress' OR remake_started_at IS NOT "
            f"NULL) AND {_UNCLAIMED} ORDER BY product_day, production_day")
        return [ProductRecord.from_row(r) for r in rows]

    def mark_interrupted(self) -> int:
        """Record what died: clear the claims of dead processes of this host
        (:meth:`clear_dead_claims`), mark their runs ``interrupted``
        (:meth:`mark_interrupted_runs`), and settle every :meth:`interrupted_products` row:
        an ``in-progress`` one becomes ``interrupted``; an interrupted re-make of a usable
        product leaves that product as it was (its ``error`` says so).

        Returns
        -------
        int
            How many product rows changed.
        """
        self.clear_dead_claims()
        self.mark_interrupted_runs()
        now = utc_now()
        with self.transaction() as conn:
            lost = conn.execute(
                f"UPDATE products SET status = 'interrupted', error = ? || ' (started ' || "
                f"started_at || ')', updated_at = ? WHERE status = 'in-progress' AND {_UNCLAIMED}",
                (_INTERRUPTED, now)).rowcount
            kept = conn.execute(
                "UPDATE products SET error = 'a re-make started ' || remake_started_at || ' was "
                "interrupted before it finished; the issue made ' || COALESCE(finished_at, "
                "updated_at) || ' is kept', remake_started_at = NULL, remake_run_id = NULL, "
                f"replaces_id = NULL, updated_at = ? WHERE remake_started_at IS NOT NULL AND "
                f"{_UNCLAIMED}", (now,)).rowcount
        return lost + kept


def _state_files(config: OpsConfig) -> Path | None:
    """A file of the configuration's archive or products folder, None if both hold none."""
    for folder in (config.paths.archive, config.paths.products):
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            if files:
                return Path(root) / sorted(files)[0]
    return None
