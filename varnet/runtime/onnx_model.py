"""ONNX Runtime inference of an exported varnet model (no torch).

:class:`OnnxModel` wraps one ``InferenceSession``:

* **providers are explicit.** ``"cpu"`` runs on the CPU. ``"cuda"`` asks for the CUDA provider
  and checks with ``get_providers()`` that it really loaded: onnxruntime-gpu lists CUDA as
  available on hosts without a GPU and silently falls back to the CPU when its libraries do
  not load, so a failed CUDA start is reported here in one clear warning, and the model runs
  on the CPU. ``"auto"`` uses CUDA where it loads, the CPU otherwise, without a warning.
* **threads**: ``intra_op_num_threads`` as configured, unless the model's metadata demands a
  thread count for exact results (then that, with a log line).
* **I/O binding on GPU**: inputs are copied once to the device and outputs fetched once.
* **batching**: :meth:`OnnxModel.predict` runs any number of patches in batches.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime as ort

from varnet.runtime.metadata import ModelMetadata, ModelMismatch, metadata_from_session

log = logging.getLogger("varnet.ops.inference")

Provider = Literal["cpu", "cuda", "auto"]
_CUDA = "CUDAExecutionProvider"
_CPU = "CPUExecutionProvider"

__all__ = ["OnnxModel", "Provider"]


class OnnxModel:
    """An exported varnet model ready to run.

    Parameters
    ----------
    path : str or os.PathLike
        ONNX file written by ``varnet-export``.
    provider : {"cpu", "cuda", "auto"}
        Execution provider (module docstring).
    threads : int, optional
        ONNX Runtime intra-op threads (default: ORT's choice, all cores).
    batch_size : int
        Patches per call in :meth:`predict`.

    Attributes
    ----------
    metadata : ModelMetadata
        The model's metadata, validated.
    providers : list of str
        The providers the session really uses, first is the main one.

    Raises
    ------
    varnet.runtime.metadata.ModelMismatch
        If the file is not a varnet model.
    """

    def __init__(self, path: str | os.PathLike[str], provider: Provider = "cpu",
                 threads: int | None = None, batch_size: int = 4) -> None:
        if provider not in ("cpu", "cuda", "auto"):
            raise ValueError(f"provider must be 'cpu', 'cuda' or 'auto', got {provider!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelMismatch(self.path, "file", "model file not found")
        self.batch_size = batch_size
        started = time.perf_counter()
        self.session = self._start(self._options(threads), provider)
        self.metadata: ModelMetadata = metadata_from_session(self.session, self.path)
        required = self.metadata.ort_intra_op_threads
        if required and required != threads:
            log.info("%s: using %d ONNX Runtime thread(s), as the model requires for exact "
                     "results", self.path.name, required)
            self.session = self._start(self._options(required), provider)
        self.load_seconds = time.perf_counter() - started
        self.providers: list[str] = self.session.get_providers()
        self.on_gpu = self.providers[0] == _CUDA
        self._input_names = [i.name for i in self.session.get_inputs()]
        self._output_names = [o.name for o in self.session.get_outputs()]

    @staticmethod
    def _options(threads: int | None) -> ort.SessionOptions:
        options = ort.SessionOptions()
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        if threads:
            options.intra_op_num_threads = int(threads)
        return options

    def _start(self, options: ort.SessionOptions, provider: Provider) -> ort.InferenceSession:
        try:
            return self._start_with(options, provider)
        except Exception as exc:  # ORT raises its own exception types for unreadable files
            raise ModelMismatch(self.path, "file", f"not a loadable ONNX model ({exc})") from None

    def _start_with(self, options: ort.SessionOptions,
                    provider: Provider) -> ort.InferenceSession:
        if provider == "cpu":
            return ort.InferenceSession(str(self.path), options, providers=[_CPU])
        if _CUDA not in ort.get_available_providers():
            if provider == "cuda":
                log.warning("%s: CUDA was asked for but this onnxruntime has no CUDA provider "
                            "(install onnxruntime-gpu); running on the CPU", self.path.name)
            return ort.InferenceSession(str(self.path), options, providers=[_CPU])
        if provider == "auto":  # a missing GPU is expected here: silence ORT's own error
            ort.set_default_logger_severity(4)
        try:
            session = ort.InferenceSession(str(self.path), options, providers=[_CUDA, _CPU])
        finally:
            ort.set_default_logger_severity(2)
        if session.get_providers()[0] != _CUDA and provider == "cuda":
            log.warning("%s: CUDA was asked for but did not start (no GPU, or CUDA 12/13 and "
                        "cuDNN 9 libraries not found: see onnxruntime's message above); "
                        "running on the CPU", self.path.name)
        return session

    @property
    def input_names(self) -> list[str]:
        """Graph input names, in order (``oi``, ``obs``[, ``sst``])."""
        return list(self._input_names)

    @property
    def output_names(self) -> list[str]:
        """Graph output names (``ssh``, ``u``, ``v``)."""
        return list(self._output_names)

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one batch.

        Parameters
        ----------
        inputs : mapping of str to numpy.ndarray
            Every graph input, float32 (batch, T, H, W), physical units (metadata); H and W
            multiples of ``metadata.spatial_multiple``.

        Returns
        -------
        dict of str to numpy.ndarray
            ``ssh`` (m), ``u``, ``v`` (m s-1), each (batch, T, H, W) float32.

        Raises
        ------
        ValueError
            If an input is missing or of the wrong shape.
        """
        feed = self._check(inputs)
        if not self.on_gpu:
            return dict(zip(self._output_names, self.session.run(self._output_names, feed),
                            strict=True))
        binding = self.session.io_binding()
        for name, array in feed.items():
            binding.bind_cpu_input(name, array)
        for name in self._output_names:
            binding.bind_output(name, "cuda")
        self.session.run_with_iobinding(binding)
        return dict(zip(self._output_names, binding.copy_outputs_to_cpu(), strict=True))

    def _check(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        missing = [n for n in self._input_names if n not in inputs]
        if missing:
            raise ValueError(f"{self.path.name}: missing input(s) {missing}; the model takes "
                             f"{self._input_names}")
        feed = {n: np.ascontiguousarray(inputs[n], dtype=np.float32) for n in self._input_names}
        shapes = {a.shape for a in feed.values()}
        first = next(iter(feed.values())).shape
        multiple = self.metadata.spatial_multiple
        if (len(shapes) != 1 or len(first) != 4 or first[1] != self.metadata.window_days
                or first[2] % multiple or first[3] % multiple):
            raise ValueError(
                f"{self.path.name}: inputs must share one shape (batch, "
                f"{self.metadata.window_days}, H, W) with H and W multiples of {multiple}; got "
                f"{ {n: a.shape for n, a in feed.items()} }")
        return feed

    def predict(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run any number of patches, ``batch_size`` at a time.

        Parameters
        ----------
        inputs : mapping of str to numpy.ndarray
            As :meth:`run`, with any leading count of patches.

        Returns
        -------
        dict of str to numpy.ndarray
            As :meth:`run`, all patches.
        """
        parts = list(self.iter_predict(inputs))
        return {name: np.concatenate([p[name] for p in parts]) for name in self._output_names}

    def iter_predict(self, inputs: Mapping[str, np.ndarray]) -> Iterator[dict[str, np.ndarray]]:
        """Like :meth:`predict`, one batch of outputs at a time (bounded memory)."""
        count = len(next(iter(inputs.values())))
        for start in range(0, count, self.batch_size):
            yield self.run({n: a[start:start + self.batch_size] for n, a in inputs.items()})
