"""The numpy rule that draws the weights of the torchvision parity fixtures
(tests/data/torchvision_parity/, made by tools/make_torchvision_parity.py with torch and checked by
tests/test_torchvision_parity.py without it), so that both sides draw the same float64 values.

Each tensor of a state dict is drawn from its own generator, np.random.default_rng([SEED,
crc32(key)]), so a value depends only on its key and shape, not on the order of the keys nor on
which others the dict holds (GoogLeNet's auxiliary heads, which the converter drops, change no
other value):

- convolution and linear weights: normal, std gain / sqrt(fan_in) (fan_in = the product of the
  shape past the first axis; GAIN_CONV = sqrt(2) for convolutions, 1 for the classifier);
- their biases: normal, std 0.1;
- batch norm (a key prefix that has a running_mean): weight (gamma) uniform 0.5 .. 1.0, bias
  (beta) normal std 0.1, running_mean normal std 0.1, running_var uniform 0.5 .. 2.0 (random
  statistics: the inference batch norm is not the identity); num_batches_tracked 0 (int64).
gamma below 1 keeps a deep residual stack's activations within a few orders of magnitude.
The input is np.random.default_rng(SEED).standard_normal(INPUT_SHAPE).
"""
import zlib

import numpy as np

SEED = 2026
INPUT_SHAPE = (1, 3, 48, 48)  # odd sizes deep down: floor avg pools, ceil max pools at work
GAIN_CONV = np.sqrt(2.0)


def parity_state(shapes):
    """{key: float64 array (int64 for num_batches_tracked)} for {key: shape} in the given order."""
    norms = {key.rpartition(".")[0] for key in shapes if key.endswith(".running_mean")}
    state = {}
    for key, shape in shapes.items():
        prefix, _, kind = key.rpartition(".")
        rng = np.random.default_rng([SEED, zlib.crc32(key.encode())])
        if kind == "num_batches_tracked":
            state[key] = np.array(0, dtype=np.int64)
        elif prefix in norms:
            state[key] = {"weight": lambda: rng.uniform(0.5, 1.0, shape),
                          "running_var": lambda: rng.uniform(0.5, 2.0, shape)}.get(
                kind, lambda: rng.normal(0.0, 0.1, shape))()
        elif kind == "weight":
            gain = GAIN_CONV if len(shape) == 4 else 1.0
            state[key] = rng.standard_normal(shape) * (gain / np.sqrt(np.prod(shape[1:])))
        else:
            state[key] = rng.normal(0.0, 0.1, shape)
    return state


def parity_input():
    """The float64 INPUT_SHAPE input torchvision is fed."""
    return np.random.default_rng(SEED).standard_normal(INPUT_SHAPE)
