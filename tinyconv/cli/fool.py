"""`tinyconv fool --target CLASS IMAGES...`: fooling images, a small iterative change that makes the
network predict a chosen class (targeted, normalized gradient steps, CS231n)."""
import numpy as np

from ..image import list_images
from ..methods.adversarial import (FOOLING_LOOP_DEFAULTS, FOOLING_OBJECTIVES, difference_panel,
                                   fooling_images, pixel_change)
from ..methods.objectives import class_index
from .common import (add_images_arg, add_model_args, add_output_args, add_parser, add_strict_arg,
                     load_model_from_args, output_stems, readable_batches, save_picture)
from .targets import class_name, require_class_scores
from .loop import add_loop_args, loop_kwargs, report_end, stop_if_interrupted
from .types import batch_size

EXAMPLE = """examples:
  tinyconv fool --weights squeezenet1_1.h5 --target stingray dog.png
  tinyconv fool --weights squeezenet1_1.h5 --random-targets --batch-size 10 imagenet_samples/

Writes --out/IMAGE_fool_cTARGET.png: original | adversarial | difference | 10x difference
(differences around mid-grey), and prints the probabilities before and after, the steps, and
the change in 0..255 pixel units (L-infinity) and relative to the image (L2). The model sees the
8-bit rounded image during the attack, so the saved PNG fools it as reported."""


def register(subparsers):
    p = add_parser(subparsers, "fool", "targeted fooling images", __doc__, EXAMPLE)
    add_images_arg(p, "image files or folders")
    add_model_args(p)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--target", metavar="CLASS", help="class to make the model predict")
    target.add_argument("--random-targets", action="store_true",
                        help="a random target class (not the predicted one) per image, "
                             "from --seed")
    p.add_argument("--objective", choices=FOOLING_OBJECTIVES, default="log_probability",
                   help="what to ascend: log p(target) or the raw score [log_probability]")
    p.add_argument("--batch-size", type=batch_size, default=1,
                   help="images attacked together [1]")
    add_strict_arg(p)
    add_output_args(p)
    add_loop_args(p, FOOLING_LOOP_DEFAULTS, "L2 norm of each step (input units)")
    p.set_defaults(func=run)


def run(args):
    model = load_model_from_args(args)
    require_class_scores(model, "fool")
    paths = list_images(args.images)
    if not paths:
        raise FileNotFoundError(f"no images found in {args.images}")
    rng = np.random.default_rng(args.seed)
    changes, steps, names = [], [], output_stems(paths)
    for i, images, batch in readable_batches(args, model, paths, args.batch_size):
        x = model.preprocess(list(images), resize=False).data
        before = model.probabilities(x)
        targets = [class_index(model, args.target)] * len(batch) if args.target else \
            [_random_other(rng, len(p), int(p.argmax())) for p in before]
        fooled = fooling_images(model, x, targets, lr=args.lr, max_steps=args.steps,
                                objective=args.objective,
                                **dict(loop_kwargs(args, model, f"fool_{i:04d}"),
                                       progress=f"fool {_span(i, len(batch), len(paths))}"))
        if fooled.result.interrupted:
            report_end(fooled.result)
        after = model.probabilities(fooled.images)
        linf, relative = pixel_change(model, x, fooled.images)
        adversarial = model.deprocess(fooled.images)
        saved = []
        for j, path in enumerate(batch):
            t, was = targets[j], int(before[j].argmax())
            if fooled.fooled[j]:
                outcome = f"fooled in {fooled.steps[j]} steps"
            elif fooled.result.interrupted:
                outcome = f"not fooled yet, interrupted after {fooled.result.steps} steps"
            else:
                outcome = f"NOT fooled in {args.steps} steps"
            print(f"{path}: {class_name(model, was)} ({before[j][was]:.3f}, target "
                  f"{before[j][t]:.4f}) -> {class_name(model, t)} ({after[j][t]:.3f}); "
                  f"{outcome}; L-inf {linf[j]:.0f}/255, relative L2 {relative[j]:.4f}")
            saved.append(save_picture(args, f"{names[path]}_fool_c{t}",
                                      difference_panel(images[j], adversarial[j])))
        changes.append(np.stack([linf, relative], axis=1))
        steps.append(fooled.steps)
        if fooled.result.interrupted:
            break
    summarize(np.concatenate(steps), np.concatenate(changes))
    stop_if_interrupted(fooled.result.interrupted, *saved)


def summarize(steps, changes):
    """Print success rate, steps and the median / worst changes of the fooled images."""
    ok = steps >= 0
    print(f"fooled {ok.sum()}/{len(steps)} ({ok.mean():.0%})", end="")
    if ok.any():
        linf, relative = changes[ok, 0], changes[ok, 1]
        print(f"; steps median {np.median(steps[ok]):.0f}, max {steps[ok].max()}; L-inf median "
              f"{np.median(linf):.1f}, worst {linf.max():.1f} (0..255); relative L2 median "
              f"{np.median(relative):.4f}, worst {relative.max():.4f}")
    else:
        print()


def _span(first, count, total):
    """"image 3 of 10" or "images 1-4 of 10" (`first` counted from 0)."""
    if count == 1:
        return f"image {first + 1} of {total}"
    return f"images {first + 1}-{first + count} of {total}"


def _random_other(rng, classes, predicted):
    """A uniformly random class other than `predicted`."""
    target = int(rng.integers(classes - 1))
    return target + (target >= predicted)
