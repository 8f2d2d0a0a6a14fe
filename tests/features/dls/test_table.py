"""DLS features per preparation: record selection, replicate aggregation, errors, the pool."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from dls_forward import (
    ALV_DIR,
    ZETASIZER_SILICA,
    correlogram,
    zetasizer_record,
    zetasizer_wide_text,
)

from exoqc.dataset import load_dataset
from exoqc.features.catalog import FeatureInfo
from exoqc.features.dls import table as dls_table
from exoqc.features.dls.table import DLS_FEATURES, dls_feature_table

NAMES = [f.name for f in DLS_FEATURES]


def _replicates_text(diameters, sample="EV-1", seed=0) -> str:
    records = []
    for i, diameter in enumerate(diameters):
        tau, g = correlogram([(diameter, 0.0, 1.0)], seed=seed + i)
        records.append(zetasizer_record(sample, i + 1, tau, g))
    return zetasizer_wide_text(records)


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "ds"
    (root / "dls").mkdir(parents=True)
    shutil.copy(ALV_DIR / "MW002-03_0000_0001.ASC", root / "dls" / "alv.ASC")
    shutil.copy(ZETASIZER_SILICA, root / "dls" / "silica.txt")
    (root / "dls" / "reps.txt").write_bytes(_replicates_text((95.0, 100.0, 105.0))
                                            .encode("latin-1"))
    (root / "dls" / "broken.csv").write_text("tau_us,g2m1\n" + "".join(
        f"{i},0.9\n" for i in range(1, 9)) + "9,oops\n")
    (root / "preps.csv").write_text(
        "prep_id,dls_file,dls_record\n"
        "reps,dls/reps.txt,\n"
        "alv90,dls/alv.ASC,5\n"
        "silica2,dls/silica.txt,20260916_SiNP_7 2\n"
        "no_dls,,\n"
        "broken,dls/broken.csv,\n"
        "unknown_record,dls/silica.txt,SiNP_99\n"
        "reps_again,dls/reps.txt,EV-1\n")
    return load_dataset(root, errors="collect")


def test_catalog_entries():
    assert all(isinstance(f, FeatureInfo) and f.source == "DLS" for f in DLS_FEATURES)
    assert len(set(NAMES)) == len(NAMES)
    assert NAMES[:2] == ["dls_z_average_nm", "dls_pdi"]
    for weighting in ("intensity", "volume", "number"):
        for suffix in ("lt30nm", "30_150nm", "150_500nm", "500_1000nm", "gt1000nm"):
            assert f"dls_{weighting}_share_{suffix}" in NAMES
    assert {"dls_intercept", "dls_baseline_deviation", "dls_fit_residual",
            "dls_count_rate_kcps", "dls_flag_multimodal", "dls_z_average_sd_nm"} <= set(NAMES)


def test_rows_columns_and_order(dataset):
    order = ["unknown_record", "reps", "no_dls", "alv90", "broken", "silica2", "reps_again"]
    features, errors = dls_feature_table(dataset, order)
    assert list(features.index) == order and features.index.name == "prep_id"
    assert list(features.columns) == NAMES
    assert all(dtype == np.float64 for dtype in features.dtypes)
    assert features.loc["no_dls"].isna().all() and "no_dls" not in errors


def test_replicates_are_averaged_and_their_spread_reported(dataset):
    features, _ = dls_feature_table(dataset)
    row = features.loc["reps"]
    assert row["dls_n_records"] == 3
    assert row["dls_z_average_nm"] == pytest.approx(100.0, rel=0.02)
    assert row["dls_z_average_sd_nm"] == pytest.approx(5.0, abs=1.5)  # sd of 95, 100, 105
    assert row["dls_z_average_cv"] == pytest.approx(0.05, abs=0.015)
    assert row["dls_intensity_share_30_150nm"] > 0.95
    assert row["dls_flag_multimodal"] == 0.0
    # Selecting the same records by their sample name gives the same row.
    pd.testing.assert_series_equal(row, features.loc["reps_again"], check_names=False)


def test_one_record_by_number_or_name(dataset):
    features, _ = dls_feature_table(dataset)
    alv = features.loc["alv90"]
    assert alv["dls_n_records"] == 1 and np.isnan(alv["dls_z_average_sd_nm"])
    assert alv["dls_z_average_nm"] / 2 == pytest.approx(64.07, rel=0.05)  # the 90° angle
    silica = features.loc["silica2"]
    assert silica["dls_n_records"] == 1
    assert np.isnan(silica["dls_intercept"])  # a size distribution has no correlogram


def test_errors_name_the_file_and_what_is_wrong(dataset):
    features, errors = dls_feature_table(dataset)
    assert set(errors) == {"broken", "unknown_record"}
    assert "broken.csv" in errors["broken"] and "'oops'" in errors["broken"]
    assert "line 10" in errors["broken"]
    assert "SiNP_99" in errors["unknown_record"] and "20260916_SiNP_7 1" in errors[
        "unknown_record"]
    assert features.loc[["broken", "unknown_record"]].isna().all().all()


def test_progress_counts_up_to_every_prep(dataset):
    seen = []
    dls_feature_table(dataset, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == len(dataset.prep_ids)


def test_process_pool_gives_the_same_table(dataset, monkeypatch):
    serial, serial_errors = dls_feature_table(dataset, n_jobs=1)
    monkeypatch.setattr(dls_table, "PARALLEL_MIN_PREPS", 2)
    seen = []
    parallel, parallel_errors = dls_feature_table(dataset, n_jobs=2, progress=seen.append)
    pd.testing.assert_frame_equal(serial, parallel)
    assert serial_errors == parallel_errors
    assert seen[-1] == len(dataset.prep_ids)


def test_unknown_prep_id_is_refused(dataset):
    with pytest.raises(KeyError, match="nope"):
        dls_feature_table(dataset, ["reps", "nope"])


def test_a_numerical_failure_fails_only_that_prep(dataset, monkeypatch):
    analyze = dls_table.analyze_record

    def failing_on_alv(record, **kwargs):
        if record.file.endswith("alv.ASC"):
            raise np.linalg.LinAlgError("SVD did not converge")
        return analyze(record, **kwargs)

    monkeypatch.setattr(dls_table, "analyze_record", failing_on_alv)
    features, errors = dls_feature_table(dataset)
    assert "alv90" in errors
    assert "alv.ASC" in errors["alv90"] and "SVD did not converge" in errors["alv90"]
    assert features.loc["alv90"].isna().all()
    assert features.loc["reps", "dls_z_average_nm"] == pytest.approx(100, rel=0.05)
