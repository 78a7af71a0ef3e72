"""Every method subcommand end to end on random-weight ResNet-18 and MobileNetV2 (`--model`,
small pictures): each runs through residual Add rows, depthwise convolutions, ReLU6 and the
folded batch norms, uses the family's default layers where it has them, and writes its pictures."""
import pytest

from tinyconv.cli import main
from conftest import random_picture

# per family: a block layer, an early one, and the family's default Grad-CAM / DeepDream layers
LAYERS = {"resnet18": dict(mid="layer2", early="layer1", map="layer4", dream="layer3"),
          "mobilenet_v2": dict(mid="features.7", early="features.3", map="features.18",
                               dream="features.13")}
SMALL = ["--image-size", "64"]


def commands(layers, photo, folder):
    """(command line, part of the name of a picture it must write, or None: any picture, or
    "no pictures": it prints only) per method; `photo` an image, `folder` a folder of them."""
    mid, early = layers["mid"], layers["early"]
    return [
        (["filters"], "filters_{first}.png"),
        (["activations", photo, "--layer", mid, *SMALL], "_activations.png"),
        (["saliency", photo, *SMALL, "--class", "1"], "p0_saliency_c1.png"),
        (["guided", photo, *SMALL, "--class", "1"], "p0_guided_c1.png"),
        (["guided", photo, *SMALL, "--mode", "deconvnet", "--class", "1"], "p0_deconvnet_c1.png"),
        (["gradcam", photo, *SMALL, "--class", "1"], "p0_gradcam_c1.png"),
        (["smoothgrad", photo, *SMALL, "--samples", "2", "--batch-size", "2", "--class", "1"],
         "p0_smoothgrad_c1.png"),
        (["intgrad", photo, *SMALL, "--steps", "2", "--class", "1"], "p0_intgrad_c1.png"),
        (["occlusion", photo, *SMALL, "--size", "32", "--stride", "32", "--class", "1"],
         "p0_occlusion_c1.png"),
        (["patches", folder, "--layer", mid, "--channel", "0", "--top", "2", *SMALL],
         "patches_"),
        (["neighbors", folder, "--query", photo, "--k", "2", *SMALL], None),
        (["embed", folder, "--method", "pca", "--size", "200", *SMALL], None),
        (["visualize", "--class", "1", "--steps", "2", "--size", "64"], None),
        (["deepdream", photo, "--size", "64", "--steps", "1", "--octaves", "1"],
         f"p0_dream_{layers['dream']}.png"),
        (["style", photo, "--style", photo, "--size", "64", "--steps", "2", "--content-layer",
          mid, "--style-layers", early, mid], None),
        (["texture", photo, "--layers", early, mid, "--size", "48", "48", "--steps", "1"], None),
        (["invert", photo, "--layers", mid, "--steps", "2", *SMALL], None),
        (["fgsm", photo], None),
        (["fool", photo, "--target", "1", "--steps", "1"], None),
        (["classify", photo], "no pictures"),
        (["multifaceted", folder, "--facets", "2", "--steps", "2", "--size", "64", *SMALL],
         None),
    ]


@pytest.mark.parametrize("arch", list(LAYERS))
def test_every_method_runs_on_the_family(arch, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    pictures = [random_picture(folder / f"p{i}.png", (72, 80, 3), seed=i) for i in range(4)]
    first = "conv1" if arch == "resnet18" else "features.0.0"
    for args, expected in commands(LAYERS[arch], pictures[0], folder):
        out = tmp_path / "out" / args[0]
        output = ["--out", str(out)] if expected != "no pictures" else []
        assert main([args[0], "--model", arch, *output, *map(str, args[1:])]) == 0, args
        if not output:
            continue
        written = sorted(p.name for p in out.glob("*.png"))
        assert written, args
        if expected:  # a name, or part of one
            assert any(expected.format(first=first) in name for name in written), \
                (args, written)
    printed = capsys.readouterr().out
    assert f"Grad-CAM at {LAYERS[arch]['map']}" in printed  # the family's default layer
