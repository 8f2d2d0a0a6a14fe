"""`exoqc train` killed (SIGKILL) at the two delicate moments, while the model's files are
being stored and while it holds the store's lock to move the champion: the registry never
holds a version without its files (each one loads verified), the lock dies with the process,
and the next training registers and promotes as usual."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from exoqc import tracking
from exoqc.training.registry import META_SHA_TAG, load_model

NAME = tracking.REGISTERED_MODELS["purity"]

# `exoqc train`, killed once the MLmodel file of the model is stored but not its boosters.
DIE_WHILE_STORING_THE_MODEL = """
import os, signal, sys
from pathlib import Path
from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository

real = LocalArtifactRepository.log_artifacts

def store_part_and_die(self, local_dir, artifact_path=None):
    if (Path(local_dir) / "MLmodel").is_file():
        self.log_artifact(str(Path(local_dir) / "MLmodel"), artifact_path)
        os.kill(os.getpid(), signal.SIGKILL)
    return real(self, local_dir, artifact_path)

LocalArtifactRepository.log_artifacts = store_part_and_die
from exoqc.cli import app
sys.argv = ["exoqc", *sys.argv[1:]]
app()
"""

# `exoqc train`, killed inside the champion decision, holding the store's lock.
DIE_HOLDING_THE_STORE_LOCK = """
import os, signal, sys
import exoqc.training.registry as registry

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

registry._decide_champion = die
from exoqc.cli import app
sys.argv = ["exoqc", *sys.argv[1:]]
app()
"""


def train_and_die(driver: str, cohort: Path, env: dict, cwd: Path) -> None:
    command = [sys.executable, "-c", driver, "train", str(cohort), "--target", "purity",
               "--n-trials", "1"]
    process = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True,
                             timeout=600)
    assert process.returncode == -signal.SIGKILL, process.stderr[-3000:]


def versions(client: MlflowClient) -> list[int]:
    return sorted(int(v.version) for v in client.search_model_versions(f"name='{NAME}'"))


def every_version_loads_verified(client: MlflowClient) -> None:
    for version in client.search_model_versions(f"name='{NAME}'"):
        assert META_SHA_TAG in version.tags
        load_model(f"models:/{NAME}/{version.version}")


def test_training_killed_midway_leaves_no_version_without_its_files(
    small_cohort, tmp_path, monkeypatch
):
    from exoqc.training.job import TrainSettings, train

    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}

    train_and_die(DIE_WHILE_STORING_THE_MODEL, small_cohort, env, tmp_path)
    tracking.configure()
    client = MlflowClient()
    assert versions(client) == []  # half-stored files were never registered

    train_and_die(DIE_HOLDING_THE_STORE_LOCK, small_cohort, env, tmp_path)
    assert versions(client) == [1]  # complete and verified before the decision began
    every_version_loads_verified(client)
    with pytest.raises(MlflowException):
        client.get_model_version_by_alias(NAME, tracking.CHAMPION_ALIAS)

    # The next training is not blocked by the dead process' lock and works as usual.
    [result] = train(small_cohort, target="purity",
                     settings=TrainSettings(n_trials=1, n_folds=2, seed=3)).values()
    assert result.model_version == "2" and result.champion.promoted
    assert versions(client) == [1, 2]
    every_version_loads_verified(client)
    champion = client.get_model_version_by_alias(NAME, tracking.CHAMPION_ALIAS)
    assert str(champion.version) == "2"
