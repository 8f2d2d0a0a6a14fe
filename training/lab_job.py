"""``exoqc train`` on a lab's own small dataset (fewer than ``label_plan.SMALL_DATA_MAX``
labelled preparations): one MLflow run per target that

1. scores every candidate (with and without the reference prior, and the fallbacks) by
   repeated grouped cross-validation on the lab's preparations (whole batches validated
   together), and records the candidates, their scores and the choice;
2. reports the chosen model's metric as the mean over repeats with a batch-bootstrap
   95 % interval;
3. fits the chosen model on all the lab's preparations, explains it with SHAP on them, and
   takes its applicability domain from them;
4. registers it and moves ``champion`` only when it is better than the champion beyond
   noise on the same preparations (paired batch bootstrap of the metric difference).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException

from exoqc import __version__, contracts, tracking
from exoqc.contracts import CHAMPION_ALIAS, LABEL_COLUMNS, PRIMARY_METRIC, Target
from exoqc.dataset import LABEL_VALUES, Dataset
from exoqc.features import catalog_frame
from exoqc.model.conformal import fit_conformal
from exoqc.model.domain import ApplicabilityDomain
from exoqc.model.load import load_model
from exoqc.model.predictor import Calibration, ExoqcPredictor, ModelSpec
from exoqc.tracking import store_lock
from exoqc.training import adapt, evaluate, repeated_cv
from exoqc.training.candidates import (
    BoosterCandidate,
    Candidate,
    Prior,
    candidate_by_name,
)
from exoqc.training.conformal_folds import lab_conformal
from exoqc.training.conformal_report import log_calibration
from exoqc.training.describe import describe_lab_version
from exoqc.training.lab_final import LabModel, final_model, oof_margins
from exoqc.training.label_plan import LabelPlan
from exoqc.training.registry import ChampionDecision, log_and_register
from exoqc.training.result import ProgressCallback, TrainResult
from exoqc.training.run_log import log_figure, log_global_shap
from exoqc.training.split import batch_groups

if TYPE_CHECKING:
    from exoqc.training.job import TrainSettings

VALIDATION = "repeated grouped CV"


def train_lab_target(target: Target, dataset: Dataset, features: pd.DataFrame,
                     settings: TrainSettings, progress: ProgressCallback,
                     plan: LabelPlan, prior: Prior | None,
                     prior_note: str) -> TrainResult:
    """Train, choose, explain and register one target on a lab's small dataset."""
    column = LABEL_COLUMNS[target]
    classes = LABEL_VALUES[column]
    metric = PRIMARY_METRIC[target]
    labelled = dataset.preps[column].dropna()
    x = features.loc[labelled.index]
    y = labelled.map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=int)
    groups = batch_groups(dataset.preps.loc[labelled.index]).to_numpy()

    experiment_id = tracking.experiment_id(contracts.EXPERIMENTS[target])
    run_name = f"{target}-lab-{time.strftime('%Y%m%d-%H%M%S')}"
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        mlflow.set_tags({"exoqc.target": target, "exoqc.version": __version__,
                         "exoqc.dataset": str(dataset.root), "exoqc.validation": VALIDATION,
                         "exoqc.prior": prior_note})
        n_folds = repeated_cv.n_folds_for(y, groups)
        mlflow.log_params({
            "target": target, "validation": VALIDATION, "n_labelled": len(y),
            "n_batches": len(np.unique(groups)), "cv_repeats": settings.cv_repeats,
            "n_folds": n_folds, "seed": settings.seed, "prior": prior_note[:480],
            "n_features": x.shape[1],
        })
        if plan.notes:
            mlflow.set_tag("exoqc.label_notes", " | ".join(plan.notes)[:4900])
        mlflow.log_text(catalog_frame().to_csv(index=False), "feature_catalog.csv")
        frame = x.copy()
        frame[column] = labelled.to_numpy()
        frame["batch"] = groups
        tracking.log_table_input(frame.reset_index(), dataset.root,
                                 f"{dataset.root.name}-training", "training", targets=column)

        selection = adapt.select(x, y, groups, target, classes, prior, settings.seed,
                                 settings.cv_repeats, progress, only=settings.candidates)
        table = selection.table()
        mlflow.log_text(table.to_csv(index=False), "candidates.csv")
        for score in selection.scores:
            mlflow.log_metric(f"candidate_{score.name}_cv_{metric}", score.mean)
        chosen = selection.chosen
        low, high = selection.interval
        cv_metrics = _mean_metrics(chosen.oof, y, classes)
        mlflow.log_metrics({f"cv_{k}": v for k, v in cv_metrics.items()})
        mlflow.log_metrics({f"cv_{metric}_ci_low": low, f"cv_{metric}_ci_high": high})
        baseline_metrics = {s.name: _mean_metrics(s.oof, y, classes)
                            for s in selection.scores if not s.is_booster}
        for name, values in baseline_metrics.items():
            mlflow.log_metrics({f"baseline_{name}_cv_{k}": v for k, v in values.items()})
        mlflow.log_param("chosen_candidate", chosen.name)
        mlflow.set_tag("exoqc.choice", selection.rule)
        fallback_note = ""
        if not chosen.is_booster:
            fallback_note = (f"the fallback {chosen.name} is chosen: it is registered with "
                             "its coefficients or thresholds in the model's spec (no "
                             "booster) and scored and explained like any exoqc model")
            mlflow.set_tag("exoqc.fallback_chosen", fallback_note)
        log_figure(evaluate.confusion_figure(
            y, chosen.oof_mean.argmax(axis=1), classes,
            f"{target.capitalize()} ({chosen.name}): out-of-fold predictions\n"
            f"{len(y)} preparations, {settings.cv_repeats} repeats"), "confusion_matrix.png")

        progress(f"{target}: final model on all {len(y)} preparations", 0, 1)
        candidate = candidate_by_name(chosen.name, target, prior, settings.seed)
        with repeated_cv.quiet():
            final = final_model(candidate, x, y, classes, chosen.oof[0], selection.repeats[0],
                                dataset.preps.loc[labelled.index], settings.seed)
        _log_final(final)
        calibration = (final.calibration.calibration if final.calibration
                       else Calibration())
        if isinstance(candidate, BoosterCandidate):
            # Conformal sets (CV+, exoqc.model.conformal) with the candidate's fold
            # boosters, calibrated as the registered model's probabilities are: a lab of 50
            # preparations still gets valid, if larger, sets.
            conformal, fold_boosters = lab_conformal(candidate, x, y, groups, len(classes),
                                                     calibration, settings.seed)
        else:
            # A fallback has no boosters: its sets come from the first repeat's
            # out-of-fold probabilities (each preparation scored once, by a fold model that
            # never saw its batch), calibrated as the registered model's are.
            conformal = fit_conformal(calibration.probabilities(oof_margins(chosen.oof[0])), y,
                                      groups=groups)
            fold_boosters = []
        log_calibration(conformal, classes)
        spec = ModelSpec(target=target, classes=classes, feature_names=tuple(x.columns),
                         calibration=calibration,
                         readouts=final.readouts,
                         domain=ApplicabilityDomain().fit(
                             _domain_rows(x, candidate, prior), final.importance).to_dict(),
                         conformal=conformal.to_dict(), exoqc_version=__version__,
                         estimator=final.estimator)
        progress(f"{target}: SHAP", 0, 1)
        log_global_shap(ExoqcPredictor(spec, final.booster), x, classes, target,
                        settings.shap_max_rows, settings.seed)

        progress(f"{target}: registering", 0, 1)
        registered = contracts.REGISTERED_MODELS[target]
        version = log_and_register(spec, final.booster, final.regressor, x.head(5),
                                   registered, fold_boosters)
        mlflow.set_tag("exoqc.validation", VALIDATION)
        decision = _decide_paired(registered, version, chosen, x, y, groups, classes,
                                  metric, settings.seed)
        mlflow.log_metric("champion_promoted", float(decision.promoted))
        test_metrics = {**cv_metrics, f"{metric}_ci_low": low, f"{metric}_ci_high": high}
        description = describe_lab_version(target, dataset, len(y), len(np.unique(groups)),
                                           n_folds, settings.cv_repeats, selection, metric,
                                           prior_note, plan, fallback_note, version,
                                           decision, registered)
        mlflow.set_tags({"exoqc.model_version": version,
                         "exoqc.champion_decision": decision.reason,
                         "mlflow.note.content": description})
        client = mlflow.MlflowClient()
        client.set_model_version_tag(registered, version, "exoqc.validation", VALIDATION)
        client.update_model_version(registered, version, description=description)
        return TrainResult(target, run.info.run_id, version, decision, test_metrics,
                           baseline_metrics, cv_metrics, final.readout_metrics,
                           validation=VALIDATION, interval=(low, high), chosen=chosen.name,
                           notes=list(plan.notes), skipped=final.skipped)


def _log_final(final: LabModel) -> None:
    """Calibration and readouts as the held-out path logs them, and what was skipped."""
    if final.calibration is not None:
        mlflow.log_metrics({"oof_brier_uncalibrated": final.calibration.brier_uncalibrated,
                            "oof_brier_calibrated_crossfit": final.calibration.brier_calibrated})
    mlflow.log_param("calibration", final.calibration.calibration.kind
                     if final.calibration else "none")
    if final.readout_metrics:
        mlflow.log_metrics({f"cv_readout_{k}": v for k, v in final.readout_metrics.items()})
    mlflow.set_tag("exoqc.readouts", ", ".join(final.readouts) or "none")
    if final.skipped:
        mlflow.set_tag("exoqc.skipped", " | ".join(final.skipped)[:4900])


def _domain_rows(x: pd.DataFrame, candidate: Candidate, prior: Prior | None) -> pd.DataFrame:
    """The preparations the applicability domain is fitted on: the lab's, and for a model
    that carries the prior also the prior's (it has learned from them, so a lab
    preparation like them is no extrapolation). Twenty preparations span too narrow a
    range on their own: with them alone almost every new batch would be flagged."""
    if prior is None or candidate.mode in {"lab_only", "fallback"}:
        return x
    return pd.concat([prior.features, x])


def _mean_metrics(oofs: list[np.ndarray], y: np.ndarray,
                  classes: tuple[str, ...]) -> dict[str, float]:
    """Each metric of the out-of-fold predictions, averaged over the repeats."""
    with repeated_cv.quiet():
        per_repeat = [evaluate.classification_metrics(o, y, classes) for o in oofs]
    keys = set.intersection(*(set(m) for m in per_repeat))
    out = {k: float(np.mean([m[k] for m in per_repeat])) for k in sorted(keys)}
    out["macro_f1"] = float(np.mean([repeated_cv.metric_of(o, y, classes, "macro_f1")
                                     for o in oofs]))
    return out


def _decide_paired(registered: str, version: str, chosen: adapt.CandidateScore,
                   x: pd.DataFrame, y: np.ndarray, groups: np.ndarray,
                   classes: tuple[str, ...], metric: str, seed: int) -> ChampionDecision:
    """Promote when there is no usable champion, or when the new model's out-of-fold
    metric minus the champion's on the same preparations has a 95 % batch-bootstrap
    interval above zero. A champion trained on these preparations is judged in-sample,
    which favours it: the rule errs towards keeping it."""
    client = mlflow.MlflowClient()
    new_score = repeated_cv.metric_of(chosen.oof_mean, y, classes, metric)
    with store_lock():
        try:
            current = client.get_model_version_by_alias(registered, CHAMPION_ALIAS)
        except MlflowException:
            current = None
        if current is None:
            promoted, previous, reason = True, None, "no champion yet"
        else:
            try:
                champion = load_model(f"models:/{registered}/{current.version}").predictor
                old = champion.predict_proba(x)
            except (ValueError, RuntimeError, MlflowException) as exc:
                promoted, previous = True, None
                reason = f"champion version {current.version} could not be evaluated ({exc})"
            else:
                previous = repeated_cv.metric_of(old, y, classes, metric)
                diff, (low, high) = repeated_cv.paired_difference(chosen.oof_mean, old, y, groups,
                                                            classes, metric, seed)
                promoted = bool(np.isfinite(low) and low > 0)
                verdict = ("better beyond noise than" if promoted
                           else "not better beyond noise than")
                reason = (f"{metric} {new_score:.3f} (out-of-fold) vs {previous:.3f} of "
                          f"champion version {current.version} on the same {len(y)} "
                          f"preparations: difference {diff:+.3f}, 95 % interval "
                          f"[{low:+.3f}, {high:+.3f}]: {verdict} the champion")
        if promoted:
            client.set_registered_model_alias(registered, CHAMPION_ALIAS, version)
    return ChampionDecision(promoted, None if current is None else str(current.version),
                            previous, new_score, reason)
