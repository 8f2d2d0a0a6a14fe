"""Real services for end-to-end tests: the MLflow UI started by ``exoqc ui``, headless
Chromium driven by Playwright, a throwaway PostgreSQL cluster, an MLflow tracking server on
it, and Spark in local mode.

A test module binds the fixtures it uses to module names (pytest finds fixtures there;
an import of the fixture functions themselves would trip ruff's F811 on every test)::

    from tests import services

    chromium_page = services.chromium_page

``tests`` is importable because pytest runs as ``python -m pytest`` from the repository
root (``make test``); a bare ``pytest`` needs ``pythonpath = ["."]`` in its settings.

Each server runs on a free loopback port in its own process group, writes its output to a
log file under the test's tmp dir, is polled until it answers (with a timeout whose error
quotes the log), and is stopped in teardown, also when the test failed. Teardown prints the
log's tail, which pytest shows in a failed test's report.

A missing system dependency skips the test with the command that installs it; with
``CI=true`` it fails instead, because CI installs everything (``make test`` runs
``scripts/install-system-deps.sh``) and must never skip silently.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 20.0
LOG_TAIL_LINES = 60

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
VIEWPORT = {"width": 1400, "height": 900}


def apt_install_command(*packages: str) -> str:
    names = " ".join(packages)
    return f"sudo apt-get update && sudo apt-get install -y --no-install-recommends {names}"


def pip_install_command(extra: str) -> str:
    return f"{sys.executable} -m pip install -e '.[{extra}]'"


def require(available: object, what: str, install_command: str) -> None:
    """Skip the test (fail it when ``CI=true``) unless ``available`` is truthy."""
    if available:
        return
    reason = f"{what} is missing; install it with: {install_command}"
    if IN_CI:
        pytest.fail(f"{reason}  (CI=true: required here, never skipped)", pytrace=False)
    pytest.skip(reason)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS's choice for an ephemeral bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def descendants(pid: int) -> list[int]:
    """All processes below ``pid``, children first (Linux ``/proc``)."""
    found: list[int] = []
    for children_file in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children = [int(child) for child in children_file.read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
        for child in children:
            found += [child, *descendants(child)]
    return found


def is_running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


@dataclass
class Service:
    """A server process started for a test, with its log file."""

    name: str
    process: subprocess.Popen
    log_path: Path
    url: str = ""
    _watched: set[int] = field(default_factory=set)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        if not self.log_path.is_file():
            return "(no log)"
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def wait_until(self, ready: Callable[[], bool], timeout_s: float = READY_TIMEOUT_S) -> None:
        """Poll ``ready`` until true; raise with the log's tail if the process exits first."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with code {self.process.returncode} before it was "
                    f"ready; log {self.log_path}:\n{self.log_tail()}"
                )
            if ready():
                self._watched.update(descendants(self.process.pid))
                return
            time.sleep(0.2)
        raise RuntimeError(
            f"{self.name} not ready within {timeout_s:.0f} s; log {self.log_path}:\n"
            f"{self.log_tail()}"
        )

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM to its process group, SIGKILL after ``timeout_s``; no process is left."""
        self._watched.update(descendants(self.process.pid))
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait()
        for pid in self._watched:
            if is_running(pid):
                os.kill(pid, signal.SIGKILL)


def _signal_group(group_id: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group_id, signum)


def start_service(
    name: str, command: list[str], log_dir: Path, env: dict[str, str] | None = None
) -> Service:
    """Start ``command`` in a new process group, its stdout and stderr into a log file."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    return Service(name=name, process=process, log_path=log_path)


def _stop_all(services: list[Service]) -> None:
    for service in reversed(services):
        service.stop()
        print(f"--- {service.name} log ({service.log_path}), last lines ---")
        print(service.log_tail())


def exoqc_command() -> str:
    """The installed ``exoqc`` console script of this interpreter's environment."""
    command = Path(sys.executable).parent / "exoqc"
    if not command.is_file():
        pytest.fail(f"the exoqc command is not installed beside {sys.executable}", pytrace=False)
    return str(command)


# --- MLflow ------------------------------------------------------------------------------


def start_exoqc_ui(tracking_uri: str, log_dir: Path) -> Service:
    """The real ``exoqc ui`` on a free loopback port, answering ``/health`` and past its own
    readiness check (it printed the URL: a user's Ctrl-C from then on stops a running UI).

    ``Service.url`` is the base URL; the command's own output is in ``Service.log_path``.
    The caller stops it (``Service.stop``), also on failure.
    """
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}
    service = start_service(
        f"exoqc-ui-{port}", [exoqc_command(), "ui", "--port", str(port)], log_dir, env
    )
    service.url = f"http://127.0.0.1:{port}"
    try:
        service.wait_until(lambda: http_ok(f"{service.url}/health"))
        # MLflow's server may answer before exoqc's own poll has seen it and printed the URL.
        service.wait_until(lambda: b"MLflow UI: " in service.log_path.read_bytes())
    except BaseException:
        _stop_all([service])
        raise
    return service


@contextlib.contextmanager
def exoqc_ui(tracking_uri: str, log_dir: Path) -> Iterator[Service]:
    """``start_exoqc_ui`` for a ``with`` block (a module-scoped fixture shares one server);
    stopped at its end, also on failure, and the log's tail printed."""
    service = start_exoqc_ui(tracking_uri, log_dir)
    try:
        yield service
    finally:
        _stop_all([service])


@pytest.fixture
def mlflow_ui_server(tmp_path: Path) -> Iterator[Callable[[str], Service]]:
    """``start(tracking_uri) -> Service``: the real ``exoqc ui`` on a free loopback port.

    ``Service.url`` is the base URL; the command's own output is in ``Service.log_path``.
    """
    started: list[Service] = []

    def start(tracking_uri: str) -> Service:
        service = start_exoqc_ui(tracking_uri, tmp_path)
        started.append(service)
        return service

    try:
        yield start
    finally:
        _stop_all(started)


@pytest.fixture
def mlflow_team_server(tmp_path: Path) -> Iterator[Callable[[str, Path], Service]]:
    """``start(backend_store_uri, artifacts_destination) -> Service``: ``mlflow server``.

    The team setup of docs/scale.md: tracking and registry in ``backend_store_uri``
    (PostgreSQL), artifacts proxied by the server into ``artifacts_destination``, so
    clients need nothing but ``MLFLOW_TRACKING_URI=<Service.url>``.
    """
    started: list[Service] = []

    def start(backend_store_uri: str, artifacts_destination: Path) -> Service:
        port = free_port()
        command = [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", backend_store_uri,
            "--artifacts-destination", artifacts_destination.as_uri(),
            "--host", "127.0.0.1",
            "--port", str(port),
            "--workers", "1",
        ]  # fmt: skip
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        env.pop("MLFLOW_TRACKING_URI", None)
        service = start_service(f"mlflow-server-{port}", command, tmp_path, env)
        started.append(service)
        service.url = f"http://127.0.0.1:{port}"
        service.wait_until(lambda: http_ok(f"{service.url}/health"))
        return service

    try:
        yield start
    finally:
        _stop_all(started)


# --- Chromium ----------------------------------------------------------------------------


# MLflow 3.17's UI opens its assistant panel and a model-registry promotion dialog on a
# first visit; a user closes them once (the UI remembers it in localStorage), and a test
# page starts as that returning user, so that figures have the room a user sees.
_MLFLOW_UI_SEEN = {
    "mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": "true",
    "mlflow.assistant.panelOpen_v1": "false",
    "_mlflow_model_registry_promo_modal_dismissed_v1": "true",
}


def require_chromium() -> None:
    """Skip (fail with ``CI=true``) unless Debian's Chromium and Playwright are installed."""
    require(
        CHROMIUM.is_file(),
        f"Chromium ({CHROMIUM})",
        apt_install_command("chromium", "chromium-driver"),
    )
    require(
        importlib.util.find_spec("playwright"), "Playwright for Python", pip_install_command("e2e")
    )


@pytest.fixture
def chromium_page(tmp_path: Path) -> Iterator:
    """A Playwright page in Debian's headless Chromium (Playwright's own download is not
    used), as a returning MLflow UI user: first-visit panels and dialogs closed.
    Teardown saves ``last-page.png`` in the test's tmp dir and prints its path."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=VIEWPORT)
            context.add_init_script(
                "".join(
                    f"localStorage.setItem({key!r}, {value!r});"
                    for key, value in _MLFLOW_UI_SEEN.items()
                )
            )
            page = context.new_page()
            page.set_default_timeout(30_000)
            yield page
            last_page = tmp_path / "last-page.png"
            page.screenshot(path=last_page)
            print(f"last page seen by the browser: {last_page}")
        finally:
            browser.close()


# --- PostgreSQL --------------------------------------------------------------------------


def postgres_bin_dir() -> Path | None:
    """Where ``initdb``/``pg_ctl`` are: on PATH, else Debian's newest /usr/lib/postgresql."""
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).resolve().parent
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda pg_ctl: int(pg_ctl.parts[-3]) if pg_ctl.parts[-3].isdigit() else 0,
    )
    return debian[-1].parent if debian else None


@dataclass
class PostgresCluster:
    """A throwaway PostgreSQL cluster listening on loopback, trust authentication."""

    bin_dir: Path
    port: int
    superuser: str = "exoqc"
    host: str = "127.0.0.1"
    _names: Iterator[int] = field(default_factory=itertools.count)

    def url(self, database: str) -> str:
        """The URL MLflow's SQLAlchemy store takes (``postgresql://``: psycopg 3)."""
        return f"postgresql://{self.superuser}@{self.host}:{self.port}/{database}"

    def create_database(self, prefix: str = "exoqc") -> str:
        """A new empty database; returns its URL."""
        name = f"{prefix}_{next(self._names)}"
        subprocess.run(
            [str(self.bin_dir / "createdb"), "-h", self.host, "-p", str(self.port),
             "-U", self.superuser, name],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        return self.url(name)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresCluster]:
    """``initdb`` + ``pg_ctl start`` in a temp dir, on a free loopback port.

    PostgreSQL refuses to run as root: as root the cluster belongs to the ``postgres``
    system user that Debian's package creates, started through ``runuser``.
    """
    bin_dir = postgres_bin_dir()
    require(bin_dir, "PostgreSQL (initdb, pg_ctl)", apt_install_command("postgresql"))
    require(
        importlib.util.find_spec("psycopg"),
        "psycopg 3 (SQLAlchemy 2.1's driver for postgresql:// URIs)",
        pip_install_command("postgres"),
    )
    as_owner: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="exoqc-pg-"))
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(base)
            pytest.fail("running as root and there is no 'postgres' user to run PostgreSQL")
        os.chown(base, owner.pw_uid, owner.pw_gid)
        as_owner = ["runuser", "-u", "postgres", "--"]
    data_dir, log_path = base / "data", base / "postgres.log"
    cluster = PostgresCluster(bin_dir=bin_dir, port=free_port())

    def run(*command: str) -> None:
        result = subprocess.run([*as_owner, *command], capture_output=True, text=True)
        if result.returncode != 0:
            log = log_path.read_text(errors="replace") if log_path.is_file() else ""
            raise RuntimeError(
                f"{' '.join(command)} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}{log}"
            )

    server_options = (
        f"-c listen_addresses={cluster.host} -c port={cluster.port} "
        f"-c unix_socket_directories={base} -c fsync=off -c full_page_writes=off"
    )
    try:
        run(str(bin_dir / "initdb"), "-D", str(data_dir), "-U", cluster.superuser,
            "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")  # fmt: skip
        run(str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-l", str(log_path),
            "-o", server_options, "-w", "-t", str(int(READY_TIMEOUT_S)), "start")  # fmt: skip
        yield cluster
    finally:
        if (data_dir / "postmaster.pid").exists():
            run(str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


# --- Spark -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def spark_session() -> Iterator:
    """Spark in local mode with two cores, small memory, no web UI, quiet logs.

    Python workers run this interpreter (``PYSPARK_PYTHON``), so executors import the same
    installed exoqc as the driver.
    """
    require(importlib.util.find_spec("pyspark"), "PySpark", pip_install_command("spark"))
    require(
        shutil.which("java") or os.environ.get("JAVA_HOME"),
        "Java 17+ (Spark's runtime)",
        apt_install_command("openjdk-17-jre-headless"),
    )
    from pyspark.sql import SparkSession

    previous = os.environ.get("PYSPARK_PYTHON")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("exoqc-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "1g")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        yield spark
    finally:
        spark.stop()
        if previous is None:
            os.environ.pop("PYSPARK_PYTHON", None)
        else:
            os.environ["PYSPARK_PYTHON"] = previous
