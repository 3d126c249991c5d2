"""Operations speed: one product day from archived files to written product, stage by stage.

Run from the repository root::

    .venv/bin/python benchmarks/bench_ops.py            # everything (about 6 minutes, 2 idle cores)
    .venv/bin/python benchmarks/bench_ops.py --quick    # without the large domains (about 1 minute)
    .venv/bin/python benchmarks/bench_ops.py --gpu      # also the CUDA provider, where it loads

Everything uses the shipped demo model (``models/demo/demo.onnx``: 7-day window, 120 x 120
patches, spatial multiple 4) and the default synthetic ocean's files
(``demo-output/osse/alongtrack/*.nc``, ``sst/l4/*.nc``): only the files of the days needed
(about seven weeks of along-track data, ten days of SST) are copied into an inbox under the
working folder (``--work``, default ``/tmp/varnet-bench-ops``, emptied first; never
``demo-output``) and ingested once; every measured set-up then reads that archive through a
copy of its ledger, with its own state and product folders. Operations configurations are
written by the script (provider ``cpu``, 2 ORT threads, batch of 2 patches).

The demo model runs at 1/10 degree on its lattice (cell centres 32.05 + k x 0.1 N,
-65.95 + k x 0.1 E, from its metadata): a 1/20 degree region is refused by
``Producer`` (the refusal is shown), so the paper-size domain of 200 x 200 cells is 20 x 20
degrees here, centred on the synthetic ocean, of which the files cover only the middle 12 x 12
degrees (the rest has no observation: OI 0, no SST).

Prints, in one run:

1. **Product day** (``Producer.make``) on the paper-size domain (200 x 200) and on the demo
   domain (120 x 120), ``--repeat`` times each (default 3), each repetition in a fresh state
   folder: median seconds per stage (``DayResult.timings``: read, grid, infer, stitch, derive,
   write: from archived files to the written product), each stage's share and the verdict on
   the goal "inference at least 75 % of the product day"; then the quicklook, drawn after the
   product is written, and the inference share with it. ``Producer`` caches the OI first
   guess of each day in ``{state}/oi-cache`` (keyed by the along-track files within the OI's
   reach), so three cases are timed with one ``Producer`` per repetition: **cold** (fresh
   state folder, nothing cached; also the session's first inference), **next day** (the
   following product day: 6 of its 7 OI days cached, as in a reprocess), **re-made** (the
   first day again: all 7 cached).
2. **Large domains**, each in a child process whose peak resident memory (``VmHWM``) is
   compared with the 8 GB budget: the streaming inference and stitching alone
   (:func:`~varnet.operational.pipeline.reconstruct_day`) on synthetic 7 x 2000 x 2000 inputs
   (2000 cells of 0.1 degree, 200 degrees, cannot be a latitude span, so no real product day
   of 2000 x 2000 exists for this model), and the whole product day (cold) on the largest
   lattice-valid domain within 80 S..80 N, 1600 x 2000 cells (79.95 S..79.95 N,
   159.95 W..39.95 E; ``--large`` to change it).
   Skipped by ``--quick``, with the estimated time from the measured seconds per patch.
3. **Reprocess throughput** (``varnet.operational.runs.reprocess``, ``force=True``) of
   ``--reprocess-days`` days (default 12) on the demo domain into fresh state and product
   folders, with 1 and 2 workers (2 ORT threads each), and 2 workers of 1 thread: days per
   minute, worker start-up included, and the ratio to 1 worker; then (where the ``dist``
   extra is installed) on a Dask cluster started from its command line (``dask scheduler``,
   ``dask worker``) on the loopback address, with 1 worker of 2 threads and 2 of 1.
   ``--reprocess-only`` runs the archive and this section alone.
4. With ``--gpu``: the paper-size product day again with the CUDA provider, if
   ``OnnxModel(path, "cuda").on_gpu``; skipped with the reason otherwise.

Timings are wall clock; the 1-, 5- and 15-minute load averages are printed at the start and
the end (the machine is shared: compare runs made under similar loads). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.util
import json
import logging
import math
import os
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from varnet.config import dump_toml
from varnet.io.names import parse_alongtrack_filename, parse_ghrsst_filename
from varnet.kernels.patches import PatchLayout
from varnet.operational.config import OpsConfig, create_folders, load_ops_config
from varnet.operational.ingest import ingest
from varnet.operational.pipeline import (
    DayResult,
    Producer,
    ProductInputs,
    model_oi_config,
    oi_reach_days,
    patch_shape,
    reconstruct_day,
    window_days,
)
from varnet.operational.runs import reprocess
from varnet.runtime.metadata import ModelMetadata, ModelMismatch, read_metadata
from varnet.runtime.onnx_model import OnnxModel

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "demo" / "demo.onnx"
OSSE = ROOT / "demo-output" / "osse"
#: Product day: in the demo model's test period (2012-10-22 to 2012-12-02).
DAY = dt.date(2012, 11, 15)
#: Production day of the first issue; later issues add days to it.
PRODUCTION = dt.date(2012, 12, 20)
#: Centre of the synthetic ocean (32-44 N, 66-54 W).
CENTRE = (38.0, -60.0)
STAGES = ("read", "grid", "infer", "stitch", "derive", "write")
#: Drawn after the product is written (and never failing it): timed, shown apart.
QUICKLOOK = "quicklook"
GOAL_SHARE = 0.75
BUDGET_GB = 8.0
THREADS = 2
BATCH = 2
NEVER = "0 0 1 1 *"  # a schedule that never fires while the benchmark runs
CASES = ("cold", "next day", "re-made")
#: Latitude limit of the regions, degrees (the largest domain spans 80 S..80 N).
LAT_LIMIT = 80.0


# --------------------------------------------------------------------------------------------
# helpers


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} CPUs"


def peak_rss_mib() -> float:
    """Peak resident memory of this process (VmHWM), MiB."""
    status = Path("/proc/self/status")
    if status.is_file():
        found = re.search(r"VmHWM:\s+(\d+) kB", status.read_text())
        if found:
            return int(found.group(1)) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def rss_mib() -> float:
    """Current resident memory of this process (VmRSS), MiB (nan where unknown)."""
    status = Path("/proc/self/status")
    if status.is_file():
        found = re.search(r"VmRSS:\s+(\d+) kB", status.read_text())
        if found:
            return int(found.group(1)) / 1024
    return float("nan")


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); whether it worked."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class Region:
    """A product region on the model's lattice."""

    label: str
    lat_min: float
    lon_min: float
    nlat: int
    nlon: int
    resolution: float

    def mapping(self) -> dict[str, float | int]:
        return {"lat_min": self.lat_min, "lon_min": self.lon_min,
                "resolution_deg": self.resolution, "nlat": self.nlat, "nlon": self.nlon}

    def describe(self) -> str:
        lat_max = self.lat_min + (self.nlat - 1) * self.resolution
        lon_max = self.lon_min + (self.nlon - 1) * self.resolution
        return (f"{self.nlat} x {self.nlon} cells at {self.resolution:g} deg = "
                f"{self.nlat * self.resolution:g} x {self.nlon * self.resolution:g} deg, "
                f"centres {self.lat_min:.2f}..{lat_max:.2f} N, {self.lon_min:.2f}..{lon_max:.2f} E")


def lattice_region(meta: ModelMetadata, label: str, nlat: int, nlon: int,
                   centre: tuple[float, float] = CENTRE) -> Region:
    """``nlat`` x ``nlon`` cells on the model's lattice, centred as near ``centre`` as it
    allows, cell centres kept within ``LAT_LIMIT`` S..N."""
    res = float(meta.grid["resolution_deg"])
    origin = (float(meta.grid["lat0"]), float(meta.grid["lon0"]))
    ks = [round((c - (n - 1) / 2 * res - o) / res)
          for n, c, o in zip((nlat, nlon), centre, origin, strict=True)]
    low = math.ceil((-LAT_LIMIT - origin[0]) / res - 1e-6)
    high = math.floor((LAT_LIMIT - origin[0]) / res + 1e-6) - (nlat - 1)
    if low > high:
        raise ValueError(f"{nlat} rows of {res:g} deg do not fit within {LAT_LIMIT:g} S..N")
    ks[0] = min(max(ks[0], low), high)
    return Region(label, round(origin[0] + ks[0] * res, 6), round(origin[1] + ks[1] * res, 6),
                  nlat, nlon, round(res, 9))


def patch_count(meta: ModelMetadata, shape: tuple[int, int]) -> int:
    """Patches :func:`reconstruct_day` runs on a domain of ``shape`` cells (its layout)."""
    ph, pw = patch_shape(meta, shape)
    layout = PatchLayout((1, *shape), (1, ph, pw),
                         (1, max(ph - ph // 4, 1), max(pw - pw // 4, 1)))
    return layout.count


def write_config(root: Path, region: Region, *, archive: Path, ledger: Path | None,
                 provider: str = "cpu", threads: int = THREADS) -> OpsConfig:
    """An operations configuration under ``root`` (fresh folders), reading ``archive``; its
    ledger starts as a copy of ``ledger`` (None: empty)."""
    if root.exists():
        shutil.rmtree(root)
    paths = {key: str(root / key) for key in ("inbox", "quarantine", "products", "state")}
    paths["archive"] = str(archive)
    mapping = {
        "name": "bench",
        "region": region.mapping(),
        "model": {"path": str(MODEL), "provider": provider, "threads": threads,
                  "batch_size": BATCH},
        "paths": paths,
        "schedule": {"cron": NEVER, "misfire_grace_minutes": 1},
        "production": {"lag_days": 1, "reissue_days": 3, "workers": 1},
    }
    (root / "inbox").mkdir(parents=True)
    toml = root / "ops.toml"
    toml.write_text(dump_toml(mapping))
    config = load_ops_config(toml)
    create_folders(config)  # as `varnet-ops init` does
    if ledger is not None:
        target = config.paths.ledger_file
        target.parent.mkdir(parents=True, exist_ok=True)
        src, dst = sqlite3.connect(ledger), sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()
    return config


def needed_files(meta: ModelMetadata, first: dt.date, last: dt.date) -> list[Path]:
    """The synthetic ocean's files that the product days ``first`` to ``last`` read."""
    reach = dt.timedelta(days=oi_reach_days(model_oi_config(meta)))
    track_lo = window_days(first, meta.window_days)[0] - reach
    track_hi = window_days(last, meta.window_days)[-1] + reach
    sst_lo = window_days(first, meta.window_days)[0]
    sst_hi = window_days(last, meta.window_days)[-1]
    tracks = [p for p in sorted((OSSE / "alongtrack").glob("*.nc"))
              if track_lo <= parse_alongtrack_filename(p.name).day <= track_hi]
    ssts = [p for p in sorted((OSSE / "sst" / "l4").glob("*.nc"))
            if sst_lo <= parse_ghrsst_filename(p.name).day <= sst_hi]
    return tracks + ssts


# --------------------------------------------------------------------------------------------
# 1. product day, stage by stage


@dataclass
class DayCase:
    """Timings of one domain and provider: per case, one timings dict per repetition."""

    region: Region
    provider: str
    patches: int
    runs: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    cache_note: str = ""

    def median(self, case: str, key: str) -> float:
        return statistics.median(r[key] for r in self.runs[case])

    def stages_total(self, case: str, quicklook: bool = False) -> float:
        return statistics.median(_total(r, quicklook) for r in self.runs[case])

    def share(self, case: str, quicklook: bool = False) -> float:
        return statistics.median(r["infer"] / _total(r, quicklook) for r in self.runs[case])


def _total(run: dict[str, float], quicklook: bool) -> float:
    """The six stages' seconds, and the quicklook's if ``quicklook``."""
    return sum(run[s] for s in STAGES) + (run[QUICKLOOK] if quicklook else 0.0)


def timed_make(producer: Producer, day: dt.date, production_day: dt.date,
               force: bool = False) -> dict[str, float]:
    started = time.perf_counter()
    result: DayResult = producer.make(day, production_day, final=True, force=force)
    wall = time.perf_counter() - started
    if result.status != "final":
        raise RuntimeError(f"product {day} on {producer.config.region}: {result.status}: "
                           f"{result.error}")
    return {**{s: result.timings.get(s, 0.0) for s in (*STAGES, QUICKLOOK)}, "wall": wall}


def bench_day(work: Path, region: Region, base: OpsConfig, repeat: int,
              provider: str = "cpu") -> DayCase:
    """``repeat`` x (cold, next day, re-made) with one Producer per repetition, each in a
    fresh state folder."""
    meta = read_metadata(MODEL)
    case = DayCase(region, provider, patch_count(meta, (region.nlat, region.nlon)),
                   {c: [] for c in CASES})
    for k in range(repeat):
        root = work / f"day-{region.label}-{provider}-{k}"
        config = write_config(root, region, archive=Path(base.paths.archive),
                              ledger=base.paths.ledger_file, provider=provider)
        producer = Producer(config)  # model load, not part of a product day
        if provider != "cpu" and not producer.model.on_gpu:
            raise RuntimeError(f"provider {provider} did not start: {producer.model.providers}")
        issue = PRODUCTION + dt.timedelta(days=10 * k)
        print(f"  {region.label} ({provider}) repetition {k + 1}/{repeat} ...", flush=True)
        case.runs["cold"].append(timed_make(producer, DAY, issue))
        case.runs["next day"].append(timed_make(producer, DAY + dt.timedelta(days=1), issue))
        # a final is made again only when forced (varnet-ops reprocess --force)
        case.runs["re-made"].append(timed_make(producer, DAY, issue + dt.timedelta(days=1),
                                               force=True))
        producer.ledger.close()
        if k == 0:
            state = Path(config.paths.state)
            extra = sorted(p for p in state.iterdir() if not p.name.startswith("ledger.sqlite")
                           and not p.name.endswith(".lock"))
            described = [f"{p.name}/ ({sum(1 for _ in p.rglob('*') if _.is_file())} files)"
                         if p.is_dir() else p.name for p in extra]
            case.cache_note = ("state folder after the three days holds "
                               + (", ".join(described) if described else "only the ledger")
                               + ("" if described else
                                  ": no cache found, cold and warm should match"))
    return case


def fmt(value: float) -> str:
    return f"{value:.3f}" if value < 10 else f"{value:.2f}"


def verdict(share: float) -> str:
    met = "met" if share >= GOAL_SHARE else "NOT met"
    return f"inference {100 * share:.0f} %, rest {100 * (1 - share):.0f} %: goal {met}"


def print_day(case: DayCase, repeat: int) -> None:
    r = case.region
    print(f"\nProduct day {DAY} on {r.label}: {r.describe()}; {case.patches} patch(es) of "
          f"120 x 120; provider {case.provider}, {THREADS} thread(s), batch {BATCH}; "
          f"median of {repeat}, seconds")
    head = f"{'stage':<12}"
    for c in CASES:
        head += f" {c + ' [s]':>14} {'share':>6}"
    head += f" {'cold/next':>10} {'cold/re-made':>13}"
    print(head)
    for key in (*STAGES, "stages", QUICKLOOK, "+ quicklook", "make() wall"):
        line = f"{key:<12}"
        values = {}
        for c in CASES:
            if key == "stages":
                value = case.stages_total(c)
            elif key == "+ quicklook":
                value = case.stages_total(c, quicklook=True)
            elif key == "make() wall":
                value = case.median(c, "wall")
            else:
                value = case.median(c, key)
            values[c] = value
            with_quicklook = key in (QUICKLOOK, "+ quicklook")
            share = ("" if key == "make() wall" else
                     f"{100 * value / case.stages_total(c, with_quicklook):5.1f}%")
            line += f" {fmt(value):>14} {share:>6}"
        for other in ("next day", "re-made"):
            tiny = max(values["cold"], values[other]) < 0.005  # ms: noise
            ratio = float("nan") if tiny else values["cold"] / values[other]
            width = 10 if other == "next day" else 13
            line += f" {'-' if np.isnan(ratio) else f'{ratio:.2f}x':>{width}}"
        print(line)
    print("(share: of the six stages' sum, from archived files to the written product; the "
          "quicklook, drawn after it, as a share of the six stages plus the quicklook; "
          "make() wall adds the ledger's bookkeeping; median of each row separately)")
    print(f"OI cache: {case.cache_note}")
    for c in CASES:
        print(f"VERDICT {c:<9} (inference >= {100 * GOAL_SHARE:.0f} % of the product day): "
              f"{verdict(case.share(c))}; with the quicklook: "
              f"inference {100 * case.share(c, quicklook=True):.0f} %")


def print_side_by_side(demo: DayCase, paper: DayCase, label: str = "paper/demo") -> None:
    a, b = demo.region, paper.region
    left = f"{a.label} {a.nlat}x{a.nlon} {demo.provider}"
    right = f"{b.label} {b.nlat}x{b.nlon} {paper.provider}"
    width = max(len(left), len(right), 14)
    print(f"\n{'side by side (medians, s)':<28} {left:>{width}} {right:>{width}} {label:>11}")

    def row(name: str, x: float, y: float, digits: bool = True) -> None:
        ratio = f"{y / x:.2f}x" if x > 1e-9 else "-"
        xs, ys = (fmt(x), fmt(y)) if digits else (f"{x:.0f}", f"{y:.0f}")
        print(f"{name:<28} {xs:>{width}} {ys:>{width}} {ratio:>11}")

    row("cells", a.nlat * a.nlon, b.nlat * b.nlon, digits=False)
    row("patches", demo.patches, paper.patches, digits=False)
    for c in CASES:
        row(f"{c}: six stages", demo.stages_total(c), paper.stages_total(c))
        row(f"{c}: infer", demo.median(c, "infer"), paper.median(c, "infer"))
        row(f"{c}: infer per patch", demo.median(c, "infer") / demo.patches,
            paper.median(c, "infer") / paper.patches)
        print(f"{c + ': inference share':<28} {100 * demo.share(c):>{width - 1}.0f}% "
              f"{100 * paper.share(c):>{width - 1}.0f}%")


# --------------------------------------------------------------------------------------------
# 2. large domains, in child processes (peak memory)


def synthetic_inputs(days: list[dt.date], shape: tuple[int, int], seed: int = 0
                     ) -> ProductInputs:
    """Plausible float32 (T, nlat, nlon) inputs built day by day (no large temporaries):
    smooth SLA of about 0.1 m rms as sums of plane waves of 20-60 cells, OI = SLA + 2 cm,
    10 % of the cells observed (1 cm noise), SST 291 K with a gradient and 1 K eddies, 30 %
    missing."""
    rng = np.random.default_rng(seed)
    ny, nx = shape
    y = np.arange(ny, dtype=np.float32)[:, None]
    x = np.arange(nx, dtype=np.float32)[None, :]
    waves = [(2 * np.pi / rng.uniform(20, 60), rng.uniform(0, 2 * np.pi),
              rng.uniform(-1, 1), rng.uniform(0, 2 * np.pi)) for _ in range(8)]

    def smooth(t: int, scale: float, offset: int) -> np.ndarray:
        out = np.zeros(shape, dtype=np.float32)
        for k, angle, speed, phase in waves[offset:] + waves[:offset]:
            # cos(a + b) = cos a cos b - sin a sin b, as outer products of 1-D arrays
            a = (k * np.sin(angle) * y + phase - k * speed * t).astype(np.float32)
            b = (k * np.cos(angle) * x).astype(np.float32)
            out += np.cos(a) * np.cos(b) - np.sin(a) * np.sin(b)
        return out * np.float32(scale / np.sqrt(len(waves) / 2))

    T = len(days)
    oi = np.empty((T, ny, nx), np.float32)
    obs = np.empty_like(oi)
    sst = np.empty_like(oi)
    gradient = np.linspace(2.0, -2.0, ny, dtype=np.float32)[:, None]
    for t in range(T):
        truth = smooth(t, 0.1, 0)
        oi[t] = truth + smooth(t, 0.02, 3)
        obs[t] = np.where(rng.random(shape, dtype=np.float32) < 0.1,
                          truth + rng.normal(0, 0.01, shape).astype(np.float32), np.nan)
        sst[t] = 291.0 + gradient + smooth(t, 1.0, 5)
        sst[t][rng.random(shape, dtype=np.float32) < 0.3] = np.nan
    return ProductInputs(days=days, fields={"oi": oi, "obs": obs, "sst": sst}, files=[],
                         days_without_observations=[], days_without_sst=[])


def child_stream(n: int) -> dict[str, float]:
    """In a child: reconstruct_day on synthetic n x n inputs; timings and memory."""
    model = OnnxModel(MODEL, "cpu", threads=THREADS, batch_size=BATCH)
    meta = model.metadata
    inputs = synthetic_inputs(window_days(DAY, meta.window_days), (n, n))
    before = rss_mib()
    peak_setup = peak_rss_mib()
    reset = reset_peak_rss()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    fields = reconstruct_day(model, inputs, timings)
    wall = time.perf_counter() - started
    finite = float(np.mean(np.isfinite(fields["sla"])))
    return {"n": n, "patches": patch_count(meta, (n, n)), "wall": wall, **timings,
            "rss_before": before, "peak_setup": peak_setup, "peak": peak_rss_mib(),
            "peak_reset": float(reset), "ru_maxrss": resource.getrusage(
                resource.RUSAGE_SELF).ru_maxrss / 1024,
            "inputs_mib": 3 * inputs.fields["oi"].nbytes / 2**20, "finite": finite}


def child_day(toml: str) -> dict[str, float]:
    """In a child: one cold product day of the configuration ``toml``; timings and memory."""
    config = load_ops_config(toml)
    producer = Producer(config)
    started = time.perf_counter()
    result = producer.make(DAY, PRODUCTION, final=True)
    wall = time.perf_counter() - started
    if result.status != "final":
        raise RuntimeError(f"product {DAY}: {result.status}: {result.error}")
    return {**result.timings, "wall": wall, "peak": peak_rss_mib(),
            "product_mib": result.path.stat().st_size / 2**20,
            "patches": patch_count(producer.model.metadata, producer.grid.shape)}


def run_child(*args: str) -> dict[str, float]:
    """Run this script with ``args`` in a fresh interpreter; its JSON result."""
    command = [sys.executable, str(Path(__file__).resolve()), *args]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"child {' '.join(args)} failed ({done.returncode}):\n"
                           f"{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_memory(stream: dict[str, float] | None, day: dict[str, float] | None,
                 large: Region, per_patch: float, meta: ModelMetadata, n_stream: int) -> None:
    budget = BUDGET_GB * 1000**3 / 2**20  # 8 GB in MiB
    print(f"\nLarge domains, each in a fresh child process; memory = peak resident set "
          f"(VmHWM), budget {BUDGET_GB:g} GB = {budget:.0f} MiB")
    if stream is None:
        patches = patch_count(meta, (n_stream, n_stream))
        print(f"  {n_stream} x {n_stream} streaming inference + stitch: skipped (--quick); "
              f"{patches} patches, estimated {patches * per_patch:.0f} s at the measured "
              f"{per_patch:.2f} s per patch")
    else:
        n = int(stream["n"])
        print(f"  {n} x {n} cells, synthetic 7-day inputs ({stream['inputs_mib']:.0f} MiB for "
              f"oi, obs, sst), reconstruct_day: {int(stream['patches'])} patches streamed, "
              f"batch {BATCH}")
        print(f"    infer {stream['infer']:.1f} s ({stream['infer'] / stream['patches']:.2f} s "
              f"per patch), stitch {stream['stitch']:.1f} s, wall {stream['wall']:.1f} s; "
              f"{100 * stream['finite']:.0f} % of the SSH map finite")
        during = (f"peak during reconstruct_day {stream['peak']:.0f} MiB (RSS before it "
                  f"{stream['rss_before']:.0f} MiB: model and inputs)"
                  if stream["peak_reset"] else "")
        whole = max(stream["peak_setup"], stream["peak"], stream["ru_maxrss"])
        print(f"    {during}; whole child, input synthesis included: {whole:.0f} MiB = "
              f"{100 * whole / budget:.1f} % of the budget")
        print(f"VERDICT ({n} x {n} in at most {BUDGET_GB:g} GB by streaming patches): "
              f"{'met' if whole <= budget else 'NOT met'} ({whole / 1024:.2f} GiB)")
    if day is None:
        patches = patch_count(meta, (large.nlat, large.nlon))
        print(f"  whole product day on {large.describe()}: skipped (--quick); {patches} "
              f"patches, estimated {patches * per_patch:.0f} s of inference")
    else:
        stages = sum(day[s] for s in STAGES)
        print(f"  whole product day (cold) on {large.describe()}: {int(day['patches'])} "
              f"patches")
        print("    " + ", ".join(f"{s} {day[s]:.1f} s ({100 * day[s] / stages:.0f} %)"
                                 for s in STAGES)
              + f"; then quicklook {day[QUICKLOOK]:.1f} s; make() wall {day['wall']:.1f} s; "
              f"product file {day['product_mib']:.0f} MiB")
        print(f"    peak {day['peak']:.0f} MiB = {100 * day['peak'] / budget:.1f} % of the "
              f"budget; {verdict(day['infer'] / stages)}")
    lat_cells = round(2 * LAT_LIMIT / float(meta.grid["resolution_deg"]))
    patches = patch_count(meta, (lat_cells, 2000))
    note = ("" if (large.nlat, large.nlon) == (lat_cells, 2000) else
            f": {patches} patches, about {patches * per_patch / 60:.0f} min of inference here")
    print(f"  (no real 2000 x 2000 product day exists at {float(meta.grid['resolution_deg']):g} "
          f"deg: 200 deg of latitude; the largest within {LAT_LIMIT:g} S..{LAT_LIMIT:g} N is "
          f"{lat_cells} x 2000{note})")


# --------------------------------------------------------------------------------------------
# 3. reprocess throughput


@contextlib.contextmanager
def dask_cluster(folder: Path, workers: int) -> Iterator[str]:
    """A Dask scheduler and ``workers`` workers (1 thread each) started from their command
    lines on the loopback address, as a user starts a cluster; yields the scheduler's
    address."""
    from distributed import Client

    dask = str(Path(sys.executable).with_name("dask"))
    folder.mkdir(parents=True, exist_ok=True)
    scheduler_file = folder / "scheduler.json"
    log = open(folder / "cluster.log", "wb")
    processes = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                                   "--no-dashboard", "--scheduler-file", str(scheduler_file)],
                                  stdout=log, stderr=subprocess.STDOUT, cwd=folder)]
    try:
        while not scheduler_file.exists():
            time.sleep(0.2)
        processes += [subprocess.Popen([dask, "worker", "--scheduler-file", str(scheduler_file),
                                        "--nthreads", "1", "--no-dashboard",
                                        "--local-directory", str(folder / f"worker-{k}")],
                                       stdout=log, stderr=subprocess.STDOUT, cwd=folder)
                      for k in range(workers)]
        with Client(scheduler_file=str(scheduler_file), set_as_default=False) as client:
            client.wait_for_workers(workers, timeout=120)
            yield client.scheduler.address
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait()
        log.close()


def bench_reprocess(work: Path, region: Region, base: OpsConfig, ndays: int
                    ) -> list[tuple[str, int, float, float]]:
    """(label, workers, wall seconds, median seconds of the six stages per day): local
    worker processes, then a Dask cluster started from its command line (where the dist
    extra is installed)."""
    rows = []
    last = DAY + dt.timedelta(days=ndays - 1)
    cases = [(1, THREADS, None), (2, THREADS, None), (2, 1, None)]
    if importlib.util.find_spec("distributed") is not None:
        cases += [(1, THREADS, "dask"), (2, 1, "dask")]
    for workers, threads, where in cases:
        label = (f"{workers} worker(s) x {threads} thread(s)" if where is None else
                 f"Dask, {workers} worker(s) x {threads} thr.")
        print(f"  reprocess {DAY}..{last}, {label} ...", flush=True)
        name = f"reprocess-{workers}x{threads}" + (f"-{where}" if where else "")
        config = write_config(work / name, region, archive=Path(base.paths.archive),
                              ledger=base.paths.ledger_file, threads=threads)
        # the Dask workers' OI cache (their temporary folder) starts empty, as the others'
        shutil.rmtree(Path(tempfile.gettempdir()) / "varnet-oi-cache-bench", ignore_errors=True)
        with (dask_cluster(work / f"{name}-cluster", workers) if where
              else contextlib.nullcontext()) as address:
            started = time.perf_counter()
            summary = reprocess(config, DAY, last, workers=workers, force=True, dask=address,
                                production_day=PRODUCTION, progress=False)
            wall = time.perf_counter() - started
        if summary.failed or len(summary.results) != ndays:
            raise RuntimeError(f"reprocess with {workers} workers: {summary.line()}")
        per_day = statistics.median(sum(r.timings.get(s, 0.0) for s in STAGES)
                                    for r in summary.results)
        rows.append((label, workers, wall, per_day))
    return rows


def print_reprocess(rows: list[tuple[str, int, float, float]], region: Region,
                    ndays: int) -> None:
    print(f"\nReprocess {ndays} product days ({DAY} on) on {region.label}: "
          f"{region.nlat} x {region.nlon}, fresh state and product folders, force=True; "
          f"wall clock of reprocess(), worker start-up (spawn, model load) included")
    print(f"{'workers':<26} {'wall [s]':>9} {'days/min':>9} {'vs 1 worker':>12} "
          f"{'stages per day [s]':>19}")
    base = ndays / rows[0][2] * 60
    for label, _, wall, per_day in rows:
        rate = ndays / wall * 60
        print(f"{label:<26} {wall:>9.1f} {rate:>9.1f} {rate / base:>11.2f}x {per_day:>19.2f}")
    print("(stages per day: median over the days of the six timed stages inside the workers; "
          "2 x 2 threads oversubscribe 2 cores; Dask: a scheduler and its workers started by "
          "`dask scheduler` / `dask worker` before the clock starts, their ONNX sessions "
          "loaded on their first day, their OI cache in their temporary folder)")


# --------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="skip the large domains (2000 x 2000 streaming, --large day)")
    parser.add_argument("--gpu", action="store_true",
                        help="also the paper-size day with the CUDA provider")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of each product day")
    parser.add_argument("--reprocess-days", type=int, default=12)
    parser.add_argument("--reprocess-only", action="store_true",
                        help="only the archive and section 3 (reprocess throughput)")
    parser.add_argument("--stream", type=int, default=2000,
                        help="side of the synthetic streaming domain (cells)")
    parser.add_argument("--large", default="1600x2000",
                        help="NLATxNLON of the whole large product day (0.1 deg cells)")
    parser.add_argument("--work", type=Path,
                        default=Path(os.environ.get("VARNET_BENCH_OPS", "/tmp/varnet-bench-ops")))
    parser.add_argument("--child-stream", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-day", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    if args.child_stream:
        print(json.dumps(child_stream(args.child_stream)))
        return
    if args.child_day:
        print(json.dumps(child_day(args.child_day)))
        return

    started = time.perf_counter()
    work = args.work.resolve()
    if work == ROOT or ROOT / "demo-output" in (work, *work.parents):
        parser.error(f"--work {work}: use a scratch folder, not the repository or demo-output")
    import onnxruntime as ort

    print(f"onnxruntime {ort.__version__}; model {MODEL.relative_to(ROOT)}; "
          f"working folder {work} (emptied first)")
    print(f"load average at start: {loadavg()}")
    meta = read_metadata(MODEL)
    grid = meta.grid
    print(f"model lattice: cell centres {float(grid['lat0']):.2f} + k x "
          f"{float(grid['resolution_deg']):.2f} N, {float(grid['lon0']):.2f} + k x "
          f"{float(grid['resolution_deg']):.2f} E; window {meta.window_days} days; patch "
          f"{meta.patch[1]} x {meta.patch[2]}, multiple {meta.spatial_multiple}")

    demo = lattice_region(meta, "demo", 120, 120)
    paper = lattice_region(meta, "paper-size", 200, 200)
    nlat, nlon = (int(v) for v in args.large.lower().split("x"))
    large = lattice_region(meta, "large", nlat, nlon)

    # the archive: the files of the product days, ingested once
    if work.exists():
        shutil.rmtree(work)
    last_day = DAY + dt.timedelta(days=max(args.reprocess_days, 2) - 1)
    files = needed_files(meta, DAY, last_day)
    base = write_config(work / "base", paper, archive=work / "base" / "archive", ledger=None)
    t0 = time.perf_counter()
    for path in files:
        shutil.copy2(path, Path(base.paths.inbox) / path.name)
    report = ingest(base)
    if report.quarantined or report.errors:
        raise RuntimeError(f"ingest: {report.summary()}")
    print(f"archive: {len(files)} files of the synthetic ocean for product days {DAY} to "
          f"{last_day} copied and ingested in {time.perf_counter() - t0:.1f} s "
          f"({report.summary()})")

    # the 1/20 degree refusal
    fine = Region("fine", 32.025, -65.975, 240, 240, 0.05)
    try:
        Producer(write_config(work / "refused", fine, archive=Path(base.paths.archive),
                              ledger=base.paths.ledger_file))
        print("1/20 deg region: accepted (unexpected)")
    except ModelMismatch as exc:
        print(f"1/20 deg region ({fine.describe()}) refused by the model's metadata, as "
              f"expected: {exc}")
    print(f"paper-size domain at the model's 1/10 deg: {paper.describe()}; the synthetic "
          f"files cover only its middle 12 x 12 deg (32-44 N, 66-54 W)")

    if args.reprocess_only:
        print(f"\n3. reprocess throughput, {args.reprocess_days} days", flush=True)
        print_reprocess(bench_reprocess(work, demo, base, args.reprocess_days), demo,
                        args.reprocess_days)
        print(f"\nload average at end: {loadavg()}")
        return

    # 1. product day
    print(f"\n1. product day, {args.repeat} repetition(s) of cold / next day / re-made")
    paper_case = bench_day(work, paper, base, args.repeat)
    demo_case = bench_day(work, demo, base, args.repeat)
    print_day(paper_case, args.repeat)
    print_day(demo_case, args.repeat)
    print_side_by_side(demo_case, paper_case)

    # 2. large domains
    per_patch = paper_case.median("re-made", "infer") / paper_case.patches
    stream = day = None
    if not args.quick:
        n = args.stream
        print(f"\n2. large domains: {n} x {n} streaming ({patch_count(meta, (n, n))} patches, "
              f"about {patch_count(meta, (n, n)) * per_patch:.0f} s), then the {large.nlat} x "
              f"{large.nlon} product day (about "
              f"{patch_count(meta, (large.nlat, large.nlon)) * per_patch:.0f} s of inference)"
              f" ...", flush=True)
        stream = run_child("--child-stream", str(n))
        config = write_config(work / "large", large, archive=Path(base.paths.archive),
                              ledger=base.paths.ledger_file)
        day = run_child("--child-day", str(Path(config.paths.state).parent / "ops.toml"))
    print_memory(stream, day, large, per_patch, meta, args.stream)

    # 3. reprocess
    print(f"\n3. reprocess throughput, {args.reprocess_days} days", flush=True)
    rows = bench_reprocess(work, demo, base, args.reprocess_days)
    print_reprocess(rows, demo, args.reprocess_days)

    # 4. GPU
    if args.gpu:
        print("\n4. GPU")
        probe = OnnxModel(MODEL, "cuda")
        if not probe.on_gpu:
            print(f"GPU skipped: the CUDA provider did not start (session providers "
                  f"{probe.providers}; onnxruntime providers {ort.get_available_providers()})")
        else:
            cuda_case = bench_day(work, paper, base, args.repeat, provider="cuda")
            print_day(cuda_case, args.repeat)
            print_side_by_side(paper_case, cuda_case, label="cuda/cpu")

    print(f"\nload average at end: {loadavg()}")
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
