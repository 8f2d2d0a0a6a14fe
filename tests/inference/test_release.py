"""Release decisions from the conformal sets, the assay plan, and the score columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from exoqc.cli import app
from exoqc.contracts import RELEASE_COLUMNS, SCORE_COLUMNS
from exoqc.dataset import load_dataset
from exoqc.features import build_features
from exoqc.inference.release import assay_priority, decide
from exoqc.inference.score import Scorer, ScoreSettings
from exoqc.model.conformal import fit_conformal
from exoqc.model.predictor import ModelSpec
from exoqc.simulate import simulate_cohort
from exoqc.spec import ReleaseSpec, Spec, SpecLimits

PURITY = ("high", "medium", "low")
POTENCY = ("potent", "subpotent")


def calibrated_model(target: str, classes: tuple[str, ...], seed: int) -> ModelSpec:
    """A model spec whose conformal calibration comes from a fair, imperfect classifier."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(classes), 600)
    logits = rng.normal(size=(600, len(classes)))
    logits[np.arange(600), labels] += 2.0
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return ModelSpec(target=target, classes=classes, feature_names=("x",),
                     conformal=fit_conformal(proba, labels).to_dict())


MODELS = {"purity": calibrated_model("purity", PURITY, 1),
          "potency": calibrated_model("potency", POTENCY, 2)}


def rows(purity: list[list[float]], potent: list[float], in_domain: list[bool] | None = None,
         attributes: dict[str, list[float]] | None = None):
    n = len(potent)
    index = pd.Index([f"P{i}" for i in range(n)], name="prep_id")
    probabilities = {"purity": np.array(purity, dtype=float),
                     "potency": np.column_stack([potent, 1 - np.array(potent)])}
    domain = pd.Series(in_domain if in_domain is not None else [True] * n, index=index)
    return probabilities, domain, pd.DataFrame(attributes or {}, index=index)


CLEAR_HIGH_POTENT = ([0.98, 0.01, 0.01], 0.98)
CLEAR_LOW_SUBPOTENT = ([0.01, 0.01, 0.98], 0.02)
UNSURE = ([0.45, 0.45, 0.10], 0.5)


def test_clear_cases_are_released_and_rejected_unsure_ones_assayed():
    cases = [CLEAR_HIGH_POTENT, CLEAR_LOW_SUBPOTENT, UNSURE]
    probabilities, domain, attributes = rows([c[0] for c in cases], [c[1] for c in cases])
    result = decide(probabilities, MODELS, domain, attributes, Spec())
    assert result["decision"].tolist() == ["release", "reject", "assay"]
    assert result.loc["P0", "purity_set"] == "high"
    assert result.loc["P0", "potency_set"] == "potent"
    assert result.loc["P1", "purity_set"] == "low"
    assert "holds no acceptable class" in result.loc["P1", "decision_reason"]
    assert result.loc["P2", "purity_set"] == "high|medium"
    assert "includes medium, not acceptable" in result.loc["P2", "decision_reason"]


def test_a_spec_that_accepts_everything_releases_everything_in_domain():
    spec = Spec(release=ReleaseSpec(purity_accept=list(PURITY),
                                    potency_accept=list(POTENCY)))
    rng = np.random.default_rng(7)
    purity = rng.dirichlet(np.ones(3), size=200)
    potent = rng.uniform(size=200)
    in_domain = (rng.uniform(size=200) > 0.2).tolist()
    probabilities, domain, attributes = rows(purity.tolist(), potent.tolist(), in_domain)
    result = decide(probabilities, MODELS, domain, attributes, spec)
    sets_empty = (result["purity_set"] == "") | (result["potency_set"] == "")
    inside = domain.to_numpy() & ~sets_empty.to_numpy()
    assert inside.sum() > 100
    assert (result.loc[inside, "decision"] == "release").all()
    assert (result.loc[~domain.to_numpy(), "decision"] == "assay").all()


def test_out_of_domain_preparations_are_assay_even_when_clearly_good():
    probabilities, domain, attributes = rows([CLEAR_HIGH_POTENT[0]] * 2,
                                             [CLEAR_HIGH_POTENT[1]] * 2, [True, False])
    result = decide(probabilities, MODELS, domain, attributes, Spec())
    assert result["decision"].tolist() == ["release", "assay"]
    assert "outside the training domain" in result.loc["P1", "decision_reason"]
    assert "never released automatically" in result.loc["P1", "decision_reason"]


def test_empty_sets_are_assay_and_the_reason_says_so():
    # a preparation unlike every class: no class probability is high enough for any set
    flat = [1 / 3, 1 / 3, 1 / 3]
    probabilities, domain, attributes = rows([flat], [0.5])
    strict = Spec(release=ReleaseSpec(alpha=0.6))
    result = decide(probabilities, MODELS, domain, attributes, strict)
    assert result.loc["P0", "purity_set"] == ""
    assert result.loc["P0", "decision"] == "assay"
    assert "no purity class is plausible" in result.loc["P0", "decision_reason"]
    assert "empty set" in result.loc["P0", "decision_reason"]


def test_every_empty_set_has_a_stated_reason():
    rng = np.random.default_rng(3)
    probabilities, domain, attributes = rows(rng.dirichlet(np.ones(3), 300).tolist(),
                                             rng.uniform(size=300).tolist())
    for alpha in (0.05, 0.3, 0.6):
        result = decide(probabilities, MODELS, domain, attributes,
                        Spec(release=ReleaseSpec(alpha=alpha)))
        for target in ("purity", "potency"):
            empty = result[f"{target}_set"] == ""
            assert result.loc[empty, "decision_reason"].str.contains(
                f"no {target} class is plausible|holds no acceptable class").all()


def test_limits_reject_a_measured_value_outside_and_hold_an_unmeasured_one():
    spec = Spec(limits={"dls_z_average_nm": SpecLimits(lower=50, upper=150)})
    probabilities, domain, attributes = rows(
        [CLEAR_HIGH_POTENT[0]] * 3, [CLEAR_HIGH_POTENT[1]] * 3,
        attributes={"dls_z_average_nm": [212.0, np.nan, 100.0]})
    result = decide(probabilities, MODELS, domain, attributes, spec)
    assert result["decision"].tolist() == ["reject", "assay", "release"]
    assert result.loc["P0", "decision_reason"] == (
        "out of specification: dls_z_average_nm 212 above the upper limit 150")
    assert "not measured" in result.loc["P1", "decision_reason"]


def test_a_model_without_conformal_calibration_gives_assay_with_the_reason():
    old = {"purity": ModelSpec(target="purity", classes=PURITY, feature_names=("x",)),
           "potency": MODELS["potency"]}
    probabilities, domain, attributes = rows([CLEAR_HIGH_POTENT[0]], [CLEAR_HIGH_POTENT[1]])
    result = decide(probabilities, old, domain, attributes, Spec())
    assert result.loc["P0", "purity_set"] == ""
    assert result.loc["P0", "decision"] == "assay"
    assert "no conformal calibration" in result.loc["P0", "decision_reason"]


def scores_table(decision, p_high, p_potent, in_domain, purity_set, potency_set):
    return pd.DataFrame({"decision": decision, "p_purity_high": p_high,
                         "p_purity_medium": 1 - np.array(p_high), "p_purity_low": 0.0,
                         "p_potent": p_potent, "in_domain": in_domain,
                         "purity_set": purity_set, "potency_set": potency_set})


def test_assay_budget_marks_the_most_uncertain_assay_preparations_first():
    table = scores_table(
        decision=["assay", "release", "assay", "assay", "reject", "assay"],
        # P(release-acceptable) = p_high · p_potent: 0.81, -, 0.5, 0.09, -, 0.9 (out of domain)
        p_high=[0.9, 0.99, 1.0, 0.3, 0.0, 0.9], p_potent=[0.9, 0.99, 0.5, 0.3, 0.0, 1.0],
        in_domain=[True, True, True, True, True, False],
        purity_set=["high|medium"] * 6, potency_set=["potent|subpotent"] * 6)
    priority = assay_priority(table, Spec(), budget=3)
    assert str(priority.dtype) == "Int64"
    # out of domain counts as 0.5 and ties with P = 0.5; the earlier row wins the tie
    assert priority.iloc[2] == 1 and priority.iloc[5] == 2 and priority.iloc[0] == 3
    assert priority.iloc[[1, 3, 4]].isna().all()
    assert assay_priority(table, Spec(), budget=None).isna().all()
    assert assay_priority(table, Spec(), budget=10).dropna().sort_values().tolist() == [1, 2,
                                                                                         3, 4]


def test_assay_ties_go_to_the_larger_sets():
    table = scores_table(decision=["assay", "assay"], p_high=[0.5, 0.5], p_potent=[1.0, 1.0],
                         in_domain=[True, True], purity_set=["high|medium", "high|medium|low"],
                         potency_set=["potent", "potent"])
    assert assay_priority(table, Spec(), budget=1).tolist() == [pd.NA, 1]


@pytest.fixture(scope="module")
def cohort_features(trained_store):
    table = build_features(load_dataset(trained_store.cohort, errors="collect"), n_jobs=1)
    return table


def test_scorer_gives_release_columns_and_empty_ones_on_error_rows(use_store, cohort_features):
    scorer = Scorer.load(ScoreSettings())
    errors = {cohort_features.frame.index[0]: ["dls/x.txt: not a DLS export"]}
    scores, _ = scorer.score_features(cohort_features.frame, errors, {})
    assert list(scores.columns[: len(SCORE_COLUMNS)]) == SCORE_COLUMNS
    assert SCORE_COLUMNS[-len(RELEASE_COLUMNS):] == RELEASE_COLUMNS
    assert scores["prep_id"].tolist() == cohort_features.frame.index.astype(str).tolist()
    error_row = scores.iloc[0]
    assert error_row["status"] == "error"
    assert all(error_row[c] == "" for c in RELEASE_COLUMNS[:-1])
    assert pd.isna(error_row["assay_priority"])
    ok = scores.iloc[1:]
    assert ok["decision"].isin(["release", "reject", "assay"]).all()
    assert (ok["decision_reason"] != "").all()
    released = ok[ok["decision"] == "release"]
    assert (released["purity_set"] == "high").all() and (released["potency_set"] == "potent").all()
    assert (ok.loc[~ok["in_domain"].astype(bool), "decision"] == "assay").all()


def test_scorer_refuses_limits_on_an_unknown_attribute(use_store):
    spec = Spec(limits={"z_average": SpecLimits(upper=150)})
    with pytest.raises(ValueError, match=r"unknown quality attribute.*z_average"):
        Scorer.load(ScoreSettings(spec=spec))


@pytest.fixture(scope="module")
def small_batch(tmp_path_factory):
    return simulate_cohort(tmp_path_factory.mktemp("release") / "batch", 24, 98)


def test_score_command_takes_a_spec_and_an_assay_budget(use_store, small_batch, tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text('[release]\nalpha = 0.2\npurity_accept = ["high", "medium"]\n')
    output = tmp_path / "scores.csv"
    result = CliRunner().invoke(app, ["score", str(small_batch), "-o", str(output),
                                      "--spec", str(spec), "--assay-budget", "4"])
    assert result.exit_code == 0, result.output
    assert "decision release" in result.output
    table = pd.read_csv(output, dtype={"prep_id": str}, keep_default_na=False)
    assert len(table) == len(pd.read_csv(small_batch / "preps.csv"))
    planned = table[table["assay_priority"] != ""]
    assert sorted(planned["assay_priority"].astype(int)) == list(
        range(1, min(4, int((table["decision"] == "assay").sum())) + 1))
    assert (planned["decision"] == "assay").all()
    assert table["decision_reason"].str.contains("α=0.2").any()


def test_score_command_names_a_bad_spec_file(use_store, small_batch, tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text('[release]\npurity_accept = ["excellent"]\n')
    result = CliRunner().invoke(app, ["score", str(small_batch), "-o",
                                      str(tmp_path / "scores.csv"), "--spec", str(spec)])
    assert result.exit_code == 1
    assert str(spec) in result.output.replace("\n", "")
    assert "purity_accept" in result.output
    assert not (tmp_path / "scores.csv").exists()


def test_scorer_applies_limits_to_features_and_predictions(use_store, cohort_features):
    frame = cohort_features.frame
    spec = Spec(limits={"p_potent": SpecLimits(lower=0.5)})
    scores, _ = Scorer.load(ScoreSettings(spec=spec)).score_features(
        frame, cohort_features.errors, {})
    ok = scores[scores["status"] == "ok"]
    below = ok["p_potent"] < 0.5
    assert below.any()
    assert (ok.loc[below, "decision"] == "reject").all()
    assert ok.loc[below, "decision_reason"].str.startswith(
        "out of specification: p_potent").all()
    assert not ok.loc[~below, "decision_reason"].str.contains("out of specification").any()


def test_a_class_of_too_few_batches_stays_in_every_set_and_the_reason_says_so():
    # 100 medium calibration preparations, but from 5 batches only: at α = 0.1 a finite set
    # needs 9 batches of a class, so medium can never be excluded (counted preparation by
    # preparation it could be)
    rng = np.random.default_rng(3)
    labels = np.repeat([0, 1, 2], [200, 100, 200])
    logits = rng.normal(size=(500, 3))
    logits[np.arange(500), labels] += 2.0
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    batches = np.concatenate([np.arange(200) // 4, 100 + np.arange(100) // 20,
                              200 + np.arange(200) // 4])
    calibration = fit_conformal(proba, labels, groups=batches)
    assert calibration.n_units_per_class == [50, 5, 50]
    purity = ModelSpec(target="purity", classes=PURITY, feature_names=("x",),
                       conformal=calibration.to_dict())
    models = {"purity": purity, "potency": MODELS["potency"]}
    probabilities, domain, attributes = rows([CLEAR_HIGH_POTENT[0], CLEAR_LOW_SUBPOTENT[0]],
                                             [0.98, 0.98])
    result = decide(probabilities, models, domain, attributes, Spec())
    assert result["purity_set"].tolist() == ["high|medium", "medium|low"]
    assert result["decision"].tolist() == ["assay", "reject"]
    for reason in result["decision_reason"]:
        assert reason.endswith("in every set at α=0.1 for too few calibration data "
                               "(9 batches needed): medium 5 batches")
    # at α = 0.2 four batches would be needed: medium is excluded where it is implausible
    loose = decide(probabilities, models, domain, attributes,
                   Spec(release=ReleaseSpec(alpha=0.2)))
    assert loose.loc["P0", "purity_set"] == "high"
    assert "in every set" not in loose.loc["P0", "decision_reason"]
