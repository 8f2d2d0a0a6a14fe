"""Batch scoring: one row per input preparation, valid probabilities, reasons, domain."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from exoqc import tracking
from exoqc.cli import app
from exoqc.contracts import SCORE_COLUMNS
from exoqc.dataset import load_dataset
from exoqc.features import FEATURE_CATALOG, build_features
from exoqc.inference.score import Scorer, ScoreSettings, score
from exoqc.simulate import simulate_cohort

UNKNOWN_MARKER = "XYZ-99"


@pytest.fixture(scope="module")
def new_batch(tmp_path_factory) -> tuple[Path, str, str]:
    """A new simulated batch with one truncated DLS file and one prep with an unknown
    marker. Returns the folder, the prep with the bad DLS file and the one with the
    unknown marker."""
    root = simulate_cohort(tmp_path_factory.mktemp("batch") / "batch", 30, 97)
    preps = pd.read_csv(root / "preps.csv", dtype=str, keep_default_na=False)
    with_dls = preps[preps["dls_file"] != ""]
    bad_dls_prep, dls_file = with_dls.iloc[3][["prep_id", "dls_file"]]
    (root / dls_file).write_bytes((root / dls_file).read_bytes()[:700])
    unknown_prep = with_dls.iloc[5]["prep_id"]
    with open(root / "markers.csv", "a") as markers:
        markers.write(f"{unknown_prep},{UNKNOWN_MARKER},1200,wb,extra-blot,AU\n")
    return root, bad_dls_prep, unknown_prep


@pytest.fixture(scope="module")
def scored(new_batch, trained_store, tmp_path_factory):
    root, _, _ = new_batch
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", trained_store.uri)
        output = tmp_path_factory.mktemp("scores") / "scores.csv"
        result = score(root, output, ScoreSettings(max_figures=3, n_jobs=1))
    return result


def test_one_row_per_input_prep_in_input_order(new_batch, scored):
    root, _, _ = new_batch
    expected = pd.read_csv(root / "preps.csv", dtype=str)["prep_id"].tolist()
    written = pd.read_csv(scored.output, dtype={"prep_id": str})
    assert written["prep_id"].tolist() == expected
    assert list(written.columns[: len(SCORE_COLUMNS)]) == SCORE_COLUMNS


def test_malformed_dls_file_fails_only_that_prep(new_batch, scored):
    _, bad_dls_prep, _ = new_batch
    rows = scored.scores.set_index("prep_id")
    bad = rows.loc[bad_dls_prep]
    assert bad["status"] == "error"
    assert "dls/" in bad["error"] and bad_dls_prep in bad["error"]
    assert pd.isna(bad["p_purity_high"]) and pd.isna(bad["p_potent"])
    assert pd.isna(bad["purity_class"])
    others = rows.drop(index=bad_dls_prep)
    assert (others["status"] == "ok").all()


def test_unknown_marker_is_a_domain_warning_with_its_name(new_batch, scored):
    _, _, unknown_prep = new_batch
    row = scored.scores.set_index("prep_id").loc[unknown_prep]
    assert row["status"] == "ok"
    assert UNKNOWN_MARKER in row["domain_note"]
    assert "markers.csv, line" in row["domain_note"]


def test_probabilities_are_valid(scored):
    ok = scored.scores[scored.scores["status"] == "ok"]
    purity = ok[["p_purity_high", "p_purity_medium", "p_purity_low"]].to_numpy(float)
    assert np.all((purity >= 0) & (purity <= 1))
    np.testing.assert_allclose(purity.sum(axis=1), 1.0, rtol=1e-5)
    assert ok["p_potent"].between(0, 1).all()
    picked = np.array(["high", "medium", "low"])[purity.argmax(axis=1)]
    assert (ok["purity_class"].to_numpy() == picked).all()
    assert ((ok["p_potent"] >= 0.5) == (ok["potency_class"] == "potent")).all()
    assert ok["purity_model"].str.fullmatch(r"exoqc-purity/\d+").all()
    assert ok["potency_model"].str.fullmatch(r"exoqc-potency/\d+").all()


def test_reasons_name_catalog_features_with_signed_contributions(scored):
    labels = {f.label for f in FEATURE_CATALOG}
    for reasons in scored.scores.loc[scored.scores["status"] == "ok", "reasons"]:
        purity, potency = reasons.split(" | ")
        assert purity.startswith("purity: ") and potency.startswith("potency: ")
        for part in (purity, potency):
            pushes = part.count(" toward ") + part.count(" away from ")
            assert pushes == 3, part  # the three largest contributions, each signed
        named = [label for label in labels if label in reasons]
        assert len(named) >= 2, reasons


def test_out_of_range_prep_is_flagged(use_store, new_batch):
    root, _, _ = new_batch
    scorer = Scorer.load(ScoreSettings())
    domain = scorer.explainers["purity"].domain
    feature = max(domain.high_, key=lambda name: domain.high_[name] - domain.low_[name])
    table = build_features(load_dataset(root, errors="collect"), n_jobs=1)
    frame = table.frame.copy()
    first_ok = next(p for p in frame.index if p not in table.errors)
    span = domain.high_[feature] - domain.low_[feature]
    frame.loc[first_ok, feature] = domain.high_[feature] + 5 * span
    scores, _ = scorer.score_features(frame, table.errors, table.warnings)
    row = scores.set_index("prep_id").loc[first_ok]
    assert not row["in_domain"]
    assert "above the training range" in row["domain_note"]
    untouched = scores[(scores["prep_id"] != first_ok) & (scores["status"] == "ok")]
    assert untouched["in_domain"].mean() > 0.5


def test_scoring_run_holds_what_a_scientist_opens(scored, trained_store, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained_store.uri)
    tracking.configure()
    client = MlflowClient()
    artifacts = {a.path for a in client.list_artifacts(scored.run_id)}
    assert {"scores.csv", "batch_summary.png", "report.html", "waterfalls"} <= artifacts
    waterfalls = {a.path for a in client.list_artifacts(scored.run_id, "waterfalls")}
    assert len(waterfalls) == 6  # 3 preps x (purity, potency)
    ok_ids = set(scored.scores.loc[scored.scores["status"] == "ok", "prep_id"])
    named = {Path(p).name.rsplit("_", 1)[0] for p in waterfalls}
    assert named <= ok_ids
    local = client.download_artifacts(scored.run_id, "report.html")
    report = Path(local).read_text()
    assert scored.scores["prep_id"].iloc[0] in report
    run = client.get_run(scored.run_id)
    assert run.data.metrics["n_error"] == 1
    assert run.inputs.dataset_inputs


def test_score_command_writes_parquet_and_exits_0_despite_error_rows(use_store, new_batch,
                                                                      tmp_path):
    root, _, _ = new_batch
    output = tmp_path / "scores.parquet"
    result = CliRunner().invoke(app, ["score", str(root), "-o", str(output)])
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(output)
    assert len(table) == 30
    assert (table["status"] == "error").sum() == 1


def test_score_command_without_models_says_what_to_do(tmp_path, monkeypatch, small_cohort):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'empty.db'}")
    result = CliRunner().invoke(app, ["score", str(small_cohort), "-o",
                                      str(tmp_path / "scores.csv")])
    assert result.exit_code == 1
    assert "exoqc train" in result.output
    assert not (tmp_path / "scores.csv").exists()


def test_bad_output_suffix_is_refused_before_any_work(use_store, small_cohort, tmp_path):
    with pytest.raises(ValueError, match=r"\.csv or \.parquet"):
        score(small_cohort, tmp_path / "scores.xlsx")


def test_rescoring_is_deterministic(use_store, new_batch, tmp_path):
    root, _, _ = new_batch
    copy = tmp_path / "batch"
    shutil.copytree(root, copy)
    settings = ScoreSettings(log_to_mlflow=False, n_jobs=1)
    first = score(copy, tmp_path / "a.csv", settings).scores
    second = score(copy, tmp_path / "b.csv", settings).scores
    pd.testing.assert_frame_equal(first, second)


def test_batch_where_nothing_can_be_scored_writes_its_error_rows_and_exits_1(use_store,
                                                                              tmp_path):
    folder = tmp_path / "batch"
    (folder / "dls").mkdir(parents=True)
    (folder / "preps.csv").write_text("prep_id,dls_file\nA,dls/a.txt\nB,dls/b.txt\n")
    (folder / "dls" / "a.txt").write_text("not a DLS export\n")
    (folder / "dls" / "b.txt").write_text("tau_us,g2m1\n1,abc\n")
    output = tmp_path / "scores.csv"
    result = CliRunner().invoke(app, ["score", str(folder), "-o", str(output)])
    assert result.exit_code == 1
    assert "no preparation could be scored" in result.output
    table = pd.read_csv(output)
    assert table["prep_id"].tolist() == ["A", "B"]
    assert (table["status"] == "error").all()
    assert table["error"].str.contains("dls/").all()
