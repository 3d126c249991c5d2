"""Parity of an exported model with PyTorch, on held-back windows of a synthetic ocean.

The windows come from the model's test period (never seen in training), prepared with the
same readers and gridding as training and operations. PyTorch (eager, float32, same threads)
and ONNX Runtime run the same batches; for each output the report gives the relative L2
difference :math:`\\|o - r\\| / \\|r\\|` over all windows and the max-relative difference
:math:`\\max|o - r| / \\max|r|`. A float64 PyTorch run is the referee: where ORT and float32
PyTorch differ, it shows which one is nearer the exact answer.

**The tolerance follows the model's conditioning.** The solver amplifies round-off over its
steps (reference/onnx.md 4.3), by an amount that depends on the trained weights and on the
ocean. Each verification measures it: the float64 model runs once more on the inputs
multiplied by :math:`1 + \\epsilon`, :math:`\\epsilon` uniform in
:math:`[-2^{-24}, 2^{-24}]` (the rounding error of a float32 input, seeded), and the relative
L2 distance of its outputs to the unperturbed float64 outputs is the *input-rounding spread*
:math:`s`: how far the exact answer moves when the inputs move by their own rounding. A
float32 evaluation rounds at every one of the solver's operations besides, so it lands a few
:math:`s` from the float64 answer. An output passes when its relative L2 difference is at
most :math:`\\max(10^{-5}, 4 s)`.

Measured on the shipped Gulf Stream demo model (8 windows; ssh, u, v): the spread is 2.0e-6,
5.1e-6, 5.3e-6, and float32 evaluations that are all correct land 1.3e-6, 2.9e-6, 3.2e-6
from the float64 answer (PyTorch, native convolutions), 3.6e-6, 6.3e-6, 8.9e-6 (PyTorch with
oneDNN, and ONNX Runtime with its graph optimisations, the same to two digits) and 1.2e-6,
2.8e-6, 3.6e-6 (ONNX Runtime without them): at most 1.8 s. A fixed 1e-5 sits at this model's
round-off; an error of the graph is far above it (one weight tensor 0.1 % off moves a tiny
model's outputs by 1e-4 to 1e-3, ``tests/test_export.py``).

The float32 PyTorch reference runs with oneDNN disabled (PyTorch's native convolutions), with
ONNX Runtime's unoptimised graph the nearest to the float64 answer of the evaluations above.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from varnet.kernels.patches import PatchLayout
from varnet.runtime.onnx_model import OnnxModel
from varnet.training.checkpoint import LoadedModel
from varnet.training.data import PeriodArrays
from varnet.training.evaluate import arrays_for_test_period

#: The export fails above this relative L2 difference (float32 graph) on a model whose
#: input-rounding spread is below a quarter of it.
FLOAT32_TOLERANCE = 1e-5

#: ... and above this multiple of the input-rounding spread where that is larger.
ROUNDING_FACTOR = 4.0

#: Relative size of the input perturbation: float32's unit round-off.
FLOAT32_ROUNDING = 2.0**-24

#: Seed of the input perturbation (verification is reproducible).
ROUNDING_SEED = 20240101


@dataclass(frozen=True)
class OutputParity:
    """Differences on one output (dimensionless).

    Attributes
    ----------
    name : str
        The graph output.
    rel_l2, max_rel : float
        Relative L2 and max-relative difference from the reference.
    tolerance : float
        Largest ``rel_l2`` allowed for this output.
    rel_l2_float64 : float or None
        Relative L2 difference from the float64 PyTorch answer (the referee), where run.
    rounding_spread : float or None
        Input-rounding spread of the float64 answer (module docstring), where measured.
    """

    name: str
    rel_l2: float
    max_rel: float
    tolerance: float
    rel_l2_float64: float | None = None
    rounding_spread: float | None = None

    @property
    def passed(self) -> bool:
        """Whether the output is within its tolerance."""
        return self.rel_l2 <= self.tolerance


@dataclass(frozen=True)
class ParityReport:
    """The result of a verification.

    Attributes
    ----------
    outputs : list of OutputParity
        One per graph output.
    windows : int
        Windows compared.
    reference : str
        What the ONNX model was compared with.
    rule : str
        How each output's tolerance was set, for a person.
    days : list of str
        Centre days of the windows (ISO).
    """

    outputs: list[OutputParity]
    windows: int
    reference: str
    rule: str
    days: list[str]

    @property
    def passed(self) -> bool:
        """Whether every output is within its tolerance."""
        return all(o.passed for o in self.outputs)

    def lines(self) -> list[str]:
        """A readable table, one line per output."""
        rows = [f"parity vs {self.reference} on {self.windows} held-back test windows",
                f"(tolerance rel-L2 {self.rule}):"]
        for o in self.outputs:
            notes = []
            if o.rel_l2_float64 is not None:
                notes.append(f"ORT vs float64 {o.rel_l2_float64:.1e}")
            if o.rounding_spread is not None:
                notes.append(f"input-rounding spread {o.rounding_spread:.1e}")
            verdict = "ok" if o.passed else "FAIL"
            rows.append(f"  {o.name:4s} rel-L2 {o.rel_l2:.2e}   max-rel {o.max_rel:.2e}   "
                        f"tolerance {o.tolerance:.1e}   {verdict}"
                        + (f"   ({'; '.join(notes)})" if notes else ""))
        return rows


def held_back_windows(arrays: PeriodArrays, window: int, patch: Sequence[int],
                      count: int) -> tuple[dict[str, np.ndarray], list[str]]:
    """``count`` windows spread evenly over a period, at every patch position in turn.

    Parameters
    ----------
    arrays : PeriodArrays
        Prepared inputs of the period.
    window : int
        T, days.
    patch : sequence of int
        (H, W) of a patch, cells.
    count : int
        Windows wanted.

    Returns
    -------
    inputs : dict of str to numpy.ndarray
        ``oi``, ``obs``, ``sst``, each (count, T, H, W) float32.
    days : list of str
        Centre day of each window.
    """
    layout = PatchLayout((arrays.ndays, *arrays.lat.shape, *arrays.lon.shape),
                         (window, *patch), (1, *patch))
    origins = layout.origins()
    picks = np.linspace(0, len(origins) - 1, count).round().astype(int)
    inputs: dict[str, list[np.ndarray]] = {"oi": [], "obs": [], "sst": []}
    days = []
    for t, y, x in origins[picks]:
        for name in inputs:
            field = getattr(arrays, name)
            inputs[name].append(field[t:t + window, y:y + patch[0], x:x + patch[1]])
        days.append(str(arrays.days[t + window // 2]))
    return {n: np.stack(v).astype(np.float32) for n, v in inputs.items()}, days


def _relative(diff: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    norm = float(np.linalg.norm(ref))
    peak = float(np.abs(ref).max())
    return (float(np.linalg.norm(diff)) / norm if norm else float(np.linalg.norm(diff)),
            float(np.abs(diff).max()) / peak if peak else float(np.abs(diff).max()))


def _torch_outputs(model: torch.nn.Module, inputs: dict[str, np.ndarray], names: list[str],
                   batch: int, dtype: torch.dtype) -> list[np.ndarray]:
    outputs: list[list[np.ndarray]] = [[], [], []]
    count = len(inputs[names[0]])
    with torch.no_grad():
        for start in range(0, count, batch):
            args = [torch.from_numpy(inputs[n][start:start + batch]).to(dtype) for n in names]
            for k, out in enumerate(model(*args)):
                outputs[k].append(out.double().numpy())
    return [np.concatenate(o) for o in outputs]


def rounded_inputs(inputs: dict[str, np.ndarray], seed: int = ROUNDING_SEED
                   ) -> dict[str, np.ndarray]:
    """The inputs moved by the size of their own float32 rounding.

    Parameters
    ----------
    inputs : dict of str to numpy.ndarray
        Model inputs (any float dtype, any units).
    seed : int
        Seed of the perturbation.

    Returns
    -------
    dict of str to numpy.ndarray
        Each input times :math:`1 + \\epsilon`, :math:`\\epsilon` uniform in
        :math:`[-2^{-24}, 2^{-24}]` cell by cell, in float64 (a float32 result would round
        the perturbation away). NaN stays NaN.
    """
    rng = np.random.default_rng(seed)
    return {name: np.asarray(values, dtype=np.float64)
            * (1.0 + rng.uniform(-FLOAT32_ROUNDING, FLOAT32_ROUNDING, np.shape(values)))
            for name, values in inputs.items()}


def tolerance_for(rounding_spread: float) -> float:
    """Largest relative L2 difference allowed for an output of the given spread.

    Parameters
    ----------
    rounding_spread : float
        Input-rounding spread of the output (dimensionless; module docstring).

    Returns
    -------
    float
        :math:`\\max(10^{-5}, 4 s)` (:data:`FLOAT32_TOLERANCE`, :data:`ROUNDING_FACTOR`).
    """
    return max(FLOAT32_TOLERANCE, ROUNDING_FACTOR * rounding_spread)


def verify(loaded: LoadedModel, onnx_path: str | os.PathLike[str],
           osse: str | os.PathLike[str] | None = None, windows: int = 8, batch: int = 2,
           threads: int | None = None, progress: bool = False) -> ParityReport:
    """Compare an exported model with its checkpoint on held-back test windows.

    Parameters
    ----------
    loaded : LoadedModel
        The checkpoint the ONNX model was exported from.
    onnx_path : str or os.PathLike
        The exported model.
    osse : str or os.PathLike, optional
        Synthetic-ocean folder (default: the training configuration's ``data.osse``).
    windows : int
        Windows to compare, spread over the test period and the patch positions.
    batch : int
        Windows per call (both runtimes get the same batches).
    threads : int, optional
        Threads of both runtimes (default: torch's current setting).
    progress : bool
        Progress bar while the test period is prepared.

    Returns
    -------
    ParityReport
    """
    threads = threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    inputs, days = load_held_back_windows(loaded, osse, windows, progress)
    session = OnnxModel(onnx_path, "cpu", threads=threads, batch_size=batch)
    names = session.input_names
    feed = {n: inputs[n] for n in names}
    ort_out = session.predict(feed)
    with torch.backends.mkldnn.flags(enabled=False):
        ref32 = _torch_outputs(loaded.model, feed, names, batch, torch.float32)
    model64 = copy.deepcopy(loaded.model).double()
    ref64 = _torch_outputs(model64, feed, names, batch, torch.float64)
    moved64 = _torch_outputs(model64, rounded_inputs(feed), names, batch, torch.float64)
    parity = []
    for k, name in enumerate(session.output_names):
        ort_values = ort_out[name].astype(np.float64)
        rel_l2, max_rel = _relative(ort_values - ref32[k], ref32[k])
        referee, _ = _relative(ort_values - ref64[k], ref64[k])
        spread, _ = _relative(moved64[k] - ref64[k], ref64[k])
        parity.append(OutputParity(name, rel_l2, max_rel, tolerance_for(spread), referee, spread))
    rule = (f"the larger of {FLOAT32_TOLERANCE:.0e} and {ROUNDING_FACTOR:g} x the input-rounding "
            "spread of the float64 answer")
    return ParityReport(parity, len(days), "PyTorch float32 (eager, native convolutions)", rule,
                        days)


def verify_against(reference_path: str | os.PathLike[str], candidate_path: str | os.PathLike[str],
                   inputs: dict[str, np.ndarray], tolerance: float, provider: str = "cpu",
                   days: Sequence[str] = (), batch: int = 2) -> ParityReport:
    """Compare two ONNX models (e.g. float16 against float32) on the same inputs.

    Parameters
    ----------
    reference_path, candidate_path : str or os.PathLike
        The reference and the candidate model.
    inputs : dict of str to numpy.ndarray
        Windows (count, T, H, W) for every input of the models.
    tolerance : float
        Largest relative L2 allowed.
    provider : str
        Provider of the candidate (the reference always runs on the CPU).
    days : sequence of str
        Centre days of the windows, for the report.
    batch : int
        Windows per call.

    Returns
    -------
    ParityReport
    """
    reference = OnnxModel(reference_path, "cpu", batch_size=batch)
    candidate = OnnxModel(candidate_path, provider, batch_size=batch)
    feed = {n: inputs[n] for n in reference.input_names}
    ref = reference.predict(feed)
    out = candidate.predict(feed)
    parity = []
    for name in reference.output_names:
        rel_l2, max_rel = _relative(out[name].astype(np.float64) - ref[name], ref[name])
        parity.append(OutputParity(name, rel_l2, max_rel, tolerance))
    where = f"{Path(reference_path).name} on the CPU"
    return ParityReport(parity, len(next(iter(feed.values()))), where, f"{tolerance:.0e}",
                        list(days))


def load_held_back_windows(loaded: LoadedModel, osse: str | os.PathLike[str] | None, windows: int,
                 progress: bool = False) -> tuple[dict[str, np.ndarray], list[str]]:
    """The held-back windows :func:`verify` uses, for other comparisons."""
    config = loaded.config
    arrays = arrays_for_test_period(loaded, Path(osse or config.data.osse), progress)
    return held_back_windows(arrays, config.data.window_days, config.data.patch, windows)
