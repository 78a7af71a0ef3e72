"""No function or method of the tinyconv package is longer than MAX_LINES lines (def line through
last line, docstring included): longer ones are split into named steps."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tinyconv"
MAX_LINES = 60


def long_functions(root=PACKAGE, limit=MAX_LINES):
    """["file:line name (n lines)"] of every function in root/**/*.py longer than `limit`."""
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > limit:
                    where = path.relative_to(root.parent).as_posix()
                    found.append(f"{where}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_function_is_longer_than_the_limit():
    offenders = long_functions()
    assert not offenders, f"functions over {MAX_LINES} lines:\n" + "\n".join(offenders)


def test_the_check_sees_a_long_function(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    (package / "m.py").write_text(f"class A:\n    def short(self):\n        pass\n\n"
                                  f"def long():\n{body}\n")
    assert long_functions(package) == [f"pkg/m.py:5 long ({MAX_LINES + 1} lines)"]
