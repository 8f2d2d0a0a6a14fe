"""The prior helps a shifted lab, and the packaged form of a base-margin model is the same
model (library level, no MLflow: the candidates of training/candidates.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exoqc.dataset import LABEL_VALUES, load_dataset
from exoqc.features import build_features
from exoqc.simulate import simulate_cohort
from exoqc.training import adapt
from exoqc.training.candidates import BoosterCandidate, candidate_by_name
from exoqc.training.label_plan import plan_target
from exoqc.training.prior import reference_prior
from exoqc.training.repeated_cv import metric_of
from exoqc.training.split import batch_groups

N_TRAIN = 50


@pytest.fixture(scope="module")
def shifted_lab(tmp_path_factory) -> tuple[pd.DataFrame, pd.DataFrame]:
    """250 preparations of the umbilical-cord-MSC lab (other sizes, yield, SEC, ELISA,
    a 90° CSV instrument and another potency threshold than the reference)."""
    folder = simulate_cohort(tmp_path_factory.mktemp("uc") / "uc", 250, seed=4, lab="uc_msc")
    dataset = load_dataset(folder)
    frame = build_features(dataset, n_jobs=1).frame
    return frame, dataset.preps.loc[frame.index]


def split(preps: pd.DataFrame, target: str):
    classes = LABEL_VALUES[f"{target}_class"]
    y = preps[f"{target}_class"].map({c: i for i, c in enumerate(classes)}).to_numpy(int)
    groups = batch_groups(preps).to_numpy()
    # The first whole batches up to N_TRAIN preparations train; the other batches test.
    first = np.flatnonzero(np.isin(groups, pd.unique(groups)[:9]))[:N_TRAIN]
    rest = np.setdiff1d(np.flatnonzero(~np.isin(groups, groups[first])), first)
    return classes, y, groups, first, rest


def test_adapted_model_beats_lab_only_on_a_shifted_lab_at_n50(shifted_lab, small_cohort):
    frame, preps = shifted_lab
    target = "purity"
    classes, y, groups, train, test = split(preps, target)
    assert len(train) == N_TRAIN and len(test) >= 150
    prior = reference_prior(target, small_cohort, list(frame.columns))
    x = frame.iloc[train]
    selection = adapt.select(x, y[train], groups[train], target, classes, prior,
                             n_repeats=1)
    chosen = candidate_by_name(selection.chosen.name, target, prior)
    booster = chosen.final_booster(x, y[train])
    adapted = BoosterCandidate("final", "lab_only", "multiclass", 3)
    adapted.booster_ = booster
    lab_only = candidate_by_name("lab_only", target, None).fit(x, y[train])
    x_test = frame.iloc[test]
    score_adapted = metric_of(adapted.predict_proba(x_test), y[test], classes, "macro_f1")
    score_lab = metric_of(lab_only.predict_proba(x_test), y[test], classes, "macro_f1")
    assert selection.chosen.name != "lab_only"
    assert score_adapted > score_lab + 0.02, (selection.chosen.name, score_adapted, score_lab)


def test_base_margin_model_is_registered_as_the_same_continued_booster(shifted_lab,
                                                                       small_cohort):
    frame, preps = shifted_lab
    _, y, _, train, test = split(preps, "potency")
    prior = reference_prior("potency", small_cohort, list(frame.columns))
    candidate = candidate_by_name("reference_margin", "potency", prior)
    x = frame.iloc[train]
    by_margin = candidate.fit(x, y[train]).predict_proba(frame.iloc[test])
    packaged = BoosterCandidate("packaged", "lab_only", "binary", 2)
    packaged.booster_ = candidate.final_booster(x, y[train])
    np.testing.assert_allclose(packaged.predict_proba(frame.iloc[test]), by_margin, atol=1e-5)


def test_label_plan_states_its_minimums():
    classes = LABEL_VALUES["potency_class"]
    groups = pd.Series([f"b{i}" for i in range(12)])
    plan = plan_target("potency", pd.Series(["potent"] * 10 + ["subpotent"] * 2),
                             groups, True, classes)
    assert plan.refusal == ("potency_class labels 10 'potent', 2 'subpotent': a classifier "
                            "needs at least two classes with 3 preparations each")


def test_prior_is_kept_unadapted_while_a_class_is_in_fewer_than_five_batches(shifted_lab,
                                                                           small_cohort):
    frame, preps = shifted_lab
    target = "purity"
    classes = LABEL_VALUES[f"{target}_class"]
    y = preps[f"{target}_class"].map({c: i for i, c in enumerate(classes)}).to_numpy(int)
    groups = batch_groups(preps).to_numpy()
    # Ten batches, of which only two hold a 'low' preparation: the CV judges the model on
    # 'low' in two batches, however many batches there are in all.
    low = classes.index("low")
    with_low = [g for g in pd.unique(groups) if (y[groups == g] == low).any()]
    without_low = [g for g in pd.unique(groups) if g not in with_low]
    rows = np.flatnonzero(np.isin(groups, with_low[:2] + without_low[:8]))
    prior = reference_prior(target, small_cohort, list(frame.columns))
    selection = adapt.select(frame.iloc[rows], y[rows], groups[rows], target, classes, prior,
                             n_repeats=1)
    # This lab differs from the reference: some adapted candidate leads it in the CV...
    assert selection.best_booster is not None and selection.best_booster.name != "reference"
    # ...and the prior is kept all the same, saying why.
    assert selection.chosen.name == "reference"
    assert "with low in 2 batches" in selection.rule
    assert "every class is in 5 batches or more" in selection.rule
