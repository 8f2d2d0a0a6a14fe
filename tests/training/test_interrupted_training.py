"""`exoqc train` killed (SIGKILL) while the model's files are being stored, and a process
killed while it holds the store's lock (as a training does to move the champion): the
registry never holds a version without its files (each one loads verified), the lock dies
with its process, and the next training registers and promotes as usual."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from exoqc import contracts, tracking
from exoqc.model.load import META_SHA_TAG, load_model

NAME = contracts.REGISTERED_MODELS["purity"]

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

# A process killed while it holds the store's lock.
DIE_HOLDING_THE_STORE_LOCK = """
import os, signal
from exoqc import tracking
tracking.configure()
with tracking.store_lock():
    os.kill(os.getpid(), signal.SIGKILL)
"""


def run_and_die(command: list[str], env: dict, cwd: Path) -> None:
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
    monkeypatch.setattr(tracking, "STORE_LOCK_TIMEOUT_S", 60.0)  # a stuck lock fails fast
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}

    run_and_die([sys.executable, "-c", DIE_WHILE_STORING_THE_MODEL, "train", str(small_cohort),
                 "--target", "purity", "--n-trials", "1", "--validation", "heldout"], env,
                tmp_path)
    tracking.configure()
    client = MlflowClient()
    assert versions(client) == []  # half-stored files were never registered
    with pytest.raises(MlflowException):
        client.get_model_version_by_alias(NAME, contracts.CHAMPION_ALIAS)

    run_and_die([sys.executable, "-c", DIE_HOLDING_THE_STORE_LOCK], env, tmp_path)

    # The next training is not blocked by the dead process' lock and works as usual.
    [result] = train(small_cohort, target="purity",
                     settings=TrainSettings(n_trials=1, n_folds=2, seed=3,
                                                    validation="heldout")).values()
    assert result.model_version == "1" and result.champion.promoted
    assert versions(client) == [1]
    every_version_loads_verified(client)
    champion = client.get_model_version_by_alias(NAME, contracts.CHAMPION_ALIAS)
    assert str(champion.version) == "1"
