"""exoqc simulate: writes the folder and says what is in it."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from exoqc.cli import app

runner = CliRunner()


def test_simulate_writes_a_folder_and_prints_its_classes(tmp_path):
    out = tmp_path / "cohort"
    result = runner.invoke(app, ["simulate", str(out), "--n-preps", "30", "--seed", "4"])
    assert result.exit_code == 0, result.output
    preps = pd.read_csv(out / "preps.csv")
    assert len(preps) == 30
    counts = preps["purity_class"].value_counts()
    expected = ", ".join(f"{c} {counts.get(c, 0)}" for c in ("high", "medium", "low"))
    assert f"purity: {expected}" in result.output
    assert f"30 preparations in {preps['batch'].nunique()} batches" in result.output
    assert str(out) in result.output


def test_simulate_refuses_a_folder_of_other_files(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    result = runner.invoke(app, ["simulate", str(tmp_path), "--n-preps", "5"])
    assert result.exit_code == 1
    assert "not empty" in result.output
