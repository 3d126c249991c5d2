"""An exported model at run time, torch-free: its metadata (:mod:`varnet.runtime.metadata`,
what makes the ONNX file self-describing) and its ONNX Runtime wrapper
(:mod:`varnet.runtime.onnx_model`). Export writes and verifies models with them; operations
load and run models with them; neither imports the other.
"""
