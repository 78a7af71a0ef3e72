"""Class visualizations of 8 ImageNet classes on the real SqueezeNet 1.1, with the defaults of
tinyconv.methods.visualization; prints p(target) and the top class of each picture and writes
the pictures and a labelled grid.

    python tools/class_visualization_gallery.py --weights squeezenet1_1.h5 --out /tmp/classvis
"""
import argparse
import time
from pathlib import Path

import numpy as np

import tinyconv
from tinyconv.image import save_image
from tinyconv.methods.grids import tile_images
from tinyconv.methods.visualization import class_visualization

CLASSES = [1, 76, 130, 145, 366, 949, 980, 985]  # goldfish, tarantula, flamingo, king penguin,
# gorilla, strawberry, volcano, daisy


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--out", default="/tmp/classvis")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--classes", type=int, nargs="+", default=CLASSES)
    args = parser.parse_args()
    model = tinyconv.load_model(args.weights)
    out = Path(args.out)
    pictures = []
    for target in args.classes:
        start = time.perf_counter()
        result = class_visualization(model, target, steps=args.steps, seed=args.seed,
                                     progress=None)
        p = model.probabilities(result.image)[0]
        picture = model.deprocess(result.image)[0]
        pq = model.probabilities(model.preprocess(picture, resize=False).data)[0]  # 8-bit
        name = model.labels[target]
        print(f"{target:4d} {name:20s} p(target) {p[target]:.4f} (8-bit PNG {pq[target]:.4f})  "
              f"top {model.labels[int(p.argmax())]}  {time.perf_counter() - start:.0f} s")
        save_image(out / f"class_{target}_{name.replace(' ', '_')}.png", picture)
        pictures.append(picture)
    grid = tile_images(np.stack(pictures), rows=2, padding=4, pad_value=255)
    print("wrote", save_image(out / "class_visualizations.png", grid))


if __name__ == "__main__":
    main()
