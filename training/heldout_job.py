"""A target trained on a large labelled dataset (``exoqc train`` from
``training.label_plan.SMALL_DATA_MAX`` labelled preparations on, and the reference cohort):

1. held-out test split by batch; grouped cross-validation by batch on the rest;
2. Optuna TPE search, each trial a nested run, early stopping on validation folds only;
3. final booster on the training split; calibration chosen on out-of-fold margins;
4. held-out metrics beside the baselines (MISEV-style rule, particle/protein-ratio rule,
   logistic regression) on the same split; confusion matrix and reliability figures;
5. global SHAP on the held-out split; the model as a pyfunc from code, registered, and
   ``champion`` moved only when the new version beats it on the held-out metric.

The potency run also fits one multi-output regressor for the assay readouts when the
dataset has them, packaged in the same model.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import mlflow
import numpy as np
import pandas as pd

from exoqc import __version__, contracts, tracking
from exoqc.contracts import LABEL_COLUMNS, PRIMARY_METRIC, Target
from exoqc.dataset import ASSAY_READOUTS, LABEL_VALUES, Dataset
from exoqc.features import catalog_frame
from exoqc.features.groups import mask_groups
from exoqc.model.conformal import fit_cv_plus
from exoqc.model.domain import ApplicabilityDomain
from exoqc.model.predictor import Calibration, ExoqcPredictor, ModelSpec
from exoqc.training import baselines, evaluate
from exoqc.training.calibrate import choose_calibration
from exoqc.training.conformal_report import log_conformal
from exoqc.training.describe import describe_version
from exoqc.training.fit import (
    CVResult,
    ModelKind,
    booster_labels,
    booster_params,
    classifier_kind,
    fit_final,
    fold_matrices,
    gain_importance,
    to_matrix,
)
from exoqc.training.registry import decide_champion, log_and_register
from exoqc.training.result import ProgressCallback, TrainResult
from exoqc.training.run_log import log_figure, log_global_shap
from exoqc.training.split import HeldoutSplit, split_target
from exoqc.training.tune import SearchResult, TrialOutcome, search

if TYPE_CHECKING:
    from exoqc.training.job import TrainSettings


def train_heldout_target(target: Target, dataset: Dataset, features: pd.DataFrame,
                  settings: TrainSettings, progress: ProgressCallback) -> TrainResult:
    classes = LABEL_VALUES[LABEL_COLUMNS[target]]
    kind = classifier_kind(target)
    split = split_target(dataset, features, target, settings.test_fraction,
                         settings.n_folds, settings.seed)
    x_train, y_train = split.part(split.train)
    x_test, y_test = split.part(split.test)
    # Each assay skipped at random in some training rows, so that a call does not hinge
    # on which assays a lab ran (features/groups.py); the domain keeps the real rows.
    x_fit = mask_groups(x_train, settings.mask_rate, settings.seed)
    folds = fold_matrices(x_fit, booster_labels(kind, y_train), split.folds)
    width = len(classes) if kind == "multiclass" else 1

    experiment_id = tracking.experiment_id(contracts.EXPERIMENTS[target])
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
        # counting batches, not preparations: only whole batches are exchangeable
        train_batches = split.groups.iloc[split.train].to_numpy()
        conformal = fit_cv_plus(oof_proba, y_train, [valid for _, valid in split.folds],
                                groups=train_batches)

        regressor, readouts, readout_metrics = None, (), {}
        if target == "potency":
            regressor, readouts, readout_metrics = _fit_readouts(
                dataset, split, settings, progress)

        spec = ModelSpec(target=target, classes=classes,
                         feature_names=tuple(features.columns), calibration=check.calibration,
                         readouts=readouts,
                         domain=ApplicabilityDomain().fit(
                             x_train, gain_importance(booster)).to_dict(),
                         conformal=conformal.to_dict(), exoqc_version=__version__)
        predictor = ExoqcPredictor(spec, booster, regressor, best.cv.boosters)
        test_proba = predictor.predict_proba(x_test)
        test_metrics = evaluate.classification_metrics(test_proba, y_test, classes)
        mlflow.log_metrics({f"test_{k}": v for k, v in test_metrics.items()})
        log_conformal(conformal, oof_proba, y_train, split.folds,
                      predictor.conformal_probabilities(x_test), y_test, classes, target,
                      train_batches)
        log_figure(evaluate.confusion_figure(
            y_test, test_proba.argmax(axis=1), classes,
            f"{target.capitalize()} model: true vs predicted class\n"
            f"held-out preparations (n={len(y_test)})"),
            "confusion_matrix.png")
        log_figure(evaluate.reliability_figure(
            test_proba, y_test, classes,
            f"{target.capitalize()} model: predicted probability vs observed frequency\n"
            f"held-out preparations (n={len(y_test)})"),
            "calibration_reliability.png")

        baseline_metrics = _evaluate_baselines(target, split, classes, test_metrics)
        progress(f"{target}: SHAP", 0, 1)
        log_global_shap(booster, x_test, classes, target, settings.shap_max_rows, settings.seed)

        progress(f"{target}: registering", 0, 1)
        registered = contracts.REGISTERED_MODELS[target]
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
        describe_version(registered, version, target, dataset, split, test_metrics,
                          baseline_metrics, readout_metrics, run.info.run_id, decision)
        return TrainResult(target, run.info.run_id, version, decision, test_metrics,
                           baseline_metrics, cv_metrics, readout_metrics)


def _search(target: Target, folds, n_rows: int, kind: ModelKind, width: int,
            settings: TrainSettings, progress: ProgressCallback,
            n_trials: int | None = None, label: str = "search") -> SearchResult:
    n_trials = n_trials or settings.n_trials

    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("the search runs inside a training run")
    experiment_id = run.info.experiment_id

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


def _log_datasets(dataset: Dataset, split: HeldoutSplit, target: Target,
                  classes: tuple[str, ...]) -> None:
    label = LABEL_COLUMNS[target]
    for context, positions in (("training", split.train), ("test", split.test)):
        frame = split.features.iloc[positions].copy()
        frame[label] = np.asarray(classes)[split.labels[positions]]
        frame["batch"] = split.groups.iloc[positions].to_numpy()
        frame = frame.reset_index()
        tracking.log_table_input(frame, dataset.root, f"{dataset.root.name}-{context}",
                                 context, targets=label)


def _evaluate_baselines(target: Target, split: HeldoutSplit, classes: tuple[str, ...],
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


def _fit_readouts(dataset: Dataset, split: HeldoutSplit, settings: TrainSettings,
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
