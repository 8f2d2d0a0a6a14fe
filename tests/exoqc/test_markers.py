"""Marker vocabulary: every spelling labs use resolves to one HGNC symbol and category."""

import pytest

from exoqc.markers import MARKERS, normalize_cargo_target, resolve_marker


@pytest.mark.parametrize(
    ("written", "symbol", "category"),
    [
        ("ALIX", "PDCD6IP", 2),
        ("alix", "PDCD6IP", 2),
        ("PDCD6IP", "PDCD6IP", 2),
        ("GM130", "GOLGA2", 4),
        ("Calnexin", "CANX", 4),
        ("syntenin-1", "SDCBP", 2),
        ("Syntenin 1", "SDCBP", 2),
        ("GRP78", "HSPA5", 4),
        ("BiP", "HSPA5", 4),
        ("albumin", "ALB", 3),
        ("ApoA-I", "APOA1", 3),
        ("Apo B", "APOB", 3),
        ("cd63", "CD63", 1),
        ("CD-81", "CD81", 1),
        ("Flotillin-1", "FLOT1", 2),
        ("histone H3", "H3C1", 4),
        ("β-actin", "ACTB", 2),
    ],
)
def test_aliases(written, symbol, category):
    marker = resolve_marker(written)
    assert marker is not None
    assert (marker.symbol, marker.category) == (symbol, category)


def test_unknown_marker():
    assert resolve_marker("XYZ-99") is None
    assert resolve_marker("") is None


def test_positive_markers_are_ev_membrane_or_cytosolic():
    for marker in MARKERS.values():
        if marker.positive:
            assert marker.category in (1, 2)
    assert not resolve_marker("GAPDH").positive  # housekeeping, any cell fraction
    assert resolve_marker("TSG101").positive


@pytest.mark.parametrize(
    ("written", "normalized"),
    [("hsa-let-7a-5p", "let-7a"), ("let7b", "let-7b"), ("Let-7a", "let-7a"),
     ("miR-21", "mir-21")],
)
def test_cargo_targets(written, normalized):
    assert normalize_cargo_target(written) == normalized
