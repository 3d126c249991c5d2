"""The one input assembler: a model's inputs from what its observation kinds read.

Training (:func:`varnet.training.prepare.prepare_arrays`) and operations
(:func:`varnet.operational.pipeline.assemble_inputs`) both call :func:`assemble_inputs`, so a
model never sees at inference time a preprocessing different from the one it was trained on.
What differs between them stays with them: which files are read (a synthetic ocean's folder,
the ledger's choice), how reading is cached, the period (a whole training span, one window).

For every observation kind the model's inputs use (its signature,
:mod:`varnet.datamodel.signature`), the kind grids what it read
(:meth:`~varnet.datamodel.kinds.ObservationKind.grid`), and each input is the kind's field it
names. Land, as the model takes it: the fields a kind fills on land
(:attr:`~varnet.datamodel.kinds.ObservationKind.land_fill`: the along-track OI first guess is
0 m there, the anomaly's mean) hold that value on land; the others stay NaN there, as off the
tracks or under a cloud, which the model reads as missing.

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from varnet.datamodel import kinds as observation_kinds
from varnet.datamodel.grid import Grid
from varnet.datamodel.kinds import GriddingOptions
from varnet.datamodel.signature import ModelInput

__all__ = ["assemble_inputs"]


def assemble_inputs(
    inputs: Sequence[ModelInput],
    data: Mapping[str, Sequence[Any]],
    grid: Grid,
    days: Sequence[dt.date],
    gridding: GriddingOptions,
    *,
    also: Sequence[tuple[str, str]] = (),
) -> dict[str, NDArray[np.float32]]:
    """The model's inputs on ``grid`` for ``days``, from what each kind read.

    Parameters
    ----------
    inputs : sequence of ModelInput
        The model's inputs (its signature's ``inputs``): each names a kind and its field.
    data : mapping of str to sequence
        For each kind the inputs use, what its :meth:`~varnet.datamodel.kinds.
        ObservationKind.read` returned for the files of the period (empty: none).
    grid : Grid
        The model grid and its ocean mask.
    days : sequence of datetime.date
        The days (UTC) of the inputs, consecutive.
    gridding : GriddingOptions
        How the kinds grid (the OI's parameters and cache, processes, progress).
    also : sequence of (str, str), optional
        Further ``(kind, field)`` outputs wanted besides the model's inputs (e.g. the OI's
        ``oi_error_variance`` for training's baselines), returned under their field name,
        NaN on land.

    Returns
    -------
    dict of str to numpy.ndarray of float32, shape (len(days), ny, nx)
        Each input under its name (physical units: m, K...), land filled as the module
        docstring says; then the fields of ``also``.

    Raises
    ------
    KeyError
        If ``data`` lacks a kind the inputs use, or a kind does not make a field asked for
        (the message names both).
    varnet.datamodel.kinds.UnknownKindError
        If an input names a kind that is not registered.
    """
    days = list(days)
    wanted: dict[str, set[str]] = {}
    for kind, name in [(i.kind, i.field) for i in inputs] + list(also):
        wanted.setdefault(kind, set()).add(name)
    gridded: dict[str, dict[str, NDArray[np.float32]]] = {}
    for kind_name, fields in wanted.items():
        kind = observation_kinds.get(kind_name)
        if kind_name not in data:
            raise KeyError(f"no data of the observation kind '{kind_name}' to grid")
        made = kind.grid(data[kind_name], grid, days, gridding)
        missing = sorted(fields - made.keys())
        if missing:
            raise KeyError(f"the observation kind '{kind_name}' makes {sorted(made)}, not "
                           f"{missing} (check the gridding options)")
        gridded[kind_name] = made
    out: dict[str, NDArray[np.float32]] = {}
    for model_input in inputs:
        field = gridded[model_input.kind][model_input.field]
        fill = observation_kinds.get(model_input.kind).land_fill.get(model_input.field)
        out[model_input.name] = (field if fill is None or grid.open_ocean
                                 else grid.mask_land(field, fill=fill))
    for kind_name, name in also:
        out[name] = gridded[kind_name][name]
    return out
