"""search/ is built in floors: a module imports only from its own package or the floors under
it, so the answer's rules never reach up into Tune and predicting never loads Ray."""

import ast
from pathlib import Path

import search

ROOT = Path(search.__file__).parent
# Lowest first; the top level (run, job, predict, export) may import any of them.
FLOORS = ["stats", "answer", "settings", "tune", "experiment", "outputs", "deploy"]
TOP = len(FLOORS)


def floor(module: str) -> int:
    """search.tune.asha -> 3; search.run -> the top."""
    part = module.split(".")[1]
    return FLOORS.index(part) if part in FLOORS else TOP


def imports(path: Path) -> set[str]:
    """The search modules a file imports, at any depth (function-level imports count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("search"):
            names = [f"{node.module}.{a.name}" for a in node.names]
            found |= {n if n.count(".") >= 1 else node.module for n in names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("search.")}
    return {m for m in found if m != "search"}


def test_no_module_imports_from_a_floor_above_its_own():
    upward = []
    for path in sorted(ROOT.rglob("*.py")):
        module = "search." + ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if module.endswith("__init__"):
            continue
        for imported in imports(path):
            if floor(imported) > floor(module):
                upward.append(f"{module} -> {imported}")
    assert not upward, upward


def test_the_top_level_holds_at_most_ten_modules_and_each_package_says_what_it_owns():
    assert len(list(ROOT.glob("*.py"))) <= 10
    for package in FLOORS:
        if package == "settings":
            continue
        opening = ast.get_docstring(ast.parse((ROOT / package / "__init__.py").read_text()))
        assert opening and len(opening) > 80, package


def test_a_floor_reaching_up_is_caught():
    # the check itself: an answer rule importing the searcher would be an arrow up
    assert floor("search.tune.optuna_search") > floor("search.answer.rules")
    assert floor("search.stats.intervals") < floor("search.deploy.answer") < TOP
