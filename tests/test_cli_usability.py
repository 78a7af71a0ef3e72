"""What the `tinyconv` command says to a user who makes a typo, has no network, or has no class
names; --version; `convert` into the cache and finding the weights again by name; `stylize`;
`layers`; the ImageNet class names shipped in the package."""
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import tinyconv
from conftest import random_picture
from tinyconv import models
from tinyconv.cli import main
from tinyconv.image import load_image
from tinyconv.suggest import close_matches, did_you_mean, suggestion
from tinyconv.weights import WeightFile, convert, read_weights, write_pth, write_weights
from tinyconv.weights.convert import IMAGENET_CLASS_INDEX, torchvision_key_map


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty weight cache (TINYCONV_CACHE), and a working folder that must stay empty."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("TINYCONV_CACHE", str(folder))
    monkeypatch.delenv("TINYCONV_MIRROR", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return folder


@pytest.fixture
def picture(tmp_path):
    return random_picture(tmp_path / "picture.png", (40, 56, 3), seed=3)


def torchvision_pth(path, seed=7, num_classes=None):
    """A torchvision-layout SqueezeNet 1.1 state_dict file of random weights."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ours = models.build("squeezenet1_1", seed=seed, num_classes=num_classes).state_dict()
    state = OrderedDict((k, ours[v]) for k, v in
                        torchvision_key_map("squeezenet1_1", num_classes).items())
    return write_pth(path, state)


def error_of(capsys, argv):
    """stderr of `tinyconv ARGV`, which must fail (argparse's exit 2 or the command's 1)."""
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    assert code in (1, 2)
    return capsys.readouterr().err


# ----- point 4: --version, help, stylize, labels

def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"tinyconv {tinyconv.__version__}" == "tinyconv 0.1.0"


def test_help_names_only_actions_that_exist(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    line = next(line for line in capsys.readouterr().out.splitlines()
                if line.strip().startswith("weights "))
    assert "inspect" not in line and "list" in line and "fetch" in line
    for action in ("fetch", "list", "info"):
        with pytest.raises(SystemExit) as stop:
            main(["weights", action, "--help"])
        assert stop.value.code == 0


def test_imagenet_class_index_ships_in_the_package():
    """Inside the package folder (setup.py's package_data installs it there)."""
    assert IMAGENET_CLASS_INDEX.is_file()
    assert IMAGENET_CLASS_INDEX.parent.parent == Path(tinyconv.__file__).parent


def test_a_1000_class_network_without_labels_gets_the_imagenet_names(tmp_path):
    pth = torchvision_pth(tmp_path / "sq.pth")
    wf = convert(pth)
    assert len(wf.labels) == 1000
    assert (wf.labels[0], wf.labels[243], wf.labels[999]) == ("tench", "bull_mastiff",
                                                              "toilet_tissue")
    mine = [f"thing {i}" for i in range(1000)]
    assert convert(pth, labels=mine).labels == mine  # told otherwise
    # a tinyconv file written without names gets them when read through the converters
    bare = WeightFile("squeezenet1_1", wf.params, wf.preprocessing, num_classes=1000)
    path = write_weights(tmp_path / "bare.h5", bare)
    assert read_weights(path).labels is None
    assert tinyconv.load_model(path).labels[243] == "bull_mastiff"


def test_classify_takes_labels_and_says_when_there_are_none(tmp_path, picture, capsys):
    pth = torchvision_pth(tmp_path / "ten.pth", num_classes=10)
    assert convert(pth).labels is None  # not an ImageNet network
    names = tmp_path / "names.txt"
    names.write_text("\n".join(f"kind{i}" for i in range(10)))
    assert main(["classify", "--weights", str(pth), "--top-k", "10", str(picture)]) == 0
    captured = capsys.readouterr()
    assert "(squeezenet1_1 has no class names: --labels FILE gives them)" in captured.err
    assert main(["classify", "--weights", str(pth), "--labels", str(names), "--top-k", "10",
                 str(picture)]) == 0
    captured = capsys.readouterr()
    printed = sorted(line.split()[2] for line in captured.out.splitlines()[1:])
    assert printed == sorted(f"kind{i}" for i in range(10)) and captured.err == ""


def test_a_class_name_on_a_network_without_class_names(tmp_path, picture, capsys):
    pth = torchvision_pth(tmp_path / "ten.pth", num_classes=10)
    err = error_of(capsys, ["saliency", "--weights", str(pth), "--class", "tiger cat",
                            "--out", str(tmp_path / "out"), str(picture)])
    assert err == ("tinyconv saliency: error: squeezenet1_1 has no class names, so 'tiger cat' "
                   "names no class: give an index 0..9, or class names (--labels FILE on the "
                   "command line, model.labels = [...] in Python)\n")


def _fast_style_file(path, seed=1):
    model = models.build("fast_style", seed=seed)
    write_weights(path, WeightFile("fast_style", model.state_dict(), model.preprocessing))
    return model


def test_stylize_writes_what_the_python_api_gives(tmp_path, picture, capsys):
    model = _fast_style_file(tmp_path / "mystyle.h5")
    second = tmp_path / "second.png"
    Image.fromarray(np.full((30, 30, 3), 200, np.uint8)).save(second)
    out = tmp_path / "out"
    assert main(["stylize", "--weights", str(tmp_path / "mystyle.h5"), "--size", "32",
                 str(picture), str(second), "--out", str(out), "--device", "cpu"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"wrote {out / 'picture_mystyle.png'}",
                                                    f"wrote {out / 'second_mystyle.png'}"]
    image = load_image(picture, size=32)
    expected = model.deprocess(model(model.preprocess(image)))[0]
    written = np.asarray(Image.open(out / "picture_mystyle.png"))
    assert written.shape == (32, 44, 3)  # short side 32, aspect kept
    np.testing.assert_array_equal(written, expected)


def test_stylize_refuses_a_classifier(tmp_path, picture, capsys):
    pth = torchvision_pth(tmp_path / "sq.pth")
    err = error_of(capsys, ["stylize", "--weights", str(pth), str(picture)])
    assert "holds squeezenet1_1, not a fast style transfer network" in err


def test_stylize_with_the_ml5_wave_network(assets, cache, tmp_path, capsys):
    folder = assets / "weights" / "fast_style_ml5" / "wave"
    content = assets / "images" / "content" / "chicago.jpg"
    assert main(["convert", str(folder)]) == 0
    assert main(["stylize", "--weights", "wave", "--size", "64", str(content), "--out",
                 str(tmp_path / "out")]) == 0
    written = np.asarray(Image.open(tmp_path / "out" / "chicago_wave.png"))
    style = tinyconv.load_model(folder)
    expected = style.deprocess(style(style.preprocess(load_image(content, size=64))))[0]
    np.testing.assert_array_equal(written, expected)


# ----- point 5: weights that are not there

def test_a_misspelt_weight_file(cache, capsys):
    torchvision_pth(cache.parent / "work" / "squeezenet1_1.pth")
    err = error_of(capsys, ["classify", "--weights", "squeezenet.pth", "x.png"])
    assert err == ("tinyconv classify: error: no such file: squeezenet.pth; did you mean "
                   "squeezenet1_1.pth?\n")


def test_an_uncached_architecture_speaks_cli(cache, capsys):
    err = error_of(capsys, ["filters", "--weights", "vgg16"])
    assert err == ("tinyconv filters: error: no weights for vgg16 in the cache: run `tinyconv "
                   "weights fetch vgg16`, or give --weights FILE, or --model vgg16 for random "
                   "weights\n")
    assert "tinyconv.models.build" not in err


def test_an_unknown_name_lists_the_cache(cache, capsys, tmp_path):
    assert "(the cache is empty)" in error_of(capsys, ["filters", "--weights", "squeezenet"])
    assert main(["convert", str(torchvision_pth(tmp_path / "squeezenet1_1.pth"))]) == 0
    capsys.readouterr()
    err = error_of(capsys, ["filters", "--weights", "squeezenet"])
    assert err == ("tinyconv filters: error: no such file, and no weights named squeezenet in "
                   "the cache; did you mean squeezenet1_1? (cached: squeezenet1_1)\n")


def test_fetch_without_network_names_the_other_ways(cache, capsys):
    err = error_of(capsys, ["weights", "fetch", "vgg16", "--quiet",
                            "--mirror", "http://127.0.0.1:9"])
    assert "cannot download http://127.0.0.1:9/vgg16-397923af.pth" in err
    assert ("to fetch it anyway: --mirror URL (a server with vgg16-397923af.pth; also "
            "TINYCONV_MIRROR), or, with a copy of the file at hand, `tinyconv convert "
            "vgg16-397923af.pth --name vgg16`") in err


# ----- point 7: did you mean

def test_suggestions():
    assert suggestion([]) == ""
    assert suggestion(["a"]) == "; did you mean a?"
    assert suggestion(["a", "b", "a", "c"]) == "; did you mean a, b or c?"
    assert close_matches("fire55", ["fire2", "fire5", "fire9", "conv1"]) == ["fire5"]
    assert close_matches("conv5_4", ["conv5_1", "conv5_2", "conv5_3", "pool5"]) == \
        ["conv5_1", "conv5_2", "conv5_3"]
    assert did_you_mean("zzz", ["fire2", "conv1"]) == ""


def test_misspelt_layer_via_the_cli(tmp_path, picture, capsys):
    err = error_of(capsys, ["saliency", "--model", "squeezenet1_1", "--layer", "fire55",
                            "--channel", "1", "--out", str(tmp_path), str(picture)])
    assert err == ("tinyconv saliency: error: squeezenet1_1 has no layer 'fire55'; did you mean "
                   "fire5? (all 73: `tinyconv layers` on the command line, model.layer_names in "
                   "Python)\n")


def test_layers_lists_every_name_and_alias(capsys):
    assert main(["layers", "--model", "squeezenet1_1", "--image-size", "64"]) == 0
    lines = capsys.readouterr().out.splitlines()
    model = models.build("squeezenet1_1")
    assert [line.split()[0] for line in lines[:len(model.layers)]] == model.layer_names
    assert lines[0].split()[-1] == "1,792" and "(64, 31, 31)" in lines[0]
    assert lines[len(model.layers):] == [f"{a} = {r}" for a, r in model.aliases.items()]


@pytest.mark.parametrize("argv, usage, message", [
    (["clasify"], "tinyconv", "argument COMMAND: invalid choice: 'clasify'; did you mean "
                              "classify?"),
    (["weights", "fech"], "tinyconv weights", "invalid choice: 'fech'; did you mean fetch?"),
    (["layers", "--model", "alexnte"], "tinyconv layers",
     "argument --model: invalid choice: 'alexnte'; did you mean alexnet?"),
    (["classify", "--top-kk=3", "--model", "squeezenet1_1", "x.png"], "tinyconv classify",
     "unrecognized arguments: --top-kk=3; did you mean --top-k?"),
    (["weights", "list", "--cache-dri=x"], "tinyconv weights list",
     "unrecognized arguments: --cache-dri=x; did you mean --cache-dir?"),
])
def test_misspelt_subcommands_choices_and_options(capsys, argv, usage, message):
    err = error_of(capsys, argv)
    assert f"{usage}: error: " in err and message in err


def test_unrelated_words_keep_argparse_messages(capsys):
    err = error_of(capsys, ["xyzzy"])
    assert "invalid choice: 'xyzzy' (choose from" in err and "did you mean" not in err


# ----- point 8: converted weights go to the cache

def test_convert_goes_to_the_cache_and_is_found_by_name(cache, tmp_path, picture, capsys):
    pth = torchvision_pth(tmp_path / "squeezenet1_1.pth")
    assert main(["convert", str(pth)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith(f"wrote {cache / 'squeezenet1_1.h5'} (source sha256 ")
    assert out[2] == "use it as --weights squeezenet1_1"
    assert list((cache.parent / "work").iterdir()) == []  # nothing in the working folder
    assert main(["classify", "--weights", "squeezenet1_1", "--top-k", "1", str(picture)]) == 0
    assert main(["weights", "info", "squeezenet1_1"]) == 0
    assert "labels: 1000" in capsys.readouterr().out
    assert tinyconv.load_model("squeezenet1_1").arch == "squeezenet1_1"

    other = torchvision_pth(tmp_path / "other" / "squeezenet1_1.pth", seed=8)
    err = error_of(capsys, ["convert", str(other)])
    assert err == ("tinyconv convert: error: the cache already holds weights named squeezenet1_1 "
                   "(from squeezenet1_1.pth): give --name OTHER or -o FILE, or --force to "
                   "replace them\n")
    assert main(["convert", str(other), "--name", "sq8"]) == 0
    assert main(["convert", str(pth)]) == 0  # the same source again: no clash
    assert main(["convert", str(other), "-o", str(tmp_path / "x.h5")]) == 0
    assert sorted(p.name for p in cache.iterdir()) == ["sq8.h5", "squeezenet1_1.h5"]
    assert main(["convert", str(other), "--force"]) == 0
    np.testing.assert_array_equal(read_weights(cache / "squeezenet1_1.h5").params["conv1.bias"],
                                  read_weights(cache / "sq8.h5").params["conv1.bias"])


def test_fetch_does_not_pass_off_converted_weights_as_official(cache, tmp_path, capsys):
    assert main(["convert", str(torchvision_pth(tmp_path / "squeezenet1_1.pth"))]) == 0
    capsys.readouterr()
    err = error_of(capsys, ["weights", "fetch", "squeezenet1_1", "--quiet"])
    assert err == (f"tinyconv weights: error: the cache's {cache / 'squeezenet1_1.h5'} holds "
                   f"weights converted from squeezenet1_1.pth, not the official "
                   f"squeezenet1_1-b8a52dc0.pth; to replace them with the official ones, fetch "
                   f"again with --force (force=True in Python)\n")
    assert main(["weights", "list"]) == 0
    assert ("  squeezenet1_1  cached  converted from squeezenet1_1.pth, not the official file"
            in capsys.readouterr().out.splitlines())


def test_convert_refuses_a_name_with_folders(cache, tmp_path, capsys):
    pth = torchvision_pth(tmp_path / "squeezenet1_1.pth")
    err = error_of(capsys, ["convert", str(pth), "--name", "../escape"])
    assert "'../escape' is not a name for weights in the cache" in err
    assert not (cache.parent / "escape.h5").exists()
