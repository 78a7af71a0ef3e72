"""`tinyconv efros-leung SAMPLE --size H W`: non-parametric texture synthesis (Efros & Leung 1999),
growing a texture pixel by pixel from neighbourhoods of the sample."""
import time

import numpy as np

from ..methods.texture_efros_leung import ORDERS, SynthesisInterrupted, synthesize
from .common import (add_output_args, add_parser, load_sized, panel, progress_printer,
                     save_picture, stem)
from .loop import stop_if_interrupted
from .types import non_negative_float, seed, side, window

EXAMPLE = """examples:
  tinyconv efros-leung starry_night.jpg --sample-size 64 --size 96 96 --window 11
  tinyconv efros-leung bricks.png --size 128 128 --window 15 --order scanline --seed 3

Writes --out/SAMPLE_efros_leung_wWINDOW.png and a panel (sample | synthesis). Larger windows
keep larger structures and cost more; time grows with the output area times the sample area.
Ctrl-C stops the run and writes the texture grown so far."""


def register(subparsers):
    p = add_parser(subparsers, "efros-leung", "non-parametric texture synthesis", __doc__,
                   EXAMPLE)
    p.add_argument("sample", help="texture image")
    p.add_argument("--sample-size", type=side, default=64,
                   help="longer side of the sample in pixels [64]")
    p.add_argument("--size", type=side, nargs=2, default=(96, 96), metavar=("H", "W"),
                   help="output size [96 96]")
    p.add_argument("--window", type=window, default=11, help="odd neighbourhood size [11]")
    p.add_argument("--threshold", type=non_negative_float, default=0.1,
                   help="sample among matches within (1 + threshold) x the best SSD [0.1]")
    p.add_argument("--order", choices=ORDERS, default="onion", help="growth order [onion]")
    p.add_argument("--seed", type=seed, default=0, help="random seed [0]")
    add_output_args(p)
    p.set_defaults(func=run)


def run(args):
    sample = load_sized(args.sample, args.sample_size)
    start = time.perf_counter()
    interrupted = False
    progress = progress_printer("efros-leung", "pixels")
    try:
        texture = synthesize(sample, tuple(args.size), window=args.window,
                             error_threshold=args.threshold, seed=args.seed, order=args.order,
                             progress=progress)
    except SynthesisInterrupted as stop:
        texture, interrupted = stop.texture, True
    finally:
        progress.close()
    seconds = time.perf_counter() - start
    h, w = texture.shape[:2]
    if interrupted:
        print(f"interrupted after {seconds:.1f} s")
    else:
        print(f"{h}x{w} texture from a {sample.shape[0]}x{sample.shape[1]} sample, window "
              f"{args.window}: {seconds:.1f} s ({h * w / seconds:.0f} pixels/s)")
    name = f"{stem(args.sample)}_efros_leung_w{args.window}"
    path = save_picture(args, name, texture)
    height = max(sample.shape[0], h)
    width = max(sample.shape[1], w)
    whole = save_picture(args, f"{name}_panel", panel(*(_on_canvas(image, height, width)
                                                        for image in (sample, texture))))
    stop_if_interrupted(interrupted, path, whole)


def _on_canvas(image, height, width):
    """`image` (h, w, 3) in the top-left corner of a white (height, width, 3) canvas."""
    canvas = np.full((height, width, 3), 255, np.uint8)
    canvas[:image.shape[0], :image.shape[1]] = image
    return canvas
