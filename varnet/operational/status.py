"""What exists, what is missing and why: from the ledger, for people and for monitoring.

:func:`status_report` reads the ledger; :func:`write_status` stores it as JSON in
``{state}/status.json`` (atomically) after every daemon run, for monitoring systems;
``varnet-ops status`` prints :func:`status_lines` and exits with :func:`exit_code`:
:data:`~varnet.errors.EXIT_ATTENTION` (1) when a day of the re-issue window needs a person
(:func:`needs_attention`), 0 otherwise.

For each day of the re-issue window the report gives the product to serve (the day's final,
else its latest issue) or why there is none, and says whether the day is

- **missing**: no usable product (never made, failed, interrupted, or being made);
- **stale**: its final product was made before an input of its window arrived or was replaced
  (:meth:`~varnet.operational.ledger.Ledger.stale_finals`); stale finals are also looked for
  in the :data:`~varnet.operational.runs.OVERDUE_LOOKBACK_DAYS` days before the window, and
  listed with it;
- **flagged**: its product has something a person should read: its file is gone, its maker
  flagged it, a later issue failed or was interrupted (the day is served by an older one), or
  a re-make of it failed or was interrupted (the product made before is kept).

Reading the status first records what died (:meth:`~varnet.operational.ledger.Ledger.
mark_interrupted`): runs whose process is gone are ``interrupted``, and so are the products
they were making.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

from varnet.errors import EXIT_ATTENTION, EXIT_OK
from varnet.io.atomic import atomic_path
from varnet.operational.config import OpsConfig
from varnet.operational.ledger import Ledger, LedgerError, ProductRecord
from varnet.operational.runs import OVERDUE_LOOKBACK_DAYS, days_due, today_utc

__all__ = ["exit_code", "needs_attention", "status_lines", "status_report", "write_status"]

log = logging.getLogger("varnet.ops.status")


def _record_interruptions(ledger: Ledger) -> None:
    """Mark dead runs and products ``interrupted`` (skipped on a read-only ledger)."""
    try:
        ledger.mark_interrupted()
    except LedgerError as exc:
        log.warning("interrupted runs and products not recorded: %s", exc)


def _flags(product: ProductRecord, history: list[ProductRecord]) -> list[str]:
    """What a person should read about the product served for a day."""
    flags = list(product.flags)
    if product.path and not Path(product.path).is_file():
        flags.append(f"its file {product.path} is missing")
    if product.error:
        flags.append(product.error)
    for later in history:
        if later.production_day > product.production_day and later.status in (
                "failed", "interrupted"):
            error = (later.error or "").removeprefix(f"{later.status}: ")
            flags.append(f"the issue of {later.production_day} {later.status}"
                         + (f": {error}" if error else ""))
    return flags


def _day_entry(ledger: Ledger, day: dt.date, stale: dict[dt.date, str]) -> dict[str, Any]:
    history = ledger.product_history(day)
    best = ledger.latest_product(day)
    entry: dict[str, Any] = {"status": "missing", "issue": None, "path": None, "error": None,
                             "stale": None, "flags": []}
    if best is not None:
        entry.update(status=best.status, issue=str(best.production_day), path=best.path,
                     stale=stale.get(day), flags=_flags(best, history))
    elif history:
        latest = history[-1]
        entry.update(status=latest.status, issue=str(latest.production_day),
                     error=latest.error)
    else:
        entry["error"] = "not made yet (no run since it became due)"
    return entry


def status_report(config: OpsConfig, ledger: Ledger, today: dt.date | None = None
                  ) -> dict[str, Any]:
    """The last runs and, for each day of the re-issue window (and each stale final of the
    :data:`~varnet.operational.runs.OVERDUE_LOOKBACK_DAYS` before it), its product or why not.

    Parameters
    ----------
    config : OpsConfig
        The configuration.
    ledger : Ledger
        Its ledger.
    today : datetime.date, optional
        Production day to report for (default today, UTC).

    Returns
    -------
    dict
        ``today``; ``last_run`` (id, kind, status - ``interrupted`` if its process died -,
        start, end, error); ``days`` (per product day: ``status`` - the served product's
        ``final`` or ``ok``, else ``missing``, ``failed``, ``interrupted`` or
        ``in-progress`` -, ``issue``, ``path``, ``error``, ``stale`` - why its final is
        stale, or None - and ``flags``); ``missing`` (days without a usable product),
        ``stale`` and ``flagged`` (days); ``attention`` (whether any of those three lists
        is not empty: :func:`needs_attention`).
    """
    today = today or today_utc()
    production = config.production
    _record_interruptions(ledger)
    runs = ledger.recent_runs(1)
    last = runs[0] if runs else None
    due = days_due(today, production.lag_days, production.reissue_days)
    lookback = due[0] - dt.timedelta(days=OVERDUE_LOOKBACK_DAYS)
    stale = {s.day: s.reason for s in ledger.stale_finals(lookback, due[-1])}
    days = {str(day): _day_entry(ledger, day, stale) for day in sorted({*due, *stale})}
    report = {
        "today": str(today),
        "last_run": None if last is None else {
            "id": last.id, "kind": last.kind, "status": last.status,
            "started": last.started, "finished": last.finished, "error": last.error},
        "days": days,
        "missing": [d for d, e in days.items() if e["status"] not in ("ok", "final")],
        "stale": [d for d, e in days.items() if e["stale"]],
        "flagged": [d for d, e in days.items() if e["flags"]],
    }
    report["attention"] = needs_attention(report)
    return report


def needs_attention(report: dict[str, Any]) -> bool:
    """Whether a day of the report's re-issue window is missing, failed, interrupted, stale
    or flagged."""
    return bool(report["missing"] or report.get("stale") or report.get("flagged"))


def exit_code(report: dict[str, Any]) -> int:
    """The exit status of ``varnet-ops status``: :data:`~varnet.errors.EXIT_ATTENTION` (1)
    when :func:`needs_attention`, else :data:`~varnet.errors.EXIT_OK` (0)."""
    return EXIT_ATTENTION if needs_attention(report) else EXIT_OK


def write_status(config: OpsConfig, ledger: Ledger, today: dt.date | None = None) -> None:
    """Write :func:`status_report` to the configuration's status file, atomically.

    ``today``: the production day to report for (default today, UTC); pass the run's, so
    that a run for another day (``varnet-ops run --day``) reports the days it looked after.
    """
    path = config.paths.status_file
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(status_report(config, ledger, today), indent=2) + "\n")


def _run_line(run: dict[str, Any] | None) -> str:
    if run is None:
        return "last run: none yet"
    finished = run["finished"] or ("(running)" if run["status"] == "running" else "never")
    return (f"last run: #{run['id']} {run['kind']} {run['status']}, started {run['started']}, "
            f"finished {finished}" + (f"; error: {run['error']}" if run["error"] else ""))


def _day_line(day: str, entry: dict[str, Any]) -> str:
    text = f"  {day}: {entry['status']}"
    if entry["issue"]:
        text += f" (issue {entry['issue']})"
    if entry["path"]:
        text += f" {entry['path']}"
    if entry["error"]:
        text += f" - {entry['error']}"
    if entry.get("stale"):
        text += f" - stale: {entry['stale']}"
    for flag in entry.get("flags", ()):
        text += f" - flagged: {flag}"
    return text


def status_lines(report: dict[str, Any]) -> list[str]:
    """A person-readable rendering of :func:`status_report`; the last line lists the missing
    days."""
    lines = [f"status on {report['today']}", _run_line(report["last_run"])]
    lines += [_day_line(day, entry) for day, entry in report["days"].items()]
    for key in ("stale", "flagged"):
        if report.get(key):
            lines.append(f"{key}: " + ", ".join(report[key]))
    lines.append("missing: " + (", ".join(report["missing"]) or "nothing"))
    return lines
