"""`exoqc dls FILE... [--json]`: the table, the JSON list (docs/dls.md), exit codes."""

from __future__ import annotations

import json

from dls_forward import ALV_DIR, ZETASIZER_SILICA
from typer.testing import CliRunner

from exoqc.cli import app

ALV_RUN = ALV_DIR / "MW002-03_0000_0001.ASC"


def _runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)
    except TypeError:  # Click 8.2+: stderr is always kept apart
        return CliRunner()


def test_table_of_an_alv_file():
    result = _runner().invoke(app, ["dls", str(ALV_RUN)])
    assert result.exit_code == 0, result.stderr
    assert "MW002-03_0000_0001.ASC" in result.stdout
    assert "correlogram" in result.stdout
    assert "7 2021 MW002-03" in result.stdout
    for angle in ("26", "90", "138"):
        assert angle in result.stdout


def test_json_list_one_object_per_record():
    result = _runner().invoke(app, ["dls", "--json", str(ALV_RUN), str(ZETASIZER_SILICA)])
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert len(payload) == 8 + 3
    assert [p["source"] for p in payload] == ["correlogram"] * 8 + ["distribution"] * 3
    assert [p["record"] for p in payload[:8]] == list(range(1, 9))
    ninety = payload[4]
    assert ninety["constants"]["angle_deg"] == 90.0
    assert 120 < ninety["z_average_nm"] < 140
    assert {"file", "sample_name", "pdi", "intercept", "fit_residual", "peaks", "d10_nm",
            "d50_nm", "d90_nm", "reported_z_average_nm", "reported_pdi"} <= set(ninety)


def test_a_failing_file_is_named_and_exits_1(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("tau_us,g2m1\n")
    result = _runner().invoke(app, ["dls", "--json", str(bad), str(ZETASIZER_SILICA)])
    assert result.exit_code == 1
    assert "bad.csv" in result.stderr and "no data rows" in result.stderr
    assert len(json.loads(result.stdout)) == 3  # the good file is still reported


def test_a_folder_among_good_files_is_an_error_and_the_good_results_are_printed(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    result = _runner().invoke(app, ["dls", "--json", str(ALV_RUN), str(folder),
                                    str(ZETASIZER_SILICA)])
    assert result.exit_code == 1
    assert f"error: {folder}: is a folder: expected a file" in result.stderr
    assert "Traceback" not in result.output
    assert len(json.loads(result.stdout)) == 8 + 3  # both good files, every record


def test_a_folder_alone_is_an_error_not_a_traceback(tmp_path):
    result = _runner().invoke(app, ["dls", str(tmp_path)])
    assert result.exit_code == 1
    assert "is a folder: expected a file" in result.stderr
    assert not isinstance(result.exception, OSError)
