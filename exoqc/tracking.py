"""The MLflow store: one place that says where runs, artifacts and models live.

Default: ``sqlite:///<project>/mlruns/mlflow.db`` for tracking and the model registry, with
artifacts in ``<project>/mlruns/artifacts/<experiment>``. ``MLFLOW_TRACKING_URI`` wins (a
team's tracking server, PostgreSQL, or a test's temporary SQLite file); with a SQLite URI
the artifacts go beside the database file. MLflow 3 refuses a plain ``./mlruns`` file
store, so exoqc never uses one.

Several exoqc processes may share one SQLite store (colleagues training and scoring at the
same time). MLflow waits for the database's write lock (SQLite busy timeout), but two
things need more: creating a new store's tables (concurrent first runs break MLflow's
migrations) and moving the ``champion`` alias (read, compare, move). Both run under
:func:`store_lock`, an inter-process lock file beside the database.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
import pandas as pd
from filelock import FileLock, Timeout
from mlflow.data.pandas_dataset import from_pandas
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode
from mlflow.tracking import MlflowClient

from exoqc.config import Settings, get_settings

STORE_LOCK_TIMEOUT_S = 600.0
"""Longest wait for another process' critical section (it holds the lock for seconds)."""
STORE_LOCK_OBSERVERS: list[Callable[[str], None]] = []
"""Called with ``"waiting"`` when :func:`store_lock` finds the lock held by another process
and starts to wait for it (tests synchronise processes on it instead of sleeping)."""


def tracking_uri(settings: Settings | None = None) -> str:
    """``MLFLOW_TRACKING_URI`` when set, else the project's SQLite store."""
    settings = settings or get_settings()
    if settings.mlflow_tracking_uri:
        return settings.mlflow_tracking_uri
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


@contextmanager
def store_lock(uri: str | None = None) -> Iterator[None]:
    """Hold the store's inter-process lock (``mlflow.db.lock`` beside a SQLite database).

    The lock is an OS file lock: a process that dies (even by SIGKILL) releases it. For a
    tracking server there is no shared file to lock: the block runs unserialized (the
    server serializes each write; a read-compare-write such as moving the champion is then
    not atomic between machines).
    """
    db = sqlite_path(uri or mlflow.get_tracking_uri())
    if db is None:
        yield
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(db.with_name(f"{db.name}.lock"), timeout=STORE_LOCK_TIMEOUT_S)
    try:
        lock.acquire(blocking=False)
    except Timeout:
        for observer in STORE_LOCK_OBSERVERS:
            observer("waiting")
        try:
            lock.acquire()
        except Timeout:
            raise TimeoutError(
                f"{lock.lock_file}: another exoqc process has held the store's lock for "
                f"{STORE_LOCK_TIMEOUT_S:.0f} s; if none is running, delete this file"
            ) from None
    try:
        yield
    finally:
        lock.release()


def configure(settings: Settings | None = None) -> str:
    """Point MLflow's tracking and registry at the store; returns its URI.

    A SQLite store is opened under :func:`store_lock`: the first process creates its
    tables while the others wait.
    """
    uri = tracking_uri(settings)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if sqlite_path(uri) is not None:
        with store_lock(uri):
            client = MlflowClient(uri, uri)
            client.search_experiments(max_results=1)
            client.search_registered_models(max_results=1)
    return uri


def experiment_id(name: str) -> str:
    """The id of an exoqc experiment, created on first use with its artifact location."""
    client = MlflowClient()
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    root = artifact_root(mlflow.get_tracking_uri())
    location = f"{root}/{name}" if root else None
    try:
        return client.create_experiment(name, artifact_location=location)
    except MlflowException as exc:
        # Another process created it between the lookup and the creation.
        if exc.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
            raise
        created = client.get_experiment_by_name(name)
        if created is None:  # deleted again in between: nothing sensible to return
            raise
        return created.experiment_id


def log_table_input(frame: pd.DataFrame, source: Path, name: str, context: str,
                    targets: str | None = None) -> None:
    """Log a feature table as an MLflow dataset input of the active run.

    MLflow registers its local-file dataset source twice and warns that a local path is
    ambiguous, and its digest code trips pandas deprecation notices: neither concerns
    the user, so they are silenced here and only here.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"mlflow\.")
        dataset = from_pandas(frame, source=str(source), targets=targets, name=name)
        mlflow.log_input(dataset, context=context)
