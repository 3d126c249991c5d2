"""A float16 variant of an exported model, for GPUs; inputs and outputs stay float32.

:func:`to_float16` converts the float32 graph with ONNX Runtime's own converter
(``onnxruntime.transformers.float16.convert_float_to_float16``, ``keep_io_types=True``) and
keeps in float32 what float16 cannot hold:

* **the input normalisation**: every operator that no convolution feeds (the encoding of
  the physical inputs and everything computed from them alone). Float16 has 11 significant
  bits: SST near 290 K would be stored in 0.25 K steps, and ``(sst - mean) / std`` would
  inherit that error;
* **reductions**: ``ReduceMean``/``ReduceSum`` and the squares and products they reduce,
  ``Pow``, ``Sqrt`` and ``Clip``. The solver's gradient is of order 1e-5 (the cost is a mean
  over the window), below float16's smallest normal number (6.1e-5): its square underflows
  to 0, and the norm's floor ``clamp(min=1e-12)`` is not representable in float16 either;
* **the normalisation by the gradient norm**: the divisions by the clamped norm (an O(1)
  result, cast back to float16 afterwards).

The converter rounds every constant it converts and inserts a float32 -> float16 -> float32
round trip between two float32 operators; both are undone here (constants shared by a
float32 and a float16 operator are duplicated, round trips of a float32 value removed), so
the float32 part computes exactly as in the float32 graph.

**Checking on a CPU.** ONNX Runtime's CPU provider loads and runs the float16 file, but
(onnxruntime 1.31, x86) has float16 kernels only for data movement (Slice, Concat, ...): it
inserts casts and computes every convolution and arithmetic operator in float32, so running
the file on the CPU understates what float16 does on a GPU. :func:`emulate_float16` writes a
float32 graph that rounds the output of every float16 operator to float16, as GPU kernels do
(they accumulate convolutions in float32 too); :func:`verify_float16` uses it where CUDA does
not start. The emulation has not been compared with a GPU run yet.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from varnet.errors import EXIT_ATTENTION, VarnetError
from varnet.runtime.metadata import METADATA_KEY, ModelMetadata, ModelMismatch

if TYPE_CHECKING:
    from varnet.export.verify import ParityReport

__all__ = [
    "FLOAT16_TOLERANCE",
    "Float16Unverifiable",
    "emulate_float16",
    "float32_operators",
    "to_float16",
    "verify_float16",
]

#: The float16 variant fails above this relative L2 difference from the float32 graph.
#: Measured with float16 rounding emulated (module docstring), worst output (u or v):
#:
#: * demo 4DVarNet SSH-SST (6 solver steps, 120 x 120), 8 held-back windows of the default
#:   ocean: 1.4e-3 (ssh 9.6e-4); the tiny test models (random weights, 32 x 32, 8 windows of
#:   the tiny ocean): 0.8e-3 to 1.5e-3;
#: * the same demo conversion with the input normalisation in float16 too: 1.8e-2 (SST in
#:   0.25 K steps); with the reductions and the gradient norm in float16 too: 0.3 to 0.55
#:   (the squared gradient underflows); tiny direct inversion with nothing kept in float32:
#:   2.2e-2.
#:
#: Float16's own rounding (2^-11 = 4.9e-4) grows by about 3 through the solver, like float32
#: round-off (reference/onnx.md 4.3). 5e-3 leaves a factor of 3 above every measurement and
#: a factor of 3 below the smallest failure of the float32 part.
FLOAT16_TOLERANCE = 5e-3

#: Operators computed in float32 wherever they are (reductions and the norm's floor).
_REDUCTIONS = {"ReduceMean", "ReduceSum", "ReduceSumSquare", "ReduceL2", "ReduceLogSumExp"}
_FLOAT32_OPS = _REDUCTIONS | {"Pow", "Sqrt", "Clip"}
#: Operators that start the float16 part of the graph.
_CONVOLUTIONS = {"Conv", "ConvTranspose"}
_FLOAT = TensorProto.FLOAT
_HALF = TensorProto.FLOAT16


def _consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    users: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            if name:
                users.setdefault(name, []).append(node)
    return users


def float32_operators(model: onnx.ModelProto) -> set[str]:
    """Names of the nodes of a float32 graph that :func:`to_float16` keeps in float32.

    Parameters
    ----------
    model : onnx.ModelProto
        The float32 graph (every node named, as the exporter writes them).

    Returns
    -------
    set of str
        Node names (Constant nodes excluded: they follow their consumers).
    """
    graph = model.graph
    users = _consumers(graph)
    producer = {o: n for n in graph.node for o in n.output}
    # everything a convolution feeds, directly or not
    downstream: set[str] = set()
    stack = [n for n in graph.node if n.op_type in _CONVOLUTIONS]
    while stack:
        node = stack.pop()
        if node.name in downstream:
            continue
        downstream.add(node.name)
        for out in node.output:
            stack.extend(users.get(out, []))
    keep = {n.name for n in graph.node
            if n.op_type != "Constant" and n.name not in downstream}
    for node in graph.node:
        if node.op_type not in _FLOAT32_OPS:
            continue
        keep.add(node.name)
        if node.op_type in _REDUCTIONS and node.input[0] in producer:
            source = producer[node.input[0]]
            if source.op_type == "Mul":  # the squares and weighted terms being reduced
                keep.add(source.name)
        if node.op_type == "Clip":  # the gradient norm's floor, 1e-12: its bounds, cast
            for bound in node.input[1:]:  # like the norm, and the divisions by the norm
                source = producer.get(bound)
                if source is not None and source.op_type in ("Cast", "CastLike"):
                    keep.add(source.name)
            stack = list(users.get(node.output[0], []))
            while stack:
                user = stack.pop()
                if user.op_type == "Identity":
                    stack.extend(users.get(user.output[0], []))
                elif user.op_type in ("Div", "Mul"):
                    keep.add(user.name)
    return keep


def _separate_shared_constants(model: onnx.ModelProto, keep: set[str]) -> None:
    """Give float32 nodes their own copy of constants also used by float16 nodes.

    Constant nodes used only by float32 nodes join ``keep``.
    """
    graph = model.graph
    users = _consumers(graph)
    initializers = {t.name: t for t in graph.initializer}
    constants = {n.output[0]: n for n in graph.node if n.op_type == "Constant"}
    for name in list(initializers) + list(constants):
        consumers = users.get(name, [])
        kept = [u for u in consumers if u.name in keep]
        if not kept:
            continue
        if len(kept) == len(consumers):
            if name in constants:
                keep.add(constants[name].name)
            continue
        copy_name = f"{name}__float32"
        if name in initializers:
            copy = onnx.TensorProto()
            copy.CopyFrom(initializers[name])
            copy.name = copy_name
            graph.initializer.append(copy)
        else:
            source = constants[name]
            copy_node = onnx.NodeProto()
            copy_node.CopyFrom(source)
            copy_node.name = f"{source.name}__float32"
            copy_node.output[0] = copy_name
            graph.node.append(copy_node)
            keep.add(copy_node.name)
        for user in kept:
            for i, value in enumerate(user.input):
                if value == name:
                    user.input[i] = copy_name


def _types(model: onnx.ModelProto) -> dict[str, int]:
    graph = model.graph
    types = {v.name: v.type.tensor_type.elem_type
             for v in [*graph.input, *graph.output, *graph.value_info]}
    types.update({t.name: t.data_type for t in graph.initializer})
    for node in graph.node:
        if node.op_type == "Constant":
            for attribute in node.attribute:
                if attribute.name == "value":
                    types[node.output[0]] = attribute.t.data_type
    return types


def _remove_round_trips(model: onnx.ModelProto) -> int:
    """Bypass ``Cast(float16) -> Cast(float)`` chains applied to a float32 value."""
    graph = model.graph
    types = _types(model)
    producer = {o: n for n in graph.node for o in n.output}
    outputs = {o.name for o in graph.output}
    rename: dict[str, str] = {}
    for node in graph.node:
        if node.op_type != "Cast" or _cast_to(node) != _FLOAT or node.output[0] in outputs:
            continue
        inner = producer.get(node.input[0])
        if inner is None or inner.op_type != "Cast" or _cast_to(inner) != _HALF:
            continue
        if types.get(inner.input[0]) == _FLOAT:
            rename[node.output[0]] = inner.input[0]
    for node in graph.node:
        for i, value in enumerate(node.input):
            if value in rename:
                node.input[i] = rename[value]
    return len(rename)


def _remove_duplicate_casts(model: onnx.ModelProto) -> None:
    """Drop repeated identical Cast nodes (the converter casts a float16 value once per
    float32 consumer, always under the same output name)."""
    graph = model.graph
    seen: dict[str, onnx.NodeProto] = {}
    duplicates = []
    for k, node in enumerate(graph.node):
        if node.op_type != "Cast" or node.output[0] not in seen:
            seen.setdefault(node.output[0], node)
            continue
        first = seen[node.output[0]]
        if first.op_type != "Cast" or list(first.input) != list(node.input) or \
                _cast_to(first) != _cast_to(node):
            raise ValueError(f"float16 conversion: two different nodes write {node.output[0]}")
        duplicates.append(k)
    for k in reversed(duplicates):
        del graph.node[k]


def _cast_to(node: onnx.NodeProto) -> int | None:
    return next((a.i for a in node.attribute if a.name == "to"), None)


def _remove_dead_nodes(model: onnx.ModelProto, ops: Iterable[str] = ("Cast", "Constant")) -> None:
    graph = model.graph
    ops = set(ops)
    outputs = {o.name for o in graph.output}
    while True:
        used = {i for n in graph.node for i in n.input} | outputs
        dead = [k for k, n in enumerate(graph.node)
                if n.op_type in ops and not any(o in used for o in n.output)]
        if not dead:
            break
        for k in reversed(dead):
            del graph.node[k]
    produced = {o for n in graph.node for o in n.output}
    kept_info = [v for v in graph.value_info if v.name in produced]
    del graph.value_info[:]
    graph.value_info.extend(kept_info)
    used = {i for n in graph.node for i in n.input}
    kept_init = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept_init)


def _sort_topologically(model: onnx.ModelProto) -> None:
    graph = model.graph
    available = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending = list(graph.node)
    ordered: list[onnx.NodeProto] = []
    while pending:
        rest = []
        for node in pending:
            if all(i in available for i in node.input):
                ordered.append(node)
                available.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            raise ValueError(f"float16 conversion left a cycle or a dangling input at "
                             f"{rest[0].name} ({rest[0].op_type})")
        pending = rest
    copies = [onnx.NodeProto() for _ in ordered]
    for copy, node in zip(copies, ordered, strict=True):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)


def convert(model: onnx.ModelProto) -> onnx.ModelProto:
    """The float16 graph of a float32 graph (module docstring); metadata untouched."""
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    model = onnx.shape_inference.infer_shapes(model)
    seen: set[str] = set()
    for k, node in enumerate(model.graph.node):  # nodes are blocked by name: make names unique
        if not node.name or node.name in seen:
            node.name = f"{node.op_type}__float16_{k}"
        seen.add(node.name)
    # the exporter lists initializers among the value infos: the converter would then cast
    # a float32 initializer of a float32 node to float32 once per node, under one name; and
    # it would cast sequences (of SplitToSequence) as if they were tensors
    initializers = {t.name for t in model.graph.initializer}
    infos = [v for v in model.graph.value_info
             if v.name not in initializers and v.type.HasField("tensor_type")]
    del model.graph.value_info[:]
    model.graph.value_info.extend(infos)
    keep = float32_operators(model)
    _separate_shared_constants(model, keep)
    half = convert_float_to_float16(model, keep_io_types=True, node_block_list=sorted(keep),
                                    op_block_list=[*DEFAULT_OP_BLOCK_LIST, *_FLOAT32_OPS])
    _remove_duplicate_casts(half)
    _remove_round_trips(half)
    _remove_dead_nodes(half)
    _sort_topologically(half)
    del half.graph.value_info[:]
    return onnx.shape_inference.infer_shapes(half, strict_mode=True)


def _metadata_of(model: onnx.ModelProto, path: str | os.PathLike[str]) -> ModelMetadata:
    props = {p.key: p.value for p in model.metadata_props}
    if METADATA_KEY not in props:
        raise ModelMismatch(path, METADATA_KEY, "absent: not a model exported by varnet-export")
    return ModelMetadata.from_json(props[METADATA_KEY], path)


def to_float16(src_path: str | os.PathLike[str], dst_path: str | os.PathLike[str]) -> Path:
    """Write the float16 variant of an exported float32 model.

    Parameters
    ----------
    src_path : str or os.PathLike
        A float32 model written by ``varnet-export``.
    dst_path : str or os.PathLike
        Where to write the variant (atomically); its metadata says ``precision: "float16"``,
        every other field is the source's.

    Returns
    -------
    pathlib.Path
        ``dst_path``.

    Raises
    ------
    varnet.runtime.metadata.ModelMismatch
        If the source has no varnet metadata or is already float16.
    """
    from varnet.export.graph import attach_metadata, save_model

    model = onnx.load(src_path)
    metadata = _metadata_of(model, src_path)
    if metadata.precision != "float32":
        raise ModelMismatch(src_path, "precision", f"'{metadata.precision}': the source must "
                                                   f"be a float32 model")
    half = convert(model)
    attach_metadata(half, dataclasses.replace(metadata, precision="float16"))
    onnx.checker.check_model(half, full_check=True)
    return save_model(half, dst_path)


def emulate_float16(model: onnx.ModelProto) -> onnx.ModelProto:
    """A float32 graph computing like the float16 one on a GPU, for CPU checks.

    Every float16 value becomes float32, rounded to float16 where it is produced: each
    float16 operator computes in float32 from float16-representable inputs and its result is
    rounded, as GPU kernels do (they accumulate convolutions and reductions in float32).

    Parameters
    ----------
    model : onnx.ModelProto
        A graph written by :func:`to_float16`.

    Returns
    -------
    onnx.ModelProto
        Same inputs, outputs and metadata, float32 throughout.
    """
    model = onnx.shape_inference.infer_shapes(model)
    types = _types(model)
    graph = model.graph
    untyped = [o for n in graph.node for o in n.output if o and o not in types]
    if untyped:
        raise ValueError(f"float16 emulation: no type known for {len(untyped)} values "
                         f"(e.g. {untyped[0]}); they could not be rounded")
    for tensor in graph.initializer:
        if tensor.data_type == _HALF:
            tensor.CopyFrom(numpy_helper.from_array(
                numpy_helper.to_array(tensor).astype(np.float32), tensor.name))
    nodes = []
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.TENSOR and attribute.t.data_type == _HALF:
                attribute.t.CopyFrom(numpy_helper.from_array(
                    numpy_helper.to_array(attribute.t).astype(np.float32), attribute.t.name))
            if node.op_type == "Cast" and attribute.name == "to" and attribute.i == _HALF:
                attribute.i = _FLOAT
        nodes.append(node)
        for k, name in enumerate(node.output):
            if types.get(name) != _HALF:
                continue
            raw = f"{name}__unrounded"
            node.output[k] = raw
            nodes.append(helper.make_node("Cast", [raw], [f"{name}__half"], to=_HALF,
                                          name=f"{node.name}__round{k}"))
            nodes.append(helper.make_node("Cast", [f"{name}__half"], [name], to=_FLOAT,
                                          name=f"{node.name}__widen{k}"))
    copies = []
    for node in nodes:
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copies.append(copy)
    del graph.node[:]
    graph.node.extend(copies)
    del graph.value_info[:]
    return model


class Float16Unverifiable(VarnetError, RuntimeError):
    """The float16 variant cannot be checked on this machine (no kernels for it).

    ``varnet-export --fp16`` catches it and writes the variant unverified, saying so; were it
    to reach a command-line tool, it would stop it with exit status 1. Also a
    :class:`RuntimeError`, for code that catches that.
    """

    exit_code = EXIT_ATTENTION


def _cpu_load_error(path: str | os.PathLike[str]) -> str | None:
    """Why ONNX Runtime's CPU provider cannot load a model for lack of kernels, or None."""
    import onnxruntime as ort
    from onnxruntime.capi.onnxruntime_pybind11_state import NotImplemented as OrtNotImplemented

    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except OrtNotImplemented as exc:
        return str(exc).strip().splitlines()[0]
    return None


def verify_float16(float32_path: str | os.PathLike[str], float16_path: str | os.PathLike[str],
                   inputs: dict[str, np.ndarray], provider: str = "auto",
                   days: Sequence[str] = (), batch: int = 2,
                   tolerance: float | None = None) -> ParityReport:
    """Compare a float16 variant with its float32 graph (run on the CPU).

    Where CUDA starts (``provider`` ``"auto"`` or ``"cuda"``) the float16 file itself runs
    on the GPU. Otherwise the CPU provider must load the file (ONNX Runtime type-checks it
    and finds kernels), and its :func:`emulate_float16` graph runs on the CPU: ORT's own CPU
    execution of the file computes almost everything in float32 (module docstring) and would
    understate the difference.

    Parameters
    ----------
    float32_path, float16_path : str or os.PathLike
        The float32 model and its variant.
    inputs : dict of str to numpy.ndarray
        Windows (count, T, H, W) for every input.
    provider : {"auto", "cuda", "cpu"}
        Where to run the variant (``"cpu"``: emulated).
    days : sequence of str
        Centre days of the windows, for the report.
    batch : int
        Windows per call.
    tolerance : float, optional
        Largest relative L2 difference allowed (default :data:`FLOAT16_TOLERANCE`).

    Returns
    -------
    varnet.export.verify.ParityReport
        Its ``reference`` says where the variant ran.

    Raises
    ------
    Float16Unverifiable
        If there is no GPU and the CPU provider has no kernel for an operator of the file.
    """
    from varnet.export.verify import verify_against
    from varnet.runtime.onnx_model import OnnxModel

    tolerance = FLOAT16_TOLERANCE if tolerance is None else tolerance
    reference = f"{Path(float32_path).name} (float32, CPU)"
    if provider != "cpu":
        import onnxruntime as ort

        if "CUDAExecutionProvider" in ort.get_available_providers():
            probe = OnnxModel(float16_path, provider, batch_size=batch)
            on_gpu = probe.on_gpu
            del probe
            if on_gpu:
                report = verify_against(float32_path, float16_path, inputs, tolerance,
                                        provider="cuda", days=days, batch=batch)
                return dataclasses.replace(
                    report, reference=f"{reference}, float16 on CUDAExecutionProvider")
    problem = _cpu_load_error(float16_path)
    if problem is not None:
        raise Float16Unverifiable(f"no float16 kernels on this CPU ({problem})")
    emulated = emulate_float16(onnx.load(float16_path))
    folder = Path(float16_path).resolve().parent
    with tempfile.TemporaryDirectory(dir=folder, prefix=".fp16-emulation-") as tmp:
        path = Path(tmp) / Path(float16_path).name
        onnx.save_model(emulated, path)
        report = verify_against(float32_path, path, inputs, tolerance, provider="cpu",
                                days=days, batch=batch)
    return dataclasses.replace(
        report, reference=f"{reference}, float16 rounding emulated on the CPU")
