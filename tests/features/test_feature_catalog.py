"""The feature catalog covers every column, and docs/features.md shows the current one."""

from __future__ import annotations

from pathlib import Path

import pytest

from exoqc.features import FEATURE_CATALOG, FeatureInfo, catalog_frame, feature_names, label_of
from exoqc.features.catalog import render_catalog_markdown, with_catalog

DOC = Path(__file__).resolve().parents[2] / "docs" / "features.md"
SOURCES = {"DLS", "NTA", "BCA", "NTA/BCA", "NTA/DLS", "markers", "qPCR", "prep record"}


def test_every_entry_is_complete_and_unique():
    names = feature_names()
    assert len(names) == len(set(names))
    for info in FEATURE_CATALOG:
        assert isinstance(info, FeatureInfo)
        assert info.name.isidentifier() and info.name == info.name.lower(), info.name
        assert info.label and info.unit and info.source in SOURCES, info
        assert len(info.description) > 30, info.name


def test_catalog_frame_and_labels():
    frame = catalog_frame()
    assert list(frame.columns) == ["name", "label", "unit", "description", "source"]
    assert frame["name"].tolist() == feature_names()
    assert label_of("log10_particles_per_ug") == "Particles per µg protein"
    assert label_of("marker_alix_detected") == "ALIX detected"
    with pytest.raises(KeyError, match="not a column"):
        label_of("no_such_feature")


def test_docs_show_the_current_catalog():
    text = DOC.read_text(encoding="utf-8")
    assert with_catalog(text) == text, (
        "docs/features.md is out of date: run .venv/bin/python -c \"from "
        "exoqc.features.catalog import update_doc; update_doc('docs/features.md')\"")
    for name in feature_names():
        assert f"| `{name}` |" in render_catalog_markdown()
