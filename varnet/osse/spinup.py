"""Spun-up initial states of the truth ocean, committed so that a run starts in equilibrium.

A QG ocean started from rest needs two to three model years before its eddies equilibrate.
``varnet/osse/data/`` holds such states (PV of both layers and the SST anomaly, float32, plus
the physical parameters they belong to), one per committed ocean, named by
``ocean.initial_state``:

* ``"gulfstream"``: ``spunup_gulfstream.npz``, the default ocean (``configs/osse-default.toml``),
* ``"open"``: ``spunup_open.npz``, the quiet open ocean (``configs/osse-open.toml``).

They are regenerated with, for example::

    varnet-osse spinup --config configs/osse-default.toml \
        --out varnet/osse/data/spunup_gulfstream.npz

which spins up from a small random perturbation at half resolution (cheap), then
spectrally refines to the target resolution and runs half a year more so that the small scales
and the SST tracer adjust (the low-resolution trick of reference/osse.md).

A state can be loaded at another resolution (spectral truncation or zero-padding) but only
with the same physics (jet and coast included): a mismatch is an error that names the
parameter.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np

from varnet.config import ConfigError, to_mapping
from varnet.osse.coast import PlaneCoast
from varnet.osse.config import OsseConfig
from varnet.osse.geometry import PlaneMapping
from varnet.osse.jet import JetProfile
from varnet.osse.qg import Forcing, QGParameters, TwoLayerQG, resize_periodic

DAY_S = 86400.0
#: The committed spun-up states, by the name ``ocean.initial_state`` gives them.
COMMITTED_STATES = {"open": "spunup_open.npz", "gulfstream": "spunup_gulfstream.npz"}


def model_parameters(config: OsseConfig, nx: int | None = None,
                     time_step_s: float | None = None) -> QGParameters:
    """QG parameters (SI units) for an OSSE configuration.

    Parameters
    ----------
    config : OsseConfig
        The configuration; f0 and beta come from the grid box's central latitude.
    nx, time_step_s : optional
        Override the resolution and time step (used by the low-resolution spin-up).
    """
    ocean = config.ocean
    mapping = PlaneMapping.for_config(config)
    return QGParameters(
        nx=nx or ocean.nx,
        domain_m=ocean.domain_km * 1e3,
        f0=float(mapping.f0),
        beta=float(mapping.beta),
        deformation_radius_m=ocean.deformation_radius_km * 1e3,
        upper_depth_m=ocean.upper_layer_depth_m,
        lower_depth_m=ocean.lower_layer_depth_m,
        shear_m_s=ocean.mean_flow_m_s,
        bottom_drag_per_s=1.0 / (ocean.bottom_drag_days * DAY_S),
        dt_s=time_step_s or ocean.time_step_s,
        sst_gradient_k_per_m=config.sst.gradient_k_per_100km / 1e5,
        sst_restoring_s=config.sst.restoring_days * DAY_S,
        beta_angle_deg=config.plane_rotation_deg,
    )


def forcing_parameters(config: OsseConfig) -> dict[str, float | str]:
    """What defines a configuration's jet, SST front and coast, flat (``jet.speed_m_s``,
    ``coast.land`` as JSON, ...); empty for the open ocean. Stored with spun-up states."""
    parameters: dict[str, float | str] = {}
    if config.jet is not None:
        parameters.update({f"jet.{k}": v for k, v in to_mapping(config.jet).items()})
        parameters.update({"sst.front_k": config.sst.front_k,
                           "sst.front_width_km": config.sst.front_width_km})
    if config.coast is not None:
        parameters.update({f"coast.{k}": (json.dumps(v) if isinstance(v, list) else v)
                           for k, v in to_mapping(config.coast).items()})
    return parameters


def model_forcing(config: OsseConfig, params: QGParameters) -> Forcing | None:
    """The jet, its SST front and the coast of a configuration on the model plane of
    ``params`` (None for the open ocean, which has none of them)."""
    if config.jet is None and config.coast is None:
        return None
    mapping = PlaneMapping.for_config(config)
    y = np.arange(params.nx) * (params.domain_m / params.nx)
    jet = JetProfile.for_config(config, mapping)
    arrays: dict = {}
    if jet is not None:
        arrays.update(jet_u=jet.velocity(y), jet_u_yy=jet.velocity_yy(y),
                      relaxation_s=config.jet.relaxation_days * DAY_S)
        if jet.front_k:
            arrays["sst_front_gradient"] = jet.sst_front_gradient(y)
    if config.coast is not None:
        arrays["damping_per_s"] = PlaneCoast.build(config.coast, mapping,
                                                   params.nx).damping_per_s
    return Forcing(parameters=forcing_parameters(config), **arrays)


def make_model(config: OsseConfig, params: QGParameters, q: np.ndarray,
               sst_anomaly: np.ndarray | None = None) -> TwoLayerQG:
    """The QG model of a configuration (its jet and coast included) from a state."""
    return TwoLayerQG(params, q, sst_anomaly, forcing=model_forcing(config, params))


def state_physics(model: TwoLayerQG) -> dict[str, float | str]:
    """What a spun-up state belongs to: the physics, the jet and the coast."""
    return {**model.params.physics(), **model.forcing.parameters}


def _state_path(config: OsseConfig) -> Path:
    name = config.ocean.initial_state
    if name in COMMITTED_STATES:
        return Path(str(resources.files("varnet.osse") / "data" / COMMITTED_STATES[name]))
    return Path(name)


def save_state(path: str | Path, model: TwoLayerQG, days_spun: float) -> Path:
    """Write a model state (float32 PV and SST anomaly plus its physics) to ``path``."""
    path = Path(path)
    q, sst = model.state()
    meta = {"physics": state_physics(model), "nx": model.params.nx, "days_spun": days_spun}
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, q=q.astype(np.float32), sst_anomaly=sst.astype(np.float32),
                        meta=np.array(json.dumps(meta, sort_keys=True)))
    tmp.replace(path)
    return path


def load_state(config: OsseConfig, params: QGParameters) -> tuple[np.ndarray, np.ndarray]:
    """Initial PV (2, nx, nx) and SST anomaly (nx, nx) for ``params``, from the configured file.

    The file's physics must be those of ``config`` with ``params``: the model's parameters,
    and the jet and coast where there are some.

    Raises
    ------
    ConfigError
        If the file is missing or was spun up with different physics; the message names the
        parameter and the command that regenerates the state.
    """
    path = _state_path(config)
    if not path.is_file():
        raise ConfigError("ocean.initial_state", f"initial state file {path} does not exist; "
                          "make one with 'varnet-osse spinup'")
    with np.load(path) as data:
        q = data["q"].astype(np.float64)
        sst = data["sst_anomaly"].astype(np.float64)
        meta = json.loads(str(data["meta"]))
    expected = {**params.physics(), **forcing_parameters(config)}
    stored_physics = meta["physics"]
    for name in sorted(set(expected) | set(stored_physics)):
        value, stored = expected.get(name), stored_physics.get(name)
        if not _same(stored, value):
            raise ConfigError(
                "ocean.initial_state",
                f"{path} was spun up with {name} = {_shown(stored)}, but this configuration "
                f"has {name} = {_shown(value)}; regenerate it with 'varnet-osse spinup "
                "--config <this file> --out <state.npz>' and set ocean.initial_state to that "
                "file")
    return resize_periodic(q, params.nx), resize_periodic(sst, params.nx)


def _shown(value: float | str | None) -> str:
    return "none (no such term)" if value is None else str(value)


def _same(stored: float | str | None, value: float | str | None) -> bool:
    if isinstance(stored, int | float) and isinstance(value, int | float):
        return bool(np.isclose(stored, value, rtol=1e-6, atol=0.0))
    return stored == value


def spin_up(config: OsseConfig, years: float = 3.0, refine_days: float = 180.0,
            progress: Callable[[str, float], None] | None = None) -> TwoLayerQG:
    """Spin the truth ocean up from a small random perturbation.

    Parameters
    ----------
    config : OsseConfig
        Configuration (physics, target resolution ``ocean.nx``, seed).
    years : float
        Model years at half resolution (twice the time step), where eddies equilibrate.
    refine_days : float
        Model days at full resolution after spectral refinement, for the small scales and
        the SST tracer to adjust.
    progress : callable, optional
        Called as ``progress(phase, fraction_done)``.

    Returns
    -------
    TwoLayerQG
        The spun-up model at the configured resolution.
    """
    full = model_parameters(config)
    half_nx = max(32, full.nx // 2)
    coarse = model_parameters(config, nx=half_nx, time_step_s=2 * full.dt_s)
    rng = np.random.default_rng(config.seed)
    q0 = 1e-7 * rng.standard_normal((2, half_nx, half_nx))
    q0 -= q0.mean(axis=(1, 2), keepdims=True)
    model = make_model(config, coarse, q0)
    steps_per_day = round(DAY_S / coarse.dt_s)
    ndays = round(years * 365)
    for day in range(ndays):
        model.step(steps_per_day)
        if progress is not None:
            progress("spin-up (half resolution)", (day + 1) / ndays)
    q, sst = model.state()
    model = make_model(config, full, resize_periodic(q, full.nx), resize_periodic(sst, full.nx))
    steps_per_day = round(DAY_S / full.dt_s)
    nref = round(refine_days)
    for day in range(nref):
        model.step(steps_per_day)
        if progress is not None:
            progress("refinement (full resolution)", (day + 1) / max(nref, 1))
    return model
