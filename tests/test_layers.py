"""The package layers (CONTRIBUTING / issue 10): ``guikv`` and ``environments`` import nothing else of the project,
``eval`` may use ``guikv``, ``agent`` is the top. Every import statement of every source file is read with ``ast``
(module-level and inside functions, ``import x`` and ``from x import y``), so a lazy import cannot hide a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agent", "eval", "guikv", "environments")
# package -> the project packages it may import (besides itself)
ALLOWED: dict[str, frozenset[str]] = {
    "guikv": frozenset(),
    "environments": frozenset(),
    "eval": frozenset({"guikv"}),
    "agent": frozenset({"guikv", "environments", "eval"}),
}


def imported_modules(source: str, filename: str) -> list[tuple[int, str]]:
    """``(line, absolute module name)`` of every import in ``source`` (relative imports are resolved by the caller)."""
    found = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: stays inside its own package
                continue
            found.append((node.lineno, node.module or ""))
    return found


def violations(package: str, root: Path = ROOT) -> list[str]:
    """``file:line imports module`` for every import of ``package``'s files that runs up (or across) the layers."""
    problems = []
    for path in sorted((root / package).rglob("*.py")):
        relative = path.relative_to(root)
        for line, module in imported_modules(path.read_text(encoding="utf-8"), str(relative)):
            top = module.split(".")[0]
            if top in PACKAGES and top != package and top not in ALLOWED[package]:
                problems.append(f"{relative}:{line} imports {module}")
    return problems


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_runs_up_the_layers(package):
    assert (ROOT / package).is_dir(), f"package folder {package}/ missing"
    assert not violations(package), "\n".join(violations(package))


def test_the_check_sees_lazy_and_dotted_imports(tmp_path):
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "bad.py").write_text(
        "import json\nfrom guikv.models import spec_of\n\ndef f():\n    from agent.coords import smart_resize\n"
        "    import agent.models.registry\n    from . import sibling\n"
    )
    assert violations("eval", tmp_path) == [
        "eval/bad.py:5 imports agent.coords",
        "eval/bad.py:6 imports agent.models.registry",
    ]
    (tmp_path / "guikv").mkdir()
    (tmp_path / "guikv" / "x.py").write_text("from environments.actions import Point\nfrom eval import prompts\n")
    assert violations("guikv", tmp_path) == ["guikv/x.py:1 imports environments.actions", "guikv/x.py:2 imports eval"]


@pytest.mark.parametrize("module", ["config", "planning", "replayer", "resume", "scale"])
def test_the_sweeps_parts_do_not_import_the_sweep(module):
    """``eval.runner`` (the sweep) uses its seams; none of them imports it back (the old runner <-> scale circle)."""
    path = ROOT / "eval" / f"{module}.py"
    imported = {name for _, name in imported_modules(path.read_text(encoding="utf-8"), str(path))}
    assert "eval.runner" not in imported, f"eval/{module}.py imports eval.runner"
