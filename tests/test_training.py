"""tinyconv.training and `tinyconv train`: the loop learns, resume is bit-identical, schedules and
label smoothing have their values, and bad input stops with one clear message."""
import io
import math

import numpy as np
import pytest
from PIL import Image

import tinyconv
from tinyconv import models, ops
from tinyconv.cli import main
from tinyconv.errors import BadInput
from tinyconv.image import load_image
from tinyconv.methods.features import SkipUnreadable
from tinyconv.training import (TrainConfig, Trainer, TrainingDiverged, data, evaluate,
                               from_arrays, from_folder, learning_rate, save_trained)
from tinyconv.training.pictures import first_layer_filters

QUIET = dict(stream=io.StringIO())


def _blobs(n=200, seed=0):
    """A learnable toy set: 2 classes of 32x32 images, bright left half vs bright right half."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 120, (n, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(n) % 2
    images[labels == 0, :, :16] += 100
    images[labels == 1, :, 16:] += 100
    return from_arrays(images, labels, ["left", "right"])


def _write_folder(root, sizes=None, classes=("a", "b"), per_class=6):
    """root/<class>/<i>.png, class a dark and class b bright; sizes: (H, W) per image index."""
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            h, w = sizes[i] if sizes else (32, 32)
            Image.fromarray(np.full((h, w, 3), 40 + 170 * k, np.uint8)).save(root / name / f"{i}.png")
    return root


# ----- schedules and the loss
@pytest.mark.parametrize("name, step, expected", [
    ("constant", 57, 0.1),
    ("cosine", 0, 0.1), ("cosine", 99, 0.0), ("cosine", 50, 0.1 * 0.5 * (1 + math.cos(math.pi * 50 / 99))),
    ("step", 49, 0.1), ("step", 50, 0.01), ("step", 75, 0.001),
    ("onecycle", 0, 0.1 / 25), ("onecycle", 30, 0.1), ("onecycle", 99, 0.1 / 25 / 1e4),
])
def test_schedules_values(name, step, expected):
    assert learning_rate(name, 0.1, step, 100) == pytest.approx(expected, abs=1e-12)


def test_warmup_rises_linearly_then_the_schedule_starts():
    assert [learning_rate("cosine", 1.0, s, 110, warmup=10) for s in (0, 4, 9, 10)] == \
        pytest.approx([0.1, 0.5, 1.0, 1.0])
    assert learning_rate("cosine", 1.0, 109, 110, warmup=10) == pytest.approx(0.0)


def test_label_smoothing_loss_matches_a_hand_computation():
    scores = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
    labels = np.array([0, 2])
    e = 0.1
    log_p = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    target = np.full((2, 3), e / 3) + (1 - e) * np.eye(3)[labels]
    expected = -(target * log_p).sum(axis=1).mean()
    assert ops.cross_entropy(scores, labels, label_smoothing=e).item() == pytest.approx(expected)
    assert ops.cross_entropy(scores, labels).item() == pytest.approx(-log_p[[0, 1], labels].mean())


def test_augment_keeps_shape_and_pixels_and_is_seeded():
    images = _blobs(8).images
    a = data.augment(images, np.random.default_rng(1))
    assert a.shape == images.shape and a.dtype == np.uint8
    assert np.array_equal(a, data.augment(images, np.random.default_rng(1)))
    unpadded = data.augment(images, np.random.default_rng(2), pad=0, flip=False)
    assert np.array_equal(unpadded, images)


# ----- the loop
def test_the_loop_learns_real_cifar_images(assets):
    folder = assets / "images" / "cifar10" / "train"
    train_set = from_folder(folder, (32, 32), limit=200, **QUIET)
    assert len(train_set) == 200 and train_set.class_names[0] == "airplane"
    model = models.build("linear_cifar")  # the convnet's loop: the resume and command tests
    config = TrainConfig(epochs=8, batch_size=20, lr=1e-3, optimizer="adam", weight_decay=0,
                         augment=False)
    history = Trainer(model, train_set, config, **QUIET).run()
    accuracy = evaluate(model, train_set)  # on the images it saw: chance is 0.1
    assert accuracy > 0.4 and history[-1]["train_loss"] < history[0]["train_loss"]


@pytest.mark.parametrize("stop_epoch, stop_step", [(0, 7), (1, 3)])  # after epoch 1; within 2
def test_an_interrupted_and_resumed_run_ends_bit_identical(tmp_path, stop_epoch, stop_step):
    train_set = _blobs(200)
    config = TrainConfig(epochs=2, batch_size=32, lr=0.02, momentum=0.9, nesterov=True,
                         label_smoothing=0.1, warmup=0.5)

    def trained(on_step=None, resume=False):
        model = models.build("convnetjs_cifar", seed=3, num_classes=2)
        trainer = Trainer(model, train_set, config, checkpoint=tmp_path / "ck.npz",
                          on_step=on_step, **QUIET)
        if resume:
            trainer.resume()
        trainer.run()
        return model.state_dict()

    def interrupt(trainer):
        if (trainer.epoch, trainer.step) == (stop_epoch, stop_step):
            raise KeyboardInterrupt

    whole = trained()
    with pytest.raises(KeyboardInterrupt):
        trained(on_step=interrupt)
    resumed = trained(resume=True)
    assert all(np.array_equal(whole[k], resumed[k]) for k in whole)
    assert not np.array_equal(whole["conv1.weight"],
                              models.build("convnetjs_cifar", seed=3, num_classes=2)
                              .state_dict()["conv1.weight"])


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    checkpoint = tmp_path / "ck.npz"

    def poison(trainer):
        if trainer.epoch == 1:
            trainer.model.params["fc.bias"].data[:] = np.nan

    model = models.build("linear_cifar", num_classes=2)
    trainer = Trainer(model, _blobs(64), TrainConfig(epochs=3, batch_size=32), checkpoint=checkpoint,
                      on_step=poison, **QUIET)
    good = None

    def remember(t):
        nonlocal good
        if t.epoch == 1 and good is None:
            good = checkpoint.read_bytes()
        poison(t)

    trainer.on_step = remember
    with pytest.raises(TrainingDiverged, match=r"loss became nan at epoch 2, step 2.*"
                                               r"last good checkpoint .*ck.npz \(after epoch 1\)"):
        trainer.run()
    assert checkpoint.read_bytes() == good
    assert Trainer(models.build("linear_cifar", num_classes=2), _blobs(64),
                   TrainConfig(epochs=3, batch_size=32), checkpoint=checkpoint,
                   **QUIET).resume().epoch == 1


def test_resume_from_another_architecture_is_refused_naming_both(tmp_path):
    checkpoint = tmp_path / "ck.npz"
    config = TrainConfig(epochs=1, batch_size=50)
    Trainer(models.build("linear_cifar", num_classes=2), _blobs(100), config, checkpoint=checkpoint,
            **QUIET).run()
    other = Trainer(models.build("convnetjs_cifar", num_classes=2), _blobs(100), config,
                    checkpoint=checkpoint, **QUIET)
    with pytest.raises(BadInput, match="checkpoint of linear_cifar, not of convnetjs_cifar"):
        other.resume()


# ----- datasets and bad input
def test_folder_of_mixed_sizes_is_brought_to_the_input_size(tmp_path):
    root = _write_folder(tmp_path / "set", sizes=[(32, 32), (40, 48), (64, 32), (32, 32)],
                         per_class=4)
    dataset = from_folder(root, (32, 32), **QUIET)
    assert dataset.images.shape == (8, 32, 32, 3) and dataset.class_names == ["a", "b"]
    assert list(dataset.labels) == [0, 0, 0, 0, 1, 1, 1, 1]
    with pytest.raises(BadInput, match="40x48|48x40"):
        from_folder(root, None, **QUIET)  # no input size: sizes must agree


def test_empty_class_folders_and_a_single_class_are_refused(tmp_path):
    root = _write_folder(tmp_path / "one", classes=("a",))
    with pytest.raises(BadInput, match="at least 2 classes, found 1"):
        from_folder(root, (32, 32), **QUIET)
    (root / "empty").mkdir()
    with pytest.raises(BadInput, match=r"found 1 \(empty: empty\)"):
        from_folder(root, (32, 32), **QUIET)
    (root / "c").mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(root / "c" / "x.png")
    with pytest.raises(BadInput, match="without readable images: empty"):
        from_folder(root, (32, 32), **QUIET)
    with pytest.raises(BadInput, match="one subfolder per class"):
        from_folder(root / "a", (32, 32), **QUIET)


def test_unreadable_images_are_skipped_with_a_warning(tmp_path):
    root = _write_folder(tmp_path / "set")
    (root / "a" / "broken.png").write_bytes(b"not a png")
    warnings = []
    dataset = from_folder(root, (32, 32), SkipUnreadable(warn=warnings.append), **QUIET)
    assert len(dataset) == 12 and len(warnings) == 1 and "broken.png" in warnings[0]
    with pytest.raises(ValueError, match="broken.png"):
        from_folder(root, (32, 32), SkipUnreadable(strict=True), **QUIET)


def test_the_trained_weights_load_like_any_other(tmp_path):
    model = models.build("linear_cifar", num_classes=2)
    Trainer(model, _blobs(64), TrainConfig(epochs=1, batch_size=32), **QUIET).run()
    loaded = tinyconv.load_model(save_trained(model, tmp_path / "w.h5"))
    assert loaded.labels == ["left", "right"] and loaded.preprocessing == model.preprocessing
    assert np.array_equal(loaded.state_dict()["fc.weight"], model.state_dict()["fc.weight"])


# ----- the command
def test_train_command_end_to_end_then_classify(tmp_path, capsys):
    train = _write_folder(tmp_path / "train")
    test = _write_folder(tmp_path / "test", per_class=2)
    out = tmp_path / "w.h5"
    code = main(["train", "--model", "convnetjs_cifar", "--train", str(train), "--test", str(test),
                 "--epochs", "3", "--batch-size", "4", "--lr", "0.01", "--optimizer", "adam",
                 "--schedule", "onecycle", "--no-augment", "-o", str(out),
                 "--filter-snapshots", str(tmp_path / "snaps")])
    assert code == 0 and out.is_file()
    assert (tmp_path / "w.h5.checkpoint.npz").is_file()
    assert "wrote" in capsys.readouterr().out
    # the first layer's filters before training and after each epoch; the last are the result's
    snaps = [load_image(tmp_path / "snaps" / f"convnetjs_cifar_filters_epoch{e:03d}.png")
             for e in range(4)]
    assert not np.array_equal(snaps[0], snaps[3])
    np.testing.assert_array_equal(snaps[3], first_layer_filters(tinyconv.load_model(out)))
    code = main(["classify", "--weights", str(out), "--top-k", "2", str(test / "b" / "0.png")])
    printed = capsys.readouterr().out
    assert code == 0 and " b" in printed.splitlines()[1]


def test_train_command_refuses_a_checkpoint_of_another_model(tmp_path, capsys):
    train = _write_folder(tmp_path / "train")
    ck = tmp_path / "ck.npz"
    common = ["--train", str(train), "--epochs", "1", "--checkpoint", str(ck), "-o",
              str(tmp_path / "w.h5")]
    assert main(["train", "--model", "linear_cifar"] + common) == 0
    assert main(["train", "--model", "convnetjs_cifar", "--resume"] + common) == 1
    assert "checkpoint of linear_cifar, not of convnetjs_cifar" in capsys.readouterr().err


def test_train_command_starts_from_init_weights(tmp_path, capsys):
    train = _write_folder(tmp_path / "train")
    common = ["--train", str(train), "--epochs", "1", "--batch-size", "4", "--no-augment"]
    first, second = tmp_path / "first.h5", tmp_path / "second.h5"
    assert main(["train", "--model", "convnetjs_cifar", "-o", str(first)] + common) == 0
    # a learning rate so small the weights barely move: the start must be first's weights
    assert main(["train", "--model", "convnetjs_cifar", "-o", str(second), "--init", str(first),
                 "--lr", "1e-12", "--optimizer", "sgd", "--weight-decay", "0"] + common) == 0
    a = tinyconv.load_model(first).state_dict()["conv1.weight"]
    b = tinyconv.load_model(second).state_dict()["conv1.weight"]
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-9)
    assert main(["train", "--model", "linear_cifar", "-o", str(tmp_path / "x.h5"), "--init",
                 str(first)] + common) == 1
    assert "holds convnetjs_cifar, not linear_cifar" in capsys.readouterr().err


def test_augment_without_padding_only_flips():
    images = np.random.default_rng(0).integers(0, 256, (16, 8, 8, 3), dtype=np.uint8)
    out = data.augment(images, np.random.default_rng(1), pad=0)
    mirrored = [np.array_equal(o, i[:, ::-1]) and not np.array_equal(o, i)
                for o, i in zip(out, images)]
    kept = [np.array_equal(o, i) for o, i in zip(out, images)]
    assert all(m or k for m, k in zip(mirrored, kept)) and any(mirrored) and any(kept)


def test_step_log_writes_each_steps_losses_and_continues_after_a_resume(tmp_path):
    """One CSV row per step; a step's loss times its images, summed over an epoch, is the
    epoch's mean training loss; a resumed run appends (one row skipped: the resumed step)."""
    import csv
    from tinyconv.training import StepLog
    train_set = _blobs(100)
    config = TrainConfig(epochs=2, batch_size=32, lr=0.02, schedule="cosine")
    log = tmp_path / "steps.csv"

    def interrupt(trainer):
        logger(trainer)
        if (trainer.epoch, trainer.step) == (1, 2):
            raise KeyboardInterrupt
    logger = StepLog(log)
    model = models.build("convnetjs_cifar", seed=0, num_classes=2)
    trainer = Trainer(model, train_set, config, checkpoint=tmp_path / "ck.npz", on_step=interrupt,
                      **QUIET)
    with pytest.raises(KeyboardInterrupt):
        trainer.run()
    first_epoch = trainer.history[0]
    rows = list(csv.DictReader(open(log)))
    assert [(r["epoch"], r["step"], r["global_step"]) for r in rows] == [
        ("1", "1", "1"), ("1", "2", "2"), ("1", "3", "3"), ("1", "4", "4"),
        ("2", "1", "5"), ("2", "2", "6")]
    assert list(rows[0]) == ["epoch", "step", "global_step", "lr", "loss", "correct"]
    sizes = [32, 32, 32, 4]  # 100 images in steps of 32
    mean = sum(float(r["loss"]) * n for r, n in zip(rows, sizes)) / 100
    assert mean == pytest.approx(first_epoch["train_loss"], rel=1e-5)
    assert all(0 <= float(r["correct"]) <= 1 for r in rows)
    assert float(rows[0]["lr"]) == pytest.approx(0.02)
    model = models.build("convnetjs_cifar", seed=0, num_classes=2)
    resumed = Trainer(model, train_set, config, checkpoint=tmp_path / "ck.npz",
                      on_step=StepLog(log), **QUIET)
    resumed.resume()
    resumed.run()
    steps = [int(r["global_step"]) for r in csv.DictReader(open(log))]
    assert steps == [1, 2, 3, 4, 5, 6, 8]  # step 7 (the first after the resume) not known


def test_curves_command_draws_a_step_log(tmp_path, capsys):
    from tinyconv.training import StepLog
    log = tmp_path / "steps.csv"
    config = TrainConfig(epochs=2, batch_size=16, lr=0.02)
    Trainer(models.build("convnetjs_cifar", seed=0, num_classes=2), _blobs(64), config,
            on_step=StepLog(log), **QUIET).run()
    assert main(["curves", str(log), "-o", str(tmp_path / "c.png"), "--smooth", "2"]) == 0
    picture = load_image(tmp_path / "c.png")
    assert picture.shape[0] > 300 and (picture < 128).any()  # two panels, with ink
    assert main(["curves", str(log), "-o", str(tmp_path / "d.png"), "--columns", "acc"]) != 0
    assert "no column acc" in capsys.readouterr().err


def test_flip_evaluation_scores_each_image_and_its_mirror():
    """evaluate(flip=True): top-1 of the summed scores of each image and its mirror image."""
    model = models.build("convnetjs_cifar", seed=2, num_classes=2)
    test = _blobs(60)
    x = model.preprocessing.to_input(test.images, model.device, model.dtype)
    with tinyconv.no_grad():
        plain = model(tinyconv.Tensor(x)).numpy()
        mirrored = model(tinyconv.Tensor(np.ascontiguousarray(x[..., ::-1]))).numpy()
    expected = ((plain + mirrored).argmax(axis=1) == test.labels).mean()
    assert evaluate(model, test, batch_size=16, flip=True) == pytest.approx(expected)
    assert evaluate(model, test, batch_size=16) == pytest.approx(
        (plain.argmax(axis=1) == test.labels).mean())
    assert not np.allclose(plain, mirrored)  # the mirror images score differently
