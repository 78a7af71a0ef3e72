"""`tinyconv weights fetch|list|info`: official weights, the cache, and what a file holds."""
import argparse
from pathlib import Path

from .. import builtin
from ..weights import REGISTRY, cache_dir, fetch, read_weights
from ..weights.fetch import (DEADLINE, STALL_BYTES, STALL_TIMEOUT, DownloadError, cached_names,
                              cached_weights, is_download_of, named_weights)
from ..weights.format import read_source
from .types import positive_float

EXAMPLE = """examples:
  tinyconv weights fetch vgg16
  tinyconv weights list
  tinyconv weights info vgg16

fetch downloads the official torchvision file once (progress on stderr), checks its published
SHA-256, converts it and keeps only the converted file in the cache (TINYCONV_CACHE, default
~/.cache/tinyconv). Later fetches, --weights vgg16 and tinyconv.load_model("vgg16") work offline.
Without a network, --mirror URL fetches the same file from elsewhere, and `tinyconv convert
FILE.pth --name vgg16` caches a copy you have."""


def register(subparsers):
    p = subparsers.add_parser("weights", help="fetch official weights, list the cache, describe weights",
                              description=__doc__, epilog=EXAMPLE,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    f = sub.add_parser("fetch", help="download, verify, convert and cache", epilog=EXAMPLE,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    f.add_argument("name", choices=sorted(REGISTRY))
    f.add_argument("--labels", help="class names to store with the weights")
    f.add_argument("--cache-dir", help="cache folder (default TINYCONV_CACHE or ~/.cache/tinyconv)")
    f.add_argument("--mirror", help="base URL serving the same file names (also TINYCONV_MIRROR)")
    f.add_argument("--force", action="store_true", help="download again even when cached")
    f.add_argument("--quiet", action="store_true", help="no progress bar")
    f.add_argument("--timeout", type=positive_float, default=DEADLINE, metavar="SECONDS",
                   help=f"give up when the download takes longer than this in all [{DEADLINE}]")
    f.add_argument("--stall-timeout", type=positive_float, default=STALL_TIMEOUT,
                   metavar="SECONDS", help=f"give up when fewer than {STALL_BYTES >> 10} KiB "
                                           f"arrive in this time [{STALL_TIMEOUT}]")
    f.set_defaults(func=run_fetch)
    ls = sub.add_parser("list", help="downloadable weights and what is cached", epilog=EXAMPLE,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    ls.add_argument("--cache-dir")
    ls.set_defaults(func=run_list)
    info = sub.add_parser("info", help="architecture, preprocessing, source of a weight file",
                          epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    info.add_argument("weights", help="weight file, or the name of weights in the cache")
    info.set_defaults(func=run_info)


def run_fetch(args):
    try:
        path = fetch(args.name, cache=args.cache_dir, labels=args.labels,
                     progress=False if args.quiet else None, force=args.force,
                     mirror=args.mirror, timeout=args.stall_timeout, deadline=args.timeout)
    except DownloadError as e:
        filename = REGISTRY[args.name].filename
        raise DownloadError(f"{e}; to fetch it anyway: --mirror URL (a server with {filename}; "
                            f"also TINYCONV_MIRROR), or, with a copy of the file at hand, "
                            f"`tinyconv convert {filename} --name {args.name}`") from None
    print(path)


def run_list(args):
    """The downloadable weights, fetched or not, then the other weights in the cache."""
    print(f"cache: {args.cache_dir or cache_dir()}")
    for name, source in REGISTRY.items():
        cached = cached_weights(name, args.cache_dir)
        if cached and not is_download_of(cached, source):
            print(f"  {name:14s} cached  converted from {read_source(cached)[0]}, not the "
                  f"official file")
        else:
            print(f"  {name:14s} {'cached' if cached else '-':6s}  {source.url}")
    for name in cached_names(args.cache_dir):
        if name not in REGISTRY:
            source_file = read_source(cached_weights(name, args.cache_dir))[0]
            print(f"  {name:14s} cached  converted from {source_file}")
    if builtin.NAME not in cached_names(args.cache_dir):
        print(f"  {builtin.NAME:14s} in the package  {builtin.ARCHITECTURE} trained on CIFAR-10 "
              f"(used when no --weights is given)")


def run_info(args):
    wf = read_weights(args.weights if Path(args.weights).exists()
                      else named_weights(args.weights) or args.weights)
    p = wf.preprocessing
    count = sum(v.size for v in wf.params.values())
    cut = f" (up to {wf.last_layer})" if wf.last_layer else ""
    print(f"architecture: {wf.architecture}{cut}")
    print(f"parameters:   {count:,} in {len(wf.params)} arrays")
    print(f"classes:      {wf.num_classes or '-'}; labels: {len(wf.labels or [])}")
    print(f"input:        {p.colour_order}, white = {p.scale:g}, mean {p.mean}, std {p.std}, "
          f"size {p.input_size or 'any'}, resize {p.resize_size or '-'}")
    print(f"source:       {wf.source_file} (sha256 {wf.source_sha256})")
