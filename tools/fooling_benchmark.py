"""Fooling images and FGSM over ImageNet samples on the real SqueezeNet 1.1.

Fooling: each image gets a random target class other than its prediction (from --seed) and is
attacked with tinyconv.methods.adversarial.fooling_images (normalized steps, <= --max-steps);
success is judged on the 8-bit image. FGSM: untargeted, success = the prediction changes.

    python tools/fooling_benchmark.py --weights squeezenet1_1.h5 \
        --images ../shared/assets/images/imagenet_samples --count 100 --out /tmp/fooling
"""
import argparse
import time
from pathlib import Path

import numpy as np

import tinyconv
from tinyconv.image import list_images, load_image, save_image
from tinyconv.methods.adversarial import difference_panel, fgsm, fooling_images, pixel_change


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--images", required=True)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--max-steps", type=int, default=100)
    parser.add_argument("--objective", default="log_probability")
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--epsilons", type=float, nargs="+", default=[1, 2, 8])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="/tmp/fooling")
    args = parser.parse_args()
    tinyconv.tune_process()  # the settings `tinyconv` runs under
    model = tinyconv.load_model(args.weights)
    rng = np.random.default_rng(args.seed)
    paths = list_images([args.images])
    paths = [paths[i] for i in sorted(rng.choice(len(paths), args.count, replace=False))]
    images = np.stack([model.preprocessing.prepare_image(load_image(p)) for p in paths])
    x = model.preprocess(list(images), resize=False).data
    before = model.predicted_classes(x)
    targets = (before + 1 + rng.integers(0, 999, len(x))) % 1000  # never the prediction

    started = time.perf_counter()
    steps, adversarial = [], []
    for i in range(0, len(x), args.batch_size):
        result = fooling_images(model, x[i:i + args.batch_size], targets[i:i + args.batch_size],
                                max_steps=args.max_steps, objective=args.objective,
                                progress=None)
        steps.append(result.steps)
        adversarial.append(result.images)
        print(f"images {i + len(result.steps)}/{len(x)}: steps {result.steps.tolist()} "
              f"({time.perf_counter() - started:.0f} s)", flush=True)
    steps, adversarial = np.concatenate(steps), np.concatenate(adversarial)
    saved = model.deprocess(adversarial)  # the 8-bit pictures
    after = model.predicted_classes(model.preprocess(list(saved), resize=False).data)
    linf, relative = pixel_change(model, x, adversarial)
    ok = (steps >= 0) & (after == targets)
    print(f"fooling ({args.objective}, lr 1, <= {args.max_steps} steps): {ok.sum()}/{len(ok)} "
          f"reach the target (8-bit PNGs re-classified); steps median {np.median(steps[ok]):.0f}"
          f", max {steps[ok].max()}")
    print(f"  L-inf (0..255): median {np.median(linf):.1f}, worst {linf.max():.1f}; relative L2: "
          f"median {np.median(relative):.4f}, worst {relative.max():.4f}; "
          f"{time.perf_counter() - started:.0f} s")
    out = Path(args.out)
    for j in range(3):
        save_image(out / f"fool_{paths[j].stem}_c{targets[j]}.png",
                   difference_panel(images[j], saved[j]))
    for eps in args.epsilons:
        changed = []
        for i in range(0, len(x), args.batch_size):
            batch = x[i:i + args.batch_size]
            changed.append(model.predicted_classes(fgsm(model, batch, eps))
                           != before[i:i + len(batch)])
        changed = np.concatenate(changed)
        print(f"FGSM untargeted eps {eps:g}/255: prediction changed for {changed.sum()}/"
              f"{len(changed)} ({changed.mean():.0%})")
        adv = model.deprocess(fgsm(model, x[:1], eps))[0]
        save_image(out / f"fgsm_{paths[0].stem}_e{eps:g}.png", difference_panel(images[0], adv))


if __name__ == "__main__":
    main()
