"""The MLflow store: one place that says where runs, artifacts and models live.

Default: ``sqlite:///<project>/mlruns/mlflow.db`` for tracking and the model registry, with
artifacts in ``<project>/mlruns/artifacts/<experiment>``. ``MLFLOW_TRACKING_URI`` wins (a
team's tracking server, PostgreSQL, or a test's temporary SQLite file); with a SQLite URI
the artifacts go beside the database file. MLflow 3 refuses a plain ``./mlruns`` file
store, so exoqc never uses one.
"""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

from exoqc.config import Settings, get_settings

EXPERIMENTS = {
    "purity": "exoqc-purity",
    "potency": "exoqc-potency",
    "scoring": "exoqc-scoring",
}
REGISTERED_MODELS = {"purity": "exoqc-purity", "potency": "exoqc-potency"}
CHAMPION_ALIAS = "champion"


def tracking_uri(settings: Settings | None = None) -> str:
    """``MLFLOW_TRACKING_URI`` when set, else the project's SQLite store."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    settings = settings or get_settings()
    return f"sqlite:///{settings.mlruns_dir / 'mlflow.db'}"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, else ``None``."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return None
    # sqlite:///relative.db and sqlite:////absolute.db (SQLAlchemy's form)
    return Path(uri.removeprefix(prefix).split("?", 1)[0])


def artifact_root(uri: str) -> str | None:
    """Where experiments created by exoqc keep artifacts; ``None`` lets a server decide."""
    db = sqlite_path(uri)
    return (db.parent / "artifacts").as_uri() if db else None


def configure(settings: Settings | None = None) -> str:
    """Point MLflow's tracking and registry at the store; returns its URI."""
    uri = tracking_uri(settings)
    db = sqlite_path(uri)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def experiment_id(name: str) -> str:
    """The id of an exoqc experiment, created on first use with its artifact location."""
    client = MlflowClient()
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    root = artifact_root(mlflow.get_tracking_uri())
    location = f"{root}/{name}" if root else None
    return client.create_experiment(name, artifact_location=location)
