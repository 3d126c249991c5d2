r"""The Gulf-Stream-like jet of the synthetic ocean and its SST front.

The jet is a background flow of the upper layer along the model's x axis (the plane is turned
so that x runs along the jet's direction, :mod:`varnet.osse.geometry`), with a
:math:`\mathrm{sech}^2` profile across it:

.. math::

    \tilde U(y) = U_j\,\mathrm{sech}^2 z, \qquad z = \frac{y - y_j}{L}, \qquad
    \tilde U''(y) = \frac{U_j}{L^2}\,\mathrm{sech}^2 z\,(6\tanh^2 z - 2),

    \tilde\Psi(y) = -\int \tilde U\,dy = -U_j L \tanh z,

so the sea surface drops across it by :math:`2 f U_j L / g` (0.8 m for 1.1 m s-1 and
L = 40 km at 38 N), high to the south. :math:`y_j` is the plane y of the point where the axis
crosses the box's central meridian. The quasi-geostrophic model
(:mod:`varnet.osse.qg`) takes :math:`\tilde U` and :math:`\tilde U''` as its background jet
and relaxes the upper layer's along-jet mean PV anomaly to zero, which keeps the jet while
its meanders grow, pinch off warm-core rings to the north and cold-core rings to the south,
and are carried downstream.

The SST front rides on the jet's axis, warm to the south:

.. math::

    \tilde T(y) = -\frac{\Delta T}{2}\tanh\frac{y - y_j}{L_T}, \qquad
    \tilde T'(y) = -\frac{\Delta T}{2 L_T}\,\mathrm{sech}^2\frac{y - y_j}{L_T}.

Distances are plane metres; the profiles are evaluated without wrapping, which is exact on
the model's periodic rows (the jet is negligible half a plane away) and keeps the
:math:`\tanh` steps single on the product grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from varnet.osse.config import OsseConfig
from varnet.osse.geometry import PlaneMapping


@dataclass(frozen=True)
class JetProfile:
    """The jet and its SST front across the plane (module docstring).

    Attributes
    ----------
    axis_y_m : float
        Plane y of the jet's axis, m.
    speed_m_s, half_width_m : float
        :math:`U_j` (m s-1) and :math:`L` (m).
    front_k, front_width_m : float
        :math:`\\Delta T` (K) and :math:`L_T` (m).
    """

    axis_y_m: float
    speed_m_s: float
    half_width_m: float
    front_k: float
    front_width_m: float

    @classmethod
    def for_config(cls, config: OsseConfig, mapping: PlaneMapping) -> JetProfile | None:
        """The jet of a configuration (None without [jet])."""
        jet = config.jet
        if jet is None:
            return None
        _, axis = mapping.plane_xy(np.array(mapping.lon0_deg), np.array(jet.latitude))
        return cls(axis_y_m=float(axis), speed_m_s=jet.speed_m_s,
                   half_width_m=jet.half_width_km * 1e3, front_k=config.sst.front_k,
                   front_width_m=config.sst.front_width_km * 1e3)

    def _z(self, y_m: np.ndarray) -> np.ndarray:
        return (np.asarray(y_m, float) - self.axis_y_m) / self.half_width_m

    def velocity(self, y_m: np.ndarray) -> np.ndarray:
        """Background velocity along the jet, m s-1."""
        return self.speed_m_s / np.cosh(self._z(y_m)) ** 2

    def velocity_yy(self, y_m: np.ndarray) -> np.ndarray:
        """Second derivative of :meth:`velocity` across the jet, m-1 s-1."""
        z = self._z(y_m)
        sech2 = 1.0 / np.cosh(z) ** 2
        return self.speed_m_s / self.half_width_m**2 * sech2 * (6.0 * np.tanh(z) ** 2 - 2.0)

    def streamfunction(self, y_m: np.ndarray) -> np.ndarray:
        """Background streamfunction, m2 s-1 (zero on the axis, positive to the south)."""
        return -self.speed_m_s * self.half_width_m * np.tanh(self._z(y_m))

    def sst_front(self, y_m: np.ndarray) -> np.ndarray:
        """SST front added to the background SST, K (warm to the south)."""
        if not self.front_k:
            return np.zeros(np.shape(y_m))
        return -0.5 * self.front_k * np.tanh((np.asarray(y_m, float) - self.axis_y_m)
                                             / self.front_width_m)

    def sst_front_gradient(self, y_m: np.ndarray) -> np.ndarray:
        """y derivative of :meth:`sst_front`, K per plane metre."""
        z = (np.asarray(y_m, float) - self.axis_y_m) / self.front_width_m
        return -0.5 * self.front_k / self.front_width_m / np.cosh(z) ** 2
