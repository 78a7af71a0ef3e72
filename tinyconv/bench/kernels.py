"""Kernel benchmark: every convolution algorithm on every conv layer shape of standard networks.

    tinyconv bench --kernels                              # VGG16, VGG19, AlexNet at 224, batch 1
    tinyconv bench --kernels --shape 8,256,56,56,256,3 --models none --plot kernels.png

Why: the network benchmark says how fast a whole model runs; this one says which kernel wins
where, and how far each is from what the device's GEMM can do. For each distinct layer shape
(labelled with the layers that have it) and each algorithm of tinyconv.kernels.algorithms that
can compute it, three passes are timed separately on random float32 data: forward (weight
preparation + convolution, what conv2d does on every call), backward to the input and backward
to the weight (one untimed run, then the median of the timed runs). Each pass is 2 x N x O x OH
x OW x C/groups x kh x kw FLOP. The device's float32 GEMM peak (best of a few square products)
is measured first, and every pass is also given as a fraction of it. (The cpu_* algorithms
share one weight-gradient kernel, so their backward_weight times differ by noise only.) On the
CPU the input and the output gradient are channels-last in memory, as tinyconv's CPU layers
hand them to the next layer, except for 3-channel inputs (images, NCHW as loaded).
"""
import statistics
import sys
from dataclasses import dataclass, field

import numpy as np

from .. import models
from ..engine import backend
from ..kernels import algorithms as conv_algorithms
from ..ops.conv import conv_geometry

DEFAULT_MODELS = ("vgg16", "vgg19", "alexnet")
PASSES = ("forward", "backward_input", "backward_weight")
GEMM_SIZES = {"cpu": 2048, "gpu": 4096}
GEMM_REPEATS = 3
SHAPE_SYNTAX = "N,C,H,W,O,K[,stride[,padding]]"


@dataclass
class LayerShape:
    """One convolution to time: input (N, C, H, W), weight (O, C/groups, K, K), and the layers
    that have it as (source, name) pairs, source a model name or "--shape"."""
    x_shape: tuple
    w_shape: tuple
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1
    layers: list = field(default_factory=list)

    @property
    def key(self):
        return (self.x_shape, self.w_shape, self.stride, self.padding, self.dilation, self.groups)

    def geometry(self):
        return conv_geometry(self.x_shape, self.w_shape, self.stride, self.padding,
                             self.dilation, self.groups)

    def label(self):
        """"vgg16 conv3_2, conv3_3; vgg19 conv3_2, conv3_3, conv3_4" (sources in order)."""
        by_source = {}
        for source, name in self.layers:
            by_source.setdefault(source, []).append(name)
        return "; ".join(f"{source} {', '.join(names)}" for source, names in by_source.items())

    def describe(self):
        """"1x256x56x56 * 256x256x3x3 /1 pad 1": the arithmetic in one line."""
        text = f"{'x'.join(map(str, self.x_shape))} * {'x'.join(map(str, self.w_shape))} " \
               f"/{self.stride} pad {self.padding}"
        if self.dilation != 1:
            text += f" dil {self.dilation}"
        return text + (f" groups {self.groups}" if self.groups != 1 else "")


def model_layer_shapes(model_names=DEFAULT_MODELS, batch=1, size=224):
    """Distinct conv layer shapes of the models at (batch, 3, size, size), in order of first
    appearance, each with every (model, layer name) that has it."""
    shapes = {}
    for name in model_names:
        model = models.model_from_spec(models.arch_spec(name), "cpu")
        outputs = model.output_shapes((batch, 3, size, size))
        outputs["input"] = (batch, 3, size, size)
        for layer_name, layer in model.layers.items():
            if layer.kind != "conv":
                continue
            if not isinstance(layer.padding, int):
                raise ValueError(f"{name} {layer_name}: padding {layer.padding!r} is not a "
                                 f"number; the kernel benchmark takes symmetric padding only")
            shape = LayerShape(outputs[layer.inputs[0]], layer.param_shapes()["weight"],
                               layer.stride, layer.padding, layer.dilation, layer.groups)
            shapes.setdefault(shape.key, shape).layers.append((name, layer_name))
    return list(shapes.values())


def parse_shape(text):
    """LayerShape of "N,C,H,W,O,K[,stride[,padding]]" (padding defaults to K // 2, stride to 1):
    input (N, C, H, W), weight (O, C, K, K). Raises ValueError saying what is wrong."""
    parts = [p.strip() for p in text.split(",")]
    if not 6 <= len(parts) <= 8:
        raise ValueError(f"--shape {text!r}: expected {SHAPE_SYNTAX} (6 to 8 integers), "
                         f"got {len(parts)} field(s)")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"--shape {text!r}: expected integers as {SHAPE_SYNTAX}") from None
    n, c, h, w, o, k = values[:6]
    stride = values[6] if len(values) > 6 else 1
    padding = values[7] if len(values) > 7 else k // 2
    if min(n, c, h, w, o, k, stride) < 1 or padding < 0:
        raise ValueError(f"--shape {text!r}: N, C, H, W, O, K and stride must be >= 1 and "
                         f"padding >= 0 ({SHAPE_SYNTAX})")
    shape = LayerShape((n, c, h, w), (o, c, k, k), stride, padding, layers=[("--shape", text)])
    try:
        shape.geometry()
    except ValueError as e:  # a kernel larger than the padded input
        raise ValueError(f"--shape {text!r}: {e}") from None
    return shape


def collect_shapes(model_names=DEFAULT_MODELS, batch=1, size=224, extra=()):
    """The models' distinct layer shapes, then the extra LayerShapes (merged into an equal one).
    Raises ValueError when a layer cannot be computed at this batch and size."""
    if batch < 1 or size < 1:
        raise ValueError(f"--batch and --size must be >= 1, got {batch} and {size}")
    shapes = {s.key: s for s in model_layer_shapes(model_names, batch, size)}
    for shape in shapes.values():
        try:
            shape.geometry()
        except ValueError as e:
            raise ValueError(f"{shape.label()} at --size {size}: {e}") from None
    for shape in extra:
        if shape.key in shapes:
            shapes[shape.key].layers.extend(shape.layers)
        else:
            shapes[shape.key] = shape
    return list(shapes.values())


def pass_gflop(geom):
    """GFLOP of one pass (forward, or either backward): 2 x multiply-adds."""
    n, o = geom.out_shape[:2]
    return 2 * n * o * int(np.prod(geom.out_hw)) * int(np.prod(geom.w_shape[1:])) / 1e9


def gemm_peak(device, size=None, repeats=GEMM_REPEATS):
    """{"size", "gflop_per_s", "via"}: the best rate of float32 (size, size) @ (size, size)
    products on the device (tinyconv.kernels.cpu.blas.gemm on the CPU, cupy matmul on the GPU)."""
    size = size or GEMM_SIZES[device]
    xp = backend.xp_for(device)
    rng = np.random.default_rng(0)
    a, b = (xp.asarray(rng.standard_normal((size, size), dtype=np.float32)) for _ in range(2))
    if device == "gpu":
        product, via = (lambda: xp.matmul(a, b)), "cupy.matmul"
    else:
        from ..kernels.cpu import blas as blas_cpu
        out = np.empty((size, size), np.float32)
        product, via = (lambda: blas_cpu.gemm(a, b, out)), "tinyconv.kernels.cpu.blas.gemm"
    best_ms = min(backend.time_calls(product, xp, repeats))
    return {"size": size, "gflop_per_s": round(2 * size ** 3 / best_ms / 1e6, 1), "via": via}


def _algorithm_name(kernels):
    return next(name for name, k in conv_algorithms.ALGORITHMS.items() if k is kernels)


def _pass_functions(kernels, x, w, dout, geom):
    wk = kernels.prepare_weight(w, geom)
    return {"forward": lambda: kernels.conv_forward(x, kernels.prepare_weight(w, geom), geom),
            "backward_input": lambda: kernels.conv_backward_input(dout, wk, geom),
            "backward_weight": lambda: kernels.conv_backward_weight(dout, x, geom)}


def benchmark_shape(shape, device, repeats=5, warmup=1, peak_gflop_per_s=None, seed=0,
                    log=None):
    """The record of one LayerShape: every available algorithm's three passes, the winner of
    each pass (least median time) and the heuristic's choice."""
    geom = shape.geometry()
    xp = backend.xp_for(device)
    x, w, dout = conv_algorithms.layer_arrays(xp, geom, np.float32, seed)
    gflop = pass_gflop(geom)
    record = {"label": shape.label(), "layers": [list(pair) for pair in shape.layers],
              "x_shape": list(geom.x_shape), "w_shape": list(geom.w_shape),
              "out_shape": list(geom.out_shape), "stride": shape.stride,
              "padding": shape.padding, "dilation": shape.dilation, "groups": shape.groups,
              "gflop_per_pass": round(gflop, 4),
              "heuristic": _algorithm_name(conv_algorithms.heuristic(x, geom)), "algorithms": {}}
    for name in conv_algorithms.available(x, geom):
        if log:
            print(f"bench --kernels: {shape.describe()} ({shape.label()}): {name}", file=log,
                  flush=True)
        functions = _pass_functions(conv_algorithms.ALGORITHMS[name], x, w, dout, geom)
        record["algorithms"][name] = {
            step: _pass_record(backend.time_calls(fn, xp, repeats, warmup), gflop,
                               peak_gflop_per_s) for step, fn in functions.items()}
    timed = record["algorithms"]
    record["winner"] = {step: min(timed, key=lambda name: timed[name][step]["ms"])
                        for step in PASSES}
    return record


def _pass_record(times_ms, gflop, peak_gflop_per_s):
    median = statistics.median(times_ms)
    rate = gflop / median * 1e3
    record = {"ms": round(median, 4), "times_ms": [round(t, 4) for t in times_ms],
              "gflop_per_s": round(rate, 2)}
    if peak_gflop_per_s:
        record["peak_fraction"] = round(rate / peak_gflop_per_s, 4)
    return record


def device_name(device):
    """The GPU's name, or the CPU model."""
    if device == "gpu":
        props = backend.cp.cuda.runtime.getDeviceProperties(backend.cp.cuda.Device().id)
        return props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    from .run import machine_info
    return machine_info()["cpu"]


def run(shapes, device="cpu", repeats=5, warmup=1, gemm_size=None, log=None, settings=None):
    """Measure the GEMM peak, then every LayerShape; returns the JSON report (dict).
    log: where progress goes (stderr); settings: what else to record about how the shapes were
    chosen (models, batch, size)."""
    from .run import cpu_times, machine_info, steal_percent
    log = log or sys.stderr
    if not shapes:
        raise ValueError("no layer shapes to time: give --models and/or --shape "
                         f"{SHAPE_SYNTAX}")
    if repeats < 1 or warmup < 0:
        raise ValueError(f"--repeats must be >= 1 and --warmup >= 0, got {repeats} and "
                         f"{warmup}")
    print(f"bench --kernels: float32 GEMM peak on {device}", file=log, flush=True)
    peak = gemm_peak(device, gemm_size)
    print(f"bench --kernels: GEMM {peak['size']}: {peak['gflop_per_s']} GFLOP/s; "
          f"{len(shapes)} layer shape(s) to time", file=log, flush=True)
    report = {"machine": machine_info(), "device": device, "device_name": device_name(device),
              "dtype": "float32", "warmup": warmup, "repeats": repeats, **(settings or {}),
              "gemm_peak": peak,
              "shapes": []}
    start = cpu_times()
    for i, shape in enumerate(shapes, 1):
        counters = cpu_times()
        record = benchmark_shape(shape, device, repeats, warmup, peak["gflop_per_s"], log=log)
        record["cpu_steal_percent"] = steal_percent(counters, cpu_times())
        report["shapes"].append(record)
        print(f"bench --kernels: [{i}/{len(shapes)}] {shape.describe()}: fastest " + ", ".join(
            f"{step} {name} {record['algorithms'][name][step]['ms']:.2f} ms"
            for step, name in record["winner"].items())
            + f" (CPU steal {record['cpu_steal_percent']}%)", file=log, flush=True)
    report["cpu_steal_percent"] = steal_percent(start, cpu_times())
    return report
