"""Satellites, along-track errors, clouds and the spectral diagnostic of the synthetic ocean."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools

import numpy as np
import pytest

from varnet.osse.altimetry import (
    GriddedTruth,
    along_track_distance_km,
    along_track_filter,
    simulate_track_day,
)
from varnet.osse.clouds import CloudSimulator
from varnet.osse.config import AltimetryConfig
from varnet.osse.diagnostics import isotropic_spectrum, spectral_slope
from varnet.osse.orbits import DAY_S, MISSIONS

DAY = dt.date(2012, 10, 1)


@pytest.mark.parametrize("name", ["tpn", "j1", "en", "g2"])
def test_orbit_maximum_latitude_is_the_inclination(name):
    mission = MISSIONS[name]
    t = np.arange(0.0, 2 * mission.nodal_period_s, 1.0)
    _, lat = mission.ground_track(t)
    expected = min(mission.inclination_deg, 180.0 - mission.inclination_deg)
    assert abs(np.abs(lat).max() - expected) < 1e-3


@pytest.mark.parametrize("name", ["j1", "en", "g2"])
def test_equator_crossings_are_evenly_spaced_by_360_over_revolutions(name):
    mission = MISSIONS[name]
    n = mission.revolutions_per_cycle
    t_nodes = mission.t0_s + mission.nodal_period_s * np.arange(n)
    lon, lat = mission.ground_track(t_nodes)
    np.testing.assert_allclose(lat, 0.0, atol=1e-9)
    spacing = np.diff(np.sort(lon % 360.0))
    np.testing.assert_allclose(spacing, mission.equator_spacing_deg, atol=1e-6)


@pytest.mark.parametrize("name", ["tpn", "j1", "en", "g2"])
def test_ground_track_repeats_after_one_cycle(name):
    mission = MISSIONS[name]
    t = np.linspace(0.0, 3 * DAY_S, 5000)
    lon0, lat0 = mission.ground_track(t)
    lon1, lat1 = mission.ground_track(t + mission.cycle_days * DAY_S)
    np.testing.assert_allclose(lat1, lat0, atol=1e-7)
    dlon = (lon1 - lon0 + 180.0) % 360.0 - 180.0
    np.testing.assert_allclose(dlon, 0.0, atol=1e-6)


def test_one_hertz_sampling_gives_six_to_seven_km_spacing():
    for name in ("j1", "en"):
        lon, lat = MISSIONS[name].ground_track(np.arange(0.0, 600.0))
        spacing = along_track_distance_km(lat, lon)
        assert 5.5 < spacing.mean() < 7.0


def test_interleaved_topex_sits_between_jason_tracks():
    jason, topex = MISSIONS["j1"], MISSIONS["tpn"]
    assert topex.lon0_deg - jason.lon0_deg == pytest.approx(jason.equator_spacing_deg / 2, 1e-3)


def _flat_truth(value: float = 0.1) -> GriddedTruth:
    lat = 32.025 + 0.05 * np.arange(240)
    lon = -65.975 + 0.05 * np.arange(240)
    sla = np.full((3, lat.size, lon.size), value)
    return GriddedTruth(DAY - dt.timedelta(days=1), lat, lon, sla, np.zeros(sla.shape[1:]))


def _many_points(config: AltimetryConfig, days: int = 10):
    truth = _flat_truth()
    return [simulate_track_day(truth, MISSIONS[m], DAY + dt.timedelta(days=d), config, 3)
            for m in ("j1", "en") for d in range(days)]


def test_white_noise_has_the_configured_level_and_is_reproducible():
    tracks = _many_points(AltimetryConfig(noise_m=0.02, filter_cutoff_km=0.0))
    err = np.concatenate([t.sla_unfiltered - t.sla_true for t in tracks])
    assert err.size > 2000
    assert err.std() == pytest.approx(0.02, rel=0.08)
    again = _many_points(AltimetryConfig(noise_m=0.02, filter_cutoff_km=0.0))
    np.testing.assert_array_equal(tracks[3].sla_unfiltered, again[3].sla_unfiltered)


def test_correlated_error_is_correlated_along_track():
    config = AltimetryConfig(noise_m=0.0, correlated_noise_m=0.015, filter_cutoff_km=0.0)
    tracks = _many_points(config, days=20)
    err = [t.sla_unfiltered - t.sla_true for t in tracks if t.time.size > 50]
    values = np.concatenate(err)
    assert values.std() == pytest.approx(0.015, rel=0.35)
    lag1 = np.mean([np.corrcoef(e[:-1], e[1:])[0, 1] for e in err])
    assert lag1 > 0.95


def test_filter_keeps_the_large_scale_and_removes_noise():
    t = np.arange(0.0, 400.0)
    lon, lat = MISSIONS["j1"].ground_track(t)
    distance = np.concatenate([[0.0], np.cumsum(along_track_distance_km(lat, lon))])
    signal = 0.1 * np.sin(2 * np.pi * distance / 600.0)
    noise = 0.02 * np.random.default_rng(0).standard_normal(t.size)
    filtered = along_track_filter(signal + noise, t, lat, lon, cutoff_km=65.0)
    inner = slice(20, -20)
    # Gaussian of sigma ~ 2 samples: white-noise std drops to 1/sqrt(2 sqrt(pi) sigma) ~ 0.38.
    assert np.std((filtered - signal)[inner]) < 0.45 * 0.02
    np.testing.assert_allclose(along_track_filter(np.full(t.size, 0.3), t, lat, lon, 65.0),
                               0.3, atol=1e-12)


def test_clouds_follow_the_target_fraction_and_persist():
    lat = 32.025 + 0.05 * np.arange(120)
    lon = -65.975 + 0.05 * np.arange(120)
    clouds = CloudSimulator(lat, lon, 0.6, 0.2, 75.0, 2.0, np.random.default_rng(0))
    masks = [clouds.next_day(DAY + dt.timedelta(days=d)) for d in range(10)]
    for d, mask in enumerate(masks):
        assert mask.mean() == pytest.approx(clouds.fraction_on(DAY + dt.timedelta(days=d)),
                                            abs=0.01)
    persistence = np.mean([np.mean(a == b) for a, b in itertools.pairwise(masks)])
    assert persistence > 0.6
    winter = clouds.fraction_on(dt.date(2013, 1, 15))
    summer = clouds.fraction_on(dt.date(2013, 7, 15))
    assert winter == pytest.approx(0.8) and summer == pytest.approx(0.4, abs=0.01)


@pytest.mark.parametrize("slope", [-3.0, -5.0])
def test_isotropic_spectrum_recovers_a_known_power_law(slope):
    n, dx = 256, 5.0
    rng = np.random.default_rng(2)
    kx = np.fft.fftfreq(n, d=dx)
    kk = np.hypot(kx[None, :], kx[:, None])
    amplitude = np.where(kk > 0, kk, np.inf) ** ((slope - 1) / 2)  # 2-D density ~ k^(slope-1)
    field = np.real(np.fft.ifft2(amplitude * np.fft.fft2(rng.standard_normal((n, n)))))
    k, psd = isotropic_spectrum(field, dx, dx)
    assert spectral_slope(k, psd, 25.0, 250.0) == pytest.approx(slope, abs=0.3)


def test_bad_mission_is_a_clear_configuration_error():
    from varnet.config import ConfigError, from_mapping
    from varnet.osse.config import OsseConfig

    with pytest.raises(ConfigError, match=r"altimetry\.missions\[1\].*unknown mission 'xx'"):
        from_mapping(OsseConfig, {"altimetry": {"missions": ["j1", "xx"]}})
    assert dataclasses.is_dataclass(AltimetryConfig())
