"""Speed of the exported ONNX graph under ONNX Runtime, side by side with PyTorch eager.

Run from the repository root::

    .venv/bin/python benchmarks/bench_onnx.py            # demo + paper size (5-10 minutes)
    .venv/bin/python benchmarks/bench_onnx.py --quick    # demo model only (1-2 minutes)
    .venv/bin/python benchmarks/bench_onnx.py --gpu      # also CUDA (TensorRT if it loads)

Two models, each exported to one unrolled graph by :func:`varnet.export.graph.export_model`:

* ``demo``: the shipped checkpoint ``models/demo/demo.pt`` (``configs/demo.toml``: 7 x 120 x
  120 patches, dim_ae 16, 3 x 2 solver steps);
* ``paper``: the paper-size model of ``configs/paper-4dvarnet-ssh-sst.toml`` (7 x 240 x 240
  patches, dim_ae 50, LSTM 150, 5 x 3 solver steps) with random weights (seed 0) and plausible
  normalisation statistics, saved as a checkpoint so that both runtimes load from a file.

Exports (a minute for the demo, a few for the paper size on 2 cores) and the paper-size
checkpoint are cached in ``$VARNET_BENCH_CACHE`` (default ``/tmp/varnet-bench``), keyed by the
checkpoint, the export and model sources and the torch / onnx versions, so reruns are fast.

On the CPU, with the same thread count on both sides (``torch.set_num_threads(n)`` and ORT
``intra_op_num_threads=n``, ``--threads``, default 2), prints in one run:

* inference time of :class:`varnet.runtime.onnx_model.OnnxModel` ``.run`` against the
  checkpoint's model called eagerly (evaluation mode, under ``torch.no_grad()``; the solver
  re-enables gradients inside; PyTorch's default CPU kernels, oneDNN included), per patch
  (batch 1) and per batch (4 for the demo, 2 for the paper size), on the same inputs: smooth
  SSH anomaly of about 0.1 m rms with 10 % of the cells observed (NaN elsewhere) and SST about
  291 K with 30 % NaN; and the relative L2 difference of the outputs, as a sanity check;
* model load time: ORT session creation (``OnnxModel(...).load_seconds``) against
  :func:`varnet.training.checkpoint.load_checkpoint`;
* the ratio ``PyTorch time / ORT time`` (above 1: ORT faster), the spread of the rounds, and a
  verdict against the goal "ONNX Runtime at least as fast as PyTorch eager on CPU" over every
  inference case (a speed-up within 5 % below 1 is reported as a tie: run-to-run noise on a
  shared machine is of that order; model load is reported beside it, not part of the goal).

Each figure is the median of ``--repeat`` (demo, default 5) or ``--paper-repeat`` (paper size,
default 1: a PyTorch call takes 20-50 s there on 2 busy cores) timed calls after one untimed
warm-up call per runtime and shape, the runtimes interleaved (alternating which goes first) so
that both see the same machine load; the spread column is half the range of the rounds over
their median ("-" with one round). The 1-, 5- and 15-minute load averages are printed before
and after: on a shared machine, competing jobs slow PyTorch's OpenMP thread pool far more than
ORT's (measured here on the demo, batch 1: 0.24 s idle, 1.5-11 s beside other jobs, against
0.25 s and 0.6-1.0 s for ORT; 0.4 s for PyTorch on one thread), so compare runs made under
similar loads, or with ``--threads 1``.

With ``--gpu``, where ``OnnxModel(path, "cuda").on_gpu`` (and, for the PyTorch side,
``torch.cuda.is_available()``), also times the CUDA provider against PyTorch CUDA eager
(host-to-host: inputs copied in, outputs copied back, ``torch.cuda.synchronize()``), the
TensorRT provider if a session really starts with it (``get_providers()``), and the GPU-vs-CPU
parity (relative L2 of the outputs against ORT on the CPU). Skipped, with the reason, otherwise.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import logging
import os
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from varnet.datamodel.grid import Grid
from varnet.runtime.onnx_model import OnnxModel
from varnet.training.checkpoint import (
    LoadedModel,
    load_checkpoint,
    save_checkpoint,
)
from varnet.training.config import load_config
from varnet.training.model import Normalisation, build_model

ROOT = Path(__file__).resolve().parents[1]
DEMO_CHECKPOINT = ROOT / "models" / "demo" / "demo.pt"
PAPER_CONFIG = ROOT / "configs" / "paper-4dvarnet-ssh-sst.toml"
PAPER_STATS = Normalisation(ssh_mean=0.0, ssh_std=0.3, sst_mean=291.0, sst_std=2.0, uv_std=0.3)
# 1/20 degree, 240 x 240 cells: the paper's patch over the demo's 12-degree box
PAPER_GRID = Grid.regular(32.025, -65.975, 0.05, (240, 240), name="paper")
SEED = 0
# sources whose change makes a cached export stale
SOURCES = (
    "varnet/export/graph.py",
    "varnet/export/decompositions.py",
    "varnet/runtime/metadata.py",
    "varnet/training/model.py",
    "varnet/training/checkpoint.py",
)
GOAL = "ONNX Runtime at least as fast as PyTorch eager on CPU"
#: speed-ups within this of 1 count as a tie (run-to-run noise on a shared 2-core machine)
TIE = 0.05
#: a spread (half-range over median) above this gets a warning under the verdict
NOISY = 0.25


# --------------------------------------------------------------------------------------------
# models and their cached exports


def cache_dir() -> Path:
    folder = Path(os.environ.get("VARNET_BENCH_CACHE", "/tmp/varnet-bench"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def cache_key(*parts: bytes | str) -> str:
    """16 hex characters of SHA-256 over ``parts``, the stale-making sources and versions."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
    for source in SOURCES:
        digest.update((ROOT / source).read_bytes())
    digest.update(f"{torch.__version__} {onnx.__version__}".encode())
    return digest.hexdigest()[:16]


def export_cached(checkpoint: Path, onnx_path: Path) -> float:
    """Export ``checkpoint`` to ``onnx_path`` unless already there; seconds spent (0 if cached)."""
    if onnx_path.is_file():
        return 0.0
    from varnet.export.graph import export_model, save_model

    print(f"  exporting {checkpoint.name} -> {onnx_path} (cached for later runs) ...", flush=True)
    started = time.perf_counter()
    for noisy in ("torch", "onnxscript", "torch.onnx"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        save_model(export_model(load_checkpoint(checkpoint)).model, onnx_path)
    return time.perf_counter() - started


def paper_checkpoint(folder: Path) -> Path:
    """The paper-size model with random weights (seed 0), saved as a checkpoint (cached)."""
    config = load_config(PAPER_CONFIG)
    key = cache_key(PAPER_CONFIG.read_bytes(), repr(PAPER_STATS), repr(PAPER_GRID), str(SEED))
    path = folder / f"paper-random-{key}.pt"
    if not path.is_file():
        torch.manual_seed(SEED)
        model = build_model(config.model, config.data.window_days, PAPER_STATS)
        save_checkpoint(path, model, config, PAPER_GRID, {"note": "random weights (benchmark)"})
    return path


@dataclass
class Case:
    """One model to benchmark."""

    name: str
    checkpoint: Path
    onnx: Path
    batch: int
    repeat: int
    export_s: float = 0.0
    loaded: LoadedModel | None = field(default=None, repr=False)

    @property
    def description(self) -> str:
        cfg = self.loaded.config
        m = cfg.model
        return (f"{self.name}: {cfg.data.window_days} x {cfg.data.patch[0]} x "
                f"{cfg.data.patch[1]} patches, dim_ae {m.dim_ae}, LSTM {m.lstm_channels}, "
                f"{m.n_grad} x {m.n_cascades} solver steps"
                + (", random weights" if self.name == "paper" else ""))


def prepare(name: str, batch: int, repeat: int) -> Case:
    folder = cache_dir()
    if name == "demo":
        checkpoint = DEMO_CHECKPOINT
        onnx_path = folder / f"demo-{cache_key(checkpoint.read_bytes())}.onnx"
    else:
        checkpoint = paper_checkpoint(folder)
        onnx_path = checkpoint.with_suffix(".onnx")
    case = Case(name, checkpoint, onnx_path, batch, repeat)
    case.export_s = export_cached(checkpoint, onnx_path)
    case.loaded = load_checkpoint(checkpoint)
    return case


# --------------------------------------------------------------------------------------------
# inputs


def smooth_field(rng: np.random.Generator, shape: tuple[int, int, int], waves: int = 8,
                 scale: float = 0.1) -> np.ndarray:
    """(T, H, W) sum of slowly propagating plane waves of 20-60 cells, about ``scale`` rms."""
    t, y, x = np.meshgrid(*(np.arange(n, dtype=np.float64) for n in shape), indexing="ij")
    out = np.zeros(shape)
    for _ in range(waves):
        k = 2.0 * np.pi / rng.uniform(20.0, 60.0)
        angle = rng.uniform(0.0, 2.0 * np.pi)
        speed = rng.uniform(-1.0, 1.0)  # cells per day
        phase = rng.uniform(0.0, 2.0 * np.pi)
        out += np.cos(k * (np.cos(angle) * x + np.sin(angle) * y - speed * t) + phase)
    return scale * out / np.sqrt(waves / 2.0)


def make_inputs(loaded: LoadedModel, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``batch`` patches of plausible physical inputs, float32 (batch, T, H, W) each.

    SSH anomaly: a smooth field of 0.1 m rms; OI = truth plus a smooth 2 cm error; along-track
    observations = truth plus 1 cm noise on 10 % of the cells, NaN elsewhere. SST: 291 K with a
    meridional gradient of 4 K over the patch plus 1 K of eddies, 30 % NaN.
    """
    rng = np.random.default_rng(seed)
    window = loaded.config.data.window_days
    shape = (window, *loaded.config.data.patch)
    oi, obs, sst = [], [], []
    for _ in range(batch):
        truth = smooth_field(rng, shape)
        oi.append(truth + smooth_field(rng, shape, scale=0.02))
        observed = rng.random(shape) < 0.1
        obs.append(np.where(observed, truth + rng.normal(0.0, 0.01, shape), np.nan))
        gradient = np.linspace(2.0, -2.0, shape[1])[None, :, None]
        field_ = 291.0 + gradient + smooth_field(rng, shape, scale=1.0)
        field_[rng.random(shape) < 0.3] = np.nan
        sst.append(field_)
    arrays = {"oi": oi, "obs": obs, "sst": sst}
    if not loaded.model.use_sst:
        del arrays["sst"]
    return {n: np.stack(v).astype(np.float32) for n, v in arrays.items()}


# --------------------------------------------------------------------------------------------
# timing


def interleaved(functions: dict[str, Callable[[], object]], repeat: int,
                warmup: int = 1) -> tuple[dict[str, float], dict[str, float], dict[str, object]]:
    """Median wall time of each function over ``repeat`` interleaved rounds, after warm-up.

    The order within a round alternates, so that no function always runs first (or just after
    the most expensive one). Also returns each function's spread (max - min) / median / 2 over
    the rounds, and its last result.
    """
    results: dict[str, object] = {}
    for name, fn in functions.items():
        for _ in range(warmup):
            results[name] = fn()
    times: dict[str, list[float]] = {name: [] for name in functions}
    names = list(functions)
    for round_ in range(repeat):
        for name in names if round_ % 2 == 0 else names[::-1]:
            started = time.perf_counter()
            results[name] = functions[name]()
            times[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(values) for name, values in times.items()}
    spreads = {name: (max(v) - min(v)) / medians[name] / 2 if len(v) > 1 else float("nan")
               for name, v in times.items()}
    return medians, spreads, results


def rel_l2(out: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> float:
    """Largest relative L2 difference over the outputs."""
    worst = 0.0
    for name, value in ref.items():
        value = value.astype(np.float64)
        worst = max(worst, float(np.linalg.norm(out[name].astype(np.float64) - value)
                                 / np.linalg.norm(value)))
    return worst


def torch_runner(model: torch.nn.Module, feed: dict[str, np.ndarray],
                 device: str = "cpu") -> Callable[[], dict[str, np.ndarray]]:
    """Eager call on ``feed`` (host arrays in, host arrays out), under ``torch.no_grad()``."""
    names = list(feed)

    def run() -> dict[str, np.ndarray]:
        with torch.no_grad():
            args = [torch.from_numpy(feed[n]).to(device) for n in names]
            outs = model(*args)
            result = {n: o.cpu().numpy() for n, o in zip(("ssh", "u", "v"), outs, strict=True)}
        if device != "cpu":
            torch.cuda.synchronize()
        return result

    return run


@dataclass
class Row:
    """One line of the table: a case timed on both sides (seconds)."""

    model: str
    what: str
    torch_s: float | None
    ort_s: float | None
    diff: float | None = None
    inference: bool = True
    spread: tuple[float, float] | None = None

    @property
    def ratio(self) -> float | None:
        return None if not (self.torch_s and self.ort_s) else self.torch_s / self.ort_s


def fmt_s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def print_table(title: str, rows: list[Row], left: str, right: str) -> None:
    print(f"\n{title}")
    print(f"{'model':<6} {'case':<34} {left:>12} {right:>10} {'ORT speed-up':>13} "
          f"{'spread torch/ORT':>17} {'rel-L2 ORT vs torch':>20}")
    for r in rows:
        ratio = "n/a" if r.ratio is None else f"{r.ratio:.2f}x"
        diff = "" if r.diff is None else f"{r.diff:.1e}"
        spread = "" if r.spread is None else "/".join(
            "-" if np.isnan(v) else f"±{100 * v:.0f}%" for v in r.spread)
        print(f"{r.model:<6} {r.what:<34} {fmt_s(r.torch_s):>12} {fmt_s(r.ort_s):>10} "
              f"{ratio:>13} {spread:>17} {diff:>20}")


# --------------------------------------------------------------------------------------------
# CPU


def bench_cpu(case: Case, threads: int) -> list[Row]:
    """Inference (batch 1 and ``case.batch``) and load times, PyTorch eager vs ORT on the CPU."""
    model = case.loaded.model.eval()
    session = OnnxModel(case.onnx, "cpu", threads=threads, batch_size=case.batch)
    batch_feed = make_inputs(case.loaded, case.batch, seed=1)
    rows = []
    for batch in (1, case.batch):
        feed = {n: np.ascontiguousarray(a[:batch]) for n, a in batch_feed.items()}
        print(f"  {case.name}: timing batch {batch} ({case.repeat} round(s)) ...", flush=True)
        runners = {"torch": torch_runner(model, feed), "ort": lambda f=feed: session.run(f)}
        timing, spread, outputs = interleaved(runners, case.repeat)
        diff = rel_l2(outputs["ort"], outputs["torch"])
        what = "per patch (batch 1)" if batch == 1 else f"per batch (batch {batch})"
        rows.append(Row(case.name, what, timing["torch"], timing["ort"], diff,
                        spread=(spread["torch"], spread["ort"])))
        if batch > 1:
            rows.append(Row(case.name, f"  = per patch in batch {batch}",
                            timing["torch"] / batch, timing["ort"] / batch))
    print(f"  {case.name}: timing model load ...", flush=True)
    sessions: list[float] = []

    def ort_load() -> None:
        sessions.append(OnnxModel(case.onnx, "cpu", threads=threads).load_seconds)

    load, spread, _ = interleaved(
        {"torch": lambda: load_checkpoint(case.checkpoint), "ort": ort_load}, case.repeat)
    # OnnxModel.load_seconds is the session creation alone (the warm-up call's is dropped);
    # the whole constructor adds reading and validating the metadata
    rows.append(Row(case.name, "model load (ORT .load_seconds)", load["torch"],
                    statistics.median(sessions[1:]), inference=False))
    rows.append(Row(case.name, "model load (whole OnnxModel())", load["torch"], load["ort"],
                    inference=False, spread=(spread["torch"], spread["ort"])))
    return rows


# --------------------------------------------------------------------------------------------
# GPU


def tensorrt_session(path: Path, threads: int) -> tuple[ort.InferenceSession | None, str]:
    """An ORT session whose main provider is TensorRT and its creation time (s, as text), or
    None and why not."""
    name = "TensorrtExecutionProvider"
    if name not in ort.get_available_providers():
        return None, "this onnxruntime has no TensorRT provider"
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    trt_options = {"trt_engine_cache_enable": True,
                   "trt_engine_cache_path": str(cache_dir() / "trt"),
                   "trt_fp16_enable": False}
    started = time.perf_counter()
    try:
        session = ort.InferenceSession(
            str(path), options,
            providers=[(name, trt_options), "CUDAExecutionProvider", "CPUExecutionProvider"])
    except Exception as exc:  # provider libraries missing, engine build failure, ...
        return None, f"TensorRT session failed: {str(exc).splitlines()[0][:160]}"
    if session.get_providers()[0] != name:
        return None, (f"TensorRT did not load (libraries not found?); session providers "
                      f"{session.get_providers()}")
    return session, f"{time.perf_counter() - started:.3f}"


def bench_gpu(case: Case, threads: int, cpu_session: OnnxModel) -> list[str]:
    """CUDA (and TensorRT) vs PyTorch CUDA eager; parity against ORT on the CPU. Text lines."""
    lines = []
    torch_cuda = torch.cuda.is_available()
    cuda = OnnxModel(case.onnx, "cuda", threads=threads, batch_size=case.batch)
    if not cuda.on_gpu and not torch_cuda:
        return [f"{case.name}: GPU skipped: ORT CUDA provider did not start (session providers "
                f"{cuda.providers}) and torch {torch.__version__} sees no CUDA device"]
    if not cuda.on_gpu:
        lines.append(f"{case.name}: ORT CUDA provider did not start (session providers "
                     f"{cuda.providers}): PyTorch CUDA only")
    if not torch_cuda:
        lines.append(f"{case.name}: torch {torch.__version__} sees no CUDA device: ORT only")
    gpu_model = None
    if torch_cuda:
        gpu_model = copy.deepcopy(case.loaded.model).to("cuda").eval()
    trt, why = tensorrt_session(case.onnx, threads) if cuda.on_gpu else (None, "no ORT CUDA")
    trt_load = why if trt is not None else "n/a"
    if trt is None:
        lines.append(f"{case.name}: TensorRT skipped: {why}")
    repeat = max(case.repeat, 5)
    batch_feed = make_inputs(case.loaded, case.batch, seed=1)
    head = (f"{'model':<6} {'case':<22} {'torch CUDA [s]':>14} {'ORT CUDA [s]':>13} "
            f"{'speed-up':>9} {'TensorRT [s]':>13} {'speed-up':>9} "
            f"{'rel-L2 vs ORT CPU: torch CUDA / ORT CUDA / TRT':>48}")
    lines.append(head)
    for batch in (1, case.batch):
        feed = {n: np.ascontiguousarray(a[:batch]) for n, a in batch_feed.items()}
        reference = cpu_session.run(feed)
        runners: dict[str, Callable[[], dict[str, np.ndarray]]] = {}
        if gpu_model is not None:
            runners["torch"] = torch_runner(gpu_model, feed, "cuda")
        if cuda.on_gpu:
            runners["ort"] = lambda f=feed: cuda.run(f)
        trt_build = None
        if trt is not None:
            names = [o.name for o in trt.get_outputs()]
            runners["trt"] = lambda f=feed, n=names, s=trt: dict(zip(n, s.run(n, f), strict=True))
            started = time.perf_counter()
            try:
                runners["trt"]()  # engine build for this shape (cached on disk for later runs)
                trt_build = time.perf_counter() - started
            except Exception as exc:  # engine build failure (unsupported node, memory)
                lines.append(f"{case.name}: TensorRT failed at batch {batch}, skipped: "
                             f"{str(exc).splitlines()[0][:160]}")
                del runners["trt"]
                trt = None
        timing, _, outputs = interleaved(runners, repeat, warmup=2)
        diffs = {k: rel_l2(out, reference) for k, out in outputs.items()}
        t_torch, t_ort, t_trt = (timing.get(k) for k in ("torch", "ort", "trt"))
        up_ort = f"{t_torch / t_ort:.2f}x" if t_torch and t_ort else "n/a"
        up_trt = f"{t_torch / t_trt:.2f}x" if t_torch and t_trt else "n/a"
        parity = " / ".join(f"{diffs[k]:.1e}" if k in diffs else "n/a"
                            for k in ("torch", "ort", "trt"))
        lines.append(f"{case.name:<6} {f'batch {batch}':<22} {fmt_s(t_torch):>14} "
                     f"{fmt_s(t_ort):>13} {up_ort:>9} {fmt_s(t_trt):>13} {up_trt:>9} "
                     f"{parity:>48}")
        if trt_build is not None:
            lines.append(f"{'':<6} {'':<22} (TensorRT first call, engine build or cache "
                         f"load: {trt_build:.1f} s)")
    if cuda.on_gpu:
        lines.append(f"{case.name:<6} {'session load [s]':<22} {'':>14} "
                     f"{cuda.load_seconds:13.3f} {'':>9} "
                     f"{trt_load:>13}")
    return lines


# --------------------------------------------------------------------------------------------


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the demo model only")
    parser.add_argument("--threads", type=int, default=2,
                        help="CPU threads of both runtimes (default 2)")
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds, demo model")
    parser.add_argument("--paper-repeat", type=int, default=1,
                        help="timed rounds, paper-size model")
    parser.add_argument("--paper-batch", type=int, default=2, help="batch, paper-size model")
    parser.add_argument("--gpu", action="store_true",
                        help="also time CUDA / TensorRT where they start")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    print(f"torch {torch.__version__} (oneDNN {'on' if torch.backends.mkldnn.enabled else 'off'})"
          f", onnxruntime {ort.__version__}; {args.threads} thread(s) each "
          f"(torch.set_num_threads, ORT intra_op_num_threads)")
    print(f"load average at start: {loadavg()}")
    print(f"cache: {cache_dir()}")

    cases = [prepare("demo", 4, args.repeat)]
    if not args.quick:
        cases.append(prepare("paper", args.paper_batch, args.paper_repeat))
    for case in cases:
        print(f"  {case.description}; ONNX {case.onnx.stat().st_size / 2**20:.1f} MiB"
              + (f", exported in {case.export_s:.0f} s" if case.export_s else ", cached"))

    rows: list[Row] = []
    for case in cases:
        rows.extend(bench_cpu(case, args.threads))
    end_load = loadavg()
    rounds = f"{args.repeat} (demo)" + ("" if args.quick else f" / {args.paper_repeat} (paper)")
    print_table(f"CPU, {args.threads} thread(s); median of {rounds} interleaved rounds after a "
                f"warm-up; seconds", rows, "PyTorch [s]", "ORT [s]")
    print("(speed-up = PyTorch time / ORT time, above 1: ORT faster; load rows: "
          "torch load_checkpoint vs OnnxModel)")
    print(f"load average at end: {end_load}")

    # (the "= per patch in batch" rows repeat their batch's ratio)
    inference = [r for r in rows if r.inference and r.ratio is not None and r.diff is not None]
    loads = [r for r in rows if not r.inference and "load_seconds" in r.what]
    load_text = ("not part of the goal, model load: ORT session creation "
                 + ", ".join(f"{r.ort_s / r.torch_s:.0f}x slower ({r.model})" for r in loads)
                 + " than load_checkpoint")
    slowest = min(inference, key=lambda r: r.ratio)
    slower = [r for r in inference if r.ratio < 1.0 - TIE]
    ties = [r for r in inference if 1.0 - TIE <= r.ratio < 1.0]
    listed = "; ".join
    if slowest.ratio >= 1.0:
        verdict = (f"goal met: ORT at least as fast in every inference case, smallest "
                   f"speed-up {slowest.ratio:.2f}x ({slowest.model}, {slowest.what.strip()})")
    elif not slower:
        verdict = ("goal met within timing noise: ORT within "
                   f"{100 * TIE:.0f} % of PyTorch in "
                   + listed(f"{r.model} {r.what.strip()} {r.ratio:.2f}x" for r in ties)
                   + ", at least as fast elsewhere")
    else:
        verdict = (f"goal NOT met: ORT more than {100 * TIE:.0f} % slower in "
                   + listed(f"{r.model} {r.what.strip()} {r.ratio:.2f}x" for r in slower))
    print(f"VERDICT ({GOAL}): {verdict}; {load_text}")
    noisy = max((v for r in inference if r.spread for v in r.spread if not np.isnan(v)),
                default=0.0)
    if noisy > NOISY:
        print(f"WARNING: noisy timings (spread up to ±{100 * noisy:.0f} % of the median; load "
              f"average {end_load.split(' (')[0]}): other jobs share the CPUs; rerun on an idle "
              f"machine, or compare with --threads 1")

    if args.gpu:
        print("\nGPU: host-to-host seconds (inputs copied in, outputs copied back), medians; "
              "speed-up = torch CUDA time / ORT time")
        for case in cases:
            cpu_session = OnnxModel(case.onnx, "cpu", threads=args.threads)
            for line in bench_gpu(case, args.threads, cpu_session):
                print(line)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
