"""Argument types for every numeric option: numbers are checked where they come in.

Each type is an argparse `type=` function; a value it refuses becomes argparse's usage error,
which names the option: "argument --lr: must be a finite number > 0, got nan". The rule for an
option is the range in which its value means something: NaN and infinities never do, a count or
a batch size is >= 1, a weight, a standard deviation or a pixel shift is >= 0, a fraction is in
0..1, a percentile in 0..100, and an image side is at most what the pixel limit allows (a side
S is an S x S picture; `tinyconv.image.max_input_pixels`, TINYCONV_MAX_INPUT_PIXELS).
"""
import argparse
import math

from ..image import max_input_pixels

SEED_MAX = 2 ** 32 - 1  # numpy's seeds
MAX_STEPS = 1_000_000  # steps, samples, iterations: a day of work on the smallest model
MAX_BATCH = 1024  # items per pass: 1024 images of 224 x 224 are 0.6 GB of input alone


def number(kind, minimum=None, maximum=None, above=None, name=None):
    """A type function reading an int (kind=int) or a finite float (kind=float) in
    [minimum, maximum], and > above when given."""
    def convert(text):
        value = _parse(kind, text)
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum) \
                or (above is not None and value <= above):
            raise argparse.ArgumentTypeError(f"must be {_range(kind, minimum, maximum, above)}, "
                                             f"got {text}")
        return value

    convert.__name__ = name or f"{kind.__name__} {_range(kind, minimum, maximum, above)}"
    return convert


def _parse(kind, text):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {'an integer' if kind is int else 'a number'}"
                                         f", got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def _range(kind, minimum, maximum, above):
    what = "an integer" if kind is int else "a finite number"
    if minimum is not None and maximum is not None:
        return f"{what} in {minimum}..{maximum}"
    if above is not None:
        return f"{what} > {above}"
    if minimum is not None:
        return f"{what} >= {minimum}"
    return what if maximum is None else f"{what} <= {maximum}"


positive_int = number(int, minimum=1, name="positive_int")          # counts, batch sizes
non_negative_int = number(int, minimum=0, name="non_negative_int")  # indices, shifts, 0 = off
seed = number(int, minimum=0, maximum=SEED_MAX, name="seed")
finite_float = number(float, name="finite_float")
positive_float = number(float, above=0, name="positive_float")      # step sizes, exponents
non_negative_float = number(float, minimum=0, name="non_negative_float")  # weights, std devs
fraction = number(float, minimum=0, maximum=1, name="fraction")
percentile = number(float, minimum=0, maximum=100, name="percentile")


def side(text):
    """An image side in pixels: 1 up to the side of a square of TINYCONV_MAX_INPUT_PIXELS."""
    value = _parse(int, text)
    limit = math.isqrt(max_input_pixels())
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a side in pixels >= 1, got {text}")
    if value > limit:
        raise argparse.ArgumentTypeError(
            f"{value} pixels is above the limit of {limit} a side ({value} x {value} is more "
            f"than TINYCONV_MAX_INPUT_PIXELS={max_input_pixels()}; raise it to allow more)")
    return value


def non_negative_floats(text):
    """"1,2,8" -> [1.0, 2.0, 8.0]: finite numbers >= 0 separated by commas."""
    return [non_negative_float(v) for v in text.split(",")]
step_count = number(int, minimum=1, maximum=MAX_STEPS, name="step_count")
batch_size = number(int, minimum=1, maximum=MAX_BATCH, name="batch_size")
octaves = number(int, minimum=1, maximum=32, name="octaves")  # each a fraction of the last
window = number(int, minimum=1, maximum=255, name="window")  # a neighbourhood in pixels
octave_scale = number(float, minimum=1, name="octave_scale")  # < 1 would grow every octave
zoom = number(int, minimum=1, maximum=100, name="zoom")  # pixels per weight
epochs = number(int, minimum=1, maximum=10_000, name="epochs")  # passes over a training set
label_smoothing = number(float, minimum=0, maximum=0.99, name="label_smoothing")  # 1: no label
