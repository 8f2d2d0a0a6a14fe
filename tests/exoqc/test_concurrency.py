"""Several people on one SQLite store: two `exoqc train` and one `exoqc score`, at once, as
real processes. None fails on a locked database, no run or model version is lost, every
version loads verified, and the champion alias moves as if the trainings had run one after
the other."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from exoqc import tracking
from exoqc.training.registry import load_model

EXOQC = [str(Path(sys.executable).with_name("exoqc"))]
TIMEOUT_S = 900


def run_at_once(commands: list[list[str]], env: dict, cwd: Path) -> list[tuple[int, str]]:
    processes = [subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
                 for command in commands]
    outputs = []
    try:
        for process in processes:
            output, _ = process.communicate(timeout=TIMEOUT_S)
            outputs.append((process.returncode, output))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    return outputs


@pytest.fixture
def seeded_store(tmp_path, small_cohort, monkeypatch) -> str:
    """A fresh store with a champion of each model (the scoring process needs them)."""
    from exoqc.training.job import TrainSettings, train

    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    train(small_cohort, target="all", settings=TrainSettings(n_trials=1, n_folds=2, seed=0))
    return uri


def test_two_trainings_and_a_scoring_at_once_lose_nothing(seeded_store, small_cohort,
                                                           tmp_path):
    env = {**os.environ, "MLFLOW_TRACKING_URI": seeded_store}
    scores = tmp_path / "scores.csv"
    commands = [
        [*EXOQC, "train", str(small_cohort), "--target", "purity", "--n-trials", "1",
         "--seed", "1"],
        [*EXOQC, "train", str(small_cohort), "--target", "purity", "--n-trials", "1",
         "--seed", "2"],
        [*EXOQC, "score", str(small_cohort), "-o", str(scores)],
    ]
    results = run_at_once(commands, env, tmp_path)
    for (code, output), command in zip(results, commands, strict=True):
        assert code == 0, f"{' '.join(command[1:3])} failed:\n{output[-3000:]}"
        assert "database is locked" not in output

    tracking.configure()
    client = MlflowClient()
    # No version lost: the seed's and one per concurrent training, each loading verified.
    purity = sorted(int(v.version) for v in client.search_model_versions("name='exoqc-purity'"))
    assert purity == [1, 2, 3]
    for version in purity:
        load_model(f"models:/exoqc-purity/{version}")
    # No run lost: three finished training runs (each with its trial), one scoring run.
    experiment = client.get_experiment_by_name(tracking.EXPERIMENTS["purity"])
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 3 and all(r.info.status == "FINISHED" for r in runs)
    assert len(runs) - len(parents) >= 3  # the nested trial runs
    scoring = client.get_experiment_by_name(tracking.EXPERIMENTS["scoring"])
    [scoring_run] = client.search_runs([scoring.experiment_id])
    assert scoring_run.info.status == "FINISHED"
    assert len(pd.read_csv(scores)) == 120

    # The champion decisions are serialized: the later one compares with the version the
    # earlier one left as champion.
    concurrent = sorted(
        (r for r in parents if r.data.tags["exoqc.model_version"] != "1"),
        key=lambda r: client.get_metric_history(r.info.run_id, "champion_promoted")[0].timestamp,
    )
    first, second = concurrent
    champion_after_first = (first.data.tags["exoqc.model_version"]
                            if first.data.metrics["champion_promoted"] else "1")
    compared = re.search(r"champion version (\d+)", second.data.tags["exoqc.champion_decision"])
    assert compared is not None and compared.group(1) == champion_after_first
    final = str(client.get_model_version_by_alias("exoqc-purity", "champion").version)
    expected = (second.data.tags["exoqc.model_version"]
                if second.data.metrics["champion_promoted"] else champion_after_first)
    assert final == expected


FIRST_USE = """
from exoqc import tracking
tracking.configure()
print(tracking.experiment_id(tracking.EXPERIMENTS["purity"]))
"""


def test_first_runs_on_a_new_store_at_once_create_it_once(tmp_path):
    """Without the store lock, MLflow's table creation races and most processes fail."""
    uri = f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    results = run_at_once([[sys.executable, "-c", FIRST_USE]] * 4, env, tmp_path)
    for code, output in results:
        assert code == 0, output[-3000:]
    assert len({output.strip().splitlines()[-1] for _, output in results}) == 1
