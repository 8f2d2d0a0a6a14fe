"""The feature table: one row per preparation, the columns of the feature catalog.

Training and scoring both call :func:`build_features`, so a preparation gets the same
numbers in both. NaN means "not measured" (or undefined, see the catalog); a preparation
whose input has errors (the loader's, an unreadable DLS or NTA export) keeps its row, all NaN,
and its messages are in :attr:`FeatureTable.errors`. Apart from the DLS inversion (run in
parallel by :mod:`exoqc.features.dls.table`) everything is vectorized over preparations.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from exoqc.config import get_settings
from exoqc.dataset import Dataset
from exoqc.features.cargo import cargo_features
from exoqc.features.catalog import feature_names
from exoqc.features.composition import composition_features, prep_record_features
from exoqc.features.dls.table import DLS_FEATURES, dls_feature_table
from exoqc.features.markers import marker_features
from exoqc.features.nta.table import NTA_FEATURES, nta_feature_table, particles_from_nta
from exoqc.output import write_atomically


@dataclass
class FeatureTable:
    """The features of a dataset's preparations.

    ``frame``: index ``prep_id`` in the dataset's order, one row per preparation, columns
    :func:`~exoqc.features.catalog.feature_names` (float64). ``errors``: messages of the
    preparations that could not be featurized (their rows are all NaN). ``warnings``:
    messages about preparations that were featurized but that a scientist should know of.
    ``timings_s``: seconds spent on the DLS files (reading and analysis), the NTA files and
    the rest.
    """

    frame: pd.DataFrame
    errors: dict[str, list[str]]
    warnings: dict[str, list[str]]
    timings_s: dict[str, float] = field(default_factory=dict)


def build_features(
    dataset: Dataset, *, n_jobs: int | None = None, progress: bool = False
) -> FeatureTable:
    """The feature table of ``dataset``; deterministic.

    ``n_jobs``: processes for the DLS analysis (default: the settings' ``n_jobs``, all
    cores). ``progress``: show a progress bar on stderr while DLS files are analysed.
    """
    prep_ids = dataset.prep_ids
    errors = {prep_id: list(messages) for prep_id, messages in dataset.errors.items()}
    usable = [prep_id for prep_id in prep_ids if prep_id not in errors]
    n_jobs = get_settings().n_jobs if n_jobs is None else n_jobs

    start = time.perf_counter()
    with _progress_bar(len(usable), "Analysing DLS files", enabled=progress) as report:
        dls, dls_errors = dls_feature_table(dataset, usable, n_jobs=n_jobs, progress=report)
    dls_done = time.perf_counter()
    _check_columns(dls, [f.name for f in DLS_FEATURES], "dls_feature_table")
    for prep_id, message in dls_errors.items():
        errors.setdefault(prep_id, []).append(message)
    nta, nta_errors, nta_warnings = nta_feature_table(dataset, usable, dls=dls)
    _check_columns(nta, [f.name for f in NTA_FEATURES], "nta_feature_table")
    for prep_id, message in nta_errors.items():
        errors.setdefault(prep_id, []).append(message)
    nta_done = time.perf_counter()

    # particles_per_ml from the NTA export where preps.csv leaves it empty (README "Your own data").
    composition, composition_warnings = composition_features(
        particles_from_nta(dataset.preps, nta))
    markers, marker_warnings = marker_features(dataset)
    cargo, cargo_warnings = cargo_features(dataset.cargo, prep_ids)
    parts = [dls, nta, composition, markers, cargo, prep_record_features(dataset.preps)]
    index = pd.Index(prep_ids, name="prep_id")
    frame = pd.concat([part.reindex(index) for part in parts], axis=1)
    _check_columns(frame, feature_names(), "the feature extractors")
    frame = frame.astype("float64")
    frame.loc[frame.index.isin(list(errors))] = np.nan

    warnings = {prep_id: list(messages) for prep_id, messages in dataset.warnings.items()}
    for extra in (nta_warnings, composition_warnings, marker_warnings, cargo_warnings):
        for prep_id, messages in extra.items():
            if prep_id not in errors:
                warnings.setdefault(prep_id, []).extend(messages)
    order = {prep_id: position for position, prep_id in enumerate(prep_ids)}
    return FeatureTable(
        frame=frame,
        errors=dict(sorted(errors.items(), key=lambda item: order[item[0]])),
        warnings=dict(sorted(warnings.items(), key=lambda item: order[item[0]])),
        timings_s={"dls": dls_done - start, "nta": nta_done - dls_done,
                   "markers, counts, cargo": time.perf_counter() - nta_done},
    )


def _check_columns(frame: pd.DataFrame, expected: list[str], producer: str) -> None:
    if list(frame.columns) != expected:
        missing = [c for c in expected if c not in frame.columns]
        extra = [c for c in frame.columns if c not in expected]
        raise RuntimeError(
            f"{producer} returned columns that differ from the feature catalog "
            f"(missing: {missing or 'none'}; unexpected: {extra or 'none'}; or out of order)")


@contextmanager
def _progress_bar(
    total: int, description: str, *, enabled: bool
) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar on stderr, updated with the number of items done."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda done: bar.update(task, completed=done)


FEATURE_FILE_SUFFIXES = (".parquet", ".csv")


def write_feature_table(frame: pd.DataFrame, path: Path) -> None:
    """Write the feature table as Parquet or CSV (by suffix), index ``prep_id`` included,
    atomically (:func:`exoqc.output.write_atomically`)."""
    if path.suffix.lower() not in FEATURE_FILE_SUFFIXES:
        raise ValueError(f"{path}: expected a file name ending in .parquet or .csv")
    write_atomically(frame, path, index=True)
