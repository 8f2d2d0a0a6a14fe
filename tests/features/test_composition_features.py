"""Composition features: counts, particles per µg protein, isolation method one-hot."""

from __future__ import annotations

import math

import pytest

from exoqc.dataset import ISOLATION_METHODS, load_dataset
from exoqc.features.composition import (
    COMPOSITION_FEATURES,
    PREP_RECORD_FEATURES,
    composition_features,
    prep_record_features,
)

PREPS = """prep_id,isolation_method,particles_per_ml,protein_ug_per_ml
P1,uc,3.0e11,100
P2,Size exclusion chromatography,2.0e9,
P3,,0,50
P4,exoquick,5e10,0
"""


def test_counts_and_particles_per_ug(prep_folder):
    dataset = load_dataset(prep_folder(PREPS))
    frame, warnings = composition_features(dataset.preps)
    assert list(frame.columns) == [f.name for f in COMPOSITION_FEATURES]
    # 3e11 particles/mL over 100 µg/mL = 3e9 particles/µg
    assert frame.at["P1", "log10_particles_per_ug"] == pytest.approx(math.log10(3e9))
    assert frame.at["P1", "particles_per_ml"] == 3.0e11
    assert frame.at["P1", "protein_ug_per_ml"] == 100
    # missing BCA: the ratio is not measured
    assert math.isnan(frame.at["P2", "log10_particles_per_ug"])
    assert math.isnan(frame.at["P2", "protein_ug_per_ml"])
    # zero counts: no infinite logarithm, an explicit warning instead
    assert math.isnan(frame.at["P3", "log10_particles_per_ug"])
    assert math.isnan(frame.at["P4", "log10_particles_per_ug"])
    assert "particles_per_ml" in warnings["P3"][0] and "preps.csv" in warnings["P3"][0]
    assert "protein_ug_per_ml" in warnings["P4"][0]
    assert set(warnings) == {"P3", "P4"}


def test_counts_absent_from_preps_csv_are_not_measured(prep_folder):
    dataset = load_dataset(prep_folder("prep_id\nP1\n"))
    frame, warnings = composition_features(dataset.preps)
    assert frame.isna().all().all() and warnings == {}
    assert prep_record_features(dataset.preps).isna().all().all()


def test_isolation_method_one_hot(prep_folder):
    dataset = load_dataset(prep_folder(PREPS))
    frame = prep_record_features(dataset.preps)
    assert list(frame.columns) == [f.name for f in PREP_RECORD_FEATURES]
    assert list(frame.columns) == [f"isolation_{m}" for m in ISOLATION_METHODS]
    assert frame.loc["P1"].to_dict() == {
        f"isolation_{m}": float(m == "uc") for m in ISOLATION_METHODS}
    assert frame.at["P2", "isolation_sec"] == 1 and frame.loc["P2"].sum() == 1
    assert frame.at["P4", "isolation_peg"] == 1  # ExoQuick is a polymer precipitation
    assert frame.loc["P3"].isna().all()  # no method stated
