"""What the subcommands that read folders of images through a model share (neighbors, embed,
patches): their arguments (model, feature reading, --strict, output) and the folder's features
with progress on stderr."""
from ..methods import features
from ..models import defaults_help
from .common import add_model_args, add_output_args, add_strict_arg, progress_printer
from .types import batch_size, side


def add_folder_args(parser, pooled_features=True):
    """add_model_args, the "features" group (--layer and --pooling when pooled_features, then
    --image-size, --batch-size, --cache-dir), --strict and add_output_args."""
    add_model_args(parser)
    group = parser.add_argument_group("features")
    if pooled_features:
        group.add_argument("--layer", help=f"feature layer (default: {defaults_help('vector')}; "
                                           f"relu7 for VGG and AlexNet; otherwise the deepest "
                                           f"spatial layer, fire9 for SqueezeNet)")
        group.add_argument("--pooling", choices=features.POOLINGS, default="avg",
                           help="pooling of a spatial layer [avg]")
    group.add_argument("--image-size", type=side,
                       help="resize every image to SxS (default: the model's resize and crop)")
    group.add_argument("--batch-size", type=batch_size, default=32, help="images per pass [32]")
    group.add_argument("--cache-dir", help="feature cache (default: TINYCONV_CACHE or "
                                           "~/.cache/tinyconv, /features)")
    add_strict_arg(parser)
    add_output_args(parser)


def folder_features(model, args, paths, skip):
    """Features of `paths` under the feature arguments, with progress on stderr; unreadable
    files go to `skip` (a SkipUnreadable)."""
    layer = model.resolve(args.layer or model.default_feature_layer(spatial=False))
    found = features.image_features(model, paths, layer, args.pooling, args.image_size,
                                    args.batch_size, args.cache_dir,
                                    progress_printer(f"{layer} features", "images"), skip)
    cached = " (from the cache)" if found.from_cache else ""
    print(f"{len(found.paths)} images, {layer} {args.pooling} features of size "
          f"{found.values.shape[1]}{cached}")
    return found
