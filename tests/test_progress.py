"""tinyconv.progress: one line redrawn on a terminal, a bounded number of whole lines in a log;
and the subcommands' progress through it, as a log (a pipe) sees it."""
import io

import numpy as np
import pytest
from PIL import Image

from conftest import random_picture
from tinyconv.cli import main
from tinyconv.progress import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


class Clock:
    """A clock that advances `tick` seconds per reading."""

    def __init__(self, tick):
        self.now, self.tick = 0.0, tick

    def __call__(self):
        self.now += self.tick
        return self.now


def test_a_log_gets_a_bounded_number_of_whole_lines():
    log = io.StringIO()
    with Progress("efros-leung", 700, unit="pixels", stream=log, clock=Clock(0.01)) as progress:
        for done in range(1, 701):
            progress(done, 700)
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert 10 <= len(lines) <= 12  # the first, one per tenth, the last
    assert lines[0].startswith("efros-leung: pixels 1/700, ")
    assert lines[-1].startswith("efros-leung: pixels 700/700, ")
    assert log.getvalue().count("700/700") == 1  # close() does not repeat the last line


def test_a_log_gets_a_line_when_a_slow_run_passes_the_interval():
    log = io.StringIO()
    progress = Progress("slow", 1000, stream=log, interval=30.0, clock=Clock(10.0))
    for done in range(1, 31):
        progress.update(done)
    assert len(log.getvalue().splitlines()) == 10  # at 10 s, then every 30 s up to 300 s


def test_every_sets_the_line_period_and_close_shows_an_unfinished_state():
    log = io.StringIO()
    progress = Progress("visualize", 200, unit="step", every=50, stream=log, clock=Clock(0.01))
    for done in range(1, 121):
        progress.update(done, {"loss": 1.5, "fooled": 2})
    progress.close()  # an interrupted run: its last state is shown
    steps = [line.split(",")[0] for line in log.getvalue().splitlines()]
    assert steps == [f"visualize: step {n}/200" for n in (1, 50, 100, 120)]
    assert "loss 1.5, fooled 2, " in log.getvalue()


def test_a_terminal_gets_one_line_redrawn_at_most_ten_times_a_second():
    screen = Terminal()
    with Progress("pixels", 700, stream=screen, clock=Clock(0.01)) as progress:
        for done in range(1, 701):
            progress(done, 700)
    text = screen.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    draws = text.split("\r")[1:]
    assert 60 <= len(draws) <= 72  # 7 s of updates at most 10 a second, and the last
    assert draws[-1].startswith("pixels: 700/700, ")


def test_a_terminal_line_shorter_than_the_last_covers_it():
    screen = Terminal()
    progress = Progress("x", None, stream=screen, redraw=0.0, clock=Clock(1.0))
    progress.update(1, status="a long status")
    progress.update(2, status="short")
    progress.close()
    last = screen.getvalue().split("\r")[-1]
    assert last.rstrip("\n").endswith(" " * 4) and last.endswith("\n")


@pytest.fixture
def dog(tmp_path):
    return random_picture(tmp_path / "dog.png")


def run(capfd, *argv):
    """main(argv) with stdout and stderr as files (a pipe, not a terminal): (out, err)."""
    assert main([str(a) for a in argv]) == 0
    return capfd.readouterr()


def test_deepdream_names_the_octave_of_each_step(capfd, dog, tmp_path):
    out, err = run(capfd, "deepdream", dog, "--model", "squeezenet1_1", "--layer", "fire2",
                   "--octaves", "2", "--steps", "3", "--out", tmp_path)
    lines = err.splitlines()
    assert [line.split(",")[0] for line in lines] == [
        "deepdream octave 1/2 (29x29): step 1/3", "deepdream octave 1/2 (29x29): step 3/3",
        "deepdream octave 2/2 (40x40): step 1/3", "deepdream octave 2/2 (40x40): step 3/3"]
    assert "\r" not in err


def test_invert_names_the_layer_before_its_steps(capfd, dog, tmp_path):
    out, err = run(capfd, "invert", dog, "--model", "squeezenet1_1", "--image-size", "40",
                   "--layers", "fire2", "fire3", "--steps", "3", "--step-rule", "adam",
                   "--out", tmp_path)
    assert [line.split(":")[0] for line in err.splitlines()] == \
        ["invert fire2/concat"] * 2 + ["invert fire3/concat"] * 2


def test_multifaceted_reports_each_facet_as_it_ends(capfd, tmp_path):
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
            tmp_path / f"{i}.png")
    argv = ["multifaceted", tmp_path, "--model", "squeezenet1_1", "--class", "3", "--facets",
            "2", "--image-size", "32", "--steps", "2", "--out", tmp_path / "out"]
    assert main([str(a) for a in argv]) == 0
    out, err = capfd.readouterr()
    assert err.splitlines()[0].startswith("multifaceted facet 0 (of 2, ")
    facet0_written = out.index("multifaceted_c3_facet0.png")
    assert out.index("facet 0: ") < facet0_written < out.index("facet 1: ")


def test_efros_leung_in_a_log_has_no_carriage_returns_and_few_lines(capfd, dog, tmp_path):
    out, err = run(capfd, "efros-leung", dog, "--sample-size", "24", "--size", "24", "24",
                   "--window", "5", "--out", tmp_path)
    assert "\r" not in err
    lines = err.splitlines()
    assert 2 <= len(lines) <= 12 and lines[-1].startswith("efros-leung: pixels ")
    total = lines[-1].split("/")[1].split(",")[0]
    assert lines[-1].startswith(f"efros-leung: pixels {total}/{total}, ")
