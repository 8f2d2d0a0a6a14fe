"""``exoqc ui``: MLflow's own server on the project's store, seen over HTTP and in Chromium.

The browser tests follow issue 8 the way a scientist meets exoqc: models trained into a
temporary store (the session's ``trained_store``), a small batch of new preparations scored
into it with ``exoqc.inference.score.score``, the UI started with the real ``exoqc ui``
command on a free loopback port, then in headless Chromium: the scoring run's per-prep SHAP
waterfall and HTML report, a training run's metrics and SHAP figures, and the registered
models with their champion alias and description. The browser tests share one server,
stopped at the end of the module, also on failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from mlflow.utils.file_utils import local_file_uri_to_path

from exoqc import contracts, tracking, ui
from exoqc.dataset import ASSAY_READOUTS, LABEL_VALUES
from exoqc.inference.score import ScoreSettings, score
from tests import services

chromium_page = services.chromium_page
mlflow_ui_server = services.mlflow_ui_server

REPORT_TEXT = "DA-2024-017: purity high, potent"


def _store_with_a_report(store: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, str]:
    """A SQLite store with one exoqc-scoring run holding an HTML report."""
    uri = f"sqlite:///{store / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    tracking.configure()
    experiment_id = tracking.experiment_id(contracts.EXPERIMENTS["scoring"])
    report = f"<html><body><h1>exoqc batch report</h1><p>{REPORT_TEXT}</p></body></html>"
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_text(report, "report.html")
    return uri, experiment_id, run.info.run_id


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode()


def test_loopback_hosts_are_recognised():
    # 127.0.0.0/8 and ::1 are loopback (RFC 1122 3.2.1.3, RFC 4291 2.5.3)
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        assert ui.is_loopback(host), host
    for host in ("0.0.0.0", "::", "192.168.1.20", "10.0.0.5", "mlflow.example.org"):
        assert not ui.is_loopback(host), host


def test_browser_url_for_wildcard_and_ipv6_hosts():
    assert ui.browser_url("0.0.0.0", 5000) == "http://127.0.0.1:5000"
    assert ui.browser_url("::", 5000) == "http://[::1]:5000"
    assert ui.browser_url("::1", 5001) == "http://[::1]:5001"
    assert ui.browser_url("localhost", 8080) == "http://localhost:8080"


def test_ui_serves_the_store_and_stops_cleanly_on_ctrl_c(tmp_path, monkeypatch, mlflow_ui_server):
    uri, experiment_id, run_id = _store_with_a_report(tmp_path / "store", monkeypatch)
    server = mlflow_ui_server(uri)

    status, page = _get(server.url + "/")
    assert status == 200 and "<title>MLflow</title>" in page
    _, body = _get(
        f"{server.url}/api/2.0/mlflow/experiments/get-by-name?experiment_name=exoqc-scoring"
    )
    experiment = json.loads(body)["experiment"]
    assert experiment["experiment_id"] == experiment_id
    assert (
        experiment["artifact_location"]
        == (tmp_path / "store" / "artifacts" / "exoqc-scoring").as_uri()
    )
    # the file:// artifacts beside the database are served to the UI
    status, report = _get(f"{server.url}/get-artifact?path=report.html&run_uuid={run_id}")
    assert status == 200 and REPORT_TEXT in report

    server_processes = services.descendants(server.process.pid)
    assert server_processes, "exoqc ui should run the MLflow server as a child process"
    server.process.send_signal(signal.SIGINT)
    exit_code = server.process.wait(timeout=30)

    output = server.log_path.read_text()
    assert exit_code == 0, output
    assert f"MLflow UI: {server.url}/#/experiments" in output
    assert "MLflow UI stopped." in output
    assert "Traceback" not in output
    assert not [pid for pid in server_processes if services.is_running(pid)], "server left running"
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", int(server.url.rsplit(":", 1)[1]))) != 0


def test_ui_refuses_a_port_in_use(tmp_path):
    port = services.free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = subprocess.run(
            [services.exoqc_command(), "ui", "--port", str(port)],
            env=_env(f"sqlite:///{tmp_path / 'mlflow.db'}"),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"port {port}" in result.stderr and "--port" in result.stderr
    assert "Traceback" not in result.stderr


def test_ui_on_a_host_that_cannot_be_resolved_says_so(tmp_path):
    result = subprocess.run(
        [services.exoqc_command(), "ui", "--host", "nosuchhost.invalid"],
        env=_env(f"sqlite:///{tmp_path / 'mlflow.db'}"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "host 'nosuchhost.invalid' cannot be resolved" in result.stderr
    assert "--port" not in result.stderr and "Traceback" not in result.stderr


def test_ui_on_a_tracking_server_starts_nothing(tmp_path):
    server = "http://127.0.0.1:5999"
    result = subprocess.run(
        [services.exoqc_command(), "ui"],
        env=_env(server),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert server in result.stdout


def _env(tracking_uri: str) -> dict[str, str]:
    return {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}


# --- The MLflow UI in a browser, on a trained and scored store ------------------------------


@dataclass(frozen=True)
class ScoredStore:
    """The session's trained store after scoring a new batch, served by ``exoqc ui``."""

    uri: str
    url: str
    batch_prep_ids: list[str]
    scoring_experiment_id: str
    scoring_run_id: str
    training_runs: dict[str, tuple[str, str]]  # target -> (experiment id, run id)


def _new_batch(cohort: Path, folder: Path, n_batches: int = 2) -> list[str]:
    """The first ``n_batches`` production batches of ``cohort`` as a prep dataset folder of
    new, unlabelled preparations (whole batches, so that every marker run is complete)."""
    preps = pd.read_csv(cohort / "preps.csv", dtype=str, keep_default_na=False)
    preps = preps[preps["batch"].isin(preps["batch"].unique()[:n_batches])]
    labels = [c for c in (*LABEL_VALUES, *ASSAY_READOUTS) if c in preps]
    folder.mkdir(parents=True)
    preps.drop(columns=labels).to_csv(folder / "preps.csv", index=False)
    for table in ("markers.csv", "cargo.csv"):
        rows = pd.read_csv(cohort / table, dtype=str, keep_default_na=False)
        rows[rows["prep_id"].isin(preps["prep_id"])].to_csv(folder / table, index=False)
    for column in ("dls_file", "nta_file"):
        if column not in preps:
            continue
        for name in preps[column].loc[preps[column] != ""].unique():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(cohort / name, folder / name)
    return preps["prep_id"].tolist()


@pytest.fixture(scope="module")
def scored_store(trained_store, tmp_path_factory) -> Iterator[ScoredStore]:
    services.require_chromium()  # before scoring and starting a server for nothing
    work = tmp_path_factory.mktemp("ui")
    prep_ids = _new_batch(trained_store.cohort, work / "new-batch")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", trained_store.uri)
        result = score(work / "new-batch", work / "scores.csv",
                       ScoreSettings(max_figures=3, n_jobs=1))
    assert result.run_id is not None and result.n_ok == len(prep_ids)
    client = MlflowClient(trained_store.uri, trained_store.uri)
    scoring_experiment = client.get_experiment_by_name(contracts.EXPERIMENTS["scoring"])
    training_runs = {}
    for target, trained in trained_store.results.items():
        run = client.get_run(trained.run_id)
        training_runs[target] = (run.info.experiment_id, trained.run_id)
    with services.exoqc_ui(trained_store.uri, work) as server:
        yield ScoredStore(
            uri=trained_store.uri,
            url=server.url,
            batch_prep_ids=prep_ids,
            scoring_experiment_id=scoring_experiment.experiment_id,
            scoring_run_id=result.run_id,
            training_runs=training_runs,
        )


def _artifact_dir(store: ScoredStore, run_id: str) -> Path:
    run = MlflowClient(store.uri, store.uri).get_run(run_id)
    return Path(local_file_uri_to_path(run.info.artifact_uri))


def _open_artifact(page, folder: str, file_name: str):
    """Click through the run's artifact tree to a file, as a user does; returns the path."""
    page.get_by_text(folder, exact=True).click()
    page.get_by_text(file_name, exact=True).click()
    return f"{folder}/{file_name}"


def _assert_image_displayed(page, artifact_path: str, artifact_dir: Path) -> None:
    image = page.locator(f"img[alt='{artifact_path}']")
    image.wait_for(state="visible")
    image.page.wait_for_function(
        "alt => { const img = document.querySelector(`img[alt='${alt}']`);"
        " return img && img.complete; }",
        arg=artifact_path,
    )
    natural_width = image.evaluate("img => img.naturalWidth")
    # decoded by the browser, and the image is the artifact itself: the PNG's pixel width
    assert natural_width > 0, f"{artifact_path} is not displayed"
    assert natural_width == plt.imread(artifact_dir / artifact_path).shape[1]


def test_scoring_run_shows_a_prep_waterfall_and_the_report(scored_store, chromium_page, tmp_path):
    page = chromium_page
    store = scored_store
    client = MlflowClient(store.uri, store.uri)
    waterfalls = sorted(
        Path(a.path).name for a in client.list_artifacts(store.scoring_run_id, "waterfalls")
    )
    # one purity and one potency figure per explained preparation, named by its prep_id
    named = {name.rsplit("_", 1)[0] for name in waterfalls}
    assert len(waterfalls) == 2 * len(named) and 0 < len(named) <= 3
    assert named <= set(store.batch_prep_ids)
    prep_id = sorted(named)[0]

    page.goto(ui.run_artifacts_url(store.url, store.scoring_experiment_id,
                                   store.scoring_run_id))
    figure = _open_artifact(page, "waterfalls", f"{prep_id}_purity.png")
    _assert_image_displayed(page, figure, _artifact_dir(store, store.scoring_run_id))
    screenshot = tmp_path / "mlflow-ui-prep-waterfall.png"
    page.screenshot(path=screenshot)
    print(f"screenshot: SHAP waterfall of {prep_id} in the MLflow UI: {screenshot}")

    page.get_by_text("report.html", exact=True).click()
    report = page.frame_locator("iframe")
    report.locator("td", has_text=prep_id).first.wait_for(state="visible")
    summary = report.locator("img[alt^='batch summary']")
    summary.wait_for(state="visible")
    assert summary.evaluate("img => img.complete && img.naturalWidth") > 0
    for other in store.batch_prep_ids:
        assert report.locator("td", has_text=other).count() >= 1, other
    screenshot = tmp_path / "mlflow-ui-report.png"
    page.screenshot(path=screenshot)
    print(f"screenshot: HTML report in the MLflow UI: {screenshot}")


def test_training_run_shows_metrics_and_shap_figures(scored_store, chromium_page, tmp_path):
    page = chromium_page
    store = scored_store
    experiment_id, run_id = store.training_runs["purity"]
    page.goto(f"{store.url}/#/experiments/{experiment_id}/runs/{run_id}")
    page.get_by_text("test_macro_f1", exact=True).first.wait_for(state="visible")

    page.goto(ui.run_artifacts_url(store.url, experiment_id, run_id))
    artifact_dir = _artifact_dir(store, run_id)
    beeswarm = _open_artifact(page, "shap", "shap_beeswarm_high.png")
    _assert_image_displayed(page, beeswarm, artifact_dir)
    screenshot = tmp_path / "mlflow-ui-training-beeswarm.png"
    page.screenshot(path=screenshot)
    print(f"screenshot: SHAP beeswarm of a training run in the MLflow UI: {screenshot}")
    page.get_by_text("shap_importance_bar.png", exact=True).click()
    _assert_image_displayed(page, "shap/shap_importance_bar.png", artifact_dir)


def test_registered_models_show_champion_and_description(scored_store, chromium_page,
                                                         tmp_path):
    page = chromium_page
    store = scored_store
    client = MlflowClient(store.uri, store.uri)
    page.goto(f"{store.url}/#/models")
    for target in ("purity", "potency"):
        name = contracts.REGISTERED_MODELS[target]
        champion = client.get_model_version_by_alias(name, contracts.CHAMPION_ALIAS).version
        page.goto(f"{store.url}/#/models")
        page.get_by_role("link", name=name, exact=True).click()
        page.get_by_text("the alias 'champion' marks the version used for scoring").wait_for()
        version_row = page.get_by_role("row").filter(
            has=page.get_by_role("link", name=f"Version {champion}", exact=True))
        version_row.get_by_text(f"@ {contracts.CHAMPION_ALIAS}", exact=True).wait_for()

        version_row.get_by_role("link", name=f"Version {champion}", exact=True).click()
        for text in ("Training data", "Held-out metrics", "Feature catalog"):
            page.get_by_text(text).first.wait_for(state="visible")
        screenshot = tmp_path / f"mlflow-ui-{name}-champion.png"
        page.screenshot(path=screenshot)
        print(f"screenshot: {name} version {champion} in the MLflow UI: {screenshot}")

        # the description's link opens the training run's feature catalog (in a new tab)
        with page.context.expect_page() as opened:
            page.get_by_role("link", name="feature_catalog.csv", exact=True).click()
        catalog = opened.value
        catalog.get_by_text("dls_z_average_nm", exact=True).wait_for(state="visible")
        catalog.close()
