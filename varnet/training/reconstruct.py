"""Reconstruction of a period as the paper does it: sliding T-day windows (one day apart),
each contributing only its centre day, spatial overlaps averaged with the patch weight."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from varnet.kernels.patches import PatchLayout, PatchStitcher, iter_patch_batches, patch_weight
from varnet.training.data import PeriodArrays


def centre_day_weight(window: int, patch: tuple[int, int], crop: tuple[int, int]) -> np.ndarray:
    """Patch weight that keeps only the centre day: the spatial crop of the paper's weight.

    Parameters
    ----------
    window : int
        T (odd), days.
    patch : tuple of int
        (lat, lon) cells.
    crop : tuple of int
        Zero-weight border (lat, lon), cells.

    Returns
    -------
    numpy.ndarray
        float64, shape (T, *patch), 1 on the centre day's uncropped cells, 0 elsewhere.
    """
    w = patch_weight((window, *patch), (0, *crop), "flat")
    out = np.zeros_like(w)
    out[window // 2] = w[window // 2]
    return out


def reconstruct_period(
    model: nn.Module,
    arrays: PeriodArrays,
    patch: tuple[int, int],
    stride: tuple[int, int],
    crop: tuple[int, int],
    batch_size: int = 4,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SSH anomaly (m) and currents (m s-1) of the days that are window centres.

    Parameters
    ----------
    model : nn.Module
        A trained model (physical inputs and outputs), in evaluation mode.
    arrays : PeriodArrays
        Inputs; the first and last ``T // 2`` days only serve as window margins.
    patch, stride, crop : tuple of int
        Spatial patch, stride and zero-weight border (lat, lon), cells. With the patch as
        large as the domain there is one patch per window and no crop is needed; a crop
        larger than the overlap leaves cells without any weight (NaN).
    batch_size : int
        Windows per forward pass.
    device : torch.device or str
        Where the model runs.
    progress : bool
        Show a progress bar.

    Returns
    -------
    ssh, u, v : numpy.ndarray
        float32, shape (days - 2 (T // 2), lat, lon).
    """
    window = model.window
    ny, nx = arrays.lat.size, arrays.lon.size
    layout = PatchLayout((arrays.ndays, ny, nx), (window, *patch), (1, *stride))
    stitcher = PatchStitcher(layout.shape, centre_day_weight(window, patch, crop), leading=(3,))
    stacked = np.stack([arrays.oi, arrays.obs, arrays.sst])
    batches = iter_patch_batches(stacked, layout, batch_size=batch_size)
    total = -(-layout.count // batch_size)
    for origins, patches in tqdm(batches, total=total, disable=not progress,
                                 desc="reconstruction", unit="batch", leave=False):
        inputs = torch.from_numpy(np.ascontiguousarray(patches)).to(device)
        with torch.no_grad():
            sst = inputs[:, 2] if model.use_sst else None
            ssh, u, v = model(inputs[:, 0], inputs[:, 1], sst)
        stitcher.add_batch(origins, torch.stack([ssh, u, v], dim=1).cpu().numpy())
    half = window // 2
    result = stitcher.result()[:, half: arrays.ndays - half].astype(np.float32)
    return result[0], result[1], result[2]
