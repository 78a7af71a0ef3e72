"""`tinyconv bench`: time VGG16, VGG19 (to relu5_1) and AlexNet forward and backward, as JSON."""
import argparse
import json

from .. import bench

EXAMPLE = """examples:
  tinyconv bench                                   # every case on the default device
  tinyconv bench --compare torch --repeats 15      # PyTorch NCHW and channels_last, same run
  tinyconv bench --cases vgg16_forward_backward_b1 --repeats 11 -o bench.json

cases: """ + ", ".join(bench.CASE_NAMES) + """

Each framework runs in its own process (peak memory = peak RSS while running, above the RSS after
imports); the frameworks take turns run by run; times are medians after warm-up.
--compare torch needs PyTorch and tools/bench_torch.py (a source checkout); tinyconv itself never
imports torch. Progress goes to stderr, the JSON report to stdout. On a machine shared with other
work, run it at real-time priority (chrt -f 10 tinyconv bench ...) for steadier figures."""


def register(subparsers):
    p = subparsers.add_parser("bench", help="benchmark standard networks, JSON report",
                              description=bench.__doc__.split("\n\n")[0], epilog=EXAMPLE,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", nargs="+", metavar="CASE", help="cases to run [all]")
    p.add_argument("--device", choices=("cpu", "gpu"), default=None,
                   help="default: TINYCONV_DEVICE or auto")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs per framework [2]")
    p.add_argument("--repeats", type=int, default=7,
                   help="timed runs per framework, the frameworks taking turns [7]")
    p.add_argument("--compare", choices=("torch",), help="also time the same networks in PyTorch")
    p.add_argument("--algorithms", nargs="+", default=["heuristic"], metavar="CHOICE",
                   help="tinyconv convolution algorithm choices, each run as its own side: "
                        "heuristic, autotune or an algorithm name (see "
                        "tinyconv.ops.conv_algorithms) [heuristic]")
    p.add_argument("-o", "--output", help="also write the JSON report to this file")
    p.set_defaults(func=run)


def run(args):
    from ..backend import check_device
    report = bench.run(args.cases, check_device(args.device), args.warmup, args.repeats,
                       args.compare, algorithms=args.algorithms)
    text = json.dumps(report, indent=2)
    print(text)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text + "\n")
