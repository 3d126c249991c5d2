"""Checkpoint to ONNX: tracing the unrolled solver, verification, and model metadata.

The tracing and verification modules need the ``export`` extra (torch, onnx, onnxscript);
the metadata they write and the ONNX Runtime wrapper they verify with live, torch-free, in
:mod:`varnet.runtime`, which operations import too.
"""
