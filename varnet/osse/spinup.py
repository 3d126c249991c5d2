"""Spun-up initial states of the truth ocean, committed so that a run starts in equilibrium.

A QG ocean started from rest needs two to three model years before its eddies equilibrate.
``varnet/osse/data/spunup_state.npz`` holds such a state (PV of both layers and the SST
anomaly, float32, plus the physical parameters it belongs to). It is regenerated with::

    varnet-osse spinup --config configs/osse-default.toml --out varnet/osse/data/spunup_state.npz

which spins up from a small random perturbation at half resolution (cheap), then
spectrally refines to the target resolution and runs half a year more so that the small scales
and the SST tracer adjust (the low-resolution trick of reference/osse.md).

A state can be loaded at another resolution (spectral truncation or zero-padding) but only
with the same physics: a mismatch is an error that names the parameter.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np

from varnet.config import ConfigError
from varnet.osse.config import OsseConfig
from varnet.osse.geometry import PlaneMapping
from varnet.osse.qg import QGParameters, TwoLayerQG, resize_periodic

DAY_S = 86400.0
DEFAULT_STATE = "spunup_state.npz"


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
    mapping = PlaneMapping.for_grid(config.grid, ocean.domain_km * 1e3)
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
    )


def _state_path(config: OsseConfig) -> Path:
    if config.ocean.initial_state == "default":
        return Path(str(resources.files("varnet.osse") / "data" / DEFAULT_STATE))
    return Path(config.ocean.initial_state)


def save_state(path: str | Path, model: TwoLayerQG, days_spun: float) -> Path:
    """Write a model state (float32 PV and SST anomaly plus its physics) to ``path``."""
    path = Path(path)
    q, sst = model.state()
    meta = {"physics": model.params.physics(), "nx": model.params.nx, "days_spun": days_spun}
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, q=q.astype(np.float32), sst_anomaly=sst.astype(np.float32),
                        meta=np.array(json.dumps(meta, sort_keys=True)))
    tmp.replace(path)
    return path


def load_state(config: OsseConfig, params: QGParameters) -> tuple[np.ndarray, np.ndarray]:
    """Initial PV (2, nx, nx) and SST anomaly (nx, nx) for ``params``, from the configured file.

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
    for name, value in params.physics().items():
        stored = meta["physics"].get(name)
        if stored is None or not np.isclose(stored, value, rtol=1e-6, atol=0.0):
            raise ConfigError(
                "ocean.initial_state",
                f"{path} was spun up with {name} = {stored}, but this configuration has "
                f"{name} = {value}; regenerate it with 'varnet-osse spinup --config <this "
                "file> --out <state.npz>' and set ocean.initial_state to that file")
    return resize_periodic(q, params.nx), resize_periodic(sst, params.nx)


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
    model = TwoLayerQG(coarse, q0)
    steps_per_day = round(DAY_S / coarse.dt_s)
    ndays = round(years * 365)
    for day in range(ndays):
        model.step(steps_per_day)
        if progress is not None:
            progress("spin-up (half resolution)", (day + 1) / ndays)
    q, sst = model.state()
    model = TwoLayerQG(full, resize_periodic(q, full.nx), resize_periodic(sst, full.nx))
    steps_per_day = round(DAY_S / full.dt_s)
    nref = round(refine_days)
    for day in range(nref):
        model.step(steps_per_day)
        if progress is not None:
            progress("refinement (full resolution)", (day + 1) / max(nref, 1))
    return model
