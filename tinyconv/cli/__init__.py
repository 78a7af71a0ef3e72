"""The `tinyconv` command: one subcommand per module, listed explicitly in SUBCOMMANDS.

Each module defines `register(subparsers)`, which adds its parser and sets `func(args)` on it.
"""
import argparse
import importlib
import sys

SUBCOMMANDS = [
    "convert",
    "classify",
    "weights",
    "bench",
    "filters",
    "activations",
    "neighbors",
    "embed",
    "patches",
    "occlusion",
    "saliency",
    "guided",
    "gradcam",
    "smoothgrad",
    "intgrad",
    "visualize",
    "multifaceted",
    "fool",
    "fgsm",
    "deepdream",
    "invert",
    "texture",
    "style",
    "efros_leung",
]


def build_parser():
    parser = argparse.ArgumentParser(
        prog="tinyconv",
        description="See inside convolutional networks: models, weights and visualizations on "
                    "numpy/CuPy.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  tinyconv convert squeezenet1_1.pth -o squeezenet1_1.h5\n"
               "  tinyconv classify --weights squeezenet1_1.h5 dog.jpg",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"tinyconv.cli.{name}").register(subparsers)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except KeyboardInterrupt as stop:  # Ctrl-C; synthesis runs say where their last image is
        print(f"tinyconv {args.command}: {str(stop) or 'interrupted'}", file=sys.stderr)
        return 130
    except (ValueError, KeyError, FileNotFoundError, TypeError, RuntimeError) as e:
        print(f"tinyconv {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
