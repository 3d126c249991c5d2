"""Daily operations without torch: ingest, products, ONNX Runtime inference, daemon, reprocess.

An operations host installs ``varnet[ops]`` only; nothing in this package imports torch.
"""
