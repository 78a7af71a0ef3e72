"""`tinyconv multifaceted --class NAME IMAGES...`: one class (or channel) visualization per facet
of the class (Nguyen et al. 2016): k-means of the images in feature space, ascent from each
cluster's mean image with a centre bias."""
from pathlib import Path

import numpy as np

from ..methods.features import stack_images
from ..models import defaults_help
from ..image import list_images
from ..methods.grids import tile_images
from ..methods.visualization import (DEFAULTS, MULTIFACETED_DEFAULTS, STEP_RULES,
                                      multifaceted_visualization)
from .common import (add_images_arg, add_model_args, add_output_args, add_parser, add_strict_arg,
                     load_model_from_args, readable_batches, save_picture)
from .targets import add_target_args, describe, resolve_target, target_tag
from .loop import (add_loop_args, add_regularizer_args, loop_kwargs,
                   regularizer_kwargs, report_classes, report_end, stop_if_interrupted)
from .types import positive_int, side

EXAMPLE = """examples:
  tinyconv multifaceted --weights squeezenet1_1.h5 --class sorrel --image-size 224 \\
      cifar10/test/horse --max-images 100 --facets 4

Without --class or --layer/--channel the target is the class predicted most often for the
images, or on a network without class scores the strongest channel of its deepest feature map
on them. Writes --out/multifaceted_TARGET.png: the cluster mean images (top row) and the facet
visualizations started from them (bottom row), and one _facetK.png per facet (and
_facetK_stepNNNN.png snapshots with --save-every). The images should show the class (or a group
of related classes); they are clustered by their spatially averaged --feature-layer activations
(default: the last layer before the classifier)."""


def register(subparsers):
    p = add_parser(subparsers, "multifaceted", "multifaceted class visualization",
                   __doc__, EXAMPLE)
    add_images_arg(p, "image files or folders showing the class")
    add_model_args(p)
    p.add_argument("--facets", type=positive_int, default=4,
                   help="k of k-means: facets to show [4]")
    p.add_argument("--feature-layer", help=f"layer whose features are clustered (default: "
                                           f"{defaults_help('vector')}; relu7 for VGG and "
                                           f"AlexNet; otherwise the deepest spatial layer)")
    p.add_argument("--image-size", type=side, metavar="S",
                   help="resize every image to SxS (default: the model's resize and crop)")
    p.add_argument("--max-images", type=positive_int, help="use only the first N images")
    add_target_args(p)
    add_strict_arg(p)
    add_output_args(p)
    add_loop_args(p, {**DEFAULTS, **MULTIFACETED_DEFAULTS}, "step size (input units)",
                  STEP_RULES)
    add_regularizer_args(p)
    p.set_defaults(func=run, centre_bias=MULTIFACETED_DEFAULTS["centre_bias"])


def run(args):
    model = load_model_from_args(args)
    paths = list_images(args.images)[:args.max_images]
    if not paths:
        raise FileNotFoundError(f"no images found in {args.images}")
    [(_, readable, paths)] = readable_batches(args, model, paths, len(paths), args.image_size)
    images = stack_images(model, readable)
    x = model.preprocess(list(images), resize=False).data
    objective = resolve_target(model, args, x)
    tag = target_tag(args, objective)
    on = Path(paths[0]).name if len(paths) == 1 else f"the {len(paths)} images"
    print(f"target: {describe(model, objective, args, on)}")
    print(f"{len(paths)} images, {args.facets} facets")
    kwargs = regularizer_kwargs(args)
    kwargs.pop("size")
    means, facets, written = [], [], []

    def on_facet(k, result, members):
        """Report and write each facet as soon as its ascent ends."""
        print(f"facet {k}: {members.sum()} images")
        report_end(result)
        report_classes(model, result.image, objective.target_class)
        means.append(images[members].mean(axis=0).round().astype(np.uint8))
        facets.append(model.deprocess(result.image)[0])
        written.append(save_picture(args, facet_name(tag, k), facets[-1]))

    results, _ = multifaceted_visualization(
        model, objective, x, facets=args.facets, feature_layer=args.feature_layer,
        seed=args.seed, steps=args.steps, lr=args.lr, step_rule=args.step_rule,
        snapshots=lambda k: loop_kwargs(args, model, facet_name(tag, k))["on_snapshot"],
        progress=args.command, progress_every=args.progress_every, save_every=args.save_every,
        on_facet=on_facet, **kwargs)
    grid = tile_images(np.stack(means + facets), rows=2, padding=4, pad_value=255)
    whole = save_picture(args, f"multifaceted_{tag}", grid)
    stop_if_interrupted(results[-1].interrupted, written[-1], whole)


def facet_name(tag, facet):
    """File name (no extension) of facet `facet`'s picture for target tag `tag` (see
    target_tag); its snapshots add _stepNNNN."""
    return f"multifaceted_{tag}_facet{facet}"
