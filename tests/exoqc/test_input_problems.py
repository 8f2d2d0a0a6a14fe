"""Every input problem is shown where the user looks, and nothing is lost on the way.

Each test is a lab's hand-made folder as a user would run it through ``exoqc features``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from exoqc.cli import app

runner = CliRunner()


def _features(root: Path, tmp_path: Path):
    out = tmp_path / "features.csv"
    result = runner.invoke(app, ["features", str(root), "-o", str(out)])
    table = pd.read_csv(out, index_col="prep_id") if out.exists() else None
    return result, table


def test_unknown_marker_names_are_grouped_and_counted(tmp_path, prep_folder):
    markers = "prep_id,marker,intensity\n" + "".join(
        f"EX{i},CD63 (WB),{1000 + i}\nEX{i},TSG101,500\n" for i in range(1, 7))
    root = prep_folder("prep_id\n" + "".join(f"EX{i}\n" for i in range(1, 7)),
                   markers)
    result, table = _features(root, tmp_path)
    assert result.exit_code == 0, result.output
    # One line for the six rows, counted, naming where they are.
    assert result.stderr.count("'CD63 (WB)' is not in exoqc's vocabulary") == 1
    assert "warning ×6: markers.csv, column 'marker'" in result.stderr
    assert "lines 2, 4, 6 and 3 more" in result.stderr
    assert "6 warning(s)" in result.stderr
    assert table["marker_tsg101_detected"].eq(1).all()  # the known marker is kept


def test_orphan_marker_and_cargo_rows_name_the_closest_prep_id(tmp_path, prep_folder):
    root = prep_folder("prep_id\nEX3\nEX12\n",
                   "prep_id,marker,intensity\nEX 3,CD63,100\nEX3,CD81,50\n",
                   "prep_id,target,delta_ct\nex3,let-7a,5.1\n")
    result, _ = _features(root, tmp_path)
    assert result.exit_code == 0, result.output
    assert ("markers.csv, line 2, column 'prep_id': prep_id 'EX 3' is not in preps.csv "
            "(closest prep_id there: 'EX3'); row ignored") in result.stderr
    assert "prep_id 'ex3' is not in preps.csv (closest prep_id there: 'EX3')" in result.stderr
    assert "0 warnings" not in result.output


def test_near_miss_headers_are_read_or_named_with_the_column_they_probably_mean(
        tmp_path, prep_folder):
    preps = ("Prep_ID,Particles per mL,Protein (µg/mL),Isolation Method,CCK-8 fold,Batch ID\n"
             "A1,2.5e10,120,SEC,1.4,b1\n")
    root = prep_folder(preps)
    result, table = _features(root, tmp_path)
    assert result.exit_code == 0, result.output
    assert table.at["A1", "particles_per_ml"] == 2.5e10
    assert table.at["A1", "protein_ug_per_ml"] == 120
    assert table.at["A1", "isolation_sec"] == 1
    assert "column 'batch id' is not one exoqc reads; did you mean 'batch'?" in result.stderr

    second = prep_folder("prep_id,Protein,particles_per_ml\nA1,120,2e10\n", name="ds2")
    result, table = _features(second, tmp_path)
    assert "column 'protein' is not one exoqc reads; did you mean 'protein_ug_per_ml'?" in (
        result.stderr)
    assert np.isnan(table.at["A1", "protein_ug_per_ml"])


def test_an_empty_intensity_cell_is_not_measured_and_nd_is_not_detected(tmp_path, prep_folder):
    root = prep_folder("prep_id\nA1\nA2\n",
                   "prep_id,marker,intensity\nA1,CD63,\nA1,TSG101,500\nA2,CD63,ND\n"
                   "A2,TSG101,500\n")
    result, table = _features(root, tmp_path)
    assert result.exit_code == 0, result.output
    assert np.isnan(table.at["A1", "marker_cd63_detected"])  # not measured
    assert table.at["A2", "marker_cd63_detected"] == 0  # measured, not detected


def test_dot_thousands_in_a_decimal_comma_file_is_an_error_that_says_so(tmp_path, prep_folder):
    root = prep_folder("prep_id;particles_per_ml;protein_ug_per_ml\n"
                   "A1;12.000;1,5\nA2;3,5e10;2,0\n")
    result, table = _features(root, tmp_path)
    assert result.exit_code == 0, result.output
    assert "'12.000' is ambiguous in a file with decimal commas" in result.stderr
    assert "write 12000 or use a decimal comma" in result.stderr
    assert table["particles_per_ml"].isna()["A1"]  # failed, not read as 12
    assert table.at["A2", "protein_ug_per_ml"] == 2.0  # the rest of the batch goes on


def test_markers_csv_that_is_a_folder_is_an_input_error_not_a_traceback(tmp_path, prep_folder):
    root = prep_folder("prep_id\nA1\nA2\n")
    (root / "markers.csv").mkdir()
    result, table = _features(root, tmp_path)
    assert result.exit_code == 0, result.output
    assert result.exception is None
    assert "markers.csv" in result.stderr and "is a folder: expected a file" in result.stderr
    assert list(table.index) == ["A1", "A2"]


def test_output_that_is_a_folder_or_under_a_file_is_refused_before_any_work(tmp_path, prep_folder):
    root = prep_folder("prep_id\nA1\n")
    (tmp_path / "out.csv").mkdir()
    result = runner.invoke(app, ["features", str(root), "-o", str(tmp_path / "out.csv")])
    assert result.exit_code == 1 and result.exception is not None
    assert "out.csv: is a folder: expected a file name to write" in result.stderr
    (tmp_path / "plain.csv").write_text("x\n")
    result = runner.invoke(app, ["features", str(root), "-o",
                                 str(tmp_path / "plain.csv" / "sub.csv")])
    assert result.exit_code == 1
    assert "plain.csv' is a file, so nothing can be written under it" in result.stderr
    assert (tmp_path / "plain.csv").read_text() == "x\n"
