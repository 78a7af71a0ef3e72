"""Style network training on real assets at tiny sizes: the perceptual loss falls, an IN-only
fine-tune changes only instance-norm parameters, resume is bit-identical, AdaIN's alpha=0 is the
decoded content, the train-style and stylize commands for every kind, and the bad-input errors."""
import numpy as np
import pytest

import tinyconv
from tinyconv.cli import main
from tinyconv.engine.tensor import Tensor
from tinyconv.errors import BadInput
from tinyconv.image import load_image
from tinyconv.methods.fast_style import adain_stylize, transform
from tinyconv.training import Trainer
from tinyconv.training.style import (AdaINObjective, PerceptualLoss, PerceptualObjective,
                                     content_set, norm_parameters, style_config)

VGG = "weights/vgg19_weights_tf_dim_ordering_tf_kernels_notop_blocks1-3.h5"
WAVE = "weights/fast_style_ml5/wave"


@pytest.fixture(scope="module")
def real(request):
    from conftest import ASSETS
    if not (ASSETS / VGG).is_file() or not (ASSETS / WAVE).is_dir():
        pytest.skip(f"VGG19 / ml5 assets not found under {ASSETS}")
    return ASSETS


@pytest.fixture(scope="module")
def vgg(real):
    return tinyconv.load_model(real / VGG)


@pytest.fixture
def photos(real, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("tubingen.jpg", "golden_gate.jpg", "dog.png"):
        (folder / name).write_bytes((real / "images" / "content" / name).read_bytes())
    return folder


def _finetune(real, vgg, photos, epochs, checkpoint=None, resume=False, size=32):
    net = tinyconv.load_model(real / WAVE)
    scream = load_image(real / "images" / "styles" / "the_scream.jpg", size=size)
    objective = PerceptualObjective(PerceptualLoss(vgg), [scream], ["the_scream"], size,
                                    norm_only=True)
    trainer = Trainer(net, content_set(photos, size, 2), style_config(epochs=epochs, lr=0.05,
                                                                      batch_size=2),
                      checkpoint=checkpoint, objective=objective)
    if resume:
        trainer.resume()
    trainer.run()
    return net, trainer


def _fixed_loss(net, trainer):
    """The objective's loss on the same crops (the generator of epoch 0, step 0)."""
    rng = np.random.default_rng([99])
    return trainer.objective.batch(trainer, np.array([0, 1]), rng)[0].item()


def test_in_only_finetune_lowers_the_loss_and_changes_only_norm_parameters(real, vgg, photos):
    before = tinyconv.load_model(real / WAVE)
    start_state = before.state_dict()
    net, trainer = _finetune(real, vgg, photos, epochs=4)
    fresh = Trainer(before, trainer.train_set, trainer.config, objective=trainer.objective)
    assert _fixed_loss(net, trainer) < 0.9 * _fixed_loss(before, fresh)
    norms = {key for key, _ in norm_parameters(net)}
    assert norms and all("/norm." in key for key in norms)
    for key, value in net.state_dict().items():
        changed = not np.array_equal(value, start_state[key])
        assert changed == (key in norms), key


def test_resume_is_bit_identical(real, vgg, photos, tmp_path):
    whole, _ = _finetune(real, vgg, photos, epochs=2)
    _finetune(real, vgg, photos, epochs=1, checkpoint=tmp_path / "ck.npz")
    resumed, _ = _finetune(real, vgg, photos, epochs=2, checkpoint=tmp_path / "ck.npz",
                           resume=True)
    for key, value in whole.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[key], value, err_msg=key)


def test_adain_alpha_zero_is_the_decoded_content(vgg):
    encoder = vgg.truncated("relu3_1")
    decoder = tinyconv.models.build("adain_decoder_relu3_1", seed=0)
    rng = np.random.default_rng(0)
    content = rng.uniform(-100, 100, (1, 3, 24, 28)).astype(np.float32)
    style = rng.uniform(-100, 100, (1, 3, 20, 20)).astype(np.float32)
    out = adain_stylize(encoder, decoder, content, [style], alpha=0.0)
    with tinyconv.no_grad():
        expected = decoder(encoder(Tensor(content))).data
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_adain_objective_step_lowers_its_loss(vgg, photos, real):
    scream = load_image(real / "images" / "styles" / "the_scream.jpg", size=36)
    styles = np.stack([scream[:36, :36]])
    objective = AdaINObjective(vgg.truncated("relu3_1"), "relu3_1", styles, 32)
    decoder = tinyconv.models.build("adain_decoder_relu3_1", seed=0)
    trainer = Trainer(decoder, content_set(photos, 32, 2),
                      style_config(epochs=6, batch_size=2, lr=1e-3), objective=objective)
    first = _fixed_loss(decoder, trainer)
    trainer.run()
    assert _fixed_loss(decoder, trainer) < first


def test_cin_command_then_stylize_by_index_and_blend(real, photos, tmp_path, capsys):
    out = tmp_path / "two.h5"
    styles = [str(real / "images" / "styles" / n) for n in ("the_scream.jpg", "candy.jpg")]
    assert main(["train-style", "--content", str(photos), "--styles", *styles,
                 "--loss-network", str(real / VGG), "--finetune-in", str(real / WAVE),
                 "--size", "32", "--batch-size", "2", "-o", str(out)]) in (0, None)
    net = tinyconv.load_model(out)
    assert net.arch == "fast_style_cin" and net.labels == ["the_scream", "candy"]
    x = np.random.default_rng(0).uniform(0, 255, (1, 3, 32, 32)).astype(np.float32)
    np.testing.assert_array_equal(transform(net, x, [1.0, 0.0]),
                                  transform(net, x, np.array([[1.0, 0.0]])))
    image = str(real / "images" / "content" / "dog.png")
    for extra in (["--style-index", "1"], ["--blend", "1", "3", "--preserve-colour"]):
        main(["stylize", "--weights", str(out), image, "--size", "32", "--out",
              str(tmp_path / "o"), *extra])
    assert {p.name for p in (tmp_path / "o").iterdir()} == {"dog_candy.png", "dog_blend.png"}


def test_adain_command_records_its_encoder_and_refuses_another(real, photos, tmp_path, capsys):
    out = tmp_path / "decoder.h5"
    main(["train-style", "--adain", "--content", str(photos), "--styles",
          str(real / "images" / "styles" / "the_scream.jpg"), "--encoder", str(real / VGG),
          "--size", "32", "--batch-size", "3", "-o", str(out)])
    image = str(real / "images" / "content" / "dog.png")
    styles = [str(real / "images" / "styles" / n) for n in ("candy.jpg", "udnie.jpg")]
    main(["stylize", "--weights", str(out), "--encoder", str(real / VGG), "--style", *styles,
          "--blend", "1", "1", "--alpha", "0.5", "--style-size", "32", "--size", "32",
          "--out", str(tmp_path / "o"), image])
    assert (tmp_path / "o" / "dog_candy+udnie.png").is_file()
    other = tinyconv.load_model(real / VGG)
    other.params["conv1_1.bias"].data = other.params["conv1_1.bias"].data + 1
    from tinyconv.weights import write_weights
    from tinyconv.weights.format import WeightFile
    write_weights(tmp_path / "other.h5", WeightFile(other.arch, other.state_dict(),
                                                   other.preprocessing,
                                                   last_layer=other.layer_names[-1]))
    capsys.readouterr()
    assert main(["stylize", "--weights", str(out), "--encoder", str(tmp_path / "other.h5"),
                 "--style", styles[0], "--out", str(tmp_path / "o"), image]) == 1
    err = capsys.readouterr().err
    assert "was trained with the encoder vgg19 up to relu3_1" in err and "\n" == err[-1]


def test_bad_inputs_are_clear_errors(real, photos, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BadInput, match="no images in .*empty"):
        content_set(empty, 32, 2)
    with pytest.raises(BadInput, match="3 content image.*fewer than the batch size 4"):
        content_set(photos, 32, 4)
    assert main(["train-style", "--adain", "--content", str(photos), "--styles", str(empty),
                 "--encoder", str(real / VGG), "--size", "32", "--batch-size", "2",
                 "-o", str(tmp_path / "d.h5")]) == 1
    assert "no images in" in capsys.readouterr().err
