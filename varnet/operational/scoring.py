"""The paper's score table of operational products against a synthetic ocean's truth.

The latest issue of every product day is read, its sea level anomaly (``sla``) and total
current (``uo``, ``vo``) interpolated to the truth grid (cubic, as ``varnet-train evaluate``
does), the truth's mean dynamic topography added (not the product's ``adt``: the product's MDT
is a configured file or an estimate from the along-track inputs, and the score is of the
4DVarNet's reconstruction, as in training), and the period scored on the truth grid cropped
by ``crop_deg`` on every side, next to the geostrophy of the true SSH. With the demo model
on the demo ocean the row must match the model's ``varnet-train evaluate`` row: operations
reproduce the training preprocessing, and ONNX Runtime the PyTorch model.

**Land.** The sea scored is that of the truth (cells whose SSH is defined on some scored day)
and of the products (their ``sftof``; a truth cell takes the land or sea of the product cell
nearest its centre). Before the cubic interpolation the products' land is filled with the
value of the nearest sea cell (the spline would spread their NaN). Where there is land, a
second table scores the sea beyond a coastal band, as ``varnet-train evaluate`` does
(:mod:`varnet.datamodel.scored_sea`). On the open ocean nothing of this applies: one table,
as before land existed.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import ndimage

from varnet.datamodel.grid import Grid
from varnet.datamodel.scored_sea import DEFAULT_COASTAL_BAND_KM, ScoredSea, scored_seas
from varnet.errors import VarnetError
from varnet.io.readers import read_truth
from varnet.operational.products import SEA_FRACTION_VARIABLE, latest_products, read_product
from varnet.regrid import upsample
from varnet.scores import Fields, score_table

__all__ = ["PRODUCTS_ROW", "MissingProductsError", "ProductScores", "score_products"]

PRODUCTS_ROW = "varnet products (ONNX Runtime)"
TRUE_GEOSTROPHY = "Geostrophy of true SSH"


class MissingProductsError(VarnetError, ValueError):
    """Days of the scored period have no product."""


@dataclass(frozen=True, eq=False)
class ProductScores:
    """One score table of the products and the cells it covers."""

    table: pd.DataFrame
    sea: ScoredSea


@dataclass(frozen=True, eq=False)
class _ProductStack:
    """The products of the scored days on their grid: fields (day, lat, lon) with NaN on
    land, and the sea they all share."""

    lat: NDArray[np.float64]
    lon: NDArray[np.float64]
    fields: dict[str, NDArray[np.float32]]
    sea: NDArray[np.bool_]


def _read_products(paths: list[Path]) -> _ProductStack:
    """Stack ``sla``, ``uo`` and ``vo`` of one product file per day; sea where every file's
    ``sftof`` is at least 50 %."""
    stacks: dict[str, list[np.ndarray]] = {"sla": [], "uo": [], "vo": []}
    sea = None
    for path in paths:
        with read_product(path) as ds:
            lat, lon = ds["latitude"].values, ds["longitude"].values
            for key in stacks:
                stacks[key].append(ds[key].values[0])
            day_sea = ds[SEA_FRACTION_VARIABLE].values >= 50.0
            sea = day_sea if sea is None else sea & day_sea
    return _ProductStack(lat, lon, {k: np.stack(v) for k, v in stacks.items()}, sea)


def _land_filled(field: np.ndarray, sea: NDArray[np.bool_]) -> np.ndarray:
    """``field`` (day, lat, lon) with each land cell given the value of its nearest sea cell
    (in cells), so that a cubic spline through it is defined everywhere."""
    if sea.all():
        return field
    iy, ix = ndimage.distance_transform_edt(~sea, return_distances=False, return_indices=True)
    return field[:, iy, ix]


def _nearest(centres: NDArray[np.float64], targets: NDArray[np.float64]) -> NDArray[np.intp]:
    """Index of the cell of the regular axis ``centres`` nearest each of ``targets``
    (degrees), the edge cell beyond the axis."""
    step = (centres[-1] - centres[0]) / (centres.size - 1)
    return np.clip(np.rint((targets - centres[0]) / step), 0, centres.size - 1).astype(np.intp)


def score_products(products_dir: str | os.PathLike[str], name: str,
                   truth_path: str | os.PathLike[str], start: dt.date, end: dt.date,
                   crop_deg: float = 1.0,
                   coastal_band_km: float = DEFAULT_COASTAL_BAND_KM) -> list[ProductScores]:
    """Score the latest products of ``start`` to ``end`` against the truth.

    Parameters
    ----------
    products_dir : str or os.PathLike
        The product folder.
    name : str
        Product name (the configuration's ``name``).
    truth_path : str or os.PathLike
        The synthetic ocean's ``truth.nc``.
    start, end : datetime.date
        Product days, inclusive; every day must have a product.
    crop_deg : float
        Border left out on every side, degrees.
    coastal_band_km : float, default 20
        Where there is land, a second table scores the sea farther than this from land,
        km; 0: no second table.

    Returns
    -------
    list of ProductScores
        :func:`varnet.scores.score_table` rows for the true geostrophy and the products: over
        all the sea; then, where there is land and a band, over the sea beyond the band.

    Raises
    ------
    MissingProductsError
        Naming the days without a product.
    varnet.errors.InputError
        If less than half the scored domain is sea beyond the coastal band.
    """
    days = [start + dt.timedelta(days=k) for k in range((end - start).days + 1)]
    found = latest_products(products_dir, name)
    missing = [d for d in days if d not in found]
    if missing:
        raise MissingProductsError(f"{products_dir}: no product for {len(missing)} day(s): "
                         f"{', '.join(map(str, missing[:5]))}{', ...' if len(missing) > 5 else ''}")
    products = _read_products([found[d] for d in days])
    truth_ds = read_truth(Path(truth_path))
    times = np.array([np.datetime64(d, "ns") + np.timedelta64(12, "h") for d in days])
    truth = truth_ds.sel(time=times)
    t_lat, t_lon = truth["lat"].values, truth["lon"].values
    fine = {k: upsample(_land_filled(v, products.sea), products.lat, products.lon, t_lat,
                        t_lon) for k, v in products.fields.items()}
    mdt = truth["mdt"].values if truth["mdt"].ndim == 2 else truth["mdt"].values[0]
    n_crop = round(crop_deg / float(t_lat[1] - t_lat[0]))
    inner = (slice(None), slice(n_crop, t_lat.size - n_crop), slice(n_crop, t_lon.size - n_crop))
    full = {k: truth[k].values.astype(np.float64) for k in ("ssh", "u", "v")}
    ocean = (np.isfinite(full["ssh"]).any(axis=0)
             & products.sea[np.ix_(_nearest(products.lat, t_lat),
                                   _nearest(products.lon, t_lon))])
    seas = scored_seas(Grid(t_lat, t_lon, ocean, name=name), n_crop, coastal_band_km)
    true = {k: v[inner] for k, v in full.items()}
    rows = {
        TRUE_GEOSTROPHY: Fields(ssh=true["ssh"]),
        PRODUCTS_ROW: Fields(ssh=(fine["sla"] + mdt)[inner], u=fine["uo"][inner],
                             v=fine["vo"][inner]),
    }
    time_days = np.arange(len(days), dtype=np.float64)
    return [ProductScores(score_table(Fields(ssh=true["ssh"], u=true["u"], v=true["v"]), rows,
                                      t_lat[inner[1]], t_lon[inner[2]], time_days,
                                      ocean=sea.sea, scored=sea.ocean), sea)
            for sea in seas]
