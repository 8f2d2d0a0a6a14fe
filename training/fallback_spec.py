"""A fitted fallback (``training.baselines``: the logistic regression or a tuned rule) as
the numbers of an ``exoqc.model.fallback`` model: coefficients, scaler and imputation of
the regression, thresholds of a rule, the isotonic steps of a potency score rule."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from exoqc.model.fallback import UNSEEN_CLASS_LOGIT, Estimator
from exoqc.training import baselines


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def estimator_spec(estimator: Any, n_classes: int, labels: np.ndarray) -> Estimator:
    """The spec of a fitted baseline; ``labels`` are the class positions it was fitted on
    (a score rule's base rate)."""
    if isinstance(estimator, Pipeline):
        return _linear(estimator, n_classes)
    if isinstance(estimator, baselines.PurityRuleBaseline):
        rule = estimator.rule_
        if isinstance(rule, baselines.MisevRuleClassifier):
            return {"kind": "misev_rule", "pdi_max": float(rule.pdi_max_),
                    "z_average_min_nm": _finite_or_none(rule.z_average_min_nm_),
                    "z_average_max_nm": _finite_or_none(rule.z_average_max_nm_),
                    "min_particles_per_ug": float(rule.min_particles_per_ug_)}
        return {"kind": "ratio_rule",
                "low_max_particles_per_ug": float(rule.low_max_particles_per_ug_),
                "high_min_particles_per_ug": float(rule.high_min_particles_per_ug_),
                "missing_label": str(rule.missing_label_)}
    if isinstance(estimator, baselines.RuleScoreBaseline):
        literature = baselines.MisevRuleClassifier()  # the score's fixed checklist
        return {"kind": "rule_score", "score": estimator.score,
                "x": estimator.isotonic_.X_thresholds_.tolist(),
                "y": estimator.isotonic_.y_thresholds_.tolist(),
                "missing_rate": float(estimator.missing_rate_),
                "base_rate": float(np.mean(labels == 0)),
                "pdi_max": literature.pdi_max,
                "z_average_min_nm": literature.z_average_min_nm,
                "z_average_max_nm": literature.z_average_max_nm,
                "min_particles_per_ug": literature.min_particles_per_ug}
    raise TypeError(f"no model spec for a {type(estimator).__name__}")


def _linear(pipeline: Pipeline, n_classes: int) -> Estimator:
    """Weights per output in the model's margin convention: one row (log-odds of class
    position 0) for a binary target, one per class for a multi-class one."""
    imputer, scaler, regression = (pipeline.steps[i][1] for i in range(3))
    coef, intercept = regression.coef_, regression.intercept_
    learned = [int(c) for c in regression.classes_]
    if n_classes == 2:  # scikit-learn: log-odds of classes_[1]; exoqc: of position 0
        weights, bias = -coef, -intercept
    elif len(learned) == n_classes:
        weights, bias = coef, intercept
    else:  # a class never labelled: the two learned classes share the log-odds
        weights = np.zeros((n_classes, coef.shape[1]))
        bias = np.full(n_classes, UNSEEN_CLASS_LOGIT)
        weights[learned[0]], weights[learned[1]] = -coef[0] / 2, coef[0] / 2
        bias[learned[0]], bias[learned[1]] = -intercept[0] / 2, intercept[0] / 2
    indicator = imputer.indicator_
    return {"kind": "linear", "impute": imputer.statistics_.tolist(),
            "indicator_of": ([] if indicator is None else indicator.features_.tolist()),
            "mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist(),
            "weights": np.asarray(weights).tolist(), "intercept": np.asarray(bias).tolist()}
