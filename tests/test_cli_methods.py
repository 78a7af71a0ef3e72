"""Every method subcommand end to end, in process, on the real SqueezeNet 1.1 and the shared images
(made small with --image-size so the whole file stays fast), and the errors a user meets first."""
import numpy as np
import pytest
from PIL import Image

from tinyconv.cli import SUBCOMMANDS, build_parser, main
from tinyconv.cli.common import PANEL_MIN_SIDE

METHODS = ["filters", "activations", "neighbors", "embed", "patches", "occlusion", "saliency",
           "guided", "gradcam", "smoothgrad", "intgrad"]


@pytest.fixture
def photos(tmp_path, assets):
    """Six ImageNet samples (links into the assets, in a temporary folder)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for source in sorted((assets / "images" / "imagenet_samples").iterdir())[::97][:6]:
        (folder / source.name).symlink_to(source)
    return folder


@pytest.fixture
def run(squeezenet_file, tmp_path):
    """Run `tinyconv COMMAND ...` with the real weights, writing into tmp_path/out."""
    def run_command(command, *args):
        return main([command, "--weights", str(squeezenet_file), "--out", str(tmp_path / "out"),
                     *map(str, args)])
    return run_command


def pictures(folder):
    """{file name: (height, width)} of the PNGs written, each opened to check it is one."""
    return {p.name: Image.open(p).size[::-1] for p in sorted(folder.glob("*.png"))}


def test_every_method_is_registered_with_an_example():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name in METHODS:
        assert name in SUBCOMMANDS
        assert "example" in commands[name].format_help()


@pytest.mark.parametrize("command, args, expected", [
    ("saliency", ["--grabcut", "--class", "bull mastiff"],
     ["dog_saliency_c243", "dog_saliency_c243_mask", "dog_saliency_c243_cutout"]),
    ("guided", ["--mode", "deconvnet", "--layer", "fire5", "--channel", "3"],
     ["dog_deconvnet_fire5-c3"]),
    ("guided", ["--layer", "fire9", "--channel", "7", "--unit", "1", "2"],
     ["dog_guided_fire9-c7-y1x2"]),
    ("gradcam", ["--class", "243", "--layer", "fire7"],
     ["dog_gradcam_c243", "dog_gradcam_c243_guided"]),
    ("smoothgrad", ["--samples", "3", "--batch-size", "3", "--class", "243"],
     ["dog_smoothgrad_c243"]),
    ("intgrad", ["--steps", "4", "--baseline", "black", "--class", "243"],
     ["dog_intgrad_c243"]),
    ("occlusion", ["--size", "32", "--stride", "32", "--class", "243"],
     ["dog_occlusion_c243"]),
])
def test_image_methods(run, assets, tmp_path, capsys, command, args, expected):
    dog = assets / "images" / "content" / "dog.png"
    assert run(command, dog, "--image-size", 64, "--save-npy", *args) == 0
    written = pictures(tmp_path / "out")
    for name in expected:
        assert written[f"{name}.png"] == (64, 64)  # maps at the input's size
    assert (tmp_path / "out" / f"{expected[0]}.npy").exists()
    panel = f"{expected[0]}_panel.png"
    shown = 64 * max(1, PANEL_MIN_SIDE // 64)  # small pictures are enlarged in panels
    assert written[panel][0] == shown and written[panel][1] > 2 * shown
    assert "wrote" in capsys.readouterr().out


def test_activations(run, assets, tmp_path):
    dog = assets / "images" / "content" / "dog.png"
    assert run("activations", dog, "--image-size", 64, "--layer", "fire2", "--channel", 5,
               "--cols", 16, "--save-npy") == 0
    written = pictures(tmp_path / "out")
    act = np.load(tmp_path / "out" / "dog_fire2-concat_activations.npy")
    assert act.shape == (128, 15, 15)  # 64 -> conv1 31 -> pool1 15
    tile = 15 * 2  # maps under 32 pixels are enlarged
    assert written["dog_fire2-concat_activations.png"] == (8 * tile + 7, 16 * tile + 15)
    shown = 64 * max(1, PANEL_MIN_SIDE // 64)  # small pictures are enlarged in panels
    assert written["dog_fire2-concat_c5_overlay.png"] == (shown, 2 * shown + 4)


def test_map_sizes_and_npy_contents(run, assets, tmp_path, capsys):
    dog = assets / "images" / "content" / "dog.png"
    assert run("intgrad", dog, "--image-size", 64, "--steps", "8", "--save-npy") == 0
    assert "completeness: attributions sum to" in capsys.readouterr().out
    written = pictures(tmp_path / "out")
    name = next(n for n in written if n.startswith("dog_intgrad_c") and "panel" not in n)
    assert written[name] == (64, 64)
    assert np.load(tmp_path / "out" / name.replace(".png", ".npy")).shape == (3, 64, 64)


def test_filters(run, tmp_path):
    assert run("filters") == 0
    assert run("filters", "--layer", "fire2/expand3x3", "--max-filters", "4", "--max-channels",
               "5", "--zoom", "2", "--save-npy") == 0
    written = pictures(tmp_path / "out")
    assert written["filters_conv1.png"] == (8 * 24 + 7, 8 * 24 + 7)  # 64 tiles of 3x3, zoom 8
    assert written["filters_fire2-expand3x3.png"] == (4 * 6 + 3, 5 * 6 + 4)
    assert np.load(tmp_path / "out" / "filters_fire2-expand3x3.npy").shape == (64, 16, 3, 3)


def test_folder_methods(run, photos, tmp_path, capsys):
    cache = tmp_path / "cache"
    query = sorted(photos.iterdir())[0]
    common = ["--image-size", 64, "--cache-dir", cache]
    assert run("neighbors", photos, "--query", query, "--k", 3, *common) == 0
    assert run("embed", photos, "--method", "pca", *common) == 0
    assert run("embed", photos, "--method", "tsne", "--iters", 250, *common) == 0
    assert run("patches", photos, "--layer", "fire3", "--channel", 1, 2, "--top", 3,
               "--image-size", 64, "--cache-dir", cache) == 0
    out = capsys.readouterr()
    assert "from the cache" in out.out  # embed reused the features neighbors computed
    assert "fire9/concat features: images 6/6, " in out.err  # progress, on stderr
    written = pictures(tmp_path / "out")
    assert written[f"{query.stem}_neighbors.png"] == (2 * 96 + 3, 4 * 96 + 9)
    for name in ("embed_pca_scatter", "embed_pca_grid", "embed_tsne_scatter", "embed_tsne_grid",
                 "patches_fire3-concat"):
        assert f"{name}.png" in written


@pytest.mark.parametrize("command, args, message", [
    ("saliency", ["--layer", "fire10", "--channel", "0"], "no layer 'fire10'; did you mean fire2"),
    ("guided", ["--layer", "fire9", "--channel", "512"],
     r"channel 512 is out of range for fire9/concat, which has 512 channels (0..511)"),
    ("gradcam", ["--class", "tigr cat"], "unknown class name 'tigr cat'; did you mean tiger_cat"),
    ("occlusion", ["--class", "1000"], "class index 1000 is out of range 0..999"),
])
def test_clear_errors(run, assets, capsys, command, args, message):
    assert run(command, assets / "images" / "content" / "dog.png", *args) == 1
    assert message in capsys.readouterr().err


def test_empty_folder_error_names_the_subfolders(run, tmp_path, capsys):
    (tmp_path / "photos" / "cats").mkdir(parents=True)
    assert run("neighbors", tmp_path / "photos", "--query", tmp_path / "q.png") == 1
    err = capsys.readouterr().err
    assert "no images in" in err and ".jpg" in err and "subfolders (cats)" in err


def test_without_weights_or_model_the_builtin_model_is_used(tmp_path, capsys):
    assert main(["filters", "--out", str(tmp_path)]) == 0
    assert "the built-in model: convnetjs_cifar" in capsys.readouterr().err
    assert main(["filters", "--model", "squeezenet1_1", "--out", str(tmp_path)]) == 0


def test_filters_of_a_linear_classifier_are_its_class_templates(tmp_path, capsys):
    assert main(["filters", "--model", "linear_cifar", "--seed", "1", "--out", str(tmp_path),
                 "--save-npy"]) == 0
    assert "fc: 10 class templates of 32x32" in capsys.readouterr().out
    grid = np.asarray(Image.open(tmp_path / "templates_fc.png"))
    assert grid.shape[2] == 3 and grid.shape[1] > 5 * 32 and grid.shape[0] > 2 * 32
    assert np.load(tmp_path / "templates_fc.npy").shape == (10, 3 * 32 * 32)


def test_style_on_a_family_without_a_preset_asks_for_the_layers(tmp_path, capsys):
    picture = tmp_path / "p.png"
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(picture)
    assert main(["style", "--model", "mobilenet_v2", str(picture), "--style", str(picture),
                 "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "mobilenet_v2 has no style preset" in err and "--content-layer" in err
