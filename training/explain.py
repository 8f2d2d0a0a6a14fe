"""Global SHAP explanations of a trained model, with the catalog's readable feature names.

SHAP values come from ``shap.TreeExplainer`` on the native booster (exact TreeSHAP,
Lundberg et al., Nat Mach Intell 2020) and explain the model's margin: log-odds of a class.
For a preparation, base value + Σ SHAP values = the booster's margin for that class.
Multi-class models give values of shape (preparations, features, classes).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shap
import xgboost as xgb
from matplotlib.figure import Figure

from exoqc.features import label_of


def explain(booster: xgb.Booster, features: pd.DataFrame) -> shap.Explanation:
    """SHAP values of ``features`` (columns = the booster's feature names)."""
    explainer = shap.TreeExplainer(booster)
    explanation = explainer(features)
    explanation.feature_names = [label_of(name) for name in features.columns]
    return explanation


def class_slice(explanation: shap.Explanation, k: int) -> shap.Explanation:
    """The explanation of one class (multi-class) or the only output (binary)."""
    return explanation[:, :, k] if explanation.values.ndim == 3 else explanation


def mean_abs_shap(explanation: shap.Explanation, classes: tuple[str, ...]) -> pd.DataFrame:
    """Mean |SHAP| per feature (rows, readable labels) and class (columns)."""
    values = explanation.values
    if values.ndim == 2:
        table = {classes[0]: np.abs(values).mean(axis=0)}
    else:
        table = {c: np.abs(values[:, :, k]).mean(axis=0) for k, c in enumerate(classes)}
    frame = pd.DataFrame(table, index=explanation.feature_names)
    return frame.loc[frame.sum(axis=1).sort_values(ascending=False).index]


def shap_table(
    explanation: shap.Explanation, columns: list[str], index: pd.Index, classes: tuple[str, ...]
) -> pd.DataFrame:
    """SHAP values as a long table: prep_id, class, feature, feature value, SHAP value."""
    values = explanation.values
    per_class = [values] if values.ndim == 2 else [values[:, :, k] for k in range(len(classes))]
    frames = []
    for k, block in enumerate(per_class):
        frame = pd.DataFrame(block, index=index, columns=columns)
        frame = frame.stack(future_stack=True).rename("shap_value").reset_index()
        frame.columns = ["prep_id", "feature", "shap_value"]
        frame.insert(1, "class", classes[k])
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    data = pd.DataFrame(explanation.data, index=index, columns=columns)
    data = data.stack(future_stack=True).rename("feature_value").reset_index()
    data.columns = ["prep_id", "feature", "feature_value"]
    return table.merge(data, on=["prep_id", "feature"], how="left")


def _pyplot_figure(width: float, height: float) -> Figure:
    return plt.figure(figsize=(width, height))


def global_figures(
    explanation: shap.Explanation,
    classes: tuple[str, ...],
    target: str,
    n_dependence: int = 4,
    max_display: int = 15,
) -> dict[str, Figure]:
    """Figures for the MLflow run, by artifact file name.

    One beeswarm per class (per output for a binary model), a mean-|SHAP| bar stacked by
    class, and dependence plots of the top features for the first class.
    The caller logs them and closes them with ``plt.close(fig)``.
    """
    figures: dict[str, Figure] = {}
    n_outputs = 1 if explanation.values.ndim == 2 else len(classes)
    n_rows = explanation.values.shape[0]
    for k in range(n_outputs):
        name = classes[k]
        fig = _pyplot_figure(9, 7)
        shap.plots.beeswarm(class_slice(explanation, k), max_display=max_display, show=False,
                            plot_size=None)
        fig.suptitle(
            f"What drives the {target} model toward '{name}' — SHAP value per held-out "
            f"preparation ({n_rows}), log-odds; colour = feature value",
            fontsize=10,
        )
        fig.tight_layout()
        figures[f"shap_beeswarm_{name}.png"] = fig

    importance = mean_abs_shap(explanation, classes[:n_outputs]).head(max_display)[::-1]
    fig = _pyplot_figure(9, 7)
    ax = fig.add_subplot()
    left = np.zeros(len(importance))
    for name in importance.columns:
        ax.barh(importance.index, importance[name], left=left, label=name)
        left += importance[name].to_numpy()
    ax.set_xlabel("mean |SHAP value| (log-odds)")
    ax.set_title(f"Feature importance in the {target} model: mean |SHAP| over held-out "
                 "preparations, by class", fontsize=10)
    if n_outputs > 1:
        ax.legend(title="class", fontsize=8)
    fig.tight_layout()
    figures["shap_importance_bar.png"] = fig

    first = class_slice(explanation, 0)
    order = np.argsort(-np.abs(first.values).mean(axis=0))[:n_dependence]
    for rank, j in enumerate(order, start=1):
        fig = _pyplot_figure(6.5, 4.8)
        ax = fig.add_subplot()
        shap.plots.scatter(first[:, j], color=first, ax=ax, show=False)
        ax.set_title(
            f"Dependence: {explanation.feature_names[j]} → SHAP toward '{classes[0]}' "
            "(colour: strongest interacting feature)",
            fontsize=9,
        )
        fig.tight_layout()
        figures[f"shap_dependence_{rank}_{_slug(explanation.feature_names[j])}.png"] = fig
    return figures


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_").lower()[:60]
