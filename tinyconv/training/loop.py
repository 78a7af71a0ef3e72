"""The training loop: mini-batches, a loss, backward, optimizer step, a learning-rate schedule,
progress, checkpoints and resume; what a step computes is an objective's.

The loop knows nothing of labels or losses: an objective (Classification here: augmentation,
cross-entropy, top-1, evaluation after every epoch; tinyconv.training.style: perceptual losses of
style networks) says which parameters are trained, computes a batch's loss and the running sums
that progress and the epoch summary show, and adds its own entries to the checkpoint.

Determinism, which makes resume exact: every random draw comes from a generator seeded by the
run's seed and the position in the run, never from a generator carried along. The order of an
epoch's images comes from default_rng([seed, epoch]); a step's augmentation from
default_rng([seed, epoch, step]), and numpy's global generator (which the dropout op draws from)
is seeded with the same three numbers before the step. The learning rate is a function of the
global step. So a run resumed from a checkpoint at (epoch, step) draws exactly what the
uninterrupted run drew there, and with the weights and optimizer state restored bit for bit, it
ends with the same weights, bit for bit (on the same machine and BLAS threads).

Checkpoints are written after every epoch and when Ctrl-C arrives (SIGINT is held off until the
running step has finished, so the state written is one between two steps). A loss that is NaN
or infinite stops the run with TrainingDiverged before the step that would spoil the weights;
the checkpoint of the last finished epoch stays as it was.
"""
import math
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np

from .. import ops
from ..engine import optim
from ..engine.tensor import Tensor, no_grad
from ..errors import BadInput
from ..progress import Progress
from .checkpoint import load_checkpoint, restore_optimizer, save_checkpoint
from .data import augment, batches
from .schedules import check_schedule, learning_rate

OPTIMIZERS = ("sgd", "adam", "adamw")


class TrainingDiverged(BadInput):
    """The loss became NaN or infinite; the message says where and which checkpoint is kept."""


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.05
    optimizer: str = "sgd"
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    warmup: float = 0.0           # epochs of linear warm-up (fractions allowed)
    label_smoothing: float = 0.0
    augment: bool = True          # random crop with crop_padding pixels of padding, flip
    crop_padding: int = 4         # 0: flips only
    seed: int = 0
    eval_batch_size: int = 500
    eval_flip: bool = False       # test top-1 of each image plus its mirror image's scores

    def check(self):
        check_schedule(self.schedule)
        if not 0 <= self.label_smoothing < 1:
            raise BadInput(f"label smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.crop_padding < 0:
            raise BadInput(f"crop padding must be >= 0 pixels, got {self.crop_padding}")
        if self.optimizer not in OPTIMIZERS:
            raise BadInput(f"unknown optimizer {self.optimizer!r}; choose one of "
                           f"{', '.join(OPTIMIZERS)}")
        return self


def make_optimizer(config, params):
    """The optimizer the config names, over `params`."""
    if config.optimizer == "sgd":
        return optim.SGD(params, config.lr, momentum=config.momentum,
                         weight_decay=config.weight_decay, nesterov=config.nesterov)
    kind = optim.Adam if config.optimizer == "adam" else optim.AdamW
    return kind(params, config.lr, weight_decay=config.weight_decay)


def evaluate(model, dataset, batch_size=500, flip=False):
    """Top-1 accuracy (0..1) of `model` on a Dataset, in inference mode (restored afterwards).
    flip: score each image and its mirror image and add the two scores (test-time
    augmentation, as the fast CIFAR-10 recipes evaluate)."""
    was_training, correct = model.training, 0
    model.eval()
    try:
        with no_grad():
            for index in batches(len(dataset), batch_size):
                x = model.preprocessing.to_input(dataset.images[index], model.device, model.dtype)
                scores = model(Tensor(x)).numpy()
                if flip:
                    scores = scores + model(Tensor(x[..., ::-1].copy())).numpy()
                correct += int((scores.argmax(axis=1) == dataset.labels[index]).sum())
    finally:
        model.train(was_training)
    return correct / max(1, len(dataset))


class Classification:
    """The classifier's objective: augmentation, cross-entropy (with label smoothing), top-1
    accuracy on the way and on the trainer's test set after every epoch.

    The objective protocol the Trainer uses: sum_names (the running sums, "seen" last: images);
    prepare(trainer) -> the trained parameters; batch(trainer, index, rng) -> (scalar loss
    Tensor, one number per sum); fields(sums) and record(trainer, sums) -> dicts for the progress
    line and the epoch's history entry; summary(record) -> text; meta(trainer) -> checkpoint
    entries; check_resume(meta, path) raises when a checkpoint is not one to continue.
    """
    sum_names = ("loss", "correct", "seen")

    def prepare(self, trainer):
        trainer.model.labels = list(trainer.train_set.class_names)
        trainer.model.requires_grad_(True).train()
        return trainer.model.parameters()

    def batch(self, trainer, index, rng):
        c, model = trainer.config, trainer.model
        images = trainer.train_set.images[index]
        images = augment(images, rng, pad=c.crop_padding) if c.augment else images
        labels = trainer.train_set.labels[index]
        x = Tensor(model.preprocessing.to_input(images, model.device, model.dtype))
        scores = model(x)
        loss = ops.cross_entropy(scores, labels, label_smoothing=c.label_smoothing)
        correct = int((scores.numpy().argmax(axis=1) == labels).sum())
        return loss, (float(loss.item()) * len(index), correct, len(index))

    def fields(self, sums):
        loss, correct, seen = sums
        return {"loss": loss / max(1, seen), "acc": f"{100 * correct / max(1, seen):.1f}%"}

    def record(self, trainer, sums):
        loss, correct, seen = sums
        record = {"train_loss": loss / max(1, seen), "train_accuracy": correct / max(1, seen)}
        if trainer.test_set is not None:
            record["test_accuracy"] = evaluate(trainer.model, trainer.test_set,
                                               trainer.config.eval_batch_size,
                                               trainer.config.eval_flip)
        return record

    def summary(self, record):
        test = f", test top-1 {100 * record['test_accuracy']:.2f}%" \
            if "test_accuracy" in record else ""
        return (f"train loss {record['train_loss']:.4f}, train accuracy "
                f"{100 * record['train_accuracy']:.2f}%{test}")

    def meta(self, trainer):
        return {"num_classes": trainer.model.num_classes, "class_names": trainer.model.labels}

    def check_resume(self, meta, path, trainer):
        if meta["class_names"] != trainer.model.labels:
            raise BadInput(f"{path} was trained on the classes {meta['class_names']}, this "
                           f"training set has {trainer.model.labels}")


@contextmanager
def _sigint_between_steps(trainer):
    """SIGINT sets trainer.interrupted (checked between steps) instead of raising mid-step; a
    second Ctrl-C raises at once. Only in the main thread (where signals arrive)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if trainer.interrupted:
            raise KeyboardInterrupt
        trainer.interrupted = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class Trainer:
    """Trains `model` (a tinyconv Model, its parameters made trainable) on a Dataset.

    test_set: a Dataset evaluated (top-1) after every epoch, or None. checkpoint: a path written
    after every epoch and on Ctrl-C, or None. on_step(trainer): called after every step (between
    steps: raising KeyboardInterrupt there behaves as Ctrl-C); on_epoch(trainer): after every
    epoch's summary and checkpoint (trainer.epoch is then the number of epochs done). stream:
    where progress goes (default stderr). objective: what a step computes (default
    Classification(); see its protocol); train_set: anything with a length that the objective
    reads.
    """

    def __init__(self, model, train_set, config, test_set=None, checkpoint=None, on_step=None,
                 stream=None, on_epoch=None, objective=None):
        self.model, self.train_set, self.test_set = model, train_set, test_set
        self.config, self.checkpoint = config.check(), checkpoint
        self.on_step, self.on_epoch, self.stream = on_step, on_epoch, stream or sys.stderr
        self.objective = objective or Classification()
        self.optimizer = make_optimizer(config, self.objective.prepare(self))
        self.steps_per_epoch = math.ceil(len(train_set) / config.batch_size)
        self.epoch, self.step, self.sums = 0, 0, self._zero_sums()
        self.history, self.interrupted, self.start_time = [], False, None

    def _zero_sums(self):
        return [0.0] * len(self.objective.sum_names)

    @property
    def global_step(self):
        return self.epoch * self.steps_per_epoch + self.step

    def lr_at(self, global_step):
        c = self.config
        return learning_rate(c.schedule, c.lr, global_step, c.epochs * self.steps_per_epoch,
                             round(c.warmup * self.steps_per_epoch))

    def run(self):
        """Train until config.epochs are done; returns the history (one dict per epoch)."""
        self.start_time, self.start_step = time.monotonic(), self.global_step
        with _sigint_between_steps(self):
            try:
                while self.epoch < self.config.epochs:
                    self._run_epoch()
                    self._end_epoch()
            except KeyboardInterrupt:
                if self.checkpoint:
                    self.save()
                    self._say(f"interrupted at epoch {self.epoch + 1}, step {self.step}: "
                              f"checkpoint {self.checkpoint} written (--resume continues)")
                raise
        return self.history

    def _run_epoch(self):
        c, epoch = self.config, self.epoch
        order = batches(len(self.train_set), c.batch_size, np.random.default_rng([c.seed, epoch]))
        what = f"train {self.model.arch} epoch {epoch + 1}/{c.epochs}"
        with Progress(what, self.steps_per_epoch, "step", stream=self.stream) as progress:
            while self.step < len(order):
                self._train_step(order[self.step])
                self.step += 1
                progress.update(self.step, self._fields())
                if self.on_step:
                    self.on_step(self)
                if self.interrupted:
                    raise KeyboardInterrupt

    def _train_step(self, index):
        c = self.config
        rng = np.random.default_rng([c.seed, self.epoch, self.step])
        np.random.seed([c.seed, self.epoch, self.step])  # the dropout op's generator
        loss, counts = self.objective.batch(self, index, rng)
        value = float(loss.item())
        if not math.isfinite(value):
            raise TrainingDiverged(self._diverged(value))
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.lr = self.lr_at(self.global_step)
        self.optimizer.step()
        self.sums = [total + count for total, count in zip(self.sums, counts)]

    def _diverged(self, value):
        kept = (f"the last good checkpoint {self.checkpoint} (after epoch {self.epoch}) is kept"
                if self.checkpoint and self.epoch else "no checkpoint was written")
        return (f"the loss became {value} at epoch {self.epoch + 1}, step {self.step + 1} "
                f"(learning rate {self.lr_at(self.global_step):.3g}): training stopped; "
                f"{kept}; try a lower --lr or more --warmup")

    def _fields(self):
        done = self.global_step - self.start_step
        elapsed = time.monotonic() - self.start_time
        rate = done * self.config.batch_size / elapsed if elapsed > 0 else 0.0
        left = (self.config.epochs * self.steps_per_epoch - self.global_step) * elapsed / done \
            if done else 0.0
        return dict(self.objective.fields(self.sums), lr=float(self.optimizer.lr),
                    **{"img/s": f"{rate:.2f}" if rate < 10 else f"{rate:.0f}",
                       "ETA": f"{int(left // 60)}m{int(left % 60):02d}s"})

    def _end_epoch(self):
        record = dict({"epoch": self.epoch + 1}, **self.objective.record(self, self.sums))
        record["seconds"] = round(time.monotonic() - self.start_time, 1)
        self.history.append(record)
        self.epoch, self.step, self.sums = self.epoch + 1, 0, self._zero_sums()
        if self.checkpoint:
            self.save()
        self._say(f"epoch {record['epoch']}/{self.config.epochs}: "
                  f"{self.objective.summary(record)}, {record['seconds']} s since the start")
        if self.on_epoch:
            self.on_epoch(self)

    def _say(self, text):
        sys.stdout.flush()
        print(text, file=self.stream, flush=True)

    # ----- checkpoints
    def meta(self):
        """The JSON-able part of a checkpoint: what was trained, how, and where it stands."""
        return dict(self.objective.meta(self), architecture=self.model.arch,
                    preprocessing=self.model.preprocessing.to_dict(),
                    config=asdict(self.config), epoch=self.epoch, step=self.step,
                    global_step=self.global_step, sums=self.sums, history=self.history)

    def save(self, path=None):
        """Write the checkpoint (to `path`, default the trainer's checkpoint path)."""
        return save_checkpoint(path or self.checkpoint, self.meta(), self.model.state_dict(),
                               self.optimizer.state)

    def resume(self, path=None):
        """Continue from a checkpoint: weights, optimizer state, position, running sums and
        history. Refused when it holds another architecture or other batch size (the position
        would mean other images), or when the objective refuses it (other classes, styles or
        encoder). Returns self."""
        path = path or self.checkpoint
        meta, state, saved = load_checkpoint(path, len(self.optimizer.state))
        if meta["architecture"] != self.model.arch:
            raise BadInput(f"{path} is a checkpoint of {meta['architecture']}, not of "
                           f"{self.model.arch}: resume it with --model {meta['architecture']}, "
                           f"or start {self.model.arch} without --resume")
        if len(meta["sums"]) != len(self.objective.sum_names):
            raise BadInput(f"{path} is a checkpoint of another kind of training")
        self.objective.check_resume(meta, path, self)
        if meta["config"]["batch_size"] != self.config.batch_size:
            raise BadInput(f"{path} was trained with batch size {meta['config']['batch_size']}; "
                           f"resume with the same --batch-size")
        self.model.load_state_dict(state)
        restore_optimizer(self.optimizer, saved, self.model.device)
        self.epoch, self.step = meta["epoch"], meta["step"]
        self.sums, self.history = list(meta["sums"]), list(meta["history"])
        return self


def train(model, train_set, config, test_set=None, checkpoint=None, resume=False, **options):
    """Train `model` in place on a Dataset with a TrainConfig; returns the history. resume: go
    on from `checkpoint` (see Trainer)."""
    trainer = Trainer(model, train_set, config, test_set, checkpoint, **options)
    if resume:
        trainer.resume()
    return trainer.run()
