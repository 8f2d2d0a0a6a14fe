"""Models that are not XGBoost boosters, as numbers in the model's spec: a logistic
regression and the purity rules, which a lab's small-data training may choose
(``training.adapt``). Nothing is pickled: ``ModelSpec.estimator`` holds the coefficients or
the thresholds as JSON, and this module computes margins and exact explanations from them.

Margins follow the booster's convention: log-odds of ``classes[0]`` for a binary target
(shape (n,)), one logit per class for a multi-class target (shape (n, classes)), so the
spec's ``Calibration`` and everything downstream treat them as a booster's.

Explanations (``explainer()``) have the interface of ``shap.TreeExplainer`` that scoring
uses (``shap_values(array)``, ``expected_value``):

- **linear**: contribution of feature j = w_j · (z_j − E[z_j]) with z the standardized
  inputs (its missing-value indicator's term added to j); standardization makes E[z] = 0
  over the training rows, so the base value is the intercept and base + Σ contributions
  = the margin. These are the exact SHAP values of a linear model with independent
  features (Lundberg & Lee 2017, "Linear SHAP"; ``shap.LinearExplainer`` computes the same
  in the standardized space, where a missing-value indicator would be a feature of its own).
- **rules**: a rule's reasons are its conditions: each input the rule reads gets +1 when
  its condition agrees with the call (e.g. PDI below the rule's limit for "high"), −1 when
  it argues against it, 0 when not measured; the base value is 0. For the potency
  score rules the score's log-odds shift from the training rate is the contribution.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

Estimator = dict[str, Any]

UNSEEN_CLASS_LOGIT = -30.0
"""Logit of a class a multi-class regression never saw in training (probability ~1e-13)."""
PDI, Z_AVERAGE, LOG10_RATIO = "dls_pdi", "dls_z_average_nm", "log10_particles_per_ug"


def _bound(value: float | None, unbounded: float) -> float:
    """A threshold; ``None`` (JSON has no infinity) is no bound."""
    return unbounded if value is None else float(value)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


class FallbackModel:
    """Margins and contributions of the ``estimator`` of a spec (``kind``: ``linear``,
    ``misev_rule``, ``ratio_rule`` or ``rule_score``) over ``feature_names``."""

    def __init__(self, estimator: Estimator, feature_names: tuple[str, ...],
                 classes: tuple[str, ...]) -> None:
        self.estimator, self.classes = estimator, classes
        self.names = list(feature_names)
        self.kind = str(estimator["kind"])
        if self.kind not in {"linear", "misev_rule", "ratio_rule", "rule_score"}:
            raise ValueError(f"unknown fallback model kind {self.kind!r}")
        for name in self.inputs:
            if name not in self.names:
                raise ValueError(f"the {self.kind} reads feature {name!r}, not in the model")

    @property
    def inputs(self) -> list[str]:
        """The features the model reads."""
        if self.kind == "linear":
            return self.names
        if self.kind == "ratio_rule" or self.estimator.get("score") == LOG10_RATIO:
            return [LOG10_RATIO]
        return [PDI, Z_AVERAGE, LOG10_RATIO]

    def _col(self, values: np.ndarray, name: str) -> np.ndarray:
        return values[:, self.names.index(name)]

    # --- linear -------------------------------------------------------------------------

    def _linear_terms(self, values: np.ndarray) -> np.ndarray:
        """Per-feature terms w · z of each output, shape (n, features, outputs)."""
        e = self.estimator
        imputed = np.where(np.isnan(values), np.asarray(e["impute"]), values)
        indicator_of = np.asarray(e["indicator_of"], dtype=int)
        indicators = np.isnan(values[:, indicator_of]).astype(float)
        z = (np.hstack([imputed, indicators]) - np.asarray(e["mean"])) / np.asarray(e["scale"])
        weights = np.asarray(e["weights"])  # (outputs, columns)
        n_features = values.shape[1]
        terms = z[:, :n_features, None] * weights.T[None, :n_features, :]
        extra = z[:, n_features:, None] * weights.T[None, n_features:, :]
        for k, j in enumerate(indicator_of):  # a missing-value indicator's term to its feature
            terms[:, j] += extra[:, k]
        return terms

    # --- rules --------------------------------------------------------------------------

    def _misev_passed(self, values: np.ndarray) -> np.ndarray:
        """(n, 3) of +1 passed / −1 failed / 0 not measured: PDI, Z-average window, ratio."""
        e = self.estimator
        pdi, z = self._col(values, PDI), self._col(values, Z_AVERAGE)
        ratio = self._col(values, LOG10_RATIO)
        with np.errstate(invalid="ignore"):
            passed = np.column_stack([
                pdi < e["pdi_max"],
                (z >= _bound(e["z_average_min_nm"], -np.inf))
                & (z <= _bound(e["z_average_max_nm"], np.inf)),
                ratio > math.log10(e["min_particles_per_ug"]),
            ])
        measured = ~np.isnan(np.column_stack([pdi, z, ratio]))
        return np.where(measured, np.where(passed, 1.0, -1.0), 0.0)

    def _purity_call(self, values: np.ndarray) -> np.ndarray:
        """Class positions (high, medium, low) of a purity rule."""
        position = {c: i for i, c in enumerate(self.classes)}
        if self.kind == "misev_rule":
            points = (self._misev_passed(values) > 0).sum(axis=1)
            names = np.where(points >= 3, "high", np.where(points == 2, "medium", "low"))
        else:
            e = self.estimator
            ratio = self._col(values, LOG10_RATIO)
            with np.errstate(invalid="ignore"):
                names = np.where(ratio >= math.log10(e["high_min_particles_per_ug"]), "high",
                                 np.where(ratio < math.log10(e["low_max_particles_per_ug"]),
                                          "low", "medium"))
            names = np.where(np.isnan(ratio), e["missing_label"], names)
        return np.array([position[str(n)] for n in names], dtype=int)

    def _score_probability(self, values: np.ndarray) -> np.ndarray:
        """P(classes[0]) of a potency score rule: the isotonic step function of its score."""
        e = self.estimator
        if e["score"] == LOG10_RATIO:
            score = self._col(values, LOG10_RATIO)
        else:
            passed = self._misev_passed(values)
            score = np.where((passed == 0).all(axis=1), np.nan, (passed > 0).sum(axis=1))
        known = np.isfinite(score)
        p = np.full(len(score), float(e["missing_rate"]))
        p[known] = np.interp(score[known], e["x"], e["y"])
        return p

    # --- the model ----------------------------------------------------------------------

    def margin(self, values: np.ndarray) -> np.ndarray:
        """The margin of each row (see the module docstring for its shape)."""
        if self.kind == "linear":
            margin = self._linear_terms(values).sum(axis=1) + np.asarray(
                self.estimator["intercept"])
        elif self.kind == "rule_score":
            return _logit(self._score_probability(values))
        else:  # a purity rule is certain of its call
            margin = np.full((len(values), len(self.classes)), UNSEEN_CLASS_LOGIT)
            margin[np.arange(len(values)), self._purity_call(values)] = 0.0
        return margin.ravel() if len(self.classes) == 2 else margin

    def contributions(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature contributions (n, features[, classes]) and the base value(s)."""
        n, width = len(values), len(self.classes)
        if self.kind == "linear":
            terms = self._linear_terms(values)
            base = np.asarray(self.estimator["intercept"], dtype=float)
            return (terms[:, :, 0], base) if width == 2 else (terms, base)
        out = np.zeros((n, len(self.names)) + (() if width == 2 else (width,)))
        if self.kind == "rule_score":
            base_margin = float(_logit(np.array([self.estimator["base_rate"]]))[0])
            shift = self.margin(values) - base_margin
            measured = ~np.isnan(np.column_stack([self._col(values, f) for f in self.inputs]))
            share = measured / np.maximum(measured.sum(axis=1, keepdims=True), 1)
            for k, name in enumerate(self.inputs):
                out[:, self.names.index(name)] = shift * share[:, k]
            return out, np.array([base_margin])
        called = self._purity_call(values)
        rows = np.arange(n)
        if self.kind == "ratio_rule":
            ratio = self._col(values, LOG10_RATIO)
            out[rows, self.names.index(LOG10_RATIO), called] = np.where(np.isnan(ratio), 0, 1)
        else:
            passed = self._misev_passed(values)
            # A passed condition argues for "high" and against "low"; for "medium" both
            # the passed conditions (above low) and the failed one (below high) agree.
            sign = np.asarray([{"high": 1.0, "medium": 0.0, "low": -1.0}[c]
                               for c in self.classes])[called]
            agree = np.where(sign[:, None] == 0, np.abs(passed), passed * sign[:, None])
            for k, name in enumerate(self.inputs):
                out[rows, self.names.index(name), called] = agree[:, k]
        return out, np.zeros(width)

    def explainer(self) -> FallbackExplainer:
        return FallbackExplainer(self)


class FallbackExplainer:
    """``shap_values`` and ``expected_value`` of a fallback model, as a TreeExplainer
    gives them for a booster (binary: contributions to the log-odds of classes[0])."""

    def __init__(self, model: FallbackModel) -> None:
        self.model = model
        width = len(model.classes)
        base = model.contributions(np.full((1, len(model.names)), np.nan))[1]
        self.expected_value = base if width > 2 else base[:1]

    def shap_values(self, values: np.ndarray) -> np.ndarray:
        return self.model.contributions(np.asarray(values, dtype=float))[0]
