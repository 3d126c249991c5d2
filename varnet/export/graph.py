"""Checkpoint to one unrolled ONNX graph: trace with ``make_fx``, export with the dynamo exporter.

The route is the one reference/onnx.md section 6 recommends:

1. freeze the parameters and trace the whole forward pass, solver steps and cascades
   included, with ``make_fx`` (symbolic shapes, core-ATen decompositions plus
   :mod:`varnet.export.decompositions`), which records what autograd runs inside the forward
   pass as ordinary operators;
2. refuse the graph if any ``*_backward`` operator is left, naming it;
3. export the traced graph with ``torch.onnx.export(dynamo=True, optimize=False)``:
   onnxscript's optimiser drops additive constants below 1e-8, such as the solver's
   gradient-norm floor (section 4.1); ONNX Runtime's own optimiser is exact;
4. refuse the ONNX model if an operator is outside the standard ONNX domain, then run
   ``onnx.checker`` (full check) and write the metadata.

The other parity traps of section 4 are handled in the model itself: every global mean is
hierarchical (4.2), and no operator of the graph scatters with accumulation (4.4:
:func:`scatter_operators` checks), so ONNX Runtime may use any number of threads.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import fx, nn
from torch.fx.experimental.proxy_tensor import make_fx

import varnet
from varnet.datamodel.signature import ModelSignature, standard_signature
from varnet.errors import EXIT_ATTENTION, VarnetError
from varnet.export.decompositions import decomposition_table
from varnet.io.atomic import atomic_path
from varnet.runtime.metadata import ModelMetadata, TensorSpec
from varnet.training.checkpoint import LoadedModel

log = logging.getLogger("varnet.export")

#: ONNX opset of exported graphs.
OPSET = 20
#: Operators that accumulate into shared outputs, nondeterministic in multi-threaded ORT.
_SCATTER_OPS = {"ScatterND", "ScatterElements", "Scatter"}



class ExportError(VarnetError, RuntimeError):
    """The model cannot be exported as one graph of standard ONNX operators.

    ``varnet-export`` stops on it with exit status 1 (nothing written); also a
    :class:`RuntimeError`, for code that catches that.
    """

    exit_code = EXIT_ATTENTION
    what = "export"


@dataclass(frozen=True)
class ExportedGraph:
    """The result of :func:`export_model`.

    Attributes
    ----------
    model : onnx.ModelProto
        The graph with its metadata.
    metadata : ModelMetadata
        What is stored in it.
    """

    model: onnx.ModelProto
    metadata: ModelMetadata


def weights_sha256(model: nn.Module) -> str:
    """SHA-256 of a model's parameters and buffers (float32 bytes, in state-dict order)."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(tensor.detach().cpu().float().numpy()).tobytes())
    return digest.hexdigest()


def model_signature(model: nn.Module) -> ModelSignature:
    """The signature of a trained model: the standard contract (``oi``, ``obs`` and, if it
    uses SST, ``sst`` -> ``ssh``, ``u``, ``v``; :func:`~varnet.datamodel.signature.
    standard_signature`)."""
    return standard_signature(["oi", "obs", "sst"] if model.use_sst else ["oi", "obs"])


def input_names(model: nn.Module) -> list[str]:
    """Graph inputs of a model, in order (:func:`model_signature`)."""
    return model_signature(model).input_names


def example_inputs(model: nn.Module, batch: int = 2, size: int | None = None,
                   seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Plausible physical inputs for tracing, (batch, T, H, W) each.

    ``batch`` and the spatial size must not be 1 (the tracer would specialise them); the size
    defaults to 4 multiples of the prior's pooling.
    """
    generator = torch.Generator().manual_seed(seed)
    size = size or 4 * model.config.pool
    shape = (batch, model.window, size, size)
    oi = 0.1 * torch.randn(shape, generator=generator)
    observed = torch.rand(shape, generator=generator) < 0.1
    obs = torch.where(observed, oi + 0.02 * torch.randn(shape, generator=generator), torch.nan)
    tensors = [oi, obs]
    if model.use_sst:
        sst = 290.0 + torch.randn(shape, generator=generator)
        sst[torch.rand(shape, generator=generator) < 0.3] = torch.nan
        tensors.append(sst)
    return tuple(tensors)


def trace(model: nn.Module, example: tuple[torch.Tensor, ...],
          decompositions: dict[Any, Any] | None = None) -> fx.GraphModule:
    """Trace the whole forward pass, autograd included, into an ATen graph.

    Parameters
    ----------
    model : nn.Module
        In evaluation mode; its parameters are frozen here (the solver needs gradients with
        respect to the state only).
    example : tuple of Tensor
        Example inputs; shapes are traced symbolically.
    decompositions : dict, optional
        Decomposition table (default :func:`decomposition_table`).

    Returns
    -------
    torch.fx.GraphModule

    Raises
    ------
    ExportError
        If a ``*_backward`` operator remains in the graph (naming each, with its count).
    """
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    table = decomposition_table() if decompositions is None else decompositions
    with torch.no_grad():
        graph = make_fx(lambda *args: model(*args), decomposition_table=table,
                        tracing_mode="symbolic", _allow_non_fake_inputs=True)(*example)
    leftovers = backward_operators(graph)
    if leftovers:
        listed = ", ".join(f"{name} (x{count})" for name, count in sorted(leftovers.items()))
        raise ExportError(
            f"the traced graph still contains backward operators with no ONNX translation: "
            f"{listed}; add a decomposition for each in varnet/export/decompositions.py")
    graph.eval()
    return graph


def backward_operators(graph: fx.GraphModule) -> dict[str, int]:
    """Names and counts of the ``*_backward`` ATen operators left in a traced graph."""
    found: dict[str, int] = {}
    for node in graph.graph.nodes:
        if node.op == "call_function" and "backward" in str(node.target):
            name = str(node.target)
            found[name] = found.get(name, 0) + 1
    return found


def nonstandard_operators(model: onnx.ModelProto) -> list[str]:
    """Operators of an ONNX graph outside the standard domain (``domain::op_type``)."""
    return sorted({f"{node.domain}::{node.op_type}" for node in model.graph.node
                   if node.domain not in ("", "ai.onnx")})


def scatter_operators(model: onnx.ModelProto) -> list[str]:
    """Accumulating scatter operators in an ONNX graph (nondeterministic with threads)."""
    return sorted({node.op_type for node in model.graph.node
                   if node.op_type in _SCATTER_OPS
                   and any(a.name == "reduction" and a.s not in (b"", b"none")
                           for a in node.attribute)})


def build_metadata(loaded: LoadedModel, weights: str, scores: dict[str, float],
                   precision: str = "float32") -> ModelMetadata:
    """The metadata of an exported checkpoint."""
    config = loaded.config
    model = loaded.model
    data = config.data
    signature = model_signature(model)
    return ModelMetadata(
        model_id=f"{config.name}-{weights[:8]}",
        model_kind=config.model.kind,
        uses_sst=bool(config.model.use_sst),
        varnet_version=varnet.__version__,
        torch_version=str(torch.__version__),
        opset=OPSET,
        config=config.to_mapping(),
        config_sha256=config.digest(),
        weights_sha256=weights,
        grid=loaded.grid.lattice(),
        window_days=int(data.window_days),
        patch=[int(data.window_days), *map(int, data.patch)],
        spatial_multiple=int(config.model.pool),
        inputs=[TensorSpec(i.name, i.units, i.description) for i in signature.inputs],
        outputs=[TensorSpec(o.name, o.units, o.description) for o in signature.outputs],
        normalisation=model.stats.as_dict(),
        training_period=[d.isoformat() for d in data.train],
        validation_period=[d.isoformat() for d in data.validation],
        test_period=[d.isoformat() for d in data.test],
        scores=dict(scores),
        precision=precision,
        ort_intra_op_threads=None,
        signature=signature.to_mapping(),
    )


def attach_metadata(model: onnx.ModelProto, metadata: ModelMetadata) -> None:
    """Replace the model's ``metadata_props`` with the metadata and document the I/O."""
    del model.metadata_props[:]
    for key, value in metadata.flat_properties().items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name = "varnet-export"
    model.producer_version = metadata.varnet_version
    model.doc_string = (f"varnet {metadata.model_kind} model {metadata.model_id}: inputs "
                        f"{', '.join(f'{s.name} [{s.units}]' for s in metadata.inputs)} "
                        f"(batch, {metadata.window_days} days, H, W; H and W multiples of "
                        f"{metadata.spatial_multiple}); outputs "
                        f"{', '.join(f'{s.name} [{s.units}]' for s in metadata.outputs)}")
    specs = {s.name: s for s in [*metadata.inputs, *metadata.outputs]}
    for value in [*model.graph.input, *model.graph.output]:
        if value.name in specs:
            spec = specs[value.name]
            value.doc_string = f"{spec.description} [{spec.units}]"


def export_model(loaded: LoadedModel, scores: dict[str, float] | None = None) -> ExportedGraph:
    """Export a checkpoint's model as one unrolled ONNX graph with its metadata.

    Parameters
    ----------
    loaded : LoadedModel
        From :func:`varnet.training.checkpoint.load_checkpoint`.
    scores : dict, optional
        The model's scores on the test period, stored in the metadata.

    Returns
    -------
    ExportedGraph

    Raises
    ------
    ExportError
        If a backward, non-standard or accumulating-scatter operator remains, or the ONNX
        checker rejects the graph.
    """
    model = loaded.model
    weights = weights_sha256(model)
    example = example_inputs(model)
    graph = trace(model, example)
    batch = torch.export.Dim("batch")
    height = torch.export.Dim("height")
    width = torch.export.Dim("width")
    names = input_names(model)
    program = torch.onnx.export(
        graph, example, dynamo=True, optimize=False, opset_version=OPSET,
        input_names=names, output_names=model_signature(model).output_names,
        dynamic_shapes=tuple({0: batch, 2: height, 3: width} for _ in names),
        verbose=False,
    )
    proto = program.model_proto
    foreign = nonstandard_operators(proto)
    if foreign:
        raise ExportError(f"the ONNX graph uses operators outside the standard domain: "
                          f"{', '.join(foreign)}")
    scatters = scatter_operators(proto)
    if scatters:
        raise ExportError(f"the ONNX graph accumulates with {', '.join(scatters)}, which ONNX "
                          f"Runtime runs nondeterministically on several threads")
    metadata = build_metadata(loaded, weights, scores or {})
    attach_metadata(proto, metadata)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"onnx.checker rejected the graph: {exc}") from None
    return ExportedGraph(proto, metadata)


def save_model(model: onnx.ModelProto, path: str | os.PathLike[str]) -> Path:
    """Write an ONNX model atomically (one file, no external data)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        onnx.save_model(model, tmp)
    return path
