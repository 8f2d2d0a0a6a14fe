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

and the prediction set at error rate α is ``{k : p_k > α}`` (not smoothed: the same
input always gives the same set; the counts follow crepes' unsmoothed Mondrian p-values,
``s_i ≥ s``, checked against ``crepes.ConformalClassifier`` in the tests). CV+ sums the
counts over the folds, each with its own model's test score.

**Why the fold models.** Calibrating on the fold models' scores but scoring new
preparations with the final model refitted on the whole training split (the previous
method, still read for models trained with it) compares scores of two different models:
the refit model's scores on new batches are not distributed like the out-of-fold ones,
which breaks exchangeability (docs/release.md#measured). In CV+ each comparison is
between scores of one and the same model on preparations it never saw.

**Batches, not preparations (``unit = "batch"``, what training writes).**
Preparations of one batch share their biology and their isolation run: they are
exchangeable only as whole batches (two-layer, hierarchical exchangeability), and
counting each preparation as an exchangeable unit overstates the evidence. A model
trained with the batches of its calibration preparations stores each score's batch, and
class *k*'s p-value counts batches: each batch with ``m_b`` calibration preparations of
class *k* weighs ``1/m_b`` per preparation (its empirical distribution of scores counts
once), and the finite-sample correction is in the number ``K_k`` of those batches,

``p_k = (1 + Σ_j Σ_{b in fold j} #{i in b : y_i = k, s_i ≥ s_k^(j)} / m_b) / (1 + K_k)``.

This is hierarchical conformal prediction (Lee, Barber & Willett 2023, "Distribution-free
inference with hierarchical data": the quantile of the groups' empirical CDFs pooled
with weight ``1/(K+1)`` each and ``1/(K+1)`` at +∞; Dunn, Wasserman & Ramdas 2022, JASA,
"CDF pooling") made Mondrian and CV+. With every batch of size one it is the ordinary
Mondrian p-value. It is written here by hand because neither crepes nor MAPIE (nor any
package installed) weighs calibration scores by group.

**Guarantee.** For a new preparation of true class *k* from a new batch drawn like the
calibration batches, ``P(k ∉ set) ≤ α`` for each class separately, the probability taken
over the draw of the calibration batches and of the new batch (split: exact, Lee et al.
2023; CV+: exact only in the limit of stable fold models, worst case ``2α``, Barber et
al. 2021). It is marginal: one trained model's coverage on one set of test batches
still varies around it by a few points, more the fewer batches of a class there are.
A class with ``1/(K_k + 1) > α``, i.e. fewer than ``1/α − 1`` calibration batches, can
never be excluded (``always_included``): small labs get larger sets, not false
confidence, and the decision's reason says so. Models trained before this
(``unit = "preparation"``, no batches stored) keep their sets: the same formula with
each preparation its own batch, whose guarantee holds only if preparations were
exchangeable one by one.

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
BATCH = "batch"
"""Exchangeable units: whole batches (hierarchical conformal prediction; what training
writes)."""
PREPARATION = "preparation"
"""Exchangeable units: single preparations (models trained before batches were stored)."""
UNITS = (BATCH, PREPARATION)


@dataclass(frozen=True)
class ConformalCalibration:
    """Calibration scores per fold and class (class positions of the model's ``classes``).

    ``fold_scores[j][k]``: the hinge scores ``1 − p_k`` of fold *j*'s calibration
    preparations of true class *k*, sorted, each from fold model *j* (``CV_PLUS``); a
    single "fold" for ``SPLIT`` and ``REFIT``, whose scores are compared with the
    registered booster's. ``fold_batches[j][k]``: the batch (an integer code) of each of
    those scores, in the same order; empty for a model calibrated by preparation
    (``unit``). ``alpha``: the error rate the training run checked (scoring takes its
    own, from the release specification).
    """

    fold_scores: tuple[tuple[tuple[float, ...], ...], ...]
    alpha: float = DEFAULT_ALPHA
    method: str = CV_PLUS
    fold_batches: tuple[tuple[tuple[int, ...], ...], ...] = ()

    def __post_init__(self) -> None:
        if self.fold_batches and ([[len(b) for b in fold] for fold in self.fold_batches]
                                  != [[len(s) for s in fold] for fold in self.fold_scores]):
            raise ValueError("conformal calibration: one batch per calibration score "
                             "expected (fold_batches and fold_scores differ in shape)")

    @property
    def unit(self) -> str:
        """What the calibration counts as exchangeable: ``BATCH`` or ``PREPARATION``."""
        return BATCH if self.fold_batches else PREPARATION

    @property
    def n_folds(self) -> int:
        """Fold models the p-values need (0: the registered booster's scores instead)."""
        return len(self.fold_scores) if self.method == CV_PLUS else 0

    @property
    def width(self) -> int:
        """The number of classes."""
        return len(self.fold_scores[0]) if self.fold_scores else 0

    @property
    def scores(self) -> tuple[tuple[float, ...], ...]:
        """All calibration scores per class, sorted."""
        return tuple(tuple(sorted(v for fold in self.fold_scores for v in fold[k]))
                     for k in range(self.width))

    @property
    def n_per_class(self) -> list[int]:
        """Calibration preparations per class."""
        return [len(s) for s in self.scores]

    @property
    def n_units_per_class(self) -> list[int]:
        """Exchangeable units behind each class's calibration, the ``K_k`` of the p-value:
        its batches (``BATCH``), else its preparations."""
        if not self.fold_batches:
            return self.n_per_class
        return [len({b for fold in self.fold_batches for b in fold[k]})
                for k in range(self.width)]

    def _units(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per fold and class, flattened as ``(fold, class)`` pairs in fold-major order:
        the scores, each score's unit and its weight ``1/m_b`` (``m_b``: the class's
        calibration preparations of its batch, over all folds; 1 by preparation)."""
        out = []
        sizes = []
        for k in range(self.width):
            codes = np.concatenate([np.asarray(fold[k], dtype=np.int64)
                                    for fold in self.fold_batches]) if self.fold_batches \
                else np.array([], dtype=np.int64)
            values, counts = np.unique(codes, return_counts=True)
            sizes.append(dict(zip(values.tolist(), counts.tolist(), strict=True)))
        offset = 0
        for j, fold in enumerate(self.fold_scores):
            for k, scores in enumerate(fold):
                values = np.asarray(scores, dtype=float)
                if self.fold_batches:
                    units = np.asarray(self.fold_batches[j][k], dtype=np.int64)
                    weights = np.array([1.0 / sizes[k][b] for b in units.tolist()])
                else:  # each preparation its own unit
                    units = offset + np.arange(len(values))
                    weights = np.ones(len(values))
                offset += len(values)
                out.append((values, units, weights))
        return out

    def to_dict(self) -> dict:
        data = {"method": self.method, "alpha": self.alpha, "n_fold_boosters": self.n_folds,
                "fold_scores": [[list(s) for s in fold] for fold in self.fold_scores],
                "exchangeable_unit": self.unit,
                "n_calibration_units": self.n_units_per_class}
        if self.fold_batches:
            data["fold_batches"] = [[list(b) for b in fold] for fold in self.fold_batches]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ConformalCalibration:
        method = data.get("method")
        if method not in METHODS:
            raise ValueError(f"conformal method {method!r}, expected one of "
                             f"{', '.join(METHODS)}")
        # models trained before batches were stored have no unit: by preparation
        unit = data.get("exchangeable_unit", PREPARATION)
        if unit not in UNITS or (unit == BATCH) != ("fold_batches" in data):
            raise ValueError(f"conformal exchangeable unit {unit!r} with"
                             f"{'' if 'fold_batches' in data else 'out'} fold_batches, "
                             f"expected {BATCH!r} with them or {PREPARATION!r} without")
        # REFIT models stored one list of scores per class
        folds = data["fold_scores"] if "fold_scores" in data else [data["scores"]]
        return cls(fold_scores=tuple(tuple(tuple(float(v) for v in s) for s in fold)
                                     for fold in folds),
                   alpha=float(data["alpha"]), method=method,
                   fold_batches=tuple(tuple(tuple(int(b) for b in s) for s in fold)
                                      for fold in data.get("fold_batches", ())))

    def always_included(self, alpha: float) -> np.ndarray:
        """Per class: too few calibration units to ever exclude it at ``alpha`` (its
        smallest p-value ``1/(K_k + 1)`` is above α), so every set holds it."""
        return 1.0 / (1.0 + np.asarray(self.n_units_per_class, dtype=float)) > alpha

    def calibration_coverage(self, alpha: float) -> list[float]:
        """Leave-one-unit-out coverage per class on the calibration scores: the share of
        each class's calibration preparations whose class would be in its set, calibrated
        on the other batches (by preparation: the other preparations) of that class (NaN
        for a class without calibration preparations)."""
        units = self._units()
        coverage = []
        for k in range(self.width):
            parts = units[k::self.width]
            values = np.concatenate([p[0] for p in parts])
            unit = np.concatenate([p[1] for p in parts])
            weight = np.concatenate([p[2] for p in parts])
            n_units = self.n_units_per_class[k]
            if len(values) == 0:
                coverage.append(float("nan"))
                continue
            mass = _mass_at_least(values, weight, values)
            own = _own_unit_mass_at_least(values, unit, weight)
            # leaving out preparation i's unit: (1 + the other units' mass) / (1 + K − 1)
            p = (1.0 + np.round(mass - own, 9)) / n_units
            coverage.append(float(np.mean(p > alpha)))
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
        if width != self.width:
            raise ValueError(f"{width} probability columns for {self.width} classes")
        mass = np.zeros((n, width))
        if n == 0:
            return mass
        units = self._units()
        for j, proba in enumerate(stacked):
            test_scores = hinge(proba)
            for k in range(width):
                values, _, weights = units[j * width + k]
                mass[:, k] += _mass_at_least(values, weights, test_scores[:, k])
        # weights 1/m_b summed over a whole batch may miss an integer by rounding error
        return (1.0 + np.round(mass, 9)) / (1.0 + np.asarray(self.n_units_per_class,
                                                              dtype=float))

    def sets(self, probabilities: np.ndarray, alpha: float) -> np.ndarray:
        """Boolean membership (n, n_classes): class *k* is in the set when ``p_k > α``."""
        return self.p_values(probabilities) > alpha

    def by_preparation(self) -> ConformalCalibration:
        """The same scores counted by preparation (each its own batch): what models
        trained before batches were stored do; for comparisons."""
        return ConformalCalibration(self.fold_scores, self.alpha, self.method)


def _mass_at_least(values: np.ndarray, weights: np.ndarray, test_scores: np.ndarray
                   ) -> np.ndarray:
    """Σ weights of the calibration scores ≥ each test score (crepes' unsmoothed
    convention ``s_i ≥ s``)."""
    order = np.argsort(values, kind="stable")
    tail = np.concatenate([np.cumsum(weights[order][::-1])[::-1], [0.0]])
    return tail[np.searchsorted(values[order], test_scores, side="left")]


def _own_unit_mass_at_least(values: np.ndarray, units: np.ndarray, weights: np.ndarray
                            ) -> np.ndarray:
    """For each score, Σ weights of the scores of its own unit that are ≥ it, in
    O(n log n) (a cohort of 50,000 preparations has ~13,000 scores of a class)."""
    order = np.lexsort((-values, units))  # by unit, then by score descending
    unit, value, weight = units[order], values[order], weights[order]
    n = len(order)
    cumulative = np.cumsum(weight)
    starts = np.r_[True, unit[1:] != unit[:-1]]
    first = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    within = cumulative - cumulative[first] + weight[first]
    # ties: every score of a run of equal scores in a unit counts the whole run
    new_run = starts | np.r_[True, value[1:] != value[:-1]]
    run_last = np.r_[np.flatnonzero(new_run)[1:] - 1, n - 1]
    own = np.empty(n)
    own[order] = within[run_last[np.cumsum(new_run) - 1]]
    return own


def fit_conformal(probabilities: np.ndarray, labels: np.ndarray,
                  alpha: float = DEFAULT_ALPHA, method: str = SPLIT,
                  groups: np.ndarray | None = None) -> ConformalCalibration:
    """One calibration set from probabilities (n, n_classes) and true class positions:
    ``SPLIT`` when the registered booster never saw these preparations. ``groups``: each
    preparation's batch (``BATCH`` units); None counts preparations."""
    return fit_cv_plus(probabilities, labels, [np.arange(len(labels))], alpha, method, groups)


def fit_cv_plus(oof_probabilities: np.ndarray, labels: np.ndarray,
                folds: Sequence[np.ndarray], alpha: float = DEFAULT_ALPHA,
                method: str = CV_PLUS, groups: np.ndarray | None = None
                ) -> ConformalCalibration:
    """CV+ calibration from out-of-fold probabilities (n, n_classes), the true class
    positions and each fold's validation positions (in the order of the fold models).
    ``groups``: each preparation's batch, so that the calibration counts batches
    (``BATCH``; a batch must lie in one fold, as grouped CV keeps it); None counts
    preparations (``PREPARATION``)."""
    probabilities = np.asarray(oof_probabilities, dtype=float)
    labels = np.asarray(labels)
    width = probabilities.shape[1]
    scores = hinge(probabilities, np.arange(width), labels)
    codes = None
    if groups is not None:
        codes = np.unique(np.asarray(groups).astype(str), return_inverse=True)[1].ravel()
        fold_of = np.full(len(labels), -1)
        for j, valid in enumerate(folds):
            fold_of[valid] = j
        for code in np.unique(codes):
            if len(np.unique(fold_of[codes == code])) > 1:
                raise ValueError("a batch lies in more than one conformal fold: the folds "
                                 "must keep whole batches together")
    fold_scores, fold_batches = [], []
    for valid in folds:
        per_class, per_class_batches = [], []
        for k in range(width):
            chosen = np.asarray(valid)[labels[valid] == k]
            order = np.argsort(scores[chosen], kind="stable")
            per_class.append(tuple(scores[chosen][order].tolist()))
            if codes is not None:
                per_class_batches.append(tuple(codes[chosen][order].tolist()))
        fold_scores.append(tuple(per_class))
        fold_batches.append(tuple(per_class_batches))
    return ConformalCalibration(fold_scores=tuple(fold_scores), alpha=alpha, method=method,
                                fold_batches=tuple(fold_batches) if codes is not None
                                else ())


def coverage_by_class(sets: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Share of preparations of each class whose set holds their class (NaN: none)."""
    covered = sets[np.arange(len(labels)), labels]
    return np.array([covered[labels == k].mean() if (labels == k).any() else np.nan
                     for k in range(sets.shape[1])])


def cross_fitted_sets(probabilities: np.ndarray, labels: np.ndarray,
                      folds: list[tuple[np.ndarray, np.ndarray]], alpha: float,
                      groups: np.ndarray | None = None) -> np.ndarray:
    """Sets of each calibration preparation from the other folds' scores only: an honest
    check of coverage on the calibration preparations themselves (``groups``: each
    preparation's batch, to count batches)."""
    sets = np.zeros(probabilities.shape, dtype=bool)
    for _, valid in folds:
        others = np.setdiff1d(np.arange(len(labels)), valid)
        fitted = fit_conformal(probabilities[others], labels[others], alpha,
                               groups=None if groups is None else np.asarray(groups)[others])
        sets[valid] = fitted.sets(probabilities[valid], alpha)
    return sets
