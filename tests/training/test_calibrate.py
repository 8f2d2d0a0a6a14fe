"""The calibration decision: kept only when cross-fitted calibration lowers the out-of-fold
Brier score, never fitted on the fold it is judged on, raw margins kept otherwise.

Expected Brier scores come from an independent Platt scaling (scikit-learn's logistic
regression on the margin, unpenalized), cross-fitted over the same folds."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from exoqc.training.calibrate import choose_calibration


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def shifted_folds(n_per_fold: int, factors: tuple[float, ...], seed: int):
    """Binary margins whose truth is ``margin · factor``, one factor per fold, and the folds
    (position pairs as ``cv_folds`` gives them). Labels: 0 = positive class."""
    rng = np.random.default_rng(seed)
    margins, labels, folds = [], [], []
    for k, factor in enumerate(factors):
        margin = rng.normal(0, 3, n_per_fold)
        margins.append(margin)
        labels.append(np.where(rng.random(n_per_fold) < sigmoid(margin * factor), 0, 1))
        folds.append((None, np.arange(k * n_per_fold, (k + 1) * n_per_fold)))
    return np.concatenate(margins), np.concatenate(labels), folds


def independent_crossfit_brier(margin: np.ndarray, labels: np.ndarray, folds) -> float:
    positive = (labels == 0).astype(int)
    p = np.empty(margin.size)
    for _, valid in folds:
        others = np.setdiff1d(np.arange(margin.size), valid)
        platt = LogisticRegression(C=np.inf).fit(margin[others, None], positive[others])
        p[valid] = platt.predict_proba(margin[valid, None])[:, 1]
    return float(np.mean(2 * (p - positive) ** 2))  # both classes' squared errors


def test_raw_is_kept_when_calibration_does_not_help_out_of_fold():
    """Fold 1's margins are three times overconfident, fold 2's three times underconfident:
    a calibration learnt on one fold hurts the other, so out of fold it does not help and the
    raw margins are kept. A calibration fitted on the fold's own data (a leak) or on all the
    data would look helpful here."""
    margin, labels, folds = shifted_folds(3000, (1 / 3, 3.0), seed=4)
    check = choose_calibration(margin, labels, folds)
    assert not check.applied
    assert check.calibration.kind == "none"
    assert check.brier_calibrated > check.brier_uncalibrated
    raw = sigmoid(margin)
    assert check.brier_uncalibrated == pytest.approx(np.mean(2 * (raw - (labels == 0)) ** 2))


@pytest.mark.parametrize("factors", [(1 / 3, 3.0), (0.5, 0.5, 0.5), (0.2, 0.6, 1.0, 2.0)])
def test_calibrated_brier_is_cross_fitted_never_on_the_folds_own_data(factors):
    margin, labels, folds = shifted_folds(1500, factors, seed=5)
    check = choose_calibration(margin, labels, folds)
    expected = independent_crossfit_brier(margin, labels, folds)
    assert check.brier_calibrated == pytest.approx(expected, rel=2e-3)


def test_a_leak_would_change_the_calibrated_brier():
    """The tolerance above detects leakage: fitting each fold's calibration on its own data
    gives a Brier score far outside it on the shifted folds."""
    margin, labels, folds = shifted_folds(1500, (1 / 3, 3.0), seed=5)
    positive = (labels == 0).astype(int)
    leaked = np.empty(margin.size)
    for _, valid in folds:
        platt = LogisticRegression(C=np.inf).fit(margin[valid, None], positive[valid])
        leaked[valid] = platt.predict_proba(margin[valid, None])[:, 1]
    leaky = float(np.mean(2 * (leaked - positive) ** 2))
    honest = independent_crossfit_brier(margin, labels, folds)
    assert abs(leaky / honest - 1) > 10 * 2e-3


def test_calibration_is_applied_when_every_fold_is_equally_overconfident():
    margin, labels, folds = shifted_folds(1500, (0.5, 0.5, 0.5), seed=6)
    check = choose_calibration(margin, labels, folds)
    assert check.applied and check.calibration.kind == "platt"
    assert check.calibration.scale == pytest.approx(0.5, rel=0.1)
