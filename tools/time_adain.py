"""Images per second of AdaIN style transfer (tinyconv.methods.fast_style.adain_stylize): the
VGG19 encoder on the content and the painting, AdaIN, the decoder, at a given size.

The decoder's weights are random (He): its speed does not depend on them. The encoder is the
VGG19 file given (relu4_1 decoder when it has relu4_1, else relu3_1). Each timed run stylizes a
batch of `--batch` content images with one painting (the painting's features computed in the
run, as `tinyconv stylize` computes them for every batch).

    python tools/time_adain.py --encoder vgg19_blocks1-3.h5 --size 512 --repeats 5
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tinyconv from this checkout

import tinyconv  # noqa: E402
from tinyconv.methods.fast_style import adain_stylize  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", required=True, help="VGG19 weights (tinyconv-loadable)")
    parser.add_argument("--size", type=int, default=512, help="content and painting side [512]")
    parser.add_argument("--batch", type=int, default=1, help="content images per run [1]")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    tinyconv.tune_process()
    encoder = tinyconv.load_model(args.encoder)
    layer = "relu4_1" if "relu4_1" in encoder.layer_names else "relu3_1"
    encoder = encoder.truncated(layer)
    decoder = tinyconv.models.build(f"adain_decoder_{layer}", seed=0)
    rng = np.random.default_rng(0)
    content = rng.uniform(-1, 1, (args.batch, 3, args.size, args.size)).astype(np.float32)
    painting = rng.uniform(-1, 1, (1, 3, args.size, args.size)).astype(np.float32)
    adain_stylize(encoder, decoder, content, [painting])  # warm-up
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        adain_stylize(encoder, decoder, content, [painting])
        times.append(time.perf_counter() - start)
    median = float(np.median(times))
    print(f"AdaIN ({layer} decoder), {args.batch} x {args.size}x{args.size}: median "
          f"{median:.3f} s a run over {args.repeats}, {args.batch / median:.2f} images/s")


if __name__ == "__main__":
    main()
