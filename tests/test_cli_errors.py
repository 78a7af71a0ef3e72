"""The CLI's error policy and its number checks (issue 15): an input error (a ValueError or an
OSError) is one line naming the problem; anything else is a bug and keeps its traceback;
--debug / TINYCONV_DEBUG=1 shows the traceback of input errors too. Every numeric option takes
a type from tinyconv/cli/types.py, which refuses NaN, infinities and out-of-range values."""
import argparse
import errno
import pickle

import pytest

from tinyconv.cli import build_parser, main
from tinyconv.cli.common import output_file, output_folder
from tinyconv.cli import types
from tinyconv.errors import BadInput, UnknownName
from tinyconv.weights.pth import UnsafePickleError


def _run_raising(monkeypatch, error, argv=("layers", "--model", "squeezenet1_1")):
    """main(argv) with the subcommand's run replaced by one raising `error`."""
    def broken(args):
        raise error
    monkeypatch.setattr("tinyconv.cli.layers.run", broken)
    return main(list(argv))


@pytest.mark.parametrize("error, line", [
    (BadInput("--thing: not good"), "tinyconv layers: error: --thing: not good\n"),
    (UnknownName("no layer 'fire66'"), "tinyconv layers: error: no layer 'fire66'\n"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "w.h5"),
     "tinyconv layers: error: w.h5: no such file or directory\n"),
    (PermissionError(errno.EACCES, "Permission denied", "out/x.png"),
     "tinyconv layers: error: out/x.png: permission denied\n"),
    (UnsafePickleError("w.pth: the pickle asks for os.system"),
     "tinyconv layers: error: w.pth: the pickle asks for os.system\n"),
])
def test_input_errors_are_one_line(monkeypatch, capsys, error, line):
    assert _run_raising(monkeypatch, error) == 1
    assert capsys.readouterr().err == line


@pytest.mark.parametrize("bug", [TypeError("unsupported operand"), KeyError("classifier.6"),
                                 IndexError("index 3 is out of bounds"),
                                 RuntimeError("backward twice"), ZeroDivisionError("division")])
def test_bugs_keep_their_traceback(monkeypatch, bug):
    with pytest.raises(type(bug)):
        _run_raising(monkeypatch, bug)


def test_debug_shows_the_traceback_of_input_errors(monkeypatch):
    with pytest.raises(BadInput):
        _run_raising(monkeypatch, BadInput("x"), ["--debug", "layers", "--model", "vgg11"])
    monkeypatch.setenv("TINYCONV_DEBUG", "1")
    with pytest.raises(BadInput):
        _run_raising(monkeypatch, BadInput("x"))
    monkeypatch.setenv("TINYCONV_DEBUG", "0")
    assert _run_raising(monkeypatch, BadInput("x")) == 1


def test_names_are_key_errors_and_value_errors():
    assert issubclass(UnknownName, KeyError) and issubclass(UnknownName, ValueError)
    assert str(UnknownName("no layer 'x'")) == "no layer 'x'"  # no KeyError quotes
    assert issubclass(UnsafePickleError, pickle.UnpicklingError)
    assert issubclass(UnsafePickleError, ValueError)


PATH_TYPES = (output_file, output_folder)  # paths, checked as such (tests/test_atomic.py)


def _numeric_actions():
    """(command, option, action) of every option of every subcommand that takes a value."""
    def walk(parser, prefix):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, prefix + [name])
            elif action.option_strings and action.type not in (None, *PATH_TYPES):
                yield " ".join(prefix), action.option_strings[-1], action
    return list(walk(build_parser(), []))


def test_every_numeric_option_takes_a_checked_type():
    found = _numeric_actions()
    assert len(found) > 90
    plain = [(c, o) for c, o, a in found if a.type in (int, float)]
    assert plain == [], "give these a type from tinyconv/cli/types.py"
    for command, option, action in found:
        signed = action.type is types.finite_float  # --dream-weight: negative suppresses
        for bad in ("nan", "inf", "-inf", "1e400", "abc") + (() if signed else ("-1",)):
            with pytest.raises(argparse.ArgumentTypeError):
                action.type(bad)


@pytest.mark.parametrize("argv, message", [
    (["visualize", "--model", "squeezenet1_1", "--class", "1", "--lr", "nan"],
     "argument --lr: must be a finite number, got nan"),
    (["fgsm", "x.png", "--epsilon", "nan"], "argument --epsilon: must be a finite number, got nan"),
    (["smoothgrad", "x.png", "--noise", "nan"], "argument --noise: must be a finite number, got nan"),
    (["classify", "x.png", "--top-k", "-1"], "argument --top-k: must be an integer >= 1, got -1"),
    (["classify", "x.png", "--batch-size", "0"],
     "argument --batch-size: must be an integer in 1..1024, got 0"),
    (["patches", "f", "--layer", "fire2", "--top", "0"], "argument --top: must be an integer >= 1"),
    (["filters", "--max-filters", "-3"], "argument --max-filters: must be an integer >= 1"),
    (["activations", "x.png", "--layer", "fire2", "--cols", "0"],
     "argument --cols: must be an integer >= 1, got 0"),
    (["visualize", "--size", "100000"],
     "argument --size: 100000 pixels is above the limit of 4096 a side"),
    (["saliency", "x.png", "--image-size", "-5"], "argument --image-size: must be a side in pixels"),
    (["visualize", "--steps", str(10 ** 12)],
     "argument --steps: must be an integer in 1..1000000, got 1000000000000"),
    (["neighbors", "f", "--query", "q.png", "--k", "nan"],
     "argument --k: must be an integer, got 'nan'"),
    (["classify", "x.png", "--seed", "-1"], "argument --seed: must be an integer in 0..4294967295"),
    (["visualize", "--centre-bias", "2"], "argument --centre-bias: must be a finite number in 0..1"),
])
def test_numbers_from_the_issue_are_refused_with_the_option(capsys, argv, message):
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2 and message in capsys.readouterr().err


def test_side_limit_follows_the_environment(monkeypatch):
    monkeypatch.setenv("TINYCONV_MAX_INPUT_PIXELS", str(100 * 100))
    assert types.side("100") == 100
    with pytest.raises(argparse.ArgumentTypeError, match="TINYCONV_MAX_INPUT_PIXELS=10000"):
        types.side("101")
