"""The final model of a lab's small dataset: the chosen candidate fitted on all the lab's
preparations, with what the held-out path adds where these data allow it:

- **probability calibration** (temperature or Platt scaling, ``training.calibrate``) on the
  chosen candidate's out-of-fold margins of the first CV repeat, kept only when
  cross-fitting over the same folds lowers the out-of-fold Brier score, as on the held-out
  path, and only with a positive scale (one that keeps the model's order). Not for a
  purity rule: its call is certain by construction, not a probability.
- **the assay-readout regressor** (potency): a multi-output XGBoost regressor of log2 fold
  change, fitted only when every labelled preparation has every readout it predicts and
  its out-of-fold R² (same folds) is above zero on average: a regressor no better than
  the lab's mean would only add numbers that mean nothing.

A chosen fallback (the logistic regression, a rule) becomes an ``exoqc.model.fallback``
model: its coefficients or thresholds in the spec, no booster.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xgboost as xgb

from exoqc.dataset import ASSAY_READOUTS
from exoqc.model.fallback import Estimator, FallbackModel
from exoqc.model.predictor import Calibration
from exoqc.training import evaluate
from exoqc.training.calibrate import CalibrationCheck, choose_calibration
from exoqc.training.candidates import LAB_HYPER, ROUNDS, BoosterCandidate, Candidate
from exoqc.training.fallback_spec import estimator_spec
from exoqc.training.fit import booster_params, gain_importance, to_matrix

Folds = list[tuple[np.ndarray, np.ndarray]]


@dataclass
class LabModel:
    """The pieces of the registered model, and what was not fitted and why."""

    booster: xgb.Booster | None
    estimator: Estimator
    calibration: CalibrationCheck | None
    importance: dict[str, float]
    regressor: xgb.Booster | None = None
    readouts: tuple[str, ...] = ()
    readout_metrics: dict[str, float] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def final_model(candidate: Candidate, x: pd.DataFrame, y: np.ndarray, classes: tuple[str, ...],
                oof: np.ndarray, folds: Folds, preps: pd.DataFrame, seed: int) -> LabModel:
    """Fit ``candidate`` on all of ``x``; calibrate from its out-of-fold probabilities
    ``oof`` on ``folds``; add the readout regressor for potency where it helps."""
    booster: xgb.Booster | None = None
    estimator: Estimator = {}
    if isinstance(candidate, BoosterCandidate):
        booster = candidate.final_booster(x, y)
        importance = gain_importance(booster)
    else:
        estimator = estimator_spec(candidate.fit(x, y).estimator_, len(classes), y)
        importance = _mean_abs_contribution(estimator, x, classes)
    model = LabModel(booster, estimator, None, importance)
    if estimator.get("kind") in {"misev_rule", "ratio_rule"}:
        model.skipped.append("calibration: not for a purity rule, whose call is certain by "
                             "construction rather than a probability")
    else:
        model.calibration = choose_calibration(oof_margins(oof), y, folds)
        if model.calibration.calibration.scale <= 0:
            # Out-of-fold margins that rank the classes the wrong way round (an overfitted
            # model on few preparations) would make a calibration that turns the model's
            # order upside down: the Brier score may improve, the model would not.
            model.skipped.append(
                "calibration: not applied: the out-of-fold margins rank the classes the "
                f"wrong way round (fitted scale {model.calibration.calibration.scale:.2f})")
            model.calibration = CalibrationCheck(Calibration(),
                                                 model.calibration.brier_uncalibrated,
                                                 model.calibration.brier_calibrated)
        elif not model.calibration.applied:
            model.skipped.append(
                "calibration: not applied: cross-fitted calibration did not lower the "
                f"out-of-fold Brier score ({model.calibration.brier_uncalibrated:.3f} → "
                f"{model.calibration.brier_calibrated:.3f})")
    if len(classes) == 2:
        _add_readouts(model, x, preps, folds, seed)
    return model


def oof_margins(probabilities: np.ndarray) -> np.ndarray:
    """Margins whose probabilities (``Calibration().probabilities``) are ``probabilities``:
    the log-odds of the first class (binary) or the log-probabilities (softmax is
    unchanged by a constant per row)."""
    p = np.clip(probabilities, 1e-6, 1 - 1e-6)
    if p.shape[1] == 2:
        return np.log(p[:, 0] / (1 - p[:, 0]))
    return np.log(p)


def _mean_abs_contribution(estimator: Estimator, x: pd.DataFrame,
                           classes: tuple[str, ...]) -> dict[str, float]:
    """A fallback's feature importance for the applicability domain: mean |contribution|."""
    values, _ = FallbackModel(estimator, tuple(x.columns), classes).contributions(
        x.to_numpy(dtype=float))
    mean = np.abs(values).mean(axis=0)
    mean = mean.mean(axis=1) if mean.ndim == 2 else mean
    return {name: float(v) for name, v in zip(x.columns, mean, strict=True) if v > 0}


def _add_readouts(model: LabModel, x: pd.DataFrame, preps: pd.DataFrame, folds: Folds,
                  seed: int) -> None:
    readouts = tuple(r for r in ASSAY_READOUTS
                     if r in preps and preps[r].notna().all() and (preps[r] > 0).all())
    if not readouts:
        model.skipped.append("readout regressor: not fitted: no assay readout is given "
                             "(positive) for every labelled preparation")
        return
    observed = np.log2(preps[list(readouts)].to_numpy(dtype=float))
    params = booster_params("regression", LAB_HYPER, 0, seed, n_jobs=1)
    predicted = np.full_like(observed, np.nan)
    for train, valid in folds:
        fold_model = xgb.train(params, to_matrix(x.iloc[train], observed[train]),
                               ROUNDS["lab_only"])
        predicted[valid] = fold_model.predict(to_matrix(x.iloc[valid])).reshape(
            len(valid), len(readouts))
    metrics = evaluate.regression_metrics(predicted, observed, readouts)
    model.readout_metrics = metrics
    if not metrics["r2_mean"] > 0:
        model.skipped.append(
            f"readout regressor: not registered: out-of-fold R² {metrics['r2_mean']:.2f} "
            "(mean over readouts), no better than the lab's mean readout")
        return
    model.regressor = xgb.train(params, to_matrix(x, observed), ROUNDS["lab_only"])
    model.readouts = readouts
