"""End to end with NTA exports: the session's models (trained on the small cohort, half of
whose preparations have an NTA export) score a new batch with NTA files, and SHAP reasons
name NTA features like any other."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from exoqc.dataset import load_dataset
from exoqc.features import build_features, label_of
from exoqc.features.nta.table import NTA_FEATURES
from exoqc.inference.score import Scorer, ScoreSettings, score
from exoqc.simulate import simulate_cohort

NTA_NAMES = [f.name for f in NTA_FEATURES]


def test_models_trained_with_nta_score_and_explain_nta_features(use_store, tmp_path):
    root = simulate_cohort(tmp_path / "batch", 24, 41, nta_share=1.0)
    preps = pd.read_csv(root / "preps.csv", dtype=str, keep_default_na=False)
    with_nta = preps[preps["nta_file"] != ""]
    broken_prep, broken_file = with_nta.iloc[2][["prep_id", "nta_file"]]
    text = (root / broken_file).read_bytes()
    (root / broken_file).write_bytes(text[: len(text) // 3])  # cut in the distribution

    settings = ScoreSettings(max_figures=0, n_jobs=1, log_to_mlflow=False)
    result = score(root, tmp_path / "scores.csv", settings)
    rows = result.scores.set_index("prep_id")
    assert rows.index.tolist() == preps["prep_id"].tolist()
    assert rows.loc[broken_prep, "status"] == "error"
    assert broken_file.split("/")[-1] in rows.loc[broken_prep, "error"]
    assert (rows.drop(index=broken_prep)["status"] == "ok").all()

    scorer = Scorer.load(settings)
    for name in ("purity", "potency"):
        explainer = scorer.explainers[name]
        names = list(explainer.predictor.spec.feature_names)
        assert set(NTA_NAMES) <= set(names)
    # Every contribution of the purity model in words: the NTA features are explained
    # with their catalog labels, values and units, and some of them move the prediction.
    table = build_features(load_dataset(root, errors="collect"), n_jobs=1)
    ok = table.frame.drop(index=list(table.errors))
    explainer = scorer.explainers["purity"]
    predicted = explainer.predictor.predict_frame(ok)
    positions = predicted[explainer.predictor.spec.probability_columns].to_numpy().argmax(1)
    explained = explainer.explain(ok, positions)
    nta_columns = [i for i, c in enumerate(explained.data.columns) if c in NTA_NAMES]
    assert np.abs(explained.values[:, nta_columns]).sum() > 0
    reasons = explainer.reasons(explained, n_reasons=len(explained.data.columns))
    # Every NTA feature that moves a preparation's prediction is among its reasons (a
    # feature with a contribution of exactly zero, one the trees do not use, is not a
    # reason: inference/explain.py), an NTA size with its value in nm.
    measured = ~np.isnan(explained.data.to_numpy(dtype=float))
    for i, reason in enumerate(reasons):
        for j in nta_columns:
            if explained.values[i, j] != 0 and measured[i, j]:
                assert label_of(explained.data.columns[j]) + " " in reason
    sizes = [j for j in nta_columns if explained.data.columns[j].endswith("_nm")
             and (explained.values[:, j] != 0).any()]
    assert sizes
    size = re.compile(re.escape(label_of(explained.data.columns[sizes[0]])) + r" [^(]*\([^;)]* nm;")
    named = [r for i, r in enumerate(reasons) if explained.values[i, sizes[0]] != 0
             and measured[i, sizes[0]]]
    assert named and all(size.search(r) for r in named)
    # And the scores file's own reasons (three per model) name NTA features where they
    # are among a preparation's largest contributions.
    top = " ".join(result.scores["reasons"])
    assert any(f.label + " " in top for f in NTA_FEATURES)
