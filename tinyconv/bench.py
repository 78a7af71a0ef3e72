"""Benchmark: forward and forward+backward-to-the-input times of standard networks, as JSON.

    tinyconv bench                       # every case on the default device
    tinyconv bench --compare torch       # the same networks in PyTorch, in the same run

Cases: VGG16 (torchvision layout, random frozen weights, 224x224) forward and forward+backward to
the input of one class score at batch 1 and 8; VGG19 up to relu5_1 forward+backward at 512x512;
AlexNet forward+backward. Each case runs in a child process of its own, so its peak memory is its
own: the peak resident set size while the network runs (counted from after its construction),
above the RSS right after imports, so weights, activations and workspace, the same measure for
every framework. Times are the median of repeated runs after
warm-up; GFLOP/s counts the multiply-adds of convolutions and fully connected layers (x2), from
the layer shapes, forward once and backward once more (the input gradient; weights are frozen).

PyTorch is never imported by the tinyconv package: `--compare torch` runs the children with
tools/bench_torch.py from a source checkout, which times the same networks NCHW and channels_last.
"""
import ctypes
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

CLASS_INDEX = 1  # the class score whose input gradient the classifier cases compute
TORCH_RUNNER = Path(__file__).resolve().parent.parent / "tools" / "bench_torch.py"


@dataclass(frozen=True)
class Case:
    name: str
    model: str          # architecture name in tinyconv.models
    last_layer: object  # stop after this layer (None: the whole classifier)
    batch: int
    size: int           # input height = width
    mode: str           # "forward" or "forward_backward"


CASES = [
    Case("vgg16_forward_b1", "vgg16", None, 1, 224, "forward"),
    Case("vgg16_forward_backward_b1", "vgg16", None, 1, 224, "forward_backward"),
    Case("vgg16_forward_b8", "vgg16", None, 8, 224, "forward"),
    Case("vgg16_forward_backward_b8", "vgg16", None, 8, 224, "forward_backward"),
    Case("vgg19_relu5_1_forward_backward_512", "vgg19", "relu5_1", 1, 512, "forward_backward"),
    Case("alexnet_forward_backward_b1", "alexnet", None, 1, 224, "forward_backward"),
]
CASE_NAMES = [case.name for case in CASES]


# ----- measuring, shared by every child process (tinyconv's and tools/bench_torch.py)

def current_rss_mb():
    """Resident set size of this process now, MiB (Linux /proc; 0 where unavailable)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    except OSError:
        return 0.0


def release_memory():
    """Collect garbage and hand freed heap back to the OS (glibc), so that what a model's
    construction left over is not counted as the case's memory."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def reset_peak_rss():
    """Restart the peak-RSS count from the current RSS (Linux: clear_refs 5 resets VmHWM)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss_mb():
    """Peak resident set size since the last reset_peak_rss (or process start), MiB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(step, warmup, repeats, baseline_mb, synchronize=None):
    """(times in ms, peak MiB above baseline_mb) of running step; the peak counts from now."""
    release_memory()
    reset_peak_rss()
    times = time_runs(step, warmup, repeats, synchronize)
    return times, peak_rss_mb() - baseline_mb


def time_runs(step, warmup, repeats, synchronize=None):
    """Wall times (ms) of `repeats` calls of step() after `warmup` untimed ones."""
    sync = synchronize or (lambda: None)
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        step()
        sync()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def summarize(times, gflop, peak_mb):
    """The JSON record of one framework on one case."""
    median = statistics.median(times)
    return {"median_ms": round(median, 2), "min_ms": round(min(times), 2),
            "times_ms": [round(t, 2) for t in times], "gflop_per_s": round(gflop / median * 1e3, 1),
            "peak_mb": round(peak_mb, 1)}


# ----- the networks' arithmetic

def case_model(case, device="cpu", seed=0):
    """tinyconv model of a case, cut after its last layer, random He weights (frozen)."""
    from . import models
    spec = models.arch_spec(case.model)
    return models.model_from_spec(spec, device, last_layer=case.last_layer).init_weights(seed)


def case_gflop(case):
    """GFLOP of one run: 2 x multiply-adds of conv and linear layers, twice with the backward."""
    from . import models
    model = models.model_from_spec(models.arch_spec(case.model), "cpu",
                                   last_layer=case.last_layer)
    shapes = model.output_shapes((case.batch, 3, case.size, case.size))
    flop = 0
    for name, layer in model.layers.items():
        if layer.kind in ("conv", "linear"):
            w_shape = layer.param_shapes()["weight"]
            outputs = int(np.prod(shapes[name])) // w_shape[0]  # output positions per channel
            flop += 2 * outputs * int(np.prod(w_shape))
    return flop * (2 if case.mode == "forward_backward" else 1) / 1e9


# ----- tinyconv's child process

def _tinyconv_step(model, case, x):
    import tinyconv
    last = model.output_name

    if case.mode == "forward":
        def step():
            with tinyconv.no_grad():
                model.forward(x, layers=[last])
        return step

    def step():
        xt = tinyconv.Tensor(x, requires_grad=True)
        out = model.forward(xt, layers=[last])[last]
        objective = out[:, CLASS_INDEX].sum() if case.last_layer is None else out.sum()
        objective.backward()
        return xt.grad
    return step


def run_tinyconv_case(case, device, warmup, repeats):
    """Child process body: time one case in tinyconv, return its JSON record."""
    from . import backend
    device = backend.check_device(device)
    if device == "cpu":
        from .ops import blas_cpu, conv_cpu  # noqa: F401  (imports are not the case's memory)
    baseline = current_rss_mb()
    model = case_model(case, device)
    xp = backend.xp_for(device)
    rng = np.random.default_rng(0)
    x = xp.asarray(rng.standard_normal((case.batch, 3, case.size, case.size), dtype=np.float32))
    sync = backend.cp.cuda.Device().synchronize if device == "gpu" else None
    times, peak = measure(_tinyconv_step(model, case, x), warmup, repeats, baseline, sync)
    if device == "gpu":  # the memory pool holds what the runs needed at most
        peak = backend.cp.get_default_memory_pool().total_bytes() / 2 ** 20
    return summarize(times, case_gflop(case), peak)


# ----- the parent: one child per case and framework

def _run_child(command):
    # the children import this same tinyconv, installed or not
    package_parent = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (package_parent, os.environ.get("PYTHONPATH")) if p)}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark child {' '.join(command[:4])} ... failed:\n"
                           f"{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _child_command(runner, case, device, warmup, repeats, extra=()):
    payload = json.dumps({"case": asdict(case), "device": device, "warmup": warmup,
                          "repeats": repeats})
    head = [sys.executable, "-m", "tinyconv.bench"] if runner is None else \
        [sys.executable, str(runner)]
    return head + ["--child", payload, *extra]


def machine_info():
    """What the numbers were measured on."""
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import scipy
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "scipy": scipy.__version__,
            "date": time.strftime("%Y-%m-%d %H:%M %Z")}


def run(case_names=None, device="cpu", warmup=2, repeats=7, compare=None, rounds=1,
        log=sys.stderr):
    """Run the cases (all by default) and return the report dict.

    compare: None or "torch" (NCHW and channels_last, needs tools/bench_torch.py and torch).
    rounds: run every framework's child this many times in turn (ours, torch, ours, ...) and
    pool their times, which evens out background load on a shared machine.
    """
    cases = [c for c in CASES if case_names is None or c.name in case_names]
    unknown = set(case_names or ()) - set(CASE_NAMES)
    if unknown:
        raise ValueError(f"unknown case(s) {sorted(unknown)}; cases: {', '.join(CASE_NAMES)}")
    sides = {"tinyconv": (None, ())}
    if compare == "torch":
        if not TORCH_RUNNER.exists():
            raise FileNotFoundError(f"--compare torch needs {TORCH_RUNNER} (a source checkout "
                                    f"of tinyconv) and PyTorch installed")
        sides["torch_nchw"] = (TORCH_RUNNER, ("--memory-format", "nchw"))
        sides["torch_channels_last"] = (TORCH_RUNNER, ("--memory-format", "channels_last"))
    elif compare is not None:
        raise ValueError(f"--compare supports 'torch' only, got {compare!r}")
    report = {"machine": machine_info(), "device": device, "warmup": warmup,
              "repeats": repeats, "rounds": rounds, "cases": []}
    for case in cases:
        record = {**asdict(case), "gflop": round(case_gflop(case), 2)}
        runs = {side: [] for side in sides}
        for _ in range(rounds):
            for side, (runner, extra) in sides.items():
                print(f"bench: {case.name} {side}", file=log, flush=True)
                runs[side].append(_run_child(_child_command(runner, case, device, warmup,
                                                            repeats, extra)))
        for side, results in runs.items():
            times = [t for r in results for t in r["times_ms"]]
            record[side] = summarize(times, record["gflop"], max(r["peak_mb"] for r in results))
            if "framework_version" in results[0]:
                record[side]["version"] = results[0]["framework_version"]
        ours = record["tinyconv"]
        for side in sides:
            if side != "tinyconv":
                record[f"time_ratio_vs_{side}"] = round(ours["median_ms"] /
                                                        record[side]["median_ms"], 3)
                record[f"memory_ratio_vs_{side}"] = round(ours["peak_mb"] /
                                                          record[side]["peak_mb"], 3)
        report["cases"].append(record)
    return report


def child_main(argv):
    """`python -m tinyconv.bench --child JSON`: time one case, print its record as JSON."""
    payload = json.loads(argv[argv.index("--child") + 1])
    case = Case(**payload["case"])
    print(json.dumps(run_tinyconv_case(case, payload["device"], payload["warmup"],
                                       payload["repeats"])))


if __name__ == "__main__":
    child_main(sys.argv)
