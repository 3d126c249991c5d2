"""Checkpoint to ONNX: tracing the unrolled solver, verification, and model metadata.

:mod:`varnet.export.metadata` is torch-free (operations read models with it); the tracing
and verification modules need the ``export`` extra (torch, onnx, onnxscript).
"""
