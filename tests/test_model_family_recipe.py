"""docs/architecture.md's recipe for a model family holds: its example file plus its one registry
line (the module's name in models.FAMILIES) give an architecture that builds, runs, is listed
as a classifier and is known to the CLI. Run on a copy of the package, in a child process."""
import re
import shutil
import subprocess
import sys

from conftest import REPO

CHILD = """
import numpy as np
from tinyconv import models
from tinyconv.cli import main
from tinyconv.weights.convert import TORCHVISION_ARCHITECTURES
model = models.build("lenet", dtype="float64")
scores = model(np.random.default_rng(0).random((2, 3, 32, 32))).numpy()
assert scores.shape == (2, 10), scores.shape
assert "lenet" in models.CLASSIFIERS and "lenet" not in TORCHVISION_ARCHITECTURES
assert main(["layers", "--model", "lenet"]) == 0
"""


def recipe_file():
    """The python block of the recipe's step 1."""
    text = (REPO / "docs" / "architecture.md").read_text()
    section = text[text.index("### Add a model family"):text.index("### Add a method")]
    block = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    return "\n".join(line[3:] for line in block.splitlines()) + "\n"  # the list's indent


def test_a_model_family_is_one_file_and_one_registry_line(tmp_path):
    package = tmp_path / "tinyconv"
    shutil.copytree(REPO / "tinyconv", package, ignore=shutil.ignore_patterns("__pycache__"))
    (package / "models" / "lenet.py").write_text(recipe_file())
    registry = package / "models" / "__init__.py"
    text = registry.read_text()
    line = re.search(r"^FAMILIES = \((.*?)\)$", text, flags=re.M | re.S)
    registry.write_text(text.replace(line.group(0), f'FAMILIES = ({line.group(1)}, "lenet")'))
    done = subprocess.run([sys.executable, "-c", CHILD], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "fc5" in done.stdout  # the layer listing names the new table's rows
