"""Synthesis by optimization on the real weights: class/channel visualization, multifaceted
visualization, fooling images, FGSM, DeepDream, feature inversion, texture synthesis and style
transfer. Behavioural checks on small images and few steps: the objective went up, the fooled
model predicts the target, the same seed gives the same picture, Ctrl-C keeps the last image."""
import numpy as np
import pytest
from conftest import ASSETS

from tinyconv import Tensor, load_model
from tinyconv.cli import main
from tinyconv.image import list_images, load_image
from tinyconv.methods import optimize as optimize_module
from tinyconv.methods import transforms
from tinyconv.methods.adversarial import fgsm, fooling_images, pixel_change
from tinyconv.methods.deepdream import deepdream
from tinyconv.methods.inversion import invert_features
from tinyconv.methods.style import (original_colours, preset, RGB_TO_YIQ, style_transfer,
                                    texture_synthesis)
from tinyconv.methods.visualization import (class_visualization, feature_visualization,
                                            multifaceted_visualization)
from tinyconv.models.preprocessing import CAFFE_VGG, TORCHVISION
from tinyconv.progress import Progress

QUIET = dict(progress=None)


@pytest.fixture(scope="module")
def vgg_blocks():
    """The real Keras VGG19 blocks 1-3, converted in memory once for this module."""
    source = ASSETS / "weights" / "vgg19_weights_tf_dim_ordering_tf_kernels_notop_blocks1-3.h5"
    if not source.is_file():
        pytest.skip(f"real VGG19 blocks 1-3 weights not found at {source}")
    return load_model(source, device="cpu")


def picture(model, assets, name, size):
    image = load_image(assets / "images" / name, size=(size, size))
    return model.preprocess(image, resize=False).data


@pytest.mark.parametrize("pre", [TORCHVISION, CAFFE_VGG])
def test_input_range_pixel_size_and_to_rgb_match_preprocessing(pre):
    black_white = np.array([[[0, 0, 0], [255, 255, 255]]], dtype=np.uint8)[None]  # (1, 1, 2, 3)
    x = pre.to_input(black_white, dtype="float64")  # (1, 3, 1, 2)
    low, high = pre.input_range()
    np.testing.assert_allclose(x[0, :, 0, 0], low)
    np.testing.assert_allclose(x[0, :, 0, 1], high)
    np.testing.assert_allclose(pre.pixel_size(), (high - low) / 255)
    np.testing.assert_allclose(pre.to_rgb(x), black_white.transpose(0, 3, 1, 2), atol=1e-9)


def test_class_visualization_raises_the_score_and_is_reproducible(squeezenet_real):
    kwargs = dict(size=64, steps=6, blur_every=3, clip_norm=5, clip_contribution=5, **QUIET)
    first = class_visualization(squeezenet_real, "tarantula", seed=3, **kwargs)
    again = class_visualization(squeezenet_real, "tarantula", seed=3, **kwargs)
    other = class_visualization(squeezenet_real, "tarantula", seed=4, **kwargs)
    assert first.history[-1]["objective"] > first.initial["objective"] + 1
    np.testing.assert_array_equal(first.image, again.image)
    assert np.abs(first.image - other.image).max() > 0.1
    low, high = squeezenet_real.preprocessing.input_range()
    assert (first.image.min(axis=(0, 2, 3)) >= low - 1e-5).all()
    assert (first.image.max(axis=(0, 2, 3)) <= high + 1e-5).all()


def test_channel_and_neuron_visualization_raise_their_activation(squeezenet_real):
    for neuron in (False, True):
        result = feature_visualization(squeezenet_real, "fire4", 7, neuron=neuron, size=48,
                                       steps=5, lr=10.0, l2=0, jitter=2, blur_every=0, **QUIET)
        assert result.history[-1]["objective"] > result.initial["objective"]


def test_interrupted_run_keeps_the_last_image_and_snapshot(squeezenet_real):
    snapshots = {}

    def stop_at_three(step, steps, terms, elapsed):
        if step == 3:
            raise KeyboardInterrupt

    result = class_visualization(squeezenet_real, 1, size=32, steps=50, progress=stop_at_three,
                                 progress_every=1, on_snapshot=snapshots.__setitem__)
    assert result.interrupted and result.steps == 3
    np.testing.assert_array_equal(snapshots[3], result.image)


def test_multifaceted_gives_one_picture_per_facet(squeezenet_real, assets):
    paths = list_images([assets / "images" / "cifar10" / "test" / "horse"])[:6]
    x = squeezenet_real.preprocess([load_image(p, size=(48, 48)) for p in paths],
                                   resize=False).data
    results, labels = multifaceted_visualization(squeezenet_real, "sorrel", x, facets=2,
                                                 steps=3, **QUIET)
    assert len(results) == 2 and sorted(set(labels)) == [0, 1]
    assert all(r.image.shape == (1, 3, 48, 48) for r in results)


def test_fooling_reaches_the_target_in_the_saved_8_bit_image(squeezenet_real, assets):
    x = picture(squeezenet_real, assets, "content/dog.png", 224)
    fooled = fooling_images(squeezenet_real, x, "stingray", max_steps=30, **QUIET)
    assert fooled.fooled.all() and 0 < fooled.steps[0] <= 30
    saved = squeezenet_real.deprocess(fooled.images)  # uint8, as written to a PNG
    again = squeezenet_real.preprocess(list(saved), resize=False).data
    assert squeezenet_real.predicted_classes(again)[0] == 6
    linf, relative = pixel_change(squeezenet_real, x, fooled.images)
    assert linf[0] < 40 and relative[0] < 0.02


def test_fgsm_moves_every_pixel_by_epsilon_and_changes_the_prediction(squeezenet_real, assets):
    x = picture(squeezenet_real, assets, "content/dog.png", 224)
    adversarial = fgsm(squeezenet_real, x, 8)
    linf, _ = pixel_change(squeezenet_real, x, adversarial)
    assert linf[0] == pytest.approx(8, abs=1e-3)
    predicted = squeezenet_real.predicted_classes
    assert predicted(adversarial)[0] != predicted(x)[0]
    with pytest.raises(ValueError, match="epsilon"):
        fgsm(squeezenet_real, x, -1)


def test_deepdream_raises_the_layer_energy_over_octaves(squeezenet_real, assets):
    x = picture(squeezenet_real, assets, "content/sky1024px.jpg", 64)
    result = deepdream(squeezenet_real, x, "fire3", steps=3, octaves=2, jitter=4, **QUIET)
    assert result.image.shape == x.shape and result.steps == 6
    assert result.history[-1]["energy"] > result.history[0]["energy"]
    guide = picture(squeezenet_real, assets, "content/flowers.jpg", 48)
    guided = deepdream(squeezenet_real, x, "fire3", steps=2, octaves=1, guide=guide, **QUIET)
    assert guided.history[-1]["energy"] > guided.history[0]["energy"]


def test_inversion_reduces_the_feature_error(squeezenet_real, assets):
    x = picture(squeezenet_real, assets, "content/dog.png", 64)
    inversion = invert_features(squeezenet_real, x, "fire2", steps=15, **QUIET)
    start = inversion.result.initial["feature"] ** 0.5
    assert inversion.relative_error < 0.5 * start
    adam = invert_features(squeezenet_real, x, "relu1", steps=5, step_rule="adam", tv=1e-2,
                           alpha_weight=1e-3, beta=1.5, **QUIET)
    assert adam.result.history[-1]["feature"] < adam.result.initial["feature"]


def test_texture_synthesis_lowers_the_gram_loss(squeezenet_real, assets):
    x = picture(squeezenet_real, assets, "styles/starry_night.jpg", 48)
    result = texture_synthesis(squeezenet_real, x, size=(40, 40), steps=10, **QUIET)
    assert result.image.shape == (1, 3, 40, 40)
    assert result.history[-1]["loss"] < 0.3 * result.initial["loss"]


def test_style_transfer_vgg_preset_blend_and_colour_preservation(vgg_blocks, assets):
    settings = preset(vgg_blocks)
    assert settings["content_layer"] == "relu3_2"
    assert settings["style_layers"] == ("relu1_1", "relu2_1", "relu3_1")
    content = picture(vgg_blocks, assets, "content/tubingen.jpg", 32)
    styles = [picture(vgg_blocks, assets, f"styles/{n}.jpg", 32) for n in ("starry_night",
                                                                           "the_scream")]
    result = style_transfer(vgg_blocks, content, styles, style_blend=[0.7, 0.3], steps=4,
                            preserve_colour=True, **QUIET)
    assert result.history[-1]["loss"] < result.initial["loss"]
    yiq = [np.moveaxis(vgg_blocks.preprocessing.to_rgb(v), 1, -1) @ RGB_TO_YIQ.T
           for v in (result.image, content)]
    np.testing.assert_allclose(yiq[0][..., 1:], yiq[1][..., 1:], atol=2.0)  # chroma, 0..255
    assert np.abs(yiq[0][..., 0] - yiq[1][..., 0]).max() > 5  # the luminance was stylized
    np.testing.assert_allclose(original_colours(vgg_blocks, content, content), content,
                               atol=2.0)


def test_style_transfer_dream_term_and_bad_weights(squeezenet_real, assets):
    content = picture(squeezenet_real, assets, "content/tubingen.jpg", 48)
    style = picture(squeezenet_real, assets, "styles/starry_night.jpg", 48)
    result = style_transfer(squeezenet_real, content, [style], steps=2, step_rule="adam",
                            dream_layer="fire3", dream_weight=1e-3, **QUIET)
    assert "dream" in result.history[-1]
    with pytest.raises(ValueError, match="content_weight must be a finite number >= 0"):
        style_transfer(squeezenet_real, content, [style], content_weight=-1, steps=1)
    with pytest.raises(ValueError, match="blend"):
        style_transfer(squeezenet_real, content, [style], style_blend=[1, 1], steps=1)
    with pytest.raises(KeyError, match="no layer 'fire99'"):
        style_transfer(squeezenet_real, content, [style], content_layer="fire99", steps=1)


def test_snap_to_pixels_rounds_forward_and_passes_the_gradient():
    x = Tensor(np.random.default_rng(0).standard_normal((1, 3, 4, 4)), requires_grad=True)
    y = transforms.snap_to_pixels(TORCHVISION)(x)
    pixels = TORCHVISION.to_rgb(y.data)
    np.testing.assert_allclose(pixels, np.clip(np.rint(pixels), 0, 255), atol=1e-9)
    (y * 2.0).sum().backward()
    np.testing.assert_allclose(x.grad, 2.0)


def test_centre_bias_updates_only_the_centre_first():
    x0 = np.zeros((1, 3, 10, 10))
    regularize = transforms.centre_bias(x0, 0.4, steps=10)
    x = x0 + 1.0
    regularize(x, 0)
    assert x[0, 0, 3:7, 3:7].min() == 1 and x.sum() == 3 * 16


def test_cli_writes_pictures_and_rejects_bad_arguments(squeezenet_file, assets, tmp_path,
                                                       capsys):
    common = ["--weights", str(squeezenet_file), "--out", str(tmp_path)]
    assert main(["visualize", "--class", "goldfish", "--steps", "2", "--size", "32",
                 "--save-every", "1"] + common) == 0
    assert (tmp_path / "visualize_c1.png").is_file()
    assert (tmp_path / "visualize_c1_step0002.png").is_file()
    horses = str(assets / "images" / "cifar10" / "test" / "horse")
    assert main(["multifaceted", "--class", "sorrel", "--facets", "2", "--max-images", "4",
                 "--image-size", "32", "--steps", "2", "--save-every", "2", horses] + common) == 0
    for k in (0, 1):
        assert (tmp_path / f"multifaceted_c339_facet{k}_step0002.png").is_file()
    assert not list(tmp_path.glob("multifaceted_*_step0001.png"))
    dog = str(assets / "images" / "content" / "dog.png")
    assert main(["fgsm", dog, "--epsilon", "1,2"] + common) == 0
    assert "success 1/1" in capsys.readouterr().out
    assert main(["visualize", "--layer", "fire66", "--channel", "1"] + common) == 1
    assert "no layer 'fire66'" in capsys.readouterr().err
    for bad, message in (  # refused by the options' types, before anything is loaded
            (["visualize", "--class", "1", "--steps", "0"], "--steps: must be an integer in 1..1000000"),
            (["invert", dog, "--layers", "fire2", "--tv", "-1"],
             "--tv: must be a finite number >= 0"),
            (["fgsm", dog, "--epsilon", "2,-2"],
             "--epsilon: must be a finite number >= 0, got -2")):
        with pytest.raises(SystemExit) as exit:
            main(bad + common)
        assert exit.value.code == 2 and message in capsys.readouterr().err


@pytest.fixture
def ctrl_c_at_step_3(monkeypatch):
    """The optimization loop (every step rule but lbfgs) sees a KeyboardInterrupt at step 3, and
    the Efros-Leung progress callback after its first batch, as if Ctrl-C had been pressed."""
    def step_or_stop():
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt

    class InterruptedAdam(optimize_module.Adam):
        def step(self):
            step_or_stop()
            super().step()

    def interrupted_step(*args):
        step_or_stop()
        return scaled_step(*args)

    class InterruptedProgress(Progress):
        def __call__(self, done, total=None):
            raise KeyboardInterrupt

    calls, scaled_step = [], optimize_module._scaled_step
    monkeypatch.setattr(optimize_module, "Adam", InterruptedAdam)
    monkeypatch.setattr(optimize_module, "_scaled_step", interrupted_step)
    monkeypatch.setattr("tinyconv.cli.efros_leung.progress_printer", InterruptedProgress)
    return calls


@pytest.mark.parametrize("args, written, not_written", [
    (["visualize", "--class", "goldfish", "--size", "32"], ["visualize_c1"], []),
    (["multifaceted", "--class", "sorrel", "--facets", "2", "--max-images", "4",
      "--image-size", "32", "{assets}/images/cifar10/test/horse"],
     ["multifaceted_c339_facet0", "multifaceted_c339"], ["multifaceted_c339_facet1"]),
    (["fool", "--target", "1", "{dog}"], ["dog_fool_c1"], []),
    (["deepdream", "--layer", "fire3", "--size", "48", "--octaves", "2", "{dog}"],
     ["dog_dream_fire3"], []),
    (["invert", "--layers", "fire2", "fire3", "--image-size", "48", "--step-rule", "adam",
      "{dog}"], ["dog_invert_fire2", "dog_invert"], ["dog_invert_fire3"]),
    (["texture", "--layers", "fire2", "--sample-size", "32", "--step-rule", "adam", "{dog}"],
     ["dog_texture"], []),
    (["style", "--style", "{assets}/images/styles/candy.jpg", "--size", "32", "--step-rule",
      "adam", "{dog}"], ["dog_candy"], []),
    (["efros-leung", "--sample-size", "24", "--size", "16", "16", "--window", "5", "{dog}"],
     ["dog_efros_leung_w5", "dog_efros_leung_w5_panel"], []),
])
def test_cli_interrupted_saves_the_last_image_and_exits_130(
        squeezenet_file, assets, tmp_path, capsys, ctrl_c_at_step_3, args, written, not_written):
    dog = assets / "images" / "content" / "dog.png"
    args = [a.format(assets=assets, dog=dog) for a in args] + ["--out", str(tmp_path)]
    if args[0] != "efros-leung":
        args += ["--weights", str(squeezenet_file), "--steps", "20", "--progress-every", "100"]
    assert main(args) == 130
    err = capsys.readouterr().err
    assert f"tinyconv {args[0]}: interrupted; the last image is saved in " in err
    for name in written:
        assert (tmp_path / f"{name}.png").is_file() and str(tmp_path / f"{name}.png") in err
    for name in not_written:
        assert not (tmp_path / f"{name}.png").exists()
    if args[0] != "efros-leung":
        assert len(ctrl_c_at_step_3) == 3  # the run stopped at the interrupt


def test_fool_interrupted_says_so_instead_of_not_fooled(squeezenet_file, assets, tmp_path,
                                                        capsys, ctrl_c_at_step_3):
    dog = str(assets / "images" / "content" / "dog.png")
    assert main(["fool", "--target", "1", dog, "--weights", str(squeezenet_file), "--steps",
                 "20", "--progress-every", "100", "--out", str(tmp_path)]) == 130
    out = capsys.readouterr().out
    assert "not fooled yet, interrupted after 2 steps" in out and "NOT fooled" not in out


def test_library_checks_refuse_nan_and_infinity():
    """NaN passes every `value < 0` test; the methods' own checks refuse it (issue 15)."""
    optimize = optimize_module.optimize
    x = np.zeros((1, 3, 8, 8), np.float32)
    with pytest.raises(ValueError, match="learning rate must be a finite number > 0, got nan"):
        optimize(lambda image: image.sum(), x, steps=1, lr=float("nan"), progress=None)
    with pytest.raises(ValueError, match=r"epsilon must be a finite number >= 0 \(0..255 pixel units\), got inf"):
        fgsm(None, x, float("inf"))
