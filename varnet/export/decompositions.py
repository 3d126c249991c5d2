"""Decompositions of the backward operators the 4DVarNet's variational cost produces.

The solver computes :math:`\\nabla_x U` with autograd inside its forward pass. Tracing that
with ``make_fx`` records the ATen backward operators autograd runs. PyTorch's core-ATen
decompositions turn most of them into ordinary operators, but three have no ONNX translation
and no core-ATen decomposition (reference/onnx.md section 5); this module writes them with
forward operators only:

* ``convolution_backward`` (plain and transposed convolutions): the gradient with respect
  to the input is the adjoint convolution with the same weights;
* ``avg_pool2d_backward`` (non-overlapping pooling): a depthwise transposed convolution with a
  constant ``1 / (k_h k_w)`` kernel;
* ``reflection_pad2d_backward``: the padded border folded back onto the rows and columns it
  mirrors, with slices, flips and sums (core ATen's own decomposition gathers with index
  arithmetic: about 40 operators per call).

Only gradients with respect to the *input* are produced: the solver differentiates the cost
with respect to the state, never the weights, and a request for a weight or bias gradient is
refused rather than answered wrongly. The reflection padding itself (forward) is kept as one
ATen operator, exported as an ONNX ``Pad`` in reflect mode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor
from torch._decomp import core_aten_decompositions

aten = torch.ops.aten

__all__ = [
    "avg_pool2d_backward",
    "convolution_backward",
    "decomposition_table",
    "reflection_pad2d_backward",
]


class UnsupportedBackward(NotImplementedError):
    """A backward operator is called with arguments these decompositions do not cover."""


def convolution_backward(
    grad_output: Tensor,
    input: Tensor,
    weight: Tensor,
    bias_sizes: Sequence[int] | None,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    transposed: bool,
    output_padding: Sequence[int],
    groups: int,
    output_mask: Sequence[bool],
) -> tuple[Tensor | None, None, None]:
    """Gradient of a 2-D convolution with respect to its input, as a convolution.

    Parameters
    ----------
    grad_output : Tensor
        Gradient of the cost with respect to the convolution's output, (B, C_out, H', W').
    input, weight : Tensor
        The convolution's input (only its shape matters) and weight.
    bias_sizes, stride, padding, dilation, transposed, output_padding, groups
        The convolution's own arguments (``aten.convolution``).
    output_mask : sequence of bool
        Which of (input, weight, bias) gradients are wanted; only the input's may be.

    Returns
    -------
    tuple
        (grad_input or None, None, None).

    Raises
    ------
    UnsupportedBackward
        If a weight or bias gradient is asked for, or for a strided plain convolution (whose
        adjoint needs an input-size-dependent output padding; the model has none).
    """
    if output_mask[1] or output_mask[2]:
        raise UnsupportedBackward(
            "convolution_backward: weight or bias gradients were requested; the export "
            "differentiates the cost with respect to the state only (freeze the parameters)"
        )
    if not output_mask[0]:
        return None, None, None
    if transposed:
        # adjoint of a transposed convolution: the plain convolution with the same weights
        grad_input = aten.convolution(grad_output, weight, None, stride, padding, dilation,
                                      False, [0] * len(stride), groups)
    else:
        if any(s != 1 for s in stride):
            raise UnsupportedBackward(
                f"convolution_backward: strided plain convolution (stride {list(stride)})"
            )
        grad_input = aten.convolution(grad_output, weight, None, stride, padding, dilation,
                                      True, [0] * len(stride), groups)
    return grad_input, None, None


def avg_pool2d_backward(
    grad_output: Tensor,
    input: Tensor,
    kernel_size: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: int | None,
) -> Tensor:
    """Gradient of non-overlapping 2-D average pooling, as a depthwise transposed convolution.

    Each input cell receives ``1 / (k_h k_w)`` of its pooling cell's output gradient.

    Parameters
    ----------
    grad_output : Tensor
        (B, C, H / k_h, W / k_w).
    input : Tensor
        The pooling's input (B, C, H, W); H and W must be multiples of the kernel.
    kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
        The pooling's own arguments (``aten.avg_pool2d``).

    Returns
    -------
    Tensor
        (B, C, H, W).

    Raises
    ------
    UnsupportedBackward
        For overlapping, padded or ceil-mode pooling, or a divisor override.
    """
    kernel = list(kernel_size) * (2 // len(kernel_size))
    steps = list(stride) * (2 // len(stride)) if len(stride) else kernel
    if steps != kernel or any(padding) or ceil_mode or divisor_override is not None:
        raise UnsupportedBackward(
            f"avg_pool2d_backward: only non-overlapping unpadded pooling is decomposed (kernel "
            f"{kernel}, stride {steps}, padding {list(padding)}, ceil_mode {ceil_mode})"
        )
    channels = grad_output.shape[1]
    ones = grad_output.new_full((channels, 1, kernel[0], kernel[1]),
                                1.0 / (kernel[0] * kernel[1]))
    return aten.convolution(grad_output, ones, None, steps, [0, 0], [1, 1], True, [0, 0],
                            channels)


def _fold_reflection(grad: Tensor, dim: int, before: int, after: int) -> Tensor:
    """Adjoint of reflection padding along one dimension of ``grad``."""
    if before == 0 and after == 0:
        return grad
    size = grad.shape[dim]
    inner = grad.narrow(dim, before, size - before - after)
    n = inner.shape[dim]
    parts = []
    if before:
        # padded cell i (< before) copies input cell before - i: fold it back, flipped
        head = grad.narrow(dim, 0, before).flip(dim)
        parts += [inner.narrow(dim, 0, 1), inner.narrow(dim, 1, before) + head]
        rest_start = before + 1
    else:
        rest_start = 0
    if after:
        tail = grad.narrow(dim, size - after, after).flip(dim)
        middle = inner.narrow(dim, rest_start, n - rest_start - after - 1)
        parts += [middle, inner.narrow(dim, n - after - 1, after) + tail,
                  inner.narrow(dim, n - 1, 1)]
    else:
        parts.append(inner.narrow(dim, rest_start, n - rest_start))
    return torch.cat(parts, dim=dim)


def reflection_pad2d_backward(grad_output: Tensor, input: Tensor,
                              padding: Sequence[int]) -> Tensor:
    """Gradient of 2-D reflection padding: the border folded back onto what it mirrors.

    Parameters
    ----------
    grad_output : Tensor
        (..., H + top + bottom, W + left + right).
    input : Tensor
        The padding's input (..., H, W); H > top + bottom and W > left + right.
    padding : sequence of int
        (left, right, top, bottom), as ``aten.reflection_pad2d``.

    Returns
    -------
    Tensor
        (..., H, W).
    """
    left, right, top, bottom = padding
    rows_folded = _fold_reflection(grad_output, grad_output.dim() - 2, top, bottom)
    return _fold_reflection(rows_folded, grad_output.dim() - 1, left, right)


#: Operators decomposed here rather than by core ATen (or not at all).
_OWN: dict[Any, Callable[..., Any]] = {
    aten.convolution_backward.default: convolution_backward,
    aten.avg_pool2d_backward.default: avg_pool2d_backward,
    aten.reflection_pad2d_backward.default: reflection_pad2d_backward,
}

#: Operators kept whole because ONNX has one operator for them.
_KEEP = (aten.reflection_pad2d.default,)


def decomposition_table() -> dict[Any, Callable[..., Any]]:
    """Core-ATen decompositions plus this module's, for ``make_fx``.

    Returns
    -------
    dict
        ATen operator overload to Python decomposition.
    """
    table = dict(core_aten_decompositions())
    for op in _KEEP:
        table.pop(op, None)
    table.update(_OWN)
    return table
