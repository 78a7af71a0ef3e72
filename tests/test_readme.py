"""Every ```python block of README.md runs as written from a checkout beside ../shared/assets,
each on its own, and prints what the comments on its print lines say."""
import re

import pytest

from conftest import ASSETS, REPO

SNIPPETS = re.findall(r"^```python\n(.*?)^```", (REPO / "README.md").read_text(), re.S | re.M)


def printed_by_comments(code):
    """What the snippet says it prints: the comment of each `print(...)  # ...` line."""
    return [line.split("  # ", 1)[1].strip() for line in code.splitlines()
            if line.startswith("print(") and "  # " in line]


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """The working folder: an empty folder beside shared/assets (a link to the assets), so that
    relative paths resolve as in a checkout and whatever a snippet writes lands in tmp_path."""
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "assets").symlink_to(ASSETS, target_is_directory=True)
    (tmp_path / "checkout").mkdir()
    monkeypatch.chdir(tmp_path / "checkout")
    return tmp_path / "checkout"


def test_readme_has_python_snippets():
    assert len(SNIPPETS) >= 2


@pytest.mark.parametrize("index", range(len(SNIPPETS)), ids=lambda i: f"snippet{i + 1}")
def test_readme_snippet_runs_and_prints_what_it_says(index, checkout, capsys):
    code = SNIPPETS[index]
    if "../shared/assets" in code and not ASSETS.is_dir():
        pytest.skip(f"shared assets not found at {ASSETS} (set TINYCONV_ASSETS)")
    exec(compile(code, f"README.md python snippet {index + 1}", "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out.splitlines() == printed_by_comments(code)
