"""Per-preparation explanations: SHAP values and the reasons written into the scores file.

SHAP values explain the booster's margin (log-odds) for the predicted class: base value +
Σ contributions = margin. A reason names a feature by its catalog label, says whether its
value is high, low or typical for the training data (the training quartiles), and gives
its signed contribution to the predicted class, e.g.
"EV / co-isolate marker ratio high (2.1 log10 ratio; +0.80 toward high purity)" or
"... (−0.30 away from high purity)" for evidence against the class the model chose.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shap
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrow
from matplotlib.transforms import ScaledTranslation

from exoqc.features import FEATURE_CATALOG, label_of
from exoqc.model.domain import ApplicabilityDomain
from exoqc.model.predictor import ExoqcPredictor
from exoqc.model.values import plot_label, value_text

_UNITS = {f.name: f.unit for f in FEATURE_CATALOG}


@dataclass
class Explained:
    """SHAP values toward each row's predicted class, with that class."""

    values: np.ndarray  # (rows, features), signed toward the predicted class
    base_values: np.ndarray  # (rows,)
    predicted: np.ndarray  # (rows,) class positions
    data: pd.DataFrame  # the features explained


class ModelExplainer:
    """One explainer per model (SHAP's TreeExplainer of a booster, or the exact
    contributions of a fallback model: ``ExoqcPredictor.explainer``), built once and reused
    for every batch."""

    def __init__(self, predictor: ExoqcPredictor) -> None:
        self.predictor = predictor
        self.explainer = predictor.explainer()
        self.domain = ApplicabilityDomain.from_dict(predictor.spec.domain)

    def explain(self, features: pd.DataFrame, predicted: np.ndarray) -> Explained:
        """SHAP values of each row toward its predicted class (position in ``classes``).

        Binary models explain the log-odds of the first class (potent); rows predicted as
        the second class get the contributions negated, so that a positive value always
        pushes toward the predicted class.
        """
        data = features.loc[:, list(self.predictor.spec.feature_names)]
        if data.empty:  # every preparation of the batch failed; SHAP needs rows
            return Explained(np.empty(data.shape), np.empty(0), np.asarray(predicted), data)
        raw = np.asarray(self.explainer.shap_values(data.to_numpy(dtype=np.float32)))
        base = np.atleast_1d(np.asarray(self.explainer.expected_value, dtype=float))
        rows = np.arange(len(data))
        if raw.ndim == 3:
            values = raw[rows, :, predicted]
            base_values = base[predicted]
        else:
            sign = np.where(predicted == 0, 1.0, -1.0)
            values = raw * sign[:, None]
            base_values = base[0] * sign
        return Explained(values, base_values, predicted, data)

    def reasons(self, explained: Explained, n_reasons: int = 3) -> list[str]:
        """The ``n_reasons`` largest contributions of each row, in words."""
        classes = self.predictor.spec.classes
        target = self.predictor.spec.target
        names = list(explained.data.columns)
        values = explained.data.to_numpy()
        # "Not measured" is never a reason: which assays a lab ran says nothing of the
        # preparation's quality, whatever SHAP gives the missing-value branch.
        # Nor is a feature the model does not use (a rule's other inputs: exactly zero).
        strength = np.where(np.isnan(values), -1.0, np.abs(explained.values))
        order = np.argsort(-strength, axis=1, kind="stable")[:, :n_reasons]
        out = []
        for i, top in enumerate(order):
            toward = f"{classes[explained.predicted[i]]}{' purity' if target == 'purity' else ''}"
            parts = []
            for j in top[strength[i, top] > 0]:
                name = names[j]
                value = values[i, j]
                quality = self.domain.describe_value(name, value)
                shown = "" if np.isnan(value) else f"{value:.3g} {_UNITS.get(name, '')}".strip()
                inside = f"{shown}; " if shown else ""
                push = explained.values[i, j]
                direction = "toward" if push >= 0 else "away from"
                parts.append(f"{label_of(name)} {quality} ({inside}"
                             f"{push:+.2f} {direction} {toward})")
            out.append("; ".join(parts))
        return out

    def waterfall(self, explained: Explained, row: int, prep_id: str,
                  max_display: int = 12, verdict: str = "") -> Figure:
        """SHAP waterfall of one preparation toward its predicted class.

        Bars run from E[f(X)], the model's average score over its training data, to f(x),
        this preparation's score for the predicted class (log-odds units); each bar is one
        feature's SHAP contribution. Feature values are shown with their units, and
        "not measured" where the preparation has no value. ``verdict``: a line for the
        title under the model's call (the prediction set and the release decision).
        """
        classes = self.predictor.spec.classes
        target = self.predictor.spec.target
        predicted = classes[explained.predicted[row]]
        toward = f"'{predicted}'{' purity' if target == 'purity' else ''}"
        values = explained.data.iloc[row]
        explanation = shap.Explanation(
            values=explained.values[row],
            base_values=explained.base_values[row],
            data=np.array([value_text(str(name), value) for name, value in values.items()],
                          dtype=np.object_),
            feature_names=[plot_label(label_of(c)) for c in explained.data.columns],
        )
        fig = plt.figure()
        shap.plots.waterfall(explanation, max_display=max_display, show=False)
        # room on the left for the value of a small negative bar at the axis' start, which
        # SHAP writes to the bar's left, over the feature labels; the twin axes that mark
        # E[f(X)] and f(x) keep the same limits
        low, high = fig.axes[0].get_xlim()
        for ax in fig.axes:
            ax.set_xlim(low - 0.12 * (high - low), high)
        fig.axes[0].tick_params(axis="y", labelsize=11)
        verdict = "".join(f"{line}\n" for line in textwrap.wrap(verdict, 95))
        fig.suptitle(
            f"{prep_id}: the {target} model says {toward}\n{verdict}"
            f"SHAP contribution of each feature to the {toward} score (log-odds), from\n"
            "E[f(X)], the average over the training data, to f(x), this preparation",
            fontsize=11,
        )
        fig.tight_layout()
        # SHAP writes "= f(x)" left-aligned at f(x): near the axis' right end it runs past
        # the canvas, which tight_layout does not see
        overflow_in = fig.get_tightbbox().x1 - fig.get_size_inches()[0] + 0.1
        if overflow_in > 0:
            fig.subplots_adjust(
                right=fig.subplotpars.right - overflow_in / fig.get_size_inches()[0])
        _values_beside_narrow_bars(fig.axes[0])
        return fig


def _values_beside_narrow_bars(ax: Axes) -> None:
    """Move a bar's value that no longer fits inside the bar beside it.

    SHAP's waterfall writes each value inside its bar (centred) when it fits at the axes'
    size while SHAP draws, otherwise beside the bar; the final layout (labels, title,
    margins) narrows the bars, and a value left inside would be cut to "+0.". Beside the
    bar it goes as SHAP puts it: right of a positive bar, left of a negative one, in the
    bar's colour, 5 points away.
    """
    fig = ax.figure
    # exoqc draws its figures on the Agg canvas, which has a renderer (the base class not)
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    bars = {round(float(np.mean(bar.get_xy()[:, 1]))): bar
            for bar in ax.patches if isinstance(bar, FancyArrow)}
    for text in ax.texts:
        bar = bars.get(round(text.get_position()[1]))
        if text.get_horizontalalignment() != "center" or bar is None:
            continue
        if text.get_window_extent(renderer).width <= bar.get_window_extent(renderer).width:
            continue
        positive = text.get_text().startswith("+")
        xs = bar.get_xy()[:, 0]
        offset = ScaledTranslation((5 if positive else -5) / 72, 0, fig.dpi_scale_trans)
        text.set_x(float(xs.max() if positive else xs.min()))
        text.set_transform(ax.transData + offset)
        text.set_horizontalalignment("left" if positive else "right")
        text.set_color(bar.get_facecolor())

