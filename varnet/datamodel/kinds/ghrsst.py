"""The GHRSST kind: GDS 2.0 SST files, L4 analyses and L3U/L3C/L3S gappy fields, one day each.

- Names: GHRSST GDS 2.0 (:func:`~varnet.io.names.parse_ghrsst_filename`): the day and the
  processing level come from the name; the level must be in ``production.sst_levels``.
- Checks: the reader's (:func:`~varnet.io.readers.read_sst`: variables, units, mask flags,
  values; L3 pixels below ``production.sst_min_quality_level`` dropped), and the variable
  matches the level of the name, the file's time lies within the day of its name, at least
  one pixel is valid, and the grid overlaps the region.
- Order: files of the same name hold the same data, the newest production (later
  ``date_created``) wins; the model takes one file per day, of the level the configuration
  prefers (``production.sst_levels``, most preferred first), the first by name or path
  where two are equal.
- Model input: ``sst``, one day per file on the model grid
  (:func:`~varnet.datamodel.gridding.sst_on_grid`), K.

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from varnet.datamodel.grid import Grid
from varnet.datamodel.gridding import sst_on_grid
from varnet.datamodel.kinds.base import (
    GriddingOptions,
    Identity,
    KindOptions,
    ObservationFile,
    ObservationKind,
    RegionBox,
    netcdf_date_created,
)
from varnet.io import readers
from varnet.io.names import GHRSST_PATTERN, parse_ghrsst_filename
from varnet.io.readers import SstField, read_sst

__all__ = ["GhrsstKind"]

_ONE_DAY = np.timedelta64(1, "D")


class GhrsstKind(ObservationKind):
    """GHRSST GDS 2.0 SST (see the module docstring); the ledger's ``"sst"``."""

    name = "sst"
    expected_name = f"a GHRSST name {GHRSST_PATTERN}"
    outputs = ("sst",)

    # --- recognising ------------------------------------------------------------------------

    def identify_name(self, name: str) -> Identity | None:
        """The day and level of a GHRSST GDS 2.0 name; None for other names."""
        try:
            sst = parse_ghrsst_filename(name)
        except ValueError:
            return None
        return Identity(kind=self.name, data_day=sst.day, level=sst.level)

    # --- checking ---------------------------------------------------------------------------

    def name_problem(self, identity: Identity, options: KindOptions) -> str | None:
        """A level not in ``production.sst_levels``."""
        if identity.level is not None and identity.level not in options.sst_levels:
            return (f"GHRSST level {identity.level} is not accepted (production.sst_levels = "
                    f"{list(options.sst_levels)})")
        return None

    def content_problem(self, path: Path, identity: Identity,
                        options: KindOptions) -> str | None:
        """The reader's checks, then: the variable of the name's level, the time within the
        day of the name, at least one valid pixel, a grid overlapping the region."""
        min_quality_level = options.sst_min_quality_level
        field = read_sst(path, min_quality_level=min_quality_level)
        expected = "L4" if identity.level == "L4" else "L3"
        if field.level != expected:
            variable = "analysed_sst" if field.level == "L4" else "sea_surface_temperature"
            return (f"the file name says {identity.level} but the file holds {variable!r} "
                    f"({field.level}); expected "
                    f"{'analysed_sst' if expected == 'L4' else 'sea_surface_temperature'!r}")
        problem = _time_problem(path, identity.data_day)
        if problem is not None:
            return problem
        if not np.isfinite(field.sst_k).any():
            return (f"no data: all {field.sst_k.size} SST pixels are missing (fill value, NaN, "
                    "mask not open sea, or quality_level below "
                    f"production.sst_min_quality_level = {min_quality_level})")
        if options.region is not None:
            return _overlap_problem(field, options.region)
        return None

    def date_created(self, path: Path) -> str | None:
        """The ``date_created`` attribute."""
        return netcdf_date_created(path)

    # --- ordering ---------------------------------------------------------------------------

    def slot(self, file: ObservationFile) -> Hashable:
        """Files of the same name hold the same data."""
        return file.name

    def production_order(self, file: ObservationFile) -> tuple[Any, ...]:
        """Later ``date_created``."""
        return (file.created or "",)

    def use_slot(self, file: ObservationFile) -> Hashable:
        """One file per day."""
        return file.data_day

    def preference(self, file: ObservationFile, options: KindOptions) -> tuple[Any, ...] | None:
        """The level most preferred in ``options.sst_levels``; other levels are not used."""
        rank = {level: i for i, level in enumerate(options.sst_levels)}
        if file.level not in rank:
            return None
        return (-rank[file.level],)

    def tie_label(self, file: ObservationFile) -> str:
        """``"L4 SST files for 2020-01-05"``."""
        return f"{file.level} SST files for {file.data_day}"

    # --- reading and gridding ---------------------------------------------------------------

    def read(self, path: Path, options: KindOptions) -> SstField:
        """:func:`~varnet.io.readers.read_sst` with ``options.sst_min_quality_level`` (SST in
        K)."""
        return read_sst(path, min_quality_level=options.sst_min_quality_level)

    def grid(self, data: Sequence[SstField], grid: Grid, days: Sequence[dt.date],
             gridding: GriddingOptions) -> dict[str, NDArray[np.float32]]:
        """``sst``: each field on the model grid on its day
        (:func:`~varnet.datamodel.gridding.sst_on_grid`), K; NaN on days without a field and
        on land; fields of other days are not used."""
        days = list(days)
        sst = np.full((len(days), *grid.shape), np.nan, dtype=np.float32)
        for field in data:
            if field.day in days:
                sst[days.index(field.day)] = sst_on_grid(field, grid)
        return {"sst": sst}


def _time_problem(path: Path, day: dt.date) -> str | None:
    """Whether the SST file's time lies within the day of its name (00:00 to 24:00 UTC)."""
    with readers._open(path) as ds:
        tvar = ds.variables.get("time")
        if tvar is None:
            return None
        times = readers._decode_time(path, tvar).ravel()
    start = np.datetime64(day.isoformat(), "ns")
    outside = (times < start) | (times > start + _ONE_DAY)
    if outside.any():
        return (f"out of window: variable 'time' is {readers._when(times[outside][0])}, "
                f"outside the day {day} named in the file name")
    return None


def _overlap_problem(field: SstField, region: RegionBox) -> str | None:
    """Whether the SST grid overlaps the region's cells (any longitude convention)."""
    half = 0.5 * region.resolution_deg
    lat0, lat1 = region.lat_min - half, region.lat_max + half
    lon0 = region.lon_min - half
    lon1 = region.lon_max + half
    lat_ok = field.lat[0] <= lat1 and field.lat[-1] >= lat0
    lon_ok = any(field.lon[0] <= lon1 + k and field.lon[-1] >= lon0 + k
                 for k in (-360.0, 0.0, 360.0))
    if lat_ok and lon_ok:
        return None
    return (f"wrong grid: the SST grid ({field.lat[0]:g} to {field.lat[-1]:g} N, "
            f"{field.lon[0]:g} to {field.lon[-1]:g} E) does not overlap the region "
            f"({region.lat_min:g} to {region.lat_max:g} N, {region.lon_min:g} to "
            f"{region.lon_max:g} E)")
