"""The champion decision with real models: a better version promotes, a tie or a worse one
does not, a champion that cannot be evaluated is replaced and the reason says so, and a
training compares with the real champion on its own new held-out split."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.metrics import f1_score

from exoqc import contracts, tracking
from exoqc.dataset import LABEL_VALUES, load_dataset
from exoqc.features import build_features
from exoqc.model.load import META_SHA_TAG
from exoqc.model.predictor import META_FILE, sha256_of
from exoqc.training.job import TrainSettings, train
from exoqc.training.registry import decide_champion
from exoqc.training.split import batch_groups, heldout_split

NAME = contracts.REGISTERED_MODELS["purity"]
CLASSES = LABEL_VALUES["purity_class"]


@pytest.fixture(scope="module")
def purity_model_folder(trained_store, tmp_path_factory) -> Path:
    """A copy of the session's purity model (its MLflow model folder)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", trained_store.uri)
        tracking.configure()
        version = trained_store.results["purity"].model_version
        return Path(mlflow.artifacts.download_artifacts(
            f"models:/{NAME}/{version}", dst_path=str(tmp_path_factory.mktemp("purity"))))


@pytest.fixture(scope="module")
def cohort_data(small_cohort):
    """Features and purity label positions of the small cohort, prep_id order."""
    dataset = load_dataset(small_cohort)
    features = build_features(dataset, n_jobs=1).frame.loc[dataset.preps.index]
    labels = dataset.preps["purity_class"].map({c: i for i, c in enumerate(CLASSES)})
    return dataset, features, labels.to_numpy(dtype=int)


@pytest.fixture
def registry(tmp_path, monkeypatch, purity_model_folder) -> MlflowClient:
    """A new store holding the purity model as version 1 (champion) and 2 (a candidate)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    tracking.configure()
    client = MlflowClient()
    client.create_registered_model(NAME)
    sha = sha256_of(purity_model_folder / "artifacts" / META_FILE)
    for _ in range(2):
        client.create_model_version(NAME, str(purity_model_folder), tags={META_SHA_TAG: sha})
    client.set_registered_model_alias(NAME, contracts.CHAMPION_ALIAS, "1")
    return client


def champion_version(client: MlflowClient) -> str:
    return str(client.get_model_version_by_alias(NAME, contracts.CHAMPION_ALIAS).version)


def macro_f1_on(features: pd.DataFrame, labels: np.ndarray):
    def score(predictor) -> float:
        predicted = predictor.predict_proba(features).argmax(axis=1)
        return float(f1_score(labels, predicted, labels=[0, 1, 2], average="macro"))
    return score


def test_better_promotes_tie_and_worse_do_not(registry, cohort_data):
    _, features, labels = cohort_data
    score = macro_f1_on(features, labels)
    # The champion (version 1) scored for real on these preparations.
    tie = decide_champion(NAME, "2", 0.0, "macro_f1", score)
    real = tie.previous_score
    assert 0 < real < 1
    tie = decide_champion(NAME, "2", real, "macro_f1", score)
    assert not tie.promoted and champion_version(registry) == "1"
    assert tie.previous_version == "1" and "does not beat" in tie.reason

    worse = decide_champion(NAME, "2", real - 1e-6, "macro_f1", score)
    assert not worse.promoted and champion_version(registry) == "1"

    better = decide_champion(NAME, "2", real + 1e-6, "macro_f1", score)
    assert better.promoted and champion_version(registry) == "2"
    assert better.previous_score == pytest.approx(real) and "beats" in better.reason


def test_no_champion_yet_promotes(registry):
    registry.delete_registered_model_alias(NAME, contracts.CHAMPION_ALIAS)
    decision = decide_champion(NAME, "2", 0.1, "macro_f1", lambda predictor: 1.0)
    assert decision.promoted and decision.reason == "no champion yet"
    assert champion_version(registry) == "2"


def test_a_champion_whose_files_changed_is_replaced_and_the_reason_says_so(registry):
    # The registry's checksum no longer matches version 1's files: it cannot be loaded.
    registry.set_model_version_tag(NAME, "1", META_SHA_TAG, "0" * 64)
    decision = decide_champion(NAME, "2", 0.1, "macro_f1", lambda predictor: 1.0)
    assert decision.promoted and champion_version(registry) == "2"
    assert "champion version 1 could not be evaluated" in decision.reason
    assert "checksum" in decision.reason and decision.previous_score is None


def test_a_champion_that_cannot_read_todays_features_is_replaced(registry, cohort_data):
    _, features, labels = cohort_data
    # Today's feature table lacks a feature the champion was trained on.
    score = macro_f1_on(features.drop(columns=features.columns[0]), labels)
    decision = decide_champion(NAME, "2", 0.1, "macro_f1", score)
    assert decision.promoted and champion_version(registry) == "2"
    assert "could not be evaluated" in decision.reason and "retrain" in decision.reason


def test_training_compares_with_the_real_champion_on_its_new_held_out_split(registry,
                                                                             cohort_data):
    dataset, features, labels = cohort_data
    seed = 1  # the session's model was trained with seed 0: another held-out split
    results = train(dataset, target="purity",
                    settings=TrainSettings(n_trials=1, n_folds=3, seed=seed, n_jobs=1,
                                           validation="heldout"))
    decision = results["purity"].champion
    assert results["purity"].model_version == "3"
    assert decision.previous_version == "1"

    _, test = heldout_split(pd.Series(labels), batch_groups(dataset.preps), 0.2, seed)
    _, session_test = heldout_split(pd.Series(labels), batch_groups(dataset.preps), 0.2, 0)
    assert set(test) != set(session_test)
    champion = mlflow.pyfunc.load_model(f"models:/{NAME}/1")
    predicted = champion.predict(features.iloc[test])["label"].map(
        {c: i for i, c in enumerate(CLASSES)})
    expected = f1_score(labels[test], predicted, labels=[0, 1, 2], average="macro")
    assert decision.previous_score == pytest.approx(expected, abs=1e-12)
    assert decision.promoted == (decision.new_score > expected)
    assert champion_version(registry) == ("3" if decision.promoted else "1")
