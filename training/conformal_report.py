"""What a training run records about its conformal prediction sets.

- the calibration scores themselves (``conformal/calibration_scores.csv``; the same
  scores travel with the model in ``exoqc_model.json``);
- coverage per class at α ∈ {0.05, 0.1, 0.2}, twice: cross-fitted on the calibration
  preparations (each fold's sets from the other folds' scores) and on the held-out
  batches with the registered model (the honest check of the guarantee), with the mean
  set size; as metrics and as the figure ``conformal_coverage.png``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from exoqc.model.conformal import (
    BATCH,
    ConformalCalibration,
    coverage_by_class,
    cross_fitted_sets,
)
from exoqc.model.values import PNG_SAVE_KWARGS

ALPHAS = (0.05, 0.1, 0.2)


def log_conformal(conformal: ConformalCalibration, oof_proba: np.ndarray,
                  train_labels: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]],
                  test_proba: np.ndarray, test_labels: np.ndarray,
                  classes: tuple[str, ...], target: str,
                  train_batches: np.ndarray | None = None) -> dict[str, float]:
    """Log the calibration and its coverage in the active run; returns the metrics.

    ``test_proba``: what the registered model's p-values of the held-out preparations
    are computed from (``ExoqcPredictor.conformal_probabilities``); ``train_batches``:
    the training preparations' batches, for cross-fitted sets that count batches as the
    calibration does (None: by preparation)."""
    log_calibration(conformal, classes)
    metrics: dict[str, float] = {}
    table = []
    for alpha in ALPHAS:
        tag = f"a{round(alpha * 100):02d}"
        cross = coverage_by_class(
            cross_fitted_sets(oof_proba, train_labels, folds, alpha,
                              train_batches if conformal.unit == BATCH else None),
            train_labels)
        held = conformal.sets(test_proba, alpha)
        test = coverage_by_class(held, test_labels)
        for name, value in ((f"conformal_cv_coverage_{tag}", cross),
                            (f"conformal_test_coverage_{tag}", test)):
            metrics.update({f"{name}_{c}": float(v)
                            for c, v in zip(classes, value, strict=True) if np.isfinite(v)})
        metrics[f"conformal_test_mean_set_size_{tag}"] = float(held.sum(axis=1).mean())
        table.append((alpha, cross, test))
    mlflow.log_metrics(metrics)
    fig = coverage_figure(table, classes, target, len(test_labels))
    mlflow.log_figure(fig, "conformal_coverage.png", save_kwargs=PNG_SAVE_KWARGS)
    plt.close(fig)
    return metrics


def log_calibration(conformal: ConformalCalibration, classes: tuple[str, ...]) -> None:
    """The method, α, what counts as exchangeable (batches), the number of calibration
    preparations and of exchangeable units (batches) per class, and the scores."""
    mlflow.log_params({"conformal_method": conformal.method,
                       "conformal_alpha": conformal.alpha,
                       "conformal_exchangeable_unit": conformal.unit,
                       **{f"conformal_n_calibration_{c}": n
                          for c, n in zip(classes, conformal.n_per_class, strict=True)},
                       **({f"conformal_n_calibration_batches_{c}": n
                           for c, n in zip(classes, conformal.n_units_per_class,
                                           strict=True)} if conformal.unit == BATCH else {})})
    rows = [{"class": c, "hinge_score": s}
            for c, scores in zip(classes, conformal.scores, strict=True) for s in scores]
    mlflow.log_text(pd.DataFrame(rows, columns=["class", "hinge_score"]).to_csv(index=False),
                    "conformal/calibration_scores.csv")


def coverage_figure(table: list[tuple[float, np.ndarray, np.ndarray]],
                    classes: tuple[str, ...], target: str, n_test: int) -> Figure:
    """Coverage per class against the target 1 − α, one panel per α."""
    fig = Figure(figsize=(3.2 * len(table), 3.6), layout="constrained")
    axes = fig.subplots(1, len(table), sharey=True)
    x = np.arange(len(classes))
    for ax, (alpha, cross, test) in zip(np.atleast_1d(axes), table, strict=True):
        ax.bar(x - 0.2, np.nan_to_num(cross), 0.4, label="calibration (cross-fitted)",
               color="#90a4ae")
        ax.bar(x + 0.2, np.nan_to_num(test), 0.4, label=f"held-out batches (n={n_test})",
               color="#1565c0")
        ax.axhline(1 - alpha, color="black", linestyle="--", linewidth=1)
        ax.set_xticks(x, classes)
        ax.set_ylim(0.5, 1.02)
        ax.set_title(f"α = {alpha:g}: target ≥ {1 - alpha:.2f}", fontsize=10)
    np.atleast_1d(axes)[0].set_ylabel("share of preparations whose set holds their class")
    np.atleast_1d(axes)[0].legend(loc="lower left", fontsize=7)
    fig.suptitle(f"{target.capitalize()} model: coverage of the conformal prediction sets "
                 "by true class", fontsize=11)
    return fig
