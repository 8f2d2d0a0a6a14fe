"""Repeated grouped cross-validation of small data: folds of whole batches, the metric
of out-of-fold predictions, and batch-bootstrap intervals (batches, not preparations, are
the unit resampled: a batch's preparations are not independent)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from exoqc.training import evaluate

N_REPEATS = 3
MAX_FOLDS = 5
N_BOOTSTRAP = 300


def n_folds_for(labels: np.ndarray, groups: np.ndarray) -> int:
    """k of the grouped CV: 5, or fewer when there are fewer batches or when even the
    largest class has fewer preparations (stratification needs one per fold)."""
    return int(min(MAX_FOLDS, len(np.unique(groups)), np.bincount(labels).max()))


def repeated_group_folds(labels: np.ndarray, groups: np.ndarray, n_repeats: int = N_REPEATS,
                         seed: int = 0) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """``n_repeats`` stratified group k-fold splittings (k = min(5, batches)), each with
    its own shuffle: whole batches are validated together."""
    n_folds = n_folds_for(labels, groups)
    out = []
    for r in range(n_repeats):
        splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed + r)
        out.append(list(splitter.split(np.zeros(len(labels)), labels, groups)))
    return out


def metric_of(probabilities: np.ndarray, labels: np.ndarray, classes: tuple[str, ...],
              metric: str) -> float:
    """One metric; macro-F1 over the classes labelled or predicted, NaN when undefined."""
    if metric == "macro_f1":
        predicted = probabilities.argmax(axis=1)
        used = np.union1d(labels, predicted)
        confusion = np.zeros((len(classes), len(classes)))
        np.add.at(confusion, (labels, predicted), 1)
        tp = np.diag(confusion)[used]
        denominator = confusion.sum(axis=0)[used] + confusion.sum(axis=1)[used]
        return float(np.mean(2 * tp / np.maximum(denominator, 1)))
    if metric == "roc_auc" and len(classes) == 2:
        # As evaluate.classification_metrics gives it, without the other metrics: the
        # bootstrap computes it hundreds of times per candidate.
        if len(np.unique(labels)) < 2:
            return float("nan")
        return float(roc_auc_score(labels == 0, probabilities[:, 0]))
    return evaluate.classification_metrics(probabilities, labels, classes).get(metric, np.nan)


def bootstrap_draws(score: Callable[[np.ndarray], float], groups: np.ndarray,
                    n_draws: int = N_BOOTSTRAP, seed: int = 0) -> np.ndarray:
    """``score(rows)`` over batches drawn with replacement (a batch's preparations are
    not independent, so batches are the unit resampled)."""
    rng = np.random.default_rng(seed)
    unique, inverse = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(len(unique))]
    values = []
    for _ in range(n_draws):
        drawn = rng.integers(len(unique), size=len(unique))
        values.append(score(np.concatenate([members[g] for g in drawn])))
    return np.asarray(values, dtype=float)


def bootstrap_interval(score: Callable[[np.ndarray], float], groups: np.ndarray,
                       n_draws: int = N_BOOTSTRAP, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of ``score(rows)`` over batches drawn with replacement."""
    values = bootstrap_draws(score, groups, n_draws, seed)
    if np.isfinite(values).sum() < n_draws // 2:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.nanpercentile(values, [tail, 100 - tail])
    return float(low), float(high)


@contextmanager
def quiet() -> Iterator[None]:
    """Small folds make scikit-learn warn (a class with fewer members than folds, a fold
    of one class) and bootstrap draws without a class give NaN metrics: the scores and
    intervals say what that means, the warnings would only be noise to a user."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"sklearn\.")
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        yield


def paired_difference(new_proba: np.ndarray, old_proba: np.ndarray, y: np.ndarray,
                      groups: np.ndarray, classes: tuple[str, ...], metric: str,
                      seed: int = 0) -> tuple[float, tuple[float, float]]:
    """Metric of the new model minus the old one on the same preparations, and its
    batch-bootstrap interval (the same batches drawn for both: a paired comparison)."""
    def diff(rows: np.ndarray) -> float:  # NaN where a draw lacks a class
        return (metric_of(new_proba[rows], y[rows], classes, metric)
                - metric_of(old_proba[rows], y[rows], classes, metric))

    with quiet():
        return diff(np.arange(len(y))), bootstrap_interval(diff, groups, seed=seed)
