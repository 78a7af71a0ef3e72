"""The parts of tinyconv import only parts below them (docs/architecture.md, "Dependency order").

Every import of every module counts, at the top or inside a function, relative or absolute, and
importlib.import_module("tinyconv...") with a constant name: a lazy import is still a dependency.
"""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "tinyconv"

# lowest first; a part may import the parts of earlier rows only (and itself)
ORDER = [
    {"errors"},  # the input-error exceptions; imports nothing of tinyconv
    {"atomic"},  # writing files; below the other utilities, which write through it
    {"builtin", "cache", "image", "progress", "suggest", "version"},  # utilities: no other part
    {"engine"},
    {"kernels"},
    {"ops"},
    {"models"},
    {"weights"},
    {"loading"},
    {"methods"},
    {"training"},  # datasets, the training loop, checkpoints: uses methods' image reading
    {"bench"},
    {"cli"},
]
FACADE = {"__init__", "__main__"}  # tinyconv/__init__.py (the public API) and python -m tinyconv
RANK = {part: rank for rank, parts in enumerate(ORDER) for part in parts}


def _module_name(path):
    """("tinyconv", "kernels", "cpu", "conv") of tinyconv/kernels/cpu/conv.py; a package's
    __init__.py names the package."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imported_modules(path):
    """Dotted names of the tinyconv modules (or names in them) that the file imports."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                module = ".".join(base + ((node.module,) if node.module else ()))
            else:
                module = node.module
            if node.module is None:  # from .. import ops, models: each name may be a module
                found += [f"{module}.{alias.name}" for alias in node.names]
            else:
                found.append(module)
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant)):
            found.append(node.args[0].value)
    return [m for m in found if m == "tinyconv" or m.startswith("tinyconv.")]


def _part(dotted):
    """The part of tinyconv a dotted module name belongs to: tinyconv.kernels.cpu.conv ->
    "kernels"; tinyconv itself (or a name defined in its __init__.py) -> "__init__"."""
    pieces = dotted.split(".")
    if len(pieces) == 1:
        return "__init__"
    if (PACKAGE / pieces[1]).is_dir() or (PACKAGE / f"{pieces[1]}.py").is_file():
        return pieces[1]
    return "__init__"


def _dependencies():
    """{(importing part, imported part): [file that does it, ...]} over the whole package."""
    edges = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        part = _part(".".join(_module_name(path))) if path.name != "__main__.py" or \
            path.parent != PACKAGE else "__main__"
        for dotted in _imported_modules(path):
            target = _part(dotted)
            if target != part:
                edges.setdefault((part, target), []).append(str(path.relative_to(PACKAGE)))
    return edges


def test_every_part_has_a_place_in_the_order():
    parts = {p.stem for p in PACKAGE.glob("*.py")} | \
        {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert parts - FACADE - set(RANK) == set()


def test_the_parser_sees_imports_of_every_kind():
    edges = _dependencies()
    assert ("ops", "engine") in edges            # from ..engine.tensor import Function
    assert ("ops", "kernels") in edges           # from ..kernels.algorithms import ...
    assert ("cli", "loading") in edges
    inside_a_function = _imported_modules(PACKAGE / "kernels" / "matmul.py")
    assert "tinyconv.kernels.cpu" in inside_a_function  # matmul(): from .cpu import blas


def test_no_part_imports_a_part_above_it():
    wrong = {f"{a} imports {b}": files for (a, b), files in _dependencies().items()
             if a not in FACADE and (b in FACADE or RANK[b] >= RANK[a])}
    assert wrong == {}


def test_no_cycles_between_parts():
    graph = {}
    for a, b in _dependencies():
        graph.setdefault(a, set()).add(b)
    done, active = set(), []

    def visit(node):
        assert node not in active, f"import cycle: {' -> '.join(active + [node])}"
        if node in done:
            return
        active.append(node)
        for nxt in sorted(graph.get(node, ())):
            visit(nxt)
        active.pop()
        done.add(node)

    for node in sorted(graph):
        visit(node)


def test_the_engine_does_not_import_the_ops_and_models_do_not_import_weights():
    edges = _dependencies()
    assert ("engine", "ops") not in edges and ("models", "weights") not in edges
