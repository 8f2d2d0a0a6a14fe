"""Scoring completeness: for any mix of good and bad preparations, the scores file has
exactly one row per input prep_id, with its status and message, and a bad preparation
changes nothing about the good ones."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from exoqc.contracts import SCORE_COLUMNS
from exoqc.inference.score import Scorer, ScoreSettings, score
from exoqc.simulate import simulate_cohort
from tests.properties import property_settings

N_PREPS = 10
SETTINGS = ScoreSettings(log_to_mlflow=False, n_jobs=1)
PROBABILITIES = ["p_purity_high", "p_purity_medium", "p_purity_low", "p_potent"]

# What can be wrong with one preparation, and whether its row must be an error.
FAULTS = {
    "none": False,
    "unknown marker": False,  # kept, named in the domain note
    "dls file cut in its header": True,
    "dls file of random bytes": True,
    "dls file missing": True,
    "count not a number": True,
    "count infinite": True,
    "negative count": True,
    "duplicated prep_id": True,
    "row with an extra cell": True,
    "empty prep_id": True,
}


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    """A new simulated batch (some preps without DLS, as in a lab's)."""
    return simulate_cohort(tmp_path_factory.mktemp("completeness") / "batch", N_PREPS, 5)


@pytest.fixture(scope="module")
def scorer(trained_store) -> Scorer:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", trained_store.uri)
        return Scorer.load(SETTINGS)


@pytest.fixture(scope="module")
def clean_scores(batch, scorer, tmp_path_factory) -> pd.DataFrame:
    output = tmp_path_factory.mktemp("clean") / "scores.csv"
    return score(batch, output, SETTINGS, scorer=scorer).scores.set_index("prep_id")


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])


def break_preps(root: Path, faults: list[str], cut_at: int, noise: bytes) -> list[str]:
    """Apply one fault per prep (in preps.csv order); returns the prep_ids a scores file
    must hold, in order (an empty prep_id is named by its line)."""
    header, rows = read_rows(root / "preps.csv")
    column = {name: i for i, name in enumerate(header)}
    markers_header, markers = read_rows(root / "markers.csv")
    first_export = next(root.glob("dls/*"))
    expected, extra_rows = [], []
    for position, (row, fault) in enumerate(zip(rows, faults, strict=True)):
        prep_id, dls_file = row[column["prep_id"]], row[column["dls_file"]]
        if fault.startswith("dls file") and not dls_file:
            dls_file = row[column["dls_file"]] = f"dls/{prep_id}-export.txt"
        if fault == "unknown marker":
            markers.append([prep_id, "XYZ-99", "1200"] + [""] * (len(markers_header) - 3))
        elif fault == "dls file cut in its header":
            export = root / dls_file
            text = export.read_bytes() if export.is_file() else first_export.read_bytes()
            export.write_bytes(text[:cut_at])
        elif fault == "dls file of random bytes":
            (root / dls_file).write_bytes(noise)
        elif fault == "dls file missing":
            row[column["dls_file"]] = "dls/not-there.txt"
        elif fault == "count not a number":
            row[column["particles_per_ml"]] = "about 1e11"
        elif fault == "count infinite":
            row[column["protein_ug_per_ml"]] = "inf"
        elif fault == "negative count":
            row[column["protein_ug_per_ml"]] = "-12"
        elif fault == "duplicated prep_id":
            extra_rows.append(list(row))
            expected.append(prep_id)  # one scores row per input row, after the first
        elif fault == "row with an extra cell":
            row.append("stray")
        elif fault == "empty prep_id":
            row[column["prep_id"]] = ""
            prep_id = f"<no prep_id, line {position + 2}>"
        expected.append(prep_id)
    write_rows(root / "preps.csv", header, rows + extra_rows)
    write_rows(root / "markers.csv", markers_header, markers)
    return expected


@property_settings(12)
@given(faults=st.lists(st.sampled_from(sorted(FAULTS)), min_size=N_PREPS, max_size=N_PREPS),
       cut_at=st.integers(0, 150), noise=st.binary(min_size=0, max_size=300),
       suffix=st.sampled_from([".csv", ".parquet"]))
def test_one_row_per_input_prep_with_status_and_message(
    tmp_path, batch, scorer, clean_scores, faults, cut_at, noise, suffix
):
    root = tmp_path / "batch"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(batch, root)
    expected_ids = break_preps(root, faults, cut_at, noise)
    output = tmp_path / f"scores{suffix}"
    output.unlink(missing_ok=True)

    result = score(root, output, SETTINGS, scorer=scorer)

    written = (pd.read_parquet(output) if suffix == ".parquet"
               else pd.read_csv(output, dtype={"prep_id": str, "error": str},
                                keep_default_na=False, na_values=[""]))
    assert list(written.columns[: len(SCORE_COLUMNS)]) == SCORE_COLUMNS
    assert written["prep_id"].tolist() == expected_ids  # exactly one row each, in order
    assert result.scores["prep_id"].tolist() == expected_ids
    rows = written.set_index("prep_id")
    for prep_id, fault in zip(dict.fromkeys(expected_ids), faults, strict=True):
        if FAULTS[fault]:
            every = rows.loc[[prep_id]]  # two rows for a duplicated prep_id
            assert (every["status"] == "error").all(), fault
            assert every["error"].str.strip().astype(bool).all(), fault
            assert every[PROBABILITIES].isna().all().all()
            assert every["purity_class"].isna().all()
            continue
        row = rows.loc[prep_id]
        assert row["status"] == "ok", (fault, row["error"])
        assert pd.isna(row["error"]) or row["error"] == ""
        purity = row[PROBABILITIES[:3]].to_numpy(float)
        assert np.isclose(purity.sum(), 1.0) and 0 <= row["p_potent"] <= 1
        # A bad preparation elsewhere in the batch changes nothing about a good one.
        clean = clean_scores.loc[prep_id]
        np.testing.assert_allclose(row[PROBABILITIES].to_numpy(float),
                                   clean[PROBABILITIES].to_numpy(float), rtol=1e-6)
        assert row["purity_class"] == clean["purity_class"]
        if fault == "unknown marker":
            assert "XYZ-99" in row["domain_note"]
