"""The report of ``varnet-osse realism``: :func:`realism_report` reads both sources, measures
and summarises them, writes ``realism.json`` (NaN-free, with each target's verdicts) and the
figure, and :func:`format_table` prints the report as a short text table.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from pathlib import Path

from varnet.io.atomic import atomic_path
from varnet.osse.realism.box import Box
from varnet.osse.realism.figure import format_value, plot_side_by_side
from varnet.osse.realism.sources import read_duacs, read_truth_days
from varnet.osse.realism.statistics import (
    STATISTICS,
    TARGETS,
    Stats,
    day_statistics,
    summarise,
    verdicts,
)

__all__ = ["format_table", "realism_report"]


def _json_value(value: object) -> object:
    """NaN-free JSON values (NaN and infinities as null)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    return value


def _targets(ours: dict[str, dict[str, float] | None], ours_day: Stats,
             real: dict[str, dict[str, float] | None]) -> dict[str, dict[str, object]]:
    """Each target's range and the verdicts of ours (mean over days), our day, the real day."""
    def means(summary: dict[str, dict[str, float] | None]) -> dict[str, float | None]:
        return {k: None if v is None else v["mean"] for k, v in summary.items()}

    passes = {"ours": verdicts(means(ours)), "ours_day": verdicts(ours_day),
              "real": verdicts(means(real))}
    return {name: {"min": low, "max": high, **{who: p[name] for who, p in passes.items()}}
            for name, (low, high) in TARGETS.items()}


def realism_report(truth: str | os.PathLike[str], duacs: str | os.PathLike[str], box: Box,
                   out_dir: str | os.PathLike[str], day: dt.date | None = None
                   ) -> dict[str, object]:
    """Measure a truth file against a DUACS L4 file; write ``realism.json`` and ``realism.png``.

    Parameters
    ----------
    truth : str or os.PathLike
        A ``truth.nc`` of ``varnet-osse generate``.
    duacs : str or os.PathLike
        A DUACS L4 file (read, never copied).
    box : Box
        The region measured.
    out_dir : str or os.PathLike
        Folder written (created if needed).
    day : datetime.date, optional
        The truth's day drawn and reported alone; its first day when None.

    Returns
    -------
    dict
        The report written to ``realism.json``: ``ours`` (mean, min, max of each statistic
        over all days of the truth), ``ours_day``, ``real`` (over the file's days), and
        ``targets`` (each range with the verdicts of ``ours``'s means, ``ours_day`` and
        ``real``'s means: true, false, or null where the statistic is absent).

    Raises
    ------
    InputFileError
        If a file cannot be used (naming it and why).
    InputError
        If the truth's cells do not nest in the product's.
    """
    out = Path(out_dir)
    real_days = read_duacs(duacs, box)
    ours_days, chosen = read_truth_days(truth, real_days[0].grid, box, day)
    real_stats = [day_statistics(d, box) for d in real_days]
    ours = summarise(ours_days)
    ours_day = day_statistics(chosen, box)
    real = summarise(real_stats)
    report = _json_value({
        "box": {"lat_min": box.lat_min, "lat_max": box.lat_max, "lon_min": box.lon_min,
                "lon_max": box.lon_max},
        "truth": str(truth), "duacs": str(duacs),
        "cell_size_deg": list(real_days[0].grid.resolution_deg),
        "ours": {"days": len(ours_days), "statistics": ours},
        "ours_day": {"day": chosen.date, "statistics": ours_day},
        "real": {"days": [d.date for d in real_days], "statistics": real},
        "targets": _targets(ours, ours_day, real),
    })
    with atomic_path(out / "realism.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    plot_side_by_side(chosen, real_days[0], box, out / "realism.png")
    return report


def _cell(value: float | None, verdict: bool | None) -> str:
    """``value`` with its verdict (`` ok``, `` FAIL``, nothing without a target)."""
    return format_value(value) + ("" if verdict is None else " ok" if verdict else " FAIL")


def format_table(report: dict) -> str:
    """The report of :func:`realism_report` as a short text table."""
    ours, real = report["ours"]["statistics"], report["real"]["statistics"]
    day = report["ours_day"]
    rows = [("statistic", "target", f"ours, {report['ours']['days']} days: mean (min to max)",
             f"ours {day['day']}", f"real {', '.join(report['real']['days'])}")]
    for name, (label, unit) in STATISTICS.items():
        target = report["targets"].get(name, {})
        low, high = target.get("min"), target.get("max")
        span = "" if not target else (f">= {low:g}" if high is None else f"{low:g}-{high:g}")
        o, r = ours[name], real[name]
        rows.append((
            f"{label} ({unit})" if unit else label, span,
            "absent" if o is None else f"{_cell(o['mean'], target.get('ours'))} "
                                       f"({o['min']:.2f} to {o['max']:.2f})",
            _cell(day["statistics"][name], target.get("ours_day")),
            "absent" if r is None else _cell(r["mean"], target.get("real"))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)
