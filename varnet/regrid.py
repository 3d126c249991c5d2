"""Regridding between regular lat/lon grids (no torch): used to score model-grid fields
(training evaluation, operational products) on the finer truth grid."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["upsample"]


def upsample(
    field: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    fine_lat: np.ndarray,
    fine_lon: np.ndarray,
) -> np.ndarray:
    """Cubic-spline interpolation of (time, lat, lon) fields onto a finer regular grid.

    The paper's reduced-resolution model is scored after a bicubic up-sampling; this is
    the same idea on any pair of regular grids. Outside the coarse cell centres the nearest
    edge value is extended (``mode="nearest"``).

    Parameters
    ----------
    field : numpy.ndarray
        Shape (time, lat.size, lon.size), no NaN.
    lat, lon : numpy.ndarray
        Coarse cell centres, degrees, regular and ascending.
    fine_lat, fine_lon : numpy.ndarray
        Target cell centres, degrees.

    Returns
    -------
    numpy.ndarray
        float32, shape (time, fine_lat.size, fine_lon.size).
    """
    if lat.size == fine_lat.size and np.allclose(lat, fine_lat) and np.allclose(lon, fine_lon):
        return field.astype(np.float32)
    iy = (fine_lat - lat[0]) / (lat[1] - lat[0])
    ix = (fine_lon - lon[0]) / (lon[1] - lon[0])
    yy, xx = np.meshgrid(iy, ix, indexing="ij")
    out = np.empty((field.shape[0], fine_lat.size, fine_lon.size), dtype=np.float32)
    for k in range(field.shape[0]):
        out[k] = ndimage.map_coordinates(field[k].astype(np.float64), [yy, xx], order=3,
                                         mode="nearest")
    return out
