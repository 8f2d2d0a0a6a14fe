"""What a training run records about its conformal prediction sets.

- the calibration scores themselves (``conformal/calibration_scores.csv``: the held-out
  preparations' hinge scores; the same scores travel with the model in
  ``exoqc_model.json``);
- coverage per class at α ∈ {0.05, 0.1, 0.2}, cross-fitted by batch on the held-out
  preparations (each batch group's sets calibrated on the other groups only, so no
  preparation's own score calibrates its set), with the mean set size; as metrics and as
  the figure ``conformal_coverage.png``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.model_selection import GroupKFold

from exoqc.training.conformal import ConformalCalibration, coverage_by_class, cross_fitted_sets
from exoqc.training.explain import PNG_SAVE_KWARGS

ALPHAS = (0.05, 0.1, 0.2)


def log_conformal(conformal: ConformalCalibration, proba: np.ndarray, labels: np.ndarray,
                  groups: pd.Series, classes: tuple[str, ...], target: str) -> dict[str, float]:
    """Log the calibration (held-out ``proba``, ``labels``, batch ``groups``) and its
    cross-fitted coverage in the active run; returns the metrics."""
    mlflow.log_params({"conformal_method": conformal.method,
                       "conformal_alpha": conformal.alpha,
                       **{f"conformal_n_calibration_{c}": n
                          for c, n in zip(classes, conformal.n_per_class, strict=True)}})
    rows = [{"class": c, "hinge_score": s}
            for c, scores in zip(classes, conformal.scores, strict=True) for s in scores]
    mlflow.log_text(pd.DataFrame(rows, columns=["class", "hinge_score"]).to_csv(index=False),
                    "conformal/calibration_scores.csv")
    n_splits = min(5, groups.nunique())
    folds = list(GroupKFold(n_splits=n_splits).split(proba, labels, groups)) if (
        n_splits >= 2) else []
    metrics: dict[str, float] = {}
    table = []
    for alpha in ALPHAS:
        if not folds:
            break
        tag = f"a{round(alpha * 100):02d}"
        sets = cross_fitted_sets(proba, labels, folds, alpha)
        coverage = coverage_by_class(sets, labels)
        metrics.update({f"conformal_cv_coverage_{tag}_{c}": float(v)
                        for c, v in zip(classes, coverage, strict=True) if np.isfinite(v)})
        metrics[f"conformal_cv_mean_set_size_{tag}"] = float(sets.sum(axis=1).mean())
        table.append((alpha, coverage))
    mlflow.log_metrics(metrics)
    if table:
        fig = coverage_figure(table, classes, target, len(labels))
        mlflow.log_figure(fig, "conformal_coverage.png", save_kwargs=PNG_SAVE_KWARGS)
        plt.close(fig)
    return metrics


def coverage_figure(table: list[tuple[float, np.ndarray]], classes: tuple[str, ...],
                    target: str, n: int) -> Figure:
    """Coverage per class against the target 1 − α, one panel per α."""
    fig = Figure(figsize=(3.2 * len(table), 3.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(table), sharey=True))
    x = np.arange(len(classes))
    for ax, (alpha, coverage) in zip(axes, table, strict=True):
        ax.bar(x, np.nan_to_num(coverage), 0.6, color="#1565c0")
        ax.axhline(1 - alpha, color="black", linestyle="--", linewidth=1,
                   label="target 1 − α")
        ax.set_xticks(x, classes)
        ax.set_ylim(0.5, 1.02)
        ax.set_title(f"α = {alpha:g}", fontsize=10)
    axes[0].set_ylabel("share whose set holds their true class")
    axes[0].legend(loc="lower left", fontsize=7)
    fig.suptitle(f"{target.capitalize()} model: coverage of the conformal sets by true class\n"
                 f"held-out preparations (n={n}), cross-fitted by batch", fontsize=10)
    return fig
