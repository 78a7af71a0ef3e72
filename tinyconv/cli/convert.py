"""`tinyconv convert SOURCE`: any supported weight source to a tinyconv weight file, kept in the
cache under a name (`--weights NAME` finds it), or written to -o FILE."""
import argparse
from pathlib import Path

from ..models import ARCHITECTURES
from ..weights import convert, write_weights
from ..weights.fetch import cache_dir, cached_path, cached_weights
from ..weights.format import read_source
from .common import output_file

EXAMPLE = """examples:
  tinyconv convert squeezenet1_1.pth                 # cached as squeezenet1_1
  tinyconv convert fast_style_ml5/wave               # cached as wave
  tinyconv convert vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5 --name vgg19_keras
  tinyconv convert squeezenet1_1.pth -o squeezenet1_1.h5 --labels imagenet_class_index.json

SOURCE is a torchvision state_dict .pth (read without PyTorch; pickled code is refused), a Keras 2
VGG16/VGG19 .h5 weight file, or an ml5 fast-style checkpoint folder (manifest.json). Without -o
the result goes to the cache (TINYCONV_CACHE, default ~/.cache/tinyconv) as NAME.h5, NAME being
--name or the source's file name without its extension. 1000-class networks without --labels get
the ImageNet class names."""


def register(subparsers):
    p = subparsers.add_parser("convert", help="convert .pth / Keras .h5 / ml5 weights to tinyconv",
                              description=__doc__, epilog=EXAMPLE,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="weight file or ml5 checkpoint folder")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--name", help="name in the cache (default: SOURCE's name without its "
                                      "extension)")
    where.add_argument("-o", "--output", type=output_file, help="tinyconv .h5 file to write instead of the cache")
    p.add_argument("--force", action="store_true",
                   help="replace cached weights of that name converted from another file")
    p.add_argument("--arch", choices=sorted(ARCHITECTURES),
                   help="architecture (detected from the file when omitted)")
    p.add_argument("--labels", help="class names: imagenet_class_index.json, synset_words.txt, "
                                    "or one name per line")
    p.set_defaults(func=run)


def run(args):
    wf = convert(args.source, arch=args.arch, labels=args.labels)
    name = None if args.output else args.name or default_name(args.source)
    path = write_weights(args.output or cache_target(name, wf, args.force), wf)
    count = sum(v.size for v in wf.params.values())
    cut = f", up to layer {wf.last_layer}" if wf.last_layer else ""
    labels = f", {len(wf.labels)} labels" if wf.labels else ", no labels"
    print(f"{wf.architecture}{cut}: {len(wf.params)} arrays, {count:,} parameters{labels}, "
          f"preprocessing {wf.preprocessing.colour_order} x{wf.preprocessing.scale:g}")
    print(f"wrote {path} (source sha256 {wf.source_sha256[:16]}...)")
    if name:
        print(f"use it as --weights {name}")


def default_name(source):
    """The cache name of a source: its file name without the extension ("wave" for a folder)."""
    path = Path(source).resolve()
    return path.name if path.is_dir() else path.stem


def cache_target(name, wf, force):
    """The cache path for `name`; refuses to replace weights converted from another source."""
    existing = cached_weights(name)
    if existing and not force:
        source_file, sha256 = read_source(existing)
        if sha256 != wf.source_sha256:
            raise FileExistsError(f"the cache already holds weights named {name} (from "
                                  f"{source_file}): give --name OTHER or -o FILE, or --force "
                                  f"to replace them")
    return cached_path(name, cache_dir())
