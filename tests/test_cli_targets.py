"""How the method subcommands choose their target, on a network without class scores (VGG11 cut
after pool2 with random weights, written as a weight file the way converting Keras' VGG19
blocks 1-3 gives one) and on a classifier: the default target, channel targets everywhere a class
target is accepted, and the errors for targets a network cannot have."""
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from tinyconv import load_model, models
from tinyconv.cli import main
from tinyconv.methods import objectives
from tinyconv.methods.attribution import upsample_map
from tinyconv.models.preprocessing import CAFFE_VGG
from tinyconv.weights import WeightFile, write_weights

SIZE = 32
NO_CLASSES = "vgg11 has no class scores (it ends at pool2, 128 feature maps)"


@pytest.fixture(scope="module")
def featurenet(tmp_path_factory):
    """A tinyconv weight file of VGG11 up to pool2 (no classifier), random weights."""
    model = models.build("vgg11", seed=3)
    cut = models.param_shapes("vgg11", last_layer="pool2")
    params = {key: value for key, value in model.state_dict().items() if key in cut}
    wf = WeightFile("vgg11", params, replace(CAFFE_VGG, input_size=None, resize_size=None),
                    last_layer="pool2")
    return write_weights(tmp_path_factory.mktemp("weights") / "vgg11_pool2.h5", wf)


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A SIZE x SIZE RGB picture: smooth colours plus noise."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, SIZE)
    pixels = np.stack([ramp[:, None] + 0 * ramp, ramp[None, :] + 0 * ramp[:, None],
                       255 - ramp[:, None] + 0 * ramp], axis=2)
    pixels = np.clip(pixels + rng.normal(0, 30, pixels.shape), 0, 255).astype(np.uint8)
    path = tmp_path_factory.mktemp("images") / "photo.png"
    Image.fromarray(pixels).save(path)
    return path


def run(weights, command, *args, out):
    return main([command, "--weights", str(weights), "--out", str(out), *map(str, args)])


def strongest(weights, photo, layer):
    """The channel of `layer` with the largest mean activation on the photo, computed here."""
    model = load_model(weights, device="cpu")
    x = model.preprocess(np.asarray(Image.open(photo)), resize=False)
    act = model.forward(x, layers=[layer])[layer].numpy()[0]
    return int(act.mean(axis=(1, 2)).argmax())


@pytest.mark.parametrize("command, extra", [
    ("saliency", []), ("guided", []), ("gradcam", []), ("smoothgrad", ["--samples", "2"]),
    ("intgrad", ["--steps", "2"]), ("occlusion", ["--size", "16"])])
def test_no_class_scores_targets_the_strongest_channel_and_says_so(
        featurenet, photo, tmp_path, capsys, command, extra):
    channel = strongest(featurenet, photo, "pool2")
    assert run(featurenet, command, photo, "--save-npy", *extra, out=tmp_path) == 0
    out = capsys.readouterr().out
    assert (f"target: pool2 channel {channel} mean (the strongest channel of pool2 on "
            f"photo.png; this network has no class scores)") in out
    stem = {"guided": "guided"}.get(command, command)
    assert (tmp_path / f"photo_{stem}_pool2-c{channel}.png").is_file()


def test_layer_alone_targets_its_strongest_channel(featurenet, photo, tmp_path, capsys):
    channel = strongest(featurenet, photo, "relu2_1")
    assert run(featurenet, "saliency", photo, "--layer", "relu2_1", out=tmp_path) == 0
    assert f"target: relu2_1 channel {channel} mean (the strongest channel of relu2_1 on " \
           f"photo.png" in capsys.readouterr().out
    assert (tmp_path / f"photo_saliency_relu2_1-c{channel}.png").is_file()


def test_gradcam_of_a_channel_is_where_the_channel_fires(featurenet, photo, tmp_path, capsys):
    assert run(featurenet, "gradcam", photo, "--layer", "relu2_1", "--channel", 5, "--save-npy",
               out=tmp_path) == 0
    assert "target: relu2_1 channel 5 mean; Grad-CAM at relu2_1" in capsys.readouterr().out
    cam = np.load(tmp_path / "photo_gradcam_relu2_1-c5.npy")
    # d mean(A_5) / d A_k is 1/(h w) on channel 5 and 0 elsewhere: the map is relu(A_5) / (h w)
    model = load_model(featurenet, device="cpu")
    act = model.forward(model.preprocess(np.asarray(Image.open(photo)), resize=False),
                        layers=["relu2_1"])["relu2_1"].numpy()[:, 5]
    expected = upsample_map(np.maximum(act, 0) / act[0].size, (SIZE, SIZE))[0]
    np.testing.assert_allclose(cam, expected, rtol=1e-4, atol=1e-6 * expected.max())
    assert cam.max() > 0


@pytest.mark.parametrize("command, args, message", [
    ("saliency", ["--class", "3"], f"--class: {NO_CLASSES}; target a channel with --layer and "
                                   f"--channel, e.g. --layer pool2 --channel 0 (pool2 has 128 "
                                   f"channels: 0..127), or leave out --class to target the "
                                   f"channel the image excites most"),
    ("gradcam", ["--class", "3"], f"--class: {NO_CLASSES}"),
    ("occlusion", ["--class", "3"], f"--class: {NO_CLASSES}"),
    ("fool", ["--target", "3"], f"fool works on the predicted class, but {NO_CLASSES}"),
    ("fgsm", [], f"fgsm works on the predicted class, but {NO_CLASSES}"),
    ("saliency", ["--class", "3", "--layer", "pool2", "--channel", "1"],
     "give --class or --channel, not both"),
])
def test_class_targets_on_a_network_without_classes_fail_clearly(
        featurenet, photo, tmp_path, capsys, command, args, message):
    assert run(featurenet, command, photo, *args, out=tmp_path) == 1
    assert message in capsys.readouterr().err


def test_visualize_needs_a_channel_without_class_scores(featurenet, tmp_path, capsys):
    assert run(featurenet, "visualize", "--steps", 1, out=tmp_path) == 1
    assert f"{NO_CLASSES}: give --layer and --channel, e.g. --layer pool2 --channel 0 (pool2 " \
           f"has 128 channels: 0..127)" in capsys.readouterr().err
    assert run(featurenet, "visualize", "--steps", 1, "--layer", "relu2_1", out=tmp_path) == 1
    assert "--layer needs --channel here: e.g. --layer relu2_1 --channel 0 (relu2_1 has 128 " \
           "channels: 0..127)" in capsys.readouterr().err
    assert run(featurenet, "visualize", "--steps", 1, "--class", "1", out=tmp_path) == 1
    err = capsys.readouterr().err
    assert f"--class: {NO_CLASSES}" in err and "excites most" not in err  # no image here
    assert run(featurenet, "visualize", "--steps", 1, "--size", SIZE, "--layer", "relu2_1",
               "--channel", 4, out=tmp_path) == 0
    assert "target: relu2_1 channel 4 mean" in capsys.readouterr().out
    assert (tmp_path / "visualize_relu2_1-c4.png").is_file()


def test_multifaceted_of_a_network_without_classes(featurenet, photo, tmp_path, capsys):
    channel = strongest(featurenet, photo, "pool2")
    assert run(featurenet, "multifaceted", photo, photo, "--facets", 1, "--steps", 1,
               out=tmp_path) == 0
    assert f"target: pool2 channel {channel} mean (the strongest channel of pool2 on the 2 " \
           f"images; this network has no class scores)" in capsys.readouterr().out
    assert (tmp_path / f"multifaceted_pool2-c{channel}.png").is_file()


def test_a_classifier_still_defaults_to_the_predicted_class(photo, tmp_path, capsys):
    photo = str(photo)
    common = ["--model", "squeezenet1_1", "--image-size", "64", "--out", str(tmp_path)]
    assert main(["gradcam", photo, "--layer", "fire7", *common]) == 0
    out = capsys.readouterr().out
    assert out.startswith("target: score of class ") and "Grad-CAM at fire7/concat" in out
    assert main(["gradcam", photo, "--layer", "fire7", "--channel", "2",
                 *common]) == 0
    assert (tmp_path / "photo_gradcam_fire7-c2.png").is_file()
    assert main(["occlusion", photo, "--layer", "fire3", "--channel", "1", "--size", "32",
                 *common]) == 0
    assert "value without occlusion" in capsys.readouterr().out
    assert (tmp_path / "photo_occlusion_fire3-c1.png").is_file()
    assert main(["visualize", "--steps", "1", "--model", "squeezenet1_1", "--out",
                 str(tmp_path)]) == 1
    assert "give --class (index or name), or --layer and --channel" in capsys.readouterr().err


def test_objectives_carry_their_target_as_data():
    model = models.build("squeezenet1_1", seed=0)
    model.labels = [f"thing {i}" for i in range(1000)]
    assert objectives.class_score(model, "thing 7").target_class == 7
    unit = objectives.neuron(model, "fire3", 4, 1, 2)
    assert (unit.layer, unit.channel, unit.unit, unit.target_class) == ("fire3", 4, (1, 2), None)
    assert (objectives.channel(model, "fire3", 4) + unit).target_class is None
