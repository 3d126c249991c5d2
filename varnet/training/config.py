"""Typed configuration of a training run (``configs/paper-*.toml``, ``configs/demo*.toml``).

A run configuration is a TOML file with the tables ``[data]``, ``[model]``, ``[loss]`` and
``[optim]`` plus a top-level ``name``. Every value is checked when the file is read and a
wrong one is reported with its dotted key (``model.n_grad: must be >= 0, got -1``). This
module does not import torch, so that configurations can be read and validated anywhere.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from varnet.config import ConfigError, from_mapping, load_toml, require, to_mapping
from varnet.kernels.oi import OIConfig

Period = tuple[dt.date, dt.date]

#: Model kinds: the 4DVarNet solver, or the direct inversion (prior applied once).
MODEL_KINDS = ("4dvarnet", "direct")


def _check_period(period: Period, key: str) -> None:
    require(period[0] <= period[1], key, f"start {period[0]} is after end {period[1]}")


def _positive_int(value: int, key: str, minimum: int = 1) -> None:
    require(value >= minimum, key, f"must be >= {minimum}, got {value}")


def _non_negative(value: float, key: str) -> None:
    require(value >= 0.0, key, f"must be >= 0, got {value}")


@dataclass(frozen=True)
class DataConfig:
    """Where the data come from and how windows and patches are cut.

    Attributes
    ----------
    osse : str
        Directory of the synthetic ocean (``varnet-osse generate --out``); relative paths are
        taken from the current directory.
    coarsen : int
        The model grid is the truth grid coarsened by this factor (block means); 1 keeps the
        truth grid (1/20 degree on the default ocean). Outputs are interpolated back to the
        truth grid for scoring, as the paper does for its reduced-resolution model.
    window_days : int
        Window length T, days (paper: 7). Odd, so that the window has a centre day.
    patch : tuple of int
        Patch size (lat, lon), model-grid cells; a multiple of ``model.pool``.
    stride : tuple of int
        Stride between patches (lat, lon), cells; the last patch is shifted to end at the
        domain border.
    weight_crop : tuple of int
        Border (time, lat, lon) of the patch weight set to zero (paper: 1 day, 20 cells at
        1/20 degree).
    train, validation, test : tuple of date
        Inclusive periods (days). Normalisation statistics come from ``train`` only.
    missions : tuple of str
        Altimeters whose along-track files are used (empty: all).
    sst_level : str
        ``"L4"`` (gap-free analysis) or ``"L3S"`` (with cloud gaps).
    augment_masks : bool
        The paper's augmentation: each epoch also sees every training window with the
        observation mask of another, randomly drawn window, observations being the truth
        sampled on that mask.
    prepare_workers : int
        Processes used to prepare the gridded inputs (the OI dominates).
    oi : OIConfig
        The OI first guess (and OI baseline) settings.
    ocean_mask : str
        A NetCDF ocean mask on the truth grid (:mod:`varnet.io.ocean_mask`) laid over the
        synthetic ocean's own land (the truth's missing cells); relative paths are taken
        from the current directory. Empty (the default): the truth's land only.
    """

    osse: str = "demo-output/osse"
    coarsen: int = 1
    window_days: int = 7
    patch: tuple[int, int] = (240, 240)
    stride: tuple[int, int] = (20, 20)
    weight_crop: tuple[int, int, int] = (1, 20, 20)
    train: Period = (dt.date(2013, 2, 4), dt.date(2013, 9, 30))
    validation: Period = (dt.date(2013, 1, 1), dt.date(2013, 2, 3))
    test: Period = (dt.date(2012, 10, 22), dt.date(2012, 12, 2))
    missions: tuple[str, ...] = ()
    sst_level: str = "L4"
    augment_masks: bool = True
    prepare_workers: int = 2
    oi: OIConfig = field(default_factory=OIConfig)
    ocean_mask: str = ""

    def validate(self) -> None:
        """Raise :class:`~varnet.config.ConfigError` naming the first invalid field."""
        _positive_int(self.coarsen, "coarsen")
        _positive_int(self.window_days, "window_days")
        require(self.window_days % 2 == 1, "window_days",
                f"must be odd so that windows have a centre day, got {self.window_days}")
        for i, (p, s) in enumerate(zip(self.patch, self.stride, strict=True)):
            _positive_int(p, f"patch[{i}]", 4)
            _positive_int(s, f"stride[{i}]")
            require(s <= p, f"stride[{i}]", f"must not exceed the patch size {p}, got {s}")
        require(self.weight_crop[0] >= 0 and 2 * self.weight_crop[0] < self.window_days,
                "weight_crop[0]", f"leaves no day of weight in a {self.window_days}-day window")
        for i in (1, 2):
            require(self.weight_crop[i] >= 0 and 2 * self.weight_crop[i] < self.patch[i - 1],
                    f"weight_crop[{i}]", f"leaves no cell of weight in a patch of "
                    f"{self.patch[i - 1]} cells")
        for name in ("train", "validation", "test"):
            _check_period(getattr(self, name), name)
        require(self.sst_level in ("L4", "L3S"), "sst_level",
                f"must be 'L4' or 'L3S', got {self.sst_level!r}")
        _positive_int(self.prepare_workers, "prepare_workers")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture (reference/paper.md section 3; paper values in brackets).

    Attributes
    ----------
    kind : str
        ``"4dvarnet"`` (learned variational solver) or ``"direct"`` (direct inversion: the
        prior network applied once to the observations, the paper's "U-Net").
    use_sst : bool
        SST enters through the learned feature-space observation term (4DVarNet) or as extra
        input channels (direct inversion).
    dim_ae : int
        Width of the bilinear units of the prior [50].
    kernel : int
        Kernel of the prior's first convolution [7].
    pool : int
        Down-sampling factor of the prior's coarse branch [4].
    lstm_channels : int
        Hidden channels of the ConvLSTM gradient modulator [150].
    n_grad : int
        Gradient steps per cascade block [5]; 0 returns the initial state.
    n_cascades : int
        Cascade blocks (state, LSTM memory and gradient norm detached between them) [3].
    sst_features : int
        Feature maps compared by the SST observation term [20].
    dropout : float
        Dropout of the normalised gradient and of the LSTM output, training only [0.25].
    """

    kind: str = "4dvarnet"
    use_sst: bool = True
    dim_ae: int = 50
    kernel: int = 7
    pool: int = 4
    lstm_channels: int = 150
    n_grad: int = 5
    n_cascades: int = 3
    sst_features: int = 20
    dropout: float = 0.25

    def validate(self) -> None:
        """Raise :class:`~varnet.config.ConfigError` naming the first invalid field."""
        require(self.kind in MODEL_KINDS, "kind",
                f"must be one of {', '.join(MODEL_KINDS)}, got {self.kind!r}")
        _positive_int(self.dim_ae, "dim_ae")
        require(self.kernel >= 1 and self.kernel % 2 == 1, "kernel",
                f"must be a positive odd integer, got {self.kernel}")
        _positive_int(self.pool, "pool")
        _positive_int(self.lstm_channels, "lstm_channels")
        _positive_int(self.n_grad, "n_grad", 0)
        _positive_int(self.n_cascades, "n_cascades")
        _positive_int(self.sst_features, "sst_features")
        require(0.0 <= self.dropout < 1.0, "dropout", f"must lie in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class LossConfig:
    """Weights of the training loss (reference/paper.md section 4.1; paper values).

    Attributes
    ----------
    ssh, grad_ssh, uv, uv_geo, div, strain : float
        Weighted MSE of SSH, its gradient, (u, v), the geostrophic (u, v) of SSH, the
        divergence (scaled by 1e4) and the strain of (u, v).
    prior : float
        Auto-encoder consistency of the output state and of the true state [0.25].
    large_scale : float
        Coarse SSH (average-pooled by ``large_scale_pool``) against the OI [0.5].
    first_guess : float
        The state's large-scale block against the OI [0.5].
    large_scale_pool : int
        Pooling of the large-scale term, model-grid cells [16].
    div_smoothing : int
        4-neighbour averaging passes applied to (u, v) before the divergence and strain terms
        [5, at 1/20 degree]; the scores smooth by sigma = 1 cell of 1/20 degree only, so on a
        coarser model grid fewer passes keep the loss closer to what is scored.
    cascade_weights : tuple of float
        Weight of each cascade block's loss, one per block [1, 2, 2].
    """

    ssh: float = 50.0
    grad_ssh: float = 1000.0
    uv: float = 50.0
    uv_geo: float = 25.0
    div: float = 1000.0
    strain: float = 0.0
    prior: float = 0.25
    large_scale: float = 0.5
    first_guess: float = 0.5
    large_scale_pool: int = 16
    div_smoothing: int = 5
    cascade_weights: tuple[float, ...] = (1.0, 2.0, 2.0)

    def validate(self) -> None:
        """Raise :class:`~varnet.config.ConfigError` naming the first invalid field."""
        weights = ("ssh", "grad_ssh", "uv", "uv_geo", "div", "strain", "prior", "large_scale",
                   "first_guess")
        for name in weights:
            _non_negative(getattr(self, name), name)
        require(any(getattr(self, name) > 0 for name in weights), "ssh",
                f"every loss weight ({', '.join(weights)}) is zero: nothing to train")
        _positive_int(self.large_scale_pool, "large_scale_pool")
        _positive_int(self.div_smoothing, "div_smoothing", 0)
        for i, w in enumerate(self.cascade_weights):
            _non_negative(w, f"cascade_weights[{i}]")


@dataclass(frozen=True)
class OptimConfig:
    """Optimisation (reference/paper.md section 4.2).

    Attributes
    ----------
    epochs : int
        Maximum number of epochs [200].
    max_minutes : float
        Stop after the epoch that ends past this wall-clock budget, minutes (0: no limit).
    batch_size : int
        Windows per step [2].
    lr : float
        Adam learning rate of the solver, cost and observation operator [1e-3].
    lr_prior : float
        Adam learning rate of the prior [5e-4].
    seed : int
        Seed of every random generator.
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
    threads : int
        CPU threads of torch (0: torch's default).
    validate_every : int
        Epochs between validations (and checkpoint selection).
    samples_per_epoch : int
        Samples drawn at random (with replacement) per epoch, single-process runs only
        (0: every sample once, shuffled).
    """

    epochs: int = 200
    max_minutes: float = 0.0
    batch_size: int = 2
    lr: float = 1e-3
    lr_prior: float = 5e-4
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    validate_every: int = 1
    samples_per_epoch: int = 0

    def validate(self) -> None:
        """Raise :class:`~varnet.config.ConfigError` naming the first invalid field."""
        _positive_int(self.epochs, "epochs")
        _non_negative(self.max_minutes, "max_minutes")
        _positive_int(self.batch_size, "batch_size")
        require(self.lr > 0, "lr", f"must be > 0, got {self.lr}")
        require(self.lr_prior > 0, "lr_prior", f"must be > 0, got {self.lr_prior}")
        require(self.device in ("auto", "cpu", "cuda"), "device",
                f"must be 'auto', 'cpu' or 'cuda', got {self.device!r}")
        _positive_int(self.threads, "threads", 0)
        _positive_int(self.validate_every, "validate_every")
        _positive_int(self.samples_per_epoch, "samples_per_epoch", 0)


@dataclass(frozen=True)
class TrainConfig:
    """A whole training run.

    Attributes
    ----------
    name : str
        Run name (the run directory's default name).
    data, model, loss, optim
        See :class:`DataConfig`, :class:`ModelConfig`, :class:`LossConfig`,
        :class:`OptimConfig`.
    """

    name: str = "run"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    def validate(self) -> None:
        """Check the constraints that link sections."""
        require(bool(self.name.strip()), "name", "must not be empty")
        for i, p in enumerate(self.data.patch):
            require(p % self.model.pool == 0, f"data.patch[{i}]",
                    f"must be a multiple of model.pool = {self.model.pool}, got {p}")
            require(p % self.loss.large_scale_pool == 0, f"data.patch[{i}]",
                    f"must be a multiple of loss.large_scale_pool = "
                    f"{self.loss.large_scale_pool}, got {p}")
        if self.model.kind == "4dvarnet":
            require(len(self.loss.cascade_weights) == self.model.n_cascades,
                    "loss.cascade_weights",
                    f"needs one weight per cascade block ({self.model.n_cascades}), "
                    f"got {len(self.loss.cascade_weights)}")

    def to_mapping(self) -> dict[str, Any]:
        """Plain values (TOML/JSON-friendly), the inverse of :func:`config_from_mapping`."""
        return to_mapping(self)

    def digest(self) -> str:
        """SHA-256 (hex, 16 characters) of the configuration's canonical JSON.

        Options added after a model was shipped (:data:`ADDED_OPTIONS`) enter it only when
        set to something else than their default, so that a release adding an option does
        not change the digest of any existing configuration (a shipped model's metadata and
        checkpoint, a run to resume, compare it).
        """
        return _digest(self.to_mapping())

    def resume_digest(self) -> str:
        """:meth:`digest` without the stopping rule (``optim.epochs``, ``optim.max_minutes``):
        a run may be resumed with a longer budget, nothing else changed."""
        mapping = self.to_mapping()
        for key in ("epochs", "max_minutes"):
            mapping["optim"].pop(key)
        return _digest(mapping)


#: ``(table, key)`` of the options added after the first shipped models, with their defaults
#: (left out of :meth:`TrainConfig.digest` at their default).
ADDED_OPTIONS: dict[tuple[str, str], object] = {("data", "ocean_mask"): ""}


def _digest(mapping: dict[str, Any]) -> str:
    for (table, key), default in ADDED_OPTIONS.items():
        if mapping.get(table, {}).get(key, default) == default:
            mapping[table].pop(key, None)
    text = json.dumps(mapping, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def config_from_mapping(data: dict[str, Any]) -> TrainConfig:
    """Validate a mapping (e.g. stored in a checkpoint) into a :class:`TrainConfig`."""
    return from_mapping(TrainConfig, data)


def load_config(path: str | Path) -> TrainConfig:
    """Read and validate a training TOML file; errors name the file and the key."""
    return load_toml(TrainConfig, path)


__all__ = ["ConfigError", "DataConfig", "LossConfig", "ModelConfig", "OptimConfig",
           "TrainConfig", "config_from_mapping", "load_config"]
