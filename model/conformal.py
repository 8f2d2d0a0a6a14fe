"""Class-conditional (Mondrian) conformal prediction sets, CV+ over the training folds.

**Method (CV+, Barber et al. 2021; cross-conformal, Vovk 2015; class-conditional).** The
non-conformity score of a preparation for class *k* is the hinge score ``1 − p_k``
(``crepes.extras.hinge``) of the model's calibrated probabilities. Training
cross-validates by batch (whole batches per fold); each training preparation's score for
its *true* class comes from the fold model that did not see its batch. Those fold models
are kept with the registered model (native XGBoost JSON, no pickles) and a new
preparation is scored by each of them: its p-value for class *k* compares, fold by fold,
the fold model's score of the new preparation with that fold's calibration scores,

``p_k = (1 + Σ_j #{i in fold j : y_i = k, s_i ≥ s_k^(j)}) / (1 + n_k)``,

and the prediction set at error rate α is ``{k : p_k > α}``. Each fold's counts are
crepes' ``ConformalClassifier`` p-values (Mondrian by true class, not smoothed, so the
same input always gives the same set), multiplied back into counts: crepes computes a
p-value against one calibration set and one test score, CV+ sums the counts over the
folds, each with its own model's test score.

**Why the fold models.** Calibrating on the fold models' scores but scoring new
preparations with the final model refitted on the whole training split (the previous
method, still read for models trained with it) compares scores of two different models:
the refit model's scores on new batches are not distributed like the out-of-fold ones,
which breaks exchangeability (docs/release.md#measured). In CV+ each comparison is
between scores of one and the same model on preparations it never saw.

**Guarantee.** For a new preparation of true class *k* whose batches are drawn like the
training batches, ``P(k ∉ set) ≤ α`` for each class separately, approximately: CV+ is
exact only in the limit of stable fold models, its worst-case finite-sample bound is
``P(k ∉ set) ≤ 2α`` (Barber et al. 2021), and it was slightly conservative in the
tests. The guarantee is an average over draws of the training batches: preparations of a
batch are correlated, so the coverage of one trained model varies with its batches by a
few points (``benchmarks/release.py``). A class with fewer than ``1/α − 1`` calibration
preparations cannot be excluded at all (its smallest p-value is ``1/(n_k + 1)``): small
labs get larger sets, not false confidence.

A model whose booster never saw its calibration preparations (a lab model that is the
reference model unchanged) is calibrated by split conformal prediction on all of them
(``SPLIT``), exact and with the registered booster itself.

It is part of the model layer because both jobs need it: training fits the calibration,
scoring applies it (``exoqc.inference.release``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from crepes import ConformalClassifier
from crepes.extras import hinge

DEFAULT_ALPHA = 0.1
CV_PLUS = "mondrian-cv-plus-hinge"
"""Scores per fold; new preparations scored by the fold models (the default)."""
SPLIT = "mondrian-split-hinge"
"""One calibration set the registered booster never saw; scored by that booster."""
REFIT = "mondrian-cross-conformal-hinge"
"""Models trained before CV+: out-of-fold scores, new preparations scored by the refit
booster (read so that those models keep their sets; no longer written)."""
METHODS = (CV_PLUS, SPLIT, REFIT)


@dataclass(frozen=True)
class ConformalCalibration:
    """Calibration scores per fold and class (class positions of the model's ``classes``).

    ``fold_scores[j][k]``: the hinge scores ``1 − p_k`` of fold *j*'s calibration
    preparations of true class *k*, sorted, each from fold model *j* (``CV_PLUS``); a
    single "fold" for ``SPLIT`` and ``REFIT``, whose scores are compared with the
    registered booster's. ``alpha``: the error rate the training run checked (scoring
    takes its own, from the release specification).
    """

    fold_scores: tuple[tuple[tuple[float, ...], ...], ...]
    alpha: float = DEFAULT_ALPHA
    method: str = CV_PLUS

    @property
    def n_folds(self) -> int:
        """Fold models the p-values need (0: the registered booster's scores instead)."""
        return len(self.fold_scores) if self.method == CV_PLUS else 0

    @property
    def scores(self) -> tuple[tuple[float, ...], ...]:
        """All calibration scores per class, sorted."""
        width = len(self.fold_scores[0]) if self.fold_scores else 0
        return tuple(tuple(sorted(v for fold in self.fold_scores for v in fold[k]))
                     for k in range(width))

    @property
    def n_per_class(self) -> list[int]:
        return [len(s) for s in self.scores]

    def to_dict(self) -> dict:
        return {"method": self.method, "alpha": self.alpha, "n_fold_boosters": self.n_folds,
                "fold_scores": [[list(s) for s in fold] for fold in self.fold_scores]}

    @classmethod
    def from_dict(cls, data: dict) -> ConformalCalibration:
        method = data.get("method")
        if method not in METHODS:
            raise ValueError(f"conformal method {method!r}, expected one of "
                             f"{', '.join(METHODS)}")
        # REFIT models stored one list of scores per class
        folds = data["fold_scores"] if "fold_scores" in data else [data["scores"]]
        return cls(fold_scores=tuple(tuple(tuple(float(v) for v in s) for s in fold)
                                     for fold in folds),
                   alpha=float(data["alpha"]), method=method)

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

    def p_values(self, probabilities: np.ndarray) -> np.ndarray:
        """Class-conditional conformal p-values, shape (n, n_classes).

        ``probabilities``: for ``CV_PLUS`` each fold model's calibrated probabilities,
        shape (n_folds, n, n_classes) (``ExoqcPredictor.conformal_probabilities``);
        otherwise the registered booster's, (n, n_classes).
        """
        stacked = np.asarray(probabilities, dtype=float)
        if self.method != CV_PLUS:
            stacked = stacked[np.newaxis]
        if stacked.ndim != 3 or stacked.shape[0] != len(self.fold_scores):
            raise ValueError(f"probabilities of shape {np.shape(probabilities)} for a "
                             f"{self.method} calibration of {len(self.fold_scores)} fold(s)")
        _, n, width = stacked.shape
        if width != len(self.fold_scores[0]):
            raise ValueError(f"{width} probability columns for {len(self.fold_scores[0])} "
                             "classes")
        counts = np.zeros((n, width))
        if n == 0:
            return counts
        for fold, proba in zip(self.fold_scores, stacked, strict=True):
            counts += _counts_at_least(fold, hinge(proba))
        return (1.0 + counts) / (1.0 + np.asarray(self.n_per_class, dtype=float))

    def sets(self, probabilities: np.ndarray, alpha: float) -> np.ndarray:
        """Boolean membership (n, n_classes): class *k* is in the set when ``p_k > α``."""
        return self.p_values(probabilities) > alpha


def _counts_at_least(fold: tuple[tuple[float, ...], ...], test_scores: np.ndarray
                     ) -> np.ndarray:
    """#{calibration scores of class k in this fold ≥ the test score for k}, (n, width),
    from crepes' unsmoothed Mondrian p-values ``(1 + count) / (1 + n_k)``."""
    n, width = test_scores.shape
    scores = np.concatenate([np.asarray(s, dtype=float) for s in fold])
    bins = np.concatenate([np.full(len(s), k) for k, s in enumerate(fold)])
    classifier = ConformalClassifier().fit(scores, bins=bins)
    counts = np.empty((n, width))
    for k in range(width):  # one column at a time: crepes loops over every cell it is given
        p = classifier.predict_p(test_scores[:, [k]], np.full(n, k), smoothing=False)[:, 0]
        counts[:, k] = np.rint(p * (len(fold[k]) + 1) - 1)
    return counts


def fit_conformal(probabilities: np.ndarray, labels: np.ndarray,
                  alpha: float = DEFAULT_ALPHA, method: str = SPLIT) -> ConformalCalibration:
    """One calibration set from probabilities (n, n_classes) and true class positions:
    ``SPLIT`` when the registered booster never saw these preparations."""
    return fit_cv_plus(probabilities, labels, [np.arange(len(labels))], alpha, method)


def fit_cv_plus(oof_probabilities: np.ndarray, labels: np.ndarray,
                folds: Sequence[np.ndarray], alpha: float = DEFAULT_ALPHA,
                method: str = CV_PLUS) -> ConformalCalibration:
    """CV+ calibration from out-of-fold probabilities (n, n_classes), the true class
    positions and each fold's validation positions (in the order of the fold models)."""
    probabilities = np.asarray(oof_probabilities, dtype=float)
    labels = np.asarray(labels)
    scores = hinge(probabilities, np.arange(probabilities.shape[1]), labels)
    return ConformalCalibration(
        fold_scores=tuple(
            tuple(tuple(np.sort(scores[valid][labels[valid] == k]).tolist())
                  for k in range(probabilities.shape[1]))
            for valid in folds),
        alpha=alpha, method=method)


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
