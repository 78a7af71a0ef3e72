"""Convolution algorithms by name, and how conv2d / conv_transpose2d choose one per layer.

An algorithm is a name bound to kernels with the four primitives of im2col.py. The names:

    "im2col"          generic im2col + GEMM over xp (im2col.py): any device, any geometry
    "cpu_im2col"      conv_cpu.py on numpy (groups=1): channels-last im2col + one GEMM
    "cpu_shifted"     ... one GEMM per kernel tap on shifted views (stride 1)
    "cpu_winograd2"   ... Winograd F(2x2, 3x3) (3x3, stride 1, dilation 1, padding <= 2)
    "cpu_winograd4"   ... Winograd F(4x4, 3x3) (the same layers)
    "cpu_depthwise"   cpu/depthwise.py on numpy (groups == channels in == out): per-tap
                      channels-last multiply-adds, no GEMM

How one is chosen (`set_algorithm`, the `algorithm` context manager, or the environment variable
TINYCONV_CONV_ALGORITHM):

    "heuristic"   (default) conv_cpu's rules of thumb on numpy, cpu_depthwise for depthwise
                  layers on numpy, "im2col" elsewhere
    "autotune"    time every algorithm that can compute the layer once per (device, dtype,
                  geometry), forward + input gradient, and remember the fastest (`tuned()`);
                  on numpy the CPU kernels only (see _tuning_candidates)
    a name        that algorithm wherever it can compute the layer, the heuristic elsewhere

Autotuning costs a few runs of each layer the first time its shape is seen; it pays on a
machine whose BLAS differs from the one the rules of thumb were measured on.
"""
import contextlib
import os

import numpy as np

from ..engine.backend import get_array_module, is_numpy, time_calls
from . import im2col
from .cpu import depthwise
from .cpu.channels_last import channels_last


class CpuStrategy:
    """conv_cpu's kernels with one strategy fixed (the four primitives of im2col.py)."""

    def __init__(self, strategy):
        self.strategy = strategy
        self.name = "cpu_" + strategy

    @staticmethod
    def _kernels():
        from .cpu import conv as conv_cpu  # numpy/scipy only
        return conv_cpu

    def prepare_weight(self, w, geom):
        return self._kernels().prepare_weight(w, geom, self.strategy)

    def conv_forward(self, x, wk, geom, b=None):
        return self._kernels().conv_forward(x, wk, geom, b)

    def conv_backward_input(self, dout, wk, geom):
        return self._kernels().conv_backward_input(dout, wk, geom)

    def conv_backward_weight(self, dout, x, geom):
        return self._kernels().conv_backward_weight(dout, x, geom)

    def __repr__(self):
        return f"<conv algorithm {self.name}>"


ALGORITHMS = {"im2col": im2col, **{s.name: s for s in (
    CpuStrategy("im2col"), CpuStrategy("shifted"), CpuStrategy("winograd2"),
    CpuStrategy("winograd4"))}, "cpu_depthwise": depthwise}
MODES = ("heuristic", "autotune")
_choice = os.environ.get("TINYCONV_CONV_ALGORITHM", "heuristic").strip() or "heuristic"
_tuned = {}
AUTOTUNE_MAX_COLUMN_BYTES = 2 ** 28  # im2col's workspace limit while autotuning (256 MiB)
AUTOTUNE_ROUNDS = 2  # timed runs of each algorithm per layer shape (after one untimed run)


def check_choice(choice):
    """`choice` if it is "heuristic", "autotune" or an algorithm name, else a ValueError naming
    the valid ones."""
    if choice not in MODES and choice not in ALGORITHMS:
        raise ValueError(f"unknown convolution algorithm {choice!r}; choose one of "
                         f"{', '.join(MODES + tuple(ALGORITHMS))}")
    return choice


def set_algorithm(choice):
    """Use `choice` ("heuristic", "autotune" or an algorithm name) from now on; returns the
    previous choice."""
    global _choice
    previous, _choice = _choice, check_choice(choice)
    return previous


@contextlib.contextmanager
def algorithm(choice):
    """`with algorithm("cpu_winograd4"):` the choice inside the block, restored on exit."""
    previous = set_algorithm(choice)
    try:
        yield
    finally:
        set_algorithm(previous)


def current():
    return _choice


def available(x, geom):
    """Names of the algorithms that can compute this convolution for input array x."""
    names = ["im2col"]
    if is_numpy(get_array_module(x)):
        from .cpu import conv as conv_cpu
        if conv_cpu.applies(x, geom):
            names += ["cpu_" + s for s in conv_cpu.strategies(geom)]
        if depthwise.applies(x, geom):
            names.append("cpu_depthwise")
    return names


def heuristic(x, geom):
    """The rule-of-thumb kernels: conv_cpu's own per-layer choice on numpy, the depthwise
    kernels for depthwise layers on numpy (the generic path would copy kh*kw taps of the input
    and run C one-row GEMMs; per-tap multiply-adds read each tap once), else im2col.

    (The generic kernels time faster than conv_cpu's on 3-channel NCHW images in isolation,
    but their NCHW output costs the next layer a transposing copy that outweighs the gain, so
    whole networks run faster with conv_cpu's kernels on their first layer too.)"""
    if is_numpy(get_array_module(x)):
        from .cpu import conv as conv_cpu
        if conv_cpu.applies(x, geom):
            return ALGORITHMS["cpu_" + conv_cpu.strategy(geom)]
        if depthwise.applies(x, geom):
            return depthwise
    return im2col


def select(x, geom):
    """The kernels that conv2d uses for input array x and this geometry, by the current choice."""
    choice = check_choice(_choice)
    if choice == "heuristic":
        return heuristic(x, geom)
    if choice == "autotune":
        return ALGORITHMS[autotune(x, geom)]
    return ALGORITHMS[choice] if choice in available(x, geom) else heuristic(x, geom)


def time_algorithms(names, x, w, dout, geom, rounds=AUTOTUNE_ROUNDS):
    """{name: best seconds} of weight preparation + forward + input gradient: one untimed run of
    each algorithm, then `rounds` rounds in which each is timed once in turn, so that a burst of
    load on a shared machine does not fall on one algorithm's runs alone."""
    def runner(kernels):
        def run():
            wk = kernels.prepare_weight(w, geom)
            kernels.conv_forward(x, wk, geom)
            kernels.conv_backward_input(dout, wk, geom)
        return run

    xp = get_array_module(x)
    runs = {name: runner(ALGORITHMS[name]) for name in names}
    for run in runs.values():
        run()
    best = {name: float("inf") for name in names}
    for _ in range(rounds):
        for name, run in runs.items():
            best[name] = min(best[name], *time_calls(run, xp, 1, warmup=0))
    return {name: ms / 1e3 for name, ms in best.items()}


def _tuning_candidates(x, geom):
    """The algorithms autotune times: on numpy not the generic kernels where conv_cpu's apply
    (their NCHW output would cost the next layer a transposing copy, which timing one layer
    cannot see), nor im2col whose column matrix would pass AUTOTUNE_MAX_COLUMN_BYTES."""
    names = available(x, geom)
    if len(names) > 1:
        names.remove("im2col")
    n, c = geom.x_shape[:2]
    kh, kw = geom.w_shape[2:]
    columns = n * geom.out_hw[0] * geom.out_hw[1] * c * kh * kw * np.dtype(x.dtype).itemsize
    if len(names) > 1 and columns > AUTOTUNE_MAX_COLUMN_BYTES:
        names.remove("cpu_im2col")
    return names


def autotune(x, geom):
    """Name of the fastest algorithm for this (device, dtype, geometry), timed on first sight
    with random arrays of the layer's shapes, laid out as the layers hand them on (x gives only
    the device and dtype)."""
    xp = get_array_module(x)
    key = (xp.__name__, np.dtype(x.dtype).str, geom)
    if key not in _tuned:
        names = _tuning_candidates(x, geom)
        if len(names) == 1:
            _tuned[key] = {names[0]: 0.0}
        else:
            _tuned[key] = time_algorithms(names, *layer_arrays(xp, geom, x.dtype), geom)
    times = _tuned[key]
    return min(times, key=times.get)


def layer_arrays(xp, geom, dtype, seed=0):
    """Random x (N, C, H, W), w (O, C/G, kh, kw) and dout (N, O, OH, OW) of `dtype` on array
    module xp, x and dout laid out as the layers hand activations on: channels-last on the CPU
    past 3 channels (the first layer reads the NCHW image)."""
    rng = np.random.default_rng(seed)
    x, w, dout = (xp.asarray(rng.standard_normal(shape).astype(dtype))
                  for shape in (geom.x_shape, geom.w_shape, geom.out_shape))
    if is_numpy(xp) and geom.x_shape[1] > 3:
        x, dout = channels_last(x), channels_last(dout)
    return x, w, dout


def tuned():
    """What autotuning measured so far: {(device module, dtype, geometry): {name: seconds}}."""
    return {key: dict(times) for key, times in _tuned.items()}
