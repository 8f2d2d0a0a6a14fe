"""Fitting XGBoost boosters: grouped cross-validation with early stopping, final fit.

Three kinds of model: ``multiclass`` (purity: softmax over high / medium / low),
``binary`` (potency: logistic, margin = log-odds of "potent") and ``regression``
(the assay readouts as log2 fold change, one multi-output booster). Missing features stay
NaN: XGBoost learns a default direction for them at every split.

Early stopping uses each cross-validation fold's own validation part only; the held-out
test split is never seen while choosing the number of boosting rounds.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import xgboost as xgb

from exoqc.contracts import CLASSES, Target

ModelKind = Literal["multiclass", "binary", "regression"]


def classifier_kind(target: Target) -> ModelKind:
    """The booster objective of a target's classifier: more than two classes, multiclass."""
    return "multiclass" if len(CLASSES[target]) > 2 else "binary"

EVAL_METRIC: dict[str, str] = {"multiclass": "mlogloss", "binary": "logloss",
                               "regression": "rmse"}


def booster_labels(kind: ModelKind, positions: np.ndarray) -> np.ndarray:
    """XGBoost's labels: class positions, or for binary 1 = the first class (potent)."""
    return (positions == 0).astype(float) if kind == "binary" else positions.astype(float)


def gain_importance(booster: xgb.Booster) -> dict[str, float]:
    """Total gain of each feature the booster splits on (the applicability domain weighs
    features by it)."""
    return {name: float(value)  # type: ignore[arg-type]  # one number per feature here
            for name, value in booster.get_score(importance_type="total_gain").items()}


def booster_params(
    kind: ModelKind, hyper: dict[str, float], n_classes: int, seed: int, n_jobs: int
) -> dict[str, object]:
    """XGBoost training parameters for a model kind and tuned hyperparameters."""
    params: dict[str, object] = {
        "tree_method": "hist",
        # 64 bins resolve a few thousand preparations' feature values finely enough and
        # make each boosting round about three times faster than the default 256.
        "max_bin": 64,
        "eval_metric": EVAL_METRIC[kind],
        "seed": seed,
        "nthread": n_jobs,
        **hyper,
    }
    if kind == "multiclass":
        params.update(objective="multi:softprob", num_class=n_classes)
    elif kind == "binary":
        params["objective"] = "binary:logistic"
    else:
        # One tree with a vector of leaf values per round for all readouts, rather than
        # one tree per readout: the readouts share their drivers (dose, purity, cargo).
        params.update(objective="reg:squarederror", multi_strategy="multi_output_tree")
    return params


def to_matrix(features: pd.DataFrame, labels: np.ndarray | None = None) -> xgb.DMatrix:
    return xgb.DMatrix(
        features.to_numpy(dtype=np.float32),
        label=labels,
        feature_names=list(features.columns),
        missing=np.nan,
    )


@dataclass
class FoldData:
    train: xgb.DMatrix
    valid: xgb.DMatrix
    valid_positions: np.ndarray


def fold_matrices(
    features: pd.DataFrame, labels: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]
) -> list[FoldData]:
    """DMatrix pairs per fold, built once and reused by every tuning trial."""
    return [
        FoldData(
            train=to_matrix(features.iloc[train], labels[train]),
            valid=to_matrix(features.iloc[valid], labels[valid]),
            valid_positions=valid,
        )
        for train, valid in folds
    ]


@dataclass
class CVResult:
    """Out-of-fold margins, each fold's best number of rounds and validation loss, and
    each fold's booster cut at its best round (the conformal sets' fold models,
    exoqc.model.conformal; empty once released)."""

    oof_margin: np.ndarray
    best_rounds: list[int]
    fold_losses: list[float]
    boosters: list[xgb.Booster] = field(default_factory=list)

    @property
    def loss(self) -> float:
        return float(np.mean(self.fold_losses))

    @property
    def n_rounds(self) -> int:
        """Rounds for the final model: the folds' mean best round count."""
        return max(1, round(float(np.mean(self.best_rounds))))


def cross_validate(
    folds: list[FoldData],
    n_rows: int,
    params: dict[str, object],
    max_rounds: int = 2000,
    early_stopping_rounds: int = 40,
    output_width: int = 1,
) -> CVResult:
    """Train on each fold with early stopping on that fold's validation part.

    Folds run in parallel threads (XGBoost releases the GIL), each booster on one thread:
    on small tables this is much faster than several OpenMP threads per booster, and the
    result does not depend on the number of threads.
    """
    shape = (n_rows,) if output_width == 1 else (n_rows, output_width)
    threads = params.get("nthread", 1)
    workers = max(1, min(threads if isinstance(threads, int) else 1, len(folds)))
    fold_params = {**params, "nthread": 1} if workers > 1 else params

    def run(fold: FoldData) -> tuple[int, float, np.ndarray, xgb.Booster]:
        history: dict = {}
        booster = xgb.train(
            fold_params,
            fold.train,
            num_boost_round=max_rounds,
            evals=[(fold.valid, "valid")],
            early_stopping_rounds=early_stopping_rounds,
            evals_result=history,
            verbose_eval=False,
        )
        rounds = booster.best_iteration + 1
        loss = float(history["valid"][params["eval_metric"]][rounds - 1])
        margin = booster.predict(fold.valid, output_margin=True, iteration_range=(0, rounds))
        return rounds, loss, margin, booster[:rounds]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(run, folds))
    oof = np.full(shape, np.nan)
    for fold, (_, _, margin, _) in zip(folds, outcomes, strict=True):
        oof[fold.valid_positions] = margin.reshape((len(fold.valid_positions), *shape[1:]))
    return CVResult(oof_margin=oof, best_rounds=[o[0] for o in outcomes],
                    fold_losses=[o[1] for o in outcomes], boosters=[o[3] for o in outcomes])


def fit_final(
    features: pd.DataFrame, labels: np.ndarray, params: dict[str, object], n_rounds: int
) -> xgb.Booster:
    """The model on the whole training split, with the rounds chosen by cross-validation."""
    return xgb.train(params, to_matrix(features, labels), num_boost_round=n_rounds)
