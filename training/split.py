"""Splits by batch: preparations of one batch are never on both sides.

Preparations of one culture / donor / passage share their biology and their isolation run,
so a random split would let the model recognise the batch instead of learning quality.
The held-out test split and every cross-validation fold keep whole batches together
(scikit-learn's ``StratifiedGroupKFold``, which also keeps the class mix of each side close
to the whole). A preparation without a batch is its own group.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from exoqc.contracts import LABEL_COLUMNS, Target
from exoqc.dataset import LABEL_VALUES, Dataset


def batch_groups(preps: pd.DataFrame) -> pd.Series:
    """The grouping of each preparation: its ``batch``, or its own id when it has none."""
    batch = preps["batch"] if "batch" in preps else pd.Series("", index=preps.index)
    batch = batch.fillna("").astype(str)
    own = pd.Series("prep:" + preps.index.astype(str), index=preps.index)
    return batch.where(batch != "", own).rename("group")


def heldout_split(
    labels: pd.Series, groups: pd.Series, test_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the training and held-out preparations.

    The held-out split is one fold of a stratified group k-fold with k = round(1 / fraction),
    so about ``test_fraction`` of the preparations, whole batches only.
    """
    if not 0 < test_fraction < 0.5:
        raise ValueError("test_fraction must be in (0, 0.5)")
    n_groups = groups.nunique()
    n_splits = max(2, round(1 / test_fraction))
    if n_groups < n_splits:
        raise ValueError(
            f"{n_groups} batch(es) in the labelled preparations: a held-out split by batch "
            f"needs at least {n_splits}; label preparations of more batches (column 'batch')"
        )
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    train, test = next(splitter.split(np.zeros(len(labels)), labels, groups))
    return train, test


def cv_folds(
    labels: pd.Series, groups: pd.Series, n_folds: int = 5, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified group k-fold (train, validation) position pairs over the training split."""
    n_groups = groups.nunique()
    if n_groups < n_folds:
        raise ValueError(
            f"{n_groups} batch(es) left for training once whole batches are held out for the "
            f"test: {n_folds}-fold CV by batch needs {n_folds}; label preparations of more "
            "batches (column 'batch')")
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels, groups))


@dataclass
class HeldoutSplit:
    """A target's labelled preparations, split by batch: ``train`` and ``test`` are
    positions in ``features``; ``folds`` are positions within ``train``."""

    features: pd.DataFrame
    labels: np.ndarray  # class positions
    groups: pd.Series
    train: np.ndarray
    test: np.ndarray
    folds: list[tuple[np.ndarray, np.ndarray]]

    def part(self, positions: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
        return self.features.iloc[positions], self.labels[positions]


def split_target(dataset: Dataset, features: pd.DataFrame, target: Target,
                 test_fraction: float, n_folds: int, seed: int) -> HeldoutSplit:
    """The held-out split and the CV folds of ``target``'s labelled preparations."""
    column = LABEL_COLUMNS[target]
    classes = LABEL_VALUES[column]
    labelled = dataset.preps[column].dropna()
    features = features.loc[labelled.index]
    labels = labelled.map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=int)
    groups = batch_groups(dataset.preps.loc[labelled.index])
    train, test = heldout_split(pd.Series(labels), groups, test_fraction, seed)
    folds = cv_folds(pd.Series(labels[train]), groups.iloc[train], n_folds, seed)
    return HeldoutSplit(features, labels, groups, train, test, folds)
