r"""Daily truth fields on the lon/lat grid: SSH, SST and a surface current that is not purely
geostrophic.

In a QG model the velocity is an exact derivative of SSH, which would make current mapping
trivial and the divergence score undefined. The truth surface current is therefore built from
three parts, all in m s-1 on the product grid (:math:`\hat k` the vertical unit vector,
:math:`f = 2\Omega\sin\varphi` the local Coriolis parameter, :math:`g` gravity):

1. **Geostrophic current of the true SSH**, computed on the sphere with the project's finite
   differences (:func:`varnet.kernels.finite_differences.geostrophic_velocity`), so that
   geostrophy of the truth SSH reproduces it to round-off:

   .. math::

       u_g = -\frac{g}{f R}\,\partial_\varphi\eta, \qquad
       v_g = \frac{g}{f R\cos\varphi}\,\partial_\lambda\eta,
       \qquad \eta = \mathrm{MDT}(\varphi) + \frac{f\,\psi_1}{g\,k^2}

   (see :mod:`varnet.osse.geometry` for the map scale factor :math:`k` and the MDT).

2. **First-order cyclogeostrophic correction** (gradient-wind balance expanded to first order
   in the Rossby number). Steady momentum balance,
   :math:`(\mathbf u\cdot\nabla)\mathbf u + f\hat k\times\mathbf u = -g\nabla\eta`, minus
   geostrophy leaves :math:`f\hat k\times\mathbf u_{cg} = -(\mathbf u_g\cdot\nabla)\mathbf u_g`,
   hence

   .. math::

       \mathbf u_{cg} = \frac{1}{f}\,\hat k \times (\mathbf u_g\cdot\nabla)\,\mathbf u_g,
       \qquad u_{cg} = -\frac{(\mathbf u_g\cdot\nabla) v_g}{f}, \quad
       v_{cg} = \frac{(\mathbf u_g\cdot\nabla) u_g}{f},

   with the advection evaluated on the sphere (metric terms included). It is of order
   :math:`Ro\,|\mathbf u_g|` and makes cyclones subgeostrophic and anticyclones
   supergeostrophic, as gradient-wind balance requires. (Written with the opposite sign,
   :math:`-\frac1f\hat k\times\ldots`, the correction would speed cyclones up; the sign here
   is the one the momentum equation gives, and a test checks the cyclone/anticyclone
   asymmetry.)

3. **Irrotational ageostrophic current** :math:`\mathbf u_a = \nabla\chi`,
   :math:`\nabla^2\chi = \delta`, whose divergence closes the upper-layer QG vorticity budget
   (vortex stretching by the ageostrophic circulation):

   .. math::

       \delta = -\frac{1}{f_0}\left(\partial_t\zeta_1 + J(\psi_1, \zeta_1)
                + U\,\partial_x\zeta_1 + \beta\, v_1\right),

   computed spectrally on the model plane (:meth:`varnet.osse.qg.TwoLayerQG.
   divergent_potential_spectrum`) and mapped to the sphere as :math:`\nabla\chi / k`. It is of
   order :math:`Ro^2 f L`, i.e. :math:`Ro\,|\mathbf u_g|`.

The total current is :math:`\mathbf u = \mathbf u_g + \mathbf u_{cg} + \mathbf u_a`. SST is
:math:`T = T_0 - G\,(y - y_0) + \tilde T(y) + T'`, the tracer of :mod:`varnet.osse.qg` on its
background gradient and front (:mod:`varnet.osse.jet`), in kelvin.

With a jet, the mean dynamic topography holds the jet's background streamfunction,
:math:`\mathrm{MDT} = f\,\tilde\Psi(y)/(g k^2)` (plus the uniform flow's, if any), so that
the SSH is :math:`f(\psi_1 + \tilde\Psi)/(g k^2)` + the uniform flow's MDT. With a coast,
every field is NaN on land cells (:mod:`varnet.osse.coast`); geostrophy and the other
derivatives are one-sided next to land.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from varnet.kernels.finite_differences import (
    advection,
    coriolis_parameter,
    geostrophic_velocity,
)
from varnet.osse.geometry import FourierResampler, PlaneMapping, TurnedResampler
from varnet.osse.jet import JetProfile
from varnet.osse.qg import TwoLayerQG


@dataclass(frozen=True)
class TruthDay:
    """One day of truth on the product grid; every field has shape (nlat, nlon).

    Attributes
    ----------
    ssh : sea-surface height above the geoid (MDT + anomaly), m
    sla : sea-level anomaly (ssh - mdt), m
    u, v : total surface current, m s-1
    ugos, vgos : geostrophic current of ``ssh`` on the sphere, m s-1
    ucg, vcg : first-order cyclogeostrophic correction, m s-1
    uag, vag : irrotational ageostrophic current, m s-1
    sst : sea-surface temperature, K
    """

    ssh: np.ndarray
    sla: np.ndarray
    u: np.ndarray
    v: np.ndarray
    ugos: np.ndarray
    vgos: np.ndarray
    ucg: np.ndarray
    vcg: np.ndarray
    uag: np.ndarray
    vag: np.ndarray
    sst: np.ndarray


class TruthSampler:
    """Turns the model state into :class:`TruthDay` fields on a lon/lat grid.

    Parameters
    ----------
    mapping : PlaneMapping
        Plane-to-sphere map.
    lat_deg, lon_deg : ndarray
        Product grid cell centres, degrees (ascending).
    nx : int
        Model resolution.
    mean_flow_m_s : float
        Imposed upper-layer zonal mean flow (plane units), m s-1.
    sst_reference_k, sst_gradient_k_per_m : float
        Background SST at the reference latitude (K) and its decrease along the plane's y
        (K m-1, plane metres).
    jet : JetProfile, optional
        The jet and its SST front.
    ocean : ndarray of bool, shape (nlat, nlon), optional
        Sea cells; every field is NaN elsewhere. All sea if omitted.
    """

    def __init__(self, mapping: PlaneMapping, lat_deg: np.ndarray, lon_deg: np.ndarray,
                 nx: int, mean_flow_m_s: float, sst_reference_k: float,
                 sst_gradient_k_per_m: float, jet: JetProfile | None = None,
                 ocean: np.ndarray | None = None) -> None:
        self.lat = np.asarray(lat_deg, float)
        self.lon = np.asarray(lon_deg, float)
        self.mapping = mapping
        shape = (self.lat.size, self.lon.size)
        x, y = mapping.plane_xy(self.lon[np.newaxis, :], self.lat[:, np.newaxis])
        x, y = np.broadcast_to(x, shape), np.broadcast_to(y, shape)
        if mapping.turned:
            self.resample = TurnedResampler(nx, mapping.domain_m, x, y)
        else:
            self.resample = FourierResampler(nx, mapping.domain_m, x[0], y[:, 0])
        self.ssh_factor = mapping.ssh_per_streamfunction(self.lat)[:, None]
        self.inv_scale = (1.0 / mapping.scale_factor(self.lat))[:, None]
        self.land = None if ocean is None or np.all(ocean) else ~np.asarray(ocean, bool)
        mdt = np.broadcast_to(mapping.mean_dynamic_topography(self.lat, mean_flow_m_s)[:, None],
                              shape).copy()
        sst_background = sst_reference_k - sst_gradient_k_per_m * (y - 0.5 * mapping.domain_m)
        if jet is not None:
            mdt = mdt + self.ssh_factor * jet.streamfunction(y)
            sst_background = sst_background + jet.sst_front(y)
        self.mdt = self._mask(mdt)
        self.sst_background = self._mask(np.broadcast_to(sst_background, shape).copy())
        self.f = coriolis_parameter(self.lat)[:, None]

    def _mask(self, field: np.ndarray) -> np.ndarray:
        """``field`` with NaN on land (in place)."""
        if self.land is not None:
            field[self.land] = np.nan
        return field

    def __call__(self, model: TwoLayerQG) -> TruthDay:
        """Truth fields for the model's current state."""
        psi_h = model.streamfunction_spectrum()[0]
        chi_h = model.divergent_potential_spectrum()
        sla = self._mask(self.ssh_factor * self.resample(psi_h))
        ssh = self.mdt + sla
        sst = self.sst_background + self.resample(model.th)
        ugos, vgos = geostrophic_velocity(ssh, self.lat, self.lon)
        adv_x, adv_y = advection(ugos, vgos, self.lat, self.lon)
        ucg, vcg = -adv_y / self.f, adv_x / self.f
        uag, vag = self.mapping.to_east_north(self.inv_scale * self.resample.ddx(chi_h),
                                              self.inv_scale * self.resample.ddy(chi_h))
        uag, vag = self._mask(uag), self._mask(vag)
        return TruthDay(ssh=ssh, sla=sla, u=ugos + ucg + uag, v=vgos + vcg + vag,
                        ugos=ugos, vgos=vgos, ucg=ucg, vcg=vcg, uag=uag, vag=vag, sst=sst)
