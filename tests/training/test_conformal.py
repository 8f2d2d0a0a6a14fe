"""Conformal prediction sets: class-conditional coverage, storage with the model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exoqc.model.conformal import (
    CV_PLUS,
    REFIT,
    ConformalCalibration,
    coverage_by_class,
    cross_fitted_sets,
    fit_conformal,
    fit_cv_plus,
)
from exoqc.model.predictor import (
    Calibration,
    ExoqcPredictor,
    ModelIntegrityError,
    ModelSpec,
    fold_file,
    save_model_files,
)
from exoqc.training.fit import booster_params, cross_validate, fit_final, fold_matrices


def noisy_classifier(n: int, n_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of an imperfect classifier and the true classes, exchangeable draws.

    Class frequencies are unequal and the rare class is also the hardest to recognise (as
    medium purity is): a calibration pooled over the classes (not class-conditional)
    covers it at 0.60 to 0.87 where 1 − α is 0.80 to 0.95, so the per-class check below
    fails for it."""
    rng = np.random.default_rng(seed)
    frequencies = np.linspace(1.0, 3.0, n_classes)
    labels = rng.choice(n_classes, size=n, p=frequencies / frequencies.sum())
    logits = rng.normal(size=(n, n_classes))
    logits[np.arange(n), labels] += np.linspace(0.6, 1.8, n_classes)[labels]
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


def tabular(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """Features and a noisy three-class label (exchangeable draws)."""
    x = rng.normal(size=(n, 6))
    logits = 1.2 * np.column_stack([x[:, 0] + 0.5 * x[:, 1], x[:, 2] - 0.5 * x[:, 0],
                                    0.7 * x[:, 3]])
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = (rng.uniform(size=(n, 1)) > p.cumsum(axis=1)).sum(axis=1)
    return pd.DataFrame(x, columns=[f"f{i}" for i in range(6)]), labels


@pytest.fixture(scope="module")
def cv_plus_model(tmp_path_factory):
    """XGBoost fold boosters (grouped 5-fold CV with early stopping, as training does),
    a refitted booster sharper than they are (three times their mean rounds, as when the
    folds stop early at very different rounds), the CV+ calibration, saved and loaded
    back as model files; and a large test draw."""
    rng = np.random.default_rng(1)
    x, y = tabular(1500, rng)
    batch = np.arange(len(y)) // 10
    folds = [(np.flatnonzero(batch % 5 != j), np.flatnonzero(batch % 5 == j))
             for j in range(5)]
    params = booster_params("multiclass", {"max_depth": 4, "learning_rate": 0.1}, 3, 0, 1)
    cv = cross_validate(fold_matrices(x, y.astype(float), folds), len(y), params,
                        output_width=3)
    refit = fit_final(x, y.astype(float), params, 3 * cv.n_rounds)
    calibration = fit_cv_plus(Calibration().probabilities(cv.oof_margin), y,
                              [valid for _, valid in folds])
    spec = ModelSpec(target="purity", classes=("high", "medium", "low"),
                     feature_names=tuple(x.columns), conformal=calibration.to_dict())
    files = save_model_files(tmp_path_factory.mktemp("cv_plus"), spec, refit, None,
                             cv.boosters)
    loaded = ExoqcPredictor.from_files(files["meta"], files["booster"],
                                       other_files=list(files.values()))
    test_x, test_y = tabular(6000, rng)
    return loaded, calibration, files, test_x, test_y


@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.2])
def test_cv_plus_covers_each_class_where_the_refitted_booster_does_not(cv_plus_model, alpha):
    predictor, calibration, _, test_x, test_y = cv_plus_model
    cv_plus = coverage_by_class(
        calibration.sets(predictor.conformal_probabilities(test_x), alpha), test_y)
    # the previous method: the same out-of-fold scores, the refitted booster's test scores
    refit = ConformalCalibration((calibration.scores,), method=REFIT)
    previous = coverage_by_class(refit.sets(predictor.predict_proba(test_x), alpha), test_y)
    # binomial tolerance: the calibration draw's and the test draw's, three sigma
    sigma = np.sqrt(alpha * (1 - alpha) * (1 / (np.array(calibration.n_per_class) + 1)
                                           + 1 / np.bincount(test_y)))
    assert (cv_plus >= 1 - alpha - 3 * sigma).all(), (cv_plus, 1 - alpha - 3 * sigma)
    # CV+ may be somewhat conservative (no exact upper bound): within five times the
    # split-conformal one, so that the sets stay informative
    assert (cv_plus <= 1 - alpha + 5 / (np.array(calibration.n_per_class) + 1)
            + 3 * sigma).all(), cv_plus
    if alpha <= 0.1:  # the check bites: the refit comparison undercovers a class here
        assert (previous < 1 - alpha - 3 * sigma).any(), (previous, 1 - alpha - 3 * sigma)


def test_cv_plus_p_values_count_each_fold_against_its_own_booster(cv_plus_model):
    predictor, calibration, _, test_x, _ = cv_plus_model
    rows = test_x.head(200)
    fold_proba = predictor.conformal_probabilities(rows)
    assert fold_proba.shape == (5, 200, 3)
    counts = np.zeros((200, 3))
    for j, fold in enumerate(calibration.fold_scores):
        for k in range(3):
            test_score = 1 - fold_proba[j, :, k]
            counts[:, k] += (np.asarray(fold[k])[None, :] >= test_score[:, None]).sum(axis=1)
    expected = (1 + counts) / (1 + np.array(calibration.n_per_class))
    np.testing.assert_allclose(calibration.p_values(fold_proba), expected)
    with pytest.raises(ValueError, match="fold"):
        calibration.p_values(predictor.predict_proba(rows))


def test_fold_boosters_are_verified_and_required(cv_plus_model, tmp_path):
    predictor, calibration, files, test_x, _ = cv_plus_model
    assert calibration.method == CV_PLUS and predictor.spec.conformal["n_fold_boosters"] == 5
    meta, booster = files["meta"], files["booster"]
    # loaded without them (the MLflow pyfunc: probabilities only), sets are refused
    bare = ExoqcPredictor.from_files(meta, booster)
    np.testing.assert_allclose(bare.predict_proba(test_x.head(5)),
                               predictor.predict_proba(test_x.head(5)))
    with pytest.raises(ModelIntegrityError, match="fold boosters"):
        bare.conformal_probabilities(test_x.head(5))
    others = [path for name, path in files.items() if name != "conformal_fold_3"]
    with pytest.raises(ModelIntegrityError, match=fold_file(3)):
        ExoqcPredictor.from_files(meta, booster, other_files=others)
    tampered = tmp_path / fold_file(3)
    tampered.write_bytes(files["conformal_fold_4"].read_bytes())
    with pytest.raises(ModelIntegrityError, match="checksum"):
        ExoqcPredictor.from_files(meta, booster, other_files=[*others, tampered])


def test_a_model_of_the_previous_method_keeps_its_sets():
    probabilities, labels = noisy_classifier(500, 3, seed=6)
    previous = {"method": REFIT, "alpha": 0.1,
                "scores": [sorted(1 - probabilities[:300][labels[:300] == k, k])
                           for k in range(3)]}
    restored = ConformalCalibration.from_dict(previous)
    assert restored.method == REFIT and restored.n_folds == 0
    expected = fit_conformal(probabilities[:300], labels[:300]).sets(probabilities[300:], 0.1)
    np.testing.assert_array_equal(restored.sets(probabilities[300:], 0.1), expected)


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
        # counted by batch: each class's batches, at most its preparations and at most
        # the training split's batches, are in the spec and the run
        assert calibration.unit == "batch"
        assert run.data.params["conformal_exchangeable_unit"] == "batch"
        assert spec.conformal["n_calibration_units"] == calibration.n_units_per_class
        for c, k, n in zip(classes, calibration.n_units_per_class, calibration.n_per_class,
                           strict=True):
            assert run.data.params[f"conformal_n_calibration_batches_{c}"] == str(k)
            assert 0 < k <= min(n, int(run.data.params["n_batches_train"]))
        assert run.data.metrics["conformal_test_mean_set_size_a10"] >= 0
        artifacts = {a.path for a in MlflowClient().list_artifacts(result.run_id)}
        assert "conformal_coverage.png" in artifacts
        scores_csv = MlflowClient().download_artifacts(result.run_id,
                                                       "conformal/calibration_scores.csv")
        logged = np.loadtxt(scores_csv, delimiter=",", skiprows=1, usecols=1)
        np.testing.assert_allclose(np.sort(logged),
                                   np.sort(np.concatenate(calibration.scores)))


def batch_correlated_draw(rng: np.random.Generator, n_batches: int, batch_size: int
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two-class probabilities, true classes and batches: class 0 in ``n_batches`` batches
    of ``batch_size`` whose scores share almost everything (a batch effect of sd 1, a
    preparation's own noise of sd 0.05), class 1 in batches of independent preparations."""
    n1 = 120
    effect = np.repeat(rng.normal(size=n_batches), batch_size)
    score0 = 1 / (1 + np.exp(-(effect + 0.05 * rng.normal(size=len(effect)))))
    score1 = rng.uniform(size=n1)
    p0 = np.concatenate([1 - score0, score1])  # hinge score of the true class: 1 − p
    labels = np.concatenate([np.zeros(len(score0), int), np.ones(n1, int)])
    batches = np.concatenate([np.repeat(np.arange(n_batches), batch_size),
                              n_batches + np.arange(n1) // 4])
    return np.column_stack([p0, 1 - p0]), labels, batches


def test_batch_level_holds_coverage_where_preparation_level_undercovers():
    # 12 batches of 10 preparations of class 0, nearly one score per batch: preparation by
    # preparation the calibration believes it has 120 exchangeable scores and needs 12 of
    # them (two batches) above a new one to keep class 0; only batches are exchangeable,
    # and a new batch lies above all but one of 13 with probability 2/13 (coverage about
    # 0.85 at α = 0.1). Counting batches needs one batch above: 12/13 = 0.92.
    rng = np.random.default_rng(11)
    alpha, repeats, n_new = 0.1, 600, 40
    covered: dict[str, list[np.ndarray]] = {"batch": [], "preparation": []}
    for _ in range(repeats):
        proba, labels, batches = batch_correlated_draw(rng, 12, 10)
        new, new_labels, _ = batch_correlated_draw(rng, n_new, 1)  # one prep per new batch
        for name, groups in (("batch", batches), ("preparation", None)):
            sets = fit_conformal(proba, labels, alpha, groups=groups).sets(new, alpha)
            covered[name].append(sets[np.arange(len(new_labels)), new_labels]
                                 .reshape(1, -1))
    new_labels = batch_correlated_draw(rng, n_new, 1)[1]
    for name in covered:
        hits = np.concatenate(covered[name])
        covered[name] = [hits[:, new_labels == k].mean() for k in (0, 1)]
    # marginal over calibration draws: a binomial tolerance on the 600 draws (the
    # calibration draw dominates the variance: sd of one draw's coverage about 0.08)
    sigma = 0.08 / np.sqrt(repeats)
    batch, prep = covered["batch"], covered["preparation"]
    assert batch[0] >= 1 - alpha - 3 * sigma, batch
    assert batch[0] <= 1 - alpha + 1 / 13 + 3 * sigma, batch
    assert prep[0] < 1 - alpha - 3 * sigma, prep  # the check bites
    # the class of independent preparations is covered either way
    assert min(batch[1], prep[1]) >= 1 - alpha - 0.02, (batch, prep)


def test_batches_of_one_give_the_ordinary_mondrian_p_values():
    from crepes import ConformalClassifier
    from crepes.extras import hinge

    probabilities, labels = noisy_classifier(400, 3, seed=8)
    probabilities = np.round(probabilities, 2)  # ties between calibration and test scores
    calibration, test = probabilities[:250], probabilities[250:]
    by_batch = fit_conformal(calibration, labels[:250], groups=np.arange(250))
    assert by_batch.unit == "batch" and by_batch.n_units_per_class == by_batch.n_per_class
    reference = ConformalClassifier().fit(hinge(calibration, np.arange(3), labels[:250]),
                                          bins=labels[:250])
    expected = np.column_stack([
        reference.predict_p(hinge(test)[:, [k]], np.full(len(test), k), smoothing=False)[:, 0]
        for k in range(3)])
    np.testing.assert_allclose(by_batch.p_values(test), expected)
    np.testing.assert_allclose(fit_conformal(calibration, labels[:250]).p_values(test),
                               expected)
    # CV+ too: five folds, each batch of one in one fold
    folds = [np.arange(j, 250, 5) for j in range(5)]
    fold_proba = np.stack([np.roll(test, j, axis=1) for j in range(5)])
    np.testing.assert_allclose(
        fit_cv_plus(calibration, labels[:250], folds, groups=np.arange(250)).p_values(fold_proba),
        fit_cv_plus(calibration, labels[:250], folds).p_values(fold_proba))


def test_batch_p_values_weigh_each_batch_once_and_count_batches():
    # class 0: batch a with three scores, batch b with one; class 1: one batch of two
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8]])
    labels = np.array([0, 0, 0, 0, 1, 1])
    calibration = fit_conformal(proba, labels, groups=np.array(["a", "a", "a", "b", "c", "c"]))
    assert calibration.n_units_per_class == [2, 1]
    # class-0 scores 0.1, 0.2, 0.3 (a, each 1/3) and 0.6 (b, 1); a test score of 0.25 is
    # at most one third of batch a and all of b: p = (1 + 1/3 + 1) / (1 + 2)
    p = calibration.p_values(np.array([[0.75, 0.25]]))
    np.testing.assert_allclose(p[0, 0], (1 + 1 / 3 + 1) / 3)
    # class 1, scores 0.3 and 0.2 of one batch, test score 1 − 0.25 = 0.75: none above
    np.testing.assert_allclose(p[0, 1], 1 / 2)
    assert calibration.always_included(0.4).tolist() == [False, True]


def test_leave_one_batch_out_calibration_coverage():
    rng = np.random.default_rng(3)
    proba, labels, batches = batch_correlated_draw(rng, 8, 5)
    calibration = fit_conformal(proba, labels, groups=batches)
    expected: dict[int, list[bool]] = {0: [], 1: []}
    for i in range(len(labels)):
        others = batches != batches[i]
        held = fit_conformal(proba[others], labels[others], groups=batches[others])
        expected[labels[i]].append(held.sets(proba[i:i + 1], 0.2)[0, labels[i]])
    np.testing.assert_allclose(calibration.calibration_coverage(0.2),
                               [np.mean(expected[k]) for k in (0, 1)])


def test_a_batch_calibration_travels_in_the_model_json():
    rng = np.random.default_rng(4)
    proba, labels, batches = batch_correlated_draw(rng, 10, 4)
    folds = [np.flatnonzero(batches % 2 == j) for j in range(2)]
    calibration = fit_cv_plus(proba, labels, folds, groups=batches)
    spec = ModelSpec(target="potency", classes=("potent", "subpotent"), feature_names=("a",),
                     conformal=calibration.to_dict())
    stored = ModelSpec.from_json(spec.to_json()).conformal
    assert stored["exchangeable_unit"] == "batch"
    assert stored["n_calibration_units"] == [10, 30]
    restored = ConformalCalibration.from_dict(stored)
    fold_proba = np.stack([proba, proba[::-1]])
    np.testing.assert_array_equal(restored.sets(fold_proba, 0.1),
                                  calibration.sets(fold_proba, 0.1))
    with pytest.raises(ValueError, match="fold_batches"):
        ConformalCalibration.from_dict({k: v for k, v in stored.items()
                                        if k != "fold_batches"})
    with pytest.raises(ValueError, match="more than one conformal fold"):
        fit_cv_plus(proba, labels, [np.arange(0, len(labels), 2), np.arange(1, len(labels), 2)],
                    groups=batches)
