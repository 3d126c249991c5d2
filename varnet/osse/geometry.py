r"""Mapping the doubly periodic model plane onto the longitude/latitude product grid.

The QG model lives on a plane; products live on a regular lon/lat grid on the sphere. The
plane is mapped onto the sphere with a **Mercator projection about the box's central latitude**
:math:`\varphi_0` (and central longitude :math:`\lambda_0`):

.. math::

    x = R\cos\varphi_0\,(\lambda - \lambda_0), \qquad
    y = R\cos\varphi_0\,(\operatorname{gd}^{-1}\varphi - \operatorname{gd}^{-1}\varphi_0),

with :math:`\operatorname{gd}^{-1}\varphi = \operatorname{artanh}(\sin\varphi)`. The map is
conformal (eddies keep their shape) with the isotropic scale factor
:math:`k(\varphi) = \cos\varphi_0/\cos\varphi` plane metres per metre on the Earth, so a
plane velocity :math:`u_p` is the physical velocity :math:`u_p/k`.

The model uses :math:`f_0 = 2\Omega\sin\varphi_0` and :math:`\beta = 2\Omega\cos\varphi_0/R`,
the values of the central latitude. Sea-surface height is defined from the upper-layer
streamfunction :math:`\psi_1` as

.. math::

    \eta' = \frac{f(\varphi)\,\psi_1}{g\,k(\varphi)^2}

so that geostrophy computed **on the sphere** with the local :math:`f(\varphi)`,
:math:`u_g = -\frac{g}{fR}\partial_\varphi\eta'`, returns the model's physical velocity
:math:`-\partial_y\psi_1/k` up to a term :math:`\psi_1\,(\beta/(k f) - 2\tan\varphi/R)/k`,
which is below 0.5 % of the current for this box (the two parts nearly cancel near 38 N).

The imposed upper-layer mean flow :math:`U` becomes a mean dynamic topography whose spherical
geostrophic current is exactly :math:`U/k(\varphi)` eastward:

.. math::

    \mathrm{MDT}(\varphi) = \frac{\Omega R U}{2 g \cos\varphi_0}
        \left(\cos 2\varphi - \cos 2\varphi_0\right).

Fields are moved from the plane to the grid by exact Fourier interpolation of the model's
spectral coefficients (the model fields are band-limited), which is separable because
:math:`x` depends on longitude only and :math:`y` on latitude only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from varnet.kernels.finite_differences import EARTH_RADIUS_M, GRAVITY_M_S2, OMEGA_RAD_S


@dataclass(frozen=True)
class PlaneMapping:
    """Conformal map between the periodic model plane and the sphere (see module docstring).

    Attributes
    ----------
    lat0_deg, lon0_deg : float
        Reference (central) latitude and longitude, degrees.
    domain_m : float
        Side of the periodic plane, m; the reference point maps to its centre.
    """

    lat0_deg: float
    lon0_deg: float
    domain_m: float

    @classmethod
    def for_grid(cls, grid, domain_m: float) -> PlaneMapping:
        """Mapping centred on a :class:`~varnet.osse.config.GridConfig` box."""
        return cls(grid.center_lat, grid.center_lon, domain_m)

    @property
    def f0(self) -> float:
        """Coriolis parameter at the reference latitude, s-1."""
        return 2.0 * OMEGA_RAD_S * np.sin(np.deg2rad(self.lat0_deg))

    @property
    def beta(self) -> float:
        """Meridional gradient of f at the reference latitude, m-1 s-1."""
        return 2.0 * OMEGA_RAD_S * np.cos(np.deg2rad(self.lat0_deg)) / EARTH_RADIUS_M

    def x_of_lon(self, lon_deg: np.ndarray) -> np.ndarray:
        """Plane x (m, in [0, domain)) of longitudes (degrees)."""
        c0 = np.cos(np.deg2rad(self.lat0_deg))
        return 0.5 * self.domain_m + EARTH_RADIUS_M * c0 * np.deg2rad(
            np.asarray(lon_deg, float) - self.lon0_deg)

    def y_of_lat(self, lat_deg: np.ndarray) -> np.ndarray:
        """Plane y (m, in [0, domain)) of latitudes (degrees)."""
        c0 = np.cos(np.deg2rad(self.lat0_deg))
        lat = np.deg2rad(np.asarray(lat_deg, float))
        lat0 = np.deg2rad(self.lat0_deg)
        return 0.5 * self.domain_m + EARTH_RADIUS_M * c0 * (
            np.arctanh(np.sin(lat)) - np.arctanh(np.sin(lat0)))

    def scale_factor(self, lat_deg: np.ndarray) -> np.ndarray:
        """Plane metres per metre on the Earth, k = cos(lat0) / cos(lat) (dimensionless)."""
        return np.cos(np.deg2rad(self.lat0_deg)) / np.cos(np.deg2rad(np.asarray(lat_deg)))

    def ssh_per_streamfunction(self, lat_deg: np.ndarray) -> np.ndarray:
        """Factor f / (g k^2) turning the upper-layer streamfunction into SSH, s m-1."""
        f = 2.0 * OMEGA_RAD_S * np.sin(np.deg2rad(np.asarray(lat_deg, float)))
        return f / (GRAVITY_M_S2 * self.scale_factor(lat_deg) ** 2)

    def mean_dynamic_topography(self, lat_deg: np.ndarray, mean_flow_m_s: float) -> np.ndarray:
        """MDT (m, zero at the reference latitude) whose geostrophic current is U/k eastward."""
        lat = np.deg2rad(np.asarray(lat_deg, float))
        lat0 = np.deg2rad(self.lat0_deg)
        amp = OMEGA_RAD_S * EARTH_RADIUS_M * mean_flow_m_s / (2.0 * GRAVITY_M_S2 * np.cos(lat0))
        return amp * (np.cos(2.0 * lat) - np.cos(2.0 * lat0))

    def box_extent_m(self, grid) -> tuple[float, float]:
        """Plane extent (m) in x and y covered by the grid box, cell edges included."""
        half = 0.5 * grid.resolution_deg
        xs = self.x_of_lon(np.array([grid.lon_min - half, grid.lon_max + half]))
        ys = self.y_of_lat(np.array([grid.lat_min - half, grid.lat_max + half]))
        return float(xs[1] - xs[0]), float(ys[1] - ys[0])


class FourierResampler:
    """Exact evaluation of band-limited periodic fields at arbitrary separable points.

    Parameters
    ----------
    n : int
        Points per side of the periodic model grid.
    domain_m : float
        Side of the periodic domain, m.
    x_out, y_out : ndarray
        Plane coordinates (m) of the output columns and rows.

    Notes
    -----
    For a field with real-FFT coefficients :math:`\\hat f_{l,k}` (``scipy.fft.rfft2`` over
    (y, x)), :math:`f(x, y) = N^{-2} \\sum_l \\sum_{k \\ge 0} w_k
    \\,\\mathrm{Re}(\\hat f_{l,k} e^{i(kx + ly)})` with :math:`w_k = 2` except for the mean and
    Nyquist columns. Evaluated as two small matrix products.
    """

    def __init__(self, n: int, domain_m: float, x_out: np.ndarray, y_out: np.ndarray) -> None:
        dx = domain_m / n
        k = 2 * np.pi * np.fft.rfftfreq(n, d=dx)
        ll = 2 * np.pi * np.fft.fftfreq(n, d=dx)
        weights = np.full(k.size, 2.0)
        weights[0] = 1.0
        if n % 2 == 0:
            weights[-1] = 1.0
        self._ex = (weights[:, None] * np.exp(1j * np.outer(k, x_out))) / n**2
        self._ey = np.exp(1j * np.outer(np.asarray(y_out, float), ll))
        self.k = k[np.newaxis, :]
        self.l = ll[:, np.newaxis]

    def __call__(self, spectrum: np.ndarray) -> np.ndarray:
        """Field values on the output points, shape (len(y_out), len(x_out))."""
        return np.real(self._ey @ spectrum @ self._ex)

    def ddx(self, spectrum: np.ndarray) -> np.ndarray:
        """Plane x-derivative of the field (field units per plane metre) at the output points."""
        return self(1j * self.k * spectrum)

    def ddy(self, spectrum: np.ndarray) -> np.ndarray:
        """Plane y-derivative of the field (field units per plane metre) at the output points."""
        return self(1j * self.l * spectrum)
