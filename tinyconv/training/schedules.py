"""Learning-rate schedules: the rate of each optimizer step as a pure function of the step number.

A schedule depends on nothing but (step, total steps), so resuming from a checkpoint needs only
the step count to continue the same curve, bit for bit. `warmup` steps first rise linearly from
lr / warmup_steps to lr (for the schedules that have no ramp of their own), then:

- constant: lr throughout.
- step: lr, then lr * 0.1 after half of the (post-warm-up) steps, lr * 0.01 after three quarters.
- cosine: lr * (1 + cos(pi * t)) / 2, t going from 0 to 1: down to 0 at the last step.
- onecycle: Smith's one cycle (PyTorch's OneCycleLR, cosine annealing): from lr / 25 up to lr over
  the first 30% of the steps, then down to lr / 25e4; it is its own warm-up.
"""
import math

SCHEDULES = ("constant", "step", "cosine", "onecycle")
STEP_POINTS = (0.5, 0.75)   # fractions of the steps after which "step" divides by 10
ONECYCLE_RISE = 0.3
ONECYCLE_START = 25.0       # lr / 25 at the first step (PyTorch's div_factor)
ONECYCLE_END = 1e4          # lr / 25 / 1e4 at the last (final_div_factor)


def check_schedule(name):
    if name not in SCHEDULES:
        raise ValueError(f"unknown learning-rate schedule {name!r}; choose one of "
                         f"{', '.join(SCHEDULES)}")
    return name


def learning_rate(name, lr, step, total, warmup=0):
    """The learning rate of step `step` (0-based) of `total` under schedule `name` with `warmup`
    linear warm-up steps."""
    check_schedule(name)
    if name == "onecycle":
        return _one_cycle(lr, step, total)
    if step < warmup:
        return lr * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup - 1)  # 0 at the first step after warm-up, 1 last
    if name == "cosine":
        return lr * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
    if name == "step":
        return lr * 0.1 ** sum(t >= point for point in STEP_POINTS)
    return lr


def _one_cycle(lr, step, total):
    rise = max(1, int(ONECYCLE_RISE * total))
    low, end = lr / ONECYCLE_START, lr / ONECYCLE_START / ONECYCLE_END
    if step < rise:
        return _cosine_between(low, lr, step / rise)
    return _cosine_between(lr, end, min(1.0, (step - rise) / max(1, total - rise - 1)))


def _cosine_between(start, stop, t):
    """From start (t = 0) to stop (t = 1) along half a cosine."""
    return stop + (start - stop) * 0.5 * (1 + math.cos(math.pi * t))
