"""`tinyconv convert SOURCE -o OUT.h5`: any supported weight source to a tinyconv weight file."""
import argparse

from ..models import ARCHITECTURES
from ..weights import convert, write_weights

EXAMPLE = """examples:
  tinyconv convert squeezenet1_1.pth -o squeezenet1_1.h5 --labels imagenet_class_index.json
  tinyconv convert vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5 -o vgg19_keras.h5
  tinyconv convert fast_style_ml5/wave -o wave.h5

SOURCE is a torchvision state_dict .pth (read without PyTorch; pickled code is refused), a Keras 2
VGG16/VGG19 .h5 weight file, or an ml5 fast-style checkpoint folder (manifest.json)."""


def register(subparsers):
    p = subparsers.add_parser("convert", help="convert .pth / Keras .h5 / ml5 weights to tinyconv",
                              description=__doc__, epilog=EXAMPLE,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="weight file or ml5 checkpoint folder")
    p.add_argument("-o", "--output", required=True, help="tinyconv .h5 file to write")
    p.add_argument("--arch", choices=sorted(ARCHITECTURES),
                   help="architecture (detected from the file when omitted)")
    p.add_argument("--labels", help="class names: imagenet_class_index.json, synset_words.txt, "
                                    "or one name per line")
    p.set_defaults(func=run)


def run(args):
    wf = convert(args.source, arch=args.arch, labels=args.labels)
    path = write_weights(args.output, wf)
    count = sum(v.size for v in wf.params.values())
    cut = f", up to layer {wf.last_layer}" if wf.last_layer else ""
    labels = f", {len(wf.labels)} labels" if wf.labels else ", no labels"
    print(f"{wf.architecture}{cut}: {len(wf.params)} arrays, {count:,} parameters{labels}, "
          f"preprocessing {wf.preprocessing.colour_order} x{wf.preprocessing.scale:g}")
    print(f"wrote {path} (source sha256 {wf.source_sha256[:16]}...)")
