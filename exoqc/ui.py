"""``exoqc ui``: MLflow's own tracking server and UI, on the project's store.

The server is ``python -m mlflow server`` in a child process group, with the backend and
model registry on :func:`exoqc.tracking.tracking_uri`. For the project's SQLite store the
experiments exoqc creates keep absolute ``file://`` artifact locations beside the database
(``mlruns/artifacts/<experiment>``); the server reads those directly, and new experiments
made from the UI get the same root, so nothing lands in a ``./mlartifacts`` folder of
whatever directory the command was started from.

The server listens on the loopback interface unless told otherwise: MLflow's server has no
authentication, so anyone who can reach the port can read and change the store.
Ctrl-C (SIGINT) or SIGTERM stops the whole process group (MLflow starts uvicorn workers
below it) and the command exits 0.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import urlparse

from exoqc import tracking

READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 15.0
_POLL_INTERVAL_S = 0.2
# SQLite takes one writer at a time: one uvicorn worker (requests still run concurrently
# in its thread pool) avoids "database is locked", and answers sooner than MLflow's default
# of four (9 s vs 17 s, medians of 3 starts on 2 cores).
_WORKERS = 1


# MLflow 3's UI opens in its "GenAI" mode; exoqc's experiments are model training (runs,
# metrics, artifacts, the model registry), the mode this query parameter selects.
_MODEL_TRAINING_MODE = "workflowType=machine_learning"


class UIError(RuntimeError):
    """The MLflow UI could not be started or stopped unexpectedly."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def browser_url(host: str, port: int) -> str:
    """The address to open on this machine for a server listening on ``host:port``."""
    wildcard = {"0.0.0.0": "127.0.0.1", "::": "::1"}
    address = wildcard.get(host, host)
    if ":" in address:
        address = f"[{address}]"
    return f"http://{address}:{port}"


def experiments_url(base_url: str) -> str:
    """The UI's experiment list, in model-training mode."""
    return f"{base_url}/#/experiments?{_MODEL_TRAINING_MODE}"


def run_route(experiment_id: str, run_id: str, artifact_path: str | None = None) -> str:
    """The UI's route of a run's page, of its artifacts tab (``artifact_path=""``) or of one
    artifact opened in it: what follows the base URL, and a relative link that works in
    the Markdown descriptions the UI displays (registered model versions)."""
    route = f"#/experiments/{experiment_id}/runs/{run_id}"
    if artifact_path is not None:
        route += f"/artifacts/{artifact_path}" if artifact_path else "/artifacts"
    return f"{route}?{_MODEL_TRAINING_MODE}"


def run_artifacts_url(
    base_url: str, experiment_id: str, run_id: str, artifact_path: str = ""
) -> str:
    """The artifacts tab of one run (figures, reports, the logged model), or one artifact
    opened in it."""
    return f"{base_url}/{run_route(experiment_id, run_id, artifact_path)}"


def server_command(store_uri: str, host: str, port: int) -> list[str]:
    """The ``mlflow server`` command line for ``store_uri`` (tracking and registry)."""
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", store_uri,
        "--registry-store-uri", store_uri,
        "--host", host,
        "--port", str(port),
        "--workers", str(_WORKERS),
    ]  # fmt: skip
    artifact_root = tracking.artifact_root(store_uri)
    if artifact_root is not None:
        command += ["--default-artifact-root", artifact_root, "--no-serve-artifacts"]
    return command


def serve(
    host: str = "127.0.0.1",
    port: int = 5000,
    *,
    ready_timeout_s: float = READY_TIMEOUT_S,
) -> None:
    """Run the MLflow UI on the project's store until Ctrl-C or SIGTERM.

    Prints the URL once the server answers its ``/health`` endpoint. Raises
    :class:`UIError` when the port is taken, the server does not come up within
    ``ready_timeout_s`` or it exits on its own; the server is stopped in every case.
    """
    if not 1 <= port <= 65535:
        raise UIError(f"port {port} is not a TCP port (expected 1-65535)")
    store_uri = tracking.configure()
    if urlparse(store_uri).scheme in ("http", "https"):
        print(
            f"MLFLOW_TRACKING_URI points at the tracking server {store_uri}: "
            "its UI is at that address, there is nothing to start."
        )
        return
    _check_port_free(host, port)
    if not is_loopback(host):
        print(
            f"Warning: listening on {host}, not the loopback interface. MLflow's server has "
            "no authentication: anyone who can reach this port can read and change the store.",
            file=sys.stderr,
        )
    url = browser_url(host, port)
    # Both stop the server, even where SIGINT came in ignored (a job started with `&`).
    previous_handlers = {
        signum: signal.signal(signum, signal.default_int_handler)
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    server: subprocess.Popen | None = None
    try:
        server = subprocess.Popen(
            server_command(store_uri, host, port),
            stdin=subprocess.DEVNULL,
            # MLflow's job runner (huey consumers for GenAI scorers, seven processes) has no
            # use in exoqc's store and outlives the server on SIGTERM.
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
            start_new_session=True,
        )
        _wait_until_ready(server, url, ready_timeout_s)
        print(
            f"MLflow UI: {experiments_url(url)}\n(store: {store_uri}; press Ctrl-C to stop)",
            flush=True,
        )
        exit_code = server.wait()
        raise UIError(f"the MLflow server stopped on its own (exit code {exit_code})")
    except KeyboardInterrupt:
        print("\nStopping the MLflow UI ...", flush=True)
    finally:
        if server is not None:
            _stop_process_group(server)
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)
    print("MLflow UI stopped.", flush=True)


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # as uvicorn binds: a port left in TIME_WAIT by a previous server is free
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except socket.gaierror:
            raise UIError(
                f"host '{host}' cannot be resolved to an address of this machine: expected "
                "an interface such as 127.0.0.1 (default), 0.0.0.0 or this machine's name"
            ) from None
        except OSError as error:
            if error.errno == errno.EADDRNOTAVAIL:
                raise UIError(f"'{host}' is not an address of this machine: expected one of "
                              "its interfaces, such as 127.0.0.1 (default)") from None
            raise UIError(
                f"cannot listen on {host} port {port} ({error.strerror}); "
                "choose another port with --port"
            ) from None


def _wait_until_ready(server: subprocess.Popen, url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise UIError(
                f"the MLflow server exited with code {server.returncode} before it was "
                "ready; its messages are above"
            )
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(_POLL_INTERVAL_S)
    raise UIError(f"the MLflow server did not answer at {url} within {timeout_s:.0f} s")


def _stop_process_group(server: subprocess.Popen, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM to the server's whole process group, SIGKILL if it outlives ``timeout_s``."""
    # a second Ctrl-C while stopping must not leave the workers behind
    previous_sigint = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _signal_group(server.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _group_alive(server.pid) and time.monotonic() < deadline:
            server.poll()  # reaps the leader so that it stops counting as alive
            time.sleep(_POLL_INTERVAL_S)
        if _group_alive(server.pid):
            _signal_group(server.pid, signal.SIGKILL)
        server.wait()
    finally:
        signal.signal(signal.SIGINT, previous_sigint)


def _signal_group(group_id: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group_id, signum)


def _group_alive(group_id: int) -> bool:
    try:
        os.killpg(group_id, 0)
    except ProcessLookupError:
        return False
    return True
