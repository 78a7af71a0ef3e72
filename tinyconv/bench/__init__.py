"""Benchmarks: whole networks against other frameworks (run.py), convolution kernels one by one
(kernels.py), and their charts (plot.py)."""
