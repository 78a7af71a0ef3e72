"""Run the synthesis subcommands on the shared assets (the README's "Synthesis" pictures) and keep
small copies for docs/gallery.

    python tools/make_synthesis_gallery.py --build /tmp/synthesis-build --out docs/gallery

Converts SqueezeNet 1.1 and the VGG19 blocks 1-3 weights into --build, runs COMMANDS there
(through tinyconv.cli.main; the same lines work in a shell, each prints its own timing), then
copies the pictures named in KEEP to --out (palette PNGs under --max-kb, see make_gallery.py).
On 2 shared CPU cores the whole list takes about an hour, most of it VGG19 style transfer at
512 px; --only TEXT runs the matching lines ("classes": the 8-class grid of
tools/class_visualization_gallery.py), --copy-only skips running.
"""
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from make_gallery import ASSETS, copy_pictures, gallery_parser, run_commands  # noqa: E402

# {S}: squeezenet1_1.h5, {V}: vgg19_blocks1-3.h5, {C}: content images, {Y}: style images,
# {A}: the assets folder, {P}: the pictures folder
COMMANDS = """
convert {A}/weights/squeezenet1_1.pth -o {S} --labels {A}/labels/imagenet_class_index.json
convert {A}/weights/vgg19_weights_tf_dim_ordering_tf_kernels_notop_blocks1-3.h5 -o {V}
visualize --weights {S} --class tarantula
visualize --weights {S} --class flamingo
visualize --weights {S} --layer fire6 --channel 12
multifaceted --weights {S} --class sorrel --image-size 224 --max-images 100 --facets 4 \
    {A}/images/cifar10/test/horse
fool --weights {S} --target stingray {C}/dog.png
fgsm --weights {S} --epsilon 1,2,8 {C}/dog.png
deepdream --weights {S} --layer fire6 {C}/sky1024px.jpg
deepdream --weights {S} --layer fire8 --steps 20 {C}/sky1024px.jpg
invert --weights {S} {C}/dog.png --layers relu1 fire3 fire5 fire7 fire9 --steps 500 --tv 1e-4
texture --weights {V} {Y}/starry_night.jpg --sample-size 224 --steps 200 --each-depth
efros-leung {Y}/starry_night.jpg --sample-size 128 --size 160 160 --window 21
style --weights {V} {C}/tubingen.jpg --style {Y}/starry_night.jpg --size 512 --steps 100
style --weights {S} {C}/tubingen.jpg --style {Y}/starry_night.jpg --size 512 --style-scale 0.5 \
    --out {P}/squeezenet
style --weights {V} {C}/tubingen.jpg --style {Y}/starry_night.jpg {Y}/the_scream.jpg \
    --style-blend 0.5 0.5 --size 512 --steps 100 --out {P}/blend
style --weights {V} {C}/tubingen.jpg --style {Y}/starry_night.jpg --size 512 --steps 100 \
    --preserve-colour --out {P}/colour
deepdream --weights {S} --layer fire6 --size 512 {P}/tubingen_starry_night.png
style --weights {S} {C}/tubingen.jpg --style {Y}/starry_night.jpg --size 512 --style-scale 0.5 \
    --steps 150 --dream-layer fire6 --dream-weight 1e-4 --out {P}/styledream
"""

KEEP = """classes/class_visualizations:220 multifaceted_c339 dog_fool_c6 sky1024px_dream_fire6
dog_invert:200 starry_night_texture_depths starry_night_efros_leung_w21_panel
tubingen_starry_night squeezenet/tubingen_starry_night blend/tubingen_starry_night+the_scream
colour/tubingen_starry_night styledream/tubingen_starry_night""".split()


def main():
    parser = gallery_parser(__doc__)
    parser.add_argument("--copy-only", action="store_true", help="only copy the pictures")
    args = parser.parse_args()
    args.build.mkdir(parents=True, exist_ok=True)
    pictures = args.build / "pictures"
    names = dict(S=args.build / "squeezenet1_1.h5", V=args.build / "vgg19_blocks1-3.h5",
                 C=ASSETS / "images" / "content", Y=ASSETS / "images" / "styles", A=ASSETS,
                 P=pictures)
    if not args.copy_only:
        run_commands(COMMANDS, names, pictures, args.only)
    if not args.copy_only and (not args.only or "classes" in args.only):
        tool = Path(__file__).parent / "class_visualization_gallery.py"
        subprocess.run([sys.executable, str(tool), "--weights", str(names["S"]), "--out",
                        str(pictures / "classes")], check=True)
    copy_pictures(KEEP, pictures, args.out, args.max_kb,
                  lambda name: f"synthesis_{name.replace('/', '_')}.png")


if __name__ == "__main__":
    main()
