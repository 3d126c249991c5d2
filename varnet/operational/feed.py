"""A near-real-time feed replayed from a folder of observation files (e.g. the synthetic ocean).

Operations receive each day the files produced since the day before: the along-track file of
data day D is produced (and named, ``nrt_..._{D}_{production}.nc``) on D + 1, the GHRSST
analysis of D arrives on D + 1. :class:`ReplayFeed` plays a folder of such files back into an
inbox as they would have arrived, one production day at a time, so the daemon can be shown on
the synthetic ocean (``varnet-ops daemon --simulate-from``) with the near-real-time re-issues it
makes on real feeds. Files are copied, never moved, and appear in the inbox atomically (a hidden
temporary name, which ingest skips, then a rename).

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from varnet.errors import EXIT_CONFIG, VarnetError
from varnet.io.atomic import atomic_path
from varnet.io.names import parse_alongtrack_filename, parse_ghrsst_filename

log = logging.getLogger("varnet.ops.feed")

__all__ = ["FeedError", "ReplayFeed", "arrival_day"]


class FeedError(VarnetError, ValueError):
    """A feed folder that is missing or holds no observation file."""

    exit_code = EXIT_CONFIG


def arrival_day(name: str) -> dt.date | None:
    """The day a file arrives in near-real time, from its name.

    Parameters
    ----------
    name : str
        A file name.

    Returns
    -------
    datetime.date or None
        An along-track file's production day, the day after a GHRSST file's data day; None
        for any other name.
    """
    try:
        return parse_alongtrack_filename(name).production
    except ValueError:
        pass
    try:
        return parse_ghrsst_filename(name).day + dt.timedelta(days=1)
    except ValueError:
        return None


@dataclass
class ReplayFeed:
    """Delivers the files of ``source`` into ``inbox`` as they would have arrived.

    Raises :class:`FeedError` if ``source`` is missing or holds no observation file.

    Attributes
    ----------
    source : pathlib.Path
        Folder searched recursively for along-track and GHRSST files (other files are left).
    inbox : pathlib.Path
        The operations inbox (created when needed).
    delivered : set of str
        Names already delivered by this feed.
    """

    source: Path
    inbox: Path
    delivered: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.source = Path(self.source)
        self.inbox = Path(self.inbox)
        if not self.source.is_dir():
            raise FeedError(f"feed folder {self.source} does not exist")
        self._arrivals = sorted(
            (day, path) for path in self.source.rglob("*.nc")
            if (day := arrival_day(path.name)) is not None)
        if not self._arrivals:
            raise FeedError(f"feed folder {self.source} holds no along-track or GHRSST file")

    def deliver(self, today: dt.date) -> list[Path]:
        """Copy into the inbox every file arrived by ``today`` and not delivered yet.

        Parameters
        ----------
        today : datetime.date
            The (simulated) production day, UTC.

        Returns
        -------
        list of pathlib.Path
            The inbox files written, in order of arrival.
        """
        written = []
        for day, path in self._arrivals:
            if day > today:
                break
            if path.name in self.delivered:
                continue
            target = self.inbox / path.name
            with atomic_path(target) as tmp:
                shutil.copyfile(path, tmp)
            self.delivered.add(path.name)
            written.append(target)
        log.info("feed: %d file(s) arrived by %s delivered to %s", len(written), today,
                 self.inbox)
        return written
