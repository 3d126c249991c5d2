"""Patch extraction and overlap-weighted stitching, side by side with xarray and numpy.

Run from the repository root::

    .venv/bin/python benchmarks/bench_patches.py            # realistic case (~1 minute)
    .venv/bin/python benchmarks/bench_patches.py --quick    # small case (seconds)

What is measured, in one run, on one float32 field of shape (T, Y, X) cut into all the
patches of a :class:`~varnet.kernels.patches.PatchLayout` (default: a (60, 480, 480) field,
patch (7, 120, 120), stride (1, 60, 60), i.e. 2646 patches holding 1.07 GB):

(a) extraction, all patches into one ``(n, pt, py, px)`` array:

* ``varnet``: :func:`~varnet.kernels.patches.extract_patches`;
* ``numpy loop``: a loop over the origins copying ``field[t:t+pt, y:y+py, x:x+px]``;
* ``xarray``: ``DataArray.rolling(time=pt, lat=py, lon=px).construct(...)`` (a strided view of
  the NaN-padded field), then ``isel`` at the windows ending where varnet's patches end (the
  same patches, border-shifted ones included; ``construct(stride=...)`` is the same ``isel``
  with slices), then ``.values``.

(b) stitching those patches back (as if they were model outputs) with the paper's weight,
``patch_weight(patch)`` (Hann in time, 20-cell spatial crop), into the weighted overlap
average ``Σ w·p / Σ w``; every method's time includes the final division:

* ``varnet``: :class:`~varnet.kernels.patches.PatchStitcher`, patches streamed in batches of 64
  (NaN-aware, numba);
* ``numpy loop, NaN-aware``: the same semantics with numpy ``where`` per patch;
* ``numpy loop, plain``: ``num[win] += w * p; den[win] += w`` (a NaN poisons its cells);
* ``xarray``: the loop of 4dvarnet-starter's ``XrDataset.reconstruct_from_items``, which a
  4DVarNet user would otherwise run: one labelled ``DataArray`` per patch and
  ``rec.loc[coords] = rec.sel(coords) + da * w`` (a NaN poisons its cells).

Times are the best of ``--repeat`` runs (xarray: one run, it is the slow path), wall clock on
the machine the script runs on; ratios are ``time(method) / time(varnet)``, so a ratio of 10
means varnet is 10 times faster. Every method's output is checked against varnet's (the
patches are finite, so the NaN-unaware paths agree) before the table is printed.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import xarray as xr

from varnet.kernels.patches import (
    PatchLayout,
    PatchStitcher,
    extract_patches,
    iter_patch_batches,
    patch_weight,
)

DIMS = ("time", "lat", "lon")


def best_time(fn: Callable[[], np.ndarray], repeat: int) -> tuple[float, np.ndarray]:
    """Best wall time of ``repeat`` calls (seconds) and the last call's output."""
    best, out = np.inf, None
    for _ in range(repeat):
        del out  # free the previous output first: every run allocates from the same state
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


# --------------------------------------------------------------------------------------------
# extraction
# --------------------------------------------------------------------------------------------


def extract_numpy(field: np.ndarray, layout: PatchLayout) -> np.ndarray:
    pt, py, px = layout.patch
    return np.stack(
        [field[t : t + pt, y : y + py, x : x + px] for t, y, x in layout.origins().tolist()]
    )


def extract_xarray(field: np.ndarray, layout: PatchLayout) -> np.ndarray:
    pt, py, px = layout.patch
    da = xr.DataArray(field, dims=DIMS)
    windows = da.rolling(time=pt, lat=py, lon=px).construct(time="wt", lat="wy", lon="wx")
    ends = windows.isel(
        time=layout.time_starts + pt - 1,
        lat=layout.lat_starts + py - 1,
        lon=layout.lon_starts + px - 1,
    )
    return ends.transpose(*DIMS, "wt", "wy", "wx").values.reshape(-1, pt, py, px)


# --------------------------------------------------------------------------------------------
# stitching
# --------------------------------------------------------------------------------------------


def stitch_varnet(
    layout: PatchLayout, weight: np.ndarray, patches: np.ndarray, batch: int = 64
) -> np.ndarray:
    stitcher = PatchStitcher(layout.shape, weight)
    origins = layout.origins()
    for first in range(0, len(origins), batch):
        stitcher.add_batch(origins[first : first + batch], patches[first : first + batch])
    return stitcher.result()


def stitch_numpy(
    layout: PatchLayout, weight: np.ndarray, patches: np.ndarray, nan_aware: bool
) -> np.ndarray:
    pt, py, px = layout.patch
    num = np.zeros(layout.shape)
    den = np.zeros(layout.shape)
    positive = weight > 0
    for (t, y, x), p in zip(layout.origins().tolist(), patches, strict=True):
        win = (slice(t, t + pt), slice(y, y + py), slice(x, x + px))
        if nan_aware:
            use = positive & np.isfinite(p)
            num[win] += np.where(use, weight * p, 0.0)
            den[win] += np.where(use, weight, 0.0)
        else:
            num[win] += weight * p
            den[win] += weight
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def stitch_xarray(layout: PatchLayout, weight: np.ndarray, patches: np.ndarray) -> np.ndarray:
    coords = {d: np.arange(n) for d, n in zip(DIMS, layout.shape, strict=True)}
    w = xr.DataArray(weight, dims=DIMS)
    rec = xr.DataArray(np.zeros(layout.shape), dims=DIMS, coords=coords)
    count = xr.zeros_like(rec)
    for origin, p in zip(layout.origins().tolist(), patches, strict=True):
        sel = {d: coords[d][o : o + n] for d, o, n in zip(DIMS, origin, layout.patch, strict=True)}
        da = xr.DataArray(p, dims=DIMS, coords=sel)
        rec.loc[sel] = rec.sel(sel) + da * w
        count.loc[sel] = count.sel(sel) + w
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rec / count).values


# --------------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------------


def run(
    shape: tuple[int, int, int],
    patch: tuple[int, int, int],
    stride: tuple[int, int, int],
    repeat: int,
) -> None:
    """Time every method on one case and print the table."""
    layout = PatchLayout(shape, patch, stride)
    field = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    weight = patch_weight(patch)
    gib = layout.count * np.prod(patch) * 4 / 1e9
    print(
        f"field {shape} float32, patch {patch}, stride {stride}: {layout.count} patches "
        f"({gib:.2f} GB float32); best of {repeat} runs (xarray: 1 run)"
    )

    # compile (or load from cache) the numba kernel outside the timings
    warm = next(iter_patch_batches(field, layout, 1))
    PatchStitcher(shape, weight).add_batch(*warm)

    t_ref, patches = best_time(lambda: extract_patches(field, layout), repeat)
    rows = [("extraction", "varnet extract_patches", t_ref, 1.0)]
    for name, fn, n in (
        ("numpy loop over patches", lambda: extract_numpy(field, layout), repeat),
        ("xarray rolling().construct() + isel", lambda: extract_xarray(field, layout), 1),
    ):
        t, out = best_time(fn, n)
        if not np.array_equal(out, patches):
            raise AssertionError(f"extraction: {name} differs from varnet")
        del out
        rows.append(("", name, t, t / t_ref))

    t_ref, stitched = best_time(lambda: stitch_varnet(layout, weight, patches), repeat)
    rows.append(("stitching", "varnet PatchStitcher (NaN-aware)", t_ref, 1.0))
    for name, fn, n in (
        (
            "numpy loop, NaN-aware",
            lambda: stitch_numpy(layout, weight, patches, nan_aware=True),
            repeat,
        ),
        (
            "numpy loop, plain (NaN poisons)",
            lambda: stitch_numpy(layout, weight, patches, nan_aware=False),
            repeat,
        ),
        (
            "xarray .sel/.loc loop (NaN poisons)",
            lambda: stitch_xarray(layout, weight, patches),
            1,
        ),
    ):
        t, out = best_time(fn, n)
        np.testing.assert_allclose(out, stitched, rtol=1e-12, atol=1e-12, err_msg=name)
        rows.append(("", name, t, t / t_ref))

    print(f"\n{'operation':<11} {'method':<38} {'time [s]':>9} {'ratio to varnet':>16}")
    for op, name, t, ratio in rows:
        print(f"{op:<11} {name:<38} {t:9.3f} {ratio:15.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small case: (20, 240, 240), patch (7, 60, 60), stride (1, 20, 20)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per fast method (best kept)")
    args = parser.parse_args()
    if args.quick:
        run((20, 240, 240), (7, 60, 60), (1, 20, 20), args.repeat)
    else:
        run((60, 480, 480), (7, 120, 120), (1, 60, 60), args.repeat)


if __name__ == "__main__":
    main()
