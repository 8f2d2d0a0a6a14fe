"""Baselines every exoqc model is compared against: naive purity rules and a logistic
regression (``baselines_for(target)``, used by training on the same split as the model).

Both are scikit-learn classifiers over the feature table (columns ``dls_z_average_nm``,
``dls_pdi``, ``log10_particles_per_ug``) that predict ``high`` / ``medium`` / ``low``.

- :class:`MisevRuleClassifier`: a MISEV-style checklist. One point each for PDI below a
  threshold, Z-average inside a window and particle-to-protein ratio above a threshold;
  3 points = high, 2 = medium, 0-1 = low.
- :class:`ParticleProteinRatioClassifier`: the particle-to-protein ratio alone, with the
  thresholds of Webber & Clayton (J Extracell Vesicles 2013; 2:19861): > 3e10 particles/µg
  high purity, < 1.5e9 impure, medium between.

Defaults are the literature values. With ``tune=True`` (the default) ``fit`` replaces them by
the grid point (quantiles of the training values) that maximizes training macro-F1, so that
the baselines are as good as such a rule can be on the data, not strawmen.

Missing inputs: a checklist item whose measurement is missing earns no point (not shown =
not passed). The ratio rule cannot judge a preparation without a ratio; it predicts the
label most frequent among training preparations without a ratio (the overall most
frequent label if there were none).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from exoqc.contracts import PURITY_CLASSES

Z_AVERAGE = "dls_z_average_nm"
PDI = "dls_pdi"
LOG10_RATIO = "log10_particles_per_ug"


def _columns(X: pd.DataFrame, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    if not isinstance(X, pd.DataFrame):
        raise TypeError("X must be the feature table (a pandas DataFrame with named columns)")
    missing = [n for n in names if n not in X.columns]
    if missing:
        raise ValueError(f"feature table lacks column(s) {', '.join(missing)}; expected "
                         f"{', '.join(names)}")
    return {n: X[n].to_numpy(dtype=float) for n in names}


def _labels(y) -> np.ndarray:
    labels = np.asarray(y, dtype=object)
    unknown = sorted({str(v) for v in labels} - set(PURITY_CLASSES))
    if unknown:
        raise ValueError(f"unknown purity label(s) {', '.join(unknown)}: expected "
                         f"{', '.join(PURITY_CLASSES)}")
    return labels


def _codes(labels: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.array(sorted(PURITY_CLASSES)), labels.astype(str))


def _macro_f1(true_codes: np.ndarray, predicted_codes: np.ndarray) -> np.ndarray:
    """Macro-F1 over the classes present in ``true_codes``, for each row of predictions.

    ``predicted_codes`` is (n_candidates, n_samples); F1 = 2·TP / (2·TP + FP + FN).
    """
    scores = []
    for c in np.unique(true_codes):
        is_true = true_codes == c
        is_pred = predicted_codes == c
        tp = (is_pred & is_true).sum(axis=1)
        fp = (is_pred & ~is_true).sum(axis=1)
        fn = (~is_pred & is_true).sum(axis=1)
        scores.append(2 * tp / np.maximum(2 * tp + fp + fn, 1))
    return np.mean(scores, axis=0)


def _quantile_grid(values: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.array([np.nan])
    return np.unique(np.quantile(finite, quantiles))


class MisevRuleClassifier(ClassifierMixin, BaseEstimator):
    """MISEV-style checklist: PDI, Z-average window and particle/protein ratio, one point each.

    Parameters (starting points from the literature): ``pdi_max`` 0.3 (the usual acceptance
    limit for lipid vesicle dispersions, Danaei et al., Pharmaceutics 2018), Z-average window
    30-150 nm (the small EV / exosome size range), ``min_particles_per_ug`` 3e10 (Webber &
    Clayton 2013). ``tune``: search thresholds on a quantile grid of the training data
    (``n_thresholds`` candidate values per threshold, maximizing macro-F1). Fitted values are
    in ``pdi_max_``, ``z_average_min_nm_``, ``z_average_max_nm_``, ``min_particles_per_ug_``.
    """

    def __init__(self, pdi_max: float = 0.3, z_average_min_nm: float = 30.0,
                 z_average_max_nm: float = 150.0, min_particles_per_ug: float = 3e10,
                 tune: bool = True, n_thresholds: int = 9) -> None:
        self.pdi_max = pdi_max
        self.z_average_min_nm = z_average_min_nm
        self.z_average_max_nm = z_average_max_nm
        self.min_particles_per_ug = min_particles_per_ug
        self.tune = tune
        self.n_thresholds = n_thresholds

    @staticmethod
    def _points(pdi_ok: np.ndarray, z_low_ok: np.ndarray, z_high_ok: np.ndarray,
                ratio_ok: np.ndarray) -> np.ndarray:
        return pdi_ok.astype(int) + (z_low_ok & z_high_ok).astype(int) + ratio_ok.astype(int)

    @staticmethod
    def _label_codes(points: np.ndarray) -> np.ndarray:
        order = np.array(sorted(PURITY_CLASSES))
        high, low, medium = (np.flatnonzero(order == c)[0] for c in ("high", "low", "medium"))
        return np.where(points >= 3, high, np.where(points == 2, medium, low))

    def fit(self, X: pd.DataFrame, y) -> MisevRuleClassifier:
        cols = _columns(X, (PDI, Z_AVERAGE, LOG10_RATIO))
        labels = _labels(y)
        self.classes_ = np.array(PURITY_CLASSES, dtype=object)
        self.pdi_max_ = self.pdi_max
        self.z_average_min_nm_ = self.z_average_min_nm
        self.z_average_max_nm_ = self.z_average_max_nm
        self.min_particles_per_ug_ = self.min_particles_per_ug
        if not self.tune:
            return self
        spread = np.linspace(0.1, 0.9, self.n_thresholds)
        pdi_grid = _quantile_grid(cols[PDI], spread)
        z_low_grid = np.append(-np.inf, _quantile_grid(cols[Z_AVERAGE], np.linspace(0.05, 0.4, 4)))
        z_high_grid = np.append(_quantile_grid(cols[Z_AVERAGE], np.linspace(0.6, 0.95, 4)), np.inf)
        ratio_grid = _quantile_grid(cols[LOG10_RATIO], spread)
        with np.errstate(invalid="ignore"):
            pdi_ok = cols[PDI][None, :] < pdi_grid[:, None]
            z_low_ok = cols[Z_AVERAGE][None, :] >= z_low_grid[:, None]
            z_high_ok = cols[Z_AVERAGE][None, :] <= z_high_grid[:, None]
            ratio_ok = cols[LOG10_RATIO][None, :] > ratio_grid[:, None]
        true = _codes(labels)
        combos = list(itertools.product(range(len(pdi_grid)), range(len(z_low_grid)),
                                         range(len(z_high_grid)), range(len(ratio_grid))))
        best_score, best = -1.0, combos[0]
        for start in range(0, len(combos), 512):
            chunk = np.array(combos[start:start + 512])
            points = self._points(pdi_ok[chunk[:, 0]], z_low_ok[chunk[:, 1]],
                                  z_high_ok[chunk[:, 2]], ratio_ok[chunk[:, 3]])
            scores = _macro_f1(true, self._label_codes(points))
            k = int(np.argmax(scores))
            if scores[k] > best_score:
                best_score, best = float(scores[k]), tuple(chunk[k])
        self.pdi_max_ = float(pdi_grid[best[0]])
        self.z_average_min_nm_ = float(z_low_grid[best[1]])
        self.z_average_max_nm_ = float(z_high_grid[best[2]])
        self.min_particles_per_ug_ = float(10 ** ratio_grid[best[3]])
        return self

    def points(self, X: pd.DataFrame) -> np.ndarray:
        """Checklist points (0-3) of each preparation; a missing input earns no point."""
        check_is_fitted(self, "classes_")
        cols = _columns(X, (PDI, Z_AVERAGE, LOG10_RATIO))
        with np.errstate(invalid="ignore"):
            return self._points(
                cols[PDI] < self.pdi_max_,
                cols[Z_AVERAGE] >= self.z_average_min_nm_,
                cols[Z_AVERAGE] <= self.z_average_max_nm_,
                cols[LOG10_RATIO] > math.log10(self.min_particles_per_ug_),
            )

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        order = np.array(sorted(PURITY_CLASSES), dtype=object)
        return order[self._label_codes(self.points(X))]


class ParticleProteinRatioClassifier(ClassifierMixin, BaseEstimator):
    """Particle-to-protein ratio alone: ≥ ``high_min_particles_per_ug`` high,
    < ``low_max_particles_per_ug`` low, medium between (Webber & Clayton 2013 defaults).

    ``tune``: search both thresholds on a quantile grid of the training ratios
    (``n_thresholds`` values, lower ≤ upper), maximizing macro-F1. Fitted values are in
    ``high_min_particles_per_ug_``, ``low_max_particles_per_ug_`` and ``missing_label_``.
    """

    def __init__(self, high_min_particles_per_ug: float = 3e10,
                 low_max_particles_per_ug: float = 1.5e9, tune: bool = True,
                 n_thresholds: int = 25) -> None:
        self.high_min_particles_per_ug = high_min_particles_per_ug
        self.low_max_particles_per_ug = low_max_particles_per_ug
        self.tune = tune
        self.n_thresholds = n_thresholds

    @staticmethod
    def _label_codes(log_ratio: np.ndarray, log_low: np.ndarray | float,
                     log_high: np.ndarray | float, missing_code: int) -> np.ndarray:
        order = np.array(sorted(PURITY_CLASSES))
        high, low, medium = (np.flatnonzero(order == c)[0] for c in ("high", "low", "medium"))
        with np.errstate(invalid="ignore"):
            codes = np.where(log_ratio >= log_high, high,
                             np.where(log_ratio < log_low, low, medium))
        return np.where(np.isnan(log_ratio), missing_code, codes)

    def fit(self, X: pd.DataFrame, y) -> ParticleProteinRatioClassifier:
        ratio = _columns(X, (LOG10_RATIO,))[LOG10_RATIO]
        labels = _labels(y)
        self.classes_ = np.array(PURITY_CLASSES, dtype=object)
        without = labels[np.isnan(ratio)]
        pool = without if without.size else labels
        values, counts = np.unique(pool.astype(str), return_counts=True)
        self.missing_label_ = str(values[np.argmax(counts)])
        self.high_min_particles_per_ug_ = self.high_min_particles_per_ug
        self.low_max_particles_per_ug_ = self.low_max_particles_per_ug
        if not self.tune:
            return self
        grid = _quantile_grid(ratio, np.linspace(0.02, 0.98, self.n_thresholds))
        pairs = np.array([(lo, hi) for lo in grid for hi in grid if lo <= hi])
        missing_code = int(_codes(np.array([self.missing_label_]))[0])
        predicted = self._label_codes(ratio[None, :], pairs[:, :1], pairs[:, 1:], missing_code)
        best = int(np.argmax(_macro_f1(_codes(labels), predicted)))
        self.low_max_particles_per_ug_ = float(10 ** pairs[best, 0])
        self.high_min_particles_per_ug_ = float(10 ** pairs[best, 1])
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "classes_")
        ratio = _columns(X, (LOG10_RATIO,))[LOG10_RATIO]
        order = np.array(sorted(PURITY_CLASSES), dtype=object)
        missing_code = int(_codes(np.array([self.missing_label_]))[0])
        return order[self._label_codes(ratio, math.log10(self.low_max_particles_per_ug_),
                                       math.log10(self.high_min_particles_per_ug_),
                                       missing_code)]


class PurityRuleBaseline(ClassifierMixin, BaseEstimator):
    """A purity rule as a baseline for the purity model: class positions in, one-hot
    probabilities in the model's class order out (a rule is certain of its answer)."""

    def __init__(self, rule: ClassifierMixin, classes: tuple[str, ...] = PURITY_CLASSES) -> None:
        self.rule = rule
        self.classes = classes

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> PurityRuleBaseline:
        self.rule_ = clone(self.rule).fit(X, np.asarray(self.classes, dtype=object)[y])
        self.classes_ = np.arange(len(self.classes))
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "rule_")
        predicted = self.rule_.predict(X)
        return (predicted[:, None] == np.asarray(self.classes, dtype=object)[None, :]).astype(
            float)


class RuleScoreBaseline(ClassifierMixin, BaseEstimator):
    """A purity rule's score as a baseline for the binary potency model.

    The score (MISEV checklist points with the literature thresholds, or the log10
    particle/protein ratio) ranks preparations; an isotonic fit on the training split turns
    it into P(first class). A preparation without a score gets the training rate of
    preparations without one (or the overall rate).
    """

    def __init__(self, score: str = "misev_points") -> None:
        self.score = score

    def _scores(self, X: pd.DataFrame) -> np.ndarray:
        if self.score == "misev_points":
            rule = MisevRuleClassifier(tune=False).fit(
                X.iloc[:1], np.array(["high"], dtype=object))
            points = rule.points(X).astype(float)
            inputs = _columns(X, (PDI, Z_AVERAGE, LOG10_RATIO))
            none_measured = np.all([np.isnan(v) for v in inputs.values()], axis=0)
            return np.where(none_measured, np.nan, points)
        return _columns(X, (LOG10_RATIO,))[LOG10_RATIO]

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> RuleScoreBaseline:
        score = self._scores(X)
        first = np.asarray(y) == 0
        known = np.isfinite(score)
        self.isotonic_ = IsotonicRegression(out_of_bounds="clip", increasing="auto").fit(
            score[known], first[known])
        pool = first[~known] if (~known).any() else first
        self.missing_rate_ = float(pool.mean())
        self.classes_ = np.arange(2)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "isotonic_")
        score = self._scores(X)
        known = np.isfinite(score)
        first = np.full(len(score), self.missing_rate_)
        if known.any():  # scikit-learn refuses to predict zero rows
            first[known] = self.isotonic_.predict(score[known])
        return np.column_stack([first, 1 - first])


def logistic_baseline() -> Pipeline:
    """Logistic regression on every feature: median imputation with missingness
    indicators, standardization, L2 penalty."""
    return make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
        # Newton-CG: 10 iterations where lbfgs took ~190 and 7x the time on the purity
        # target (the same convex optimum, within lbfgs' tolerance; benchmarks/first_run.py).
        LogisticRegression(max_iter=5000, solver="newton-cg"),
    )


def class_probabilities(estimator: BaseEstimator, X: pd.DataFrame,
                        n_classes: int) -> np.ndarray:
    """``predict_proba`` in the model's class order with one column per class, also when
    the training labels lacked a class (scikit-learn then returns fewer columns)."""
    proba = estimator.predict_proba(X)
    full = np.zeros((len(X), n_classes))
    full[:, np.asarray(estimator.classes_, dtype=int)] = proba
    return full


def baselines_for(target: str) -> dict[str, BaseEstimator]:
    """The baselines a ``target`` model is compared with, by name. Each takes the feature
    table and class positions (``fit``) and gives probabilities in class order."""
    if target == "purity":
        return {
            "misev_rule": PurityRuleBaseline(MisevRuleClassifier()),
            "particle_protein_rule": PurityRuleBaseline(ParticleProteinRatioClassifier()),
            "logistic_regression": logistic_baseline(),
        }
    return {
        "misev_rule": RuleScoreBaseline("misev_points"),
        "particle_protein_rule": RuleScoreBaseline("log10_particles_per_ug"),
        "logistic_regression": logistic_baseline(),
    }
