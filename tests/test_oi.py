"""Tests of varnet.kernels.oi against a dense direct solve written here.

The reference builds the full space-time covariance of all observations with numpy, in the
local approximation of the module (dx = R cos(mean lat) dlon, dlon wrapped into [-180, 180)),
and solves it at once with numpy.linalg.solve.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest

from varnet.config import ConfigError, from_mapping
from varnet.kernels.finite_differences import EARTH_RADIUS_M
from varnet.kernels.oi import OIConfig, optimal_interpolation
from varnet.osse.orbits import MISSIONS, daily_passes, seconds_since_epoch

R_KM = EARTH_RADIUS_M / 1000.0
RAW = dict(superob_km=0.0)  # no super-observations: compare with the dense OI of all points


def covariance(t1, lat1, lon1, t2, lat2, lon2, cfg: OIConfig) -> np.ndarray:
    """Space-time Gaussian covariance between two point sets, shape (len(t1), len(t2))."""
    mean_lat = np.deg2rad(0.5 * (lat1[:, None] + lat2[None, :]))
    dlon = (lon1[:, None] - lon2[None, :] + 180.0) % 360.0 - 180.0
    dx = R_KM * np.cos(mean_lat) * np.deg2rad(dlon)
    dy = R_KM * np.deg2rad(lat1[:, None] - lat2[None, :])
    dt_ = t1[:, None] - t2[None, :]
    q = (
        (dx / cfg.space_scale_km) ** 2
        + (dy / cfg.space_scale_km) ** 2
        + (dt_ / cfg.time_scale_days) ** 2
    )
    return cfg.signal_std_m**2 * np.exp(-q)


def dense_oi(t, lat, lon, y, grid_lat, grid_lon, times, cfg, noise_var=None):
    """Dense OI: all observations at once; returns (estimate, error variance)."""
    noise_var = cfg.noise_std_m**2 * np.ones(t.size) if noise_var is None else noise_var
    a = covariance(t, lat, lon, t, lat, lon, cfg) + np.diag(noise_var)
    glat, glon = np.meshgrid(grid_lat, grid_lon, indexing="ij")
    est, var = [], []
    for t_out in times:
        c_og = covariance(t, lat, lon, np.full(glat.size, t_out), glat.ravel(), glon.ravel(), cfg)
        sol = np.linalg.solve(a, np.column_stack([y, c_og]))
        est.append((c_og.T @ sol[:, 0]).reshape(glat.shape))
        var.append((cfg.signal_std_m**2 - np.sum(c_og * sol[:, 1:], axis=0)).reshape(glat.shape))
    return np.array(est), np.array(var)


def random_obs(n, lat_range, lon_range, t_range, rng):
    t = rng.uniform(*t_range, n)
    lat = rng.uniform(*lat_range, n)
    lon = rng.uniform(*lon_range, n)
    y = rng.normal(0.0, 0.1, n)
    return t, lat, lon, y


def test_large_cutoff_equals_dense_solve():
    rng = np.random.default_rng(0)
    t, lat, lon, y = random_obs(200, (34.0, 38.0), (-64.0, -59.0), (0.0, 10.0), rng)
    grid_lat = np.arange(34.0, 37.6, 0.25)  # 15 x 17 cells in blocks of 4: partial blocks
    grid_lon = np.arange(-63.5, -59.4, 0.25)
    times = np.array([3.0, 12.0])
    cfg = OIConfig(cutoff=50.0, block_cells=4, **RAW)
    est, var = optimal_interpolation(t, lat, lon, y, grid_lat, grid_lon, times, cfg)
    ref_est, ref_var = dense_oi(t, lat, lon, y, grid_lat, grid_lon, times, cfg)
    assert est.shape == var.shape == (2, grid_lat.size, grid_lon.size)
    np.testing.assert_allclose(est, ref_est, rtol=0, atol=1e-10 * cfg.signal_std_m)
    np.testing.assert_allclose(var, ref_var, rtol=0, atol=1e-10 * cfg.signal_std_m**2)
    assert np.all(var >= 0) and np.all(var <= cfg.signal_std_m**2)


def test_longitude_conventions_and_antimeridian():
    rng = np.random.default_rng(1)
    t, lat, lon, y = random_obs(120, (-10.0, -6.0), (177.0, 183.0), (0.0, 6.0), rng)
    lon_pm180 = (lon + 180.0) % 360.0 - 180.0  # observations in [-180, 180)
    grid_lat = np.arange(-9.5, -6.4, 0.5)
    grid_lon = np.arange(178.0, 182.1, 0.5)  # ascending across the antimeridian
    cfg = OIConfig(cutoff=50.0, block_cells=3, **RAW)
    est, var = optimal_interpolation(t, lat, lon_pm180, y, grid_lat, grid_lon, [3.0], cfg)
    ref_est, ref_var = dense_oi(t, lat, lon, y, grid_lat, grid_lon, [3.0], cfg)
    np.testing.assert_allclose(est, ref_est, rtol=0, atol=1e-10)
    np.testing.assert_allclose(var, ref_var, rtol=0, atol=1e-12)
    # the same grid written in [-180, 180) as far as it goes gives the same cells
    shifted = optimal_interpolation(t, lat, lon, y, grid_lat, grid_lon - 360.0, [3.0], cfg)
    np.testing.assert_allclose(shifted[0], est, rtol=0, atol=1e-12)


def nadir_obs(days: int, lat_bounds, lon_bounds, field, rng):
    """Four-nadir 1 Hz tracks (tpn, j1, en, g2) over ``days`` days with 3 cm noise."""
    start = dt.date(2012, 10, 1)
    parts = []
    for name in ("tpn", "j1", "en", "g2"):
        for d in range(days):
            ts, lon, lat = daily_passes(
                MISSIONS[name], start + dt.timedelta(days=d), lon_bounds, lat_bounds
            )
            parts.append(((ts - seconds_since_epoch(start)) / 86400.0, lat, lon))
    t, lat, lon = (np.concatenate(c) for c in zip(*parts, strict=True))
    y = field(t, lat, lon) + rng.normal(0.0, 0.03, t.size)
    return t, lat, lon, y


def smooth_field(t, lat, lon):
    """A smooth propagating anomaly, m (scales 300-500 km, amplitude about 0.1 m)."""
    x = np.deg2rad(lon) * R_KM * np.cos(np.deg2rad(37.0))
    yk = np.deg2rad(lat) * R_KM
    return 0.07 * np.cos(2 * np.pi * (x - 3.0 * t) / 400.0 + 1.0) * np.cos(
        2 * np.pi * yk / 500.0
    ) + 0.05 * np.sin(2 * np.pi * (0.6 * x + 0.8 * yk + 2.0 * t) / 300.0)


@pytest.fixture(scope="module")
def nadir_case():
    """8 days of four-nadir data over a 6 x 6 degree box and a 0.2 degree grid inside it."""
    rng = np.random.default_rng(2)
    obs = nadir_obs(8, (34.0, 40.0), (-63.0, -57.0), smooth_field, rng)
    grid_lat = np.arange(34.5, 39.5, 0.2)
    grid_lon = np.arange(-62.5, -57.5, 0.2)
    return obs, grid_lat, grid_lon


def test_default_cutoff_close_to_dense(nadir_case):
    (t, lat, lon, y), grid_lat, grid_lon = nadir_case
    times = np.array([4.0])
    cfg = OIConfig(block_cells=5, **RAW)  # default cutoff, no super-observations
    est, var = optimal_interpolation(t, lat, lon, y, grid_lat, grid_lon, times, cfg)
    ref_est, ref_var = dense_oi(t, lat, lon, y, grid_lat, grid_lon, times, cfg)
    sigma = cfg.signal_std_m
    assert np.max(np.abs(est - ref_est)) < 0.03 * sigma
    assert np.sqrt(np.mean((est - ref_est) ** 2)) < 0.01 * sigma
    assert np.max(np.abs(var - ref_var)) < 0.003 * sigma**2
    # with the default super-observations too: a slightly different estimator (it weighs the
    # noise differently), as close to the true field as the dense OI of all points
    est_so, _ = optimal_interpolation(
        t, lat, lon, y, grid_lat, grid_lon, times, dataclasses.replace(cfg, superob_km=20.0)
    )
    assert np.sqrt(np.mean((est_so - ref_est) ** 2)) < 0.05 * sigma
    glat, glon = np.meshgrid(grid_lat, grid_lon, indexing="ij")
    truth = smooth_field(4.0, glat, glon)
    rms = {
        name: np.sqrt(np.mean((e[0] - truth) ** 2))
        for name, e in (("dense", ref_est), ("local", est), ("superobs", est_so))
    }
    assert rms["local"] < 1.1 * rms["dense"] and rms["superobs"] < 1.1 * rms["dense"]


def test_reproduces_densely_sampled_smooth_field():
    rng = np.random.default_rng(3)
    t, lat, lon, _ = random_obs(1500, (34.0, 38.0), (-63.0, -59.0), (8.0, 12.0), rng)
    y = smooth_field(t, lat, lon) + rng.normal(0.0, 0.03, t.size)
    grid_lat = np.arange(34.5, 37.6, 0.1)
    grid_lon = np.arange(-62.5, -59.4, 0.1)
    est, var = optimal_interpolation(t, lat, lon, y, grid_lat, grid_lon, [10.0], OIConfig())
    glat, glon = np.meshgrid(grid_lat, grid_lon, indexing="ij")
    err = est[0] - smooth_field(10.0, glat, glon)
    assert np.sqrt(np.mean(err**2)) < 0.01  # 3 cm noise, 0.1 m signal
    assert np.all(var < 0.1 * 0.03**2)  # many observations per scale: well below eps^2
    # the posterior error bars are honest: most errors within two standard deviations
    assert np.mean(np.abs(err) < 2.0 * np.sqrt(var[0])) > 0.9


def test_error_variance_single_observation_and_far_field():
    cfg = OIConfig(block_cells=4)
    sig2, eps2 = cfg.signal_std_m**2, cfg.noise_std_m**2
    grid_lat = np.arange(30.0, 40.01, 0.5)
    grid_lon = np.arange(-70.0, -50.01, 0.5)
    est, var = optimal_interpolation(
        [5.0], [35.0], [-60.0], [0.2], grid_lat, grid_lon, [5.0, 40.0], cfg
    )
    j, i = np.argmin(np.abs(grid_lat - 35.0)), np.argmin(np.abs(grid_lon + 60.0))
    gain = sig2 / (sig2 + eps2)
    assert var[0, j, i] == pytest.approx(sig2 * eps2 / (sig2 + eps2), rel=1e-12)
    assert est[0, j, i] == pytest.approx(0.2 * gain, rel=1e-12)
    assert np.all(var >= var[0, j, i]) and np.all(var <= sig2)
    # in a block beyond the cutoff (far in space, or 35 days later) nothing is known
    assert var[0, 0, 0] == sig2 and est[0, 0, 0] == 0.0
    assert np.all(var[1] == sig2) and np.all(est[1] == 0.0)


def test_superobservation_is_mean_with_reduced_noise():
    cfg = OIConfig(cutoff=50.0)
    # three points along a track within one 20 km x 1 day bin
    t = np.array([2.1, 2.1 + 1e-5, 2.1 + 2e-5])
    lat = np.array([36.02, 36.06, 36.10])
    lon = np.array([-60.01, -60.02, -60.03])
    y = np.array([0.1, 0.13, 0.07])
    grid_lat = np.arange(35.0, 37.01, 0.25)
    grid_lon = np.arange(-61.0, -59.0, 0.25)
    est, var = optimal_interpolation(t, lat, lon, y, grid_lat, grid_lon, [2.0, 3.0], cfg)
    ref_est, ref_var = dense_oi(
        t.mean(keepdims=True),
        lat.mean(keepdims=True),
        lon.mean(keepdims=True),
        y.mean(keepdims=True),
        grid_lat,
        grid_lon,
        [2.0, 3.0],
        cfg,
        noise_var=np.array([cfg.noise_std_m**2 / 3]),
    )
    np.testing.assert_allclose(est, ref_est, rtol=0, atol=1e-12)
    np.testing.assert_allclose(var, ref_var, rtol=0, atol=1e-14)


def test_invalid_observations_are_ignored_and_no_data_gives_prior():
    rng = np.random.default_rng(4)
    t, lat, lon, y = random_obs(50, (34.0, 36.0), (-62.0, -60.0), (0.0, 4.0), rng)
    grid_lat, grid_lon = np.arange(34.0, 36.01, 0.5), np.arange(-62.0, -59.99, 0.5)
    clean = optimal_interpolation(t, lat, lon, y, grid_lat, grid_lon, [2.0])
    bad = (
        np.append(t, [1.0, np.nan, 2.0]),
        np.append(lat, [35.0, 35.0, np.inf]),
        np.append(lon, [-61.0, -61.0, -61.0]),
        np.append(y, [np.nan, 0.5, 0.5]),
    )
    dirty = optimal_interpolation(*bad, grid_lat, grid_lon, [2.0])
    np.testing.assert_array_equal(dirty[0], clean[0])
    np.testing.assert_array_equal(dirty[1], clean[1])
    est, var = optimal_interpolation([], [], [], [], grid_lat, grid_lon, [0.0, 1.0])
    assert est.shape == (2, 5, 5) and np.all(est == 0.0) and np.all(var == 0.1**2)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("space_scale_km", 0.0),
        ("time_scale_days", -1.0),
        ("signal_std_m", float("nan")),
        ("noise_std_m", 0.0),
        ("cutoff", float("inf")),
        ("superob_km", -5.0),
        ("superob_days", 0.0),
        ("block_cells", 0),
        ("block_cells", 2.5),
    ],
)
def test_config_errors_name_the_key(key, value):
    with pytest.raises(ConfigError) as err:
        OIConfig(**{key: value}).validate()
    assert err.value.key == key
    with pytest.raises(ConfigError) as err:
        from_mapping(OIConfig, {key: value} if key != "block_cells" else {key: -3})
    assert err.value.key == key
    with pytest.raises(ConfigError, match=key):
        optimal_interpolation(
            [0.0], [0.0], [0.0], [0.0], [0.0, 1.0], [0.0, 1.0], [0.0], OIConfig(**{key: value})
        )


def test_threads_and_skipped_variance_change_no_bit(nadir_case):
    """Blocks solved on threads, or without their error variance, give the same bits."""
    (t, lat, lon, y), grid_lat, grid_lon = nadir_case
    times = np.array([2.0, 4.0, 6.0])
    cfg = OIConfig(block_cells=4, superob_km=20.0)
    est, var = optimal_interpolation(t, lat, lon, y, grid_lat, grid_lon, times, cfg)
    for threads in (2, 3):
        est_t, var_t = optimal_interpolation(t, lat, lon, y, grid_lat, grid_lon, times, cfg,
                                             threads=threads)
        np.testing.assert_array_equal(est_t, est)
        np.testing.assert_array_equal(var_t, var)
    est_only, none = optimal_interpolation(t, lat, lon, y, grid_lat, grid_lon, times, cfg,
                                           error_variance=False, threads=2)
    assert none is None
    np.testing.assert_array_equal(est_only, est)
    # and the threaded blocks are still the OI: close to the dense solve of the same data
    ref_est, _ = dense_oi(t, lat, lon, y, grid_lat, grid_lon, times[1:2],
                          dataclasses.replace(cfg, superob_km=0.0, cutoff=50.0))
    assert np.sqrt(np.mean((est[1] - ref_est[0]) ** 2)) < 0.05 * cfg.signal_std_m


def test_threads_error_names_the_argument():
    with pytest.raises(ValueError, match=r"^threads: expected a positive integer, got 0"):
        optimal_interpolation([0.0], [0.0], [0.0], [0.0], [0.0, 1.0], [0.0, 1.0], [0.0],
                              threads=0)


def test_singular_block_is_a_clear_error():
    """Two observations at one point and negligible noise: LAPACK's failure is named."""
    cfg = OIConfig(noise_std_m=1e-300, **RAW)  # the covariance is singular in float64
    with pytest.raises(np.linalg.LinAlgError, match=r"dpotrf: the OI covariance of a block"):
        optimal_interpolation([0.0, 0.0], [10.0, 10.0], [20.0, 20.0], [0.1, 0.1],
                              [10.0, 10.1], [20.0, 20.1], [0.0], cfg)


@pytest.mark.parametrize(
    ("change", "name"),
    [
        ({"obs_lat": [0.0, 1.0]}, "obs_lat"),
        ({"obs_values": [[0.0]]}, "obs_values"),
        ({"obs_time_days": [[0.0]]}, "obs_time_days"),
        ({"grid_lat": [1.0, 0.0]}, "grid_lat"),
        ({"grid_lat": [80.0, 91.0]}, "grid_lat"),
        ({"grid_lon": [0.0, np.nan]}, "grid_lon"),
        ({"times_days": []}, "times_days"),
    ],
)
def test_invalid_arguments_name_the_argument(change, name):
    kwargs = {
        "obs_time_days": [0.0],
        "obs_lat": [0.0],
        "obs_lon": [0.0],
        "obs_values": [0.0],
        "grid_lat": [0.0, 1.0],
        "grid_lon": [0.0, 1.0],
        "times_days": [0.0],
    }
    kwargs.update(change)
    with pytest.raises(ValueError, match=rf"^{name}:"):
        optimal_interpolation(**kwargs)
