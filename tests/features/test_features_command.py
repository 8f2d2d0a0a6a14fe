"""`exoqc features DATASET_DIR -o FILE`: writes the table, reports per-prep errors."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from typer.testing import CliRunner

from exoqc.cli import app
from exoqc.dataset import load_dataset
from exoqc.features import build_features, feature_names

runner = CliRunner()

PREPS = """prep_id,isolation_method,particles_per_ml,protein_ug_per_ml
P1,uc,1e11,50
P2,sec,not counted,20
P3,peg,2e10,80
"""
MARKERS = "prep_id,marker,intensity,assay,run\nP1,CD63,900,wb,b1\nP3,CD63,300,wb,b1\n"


def test_writes_parquet_equal_to_the_python_table(prep_folder, tmp_path):
    root = prep_folder(PREPS, MARKERS)
    out = tmp_path / "features.parquet"
    result = runner.invoke(app, ["features", str(root), "-o", str(out)])
    assert result.exit_code == 0, result.output
    written = pd.read_parquet(out)
    expected = build_features(load_dataset(root, errors="collect"), n_jobs=1).frame
    pd.testing.assert_frame_equal(written, expected)
    assert list(written.columns) == feature_names()
    assert written.loc["P2"].isna().all()
    # the bad count is reported with its file, line and value; the other preps are kept
    assert "prep 'P2'" in result.stderr and "preps.csv, line 3" in result.stderr
    assert "not counted" in result.stderr
    assert "3 preparations" in result.stdout
    assert not list(tmp_path.glob(".*partial"))


def test_writes_csv(prep_folder, tmp_path):
    out = tmp_path / "features.csv"
    result = runner.invoke(app, ["features", str(prep_folder(PREPS, MARKERS)), "-o", str(out)])
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out, index_col="prep_id")
    assert written.index.tolist() == ["P1", "P2", "P3"]
    assert list(written.columns) == feature_names()
    assert written.at["P3", "log10_particles_per_ug"] == pytest.approx(math.log10(2e10 / 80))


def test_unusable_folder_exits_1_with_a_clear_message(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "f.parquet"
    result = runner.invoke(app, ["features", str(empty), "-o", str(out)])
    assert result.exit_code == 1
    assert "preps.csv" in result.stderr and "missing" in result.stderr
    assert not out.exists()


def test_unknown_output_format_is_a_usage_error(prep_folder, tmp_path):
    result = runner.invoke(app, ["features", str(prep_folder(PREPS)), "-o",
                                 str(tmp_path / "f.xlsx")])
    assert result.exit_code == 2
    assert ".parquet or .csv" in result.output


def test_file_level_error_is_reported_once_and_every_row_kept(prep_folder, tmp_path):
    preps = "prep_id\n" + "".join(f"P{i}\n" for i in range(8))
    root = prep_folder(preps, "prep_id,marker\nP1,CD63\n")  # no intensity column
    out = tmp_path / "f.csv"
    result = runner.invoke(app, ["features", str(root), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stderr.count("expected column(s) intensity") == 1
    assert "error ×8: markers.csv" in result.stderr
    assert "preps 'P0', 'P1', 'P2' and 5 more" in result.stderr
    written = pd.read_csv(out, index_col="prep_id")
    assert len(written) == 8 and written.isna().all().all()
