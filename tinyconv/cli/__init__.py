"""The `tinyconv` command: one subcommand per module, listed explicitly in SUBCOMMANDS.

Each module defines `register(subparsers)`, which adds its parser and sets `func(args)` on it.

Errors: one caused by input (a ValueError or an OSError: a bad file, option value or name) is
printed as one line and exits 1; anything else is a bug and keeps its traceback. --debug or
TINYCONV_DEBUG=1 shows the traceback of input errors too.
"""
import argparse
import importlib
import os
import sys

from ..atomic import handle_sigterm
from ..kernels.cpu.tuning import tune_process
from ..suggest import close_matches, did_you_mean, suggestion
from ..version import __version__

SUBCOMMANDS = [
    "convert",
    "train",
    "train_style",
    "curves",
    "classify",
    "stylize",
    "weights",
    "layers",
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


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors suggest the close names of a misspelt choice (subcommand,
    --model NAME) or option, which argparse before Python 3.14 does not."""

    def _check_value(self, action, value):
        # argparse's own check of a value against `choices` (a private hook, stable since 3.2)
        if action.choices is not None and value not in action.choices:
            hint = did_you_mean(value, action.choices)
            if hint:
                raise argparse.ArgumentError(action, f"invalid choice: {value!r}{hint}")
        super()._check_value(action, value)

    def parse_args(self, args=None, namespace=None):
        parsed, unknown = self.parse_known_args(args, namespace)
        if unknown:
            parser = chosen_parser(self, parsed)
            options = [o for action in parser._actions for o in action.option_strings]
            close = [match for arg in unknown if arg.startswith("-")
                     for match in close_matches(arg.split("=")[0], options, n=1)]
            parser.error(f"unrecognized arguments: {' '.join(unknown)}{suggestion(close)}")
        return parsed


def chosen_parser(parser, namespace):
    """The (sub)parser of the subcommand that `namespace` was parsed by: "tinyconv weights
    fetch" for `tinyconv weights fetch ...`."""
    while True:
        commands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        name = getattr(namespace, commands[0].dest, None) if commands else None
        if name not in (commands[0].choices if commands else {}):
            return parser
        parser = commands[0].choices[name]


def build_parser():
    parser = Parser(
        prog="tinyconv",
        description="See inside convolutional networks: models, weights and visualizations on "
                    "numpy/CuPy.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  tinyconv convert squeezenet1_1.pth     # into the cache, as "
               "squeezenet1_1\n"
               "  tinyconv classify --weights squeezenet1_1 dog.jpg",
    )
    parser.add_argument("--version", action="version", version=f"tinyconv {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of every error, input errors included (also "
                             "TINYCONV_DEBUG=1)")
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
        handle_sigterm()  # SIGTERM runs finally blocks: no temporaries left (tinyconv.atomic)
        tune_process()  # before the first large arrays
        return args.func(args) or 0
    except KeyboardInterrupt as stop:  # Ctrl-C; synthesis runs say where their last image is
        print(f"tinyconv {args.command}: {str(stop) or 'interrupted'}", file=sys.stderr)
        return 130
    except (ValueError, OSError) as e:  # input errors (tinyconv.errors); the rest are bugs
        if args.debug or os.environ.get("TINYCONV_DEBUG", "") not in ("", "0"):
            raise
        print(f"tinyconv {args.command}: error: {input_error_message(e)}", file=sys.stderr)
        return 1


def input_error_message(error):
    """One line for an input error: an OSError as "FILE: reason" rather than "[Errno 2] ...",
    anything else as its message."""
    if isinstance(error, OSError) and error.strerror and error.filename is not None:
        other = f" -> {error.filename2}" if error.filename2 is not None else ""
        return f"{error.filename}{other}: {error.strerror[:1].lower()}{error.strerror[1:]}"
    return str(error) or type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
