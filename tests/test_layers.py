"""The layers the code keeps (CONTRIBUTING, "Adding a kind"): a kind module imports the kinds'
base and what lies below it, never the registry, the engine or the renderers; the provider
clients (the wire) know no kind. Read from the source, every import counted: at the top of a
module, inside a function or under ``TYPE_CHECKING``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "reconciler"

# What a kind module may not import: the registry, the engine, the renderers, the commands.
ABOVE_THE_KINDS = (
    "reconciler.kinds",  # the registry itself (its submodules are checked one by one below)
    "reconciler.apply",
    "reconciler.changed",
    "reconciler.commands",
    "reconciler.cost",
    "reconciler.export",
    "reconciler.export_stream",
    "reconciler.guard",
    "reconciler.live",
    "reconciler.manifests",
    "reconciler.notify",
    "reconciler.output",
    "reconciler.plan",
    "reconciler.planner",
    "reconciler.prefetch",
    "reconciler.safety",
    "reconciler.savedplan",
)
# The kinds' own modules a kind module may import (the registry's package is not one of them).
KIND_SIBLINGS = ("reconciler.kinds.",)


def imported(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every import in ``path`` (the package uses no relative import)."""
    return imports_in(path.read_text(encoding="utf-8"), str(path))


def imports_in(source: str, name: str) -> list[tuple[int, str]]:
    tree = ast.parse(source, name)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module))
            # ``from reconciler import live`` imports the module ``reconciler.live``.
            if node.module == "reconciler":
                found.extend((node.lineno, f"reconciler.{alias.name}") for alias in node.names)
    return found


def forbidden(module: str, above: tuple[str, ...]) -> bool:
    if module.startswith(KIND_SIBLINGS):
        return False
    return any(module == name or module.startswith(f"{name}.") for name in above)


KIND_MODULES = sorted(p for p in (PACKAGE / "kinds").glob("*.py") if p.name != "__init__.py")
PROVIDER_MODULES = sorted((PACKAGE / "providers").glob("*.py"))


@pytest.mark.parametrize("path", KIND_MODULES, ids=lambda p: p.name)
def test_a_kind_module_imports_nothing_above_the_kinds(path: Path) -> None:
    wrong = [
        f"{path.name}:{line} {m}" for line, m in imported(path) if forbidden(m, ABOVE_THE_KINDS)
    ]
    assert wrong == []


@pytest.mark.parametrize("path", PROVIDER_MODULES, ids=lambda p: p.name)
def test_a_provider_client_knows_no_kind(path: Path) -> None:
    wrong = [
        f"{path.name}:{line} {m}" for line, m in imported(path) if m.startswith("reconciler.kinds")
    ]
    assert wrong == []


def test_the_registry_lists_every_kind_module_that_defines_a_kind() -> None:
    """Each module that ends with ``KIND = ...`` is imported by the registry."""
    tree = ast.parse((PACKAGE / "kinds" / "__init__.py").read_text(encoding="utf-8"))
    registry = {
        f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "reconciler.kinds"
        for alias in node.names
    }
    defining = {
        f"reconciler.kinds.{p.stem}"
        for p in KIND_MODULES
        if "\nKIND = " in p.read_text(encoding="utf-8")
    }
    assert len(defining) >= 6  # the kinds of SPEC §2 and §10
    assert defining <= registry


def test_the_check_sees_an_import_from_above() -> None:
    """The check itself: an import of the engine, a renderer or the registry is caught,
    wherever it is written; the kinds' base and the layers below pass."""
    source = (
        "from reconciler.kinds.base import Kind\n"
        "from reconciler import model, safety\n"
        "def f():\n    from reconciler.output.markdown_text import code\n"
        "if TYPE_CHECKING:\n    from reconciler.kinds import kinds\n"
    )
    found = [m for _, m in imports_in(source, "probe.py") if forbidden(m, ABOVE_THE_KINDS)]
    assert found == ["reconciler.safety", "reconciler.output.markdown_text", "reconciler.kinds"]
