"""Measurement groups of the feature table: which assays a preparation had.

Each feature comes from one measurement a lab makes or skips as a whole (its catalog
``source``): DLS, NTA (particle count), BCA (protein), markers, qPCR (cargo). The ratio of
particles to protein needs both NTA and BCA. Scoring uses the groups to refuse a call
without enough data (:func:`has_enough_data`); training masks whole groups at random
(:func:`mask_groups`) so that a model does not read "not measured" as evidence of quality.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from exoqc.features.catalog import catalog_frame

MEASUREMENT_GROUPS = ("DLS", "NTA", "BCA", "markers", "qPCR")

EVIDENCE_GROUPS = ("DLS", "NTA", "BCA", "markers")
"""A call needs at least one of these measured: each says something of the composition
(size distribution, particles, protein, EV and contaminant markers). Cargo qPCR alone
does not (let-7 per µg protein is similar in EVs and cell debris), nor does the isolation
method (a prior for the method, not a measurement of the preparation)."""

INSUFFICIENT_MESSAGE = (
    "not enough data for a call: none of DLS, marker intensities, particle count (NTA) or "
    "protein (BCA) measured; at least one of them is needed")


@cache
def group_features() -> dict[str, tuple[str, ...]]:
    """Feature names of each measurement group (a derived feature is in every group it
    needs: the particles/protein ratio in NTA and in BCA)."""
    catalog = catalog_frame()
    groups: dict[str, list[str]] = {group: [] for group in MEASUREMENT_GROUPS}
    for name, source in zip(catalog["name"], catalog["source"], strict=True):
        for group in source.split("/"):
            if group in groups:
                groups[group].append(name)
    return {group: tuple(names) for group, names in groups.items()}


def measured_groups(features: pd.DataFrame) -> pd.DataFrame:
    """One boolean column per group: does the preparation have any of its features?"""
    return pd.DataFrame(
        {group: features[[n for n in names if n in features]].notna().any(axis=1)
         for group, names in group_features().items()},
        index=features.index)


def has_enough_data(features: pd.DataFrame) -> pd.Series:
    """True where at least one of :data:`EVIDENCE_GROUPS` was measured."""
    return measured_groups(features)[list(EVIDENCE_GROUPS)].any(axis=1)


def mask_groups(features: pd.DataFrame, rate: float, seed: int) -> pd.DataFrame:
    """A copy with each measurement group of each row set to NaN with probability
    ``rate``, except that a row keeps at least one of the groups it had (a row with
    nothing measured teaches nothing).

    Trained on such rows, a tree model sends "not measured" down the branch that fits
    preparations whose assay was skipped at random, whatever their quality, rather than
    the branch the training data's own pattern of skipped assays happened to favour.
    """
    rng = np.random.default_rng(seed)
    masked = features.copy()
    had = measured_groups(features).to_numpy()
    drop = (rng.random(had.shape) < rate) & had
    everything = drop.sum(axis=1) >= had.sum(axis=1)
    rows = np.flatnonzero(everything & had.any(axis=1))
    for row in rows:  # keep one group it had, chosen at random
        keep = rng.choice(np.flatnonzero(had[row]))
        drop[row, keep] = False
    for j, names in enumerate(group_features().values()):
        columns = [j for j, name in enumerate(masked.columns) if name in names]
        hit = np.flatnonzero(drop[:, j])
        if len(hit) and columns:
            masked.iloc[hit, columns] = np.nan
    return masked
