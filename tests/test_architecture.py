"""The folders are the architecture: which package may import which, and no import circles.

Imports are read with ``ast`` from the source (nothing is imported), so a rule holds for every
module, also those no test happens to import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "modemd"

# (importing folder, imported name prefixes it must not use, why)
FORBIDDEN: list[tuple[str, tuple[str, ...], str]] = [
    ("runtime", ("modemd.at", "modemd.sms"), "wire facts stop at the driver"),
    ("store", ("modemd.at", "modemd.sms"), "wire facts stop at the driver"),
    ("api", ("modemd.drivers", "sqlite_utils", "sqlite3"), "the API talks to the bank and store"),
    ("hardware", ("modemd.runtime", "modemd.config"), "hardware gets callables from the wiring"),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(path: Path, known: set[str]) -> set[str]:
    """Every module name ``path`` imports. ``from a import b`` is ``a.b`` when that is a module
    (a submodule, not its package's face), else ``a``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                names.add(full if full in known else base)
    return names


def all_imports() -> dict[str, set[str]]:
    """Module -> every name it imports (third-party ones included)."""
    paths = list(PACKAGE.rglob("*.py"))
    known = {module_name(p) for p in paths}
    return {module_name(p): imported(p, known) for p in paths}


def modules() -> dict[str, set[str]]:
    """Module -> the modemd modules it imports."""
    found = all_imports()
    return {m: {n for n in names if n in found and n != m} for m, names in found.items()}


@pytest.mark.parametrize(("folder", "banned", "why"), FORBIDDEN, ids=[f[0] for f in FORBIDDEN])
def test_folder_does_not_import(folder: str, banned: tuple[str, ...], why: str) -> None:
    wrong = sorted(
        f"{module} imports {name}"
        for module, names in all_imports().items()
        if module.startswith(f"modemd.{folder}.") or module == f"modemd.{folder}"
        for name in names
        if any(name == b or name.startswith(b + ".") for b in banned)
    )
    assert wrong == [], f"{why}: {wrong}"


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), or a self-import."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles() -> None:
    assert cycles(modules()) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_private_name_crosses_a_folder() -> None:
    wrong = []
    for module, names in all_imports().items():
        folder = module.split(".")[1] if module.count(".") >= 1 else ""
        for name in names:
            parts = name.split(".")
            if parts[0] != "modemd" or len(parts) < 3:
                continue
            private = any(p.startswith("_") and not p.startswith("__") for p in parts[2:])
            if private and parts[1] != folder:
                wrong.append(f"{module} imports {name}")
    assert not wrong, wrong
