"""Scores follow their preparations: shuffling the input's rows shuffles the scores rows
and changes no preparation's scores, and each row holds the model's prediction for the
features of its own prep_id."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd

from exoqc.dataset import load_dataset
from exoqc.features import build_features
from exoqc.inference.score import ScoreSettings, score
from exoqc.model.load import load_model

SETTINGS = ScoreSettings(n_jobs=1, log_to_mlflow=False)


def test_shuffled_input_rows_give_the_same_scores_per_prep_id(use_store, tmp_path):
    shuffled = tmp_path / "shuffled"
    shutil.copytree(use_store.cohort, shuffled)
    rng = np.random.default_rng(0)
    for name in ("preps.csv", "markers.csv"):
        table = pd.read_csv(shuffled / name, dtype=str, keep_default_na=False)
        table.sample(frac=1, random_state=rng).to_csv(shuffled / name, index=False)

    original = score(use_store.cohort, tmp_path / "original.csv", SETTINGS).scores
    reordered = score(shuffled, tmp_path / "shuffled.csv", SETTINGS).scores
    order = pd.read_csv(shuffled / "preps.csv", dtype=str)["prep_id"]
    assert list(reordered["prep_id"]) == list(order)
    assert (original["status"] == "ok").all()
    pd.testing.assert_frame_equal(
        reordered.set_index("prep_id").loc[original["prep_id"]],
        original.set_index("prep_id"))

    # Each row is the model's answer for its own prep_id's features.
    features = build_features(load_dataset(use_store.cohort), n_jobs=1).frame
    purity = load_model("models:/exoqc-purity@champion").predictor.predict_frame(features)
    by_id = reordered.set_index("prep_id")
    np.testing.assert_allclose(by_id.loc[purity.index, "p_purity_high"].astype(float),
                               purity["p_high"], rtol=1e-6)
    assert (by_id.loc[purity.index, "purity_class"] == purity["label"]).all()
