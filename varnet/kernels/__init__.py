"""Numerical kernels (numba-compiled inner loops behind numpy wrappers)."""
