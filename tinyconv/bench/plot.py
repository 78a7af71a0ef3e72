"""The kernel benchmark's picture: time per layer shape per algorithm, drawn with pillow only.

One panel per pass (forward, backward to the input, backward to the weight) side by side, the
layer shapes as rows of horizontal bars (one colour per algorithm, grids.label_colours) on a
shared logarithmic time axis, so that panels and rows compare directly. Horizontal bars keep the
layer labels readable however many shapes there are. The fastest algorithm of each pass has a
black outline, the heuristic's choice "(h)" after its time.
"""
import math

import numpy as np
from PIL import Image, ImageDraw

from .kernels import PASSES
from ..methods.grids import label_colours, load_font

PASS_TITLES = {"forward": "forward (incl. weight preparation)",
               "backward_input": "backward to the input",
               "backward_weight": "backward to the weight"}
BAR = 13            # bar height, px
GAP = 14            # between layer groups, px
PANEL = 430         # panel width, px: the time axis, then room for the value after a bar
VALUE_ROOM = 52
MARGIN = 16
SPACING = PANEL + 40  # from one panel to the next
GRID, BAND, TEXT, NAMES = (205, 205, 205), (244, 244, 244), (0, 0, 0), (80, 80, 80)


def _ms_text(ms):
    if ms >= 1000:
        return f"{ms / 1000:g} s"
    return f"{ms:g} ms"


def log_ticks(low, high):
    """Tick values (ms) between low and high: decades, with 2 and 5 (and 3, 7 within about one
    decade) when there are few."""
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    decades = math.log10(high / low)
    steps = (1, 2, 3, 5, 7) if decades <= 1.2 else (1, 2, 5) if decades <= 2 else (1,)
    return [m * 10.0 ** e for e in range(first, last + 1) for m in steps
            if low <= m * 10.0 ** e <= high]


def _value_text(ms):
    return f"{ms:.3g}" if ms < 1000 else f"{ms:.0f}"


def kernel_time_chart(report):
    """RGB uint8 (H, W, 3) picture of a `bench_kernels.run` report (see the module docstring)."""
    shapes = report["shapes"]
    names = list(dict.fromkeys(n for s in shapes for n in s["algorithms"]))
    colours = {n: tuple(int(v) for v in c) for n, c in zip(names, label_colours(len(names)))}
    times = [a[p]["ms"] for s in shapes for a in s["algorithms"].values() for p in PASSES]
    low, high = min(times) / 1.5, max(times)  # the shortest bar still shows
    font, small, title_font = load_font(14), load_font(11), load_font(17)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    row_lines = [[_describe(s)] + [part.strip() for part in s["label"].split(";")]
                 for s in shapes]
    label_width = int(max(probe.textlength(line, font=font) for lines in row_lines
                          for line in lines)) + 2 * MARGIN
    heights = [max(len(s["algorithms"]) * BAR, len(lines) * 17) + GAP
               for s, lines in zip(shapes, row_lines)]
    top = 110
    width = label_width + 2 * SPACING + PANEL + MARGIN
    height = top + sum(heights) + 40
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    _header(draw, report, names, colours, font, title_font)
    starts = list(np.cumsum([top] + heights[:-1]))
    for y, rows in list(zip(starts, heights))[1::2]:
        draw.rectangle([0, y - GAP // 2, width, y + rows - GAP // 2], fill=BAND)
    to_x = [_axis(draw, label_width + k * SPACING, top, height - 40, low, high, small,
                  PASS_TITLES[p]) for k, p in enumerate(PASSES)]
    for shape, lines, y in zip(shapes, row_lines, starts):
        for k, line in enumerate(lines):
            draw.text((MARGIN, y + 17 * k), line, fill=TEXT if k == 0 else NAMES, font=font)
        for k, step in enumerate(PASSES):
            _bars(draw, shape, step, to_x[k], label_width + k * SPACING, y, colours, small)
    return np.asarray(canvas)


def _describe(shape):
    n, c, h, w = shape["x_shape"]
    o, _, kh, kw = shape["w_shape"]
    return (f"{n}x{c}x{h}x{w} -> {o}, {kh}x{kw}/{shape['stride']} pad {shape['padding']}"
            + (f" groups {shape['groups']}" if shape["groups"] != 1 else ""))


def _header(draw, report, names, colours, font, title_font):
    peak = report["gemm_peak"]
    draw.text((MARGIN, 10), f"tinyconv bench --kernels: {report['device_name']} "
                            f"({report['device']}), float32, median of {report['repeats']}; "
                            f"GEMM peak {peak['gflop_per_s']:g} GFLOP/s", fill=TEXT,
              font=title_font)
    x = MARGIN
    for name in names:
        draw.rectangle([x, 40, x + 14, 54], fill=colours[name])
        draw.text((x + 20, 40), name, fill=TEXT, font=font)
        x += 40 + int(draw.textlength(name, font=font))
    draw.text((x + 10, 40), "black outline: fastest of the pass   (h): heuristic's choice   "
                            "numbers: ms", fill=TEXT, font=font)


def _axis(draw, x0, top, bottom, low, high, font, title):
    """Grid lines and tick labels of one panel; returns ms -> x."""
    span = math.log10(high) - math.log10(low)

    def to_x(ms):
        return x0 + (math.log10(ms) - math.log10(low)) / span * (PANEL - VALUE_ROOM)
    for tick in log_ticks(low, high):
        x = to_x(tick)
        draw.line([x, top - 8, x, bottom], fill=GRID)
        text = _ms_text(tick)
        for y in (top - 24, bottom + 4):
            draw.text((x - draw.textlength(text, font=font) / 2, y), text, fill=TEXT, font=font)
    draw.text((x0, top - 48), title, fill=TEXT, font=load_font(15))
    return to_x


def _bars(draw, shape, step, to_x, x0, y, colours, font):
    for k, (name, passes) in enumerate(shape["algorithms"].items()):
        ms = passes[step]["ms"]
        top, x1 = y + k * BAR, to_x(ms)
        winner = shape["winner"][step] == name
        draw.rectangle([x0, top + 1, x1, top + BAR - 2], fill=colours[name],
                       outline=TEXT if winner else None, width=2 if winner else 1)
        mark = " (h)" if shape["heuristic"] == name else ""
        draw.text((x1 + 4, top), _value_text(ms) + mark, fill=TEXT, font=font)
