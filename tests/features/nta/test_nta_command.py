"""`exoqc nta FILE... [--json]`: the table, the JSON list (docs/nta.md), exit codes."""

from __future__ import annotations

import json

from nta_files import BEADS, BEADS2
from typer.testing import CliRunner

from exoqc.cli import app


def _runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)
    except TypeError:  # Click 8.2+: stderr is always kept apart
        return CliRunner()


def test_table_of_both_real_exports():
    result = _runner().invoke(app, ["nta", str(BEADS2), str(BEADS)])
    assert result.exit_code == 0, result.stderr
    assert "beads2.csv" in result.stdout and "100nmbeads" in result.stdout
    assert "6.09e+12" in result.stdout and "dilution_missing" in result.stdout


def test_json_list_one_object_per_sample():
    result = _runner().invoke(app, ["nta", "--json", str(BEADS2), str(BEADS)])
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert [p["file"] for p in payload] == [str(BEADS2), str(BEADS)]
    first = payload[0]
    assert {"file", "record", "sample_name", "concentration_per_ml", "mean_nm", "mode_nm",
            "d10_nm", "d50_nm", "d90_nm", "n_videos", "flags"} <= set(first)
    assert first["n_videos"] == 5 and len(first["videos"]) == 5
    assert first["reported_concentration_per_ml"] == 6.09e12
    assert abs(first["concentration_per_ml"] - 6.09e12) < 0.005 * 6.09e12


def test_a_failing_file_is_named_and_exits_1(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("size_nm,concentration\n")
    result = _runner().invoke(app, ["nta", "--json", str(bad), str(BEADS2)])
    assert result.exit_code == 1
    assert "bad.csv" in result.stderr and "no data rows" in result.stderr
    assert len(json.loads(result.stdout)) == 1  # the good file is still reported
