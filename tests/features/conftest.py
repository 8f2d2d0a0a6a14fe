"""Small prep dataset folders written inside a test, for the feature extractors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def prep_folder(tmp_path: Path) -> Callable[..., Path]:
    """Write a prep dataset folder from CSV texts; returns its path.

    ``prep_folder(preps, markers=None, cargo=None, dls={name: text}, name="ds")``
    """
    def write(preps: str, markers: str | None = None, cargo: str | None = None,
              dls: dict[str, str] | None = None, name: str = "ds") -> Path:
        root = tmp_path / name
        root.mkdir()
        (root / "preps.csv").write_text(preps)
        if markers is not None:
            (root / "markers.csv").write_text(markers)
        if cargo is not None:
            (root / "cargo.csv").write_text(cargo)
        if dls:
            (root / "dls").mkdir()
            for file_name, text in dls.items():
                (root / "dls" / file_name).write_text(text)
        return root

    return write
