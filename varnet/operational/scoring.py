"""The paper's score table of operational products against a synthetic ocean's truth.

The latest issue of every product day is read, its sea level anomaly (``sla``) and total
current (``uo``, ``vo``) interpolated to the truth grid (cubic, as ``varnet-train evaluate``
does), the truth's mean dynamic topography added (not the product's ``adt``: the product's MDT
is a configured file or an estimate from the along-track inputs, and the score is of the
4DVarNet's reconstruction, as in training), and the period scored on the truth grid cropped
by ``crop_deg`` on every side, next to the geostrophy of the true SSH. With the demo model
on the demo ocean the row must match the model's ``varnet-train evaluate`` row: operations
reproduce the training preprocessing, and ONNX Runtime the PyTorch model.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import pandas as pd

from varnet.errors import VarnetError
from varnet.io.readers import read_truth
from varnet.operational.products import latest_products, read_product
from varnet.regrid import upsample
from varnet.scores import Fields, score_table

__all__ = ["PRODUCTS_ROW", "MissingProductsError", "score_products"]

PRODUCTS_ROW = "varnet products (ONNX Runtime)"
TRUE_GEOSTROPHY = "Geostrophy of true SSH"


class MissingProductsError(VarnetError, ValueError):
    """Days of the scored period have no product."""

def score_products(products_dir: str | os.PathLike[str], name: str,
                   truth_path: str | os.PathLike[str], start: dt.date, end: dt.date,
                   crop_deg: float = 1.0) -> pd.DataFrame:
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

    Returns
    -------
    pandas.DataFrame
        :func:`varnet.scores.score_table` rows for the true geostrophy and the products.

    Raises
    ------
    MissingProductsError
        Naming the days without a product.
    """
    days = [start + dt.timedelta(days=k) for k in range((end - start).days + 1)]
    found = latest_products(products_dir, name)
    missing = [d for d in days if d not in found]
    if missing:
        raise MissingProductsError(f"{products_dir}: no product for {len(missing)} day(s): "
                         f"{', '.join(map(str, missing[:5]))}{', ...' if len(missing) > 5 else ''}")
    stacks: dict[str, list[np.ndarray]] = {"sla": [], "uo": [], "vo": []}
    for day in days:
        with read_product(found[day]) as ds:
            lat, lon = ds["latitude"].values, ds["longitude"].values
            for key in stacks:
                stacks[key].append(ds[key].values[0])
    truth_ds = read_truth(Path(truth_path))
    times = np.array([np.datetime64(d, "ns") + np.timedelta64(12, "h") for d in days])
    truth = truth_ds.sel(time=times)
    t_lat, t_lon = truth["lat"].values, truth["lon"].values
    fine = {k: upsample(np.stack(v), lat, lon, t_lat, t_lon) for k, v in stacks.items()}
    mdt = truth["mdt"].values if truth["mdt"].ndim == 2 else truth["mdt"].values[0]
    n_crop = round(crop_deg / float(t_lat[1] - t_lat[0]))
    inner = (slice(None), slice(n_crop, t_lat.size - n_crop), slice(n_crop, t_lon.size - n_crop))
    true = {k: truth[k].values.astype(np.float64)[inner] for k in ("ssh", "u", "v")}
    rows = {
        TRUE_GEOSTROPHY: Fields(ssh=true["ssh"]),
        PRODUCTS_ROW: Fields(ssh=(fine["sla"] + mdt)[inner], u=fine["uo"][inner],
                             v=fine["vo"][inner]),
    }
    time_days = np.arange(len(days), dtype=np.float64)
    return score_table(Fields(ssh=true["ssh"], u=true["u"], v=true["v"]), rows,
                       t_lat[inner[1]], t_lon[inner[2]], time_days)
