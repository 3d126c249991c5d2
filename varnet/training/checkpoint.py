"""Checkpoints that load without unpickling arbitrary objects.

A checkpoint is a ``torch.save`` of a dictionary holding only tensors and plain values
(strings, numbers, lists, dictionaries), read back with ``torch.load(weights_only=True)``:
the model weights, the run configuration as a mapping, the normalisation statistics, the
model grid, and (for ``last.pt``) the optimiser state and progress needed to resume.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import varnet
from varnet.io.atomic import atomic_path
from varnet.training.config import TrainConfig, config_from_mapping
from varnet.training.model import DirectInversion, FourDVarNet, Normalisation, build_model

FORMAT = "varnet-checkpoint"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ModelGridInfo:
    """The grid a model was trained on (regular, degrees)."""

    lat0: float
    lon0: float
    resolution_deg: float
    shape: tuple[int, int]

    @classmethod
    def from_axes(cls, lat: np.ndarray, lon: np.ndarray) -> ModelGridInfo:
        """From the cell centres of the model grid, degrees."""
        return cls(float(lat[0]), float(lon[0]), float(lat[1] - lat[0]), (lat.size, lon.size))

    def as_dict(self) -> dict[str, Any]:
        """Plain values."""
        return {"lat0": self.lat0, "lon0": self.lon0, "resolution_deg": self.resolution_deg,
                "shape": list(self.shape)}


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A model restored from a checkpoint, in evaluation mode.

    Attributes
    ----------
    model : FourDVarNet or DirectInversion
        The network (normalisation inside).
    config : TrainConfig
        The run configuration it was trained with.
    grid : ModelGridInfo
        Its training grid.
    payload : dict
        Everything else stored (epoch, losses, scores).
    path : pathlib.Path
        The file read.
    """

    model: FourDVarNet | DirectInversion
    config: TrainConfig
    grid: ModelGridInfo
    payload: dict[str, Any]
    path: Path


def save_checkpoint(
    path: Path,
    model: nn.Module,
    config: TrainConfig,
    grid: ModelGridInfo,
    extra: dict[str, Any],
) -> None:
    """Write a checkpoint atomically (temporary file in the same directory, then rename).

    Parameters
    ----------
    path : pathlib.Path
        Destination.
    model : FourDVarNet or DirectInversion
        The (unwrapped) model.
    config : TrainConfig
        Run configuration.
    grid : ModelGridInfo
        Training grid.
    extra : dict
        Plain values or tensors to store besides (epoch, optimizer state, losses).
    """
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "varnet_version": varnet.__version__,
        "torch_version": str(torch.__version__),
        "config": config.to_mapping(),
        "normalisation": model.stats.as_dict(),
        "grid": grid.as_dict(),
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        **extra,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The raw payload of a checkpoint (weights-only loading; CPU tensors).

    Raises
    ------
    ValueError
        If the file is missing, not a varnet checkpoint, or of an unknown format version.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or foreign files
        raise ValueError(f"{path}: not a readable checkpoint ({exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not a varnet checkpoint (no format '{FORMAT}')")
    if payload.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: checkpoint format version {payload.get('format_version')} "
                         f"is not supported (expected {FORMAT_VERSION})")
    return payload


def load_checkpoint(path: str | os.PathLike[str]) -> LoadedModel:
    """Rebuild the model of a checkpoint, in evaluation mode, on the CPU."""
    payload = read_checkpoint(path)
    config = config_from_mapping(payload["config"])
    stats = Normalisation(**payload["normalisation"])
    model = build_model(config.model, config.data.window_days, stats)
    model.load_state_dict(payload["model_state"], strict=True)
    model.eval()
    g = payload["grid"]
    grid = ModelGridInfo(g["lat0"], g["lon0"], g["resolution_deg"], tuple(g["shape"]))
    return LoadedModel(model, config, grid, payload, Path(path))
