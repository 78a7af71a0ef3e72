"""The numpy rule behind tests/data/torchvision_parity: a state_dict's values and the input, drawn
from a seed, so that tools/make_torchvision_parity_concat.py (with torch) and the tests (without)
make the same numbers.

Values are drawn key by key, in the state_dict's order, from one numpy Generator(seed), as
float32 (what a .pth file holds; the float64 runs use these values exactly):
- running_mean U(-0.1, 0.1), running_var U(0.5, 1.5), batch norm weight U(0.5, 1.5), every
  bias U(-0.1, 0.1): batch norm is not the identity, yet keeps activations near unit scale;
- convolution and linear weights N(0, 2 / fan_in) (He): ReLU networks keep their scale;
- num_batches_tracked: no value (converters ignore it; torch keeps its own).
The input is N(0, 1) from Generator(seed + 1), rounded to float32.
"""
import numpy as np


def parity_state(keys, shapes, seed):
    """{key: float32 array} for torchvision state_dict `keys` with `shapes`, by the rule above."""
    rng = np.random.default_rng(seed)
    state = {}
    for key, shape in zip(keys, shapes):
        shape = tuple(int(s) for s in shape)
        if key.endswith("num_batches_tracked"):
            continue
        if key.endswith(("running_mean", "bias")):
            value = rng.uniform(-0.1, 0.1, shape)
        elif key.endswith("running_var") or len(shape) == 1:
            value = rng.uniform(0.5, 1.5, shape)
        else:
            value = rng.standard_normal(shape) * np.sqrt(2.0 / np.prod(shape[1:]))
        state[key] = value.astype(np.float32)
    return state


def parity_input(shape, seed):
    """float64 (N, 3, H, W) input whose values are float32 numbers."""
    return np.random.default_rng(seed + 1).standard_normal(shape).astype(np.float32) \
        .astype(np.float64)
