"""CPU time of every CPU convolution strategy on every layer shape of some networks, against the
rules of thumb's choice: the work each kernel does, whatever load other processes put on the
machine.

    python tools/time_layer_work.py resnet50 densenet121 googlenet mobilenet_v2
    OPENBLAS_CORETYPE=Haswell python tools/time_layer_work.py resnet50     # OpenBLAS's AVX2 kernels
    python tools/time_layer_work.py vgg16 --threads 2 --clock wall       # both cores, wall time

Each distinct groups=1 layer shape of the networks at (batch, 3, 224, 224) (depthwise layers have
their kernel of their own), each strategy of tinyconv/kernels/cpu/conv.py that can compute it:
weight preparation + forward + input gradient on random float32 data laid out as the layers hand
it on (algorithms.time_algorithms's run), one untimed run, then the best of `--rounds` rounds in
which the strategies take turns. By default on one core (OpenBLAS and tinyconv's parts
single-threaded; set before numpy loads OpenBLAS) in CPU time. Prints one line per shape and a
Markdown table per network: the rules' choices against the fastest, summed over its shapes.
"""
import argparse
import os
import sys
import time
from pathlib import Path

ARGS = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ARGS.add_argument("models", nargs="+")
ARGS.add_argument("--batch", type=int, default=1)
ARGS.add_argument("--rounds", type=int, default=3)
ARGS.add_argument("--threads", type=int, default=1, help="1 (default) or all cores (0 or 2+)")
ARGS.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
OPTIONS = ARGS.parse_args()
if OPTIONS.threads == 1:
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tinyconv from this checkout

import numpy as np  # noqa: E402

from tinyconv.bench.kernels import model_layer_shapes  # noqa: E402
from tinyconv.kernels import algorithms  # noqa: E402
from tinyconv.kernels.cpu import conv as conv_cpu, parallel  # noqa: E402
from tinyconv.kernels.cpu.tuning import tune_process  # noqa: E402

CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def time_shape(geom, rounds, clock):
    """{strategy: best ms} of preparation + forward + input gradient, the strategies in turns."""
    x, w, dout = algorithms.layer_arrays(np, geom, np.float32)
    runs = {}
    for name in conv_cpu.strategies(geom):
        def run(name=name):
            wk = conv_cpu.prepare_weight(w, geom, name)
            conv_cpu.conv_forward(x, wk, geom)
            conv_cpu.conv_backward_input(dout, wk, geom)
        run()
        runs[name] = run
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(rounds):
        for name, run in runs.items():
            start = clock()
            run()
            best[name] = min(best[name], (clock() - start) * 1e3)
    return best


def main():
    tune_process()
    if OPTIONS.threads == 1:
        parallel.WORKERS = 1
    totals = {}
    for shape in model_layer_shapes(OPTIONS.models, OPTIONS.batch):
        if shape.groups != 1:
            continue
        geom = shape.geometry()
        times = time_shape(geom, OPTIONS.rounds, CLOCKS[OPTIONS.clock])
        rule, fastest = conv_cpu.strategy(geom), min(times, key=times.get)
        print(f"{shape.describe():44s} rules {rule:9s} {times[rule]:8.2f}  fastest {fastest:9s} "
              f"{times[fastest]:8.2f}  {shape.label()[:50]}", flush=True)
        for source in dict.fromkeys(source for source, _ in shape.layers):
            total = totals.setdefault(source, [0, 0.0, 0.0])
            total[0] += 1
            total[1] += times[rule]
            total[2] += times[fastest]
    print("\n| network (distinct shapes) | rules ms | fastest ms | ratio |\n|---|---:|---:|---:|")
    for source, (count, rule_ms, fastest_ms) in totals.items():
        print(f"| {source} ({count}) | {rule_ms:.1f} | {fastest_ms:.1f} | "
              f"{rule_ms / fastest_ms:.3f} |")


if __name__ == "__main__":
    main()
