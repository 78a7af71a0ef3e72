"""Every kind of method, end to end through the command line, on DenseNet-121 and GoogLeNet with
random weights and 64x64 pictures: the branch-and-concatenate tables work with filters,
activations, gradient maps, Grad-CAM and DeepDream at the family's default layers, patches
(receptive fields through branches) and class visualization."""
import numpy as np
import pytest
from PIL import Image

from tinyconv.cli import main

# (architecture, a mid-depth layer, its Grad-CAM default, its DeepDream default)
FAMILIES = [("densenet121", "features.denseblock2", "relu", "features.denseblock3"),
            ("googlenet", "inception4c", "inception5b", "inception4c")]


@pytest.fixture
def pictures(tmp_path):
    """Two 64x64 noise pictures in a folder."""
    folder = tmp_path / "pics"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(
            folder / f"p{i}.png")
    return folder


@pytest.mark.parametrize("arch, middle, cam_layer, dream_layer", FAMILIES)
def test_methods_run_on_concat_families(tmp_path, pictures, capsys, arch, middle, cam_layer,
                                        dream_layer):
    out = tmp_path / "out"
    image = pictures / "p0.png"

    def run(command, *args):
        assert main([command, "--model", arch, "--out", str(out), *map(str, args)]) == 0
        return capsys.readouterr().out

    run("filters")
    run("activations", image, "--image-size", 64, "--layer", middle, "--channel", 1)
    assert f"Grad-CAM at {cam_layer}" in run("gradcam", image, "--image-size", 64, "--class", 1)
    run("guided", image, "--image-size", 64, "--class", 1)
    run("saliency", image, "--image-size", 64, "--class", 1)
    run("deepdream", image, "--steps", 1, "--octaves", 1)
    assert (out / f"p0_dream_{dream_layer}.png").exists()
    run("patches", pictures, "--layer", middle, "--channel", 0, "--top", 2, "--image-size", 64)
    run("visualize", "--class", 1, "--steps", 1, "--size", 64)
    names = [p.name for p in out.glob("*.png")]
    assert len(names) >= 8, names
