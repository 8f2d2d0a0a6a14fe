"""``exoqc ui``: MLflow's own server on the project's store, seen over HTTP and in Chromium.

The browser test is the smoke test of issue 8 without trained models: a scoring run with a
per-prep PNG figure and an HTML report, opened in the MLflow UI the way a scientist would.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import pytest
from mlflow.utils.file_utils import local_file_uri_to_path

from exoqc import tracking, ui
from tests import services

chromium_page = services.chromium_page
mlflow_ui_server = services.mlflow_ui_server

PREP_ID = "DA-2024-017"
FIGURE_PATH = f"shap/waterfall_{PREP_ID}.png"
REPORT_TEXT = f"{PREP_ID}: purity high, potent"


def _scoring_run(store: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, str, Path]:
    """A SQLite store with one exoqc-scoring run: a per-prep PNG and an HTML report."""
    uri = f"sqlite:///{store / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    tracking.configure()
    experiment_id = tracking.experiment_id(tracking.EXPERIMENTS["scoring"])
    figure, axes = plt.subplots(figsize=(7, 3))
    axes.barh(["CD63 (MISEV cat. 1)", "calnexin (cat. 4)"], [0.42, -0.17])
    axes.set_title(f"Why {PREP_ID} was judged high purity (SHAP)")
    figure.tight_layout()
    report = f"<html><body><h1>exoqc batch report</h1><p>{REPORT_TEXT}</p></body></html>"
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_figure(figure, FIGURE_PATH)
        mlflow.log_text(report, "report.html")
        artifact_dir = Path(local_file_uri_to_path(mlflow.get_artifact_uri()))
    plt.close(figure)
    return uri, experiment_id, run.info.run_id, artifact_dir


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
    uri, experiment_id, run_id, _ = _scoring_run(tmp_path / "store", monkeypatch)
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


def test_scoring_artifacts_render_in_the_mlflow_ui(
    tmp_path, monkeypatch, mlflow_ui_server, chromium_page
):
    uri, experiment_id, run_id, artifact_dir = _scoring_run(tmp_path / "store", monkeypatch)
    server = mlflow_ui_server(uri)
    page = chromium_page
    # MLflow 3.17 opens its assistant panel on a first visit; closed, the figure has room
    page.context.add_init_script(
        "localStorage.setItem('mlflow.assistant.fab.autoOpenedOnFirstLoad_v1', 'true');"
        "localStorage.setItem('mlflow.assistant.panelOpen_v1', 'false');"
    )

    page.goto(ui.run_artifacts_url(server.url, experiment_id, run_id))
    page.get_by_text("shap", exact=True).click()
    page.get_by_text(Path(FIGURE_PATH).name).click()
    image = page.locator(f"img[alt='{FIGURE_PATH}']")
    image.wait_for(state="visible")
    natural_width = image.evaluate("img => img.complete ? img.naturalWidth : 0")
    # the image shown is the artifact itself: same pixel width as the PNG on disk
    assert natural_width > 0
    assert natural_width == plt.imread(artifact_dir / FIGURE_PATH).shape[1]
    figure_screenshot = tmp_path / "mlflow-ui-shap-figure.png"
    page.screenshot(path=figure_screenshot)
    print(f"screenshot of the SHAP figure in the MLflow UI: {figure_screenshot}")

    page.get_by_text("report.html").click()
    report_text = page.frame_locator("iframe").get_by_text(REPORT_TEXT)
    report_text.wait_for(state="visible")
    page.screenshot(path=tmp_path / "mlflow-ui-report.png")
    assert figure_screenshot.stat().st_size > 0


def _env(tracking_uri: str) -> dict[str, str]:
    return {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}
