"""Probability calibration, checked on out-of-fold predictions and applied where it helps.

Fitted on the margins the cross-validation models gave to the preparations they did not
see (out-of-fold), never on the held-out test split. Whether calibration helps is decided
by cross-fitting over the same folds: fit on the other folds' margins, apply to this
fold, and compare the Brier score with and without. Only a calibration that lowers the
out-of-fold Brier score is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from exoqc.model.predictor import Calibration


def brier_score(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Multi-class Brier score: mean over preparations of Σ_k (p_k − 1[y = k])²."""
    onehot = np.eye(probabilities.shape[1])[labels]
    return float(np.mean(np.sum((probabilities - onehot) ** 2, axis=1)))


def _log_loss(probabilities: np.ndarray, labels: np.ndarray) -> float:
    picked = probabilities[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.clip(picked, 1e-12, 1.0))))


def fit_calibration(margin: np.ndarray, labels: np.ndarray) -> Calibration:
    """Temperature scaling (multi-class) or Platt scaling (binary) by maximum likelihood.

    Binary labels are 0 for the positive class (``classes[0]``), matching
    :meth:`Calibration.probabilities`, whose first column is the positive class.
    """
    if margin.ndim == 1:
        def loss(theta: np.ndarray) -> float:
            return _log_loss(Calibration("platt", theta[0], theta[1]).probabilities(margin), labels)

        result = minimize(loss, x0=np.array([1.0, 0.0]), method="Nelder-Mead")
        return Calibration("platt", float(result.x[0]), float(result.x[1]))

    def loss_t(theta: np.ndarray) -> float:
        return _log_loss(Calibration("temperature", float(np.exp(theta[0]))).probabilities(margin),
                         labels)

    result = minimize(loss_t, x0=np.array([0.0]), method="Nelder-Mead")
    return Calibration("temperature", float(np.exp(result.x[0])))


@dataclass(frozen=True)
class CalibrationCheck:
    calibration: Calibration
    brier_uncalibrated: float
    brier_calibrated: float

    @property
    def applied(self) -> bool:
        return self.calibration.kind != "none"


def choose_calibration(
    oof_margin: np.ndarray, labels: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]
) -> CalibrationCheck:
    """Calibrate when cross-fitted calibration lowers the out-of-fold Brier score."""
    uncalibrated = Calibration().probabilities(oof_margin)
    cross_fitted = np.empty_like(uncalibrated)
    for _, valid in folds:
        others = np.setdiff1d(np.arange(len(labels)), valid)
        fitted = fit_calibration(oof_margin[others], labels[others])
        cross_fitted[valid] = fitted.probabilities(oof_margin[valid])
    before = brier_score(uncalibrated, labels)
    after = brier_score(cross_fitted, labels)
    chosen = fit_calibration(oof_margin, labels) if after < before else Calibration()
    return CalibrationCheck(chosen, before, after)
