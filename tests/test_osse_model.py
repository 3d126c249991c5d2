"""The QG truth model, its spun-up state and the plane-to-sphere mapping."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from varnet.config import ConfigError
from varnet.kernels.finite_differences import geostrophic_velocity
from varnet.osse.config import OceanConfig, OsseConfig
from varnet.osse.generate import grid_coordinates
from varnet.osse.geometry import PlaneMapping
from varnet.osse.qg import TwoLayerQG, resize_periodic
from varnet.osse.spinup import DAY_S, load_state, model_parameters
from varnet.osse.truth import TruthSampler


def _coarse_config(nx: int = 64, dt: float = 3600.0) -> OsseConfig:
    return dataclasses.replace(
        OsseConfig(), ocean=dataclasses.replace(OceanConfig(), nx=nx, time_step_s=dt))


def _model(config: OsseConfig) -> TwoLayerQG:
    params = model_parameters(config)
    q, sst = load_state(config, params)
    return TwoLayerQG(params, q, sst)


def test_energy_and_tracer_stay_bounded_over_half_a_year():
    model = _model(_coarse_config())
    e0 = model.energy()
    steps = round(DAY_S / model.params.dt_s)
    energies, tracer_max = [], []
    for _ in range(180):
        model.step(steps)
        energies.append(model.energy())
        tracer_max.append(np.abs(model.state()[1]).max())
    assert np.all(np.isfinite(energies))
    # Equilibrated turbulence: energy fluctuates but neither decays nor runs away.
    assert 0.3 * e0 < min(energies) and max(energies) < 3.0 * e0
    # 1 K per 100 km background gradient: anomalies of a few K at most, never blowing up.
    assert max(tracer_max) < 10.0
    assert tracer_max[-1] > 0.1


def test_committed_state_is_spun_up_eddying_ocean():
    config = OsseConfig()
    model = _model(config)
    psi = model.irfft(model.streamfunction_spectrum())[0]
    ssh_rms = model.params.f0 * psi.std() / 9.80665
    assert 0.04 < ssh_rms < 0.12


def test_resize_periodic_round_trip_is_exact_for_band_limited_fields():
    rng = np.random.default_rng(1)
    field = resize_periodic(rng.standard_normal((2, 16, 16)), 32)  # band-limited on 32
    fine = resize_periodic(field, 96)
    # Zero-padding interpolates: the fine grid contains the coarse samples.
    np.testing.assert_allclose(fine[:, ::3, ::3], field, atol=1e-12)
    np.testing.assert_allclose(resize_periodic(fine, 32), field, atol=1e-12)


def test_vorticity_tendency_matches_time_difference_of_the_model():
    """d(zeta)/dt used in the divergence budget equals the model's actual evolution.

    Compared on the scales the spectral filter leaves untouched (filter == 1): the filter
    damps the grid scale at every step and is not part of the dynamics.
    """
    config = _coarse_config(dt=600.0)
    model = _model(config)
    model.step(20)  # start AB3 history
    resolved = model.filter == 1.0
    dqh, _, _ = model.tendencies()
    dzeta = model.irfft(resolved * -model.wv2 * model.invert(dqh)[0])
    zeta0 = model.irfft(resolved * -model.wv2 * model.streamfunction_spectrum()[0])
    model.step(1)
    zeta1 = model.irfft(resolved * -model.wv2 * model.streamfunction_spectrum()[0])
    finite_difference = (zeta1 - zeta0) / model.params.dt_s
    err = np.linalg.norm(finite_difference - dzeta) / np.linalg.norm(dzeta)
    assert err < 0.05


def test_divergent_flow_has_zero_mean_and_closes_budget_scale():
    model = _model(_coarse_config())
    chi_h = model.divergent_potential_spectrum()
    delta = model.irfft(-model.wv2 * chi_h)
    zeta = model.irfft(-model.wv2 * model.streamfunction_spectrum()[0])
    assert abs(delta.mean()) < 1e-12 * np.abs(delta).max() + 1e-20
    ratio = delta.std() / zeta.std()
    # delta / zeta ~ Rossby number (QG scaling): clearly nonzero, clearly small.
    assert 0.005 < ratio < 0.5


def test_sphere_geostrophy_of_ssh_agrees_with_the_model_velocity():
    """f0, beta of the central latitude + conformal map: geostrophy on the sphere of the SSH
    reproduces the model's own (plane) velocity mapped to the sphere."""
    config = _coarse_config(nx=128, dt=1800.0)
    params = model_parameters(config)
    model = _model(config)
    # A fine grid (1/80 degree) over a 2.5-degree corner of the box, so that the finite-
    # difference truncation error is well below the mapping error being tested.
    lat = 41.0 + 0.0125 * np.arange(200)
    lon = -65.0 + 0.0125 * np.arange(200)
    mapping = PlaneMapping.for_grid(config.grid, params.domain_m)
    sampler = TruthSampler(mapping, lat, lon, params.nx, 0.0, 290.0, 0.0)
    psi_h = model.streamfunction_spectrum()[0]
    sla = sampler.ssh_factor * sampler.resample(psi_h)
    ug, vg = geostrophic_velocity(sla, lat, lon)
    u_model = -sampler.inv_scale * sampler.resample.ddy(psi_h)
    v_model = sampler.inv_scale * sampler.resample.ddx(psi_h)
    inner = (slice(2, -2), slice(2, -2))
    err = np.hypot(ug - u_model, vg - v_model)[inner]
    scale = np.hypot(u_model, v_model)[inner]
    assert np.sqrt(np.mean(err**2) / np.mean(scale**2)) < 0.02


def test_mdt_geostrophy_is_the_mapped_mean_flow():
    config = OsseConfig()
    lat, lon = grid_coordinates(config)
    mapping = PlaneMapping.for_grid(config.grid, 1.4e6)
    mdt = np.broadcast_to(mapping.mean_dynamic_topography(lat, 0.05)[:, None],
                          (lat.size, lon.size))
    ug, vg = geostrophic_velocity(mdt, lat, lon)
    expected = 0.05 / mapping.scale_factor(lat)
    np.testing.assert_allclose(ug[1:-1, :], np.broadcast_to(expected[1:-1, None],
                               ug[1:-1].shape), rtol=1e-3)
    np.testing.assert_allclose(vg, 0.0, atol=1e-12)


def test_state_with_other_physics_is_refused_naming_the_parameter():
    config = dataclasses.replace(
        OsseConfig(), ocean=dataclasses.replace(OceanConfig(), deformation_radius_km=25.0))
    with pytest.raises(ConfigError, match="deformation_radius_m") as info:
        load_state(config, model_parameters(config))
    assert "varnet-osse spinup" in str(info.value)
