"""Cargo features: let-7a / let-7b ΔCt, not amplified vs not assayed."""

from __future__ import annotations

import math

import pytest

from exoqc.dataset import load_dataset
from exoqc.features.cargo import CARGO_FEATURES, cargo_features

CARGO = """prep_id,target,delta_ct
P1,hsa-let-7a-5p,-2.5
P1,let-7a,-3.5
P1,Let7a,Undetermined
P1,let-7b,1.25
P2,let7b,Undetermined
P2,let7b,undetermined
P2,miR-21,3.0
P2,miR-146a,4.0
"""


def test_let7_delta_ct_and_detection(prep_folder):
    dataset = load_dataset(prep_folder("prep_id\nP1\nP2\nP3\n", cargo=CARGO))
    frame, warnings = cargo_features(dataset.cargo, dataset.prep_ids)
    assert list(frame.columns) == [f.name for f in CARGO_FEATURES]
    assert {"let7a_delta_ct", "let7b_delta_ct"} <= set(frame.columns)
    # replicate wells that amplified are averaged; the undetermined well does not enter
    assert frame.at["P1", "let7a_delta_ct"] == pytest.approx(-3.0)
    assert frame.at["P1", "let7a_detected"] == 1
    assert frame.at["P1", "let7b_delta_ct"] == pytest.approx(1.25)
    # assayed but never amplified: ΔCt empty, flag 0; not assayed: both empty
    assert math.isnan(frame.at["P2", "let7b_delta_ct"])
    assert frame.at["P2", "let7b_detected"] == 0
    assert math.isnan(frame.at["P2", "let7a_detected"])
    assert frame.loc["P3"].isna().all()
    assert warnings == {
        "P2": ["cargo.csv: target(s) mir-146a, mir-21 are not model features; not used"]}
