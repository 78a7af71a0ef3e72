"""Time the depthwise kernels against the generic im2col path on MobileNetV2's depthwise layers.

    python tools/time_depthwise.py                 # batch 1, 224x224, float32

Each distinct depthwise layer shape of mobilenet_v2 (channels-last random input, as the CPU layers
hand activations on): forward (weight preparation + convolution, as conv2d does on every call),
input gradient and weight gradient, in ms, "generic -> depthwise". The two take turns round by
round so that load on a shared machine falls on both; each figure is the median over the rounds
of the fastest of 3 consecutive runs. Prints a Markdown table, the last row weighted by how many
layers have each shape.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tinyconv from this checkout

from tinyconv import models  # noqa: E402
from tinyconv.kernels import im2col  # noqa: E402
from tinyconv.kernels.cpu import depthwise  # noqa: E402
from tinyconv.kernels.cpu.channels_last import channels_last  # noqa: E402
from tinyconv.kernels.cpu.tuning import tune_process  # noqa: E402
from tinyconv.ops.conv import conv_geometry  # noqa: E402

KERNELS = {"generic": im2col, "depthwise": depthwise}


def depthwise_layers(batch, size):
    """{(input shape, stride, padding): [layer names]} of mobilenet_v2's depthwise layers."""
    model = models.model_from_spec(models.arch_spec("mobilenet_v2"), "cpu")
    shapes = model.output_shapes((batch, 3, size, size))
    layers = {}
    for name, layer in model.layers.items():
        if layer.kind == "conv" and layer.groups > 1:
            key = (shapes[layer.inputs[0]], layer.stride, layer.padding)
            layers.setdefault(key, []).append(name)
    return layers


def passes(kernels, x, w, dout, geom):
    wk = kernels.prepare_weight(w, geom)
    return [lambda: kernels.conv_forward(x, kernels.prepare_weight(w, geom), geom),
            lambda: kernels.conv_backward_input(dout, wk, geom),
            lambda: kernels.conv_backward_weight(dout, x, geom)]


def time_layer(x_shape, stride, padding, rounds, rng):
    """{kernels name: [forward, input gradient, weight gradient] ms}."""
    c = x_shape[1]
    x = channels_last(rng.standard_normal(x_shape).astype(np.float32))
    w = rng.standard_normal((c, 1, 3, 3)).astype(np.float32)
    geom = conv_geometry(x.shape, w.shape, stride, padding, 1, c)
    dout = channels_last(rng.standard_normal(geom.out_shape).astype(np.float32))
    runs = {name: passes(kernels, x, w, dout, geom) for name, kernels in KERNELS.items()}
    times = {name: [[], [], []] for name in runs}
    for r in range(rounds + 1):  # the first round warms up
        for name, fns in runs.items():
            for p, fn in enumerate(fns):
                best = float("inf")
                for _ in range(3):
                    start = time.perf_counter()
                    fn()
                    best = min(best, time.perf_counter() - start)
                if r:
                    times[name][p].append(best * 1e3)
    return {name: [statistics.median(t) for t in ts] for name, ts in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    tune_process()
    rng = np.random.default_rng(0)
    total = {name: [0.0] * 3 for name in KERNELS}
    print("| layer shape (layers) | forward ms | input gradient ms | weight gradient ms |")
    print("|---|---:|---:|---:|")
    for (x_shape, stride, padding), names in depthwise_layers(args.batch, args.size).items():
        ms = time_layer(x_shape, stride, padding, args.rounds, rng)
        for name in KERNELS:
            total[name] = [t + m * len(names) for t, m in zip(total[name], ms[name])]
        cells = " | ".join(f"{g:.2f} -> {d:.2f}" for g, d in zip(ms["generic"], ms["depthwise"]))
        print(f"| {x_shape[1]} ch, {x_shape[2]}x{x_shape[3]}, stride {stride} "
              f"({len(names)}) | {cells} |")
    cells = " | ".join(f"{g:.1f} -> {d:.1f}" for g, d in zip(total["generic"], total["depthwise"]))
    print(f"| all depthwise layers | {cells} |")


if __name__ == "__main__":
    main()
