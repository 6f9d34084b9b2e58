"""The architecture's rules that a linter cannot see: dvc.yaml's code deps cover what each stage
imports, and imports inside functions are only for heavy or optional dependencies."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest
import yaml

from textclf.pipeline.stages import STAGES, stage_module

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "textclf"
GRAPH = grimp.build_graph("textclf", cache_dir=None)


def module_file(module: str) -> Path:
    path = ROOT / "src" / Path(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def imported_by(module: str) -> set[str]:
    """Every module of the package that `module` imports, directly or not, at any depth of its
    code (inside functions too), and itself. The package's __init__ (compat) is always there."""
    return {module, *GRAPH.find_upstream_modules(module)} - {"textclf"}


@pytest.mark.parametrize("stage", list(STAGES))
def test_the_deps_of_each_stage_cover_the_code_it_runs(stage: str) -> None:
    declared = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]["deps"]
    covered = [ROOT / str(dep) for dep in declared if str(dep).startswith("src/")]
    runs = imported_by(stage_module(stage)) | imported_by("textclf.pipeline.stages")
    missing = sorted(
        module_file(module).relative_to(ROOT).as_posix()
        for module in runs
        if not any(module_file(module).is_relative_to(dep) for dep in covered)
    )
    assert not missing, f"dvc.yaml's {stage} stage runs these but does not list them: {missing}"


def test_the_dependency_check_sees_a_module_a_stage_imports() -> None:
    """The train stage computes validation.accuracy with ml/scoring.py (sweep-best ranks by it)."""
    assert "textclf.ml.scoring" in imported_by(stage_module("train"))


# Imports inside functions stay only for what is slow to import or optional; each says why
# on its line or the line above. The CLI imports its commands' modules when they run.
LAZY_ALLOWED = {"cli.py"}


def function_level_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and (inner.module or "").startswith("textclf"):
                    found.append((inner.lineno, inner.module or ""))
    return found


def test_modules_import_the_package_at_the_top_not_inside_functions() -> None:
    """Function-level imports of the package's own modules were how cycles hid; with one-way
    layers none is needed (the CLI imports each command's module when it runs, so that
    `textclf --help` stays fast). Each one left says why, on its line or the one above."""
    unexplained = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).as_posix() in LAZY_ALLOWED:
            continue
        lines = path.read_text().splitlines()
        for lineno, module in function_level_imports(path):
            here, above = lines[lineno - 1], lines[lineno - 2]
            if "#" not in here and not above.strip().startswith("#"):
                unexplained.append(f"{path.relative_to(ROOT)}:{lineno} imports {module}")
    assert not unexplained, "\n".join(unexplained)
