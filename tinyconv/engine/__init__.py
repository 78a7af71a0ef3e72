"""The autograd core: Tensor and Function (tensor.py), the numpy/CuPy backend, backward hooks,
optimizers and gradient checks. Imports nothing else of tinyconv."""
