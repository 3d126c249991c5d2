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

**Turned plane.** With a jet, the plane is turned by the jet's direction :math:`\theta`
(north of east) about the box centre, so that the model's x axis runs along the jet:

.. math::

    x_m = \tfrac{L}{2} + x\cos\theta + y\sin\theta, \qquad
    y_m = \tfrac{L}{2} - x\sin\theta + y\cos\theta,

a rotation, hence still conformal with the same scale factor; model velocities are turned
back by :math:`\theta` into eastward and northward components.

Fields are moved from the plane to the grid by exact Fourier interpolation of the model's
spectral coefficients (the model fields are band-limited), which is separable when the plane
is not turned (:math:`x` depends on longitude only and :math:`y` on latitude only):
:class:`FourierResampler`. On a turned plane the points are not separable;
:class:`TurnedResampler` evaluates the spectrum exactly on a grid twice as fine (zero-padding)
and interpolates it with periodic cubic splines, which keeps the band-limited fields to about
1e-4 of their amplitude.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft
from scipy.ndimage import map_coordinates, spline_filter

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
    rotation_deg : float
        Direction of the plane's x axis, degrees north of east.
    """

    lat0_deg: float
    lon0_deg: float
    domain_m: float
    rotation_deg: float = 0.0

    @classmethod
    def for_grid(cls, grid, domain_m: float, rotation_deg: float = 0.0) -> PlaneMapping:
        """Mapping centred on a :class:`~varnet.osse.config.GridConfig` box."""
        return cls(grid.center_lat, grid.center_lon, domain_m, rotation_deg)

    @classmethod
    def for_config(cls, config) -> PlaneMapping:
        """Mapping of an :class:`~varnet.osse.config.OsseConfig` (box, plane size, turn)."""
        return cls.for_grid(config.grid, config.ocean.domain_km * 1e3,
                            config.plane_rotation_deg)

    @property
    def turned(self) -> bool:
        """Whether the plane is turned (its x axis is not eastward)."""
        return self.rotation_deg != 0.0

    def _mercator(self, lon_deg: np.ndarray, lat_deg: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
        c0 = np.cos(np.deg2rad(self.lat0_deg))
        x = EARTH_RADIUS_M * c0 * np.deg2rad(np.asarray(lon_deg, float) - self.lon0_deg)
        y = EARTH_RADIUS_M * c0 * (np.arctanh(np.sin(np.deg2rad(np.asarray(lat_deg, float))))
                                   - np.arctanh(np.sin(np.deg2rad(self.lat0_deg))))
        return x, y

    def plane_xy(self, lon_deg: np.ndarray, lat_deg: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Plane coordinates (m, in [0, domain) near the box) of points (degrees)."""
        x, y = self._mercator(lon_deg, lat_deg)
        cos, sin = np.cos(np.deg2rad(self.rotation_deg)), np.sin(np.deg2rad(self.rotation_deg))
        half = 0.5 * self.domain_m
        return half + x * cos + y * sin, half - x * sin + y * cos

    def lonlat(self, x_m: np.ndarray, y_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Longitudes and latitudes (degrees) of plane points (m); inverse of :meth:`plane_xy`."""
        cos, sin = np.cos(np.deg2rad(self.rotation_deg)), np.sin(np.deg2rad(self.rotation_deg))
        dx = np.asarray(x_m, float) - 0.5 * self.domain_m
        dy = np.asarray(y_m, float) - 0.5 * self.domain_m
        x, y = dx * cos - dy * sin, dx * sin + dy * cos
        scale = EARTH_RADIUS_M * np.cos(np.deg2rad(self.lat0_deg))
        lon = self.lon0_deg + np.rad2deg(x / scale)
        lat = np.rad2deg(np.arcsin(np.tanh(y / scale
                                           + np.arctanh(np.sin(np.deg2rad(self.lat0_deg))))))
        return lon, lat

    def to_east_north(self, u_plane: np.ndarray, v_plane: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
        """Eastward and northward components of a vector given along the plane's axes."""
        if not self.turned:
            return u_plane, v_plane
        cos, sin = np.cos(np.deg2rad(self.rotation_deg)), np.sin(np.deg2rad(self.rotation_deg))
        return cos * u_plane - sin * v_plane, sin * u_plane + cos * v_plane

    @property
    def f0(self) -> float:
        """Coriolis parameter at the reference latitude, s-1."""
        return 2.0 * OMEGA_RAD_S * np.sin(np.deg2rad(self.lat0_deg))

    @property
    def beta(self) -> float:
        """Meridional gradient of f at the reference latitude, m-1 s-1."""
        return 2.0 * OMEGA_RAD_S * np.cos(np.deg2rad(self.lat0_deg)) / EARTH_RADIUS_M

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
        lon = np.linspace(grid.lon_min - half, grid.lon_max + half, 65)
        lat = np.linspace(grid.lat_min - half, grid.lat_max + half, 65)
        edge_lon = np.concatenate([lon, lon, np.full(65, lon[0]), np.full(65, lon[-1])])
        edge_lat = np.concatenate([np.full(65, lat[0]), np.full(65, lat[-1]), lat, lat])
        xs, ys = self.plane_xy(edge_lon, edge_lat)
        return float(np.ptp(xs)), float(np.ptp(ys))


class _Resampler:
    """Values and plane derivatives of band-limited periodic fields, from their real-FFT
    spectrum (``scipy.fft.rfft2`` over (y, x)), at fixed output points; a subclass sets the
    wavenumbers ``k`` (x, row vector) and ``l`` (y, column vector), rad m-1, and evaluates."""

    k: np.ndarray
    l: np.ndarray  # noqa: E741 (the wavenumber's usual name)

    def __call__(self, spectrum: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def ddx(self, spectrum: np.ndarray) -> np.ndarray:
        """Plane x-derivative of the field (field units per plane metre) at the output points."""
        return self(1j * self.k * spectrum)

    def ddy(self, spectrum: np.ndarray) -> np.ndarray:
        """Plane y-derivative of the field (field units per plane metre) at the output points."""
        return self(1j * self.l * spectrum)


class FourierResampler(_Resampler):
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



class TurnedResampler(_Resampler):
    """Band-limited periodic fields at arbitrary (non-separable) points of a turned plane.

    Parameters
    ----------
    n : int
        Points per side of the periodic model grid.
    domain_m : float
        Side of the periodic domain, m.
    x_out, y_out : ndarray, shape (ny, nx)
        Plane coordinates (m) of the output points.
    oversampling : int
        Factor of the zero-padded grid on which the splines are fitted.

    Notes
    -----
    Same interface as :class:`FourierResampler`. The field is evaluated exactly on a grid
    ``oversampling`` times finer (inverse FFT of the zero-padded spectrum), then interpolated
    with cubic B-splines that wrap around the period (:func:`scipy.ndimage.map_coordinates`,
    ``mode="grid-wrap"``).
    """

    def __init__(self, n: int, domain_m: float, x_out: np.ndarray, y_out: np.ndarray,
                 oversampling: int = 2) -> None:
        self.n = n
        self.fine = n * oversampling
        dx = domain_m / n
        self.k = (2 * np.pi * np.fft.rfftfreq(n, d=dx))[np.newaxis, :]
        self.l = (2 * np.pi * np.fft.fftfreq(n, d=dx))[:, np.newaxis]
        spacing = domain_m / self.fine
        self.shape = np.shape(x_out)
        self.coords = np.stack([(np.ravel(y_out) / spacing) % self.fine,
                                (np.ravel(x_out) / spacing) % self.fine])

    def __call__(self, spectrum: np.ndarray) -> np.ndarray:
        """Field values on the output points, shape of ``x_out``."""
        n, fine = self.n, self.fine
        padded = np.zeros((fine, fine // 2 + 1), dtype=complex)
        half = n // 2
        # The coarse Nyquist row and column are left out: the model's spectral filter keeps
        # them at round-off.
        padded[:half, :half] = spectrum[:half, :half]
        padded[fine - half + 1:, :half] = spectrum[n - half + 1:, :half]
        values = sfft.irfft2(padded, s=(fine, fine), workers=1) * (fine / n) ** 2
        coefficients = spline_filter(values, order=3, mode="grid-wrap")
        out = map_coordinates(coefficients, self.coords, order=3, mode="grid-wrap",
                              prefilter=False)
        return out.reshape(self.shape)

