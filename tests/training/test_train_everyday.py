"""``exoqc train`` as a lab runs it on its own folder: every problem shown, in one go, and
refusals that say what to do before minutes of work."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from exoqc.cli import app

runner = CliRunner(env={"COLUMNS": "200"})


def _labelled(root: Path, n_batches: int, per_batch: int = 2) -> Path:
    """A folder without DLS: counts and labels of ``n_batches`` batches."""
    root.mkdir()
    rows = ["prep_id,batch,particles_per_ml,protein_ug_per_ml,purity_class,potency_class"]
    for b in range(n_batches):
        for k in range(per_batch):
            purity = ("high", "medium", "low")[(b + k) % 3]
            rows.append(f"B{b}-{k},batch{b},{1e10 * (k + 1)},{50 + b},{purity},"
                        f"{('potent', 'subpotent')[k % 2]}")
    (root / "preps.csv").write_text("\n".join(rows) + "\n")
    return root


def test_too_few_batches_is_refused_at_once_saying_what_to_do(tmp_path, store):
    root = _labelled(tmp_path / "ds", n_batches=5, per_batch=4)
    result = runner.invoke(app, ["train", str(root), "--validation", "heldout"])
    assert result.exit_code == 1
    assert "batch(es) left for training once whole batches are held out" in result.stderr
    assert "label preparations of more batches (column 'batch')" in result.stderr
    assert "(5 batch(es) labelled in all)" in result.stderr
    assert "Traceback" not in result.output
    assert MlflowClient(store, store).search_registered_models() == []


def test_markers_csv_that_is_a_folder_is_a_message_not_a_traceback(tmp_path, store):
    root = _labelled(tmp_path / "ds", n_batches=8)
    (root / "markers.csv").mkdir()
    result = runner.invoke(app, ["train", str(root), "--validation", "heldout"])
    assert result.exit_code == 1
    assert "markers.csv: is a folder: expected a file" in result.stderr
    assert "Traceback" not in result.output and not isinstance(result.exception, OSError)


@pytest.fixture(scope="module")
def lab_cohort(small_cohort, tmp_path_factory) -> Path:
    """The small cohort as a lab's folder: CD63 written 'CD63 (WB)', and a marker row of
    'p11-00003', a prep_id not in preps.csv (it has P11-00003)."""
    root = tmp_path_factory.mktemp("lab") / "cohort"
    shutil.copytree(small_cohort, root)
    markers = pd.read_csv(root / "markers.csv", dtype=str, keep_default_na=False)
    cd63 = markers["marker"].str.upper() == "CD63"
    markers.loc[cd63, "marker"] = "CD63 (WB)"
    orphan = markers.iloc[[0]].assign(prep_id="p11-00003")
    pd.concat([markers, orphan]).to_csv(root / "markers.csv", index=False)
    return root


def test_every_input_error_is_listed_in_one_run_before_the_search(lab_cohort, tmp_path, store):
    root = tmp_path / "cohort"
    shutil.copytree(lab_cohort, root)
    cargo = pd.read_csv(root / "cargo.csv", dtype=str, keep_default_na=False)
    cargo.loc[0, "delta_ct"] = "7..5"  # found by the loader
    cargo.to_csv(root / "cargo.csv", index=False)
    preps = pd.read_csv(root / "preps.csv", dtype=str, keep_default_na=False)
    other = preps.index[(preps["dls_file"] != "") & (preps["prep_id"] != cargo.at[0, "prep_id"])]
    preps.loc[other[0], "dls_record"] = "no such sample"  # found only by the DLS analysis
    preps.to_csv(root / "preps.csv", index=False)
    result = runner.invoke(app, ["train", str(root), "--validation", "heldout"])
    assert result.exit_code == 1
    assert "delta_ct '7..5' is not a number" in result.stderr
    assert "no such sample" in result.stderr
    assert "2 error(s) in the input" in result.stderr
    assert "CD63 (WB)" in result.stderr  # warnings too, in the same list
    assert MlflowClient(store, store).search_registered_models() == []  # no search was run


def test_a_successful_train_shows_the_warnings_and_logs_all_of_them(lab_cohort, store):
    result = runner.invoke(app, ["train", str(lab_cohort), "--target", "purity",
                                 "--n-trials", "1", "--validation", "heldout"])
    assert result.exit_code == 0, result.output
    n_cd63 = int((pd.read_csv(lab_cohort / "markers.csv")["marker"] == "CD63 (WB)").sum())
    assert f"warning ×{n_cd63}: markers.csv, column 'marker': marker 'CD63 (WB)'" in (
        result.stderr)
    assert ("prep_id 'p11-00003' is not in preps.csv (closest prep_id there: 'P11-00003')"
            in result.stderr)
    assert "purity: promoted (no champion yet)" in result.stdout
    client = MlflowClient(store, store)
    run_id = client.get_registered_model("exoqc-purity").latest_versions[0].run_id
    logged = pd.read_csv(client.download_artifacts(run_id, "input_problems.csv"))
    assert len(logged) == n_cd63 + 1
    assert (logged["severity"] == "warning").all()
