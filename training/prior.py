"""The prior of a lab's training: the reference cohort and a booster trained on it.

The prior is the *reference cohort* (the simulated cohort of ``exoqc train`` without a
folder), not whatever model is registered: a lab's store may hold no reference model, or a
champion that is itself a lab's model, and pooling needs the reference preparations
themselves. Its feature table and one booster per target (fixed parameters,
``candidates.PRIOR_HYPER``) are computed once and cached beside the cohort
(``.exoqc-prior-<version>/``), so only a lab's first training pays for them.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

from exoqc import __version__
from exoqc.contracts import LABEL_COLUMNS, Target
from exoqc.dataset import LABEL_VALUES, load_dataset
from exoqc.errors import ExoqcInputError
from exoqc.features import build_features
from exoqc.training.candidates import POOL_REFERENCE_ROWS, PRIOR_HYPER, PRIOR_ROUNDS, Prior
from exoqc.training.fit import booster_labels, booster_params, classifier_kind, to_matrix

FEATURES_FILE = "features.parquet"


def _cache_dir(cohort: Path) -> Path:
    return cohort / f".exoqc-prior-{__version__}"


def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=path.suffix, delete=False) as tmp:
        temporary = Path(tmp.name)
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def reference_features(cohort: Path, n_jobs: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cohort's feature table (cached) and its labels (``preps.csv``)."""
    dataset = load_dataset(cohort, errors="raise")
    path = _cache_dir(cohort) / FEATURES_FILE
    if path.is_file():
        frame = pd.read_parquet(path)
    else:
        frame = build_features(dataset, n_jobs=n_jobs).frame
        _atomic(path, frame.to_parquet)
    return frame, dataset.preps.loc[frame.index]


def reference_prior(target: Target, cohort: Path, feature_names: list[str], seed: int = 0,
                    n_jobs: int = 1) -> Prior:
    """The prior of ``target``: a booster on the whole cohort and a fixed random subset
    of ``POOL_REFERENCE_ROWS`` preparations for pooling, in the lab's feature order."""
    cohort = Path(cohort)
    frame, preps = reference_features(cohort, n_jobs)
    column = LABEL_COLUMNS[target]
    classes = LABEL_VALUES[column]
    labelled = preps[column].notna().to_numpy()
    features = frame.loc[labelled, feature_names]
    positions = preps.loc[labelled, column].map(
        {c: i for i, c in enumerate(classes)}).to_numpy(dtype=int)
    kind = classifier_kind(target)
    path = _cache_dir(cohort) / f"booster-{target}.json"
    if path.is_file():
        booster = xgb.Booster(model_file=str(path))
    else:
        params = booster_params(kind, PRIOR_HYPER, len(classes), seed, n_jobs)
        booster = xgb.train(params, to_matrix(features, booster_labels(kind, positions)),
                            PRIOR_ROUNDS)
        _atomic(path, lambda p: booster.save_model(str(p)))
    if list(booster.feature_names or []) != list(feature_names):
        raise ExoqcInputError(path, "the cached prior was made with other features; delete "
                              f"{_cache_dir(cohort)} and train again")
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.permutation(len(features))[:POOL_REFERENCE_ROWS])
    return Prior(booster, features.iloc[rows], positions[rows],
                 f"reference cohort {cohort.name} ({len(features)} preparations)")
