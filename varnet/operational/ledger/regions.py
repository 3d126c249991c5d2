"""Region keys: the short hash naming the product region of a ledger row.

Products, runs and claims carry the region key of the configuration that recorded them, so
that several regions (or a changed region) can share one state folder without reusing each
other's products. A region with land (``region.ocean_mask``) is another region than the same
cells without it, or with another coast: its products differ on land and near it.

No torch here: operations hosts import this module (NetCDF is imported only to read a
product file's grid).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    from varnet.operational.config import OpsConfig

__all__ = ["config_region_key", "product_file_region", "region_key"]


def _number(value: float) -> str:
    return f"{float(value) + 0.0:.6f}"  # + 0.0: -0.0 reads as 0.0


def region_key(name: str, lat_min: float, lon_min: float, resolution_deg: float, nlat: int,
               nlon: int, ocean: ArrayLike | None = None) -> str:
    """The short hash naming a product region in the ledger.

    Parameters
    ----------
    name : str
        Product name (``OpsConfig.name``, the first part of product file names).
    lat_min, lon_min : float
        Centre of the first cell, degrees (rounded to 1e-6 degree).
    resolution_deg : float
        Cell size, degrees (rounded to 1e-6 degree).
    nlat, nlon : int
        Grid shape.
    ocean : array_like of bool, shape (nlat, nlon), optional
        True on sea cells; None or all sea: a region without land.

    Returns
    -------
    str
        16 hexadecimal digits: the start of the SHA-256 of
        ``"name=...;lat0=...;lon0=...;res=...;shape=NLATxNLON"``, followed by
        ``";land=..."`` (the SHA-256 of the packed land cells) for a region with land (so a
        region without land keeps the key it always had).
    """
    canonical = (f"name={name};lat0={_number(lat_min)};lon0={_number(lon_min)};"
                 f"res={_number(resolution_deg)};shape={int(nlat)}x{int(nlon)}")
    if ocean is not None:
        land = ~np.asarray(ocean, dtype=bool)
        if land.any():
            canonical += f";land={hashlib.sha256(np.packbits(land).tobytes()).hexdigest()}"
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def config_region_key(config: OpsConfig) -> str:
    """:func:`region_key` of a configuration's ``name`` and ``[region]`` (its ocean mask
    read when it has one)."""
    region = config.region
    ocean = config.grid().ocean if region.ocean_mask else None
    return region_key(config.name, region.lat_min, region.lon_min, region.resolution_deg,
                      region.nlat, region.nlon, ocean)


_PRODUCT_NAME_RE = re.compile(r"^(?P<name>.+)_varnet_phy_l4_\d{8}_\d{8}\.nc$")


def product_file_region(path: str | os.PathLike[str]) -> str:
    """:func:`region_key` of a product file, from its name and grid (data not loaded).

    Parameters
    ----------
    path : str or os.PathLike
        A product file (:func:`varnet.operational.products.write_product`).

    Returns
    -------
    str
        The region key.

    Raises
    ------
    OSError
        If the file cannot be opened as NetCDF.
    ValueError
        If it has no product name or no latitude / longitude axis.
    """
    import netCDF4  # only here: opening a ledger needs no NetCDF library

    with netCDF4.Dataset(path) as ds:
        name = str(ds.getncattr("product_name")) if "product_name" in ds.ncattrs() else None
        if name is None:
            match = _PRODUCT_NAME_RE.match(Path(path).name)
            if match is None:
                raise ValueError(f"{path}: no product_name attribute and not a product name")
            name = match["name"]
        axes = []
        for names in (("latitude", "lat"), ("longitude", "lon")):
            found = next((ds.variables[n] for n in names if n in ds.variables), None)
            if found is None or found.size < 2:
                raise ValueError(f"{path}: no {names[0]} axis")
            values = found[:]
            axes.append((float(values[0]), float(values[-1]), int(found.size)))
        # the land mask of products that have one (sea where at least half the cell is)
        ocean = (np.asarray(ds.variables["sftof"][:]) >= 50.0
                 if "sftof" in ds.variables else None)
    (lat0, lat1, nlat), (lon0, _, nlon) = axes
    resolution = round((lat1 - lat0) / (nlat - 1), 12)
    return region_key(name, lat0, lon0, resolution, nlat, nlon, ocean)
