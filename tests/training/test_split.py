"""Held-out split and CV folds keep each batch on one side."""

import numpy as np
import pandas as pd
import pytest

from exoqc.training.split import batch_groups, cv_folds, heldout_split


def cohort(n_batches=40, per_batch=6, seed=3):
    rng = np.random.default_rng(seed)
    groups = pd.Series(np.repeat([f"B{i:02d}" for i in range(n_batches)], per_batch))
    labels = pd.Series(rng.integers(0, 3, size=len(groups)))
    return labels, groups


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_heldout_split_never_shares_a_batch(seed):
    labels, groups = cohort()
    train, test = heldout_split(labels, groups, test_fraction=0.2, seed=seed)
    assert set(groups.iloc[train]).isdisjoint(groups.iloc[test])
    assert len(train) + len(test) == len(labels)
    assert 0.1 < len(test) / len(labels) < 0.3


def test_cv_folds_never_share_a_batch_and_cover_everything():
    labels, groups = cohort()
    folds = cv_folds(labels, groups, n_folds=5, seed=0)
    seen = np.concatenate([valid for _, valid in folds])
    assert sorted(seen) == list(range(len(labels)))
    for train, valid in folds:
        assert set(groups.iloc[train]).isdisjoint(groups.iloc[valid])


def test_too_few_batches_is_a_clear_error():
    labels, groups = cohort(n_batches=3)
    with pytest.raises(ValueError, match="3 batch"):
        heldout_split(labels, groups, test_fraction=0.2)


def test_prep_without_batch_is_its_own_group():
    preps = pd.DataFrame({"batch": ["B1", "", None]}, index=["P1", "P2", "P3"])
    assert batch_groups(preps).tolist() == ["B1", "prep:P2", "prep:P3"]
