"""The team setup of docs/scale.md, for real: PostgreSQL + ``mlflow server``, exoqc pointed
at it by ``MLFLOW_TRACKING_URI`` alone.

Smoke test of issue 9 without trained models: an exoqc experiment, a run with an artifact,
a registered model version with the ``champion`` alias, all read back through the server.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression

from exoqc import tracking
from tests import services

postgres_server = services.postgres_server
mlflow_team_server = services.mlflow_team_server

SUMMARY = "training cohort: 40 simulated preparations"


def test_exoqc_tracks_and_registers_through_a_postgres_backed_server(
    tmp_path, monkeypatch, postgres_server, mlflow_team_server
):
    database_url = postgres_server.create_database("team")
    artifacts = tmp_path / "team-artifacts"
    server = mlflow_team_server(database_url, artifacts)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    assert tracking.configure() == server.url

    rng = np.random.default_rng(7)
    features = rng.normal(size=(40, 3))
    labels = (features[:, 0] + 0.5 * features[:, 1] > 0).astype(int)
    model = LogisticRegression().fit(features, labels)

    experiment_id = tracking.experiment_id(tracking.EXPERIMENTS["purity"])
    name = tracking.REGISTERED_MODELS["purity"]
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_metric("balanced_accuracy", 0.9)
        mlflow.log_text(SUMMARY, "notes/summary.txt")
        logged = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name=name,
            pip_requirements=["scikit-learn"],
        )
    MlflowClient().set_registered_model_alias(
        name, tracking.CHAMPION_ALIAS, logged.registered_model_version
    )

    # read back by a fresh client that knows nothing but the server's URL
    reader = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    champion = reader.get_model_version_by_alias(name, tracking.CHAMPION_ALIAS)
    assert champion.version == str(logged.registered_model_version)
    assert champion.run_id == run.info.run_id
    assert reader.get_run(run.info.run_id).data.metrics == {"balanced_accuracy": 0.9}
    downloaded = reader.download_artifacts(run.info.run_id, "notes/summary.txt", str(tmp_path))
    assert Path(downloaded).read_text() == SUMMARY
    loaded = mlflow.pyfunc.load_model(f"models:/{name}@{tracking.CHAMPION_ALIAS}")
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))

    # the server stored the artifacts (clients upload through it) ...
    assert [p.read_text() for p in artifacts.rglob("summary.txt")] == [SUMMARY]
    # ... and the runs and the registry are in PostgreSQL, not in some local file
    import psycopg  # the postgres extra; postgres_server skips (or fails in CI) without it

    with psycopg.connect(database_url) as connection:
        experiments = connection.execute("SELECT name FROM experiments").fetchall()
        aliases = connection.execute(
            "SELECT alias, version FROM registered_model_aliases WHERE name = %s", [name]
        ).fetchall()
    assert tracking.EXPERIMENTS["purity"] in {row[0] for row in experiments}
    assert aliases == [(tracking.CHAMPION_ALIAS, int(champion.version))]
