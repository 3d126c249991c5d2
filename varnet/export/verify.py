"""Parity of an exported model with PyTorch, on held-back windows of a synthetic ocean.

The windows come from the model's test period (never seen in training), prepared with the
same readers and gridding as training and operations. PyTorch (eager, float32, same threads)
and ONNX Runtime run the same batches; for each output the report gives the relative L2
difference :math:`\\|o - r\\| / \\|r\\|` over all windows and the max-relative difference
:math:`\\max|o - r| / \\max|r|`. A float64 PyTorch run is the referee: where ORT and float32
PyTorch differ, it shows which one is nearer the exact answer.

The float32 PyTorch reference runs with oneDNN disabled (PyTorch's native convolutions). The
solver amplifies round-off over its steps (reference/onnx.md 4.3), and through the demo
model's 6 steps oneDNN's convolution kernels end 1.0e-5 (relative L2 on u, v) from the
float64 answer, while the native kernels end 1.7e-7 from it and ONNX Runtime 1.7e-6: compared
with oneDNN, a correct export would sit at the tolerance by PyTorch's own drift.
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

#: The export fails above this relative L2 difference (float32 graph).
FLOAT32_TOLERANCE = 1e-5


@dataclass(frozen=True)
class OutputParity:
    """Differences on one output (relative L2 and max-relative, dimensionless)."""

    name: str
    rel_l2: float
    max_rel: float
    rel_l2_float64: float | None


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
    tolerance : float
        Largest relative L2 allowed.
    days : list of str
        Centre days of the windows (ISO).
    """

    outputs: list[OutputParity]
    windows: int
    reference: str
    tolerance: float
    days: list[str]

    @property
    def passed(self) -> bool:
        """Whether every output is within the tolerance."""
        return all(o.rel_l2 <= self.tolerance for o in self.outputs)

    def lines(self) -> list[str]:
        """A readable table, one line per output."""
        head = (f"parity vs {self.reference} on {self.windows} held-back test windows "
                f"(tolerance rel-L2 {self.tolerance:.0e}):")
        rows = [head]
        for o in self.outputs:
            referee = ("" if o.rel_l2_float64 is None
                       else f"   (ORT vs float64 {o.rel_l2_float64:.1e})")
            verdict = "ok" if o.rel_l2 <= self.tolerance else "FAIL"
            rows.append(f"  {o.name:4s} rel-L2 {o.rel_l2:.2e}   max-rel {o.max_rel:.2e}   "
                        f"{verdict}{referee}")
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
    parity = []
    for k, name in enumerate(session.output_names):
        ort_values = ort_out[name].astype(np.float64)
        rel_l2, max_rel = _relative(ort_values - ref32[k], ref32[k])
        referee, _ = _relative(ort_values - ref64[k], ref64[k])
        parity.append(OutputParity(name, rel_l2, max_rel, referee))
    return ParityReport(parity, len(days), "PyTorch float32 (eager, native convolutions)",
                        FLOAT32_TOLERANCE, days)


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
        parity.append(OutputParity(name, rel_l2, max_rel, None))
    where = f"{Path(reference_path).name} on the CPU"
    return ParityReport(parity, len(next(iter(feed.values()))), where, tolerance, list(days))


def load_held_back_windows(loaded: LoadedModel, osse: str | os.PathLike[str] | None, windows: int,
                 progress: bool = False) -> tuple[dict[str, np.ndarray], list[str]]:
    """The held-back windows :func:`verify` uses, for other comparisons."""
    config = loaded.config
    arrays = arrays_for_test_period(loaded, Path(osse or config.data.osse), progress)
    return held_back_windows(arrays, config.data.window_days, config.data.patch, windows)
