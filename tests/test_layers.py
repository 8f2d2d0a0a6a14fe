"""The one-way house (docs/architecture.md): training and inference never import each other;
what both need lives in the model layer (exoqc.model) below them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at top level or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize(("folder", "forbidden"), [
    ("training", "exoqc.inference"), ("inference", "exoqc.training"),
    ("model", "exoqc.training"), ("model", "exoqc.inference"), ("model", "exoqc.monitor"),
])
def test_a_layer_does_not_import_its_sibling_or_anything_above(folder, forbidden):
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in imported_modules(path)
                                            if m == forbidden or m.startswith(forbidden + "."))
        for path in sorted((ROOT / folder).rglob("*.py"))
    }
    assert not {k: v for k, v in offenders.items() if v}, offenders


def test_the_reader_sees_real_imports():
    # The check above would pass on files it cannot read: make sure it sees imports at all.
    assert "exoqc.model.predictor" in imported_modules(ROOT / "inference" / "explain.py")
