"""Gridded training arrays from a synthetic ocean's files, computed once and cached.

:func:`prepare_arrays` reads the observation files of a synthetic ocean and assembles the
model's inputs with the same observation kinds and the same assembler as operations
(:func:`varnet.datamodel.assemble.assemble_inputs`), adds the truth block-averaged to the
model grid, and returns one :class:`xarray.Dataset` of daily fields. The optimal interpolation
dominates the cost (a few CPU seconds per day), so the result is cached as NetCDF under a
name that hashes everything it depends on; a later call with the same arguments and unchanged
files reads it back in a second.

No torch here: the arrays are plain numpy/xarray, usable by any consumer.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr
from tqdm import tqdm

from varnet import __version__
from varnet.config import positive_int
from varnet.datamodel import kinds as observation_kinds
from varnet.datamodel.assemble import assemble_inputs
from varnet.datamodel.files import find_input_files
from varnet.datamodel.grid import Grid, block_mean
from varnet.datamodel.kinds import GriddingOptions, KindOptions
from varnet.datamodel.signature import STANDARD_INPUTS
from varnet.errors import InputError, MissingPathError
from varnet.io.names import parse_alongtrack_filename
from varnet.io.ocean_mask import read_ocean_mask
from varnet.io.readers import read_truth
from varnet.kernels.oi import OIConfig

__all__ = ["PREPARED_VARIABLES", "prepare_arrays"]

log = logging.getLogger(__name__)

#: Bump when the computation changes, so that older cache files are no longer used.
_FORMAT_VERSION = 2
_TIME_UNITS = "days since 1950-01-01 00:00:00"
_SST_LEVELS = ("L4", "L3S", "L3C", "L3U")

#: name -> (units, long_name, standard_name or None) of the (time, lat, lon) variables.
PREPARED_VARIABLES: dict[str, tuple[str, str, str | None]] = {
    "obs": ("m", "daily cell mean of along-track sea level anomaly (sla_filtered)",
            "sea_surface_height_above_sea_level"),
    "oi": ("m", "optimal interpolation of along-track sea level anomaly at 12:00 UTC",
           "sea_surface_height_above_sea_level"),
    "oi_error_variance": ("m2", "error variance of the optimal interpolation", None),
    "sst": ("K", "sea surface temperature on the model grid", "sea_surface_temperature"),
    "sla_true": ("m", "true sea level anomaly, block mean",
                 "sea_surface_height_above_sea_level"),
    "u_true": ("m s-1", "true total surface current, eastward, block mean",
               "eastward_sea_water_velocity"),
    "v_true": ("m s-1", "true total surface current, northward, block mean",
               "northward_sea_water_velocity"),
}


def _check_arguments(coarsen: int, start: dt.date, end: dt.date, oi: OIConfig,
                     missions: Sequence[str] | None, sst_level: str, workers: int) -> None:
    positive_int(coarsen, "coarsen")
    positive_int(workers, "workers")
    for name, value in (("start", start), ("end", end)):
        if type(value) is not dt.date:
            raise ValueError(f"{name}: expected a datetime.date, got {value!r}")
    if end < start:
        raise ValueError(f"end ({end}) is before start ({start})")
    if not isinstance(oi, OIConfig):
        raise ValueError(f"oi: expected an OIConfig, got {type(oi).__name__}")
    oi.validate()
    if missions is not None and (isinstance(missions, str) or not missions
                                 or not all(isinstance(m, str) for m in missions)):
        raise ValueError(f"missions: expected a non-empty sequence of mission short names "
                         f"such as ['j1', 'en'] (or None for all), got {missions!r}")
    if sst_level not in _SST_LEVELS:
        raise ValueError(f"sst_level: expected one of {', '.join(_SST_LEVELS)}, "
                         f"got {sst_level!r}")


def _fingerprint(path: Path, root: Path) -> list[str | int]:
    """Name (relative to ``root``), size in bytes and modification time in ns of a file."""
    st = path.stat()
    return [path.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns]


def _read_cache(path: Path, key: str) -> xr.Dataset:
    """Load a cache file into memory; raise ValueError if it is not the one for ``key``."""
    with xr.open_dataset(path) as ds:
        if ds.attrs.get("prepare_key") != key:
            raise ValueError(f"its prepare_key {ds.attrs.get('prepare_key')!r} is not {key!r}")
        missing = [n for n in (*PREPARED_VARIABLES, "mdt", "ocean") if n not in ds.variables]
        if missing:
            raise ValueError(f"it lacks the variable(s) {', '.join(missing)}")
        return ds.load()


def _write_atomically(ds: xr.Dataset, path: Path) -> None:
    """Write ``ds`` to a temporary file next to ``path``, then rename it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    os.close(fd)
    try:
        encoding = {name: {"zlib": True, "complevel": 1, "dtype": "float32"}
                    for name in ds.data_vars}
        encoding["time"] = {"units": _TIME_UNITS, "calendar": "standard", "dtype": "float64"}
        ds.to_netcdf(tmp, encoding=encoding, format="NETCDF4")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _log_missing(days: list[dt.date], missing: list[dt.date], what: str, fields: str) -> int:
    if missing:
        shown = ", ".join(d.isoformat() for d in missing[:5]) + (", ..." if len(missing) > 5
                                                                  else "")
        log.warning("%d of %d days have no %s file (%s NaN): %s", len(missing), len(days),
                    what, fields, shown)
    return len(missing)


def prepare_arrays(
    osse_dir: str | os.PathLike[str],
    coarsen: int,
    start: dt.date,
    end: dt.date,
    oi: OIConfig,
    missions: Sequence[str] | None = None,
    sst_level: str = "L4",
    workers: int = 1,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    ocean_mask: str | os.PathLike[str] | None = None,
) -> xr.Dataset:
    """Daily model inputs and truth on the model grid, from a synthetic ocean's folder.

    The model grid is the grid of ``<osse_dir>/truth.nc`` coarsened by ``coarsen``
    (:meth:`varnet.datamodel.grid.Grid.coarsened`). For every day from ``start`` to ``end``:

    - ``obs``, ``oi``, ``sst``: the model's standard inputs
      (:func:`varnet.datamodel.assemble.assemble_inputs`, as operations make them): daily
      cell means of along-track SLA; the optimal interpolation at 12:00 UTC, from the
      along-track files of the period and of the ``ceil(cutoff * time_scale_days +
      superob_days) + 1`` days on either side, so that the OI of a day does not depend on the
      period requested; the day's SST file of level ``sst_level`` on the model grid;
    - ``oi_error_variance``: the OI's error variance;
    - ``sla_true``, ``u_true``, ``v_true``: the truth's ``sla``, ``u``, ``v`` block-averaged
      (:func:`varnet.datamodel.grid.block_mean`); and ``mdt`` (lat, lon) likewise.

    A day without an SST file has ``sst`` NaN, a day without any along-track file of the
    selected missions has ``obs`` NaN (its OI still uses the neighbouring days); both counts
    are logged as warnings and stored as attributes.

    Land: a cell of the truth grid is land where the truth's ``sla`` is missing on every
    day of the period, or where ``ocean_mask`` says land; a model cell is sea where at least
    half of its truth cells are (:meth:`~varnet.datamodel.grid.Grid.coarsened`). Every field
    is NaN on land but ``oi``, 0 m there as the model takes it (along-track points on land are
    not used: :func:`varnet.datamodel.gridding.sea_points`), and ``ocean`` (lat, lon) holds
    the mask.

    Caching: the dataset is stored in ``cache_dir`` as ``prepared_<hash>.nc``, the hash
    covering every argument that changes the result (``osse_dir``, ``coarsen``, the period,
    every ``oi`` field, the missions used, ``sst_level``), the size and modification time of
    ``truth.nc`` and of every observation file used, and a format version. A later call with
    the same hash reads the file instead of recomputing; an unreadable or foreign file of that
    name is recomputed with a warning. Files are written to a temporary name in the same
    folder, then renamed (atomic). Old cache files are not deleted.

    Parameters
    ----------
    osse_dir : str or os.PathLike
        Folder of a synthetic ocean: ``truth.nc`` and the observation files below it
        (searched recursively, :func:`varnet.datamodel.files.find_input_files`).
    coarsen : int
        Cells of the truth grid per model cell along each axis (1: the truth grid).
    start, end : datetime.date
        First and last day (UTC, inclusive); both must be days of the truth.
    oi : OIConfig
        Optimal-interpolation parameters. ``OIConfig()`` (blocks of 20 cells) is the fastest
        measured on the default ocean at ``coarsen=2``, ahead of blocks of 10 cells.
    missions : sequence of str, optional
        Along-track missions to use (all found when None).
    sst_level : {"L4", "L3S", "L3C", "L3U"}, optional
        GHRSST level of the SST files to use; other levels are ignored.
    workers : int, optional
        Processes for the optimal interpolation; the result does not depend on it.
    cache_dir : str or os.PathLike, optional
        Cache folder (created if needed); default ``<osse_dir>/prepared``.
    progress : bool, optional
        Show progress bars.
    ocean_mask : str or os.PathLike, optional
        NetCDF ocean mask on the truth grid (:func:`varnet.io.ocean_mask.read_ocean_mask`)
        laid over the truth's own land.

    Returns
    -------
    xarray.Dataset
        In memory. Variables of :data:`PREPARED_VARIABLES`, float32 (time, lat, lon), and
        ``mdt`` float32 (lat, lon), m, and ``ocean`` int8 (lat, lon), 1 on sea and 0 on
        land; coordinates ``time`` (datetime64, 12:00 UTC of each
        day), ``lat``, ``lon`` (cell centres, degrees); attributes ``coarsen``,
        ``resolution_deg`` (latitude and longitude steps of the model grid), ``oi_<field>``
        for each OI parameter, ``missions`` (comma separated), ``sst_level``,
        ``source_directory``, ``period_start``/``period_end``, ``days_without_alongtrack``,
        ``days_without_sst``, ``prepare_key`` and ``varnet_version``.

    Raises
    ------
    ValueError
        If an argument is invalid.
    varnet.errors.InputError
        If a requested mission has no file, a day of the period is not in the truth (the
        message names the dates), or ``coarsen`` does not divide the truth's grid; a
        :class:`ValueError` too.
    varnet.errors.MissingPathError
        If ``osse_dir`` or its ``truth.nc`` does not exist; a :class:`FileNotFoundError` too.
    varnet.io.readers.InputFileError
        If the truth, an observation file or the ocean mask cannot be used (the message
        names the file).
    """
    _check_arguments(coarsen, start, end, oi, missions, sst_level, workers)
    root = Path(osse_dir)
    truth_path = root / "truth.nc"
    if not truth_path.is_file():
        raise MissingPathError(f"{truth_path}: no truth file; generate the synthetic ocean "
                               f"first (varnet-osse generate --out {root})")
    files = find_input_files(root, sst_levels=(sst_level,))
    if missions is None:
        used = files.missions
    else:
        unknown = sorted(set(missions) - set(files.missions))
        if unknown:
            raise InputError(f"missions: no along-track file of {', '.join(unknown)} under "
                             f"{root}; found {', '.join(files.missions) or 'none'}")
        used = sorted(set(missions))

    ndays = (end - start).days + 1
    days = [start + dt.timedelta(days=i) for i in range(ndays)]
    margin = math.ceil(oi.cutoff * oi.time_scale_days + oi.superob_days) + 1
    track_days = [start + dt.timedelta(days=i) for i in range(-margin, ndays + margin)]
    track_paths = files.alongtrack_paths(track_days, used)
    sst_paths = {day: files.sst[day] for day in days if day in files.sst}

    settings = {
        "format": _FORMAT_VERSION, "osse_dir": str(root.resolve()), "coarsen": int(coarsen),
        "start": start.isoformat(), "end": end.isoformat(), "oi": dataclasses.asdict(oi),
        "missions": used, "sst_level": sst_level,
        "files": [_fingerprint(p, root) for p in (truth_path, *track_paths,
                                                  *sst_paths.values())],
    }
    if ocean_mask is not None:
        mask = Path(ocean_mask).resolve()
        settings["ocean_mask"] = [str(mask), *_fingerprint(mask, mask.parent)[1:]]
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    cache = Path(cache_dir) if cache_dir is not None else root / "prepared"
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"prepared_{key}.nc"
    if path.exists():
        try:
            ds = _read_cache(path, key)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            log.warning("cache file %s cannot be used (%s); recomputing", path, exc)
        else:
            log.info("prepared arrays read from the cache %s", path)
            return ds

    ds = _compute(root, truth_path, coarsen, days, oi, used, sst_level, track_paths,
                  sst_paths, workers, progress, ocean_mask)
    ds.attrs["prepare_key"] = key
    _write_atomically(ds, path)
    log.info("prepared arrays cached in %s", path)
    return _read_cache(path, key)


def _compute(root: Path, truth_path: Path, coarsen: int, days: list[dt.date], oi: OIConfig,
             missions: list[str], sst_level: str, track_paths: list[Path],
             sst_paths: dict[dt.date, Path], workers: int, progress: bool,
             ocean_mask: str | os.PathLike[str] | None) -> xr.Dataset:
    """The dataset of :func:`prepare_arrays`, without the cache key."""
    noon = np.array([np.datetime64(d, "ns") + np.timedelta64(12, "h") for d in days])
    with read_truth(truth_path) as truth:
        have = truth["time"].values
        absent = [d for d, t in zip(days, noon, strict=True) if t not in have]
        if absent:
            covers = (f"{have[0].astype('datetime64[D]')} to {have[-1].astype('datetime64[D]')}"
                      if have.size else "no day")
            raise InputError(
                f"{len(absent)} day(s) of the period {days[0]} to {days[-1]} are not in the "
                f"truth {truth_path} (which covers {covers} at 12:00 UTC): "
                f"{', '.join(d.isoformat() for d in absent[:5])}"
                f"{', ...' if len(absent) > 5 else ''}")
        picked = truth.sel(time=noon)
        fine_ocean = np.isfinite(picked["sla"].values).any(axis=0)
        if ocean_mask is not None:
            fine_ocean &= read_ocean_mask(ocean_mask, truth["lat"].values, truth["lon"].values)
        fine = Grid(truth["lat"].values, truth["lon"].values, fine_ocean, name=root.name)
        try:
            grid = fine.coarsened(coarsen)
        except ValueError as exc:  # the truth's grid is not a whole number of blocks
            raise InputError(f"coarsen: {exc}") from None
        fields = {f"{name}_true": grid.mask_land(
            block_mean(fine.mask_land(picked[name].values), coarsen).astype(np.float32))
                  for name in ("sla", "u", "v")}
        mdt = grid.mask_land(block_mean(fine.mask_land(truth["mdt"].values), coarsen)
                             .astype(np.float32))

    options = KindOptions()
    read = {kind: [observation_kinds.get(kind).read(path, options)
                   for path in tqdm(paths, desc=f"reading {kind}", unit="file",
                                    disable=not progress)]
            for kind, paths in (("alongtrack", track_paths), ("sst", sst_paths.values()))}
    fields.update(assemble_inputs(
        list(STANDARD_INPUTS.values()), read, grid, days,
        GriddingOptions(oi=oi, workers=workers, progress=progress),
        also=[("alongtrack", "oi_error_variance")]))

    observed = {parse_alongtrack_filename(p.name).day for p in track_paths}
    no_track = _log_missing(days, [d for d in days if d not in observed], "along-track", "obs")
    no_sst = _log_missing(days, [d for d in days if d not in sst_paths], f"{sst_level} SST",
                          "sst")

    dims = ("time", "lat", "lon")
    data_vars = {}
    for name, (units, long_name, standard_name) in PREPARED_VARIABLES.items():
        attrs = {"units": units, "long_name": long_name}
        if standard_name:
            attrs["standard_name"] = standard_name
        data_vars[name] = (dims, fields[name], attrs)
    data_vars["mdt"] = (("lat", "lon"), mdt, {
        "units": "m", "long_name": "mean dynamic topography, block mean",
        "standard_name": "sea_surface_height_above_geoid"})
    data_vars["ocean"] = (("lat", "lon"), grid.ocean.astype(np.int8), {
        "long_name": "ocean mask of the model grid", "flag_values": np.array([0, 1], np.int8),
        "flag_meanings": "land sea"})
    coords = {
        "time": ("time", noon, {"standard_name": "time", "axis": "T"}),
        "lat": ("lat", grid.lat, {"units": "degrees_north", "standard_name": "latitude",
                                  "axis": "Y"}),
        "lon": ("lon", grid.lon, {"units": "degrees_east", "standard_name": "longitude",
                                  "axis": "X"}),
    }
    attrs = {
        "title": "varnet prepared model inputs and truth on the model grid",
        "source_directory": str(root.resolve()),
        "coarsen": int(coarsen),
        "resolution_deg": list(grid.resolution_deg),
        "period_start": days[0].isoformat(),
        "period_end": days[-1].isoformat(),
        "missions": ",".join(missions),
        "sst_level": sst_level,
        **{f"oi_{k}": v for k, v in dataclasses.asdict(oi).items()},
        "days_without_alongtrack": no_track,
        "days_without_sst": no_sst,
        "varnet_version": __version__,
    }
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)

