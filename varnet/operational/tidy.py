"""What a killed maker of a product leaves behind, removed or put right.

A maker is killed (SIGKILL, a lost machine) at any instant of :meth:`~varnet.operational.
pipeline.Producer.make`; the ledger then says what it knew (the row ``interrupted``, see
:meth:`~varnet.operational.ledger.Ledger.mark_interrupted`) and the product folder may hold:

- **temporaries**: the hidden ``.*.tmp`` file of an atomic write not yet renamed;
- **an orphan**: a product file written and linked from ``latest/`` but never recorded (its
  row is not ``ok`` nor ``final``): it is deleted with its quicklook, and ``latest/`` points
  at the day's recorded product again;
- **a replaced final still in place**: a final replaced by one of another production day
  (``--force``, a stale final made again) is moved to :data:`REPLACED_FOLDER` with its
  quicklook and its row follows it, so the folder holds one file saying ``final`` per day;
- **a link left behind**: a product recorded by a maker killed before it moved ``latest/``
  (the link moves only after the ledger records): the link still names an older issue, or
  is missing.

:func:`tidy_day` does all four for one day whose claim is held (every maker calls it before
it makes the day); :func:`tidy_interrupted` does it, at the start of every run, for the days
whose maker died and the days whose link is behind, so that a day nobody makes again (a
final day whose forced re-make was killed, a final recorded just before a SIGKILL) is not
left with an orphan that ``latest/`` points at, nor with ``latest/`` on an older issue.

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

from varnet.operational.config import OpsConfig
from varnet.operational.ledger import Ledger, ProductRecord
from varnet.operational.products import latest_filename, product_filename, update_latest_link

__all__ = ["REPLACED_FOLDER", "tidy_day", "tidy_interrupted"]

log = logging.getLogger("varnet.ops.product")

#: Sub-folder of the product folder holding the files of replaced finals.
REPLACED_FOLDER = "replaced"


def _products(config: OpsConfig) -> Path:
    return Path(config.paths.products)


def _remove_temporaries(config: OpsConfig, day: dt.date) -> None:
    """Delete the temporary files a killed writer of ``day`` left."""
    directory = _products(config)
    pattern = f".{config.name}_varnet_phy_l4_{day:%Y%m%d}*.tmp"
    for stale in [*directory.glob(pattern), *(directory / "latest").glob(pattern)]:
        log.warning("removing %s, left by an interrupted writer", stale)
        stale.unlink(missing_ok=True)


def _orphans(config: OpsConfig, ledger: Ledger, day: dt.date) -> list[tuple[Path, str]]:
    """Product files of ``day`` whose row is neither ``ok`` nor ``final`` and names no file
    (written by a maker that died before recording them), with the row's status."""
    history = ledger.product_history(day)
    recorded = {r.path for r in history if r.path}
    found = []
    for row in history:
        orphan = _products(config) / product_filename(config.name, day, row.production_day)
        if row.status not in ("ok", "final") and orphan.is_file() and (
                str(orphan) not in recorded):
            found.append((orphan, row.status))
    return found


def _remove_orphans(config: OpsConfig, ledger: Ledger, day: dt.date) -> bool:
    """Delete the orphans of ``day`` (:func:`_orphans`) and their quicklooks."""
    found = _orphans(config, ledger, day)
    for orphan, status in found:
        log.warning("removing %s: written by a maker that stopped before recording it (its "
                    "row is %s)", orphan, status)
        orphan.unlink()
        orphan.with_suffix(".png").unlink(missing_ok=True)
    return bool(found)


def _unmoved_replaced(config: OpsConfig, ledger: Ledger, day: dt.date) -> list:
    """Rows of ``day``'s replaced finals whose file is still in the product folder (a file
    elsewhere is never moved)."""
    return [row for row in ledger.product_history(day)
            if row.status == "replaced" and row.path
            and Path(row.path).parent == _products(config)]


def _set_aside_replaced(config: OpsConfig, ledger: Ledger, day: dt.date) -> bool:
    """Move the files of ``day``'s replaced finals into :data:`REPLACED_FOLDER` (also
    finishing a move a killed maker left half-done) and record their new path."""
    aside = _products(config) / REPLACED_FOLDER
    moved = False
    for row in _unmoved_replaced(config, ledger, day):
        path, target = Path(row.path), aside / Path(row.path).name
        if path.is_file():
            aside.mkdir(exist_ok=True)
            os.replace(path, target)
            if path.with_suffix(".png").is_file():
                os.replace(path.with_suffix(".png"), target.with_suffix(".png"))
            log.info("product %s: the replaced final %s is set aside in %s/", day, path.name,
                     REPLACED_FOLDER)
        if target.is_file():
            ledger.set_product_path(row.id, target)
            moved = True
    return moved


def _link_behind(config: OpsConfig, day: dt.date, usable: ProductRecord | None) -> bool:
    """Whether ``latest/`` of ``day`` is missing or names another file than ``usable``, the
    day's recorded product (a maker killed between recording it and moving the link)."""
    if usable is None or not usable.path or not Path(usable.path).is_file():
        return False
    link = _products(config) / "latest" / latest_filename(config.name, day)
    try:
        target = (link.parent / os.readlink(link)).resolve()
    except OSError:  # no link: the maker died before it made the first one
        return True
    return target != Path(usable.path).resolve()


def tidy_day(config: OpsConfig, ledger: Ledger, day: dt.date) -> None:
    """Remove or put right what killed makers of ``day`` left (module docstring), and point
    ``latest/`` at the day's product if anything moved or the link is behind. The caller
    holds the day's claim: no other writer of the day is alive."""
    _remove_temporaries(config, day)
    changed = _remove_orphans(config, ledger, day)
    changed = _set_aside_replaced(config, ledger, day) or changed
    usable = ledger.latest_product(day)
    if (changed or _link_behind(config, day, usable)) and usable is not None \
            and usable.path and Path(usable.path).is_file():
        if not changed:
            log.warning("latest/ of %s pointed at another issue than its recorded product %s "
                        "(a maker stopped between the two); linked again", day,
                        Path(usable.path).name)
        update_latest_link(_products(config), config.name, day, usable.path)


def tidy_interrupted(config: OpsConfig, ledger: Ledger) -> list[dt.date]:
    """Record what died (:meth:`~varnet.operational.ledger.Ledger.mark_interrupted`), then
    :func:`tidy_day` each day with an orphan, a replaced final still in place or a
    ``latest/`` link behind its recorded product, under its claim (a day another process
    holds is left to it).

    Returns
    -------
    list of datetime.date
        The days tidied.
    """
    ledger.mark_interrupted()
    # a file is left unrecorded only by a maker that died (its row is interrupted); a maker
    # whose record was refused removes its own file (Producer.record)
    usable = ledger.latest_products(dt.date.min, dt.date.max)
    days = sorted({row.product_day
                   for row in ledger.products_with_status("interrupted", "replaced")}
                  | {day for day, row in usable.items() if _link_behind(config, day, row)})
    tidied = []
    for day in days:
        if not (_orphans(config, ledger, day) or _unmoved_replaced(config, ledger, day)
                or _link_behind(config, day, ledger.latest_product(day))):
            continue
        with ledger.claimed(day) as mine:
            if mine:
                tidy_day(config, ledger, day)
                tidied.append(day)
    return tidied
