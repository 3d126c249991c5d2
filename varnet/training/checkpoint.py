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

import torch
from torch import nn

import varnet
from varnet.config import ConfigError
from varnet.datamodel.grid import Grid
from varnet.errors import InputError
from varnet.io.atomic import atomic_path
from varnet.training.config import TrainConfig, config_from_mapping
from varnet.training.model import DirectInversion, FourDVarNet, Normalisation, build_model

FORMAT = "varnet-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(InputError):
    """A file given as a checkpoint is missing, not a varnet checkpoint, of an unknown format
    version, or damaged; the message names it.

    Bad input (exit status 2 of ``varnet-train`` and ``varnet-export``); also a
    :class:`ValueError`, for code that catches that.
    """


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A model restored from a checkpoint, in evaluation mode.

    Attributes
    ----------
    model : FourDVarNet or DirectInversion
        The network (normalisation inside).
    config : TrainConfig
        The run configuration it was trained with.
    grid : varnet.datamodel.grid.Grid
        Its training grid (all sea; its lattice is what the checkpoint stores).
    payload : dict
        Everything else stored (epoch, losses, scores).
    path : pathlib.Path
        The file read.
    """

    model: FourDVarNet | DirectInversion
    config: TrainConfig
    grid: Grid
    payload: dict[str, Any]
    path: Path


def save_checkpoint(
    path: Path,
    model: nn.Module,
    config: TrainConfig,
    grid: Grid,
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
    grid : varnet.datamodel.grid.Grid
        Training grid (its lattice and size are stored).
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
        "grid": grid.lattice(),
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        **extra,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The raw payload of a checkpoint (weights-only loading; CPU tensors).

    Raises
    ------
    CheckpointError
        If the file is missing, not a varnet checkpoint, or of an unknown format version.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or foreign files
        raise CheckpointError(f"{path}: not a readable checkpoint ({exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a varnet checkpoint (no format '{FORMAT}')")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format version "
                              f"{payload.get('format_version')} is not supported (expected "
                              f"{FORMAT_VERSION})")
    return payload


def load_checkpoint(path: str | os.PathLike[str]) -> LoadedModel:
    """Rebuild the model of a checkpoint, in evaluation mode, on the CPU.

    Raises
    ------
    CheckpointError
        If the file is missing, not a varnet checkpoint, of an unknown format version, or
        lacks its configuration, statistics, grid or weights, or its configuration is not
        valid.
    """
    payload = read_checkpoint(path)
    missing = [k for k in ("config", "normalisation", "model_state", "grid") if k not in payload]
    if missing:
        raise CheckpointError(f"{path}: damaged checkpoint (no {', '.join(missing)})")
    try:
        config = config_from_mapping(payload["config"])
    except ConfigError as exc:
        raise CheckpointError(f"{path}: its configuration is not valid ({exc})") from None
    stats = Normalisation(**payload["normalisation"])
    model = build_model(config.model, config.data.window_days, stats)
    model.load_state_dict(payload["model_state"], strict=True)
    model.eval()
    grid = Grid.from_lattice(payload["grid"], name=Path(path).stem)
    return LoadedModel(model, config, grid, payload, Path(path))
