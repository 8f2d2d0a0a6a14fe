"""Global SHAP figures: readable as a scientist opens them in the MLflow UI."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from exoqc.features import label_of
from exoqc.model import values
from exoqc.training import explain
from tests.figures import cut_off

# the longest catalog label (73 characters) and features with a unit, a 0/1 flag, NaNs
FEATURES = ["isolation_uc_sec", "dls_z_average_nm", "protein_ug_per_ml",
            "marker_cd63_detected", "dls_intensity_share_gt1000nm", "dls_pdi"]


def _model(n_classes: int, seed: int = 0) -> tuple[xgb.Booster, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n = 90
    frame = pd.DataFrame({
        "isolation_uc_sec": rng.integers(0, 2, n).astype(float),
        "dls_z_average_nm": rng.normal(120, 30, n),
        "protein_ug_per_ml": rng.lognormal(1.5, 0.6, n),
        "marker_cd63_detected": rng.integers(0, 2, n).astype(float),
        "dls_intensity_share_gt1000nm": rng.uniform(0, 0.3, n),
        "dls_pdi": rng.uniform(0.05, 0.5, n),
    })
    frame.loc[rng.random(n) < 0.2, "protein_ug_per_ml"] = np.nan
    score = frame["dls_z_average_nm"] / 30 + 2 * frame["isolation_uc_sec"]
    labels = pd.qcut(score, n_classes, labels=False).to_numpy()
    params = {"max_depth": 3, "eta": 0.3, "seed": 0, "nthread": 1}
    if n_classes == 2:
        params["objective"] = "binary:logistic"
    else:
        params.update(objective="multi:softprob", num_class=n_classes)
    booster = xgb.train(params, xgb.DMatrix(frame, labels, feature_names=FEATURES), 20)
    return booster, frame


def test_plot_label_wraps_long_labels_without_losing_words():
    label = label_of("isolation_uc_sec")
    assert len(label) > values.LABEL_WIDTH
    wrapped = values.plot_label(label)
    assert all(len(line) <= values.LABEL_WIDTH for line in wrapped.splitlines())
    assert wrapped.split() == label.split()
    assert values.plot_label("DLS Z-average") == "DLS Z-average"


def test_value_text_reads_like_a_lab_record():
    assert values.value_text("dls_z_average_nm", 123.456) == "123 nm"
    assert values.value_text("protein_ug_per_ml", 4.4321) == "4.43 µg/mL"
    assert values.value_text("protein_ug_per_ml", np.nan) == "not measured"
    assert values.value_text("marker_cd63_detected", 1.0) == "yes"
    assert values.value_text("marker_cd63_detected", 0.0) == "no"
    # dimensionless and fraction values carry no unit word
    assert values.value_text("dls_pdi", 0.2345) == "0.234"
    assert values.value_text("dls_intensity_share_gt1000nm", 0.05) == "0.05"


def test_axis_label_names_the_unit():
    assert values.axis_label(label_of("dls_z_average_nm")) == "DLS Z-average (nm)"
    assert values.axis_label(label_of("dls_pdi")) == label_of("dls_pdi")


@pytest.mark.parametrize(("n_classes", "classes", "target"), [
    (3, ("high", "medium", "low"), "purity"),
    (2, ("potent", "subpotent"), "potency"),
])
def test_global_figures_say_what_they_show_and_nothing_is_cut_off(n_classes, classes, target):
    booster, frame = _model(n_classes)
    explanation = explain.explain(booster, frame)
    figures = explain.global_figures(explanation, classes, target, n_dependence=2)
    try:
        outputs = classes if n_classes > 2 else classes[:1]
        expected = {f"shap_beeswarm_{c}.png" for c in outputs} | {"shap_importance_bar.png"}
        assert expected <= set(figures)
        dependence = [name for name in figures if name.startswith("shap_dependence_")]
        assert len(dependence) == 2
        assert all(name.isascii() for name in figures)
        for name, fig in figures.items():
            title = fig._suptitle.get_text() if fig._suptitle else fig.axes[0].get_title()
            assert target.capitalize() in title, name
            assert f"n={len(frame)}" in title, name
            assert cut_off(fig) == "", name
            # no wider than MLflow's artifact viewer on a laptop screen (100 dpi)
            assert fig.get_size_inches()[0] <= 8.5, name
        beeswarm = figures[f"shap_beeswarm_{classes[0]}.png"]
        assert "log-odds" in beeswarm.axes[0].get_xlabel()
        assert f"'{classes[0]}'" in beeswarm._suptitle.get_text()
        tick_labels = [t.get_text() for t in beeswarm.axes[0].get_yticklabels()]
        long_label = values.plot_label(label_of("isolation_uc_sec"))
        assert long_label in tick_labels  # all six features are shown: wrapped, not cut
    finally:
        for fig in figures.values():
            plt.close(fig)
