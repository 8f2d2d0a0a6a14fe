"""How exoqc prints a feature's value and label beside a model's explanation, and the
colours of its classes: one look for the training run's figures and the scoring run's."""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np

from exoqc.features import FEATURE_CATALOG

LABEL_WIDTH = 40
"""Characters per line of a feature label beside a plot: longer catalog labels (up to 73
characters, e.g. the isolation methods) are wrapped rather than cut at the figure's edge."""

CLASS_COLOURS = {
    "high": "#2e7d32", "medium": "#f9a825", "low": "#c62828",
    "potent": "#1565c0", "subpotent": "#9e9e9e",
}
"""One colour per class in every exoqc figure and report."""

PNG_SAVE_KWARGS: dict[str, Any] = {"dpi": 100, "bbox_inches": "tight", "pad_inches": 0.15}
"""``mlflow.log_figure(fig, name, save_kwargs=PNG_SAVE_KWARGS)``: SHAP's plots draw text
outside their axes (the waterfall's f(x), colour-bar labels) that a default save cuts off."""

_UNIT_BY_NAME = {f.name: f.unit for f in FEATURE_CATALOG}
_UNIT_BY_LABEL = {f.label: f.unit for f in FEATURE_CATALOG}
# Units that add nothing beside a number a scientist reads off a plot.
_UNSHOWN_UNITS = {"1", "0/1", "count", "fraction", "fraction of intercept"}


def plot_label(label: str) -> str:
    """A feature's catalog label, wrapped onto lines of at most ``LABEL_WIDTH`` characters."""
    return textwrap.fill(label, LABEL_WIDTH)


def value_text(feature: str, value: float) -> str:
    """A feature value as a scientist reads it beside its label: 3 significant digits with
    the unit, yes/no for a 0/1 feature, "not measured" for NaN. Never contains "=", which
    SHAP's waterfall splits its labels on."""
    if np.isnan(value):
        return "not measured"
    unit = _UNIT_BY_NAME.get(feature, "1")
    if unit == "0/1":
        return "yes" if value >= 0.5 else "no"
    number = f"{value:.3g}"
    return number if unit in _UNSHOWN_UNITS else f"{number} {unit}"


def axis_label(label: str) -> str:
    """A feature's catalog label with its unit, for a value axis (``DLS D90 by volume (nm)``)."""
    unit = _UNIT_BY_LABEL.get(label, "1")
    return label if unit in _UNSHOWN_UNITS else f"{label} ({unit})"
