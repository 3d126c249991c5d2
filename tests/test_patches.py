"""Patch extraction and overlap-weighted stitching, against independent references."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from varnet.kernels.patches import (
    PatchLayout,
    PatchStitcher,
    extract_patches,
    iter_patch_batches,
    patch_starts,
    patch_weight,
)

# Odd sizes on purpose: no axis is a multiple of its stride, so the border patch is exercised.
SHAPE = (11, 37, 53)
PATCH = (5, 16, 16)
STRIDE = (2, 7, 9)


@pytest.fixture(scope="module")
def layout() -> PatchLayout:
    return PatchLayout(SHAPE, PATCH, STRIDE)


@pytest.fixture(scope="module")
def field() -> np.ndarray:
    return np.random.default_rng(1).normal(size=SHAPE)


def reference_stitch(shape, weight, origins, patches, fill_value=np.nan):
    """Plain loop over patches: NaN-aware weighted overlap average, one patch at a time.

    ``patches`` is ``(n, *leading, pt, py, px)``; the result is ``(*leading, *shape)``.
    """
    lead = patches.shape[1:-3]
    pt, py, px = weight.shape
    num = np.zeros((*lead, *shape))
    den = np.zeros((*lead, *shape))
    for (t, y, x), p in zip(origins, patches, strict=True):
        p = np.asarray(p, dtype=np.float64)
        use = np.isfinite(p) & (weight > 0)
        window = (..., slice(t, t + pt), slice(y, y + py), slice(x, x + px))
        num[window] += np.where(use, weight * np.where(use, p, 0.0), 0.0)
        den[window] += np.where(use, weight, 0.0)
    out = np.full(num.shape, float(fill_value))
    out[den > 0] = num[den > 0] / den[den > 0]
    return out, den


# --------------------------------------------------------------------------------------------
# starts and layout
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "patch", "stride", "expected"),
    [
        (11, 5, 2, [0, 2, 4, 6]),  # last regular patch already ends at the border
        (11, 4, 3, [0, 3, 6, 7]),  # one more patch shifted to end at the border
        (37, 16, 7, [0, 7, 14, 21]),
        (53, 16, 9, [0, 9, 18, 27, 36, 37]),
        (240, 240, 20, [0]),  # the paper: patch == domain
        (7, 7, 1, [0]),
        (5, 1, 1, [0, 1, 2, 3, 4]),
        (10, 3, 5, [0, 5, 7]),  # stride > patch: gaps, but still ends at the border
    ],
)
def test_patch_starts_examples(size, patch, stride, expected):
    starts = patch_starts(size, patch, stride)
    assert starts.dtype == np.int64
    assert starts.tolist() == expected


def test_starts_cover_every_cell_and_end_at_the_border():
    for size, patch, stride in itertools.product((1, 2, 7, 11, 37, 53), range(1, 18), (1, 2, 7, 9)):
        if patch > size or stride > patch:
            continue
        starts = patch_starts(size, patch, stride)
        assert starts[0] == 0
        assert starts[-1] + patch == size
        assert np.all(np.diff(starts) > 0)
        assert np.all(np.diff(starts)[:-1] == stride)  # regular except the border patch
        covered = np.zeros(size, dtype=int)
        for s in starts:
            covered[s : s + patch] += 1
        assert covered.min() >= 1, (size, patch, stride)


def test_layout_starts_count_and_c_order(layout):
    assert layout.time_starts.tolist() == [0, 2, 4, 6]
    assert layout.lat_starts.tolist() == [0, 7, 14, 21]
    assert layout.lon_starts.tolist() == [0, 9, 18, 27, 36, 37]
    assert layout.grid == (4, 4, 6)
    assert layout.count == 96
    expected = list(itertools.product(layout.time_starts, layout.lat_starts, layout.lon_starts))
    origins = layout.origins()
    assert origins.dtype == np.int64
    assert origins.tolist() == [list(o) for o in expected]
    with pytest.raises(ValueError):
        layout.time_starts[0] = 1  # read-only


def test_layout_coerces_sequences_and_is_hashable():
    a = PatchLayout([11, 37, 53], np.array(PATCH), (np.int64(2), 7, 9))
    assert a == PatchLayout(SHAPE, PATCH, STRIDE)
    assert a.shape == SHAPE
    assert isinstance(a.patch[0], int)
    assert hash(a) == hash(PatchLayout(SHAPE, PATCH, STRIDE))


def test_every_cell_covered_by_layout(layout):
    covered = np.zeros(SHAPE, dtype=int)
    pt, py, px = PATCH
    for t, y, x in layout.origins():
        covered[t : t + pt, y : y + py, x : x + px] += 1
    assert covered.min() >= 1


# --------------------------------------------------------------------------------------------
# extraction
# --------------------------------------------------------------------------------------------


def test_extract_matches_slicing_and_copies(layout, field):
    patches = extract_patches(field, layout)
    assert patches.shape == (layout.count, *PATCH)
    pt, py, px = PATCH
    for k, (t, y, x) in enumerate(layout.origins()):
        np.testing.assert_array_equal(patches[k], field[t : t + pt, y : y + py, x : x + px])
    patches[0] = 99.0
    assert not np.any(field == 99.0)


def test_extract_with_leading_axes_indices_and_dtype(layout):
    rng = np.random.default_rng(2)
    data = rng.normal(size=(2, 3, *SHAPE)).astype(np.float32)
    idx = [5, 0, 95, 5]
    patches = extract_patches(data, layout, indices=idx)
    assert patches.shape == (4, 2, 3, *PATCH)
    assert patches.dtype == np.float32
    pt, py, px = PATCH
    origins = layout.origins()
    for k, i in enumerate(idx):
        t, y, x = origins[i]
        np.testing.assert_array_equal(patches[k], data[..., t : t + pt, y : y + py, x : x + px])


def test_batches_concatenate_to_all_patches(layout, field):
    batches = list(iter_patch_batches(field, layout, batch_size=10))
    assert [len(o) for o, _ in batches] == [10] * 9 + [6]
    np.testing.assert_array_equal(np.concatenate([o for o, _ in batches]), layout.origins())
    np.testing.assert_array_equal(
        np.concatenate([p for _, p in batches]), extract_patches(field, layout)
    )


# --------------------------------------------------------------------------------------------
# weights
# --------------------------------------------------------------------------------------------


def test_hann_weight_pt7_is_the_papers():
    w = patch_weight((7, 240, 240))
    assert w.dtype == np.float64
    assert w.shape == (7, 240, 240)
    assert w[:, 120, 120].tolist() == [0.0, 0.25, 0.75, 1.0, 0.75, 0.25, 0.0]
    # zero on the outer 20 cells, 1 x Hann inside
    inside = np.zeros((240, 240), dtype=bool)
    inside[20:220, 20:220] = True
    for t, h in enumerate([0.0, 0.25, 0.75, 1.0, 0.75, 0.25, 0.0]):
        assert np.all(w[t][inside] == h)
        assert np.all(w[t][~inside] == 0.0)


def test_time_windows_and_crop():
    tri = patch_weight((7, 10, 10), crop=(0, 0, 0), time_window="triangular")
    np.testing.assert_allclose(tri[:, 5, 5], [0, 1 / 3, 2 / 3, 1, 2 / 3, 1 / 3, 0], rtol=1e-15)
    flat = patch_weight((5, 9, 8), crop=(1, 2, 3), time_window="flat")
    expected = np.zeros((5, 9, 8))
    expected[1:4, 2:7, 3:5] = 1.0
    np.testing.assert_array_equal(flat, expected)
    hann = patch_weight((9, 6, 6), crop=(2, 1, 0))
    assert np.all(hann[:2] == 0) and np.all(hann[-2:] == 0)
    assert np.all(hann[:, [0, -1]] == 0) and np.all(hann[2:7, 1:5, :] > 0)
    np.testing.assert_array_equal(
        hann[2:7, 3, 3], [0.5, 0.853553390593274, 1, 0.853553390593274, 0.5]
    )
    assert patch_weight((1, 4, 4), crop=(0, 1, 1))[0, 1:3, 1:3].tolist() == [[1, 1], [1, 1]]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (((7, 40, 40), (1, 20, 20)), "no positive weight"),
        (((7, 41, 40), (0, 0, 20)), "no positive weight"),
        (((2, 10, 10), (0, 0, 0)), "no positive weight"),  # Hann of length 2 is [0, 0]
        (((3, 10, 10), (2, 0, 0)), "no positive weight"),
        (((7, 10, 10), (-1, 0, 0)), r"crop\[0\] \(time\)"),
        (((7, 0, 10), (0, 0, 0)), r"patch\[1\] \(lat\)"),
        (((7, 10), (0, 0, 0)), "patch"),
        (((7, 10, 10.5), (0, 0, 0)), r"patch\[2\] \(lon\)"),
    ],
)
def test_patch_weight_rejects(args, match):
    with pytest.raises(ValueError, match=match):
        patch_weight(*args)


def test_patch_weight_rejects_unknown_window():
    with pytest.raises(ValueError, match="time_window"):
        patch_weight((7, 10, 10), time_window="hamming")


# --------------------------------------------------------------------------------------------
# stitching
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("crop", [(0, 0, 0), (1, 3, 4)])
@pytest.mark.parametrize("time_window", ["hann", "triangular", "flat"])
def test_round_trip(layout, field, crop, time_window):
    weight = patch_weight(PATCH, crop, time_window)
    stitcher = PatchStitcher(SHAPE, weight)
    stitcher.add_batch(layout.origins(), extract_patches(field, layout))
    covered = stitcher.weight_sum > 0
    out = stitcher.result()
    np.testing.assert_allclose(out[covered], field[covered], rtol=1e-14, atol=1e-14)
    assert np.all(np.isnan(out[~covered]))
    _, den = reference_stitch(SHAPE, weight, layout.origins(), extract_patches(field, layout))
    np.testing.assert_array_equal(covered, den > 0)
    if time_window == "flat" and crop == (0, 0, 0):
        assert covered.all()


def test_round_trip_hann_loses_only_the_border(layout, field):
    # positive weight on 10 of 16 cells in lat/lon (stride 7, 9) and 3 of 5 days (stride 2)
    stitcher = PatchStitcher(SHAPE, patch_weight(PATCH, (1, 3, 3)))
    stitcher.add_batch(layout.origins(), extract_patches(field, layout))
    expected = np.zeros(SHAPE, dtype=bool)
    expected[1:-1, 3:-3, 3:-3] = True
    np.testing.assert_array_equal(stitcher.weight_sum > 0, expected)


def test_crop_wider_than_overlap_leaves_holes(layout, field):
    # lon: positive weight on 16 - 2*4 = 8 cells, stride 9 -> one uncovered column per step
    stitcher = PatchStitcher(SHAPE, patch_weight(PATCH, (1, 3, 4)))
    stitcher.add_batch(layout.origins(), extract_patches(field, layout))
    holes = ~(stitcher.weight_sum[5, 18] > 0)
    assert np.flatnonzero(holes).tolist() == [0, 1, 2, 3, 12, 21, 30, 39, 49, 50, 51, 52]


def test_round_trip_with_leading_channels(layout):
    data = np.random.default_rng(3).normal(size=(2, 3, *SHAPE)).astype(np.float32)
    stitcher = PatchStitcher(SHAPE, patch_weight(PATCH, (0, 0, 0), "flat"), leading=(2, 3))
    for origins, patches in iter_patch_batches(data, layout, batch_size=17):
        stitcher.add_batch(origins, patches)
    assert stitcher.sum.shape == stitcher.weight_sum.shape == (2, 3, *SHAPE)
    assert stitcher.sum.dtype == stitcher.weight_sum.dtype == np.float64
    out = stitcher.result()
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, data, rtol=1e-14, atol=1e-14)


def test_matches_reference_loop_with_leading_axis_and_nan(layout):
    rng = np.random.default_rng(4)
    n = layout.count
    patches = rng.normal(size=(n, 2, *PATCH))
    patches[rng.random(patches.shape) < 0.2] = np.nan
    patches[rng.random(patches.shape) < 0.01] = np.inf
    weight = rng.random(PATCH)
    weight[weight < 0.3] = 0.0
    origins = layout.origins()
    stitcher = PatchStitcher(SHAPE, weight, leading=(2,))
    stitcher.add_batch(origins, patches)
    expected, den = reference_stitch(SHAPE, weight, origins, patches, fill_value=-1.0)
    np.testing.assert_allclose(stitcher.result(fill_value=-1.0), expected, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(stitcher.weight_sum, den, rtol=1e-13)


def test_nan_in_some_patches_other_patches_win(layout, field):
    origins = layout.origins()
    patches = extract_patches(field, layout)
    # cell (5, 20, 30) lies in several patches; spoil it in all but the last of them
    cell = np.array([5, 20, 30])
    inside = np.all((origins <= cell) & (cell < origins + PATCH), axis=1)
    holders = np.flatnonzero(inside)
    assert len(holders) >= 3
    for k in holders[:-1]:
        t, y, x = cell - origins[k]
        patches[k, t, y, x] = np.nan
    stitcher = PatchStitcher(SHAPE, patch_weight(PATCH, (0, 0, 0), "flat"))
    stitcher.add_batch(origins, patches)
    out = stitcher.result()
    assert out[tuple(cell)] == field[tuple(cell)]
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, field, rtol=1e-14, atol=1e-14)


def test_nan_everywhere_in_a_cell_gives_fill_value(layout, field):
    spoiled = field.copy()
    spoiled[3, 10, 11] = np.nan  # every patch sees NaN there
    stitcher = PatchStitcher(SHAPE, patch_weight(PATCH, (0, 0, 0), "flat"))
    stitcher.add_batch(layout.origins(), extract_patches(spoiled, layout))
    assert stitcher.weight_sum[3, 10, 11] == 0
    out = stitcher.result(fill_value=-999.0)
    assert out[3, 10, 11] == -999.0
    mask = np.ones(SHAPE, dtype=bool)
    mask[3, 10, 11] = False
    np.testing.assert_allclose(out[mask], field[mask], rtol=1e-14, atol=1e-14)


def test_batching_is_identical_to_one_batch(layout):
    rng = np.random.default_rng(5)
    patches = rng.normal(size=(layout.count, *PATCH)).astype(np.float32)
    patches[rng.random(patches.shape) < 0.1] = np.nan
    origins = layout.origins()
    weight = patch_weight(PATCH, (1, 2, 2))
    whole = PatchStitcher(SHAPE, weight)
    whole.add_batch(origins, patches)
    batched = PatchStitcher(SHAPE, weight)
    for first in range(0, layout.count, 7):
        batched.add_batch(origins[first : first + 7], patches[first : first + 7])
    single = PatchStitcher(SHAPE, weight)
    for o, p in zip(origins, patches, strict=True):
        single.add(o, p)
    for other in (batched, single):
        np.testing.assert_array_equal(other.sum, whole.sum)
        np.testing.assert_array_equal(other.weight_sum, whole.weight_sum)
        np.testing.assert_array_equal(other.result(), whole.result())


def test_integer_patches_and_empty_batch():
    stitcher = PatchStitcher((3, 4, 4), np.ones((3, 2, 2)))
    stitcher.add_batch(np.zeros((0, 3), dtype=int), np.zeros((0, 3, 2, 2)))
    assert not stitcher.weight_sum.any()
    stitcher.add((0, 1, 1), np.full((3, 2, 2), 4, dtype=np.int16))
    stitcher.add((0, 2, 2), np.full((3, 2, 2), 2, dtype=np.int16))
    out = stitcher.result(fill_value=0.0)
    assert out[0].tolist() == [[0, 0, 0, 0], [0, 4, 4, 0], [0, 4, 3, 2], [0, 0, 2, 2]]


def test_centre_day_only_reconstruction(field):
    """The paper's mosaic: each day taken from the window centred on it only."""
    layout = PatchLayout(SHAPE, (5, 37, 53), (1, 1, 1))
    w = patch_weight(layout.patch, (0, 0, 0))
    centre = np.zeros_like(w)
    centre[2] = w[2]
    stitcher = PatchStitcher(SHAPE, centre)
    spoiled = extract_patches(field, layout) + 100.0 * (np.arange(5) != 2)[:, None, None]
    stitcher.add_batch(layout.origins(), spoiled)
    out = stitcher.result()
    assert np.all(np.isnan(out[:2])) and np.all(np.isnan(out[-2:]))
    np.testing.assert_array_equal(out[2:-2], field[2:-2])


# --------------------------------------------------------------------------------------------
# bad arguments
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((10, 11, 1), "patch = 11 exceeds size = 10"),
        ((10, 0, 1), "patch must be >= 1"),
        ((10, 3, 0), "stride must be >= 1"),
        ((0, 1, 1), "size must be >= 1"),
        ((10, 3.0, 1), "patch must be an integer"),
        ((10, 3, True), "stride must be an integer"),
    ],
)
def test_patch_starts_rejects(args, match):
    with pytest.raises(ValueError, match=match):
        patch_starts(*args)


@pytest.mark.parametrize(
    ("shape", "patch", "stride", "match"),
    [
        (SHAPE, (5, 38, 16), STRIDE, r"patch\[1\] \(lat\) = 38 exceeds shape\[1\] \(lat\) = 37"),
        (SHAPE, PATCH, (2, 7, 0), r"stride\[2\] \(lon\) must be >= 1"),
        (SHAPE, (0, 16, 16), STRIDE, r"patch\[0\] \(time\) must be >= 1"),
        ((11, 37), PATCH, STRIDE, "shape must be a .time, lat, lon. triple"),
        (SHAPE, 5, STRIDE, "patch must be a .time, lat, lon. triple"),
        (SHAPE, PATCH, (2, 7.5, 9), r"stride\[1\] \(lat\) must be an integer"),
    ],
)
def test_layout_rejects(shape, patch, stride, match):
    with pytest.raises(ValueError, match=match):
        PatchLayout(shape, patch, stride)


def test_extraction_rejects(layout, field):
    with pytest.raises(ValueError, match="field must have shape"):
        extract_patches(field[:, :, :-1], layout)
    with pytest.raises(ValueError, match="field must have shape"):
        iter_patch_batches(field[0], layout, 4)
    with pytest.raises(ValueError, match="batch_size"):
        iter_patch_batches(field, layout, 0)
    with pytest.raises(ValueError, match="indices must lie in"):
        extract_patches(field, layout, indices=[0, layout.count])
    with pytest.raises(ValueError, match="indices must lie in"):
        extract_patches(field, layout, indices=[-1])
    with pytest.raises(ValueError, match="indices must be a 1-D integer"):
        extract_patches(field, layout, indices=[1.0])


def test_stitcher_rejects():
    w = np.ones((2, 3, 3))
    with pytest.raises(ValueError, match="weight must have shape"):
        PatchStitcher((4, 5, 5), np.ones((3, 3)))
    with pytest.raises(ValueError, match="along lat"):
        PatchStitcher((4, 2, 5), w)
    with pytest.raises(ValueError, match="finite and non-negative"):
        PatchStitcher((4, 5, 5), -w)
    with pytest.raises(ValueError, match="finite and non-negative"):
        PatchStitcher((4, 5, 5), w * np.nan)
    with pytest.raises(ValueError, match="no positive value"):
        PatchStitcher((4, 5, 5), 0 * w)
    with pytest.raises(ValueError, match=r"shape\[2\] \(lon\)"):
        PatchStitcher((4, 5, 0), w)
    with pytest.raises(ValueError, match="leading"):
        PatchStitcher((4, 5, 5), w, leading=(0,))
    stitcher = PatchStitcher((4, 5, 5), w, leading=(2,))
    with pytest.raises(ValueError, match="origins must be an"):
        stitcher.add_batch(np.zeros((1, 2), dtype=int), np.zeros((1, 2, 2, 3, 3)))
    with pytest.raises(ValueError, match="origins must be an"):
        stitcher.add_batch(np.zeros((1, 3)), np.zeros((1, 2, 2, 3, 3)))
    with pytest.raises(ValueError, match=r"patches must have shape .* = \(1, 2, 2, 3, 3\)"):
        stitcher.add_batch(np.zeros((1, 3), dtype=int), np.zeros((1, 2, 3, 3)))
    with pytest.raises(ValueError, match=r"patches must have shape"):
        stitcher.add((0, 0, 0), np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match="extends outside the domain"):
        stitcher.add((3, 0, 0), np.zeros((2, 2, 3, 3)))
    with pytest.raises(ValueError, match="extends outside the domain"):
        stitcher.add((0, -1, 0), np.zeros((2, 2, 3, 3)))
    with pytest.raises(ValueError, match="real numbers"):
        stitcher.add((0, 0, 0), np.zeros((2, 2, 3, 3), dtype=complex))
    assert not stitcher.weight_sum.any()
