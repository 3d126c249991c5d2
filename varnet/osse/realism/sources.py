"""Reading the two sources compared: :func:`read_truth_days` gives the statistics of every day
of a ``truth.nc`` at the real product's cells (and one day whole), :func:`read_duacs` the days
of a DUACS L4 file over the box and a halo of :data:`HALO_CELLS` cells, each refusing a file it
cannot use with an error naming the file and why.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from varnet.datamodel.grid import Grid
from varnet.io.readers import InputFileError, read_truth
from varnet.osse.realism.box import Box
from varnet.osse.realism.nesting import Nesting, nest
from varnet.osse.realism.statistics import Day, Stats, day_statistics, geostrophic_share

__all__ = ["HALO_CELLS", "read_duacs", "read_truth_days"]

#: Cells of halo read around the box, so that geostrophy at the box's edge is centred.
HALO_CELLS = 2


# --- reading the truth ---------------------------------------------------------------------


def _truth_grid(ds: xr.Dataset, path: Path) -> Grid:
    """The truth's grid; sea where its MDT and first SSH are finite."""
    ocean = np.isfinite(ds["mdt"].values) & np.isfinite(ds["ssh"].isel(time=0).values)
    try:
        return Grid(ds["lat"].values, ds["lon"].values, ocean, name=path.name)
    except ValueError as exc:
        raise InputFileError(path, f"its grid cannot be used: {exc}") from None


def _truth_day(ds: xr.Dataset, index: int, nesting: Nesting, box: Box) -> Day:
    """Day ``index`` of the truth, brought to the nesting's coarse cells."""
    fields = {name: ds[name].isel(time=index).values.astype(np.float64)
              for name in ("ssh", "sla", "u", "v", "ugos", "vgos")}
    rows, cols = box.cells(nesting.fine)
    sea = nesting.fine.ocean[rows, cols]
    share = geostrophic_share(*(np.where(sea, fields[n][rows, cols], np.nan)
                                for n in ("u", "v", "ugos", "vgos")))
    date = np.datetime_as_string(ds["time"].values[index], unit="D")
    return Day("synthetic ocean", str(date), nesting.grid, nesting.apply(fields["ssh"]),
               nesting.apply(fields["sla"]),
               (nesting.apply(fields["u"]), nesting.apply(fields["v"])), share)


def read_truth_days(path: str | os.PathLike[str], lattice: Grid, box: Box,
                    day: dt.date | None = None) -> tuple[list[Stats], Day]:
    """Statistics of every day of a truth file at the cells of ``lattice``, and one day.

    Parameters
    ----------
    path : str or os.PathLike
        A ``truth.nc`` of ``varnet-osse generate``.
    lattice : Grid
        Cells of the real product's lattice (:func:`nest`).
    box : Box
        The region measured.
    day : datetime.date, optional
        The day returned whole (for the figure); the truth's first day when None.

    Returns
    -------
    stats : list of dict
        :func:`day_statistics` of each day of the truth.
    chosen : Day
        ``day`` brought to the product's cells.

    Raises
    ------
    InputFileError
        If the file is not a truth file, the box is not inside its cells, or ``day`` is not
        one of its days.
    InputError
        If its cells do not nest in the product's.
    """
    path = Path(path)
    with read_truth(path) as ds:
        nesting = nest(_truth_grid(ds, path), lattice)
        why = box.outside(nesting.grid)
        if why is not None:
            raise InputFileError(path, f"at the product's cells, {why}")
        dates = [str(d) for d in np.datetime_as_string(ds["time"].values, unit="D")]
        index = 0 if day is None else _day_index(dates, day, path)
        stats = []
        for t in range(len(dates)):
            fields = _truth_day(ds, t, nesting, box)
            stats.append(day_statistics(fields, box))
            if t == index:
                chosen = fields
    return stats, chosen


def _day_index(dates: list[str], day: dt.date, path: Path) -> int:
    """Index of ``day`` among the truth's ISO ``dates``, or InputFileError naming the file."""
    if day.isoformat() not in dates:
        raise InputFileError(path, f"has no day {day.isoformat()}: its days are {dates[0]} to "
                             f"{dates[-1]}")
    return dates.index(day.isoformat())


# --- reading a DUACS L4 file ---------------------------------------------------------------


def _coordinate_names(ds: xr.Dataset, path: Path) -> tuple[str, str]:
    """The names of the file's latitude and longitude coordinates."""
    for lat, lon in (("latitude", "longitude"), ("lat", "lon")):
        if lat in ds.coords and lon in ds.coords:
            return lat, lon
    raise InputFileError(path, "has no latitude/longitude (or lat/lon) coordinates")


def _regular_step(values: NDArray[np.float64], name: str, path: Path) -> float:
    """The step of sorted cell centres (degrees), or InputFileError if irregular."""
    steps = np.diff(values)
    step = float(np.median(steps)) if steps.size else 0.0
    if step <= 0 or np.max(np.abs(steps - step)) > 1e-3 * step:
        raise InputFileError(path, f"its {name} cells are not regular and ascending")
    return step


def _lat_indices(lat: NDArray[np.float64], box: Box, path: Path) -> NDArray[np.int64]:
    """The file's latitude indices of the box and its halo, ascending latitudes."""
    order = np.argsort(lat)
    step = _regular_step(lat[order], "latitude", path)
    if lat[order[0]] - step / 2 > box.lat_min or lat[order[-1]] + step / 2 < box.lat_max:
        raise InputFileError(path, f"the box {box} lies outside its latitudes "
                             f"{lat[order[0]]:g}..{lat[order[-1]]:g} N (cell centres)")
    halo = HALO_CELLS * step
    keep = (lat[order] >= box.lat_min - halo) & (lat[order] <= box.lat_max + halo)
    return order[keep]


def _lon_indices(lon: NDArray[np.float64], box: Box, path: Path
                 ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """The file's longitude indices of the box and its halo, and their longitudes in the
    box's convention (:meth:`Box.longitudes`), ascending."""
    step = _regular_step(np.sort(lon), "longitude", path)
    centred = box.longitudes(lon)
    halo = HALO_CELLS * step
    keep = np.flatnonzero((centred >= box.lon_min - halo) & (centred <= box.lon_max + halo))
    keep = keep[np.argsort(centred[keep])]
    centres = centred[keep]
    if centres.size < 2 or np.max(np.abs(np.diff(centres) - step)) > 1e-3 * step or \
            centres[0] - step / 2 > box.lon_min or centres[-1] + step / 2 < box.lon_max:
        raise InputFileError(path, f"the box {box} lies outside its longitudes "
                             f"{lon.min():g}..{lon.max():g} E (cell centres)")
    return keep, centres


def _variable(ds: xr.Dataset, name: str, dims: tuple[str, str], units: tuple[str, ...],
              path: Path) -> NDArray[np.float64] | None:
    """``name`` as (time, lat, lon) float64, None when absent; InputFileError on bad units or
    dimensions."""
    if name not in ds.data_vars:
        return None
    if set(ds[name].dims) != {"time", *dims}:
        raise InputFileError(path, f"variable '{name}' is on {ds[name].dims}, expected "
                             f"(time, {dims[0]}, {dims[1]})")
    found = ds[name].attrs.get("units")
    if found not in units:
        raise InputFileError(path, f"variable '{name}' has units {found!r}, expected "
                             f"{' or '.join(map(repr, units))}")
    return ds[name].transpose("time", *dims).values.astype(np.float64)


def read_duacs(path: str | os.PathLike[str], box: Box) -> list[Day]:
    """The days of a DUACS L4 file (``adt``, optional ``sla``, ``ugos``/``vgos``) over a box.

    Parameters
    ----------
    path : str or os.PathLike
        A CMEMS SEALEVEL L4 file (any longitude convention).
    box : Box
        The region; it is read with a halo of :data:`HALO_CELLS` cells where the file has
        them, longitudes in the box's convention.

    Returns
    -------
    list of Day
        One per time of the file; sea where ``adt`` is finite; the reference current is the
        file's ``ugos``/``vgos`` (None without them); ``sla`` None without one.

    Raises
    ------
    InputFileError
        If the file cannot be opened, has no ``adt`` (or it is not in m, or not on
        (time, lat, lon)), no latitude/longitude, irregular cells, or does not cover the box;
        or no sea cell in the box.
    """
    path = Path(path)
    try:
        ds = xr.open_dataset(path)
    except (OSError, ValueError) as exc:
        raise InputFileError(path, f"cannot be opened as NetCDF ({exc})") from None
    with ds:
        if "adt" not in ds.data_vars:
            raise InputFileError(path, "has no variable 'adt' (absolute dynamic topography); "
                                 f"found {', '.join(sorted(map(str, ds.data_vars)))}")
        dims = _coordinate_names(ds, path)
        rows = _lat_indices(ds[dims[0]].values.astype(np.float64), box, path)
        cols, lon = _lon_indices(ds[dims[1]].values.astype(np.float64), box, path)
        sub = ds.isel({dims[0]: rows, dims[1]: cols})
        lat = sub[dims[0]].values.astype(np.float64)
        fields = {name: _variable(sub, name, dims, units, path) for name, units in (
            ("adt", ("m",)), ("sla", ("m",)), ("ugos", ("m/s", "m s-1")),
            ("vgos", ("m/s", "m s-1")))}
        dates = [str(d) for d in np.datetime_as_string(sub["time"].values, unit="D")]
    if not dates:
        raise InputFileError(path, "has no time: no day to measure")
    return [_duacs_day(path, t, date, lat, lon, fields, box) for t, date in enumerate(dates)]


def _duacs_day(path: Path, t: int, date: str, lat: NDArray[np.float64],
               lon: NDArray[np.float64], fields: dict[str, NDArray[np.float64] | None],
               box: Box) -> Day:
    """Time ``t`` of a DUACS file's fields (:func:`read_duacs`) as a :class:`Day`."""
    adt = fields["adt"][t]
    try:
        grid = Grid(lat, lon, np.isfinite(adt), name=path.name)
    except ValueError as exc:
        raise InputFileError(path, f"{date}: no sea cell in the box {box} ({exc})") from None
    sla, ugos, vgos = (None if fields[n] is None else fields[n][t] for n in ("sla", "ugos",
                                                                            "vgos"))
    reference = None if ugos is None or vgos is None else (ugos, vgos)
    return Day("DUACS L4", date, grid, adt, sla, reference, None)
