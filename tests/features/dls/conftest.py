"""Fixtures of the DLS tests (the forward model is in dls_forward.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[..., Path]:
    """Write text (Latin-1 by default) or bytes to tmp_path/name; returns the path."""
    def write(name: str, content: str | bytes, encoding: str = "latin-1") -> Path:
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
        return path

    return write
