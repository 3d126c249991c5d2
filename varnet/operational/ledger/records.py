"""The rows of the ledger as frozen dataclasses: inputs, runs, products, stale finals, claims.

Each record type has ``from_row``, which reads one ``sqlite3.Row`` of its table (selected
with ``SELECT *``).

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from varnet.operational.ledger.schema import USABLE_STATUSES
from varnet.operational.ledger.times import parse_day

__all__ = ["Claim", "InputRecord", "ProductRecord", "RunRecord", "StaleFinal"]


@dataclass(frozen=True)
class InputRecord:
    """One row of ``inputs``: an observation file ingest has handled.

    Attributes
    ----------
    id : int
    path : str
        Where the file lies now (archive or quarantine), absolute.
    original_name : str
        Its name in the inbox.
    kind : str
        Observation kind, free text (``"alongtrack"``, ``"sst"``, ``"unknown"`` for a name
        ingest did not recognise; a new kind such as ``"swot"`` needs no schema change).
    mission : str or None
        Along-track mission short name.
    level : str or None
        GHRSST processing level (L4, L3S, L3C, L3U).
    data_day : datetime.date or None
        Day (UTC) the data cover, from the file name.
    production_day : datetime.date or None
        Production day: from the name (along-track), else the file's ``date_created``.
    file_created : str or None
        The file's ``date_created`` attribute, as written.
    sha256 : str
        Hex SHA-256 of the file's bytes.
    size : int
        Size in bytes.
    ingested_at : str
        When ingest handled it (UTC timestamp).
    status : {"ok", "quarantined", "superseded"}
    reason : str or None
        Why it was quarantined or superseded.
    """

    id: int
    path: str
    original_name: str
    kind: str
    mission: str | None
    level: str | None
    data_day: dt.date | None
    production_day: dt.date | None
    file_created: str | None
    sha256: str
    size: int
    ingested_at: str
    status: str
    reason: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> InputRecord:
        """The record of one ``inputs`` row."""
        return cls(
            id=row["id"], path=row["path"], original_name=row["original_name"],
            kind=row["kind"], mission=row["mission"], level=row["level"],
            data_day=parse_day(row["data_day"]), production_day=parse_day(row["production_day"]),
            file_created=row["file_created"], sha256=row["sha256"], size=row["size"],
            ingested_at=row["ingested_at"], status=row["status"], reason=row["reason"],
        )

    def reference(self) -> dict[str, str]:
        """The JSON form stored in a product's ``inputs_used``: name, path and sha256."""
        return {"name": self.original_name, "path": self.path, "sha256": self.sha256}


@dataclass(frozen=True)
class RunRecord:
    """One row of ``runs``. Timestamps are UTC ledger timestamps.

    Attributes
    ----------
    id : int
    kind : {"daily", "reprocess", "daemon", "rebuild"}
    started, finished : str, str or None
        When it started and ended (None while it runs, or if it was interrupted).
    status : {"running", "ok", "failed", "interrupted"}
    error : str or None
        What went wrong.
    host : str
        Host name of its process.
    pid : int
        Its process id.
    pid_start : str or None
        Start time of that process (to tell a reused pid), where known.
    region : str
        :func:`~varnet.operational.ledger.region_key` of the region it made products for
        (``""``: recorded before runs had a region, or by a ledger opened without one).
    """

    id: int
    kind: str
    started: str
    finished: str | None
    status: str
    error: str | None
    host: str
    pid: int
    pid_start: str | None = None
    region: str = ""

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> RunRecord:
        """The record of one ``runs`` row."""
        return cls(**{k: row[k] for k in row.keys()})


@dataclass(frozen=True)
class ProductRecord:
    """One row of ``products``: an attempt at the product of one day on one production day.

    Attributes
    ----------
    id : int
    product_day : datetime.date
        Day the product maps.
    production_day : datetime.date
        Day it was made (its issue).
    run_id : int or None
        The run that made it.
    path : str or None
        The product file (None until it exists).
    status : {"in-progress", "ok", "failed", "final", "interrupted", "replaced"}
    inputs_used : tuple of dict
        The input files it was made from (``name``, ``path``, ``sha256`` each).
    model_checksum : str or None
        Checksum of the ONNX model used.
    timings : dict
        Seconds spent per stage, as the producer recorded them.
    error : str or None
        Why it failed; on a usable row, why a re-make of it did not replace it.
    attempts : int
        How many times this (product day, production day) was started.
    started_at, updated_at : str
        UTC timestamps of the start of the product recorded (or of the latest attempt) and
        of the latest change.
    region : str
        :func:`~varnet.operational.ledger.region_key` of its region (``""``: unknown,
        recorded before regions were).
    finished_at : str or None
        When its file was recorded.
    window : tuple of datetime.date or None
        First and last data day whose files can change it.
    flags : tuple of str
        What its maker flagged for a person to look at (sentences).
    remake_started_at : str or None
        A re-make of this usable row is in progress since then: the row still describes the
        product made before, until the new file replaces it.
    replaces_id : int or None
        The final row (another production day) this attempt replaces when it finishes final.
    """

    id: int
    product_day: dt.date
    production_day: dt.date
    run_id: int | None
    path: str | None
    status: str
    inputs_used: tuple[dict[str, str], ...]
    model_checksum: str | None
    timings: dict[str, Any]
    error: str | None
    attempts: int
    started_at: str
    updated_at: str
    region: str = ""
    finished_at: str | None = None
    window: tuple[dt.date, dt.date] | None = None
    flags: tuple[str, ...] = ()
    remake_started_at: str | None = None
    replaces_id: int | None = None

    @property
    def usable(self) -> bool:
        """Whether it is a product to serve (``ok`` or ``final``)."""
        return self.status in USABLE_STATUSES

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ProductRecord:
        """The record of one ``products`` row."""
        first, last = parse_day(row["window_first"]), parse_day(row["window_last"])
        return cls(
            id=row["id"], product_day=dt.date.fromisoformat(row["product_day"]),
            production_day=dt.date.fromisoformat(row["production_day"]), run_id=row["run_id"],
            path=row["path"], status=row["status"],
            inputs_used=tuple(json.loads(row["inputs_used"])),
            model_checksum=row["model_checksum"], timings=json.loads(row["timings"]),
            error=row["error"], attempts=row["attempts"], started_at=row["started_at"],
            updated_at=row["updated_at"], region=row["region"],
            finished_at=row["finished_at"],
            window=(first, last) if first and last else None,
            flags=tuple(json.loads(row["flags"])),
            remake_started_at=row["remake_started_at"], replaces_id=row["replaces_id"],
        )


@dataclass(frozen=True)
class StaleFinal:
    """A final product whose inputs changed after it was made
    (:meth:`~varnet.operational.ledger.Ledger.stale_finals`).

    Attributes
    ----------
    product : ProductRecord
        The final product.
    reason : str
        For a person: ``"inputs changed after the final product (file X archived at T)"``.
    inputs : tuple of InputRecord
        The files that arrived after it (status ``ok``), or the superseded files it used.
    """

    product: ProductRecord
    reason: str
    inputs: tuple[InputRecord, ...]

    @property
    def day(self) -> dt.date:
        """The product day."""
        return self.product.product_day


@dataclass(frozen=True)
class Claim:
    """One row of ``claims``: the process making the product of one day of one region now.

    Attributes
    ----------
    product_day : datetime.date
        The product day claimed.
    owner : str
        The claiming ledger object's token, ``host:pid:random``.
    host : str
        Host name of the claiming process.
    pid : int
        Its process id.
    pid_start : str or None
        Start time of that process (to tell a reused pid), where known.
    claimed_at : str
        When it claimed the day (UTC ledger timestamp).
    region : str
        :func:`~varnet.operational.ledger.region_key` of the product claimed.
    """

    product_day: dt.date
    owner: str
    host: str
    pid: int
    pid_start: str | None
    claimed_at: str
    region: str = ""

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Claim:
        """The record of one ``claims`` row."""
        return cls(product_day=dt.date.fromisoformat(row["product_day"]), owner=row["owner"],
                   host=row["host"], pid=row["pid"], pid_start=row["pid_start"],
                   claimed_at=row["claimed_at"], region=row["region"])
