"""The MLflow store: SQLite under the project's mlruns/, MLFLOW_TRACKING_URI wins."""

from pathlib import Path

import mlflow
from mlflow.utils.file_utils import local_file_uri_to_path

from exoqc import contracts, tracking
from exoqc.config import Settings


def test_default_store_is_sqlite_under_project_mlruns(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = tracking.tracking_uri(Settings(project_dir=tmp_path))
    assert uri == f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    assert tracking.artifact_root(uri) == (tmp_path / "mlruns" / "artifacts").as_uri()


def test_environment_wins(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert tracking.tracking_uri() == "http://127.0.0.1:5999"
    assert tracking.artifact_root("http://127.0.0.1:5999") is None


def test_experiment_created_with_artifacts_beside_database(tmp_path, monkeypatch):
    db = tmp_path / "store" / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    tracking.configure()
    experiment_id = tracking.experiment_id(contracts.EXPERIMENTS["purity"])
    assert tracking.experiment_id(contracts.EXPERIMENTS["purity"]) == experiment_id
    with mlflow.start_run(experiment_id=experiment_id):
        mlflow.log_text("hello", "note.txt")
        artifact_uri = mlflow.get_artifact_uri()
    assert db.is_file()
    artifact_dir = Path(local_file_uri_to_path(artifact_uri))
    assert artifact_dir.is_relative_to(tmp_path / "store" / "artifacts")
    assert (artifact_dir / "note.txt").read_text() == "hello"
