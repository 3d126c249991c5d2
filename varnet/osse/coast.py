r"""Land, shelf and the penalisation that keeps the synthetic ocean's flow off land.

The land is a polygon of (longitude, latitude) vertices (``[coast] land``). On the product
grid a cell is land where its centre is inside the polygon; on the model's periodic plane a
point is land where its longitude and latitude (:meth:`PlaneMapping.lonlat`) are.

**Brinkman volume penalisation.** The spectral model cannot hold a wall, so the flow is
damped towards rest where there is no sea (Angot, Bruneau & Fabrie 1999; Kevlahan & Ghidaglia
2001), a linear friction :math:`-r(x, y)\,\mathbf u` in each layer's momentum equation, whose
curl enters the PV equations (:mod:`varnet.osse.qg`). The rate is

.. math::

    r = \begin{cases}
        1/\eta & \text{on land} \\
        c_d|u| / h(d) & \text{on the shelf, } 0 < d < W \\
        0 & \text{beyond}
    \end{cases}, \qquad
    h(d) = h_c + (h_b - h_c)\,\frac{d}{W},

with :math:`d` the distance to land (plane metres, measured across the periodic plane),
:math:`\eta` a damping time of an hour (the flow on land is damped within a few time steps,
far faster than eddies turn over, so no flow crosses land), and on the shelf the linear bottom
friction of a water column of depth :math:`h`: the shelf's currents are weak, as on the
Scotian Shelf. The rate is smoothed by a Gaussian of one grid cell, which keeps the
penalisation's step from ringing in the spectral model (no spurious waves at the coast).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.path import Path as Polygon
from scipy.ndimage import distance_transform_edt, gaussian_filter

from varnet.osse.config import CoastConfig
from varnet.osse.geometry import PlaneMapping


def land_at(coast: CoastConfig, lon_deg: np.ndarray, lat_deg: np.ndarray) -> np.ndarray:
    """Whether points (degrees, any matching shapes) are on land (inside the polygon)."""
    polygon = Polygon(np.asarray(coast.land, float))
    lon, lat = np.broadcast_arrays(np.asarray(lon_deg, float), np.asarray(lat_deg, float))
    inside = polygon.contains_points(np.column_stack([lon.ravel(), lat.ravel()]))
    return inside.reshape(lon.shape)


def ocean_on_grid(coast: CoastConfig | None, lat_deg: np.ndarray,
                  lon_deg: np.ndarray) -> np.ndarray:
    """Sea mask (True = sea) of the product grid's cells, shape (nlat, nlon)."""
    lat = np.asarray(lat_deg, float)
    lon = np.asarray(lon_deg, float)
    if coast is None:
        return np.ones((lat.size, lon.size), dtype=bool)
    return ~land_at(coast, lon[np.newaxis, :], lat[:, np.newaxis])


@dataclass(frozen=True)
class PlaneCoast:
    """The coast on the model's periodic plane.

    Attributes
    ----------
    land : ndarray of bool, shape (nx, nx)
        Land points, index order [y, x].
    distance_m : ndarray, shape (nx, nx)
        Distance to the nearest land point, plane metres (0 on land).
    damping_per_s : ndarray, shape (nx, nx)
        Penalisation rate r, s-1 (module docstring).
    """

    land: np.ndarray
    distance_m: np.ndarray
    damping_per_s: np.ndarray

    @classmethod
    def build(cls, coast: CoastConfig, mapping: PlaneMapping, nx: int) -> PlaneCoast:
        """The coast of ``coast`` on an ``nx`` x ``nx`` plane mapped by ``mapping``."""
        dx = mapping.domain_m / nx
        xy = np.arange(nx) * dx
        lon, lat = mapping.lonlat(xy[np.newaxis, :], xy[:, np.newaxis])
        land = land_at(coast, lon, lat)
        distance = periodic_distance(land, dx)
        width = coast.shelf_width_km * 1e3
        rate = np.zeros((nx, nx))
        if width > 0 and coast.shelf_friction_m_s > 0:
            on_shelf = (~land) & (distance < width)
            depth = coast.coast_depth_m + (coast.shelf_break_depth_m
                                           - coast.coast_depth_m) * distance / width
            rate[on_shelf] = coast.shelf_friction_m_s / depth[on_shelf]
        rate[land] = 1.0 / (coast.land_damping_hours * 3600.0)
        rate = gaussian_filter(rate, sigma=1.0, mode="wrap")
        return cls(land=land, distance_m=distance, damping_per_s=rate)


def periodic_distance(land: np.ndarray, spacing_m: float) -> np.ndarray:
    """Distance (m) from every point of a doubly periodic grid to the nearest land point.

    Parameters
    ----------
    land : ndarray of bool, shape (n, n)
        Land points.
    spacing_m : float
        Grid spacing, m.

    Returns
    -------
    ndarray, shape (n, n)
        Euclidean distance across the periodic plane, m (0 on land; inf without land).
    """
    n0, n1 = land.shape
    if not land.any():
        return np.full(land.shape, np.inf)
    tiled = np.tile(land, (3, 3))
    distance = distance_transform_edt(~tiled, sampling=spacing_m)
    return distance[n0:2 * n0, n1:2 * n1]
