"""``exoqc train``: from a labelled prep dataset to registered, explained models.

For each target (purity, potency) one MLflow run in its experiment:

1. feature table (``exoqc.features.build_features``) and labels;
2. held-out test split by batch; grouped cross-validation by batch on the rest;
3. Optuna TPE search, each trial a nested run, early stopping on validation folds only;
4. final booster on the training split; calibration chosen on out-of-fold margins;
5. held-out metrics beside the baselines (MISEV-style rule, particle/protein-ratio rule,
   logistic regression) on the same split; confusion matrix and reliability figures;
6. global SHAP on the held-out split; the model as a pyfunc from code, registered, and
   ``champion`` moved only when the new version beats it on the held-out metric.

The potency run also fits one multi-output regressor for the assay readouts when the
dataset has them, packaged in the same model.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from exoqc import __version__, input_report, tracking
from exoqc.config import Settings, default_n_jobs, get_settings
from exoqc.contracts import PRIMARY_METRIC, TARGETS, Target
from exoqc.dataset import ASSAY_READOUTS, LABEL_VALUES, Dataset, load_dataset
from exoqc.errors import LabelError
from exoqc.features import build_features, catalog_frame, label_of
from exoqc.features.groups import mask_groups
from exoqc.model.conformal import fit_cv_plus
from exoqc.model.domain import ApplicabilityDomain
from exoqc.model.predictor import Calibration, ExoqcPredictor, ModelSpec
from exoqc.model.values import PNG_SAVE_KWARGS
from exoqc.training import baselines, evaluate, explain
from exoqc.training.calibrate import choose_calibration
from exoqc.training.conformal_report import log_conformal
from exoqc.training.fit import (
    CVResult,
    ModelKind,
    booster_params,
    fit_final,
    fold_matrices,
    to_matrix,
)
from exoqc.training.registry import ChampionDecision, decide_champion, log_and_register
from exoqc.training.split import batch_groups, cv_folds, heldout_split
from exoqc.training.tune import SearchResult, TrialOutcome, search
from exoqc.ui import run_route

LABEL_COLUMN: dict[str, str] = {"purity": "purity_class", "potency": "potency_class"}


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
        "training.adapt.SMALL_DATA_MAX labelled preparations, a held-out split from it on")
    cv_repeats: int = Field(3, ge=1, description="repeats of the grouped CV of small data")
    prior: bool = Field(True, description="small data: use the reference cohort as prior")
    prior_cohort: Path | None = Field(None, description="the prior's cohort; default: the "
                                      "reference cohort of `exoqc train` without a folder")


@dataclass
class TrainResult:
    target: str
    run_id: str
    model_version: str
    champion: ChampionDecision
    test_metrics: dict[str, float]
    baseline_metrics: dict[str, dict[str, float]]
    cv_metrics: dict[str, float] = field(default_factory=dict)
    readout_metrics: dict[str, float] = field(default_factory=dict)
    input_problems: list[input_report.Reported] = field(default_factory=list)
    validation: str = "held-out"
    interval: tuple[float, float] | None = None  # of the primary metric (small data)
    chosen: str = "xgboost"
    notes: list[str] = field(default_factory=list)


ProgressCallback = Callable[[str, int, int], None]
"""(step description, done, total) for a progress display."""


def train(
    dataset: Dataset | str | Path,
    target: Literal["purity", "potency", "all"] = "all",
    settings: TrainSettings | None = None,
    progress: ProgressCallback | None = None,
    notes: list[str] | None = None,
) -> dict[str, TrainResult]:
    """Train, evaluate, explain, register. Returns one result per target trained.

    Labels are checked before any work (``training.adapt.plan_target``): a target that
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
    missing = [t for t in targets if not dataset.has_labels(LABEL_COLUMN[t])]
    if missing and len(missing) == len(targets):
        raise LabelError(
            dataset.root / "preps.csv", f"no {', '.join(LABEL_COLUMN[t] for t in missing)} "
            "labels: training needs the label column filled for the preparations to learn from"
        )
    plans = _plan(dataset, targets, notes)
    targets = tuple(t for t in targets if plans[t].trainable)
    for t in targets:  # seconds of checks before minutes of work
        if _validation(settings, plans[t]) == "heldout":
            check_batches(dataset, LABEL_COLUMN[t], settings)
    tracking.configure()
    progress = progress or _no_progress
    progress("features (DLS analysis)", 0, 1)
    table = build_features(dataset, n_jobs=settings.n_jobs)
    progress("features (DLS analysis)", 1, 1)
    problems = input_report.collect(table.errors, table.warnings,
                                    input_report.general_warnings(dataset))
    if table.errors:
        raise input_report.InputProblemsError(dataset.root, problems)
    results = {}
    for t in targets:
        if _validation(settings, plans[t]) == "heldout":
            results[t] = _train_target(t, dataset, table.frame, settings, progress)
        else:
            results[t] = _train_small(t, dataset, table.frame, settings, progress, plans[t])
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
    from exoqc.training.adapt import plan_target

    groups = batch_groups(dataset.preps)
    has_batch = not groups.str.startswith("prep:").all()
    plans = {}
    for t in targets:
        column = LABEL_COLUMN[t]
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


def _validation(settings: TrainSettings, plan) -> str:
    from exoqc.training.adapt import SMALL_DATA_MAX

    if settings.validation != "auto":
        return settings.validation
    return "repeated_cv" if plan.n_labelled < SMALL_DATA_MAX else "heldout"


def _train_small(target: Target, dataset: Dataset, features: pd.DataFrame,
                 settings: TrainSettings, progress: ProgressCallback, plan) -> TrainResult:
    """A lab's small dataset: candidates with and without the prior (training.lab_job)."""
    from exoqc.training.lab_job import train_lab_target
    from exoqc.training.prior import reference_prior

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


@dataclass
class _Split:
    features: pd.DataFrame
    labels: np.ndarray  # class positions
    groups: pd.Series
    train: np.ndarray
    test: np.ndarray
    folds: list[tuple[np.ndarray, np.ndarray]]

    def part(self, positions: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
        return self.features.iloc[positions], self.labels[positions]


def _split(dataset: Dataset, features: pd.DataFrame, target: Target,
           settings: TrainSettings) -> _Split:
    classes = LABEL_VALUES[LABEL_COLUMN[target]]
    labelled = dataset.preps[LABEL_COLUMN[target]].dropna()
    features = features.loc[labelled.index]
    labels = labelled.map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=int)
    groups = batch_groups(dataset.preps.loc[labelled.index])
    train, test = heldout_split(pd.Series(labels), groups, settings.test_fraction, settings.seed)
    folds = cv_folds(pd.Series(labels[train]), groups.iloc[train], settings.n_folds,
                     settings.seed)
    return _Split(features, labels, groups, train, test, folds)


def _kind(target: Target) -> ModelKind:
    return "multiclass" if target == "purity" else "binary"


def booster_labels(kind: ModelKind, positions: np.ndarray) -> np.ndarray:
    """XGBoost's labels: class positions, or for binary 1 = the first class (potent)."""
    return (positions == 0).astype(float) if kind == "binary" else positions.astype(float)


def _train_target(target: Target, dataset: Dataset, features: pd.DataFrame,
                  settings: TrainSettings, progress: ProgressCallback) -> TrainResult:
    classes = LABEL_VALUES[LABEL_COLUMN[target]]
    kind = _kind(target)
    split = _split(dataset, features, target, settings)
    x_train, y_train = split.part(split.train)
    x_test, y_test = split.part(split.test)
    # Each assay skipped at random in some training rows, so that a call does not hinge
    # on which assays a lab ran (features/groups.py); the domain keeps the real rows.
    x_fit = mask_groups(x_train, settings.mask_rate, settings.seed)
    folds = fold_matrices(x_fit, booster_labels(kind, y_train), split.folds)
    width = len(classes) if kind == "multiclass" else 1

    experiment_id = tracking.experiment_id(tracking.EXPERIMENTS[target])
    run_name = f"{target}-{time.strftime('%Y%m%d-%H%M%S')}"
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        mlflow.set_tags({"exoqc.target": target, "exoqc.version": __version__,
                         "exoqc.dataset": str(dataset.root)})
        mlflow.log_params({
            "target": target, "model": f"xgboost {kind}", "n_train": len(split.train),
            "n_test": len(split.test), "n_features": features.shape[1],
            "n_batches_train": split.groups.iloc[split.train].nunique(),
            "n_batches_test": split.groups.iloc[split.test].nunique(),
            "n_trials": settings.n_trials, "n_folds": settings.n_folds,
            "test_fraction": settings.test_fraction, "seed": settings.seed,
            "mask_rate": settings.mask_rate,
        })
        _log_datasets(dataset, split, target, classes)
        mlflow.log_text(catalog_frame().to_csv(index=False), "feature_catalog.csv")

        result = _search(target, folds, len(split.train), kind, width, settings, progress)
        best = result.best
        mlflow.log_params({f"best_{k}": v for k, v in best.hyperparameters.items()})
        mlflow.log_param("n_rounds", best.cv.n_rounds)
        cv_metrics = _log_cv(best.cv, y_train, split.folds, kind, classes)

        progress(f"{target}: final model", 0, 1)
        params = booster_params(kind, best.hyperparameters, len(classes), settings.seed,
                                settings.n_jobs)
        booster = fit_final(x_fit, booster_labels(kind, y_train), params, best.cv.n_rounds)
        check = choose_calibration(_margins(best.cv, kind), y_train, split.folds)
        mlflow.log_params({"calibration": check.calibration.kind})
        mlflow.log_metrics({"oof_brier_uncalibrated": check.brier_uncalibrated,
                            "oof_brier_calibrated_crossfit": check.brier_calibrated})
        # Conformal sets (CV+) on the same out-of-fold predictions, with the fold boosters.
        oof_proba = check.calibration.probabilities(_margins(best.cv, kind))
        conformal = fit_cv_plus(oof_proba, y_train, [valid for _, valid in split.folds])

        regressor, readouts, readout_metrics = None, (), {}
        if target == "potency":
            regressor, readouts, readout_metrics = _fit_readouts(
                dataset, split, settings, progress)

        spec = ModelSpec(target=target, classes=classes,
                         feature_names=tuple(features.columns), calibration=check.calibration,
                         readouts=readouts,
                         domain=ApplicabilityDomain().fit(
                             x_train, booster.get_score(importance_type="total_gain")).to_dict(),
                         conformal=conformal.to_dict(), exoqc_version=__version__)
        predictor = ExoqcPredictor(spec, booster, regressor, best.cv.boosters)
        test_proba = predictor.predict_proba(x_test)
        test_metrics = evaluate.classification_metrics(test_proba, y_test, classes)
        mlflow.log_metrics({f"test_{k}": v for k, v in test_metrics.items()})
        log_conformal(conformal, oof_proba, y_train, split.folds,
                      predictor.conformal_probabilities(x_test), y_test, classes, target)
        _log_figure(evaluate.confusion_figure(
            y_test, test_proba.argmax(axis=1), classes,
            f"{target.capitalize()} model: true vs predicted class\n"
            f"held-out preparations (n={len(y_test)})"),
            "confusion_matrix.png")
        _log_figure(evaluate.reliability_figure(
            test_proba, y_test, classes,
            f"{target.capitalize()} model: predicted probability vs observed frequency\n"
            f"held-out preparations (n={len(y_test)})"),
            "calibration_reliability.png")

        baseline_metrics = _evaluate_baselines(target, split, classes, test_metrics)
        progress(f"{target}: SHAP", 0, 1)
        _log_global_shap(booster, x_test, classes, target, settings)

        progress(f"{target}: registering", 0, 1)
        registered = tracking.REGISTERED_MODELS[target]
        version = log_and_register(spec, booster, regressor, x_test.head(5), registered,
                                   best.cv.boosters)
        metric = PRIMARY_METRIC[target]
        decision = decide_champion(
            registered, version, test_metrics[metric], metric,
            lambda champion: evaluate.classification_metrics(
                champion.predict_proba(x_test), y_test, classes)[metric],
        )
        mlflow.log_metric("champion_promoted", float(decision.promoted))
        best_baseline = max(baseline_metrics,
                            key=lambda n: baseline_metrics[n].get(metric, -np.inf))
        mlflow.set_tags({
            "exoqc.model_version": version,
            "exoqc.champion_decision": decision.reason,
            # The run's description in the MLflow UI.
            "mlflow.note.content": (
                f"**{target.capitalize()} model** trained by `exoqc train` on "
                f"{len(split.train)} preparations ({dataset.root}); held out by batch: "
                f"{len(split.test)}.\n\nHeld-out {metric}: **{test_metrics[metric]:.3f}** "
                f"(best baseline, {best_baseline}: "
                f"{baseline_metrics[best_baseline][metric]:.3f}).\n\nRegistered as "
                f"{registered} version {version}; champion: {decision.reason}.\n\n"
                "Figures: `confusion_matrix.png`, `calibration_reliability.png` and the SHAP "
                "plots in `shap/`. Per-fold CV metrics are logged with the fold as step."),
        })
        _describe_version(registered, version, target, dataset, split, test_metrics,
                          baseline_metrics, readout_metrics, run.info.run_id, decision)
        return TrainResult(target, run.info.run_id, version, decision, test_metrics,
                           baseline_metrics, cv_metrics, readout_metrics)


def _search(target: str, folds, n_rows: int, kind: ModelKind, width: int,
            settings: TrainSettings, progress: ProgressCallback,
            n_trials: int | None = None, label: str = "search") -> SearchResult:
    n_trials = n_trials or settings.n_trials

    experiment_id = mlflow.active_run().info.experiment_id

    def on_trial(outcome: TrialOutcome) -> None:
        with mlflow.start_run(run_name=f"{label}-trial-{outcome.number:03d}", nested=True,
                              experiment_id=experiment_id):
            mlflow.log_params(outcome.hyperparameters)
            mlflow.log_metrics({"cv_loss": outcome.cv.loss,
                                "n_rounds": float(outcome.cv.n_rounds)})
        progress(f"{target}: {label}", outcome.number + 1, n_trials)

    n_classes = width if kind == "multiclass" else 2
    return search(folds, n_rows, kind, n_classes, n_trials, settings.seed, settings.n_jobs,
                  output_width=width, on_trial=on_trial)


def _margins(cv: CVResult, kind: ModelKind) -> np.ndarray:
    return cv.oof_margin.ravel() if kind == "binary" else cv.oof_margin


def _log_cv(cv: CVResult, labels: np.ndarray, folds, kind: ModelKind,
            classes: tuple[str, ...]) -> dict[str, float]:
    """Per-fold metrics (step = fold) and their mean, from out-of-fold probabilities."""
    proba = Calibration().probabilities(_margins(cv, kind))
    per_fold = []
    for step, (_, valid) in enumerate(folds):
        metrics = evaluate.classification_metrics(proba[valid], labels[valid], classes)
        mlflow.log_metrics({f"cv_fold_{k}": v for k, v in metrics.items()}, step=step)
        per_fold.append(metrics)
    keys = set.intersection(*(set(m) for m in per_fold))
    means = {f"cv_{k}": float(np.mean([m[k] for m in per_fold])) for k in sorted(keys)}
    means.update({f"cv_{k}_std": float(np.std([m[k] for m in per_fold])) for k in sorted(keys)})
    mlflow.log_metrics(means)
    return means


def _log_datasets(dataset: Dataset, split: _Split, target: str,
                  classes: tuple[str, ...]) -> None:
    label = LABEL_COLUMN[target]
    for context, positions in (("training", split.train), ("test", split.test)):
        frame = split.features.iloc[positions].copy()
        frame[label] = np.asarray(classes)[split.labels[positions]]
        frame["batch"] = split.groups.iloc[positions].to_numpy()
        frame = frame.reset_index()
        tracking.log_table_input(frame, dataset.root, f"{dataset.root.name}-{context}",
                                 context, targets=label)


def _log_figure(fig, name: str) -> None:
    mlflow.log_figure(fig, name, save_kwargs=PNG_SAVE_KWARGS)
    plt.close(fig)


def _evaluate_baselines(target: str, split: _Split, classes: tuple[str, ...],
                        model_metrics: dict[str, float]) -> dict[str, dict[str, float]]:
    """Fit each baseline on the training split, score it on the held-out split."""
    x_train, y_train = split.part(split.train)
    x_test, y_test = split.part(split.test)
    results: dict[str, dict[str, float]] = {}
    for name, estimator in baselines.baselines_for(target).items():
        estimator.fit(x_train, y_train)
        proba = baselines.class_probabilities(estimator, x_test, len(classes))
        metrics = evaluate.classification_metrics(proba, y_test, classes)
        results[name] = metrics
        mlflow.log_metrics({f"baseline_{name}_test_{k}": v for k, v in metrics.items()})
    metric = PRIMARY_METRIC[target]
    best_name = max(results, key=lambda n: results[n].get(metric, -np.inf))
    # A held-out split of one class has no ROC-AUC: the margin is then NaN, not a crash.
    margin = model_metrics.get(metric, np.nan) - results[best_name].get(metric, np.nan)
    mlflow.log_metrics({f"test_{metric}_margin_over_best_baseline": margin,
                        "beats_all_baselines": float(margin > 0)})
    mlflow.set_tag("exoqc.best_baseline", best_name)
    table = pd.DataFrame(results).T
    table.loc["xgboost (this model)"] = pd.Series(model_metrics)
    mlflow.log_text(table.to_csv(index_label="model"), "baselines_vs_model.csv")
    return results


def _log_global_shap(booster, x_test: pd.DataFrame, classes: tuple[str, ...], target: str,
                     settings: TrainSettings) -> None:
    rows = x_test
    if len(rows) > settings.shap_max_rows:
        rows = rows.sample(settings.shap_max_rows, random_state=settings.seed)
    explanation = explain.explain(booster, rows)
    figures = explain.global_figures(explanation, classes, target)
    for name, fig in figures.items():
        _log_figure(fig, f"shap/{name}")
    table = explain.shap_table(explanation, list(rows.columns), rows.index, classes)
    with_labels = table.assign(feature_label=table["feature"].map(label_of))
    mlflow.log_text(with_labels.to_csv(index=False), "shap/shap_values_heldout.csv")


def _fit_readouts(dataset: Dataset, split: _Split, settings: TrainSettings,
                  progress: ProgressCallback):
    """Multi-output regressor of log2 fold change for the readouts every training
    preparation has; skipped (and said so) when the dataset has none."""
    preps = dataset.preps.loc[split.features.index]
    readouts = tuple(r for r in ASSAY_READOUTS
                     if r in preps and preps[r].iloc[split.train].notna().all())
    if not readouts:
        mlflow.set_tag("exoqc.readouts", "none: no assay readout is given for every "
                       "training preparation")
        return None, (), {}
    observed = np.log2(preps[list(readouts)].to_numpy(dtype=float))
    x_train = split.features.iloc[split.train]
    y_train = observed[split.train]
    folds = fold_matrices(x_train, y_train, split.folds)
    # The default hyperparameters, no search: the readouts are secondary to the potency
    # call, and a search cost a fifth of `make run` (benchmarks/first_run.py).
    result = _search("potency", folds, len(split.train), "regression", len(readouts),
                     settings, progress, n_trials=1, label="readouts")
    params = booster_params("regression", result.best.hyperparameters, 0, settings.seed,
                            settings.n_jobs)
    regressor = fit_final(x_train, y_train, params, result.best.cv.n_rounds)
    test_rows = split.test[np.isfinite(observed[split.test]).all(axis=1)]
    predicted = regressor.predict(to_matrix(split.features.iloc[test_rows]))
    metrics = evaluate.regression_metrics(
        predicted.reshape(len(test_rows), -1), observed[test_rows], readouts)
    mlflow.log_metrics({f"test_readout_{k}": v for k, v in metrics.items()})
    mlflow.log_params({f"readouts_best_{k}": v for k, v in result.best.hyperparameters.items()})
    mlflow.set_tag("exoqc.readouts", ", ".join(readouts))
    return regressor, readouts, metrics


def _metric_name(key: str) -> str:
    """``recall_high`` -> ``recall of 'high'``; the rest as a scientist writes them."""
    if key.startswith("recall_"):
        return f"recall of '{key.removeprefix('recall_')}'"
    return _METRIC_NAMES.get(key, key.replace("_", " "))


_METRIC_NAMES = {
    "macro_f1": "macro-F1", "balanced_accuracy": "balanced accuracy",
    "brier": "Brier score (lower is better)", "roc_auc": "ROC AUC",
}


def _describe_version(registered: str, version: str, target: str, dataset: Dataset,
                      split: _Split, test_metrics: dict[str, float],
                      baseline_metrics: dict[str, dict[str, float]],
                      readout_metrics: dict[str, float], run_id: str,
                      decision: ChampionDecision) -> None:
    """Descriptions the model registry page shows (Markdown): what the model predicts,
    from which data, how well on held-out preparations, where its inputs are explained."""
    client = mlflow.MlflowClient()
    what = {
        "purity": "Purity class of an exosome (small EV) preparation — **high / medium / "
                  "low** — from DLS, marker, particle/protein and cargo features.",
        "potency": "Likely functional potency of an exosome preparation — **potent / "
                   "subpotent**, with a calibrated probability — and, where trained, the "
                   "assay readouts (fold change vs control).",
    }[target]
    client.update_registered_model(
        registered, description=f"{what}\n\nInputs: the exoqc feature table (each "
        "version's description links its training run's `feature_catalog.csv`; the "
        "catalog is also in the project's docs/features.md). Trained with `exoqc train`; "
        "the alias 'champion' marks the version used for scoring. Each version's "
        "description gives its training data and held-out metrics.")
    metric = PRIMARY_METRIC[target]
    best = max(baseline_metrics, key=lambda n: baseline_metrics[n].get(metric, -np.inf))
    n_test = len(split.test)
    experiment_id = client.get_run(run_id).info.experiment_id
    lines = [
        what,
        "",
        f"**Training data**: `{dataset.root}` — {len(split.train)} preparations from "
        f"{split.groups.iloc[split.train].nunique()} batches. Held out by batch, never seen "
        f"in training or tuning: {n_test} preparations from "
        f"{split.groups.iloc[split.test].nunique()} batches.",
        "",
        f"**Held-out metrics** ({n_test} preparations; the champion is chosen on "
        f"{_metric_name(metric)}):",
        "",
        f"| metric | this version | best baseline ({best.replace('_', ' ')}) |",
        "|---|---|---|",
        *(f"| {_metric_name(k)} | {v:.3f} | "
          f"{baseline_metrics[best][k]:.3f} |" if k in baseline_metrics[best]
          else f"| {_metric_name(k)} | {v:.3f} | |" for k, v in test_metrics.items()),
    ]
    r2 = {k.removeprefix("r2_"): v for k, v in readout_metrics.items() if k.startswith("r2_")}
    if r2:
        lines += [
            "",
            "**Assay readouts**, held out: R² of log2 fold change (0: no better than the "
            "training mean)",
            "",
            "| readout | R² |",
            "|---|---|",
            *(f"| {name.replace('_', ' ')} | {value:.3f} |" for name, value in r2.items()),
        ]
    catalog = "feature_catalog.csv"
    lines += [
        "",
        f"**Feature catalog**: [{catalog}]({run_route(experiment_id, run_id, catalog)}) of "
        f"the [training run]({run_route(experiment_id, run_id)}) (`runs:/{run_id}/{catalog}`):"
        " every input feature with its label, unit and meaning. SHAP figures of the "
        f"held-out preparations: [shap/]({run_route(experiment_id, run_id, 'shap')}).",
        "",
        f"**Champion**: {'promoted' if decision.promoted else 'not promoted'} — "
        f"{decision.reason}.",
    ]
    client.update_model_version(registered, version, description="\n".join(lines))


def reference_cohort(settings: Settings | None = None) -> Path:
    """The default training cohort: simulated once with a fixed seed, then reused.

    Written to a temporary folder and renamed into place, so an interrupted simulation is
    never mistaken for a complete cohort.
    """
    from exoqc.simulate import simulate_cohort

    settings = settings or get_settings()
    n, seed = settings.reference_cohort_size, settings.reference_cohort_seed
    folder = settings.data_dir / f"reference-cohort-n{n}-seed{seed}-v{__version__}"
    if folder.is_dir():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".simulating-") as tmp:
        simulate_cohort(Path(tmp) / "cohort", n_preps=n, seed=seed)
        try:
            os.rename(Path(tmp) / "cohort", folder)
        except OSError:
            if not folder.is_dir():  # another process finishing first is fine
                raise
    return folder
