"""``exoqc train``: from a labelled prep dataset to registered, explained models.

For each target (purity, potency) one MLflow run in its experiment. The labels are checked
first (``training.label_plan``); then, by the number of labelled preparations, either the
held-out path (``training.heldout_job``: split by batch, search, calibration, held-out
metrics) or a lab's small-data path (``training.lab_job``: candidates with and without the
reference prior chosen by repeated grouped cross-validation). Both explain the model with
SHAP, register it and move ``champion`` only when the new version is better.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from exoqc import input_report, tracking
from exoqc.config import default_n_jobs
from exoqc.contracts import LABEL_COLUMNS, TARGETS, Target
from exoqc.dataset import LABEL_VALUES, Dataset, load_dataset
from exoqc.errors import LabelError
from exoqc.features import build_features
from exoqc.training.heldout_job import train_heldout_target
from exoqc.training.lab_job import train_lab_target
from exoqc.training.label_plan import SMALL_DATA_MAX, LabelPlan, plan_target
from exoqc.training.prior import reference_prior
from exoqc.training.reference_cohort import reference_cohort
from exoqc.training.result import ProgressCallback, TrainResult
from exoqc.training.split import batch_groups, cv_folds, heldout_split

__all__ = ["TrainResult", "TrainSettings", "check_batches", "reference_cohort", "train"]


class TrainSettings(BaseModel):
    """How hard to search and how to validate. With the defaults the reference cohort
    (5,000 preparations) trains in about 75 s on two cores (benchmarks/first_run.py)."""

    model_config = ConfigDict(frozen=True)

    n_trials: int = Field(10, ge=1, description="Optuna trials per model")
    n_folds: int = Field(5, ge=2, description="grouped CV folds on the training split")
    test_fraction: float = Field(0.2, gt=0, lt=0.5, description="held-out share, by batch")
    seed: int = 0
    n_jobs: int = Field(default_factory=default_n_jobs, ge=1)
    shap_max_rows: int = Field(2000, ge=10, description="held-out rows explained globally")
    mask_rate: float = Field(0.15, ge=0, lt=1, description="chance that a training row's "
                             "measurement group (DLS, NTA, BCA, markers, qPCR) is masked")
    validation: Literal["auto", "heldout", "repeated_cv"] = Field(
        "auto", description="auto: repeated grouped CV (and the prior) below "
        "training.label_plan.SMALL_DATA_MAX labelled preparations, a held-out split from it on")
    cv_repeats: int = Field(3, ge=1, description="repeats of the grouped CV of small data")
    prior: bool = Field(True, description="small data: use the reference cohort as prior")
    prior_cohort: Path | None = Field(None, description="the prior's cohort; default: the "
                                      "reference cohort of `exoqc train` without a folder")
    candidates: tuple[str, ...] | None = Field(
        None, description="small data: only the candidates of these names compete "
        "(training.candidates; default all)")


def train(
    dataset: Dataset | str | Path,
    target: Literal["purity", "potency", "all"] = "all",
    settings: TrainSettings | None = None,
    progress: ProgressCallback | None = None,
    notes: list[str] | None = None,
) -> dict[str, TrainResult]:
    """Train, evaluate, explain, register. Returns one result per target trained.

    Labels are checked before any work (``training.label_plan.plan_target``): a target that
    cannot be trained is skipped with its reason appended to ``notes`` (with what the user
    should know about the labels of the others); when none can be,
    :class:`~exoqc.errors.LabelError`.
    """
    settings = settings or TrainSettings()
    notes = notes if notes is not None else []
    if not isinstance(dataset, Dataset):
        # Every problem is reported at once, after the features (an unreadable DLS record
        # too), never one stage at a time: see the InputProblemsError below.
        dataset = load_dataset(dataset, errors="collect")
    targets = TARGETS if target == "all" else (target,)
    missing = [t for t in targets if not dataset.has_labels(LABEL_COLUMNS[t])]
    if missing and len(missing) == len(targets):
        raise LabelError(
            dataset.root / "preps.csv", f"no {', '.join(LABEL_COLUMNS[t] for t in missing)} "
            "labels: training needs the label column filled for the preparations to learn from"
        )
    plans = _plan(dataset, targets, notes)
    targets = tuple(t for t in targets if plans[t].trainable)
    for t in targets:  # seconds of checks before minutes of work
        if _validation(settings, plans[t]) == "heldout":
            check_batches(dataset, LABEL_COLUMNS[t], settings)
    tracking.configure()
    progress = progress or _no_progress
    progress("features (DLS analysis)", 0, 1)
    table = build_features(dataset, n_jobs=settings.n_jobs)
    progress("features (DLS analysis)", 1, 1)
    problems = input_report.collect(table.errors, table.warnings,
                                    input_report.general_warnings(dataset))
    if table.errors:
        raise input_report.InputProblemsError(dataset.root, problems)
    results: dict[str, TrainResult] = {}
    for t in targets:
        if _validation(settings, plans[t]) == "heldout":
            results[t] = train_heldout_target(t, dataset, table.frame, settings, progress)
        else:
            results[t] = _train_small(t, dataset, table.frame, settings, progress, plans[t])
    for name, result in results.items():
        notes.extend(f"{name}: {skipped}" for skipped in result.skipped)
    for result in results.values():
        input_report.log_problems(problems, result.run_id)
        result.input_problems = problems
    return results


def check_batches(dataset: Dataset, label: str, settings: TrainSettings) -> None:
    """Refuse, before any work, labels whose batches cannot make the held-out split and the
    CV folds, saying what to do."""
    labelled = dataset.preps[label].dropna()
    groups = batch_groups(dataset.preps.loc[labelled.index])
    codes = labelled.astype("category").cat.codes
    try:
        train_positions, _ = heldout_split(codes, groups, settings.test_fraction, settings.seed)
        cv_folds(codes.iloc[train_positions], groups.iloc[train_positions], settings.n_folds,
                 settings.seed)
    except ValueError as error:  # the split's own check: too few batches
        raise LabelError(dataset.root / "preps.csv", f"{error} ({groups.nunique()} batch(es) "
                         "labelled in all)", column=label) from None


def _plan(dataset: Dataset, targets: tuple[Target, ...], notes: list[str]) -> dict:
    """Each target's label check; raises when no target can be trained."""

    groups = batch_groups(dataset.preps)
    has_batch = not groups.str.startswith("prep:").all()
    plans = {}
    for t in targets:
        column = LABEL_COLUMNS[t]
        labels = (dataset.preps[column] if column in dataset.preps
                  else pd.Series(np.nan, index=dataset.preps.index, dtype=object))
        plans[t] = plan_target(t, labels, groups, has_batch, LABEL_VALUES[column])
        if not plans[t].trainable:
            notes.append(f"{t}: not trained: {plans[t].refusal}")
        notes.extend(f"{t}: {note}" for note in plans[t].notes)
    if not any(p.trainable for p in plans.values()):
        raise LabelError(dataset.root / "preps.csv", "nothing can be trained: "
                         + "; ".join(f"{t}: {p.refusal}" for t, p in plans.items()))
    return plans


def _validation(settings: TrainSettings, plan: LabelPlan) -> str:
    if settings.validation != "auto":
        return settings.validation
    return "repeated_cv" if plan.n_labelled < SMALL_DATA_MAX else "heldout"


def _train_small(target: Target, dataset: Dataset, features: pd.DataFrame,
                 settings: TrainSettings, progress: ProgressCallback, plan) -> TrainResult:
    """A lab's small dataset: candidates with and without the prior (training.lab_job)."""

    prior, note = None, "none (--no-prior)"
    if settings.prior:
        cohort = settings.prior_cohort or reference_cohort()
        if Path(cohort).resolve() == Path(dataset.root).resolve():
            note = "none: the training folder is the prior's own cohort"
        else:
            progress(f"{target}: prior (first time: reference features)", 0, 1)
            prior = reference_prior(target, Path(cohort), list(features.columns),
                                    settings.seed, settings.n_jobs)
            note = prior.source
    return train_lab_target(target, dataset, features, settings, progress, plan, prior, note)


def _no_progress(step: str, done: int, total: int) -> None:
    return None
