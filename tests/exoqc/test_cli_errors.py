"""Only bad input becomes a one-line message; a bug keeps its exception and traceback."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from exoqc.cli import app
from exoqc.dataset import Dataset

runner = CliRunner(env={"COLUMNS": "200"})


def _labelled(root):
    root.mkdir()
    rows = ["prep_id,batch,particles_per_ml,protein_ug_per_ml,purity_class,potency_class"]
    rows += [f"P{k},batch{k},{1e10 * (k + 1)},{50 + k},high,potent" for k in range(4)]
    (root / "preps.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.mark.parametrize("bug", [ValueError, KeyError])
def test_a_bug_inside_training_is_not_reported_as_bad_input(tmp_path, store, monkeypatch, bug):
    def broken(self, column):
        raise bug("a bug, not the user's input")

    monkeypatch.setattr(Dataset, "has_labels", broken)
    result = runner.invoke(app, ["train", str(_labelled(tmp_path / "ds"))])
    # The exception leaves the command (Python prints its traceback), not a one-line message.
    assert type(result.exception) is bug, result.output
    assert result.exc_info is not None and result.exc_info[2] is not None
    assert "exoqc train:" not in result.output


def test_a_bad_folder_is_still_one_line(tmp_path, store):
    result = runner.invoke(app, ["train", str(tmp_path / "no such folder")])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"exoqc train: {tmp_path / 'no such folder'}: not a folder")
    assert isinstance(result.exception, SystemExit)


def test_labels_that_cannot_train_are_one_line_naming_preps_csv(tmp_path, store):
    root = _labelled(tmp_path / "ds")
    (root / "preps.csv").write_text("prep_id,batch,particles_per_ml\nP1,b1,1e10\n")
    result = runner.invoke(app, ["train", str(root)])
    assert result.exit_code == 1
    assert result.stderr.strip().startswith(f"exoqc train: {root / 'preps.csv'}: no purity_class, "
                                            "potency_class labels"), result.stderr
    assert isinstance(result.exception, SystemExit)


def test_a_history_option_out_of_range_names_the_option(tmp_path):
    result = runner.invoke(app, ["simulate", str(tmp_path / "h"), "--history", "serum_lot",
                                 "--n-preps", "10", "--change-at", "11"])
    assert result.exit_code == 2
    assert "--change-at" in result.stderr and "got 11" in result.stderr
    result = runner.invoke(app, ["simulate", str(tmp_path / "h"), "--history", "serum_lot",
                                 "--n-preps", "1"])
    assert result.exit_code == 2
    assert "--n-preps" in result.stderr and "at least 2 batches" in result.stderr
