"""Time Efros & Leung texture synthesis: a 64 x 64 sample grown to 128 x 128 with window 11.

    python tools/time_efros_leung.py --out /tmp/efros_leung.png
    python tools/time_efros_leung.py --sample path/to/texture.png --order scanline --window 15

The default sample is a 128 x 128 crop of the sky in starry_night.jpg from the shared assets
(TINYCONV_ASSETS, default ../shared/assets), downscaled to 64 x 64. --out saves the sample and the
result side by side.
"""
import argparse
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image

import tinyconv
from tinyconv.methods import efros_leung_synthesize

ASSETS = Path(os.environ.get("TINYCONV_ASSETS", Path(__file__).resolve().parents[2] / "shared"
                            / "assets"))
STARRY_SKY = (420, 20, 548, 148)  # (left, top, right, bottom) in starry_night.jpg


def default_sample(size):
    painting = Image.open(ASSETS / "images" / "styles" / "starry_night.jpg").convert("RGB")
    return np.asarray(painting.crop(STARRY_SKY).resize((size, size), Image.LANCZOS))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", help="texture image (default: a starry_night crop)")
    parser.add_argument("--sample-size", type=int, default=64, help="sample side in px [64]")
    parser.add_argument("--size", type=int, default=128, help="output side in px [128]")
    parser.add_argument("--window", type=int, default=11, help="neighbourhood size [11]")
    parser.add_argument("--order", default="onion", choices=["onion", "scanline"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="save sample | result as a PNG here")
    args = parser.parse_args()
    tinyconv.tune_process()  # the settings `tinyconv` runs under

    if args.sample:
        image = Image.open(args.sample).convert("RGB")
        sample = np.asarray(image.resize((args.sample_size, args.sample_size), Image.LANCZOS))
    else:
        sample = default_sample(args.sample_size)
    start, cpu_start = time.perf_counter(), time.process_time()
    result = efros_leung_synthesize(sample, (args.size, args.size), window=args.window,
                                    order=args.order, seed=args.seed)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    print(f"Efros-Leung {args.order}: {sample.shape[1]}x{sample.shape[0]} sample -> "
          f"{args.size}x{args.size}, window {args.window}: {seconds:.1f} s wall "
          f"({seconds / args.size ** 2 * 1e3:.2f} ms per pixel), {cpu:.1f} s CPU "
          f"(load average {os.getloadavg()[0]:.1f})")
    if args.out:
        side = np.full((args.size, sample.shape[1], 3), 255, np.uint8)
        side[:sample.shape[0]] = sample
        Image.fromarray(np.concatenate([side, result], 1)).save(args.out)
        print(f"saved {args.out}")


if __name__ == "__main__":
    main()
