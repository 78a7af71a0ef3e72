"""`tinyconv fgsm --epsilon 2 IMAGES...`: fast gradient sign adversarial examples (Goodfellow et al.
2015), untargeted or towards a --target class, for one or several epsilons in 0..255 pixel units."""

import numpy as np

from ..image import list_images
from ..methods.adversarial import difference_panel, fgsm, pixel_change
from ..methods.objectives import class_index
from .common import (add_images_arg, add_model_args, add_output_args, add_parser, add_strict_arg,
                     load_model_from_args, output_stems, readable_batches, save_picture)
from .targets import class_name, require_class_scores
from .types import batch_size, non_negative_floats

EXAMPLE = """examples:
  tinyconv fgsm --weights squeezenet1_1.h5 --epsilon 1,2,8 dog.png
  tinyconv fgsm --weights squeezenet1_1.h5 --epsilon 8 --target stingray dog.png
  tinyconv fgsm --weights squeezenet1_1.h5 --epsilon 1,2,8 --no-pictures imagenet_samples/

Untargeted: one step of EPSILON per pixel along the sign of the gradient of the cross-entropy
of the predicted class (success: the prediction changes). Targeted: against the gradient of
the target's cross-entropy (success: the target is predicted). Writes
--out/IMAGE_fgsm_eEPS.png: original | adversarial | difference | 10x difference."""


def register(subparsers):
    p = add_parser(subparsers, "fgsm", "fast gradient sign adversarial examples", __doc__,
                   EXAMPLE)
    add_images_arg(p, "image files or folders")
    add_model_args(p)
    p.add_argument("--epsilon", type=non_negative_floats, default=[2.0],
                   help="step per pixel in 0..255 units; several separated by commas [2]")
    p.add_argument("--target", metavar="CLASS", help="targeted attack towards this class")
    p.add_argument("--batch-size", type=batch_size, default=16, help="images per batch [16]")
    p.add_argument("--no-pictures", action="store_true", help="only print the success rates")
    add_strict_arg(p)
    add_output_args(p)
    p.set_defaults(func=run)


def run(args):
    model = load_model_from_args(args)
    require_class_scores(model, "fgsm")
    target = None if args.target is None else class_index(model, args.target)
    paths = list_images(args.images)
    if not paths:
        raise FileNotFoundError(f"no images found in {args.images}")
    success, names = {eps: [] for eps in args.epsilon}, output_stems(paths)
    for _, images, batch in readable_batches(args, model, paths, args.batch_size):
        x = model.preprocess(list(images), resize=False).data
        before = model.predicted_classes(x)
        for eps in args.epsilon:
            adversarial = fgsm(model, x, eps, targets=target)
            after = model.predicted_classes(adversarial)
            ok = after == target if target is not None else after != before
            success[eps].append(ok)
            if args.no_pictures:
                continue
            linf, _ = pixel_change(model, x, adversarial)
            pictures = model.deprocess(adversarial)
            for j, path in enumerate(batch):
                print(f"{path} eps {eps:g}: {class_name(model, before[j])} -> "
                      f"{class_name(model, after[j])} (L-inf {linf[j]:.1f})")
                save_picture(args, f"{names[path]}_fgsm_e{eps:g}",
                             difference_panel(images[j], pictures[j]))
    kind = f"targeted ({class_name(model, target)})" if target is not None else "untargeted"
    for eps, oks in success.items():
        oks = np.concatenate(oks)
        print(f"FGSM {kind} eps {eps:g}: success {oks.sum()}/{len(oks)} ({oks.mean():.1%})")
