"""Production histories of the simulator and the production_date column of preps.csv."""

from __future__ import annotations

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from exoqc.cli import app
from exoqc.dataset import load_dataset
from exoqc.simulate import TRUTH_FILE
from exoqc.simulate.history import NEW_SERUM_LOT_FACTOR, simulate_history

runner = CliRunner()


def _bytes(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_a_history_is_reproducible_dated_and_one_prep_per_batch(tmp_path):
    a = simulate_history(tmp_path / "a", 12, 5, "serum_lot", change_at=7)
    b = simulate_history(tmp_path / "b", 12, 5, "serum_lot", change_at=7)
    assert _bytes(a) == _bytes(b)
    dataset = load_dataset(a)
    dates = dataset.preps["production_date"]
    assert dates.is_monotonic_increasing and dates.notna().all()
    assert dataset.preps["batch"].nunique() == 12
    assert set(dataset.preps["isolation_method"]) == {"sec"}


def test_the_truth_file_says_where_the_change_starts(tmp_path):
    folder = simulate_history(tmp_path / "h", 12, 5, "serum_lot", change_at=7)
    truth = pd.read_csv(folder / TRUTH_FILE, keep_default_na=False)
    assert (truth["change_start_batch"] == 7).all()
    assert (truth["change_start_date"] == truth["production_date"].iloc[6]).all()
    assert truth["process_change"].tolist() == [""] * 6 + ["serum_lot"] * 6
    assert np.allclose(truth["serum_lot"], [1.0] * 6 + [NEW_SERUM_LOT_FACTOR] * 6)


def test_an_in_control_history_has_no_change(tmp_path):
    folder = simulate_history(tmp_path / "h", 8, 5, "in_control")
    truth = pd.read_csv(folder / TRUTH_FILE, keep_default_na=False)
    assert (truth["process_change"] == "").all()
    assert (truth["change_start_batch"] == "").all()


def test_the_new_dls_instrument_writes_another_export_from_the_change(tmp_path):
    folder = simulate_history(tmp_path / "h", 8, 5, "dls_instrument", change_at=5)
    files = pd.read_csv(folder / "preps.csv")["dls_file"].tolist()
    assert [f.rsplit(".", 1)[1] for f in files] == ["txt"] * 4 + ["csv"] * 4


def test_simulate_history_on_the_command_line(tmp_path):
    out = tmp_path / "h"
    result = runner.invoke(app, ["simulate", str(out), "--history", "passage_creep",
                                 "--n-preps", "10", "--seed", "3", "--change-at", "4"])
    assert result.exit_code == 0, result.output
    truth = pd.read_csv(out / TRUTH_FILE, keep_default_na=False)
    assert f"passage_creep from batch 4 ({truth['production_date'].iloc[3]})" in result.output
    passages = truth["passage"].to_numpy()
    # SOP passages are 4-6; seven batches into the creep the cells are 3 passages older.
    assert passages[:3].max() <= 6 and passages[-1] >= 7
    bad = runner.invoke(app, ["simulate", str(tmp_path / "x"), "--history", "new_media"])
    assert bad.exit_code == 2
    assert "in_control" in bad.output


def test_a_bad_production_date_fails_that_prep_naming_file_and_line(tmp_path):
    (tmp_path / "preps.csv").write_text(
        "prep_id,production_date\na,2026-01-03\nb,03/01/2026\nc,\n")
    dataset = load_dataset(tmp_path, errors="collect")
    assert list(dataset.errors) == ["b"]
    assert "preps.csv, line 3, column 'production_date'" in dataset.errors["b"][0]
    assert "ISO date" in dataset.errors["b"][0]
    assert pd.isna(dataset.preps.at["c", "production_date"])
    assert dataset.preps.at["a", "production_date"] == pd.Timestamp("2026-01-03")
