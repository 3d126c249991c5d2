"""What exists, what is missing and why: from the ledger, for people and for monitoring.

:func:`status_report` reads the ledger; :func:`write_status` stores it as JSON in
``{state}/status.json`` (atomically) after every daemon run, for monitoring systems;
``varnet-ops status`` prints :func:`status_lines`.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from varnet.io.atomic import atomic_path
from varnet.operational.config import OpsConfig
from varnet.operational.ledger import Ledger
from varnet.operational.runs import days_due, today_utc

__all__ = ["status_lines", "status_report", "write_status"]


def status_report(config: OpsConfig, ledger: Ledger, today: dt.date | None = None
                  ) -> dict[str, Any]:
    """The last runs and, for each day of the re-issue window, its latest product or why not.

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
        ``today``, ``last_run`` (kind, status, start, end, error), ``days`` (per product
        day: status, latest issue, path, error), ``missing`` (days without a usable product).
    """
    today = today or today_utc()
    production = config.production
    runs = ledger.recent_runs(1)
    last = runs[0] if runs else None
    days: dict[str, dict[str, Any]] = {}
    missing = []
    for day in days_due(today, production.lag_days, production.reissue_days):
        history = ledger.product_history(day)
        usable = [p for p in history if p.status in ("ok", "final")]
        latest = history[-1] if history else None
        entry: dict[str, Any] = {"status": "missing", "issue": None, "path": None,
                                 "error": None}
        if usable:
            best = usable[-1]
            entry.update(status=best.status, issue=str(best.production_day), path=best.path)
        else:
            missing.append(str(day))
            if latest is not None:
                entry.update(status=latest.status, issue=str(latest.production_day),
                             error=latest.error)
            else:
                entry["error"] = "not made yet (no run since it became due)"
        days[str(day)] = entry
    return {
        "today": str(today),
        "last_run": None if last is None else {
            "id": last.id, "kind": last.kind, "status": last.status,
            "started": last.started, "finished": last.finished, "error": last.error},
        "days": days,
        "missing": missing,
    }


def write_status(config: OpsConfig, ledger: Ledger, today: dt.date | None = None) -> None:
    """Write :func:`status_report` to the configuration's status file, atomically.

    ``today``: the production day to report for (default today, UTC); pass the run's, so
    that a run for another day (``varnet-ops run --day``) reports the days it looked after.
    """
    path = config.paths.status_file
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(status_report(config, ledger, today), indent=2) + "\n")


def status_lines(report: dict[str, Any]) -> list[str]:
    """A person-readable rendering of :func:`status_report`."""
    run = report["last_run"]
    lines = [f"status on {report['today']}"]
    if run is None:
        lines.append("last run: none yet")
    else:
        lines.append(f"last run: #{run['id']} {run['kind']} {run['status']}, started "
                     f"{run['started']}, finished {run['finished'] or '(running)'}"
                     + (f"; error: {run['error']}" if run["error"] else ""))
    for day, entry in report["days"].items():
        text = f"  {day}: {entry['status']}"
        if entry["issue"]:
            text += f" (issue {entry['issue']})"
        if entry["path"]:
            text += f" {entry['path']}"
        if entry["error"]:
            text += f" - {entry['error']}"
        lines.append(text)
    lines.append("missing: " + (", ".join(report["missing"]) or "nothing"))
    return lines
