"""`tinyconv bench`: time VGG16, VGG19 (to relu5_1) and AlexNet forward and backward, as JSON;
with --kernels, every convolution algorithm on every layer shape instead (tinyconv/bench/kernels.py)."""
import argparse
import json

from .. import models
from ..atomic import write_text
from ..bench import kernels as bench_kernels, run as bench
from .common import output_file
from .types import batch_size, non_negative_int, side, step_count

EXAMPLE = """examples:
  tinyconv bench                                   # every case on the default device
  python tools/bench.py --compare torch --repeats 15   # PyTorch too (a source checkout)
  tinyconv bench --cases vgg16_forward_backward_b1 --repeats 11 -o bench.json
  git worktree add ../before HEAD~3 && tinyconv bench --cases vgg16_forward_backward_b1 \\
      --repeats 21 --checkouts ../before                # A/B: this checkout against an older one
  tinyconv bench --kernels -o kernels.json --plot kernels.png   # per-layer kernel benchmark
  tinyconv bench --kernels --models vgg16 --batch 8 --shape 1,64,512,512,64,3

cases: """ + ", ".join(bench.CASE_NAMES) + """

Each framework runs in its own process (peak memory = peak RSS while running, above the RSS after
imports); the frameworks take turns run by run; times are medians after warm-up.
--compare torch runs from a source checkout with PyTorch installed: python tools/bench.py
--compare torch (which passes --torch-runner tools/bench_torch.py); tinyconv itself never
imports torch. Progress goes to stderr, the JSON report to stdout. On a machine shared with other
work, run it at real-time priority (chrt -f 10 tinyconv bench ...) for steadier figures.

--kernels: each distinct conv layer shape of --models (at --size, --batch) and of every --shape,
each algorithm that can compute it on --device (tinyconv.kernels.algorithms), forward, backward
to the input and backward to the weight timed separately (one warm-up run, then the median of
--repeats [5]); ms, GFLOP/s and the fraction of the device's float32 GEMM peak, measured first
(--gemm-size: 2048 on the CPU, 4096 on the GPU); the fastest algorithm of each pass and the
heuristic's choice per shape. --shape """ + bench_kernels.SHAPE_SYNTAX + """: input N x C x H x W,
O output channels, K x K kernel, stride [1], padding [K // 2]."""

KERNEL_ONLY = ("models", "batch", "size", "shape", "plot", "gemm_size")


def register(subparsers):
    p = subparsers.add_parser("bench", help="benchmark standard networks or each conv kernel, "
                                            "JSON report",
                              description=bench.__doc__.split("\n\n")[0], epilog=EXAMPLE,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", nargs="+", metavar="CASE", help="cases to run [all]")
    p.add_argument("--device", choices=("cpu", "gpu"), default=None,
                   help="default: TINYCONV_DEVICE or auto")
    p.add_argument("--warmup", type=non_negative_int, default=None,
                   help="untimed runs per framework [2]; with --kernels, per pass [1]")
    p.add_argument("--repeats", type=step_count, default=None,
                   help="timed runs per framework, the frameworks taking turns [7]; with "
                        "--kernels, per pass [5]")
    p.add_argument("--compare", choices=("torch",), help="also time the same networks in PyTorch")
    p.add_argument("--torch-runner", metavar="FILE",
                   help="the PyTorch side of --compare torch (tools/bench.py passes "
                        "tools/bench_torch.py)")
    p.add_argument("--algorithms", nargs="+", default=["heuristic"], metavar="CHOICE",
                   help="tinyconv convolution algorithm choices, each run as its own side: "
                        "heuristic, autotune or an algorithm name (see "
                        "tinyconv.kernels.algorithms) [heuristic]")
    p.add_argument("--checkouts", nargs="+", metavar="DIR", default=(),
                   help="also time the tinyconv of these source checkouts (e.g. git worktrees "
                        "of older commits), interleaved with this one: an A/B test of versions")
    p.add_argument("--tf32", action="store_true",
                   help="GPU: float32 convolutions and GEMMs on TF32 tensor cores, on every side "
                        "(default: strict FP32 everywhere, PyTorch's cuDNN TF32 turned off too)")
    p.add_argument("-o", "--output", type=output_file, help="also write the JSON report to this file")
    kernels = p.add_argument_group("kernel benchmark (--kernels)")
    kernels.add_argument("--kernels", action="store_true",
                         help="time every convolution algorithm on every layer shape instead")
    kernels.add_argument("--models", nargs="+", metavar="MODEL",
                         choices=models.CLASSIFIERS + ["none"],
                         help=f"networks whose conv layers to time, or none "
                              f"[{' '.join(bench_kernels.DEFAULT_MODELS)}]")
    kernels.add_argument("--batch", type=batch_size,
                         help="batch size N of the models' layers [1]")
    kernels.add_argument("--size", type=side, help="input height = width of the models [224]")
    kernels.add_argument("--shape", action="append", metavar=bench_kernels.SHAPE_SYNTAX,
                         help="also time this layer shape (repeatable)")
    kernels.add_argument("--gemm-size", type=side,
                         help="side of the square GEMM of the peak measurement [2048 CPU, "
                              "4096 GPU]")
    kernels.add_argument("--plot", metavar="FILE.png", type=output_file,
                         help="draw time per layer shape per algorithm to this PNG")
    p.set_defaults(func=run)


def run(args):
    from ..engine.backend import check_device
    device = check_device(args.device)
    if args.kernels:
        report = run_kernels(args, device)
    else:
        given = [f"--{name.replace('_', '-')}" for name in KERNEL_ONLY
                 if getattr(args, name) is not None]
        if given:
            raise ValueError(f"{', '.join(given)} only apply with --kernels")
        report = bench.run(args.cases, device, _default(args.warmup, 2),
                           _default(args.repeats, 7), args.compare, algorithms=args.algorithms,
                           tf32=args.tf32, checkouts=args.checkouts,
                           torch_runner=args.torch_runner)
    text = json.dumps(report, indent=2)
    print(text)
    if args.output:
        write_text(args.output, text + "\n")


def _default(value, default):
    return default if value is None else value


def run_kernels(args, device):
    """The kernel benchmark's report; draws --plot."""
    if args.cases or args.compare or args.algorithms != ["heuristic"] or args.checkouts:
        raise ValueError("--cases, --compare, --algorithms and --checkouts are for the network "
                         "benchmark; --kernels times every algorithm")
    names = bench_kernels.DEFAULT_MODELS if args.models is None else \
        [m for m in args.models if m != "none"]
    batch, size = _default(args.batch, 1), _default(args.size, 224)
    shapes = bench_kernels.collect_shapes(names, batch, size, [bench_kernels.parse_shape(s)
                                                              for s in args.shape or ()])
    report = bench_kernels.run(shapes, device, _default(args.repeats, 5),
                               _default(args.warmup, 1), args.gemm_size,
                               settings={"models": list(names), "batch": batch, "size": size})
    if args.plot:
        from ..bench.plot import kernel_time_chart
        from ..image import save_image
        save_image(args.plot, kernel_time_chart(report))
    return report
