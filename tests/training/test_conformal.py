"""Conformal prediction sets: class-conditional coverage, storage with the model."""

from __future__ import annotations

import numpy as np
import pytest

from exoqc.model.conformal import (
    ConformalCalibration,
    coverage_by_class,
    cross_fitted_sets,
    fit_conformal,
)
from exoqc.model.predictor import ModelSpec


def noisy_classifier(n: int, n_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of an imperfect classifier and the true classes, exchangeable draws.

    Class frequencies are unequal (a rare class), as purity classes are."""
    rng = np.random.default_rng(seed)
    frequencies = np.linspace(1.0, 3.0, n_classes)
    labels = rng.choice(n_classes, size=n, p=frequencies / frequencies.sum())
    logits = rng.normal(size=(n, n_classes))
    logits[np.arange(n), labels] += 1.2
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return probabilities, labels


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.2])
def test_coverage_per_class_within_binomial_tolerance(n_classes, alpha):
    probabilities, labels = noisy_classifier(12_000, n_classes, seed=5)
    calibration = fit_conformal(probabilities[:4000], labels[:4000], alpha)
    sets = calibration.sets(probabilities[4000:], alpha)
    coverage = coverage_by_class(sets, labels[4000:])
    for k in range(n_classes):
        n_test = int((labels[4000:] == k).sum())
        n_cal = calibration.n_per_class[k]
        sigma = np.sqrt(alpha * (1 - alpha) / n_test)
        # valid: at least 1 − α; and not wastefully conservative: at most 1 − α + 1/(n+1)
        assert coverage[k] >= 1 - alpha - 3 * sigma, (k, coverage[k])
        assert coverage[k] <= 1 - alpha + 1 / (n_cal + 1) + 3 * sigma, (k, coverage[k])


def test_class_without_calibration_preparations_is_never_excluded():
    probabilities, labels = noisy_classifier(300, 3, seed=1)
    seen = labels != 2
    calibration = fit_conformal(probabilities[seen], labels[seen])
    assert calibration.n_per_class[2] == 0
    assert calibration.sets(probabilities, 0.1)[:, 2].all()
    assert np.isnan(calibration.calibration_coverage(0.1)[2])


def test_calibration_coverage_is_leave_one_out():
    probabilities, labels = noisy_classifier(60, 3, seed=2)
    calibration = fit_conformal(probabilities, labels)
    expected = {k: [] for k in range(3)}
    for i in range(len(labels)):
        others = np.arange(len(labels)) != i
        held = fit_conformal(probabilities[others], labels[others])
        expected[labels[i]].append(held.sets(probabilities[i:i + 1], 0.2)[0, labels[i]])
    np.testing.assert_allclose(calibration.calibration_coverage(0.2),
                               [np.mean(expected[k]) for k in range(3)])


def test_cross_fitted_sets_use_only_the_other_folds():
    probabilities, labels = noisy_classifier(400, 3, seed=3)
    folds = [(np.arange(200, 400), np.arange(200)), (np.arange(200), np.arange(200, 400))]
    sets = cross_fitted_sets(probabilities, labels, folds, 0.1)
    second = fit_conformal(probabilities[200:], labels[200:]).sets(probabilities[:200], 0.1)
    np.testing.assert_array_equal(sets[:200], second)


def test_calibration_travels_in_the_model_json_and_gives_the_same_sets():
    probabilities, labels = noisy_classifier(500, 3, seed=4)
    calibration = fit_conformal(probabilities[:300], labels[:300])
    spec = ModelSpec(target="purity", classes=("high", "medium", "low"),
                     feature_names=("a",), conformal=calibration.to_dict())
    restored = ConformalCalibration.from_dict(ModelSpec.from_json(spec.to_json()).conformal)
    np.testing.assert_array_equal(restored.sets(probabilities[300:], 0.1),
                                  calibration.sets(probabilities[300:], 0.1))
    assert restored.alpha == 0.1


def test_a_model_json_from_before_conformal_sets_still_loads_without_them():
    spec = ModelSpec(target="purity", classes=("high", "medium", "low"), feature_names=("a",))
    text = spec.to_json().replace('  "conformal": {},\n', "")
    assert '"conformal"' not in text
    assert ModelSpec.from_json(text).conformal == {}


def test_training_stores_the_calibration_with_the_model_and_logs_its_coverage(use_store):
    from mlflow.tracking import MlflowClient

    from exoqc.model.load import load_model

    for target, classes in (("purity", ("high", "medium", "low")),
                            ("potency", ("potent", "subpotent"))):
        result = use_store.results[target]
        run = MlflowClient().get_run(result.run_id)
        spec = load_model(f"models:/exoqc-{target}/{result.model_version}").predictor.spec
        calibration = ConformalCalibration.from_dict(spec.conformal)
        # one out-of-fold score per training preparation, each in [0, 1]
        assert sum(calibration.n_per_class) == int(run.data.params["n_train"])
        assert all(0 <= s <= 1 for scores in calibration.scores for s in scores)
        for c, n in zip(classes, calibration.n_per_class, strict=True):
            assert run.data.params[f"conformal_n_calibration_{c}"] == str(n)
            assert 0 <= run.data.metrics[f"conformal_cv_coverage_a10_{c}"] <= 1
        assert run.data.metrics["conformal_test_mean_set_size_a10"] >= 0
        artifacts = {a.path for a in MlflowClient().list_artifacts(result.run_id)}
        assert "conformal_coverage.png" in artifacts
        scores_csv = MlflowClient().download_artifacts(result.run_id,
                                                       "conformal/calibration_scores.csv")
        logged = np.loadtxt(scores_csv, delimiter=",", skiprows=1, usecols=1)
        np.testing.assert_allclose(np.sort(logged),
                                   np.sort(np.concatenate(calibration.scores)))
