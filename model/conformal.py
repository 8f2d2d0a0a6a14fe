"""Class-conditional (Mondrian) conformal prediction sets from out-of-fold predictions.

**Method.** The non-conformity score of a preparation for class *k* is the hinge score
``1 − p_k`` (``crepes.extras.hinge``) of the model's calibrated probabilities. The
calibration scores are those of the training split's preparations for their *true* class,
each computed by the cross-validation model of the fold that held out the preparation's
batch (the out-of-fold predictions training already makes; whole batches per fold). The
p-value of class *k* for a new preparation is the Mondrian (class-conditional) conformal
p-value over the calibration preparations of class *k*,
``p_k = (1 + #{i : y_i = k, s_i ≥ s_k}) / (1 + n_k)`` (not smoothed, so the same input
always gives the same set), computed by crepes' ``ConformalClassifier`` with the true class
as the Mondrian category; the prediction set at error rate α is ``{k : p_k > α}``.

**Guarantee.** For a new preparation of true class *k* whose score is exchangeable with the
calibration scores of class *k* (the same process, batches drawn alike),
``P(k ∉ set) ≤ α`` for each class separately — exactly so for split conformal prediction.
Here the calibration scores come from fold models that never saw the preparation's
batch, as the registered model never saw a new batch, but the registered model is
refitted on the whole training split (cross-conformal prediction with a refit, Vovk 2015;
Barber et al. 2021, CV+): the finite-sample bound is then approximate (cross-conformal's
worst case is 1 − 2α). Preparations of a batch are correlated, so one run's coverage
varies with its draw of batches: ``benchmarks/release.py`` measured, at α = 0.1, 0.78 to
0.98 per class over two test cohorts (docs/release.md). Calibrating on the held-out split
alone (exact split conformal, but about a fifth of the batches) covered worse in the same
benchmark, and leaves a small lab with sets of every class. A class with fewer than
``1/α − 1`` calibration preparations cannot be excluded at all (its smallest p-value is
``1/(n_k + 1)``): small labs get larger sets.

crepes computes the p-values; what is stored with the model (no pickles) is the plain
list of calibration scores per class, in the model's JSON. It is part of the model layer
because both jobs need it: training fits the calibration, scoring applies it
(``exoqc.inference.release``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from crepes import ConformalClassifier
from crepes.extras import hinge

DEFAULT_ALPHA = 0.1
METHOD = "mondrian-cross-conformal-hinge"


@dataclass(frozen=True)
class ConformalCalibration:
    """Calibration scores per class (class positions of the model's ``classes``).

    ``scores[k]``: the hinge scores ``1 − p_k`` of the calibration preparations of true
    class *k*, sorted. ``alpha``: the error rate the training run checked (scoring takes
    its own, from the release specification).
    """

    scores: tuple[tuple[float, ...], ...]
    alpha: float = DEFAULT_ALPHA
    method: str = METHOD

    @property
    def n_per_class(self) -> list[int]:
        return [len(s) for s in self.scores]

    def to_dict(self) -> dict:
        return {"method": self.method, "alpha": self.alpha,
                "scores": [list(s) for s in self.scores]}

    @classmethod
    def from_dict(cls, data: dict) -> ConformalCalibration:
        if data.get("method") != METHOD:
            raise ValueError(f"conformal method {data.get('method')!r}, expected {METHOD!r}")
        return cls(scores=tuple(tuple(float(v) for v in s) for s in data["scores"]),
                   alpha=float(data["alpha"]), method=METHOD)

    def calibration_coverage(self, alpha: float) -> list[float]:
        """Leave-one-out coverage per class on the calibration scores: the share of each
        class's calibration preparations whose class would be in its set, calibrated on
        the others of that class (NaN for a class without calibration preparations)."""
        coverage = []
        for scores in self.scores:
            values = np.asarray(scores, dtype=float)
            n = len(values)
            if n == 0:
                coverage.append(float("nan"))
                continue
            # p_i = (1 + #{j != i : s_j >= s_i}) / n = #{j : s_j >= s_i} / n
            at_least = n - np.searchsorted(np.sort(values), values, side="left")
            coverage.append(float(np.mean(at_least / n > alpha)))
        return coverage

    def _classifier(self) -> ConformalClassifier:
        scores = np.concatenate([np.asarray(s, dtype=float) for s in self.scores])
        bins = np.concatenate([np.full(len(s), k) for k, s in enumerate(self.scores)])
        return ConformalClassifier().fit(scores, bins=bins)

    def p_values(self, probabilities: np.ndarray) -> np.ndarray:
        """Class-conditional conformal p-values, shape (n, n_classes)."""
        probabilities = np.asarray(probabilities, dtype=float)
        n, width = probabilities.shape
        if width != len(self.scores):
            raise ValueError(f"{width} probability columns for {len(self.scores)} classes")
        if n == 0:
            return np.empty((0, width))
        classifier = self._classifier()
        test_scores = hinge(probabilities)
        # one column at a time: crepes loops over every cell it is given
        return np.column_stack([
            classifier.predict_p(test_scores[:, [k]], np.full(n, k), smoothing=False)[:, 0]
            for k in range(width)
        ])

    def sets(self, probabilities: np.ndarray, alpha: float) -> np.ndarray:
        """Boolean membership (n, n_classes): class *k* is in the set when ``p_k > α``."""
        return self.p_values(probabilities) > alpha


def fit_conformal(probabilities: np.ndarray, labels: np.ndarray,
                  alpha: float = DEFAULT_ALPHA) -> ConformalCalibration:
    """Calibration from out-of-fold probabilities (n, n_classes) and true class positions."""
    probabilities = np.asarray(probabilities, dtype=float)
    scores = hinge(probabilities, np.arange(probabilities.shape[1]), np.asarray(labels))
    return ConformalCalibration(
        scores=tuple(tuple(np.sort(scores[labels == k]).tolist())
                     for k in range(probabilities.shape[1])),
        alpha=alpha)


def coverage_by_class(sets: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Share of preparations of each class whose set holds their class (NaN: none)."""
    covered = sets[np.arange(len(labels)), labels]
    return np.array([covered[labels == k].mean() if (labels == k).any() else np.nan
                     for k in range(sets.shape[1])])


def cross_fitted_sets(probabilities: np.ndarray, labels: np.ndarray,
                      folds: list[tuple[np.ndarray, np.ndarray]], alpha: float) -> np.ndarray:
    """Sets of each calibration preparation from the other folds' scores only: an honest
    check of coverage on the calibration preparations themselves."""
    sets = np.zeros(probabilities.shape, dtype=bool)
    for _, valid in folds:
        others = np.setdiff1d(np.arange(len(labels)), valid)
        fitted = fit_conformal(probabilities[others], labels[others], alpha)
        sets[valid] = fitted.sets(probabilities[valid], alpha)
    return sets
