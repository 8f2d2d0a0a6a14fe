"""End-to-end training into a temporary MLflow store (SQLite)."""

import mlflow
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from mlflow.tracking import MlflowClient

from exoqc import contracts
from exoqc.dataset import load_dataset
from exoqc.features import build_features
from exoqc.model.load import load_model
from exoqc.training import explain
from exoqc.training.registry import decide_champion


def test_registered_champions_load_and_predict_probabilities(use_store):
    features = build_features(load_dataset(use_store.cohort)).frame
    purity = mlflow.pyfunc.load_model("models:/exoqc-purity@champion")
    out = purity.predict(features.head(25))
    probabilities = out[["p_high", "p_medium", "p_low"]].to_numpy()
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    assert set(out["label"]) <= {"high", "medium", "low"}

    potency = mlflow.pyfunc.load_model("models:/exoqc-potency@champion")
    out = potency.predict(features.head(25))
    np.testing.assert_allclose(out["p_potent"] + out["p_subpotent"], 1.0, rtol=1e-6)
    readouts = [c for c in out.columns if c.startswith("pred_")]
    assert "pred_cck8_fold" in readouts and (out[readouts] > 0).all().all()


def test_training_run_records_what_a_reviewer_needs(use_store):
    result = use_store.results["purity"]
    client = MlflowClient()
    run = client.get_run(result.run_id)
    metrics = run.data.metrics
    for name in ("test_macro_f1", "test_balanced_accuracy", "test_roc_auc", "test_brier",
                 "test_recall_high", "cv_macro_f1", "baseline_misev_rule_test_macro_f1",
                 "baseline_particle_protein_rule_test_macro_f1",
                 "baseline_logistic_regression_test_macro_f1",
                 "test_macro_f1_margin_over_best_baseline"):
        assert name in metrics, name
    assert metrics["test_macro_f1"] == pytest.approx(result.test_metrics["macro_f1"])
    artifacts = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"feature_catalog.csv", "confusion_matrix.png", "calibration_reliability.png",
            "baselines_vs_model.csv", "shap"} <= artifacts
    shap_files = {a.path for a in client.list_artifacts(result.run_id, "shap")}
    assert {"shap/shap_beeswarm_high.png", "shap/shap_beeswarm_low.png",
            "shap/shap_importance_bar.png", "shap/shap_values_heldout.csv"} <= shap_files
    assert any(p.startswith("shap/shap_dependence_") for p in shap_files)
    inputs = {d.dataset.name for d in run.inputs.dataset_inputs}
    assert any(name.endswith("-training") for name in inputs)
    trials = client.search_runs(
        [run.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{result.run_id}'")
    assert len(trials) == 2
    version = client.get_model_version("exoqc-purity", result.model_version)
    assert "Held-out metrics" in version.description


def test_shap_values_add_up_to_the_margin(use_store):
    loaded = load_model("models:/exoqc-purity@champion")
    features = build_features(load_dataset(use_store.cohort)).frame.head(30)
    explanation = explain.explain(loaded.predictor.booster, features)
    margin = loaded.predictor.booster.predict(
        xgb.DMatrix(features.to_numpy(np.float32), feature_names=list(features.columns)),
        output_margin=True)
    total = explanation.values.sum(axis=1) + explanation.base_values
    np.testing.assert_allclose(total, margin, atol=1e-4)


def test_champion_stays_when_the_new_version_is_worse(use_store):
    client = MlflowClient()
    name = contracts.REGISTERED_MODELS["purity"]
    champion = client.get_model_version_by_alias(name, contracts.CHAMPION_ALIAS).version
    copy = client.create_model_version(name, f"models:/{name}/{champion}")
    decision = decide_champion(name, copy.version, new_score=0.40, metric="macro_f1",
                               score_champion=lambda predictor: 0.55)
    assert not decision.promoted
    assert client.get_model_version_by_alias(name, contracts.CHAMPION_ALIAS).version == champion
    assert "does not beat" in decision.reason

    better = decide_champion(name, copy.version, new_score=0.60, metric="macro_f1",
                             score_champion=lambda predictor: 0.55)
    assert better.promoted
    assert client.get_model_version_by_alias(name, contracts.CHAMPION_ALIAS).version == \
        copy.version
    client.set_registered_model_alias(name, contracts.CHAMPION_ALIAS, champion)


def test_training_without_labels_is_a_clear_error(tmp_path, small_cohort, monkeypatch):
    from exoqc.training.job import train

    preps = pd.read_csv(small_cohort / "preps.csv").drop(
        columns=["potency_class", "dls_file", "nta_file"])
    folder = tmp_path / "cohort"
    folder.mkdir()
    preps.to_csv(folder / "preps.csv", index=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    with pytest.raises(ValueError, match="no potency_class labels"):
        train(folder, target="potency")
