"""The along-track kind: CMEMS SEALEVEL_GLO_PHY_L3 SSH files (NRT and MY), one per mission and
data day.

- Names: every CMEMS L3 form (:mod:`varnet.io.names`), and the extractions over a period the
  ocean data challenges distribute, which ingest splits into one CMEMS daily file per day
  (:meth:`AlongTrackKind.split`). A file under another name is recognised by its content
  (:func:`~varnet.io.readers.identify_alongtrack`: ``platform`` and time coverage
  attributes) and archived under its CMEMS name.
- Checks: the reader's (:func:`~varnet.io.readers.read_alongtrack`: variables, units, times
  within the data day, values), and at least one valid value (an empty pass is valid; a file
  whose points all lack a value is not); the mission must be in ``production.missions``.
- Order: one file per mission and data day, the newest production wins: later production
  day, then delayed time (``dt``) over near-real time (``nrt``), then later
  ``date_created``.
- Model inputs: the daily cell means of the SLA, ``obs``, and the optimal interpolation's
  first guess, ``oi`` (and its error variance), from the observations of the OI's reach
  around the window (:func:`oi_reach_days`).

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Hashable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from varnet.datamodel.grid import Grid
from varnet.datamodel.gridding import (
    cached_oi_first_guess,
    gridded_ssh_observations,
    oi_first_guess,
)
from varnet.datamodel.kinds.base import (
    GriddingOptions,
    Identity,
    KindOptions,
    ObservationFile,
    ObservationKind,
    netcdf_date_created,
)
from varnet.io import readers
from varnet.io.missions import MISSIONS
from varnet.io.names import ALONGTRACK_PATTERN, alongtrack_filename, parse_alongtrack_filename
from varnet.io.readers import (
    AlongTrack,
    AlongTrackIdentity,
    InputFileError,
    concat_alongtrack,
    identify_alongtrack,
    read_alongtrack,
)
from varnet.io.writers import write_alongtrack
from varnet.kernels.oi import OIConfig

__all__ = ["AlongTrackKind", "oi_reach_days"]


def oi_reach_days(oi: OIConfig) -> int:
    """Days of along-track data the OI of one day uses on each side (as training prepares).

    Parameters
    ----------
    oi : OIConfig
        The OI's parameters.

    Returns
    -------
    int
        ``ceil(cutoff x time_scale_days + superob_days) + 1``, days.
    """
    return math.ceil(oi.cutoff * oi.time_scale_days + oi.superob_days) + 1


class AlongTrackKind(ObservationKind):
    """CMEMS L3 along-track SSH (see the module docstring); the ledger's ``"alongtrack"``."""

    name = "alongtrack"
    expected_name = f"a CMEMS L3 along-track name {ALONGTRACK_PATTERN}"
    outputs = ("obs", "oi", "oi_error_variance")
    #: The OI first guess is 0 m on land for the model (the anomaly's mean; the OI makes no
    #: estimate there).
    land_fill: ClassVar[dict[str, float]] = {"oi": 0.0}

    # --- recognising ------------------------------------------------------------------------

    def identify_name(self, name: str) -> Identity | None:
        """A daily CMEMS L3 name in any of its forms, or an extraction over a period (an
        identity over several days, :meth:`split` at ingest); None for other names."""
        at = readers._identity_from_name(name)
        return None if at is None else self._identity(at)

    def identify_content(self, path: Path, today: dt.date) -> Identity | str:
        """An along-track file under another name, by its ``platform`` and time coverage
        attributes; it is archived under its CMEMS name (production day: its
        ``date_created``, else ``today``)."""
        try:
            at = identify_alongtrack(path)
        except InputFileError as exc:
            return f", and the content is not an L3 along-track file: {exc.problem}"
        if at.mission is None:
            return (f"; its content is an L3 along-track file but its platform attribute "
                    f"{at.platform!r} names no known altimeter (codes: "
                    f"{', '.join(sorted(MISSIONS))}) - rename it to the CMEMS name")
        if at.first_day is None:
            return "; its content is an L3 along-track file without any point"
        return self._identity(at, today)

    def _identity(self, at: AlongTrackIdentity, today: dt.date | None = None) -> Identity:
        if not at.daily:
            return Identity(kind=self.name, data_day=at.first_day, last_day=at.last_day,
                            mission=at.mission, product=at.product,
                            production_day=at.production, detail=at)
        if at.source != "content":
            return Identity(kind=self.name, data_day=at.first_day, mission=at.mission,
                            product=at.product, production_day=at.production, detail=at)
        production = at.production or today
        archive_name = alongtrack_filename(at.product, at.mission, at.first_day, production,
                                           area=at.area)
        how = (f"identified by its content: platform {at.platform!r}, data days "
               f"{at.first_day} to {at.last_day}; archived as {archive_name}")
        return Identity(kind=self.name, data_day=at.first_day, mission=at.mission,
                        product=at.product, production_day=production,
                        archive_name=archive_name, how=how, detail=at)

    def index(self, path: Path) -> ObservationFile | None:
        """An archived daily file under its CMEMS name (never an extraction's name)."""
        try:
            n = parse_alongtrack_filename(path.name)
        except ValueError:
            return None
        return ObservationFile(kind=self.name, name=path.name, data_day=n.day,
                               mission=n.mission, production_day=n.production, path=path)

    # --- checking ---------------------------------------------------------------------------

    def name_problem(self, identity: Identity, options: KindOptions) -> str | None:
        """A mission not in ``production.missions`` (when set)."""
        if identity.mission is not None and options.missions and (
                identity.mission not in options.missions):
            return (f"mission {identity.mission!r} is not accepted (production.missions = "
                    f"{list(options.missions)})")
        return None

    def content_problem(self, path: Path, identity: Identity,
                        options: KindOptions) -> str | None:
        """The reader's checks; an empty pass (no point at all) is valid, points that all
        lack a value are not."""
        track = read_alongtrack(path)
        if len(track):
            return None
        with readers._open(path) as ds:
            n = int(ds.variables["time"].size)
        if n == 0:
            return None
        return (f"no data: all {n} points of 'sla_filtered' are missing (fill value or NaN, or "
                "missing coordinates)")

    def date_created(self, path: Path) -> str | None:
        """The ``date_created`` attribute."""
        return netcdf_date_created(path)

    # --- splitting --------------------------------------------------------------------------

    def split(
        self, path: Path, identity: Identity, folder: Path, *, source: str,
        production: Callable[[], dt.date],
    ) -> Iterator[tuple[Path, Identity]]:
        """One CMEMS L3 daily file per data day with points
        (:func:`varnet.io.writers.write_alongtrack`: the same packing as CMEMS), production
        day that of the extraction, else ``production()``."""
        at: AlongTrackIdentity = identity.detail
        track = read_alongtrack(path)
        day_of_production = identity.production_day or production()
        return self._days(track, at, path.name, folder, source, day_of_production)

    def _days(self, track: AlongTrack, at: AlongTrackIdentity, name: str, folder: Path,
              source: str, production: dt.date) -> Iterator[tuple[Path, Identity]]:
        days = track.time.astype("datetime64[D]")
        for day64 in np.unique(days):
            day = dt.date.fromisoformat(str(day64))
            sel = days == day64
            daily = folder / alongtrack_filename(at.product, at.mission, day, production,
                                                 area=at.area)
            write_alongtrack(daily, time=track.time[sel], longitude=track.longitude[sel],
                             latitude=track.latitude[sel], sla_unfiltered=None,
                             sla_filtered=track.sla[sel],
                             mdt=None if track.mdt is None else track.mdt[sel],
                             mission=at.mission, product=at.product, production_day=production,
                             source=source)
            yield daily, Identity(kind=self.name, data_day=day, mission=at.mission,
                                  product=at.product, production_day=production,
                                  original_name=name, how=f"day {day} of the extraction {name}")

    # --- ordering ---------------------------------------------------------------------------

    def slot(self, file: ObservationFile) -> Hashable:
        """One file per mission and data day."""
        return (file.mission, file.data_day)

    def production_order(self, file: ObservationFile) -> tuple[Any, ...]:
        """Later production day, then delayed time over near-real time (the ``dt_`` that
        starts every archived CMEMS name), then later ``date_created``."""
        return (file.production_day or dt.date.min, file.name.startswith("dt_"),
                file.created or "")

    def preference(self, file: ObservationFile, options: KindOptions) -> tuple[Any, ...] | None:
        """The newest production, of the missions ``options.missions`` (all when empty)."""
        if options.missions and file.mission not in options.missions:
            return None
        return self.production_order(file)

    def tie_label(self, file: ObservationFile) -> str:
        """``"along-track files for j3 on 2020-01-05 with the same production"``."""
        return f"along-track files for {file.mission} on {file.data_day} with the same production"

    def file_days(self, days: Sequence[dt.date], oi: OIConfig) -> tuple[dt.date, dt.date]:
        """The window widened by the OI's reach (:func:`oi_reach_days`) on each side."""
        reach = dt.timedelta(days=oi_reach_days(oi))
        return days[0] - reach, days[-1] + reach

    # --- reading and gridding ---------------------------------------------------------------

    def read(self, path: Path, options: KindOptions) -> AlongTrack:
        """:func:`~varnet.io.readers.read_alongtrack` (SLA in m from ``sla_filtered``)."""
        return read_alongtrack(path)

    def grid(self, data: Sequence[AlongTrack], grid: Grid, days: Sequence[dt.date],
             gridding: GriddingOptions) -> dict[str, NDArray[np.float32]]:
        """``obs``: daily cell means of the SLA of the points of all files
        (:func:`~varnet.datamodel.gridding.gridded_ssh_observations`, ``days`` consecutive);
        ``oi`` and ``oi_error_variance`` where ``gridding.oi`` is set: the optimal
        interpolation at 12:00 UTC of each day
        (:func:`~varnet.datamodel.gridding.oi_first_guess`; from ``gridding.oi_cache``
        without the error variance: :func:`~varnet.datamodel.gridding.cached_oi_first_guess`),
        m and m², NaN on land."""
        track = concat_alongtrack(list(data))
        days = list(days)
        out = {"obs": gridded_ssh_observations(track, grid, days[0], len(days))}
        if gridding.oi is not None and gridding.oi_cache is not None \
                and not gridding.error_variance:
            out["oi"] = cached_oi_first_guess(track, grid, days, gridding.oi, gridding.oi_cache,
                                              threads=gridding.threads)
        elif gridding.oi is not None:
            estimate, variance = oi_first_guess(
                track, grid, days, gridding.oi, workers=gridding.workers,
                progress=gridding.progress, error_variance=gridding.error_variance,
                threads=gridding.threads)
            out["oi"] = estimate
            if variance is not None:
                out["oi_error_variance"] = variance
        return out
