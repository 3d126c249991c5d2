"""Tests of varnet.operational.derived against analytic flows on the sphere.

The references come from 3-D vector geometry, not from the finite-difference formulas:

* a Gaussian eddy of SSH, axisymmetric in great-circle distance from its centre, whose
  gradient is radial: the geostrophic current follows from ``g/f`` times that gradient;
* a rigid rotation of the sphere about the axis through the eddy centre (solid-body
  rotation): vorticity ``2 Omega_e cos d``, zero divergence, zero strain;
* a radial (purely divergent) flow ``u_r(d) = chi'(d) / R`` from a Gaussian potential: in
  geodesic polar coordinates its divergence is ``(u_r' + u_r cot d) / R``, its strain
  ``|u_r' - u_r cot d| / R`` and its vorticity zero.

Tolerances: away from the centre and the edges every field is smooth on the eddy scale
``s`` (angular radius), and second-order centred differences err by at most about
``(h/s)^2`` times the field's magnitude, ``h`` the grid step. Each test bounds the error by
``C (h/s)^2 max|reference|`` with the constant ``C`` stated, and the convergence test checks
the second order itself: halving ``h`` divides the error by about 4.
"""

from __future__ import annotations

import numpy as np
import pytest

from varnet.datamodel.variables import ABSOLUTE_VARIABLES, DERIVED_VARIABLES
from varnet.kernels.finite_differences import (
    EARTH_RADIUS_M,
    GRAVITY_M_S2,
    coriolis_parameter,
)
from varnet.operational.derived import derive_fields

R = EARTH_RADIUS_M
LAT_C, LON_C = 35.0, -15.0  # eddy centre, degrees
S_DEG = 1.0  # eddy angular radius (Gaussian sigma), degrees


def grid(step: float, half_width: float = 5.0):
    """Cell centres around the eddy centre, offset by half a step so none sits on it."""
    n = round(2 * half_width / step)
    lat = LAT_C - half_width + step * (np.arange(n) + 0.5)
    lon = LON_C - half_width + step * (np.arange(n) + 0.5)
    return lat, lon


def unit_vectors(lat, lon):
    """Position r, east and north unit vectors, each (ny, nx, 3)."""
    lam, phi = np.meshgrid(np.deg2rad(lon), np.deg2rad(lat))
    r = np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], -1)
    east = np.stack([-np.sin(lam), np.cos(lam), np.zeros_like(lam)], -1)
    north = np.stack(
        [-np.sin(phi) * np.cos(lam), -np.sin(phi) * np.sin(lam), np.cos(phi)], -1
    )
    return r, east, north


def centre_vector():
    phi, lam = np.deg2rad(LAT_C), np.deg2rad(LON_C)
    return np.array([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])


def radial(lat, lon):
    """Angular distance d from the centre, and the unit tangent pointing away from it."""
    r, east, north = unit_vectors(lat, lon)
    c = centre_vector()
    cos_d = np.clip(r @ c, -1.0, 1.0)
    d = np.arccos(cos_d)
    t = (r * cos_d[..., None] - c) / np.sin(d)[..., None]
    return d, np.sum(t * east, -1), np.sum(t * north, -1)


def gaussian_eddy(lat, lon, amplitude=0.3):
    """SSH (m) of a Gaussian eddy and its exact geostrophic current (m s-1)."""
    s = np.deg2rad(S_DEG)
    d, te, tn = radial(lat, lon)
    eta = amplitude * np.exp(-(d**2) / (2 * s**2))
    deta = -d / s**2 * eta / R  # d(eta)/d(distance), m per m
    f = coriolis_parameter(lat)[:, None]
    ug = -GRAVITY_M_S2 / f * deta * tn
    vg = GRAVITY_M_S2 / f * deta * te
    return eta, ug, vg


def solid_body(lat, lon, omega=1e-5):
    """Rigid rotation about the eddy axis at rate omega (rad s-1): u, v and vorticity."""
    r, east, north = unit_vectors(lat, lon)
    c = centre_vector()
    vel = omega * R * np.cross(c, r)
    return np.sum(vel * east, -1), np.sum(vel * north, -1), 2 * omega * (r @ c)


def radial_flow(lat, lon, speed=0.5):
    """Radial flow u_r = chi'(d)/R of a Gaussian potential: u, v, divergence, strain."""
    s = np.deg2rad(S_DEG)
    d, te, tn = radial(lat, lon)
    # chi = -speed R s e^{1/2} exp(-d^2 / 2s^2): peak radial speed `speed` at d = s
    k = speed * np.exp(0.5) / s
    ur = k * d * np.exp(-(d**2) / (2 * s**2))
    dur = k * (1 - d**2 / s**2) * np.exp(-(d**2) / (2 * s**2))  # d(u_r)/dd
    cot = np.cos(d) / np.sin(d)
    return ur * te, ur * tn, (dur + ur * cot) / R, np.abs(dur - ur * cot) / R


def max_err(a, b):
    return float(np.nanmax(np.abs(a - b)))


def test_geostrophic_current_of_a_gaussian_eddy():
    step = 0.1
    lat, lon = grid(step)
    eta, ug, vg = gaussian_eddy(lat, lon)
    zeros = np.zeros_like(eta)
    out = derive_fields(eta, zeros, zeros, lat, lon)
    assert set(out) == set(DERIVED_VARIABLES)
    scale = np.hypot(ug, vg).max()  # 0.197 m s-1
    tol = 1.0 * (step / S_DEG) ** 2 * scale  # C = 1; measured 0.38 (u), 0.25 (v)
    assert max_err(out["ugosa"], ug) < tol
    assert max_err(out["vgosa"], vg) < tol
    assert np.isfinite(out["ugosa"]).all() and np.isfinite(out["vgosa"]).all()
    # a high in the northern hemisphere turns clockwise: westward south of its centre
    j = np.argmin(np.abs(lat - (LAT_C - S_DEG)))
    i = np.argmin(np.abs(lon - LON_C))
    assert out["ugosa"][j, i] < -0.15
    # a zero current has zero kinematics
    for key in ("vorticity", "divergence", "strain", "vorticity_f"):
        assert np.all(out[key] == 0.0)


def test_solid_body_rotation_plus_radial_flow():
    step = 0.1
    lat, lon = grid(step)
    u1, v1, zeta = solid_body(lat, lon)
    u2, v2, div, strain = radial_flow(lat, lon)
    u, v = u1 + u2, v1 + v2
    out = derive_fields(np.zeros_like(u), u, v, lat, lon)
    h2 = (step / S_DEG) ** 2
    # The rotation's vorticity varies on the planet's scale (error ~(h/R)^2, negligible):
    # the error is the radial flow's, on the eddy scale. C = 1 everywhere; measured 0.05
    # (vorticity), 0.42 (divergence), 0.62 (strain), largest near the centre (the flow is
    # negligible at the edges, where one-sided differences apply).
    scale = np.abs(div).max()  # 1.5e-5 s-1
    assert max_err(out["vorticity"], zeta) < 1.0 * h2 * scale
    assert max_err(out["divergence"], div) < 1.0 * h2 * scale
    assert max_err(out["strain"], strain) < 1.0 * h2 * strain.max()
    # normalisation by |f| (f > 0 here): the ratio, not a re-derivation
    f = coriolis_parameter(lat)[:, None]
    for key in ("vorticity", "divergence", "strain"):
        np.testing.assert_allclose(out[f"{key}_f"], out[key] / f, rtol=1e-12)
    # vorticity of the rotation is 2 omega cos d: about 2e-5 s-1, Rossby number ~0.23 at 35N
    assert abs(out["vorticity_f"][lat.size // 2, lon.size // 2] - 2e-5 / f[lat.size // 2, 0]) \
        < 1e-3


def test_second_order_convergence():
    errors = []
    for step in (0.2, 0.1):
        lat, lon = grid(step)
        u, v, div, _ = radial_flow(lat, lon)
        eta, ug, _ = gaussian_eddy(lat, lon)
        out = derive_fields(eta, u, v, lat, lon)
        # compare on the same physical region (2 coarse cells in from the edges)
        keep = (np.abs(lat - LAT_C) < 4.5)[:, None] & (np.abs(lon - LON_C) < 4.5)[None, :]
        errors.append((
            np.max(np.abs(out["divergence"] - div)[keep]),
            np.max(np.abs(out["ugosa"] - ug)[keep]),
        ))
    for coarse, fine in zip(*errors, strict=True):
        assert 3.0 < coarse / fine < 5.0  # second order: 4


def test_southern_hemisphere_signs():
    """|f| keeps the sign of vorticity: a cyclone (clockwise in the south) is negative."""
    lat = np.linspace(-40.0, -30.0, 41)
    lon = np.linspace(10.0, 20.0, 41)
    lam, phi = np.meshgrid(np.deg2rad(lon), np.deg2rad(lat))
    eta = -0.2 * np.exp(-((lam - lam.mean()) ** 2 * np.cos(phi) ** 2 + (phi - phi.mean()) ** 2)
                        / (2 * np.deg2rad(1.0) ** 2))  # a low: cyclone
    out = derive_fields(eta, np.zeros_like(eta), np.zeros_like(eta), lat, lon)
    zeta = derive_fields(eta, out["ugosa"], out["vgosa"], lat, lon)
    c = (20, 20)
    assert zeta["vorticity"][c] < 0  # clockwise
    assert zeta["vorticity_f"][c] < 0
    assert zeta["vorticity_f"][c] == pytest.approx(
        zeta["vorticity"][c] / abs(coriolis_parameter(lat[20])))


def test_land_and_equator_give_nan_only_where_they_should():
    lat = np.arange(-10.0, 10.01, 0.25)
    lon = np.arange(0.0, 10.01, 0.25)
    lam, phi = np.meshgrid(np.deg2rad(lon), np.deg2rad(lat))
    ssh = 0.1 * np.sin(3 * lam) * np.cos(2 * phi)
    u = 0.2 * np.cos(2 * lam) * np.sin(3 * phi)
    v = 0.1 * np.sin(lam) * np.cos(phi)
    land = np.zeros(ssh.shape, bool)
    land[20:30, 10:20] = True  # an island
    land[:, -1] = True  # a coast along the eastern edge
    ssh, u, v = (np.where(land, np.nan, a) for a in (ssh, u, v))
    out = derive_fields(ssh, u, v, lat, lon, equator_mask_deg=3.0)
    band = (np.abs(lat) < 3.0)[:, None] & np.ones(lon.size, bool)[None, :]
    for key in ("vorticity", "divergence", "strain"):
        np.testing.assert_array_equal(np.isnan(out[key]), land)  # coastal cells stay finite
    for key in ("ugosa", "vgosa", "vorticity_f", "divergence_f", "strain_f"):
        np.testing.assert_array_equal(np.isnan(out[key]), land | band)
    # float32 input is accepted, float64 output
    out32 = derive_fields(*(a.astype(np.float32) for a in (ssh, u, v)), lat, lon)
    assert all(a.dtype == np.float64 for a in out32.values())


def test_bad_arguments_are_named():
    lat, lon = np.linspace(30, 40, 11), np.linspace(0, 10, 21)
    good = np.zeros((11, 21))
    with pytest.raises(ValueError, match="uo has shape"):
        derive_fields(good, good.T, good, lat, lon)
    with pytest.raises(ValueError, match="lat_deg must be regularly spaced"):
        derive_fields(good, good, good, lat**1.2, lon)
    with pytest.raises(ValueError, match="equator_mask_deg"):
        derive_fields(good, good, good, lat, lon, equator_mask_deg=-1)
    with pytest.raises(ValueError, match="1-D"):
        derive_fields(good, good, good, lat[:, None], lon)
    with pytest.raises(ValueError, match="mdt has shape"):
        derive_fields(good, good, good, lat, lon, mdt=good[:, :-1])


def test_absolute_geostrophy_is_of_the_adt_never_of_the_anomaly():
    """With an MDT: adt = sla + mdt, ugos/vgos the geostrophy of the ADT (the eddy's current
    plus the mean flow's), ugosa/vgosa unchanged; ugos - ugosa is the geostrophy of the MDT
    to round-off (geostrophy is linear and the stencils are the same)."""
    step = 0.1
    lat, lon = grid(step)
    eta, ug, vg = gaussian_eddy(lat, lon)  # the anomaly: an eddy
    phi = np.deg2rad(lat)[:, None] * np.ones(lon.size)
    # a zonal jet's MDT: h = -a tanh((phi - phi_c)/w), its geostrophic u = (g/f) a/(R w) sech^2
    a, w = 0.5, np.deg2rad(1.5)
    mdt = -a * np.tanh((phi - np.deg2rad(LAT_C)) / w)
    f = coriolis_parameter(lat)[:, None]
    u_mean = GRAVITY_M_S2 / f * a / (R * w) / np.cosh((phi - np.deg2rad(LAT_C)) / w) ** 2
    zeros = np.zeros_like(eta)
    anomaly_only = derive_fields(eta, zeros, zeros, lat, lon)
    out = derive_fields(eta, zeros, zeros, lat, lon, mdt=mdt)
    assert set(out) == set(DERIVED_VARIABLES) | set(ABSOLUTE_VARIABLES)
    for key in DERIVED_VARIABLES:  # the anomaly's fields do not depend on the MDT
        np.testing.assert_array_equal(out[key], anomaly_only[key], err_msg=key)
    np.testing.assert_array_equal(out["adt"], eta + mdt)
    mean = derive_fields(mdt, zeros, zeros, lat, lon)
    scale = float(np.abs(out["ugos"]).max())
    np.testing.assert_allclose(out["ugos"] - out["ugosa"], mean["ugosa"], rtol=0,
                               atol=1e-12 * scale)
    np.testing.assert_allclose(out["vgos"] - out["vgosa"], mean["vgosa"], rtol=0,
                               atol=1e-12 * scale)
    # against the analytic absolute current (jet + eddy), at the eddy test's tolerance
    tol = 1.0 * (step / S_DEG) ** 2 * float(np.hypot(ug + u_mean, vg).max())
    assert max_err(out["ugos"], ug + u_mean) < tol
    assert max_err(out["vgos"], vg) < tol
    # the jet (0.35 m s-1 at its axis) is in ugos, not in ugosa (the eddy alone)
    assert float(u_mean.max()) == pytest.approx(0.35, abs=0.01)
    assert float(np.mean(out["ugos"])) == pytest.approx(float(np.mean(u_mean)), rel=0.01)
    assert abs(float(np.mean(out["ugosa"]))) < 0.01 * float(np.mean(u_mean))


# --------------------------------------------------------------------------------------------
# the land mask


def corner_and_island(lat, lon):
    """True on sea: land in the north-west corner and on a 3x3 island in the middle."""
    ocean = ~((lat[:, None] > LAT_C + 3.0) & (lon[None, :] < LON_C - 2.0))
    j, i = lat.size // 2, lon.size // 2
    ocean[j - 1 : j + 2, i - 1 : i + 2] = False
    return ocean


def test_land_values_never_reach_the_sea():
    """With ``ocean``, whatever the fields hold on land (here 1e6) is never read: every
    derived field equals, bit for bit, that of the fields with NaN on land; it is finite on
    every sea cell (no sea cell is cut off from its neighbours here) and NaN on land."""
    step = 0.1
    lat, lon = grid(step)
    eta, _, _ = gaussian_eddy(lat, lon)
    u1, v1, _ = solid_body(lat, lon)
    u2, v2, _, _ = radial_flow(lat, lon)
    mdt = 0.4 - 0.2 * np.tanh((lat[:, None] - LAT_C) / 1.5) * np.ones(lon.size)
    ocean = corner_and_island(lat, lon)
    land = ~ocean
    assert 0 < land.sum() < land.size
    inputs = {"sla": eta, "uo": u1 + u2, "vo": v1 + v2, "mdt": mdt}
    huge = {k: np.where(ocean, a, 1e6) for k, a in inputs.items()}
    nan = {k: np.where(ocean, a, np.nan) for k, a in inputs.items()}
    for use_mdt in (False, True):
        args = {"mdt": huge["mdt"]} if use_mdt else {}
        out = derive_fields(huge["sla"], huge["uo"], huge["vo"], lat, lon, ocean=ocean, **args)
        ref = derive_fields(nan["sla"], nan["uo"], nan["vo"], lat, lon,
                            **({"mdt": nan["mdt"]} if use_mdt else {}))
        expected = set(DERIVED_VARIABLES) | (set(ABSOLUTE_VARIABLES) if use_mdt else set())
        assert set(out) == set(ref) == expected
        for key in out:
            np.testing.assert_array_equal(out[key], ref[key], err_msg=key)
            assert np.isfinite(out[key][ocean]).all(), key
            assert np.isnan(out[key][land]).all(), key
            assert out[key].dtype == np.float64
        # the same with the NaN fields and the mask: the mask changes nothing more
        again = derive_fields(nan["sla"], nan["uo"], nan["vo"], lat, lon, ocean=ocean,
                              **({"mdt": nan["mdt"]} if use_mdt else {}))
        for key in out:
            np.testing.assert_array_equal(again[key], out[key], err_msg=key)
    # the caller's arrays are not touched
    np.testing.assert_array_equal(huge["sla"][land], 1e6)


def test_coastal_derivatives_are_one_sided_and_second_order():
    """At the coast the stencils use sea cells only: the geostrophic current and the
    divergence of analytic flows are as accurate there as second-order one-sided
    differences are (the kernels' stencil policy; tests/test_finite_differences.py checks
    the stencils themselves)."""
    step = 0.1
    lat, lon = grid(step)
    eta, ug, vg = gaussian_eddy(lat, lon)
    u, v, div, _ = radial_flow(lat, lon)
    ocean = corner_and_island(lat, lon)
    land = ~ocean
    # sea cells next to land (4-neighbourhood)
    near = np.zeros_like(land)
    near[1:] |= land[:-1]
    near[:-1] |= land[1:]
    near[:, 1:] |= land[:, :-1]
    near[:, :-1] |= land[:, 1:]
    coast = near & ocean
    assert coast.sum() > 20
    out = derive_fields(np.where(ocean, eta, -5.0), np.where(ocean, u, 7.0),
                        np.where(ocean, v, 7.0), lat, lon, ocean=ocean)
    h2 = (step / S_DEG) ** 2
    # one-sided second-order stencils err a few times more than centred ones: C = 2;
    # measured on the 62 coastal cells: 0.47 (u), 0.27 (v), 0.28 (divergence), against
    # 0.19 (u) and 0.41 (divergence) for centred differences of the unmasked fields there
    scale = np.hypot(ug, vg).max()
    assert np.abs(out["ugosa"] - ug)[coast].max() < 2.0 * h2 * scale
    assert np.abs(out["vgosa"] - vg)[coast].max() < 2.0 * h2 * scale
    assert np.abs(out["divergence"] - div)[coast].max() < 2.0 * h2 * np.abs(div).max()
    # a land value read by a centred stencil is off by orders of magnitude (measured: 140
    # times the largest current)
    with_land = derive_fields(np.where(ocean, eta, -5.0), u, v, lat, lon)
    assert np.abs(with_land["ugosa"] - ug)[coast].max() > 10 * scale


def test_no_mask_and_an_all_sea_mask_change_nothing():
    lat, lon = grid(0.2)
    eta, _, _ = gaussian_eddy(lat, lon)
    u, v, _, _ = radial_flow(lat, lon)
    eta[3, 4] = np.nan  # a gap stays a gap
    for dtype in (np.float64, np.float32):
        args = [a.astype(dtype) for a in (eta, u, v)]
        plain = derive_fields(*args, lat, lon, mdt=eta)
        masked = derive_fields(*args, lat, lon, mdt=eta, ocean=np.ones(eta.shape, bool))
        for key in plain:
            assert plain[key].tobytes() == masked[key].tobytes(), key


def test_a_bad_ocean_mask_is_refused():
    lat, lon = np.linspace(30, 40, 11), np.linspace(0, 10, 21)
    good = np.zeros((11, 21))
    with pytest.raises(ValueError, match=r"ocean has shape \(21, 11\)"):
        derive_fields(good, good, good, lat, lon, ocean=np.ones((21, 11), bool))
    with pytest.raises(TypeError, match="ocean must be a boolean array"):
        derive_fields(good, good, good, lat, lon, ocean=np.full((11, 21), 100.0))
