"""search/ is built in floors: a module imports only from its own package or the floors under
it, so the answer's rules never reach up into Tune and predicting never loads Ray."""

import ast
from pathlib import Path

import search
import trainable.data

ROOT = Path(search.__file__).parent
# Lowest first; the top level (run, job, predict, export) may import any of them.
FLOORS = ["stats", "answer", "settings", "tune", "experiment", "outputs", "deploy"]
TOP = len(FLOORS)


def floor(module: str) -> int:
    """search.tune.asha -> 3; search.tune -> 3; search.run -> the top."""
    parts = module.split(".")
    return FLOORS.index(parts[1]) if len(parts) > 1 and parts[1] in FLOORS else TOP


def module_of(path: Path, root: Path = ROOT) -> str:
    """search/tune/asha.py -> search.tune.asha; search/tune/__init__.py -> search.tune."""
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path = ROOT) -> set[str]:
    """The search modules a file imports, at any depth: absolute and relative imports,
    `from search import x`, and importlib.import_module("search....")."""
    module = module_of(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .. import x, from ..outputs import y
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base == "search" or base.startswith("search."):
                found |= {f"{base}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("search.")}
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
            if node.args and isinstance(node.args[0], ast.Constant):
                name = str(node.args[0].value)
                found |= {name} if name.startswith("search.") else set()
    return found


def upward_imports(paths, root: Path = ROOT) -> list[str]:
    return [
        f"{module_of(path, root)} -> {imported}"
        for path in paths
        for imported in imports(path, root)
        if floor(imported) > floor(module_of(path, root))
    ]


def test_no_module_imports_from_a_floor_above_its_own():
    assert upward_imports(sorted(ROOT.rglob("*.py"))) == []


def test_an_import_reaching_up_is_caught_however_it_is_written(tmp_path):
    rules = tmp_path / "search" / "answer" / "rules.py"
    rules.parent.mkdir(parents=True)
    ways = [
        "from search.tune.asha import OrderedASHA",
        "import search.outputs.report as report",
        "from search import job",
        "from ..tune import compat",
        "from .. import outputs",
        "import importlib; importlib.import_module('search.deploy.answer')",
    ]
    for way in ways:
        rules.write_text(way + "\n")
        assert len(upward_imports([rules], tmp_path / "search")) == 1, way
    rules.write_text("from search.stats.intervals import judge\nfrom . import names\n")
    assert (
        upward_imports([rules], tmp_path / "search") == []
    )  # down a floor, and within its package


def test_the_top_level_holds_at_most_ten_modules_and_each_package_names_its_own():
    assert len(list(ROOT.glob("*.py"))) <= 10
    data = Path(trainable.data.__file__).parent  # trainable/data/ by source, too
    for package in [*(ROOT / p for p in FLOORS if (ROOT / p).is_dir()), data]:
        opening = ast.get_docstring(ast.parse((package / "__init__.py").read_text()))
        modules = [p.stem for p in package.glob("*.py") if p.stem != "__init__"]
        assert [m for m in modules if f"({m}" not in opening and f" {m}" not in opening] == []
