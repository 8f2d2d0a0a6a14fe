"""MLflow logging shared by both training paths (held-out split and a lab's small data):
figures, the global SHAP explanation, and metric names as a scientist writes them."""

from __future__ import annotations

import matplotlib.pyplot as plt
import mlflow
import pandas as pd
import xgboost as xgb
from matplotlib.figure import Figure

from exoqc.features import label_of
from exoqc.model.predictor import ExoqcPredictor
from exoqc.model.values import PNG_SAVE_KWARGS
from exoqc.training import explain


def log_figure(fig: Figure, name: str) -> None:
    """Log ``fig`` as the run artifact ``name`` (PNG) and close it."""
    mlflow.log_figure(fig, name, save_kwargs=PNG_SAVE_KWARGS)
    plt.close(fig)


def log_global_shap(model: xgb.Booster | ExoqcPredictor, rows: pd.DataFrame,
                    classes: tuple[str, ...], target: str, max_rows: int, seed: int) -> None:
    """SHAP figures (``shap/``) and values (``shap/shap_values_heldout.csv``) of up to
    ``max_rows`` of ``rows`` (a random sample beyond), with the catalog's feature labels."""
    if len(rows) > max_rows:
        rows = rows.sample(max_rows, random_state=seed)
    explanation = explain.explain(model, rows)
    figures = explain.global_figures(explanation, classes, target)
    for name, fig in figures.items():
        log_figure(fig, f"shap/{name}")
    table = explain.shap_table(explanation, list(rows.columns), rows.index, classes)
    with_labels = table.assign(feature_label=table["feature"].map(label_of))
    mlflow.log_text(with_labels.to_csv(index=False), "shap/shap_values_heldout.csv")


def metric_name(key: str) -> str:
    """``recall_high`` -> ``recall of 'high'``; the rest as a scientist writes them."""
    if key.startswith("recall_"):
        return f"recall of '{key.removeprefix('recall_')}'"
    return _METRIC_NAMES.get(key, key.replace("_", " "))


_METRIC_NAMES = {
    "macro_f1": "macro-F1", "balanced_accuracy": "balanced accuracy",
    "brier": "Brier score (lower is better)", "roc_auc": "ROC AUC",
}
