"""The candidate models of a lab's small dataset, with and without the reference prior.

Why these candidates (all scored on the same repeated grouped folds of the lab's data,
``training.adapt``):

- ``reference``: the prior booster as it is (the lab is like the reference cohort);
- ``reference_margin``: boosting on the lab's data starting from the reference model's
  margin (``base_margin``): the lab's trees learn only how the lab differs;
- ``continued``: continued boosting from the reference booster (``xgb_model=``) with a
  small learning rate and depth-2 trees: a cautious correction of the prior;
- ``pooled_w<W>``: one model on reference and lab preparations, each lab preparation
  weighted W times (W is chosen by the same cross-validation, as a candidate each);
- ``lab_only``: the lab's data alone, shallow trees, no prior;
- fallbacks: the logistic regression and the tuned rules of ``training.baselines``.

Boosting from a base margin and continuing from a booster start from the same margin, so
a ``reference_margin`` model is registered as the continuation of the reference booster
with the same parameters (a single native booster, the model format of exoqc); the test
suite checks that both give the same predictions.

Hyperparameters are fixed, not searched: with 20-300 preparations a search would choose by
cross-validation noise (the same folds then report the winner's score, optimistically).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.base import clone
from sklearn.dummy import DummyClassifier

from exoqc.contracts import CLASSES, Target
from exoqc.model.predictor import Calibration
from exoqc.training import baselines
from exoqc.training.fit import (
    ModelKind,
    booster_labels,
    booster_params,
    classifier_kind,
    to_matrix,
)

POOL_WEIGHTS = (3.0, 10.0)
POOL_REFERENCE_ROWS = 400
"""Reference preparations pooled with the lab's (a random subset, same every run): enough
to carry the reference's structure; more makes each CV fit slower without changing the
choice in the benchmark."""


LAB_HYPER = {"max_depth": 3, "learning_rate": 0.1, "min_child_weight": 1.0,
              "subsample": 0.9, "colsample_bytree": 0.8, "reg_lambda": 1.0, "reg_alpha": 0.0}
_CONTINUED_HYPER = {**LAB_HYPER, "max_depth": 2, "learning_rate": 0.03}
_POOLED_HYPER = {**LAB_HYPER, "max_depth": 4}
# No row or column sampling: XGBoost draws them by round number, which differs between
# training from a base margin (rounds from 0) and continuing a booster (from its last
# round); without sampling both grow the same trees, so the registered continuation is
# the model that was cross-validated.
_MARGIN_HYPER = {**LAB_HYPER, "subsample": 1.0, "colsample_bytree": 1.0}
ROUNDS = {"lab_only": 60, "reference_margin": 40, "continued": 120, "pooled": 100}
PRIOR_ROUNDS = 200
PRIOR_HYPER = {**LAB_HYPER, "max_depth": 4, "learning_rate": 0.08, "min_child_weight": 2.0}


@dataclass
class Prior:
    """What exoqc knows before the lab's data: the reference booster and (for pooling) a
    subset of the reference preparations' features and class positions."""

    booster: xgb.Booster
    features: pd.DataFrame
    labels: np.ndarray
    source: str


def _margin(booster: xgb.Booster, matrix: xgb.DMatrix, width: int) -> np.ndarray:
    margin = booster.predict(matrix, output_margin=True)
    return margin.reshape(matrix.num_row(), width) if width > 1 else margin.ravel()


class BoosterCandidate:
    """An XGBoost candidate: ``mode`` is ``lab_only``, ``reference``, ``reference_margin``,
    ``continued`` or ``pooled``; ``fit(x, y)`` on class positions, ``predict_proba``."""

    def __init__(self, name: str, mode: str, kind: ModelKind, n_classes: int,
                 prior: Prior | None = None, pool_weight: float = 1.0,
                 seed: int = 0) -> None:
        self.name, self.mode, self.kind, self.n_classes = name, mode, kind, n_classes
        self.prior, self.pool_weight, self.seed = prior, pool_weight, seed
        self.width = n_classes if kind == "multiclass" else 1
        hyper = {"continued": _CONTINUED_HYPER, "pooled": _POOLED_HYPER,
                 "reference_margin": _MARGIN_HYPER}.get(mode, LAB_HYPER)
        # One thread: on tens to hundreds of rows a round takes milliseconds, and more
        # OpenMP threads than free cores make it a hundred times slower on a busy machine.
        self.params = booster_params(kind, hyper, n_classes, seed, n_jobs=1)
        self.n_rounds = ROUNDS.get(mode, 0)

    @property
    def _prior(self) -> Prior:
        if self.prior is None:
            raise ValueError(f"candidate {self.name!r} ({self.mode}) needs the prior")
        return self.prior

    def fit(self, x: pd.DataFrame, y: np.ndarray) -> BoosterCandidate:
        target = booster_labels(self.kind, y)
        if self.mode == "reference":
            self.booster_ = self._prior.booster
        elif self.mode == "lab_only":
            self.booster_ = xgb.train(self.params, to_matrix(x, target), self.n_rounds)
        elif self.mode == "continued":
            self.booster_ = xgb.train(self.params, to_matrix(x, target), self.n_rounds,
                                      xgb_model=self._prior.booster)
        elif self.mode == "reference_margin":
            matrix = to_matrix(x, target)
            matrix.set_base_margin(_margin(self._prior.booster, matrix, self.width).ravel())
            self.booster_ = xgb.train(self.params, matrix, self.n_rounds)
        elif self.mode == "pooled":
            pooled = pd.concat([self._prior.features, x])
            labels = np.concatenate([booster_labels(self.kind, self._prior.labels), target])
            weights = np.concatenate([np.ones(len(self._prior.features)),
                                      np.full(len(x), self.pool_weight)])
            matrix = to_matrix(pooled, labels)
            matrix.set_weight(weights)
            self.booster_ = xgb.train(self.params, matrix, self.n_rounds)
        else:
            raise ValueError(f"unknown candidate mode {self.mode!r}")
        return self

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        matrix = to_matrix(x)
        if self.mode == "reference_margin":
            # Predictions need the same base margin as training (XGBoost then adds no
            # base_score of its own).
            matrix.set_base_margin(_margin(self._prior.booster, matrix, self.width).ravel())
        return Calibration().probabilities(_margin(self.booster_, matrix, self.width))

    def final_booster(self, x: pd.DataFrame, y: np.ndarray) -> xgb.Booster:
        """One native booster on all of ``x``: base-margin models as the continuation of
        the reference booster with the same parameters (the same model)."""
        if self.mode == "reference_margin":
            return xgb.train(self.params, to_matrix(x, booster_labels(self.kind, y)),
                             self.n_rounds, xgb_model=self._prior.booster)
        return self.fit(x, y).booster_


class FallbackCandidate:
    """A baseline of ``training.baselines`` (logistic regression or a tuned rule)."""

    def __init__(self, name: str, estimator, n_classes: int) -> None:
        self.name, self.mode, self.estimator = name, "fallback", estimator
        self.n_classes = n_classes

    def fit(self, x: pd.DataFrame, y: np.ndarray) -> FallbackCandidate:
        with warnings.catch_warnings():
            # The isotonic rule score warns when a fold's ranks hardly correlate with the
            # label: that fold's low score is the answer, the warning is noise to a user.
            warnings.filterwarnings("ignore", category=UserWarning, module=r"sklearn\.")
            # A training fold of one class (a rare class all in the validation batches):
            # a rule or a regression cannot be fitted, the class shares are the answer.
            estimator = (clone(self.estimator) if len(np.unique(y)) > 1
                         else DummyClassifier(strategy="prior"))
            self.estimator_ = estimator.fit(x, y)
        return self

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        return baselines.class_probabilities(self.estimator_, x, self.n_classes)


Candidate = BoosterCandidate | FallbackCandidate


def candidates(target: Target, prior: Prior | None, seed: int = 0,
               fallbacks: bool = True) -> list[Candidate]:
    """The candidates of a training run; those that need a prior only when there is one."""
    kind = classifier_kind(target)
    n_classes = len(CLASSES[target])
    made: list[Candidate] = [BoosterCandidate("lab_only", "lab_only", kind, n_classes, seed=seed)]
    if prior is not None:
        made += [BoosterCandidate(name, name, kind, n_classes, prior, seed=seed)
                 for name in ("reference", "reference_margin", "continued")]
        made += [BoosterCandidate(f"pooled_w{w:g}", "pooled", kind, n_classes, prior, w,
                                  seed=seed) for w in POOL_WEIGHTS]
    if fallbacks:
        made += [FallbackCandidate(name, estimator, n_classes)
                 for name, estimator in baselines.baselines_for(target).items()]
    return made


def candidate_by_name(name: str, target: Target, prior: Prior | None,
                      seed: int = 0) -> Candidate:
    return next(c for c in candidates(target, prior, seed) if c.name == name)
