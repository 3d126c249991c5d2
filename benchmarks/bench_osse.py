"""Speed and memory of the synthetic ocean, side by side with the budget and the references.

Run from the repository root::

    .venv/bin/python benchmarks/bench_osse.py            # tiny and default OSSE (~15 minutes)
    .venv/bin/python benchmarks/bench_osse.py --tiny-only

Prints, in one run:

* wall time and peak memory of ``varnet-osse generate`` for the tiny and the default
  configuration (each in its own process), as ratios of the budget of issue 2 (default: at most
  15 minutes and 4 GB on a 2-core machine; tiny: seconds);
* the cost of one QG model step at 128 and 256 points, as a ratio of the pyqg and numpy
  prototype figures measured on this machine class in ``shared/reference/osse.md`` (pyqg is not
  installable from wheels here, so those figures are quoted, not re-run).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, time
from varnet.config import load_toml
from varnet.osse.config import OsseConfig
from varnet.osse.generate import generate
cfg = load_toml(OsseConfig, sys.argv[1])
t = time.perf_counter()
products = generate(cfg, sys.argv[2], progress=False)
print(json.dumps({"wall_s": time.perf_counter() - t, "stages": products.timings_s,
                  "days": len(cfg.calendar.days), "files": len(products.alongtrack)
                  + len(products.sst_l4) + len(products.sst_l3) + 1}))
"""

# ms per step on one core of this machine class (shared/reference/osse.md, sections 1 and 2).
REFERENCE_MS_PER_STEP = {
    128: {"pyqg": 0.88, "numpy prototype (float32)": 1.9},
    256: {"pyqg": 4.0, "numpy prototype (float32)": 7.0},
}


def run_generate(config: Path) -> dict:
    """Generate one OSSE in a child process; wall time, stage times and peak RSS."""
    with tempfile.TemporaryDirectory() as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(config), out],
            capture_output=True,
            text=True,
            check=True,
        )
        elapsed = time.perf_counter() - started
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        size = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file())
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result.update(
        process_s=elapsed, peak_rss_gb=max(peak_kb, before) / 1024**2, output_gb=size / 1024**3
    )
    return result


def step_cost_ms(nx: int, steps: int = 200) -> float:
    """Median-of-3 wall time of one model step (with the SST tracer) at ``nx`` points, ms."""
    import dataclasses

    from varnet.osse.config import OceanConfig, OsseConfig
    from varnet.osse.qg import TwoLayerQG
    from varnet.osse.spinup import load_state, model_parameters

    cfg = dataclasses.replace(OsseConfig(), ocean=dataclasses.replace(OceanConfig(), nx=nx))
    params = model_parameters(cfg)
    model = TwoLayerQG(params, *load_state(cfg, params))
    model.step(5)
    timings = []
    for _ in range(3):
        t = time.perf_counter()
        model.step(steps)
        timings.append((time.perf_counter() - t) / steps * 1e3)
    return sorted(timings)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiny-only", action="store_true", help="skip the default OSSE")
    args = parser.parse_args()

    print("QG model step (two layers + SST tracer, float64, one thread)")
    print(f"{'nx':>5} {'varnet ms':>10}  ratio to reference (lower is faster)")
    for nx, refs in REFERENCE_MS_PER_STEP.items():
        ours = step_cost_ms(nx)
        ratios = ", ".join(f"{ours / ms:.2f}x {name} ({ms} ms)" for name, ms in refs.items())
        print(f"{nx:>5} {ours:>10.2f}  {ratios}")

    budgets = {"osse-tiny": (10.0, 1.0)}
    if not args.tiny_only:
        budgets["osse-default"] = (900.0, 4.0)
    print("\nvarnet-osse generate (own process)")
    print(
        f"{'config':<14}{'days':>5}{'wall s':>9}{'budget s':>10}{'ratio':>7}"
        f"{'peak GB':>9}{'budget GB':>10}{'ratio':>7}{'output GB':>11}  stages (s)"
    )
    for name, (budget_s, budget_gb) in budgets.items():
        r = run_generate(ROOT / "configs" / f"{name}.toml")
        stages = ", ".join(f"{k} {v:.0f}" for k, v in r["stages"].items())
        print(
            f"{name:<14}{r['days']:>5}{r['process_s']:>9.1f}{budget_s:>10.0f}"
            f"{r['process_s'] / budget_s:>7.2f}{r['peak_rss_gb']:>9.2f}{budget_gb:>10.1f}"
            f"{r['peak_rss_gb'] / budget_gb:>7.2f}{r['output_gb']:>11.3f}  {stages}"
        )


if __name__ == "__main__":
    main()
