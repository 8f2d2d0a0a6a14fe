"""The team setup of docs/scale.md, for real: PostgreSQL + ``mlflow server``, exoqc pointed
at it by ``MLFLOW_TRACKING_URI`` alone.

exoqc trains both models on the small cohort through the server (runs, figures and the
registered versions with their ``champion`` alias go there), then scores a new batch with
the server's champions. A fresh client that knows nothing but the server's URL reads it
all back, and PostgreSQL itself and the server's artifact folder are checked: nothing was
written to a local store.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from mlflow import MlflowClient

from exoqc import contracts, tracking
from exoqc.inference.score import ScoreSettings, score
from exoqc.simulate import simulate_cohort
from exoqc.training.job import TrainSettings, train
from tests import services

postgres_server = services.postgres_server
mlflow_team_server = services.mlflow_team_server


def test_exoqc_trains_registers_and_scores_through_a_postgres_backed_server(
    tmp_path, monkeypatch, postgres_server, mlflow_team_server, small_cohort
):
    database_url = postgres_server.create_database("team")
    artifacts = tmp_path / "team-artifacts"
    server = mlflow_team_server(database_url, artifacts)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.chdir(tmp_path)  # a local store would appear here as ./mlruns
    assert tracking.configure() == server.url

    trained = train(small_cohort, target="all",
                    settings=TrainSettings(n_trials=1, n_folds=2, seed=0, n_jobs=1,
                                           validation="heldout"))
    batch = simulate_cohort(tmp_path / "new-batch", 12, seed=5)
    scored = score(batch, tmp_path / "scores.csv", ScoreSettings(max_figures=2, n_jobs=1))

    # read back by a fresh client that knows nothing but the server's URL
    reader = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    labels = {}
    for target in ("purity", "potency"):
        name = contracts.REGISTERED_MODELS[target]
        champion = reader.get_model_version_by_alias(name, contracts.CHAMPION_ALIAS)
        assert champion.version == trained[target].model_version
        assert champion.run_id == trained[target].run_id
        labels[target] = f"{name}/{champion.version}"
    scores = pd.read_csv(scored.output)
    assert len(scores) == 12 and (scores["status"] == "ok").all()
    assert set(scores["purity_model"]) == {labels["purity"]}
    assert set(scores["potency_model"]) == {labels["potency"]}

    run = reader.get_run(scored.run_id)
    scoring = reader.get_experiment_by_name(contracts.EXPERIMENTS["scoring"])
    assert run.info.experiment_id == scoring.experiment_id
    assert run.data.metrics["n_ok"] == 12
    assert run.data.params["purity_model"] == labels["purity"]
    report = Path(reader.download_artifacts(scored.run_id, "report.html", str(tmp_path)))
    assert scores["prep_id"].iloc[0] in report.read_text()

    # the server stored the artifacts (clients upload through it), nothing went local ...
    assert [p.name for p in artifacts.rglob("report.html")] == ["report.html"]
    assert len(list(artifacts.rglob("booster.json"))) == 2
    assert not (tmp_path / "mlruns").exists()
    # ... and the runs and the registry are in PostgreSQL
    import psycopg  # the postgres extra; postgres_server skips (or fails in CI) without it

    with psycopg.connect(database_url) as connection:
        runs = connection.execute(
            "SELECT r.run_uuid, e.name FROM runs r JOIN experiments e "
            "ON r.experiment_id = e.experiment_id WHERE r.run_uuid = %s", [scored.run_id]
        ).fetchall()
        versions = connection.execute(
            "SELECT name, version FROM model_versions ORDER BY name").fetchall()
        aliases = connection.execute(
            "SELECT name, alias, version FROM registered_model_aliases ORDER BY name"
        ).fetchall()
    assert runs == [(scored.run_id, contracts.EXPERIMENTS["scoring"])]
    assert versions == [("exoqc-potency", 1), ("exoqc-purity", 1)]
    assert aliases == [("exoqc-potency", contracts.CHAMPION_ALIAS, 1),
                       ("exoqc-purity", contracts.CHAMPION_ALIAS, 1)]
