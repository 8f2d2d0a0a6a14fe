"""The feature table: one row per prep, catalog columns, errors kept as NaN rows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from exoqc.dataset import load_dataset
from exoqc.features import FEATURE_CATALOG, build_features, feature_names
from exoqc.features.dls.table import DLS_FEATURES

PREPS = """prep_id,batch,isolation_method,particles_per_ml,protein_ug_per_ml,dls_file
ONLY_DLS,B1,,,,dls/ONLY_DLS.csv
ONLY_MARKERS,B1,,,,
FULL,B2,sec,2e11,40,dls/FULL.csv
BAD_MARKER,B2,uc,1e11,50,
"""
MARKERS = """prep_id,marker,intensity,assay,run
ONLY_MARKERS,CD63,1200,wb,b1
ONLY_MARKERS,TSG101,300,wb,b1
ONLY_MARKERS,ALIX,400,wb,b1
ONLY_MARKERS,APOA1,ND,wb,b1
FULL,CD63,800,wb,b1
FULL,APOA1,100,wb,b1
BAD_MARKER,CD63,lots,wb,b1
"""
CARGO = "prep_id,target,delta_ct\nFULL,let-7a,-2.0\n"


def correlogram_csv(diameter_nm: float) -> str:
    """g2 − 1 of monodisperse spheres in water at 25 °C, 173°, 632.8 nm, from physics.

    q = 4πn/λ·sin(θ/2); D = k_B·T/(3πηd); g2 − 1 = β·exp(−2Dq²τ).
    """
    n, wavelength_m, angle_rad = 1.330, 632.8e-9, math.radians(173.0)
    q_per_m = 4 * math.pi * n / wavelength_m * math.sin(angle_rad / 2)
    diffusion_m2_s = 1.380649e-23 * 298.15 / (3 * math.pi * 0.8872e-3 * diameter_nm * 1e-9)
    tau_s = 0.5e-6 * 1.1 ** np.arange(160)
    g2m1 = 0.9 * np.exp(-2 * diffusion_m2_s * q_per_m**2 * tau_s)
    rows = "".join(f"{t * 1e6:.6g},{g:.6g}\n" for t, g in zip(tau_s, g2m1, strict=True))
    return "tau_us,g2m1\n" + rows


@pytest.fixture
def dataset(prep_folder):
    dls = {"ONLY_DLS.csv": correlogram_csv(120.0), "FULL.csv": correlogram_csv(90.0)}
    return load_dataset(prep_folder(PREPS, MARKERS, CARGO, dls), errors="collect")


def test_one_row_per_prep_in_order_with_catalog_columns(dataset):
    table = build_features(dataset, n_jobs=1)
    frame = table.frame
    assert frame.index.tolist() == ["ONLY_DLS", "ONLY_MARKERS", "FULL", "BAD_MARKER"]
    assert frame.index.name == "prep_id"
    assert list(frame.columns) == feature_names() == [f.name for f in FEATURE_CATALOG]
    assert (frame.dtypes == "float64").all()
    fixed = {"dls_z_average_nm", "dls_pdi", "log10_particles_per_ug", "misev_minimum_met",
             "let7a_delta_ct", "let7b_delta_ct", "isolation_uc", "isolation_sec"}
    assert fixed <= set(frame.columns)


def test_prep_with_only_dls(dataset):
    row = build_features(dataset, n_jobs=1).frame.loc["ONLY_DLS"]
    assert row["dls_z_average_nm"] == pytest.approx(120.0, rel=0.03)
    assert row["dls_pdi"] < 0.1
    non_dls = row.drop([f.name for f in DLS_FEATURES])
    assert non_dls.isna().all()


def test_prep_with_only_markers(dataset):
    row = build_features(dataset, n_jobs=1).frame.loc["ONLY_MARKERS"]
    assert row[[f.name for f in DLS_FEATURES]].isna().all()
    assert math.isnan(row["log10_particles_per_ug"])
    assert row["n_positive_markers_detected"] == 3
    assert row["misev_minimum_met"] == 1
    assert row["marker_apoa1_detected"] == 0
    # APOA1 not detected: floor = half the smallest detection of run b1 (100, prep FULL)
    ev = np.mean(np.log10([1200, 300, 400]))
    assert row["log10_ev_to_coisolate_ratio"] == pytest.approx(ev - math.log10(50))


def test_full_prep_has_every_source(dataset):
    row = build_features(dataset, n_jobs=1).frame.loc["FULL"]
    assert row["dls_z_average_nm"] == pytest.approx(90.0, rel=0.03)
    assert row["log10_particles_per_ug"] == pytest.approx(math.log10(2e11 / 40))
    assert row["log10_ev_to_coisolate_ratio"] == pytest.approx(math.log10(800 / 100))
    assert row["let7a_delta_ct"] == -2.0
    assert row["isolation_sec"] == 1 and row["isolation_uc"] == 0


def test_prep_with_bad_input_is_an_all_nan_row_with_its_error(dataset):
    table = build_features(dataset, n_jobs=1)
    assert table.frame.loc["BAD_MARKER"].isna().all()
    assert list(table.errors) == ["BAD_MARKER"]
    (message,) = table.errors["BAD_MARKER"]
    assert "markers.csv" in message and "line 8" in message and "lots" in message


def test_dls_failure_becomes_an_error_and_a_nan_row(prep_folder):
    preps = "prep_id,dls_file,particles_per_ml,protein_ug_per_ml\nA,dls/A.csv,1e11,10\nB,,1e11,10\n"
    root = prep_folder(preps, dls={"A.csv": "tau_us,g2m1\n1,0.9\n2,oops\n"})
    table = build_features(load_dataset(root, errors="collect"), n_jobs=1)
    assert table.frame.loc["A"].isna().all()
    assert "A.csv" in " ".join(table.errors["A"])
    assert table.frame.at["B", "log10_particles_per_ug"] == pytest.approx(10.0)
    assert list(table.errors) == ["A"]


def test_dls_errors_and_rows_come_from_the_dls_table(dataset, monkeypatch):
    """Whatever the DLS part reports as failed is an error and a NaN row, the rest is kept."""
    def fake_dls_table(dataset, prep_ids=None, n_jobs=1, progress=None):
        ids = list(prep_ids)
        frame = pd.DataFrame(7.0, index=pd.Index(ids, name="prep_id"),
                             columns=[f.name for f in DLS_FEATURES])
        frame.loc["FULL"] = np.nan
        return frame, {"FULL": "dls/FULL.csv, record 2: not a correlogram"}

    monkeypatch.setattr("exoqc.features.build.dls_feature_table", fake_dls_table)
    table = build_features(dataset, n_jobs=1)
    assert table.errors["FULL"] == ["dls/FULL.csv, record 2: not a correlogram"]
    assert table.frame.loc["FULL"].isna().all()
    assert table.frame.at["ONLY_DLS", "dls_pdi"] == 7.0
    assert table.frame.at["ONLY_MARKERS", "n_positive_markers_detected"] == 3


def test_mismatched_dls_columns_are_refused(dataset, monkeypatch):
    def wrong_columns(dataset, prep_ids=None, n_jobs=1, progress=None):
        return pd.DataFrame(index=pd.Index(list(prep_ids), name="prep_id"),
                            columns=["dls_z_average_nm"], dtype=float), {}

    monkeypatch.setattr("exoqc.features.build.dls_feature_table", wrong_columns)
    with pytest.raises(RuntimeError, match="differ from the feature catalog"):
        build_features(dataset, n_jobs=1)


def test_deterministic(dataset):
    first = build_features(dataset, n_jobs=1)
    second = build_features(dataset, n_jobs=1)
    pd.testing.assert_frame_equal(first.frame, second.frame)
    assert first.errors == second.errors and first.warnings == second.warnings


def test_simulated_cohort_has_no_all_nan_column(small_cohort):
    dataset = load_dataset(small_cohort)
    table = build_features(dataset, n_jobs=2)
    frame = table.frame
    assert frame.index.tolist() == dataset.prep_ids
    empty = [name for name in frame.columns if frame[name].isna().all()]
    assert empty == []
    usable = frame.drop(index=list(table.errors))
    assert len(usable) > 0.8 * len(frame)
