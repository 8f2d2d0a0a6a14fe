"""A fallback chosen on a lab's small data (the logistic regression, a rule) is registered
as a model of its own kind (its numbers in the spec, no booster) and `exoqc score` scores
and explains it end to end; calibration and the readout regressor are fitted or the run
says why not."""

from __future__ import annotations

import warnings
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from typer.testing import CliRunner

from exoqc.cli import app
from exoqc.dataset import load_dataset
from exoqc.features import build_features, label_of
from exoqc.model.load import load_model
from exoqc.simulate import simulate_cohort
from exoqc.training import baselines
from exoqc.training.job import TrainSettings, train

runner = CliRunner()
PURITY = ("high", "medium", "low")


@pytest.fixture(scope="module")
def lab40(tmp_path_factory) -> Path:
    return simulate_cohort(tmp_path_factory.mktemp("lab") / "bm40", 40, seed=31, lab="bm_msc")


def only(*names: str) -> TrainSettings:
    return TrainSettings(seed=0, n_jobs=1, cv_repeats=1, prior=False, candidates=names)


def scored(lab: Path, tmp_path: Path) -> pd.DataFrame:
    out = tmp_path / "scores.csv"
    result = runner.invoke(app, ["score", str(lab), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return pd.read_csv(out, keep_default_na=False)


def lab_features(lab: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    dataset = load_dataset(lab)
    features = build_features(dataset, n_jobs=1).frame
    return features, dataset.preps.loc[features.index]


def test_chosen_fallbacks_are_registered_scored_and_explained(lab40, tmp_path, store):
    # One target each (a rule for purity, the regression for potency), scored together.
    results = {**train(lab40, target="purity", settings=only("misev_rule")),
               **train(lab40, target="potency", settings=only("logistic_regression"))}
    purity = load_model("models:/exoqc-purity@champion").predictor
    potency = load_model("models:/exoqc-potency@champion").predictor
    assert results["purity"].chosen == "misev_rule" and purity.kind == "misev_rule"
    assert results["potency"].chosen == "logistic_regression" and potency.kind == "linear"
    assert purity.booster is None and potency.booster is None
    assert any("calibration: not for a purity rule" in n for n in results["purity"].skipped)
    run = mlflow.get_run(results["potency"].run_id)
    assert run.data.params["calibration"] in {"none", "platt"}
    if run.data.params["calibration"] == "none":
        assert "calibration: not applied" in run.data.tags["exoqc.skipped"]
    assert potency.spec.readouts or any("readout regressor" in note
                                        for note in results["potency"].skipped)

    scores = scored(lab40, tmp_path).set_index("prep_id")
    assert (scores["status"] == "ok").all()
    features, preps = lab_features(lab40)
    scores = scores.loc[features.index]
    # The registered numbers are scikit-learn's rule and regression: the same purity calls,
    # and the same order of P(potent) (Platt scaling, if applied, is monotone).
    purity_labels = preps["purity_class"].map({c: i for i, c in enumerate(PURITY)})
    rule = baselines.PurityRuleBaseline(baselines.MisevRuleClassifier()).fit(
        features, purity_labels.to_numpy(int))
    expected = np.asarray(PURITY)[rule.predict_proba(features).argmax(axis=1)]
    assert (scores["purity_class"].to_numpy() == expected).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        regression = baselines.logistic_baseline().fit(
            features, (preps["potency_class"] == "subpotent").to_numpy(int))
    p_potent = regression.predict_proba(features)[:, 0]
    assert spearmanr(scores["p_potent"].to_numpy(), p_potent).statistic > 0.999
    # The rule's reasons are its conditions, for every preparation where one was measured;
    # the regression's reasons are signed contributions of its features.
    inputs = ["dls_pdi", "dls_z_average_nm", "log10_particles_per_ug"]
    conditions = [label_of(name) for name in inputs]
    measured = features[inputs].notna().any(axis=1).to_numpy()
    for reasons, any_measured in zip(scores["reasons"], measured, strict=True):
        purity_part, potency_part = reasons.removeprefix("purity: ").split(" | potency: ")
        n_reasons = purity_part.count(" toward ") + purity_part.count(" away from ")
        assert n_reasons == sum(purity_part.count(c) for c in conditions)
        assert (n_reasons > 0) == any_measured, purity_part
        assert " toward " in potency_part or " away from " in potency_part
