"""Tests of varnet.kernels.finite_differences against independent references.

References are numpy.gradient with the same metric, analytic derivatives of smooth fields
(written in longitude/latitude so that they are exact on the sphere), and rigid rotations of
the sphere, whose vorticity, strain and acceleration follow from 3-D vector algebra.
"""

from __future__ import annotations

import numpy as np
import pytest

from varnet.kernels import finite_differences as fd
from varnet.kernels.finite_differences import (
    EARTH_RADIUS_M,
    GRAVITY_M_S2,
    OMEGA_RAD_S,
    advection,
    coriolis_parameter,
    divergence,
    geostrophic_velocity,
    gradient,
    okubo_weiss,
    relative_vorticity,
    strain_rate,
)

R = EARTH_RADIUS_M


def box(
    step: float, lat0: float = 30.0, lat1: float = 45.0, lon0: float = -20.0, lon1: float = -5.0
) -> tuple[np.ndarray, np.ndarray]:
    """Regular lat/lon coordinates (degrees) covering a box at ``step`` degrees."""
    lat = np.linspace(lat0, lat1, round((lat1 - lat0) / step) + 1)
    lon = np.linspace(lon0, lon1, round((lon1 - lon0) / step) + 1)
    return lat, lon


def mesh(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2-D (phi, lambda) in radians, shape (ny, nx)."""
    lam, phi = np.meshgrid(np.deg2rad(lon), np.deg2rad(lat))
    return phi, lam


def wave(lat, lon, a=9.0, b=7.0):
    """f = sin(a lam) cos(b phi) and its exact (df/dx, df/dy) on the sphere."""
    phi, lam = mesh(lat, lon)
    f = np.sin(a * lam) * np.cos(b * phi)
    fx = a * np.cos(a * lam) * np.cos(b * phi) / (R * np.cos(phi))
    fy = -b * np.sin(a * lam) * np.sin(b * phi) / R
    return f, fx, fy


def gaussian(lat, lon, lat_c=37.5, lon_c=-12.5, s_deg=1.5):
    """Gaussian in (lam, phi), isotropic in metres at its centre, and its exact lambda/phi
    derivatives up to order 2."""
    phi, lam = mesh(lat, lon)
    sp = np.deg2rad(s_deg)
    sl = sp / np.cos(np.deg2rad(lat_c))
    a = (lam - np.deg2rad(lon_c)) / sl**2
    b = (phi - np.deg2rad(lat_c)) / sp**2
    g = np.exp(-0.5 * (sl**2 * a**2 + sp**2 * b**2))
    return dict(
        phi=phi, f=g, l=-a * g, p=-b * g, ll=(a**2 - 1 / sl**2) * g, pp=(b**2 - 1 / sp**2) * g
    )


def laplacian(d):
    """Exact spherical Laplacian from the lambda/phi derivatives of ``gaussian``."""
    phi = d["phi"]
    return d["ll"] / (R * np.cos(phi)) ** 2 + (d["pp"] - np.tan(phi) * d["p"]) / R**2


def rigid_rotation(lat, lon, omega):
    """Rigid rotation with angular velocity vector ``omega`` (rad s-1, Earth-centred frame).

    Returns u, v and the exact vorticity 2 omega.r_hat and acceleration (u.grad)u, the
    tangential part of omega (omega.r) - |omega|^2 r.
    """
    phi, lam = mesh(lat, lon)
    rhat = np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])
    e_lam = np.stack([-np.sin(lam), np.cos(lam), np.zeros_like(lam)])
    e_phi = np.stack([-np.sin(phi) * np.cos(lam), -np.sin(phi) * np.sin(lam), np.cos(phi)])
    w = np.asarray(omega, dtype=float)[:, None, None]
    vel = np.cross(w, R * rhat, axis=0)
    u = np.sum(vel * e_lam, axis=0)
    v = np.sum(vel * e_phi, axis=0)
    w_dot_r = np.sum(w * R * rhat, axis=0)
    acc = w * w_dot_r  # the radial -|omega|^2 r term has no tangential part
    zeta = 2.0 * np.sum(w * rhat, axis=0)
    return u, v, zeta, np.sum(acc * e_lam, axis=0), np.sum(acc * e_phi, axis=0)


def rel_err(a, b):
    return np.nanmax(np.abs(a - b)) / np.nanmax(np.abs(b))


# ------------------------------------------------------------------------------------------
# gradient
# ------------------------------------------------------------------------------------------


def test_constants_and_coriolis():
    assert R == 6371000.0 and OMEGA_RAD_S == 7.2921159e-5 and GRAVITY_M_S2 == 9.80665
    np.testing.assert_allclose(
        coriolis_parameter([0.0, 30.0, -90.0]), [0.0, OMEGA_RAD_S, -2 * OMEGA_RAD_S], atol=1e-20
    )


def test_gradient_matches_numpy_gradient():
    rng = np.random.default_rng(0)
    lat, lon = box(0.25)
    f = rng.standard_normal((lat.size, lon.size)).cumsum(0).cumsum(1)  # smooth-ish, nonzero
    dlam, dphi = np.deg2rad(0.25), np.deg2rad(0.25)
    ref_x = np.gradient(f, R * dlam, axis=1, edge_order=2) / np.cos(np.deg2rad(lat))[:, None]
    ref_y = np.gradient(f, R * dphi, axis=0, edge_order=2)
    fx, fy = gradient(f, lat, lon)
    assert fx.dtype == np.float64 and fy.dtype == np.float64
    scale_x, scale_y = np.abs(ref_x).max(), np.abs(ref_y).max()
    # interior (centred) and edges (numpy's edge_order=2 is the same one-sided stencil)
    np.testing.assert_allclose(fx[:, 1:-1], ref_x[:, 1:-1], rtol=1e-12, atol=1e-12 * scale_x)
    np.testing.assert_allclose(fy[1:-1], ref_y[1:-1], rtol=1e-12, atol=1e-12 * scale_y)
    np.testing.assert_allclose(fx, ref_x, rtol=1e-12, atol=1e-12 * scale_x)
    np.testing.assert_allclose(fy, ref_y, rtol=1e-12, atol=1e-12 * scale_y)


def test_gradient_second_order_at_edges_and_interior():
    errors = {}
    for step in (0.1, 0.05):
        lat, lon = box(step)
        f, fx_ref, fy_ref = wave(lat, lon)
        fx, fy = gradient(f, lat, lon)
        ex, ey = np.abs(fx - fx_ref), np.abs(fy - fy_ref)
        errors[step] = dict(
            x_edge=max(ex[:, 0].max(), ex[:, -1].max()),
            x_int=ex[:, 1:-1].max(),
            y_edge=max(ey[0].max(), ey[-1].max()),
            y_int=ey[1:-1].max(),
        )
    for key, coarse in errors[0.1].items():
        ratio = coarse / errors[0.05][key]
        assert 3.6 < ratio < 4.4, (key, ratio)


def test_gradient_leading_axes():
    lat, lon = box(0.5)
    f, _, _ = wave(lat, lon)
    stack = np.stack([f, 2 * f, -f])
    stack = np.stack([stack, stack + 1.0])  # (2, 3, ny, nx)
    stack[1, 2, 5, 7] = np.nan
    fx, fy = gradient(stack, lat, lon)
    assert fx.shape == fy.shape == stack.shape
    for i in range(2):
        for t in range(3):
            ex, ey = gradient(stack[i, t], lat, lon)
            np.testing.assert_array_equal(fx[i, t], ex)
            np.testing.assert_array_equal(fy[i, t], ey)


# ------------------------------------------------------------------------------------------
# NaN handling
# ------------------------------------------------------------------------------------------


def test_single_nan_cell_stays_local_and_neighbours_accurate():
    lat, lon = box(0.05)
    f, fx_ref, _ = wave(lat, lon)
    j, i = 100, 150
    fn = f.copy()
    fn[j, i] = np.nan
    fx, fy = gradient(fn, lat, lon)
    fx0, fy0 = gradient(f, lat, lon)
    bad = ~np.isfinite(fx) | ~np.isfinite(fy)
    assert bad.sum() == 1 and bad[j, i]
    dx = R * np.cos(np.deg2rad(lat[j])) * np.deg2rad(0.05)
    dy = R * np.deg2rad(0.05)
    # one-sided second-order stencils next to the hole, along the affected axis
    assert fx[j, i + 1] == pytest.approx(
        (-3 * f[j, i + 1] + 4 * f[j, i + 2] - f[j, i + 3]) / (2 * dx), rel=1e-12
    )
    assert fx[j, i - 1] == pytest.approx(
        (3 * f[j, i - 1] - 4 * f[j, i - 2] + f[j, i - 3]) / (2 * dx), rel=1e-12
    )
    assert fy[j + 1, i] == pytest.approx(
        (-3 * f[j + 1, i] + 4 * f[j + 2, i] - f[j + 3, i]) / (2 * dy), rel=1e-12
    )
    # ... accurate to second order: same size of error as the centred stencil gives
    scale = np.abs(fx_ref).max()
    centred_err = np.abs(fx0 - fx_ref).max() / scale
    for jj, ii in ((j, i + 1), (j, i - 1)):
        assert abs(fx[jj, ii] - fx_ref[jj, ii]) / scale < 4 * centred_err
    # the other axis at those neighbours, and every other cell, is unchanged
    np.testing.assert_array_equal(fy[j, [i - 1, i + 1]], fy0[j, [i - 1, i + 1]])
    np.testing.assert_array_equal(fx[[j - 1, j + 1], i], fx0[[j - 1, j + 1], i])
    far = np.ones_like(bad)
    far[j - 1 : j + 2, i - 1 : i + 2] = False
    far[j, :] = np.abs(np.arange(lon.size) - i) > 1
    np.testing.assert_array_equal(fx[far], fx0[far])
    np.testing.assert_array_equal(fy[far], fy0[far])


def test_first_order_and_isolated_points():
    lat = np.array([10.0, 11.0, 12.0])
    lon = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    row = np.array([1.0, 3.0, np.nan, 2.0, np.nan, 5.0, 9.0])
    f = np.tile(row, (3, 1))
    fx, fy = gradient(f, lat, lon)
    dx = R * np.cos(np.deg2rad(lat))[:, None] * np.deg2rad(1.0)
    # cols 0, 1, 5, 6 have a single valid neighbour -> first order; col 3 has none -> NaN
    expected = np.array([3.0 - 1.0, 3.0 - 1.0, np.nan, np.nan, np.nan, 9.0 - 5.0, 9.0 - 5.0])
    np.testing.assert_allclose(fx, expected / dx, rtol=1e-13)
    np.testing.assert_array_equal(np.isnan(fy), np.isnan(f))
    np.testing.assert_allclose(fy[np.isfinite(f)], 0.0, atol=0.0)


def test_nan_column_splits_domain():
    lat, lon = box(0.1)
    f, fx_ref, _ = wave(lat, lon)
    k = 60
    fn = f.copy()
    fn[:, k] = np.nan
    fx, fy = gradient(fn, lat, lon)
    assert np.isnan(fx[:, k]).all() and np.isnan(fy[:, k]).all()
    assert np.isfinite(np.delete(fx, k, axis=1)).all()
    dx = (R * np.cos(np.deg2rad(lat)) * np.deg2rad(0.1))[:, None]
    west = np.gradient(f[:, :k], axis=1, edge_order=2) / dx
    east = np.gradient(f[:, k + 1 :], axis=1, edge_order=2) / dx
    np.testing.assert_allclose(fx[:, :k], west, rtol=1e-12)
    np.testing.assert_allclose(fx[:, k + 1 :], east, rtol=1e-12)
    # the one-sided neighbours of the column are second-order accurate
    scale = np.abs(fx_ref).max()
    assert np.abs(fx[:, [k - 1, k + 1]] - fx_ref[:, [k - 1, k + 1]]).max() / scale < 1e-3


# ------------------------------------------------------------------------------------------
# geostrophy and velocity diagnostics
# ------------------------------------------------------------------------------------------


def eddy(step, amp=0.3):
    lat, lon = box(step)
    d = gaussian(lat, lon)
    eta = amp * d["f"]
    phi = d["phi"]
    f = 2 * OMEGA_RAD_S * np.sin(phi)
    eta_x = amp * d["l"] / (R * np.cos(phi))
    eta_y = amp * d["p"] / R
    return lat, lon, eta, f, eta_x, eta_y, amp * laplacian(d)


def test_geostrophic_velocity_of_gaussian_eddy():
    errs = []
    for step in (0.1, 0.05):
        lat, lon, eta, f, eta_x, eta_y, _ = eddy(step)
        ug, vg = geostrophic_velocity(eta, lat, lon)
        ug_ref, vg_ref = -GRAVITY_M_S2 / f * eta_y, GRAVITY_M_S2 / f * eta_x
        errs.append((rel_err(ug, ug_ref), rel_err(vg, vg_ref)))
        assert max(errs[-1]) < 2e-3
    assert all(3.5 < c / f_ for c, f_ in zip(errs[0], errs[1], strict=True))


def test_geostrophic_velocity_equator_mask():
    lat = np.linspace(-10.0, 10.0, 41)  # includes 0.0 exactly
    lon = np.linspace(100.0, 110.0, 21)
    phi, lam = mesh(lat, lon)
    eta = 0.1 * np.sin(3 * lam) * np.cos(2 * phi) + 0.02 * phi
    ug, vg = geostrophic_velocity(eta, lat, lon)
    band = np.abs(lat) < 5.0
    assert np.isnan(ug[band]).all() and np.isnan(vg[band]).all()
    assert np.isfinite(ug[~band]).all() and np.isfinite(vg[~band]).all()
    ug0, _ = geostrophic_velocity(eta, lat, lon, equator_mask_deg=0.0)
    assert np.isnan(ug0[lat == 0.0]).all() and np.isfinite(ug0[lat != 0.0]).all()
    with pytest.raises(ValueError, match="equator_mask_deg"):
        geostrophic_velocity(eta, lat, lon, equator_mask_deg=-1.0)


def test_vorticity_and_divergence_of_geostrophic_eddy():
    errs = []
    for step in (0.1, 0.05):
        lat, lon, _, f, eta_x, eta_y, lap = eddy(step)
        ug, vg = -GRAVITY_M_S2 / f * eta_y, GRAVITY_M_S2 / f * eta_x  # exact geostrophic flow
        zeta = relative_vorticity(ug, vg, lat, lon)
        div = divergence(ug, vg, lat, lon)
        beta = 2 * OMEGA_RAD_S * np.cos(np.deg2rad(lat))[:, None] / R
        # exact on the sphere: zeta = (g/f) lap(eta) + (beta/f) u_g, D = -(beta/f) v_g
        zeta_ref = GRAVITY_M_S2 / f * lap + beta / f * ug
        errs.append(rel_err(zeta, zeta_ref))
        assert errs[-1] < 5e-3
        # (g/f) lap(eta) alone is the f-plane approximation: close, within the beta term
        assert rel_err(zeta, GRAVITY_M_S2 / f * lap) < 0.05
        # divergence is small relative to vorticity and matches the beta-effect term
        assert np.abs(div).max() < 0.05 * np.abs(zeta).max()
        assert np.abs(div + beta / f * vg).max() < 5e-3 * np.abs(zeta).max()
    assert 3.5 < errs[0] / errs[1] < 4.5


def test_irrotational_flow():
    lat, lon = box(0.05)
    d = gaussian(lat, lon)
    chi = 1e5 * d["f"]  # velocity potential, m2 s-1
    u = 1e5 * d["l"] / (R * np.cos(d["phi"]))
    v = 1e5 * d["p"] / R
    lap = 1e5 * laplacian(d)
    zeta = relative_vorticity(u, v, lat, lon)
    div = divergence(u, v, lat, lon)
    assert np.abs(zeta).max() < 1e-3 * np.abs(lap).max()
    assert rel_err(div, lap) < 2e-3
    # u = grad(chi) computed numerically gives the same picture
    un, vn = gradient(chi, lat, lon)
    assert np.abs(relative_vorticity(un, vn, lat, lon)).max() < 1e-3 * np.abs(lap).max()


@pytest.mark.parametrize("omega", [(0.0, 0.0, 1e-6), (1e-6, 0.0, 0.0), (3e-7, -5e-7, 4e-7)])
def test_rigid_rotation(omega):
    lat, lon = box(0.1)
    u, v, zeta_ref, ax_ref, ay_ref = rigid_rotation(lat, lon, omega)
    zeta = relative_vorticity(u, v, lat, lon)
    scale = np.abs(zeta_ref).max()
    assert rel_err(zeta, zeta_ref) < 1e-5
    assert np.abs(divergence(u, v, lat, lon)).max() < 1e-5 * scale
    assert np.abs(strain_rate(u, v, lat, lon)).max() < 1e-5 * scale
    np.testing.assert_allclose(okubo_weiss(u, v, lat, lon), -(zeta_ref**2), atol=1e-4 * scale**2)
    ax, ay = advection(u, v, lat, lon)
    acc_scale = max(np.abs(ax_ref).max(), np.abs(ay_ref).max())
    assert np.abs(ax - ax_ref).max() < 1e-5 * acc_scale
    assert np.abs(ay - ay_ref).max() < 1e-5 * acc_scale


def test_pure_strain_and_okubo_weiss_sign():
    # The core of an isotropic Gaussian eddy is rotation dominated (W < 0) with little strain.
    lat, lon, eta, *_ = eddy(0.05)
    ug, vg = geostrophic_velocity(eta, lat, lon)
    w = okubo_weiss(ug, vg, lat, lon)
    jc, ic = np.unravel_index(np.argmax(eta), eta.shape)
    assert w[jc, ic] < 0
    sigma = strain_rate(ug, vg, lat, lon)
    zeta = relative_vorticity(ug, vg, lat, lon)
    np.testing.assert_allclose(w, sigma**2 - zeta**2, rtol=1e-10, atol=1e-30)
    assert sigma[jc, ic] < 0.05 * abs(zeta[jc, ic])  # axisymmetric core: little strain


def test_diagnostics_leading_time_axis():
    lat, lon = box(0.5)
    u, v, *_ = rigid_rotation(lat, lon, (3e-7, -5e-7, 4e-7))
    u3 = np.stack([u, 2 * u, -u])
    v3 = np.stack([v, 0.5 * v, v])
    for func in (relative_vorticity, divergence, strain_rate, okubo_weiss):
        out = func(u3, v3, lat, lon)
        assert out.shape == u3.shape
        for t in range(3):
            np.testing.assert_array_equal(out[t], func(u3[t], v3[t], lat, lon))
    ax, ay = advection(u3, v3, lat, lon)
    ug, vg = geostrophic_velocity(u3, lat, lon)
    assert ax.shape == ay.shape == ug.shape == vg.shape == u3.shape
    np.testing.assert_array_equal(ax[1], advection(u3[1], v3[1], lat, lon)[0])


# ------------------------------------------------------------------------------------------
# argument validation
# ------------------------------------------------------------------------------------------


def test_bad_arguments():
    lat, lon = box(0.5)
    f = np.zeros((lat.size, lon.size))
    with pytest.raises(ValueError, match="lat_deg"):
        gradient(f, lat[::-1], lon)
    with pytest.raises(ValueError, match="lat_deg"):
        gradient(f, np.r_[lat[:3], lat[2], lat[4:]], lon)
    with pytest.raises(ValueError, match="lon_deg"):
        gradient(f, lat, lon[:-1])
    with pytest.raises(ValueError, match="lat_deg"):
        gradient(f, lat[:, None], lon)
    with pytest.raises(ValueError, match="lon_deg"):
        gradient(f, lat, np.r_[lon[:-1], lon[-1] + 5.0])  # irregular spacing
    with pytest.raises(ValueError, match="lat_deg"):
        gradient(np.zeros((3, lon.size)), [80.0, 90.0, 100.0], lon)  # beyond the pole
    with pytest.raises(ValueError, match="field"):
        gradient(np.zeros(lon.size), lat, lon)
    with pytest.raises(ValueError, match="u and v"):
        relative_vorticity(f, f[:, :-1], lat, lon)
    with pytest.raises(ValueError, match="lon_deg"):
        geostrophic_velocity(f, lat, lon[1:])


def test_float32_coordinates_accepted():
    lat, lon = box(0.05, lon0=300.0, lon1=315.0)
    f, _, _ = wave(lat, lon)
    fx32, fy32 = gradient(f, lat.astype(np.float32), lon.astype(np.float32))
    fx, fy = gradient(f, lat, lon)
    assert rel_err(fx32, fx) < 1e-5 and rel_err(fy32, fy) < 1e-5


def test_module_exports():
    assert set(fd.__all__) >= {"gradient", "geostrophic_velocity", "advection"}
