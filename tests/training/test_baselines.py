"""The naive purity rules: thresholds as stated, tuning, missing inputs, scikit-learn API."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import f1_score

from exoqc.training.baselines import MisevRuleClassifier, ParticleProteinRatioClassifier


def table(pdi=(), z=(), log_ratio=()) -> pd.DataFrame:
    return pd.DataFrame({"dls_pdi": pdi, "dls_z_average_nm": z,
                         "log10_particles_per_ug": log_ratio}, dtype=float)


def test_ratio_rule_uses_webber_clayton_thresholds_untuned():
    train = table([0.1] * 4, [100.0] * 4, [11.0, 9.0, np.nan, np.nan])
    rule = ParticleProteinRatioClassifier(tune=False).fit(train, ["high", "low", "medium",
                                                                   "medium"])
    # 3e10 /µg and 1.5e9 /µg, i.e. log10 10.48 and 9.18.
    test = table([0.1] * 5, [100.0] * 5, [math.log10(3e10), 10.4, 9.2, 9.1, np.nan])
    assert list(rule.predict(test)) == ["high", "medium", "medium", "low", "medium"]
    assert rule.missing_label_ == "medium"  # most frequent among training rows without ratio


def test_ratio_rule_tuning_finds_the_separating_thresholds():
    rng = np.random.default_rng(0)
    ratio = rng.uniform(8.0, 12.0, 600)
    labels = np.where(ratio >= 10.5, "high", np.where(ratio < 9.5, "low", "medium"))
    X = table(np.zeros(600), np.full(600, 100.0), ratio)
    rule = ParticleProteinRatioClassifier(n_thresholds=49).fit(X, labels)
    assert f1_score(labels, rule.predict(X), average="macro") > 0.97
    assert math.log10(rule.low_max_particles_per_ug_) == pytest.approx(9.5, abs=0.1)
    assert math.log10(rule.high_min_particles_per_ug_) == pytest.approx(10.5, abs=0.1)


def test_misev_checklist_points_and_missing_inputs():
    rule = MisevRuleClassifier(tune=False).fit(table([0.1], [100.0], [11.0]), ["high"])
    X = table(
        pdi=[0.1, 0.1, 0.5, 0.5, np.nan, 0.1],
        z=[100.0, 100.0, 100.0, 300.0, 100.0, 20.0],
        log_ratio=[11.0, 9.0, 9.0, 9.0, 11.0, np.nan],
    )
    assert list(rule.points(X)) == [3, 2, 1, 0, 2, 1]
    assert list(rule.predict(X)) == ["high", "medium", "low", "low", "medium", "low"]


def test_misev_tuning_recovers_a_known_checklist():
    rng = np.random.default_rng(1)
    n = 1500
    X = table(rng.uniform(0, 0.5, n), rng.uniform(20, 250, n), rng.uniform(8.5, 11.5, n))
    points = ((X["dls_pdi"] < 0.25).astype(int)
              + X["dls_z_average_nm"].between(58.0, 212.0).astype(int)
              + (X["log10_particles_per_ug"] > 10.3).astype(int))
    labels = np.where(points == 3, "high", np.where(points == 2, "medium", "low"))
    tuned = MisevRuleClassifier().fit(X, labels)
    literature = MisevRuleClassifier(tune=False).fit(X, labels)
    assert f1_score(labels, tuned.predict(X), average="macro") > 0.95
    assert f1_score(labels, literature.predict(X), average="macro") < 0.8
    assert tuned.pdi_max_ == pytest.approx(0.25, abs=0.03)


def test_rules_follow_scikit_learn_conventions():
    for rule in (MisevRuleClassifier(), ParticleProteinRatioClassifier()):
        with pytest.raises(NotFittedError):
            rule.predict(table([0.1], [100.0], [10.0]))
        copy = clone(rule)
        assert copy.get_params() == rule.get_params()
        assert list(rule.fit(table([0.1, 0.2], [90.0, 95.0], [10.0, 9.0]),
                             ["high", "low"]).classes_) == ["high", "medium", "low"]


def test_clear_errors_for_bad_input():
    with pytest.raises(ValueError, match="log10_particles_per_ug"):
        ParticleProteinRatioClassifier().fit(pd.DataFrame({"dls_pdi": [0.1]}), ["high"])
    with pytest.raises(ValueError, match="unknown purity label"):
        MisevRuleClassifier().fit(table([0.1], [100.0], [10.0]), ["pure"])
    with pytest.raises(TypeError, match="DataFrame"):
        MisevRuleClassifier().fit(np.zeros((1, 3)), ["high"])


def test_score_rule_gives_the_rate_without_a_score_also_when_no_row_has_one():
    from exoqc.training.baselines import RuleScoreBaseline

    train = pd.DataFrame({"log10_particles_per_ug": [9.0, 9.5, 10.0, 10.5, np.nan, np.nan]})
    labels = np.array([1, 1, 0, 0, 0, 1])  # 0 = potent
    rule = RuleScoreBaseline("log10_particles_per_ug").fit(train, labels)
    # A validation fold of preparations without a ratio (exoqc train's CV on a lab's data).
    unmeasured = pd.DataFrame({"log10_particles_per_ug": [np.nan, np.nan]})
    assert rule.predict_proba(unmeasured)[:, 0] == pytest.approx([0.5, 0.5])
