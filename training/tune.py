"""Hyperparameter search: Optuna's TPE sampler over grouped cross-validation.

Each trial trains the model on every fold with early stopping on that fold's validation
part and is scored by the mean validation loss (log loss for classifiers, RMSE for the
readout regressor). The search space is the usual one for gradient-boosted trees on a
few thousand rows: shallow-to-moderate trees, learning rate 0.05–0.3, row/column
subsampling and L1/L2 leaf penalties.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import optuna

from exoqc.training.fit import CVResult, FoldData, ModelKind, booster_params, cross_validate


def suggest_hyperparameters(trial: optuna.Trial) -> dict[str, float]:
    return {
        "max_depth": trial.suggest_int("max_depth", 2, 7),
        # From 0.05: below it the trials take most of the search's time (rounds grow as
        # 1 / rate) for no held-out gain on the reference cohort (docs/training.md).
        "learning_rate": trial.suggest_float("learning_rate", 0.05, 0.3, log=True),
        "min_child_weight": trial.suggest_float("min_child_weight", 0.5, 20.0, log=True),
        "subsample": trial.suggest_float("subsample", 0.6, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
        "reg_alpha": trial.suggest_float("reg_alpha", 1e-3, 10.0, log=True),
    }


DEFAULT_HYPERPARAMETERS: dict[str, float] = {
    "max_depth": 4,
    "learning_rate": 0.08,
    "min_child_weight": 2.0,
    "subsample": 0.85,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "reg_alpha": 0.01,
}
"""Evaluated as the first trial, so the search never ends worse than a sensible default."""


@dataclass
class TrialOutcome:
    number: int
    hyperparameters: dict[str, float]
    cv: CVResult


@dataclass
class SearchResult:
    best: TrialOutcome
    trials: list[TrialOutcome]


def search(
    folds: list[FoldData],
    n_rows: int,
    kind: ModelKind,
    n_classes: int,
    n_trials: int,
    seed: int,
    n_jobs: int,
    output_width: int = 1,
    on_trial: Callable[[TrialOutcome], None] | None = None,
) -> SearchResult:
    """Run ``n_trials`` TPE trials (the first one the defaults); the lowest CV loss wins."""
    outcomes: list[TrialOutcome] = []

    def objective(trial: optuna.Trial) -> float:
        hyper = suggest_hyperparameters(trial)
        params = booster_params(kind, hyper, n_classes, seed, n_jobs)
        cv = cross_validate(folds, n_rows, params, output_width=output_width)
        outcome = TrialOutcome(trial.number, hyper, cv)
        # Only the best trial's fold boosters are kept (its conformal fold models).
        for other in outcomes:
            if other.cv.boosters and other.cv.loss > cv.loss:
                other.cv.boosters = []
        if any(o.cv.loss <= cv.loss for o in outcomes):
            cv.boosters = []
        outcomes.append(outcome)
        if on_trial is not None:
            on_trial(outcome)
        return cv.loss

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed)
    )
    study.enqueue_trial(DEFAULT_HYPERPARAMETERS)
    study.optimize(objective, n_trials=n_trials)
    best = min(outcomes, key=lambda o: o.cv.loss)
    return SearchResult(best=best, trials=outcomes)
