"""Speed of the finite-difference kernels, side by side with the references they replace.

Run from the repository root::

    .venv/bin/python benchmarks/bench_derivatives.py                 # (30, 1000, 1000)
    .venv/bin/python benchmarks/bench_derivatives.py --shape 10 500 500 --repeat 5

For relative vorticity (reads u, v; writes one field) and geostrophic velocity (reads SSH;
writes u, v) on float64 and float32 fields, prints in one run the best-of-``repeat`` wall time
of

* ``varnet.kernels.finite_differences`` (ours: one compiled pass, NaN-aware stencils);
* the same maths written with ``numpy.gradient`` (centred inside, second-order one-sided
  edges, the spherical metric term; no NaN handling);
* the paper's SciPy scoring code (``varnet.kernels.paper_derivatives``: ``convolve1d``
  stencils, optionally after a 3-D Gaussian filter with sigma 1; for vorticity it computes
  divergence, curl and strain together, as the paper does);
* the memory-bandwidth floor: one compiled pass that reads the same inputs and writes the
  same number of float64 outputs (``out = a + b``), the least any implementation must do;

and the ratios. Goals (issue): ours within 2x of the floor and at least 5x faster than
``numpy.gradient``. Single-threaded numba on both sides (no ``parallel=True``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from numba import njit

from varnet.kernels import finite_differences as fd
from varnet.kernels.paper_derivatives import paper_div_curl_strain, paper_geostrophy

R = fd.EARTH_RADIUS_M


@njit(cache=True)
def _read2_write1(a, b, out):  # pragma: no cover - compiled
    a, b, o = a.ravel(), b.ravel(), out.ravel()
    for i in range(a.size):
        o[i] = np.float64(a[i]) + np.float64(b[i])


@njit(cache=True)
def _read1_write2(a, out1, out2):  # pragma: no cover - compiled
    a, o1, o2 = a.ravel(), out1.ravel(), out2.ravel()
    for i in range(a.size):
        x = np.float64(a[i])
        o1[i] = x
        o2[i] = -x


def floor_vorticity(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    out = np.empty(u.shape)
    _read2_write1(u, v, out)
    return out


def floor_geostrophy(ssh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out1, out2 = np.empty(ssh.shape), np.empty(ssh.shape)
    _read1_write2(ssh, out1, out2)
    return out1, out2


def numpy_vorticity(u, v, lat, lon) -> np.ndarray:
    """dv/dx - du/dy + u tan(lat)/R with numpy.gradient (float64, edge_order=2)."""
    phi = np.deg2rad(lat)[:, None]
    dx = R * np.cos(phi) * np.deg2rad(lon[1] - lon[0])
    dy = R * np.deg2rad(lat[1] - lat[0])
    dvdx = np.gradient(np.asarray(v, dtype=np.float64), axis=-1, edge_order=2) / dx
    dudy = np.gradient(np.asarray(u, dtype=np.float64), dy, axis=-2, edge_order=2)
    return dvdx - dudy + u * (np.tan(phi) / R)


def numpy_geostrophy(ssh, lat, lon) -> tuple[np.ndarray, np.ndarray]:
    """-(g/f) d(ssh)/dy, (g/f) d(ssh)/dx with numpy.gradient."""
    phi = np.deg2rad(lat)[:, None]
    g_over_f = fd.GRAVITY_M_S2 / (2 * fd.OMEGA_RAD_S * np.sin(phi))
    dx = R * np.cos(phi) * np.deg2rad(lon[1] - lon[0])
    dy = R * np.deg2rad(lat[1] - lat[0])
    eta = np.asarray(ssh, dtype=np.float64)  # no copy for float64 input
    return (
        -g_over_f * np.gradient(eta, dy, axis=-2, edge_order=2),
        g_over_f * np.gradient(eta, axis=-1, edge_order=2) / dx,
    )


def best_time(func: Callable[[], object], repeat: int) -> float:
    """Best wall time of ``repeat`` calls after one warm-up call (compilation, page faults)."""
    func()
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def report(title: str, timings: dict[str, float], ours: str, floor: str, numpy_: str) -> None:
    print(f"\n{title}")
    for name, seconds in timings.items():
        print(f"  {name:<44s} {1e3 * seconds:9.1f} ms   {seconds / timings[ours]:6.2f} x ours")
    print(
        f"  => ours / bandwidth floor = {timings[ours] / timings[floor]:.2f} (goal <= 2);"
        f" numpy.gradient / ours = {timings[numpy_] / timings[ours]:.1f} (goal >= 5)"
    )


def bench_dtype(dtype: type, shape: tuple[int, int, int], repeat: int) -> None:
    """Time every implementation on random fields of ``dtype`` and print the ratios."""
    _, ny, nx = shape
    lat = np.linspace(33.0, 33.0 + 0.01 * (ny - 1), ny)
    lon = np.linspace(-65.0, -65.0 + 0.01 * (nx - 1), nx)
    rng = np.random.default_rng(0)
    u = rng.standard_normal(shape).astype(dtype)
    v = rng.standard_normal(shape).astype(dtype)
    ssh = (0.1 * rng.standard_normal(shape)).astype(dtype)
    name = np.dtype(dtype).name
    ours = "ours (finite_differences)"
    floor = "bandwidth floor (read 2, write 1)"
    vort = {
        ours: best_time(lambda: fd.relative_vorticity(u, v, lat, lon), repeat),
        "numpy.gradient": best_time(lambda: numpy_vorticity(u, v, lat, lon), repeat),
        "paper scipy, sigma 0 (div+curl+strain)": best_time(
            lambda: paper_div_curl_strain(u, v, lat, lon, sigma=0.0), repeat
        ),
        "paper scipy, sigma 1 (div+curl+strain)": best_time(
            lambda: paper_div_curl_strain(u, v, lat, lon, sigma=1.0), repeat
        ),
        floor: best_time(lambda: floor_vorticity(u, v), repeat),
    }
    report(f"relative vorticity, {name} inputs", vort, ours, floor, "numpy.gradient")
    floor = "bandwidth floor (read 1, write 2)"
    geo = {
        ours: best_time(lambda: fd.geostrophic_velocity(ssh, lat, lon), repeat),
        "numpy.gradient": best_time(lambda: numpy_geostrophy(ssh, lat, lon), repeat),
        "paper scipy, sigma 0": best_time(
            lambda: paper_geostrophy(ssh, lat, lon, sigma=0.0), repeat
        ),
        "paper scipy, sigma 1": best_time(
            lambda: paper_geostrophy(ssh, lat, lon, sigma=1.0), repeat
        ),
        floor: best_time(lambda: floor_geostrophy(ssh), repeat),
    }
    report(f"geostrophic velocity, {name} input", geo, ours, floor, "numpy.gradient")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=(30, 1000, 1000))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"fields of shape {tuple(args.shape)}, best of {args.repeat}")
    for dtype in (np.float64, np.float32):
        bench_dtype(dtype, tuple(args.shape), args.repeat)


if __name__ == "__main__":
    main()
