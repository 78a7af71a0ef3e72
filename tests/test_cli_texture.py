"""`tinyconv texture`'s summary line reports the quantities its progress lines show: the start's
Gram loss is a progress line's loss (step 0 for L-BFGS, whose lines follow each iteration; step 1
for Adam, whose lines come before each step), and so is the end's."""
import re

import numpy as np
import pytest
from PIL import Image

from tinyconv.cli import main


@pytest.mark.parametrize("step_rule", ["lbfgs", "adam"])
def test_summary_start_and_end_are_progress_values(tmp_path, capsys, step_rule):
    rng = np.random.default_rng(1)
    sample = tmp_path / "sample.png"
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(sample)
    assert main(["texture", str(sample), "--model", "vgg11", "--layers", "relu1_1", "pool1",
                 "--sample-size", "32", "--steps", "3", "--progress-every", "1",
                 "--step-rule", step_rule, "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    losses = re.findall(r"^texture: step \d+/3, .*loss (\S+), ", captured.err, flags=re.M)
    start, end = re.search(r"Gram loss (\S+) -> (\S+) ", captured.out).groups()
    assert losses[0] == start and losses[-1] == end
    assert float(end) < float(start)
