"""``exoqc score`` as a lab uses it: one row per input row, honest calls, checked models,
clear refusals, and a quiet terminal."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from exoqc.cli import app

runner = CliRunner()
_EXOQC = "from exoqc.cli import app; app()"


@pytest.fixture(scope="module")
def lab_batch(small_cohort: Path, tmp_path_factory) -> Path:
    """Six measured preparations of the small cohort, and as a lab's folder has them: one
    with nothing but its id, one with only cargo qPCR, and one prep_id used twice."""
    root = tmp_path_factory.mktemp("lab_batch") / "batch"
    root.mkdir()
    preps = pd.read_csv(small_cohort / "preps.csv", dtype=str, keep_default_na=False)
    measured = preps[preps["dls_file"] != ""].head(6)
    for column in ("dls_file", "nta_file"):  # the small cohort has NTA exports for half
        for name in measured[column][measured[column] != ""]:
            (root / name).parent.mkdir(exist_ok=True)
            shutil.copy(small_cohort / name, root / name)
    extra = pd.DataFrame({"prep_id": ["NOTHING", "CARGO-ONLY", measured["prep_id"].iloc[0]]})
    pd.concat([measured, extra]).fillna("").to_csv(root / "preps.csv", index=False)
    markers = pd.read_csv(small_cohort / "markers.csv", dtype=str, keep_default_na=False)
    markers[markers["prep_id"].isin(measured["prep_id"])].to_csv(root / "markers.csv",
                                                                 index=False)
    cargo = pd.read_csv(small_cohort / "cargo.csv", dtype=str, keep_default_na=False)
    cargo = pd.concat([cargo[cargo["prep_id"].isin(measured["prep_id"])],
                       pd.DataFrame({"prep_id": ["CARGO-ONLY"], "target": ["let-7a"],
                                     "delta_ct": ["5.2"]})])
    cargo.to_csv(root / "cargo.csv", index=False)
    return root


@pytest.fixture(scope="module")
def scored(lab_batch, trained_store, tmp_path_factory):
    """The real command in its own process, as a user runs it."""
    out = tmp_path_factory.mktemp("scores") / "scores.csv"
    done = subprocess.run(
        [sys.executable, "-c", _EXOQC, "score", str(lab_batch), "-o", str(out)],
        capture_output=True, text=True, timeout=600,
        env={**__import__("os").environ, "MLFLOW_TRACKING_URI": trained_store.uri,
             "COLUMNS": "200"})
    return done, pd.read_csv(out, dtype={"prep_id": str}, keep_default_na=False)


def test_one_scores_row_per_input_row_with_a_duplicated_prep_id(lab_batch, scored):
    done, scores = scored
    assert done.returncode == 0, done.stderr
    expected = pd.read_csv(lab_batch / "preps.csv", dtype=str)["prep_id"]
    assert len(scores) == len(expected) == 9
    assert sorted(scores["prep_id"]) == sorted(expected)
    twice = scores[scores["prep_id"] == expected.iloc[0]]
    assert (twice["status"] == "error").all() and len(twice) == 2
    assert twice["error"].str.contains("already used on line 2").all()


def test_a_prep_without_enough_data_gets_no_call_and_is_not_counted_as_scored(scored):
    done, scores = scored
    rows = scores.set_index("prep_id")
    for prep_id in ("NOTHING", "CARGO-ONLY"):
        assert rows.at[prep_id, "status"] == "insufficient"
        assert rows.at[prep_id, "purity_class"] == "" and rows.at[prep_id, "p_potent"] == ""
        assert "at least one of them is needed" in rows.at[prep_id, "error"]
    assert (scores["status"] == "ok").sum() == 5
    assert "│ scored                     │            5 │" in done.stdout
    assert "not enough data for a call │            2" in done.stdout


def test_reasons_never_cite_a_measurement_that_was_not_made(scored):
    _, scores = scored
    ok = scores[scores["status"] == "ok"]
    assert ok["reasons"].str.len().gt(0).all()
    assert not ok["reasons"].str.contains("not measured").any()


def test_a_normal_run_is_quiet_and_says_where_the_scores_are_once(scored):
    done, _ = scored
    for noise in ("Downloading artifacts", "INFO", "Warning", "warn(", "%|"):
        assert noise not in done.stderr + done.stdout, done.stderr
    assert done.stdout.count("Scores:") == 1
    assert "Traceback" not in done.stderr


def test_a_model_for_the_other_target_is_refused(lab_batch, use_store, tmp_path):
    out = tmp_path / "scores.csv"
    result = runner.invoke(app, ["score", str(lab_batch), "-o", str(out),
                                 "--purity-model", "models:/exoqc-potency@champion"])
    assert result.exit_code == 1
    assert ("models:/exoqc-potency@champion: is a potency model: expected a purity model for "
            "--purity-model") in result.stderr
    assert not out.exists()


def test_with_only_one_registered_model_its_target_is_scored_and_the_other_named_absent(
        lab_batch, store_without_potency, tmp_path):
    out = tmp_path / "scores.csv"
    result = runner.invoke(app, ["score", str(lab_batch), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "potency: not scored, no exoqc-potency model is registered" in result.stdout
    scores = pd.read_csv(out, keep_default_na=False)
    ok = scores[scores["status"] == "ok"]
    assert ok["purity_class"].isin(["high", "medium", "low"]).all()
    assert (ok["potency_class"] == "").all()
    assert (scores["potency_model"] == "absent: no model registered").all()


@pytest.mark.parametrize("where", ["folder", "under a file"])
def test_an_output_path_that_cannot_be_a_file_is_refused_before_scoring(lab_batch, use_store,
                                                                        tmp_path, where):
    if where == "folder":
        output = tmp_path / "out.csv"
        output.mkdir()
        expected = "is a folder: expected a file name to write"
    else:
        (tmp_path / "file.csv").write_text("kept\n")
        output = tmp_path / "file.csv" / "sub.csv"
        expected = "is a file, so nothing can be written under it"
    result = runner.invoke(app, ["score", str(lab_batch), "-o", str(output)])
    assert result.exit_code == 1
    assert expected in result.stderr and "Traceback" not in result.output
    assert "Scoring" not in result.stdout  # refused before the work


def test_markers_csv_that_is_a_folder_fails_the_batch_with_a_message(lab_batch, use_store,
                                                                    tmp_path):
    root = tmp_path / "batch"
    shutil.copytree(lab_batch, root)
    (root / "markers.csv").unlink()
    (root / "markers.csv").mkdir()
    out = tmp_path / "scores.csv"
    result = runner.invoke(app, ["score", str(root), "-o", str(out)])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    scores = pd.read_csv(out, keep_default_na=False)
    assert len(scores) == 9  # every input row, each saying why
    assert scores["error"].str.contains("markers.csv: is a folder: expected a file").sum() >= 7
