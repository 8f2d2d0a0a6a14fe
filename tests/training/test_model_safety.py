"""exoqc loads only its own models: native XGBoost JSON boosters and a JSON spec, checked
against checksums recorded at training time, read by code shipped in the package. No
pickle is ever deserialized on the scoring path; tampered, truncated or foreign models are
refused with a message saying so."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import cloudpickle
import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from exoqc import contracts, tracking
from exoqc.cli import app
from exoqc.dataset import load_dataset
from exoqc.features import build_features
from exoqc.inference.score import ScoreSettings, score
from exoqc.model.load import META_SHA_TAG, load_model, verify_pyfunc_code
from exoqc.model.predictor import BOOSTER_FILE, META_FILE, ModelIntegrityError, sha256_of
from exoqc.simulate import simulate_cohort

NAME = contracts.REGISTERED_MODELS["purity"]


class UnpicklingError(AssertionError):
    pass


def refuse(*args, **kwargs):
    raise UnpicklingError("something deserialized a pickle")


@pytest.fixture
def no_unpickling(monkeypatch):
    """Any pickle or cloudpickle deserialization fails the test."""
    for module in (pickle, cloudpickle):
        monkeypatch.setattr(module, "load", refuse)
        monkeypatch.setattr(module, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)


@pytest.fixture(scope="module")
def genuine(trained_store, tmp_path_factory) -> tuple[Path, str]:
    """A copy of the session's registered purity model and the checksum its version holds."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", trained_store.uri)
        tracking.configure()
        version = trained_store.results["purity"].model_version
        folder = Path(mlflow.artifacts.download_artifacts(
            f"models:/{NAME}/{version}", dst_path=str(tmp_path_factory.mktemp("genuine"))))
        sha = MlflowClient().get_model_version(NAME, version).tags[META_SHA_TAG]
    return folder, sha


@pytest.fixture
def copy(genuine, tmp_path) -> Path:
    return Path(shutil.copytree(genuine[0], tmp_path / "model"))


@pytest.fixture
def registry(tmp_path, monkeypatch) -> MlflowClient:
    """An empty registry of its own, where a test can register anything as exoqc-purity."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'registry.db'}")
    tracking.configure()
    client = MlflowClient()
    client.create_registered_model(NAME)
    return client


def artifact(folder: Path, name: str) -> Path:
    return folder / "artifacts" / name


def change_a_leaf(booster: Path) -> None:
    """Change one leaf value of the booster: a valid model that predicts differently."""
    model = json.loads(booster.read_text())
    tree = model["learner"]["gradient_booster"]["model"]["trees"][0]
    leaf = tree["left_children"].index(-1)
    tree["base_weights"][leaf] += 1.0
    tree["split_conditions"][leaf] += 1.0
    booster.write_text(json.dumps(model))


def test_scoring_deserializes_no_pickle(use_store, tmp_path, no_unpickling):
    batch = simulate_cohort(tmp_path / "batch", 6, 8)
    result = score(batch, tmp_path / "scores.csv", ScoreSettings(n_jobs=1, max_figures=1))
    assert result.n_ok == 6 and result.run_id


def test_the_genuine_model_loads_from_a_folder_and_from_the_registry(genuine, copy, registry,
                                                                      no_unpickling):
    assert load_model(str(copy)).predictor.spec.target == "purity"
    registry.create_model_version(NAME, source=str(copy), tags={META_SHA_TAG: genuine[1]})
    assert load_model(f"models:/{NAME}/1").label == f"{NAME}/1"


def test_a_tampered_booster_is_refused(copy, no_unpickling):
    change_a_leaf(artifact(copy, BOOSTER_FILE))
    with pytest.raises(ModelIntegrityError, match=r"checksum differs .* exoqc did not write"):
        load_model(str(copy))


def test_a_truncated_booster_is_refused(copy):
    booster = artifact(copy, BOOSTER_FILE)
    booster.write_bytes(booster.read_bytes()[:1000])
    with pytest.raises(ModelIntegrityError, match="checksum differs"):
        load_model(str(copy))


def test_a_booster_and_spec_changed_together_are_refused_by_the_registry(genuine, copy,
                                                                         registry):
    """Rewriting the spec's booster checksum does not help: the registry holds the spec's."""
    booster, meta = artifact(copy, BOOSTER_FILE), artifact(copy, META_FILE)
    change_a_leaf(booster)
    spec = json.loads(meta.read_text())
    spec["sha256"][BOOSTER_FILE] = sha256_of(booster)
    meta.write_text(json.dumps(spec))
    assert load_model(str(copy))  # consistent on its own...
    registry.create_model_version(NAME, source=str(copy), tags={META_SHA_TAG: genuine[1]})
    with pytest.raises(ModelIntegrityError, match="changed after registration"):
        load_model(f"models:/{NAME}/1")  # ...but not the model that was registered


def test_a_model_registered_by_something_else_is_refused_unread(registry, tmp_path,
                                                                 no_unpickling):
    from sklearn.dummy import DummyClassifier

    x = pd.DataFrame({"a": [0.0, 1.0, 2.0]})
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(DummyClassifier().fit(x, [0, 1, 1]), name="model",
                                        serialization_format="pickle")
    version = registry.create_model_version(NAME, source=info.model_uri).version
    with pytest.raises(ModelIntegrityError, match="not registered by exoqc"):
        load_model(f"models:/{NAME}/{version}")
    # Even with a checksum tag it is refused, without its pickle being opened.
    registry.set_model_version_tag(NAME, str(version), META_SHA_TAG, "0" * 64)
    with pytest.raises(ModelIntegrityError, match="not an exoqc model"):
        load_model(f"models:/{NAME}/{version}")
    output = tmp_path / "scores.csv"
    result = CliRunner().invoke(app, ["score", str(tmp_path), "-o", str(output),
                                      "--purity-model", f"models:/{NAME}/{version}"])
    assert result.exit_code == 1 and "not an exoqc model" in result.output
    assert not output.exists()
    with pytest.raises(UnpicklingError):  # what loading it as MLflow does would have done
        mlflow.sklearn.load_model(info.model_uri)


def test_a_spec_that_is_not_json_is_refused(copy):
    artifact(copy, META_FILE).write_text("{not json")
    with pytest.raises(ModelIntegrityError, match="not a readable exoqc model"):
        load_model(str(copy))


def test_model_files_outside_the_folder_are_refused(copy):
    mlmodel = copy / "MLmodel"
    described = yaml.safe_load(mlmodel.read_text())
    described["flavors"]["python_function"]["artifacts"]["booster"]["path"] = "../../booster.json"
    shutil.copy(artifact(copy, BOOSTER_FILE), copy.parent.parent / "booster.json")
    mlmodel.write_text(yaml.safe_dump(described))
    with pytest.raises(ModelIntegrityError, match="outside the model folder"):
        load_model(str(copy))


# --------------------------------------------------------------------------- the pyfunc path


def test_the_pyfunc_predicts_as_exoqc_and_checks_its_boosters(copy, use_store):
    verify_pyfunc_code(copy)
    features = build_features(load_dataset(use_store.cohort, errors="collect"), n_jobs=1).frame
    rows = features.head(5)
    pyfunc = mlflow.pyfunc.load_model(str(copy)).predict(rows)
    native = load_model(str(copy)).predictor.predict_frame(rows).reset_index(drop=True)
    np.testing.assert_allclose(pyfunc["p_high"], native["p_high"])
    change_a_leaf(artifact(copy, BOOSTER_FILE))
    with pytest.raises(Exception, match="checksum differs"):
        mlflow.pyfunc.load_model(str(copy))


def test_pyfunc_code_other_than_exoqc_s_is_refused_before_it_runs(copy):
    code = copy / "model_code.py"
    code.write_text(code.read_text() + "\nimport os  # anything\n")
    with pytest.raises(ModelIntegrityError, match="differs from the model code shipped"):
        verify_pyfunc_code(copy)


@pytest.mark.parametrize("change", [
    {"loader_module": "mlflow.sklearn"},
    {"code": "code"},
    {"python_model": "python_model.pkl"},
])
def test_a_pyfunc_that_would_load_other_code_or_a_pickle_is_refused(copy, change):
    mlmodel = copy / "MLmodel"
    described = yaml.safe_load(mlmodel.read_text())
    described["flavors"]["python_function"].update(change)
    mlmodel.write_text(yaml.safe_dump(described))
    with pytest.raises(ModelIntegrityError, match="not an exoqc model from code"):
        verify_pyfunc_code(copy)
