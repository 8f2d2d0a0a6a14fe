"""Metrics and diagnostic figures for the purity, potency and readout models.

Figures use Matplotlib's object API (no pyplot state), so they are safe in any process.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    balanced_accuracy_score,
    f1_score,
    mean_absolute_error,
    r2_score,
    recall_score,
    roc_auc_score,
)

from exoqc.training.calibrate import brier_score


def classification_metrics(
    probabilities: np.ndarray, labels: np.ndarray, classes: tuple[str, ...]
) -> dict[str, float]:
    """macro-F1, balanced accuracy, recall per class, ROC-AUC (one-vs-rest), Brier.

    ``labels`` are class positions into ``classes``; predictions are the most probable
    class. For two classes ``roc_auc`` is the AUC of the first class (potent).
    """
    predicted = probabilities.argmax(axis=1)
    positions = list(range(len(classes)))
    metrics = {
        "macro_f1": f1_score(labels, predicted, labels=positions, average="macro",
                             zero_division=0),
        "balanced_accuracy": balanced_accuracy_score(labels, predicted),
        "brier": brier_score(probabilities, labels),
    }
    recalls = recall_score(labels, predicted, labels=positions, average=None, zero_division=0)
    metrics.update({f"recall_{c}": r for c, r in zip(classes, recalls, strict=True)})
    present = np.unique(labels)
    if len(present) == len(classes):
        if len(classes) == 2:
            metrics["roc_auc"] = roc_auc_score(labels == 0, probabilities[:, 0])
        else:
            metrics["roc_auc"] = roc_auc_score(labels, probabilities, multi_class="ovr",
                                               average="macro", labels=positions)
    return {k: float(v) for k, v in metrics.items()}


def regression_metrics(
    predicted_log2: np.ndarray, observed_log2: np.ndarray, names: tuple[str, ...]
) -> dict[str, float]:
    """R² and mean absolute error per readout, on the log2 fold-change scale."""
    metrics: dict[str, float] = {}
    for i, name in enumerate(names):
        metrics[f"r2_{name}"] = float(r2_score(observed_log2[:, i], predicted_log2[:, i]))
        metrics[f"mae_log2_{name}"] = float(
            mean_absolute_error(observed_log2[:, i], predicted_log2[:, i])
        )
    metrics["r2_mean"] = float(np.mean([metrics[f"r2_{n}"] for n in names]))
    return metrics


def confusion_figure(
    labels: np.ndarray, predicted: np.ndarray, classes: tuple[str, ...], title: str
) -> Figure:
    fig = Figure(figsize=(4.8, 4.2), layout="constrained")
    ax = fig.subplots()
    ConfusionMatrixDisplay.from_predictions(
        labels, predicted, labels=list(range(len(classes))), display_labels=list(classes),
        ax=ax, colorbar=False, cmap="Blues",
    )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    return fig


def reliability_figure(
    probabilities: np.ndarray, labels: np.ndarray, classes: tuple[str, ...], title: str
) -> Figure:
    """Observed frequency against predicted probability, one curve per class (one-vs-rest).

    A calibrated model lies on the diagonal: of the preparations given 70 %, 70 % are that
    class. Binary models show the first (positive) class only.
    """
    fig = Figure(figsize=(5, 4.4), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    shown = classes[:1] if len(classes) == 2 else classes
    n_bins = max(3, min(10, len(labels) // 25))
    for k, name in enumerate(shown):
        observed, predicted = calibration_curve(
            labels == k, probabilities[:, k], n_bins=n_bins, strategy="quantile"
        )
        ax.plot(predicted, observed, marker="o", label=f"P({name})")
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed frequency")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(f"{title}\nBrier score {brier_score(probabilities, labels):.3f}", fontsize=10)
    return fig
