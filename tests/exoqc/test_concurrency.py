"""Several people on one SQLite store: two `exoqc train` and one `exoqc score`, at once, as
real processes, on a store none of them has created yet. None fails on a locked database or
in the store's creation, no run or model version is lost, every version loads verified, and
the champion alias moves as if the trainings had run one after the other."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from exoqc import contracts, tracking
from exoqc.model.load import load_model

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


@pytest.fixture(scope="module")
def model_folders(trained_store, tmp_path_factory) -> dict[str, Path]:
    """Copies of the session's two models, for the scoring process."""
    import mlflow

    folders = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", trained_store.uri)
        tracking.configure()
        for target, name in contracts.REGISTERED_MODELS.items():
            version = trained_store.results[target].model_version
            folders[target] = Path(mlflow.artifacts.download_artifacts(
                f"models:/{name}/{version}", dst_path=str(tmp_path_factory.mktemp(target))))
    return folders


def test_two_trainings_and_a_scoring_at_once_on_a_new_store_lose_nothing(
    small_cohort, model_folders, tmp_path, monkeypatch
):
    """All three start on a store that does not exist yet: its creation, the experiments'
    creation, run logging, registration and the champion move all happen concurrently."""
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    scores = tmp_path / "scores.csv"
    commands = [
        [*EXOQC, "train", str(small_cohort), "--target", "purity", "--n-trials", "1",
         "--seed", "1", "--validation", "heldout"],
        [*EXOQC, "train", str(small_cohort), "--target", "purity", "--n-trials", "1",
         "--seed", "2", "--validation", "heldout"],
        [*EXOQC, "score", str(small_cohort), "-o", str(scores),
         "--purity-model", str(model_folders["purity"]),
         "--potency-model", str(model_folders["potency"])],
    ]
    results = run_at_once(commands, env, tmp_path)
    for (code, output), command in zip(results, commands, strict=True):
        assert code == 0, f"{' '.join(command[1:3])} failed:\n{output[-3000:]}"
        assert "database is locked" not in output

    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    tracking.configure()
    client = MlflowClient()
    # No version lost: one per training, each loading verified.
    purity = sorted(int(v.version) for v in client.search_model_versions("name='exoqc-purity'"))
    assert purity == [1, 2]
    for version in purity:
        load_model(f"models:/exoqc-purity/{version}")
    # No run lost: two finished training runs (each with its trial), one scoring run.
    experiment = client.get_experiment_by_name(contracts.EXPERIMENTS["purity"])
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 2 and all(r.info.status == "FINISHED" for r in runs)
    assert len(runs) - len(parents) >= 2  # the nested trial runs
    scoring = client.get_experiment_by_name(contracts.EXPERIMENTS["scoring"])
    [scoring_run] = client.search_runs([scoring.experiment_id])
    assert scoring_run.info.status == "FINISHED"
    assert len(pd.read_csv(scores)) == 120

    # The champion decisions are serialized: the later one compares with the version the
    # earlier one made champion (without the store lock both found no champion).
    first, second = sorted(
        parents,
        key=lambda r: client.get_metric_history(r.info.run_id, "champion_promoted")[0].timestamp,
    )
    assert first.data.tags["exoqc.champion_decision"] == "no champion yet"
    compared = re.search(r"champion version (\d+)", second.data.tags["exoqc.champion_decision"])
    assert compared is not None and compared.group(1) == first.data.tags["exoqc.model_version"]
    final = str(client.get_model_version_by_alias("exoqc-purity", "champion").version)
    winner = second if second.data.metrics["champion_promoted"] else first
    assert final == winner.data.tags["exoqc.model_version"]


DECIDE = """
import sys, time
from pathlib import Path
from exoqc import tracking
from exoqc.training.registry import decide_champion

version, role, events = sys.argv[1], sys.argv[2], Path(sys.argv[3])

def wait_for(*names):
    # Polls for another process' event file; no assumption on how long anything takes.
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        for name in names:
            if (events / name).exists():
                return name
        time.sleep(0.01)
    sys.exit(f"{role}: none of {names} happened")

def mark(name):
    (events / name).write_text(role)

tracking.configure()
if role == "leader":
    wait_for("follower-ready")

    def evaluate_while_the_follower_waits(champion):
        mark("leader-deciding")  # inside the store lock
        if wait_for("follower-waiting", "follower-done") == "follower-done":
            sys.exit("the follower decided while the leader held the store lock")
        return 0.5

    decision = decide_champion("exoqc-purity", version, 0.9, "macro_f1",
                               evaluate_while_the_follower_waits)
else:
    mark("follower-ready")
    wait_for("leader-deciding")
    tracking.STORE_LOCK_OBSERVERS.append(lambda event: mark(f"follower-{event}"))
    decision = decide_champion("exoqc-purity", version, 0.9, "macro_f1", lambda c: 0.5)
    mark("follower-done")
print(decision.previous_version)
"""


def test_concurrent_champion_decisions_see_each_other(model_folders, tmp_path, monkeypatch):
    """Two trainings decide at the same moment over champion version 1: the one that decides
    second compares with the version the first promoted, not with version 1."""
    from exoqc.model.load import META_SHA_TAG
    from exoqc.model.predictor import META_FILE, sha256_of

    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    tracking.configure()
    client = MlflowClient()
    client.create_registered_model("exoqc-purity")
    folder = model_folders["purity"]
    sha = sha256_of(folder / "artifacts" / META_FILE)
    for _ in range(3):
        client.create_model_version("exoqc-purity", str(folder), tags={META_SHA_TAG: sha})
    client.set_registered_model_alias("exoqc-purity", contracts.CHAMPION_ALIAS, "1")

    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    events = tmp_path / "events"
    events.mkdir()
    # The leader evaluates the champion inside the store lock until the follower, which
    # starts deciding only then, reports (through the lock's own observer) that it waits.
    roles = {"2": "leader", "3": "follower"}
    results = run_at_once([[sys.executable, "-c", DECIDE, version, role, str(events)]
                           for version, role in roles.items()], env, tmp_path)
    seen = {}
    for (code, output), version in zip(results, roles, strict=True):
        assert code == 0, output[-3000:]
        seen[version] = output.strip().splitlines()[-1]
    assert seen == {"2": "1", "3": "2"}
    assert (events / "follower-waiting").exists()
    champion = client.get_model_version_by_alias("exoqc-purity", contracts.CHAMPION_ALIAS)
    assert str(champion.version) == "3"
