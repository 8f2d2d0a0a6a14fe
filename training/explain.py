"""Global SHAP explanations of a trained model, with the catalog's readable feature names.

SHAP values come from ``shap.TreeExplainer`` on the native booster (exact TreeSHAP,
Lundberg et al., Nat Mach Intell 2020) and explain the model's margin: log-odds of a class.
For a preparation, base value + Σ SHAP values = the booster's margin for that class.
Multi-class models give values of shape (preparations, features, classes).
"""

from __future__ import annotations

import copy
import re
import textwrap
from typing import cast

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shap
import xgboost as xgb
from matplotlib.figure import Figure

from exoqc.features import label_of
from exoqc.model.predictor import ExoqcPredictor
from exoqc.model.values import CLASS_COLOURS, axis_label, plot_label


def explain(model: xgb.Booster | ExoqcPredictor, features: pd.DataFrame) -> shap.Explanation:
    """SHAP values of ``features`` (columns = the model's feature names): TreeSHAP of a
    booster, or the exact contributions of a fallback model (``exoqc.model.fallback``)."""
    if isinstance(model, ExoqcPredictor) and model.fallback is not None:
        explainer = model.explainer()
        values = explainer.shap_values(features.to_numpy(dtype=float))
        base = np.broadcast_to(explainer.expected_value if values.ndim == 3
                               else explainer.expected_value[0],
                               (len(features), *values.shape[2:]))
        explanation = shap.Explanation(values=values, base_values=base,
                                       data=features.to_numpy(dtype=float))
    else:
        booster = model.booster if isinstance(model, ExoqcPredictor) else model
        explanation = shap.TreeExplainer(booster)(features)
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
        frame = cast(pd.Series, frame.stack(future_stack=True)).rename("shap_value").reset_index()
        frame.columns = ["prep_id", "feature", "shap_value"]
        frame.insert(1, "class", classes[k])
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    data = pd.DataFrame(explanation.data, index=index, columns=columns)
    data = cast(pd.Series, data.stack(future_stack=True)).rename("feature_value").reset_index()
    data.columns = ["prep_id", "feature", "feature_value"]
    return table.merge(data, on=["prep_id", "feature"], how="left")


def _with_plot_labels(explanation: shap.Explanation) -> shap.Explanation:
    shown = copy.copy(explanation)
    shown.feature_names = [plot_label(name) for name in explanation.feature_names]
    return shown


def _toward(target: str, name: str) -> str:
    return f"'{name}'{' purity' if target == 'purity' else ''}"


def global_figures(
    explanation: shap.Explanation,
    classes: tuple[str, ...],
    target: str,
    n_dependence: int = 4,
    max_display: int = 15,
) -> dict[str, Figure]:
    """Figures for the MLflow run, by artifact file name.

    One beeswarm per class (per output for a binary model), a mean-|SHAP| bar (stacked by
    class for a multi-class model), and dependence plots of the top features for the first
    class. ``explanation`` holds the held-out preparations. Every figure is at most 850
    pixels wide at 100 dpi (the width of MLflow's artifact viewer on a laptop screen), with
    a title that names the model, the class and the held-out n. The caller logs them and
    closes them with ``plt.close(fig)``.
    """
    figures: dict[str, Figure] = {}
    n_outputs = 1 if explanation.values.ndim == 2 else len(classes)
    n_rows = explanation.values.shape[0]
    shown = _with_plot_labels(explanation)
    model = f"{target.capitalize()} model"
    for k in range(n_outputs):
        name = classes[k]
        fig = plt.figure(figsize=(8.5, 7.5))
        shap.plots.beeswarm(class_slice(shown, k), max_display=max_display, show=False,
                            plot_size=None)
        ax = fig.axes[0]
        ax.set_xlabel(f"SHAP value: push toward {_toward(target, name)} (log-odds)",
                      fontsize=11)
        ax.tick_params(axis="y", labelsize=10)
        fig.suptitle(
            f"{model}: what pushes a preparation toward {_toward(target, name)}\n"
            f"one dot per held-out preparation (n={n_rows}); colour: feature value, "
            "grey: not measured",
            fontsize=11,
        )
        fig.tight_layout()
        figures[f"shap_beeswarm_{name}.png"] = fig

    importance = mean_abs_shap(explanation, classes[:n_outputs]).head(max_display)[::-1]
    fig = plt.figure(figsize=(8.5, 6.5))
    ax = fig.add_subplot()
    left = np.zeros(len(importance))
    labels = [plot_label(label) for label in importance.index]
    for name in importance.columns:
        ax.barh(labels, importance[name], left=left, label=name,
                color=CLASS_COLOURS.get(name))
        left += importance[name].to_numpy()
    ax.set_xlabel("mean |SHAP value| (log-odds)")
    if n_outputs > 1:
        ax.legend(title="toward class", fontsize=9)
        by = "stacked by the class it pushes toward"
    else:
        by = f"toward {_toward(target, classes[0])}"
    ax.set_title(f"{model}: feature importance, {by}\n"
                 f"mean |SHAP| over the held-out preparations (n={n_rows})", fontsize=11)
    fig.tight_layout()
    figures["shap_importance_bar.png"] = fig

    first = class_slice(shown, 0)
    order = np.argsort(-np.abs(first.values).mean(axis=0))[:n_dependence]
    for rank, j in enumerate(order, start=1):
        label = explanation.feature_names[j]
        fig = plt.figure(figsize=(7.5, 5.2))
        ax = fig.add_subplot()
        shap.plots.scatter(first[:, j], color=first, ax=ax, show=False)
        ax.set_xlabel(axis_label(label), fontsize=11)
        ax.set_ylabel(f"SHAP value toward {_toward(target, classes[0])}\n(log-odds)",
                      fontsize=11)
        fig.suptitle(
            textwrap.fill(f"{model}: how {label} moves the '{classes[0]}' score", 90) + "\n"
            f"one dot per held-out preparation (n={n_rows}); colour: the feature it "
            "interacts with most",
            fontsize=10,
        )
        fig.tight_layout()
        figures[f"shap_dependence_{rank}_{_slug(label)}.png"] = fig
    return figures


def _slug(text: str) -> str:
    """An ASCII file-name part: artifact names stay plain in every store and URL."""
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()[:60]
