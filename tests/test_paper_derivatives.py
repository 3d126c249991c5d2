"""Tests of varnet.kernels.paper_derivatives against hand computations.

References: the stencil written out by hand with NumPy's symmetric padding (SciPy's 'reflect'),
fields linear in the grid indices (for which the stencil is exact), the haversine formula in
its arcsine form, and analytic derivatives of a Gaussian eddy on the sphere.
"""

from __future__ import annotations

import numpy as np
import pytest

from varnet.kernels.paper_derivatives import (
    PAPER_EARTH_RADIUS_M,
    PAPER_GRAVITY_M_S2,
    PAPER_OMEGA_RAD_S,
    paper_div_curl_strain,
    paper_geostrophy,
    paper_gradient,
    paper_grid_steps,
)

R = PAPER_EARTH_RADIUS_M


def grid(step: float, lat0: float = 33.0, lat1: float = 43.0, lon0: float = -65.0):
    lat = np.linspace(lat0, lat1, round((lat1 - lat0) / step) + 1)
    lon = lon0 + step * np.arange(round(8.0 / step) + 1)
    return lat, lon


def hand_steps(lat, lon):
    """Haversine steps in arcsine form: 2R asin(sqrt(a))."""
    dlam = np.deg2rad(lon[1] - lon[0])
    dphi = np.deg2rad(lat[1] - lat[0])
    dx = 2 * R * np.arcsin(np.cos(np.deg2rad(lat)) * np.sin(dlam / 2))
    dy = 2 * R * np.arcsin(np.sin(dphi / 2))
    return dx, dy


def hand_stencil(f, axis):
    """-0.7 f[i-1] + 0.4 f[i] + 0.3 f[i+1], with the sample beyond each edge = the edge one."""
    pad = [(0, 0)] * f.ndim
    pad[axis] = (1, 1)
    g = np.pad(f, pad, mode="symmetric")
    n = f.shape[axis]
    take = lambda start: np.take(g, np.arange(start, start + n), axis=axis)  # noqa: E731
    return -0.7 * take(0) + 0.4 * take(1) + 0.3 * take(2)


def test_constants():
    assert (R, PAPER_GRAVITY_M_S2, PAPER_OMEGA_RAD_S) == (6.371e6, 9.81, 7.2921e-5)


def test_stencil_orientation_on_a_spike():
    lat, lon = np.linspace(30.0, 30.4, 5), np.linspace(0.0, 0.8, 9)
    f = np.zeros((1, 5, 9))
    f[0, 2, 4] = 1.0
    dfdx, dfdy = paper_gradient(f, lat, lon, sigma=0.0)
    dx, dy = hand_steps(lat, lon)
    per_step_x = dfdx[0, 2] * dx[2]
    # d/dx at i is -0.7 f[i-1] + 0.4 f[i] + 0.3 f[i+1]: the spike at 4 gives 0.3, 0.4, -0.7
    np.testing.assert_allclose(per_step_x, [0, 0, 0, 0.3, 0.4, -0.7, 0, 0, 0], atol=1e-12)
    np.testing.assert_allclose(dfdy[0, :, 4] * dy, [0, 0.3, 0.4, -0.7, 0], atol=1e-12)
    assert np.count_nonzero(dfdx) == 3 and np.count_nonzero(dfdy) == 3


def test_matches_hand_written_stencil_with_reflect_edges():
    rng = np.random.default_rng(0)
    lat, lon = grid(0.5)
    f = rng.standard_normal((3, lat.size, lon.size))
    dfdx, dfdy = paper_gradient(f, lat, lon, sigma=0.0)
    dx, dy = hand_steps(lat, lon)
    np.testing.assert_allclose(dfdx, hand_stencil(f, 2) / dx[:, None], rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(dfdy, hand_stencil(f, 1) / dy, rtol=1e-12, atol=1e-18)
    assert dfdx.dtype == np.float64 and dfdx.shape == f.shape


@pytest.mark.parametrize("sigma", [0.0, 1.0])
def test_exact_on_linear_fields(sigma):
    lat, lon = grid(0.25)
    t = np.arange(12.0)[:, None, None]
    j = np.arange(lat.size)[None, :, None]
    i = np.arange(lon.size)[None, None, :]
    b, c = 0.03, -0.02  # per grid step in y and x
    f = 1.5 + 0.01 * t + b * j + c * i
    dfdx, dfdy = paper_gradient(f, lat, lon, sigma=sigma)
    dx, dy = hand_steps(lat, lon)
    gx, gy = dfdx * dx[:, None], dfdy * dy
    # Gaussian (radius 4 samples) and stencil are exact on linear fields away from edges
    inner = np.s_[5:-5, 5:-5, 5:-5] if sigma else np.s_[:, 1:-1, 1:-1]
    np.testing.assert_allclose(gx[inner], c, rtol=1e-10)
    np.testing.assert_allclose(gy[inner], b, rtol=1e-10)
    if sigma == 0.0:
        # reflect edges: 0.3 (f[1] - f[0]) at the first point, 0.7 (f[-1] - f[-2]) at the last
        np.testing.assert_allclose(gx[:, :, 0], 0.3 * c, rtol=1e-10)
        np.testing.assert_allclose(gx[:, :, -1], 0.7 * c, rtol=1e-10)
        np.testing.assert_allclose(gy[:, 0, :], 0.3 * b, rtol=1e-10)
        np.testing.assert_allclose(gy[:, -1, :], 0.7 * b, rtol=1e-10)


def test_haversine_steps():
    lat = np.arange(33.0, 43.0001, 0.05)
    lon = np.arange(-65.0, -54.9999, 0.05)
    dx, dy = paper_grid_steps(lat, lon)
    dx_ref, dy_ref = hand_steps(lat, lon)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-12)
    assert dy == pytest.approx(dy_ref, rel=1e-12)
    # the paper's orders of magnitude: ~5.56 km, ~4.38 km at 38N
    assert dy == pytest.approx(5.56e3, rel=1e-3)
    assert dx[np.argmin(np.abs(lat - 38.0))] == pytest.approx(4.38e3, rel=1e-3)
    # close to the small-angle metric
    np.testing.assert_allclose(dx, R * np.cos(np.deg2rad(lat)) * np.deg2rad(0.05), rtol=1e-6)


def eddy(lat, lon, amp=0.4, lat_c=38.0, lon_c=-61.0, s_deg=0.8):
    """Gaussian SSH (m) and its exact d/dlambda, d/dphi (per radian) at (lam, phi)."""
    lam, phi = np.meshgrid(np.deg2rad(lon), np.deg2rad(lat))
    s = np.deg2rad(s_deg)
    a, b = lam - np.deg2rad(lon_c), phi - np.deg2rad(lat_c)
    eta = amp * np.exp(-(a**2 + b**2) / (2 * s**2))
    return eta, -a / s**2 * eta, -b / s**2 * eta


def test_geostrophy_of_gaussian_eddy_is_first_order_and_upstream_shifted():
    errs, errs_up = [], []
    for step in (0.05, 0.025):
        lat, lon = grid(step)
        eta, _, _ = eddy(lat, lon)
        ug, vg = paper_geostrophy(eta[None], lat, lon)
        f = 2 * PAPER_OMEGA_RAD_S * np.sin(np.deg2rad(lat))[:, None]
        cosphi = np.cos(np.deg2rad(lat))[:, None]
        _, eta_l, eta_p = eddy(lat, lon)
        u_ref = -PAPER_GRAVITY_M_S2 / f * eta_p / R
        v_ref = PAPER_GRAVITY_M_S2 / f * eta_l / (R * cosphi)
        inner = np.s_[3:-3, 3:-3]
        scale = np.abs(v_ref).max()
        errs.append(np.abs(vg[0] - v_ref)[inner].max() / scale)
        assert np.abs(ug[0] - u_ref)[inner].max() / scale < 0.05
        # the stencil is the exact derivative 0.2 step upstream, up to O(h^2)
        _, eta_l_up, _ = eddy(lat, lon - 0.2 * step)
        _, _, eta_p_up = eddy(lat - 0.2 * step, lon)
        v_up = PAPER_GRAVITY_M_S2 / f * eta_l_up / (R * cosphi)
        u_up = -PAPER_GRAVITY_M_S2 / f * eta_p_up / R  # f stays that of the point
        errs_up.append(np.abs(vg[0] - v_up)[inner].max() / scale)
        assert errs_up[-1] < 0.1 * errs[-1]
        assert np.abs(ug[0] - u_up)[inner].max() / scale < 0.1 * errs[-1]
    assert errs[0] < 0.03
    assert 1.8 < errs[0] / errs[1] < 2.2  # first order
    assert 3.5 < errs_up[0] / errs_up[1] < 4.5  # second order about the shifted point


def test_geostrophy_smoothing_and_equator():
    lat = np.linspace(-2.0, 2.0, 9)  # holds 0.0
    lon = np.linspace(0.0, 4.0, 9)
    eta = np.random.default_rng(1).standard_normal((2, 9, 9))
    ug, vg = paper_geostrophy(eta, lat, lon)
    assert np.isnan(ug[:, 4]).all() and np.isnan(vg[:, 4]).all()
    assert np.isfinite(np.delete(ug, 4, axis=1)).all()
    ug1, _ = paper_geostrophy(eta, lat, lon, sigma=1.0)
    assert np.nanstd(ug1) < np.nanstd(ug)  # the pre-smoothing is applied


@pytest.mark.parametrize("sigma", [0.0, 1.0])
def test_div_curl_strain_of_linear_flow(sigma):
    lat, lon = grid(0.25)
    j = np.arange(lat.size)[None, :, None] + np.zeros((10, 1, 1))
    i = np.arange(lon.size)[None, None, :]
    al, be, ga, de = 0.02, -0.05, 0.07, 0.01  # du/di, du/dj, dv/di, dv/dj per step
    u = al * i + be * j
    v = ga * i + de * j
    div, curl, strain = paper_div_curl_strain(u, v, lat, lon, sigma=sigma)
    dx, dy = hand_steps(lat, lon)
    dx = dx[:, None]
    inner = np.s_[5:-5, 5:-5, 5:-5] if sigma else np.s_[:, 1:-1, 1:-1]
    ux, uy, vx, vy = al / dx, be / dy, ga / dx, de / dy
    expected = {
        "div": ux + vy,
        "curl": uy - vx,  # the paper's sign: minus the usual vorticity
        "strain": np.sqrt((vx + uy) ** 2 + (ux - vy) ** 2),
    }
    for name, got in (("div", div), ("curl", curl), ("strain", strain)):
        ref = np.broadcast_to(expected[name], got.shape)
        np.testing.assert_allclose(got[inner], ref[inner], rtol=1e-9, err_msg=name)


def test_curl_sign_is_opposite_to_vorticity():
    lat, lon = grid(0.25)
    y = np.arange(lat.size)[:, None] + 0.0 * lon
    x = np.arange(lon.size)[None, :] + 0.0 * lat[:, None]
    # counter-clockwise rotation: positive relative vorticity
    _, curl, _ = paper_div_curl_strain(-(y - y.mean()), x - x.mean(), lat, lon, sigma=0.0)
    assert (curl[1:-1, 1:-1] < 0).all()


def test_bad_arguments():
    lat, lon = grid(0.5)
    f = np.zeros((2, lat.size, lon.size))
    with pytest.raises(ValueError, match="field"):
        paper_gradient(np.zeros(lon.size), lat, lon)
    with pytest.raises(ValueError, match="lon_deg"):
        paper_gradient(f, lat, lon[:-1])
    with pytest.raises(ValueError, match="lat_deg"):
        paper_gradient(f, lat[::-1], lon)
    with pytest.raises(ValueError, match="sigma"):
        paper_gradient(f, lat, lon, sigma=-1.0)
    with pytest.raises(ValueError, match="u and v"):
        paper_div_curl_strain(f, f[:, :, 1:], lat, lon)
