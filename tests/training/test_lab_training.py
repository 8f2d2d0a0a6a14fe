"""A lab's own small folder: what can be trained is, what cannot is said, never a traceback.

One simulated bone-marrow-MSC lab (40 preparations) is edited into each label edge case;
the prior is the session's small reference cohort (its features and boosters are cached
beside it on first use). One CV repeat keeps each training to seconds.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from typer.testing import CliRunner

from exoqc.cli import app
from exoqc.dataset import load_dataset
from exoqc.features import build_features
from exoqc.model.conformal import ConformalCalibration
from exoqc.model.domain import ApplicabilityDomain
from exoqc.model.load import load_model
from exoqc.simulate import simulate_cohort
from exoqc.training.job import TrainSettings, train

runner = CliRunner()


@pytest.fixture(scope="module")
def lab40(tmp_path_factory) -> Path:
    return simulate_cohort(tmp_path_factory.mktemp("lab") / "bm40", 40, seed=31, lab="bm_msc")


def edited(lab: Path, tmp_path: Path, n: int | None = None, **columns) -> Path:
    """A copy of ``lab`` with its first ``n`` preparations and some columns replaced
    (a value of None drops the column)."""
    out = tmp_path / "lab"
    shutil.copytree(lab, out)
    preps = pd.read_csv(out / "preps.csv", dtype=str, keep_default_na=False)
    preps = preps.head(n) if n else preps
    for column, values in columns.items():
        if values is None:
            preps = preps.drop(columns=column)
        else:
            preps[column] = values(preps) if callable(values) else values
    preps.to_csv(out / "preps.csv", index=False)
    return out


def settings(prior_cohort: Path | None, seed: int = 0) -> TrainSettings:
    return TrainSettings(seed=seed, n_jobs=1, cv_repeats=1, prior=prior_cohort is not None,
                         prior_cohort=prior_cohort)


def test_refusals_come_before_any_work_and_name_the_number(lab40, tmp_path, store):
    few = edited(lab40, tmp_path, n=8)
    with pytest.raises(ValueError, match=r"8 preparation\(s\) with a purity_class: training "
                                         r"needs at least 10"):
        train(few, target="purity", settings=settings(None))
    one_class = edited(lab40, tmp_path / "b", potency_class="potent")
    with pytest.raises(ValueError, match=r"potency_class labels 40 'potent': a classifier "
                                         "needs at least two classes"):
        train(one_class, target="potency", settings=settings(None))
    two_batches = edited(lab40, tmp_path / "c",
                         batch=lambda p: ["A" if i % 2 else "B" for i in range(len(p))])
    with pytest.raises(ValueError, match="2 batch"):
        train(two_batches, target="purity", settings=settings(None))
    # Nothing was started in the store: the checks ran before features and MLflow.
    assert mlflow.search_experiments() == [] or all(
        not mlflow.search_runs([e.experiment_id]).shape[0] for e in mlflow.search_experiments())


def test_two_purity_classes_one_potency_class_and_no_batch_column(
        lab40, small_cohort, tmp_path, store):
    """40 preparations, no batch column, no 'medium' label and every prep 'potent':
    purity trains with the prior and says what it cannot learn; potency is skipped."""
    folder = edited(lab40, tmp_path, batch=None, potency_class="potent",
                    purity_class=lambda p: p["purity_class"].replace("medium", "high"))
    notes: list[str] = []
    results = train(folder, target="all", settings=settings(small_cohort), notes=notes)
    assert set(results) == {"purity"}
    assert any(n.startswith("potency: not trained: potency_class labels 40 'potent'")
               for n in notes)
    assert any("no 'medium' labels" in n for n in notes)
    assert any("no `batch` column" in n for n in notes)
    result = results["purity"]
    assert result.validation == "repeated grouped CV"
    low, high = result.interval
    assert 0 <= low <= result.test_metrics["macro_f1"] <= high <= 1
    client = mlflow.MlflowClient()
    run = client.get_run(result.run_id)
    candidates = pd.read_csv(mlflow.artifacts.download_artifacts(
        run_id=result.run_id, artifact_path="candidates.csv", dst_path=str(tmp_path / "a")))
    assert {"lab_only", "reference", "reference_margin", "continued", "pooled_w3",
            "pooled_w10", "logistic_regression", "misev_rule"} <= set(candidates["candidate"])
    assert candidates["chosen"].sum() == 1
    assert run.data.params["chosen_candidate"] == result.chosen
    version = client.get_model_version("exoqc-purity", result.model_version)
    assert "Chosen" in version.description and "interval" in version.description
    assert result.champion.promoted and result.champion.reason == "no champion yet"
    # Release decisions work for a small lab too: the model carries conformal scores of
    # every labelled preparation, each once, by its true class (none for 'medium').
    spec = load_model(f"models:/exoqc-purity/{result.model_version}").predictor.spec
    labels = pd.read_csv(folder / "preps.csv")["purity_class"]
    calibration = ConformalCalibration.from_dict(spec.conformal)
    assert calibration.n_per_class == [int((labels == c).sum()) for c in spec.classes]
    assert calibration.n_per_class[spec.classes.index("medium")] == 0
    # ... counted by batch; without a batch column each preparation is its own batch
    assert calibration.unit == "batch"
    assert calibration.n_units_per_class == calibration.n_per_class


def test_twenty_preps_each_its_own_batch_with_a_rare_class(lab40, small_cohort, tmp_path,
                                                           store):
    folder = edited(lab40, tmp_path, n=20, batch="",
                    purity_class=lambda p: ["low"] * 2 + ["high"] * 9 + ["medium"] * 9)
    notes: list[str] = []
    results = train(folder, target="purity", settings=settings(small_cohort), notes=notes)
    assert "purity" in results
    assert any("only 2 'low' preparation(s)" in n for n in notes)
    # The adapted model's domain is the lab's with the prior's as context: the lab's other
    # 20 preparations are mostly in it, at least as many as in a reference model's domain.
    features = build_features(load_dataset(lab40), n_jobs=1).frame
    others = features.drop(index=pd.read_csv(folder / "preps.csv")["prep_id"])
    spec = load_model(f"models:/exoqc-purity/{results['purity'].model_version}").predictor.spec
    in_lab_domain = ApplicabilityDomain.from_dict(spec.domain).check(others)["in_domain"]
    reference = build_features(load_dataset(small_cohort), n_jobs=1).frame
    in_reference_domain = ApplicabilityDomain().fit(reference).check(others)["in_domain"]
    assert in_lab_domain.mean() >= 0.6
    assert in_lab_domain.mean() >= in_reference_domain.mean(), (in_lab_domain.mean(),
                                                                in_reference_domain.mean())
    # Retraining on the same preparations cannot move the champion by noise.
    again = train(folder, target="purity", settings=settings(small_cohort, seed=1))
    assert not again["purity"].champion.promoted
    assert "not better beyond noise" in again["purity"].champion.reason


def test_cli_trains_ten_preps_without_prior_and_says_what_it_did(lab40, tmp_path, store):
    folder = edited(lab40, tmp_path, n=10,
                    purity_class=["high"] * 4 + ["low"] * 3 + ["medium"] * 3,
                    batch=[f"B{i // 2}" for i in range(10)])
    result = runner.invoke(app, ["train", str(folder), "--target", "purity", "--no-prior"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert "out-of-fold metric over the CV repeats" in result.output
    assert "no champion yet" in result.output
    versions = mlflow.MlflowClient().search_model_versions("name='exoqc-purity'")
    assert "**Prior**: none (--no-prior)" in versions[0].description
