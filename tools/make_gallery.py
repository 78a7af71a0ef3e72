"""Run every "looking inside" subcommand on the shared assets and keep small copies of the pictures
for the README gallery (docs/gallery).

    python tools/make_gallery.py --build /tmp/gallery-build --out docs/gallery

Converts SqueezeNet 1.1 and the VGG19 blocks 1-3 weights into --build, runs the commands listed
in COMMANDS there (in this process, through tinyconv.cli.main; the same lines work in a shell),
then copies the pictures named in KEEP to --out. A copy larger than --max-kb is stored with a
256-colour palette, and shrunk if it is still too large. The features of imagenet_samples and
CIFAR-10 are cached, so a second run is quicker.
"""
import argparse
import shlex
import sys
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tinyconv.cli import main as tinyconv  # noqa: E402

ASSETS = Path(__file__).resolve().parent.parent.parent / "shared" / "assets"

# {S}: squeezenet1_1.h5, {V}: vgg19_blocks1-3.h5, {C}: content images, {A}: the assets folder
COMMANDS = """
convert {A}/weights/squeezenet1_1.pth -o {S} --labels {A}/labels/imagenet_class_index.json
convert {A}/weights/vgg19_weights_tf_dim_ordering_tf_kernels_notop_blocks1-3.h5 -o {V}
filters --weights {S}
filters --weights {V}
filters --weights {S} --layer fire3/expand3x3 --max-filters 16 --max-channels 16
activations --weights {S} --layer fire5 {C}/cat_dog.png
activations --weights {S} --layer fire9 --channel 440 {C}/cat_dog.png
activations --weights {V} --layer relu2_1 --image-size 112 --cols 16 {C}/cat_dog.png
guided --weights {S} {C}/dog.png
guided --weights {S} --mode deconvnet {C}/dog.png
guided --weights {S} --layer fire9 --channel 440 {C}/cat_dog.png
gradcam --weights {S} --class 243 {C}/cat_dog.png
gradcam --weights {S} --class "tiger cat" {C}/cat_dog.png
saliency --weights {S} --grabcut {C}/snake.png
saliency --weights {S} --class "garden spider" --grabcut {C}/spider.png
smoothgrad --weights {S} {C}/dog.png
intgrad --weights {S} --steps 64 {C}/snake.png
occlusion --weights {S} {C}/dog.png
neighbors --weights {S} --query {C}/dog.png --query {C}/snake.png --query {C}/eagle.jpg \
    --k 7 {A}/images/imagenet_samples
patches --weights {S} --layer fire5 --channel 220 184 214 176 148 86 --tile 40 \
    {A}/images/imagenet_samples
embed --weights {S} --method tsne --per-class 200 --image-size 224 --thumb 16 \
    {A}/images/cifar10/test
embed --weights {S} --method pca --per-class 200 --image-size 224 --thumb 16 \
    {A}/images/cifar10/test
"""

KEEP = """filters_conv1 filters_conv1_1 filters_fire3-expand3x3 cat_dog_fire5-concat_activations
cat_dog_fire9-concat_c440_overlay cat_dog_relu2_1_activations dog_guided_c243_panel
dog_deconvnet_c243_panel cat_dog_guided_fire9-c440_panel cat_dog_gradcam_c243_panel
cat_dog_gradcam_c282_panel snake_saliency_c56_panel spider_saliency_c74_panel
dog_smoothgrad_c243_panel snake_intgrad_c56_panel dog_occlusion_c243_panel dog_neighbors
snake_neighbors eagle_neighbors patches_fire5-concat embed_tsne_scatter embed_tsne_grid:280
embed_pca_scatter""".split()  # NAME or NAME:KB for a larger budget than --max-kb


def small_copy(source, target, max_kb):
    """Save `source` PNG to `target`, palette-quantized and then halved until under max_kb."""
    image = Image.open(source)
    image = image if image.mode in ("L", "RGB") else image.convert("RGB")
    image.save(target, optimize=True)
    while target.stat().st_size > max_kb * 1024:
        quantized = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        quantized.save(target, optimize=True)
        if target.stat().st_size <= max_kb * 1024:
            break
        image = image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.LANCZOS)
        image.save(target, optimize=True)
    return target.stat().st_size


def gallery_parser(doc):
    """The command line both gallery tools share."""
    parser = argparse.ArgumentParser(description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", type=Path, required=True, help="working folder")
    parser.add_argument("--out", type=Path, default=Path("docs/gallery"))
    parser.add_argument("--max-kb", type=int, default=130)
    parser.add_argument("--only", help="run only the commands containing this text")
    return parser


def run_commands(commands, names, pictures, only=None):
    """Run each `tinyconv` command line of `commands` ({X} filled from names), writing into
    `pictures` unless the line names its own --out; stop at the first failure."""
    for line in commands.replace("\\\n", " ").strip().splitlines():
        if only and only not in line:
            continue
        argv = shlex.split(line.format(**names))
        if argv[0] != "convert" and "--out" not in argv:
            argv += ["--out", str(pictures)]
        print(f"$ tinyconv {line}", flush=True)
        start = time.perf_counter()
        if tinyconv(argv) != 0:
            raise SystemExit(f"failed: tinyconv {line}")
        print(f"  ({time.perf_counter() - start:.0f} s)", flush=True)


def copy_pictures(keep, pictures, out, max_kb, target_name=lambda name: f"{name}.png"):
    """Small copies of the kept pictures ("name[:budget KB]") from `pictures` into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    total = 0
    for entry in keep:
        name, _, budget = entry.partition(":")
        source = pictures / f"{name}.png"
        if source.exists():
            target = out / target_name(name)
            size = small_copy(source, target, int(budget or max_kb))
            total += size
            print(f"{target}: {size / 1024:.0f} KB")
    print(f"gallery: {total / 1024:.0f} KB")


def main():
    args = gallery_parser(__doc__).parse_args()
    args.build.mkdir(parents=True, exist_ok=True)
    names = dict(S=args.build / "squeezenet1_1.h5", V=args.build / "vgg19_blocks1-3.h5",
                 C=ASSETS / "images" / "content", A=ASSETS)
    pictures = args.build / "pictures"
    run_commands(COMMANDS, names, pictures, args.only)
    copy_pictures(KEEP, pictures, args.out, args.max_kb)


if __name__ == "__main__":
    main()
