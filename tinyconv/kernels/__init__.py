"""Array kernels below the differentiable ops: the per-layer convolution dispatcher
(algorithms.py), the generic numpy/CuPy kernels (im2col.py, matmul.py) and the CPU ones (cpu/).
Every kernel takes and returns plain arrays."""
