"""Loss curves from a step log (steplog.StepLog's CSV), drawn with pillow only.

One panel per column, stacked: the step values as light dots, their moving average over
`smooth` steps as a line, on a log axis when a column spans more than a factor of 20 (the style
losses fall by orders of magnitude), else linear. The x axis is the global step.
"""
import csv
import math

import numpy as np
from PIL import Image, ImageDraw

from ..methods.grids import load_font

WIDTH, PANEL_HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 640, 170, 70, 16, 24, 26
DOTS, LINE, AXIS, TEXT = (190, 200, 230), (31, 119, 180), (120, 120, 120), (0, 0, 0)


def read_step_log(path):
    """(global steps (n,), {column: values (n,)}) of a step log, every column but the counters."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{path}: no steps logged")
    columns = [c for c in rows[0] if c not in ("epoch", "step", "global_step", "lr")]
    steps = np.array([int(r["global_step"]) for r in rows])
    return steps, {c: np.array([float(r[c]) for r in rows]) for c in columns}


def moving_average(values, window):
    """The mean of the last `window` values at every position (fewer at the start)."""
    sums = np.cumsum(np.insert(np.asarray(values, dtype=np.float64), 0, 0.0))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)

def loss_curves(path, columns=None, smooth=20, title=None):
    """uint8 (H, W, 3) picture of the step log's columns (all but the counters by default)."""
    steps, table = read_step_log(path)
    columns = columns or list(table)
    unknown = [c for c in columns if c not in table]
    if unknown:
        raise ValueError(f"{path} has no column {', '.join(unknown)}; it has {', '.join(table)}")
    picture = Image.new("RGB", (WIDTH, PANEL_HEIGHT * len(columns) + (20 if title else 0)),
                        "white")
    draw, font = ImageDraw.Draw(picture), load_font(12)
    if title:
        draw.text((LEFT, 3), title, fill=TEXT, font=load_font(14))
    for k, column in enumerate(columns):
        top = (20 if title else 0) + k * PANEL_HEIGHT
        _panel(draw, font, steps, table[column], column, top, smooth)
    return np.asarray(picture)


def _panel(draw, font, steps, values, name, top, smooth):
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    logarithmic = low > 0 and high / low > 20
    scale = (lambda v: math.log10(v)) if logarithmic else (lambda v: v)
    lo, hi = scale(low), scale(high)
    hi = hi if hi > lo else lo + 1
    x0, x1 = LEFT, WIDTH - RIGHT
    y0, y1 = top + TOP, top + PANEL_HEIGHT - BOTTOM
    first, last = int(steps.min()), max(int(steps.max()), int(steps.min()) + 1)

    def point(step, value):
        x = x0 + (step - first) / (last - first) * (x1 - x0)
        return x, y1 - (scale(value) - lo) / (hi - lo) * (y1 - y0)
    draw.rectangle((x0, y0, x1, y1), outline=AXIS)
    for step, value in zip(steps, values):
        if np.isfinite(value) and (value > 0 or not logarithmic):
            x, y = point(step, value)
            draw.point((x, y), fill=DOTS)
    average = moving_average(values, smooth)
    draw.line([point(s, v) for s, v in zip(steps, average) if v > 0 or not logarithmic],
              fill=LINE, width=2)
    axis = "log" if logarithmic else "linear"
    draw.text((x0, top + 6), f"{name} ({axis}; line: mean of {smooth} steps)", fill=TEXT,
              font=font)
    draw.text((4, y0), f"{high:.3g}", fill=TEXT, font=font)
    draw.text((4, y1 - 12), f"{low:.3g}", fill=TEXT, font=font)
    draw.text((x0, y1 + 4), f"step {first}", fill=TEXT, font=font)
    draw.text((x1 - 60, y1 + 4), f"step {last}", fill=TEXT, font=font)
