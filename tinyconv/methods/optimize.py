"""The one optimization loop behind every synthesis method.

Class and neuron visualization, fooling images, DeepDream, feature inversion, texture synthesis and
style transfer all optimize an image through a frozen network. They differ only in the objective,
the transforms and regularizers, the step rule and the schedule; this loop does the rest: gradient,
step, regularizers, progress lines, snapshots every k steps, reproducibility from a seed, and
keeping the last image when interrupted.

    result = optimize(loss, x0, steps=200, lr=1.0, step_rule="adam", maximize=False)

`loss(x: Tensor) -> (scalar Tensor, {term name: float})`.
"""
import time

from ..engine.backend import get_array_module, to_numpy
from ..progress import Progress
from ..engine.tensor import Tensor
from ..engine.optim import Adam, lbfgs

STEP_RULES = ("adam", "sgd", "normalized_l2", "normalized_mean_abs", "lbfgs")


class Result:
    """image: the final (N, C, H, W) array; history: one {term: value} dict per step;
    interrupted: True when a KeyboardInterrupt stopped the run early; seconds: wall time;
    initial: the {term: value} dict of the first evaluation, at x0 (None when there was none)."""

    def __init__(self, image, history, interrupted, seconds, initial=None):
        self.image, self.history, self.interrupted = image, history, interrupted
        self.seconds, self.initial = seconds, initial

    @property
    def steps(self):
        return len(self.history)


def optimize(loss, x0, steps, lr, step_rule="adam", maximize=False, transforms=(), regularizers=(),
             progress="optimize", progress_every=10, save_every=0, on_snapshot=None,
             stop=None, bounds=None, gradient_holder=None):
    """Optimize image x from x0 (N, C, H, W array) for `steps` steps.

    step_rule: "adam" (lr = Adam step), "sgd" (x += lr * g), "normalized_l2" (x += lr * g / ||g||,
      CS231n class visualization and fooling), "normalized_mean_abs" (x += lr * g / mean|g|,
      DeepDream), "lbfgs" (scipy L-BFGS-B; lr is ignored, `bounds` = (low, high) arrays or None).
    maximize: ascend the loss instead of descending it.
    transforms: differentiable Tensor -> Tensor functions applied before `loss` (e.g. jitter).
    regularizers: functions (x array, step) editing x in place after each step (blur, clamp...).
    progress(step, steps, terms, seconds): every `progress_every` steps and at the last; the
      terms are those of the image step `step` started from, except for lbfgs: of the image after
      iteration `step`, with a line for step 0 (the start image) first.
    save_every / on_snapshot(step, x array): snapshots every k steps, at the end, and on interrupt.
    stop(step, x array, terms) -> bool: end early when it returns True (e.g. fooled).
    gradient_holder: a dict that receives the last gradient as "grad" (for contribution clipping).
    progress: a name for the progress on stderr (tinyconv.progress: "NAME: step 10/200, loss
      terms, time", a line every `progress_every` steps in a log), None for none, or a function
      progress(step, steps, terms, elapsed) called every `progress_every` steps.
    Returns a Result.
    """
    _check_arguments(steps, lr, step_rule)
    run = _Run(loss, x0, steps, step_rule, -1.0 if maximize else 1.0, transforms, regularizers,
               progress, progress_every, save_every, on_snapshot, stop)
    interrupted = False
    try:
        if step_rule == "lbfgs":
            run.lbfgs(bounds)
        else:
            run.descend(lr, gradient_holder)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if run.shown:
            run.shown.close()
    image = to_numpy(run.x.data)
    if on_snapshot:
        on_snapshot(len(run.history), image)
    return Result(image, run.history, interrupted, time.perf_counter() - run.started, run.initial)


def _check_arguments(steps, lr, step_rule):
    """ValueError for an unknown step rule, fewer than one step, or a learning rate <= 0."""
    if step_rule not in STEP_RULES:
        raise ValueError(f"step_rule must be one of {STEP_RULES}, got {step_rule!r}")
    if int(steps) < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not 0 < lr < float("inf") and step_rule != "lbfgs":  # NaN fails every comparison
        raise ValueError(f"learning rate must be a finite number > 0, got {lr}")


class _Run:
    """One run of `optimize`: the image Tensor x, the history so far, and the work around every
    step (loss with transforms, regularizers, progress, snapshots, stop), for either step rule.
    The arguments are optimize's; sign: -1.0 to maximize, else 1.0."""

    def __init__(self, loss, x0, steps, step_rule, sign, transforms, regularizers, progress,
                 progress_every, save_every, on_snapshot, stop):
        self.loss, self.steps, self.step_rule, self.sign = loss, steps, step_rule, sign
        self.transforms, self.regularizers = transforms, regularizers
        self.progress, self.progress_every = progress, progress_every
        self.save_every, self.on_snapshot, self.stop = save_every, on_snapshot, stop
        self.xp = get_array_module(x0)
        self.x = Tensor(self.xp.array(x0, copy=True), requires_grad=True)
        self.history, self.initial, self.started = [], None, time.perf_counter()
        self.shown = Progress(progress, steps, "step", progress_every) \
            if isinstance(progress, str) else None
        self.terms = None  # the terms of the latest loss evaluation

    def report(self, step, terms):
        """One progress report: to the Progress line, or to the caller's progress function."""
        if self.shown:
            self.shown.update(step, terms)
        elif self.progress:
            self.progress(step, self.steps, terms, time.perf_counter() - self.started)

    def signed_loss(self, image):
        """The loss to minimize at `image` (a scalar Tensor); its terms go into self.terms."""
        inp = image
        for transform in self.transforms:
            inp = transform(inp)
        value, terms = self.loss(inp)
        self.terms = dict(terms, loss=float(value.item()))
        if self.initial is None:
            self.initial = self.terms
            if self.progress and self.step_rule == "lbfgs":
                # L-BFGS lines report the image after each iteration; line 0 is the start, so
                # the start (Result.initial) is on screen as it is for the other step rules
                self.report(0, self.terms)
        return value * self.sign

    def after_step(self, step, terms):
        """History, regularizers, progress and snapshot after step `step` (0-based); returns
        True when `stop` says to end the run."""
        self.history.append(terms)
        for regularize in self.regularizers:
            regularize(self.x.data, step)
        if self.shown or (self.progress and (step % self.progress_every == 0
                                             or step == self.steps - 1)):
            self.report(step + 1, terms)
        if self.on_snapshot and self.save_every and (step + 1) % self.save_every == 0:
            self.on_snapshot(step + 1, to_numpy(self.x.data))
        return bool(self.stop and self.stop(step + 1, self.x.data, terms))

    def lbfgs(self, bounds):
        """scipy's L-BFGS-B for `steps` iterations within `bounds` ((low, high) arrays or None)."""
        def callback(iteration, _):
            if self.after_step(iteration - 1, self.terms):
                raise StopIteration

        # tolerances 0: run the `steps` iterations asked for; scipy's defaults stop small,
        # normalized losses (feature inversion's ~1e-2) long before they converge
        lbfgs(self.signed_loss, self.x, max_iter=int(self.steps), bounds=bounds,
              callback=callback, options={"ftol": 0.0, "gtol": 0.0})

    def descend(self, lr, gradient_holder):
        """`steps` gradient steps of the run's step rule (Adam or a plain / normalized one)."""
        adam = Adam([self.x], lr=lr) if self.step_rule == "adam" else None
        for step in range(int(self.steps)):
            self.x.grad = None
            self.signed_loss(self.x).backward()
            if gradient_holder is not None:
                gradient_holder["grad"] = self.x.grad
            if adam:
                adam.step()
            else:
                self.x.data -= _scaled_step(self.x.grad, lr, self.step_rule, self.xp)
            if self.after_step(step, self.terms):
                break


def _scaled_step(grad, lr, step_rule, xp):
    """The descent step for the plain and normalized rules (per example for normalized ones)."""
    if step_rule == "sgd":
        return lr * grad
    n = len(grad)
    flat = grad.reshape(n, -1)
    if step_rule == "normalized_l2":
        scale = xp.sqrt((flat * flat).sum(axis=1))
    else:
        scale = xp.abs(flat).mean(axis=1)
    return lr * grad / (scale.reshape((n,) + (1,) * (grad.ndim - 1)) + 1e-12)

