"""Fixtures shared by every test package."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from exoqc.simulate import simulate_cohort

SMALL_COHORT_SIZE = 120
SMALL_COHORT_SEED = 11
QUALITY_COHORT_SIZE = 500
QUALITY_COHORT_SEED = 29
SMALL_COHORT_NTA_SHARE = 0.5
"""Half the small cohort's preparations have an NTA export (nta/), so that every test on
it (training, scoring, Spark) carries NTA features like any other."""


@pytest.fixture(scope="session")
def small_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated prep dataset folder of 120 preparations (seed 11), half of them with an
    NTA export, written once per session.

    Read-only by convention: tests that change files must copy it first.
    """
    return simulate_cohort(tmp_path_factory.mktemp("small_cohort") / "cohort",
                           SMALL_COHORT_SIZE, SMALL_COHORT_SEED,
                           nta_share=SMALL_COHORT_NTA_SHARE)


@dataclass(frozen=True)
class TrainedStore:
    """A temporary MLflow store (SQLite) with both models trained on the small cohort."""

    uri: str
    cohort: Path
    results: dict


@pytest.fixture(scope="session")
def trained_store(tmp_path_factory: pytest.TempPathFactory, small_cohort: Path) -> TrainedStore:
    """Purity and potency models trained once per session (few trials: fast, not good).

    Tests that use it point MLflow at ``uri`` with ``use_store``.
    """
    from exoqc.training.job import TrainSettings, train

    uri = f"sqlite:///{tmp_path_factory.mktemp('trained_store') / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        results = train(small_cohort, target="all",
                        settings=TrainSettings(n_trials=2, n_folds=3, seed=0,
                                               validation="heldout"))
    return TrainedStore(uri=uri, cohort=small_cohort, results=results)


@pytest.fixture(scope="session")
def quality_store(tmp_path_factory: pytest.TempPathFactory) -> TrainedStore:
    """Both models trained once per session on 500 preparations (seed 29, 2 trials): the
    smallest cohort whose ~100 held-out preparations show a model's lead over the rules
    reliably (at 120, ~24 held-out preparations do not). For tests of model quality."""
    from exoqc.training.job import TrainSettings, train

    root = tmp_path_factory.mktemp("quality_store")
    cohort = simulate_cohort(root / "cohort", QUALITY_COHORT_SIZE, QUALITY_COHORT_SEED)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        results = train(cohort, target="all",
                        settings=TrainSettings(n_trials=2, n_folds=3, seed=0,
                                               validation="heldout"))
    return TrainedStore(uri=uri, cohort=cohort, results=results)


@pytest.fixture
def use_store(monkeypatch: pytest.MonkeyPatch, trained_store: TrainedStore) -> TrainedStore:
    """Point exoqc and MLflow at the session's trained store for one test."""
    from exoqc import tracking

    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained_store.uri)
    tracking.configure()
    return trained_store


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new, empty MLflow store of this test (SQLite in ``tmp_path``), for exoqc and MLflow
    alike; its URI."""
    from exoqc import tracking

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    tracking.configure()  # an earlier test may have pointed MLflow elsewhere
    return uri


@pytest.fixture
def prep_folder(tmp_path: Path) -> Callable[..., Path]:
    """Write a prep dataset folder from CSV texts; returns its path.

    ``prep_folder(preps, markers=None, cargo=None, dls={name: text}, name="ds")``
    """
    def write(preps: str, markers: str | None = None, cargo: str | None = None,
              dls: dict[str, str] | None = None, name: str = "ds") -> Path:
        root = tmp_path / name
        root.mkdir()
        (root / "preps.csv").write_text(preps)
        if markers is not None:
            (root / "markers.csv").write_text(markers)
        if cargo is not None:
            (root / "cargo.csv").write_text(cargo)
        if dls:
            (root / "dls").mkdir()
            for file_name, text in dls.items():
                (root / "dls" / file_name).write_text(text)
        return root

    return write


@pytest.fixture
def store_without_potency(trained_store: TrainedStore, tmp_path: Path,
                          monkeypatch: pytest.MonkeyPatch) -> str:
    """A copy of the session's trained store whose potency model is deleted (only the
    purity model registered), for exoqc and MLflow alike; its URI."""
    from mlflow.tracking import MlflowClient

    copy = tmp_path / "mlflow.db"
    shutil.copy(trained_store.uri.removeprefix("sqlite:///"), copy)
    uri = f"sqlite:///{copy}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    MlflowClient(tracking_uri=uri, registry_uri=uri).delete_registered_model("exoqc-potency")
    return uri
