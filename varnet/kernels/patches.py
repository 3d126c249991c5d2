r"""Space-time patches: cut gridded fields into windows, stitch model outputs back.

A 4DVarNet sees a domain through (time, lat, lon) windows ("patches", paper §2.3: 7 days ×
240 × 240 cells sliding by one day). This module cuts those windows out of gridded fields
for training and inference, and stitches model outputs back into a domain-sized field with
overlap weights (paper §4.1 "Patch weight" and §5.1 "Mosaic").

Conventions
-----------
* Fields have shape ``(..., T, Y, X)``: optional leading channel axes (variables, ensemble
  members, ...) followed by time, latitude and longitude, in grid cells. A patch has shape
  ``(pt, py, px)`` and its origin is the index ``(t, y, x)`` of its first cell.
* Patches are numbered in C order of their origins: time slowest, longitude fastest
  (:meth:`PatchLayout.origins`).

Edge policy
-----------
There is no padding: every patch lies fully inside the domain. Along each axis the starts are
``0, stride, 2·stride, …`` as long as the patch fits and, if the last of those does not end at
the border, one more patch shifted to end exactly at the border (start ``size − patch``),
which therefore overlaps its neighbour by more than the others do (:func:`patch_starts`).
With ``stride ≤ patch`` every cell is covered by at least one patch; a larger stride leaves
unvisited gaps between patches (useful to thin training samples, never for inference).

Stitching
---------
Each patch ``p`` comes with the same weight ``w`` of shape ``(pt, py, px)``
(:func:`patch_weight`). :class:`PatchStitcher` accumulates, cell by cell of the domain,

.. math::

    S = \sum_k w\,p_k, \qquad W = \sum_k w, \qquad \hat f = S / W,

where the sums run only over the patches whose value at that cell is finite and whose weight
there is positive: a NaN (or ±inf) in one patch never poisons the result, the other patches'
values win. Cells with ``W = 0`` (never covered with positive weight, or covered only by
missing values) get a fill value. Accumulation is in float64 whatever the patch dtype, and the
memory is two domain-sized arrays however many patches are streamed in.

Because the weights cancel, stitching the patches of a field returns the field itself (to
float64 round-off) wherever ``W > 0``. With the paper's weight (Hann window in time, zero on
the first and last day and on a 20-cell spatial border), the first and last day of the
domain and its outer 20 cells in lat/lon get ``W = 0``: crop them, as the paper does by
scoring on an inner domain. Inside the domain, every cell gets ``W > 0`` only if, along each
axis, the stride is at most the number of cells where the weight is positive
(``patch − 2·crop`` for :func:`patch_weight`, counting the Hann window's zero end days);
otherwise the weight leaves holes between patches, which :meth:`PatchStitcher.result` fills.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "PatchLayout",
    "PatchStitcher",
    "extract_patches",
    "iter_patch_batches",
    "patch_starts",
    "patch_weight",
]

AXES = ("time", "lat", "lon")
TIME_WINDOWS = ("hann", "triangular", "flat")

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


# --------------------------------------------------------------------------------------------
# numba kernel
# --------------------------------------------------------------------------------------------


@njit(cache=True)
def _accumulate(acc, wsum, weight, box, origins, patches):  # pragma: no cover - compiled
    """Add weighted patches into the accumulators, skipping non-finite values and w <= 0.

    ``acc`` and ``wsum`` are float64 of shape ``(C, T, Y, X)``; ``weight`` is float64
    ``(pt, py, px)``; ``box`` is int64 ``(6,)``, the half-open bounds ``t0, t1, y0, y1, x0, x1``
    of the weight's positive part (nothing outside is visited); ``origins`` is int64 ``(n, 3)``
    and ``patches`` is ``(n, C, pt, py, px)``, all C-contiguous and already validated.
    """
    n, nc = patches.shape[0], patches.shape[1]
    for k in range(n):
        t, y, x = origins[k, 0], origins[k, 1], origins[k, 2]
        for c in range(nc):
            for i in range(box[0], box[1]):
                for j in range(box[2], box[3]):
                    for m in range(box[4], box[5]):
                        w = weight[i, j, m]
                        p = patches[k, c, i, j, m]
                        if w > 0.0 and math.isfinite(p):
                            acc[c, t + i, y + j, x + m] += w * p
                            wsum[c, t + i, y + j, x + m] += w


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------


def _integer(value: object, name: str) -> int:
    """Return ``value`` as a Python int, or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(value)


def _triple(value: object, name: str) -> tuple[int, int, int]:
    """Validate a (time, lat, lon) triple of integers."""
    try:
        items = tuple(value)  # type: ignore[call-overload]
    except TypeError:
        raise ValueError(f"{name} must be a (time, lat, lon) triple, got {value!r}") from None
    if len(items) != 3:
        raise ValueError(f"{name} must be a (time, lat, lon) triple, got {value!r}")
    t, y, x = (_integer(v, f"{name}[{i}] ({AXES[i]})") for i, v in enumerate(items))
    return t, y, x


def _check_axis(size: int, patch: int, stride: int, names: tuple[str, str, str]) -> None:
    """Raise ValueError naming the offending argument for an invalid (size, patch, stride)."""
    size_name, patch_name, stride_name = names
    if size < 1:
        raise ValueError(f"{size_name} must be >= 1, got {size}")
    if patch < 1:
        raise ValueError(f"{patch_name} must be >= 1, got {patch}")
    if stride < 1:
        raise ValueError(f"{stride_name} must be >= 1, got {stride}")
    if patch > size:
        raise ValueError(f"{patch_name} = {patch} exceeds {size_name} = {size}")


def _check_field(field: np.ndarray, shape: tuple[int, int, int], name: str) -> None:
    if field.ndim < 3 or field.shape[-3:] != shape:
        raise ValueError(
            f"{name} must have shape (..., {shape[0]}, {shape[1]}, {shape[2]}) "
            f"(time, lat, lon last), got {field.shape}"
        )


# --------------------------------------------------------------------------------------------
# layout
# --------------------------------------------------------------------------------------------


def patch_starts(size: int, patch: int, stride: int) -> IntArray:
    """Start indices of the patches along one axis (edge policy of the module docstring).

    Parameters
    ----------
    size : int
        Length of the axis, cells (>= 1).
    patch : int
        Patch length along the axis, cells (1 <= patch <= size).
    stride : int
        Step between consecutive starts, cells (>= 1).

    Returns
    -------
    numpy.ndarray
        int64, shape ``(n,)``, strictly increasing: ``0, stride, 2·stride, …`` while
        ``start + patch <= size``, plus ``size − patch`` if the last of those does not end at
        the border. Every patch ``[s, s + patch)`` lies inside ``[0, size)`` and the last one
        ends exactly at ``size``.

    Raises
    ------
    ValueError
        Naming ``size``, ``patch`` or ``stride`` if one is not an integer, if
        ``patch < 1``, ``stride < 1`` or ``patch > size``.

    Examples
    --------
    >>> patch_starts(11, 5, 2).tolist()
    [0, 2, 4, 6]
    >>> patch_starts(10, 4, 3).tolist()
    [0, 3, 6]
    >>> patch_starts(11, 4, 3).tolist()
    [0, 3, 6, 7]
    """
    size = _integer(size, "size")
    patch = _integer(patch, "patch")
    stride = _integer(stride, "stride")
    _check_axis(size, patch, stride, ("size", "patch", "stride"))
    starts = np.arange(0, size - patch + 1, stride, dtype=np.int64)
    if starts[-1] + patch < size:
        starts = np.append(starts, np.int64(size - patch))
    return starts


@dataclass(frozen=True)
class PatchLayout:
    """How a (T, Y, X) domain is tiled by (pt, py, px) patches.

    Parameters
    ----------
    shape : tuple of int
        Domain shape ``(T, Y, X)``, cells (time, lat, lon).
    patch : tuple of int
        Patch shape ``(pt, py, px)``, cells; each at most the domain's.
    stride : tuple of int
        Steps ``(st, sy, sx)`` between patch starts, cells (>= 1).

    Raises
    ------
    ValueError
        Naming the field and axis (e.g. ``patch[1] (lat)``) for a non-integer entry, a
        triple of the wrong length, or values :func:`patch_starts` rejects.

    Notes
    -----
    The starts along each axis follow :func:`patch_starts`; patches are numbered in C order
    of their origins (time slowest). The paper's layout is
    ``PatchLayout((T, 240, 240), (7, 240, 240), (1, 20, 20))``: one spatial patch per day.
    """

    shape: tuple[int, int, int]
    patch: tuple[int, int, int]
    stride: tuple[int, int, int]

    def __post_init__(self) -> None:
        shape = _triple(self.shape, "shape")
        patch = _triple(self.patch, "patch")
        stride = _triple(self.stride, "stride")
        for i, axis in enumerate(AXES):
            names = (f"shape[{i}] ({axis})", f"patch[{i}] ({axis})", f"stride[{i}] ({axis})")
            _check_axis(shape[i], patch[i], stride[i], names)
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "patch", patch)
        object.__setattr__(self, "stride", stride)

    def _starts(self, axis: int) -> IntArray:
        starts = patch_starts(self.shape[axis], self.patch[axis], self.stride[axis])
        starts.flags.writeable = False
        return starts

    @cached_property
    def time_starts(self) -> IntArray:
        """Patch starts along time, int64 ``(nt,)`` (read-only)."""
        return self._starts(0)

    @cached_property
    def lat_starts(self) -> IntArray:
        """Patch starts along latitude, int64 ``(ny,)`` (read-only)."""
        return self._starts(1)

    @cached_property
    def lon_starts(self) -> IntArray:
        """Patch starts along longitude, int64 ``(nx,)`` (read-only)."""
        return self._starts(2)

    @property
    def grid(self) -> tuple[int, int, int]:
        """Number of patch starts along (time, lat, lon): ``(nt, ny, nx)``."""
        return len(self.time_starts), len(self.lat_starts), len(self.lon_starts)

    @property
    def count(self) -> int:
        """Total number of patches, ``nt · ny · nx``."""
        nt, ny, nx = self.grid
        return nt * ny * nx

    def origins(self) -> IntArray:
        """Origins ``(t, y, x)`` of all patches in C order (time slowest).

        Returns
        -------
        numpy.ndarray
            int64, shape ``(count, 3)``, cell indices of each patch's first cell.
        """
        t, y, x = np.meshgrid(self.time_starts, self.lat_starts, self.lon_starts, indexing="ij")
        return np.stack([t.ravel(), y.ravel(), x.ravel()], axis=1)


# --------------------------------------------------------------------------------------------
# extraction
# --------------------------------------------------------------------------------------------


def _cut(field: np.ndarray, origins: IntArray, patch: tuple[int, int, int]) -> np.ndarray:
    """Copy the patches at ``origins`` out of a validated field."""
    pt, py, px = patch
    out = np.empty((len(origins), *field.shape[:-3], pt, py, px), dtype=field.dtype)
    for k, (t, y, x) in enumerate(origins.tolist()):
        out[k] = field[..., t : t + pt, y : y + py, x : x + px]
    return out


def extract_patches(
    field: ArrayLike, layout: PatchLayout, indices: ArrayLike | None = None
) -> np.ndarray:
    """Copy patches out of a gridded field.

    Parameters
    ----------
    field : array_like
        Shape ``(..., T, Y, X)`` with ``(T, Y, X) == layout.shape``; any leading channel axes
        are kept. Any dtype (preserved).
    layout : PatchLayout
        The tiling.
    indices : array_like of int, optional
        Patch numbers (C order of :meth:`PatchLayout.origins`), 1-D, each in
        ``[0, layout.count)``, repeats allowed. Default: all patches, in order.

    Returns
    -------
    numpy.ndarray
        Shape ``(n, ..., pt, py, px)``, same dtype as ``field``: independent copies.

    Raises
    ------
    ValueError
        If ``field`` does not end with ``layout.shape`` or ``indices`` is not a 1-D integer
        array within range.

    See Also
    --------
    iter_patch_batches : the same, a bounded number of patches at a time.
    """
    field = np.asarray(field)
    _check_field(field, layout.shape, "field")
    origins = layout.origins()
    if indices is not None:
        idx = np.asarray(indices)
        if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"indices must be a 1-D integer array, got {idx.dtype} {idx.shape}")
        if idx.size and (idx.min() < 0 or idx.max() >= layout.count):
            raise ValueError(
                f"indices must lie in [0, {layout.count}), got {idx.min()}..{idx.max()}"
            )
        origins = origins[idx]
    return _cut(field, origins, layout.patch)


def iter_patch_batches(
    field: ArrayLike, layout: PatchLayout, batch_size: int
) -> Iterator[tuple[IntArray, np.ndarray]]:
    """Yield all patches of a field, ``batch_size`` at a time (bounded memory).

    Parameters
    ----------
    field : array_like
        Shape ``(..., T, Y, X)`` with ``(T, Y, X) == layout.shape``.
    layout : PatchLayout
        The tiling.
    batch_size : int
        Maximum number of patches per batch (>= 1); the last batch may be smaller.

    Returns
    -------
    iterator of (origins, patches)
        ``origins``: int64 ``(b, 3)``, the batch's patch origins, consecutive in C order;
        ``patches``: ``(b, ..., pt, py, px)`` copies, same dtype as ``field``. Patches are
        cut lazily, one batch per step.

    Raises
    ------
    ValueError
        If ``batch_size < 1`` or the field's shape does not fit the layout (raised by the
        call itself, before any iteration).
    """
    batch_size = _integer(batch_size, "batch_size")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    field = np.asarray(field)
    _check_field(field, layout.shape, "field")
    return _batches(field, layout.origins(), layout.patch, batch_size)


def _batches(
    field: np.ndarray, origins: IntArray, patch: tuple[int, int, int], batch_size: int
) -> Iterator[tuple[IntArray, np.ndarray]]:
    for first in range(0, len(origins), batch_size):
        batch = origins[first : first + batch_size]
        yield batch, _cut(field, batch, patch)


# --------------------------------------------------------------------------------------------
# weights
# --------------------------------------------------------------------------------------------


def _time_window(n: int, kind: str) -> FloatArray:
    """Window of length ``n`` peaking at 1 in the middle (a single day gets weight 1).

    Computed on the distance to the nearer end, so it is exactly symmetric. The Hann window
    is rounded to 15 decimals: this removes the round-off of ``cos`` at rational angles
    (changing no value by more than 1e-15), so that values such as 0.25 and 0.75 are exact.
    """
    if kind == "flat" or n == 1:
        return np.ones(n)
    m = np.minimum(np.arange(n), n - 1 - np.arange(n))
    if kind == "hann":
        return np.round(0.5 - 0.5 * np.cos(2.0 * np.pi * m / (n - 1)), 15)
    return 2.0 * m / (n - 1)  # triangular (Bartlett)


def patch_weight(
    patch: tuple[int, int, int],
    crop: tuple[int, int, int] = (1, 20, 20),
    time_window: str = "hann",
) -> FloatArray:
    """Overlap weight of a patch: the paper's ``get_cropped_hanning_mask``.

    Parameters
    ----------
    patch : tuple of int
        Patch shape ``(pt, py, px)``, cells (time, lat, lon).
    crop : tuple of int, default (1, 20, 20)
        Cells set to zero weight at each end of (time, lat, lon): the first and last
        ``crop[0]`` days, the outer ``crop[1]`` rows and ``crop[2]`` columns. Non-negative.
    time_window : {"hann", "triangular", "flat"}, default "hann"
        Profile in time, for ``n = 0 … pt−1``: ``"hann"`` is ``0.5 − 0.5·cos(2πn/(pt−1))``
        (pt = 7 gives ``[0, .25, .75, 1, .75, .25, 0]``), ``"triangular"`` is
        ``1 − |2n/(pt−1) − 1|`` (pt = 7 gives ``[0, 1/3, 2/3, 1, 2/3, 1/3, 0]``), ``"flat"``
        is 1. A one-day patch gets weight 1.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(pt, py, px)``, dimensionless: the time profile on the uncropped
        days times 1 on the uncropped cells, 0 elsewhere.

    Raises
    ------
    ValueError
        Naming ``patch``, ``crop`` or ``time_window`` for a bad value, or if the crop (with
        the zeros of the time profile) leaves no positive weight.

    Notes
    -----
    The paper's value is ``patch_weight((7, 240, 240), crop=(1, 20, 20))`` (its training
    loss and its mosaic use it). Its reconstruction (§5.1 "Mosaic") keeps only the centre day
    of each window; reproduce it by zeroing every other day (``pt`` odd, so that the centre
    day's Hann weight is 1)::

        w = patch_weight((7, 240, 240), crop=(1, 20, 20))
        centre_only = np.zeros_like(w)
        centre_only[3] = w[3]      # 3 == pt // 2

    With a time stride of 1, each day except the first and last ``pt // 2`` is then the
    centre of exactly one window and is taken from it alone, averaged over spatial overlaps.
    """
    pt, py, px = _triple(patch, "patch")
    for i, n in enumerate((pt, py, px)):
        if n < 1:
            raise ValueError(f"patch[{i}] ({AXES[i]}) must be >= 1, got {n}")
    ct, cy, cx = _triple(crop, "crop")
    for i, c in enumerate((ct, cy, cx)):
        if c < 0:
            raise ValueError(f"crop[{i}] ({AXES[i]}) must be >= 0, got {c}")
    if time_window not in TIME_WINDOWS:
        raise ValueError(f"time_window must be one of {TIME_WINDOWS}, got {time_window!r}")
    weight = np.zeros((pt, py, px))
    weight[ct : pt - ct, cy : py - cy, cx : px - cx] = 1.0
    weight *= _time_window(pt, time_window)[:, None, None]
    if not np.any(weight > 0):
        raise ValueError(
            f"crop={(ct, cy, cx)} with time_window={time_window!r} leaves no positive weight "
            f"in a patch of shape {(pt, py, px)}"
        )
    return weight


# --------------------------------------------------------------------------------------------
# stitching
# --------------------------------------------------------------------------------------------


class PatchStitcher:
    """Weighted, NaN-aware overlap average of patches into a domain (streaming).

    Parameters
    ----------
    shape : tuple of int
        Domain shape ``(T, Y, X)``, cells.
    weight : array_like
        Weight of every patch, shape ``(pt, py, px)`` (each at most the domain's), finite,
        non-negative, with at least one positive value; e.g. :func:`patch_weight`. Its shape
        is the patch shape.
    leading : tuple of int, default ()
        Leading channel axes of the patches and of the result (e.g. ``(3,)`` for ssh, u, v).

    Attributes
    ----------
    shape : tuple of int
        Domain shape ``(T, Y, X)``.
    leading : tuple of int
        Leading channel axes.
    patch : tuple of int
        Patch shape ``(pt, py, px)``, that of ``weight``.
    weight : numpy.ndarray
        float64 ``(pt, py, px)``, a read-only copy of the weight.
    sum : numpy.ndarray
        float64 ``(*leading, T, Y, X)``: Σ w·p over the accepted values.
    weight_sum : numpy.ndarray
        float64 ``(*leading, T, Y, X)``: Σ w over the same values.

    Raises
    ------
    ValueError
        For a bad ``shape``, ``weight`` or ``leading``.

    Notes
    -----
    A value ``p`` of a patch at a cell enters the sums only if it is finite and its weight
    is positive, so NaN never poisons the result; see the module docstring. Patches are
    streamed: memory is the two accumulators whatever the number of patches.

    Examples
    --------
    >>> layout = PatchLayout((11, 37, 53), (5, 16, 16), (2, 7, 9))
    >>> field = np.random.default_rng(0).normal(size=layout.shape)
    >>> stitcher = PatchStitcher(layout.shape, patch_weight(layout.patch, (0, 0, 0), "flat"))
    >>> for origins, patches in iter_patch_batches(field, layout, batch_size=32):
    ...     stitcher.add_batch(origins, patches)
    >>> bool(np.allclose(stitcher.result(), field))
    True
    """

    def __init__(
        self,
        shape: tuple[int, int, int],
        weight: ArrayLike,
        leading: tuple[int, ...] = (),
    ) -> None:
        self.shape = _triple(shape, "shape")
        for i, n in enumerate(self.shape):
            if n < 1:
                raise ValueError(f"shape[{i}] ({AXES[i]}) must be >= 1, got {n}")
        try:
            lead = tuple(leading)
        except TypeError:
            raise ValueError(f"leading must be a tuple of ints, got {leading!r}") from None
        self.leading = tuple(_integer(n, f"leading[{i}]") for i, n in enumerate(lead))
        if any(n < 1 for n in self.leading):
            raise ValueError(f"leading axes must be >= 1, got {self.leading}")
        w = np.array(weight, dtype=np.float64)
        if w.ndim != 3:
            raise ValueError(f"weight must have shape (pt, py, px), got {w.shape}")
        for i in range(3):
            if not 1 <= w.shape[i] <= self.shape[i]:
                raise ValueError(
                    f"weight shape {w.shape} does not fit the domain {self.shape} along {AXES[i]}"
                )
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("weight must be finite and non-negative")
        positive = np.nonzero(w > 0)
        if not positive[0].size:
            raise ValueError("weight has no positive value")
        w.flags.writeable = False
        self.weight = w
        self.patch: tuple[int, int, int] = (w.shape[0], w.shape[1], w.shape[2])
        # Bounding box of the positive weights: the kernel never visits anything outside.
        self._box = np.array(
            [b for axis in positive for b in (axis.min(), axis.max() + 1)], dtype=np.int64
        )
        self.sum = np.zeros((*self.leading, *self.shape))
        self.weight_sum = np.zeros((*self.leading, *self.shape))

    def add(self, origin: ArrayLike, patch: ArrayLike) -> None:
        """Add one patch.

        Parameters
        ----------
        origin : array_like of int
            ``(t, y, x)``, index of the patch's first cell in the domain.
        patch : array_like
            Shape ``(*leading, pt, py, px)``, any real dtype; NaN marks missing values.

        Raises
        ------
        ValueError
            As :meth:`add_batch`.
        """
        self.add_batch(np.asarray(origin)[None], np.asarray(patch)[None])

    def add_batch(self, origins: ArrayLike, patches: ArrayLike) -> None:
        """Add a batch of patches.

        Parameters
        ----------
        origins : array_like of int
            Shape ``(n, 3)``: ``(t, y, x)`` of each patch's first cell; each patch must lie
            inside the domain.
        patches : array_like
            Shape ``(n, *leading, pt, py, px)``, any real dtype (float32 is not upcast in
            memory; accumulation is float64); NaN marks missing values.

        Raises
        ------
        ValueError
            If ``origins`` is not an ``(n, 3)`` integer array, ``patches`` does not have shape
            ``(n, *leading, pt, py, px)``, or a patch would extend outside the domain.
        """
        org = np.asarray(origins)
        if org.ndim != 2 or org.shape[1] != 3 or not np.issubdtype(org.dtype, np.integer):
            raise ValueError(
                f"origins must be an (n, 3) integer array, got {org.dtype} {org.shape}"
            )
        arr = np.asarray(patches)
        expected = (len(org), *self.leading, *self.patch)
        if arr.shape != expected:
            raise ValueError(
                f"patches must have shape (n, *leading, pt, py, px) = {expected}, got {arr.shape}"
            )
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise ValueError(f"patches must be real numbers, got dtype {arr.dtype}")
        if len(org) == 0:
            return
        upper = np.array(self.shape) - np.array(self.patch)
        bad = np.any((org < 0) | (org > upper), axis=1)
        if np.any(bad):
            k = int(np.argmax(bad))
            raise ValueError(
                f"patch {k} at origin {tuple(org[k].tolist())} with shape {self.patch} "
                f"extends outside the domain {self.shape}"
            )
        if not np.issubdtype(arr.dtype, np.floating):
            arr = arr.astype(np.float64)
        nc = math.prod(self.leading)
        _accumulate(
            self.sum.reshape(nc, *self.shape),
            self.weight_sum.reshape(nc, *self.shape),
            self.weight,
            self._box,
            np.ascontiguousarray(org, dtype=np.int64),
            np.ascontiguousarray(arr).reshape(len(org), nc, *self.patch),
        )

    def result(self, fill_value: float = np.nan) -> FloatArray:
        """Stitched field: ``sum / weight_sum``.

        Parameters
        ----------
        fill_value : float, default NaN
            Value where ``weight_sum == 0`` (no finite value with positive weight).

        Returns
        -------
        numpy.ndarray
            float64, shape ``(*leading, T, Y, X)``, in the units of the patches.
        """
        out = np.full(self.sum.shape, fill_value, dtype=np.float64)
        covered = self.weight_sum > 0
        np.divide(self.sum, self.weight_sum, out=out, where=covered)
        return out
