"""Benchmark: forward and forward+backward-to-the-input times of standard networks, as JSON.

    tinyconv bench                       # every case on the default device
    tinyconv bench --compare torch       # the same networks in PyTorch, in the same run

Cases: VGG16 (torchvision layout, random frozen weights, 224x224) forward and forward+backward to
the input of one class score at batch 1 and 8; VGG19 up to relu5_1 forward+backward at 512x512;
AlexNet forward+backward; ResNet-50 (batch 1 and 8) and MobileNetV2 (batch 1) forward+backward at
224x224, batch norm in inference (tinyconv folds it into the convolutions); the fast-style
transformer forward at 512x512 (what `tinyconv stylize` runs). Training cases (mode "train"): one
step of training a CIFAR-10 network on a 32x32 batch at its batch size: forward in training mode
(batch norm by batch statistics), cross-entropy on fixed labels, backward to every parameter, one
SGD step (momentum 0.9, Nesterov, weight decay 5e-4).

Each framework runs a case in a child process of its own, all alive at once; the parent asks
them for one timed run each in turn, so load from other processes on a shared machine falls on
every framework alike. Times are the median of those runs after warm-up, and over the quiet
rounds alone (a round: one run of every side; quiet: little CPU stolen by the hypervisor, see
QUIET_STEAL_PERCENT). Peak memory is the peak resident set size during the timed runs
(counted from after the warm-up) above the RSS right after imports: weights, activations and
workspace, the same measure for every framework. GFLOP/s counts the multiply-adds of
convolutions and fully connected layers (x2) from the layer shapes, forward once and backward
once more (the input gradient; weights are frozen), or for a training step twice more (the
input and the weight gradients).

PyTorch is never imported by the tinyconv package, nor does it reach into a source checkout: the
PyTorch children run a script handed to run() (torch_runner), which tools/bench.py does with
tools/bench_torch.py: `python tools/bench.py --compare torch`.
"""
import ctypes
import gc
import importlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..engine import backend

# Pause before each timed run: the worker threads of the framework that ran last (OpenBLAS,
# OpenMP) keep spinning for a while after their work is done and would slow the next one down.
SETTLE_SECONDS = 0.5
# A round (one timed run of every side) is quiet when the hypervisor stole at most this share of
# the machine's CPU time during it. On a shared VM the sides do not suffer alike from steal
# (tinyconv's many short parallel phases wait on each descheduled core, PyTorch's spinning
# OpenMP threads keep theirs), so medians over quiet rounds are reported beside those over all.
QUIET_STEAL_PERCENT = 2.0
MIN_QUIET_ROUNDS = 3  # fewer quiet rounds than this: no quiet medians
CLASS_INDEX = 1  # the class score whose input gradient the classifier cases compute
TORCH_COMPARISON = ("the PyTorch comparison runs from a source checkout of tinyconv, with PyTorch "
                    "installed: python tools/bench.py --compare torch")


@dataclass(frozen=True)
class Case:
    name: str
    model: str          # architecture name in tinyconv.models
    last_layer: object  # stop after this layer (None: the whole classifier)
    batch: int
    size: int           # input height = width
    mode: str           # "forward", "forward_backward" or "train"


CASES = [
    Case("vgg16_forward_b1", "vgg16", None, 1, 224, "forward"),
    Case("vgg16_forward_backward_b1", "vgg16", None, 1, 224, "forward_backward"),
    Case("vgg16_forward_b8", "vgg16", None, 8, 224, "forward"),
    Case("vgg16_forward_backward_b8", "vgg16", None, 8, 224, "forward_backward"),
    Case("vgg19_relu5_1_forward_backward_512", "vgg19", "relu5_1", 1, 512, "forward_backward"),
    Case("alexnet_forward_backward_b1", "alexnet", None, 1, 224, "forward_backward"),
    Case("resnet50_forward_backward_b1", "resnet50", None, 1, 224, "forward_backward"),
    Case("resnet50_forward_backward_b8", "resnet50", None, 8, 224, "forward_backward"),
    Case("mobilenet_v2_forward_backward_b1", "mobilenet_v2", None, 1, 224, "forward_backward"),
    Case("convnetjs_cifar_train_b128", "convnetjs_cifar", None, 128, 32, "train"),
    Case("resnet_cifar_train_b128", "resnet_cifar", None, 128, 32, "train"),
    Case("fast_resnet_cifar_train_b512", "fast_resnet_cifar", None, 512, 32, "train"),
    Case("fast_style_forward_512", "fast_style", None, 1, 512, "forward"),
]
# the training step's SGD settings, the same on every side
TRAIN_SGD = {"lr": 0.01, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4}
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


def summarize(times, gflop, peak_mb):
    """The JSON record of one framework on one case."""
    median = statistics.median(times)
    return {"median_ms": round(median, 2), "min_ms": round(min(times), 2),
            "times_ms": [round(t, 2) for t in times], "gflop_per_s": round(gflop / median * 1e3, 1),
            "peak_mb": round(peak_mb, 1)}


# ----- the networks' arithmetic

def case_model(case, device="cpu", seed=0):
    """tinyconv model of a case, cut after its last layer, random He weights (frozen, or for a
    training case trainable and in training mode)."""
    from .. import models
    spec = models.arch_spec(case.model)
    model = models.model_from_spec(spec, device, last_layer=case.last_layer).init_weights(seed)
    return model.train().requires_grad_(True) if case.mode == "train" else model


def case_labels(case, num_classes):
    """The fixed class labels (batch,) int64 of a training case's batch, the same on every side."""
    return np.random.default_rng(1).integers(0, num_classes, case.batch)


def case_gflop(case):
    """GFLOP of one run: 2 x multiply-adds of conv, transposed conv and linear layers, twice
    with the backward."""
    from .. import models
    model = models.model_from_spec(models.arch_spec(case.model), "cpu",
                                   last_layer=case.last_layer)
    shapes = model.output_shapes((case.batch, 3, case.size, case.size))
    flop = 0
    for name, layer in model.layers.items():
        if layer.kind in ("conv", "linear"):
            w_shape = layer.param_shapes()["weight"]
            outputs = int(np.prod(shapes[name])) // w_shape[0]  # output positions per channel
            flop += 2 * outputs * int(np.prod(w_shape))
        elif layer.kind == "conv_transpose":  # each input position times the whole kernel
            w_shape = layer.param_shapes()["weight"]  # (in, out, k, k)
            n, _, oh, ow = shapes[name]
            flop += 2 * n * (oh // layer.stride) * (ow // layer.stride) * int(np.prod(w_shape))
    return flop * {"forward": 1, "forward_backward": 2, "train": 3}[case.mode] / 1e9


# ----- tinyconv's child process

def _tinyconv_train_step(model, case, x):
    from .. import ops
    from ..engine.optim import SGD
    from ..engine.tensor import Tensor
    labels = case_labels(case, model.num_classes)
    optimizer = SGD(model.parameters(), **TRAIN_SGD)

    def step():
        optimizer.zero_grad()
        loss = ops.cross_entropy(model(Tensor(x)), labels)
        loss.backward()
        optimizer.step()
        return loss
    return step


def _tinyconv_step(model, case, x):
    from ..engine.tensor import Tensor, no_grad
    last = model.output_name

    if case.mode == "train":
        return _tinyconv_train_step(model, case, x)
    if case.mode == "forward":
        def step():
            with no_grad():
                model.forward(x, layers=[last])
        return step

    def step():
        xt = Tensor(x, requires_grad=True)
        out = model.forward(xt, layers=[last])[last]
        objective = out[:, CLASS_INDEX].sum() if case.last_layer is None else out.sum()
        objective.backward()
        return xt.grad
    return step


def serve(step, baseline_mb, synchronize=None, peak_mb=None, info=None, reset_peak=None):
    """The child's side of the protocol: answer the parent's commands on stdin with one JSON
    line each. "warmup" runs step untimed, "time" runs it timed -> {"ms"}, "finish" ->
    {"peak_mb"}: the peak RSS of the timed runs above baseline_mb, or on a GPU peak_mb() of the
    timed runs, counted from reset_peak() before the first."""
    sync = synchronize or (lambda: None)
    release_memory()
    reset_peak_rss()

    def reply(message):
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()
    reply({"ready": True, **(info or {})})
    timing = False
    for line in sys.stdin:
        command = line.strip()
        if command == "warmup":
            sync()
            step()
            sync()
            reply({"ok": True})
        elif command == "time":
            if not timing:  # peak memory of the timed runs only: warm-up may autotune
                release_memory()
                reset_peak_rss()
                if reset_peak:
                    reset_peak()
                timing = True
            sync()
            start = time.perf_counter()
            step()
            sync()
            reply({"ms": (time.perf_counter() - start) * 1e3})
        elif command == "finish":
            reply({"peak_mb": peak_mb() if peak_mb else peak_rss_mb() - baseline_mb})
            return
        else:
            raise ValueError(f"unknown benchmark command {command!r}")


def serve_tinyconv_case(case, device, algorithm="heuristic", tf32=False):
    """Child process body for tinyconv: build the case's network, then serve(). algorithm: the
    convolution algorithm choice (tinyconv.kernels.algorithms); autotuning happens in warm-up.
    tf32: float32 GEMMs on TF32 tensor cores (GPU only)."""
    from ..kernels import algorithms as conv_algorithms
    from ..kernels.cpu.tuning import tune_process
    tune_process()  # as `tinyconv` runs; the PyTorch children never call it
    conv_algorithms.set_algorithm(algorithm)
    device = backend.check_device(device)
    if device == "cpu":
        # import the CPU kernels before the baseline: their imports are not the case's memory
        importlib.import_module("tinyconv.kernels.cpu.conv")
    baseline = current_rss_mb()
    model = case_model(case, device)
    xp = backend.xp_for(device)
    rng = np.random.default_rng(0)
    x = xp.asarray(rng.standard_normal((case.batch, 3, case.size, case.size), dtype=np.float32))
    sync = peak = reset = None
    from ..version import __version__
    version = f"tinyconv {__version__}, numpy {np.__version__}"
    if device == "gpu":
        backend.set_tf32(tf32)
        sync = backend.cp.cuda.Device().synchronize
        pool = backend.cp.get_default_memory_pool()
        reset = pool.free_all_blocks  # the pool only grows: its size after the runs is their peak
        peak = lambda: pool.total_bytes() / 2 ** 20  # noqa: E731
        version += (f", CuPy {backend.cp.__version__}, {backend.gpu_name()}, "
                    f"TF32 {'on' if tf32 else 'off'}")
    serve(_tinyconv_step(model, case, x), baseline, sync, peak, {"version": version},
          reset_peak=reset)


# ----- the parent: one child process per framework, driven one run at a time in turn

class Child:
    """A benchmark child process speaking serve()'s protocol."""

    def __init__(self, command, package_parent=None):
        # the children import this same tinyconv, installed or not, or the one in
        # package_parent (a folder holding a tinyconv package: another checkout); they run in
        # that folder, so that `python -m` does not pick up a tinyconv in the current one
        package_parent = str(package_parent or Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (package_parent, os.environ.get("PYTHONPATH")) if p)}
        self.command = command
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self.stderr, text=True, env=env,
                                        cwd=package_parent)
        self.info = self._read()

    def _read(self):
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            self.stderr.seek(0)
            raise RuntimeError(f"benchmark child {' '.join(self.command[:4])} ... failed:\n"
                               f"{self.stderr.read()[-2000:]}")
        return json.loads(line)

    def ask(self, command):
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._read()

    def finish(self):
        peak = self.ask("finish")["peak_mb"]
        self.process.wait()
        self.stderr.close()
        return peak


def _child_command(runner, case, device, extra=(), algorithm="heuristic", tf32=False):
    payload = json.dumps({"case": asdict(case), "device": device, "algorithm": algorithm,
                          "tf32": tf32})
    head = [sys.executable, "-m", "tinyconv.bench"] if runner is None else \
        [sys.executable, str(runner)]
    return head + ["--child", payload, *extra]


def cpu_times():
    """(steal, total) CPU time counters of the whole machine from /proc/stat, or None. Steal is
    time the hypervisor gave this virtual machine's CPUs to other machines."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def steal_percent(start, end):
    """Share of CPU time stolen by the hypervisor between two cpu_times() readings, percent."""
    if start is None or end is None or end[1] <= start[1]:
        return None
    return round(100.0 * (end[0] - start[0]) / (end[1] - start[1]), 1)


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
            "numpy": np.__version__, "scipy": scipy.__version__, "gpu": backend.gpu_name(),
            "date": time.strftime("%Y-%m-%d %H:%M %Z")}


def run(case_names=None, device="cpu", warmup=2, repeats=7, compare=None, log=sys.stderr,
        algorithms=("heuristic",), tf32=False, checkouts=(), torch_runner=None):
    """Run the cases (all by default) and return the report dict.

    compare: None or "torch" (NCHW and channels_last), which needs torch_runner: the script of
    the PyTorch children (tools/bench_torch.py of a source checkout).
    algorithms: tinyconv's convolution algorithm choices to run, each in its own process: the
    first is reported as "tinyconv", the others as "tinyconv_<choice>" (e.g. tinyconv_autotune,
    which tunes during warm-up). checkouts: other source checkouts of tinyconv (folders holding
    a tinyconv package, e.g. git worktrees of older commits), each run as side "checkout_<i>"
    with the first algorithm choice, interleaved with this one: an A/B test of two versions on a
    machine whose speed drifts (reported with time_ratio_vs_tinyconv). tf32: float32
    convolutions and GEMMs on TF32 tensor cores on every side (GPU only; off means strict FP32
    on every side, cuDNN's default TF32 turned off).
    Every framework runs in its own process, all alive at once, and the parent asks them for one
    timed run each in turn, so background load on a shared machine falls on all of them alike.
    """
    cases = [c for c in CASES if case_names is None or c.name in case_names]
    unknown = set(case_names or ()) - set(CASE_NAMES)
    if unknown:
        raise ValueError(f"unknown case(s) {sorted(unknown)}; cases: {', '.join(CASE_NAMES)}")
    sides = _sides(algorithms, checkouts, compare, torch_runner)
    if tf32 and device != "gpu":
        raise ValueError("tf32 applies to the GPU device only")
    report = {"machine": machine_info(), "device": device, "warmup": warmup,
              "repeats": repeats, "algorithms": list(algorithms), "tf32": tf32,
              "checkouts": {side: str(folder) for side, (*_, folder) in sides.items()
                            if side.startswith("checkout_")}, "cases": []}
    for case in cases:
        report["cases"].append(_run_case(case, sides, device, warmup, repeats, tf32, log))
    return report


def _sides(algorithms, checkouts, compare, torch_runner):
    """{side name: (runner script or None, its extra arguments, algorithm choice, checkout folder
    or None)} for run's algorithms, checkouts, compare and torch_runner (checked here)."""
    from ..kernels import algorithms as conv_algorithms
    for choice in algorithms:
        conv_algorithms.check_choice(choice)
    sides = {("tinyconv" if i == 0 else f"tinyconv_{choice}"): (None, (), choice, None)
             for i, choice in enumerate(algorithms)}
    for i, folder in enumerate(checkouts, start=1):
        folder = Path(folder).resolve()
        if not (folder / "tinyconv" / "__init__.py").is_file():
            raise FileNotFoundError(f"checkout {folder} holds no tinyconv package "
                                    f"(tinyconv/__init__.py)")
        sides[f"checkout_{i}"] = (None, (), algorithms[0], folder)
    if compare == "torch":
        if torch_runner is None:
            raise ValueError(TORCH_COMPARISON)
        if not Path(torch_runner).is_file():
            raise FileNotFoundError(f"no PyTorch runner {torch_runner}; {TORCH_COMPARISON}")
        torch_runner = Path(torch_runner).resolve()  # the children run in another folder
        sides["torch_nchw"] = (torch_runner, ("--memory-format", "nchw"), None, None)
        sides["torch_channels_last"] = (torch_runner, ("--memory-format", "channels_last"), None,
                                        None)
    elif compare is not None:
        raise ValueError(f"--compare supports 'torch' only, got {compare!r}")
    return sides


def _run_case(case, sides, device, warmup, repeats, tf32, log):
    """One case on every side (each in its own child process): the case's record of the report."""
    print(f"bench: {case.name}: starting {', '.join(sides)}", file=log, flush=True)
    record = {**asdict(case), "gflop": round(case_gflop(case), 2)}
    children = {side: Child(_child_command(runner, case, device, extra, choice, tf32),
                            folder)
                for side, (runner, extra, choice, folder) in sides.items()}
    for child in children.values():
        for _ in range(warmup):
            child.ask("warmup")
    times, round_steal, record["cpu_steal_percent"] = _timed_rounds(children, repeats)
    record["round_steal_percent"] = round_steal
    quiet = [i for i, steal in enumerate(round_steal)
             if steal is not None and steal <= QUIET_STEAL_PERCENT]
    record["quiet_rounds"] = len(quiet)
    for side, child in children.items():
        record[side] = summarize(times[side], record["gflop"], child.finish())
        record[side]["version"] = child.info.get("version")
        if len(quiet) >= MIN_QUIET_ROUNDS:
            record[side]["quiet_median_ms"] = round(
                statistics.median(times[side][i] for i in quiet), 2)
    _add_ratios(record, sides)
    print(f"bench: {case.name}: " + ", ".join(f"{side} {_medians(record[side])}"
                                             for side in sides)
          + f" (CPU steal {record['cpu_steal_percent']}%, {len(quiet)} of {repeats} rounds "
            f"quiet)", file=log, flush=True)
    return record


def _timed_rounds(children, repeats):
    """`repeats` rounds of one timed run per child, in rotating order: ({side: [ms]}, the CPU
    steal percent of each round, the steal percent over all rounds)."""
    times = {side: [] for side in children}
    counters = cpu_times()
    round_steal = []
    order = list(children)
    for _ in range(repeats):
        round_start = cpu_times()
        for side in order:
            time.sleep(SETTLE_SECONDS)
            times[side].append(children[side].ask("time")["ms"])
        round_steal.append(steal_percent(round_start, cpu_times()))
        order = order[1:] + order[:1]  # nobody always runs right after the same framework
    return times, round_steal, steal_percent(counters, cpu_times())


def _medians(side_record):
    """"612 ms" or, with quiet rounds, "612 ms (quiet 540)"."""
    text = f"{side_record['median_ms']:.0f} ms"
    if "quiet_median_ms" in side_record:
        text += f" (quiet {side_record['quiet_median_ms']:.0f})"
    return text


def _add_ratios(record, sides):
    """Time and memory ratios of each tinyconv side to each PyTorch side
    (time_ratio_vs_torch_nchw, autotune_time_ratio_vs_..., and quiet_... over the quiet rounds),
    and of each checkout to tinyconv."""
    def ratio(a, b, key):
        if key in record[a] and key in record[b]:
            return round(record[a][key] / record[b][key], 3)
        return None

    for ours in (side for side in sides if side.startswith("tinyconv")):
        prefix = "" if ours == "tinyconv" else ours[len("tinyconv_"):] + "_"
        for side in (side for side in sides if side.startswith("torch")):
            for name, key in (("time", "median_ms"), ("memory", "peak_mb"),
                              ("quiet_time", "quiet_median_ms")):
                value = ratio(ours, side, key)
                if value is not None:
                    record[f"{prefix}{name}_ratio_vs_{side}"] = value
    for side in (side for side in sides if side.startswith("checkout_")):
        for name, key in (("time", "median_ms"), ("quiet_time", "quiet_median_ms")):
            value = ratio(side, "tinyconv", key)
            if value is not None:
                record[f"{side}_{name}_ratio_vs_tinyconv"] = value


def child_main(argv):
    """`python -m tinyconv.bench --child JSON`: serve one case to the parent (see serve)."""
    payload = json.loads(argv[argv.index("--child") + 1])
    serve_tinyconv_case(Case(**payload["case"]), payload["device"], payload["algorithm"],
                        payload.get("tf32", False))


if __name__ == "__main__":
    child_main(sys.argv)
