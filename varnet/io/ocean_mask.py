"""An ocean mask read from a NetCDF file onto a grid's cells.

The operations configuration may name a mask file (``[region] ocean_mask``); a truth or a
product file carries its own. One of these variables says what is sea, found by CF standard
name first, then by name:

- ``sea_area_fraction`` (``sftof`` in CMIP and in varnet's products): a cell is sea where at
  least half of it is sea; units ``%`` (0..100) or ``1`` (0..1);
- ``land_binary_mask`` (``lsm``, ``land_mask``): 1 on land, 0 on sea;
- a GHRSST ``mask`` with CF flag attributes (:func:`varnet.io.ghrsst_mask.open_sea`).

The file must hold the grid's cells: for every cell centre of the grid, a centre of the file's
``lat``/``lon`` coordinates within a thousandth of a cell (longitudes compared modulo 360). A
mask is not interpolated: a mask on another grid is a configuration error, named as such.

:func:`write_sea_area_fraction` writes such a file (``sftof``, percent).

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr
from numpy.typing import ArrayLike, NDArray

from varnet.io.atomic import atomic_path
from varnet.io.ghrsst_mask import MaskError, open_sea
from varnet.io.readers import InputFileError

__all__ = ["read_ocean_mask", "write_sea_area_fraction"]

_FRACTION_NAMES = ("sftof",)
_LAND_NAMES = ("lsm", "land_mask", "land_binary_mask")
_LAT_NAMES = ("lat", "latitude")
_LON_NAMES = ("lon", "longitude")


def _coordinate(ds: xr.Dataset, names: tuple[str, ...], path: Path) -> NDArray[np.float64]:
    for name in names:
        if name in ds.variables:
            values = np.asarray(ds[name].values, dtype=np.float64)
            if values.ndim == 1:
                return values
    raise InputFileError(path, f"no 1-D coordinate named {' or '.join(names)}")


def _indices(file_axis: NDArray[np.float64], grid_axis: NDArray[np.float64], name: str,
             path: Path, periodic: bool) -> NDArray[np.int64]:
    """Index in ``file_axis`` of each centre of ``grid_axis`` (exact to 1e-3 of a cell)."""
    step = abs(float(grid_axis[1] - grid_axis[0])) if grid_axis.size > 1 else 1.0
    diff = grid_axis[:, None] - file_axis[None, :]
    if periodic:
        diff = (diff + 180.0) % 360.0 - 180.0
    nearest = np.argmin(np.abs(diff), axis=1)
    miss = np.abs(diff[np.arange(grid_axis.size), nearest]) > 1e-3 * step
    if miss.any():
        first = float(grid_axis[np.argmax(miss)])
        raise InputFileError(path, f"the mask has no cell centred on {name} {first:g} of the "
                                   "grid: a mask must be on the grid's own cells (it is not "
                                   "interpolated)")
    return nearest


def _variable(ds: xr.Dataset, path: Path) -> tuple[str, xr.DataArray]:
    by_standard = {str(v.attrs.get("standard_name", "")): name for name, v in ds.data_vars.items()}
    for kind, standard, names in (("fraction", "sea_area_fraction", _FRACTION_NAMES),
                                  ("land", "land_binary_mask", _LAND_NAMES)):
        if standard in by_standard:
            return kind, ds[by_standard[standard]]
        for name in names:
            if name in ds.data_vars:
                return kind, ds[name]
    if "mask" in ds.data_vars:
        return "ghrsst", ds["mask"]
    raise InputFileError(path, "no ocean mask variable: expected one with standard_name "
                               "sea_area_fraction (sftof) or land_binary_mask (lsm), or a "
                               "GHRSST 'mask' with flag attributes")


def _sea(kind: str, var: xr.DataArray, path: Path) -> NDArray[np.bool_]:
    if kind == "ghrsst":
        raw = np.asarray(var.values)
        try:
            return open_sea(raw, name=str(var.name),
                            fill_values=[var.attrs[k] for k in ("_FillValue", "missing_value")
                                         if k in var.attrs],
                            flag_masks=var.attrs.get("flag_masks"),
                            flag_values=var.attrs.get("flag_values"),
                            flag_meanings=var.attrs.get("flag_meanings"))
        except MaskError as exc:
            raise InputFileError(path, str(exc)) from None
    values = np.asarray(var.values, dtype=np.float64)
    if not np.isfinite(values).all():
        raise InputFileError(path, f"{var.name}: missing values in the ocean mask; every cell "
                                   "must say sea or land")
    if kind == "land":
        return values < 0.5
    units = str(var.attrs.get("units", "%")).strip()
    scale = 100.0 if units == "%" else 1.0 if units in ("1", "") else None
    if scale is None:
        raise InputFileError(path, f"{var.name}: units '{units}' of a sea area fraction are "
                                   "neither '%' nor '1'")
    if values.min() < 0.0 or values.max() > scale:
        raise InputFileError(path, f"{var.name}: sea area fraction outside 0..{scale:g} "
                                   f"{units}")
    return values >= 0.5 * scale


def read_ocean_mask(path: str | os.PathLike[str], lat: ArrayLike, lon: ArrayLike
                    ) -> NDArray[np.bool_]:
    """The ocean mask of a file on the cells of a grid.

    Parameters
    ----------
    path : str or os.PathLike
        NetCDF file holding a mask (module docstring) on ``lat``/``lon`` coordinates that
        include every cell of the grid.
    lat, lon : array_like of float, shape (ny,) and (nx,)
        Cell centres of the grid, degrees.

    Returns
    -------
    numpy.ndarray of bool, shape (ny, nx)
        True on sea cells.

    Raises
    ------
    varnet.io.readers.InputFileError
        Naming the file and the problem: unreadable, no mask variable, missing values, a
        fraction out of range, a cell of the grid not in the file, or no sea cell at all.
    """
    path = Path(path)
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    try:
        ds = xr.open_dataset(path, decode_times=False, mask_and_scale=False)
    except (OSError, ValueError) as exc:
        raise InputFileError(path, f"cannot be read as NetCDF ({exc})") from None
    with ds:
        kind, var = _variable(ds, path)
        file_lat = _coordinate(ds, _LAT_NAMES, path)
        file_lon = _coordinate(ds, _LON_NAMES, path)
        dims = [str(d) for d in var.dims]
        if len(dims) != 2:
            var = var.squeeze(drop=True)
            dims = [str(d) for d in var.dims]
        if len(dims) != 2:
            raise InputFileError(path, f"{var.name}: expected 2 dimensions (lat, lon), got "
                                       f"{tuple(dims)}")
        sea = _sea(kind, var, path)
        lat_dim = next((d for d in dims if d in _LAT_NAMES), dims[0])
        if dims.index(lat_dim) == 1:
            sea = sea.T
    rows = _indices(file_lat, lat, "lat", path, periodic=False)
    cols = _indices(file_lon, lon, "lon", path, periodic=True)
    mask = np.ascontiguousarray(sea[np.ix_(rows, cols)])
    if not mask.any():
        raise InputFileError(path, "the ocean mask has no sea cell on the grid")
    return mask


def write_sea_area_fraction(path: str | os.PathLike[str], lat: ArrayLike, lon: ArrayLike,
                            fraction: ArrayLike, source: str = "") -> Path:
    """Write a CF ``sftof`` file (sea area fraction, percent) that :func:`read_ocean_mask`
    reads back: a cell is sea where at least half of it is.

    Parameters
    ----------
    path : str or os.PathLike
        The file, replaced atomically.
    lat, lon : array_like
        Cell centres, degrees north and east.
    fraction : array_like, shape (lat, lon)
        Share of each cell that is sea, 0..1.
    source : str
        What made it (global ``source`` attribute).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    values = np.asarray(fraction, dtype=np.float64)
    if values.shape != (np.size(lat), np.size(lon)) or not np.all((values >= 0) & (values <= 1)):
        raise ValueError(f"fraction must be within 0..1 on the ({np.size(lat)}, {np.size(lon)}) "
                         f"cells, got shape {values.shape}")
    ds = xr.Dataset(
        {"sftof": (("lat", "lon"), (100.0 * values).astype(np.float32),
                   {"standard_name": "sea_area_fraction", "long_name": "sea area fraction",
                    "units": "%"})},
        coords={"lat": ("lat", np.asarray(lat, dtype=np.float64),
                        {"standard_name": "latitude", "units": "degrees_north"}),
                "lon": ("lon", np.asarray(lon, dtype=np.float64),
                        {"standard_name": "longitude", "units": "degrees_east"})},
        attrs={"Conventions": "CF-1.8", "source": source})
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, encoding={"sftof": {"zlib": True, "complevel": 4}})
    return Path(path)
