"""Progress of long work, readable on a terminal and in a log.

Every progress report of tinyconv goes through `Progress`. On a terminal it is one line redrawn in
place (at most 10 times a second, and always at the end). Anywhere else (a pipe, a log file) it is
whole lines, never a carriage return: the first update, one whenever another tenth of the work
(or another `every` units) is done, one when `interval` seconds passed without a line, and the
last. Each line names the work, so a log read later says what was running:

    deepdream octave 2/4 (102x154): step 10/10, energy 1.23e+04, loss 1.23e+04, 3.0 s

Standard output is flushed before every write, so results printed there and progress on stderr
keep their order in a log that collects both.
"""
import math
import sys
import time

REDRAW = 0.1  # seconds between redraws on a terminal: fast enough to look live, cheap enough
INTERVAL = 30.0  # seconds without a line in a log before one is written anyway


class Progress:
    """Progress of `what` towards `total` (None: set by the first update) on `stream` (default
    stderr). update(done) or progress(done, total) reports; close() ends the report (it is a
    context manager too). unit: a word before the count ("step 10/200"); every: in a log, a
    line every `every` units instead of every tenth of the total."""

    def __init__(self, what, total=None, unit="", every=None, stream=None, interval=INTERVAL,
                 redraw=REDRAW, clock=time.monotonic):
        self.what, self.total, self.unit, self.every = what, total, unit, every
        self.stream = stream or sys.stderr
        self.interval, self.redraw, self.clock = interval, redraw, clock
        self.terminal = _is_terminal(self.stream)
        self.start = self.clock()
        self.shown = None  # time of the last line or redraw; None before the first
        self.next_mark = 0  # in a log: the count at which the next line is due
        self.width = 0  # on a terminal: length of the line drawn now (0: none drawn)
        self.line = None  # the latest state, shown or not
        self.pending = False  # the latest state is not on the stream yet

    def __call__(self, done, total=None):
        """The progress(done, total) callback of tinyconv's loops."""
        self.update(done, total=total)

    def update(self, done, fields=None, status=None, total=None):
        """Report `done` units: fields ({name: value}) follow the count; status replaces it."""
        self.total = total if total is not None else self.total
        now = self.clock()
        self.line = self._text(done, fields, status, now)
        self.pending = True
        finished = self.total is not None and done >= self.total
        if self.terminal:
            if finished or self.shown is None or now - self.shown >= self.redraw:
                self._draw(now, end=finished)
        elif finished or self.shown is None or done >= self.next_mark or \
                now - self.shown >= self.interval:
            self._write_line(now)
            self.next_mark = self._next_mark(done)

    def close(self):
        """Show the latest state if it is not shown yet and end the line."""
        if self.pending:
            if self.terminal:
                self._draw(self.clock(), end=True)
            else:
                self._write_line(self.clock())
        elif self.width:
            self._write("\n")
            self.width = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _next_mark(self, done):
        """The count due for the next line in a log: the next multiple of `every`, else of a
        tenth of the total; none when both are unknown (then only time brings lines)."""
        step = self.every or (self.total and max(1, math.ceil(self.total / 10)))
        return (done // step + 1) * step if step else math.inf

    def _text(self, done, fields, status, now):
        if status is None:
            count = f"{done}/{self.total}" if self.total is not None else f"{done}"
            status = f"{self.unit} {count}" if self.unit else count
        parts = [status] + [f"{name} {_number(value)}" for name, value in (fields or {}).items()]
        return f"{self.what}: {', '.join(parts)}, {now - self.start:.1f} s"

    def _draw(self, now, end):
        padding = " " * max(0, self.width - len(self.line))  # covers a longer previous line
        self._write(f"\r{self.line}{padding}" + ("\n" if end else ""))
        self.width = 0 if end else len(self.line)
        self.shown, self.pending = now, False

    def _write_line(self, now):
        self._write(self.line + "\n")
        self.shown, self.pending = now, False

    def _write(self, text):
        if self.stream is not sys.stdout:
            sys.stdout.flush()
        self.stream.write(text)
        self.stream.flush()


def _number(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
