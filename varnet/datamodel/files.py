"""The observation files of a folder tree, indexed by kind and day (training's inputs).

:func:`find_input_files` indexes a synthetic ocean's folder (or any archive tree) with the
observation kinds of the registry (:mod:`varnet.datamodel.kinds`): each kind recognises its
files by name and chooses, by its one rule, the files the model uses (the newest production
of each along-track mission and day, the preferred SST level of each day). Operations choose
from the ledger instead (:func:`varnet.operational.pipeline.select_inputs`), with the same
rule. :func:`read_alongtrack_files` reads and concatenates along-track files.

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from varnet.datamodel import kinds as observation_kinds
from varnet.datamodel.kinds import KindOptions, ObservationFile, choose
from varnet.io.names import GHRSST_LEVELS
from varnet.io.readers import AlongTrack, concat_alongtrack, read_alongtrack

__all__ = ["InputFiles", "find_input_files", "read_alongtrack_files"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InputFiles:
    """The observation files of a folder tree, indexed by kind and day.

    Attributes
    ----------
    files : dict of str to dict of datetime.date to tuple of ObservationFile
        For each registered kind (:mod:`varnet.datamodel.kinds`, by name), the files used on
        each data day, in day order: one per use slot of the kind (along-track: one per
        mission, the latest production of that mission and day, sorted by mission; SST: one,
        of the most preferred level); a kind without files has an empty dict.
    """

    files: Mapping[str, Mapping[dt.date, tuple[ObservationFile, ...]]]

    def by_day(self, kind: str) -> dict[dt.date, list[Path]]:
        """The files of one kind by data day.

        Parameters
        ----------
        kind : str
            The kind's name (``"alongtrack"``, ``"sst"``...).

        Returns
        -------
        dict of datetime.date to list of Path
            Sorted by day; empty for a kind without files.
        """
        return {day: [f.path for f in files] for day, files in self.files.get(kind, {}).items()}

    def paths(self, kind: str, days: Iterable[dt.date] | None = None) -> list[Path]:
        """The files of one kind on some days (every day when None), in day order."""
        by_day = self.files.get(kind, {})
        days = by_day if days is None else days
        return [f.path for day in days for f in by_day.get(day, ())]

    @property
    def alongtrack(self) -> dict[dt.date, list[Path]]:
        """Along-track SSH files by data day, one per mission (the latest production of that
        mission and day), sorted by mission."""
        return self.by_day("alongtrack")

    @property
    def sst(self) -> dict[dt.date, Path]:
        """One SST file per day, of the most preferred processing level available that day."""
        return {day: paths[0] for day, paths in self.by_day("sst").items()}

    @property
    def missions(self) -> list[str]:
        """Mission short names that have at least one along-track file, sorted."""
        return sorted({f.mission for files in self.files.get("alongtrack", {}).values()
                       for f in files})

    def alongtrack_paths(
        self, days: Iterable[dt.date], missions: Sequence[str] | None = None
    ) -> list[Path]:
        """Along-track files of some days and missions, in day then mission order.

        Parameters
        ----------
        days : iterable of datetime.date
            Data days; days without files contribute nothing.
        missions : sequence of str, optional
            Mission short names to keep (all when None).

        Returns
        -------
        list of Path
        """
        keep = None if missions is None else set(missions)
        by_day = self.files.get("alongtrack", {})
        return [f.path for day in days for f in by_day.get(day, ())
                if keep is None or f.mission in keep]


def find_input_files(
    directory: str | os.PathLike[str],
    sst_levels: Sequence[str] = GHRSST_LEVELS,
) -> InputFiles:
    """Index the observation files under a folder, searched recursively, by kind and day.

    Files are recognised by name only, by the kinds of the registry
    (:meth:`varnet.datamodel.kinds.ObservationKind.index`: CMEMS L3 along-track, GHRSST GDS
    2.0...); other files (the truth, caches, notes) are ignored, and contents are not read.

    Parameters
    ----------
    directory : str or os.PathLike
        Root of the tree (e.g. a synthetic ocean's folder, with ``alongtrack/`` and
        ``sst/l4/``, ``sst/l3/``, or a real archive with year/month sub-folders).
    sst_levels : sequence of str, optional
        GHRSST processing levels to use, most preferred first (from ``"L4"``, ``"L3S"``,
        ``"L3C"``, ``"L3U"``); files of other levels are ignored. A day with files of several
        levels gets the most preferred one.

    Returns
    -------
    InputFiles
        For each kind, the files its rule chooses (:func:`varnet.datamodel.kinds.choose`,
        the newest production wins): for each (mission, data day) the along-track file of the
        latest production day (a delayed-time ``dt`` file wins over a near-real-time ``nrt``
        one of the same production day); for each day the SST file of the preferred level.
        Where two files remain equal on these criteria (the same name in two sub-folders, two
        L4 analyses of the same day), the first by path is kept and a warning is logged.

    Raises
    ------
    FileNotFoundError
        If ``directory`` is not a folder.
    ValueError
        If ``sst_levels`` is empty, a string, or names an unknown level.
    """
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder of observation files")
    if isinstance(sst_levels, str) or not sst_levels:
        raise ValueError(f"sst_levels: expected a non-empty sequence of levels such as "
                         f"('L4', 'L3S'), got {sst_levels!r}")
    unknown = [lv for lv in sst_levels if lv not in GHRSST_LEVELS]
    if unknown:
        raise ValueError(f"sst_levels: unknown level(s) {unknown}; expected L4, L3S, L3C or L3U")
    options = KindOptions(sst_levels=tuple(sst_levels))

    registered = observation_kinds.kinds()
    found: dict[str, list[ObservationFile]] = {kind.name: [] for kind in registered}
    for path in sorted(root.rglob("*")):
        for kind in registered:
            file = kind.index(path)
            if file is not None:
                if path.is_file():
                    found[kind.name].append(file)
                break

    files: dict[str, dict[dt.date, tuple[ObservationFile, ...]]] = {}
    for kind in registered:
        choice = choose(kind, found[kind.name], options)
        for kept, ignored in choice.ties:
            log.warning("two %s: using %s, ignoring %s", kind.tie_label(kept), kept.path,
                        ignored.path)
        by_day: dict[dt.date, list[ObservationFile]] = {}
        for file in choice.chosen:
            by_day.setdefault(file.data_day, []).append(file)
        files[kind.name] = {day: tuple(sorted(by_day[day], key=_within_day))
                            for day in sorted(by_day)}
    return InputFiles(files)


def _within_day(file: ObservationFile) -> tuple[str, str, str]:
    """Order of the files of one kind and day: mission, level, name."""
    return (file.mission or "", file.level or "", file.name)


def read_alongtrack_files(paths: Iterable[str | os.PathLike[str]]) -> AlongTrack:
    """Read along-track files and concatenate their points in time order.

    Parameters
    ----------
    paths : iterable of str or os.PathLike
        CMEMS L3 along-track files (e.g. from :meth:`InputFiles.alongtrack_paths`).

    Returns
    -------
    AlongTrack
        All points of all files, sorted by time (SLA in m from ``sla_filtered``); empty when
        ``paths`` is empty.

    Raises
    ------
    varnet.io.readers.InputFileError
        If a file cannot be used; the message names the file and the problem.
    """
    return concat_alongtrack([read_alongtrack(p) for p in paths])
